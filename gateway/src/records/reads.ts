/**
 * Reads of record provenance, and whose consent they need. No Express here: the read routes
 * (GET /v1/records/{issuer}/{recordId}, /history, /versions/{version}/provenance) call this.
 *
 * - The issuing organisation's own staff read its records as they always have: a query, no
 *   consent, nothing logged (they are the record's custodian).
 * - Anyone else reads a record only through the chaincode's consent-checked access
 *   (`Access:accessRecord`): a transaction that checks the patient's consent for this org and
 *   the purpose, and writes an entry in the patient's access log on the ledger whatever the
 *   decision. Without a purpose there is nothing to check consent for, so such a read is
 *   refused (CONSENT_REQUIRED) before the ledger is asked anything; a DENY or NO_CONSENT is
 *   refused too (CONSENT_DENIED), after it was logged. So another organisation never reads a
 *   record, or its history, without the patient being able to see that it did.
 *
 * Verification (a document or hash → verdict) is not a read of this kind and stays open to
 * every role: see README, "Gateway".
 *
 * @module
 */
import type { RecordAnchor } from '../../../chaincode/src/lib/record-model';
import type { AccessResult } from '../consent/service';
import { ApiError } from '../errors';

/** The caller, in the terms this decision needs (the HTTP layer maps its users to this). */
export interface Reader {
  /** The caller's role, for the sentences of refusals. */
  readonly role: string;
  /**
   * The purposes the role may access other organisations' records for (the gateway's
   * ACCESS_PURPOSES); undefined when it may not at all.
   */
  readonly purposes?: RegExp;
}

/** The ledger reads of records, as {@link RecordsService} offers them. */
export interface RecordQueries {
  readRecord(issuer: string, recordId: string): Promise<RecordAnchor>;
  readRecordVersion(issuer: string, recordId: string, version: number): Promise<RecordAnchor>;
  recordHistory(issuer: string, recordId: string): Promise<RecordAnchor[]>;
}

/** The consent-checked, logged access, as {@link ConsentService} offers it. */
export interface ConsentedAccess {
  accessRecord(issuer: string, recordId: string, purpose: string): Promise<AccessResult>;
}

/** How a read of another organisation's record was permitted: the grant and the access-log entry's transaction. */
export interface AccessReceipt {
  readonly purpose: string;
  readonly grantId?: string;
  /** The transaction that wrote the access-log entry. */
  readonly transactionId: string;
  readonly blockNumber: string;
}

/** What a read answers: the value and, when it went through consent, how it was permitted. */
export interface RecordRead<T> {
  readonly value: T;
  /** Absent for the issuing organisation's own reads (nothing is logged for those). */
  readonly access?: AccessReceipt;
}

/** What a caller may ask to read: the record (its latest version), its history, or one version. */
export type ReadTarget = { kind: 'latest' } | { kind: 'history' } | { kind: 'version'; version: number };

export class RecordReads {
  constructor(
    /** This gateway's organisation: the issuer whose records its staff read freely. */
    private readonly org: { readonly mspId: string },
    private readonly records: RecordQueries,
    /** The consent-checked access; without it, no other organisation's record is readable here. */
    private readonly access?: ConsentedAccess,
  ) {}

  /** The latest version of a record. */
  latest(reader: Reader, issuer: string, recordId: string, purpose?: string): Promise<RecordRead<RecordAnchor>> {
    return this.read(reader, issuer, recordId, { kind: 'latest' }, purpose) as Promise<RecordRead<RecordAnchor>>;
  }

  /** Every version of a record, oldest first. */
  history(reader: Reader, issuer: string, recordId: string, purpose?: string): Promise<RecordRead<RecordAnchor[]>> {
    return this.read(reader, issuer, recordId, { kind: 'history' }, purpose) as Promise<RecordRead<RecordAnchor[]>>;
  }

  /** One version of a record (404 RECORD_NOT_FOUND when it has no such version). */
  version(reader: Reader, issuer: string, recordId: string, version: number, purpose?: string): Promise<RecordRead<RecordAnchor>> {
    return this.read(reader, issuer, recordId, { kind: 'version', version }, purpose) as Promise<RecordRead<RecordAnchor>>;
  }

  /**
   * Reads `target` of the record: directly when this organisation issued it (`purpose` is not
   * used then: nothing is logged), otherwise only through a consent-checked, logged access for
   * `purpose`.
   *
   * @throws ApiError CONSENT_REQUIRED, FORBIDDEN_ROLE, FORBIDDEN_PURPOSE (nothing asked of the
   *   ledger), CONSENT_DENIED (logged), or the ledger's own (404 RECORD_NOT_FOUND, …)
   */
  async read(reader: Reader, issuer: string, recordId: string, target: ReadTarget, purpose?: string): Promise<RecordRead<RecordAnchor | RecordAnchor[]>> {
    if (issuer === this.org.mspId) return { value: await this.own(issuer, recordId, target) };

    if (!reader.purposes) {
      throw new ApiError(
        403,
        'FORBIDDEN_ROLE',
        `Your role (${reader.role}) reads only the records ${this.org.mspId} issued; a record of ${issuer} is read here by a claims or research officer, under the patient's consent.`,
      );
    }
    if (purpose === undefined) {
      throw new ApiError(
        403,
        'CONSENT_REQUIRED',
        `This record was issued by ${issuer}, not ${this.org.mspId}: another organisation's records are read only under the patient's consent, and every such read is logged on the ledger for the patient to see. Ask again with ?purpose= (the purpose you read it for: claims, or research:<trialId>), or use POST /v1/access with { issuer, recordId, purpose }.`,
        { issuer, access: 'POST /v1/access' },
      );
    }
    if (!reader.purposes.test(purpose)) {
      throw new ApiError(403, 'FORBIDDEN_PURPOSE', `Your role (${reader.role}) may not access records for the purpose ${purpose}.`);
    }
    if (!this.access) {
      throw new ApiError(403, 'CONSENT_REQUIRED', `This gateway offers no consent-checked access, so the records of ${issuer} cannot be read here.`, { issuer });
    }

    const result = await this.access.accessRecord(issuer, recordId, purpose);
    const receipt: AccessReceipt = {
      purpose,
      ...(result.grantId !== undefined ? { grantId: result.grantId } : {}),
      transactionId: result.accessLog.txId,
      blockNumber: result.blockNumber,
    };
    if (result.decision !== 'PERMIT') {
      const why = result.reason ? `${result.decision}, ${result.reason.toLowerCase().replace(/_/g, ' ')}` : result.decision;
      throw new ApiError(
        403,
        'CONSENT_DENIED',
        `The patient's consent does not let ${this.org.mspId} read this record of ${issuer} for ${purpose} (${why}); the attempt is logged on the ledger in transaction ${receipt.transactionId}.`,
        { decision: result.decision, ...(result.reason ? { reason: result.reason } : {}), ...receipt },
      );
    }
    return { value: pick(result.provenance ?? [], issuer, recordId, target), access: receipt };
  }

  private async own(issuer: string, recordId: string, target: ReadTarget): Promise<RecordAnchor | RecordAnchor[]> {
    switch (target.kind) {
      case 'latest':
        return this.records.readRecord(issuer, recordId);
      case 'history':
        return this.records.recordHistory(issuer, recordId);
      case 'version':
        return this.records.readRecordVersion(issuer, recordId, target.version);
    }
  }
}

/** The part of a permitted access's provenance (every version, oldest first) that was asked for. */
function pick(versions: RecordAnchor[], issuer: string, recordId: string, target: ReadTarget): RecordAnchor | RecordAnchor[] {
  const sorted = [...versions].sort((a, b) => a.version - b.version);
  if (target.kind === 'history') return sorted;
  const found = target.kind === 'latest' ? sorted[sorted.length - 1] : sorted.find((v) => v.version === target.version);
  if (!found) {
    const which = target.kind === 'version' ? `no version ${target.version}` : 'no version';
    throw new ApiError(404, 'RECORD_NOT_FOUND', `record ${recordId} of ${issuer} has ${which}.`);
  }
  return found;
}
