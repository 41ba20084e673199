import type { ChaincodeErrorCode } from '../../../chaincode/src/lib/errors';
import type { RecordAnchor, RetractionReason } from '../../../chaincode/src/lib/record-model';
import { LedgerWriter, type CallReport, type LedgerWriterOptions } from '../acceptance/coalescer';
import { silentLogger, type AcceptanceLogger } from '../acceptance/logger';
import { ApiError } from '../errors';
import type { Committed, Ledger } from '../fabric/client';
import { LedgerError } from '../fabric/errors';
import { hasSalts, ledgerCommitment, prepareAmendRecord, prepareAnchorBatch, prepareAnchorRecord, prepareRetractRecord, presentResult, type LedgerRequest } from '../acceptance/requests';
import { documentCommitment, type CommitmentKind, type DocumentSalts, type LedgerCommitment } from '../documents/commitment';
import type { IndexedAnchor } from './anchor-table';

export type Verdict = 'ORIGINAL' | 'SUPERSEDED' | 'RETRACTED' | 'UNKNOWN';

export interface VerificationResult {
  verdict: Verdict;
  docHash: string;
  issuer?: string;
  recordId?: string;
  version?: number;
  anchoredAt?: string;
  txId?: string;
  /** The block holding the anchoring transaction `txId`, in decimal; absent when the ledger could not tell. */
  blockNumber?: string;
  supersededBy?: string;
  retraction?: RecordAnchor['retraction'];
  /** Which form of the document matched the ledger: its bare SHA-256, or a salted commitment. */
  commitment?: CommitmentKind;
  /** The ledger's value for a salted match: the commitment (`docHash` stays the document's SHA-256). */
  anchoredHash?: string;
  /** With UNKNOWN and no salt: that a salted record is found only with its salt. */
  note?: string;
}

export interface NewRecordRequest {
  recordId: string;
  docHash: string;
  patientId: string;
  category: string;
  /** How the ledger commits to the document; plain (its SHA-256) unless given. */
  commitment?: CommitmentKind;
}

/** A new version of a record: its document's hash, and optionally a new category and the commitment form. */
export interface AmendmentRequest {
  docHash: string;
  category?: string;
  /** Plain unless given (the previous version's form is not known from the ledger). */
  commitment?: CommitmentKind;
}

/** How a verification may match a salted record. */
export interface VerifyOptions {
  /** The record's salt (from the issuer or a receipt): only the commitment under it is looked up. */
  salt?: string;
  /** Without a salt, also try this org's own salt (at a hospital: finds its own salted records). */
  ownSalt?: boolean;
}

/** The sentence of an UNKNOWN verdict reached without a salt. */
export const SALT_NOTE =
  'A record anchored as a salted commitment is found only with its salt: ask the issuing hospital for it, or send the salt from the document\'s receipt as "salt".';

/** A local answer to verifications (the gateway's anchor index); undefined means "ask the peer". */
export interface VerdictSource {
  verdictOf(docHash: string): VerificationResult | undefined;
}

/** Turns the hospital's own patient identifier into the ledger's commitment. */
export interface PatientRefs {
  ensurePatientRef(patientId: string): Promise<string>;
}

/**
 * The org's keys as the write path uses them: patient refs and, for salted commitments, the
 * org's document salts (the gateway's {@link PatientKeyStore} is both).
 */
export type OrgKeys = PatientRefs & Partial<DocumentSalts>;


const decoder = new TextDecoder();
const parse = <T>(bytes: Uint8Array): T => JSON.parse(decoder.decode(bytes)) as T;

/**
 * Record provenance in the users' terms. Routes call this; it calls the ledger. The patient's
 * identifier stops here: the ledger receives only its HMAC commitment.
 */
export class RecordsService {
  /** Single anchors: concurrent calls share Records:anchorEach transactions, each with its own answer. */
  private readonly anchors: LedgerWriter;

  constructor(
    private readonly ledger: Ledger,
    private readonly patientRefs: OrgKeys,
    /** Answers verifications it can without the peer; the peer answers the rest. */
    private readonly index?: VerdictSource,
    /** Where a block number that could not be found is reported. */
    private readonly logger: AcceptanceLogger = silentLogger,
    /** How single anchors are coalesced (defaults: 16 transactions in flight, up to 1,000 anchors each, 3 attempts on a transient failure). */
    anchorWriter: Omit<LedgerWriterOptions, 'ledger' | 'logger'> = {},
  ) {
    this.anchors = new LedgerWriter({ transientAttempts: 3, ...anchorWriter, ledger, logger });
  }

  /**
   * Anchors one record. Calls made while earlier ones are on their way to the ledger go
   * together as one transaction (Records:anchorEach); each gets its own anchor or its own
   * error (409 DOC_HASH_CLAIMED for one record fails only that call).
   */
  async anchorRecord(request: NewRecordRequest): Promise<{ anchor: RecordAnchor; created: boolean; blockNumber: string }> {
    const prepared = await prepareAnchorRecord(request, this.patientRefs);
    const answer = await this.call(() => this.anchors.submit(prepared));
    return { ...(answer.result as { anchor: RecordAnchor; created: boolean }), blockNumber: answer.blockNumber.toString() };
  }

  /** Called with each anchor transaction's report (how many anchors it carried): for metrics. Returns the function that unsubscribes. */
  observeAnchorCalls(listener: (report: CallReport) => void): () => void {
    return this.anchors.observe(listener);
  }

  async anchorBatch(requests: NewRecordRequest[]): Promise<{ anchored: number; existing: number; anchors: RecordAnchor[]; blockNumber: string }> {
    const prepared = await prepareAnchorBatch(requests, this.patientRefs);
    const committed = await this.submit(prepared);
    return { ...(presentResult(prepared, parse<unknown>(committed.result)) as { anchored: number; existing: number; anchors: RecordAnchor[] }), blockNumber: committed.blockNumber.toString() };
  }

  async amendRecord(issuer: string, recordId: string, change: AmendmentRequest): Promise<{ anchor: RecordAnchor; created: boolean; blockNumber: string }> {
    const committed = await this.submit(prepareAmendRecord(issuer, recordId, change, this.patientRefs));
    return { ...parse<{ anchor: RecordAnchor; created: boolean }>(committed.result), blockNumber: committed.blockNumber.toString() };
  }

  /** How a document hash goes to the ledger in form `kind`: what the routes report (commitment, salt). */
  commitmentOf(docHash: string, kind: CommitmentKind | undefined): LedgerCommitment {
    return ledgerCommitment(docHash, kind, this.patientRefs);
  }

  async retractRecord(issuer: string, recordId: string, reason: RetractionReason): Promise<{ anchor: RecordAnchor; created: boolean; blockNumber: string }> {
    const committed = await this.submit(prepareRetractRecord(issuer, recordId, reason));
    return { ...parse<{ anchor: RecordAnchor; created: boolean }>(committed.result), blockNumber: committed.blockNumber.toString() };
  }

  async readRecord(issuer: string, recordId: string): Promise<RecordAnchor> {
    return parse(await this.call(() => this.ledger.evaluate('Records:readRecord', issuer, recordId, '')));
  }

  /** One version of a record (RECORD_NOT_FOUND when the record has no such version). */
  async readRecordVersion(issuer: string, recordId: string, version: number): Promise<RecordAnchor> {
    return parse(await this.call(() => this.ledger.evaluate('Records:readRecord', issuer, recordId, String(version))));
  }

  async recordHistory(issuer: string, recordId: string): Promise<RecordAnchor[]> {
    return parse(await this.call(() => this.ledger.evaluate('Records:recordHistory', issuer, recordId)));
  }

  /**
   * Is this exact document the one a hospital issued, and is it still in force? With a salt,
   * the commitment under it is looked up (and nothing else); without one, the bare hash, then,
   * with `ownSalt`, the commitment under this org's own salt. An UNKNOWN without a salt says
   * that a salted record needs its salt.
   */
  async verifyDocument(docHash: string, options: VerifyOptions = {}): Promise<VerificationResult> {
    if (options.salt !== undefined) return asSalted(docHash, await this.lookup(documentCommitment(options.salt, docHash)));
    const plain = await this.lookup(docHash);
    if (plain.verdict !== 'UNKNOWN') return { ...plain, commitment: 'plain' };
    if (options.ownSalt && hasSalts(this.patientRefs)) {
      const salted = asSalted(docHash, await this.lookup(documentCommitment(this.patientRefs.documentSalt(docHash), docHash)));
      if (salted.verdict !== 'UNKNOWN') return salted;
    }
    return { verdict: 'UNKNOWN', docHash, note: SALT_NOTE };
  }

  /**
   * The verdict for one ledger value (a hash or a commitment): the local index, else the peer.
   * The peer's anchor does not know its block: that comes from the ledger by transaction id.
   */
  private async lookup(ledgerHash: string): Promise<VerificationResult> {
    const local = this.index?.verdictOf(ledgerHash);
    if (local?.blockNumber !== undefined) return local;
    const found = local ?? verdictOf(ledgerHash, parse<RecordAnchor | null>(await this.call(() => this.ledger.evaluate('Records:lookupByHash', ledgerHash))));
    return this.withBlockNumber(found);
  }

  /**
   * Adds the block of the anchoring transaction to a verdict, when the ledger can tell. A block
   * that cannot be found is left out, and logged: the verdict itself stands without it.
   */
  private async withBlockNumber(found: VerificationResult): Promise<VerificationResult> {
    const { txId } = found;
    if (txId === undefined || found.blockNumber !== undefined || !this.ledger.blockOfTransaction) return found;
    try {
      const block = await this.ledger.blockOfTransaction(txId);
      if (block !== undefined) return { ...found, blockNumber: block.toString() };
      this.logger.warn('the block of an anchoring transaction was not found; the verdict leaves it out', { txId });
    } catch (err) {
      const code = err instanceof LedgerError ? err.code : undefined;
      this.logger.warn('the block of an anchoring transaction could not be read; the verdict leaves it out', { txId, code, message: (err as Error).message });
    }
    return found;
  }

  /** The same transactions the acceptance journal stores, built by the same functions. */
  private submit(request: LedgerRequest): Promise<Committed> {
    return this.call(() => this.ledger.submit(request.transaction, ...request.args));
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toApiError(err);
    }
  }
}

/** A verdict found under a commitment, in the document's terms: `docHash` is the document's SHA-256 again. */
function asSalted(docHash: string, found: VerificationResult): VerificationResult {
  if (found.verdict === 'UNKNOWN') return { verdict: 'UNKNOWN', docHash };
  return { ...found, docHash, commitment: 'salted', anchoredHash: found.docHash };
}

/** The verdict a verifier is shown for an anchor (or for none). */
export function verdictOf(docHash: string, anchor: IndexedAnchor | null): VerificationResult {
  if (!anchor) return { verdict: 'UNKNOWN', docHash };
  const verdict: Verdict = anchor.status === 'active' ? 'ORIGINAL' : anchor.status === 'superseded' ? 'SUPERSEDED' : 'RETRACTED';
  return {
    verdict,
    docHash,
    issuer: anchor.issuer,
    recordId: anchor.recordId,
    version: anchor.version,
    anchoredAt: anchor.anchoredAt,
    txId: anchor.txId,
    ...(anchor.blockNumber !== undefined ? { blockNumber: anchor.blockNumber } : {}),
    ...(anchor.supersededBy ? { supersededBy: anchor.supersededBy } : {}),
    ...(anchor.retraction ? { retraction: anchor.retraction } : {}),
  };
}

/** Every chaincode code has its HTTP status here; the type makes a forgotten one a compile error. */
const STATUS_OF_CHAINCODE_CODE: Record<ChaincodeErrorCode, number> = {
  INVALID_ARGUMENT: 400,
  INVALID_JSON: 400,
  UNKNOWN_FIELD: 400,
  BATCH_INVALID: 400,
  SIGNATURE_INVALID: 400,
  FORBIDDEN_ORG_TYPE: 403,
  FORBIDDEN_NOT_ISSUER: 403,
  FORBIDDEN_OTHER_ORG: 403,
  FORBIDDEN_NOT_ADMIN: 403,
  ORG_NOT_IN_CONSORTIUM: 403,
  SIGNER_NOT_PATIENT: 403,
  RECORD_NOT_FOUND: 404,
  PATIENT_NOT_REGISTERED: 404,
  GRANT_NOT_FOUND: 404,
  UNKNOWN_TRANSACTION: 404,
  RECORD_EXISTS: 409,
  RECORD_RETRACTED: 409,
  DOC_HASH_CLAIMED: 409,
  PATIENT_ALREADY_REGISTERED: 409,
  PATIENT_KEY_IN_USE: 409,
  NONCE_REUSED: 409,
  CONSORTIUM_ALREADY_CONFIGURED: 409,
  ARCHIVE_EXISTS: 409,
  // Research linkage: no such request, not a party to it, contributed already, others still awaited, outcome recorded.
  LINKAGE_NOT_FOUND: 404,
  LINKAGE_EXISTS: 409,
  LINKAGE_NOT_PARTY: 403,
  LINKAGE_ALREADY_CONTRIBUTED: 409,
  LINKAGE_INCOMPLETE: 409,
  LINKAGE_CLOSED: 409,
  // Break-glass: only a clinician, only with a reason from the list, within the consortium's daily rate.
  FORBIDDEN_ROLE: 403,
  BREAK_GLASS_REASON_REQUIRED: 400,
  BREAK_GLASS_REASON_UNKNOWN: 400,
  BREAK_GLASS_RATE_EXCEEDED: 429,
  // Guardians: a delegation that is missing, no longer (or not yet) in force, or does not cover the grant.
  DELEGATION_NOT_FOUND: 404,
  DELEGATION_REVOKED: 409,
  DELEGATION_EXPIRED: 409,
  DELEGATION_NOT_YET_VALID: 409,
  DELEGATION_OUT_OF_SCOPE: 403,
  DELEGATION_NOT_REVOCABLE: 403,
  SIGNER_NOT_GUARDIAN: 403,
  GUARDIAN_KEY_IN_USE: 409,
  CONSORTIUM_NOT_CONFIGURED: 503,
  // The gateway dated the transaction itself: its clock, or a peer's, is off.
  TRANSACTION_TIME_SKEWED: 503,
};

const STATUS_OF_LEDGER_CODE: Record<string, number> = {
  ...STATUS_OF_CHAINCODE_CODE,
  MVCC_CONFLICT: 503,
  ENDORSEMENT_MISMATCH: 503,
  LEDGER_UNAVAILABLE: 503,
  LEDGER_TIMEOUT: 504,
};

/** Keeps the ledger's code and sentence and picks the HTTP status that fits it. */
export function toApiError(err: unknown): unknown {
  if (err instanceof ApiError) return err;
  if (err instanceof LedgerError) {
    return new ApiError(STATUS_OF_LEDGER_CODE[err.code] ?? 502, err.code, err.message, err.transactionId ? { transactionId: err.transactionId } : undefined);
  }
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && err instanceof Error && /^[A-Z_]+$/.test(code)) {
    return new ApiError(400, code, err.message.replace(/^[A-Z_]+: /, ''));
  }
  return err;
}
