/**
 * Durable acceptance of anchor requests: once the gateway acknowledges a request (202
 * Accepted), it is never lost and never applied twice. {@link AcceptanceJournal} makes it
 * durable (group-committed fsync), {@link Submitter} carries it to the ledger with retries,
 * {@link AcceptanceService} is what the routes call.
 *
 * @module
 */
export { ACCEPTANCE_ERROR_STATUS, AcceptanceError, isAcceptanceError, isStorageFull, storageFullError, type AcceptanceErrorCode } from './errors';
export { openNodeJournalFile, type JournalFile, type OpenJournalFile } from './file';
export {
  AcceptanceJournal,
  JOURNAL_FILE,
  JOURNAL_FORMAT,
  JOURNAL_VERSION,
  idempotencyDigest,
  type AcceptedEntry,
  type AcceptOptions,
  type AcceptResult,
  type CompactionReport,
  type JournalOptions,
  type JournalStats,
  type OpenReport,
  type Outcome,
  type RecordedOutcome,
} from './journal';
export { ANCHOR_EACH, LedgerWriter, NotSentError, splitAnchorEach, type AnchorEachOutcome, type CallReport, type LedgerAnswer, type LedgerWriterOptions, type WriterCounts } from './coalescer';
export { fromPino, silentLogger, type AcceptanceLogger, type LogFields, type PinoLike } from './logger';
export {
  REQUEST_KINDS,
  TRANSACTION_OF_KIND,
  fingerprintOf,
  isRequestKind,
  orderingKeysOf,
  prepareAmendRecord,
  prepareAnchorBatch,
  prepareAnchorRecord,
  prepareRecordErasure,
  prepareRetractRecord,
  type LedgerRequest,
  type RequestKind,
} from './requests';
export { AcceptanceService, type Acknowledgement, type RequestContext } from './service';
export {
  Submitter,
  LAG_CONFIRMATIONS,
  backoffDelay,
  submitterOptionsFromEnv,
  classifyFailure,
  type FailureClass,
  type LastError,
  type RequestStatus,
  type RetryPolicy,
  type SubmitterCounts,
  type SubmitterOptions,
} from './submitter';
