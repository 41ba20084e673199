/**
 * The record data model shared by the chaincode and its clients. Plain types and constants
 * only: the gateway and the browser import this without loading the contract runtime.
 */
export type RecordStatus = 'active' | 'superseded' | 'retracted';

export const RETRACTION_REASONS = ['entered-in-error', 'wrong-patient', 'duplicate', 'withdrawn-by-issuer', 'legal-order'] as const;
export type RetractionReason = (typeof RETRACTION_REASONS)[number];

/** The one event name of record changes; the gateway's index and checkpointer follow it. */
export const RECORDS_EVENT = 'medprov.RecordsChanged';

/** Largest number of records one anchorRecords transaction takes. */
export const MAX_BATCH = 1000;

/** One anchored version of a record, as stored on the ledger. No PHI: hashes and codes only. */
export interface RecordAnchor {
  docHash: string;
  recordId: string;
  version: number;
  supersedes?: string;
  supersededBy?: string;
  issuer: string;
  patientRef: string;
  category: string;
  status: RecordStatus;
  anchoredAt: string;
  txId: string;
  retraction?: { reason: RetractionReason; at: string; txId: string };
}

/** What anchoring one record of a list came to, in the list's order. */
export type AnchorResult =
  /** Anchored by this transaction: the anchor is the record sent plus the answer's issuer, anchoredAt and txId. */
  | { status: 'created' }
  /** The issuer had already anchored this document: the anchor as stored. */
  | { status: 'existing'; anchor: RecordAnchor }
  /** Not anchored (Records:anchorEach only): the chaincode's code and sentence. */
  | { status: 'refused'; code: string; message: string };

/**
 * The answer of `Records:anchorRecords` and `Records:anchorEach`: compact, because it travels in
 * the transaction (every endorsement carries it) — a created record's anchor is not repeated.
 */
export interface AnchorBatchAnswer {
  issuer: string;
  anchoredAt: string;
  txId: string;
  anchored: number;
  existing: number;
  /** anchorEach only. */
  refused?: number;
  results: AnchorResult[];
}

/** A record as `Records:anchorRecords` and `Records:anchorEach` take it. */
export interface NewRecordInput {
  recordId: string;
  docHash: string;
  patientRef: string;
  category: string;
}

/** One record's outcome with its full anchor, or its refusal. */
export type ExpandedAnchorResult = { anchor: RecordAnchor; created: boolean } | { refused: { code: string; message: string } };

/** Every record's outcome of an {@link AnchorBatchAnswer}, with created anchors rebuilt from what was sent. */
export function expandAnchorResults(sent: readonly NewRecordInput[], answer: AnchorBatchAnswer): ExpandedAnchorResult[] {
  if (answer.results.length !== sent.length) throw new Error(`the ledger answered ${answer.results.length} results for ${sent.length} records`);
  return answer.results.map((result, i) => {
    if (result.status === 'existing') return { anchor: result.anchor, created: false };
    if (result.status === 'refused') return { refused: { code: result.code, message: result.message } };
    const { recordId, docHash, patientRef, category } = sent[i]!;
    return { anchor: { docHash, recordId, version: 1, issuer: answer.issuer, patientRef, category, status: 'active', anchoredAt: answer.anchoredAt, txId: answer.txId }, created: true };
  });
}
