/**
 * What an accepted request is: the ledger transaction the gateway will submit, built once at
 * acceptance time and stored as is. The journal therefore holds only what goes to the ledger
 * (hashes, opaque record ids, codes and the patient's HMAC commitment), never the patientId.
 *
 * {@link RecordsService} submits through these same builders, so a request accepted for later
 * behaves on the ledger exactly as the synchronous route does.
 *
 * A salted record's commitment (documents/commitment.ts) is computed here, so the journal stores
 * the commitment as the ledger will hold it, never the document's hash; the salt is
 * deterministic, so a retry of the same request prepares the same bytes and keeps its
 * idempotency fingerprint.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { expandAnchorResults, type AnchorBatchAnswer, type NewRecordInput, type RecordAnchor, type RetractionReason } from '../../../chaincode/src/lib/record-model';
import { ApiError } from '../errors';
import { assertNoDirectIdentifier } from '../privacy';
import type { AmendmentRequest, NewRecordRequest, OrgKeys } from '../records/service';
import { commitTo, type CommitmentKind, type DocumentSalts, type LedgerCommitment } from '../documents/commitment';

/** The kinds of request the gateway accepts for asynchronous submission. */
export const REQUEST_KINDS = ['anchorRecord', 'anchorBatch', 'amendRecord', 'retractRecord', 'recordErasure', 'discloseRecords'] as const;
/** One of {@link REQUEST_KINDS}. */
export type RequestKind = (typeof REQUEST_KINDS)[number];

/** The chaincode transaction each kind submits. */
export const TRANSACTION_OF_KIND: Readonly<Record<RequestKind, string>> = Object.freeze({
  anchorRecord: 'Records:anchorRecord',
  anchorBatch: 'Records:anchorRecords',
  amendRecord: 'Records:amendRecord',
  retractRecord: 'Records:retractRecord',
  recordErasure: 'Privacy:recordErasure',
  discloseRecords: 'Access:discloseRecords',
});

/** A ledger transaction ready to submit: what the journal stores and the submitter sends. */
export interface LedgerRequest {
  readonly kind: RequestKind;
  /** `Contract:transaction`, always {@link TRANSACTION_OF_KIND}[kind]. */
  readonly transaction: string;
  /** The string arguments, exactly as submitted. */
  readonly args: readonly string[];
}

/**
 * A committed request's ledger answer as the API shows it. The journal keeps what the ledger
 * answered; a batch's compact answer (Records:anchorRecords gives only the created records'
 * status) is shown with every record's full anchor, rebuilt from the arguments sent.
 */
export function presentResult(request: Pick<LedgerRequest, 'kind' | 'args'>, result: unknown): unknown {
  if (request.kind !== 'anchorBatch' || !isCompactBatchAnswer(result)) return result;
  return batchResult(JSON.parse(request.args[0]!) as NewRecordInput[], result);
}

/** `{ anchored, existing, anchors }` of a batch, from its compact ledger answer and the records sent. */
function batchResult(sent: readonly NewRecordInput[], answer: AnchorBatchAnswer): { anchored: number; existing: number; anchors: RecordAnchor[] } {
  const anchors = expandAnchorResults(sent, answer).map((r) => {
    if ('refused' in r) throw new Error(`a batch answered with a refused record: ${r.refused.code}`);
    return r.anchor;
  });
  return { anchored: answer.anchored, existing: answer.existing, anchors };
}

function isCompactBatchAnswer(value: unknown): value is AnchorBatchAnswer {
  return value !== null && typeof value === 'object' && Array.isArray((value as { results?: unknown }).results) && typeof (value as { txId?: unknown }).txId === 'string';
}

/** True when `value` is one of {@link REQUEST_KINDS}. */
export function isRequestKind(value: unknown): value is RequestKind {
  return typeof value === 'string' && (REQUEST_KINDS as readonly string[]).includes(value);
}

/** The anchor of one new record, as `Records:anchorRecord` takes it. */
export async function prepareAnchorRecord(request: NewRecordRequest, patientRefs: OrgKeys): Promise<LedgerRequest> {
  const record = await toLedgerRecord(request, patientRefs, 'record');
  return { kind: 'anchorRecord', transaction: TRANSACTION_OF_KIND.anchorRecord, args: [JSON.stringify(record)] };
}

/** The anchors of many new records in one transaction, as `Records:anchorRecords` takes them. */
export async function prepareAnchorBatch(requests: readonly NewRecordRequest[], patientRefs: OrgKeys): Promise<LedgerRequest> {
  const records: LedgerRecord[] = [];
  for (const [i, r] of requests.entries()) records.push(await toLedgerRecord(r, patientRefs, `records[${i}]`));
  return { kind: 'anchorBatch', transaction: TRANSACTION_OF_KIND.anchorBatch, args: [JSON.stringify(records)] };
}

/**
 * A new version of the caller's record, as `Records:amendRecord` takes it.
 *
 * @param salts - the org's document salts; needed only when `change.commitment` is salted
 */
export function prepareAmendRecord(issuer: string, recordId: string, change: AmendmentRequest, salts: Partial<DocumentSalts> = {}): LedgerRequest {
  refuseDirectIdentifier('recordId', recordId);
  if (change.category !== undefined) refuseDirectIdentifier('category', change.category);
  const docHash = ledgerCommitment(change.docHash, change.commitment, salts).ledgerHash;
  // Fields in a fixed order, whatever order the body had: the idempotency fingerprint is
  // computed on these bytes, and two equal requests must give equal bytes.
  const body = { issuer, recordId, docHash, ...(change.category !== undefined ? { category: change.category } : {}) };
  return { kind: 'amendRecord', transaction: TRANSACTION_OF_KIND.amendRecord, args: [JSON.stringify(body)] };
}

/** The retraction of the caller's record, as `Records:retractRecord` takes it. */
export function prepareRetractRecord(issuer: string, recordId: string, reason: RetractionReason): LedgerRequest {
  refuseDirectIdentifier('recordId', recordId);
  return { kind: 'retractRecord', transaction: TRANSACTION_OF_KIND.retractRecord, args: [issuer, recordId, reason] };
}

/**
 * The ledger's record of an erasure, as `Privacy:recordErasure` takes it: the random erasure id
 * only (the patient's key is already destroyed when this is accepted; nothing of the patient
 * goes to the journal or the ledger).
 */
export function prepareRecordErasure(erasureId: string): LedgerRequest {
  return { kind: 'recordErasure', transaction: TRANSACTION_OF_KIND.recordErasure, args: [erasureId] };
}

/** What `Access:discloseRecords` takes: this hospital's records disclosed to `grantee` for `purpose`. */
export interface DisclosureRequest {
  /** Names the disclosure on the ledger; the chaincode logs a re-sent one only once. */
  disclosureId: string;
  issuer: string;
  grantee: string;
  purpose: string;
  recordIds: readonly string[];
}

/**
 * The ledger record of a disclosure of the hospital's own records (e.g. a research release):
 * opaque record ids, MSP IDs and a purpose code only. The chaincode checks each record's consent
 * and logs each in the patient's access log, whatever the decision.
 */
export function prepareDiscloseRecords(disclosure: DisclosureRequest): LedgerRequest {
  disclosure.recordIds.forEach((recordId, i) => refuseDirectIdentifier(`recordIds[${i}]`, recordId));
  refuseDirectIdentifier('purpose', disclosure.purpose);
  // Fields in a fixed order, as for amendments: equal requests must give equal bytes.
  const { disclosureId, issuer, grantee, purpose, recordIds } = disclosure;
  return { kind: 'discloseRecords', transaction: TRANSACTION_OF_KIND.discloseRecords, args: [JSON.stringify({ disclosureId, issuer, grantee, purpose, recordIds })] };
}

/**
 * The fingerprint of a request for idempotency: same fingerprint = same ledger transaction.
 * Computed on the ledger arguments, so it never needs the patientId, yet a different patient
 * (a different HMAC commitment) makes a different fingerprint.
 */
export function fingerprintOf(request: LedgerRequest): string {
  return createHash('sha256').update(JSON.stringify([request.kind, request.transaction, ...request.args])).digest('hex');
}

/**
 * What a request touches, for ordering: two requests that share a key (a record id or a
 * document hash) are submitted one after the other, in the order they were accepted.
 *
 * Why: an amendment accepted after its anchor must not reach the ledger first (it would be
 * refused RECORD_NOT_FOUND), two amendments must produce versions in acceptance order, and an
 * entry whose reply was lost must be re-sent before a later change to the same record, or the
 * chaincode's idempotency (which compares with the record's latest version) could not apply.
 * Malformed arguments yield no keys: the chaincode refuses them anyway.
 */
export function orderingKeysOf(request: LedgerRequest): string[] {
  const keys = new Set<string>();
  const addRecord = (value: unknown): void => {
    if (value === null || typeof value !== 'object') return;
    const { recordId, docHash } = value as { recordId?: unknown; docHash?: unknown };
    if (typeof recordId === 'string') keys.add(`record:${recordId}`);
    if (typeof docHash === 'string') keys.add(`hash:${docHash.toLowerCase()}`);
  };
  try {
    switch (request.kind) {
      case 'anchorRecord':
      case 'amendRecord':
        addRecord(JSON.parse(request.args[0] ?? 'null'));
        break;
      case 'anchorBatch': {
        const list = JSON.parse(request.args[0] ?? 'null') as unknown;
        if (Array.isArray(list)) list.forEach(addRecord);
        break;
      }
      case 'retractRecord':
        if (typeof request.args[1] === 'string') keys.add(`record:${request.args[1]}`);
        break;
      case 'recordErasure':
        if (typeof request.args[0] === 'string') keys.add(`erasure:${request.args[0]}`);
        break;
      case 'discloseRecords': {
        // After the anchors (and changes) of the records it discloses.
        const { recordIds } = (JSON.parse(request.args[0] ?? 'null') ?? {}) as { recordIds?: unknown };
        if (Array.isArray(recordIds)) recordIds.forEach((recordId) => addRecord({ recordId }));
        break;
      }
    }
  } catch {
    // Not JSON: no keys; the chaincode will refuse the request with INVALID_JSON.
  }
  return [...keys];
}

/**
 * The ledger value of a document hash in the requested form (plain unless `kind` is salted).
 *
 * @throws ApiError 503 COMMITMENT_KEY_UNAVAILABLE when salting is asked of a gateway without `K_org`
 */
export function ledgerCommitment(docHash: string, kind: CommitmentKind | undefined, keys: Partial<DocumentSalts>): LedgerCommitment {
  if (kind !== 'salted') return { ledgerHash: docHash, commitment: 'plain' };
  if (!hasSalts(keys)) throw new ApiError(503, 'COMMITMENT_KEY_UNAVAILABLE', 'This gateway holds no record-commitment key, so it cannot anchor salted commitments; anchor with "commitment": "plain".');
  return commitTo(docHash, 'salted', keys);
}

/** True when the org's keys can salt (they hold `K_org`). */
export function hasSalts(keys: Partial<DocumentSalts>): keys is DocumentSalts {
  return typeof keys.documentSalt === 'function';
}

/** What the chaincode receives for a new record: the patient only as a commitment. */
interface LedgerRecord {
  recordId: string;
  docHash: string;
  patientRef: string;
  category: string;
}

async function toLedgerRecord(request: NewRecordRequest, patientRefs: OrgKeys, field: string): Promise<LedgerRecord> {
  // A record id and a category are copied to every peer (and into the journal): refuse one that looks personal.
  refuseDirectIdentifier(`${field}.recordId`, request.recordId);
  refuseDirectIdentifier(`${field}.category`, request.category);
  const docHash = ledgerCommitment(request.docHash, request.commitment, patientRefs).ledgerHash;
  const patientRef = await patientRefs.ensurePatientRef(request.patientId);
  return { recordId: request.recordId, docHash, patientRef, category: request.category };
}

/**
 * Refuses (400 DIRECT_IDENTIFIER) a value bound for the ledger or the journal (a record id, a
 * category code, a purpose) that looks like a resident registration number, a phone number or
 * an e-mail address. The sentence names the field, never the value.
 */
export function refuseDirectIdentifier(field: string, value: string): void {
  try {
    assertNoDirectIdentifier(field, value);
  } catch (err) {
    throw new ApiError(400, 'DIRECT_IDENTIFIER', `${field} looks like a personal identifier; it is copied to every organisation and must be an opaque id or code.`, {
      cause: (err as { code?: string }).code,
    });
  }
}
