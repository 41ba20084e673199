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
