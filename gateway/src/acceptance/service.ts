/**
 * Durable acceptance in the users' terms: what the HTTP routes call instead of
 * {@link RecordsService} when a request should be acknowledged with 202 Accepted and carried
 * to the ledger later. It builds the ledger transaction (the patientId stops here, as in
 * RecordsService), makes it durable in the journal, and answers status questions.
 *
 * @module
 */
import type { RetractionReason } from '../../../chaincode/src/lib/record-model';
import { ApiError } from '../errors';
import { LedgerError } from '../fabric/errors';
import { toApiError, type AmendmentRequest, type NewRecordRequest, type OrgKeys } from '../records/service';
import { AcceptanceError } from './errors';
import type { AcceptanceJournal, AcceptOptions } from './journal';
import {
  prepareAmendRecord,
  prepareAnchorBatch,
  prepareAnchorRecord,
  prepareDiscloseRecords,
  prepareRecordErasure,
  prepareRetractRecord,
  type DisclosureRequest,
  type LedgerRequest,
} from './requests';
import type { CallReport } from './coalescer';
import type { RequestStatus, Submitter, SubmitterCounts } from './submitter';

/** The answer to an accepted request: what a route turns into `202` + `Location`. */
export interface Acknowledgement {
  /** The request id. */
  id: string;
  /** `/v1/requests/{id}`: where its status can be read. */
  location: string;
  /** True when this was a retry with the same Idempotency-Key: nothing new was accepted. */
  replayed: boolean;
  /** Its status right now (usually `accepted`; a replay may already be `committed`). */
  status: RequestStatus;
}

/** Who is asking: the API user, and the Idempotency-Key header if one was sent. */
export type RequestContext = AcceptOptions;

/** Wires journal, submitter and the org's patient-ref store together for the routes. */
export class AcceptanceService {
  constructor(
    private readonly journal: AcceptanceJournal,
    private readonly submitter: Submitter,
    private readonly patientRefs: OrgKeys,
  ) {}

  /** Accepts the anchor of one new record. */
  async anchorRecord(request: NewRecordRequest, context: RequestContext = {}): Promise<Acknowledgement> {
    return this.accept(await prepareAnchorRecord(request, this.patientRefs), context);
  }

  /** Accepts the anchors of up to 1,000 new records, submitted as one transaction. */
  async anchorBatch(requests: readonly NewRecordRequest[], context: RequestContext = {}): Promise<Acknowledgement> {
    return this.accept(await prepareAnchorBatch(requests, this.patientRefs), context);
  }

  /** Accepts a new version of the caller's record. */
  async amendRecord(issuer: string, recordId: string, change: AmendmentRequest, context: RequestContext = {}): Promise<Acknowledgement> {
    return this.accept(prepareAmendRecord(issuer, recordId, change, this.patientRefs), context);
  }

  /** Accepts the retraction of the caller's record. */
  async retractRecord(issuer: string, recordId: string, reason: RetractionReason, context: RequestContext = {}): Promise<Acknowledgement> {
    return this.accept(prepareRetractRecord(issuer, recordId, reason), context);
  }

  /** Accepts the ledger record of an erasure the key store has already carried out (its random id only). */
  async recordErasure(erasureId: string, context: RequestContext = {}): Promise<Acknowledgement> {
    return this.accept(prepareRecordErasure(erasureId), context);
  }

  /** Accepts the ledger record of a disclosure of this hospital's records (a research release), one transaction. */
  async discloseRecords(disclosure: DisclosureRequest, context: RequestContext = {}): Promise<Acknowledgement> {
    return this.accept(prepareDiscloseRecords(disclosure), context);
  }

  /**
   * The status of request `id` as `user` may see it: their own requests only, unless
   * `seeAll` (e.g. for an admin). A request of another user is reported as not found, so
   * that ids cannot be probed.
   *
   * @throws AcceptanceError REQUEST_NOT_FOUND (404)
   */
  status(id: string, user?: string, seeAll = false): RequestStatus {
    const entry = this.journal.get(id);
    const status = entry && (seeAll || entry.user === undefined || entry.user === user) ? this.submitter.status(id) : undefined;
    if (!status) {
      throw new AcceptanceError('REQUEST_NOT_FOUND', 'There is no accepted request with this id (finished requests are kept for 24 hours).');
    }
    return status;
  }

  /**
   * Waits up to `timeoutMs` for request `id` to finish and returns its status then: what a
   * route needs to honour `Prefer: wait=N` (RFC 7240) and answer as the synchronous routes
   * did when the ledger is quick.
   */
  async waitFor(id: string, timeoutMs: number): Promise<RequestStatus | undefined> {
    return this.submitter.settled(id, timeoutMs);
  }

  /**
   * The HTTP error of a rejected request, with the status the synchronous routes give the
   * same chaincode code (DOC_HASH_CLAIMED → 409, FORBIDDEN_NOT_ISSUER → 403, …).
   */
  static rejectionError(status: Extract<RequestStatus, { state: 'rejected' }>): ApiError {
    const mapped = toApiError(new LedgerError(status.code, status.message));
    const error = mapped instanceof ApiError ? mapped : new ApiError(502, status.code, status.message);
    return new ApiError(error.status, error.code, error.message, { ...error.details, acceptedRequestId: status.id });
  }

  /** Called with each ledger transaction's report (how many requests it carried): for metrics. Returns the function that unsubscribes. */
  observeCalls(listener: (report: CallReport) => void): () => void {
    return this.submitter.observeCalls(listener);
  }

  /** Counters for `/metrics`: the submitter's and the journal's. */
  counts(): SubmitterCounts & { journal: ReturnType<AcceptanceJournal['stats']> } {
    return { ...this.submitter.counts(), journal: this.journal.stats() };
  }

  private async accept(request: LedgerRequest, context: RequestContext): Promise<Acknowledgement> {
    const { id, created } = await this.journal.accept(request, context);
    return { id, location: `/v1/requests/${encodeURIComponent(id)}`, replayed: !created, status: this.submitter.status(id) as RequestStatus };
  }
}
