/**
 * The ledger record of a research release: one `Access:discloseRecords` transaction per
 * release, by which the hospital tells the ledger which of its records it hands to which
 * grantee for which purpose. The chaincode checks each record's consent at the transaction's
 * time, logs every record in the patient's access log (permitted or not) and answers the
 * decisions, which are the release's consent check of record.
 *
 * Through the acceptance journal when the gateway has one (durable: once accepted, the
 * disclosure reaches the ledger even across a crash, and the chaincode logs a re-sent one
 * only once), then waits for its commit, because the release can answer only with the
 * ledger's decisions; otherwise submitted synchronously.
 *
 * @module
 */
import type { DisclosureRecord } from '../../../chaincode/src/lib/consent-model';
import { AcceptanceService, type RequestContext } from '../acceptance/service';
import type { DisclosureRequest } from '../acceptance/requests';
import { ApiError } from '../errors';

/** A disclosure as the ledger recorded it, with where. */
export interface RecordedDisclosure {
  disclosure: DisclosureRecord;
  transactionId: string;
  blockNumber: string;
  /** The acceptance journal's request id, on the journal's path. */
  requestId?: string;
}

/** What the release needs of the ledger: record one disclosure, or throw. */
export interface Disclosures {
  disclose(disclosure: DisclosureRequest, context?: RequestContext): Promise<RecordedDisclosure>;
}

/** How long a release waits for its disclosure to commit when it goes through the journal. Default 30 s. */
export const DEFAULT_DISCLOSURE_WAIT_MS = 30_000;

/** {@link Disclosures} on the org's ledger: the journal's path when there is one, else synchronous. */
export class LedgerDisclosures implements Disclosures {
  constructor(
    private readonly consent: { discloseRecords(disclosure: DisclosureRequest): Promise<RecordedDisclosure & { created: boolean }> },
    private readonly options: { acceptance?: AcceptanceService; waitMs?: number } = {},
  ) {}

  /**
   * @throws ApiError the ledger's refusal (as for any write); 503 RELEASE_NOT_CONFIRMED when
   * the journal has the disclosure but it did not commit in time (it still will: nothing is released now)
   */
  async disclose(disclosure: DisclosureRequest, context: RequestContext = {}): Promise<RecordedDisclosure> {
    const { acceptance } = this.options;
    if (!acceptance) {
      const { created: _created, ...recorded } = await this.consent.discloseRecords(disclosure);
      return recorded;
    }
    // No Idempotency-Key: every release is a new disclosure with its own id, so a client's
    // retry is another disclosure (and is logged as one), never a replay of this one.
    const ack = await acceptance.discloseRecords(disclosure, context.user !== undefined ? { user: context.user } : {});
    const status = (await acceptance.waitFor(ack.id, this.options.waitMs ?? DEFAULT_DISCLOSURE_WAIT_MS)) ?? ack.status;
    if (status.state === 'committed') {
      const { disclosure: recorded } = status.result as { disclosure: DisclosureRecord };
      return { disclosure: recorded, transactionId: status.transactionId, blockNumber: status.blockNumber, requestId: status.id };
    }
    if (status.state === 'rejected') throw AcceptanceService.rejectionError(status);
    throw new ApiError(
      503,
      'RELEASE_NOT_CONFIRMED',
      `The release's disclosure is accepted for the ledger but not committed yet, so the ledger has not decided on consent and nothing is released; it will still be logged. Follow ${ack.location}, then send the release again.`,
      { requestId: ack.id, location: ack.location },
    );
  }
}
