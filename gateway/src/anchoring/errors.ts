/**
 * The one error type of the anchoring layer (log, checkpointer, registry client, receipts,
 * archives). Browser-safe: the receipt verifiers throw it too.
 *
 * As in the chaincode and privacy layers, the stable machine code travels as the message
 * prefix (`CODE: sentence`) so that it survives logging and re-throwing; `code` carries it
 * for routes and the CLI. Sentences never contain a patientRef or document content.
 *
 * @module
 */

/** Every code {@link AnchoringError} can carry. Codes are stable; sentences may change. */
export const ANCHORING_ERROR_CODES = [
  /** A programming-level argument is out of range (sizes, options, positions). */
  'INVALID_ARGUMENT',
  /** Leaf data is missing a field, has an unknown one, a malformed value, or is not canonical JSON. */
  'LEAF_INVALID',
  /** The anchor log folder holds a log this code cannot read (unknown format version). */
  'LOG_UNSUPPORTED',
  /** Committed log data is missing: a file is shorter than the last commit says it must be. */
  'LOG_TRUNCATED',
  /** Committed log data does not agree with itself (leaf hashes vs. leaf data vs. commit record). */
  'LOG_CORRUPT',
  /** Log files changed under a running process: what is on disk no longer matches what was appended. */
  'LOG_TAMPERED',
  /** Writing to the anchor log failed; reopen it (the uncommitted tail is replayed from the ledger). */
  'LOG_WRITE_FAILED',
  /** Another live process holds the anchor log. */
  'LOG_LOCKED',
  /** The anchor log was closed. */
  'LOG_CLOSED',
  /** An anchor arrived out of ledger order (not a replay, not the next position). */
  'LOG_OUT_OF_ORDER',
  /** The ledger's events and its state disagree (an announced anchor is missing or differs). */
  'SOURCE_INCONSISTENT',
  /** The registry artifact (ABI) is missing: the contracts were not compiled. */
  'REGISTRY_ARTIFACT_MISSING',
  /** Registry configuration (RPC URL, key, address) is missing or malformed. */
  'REGISTRY_CONFIG_INVALID',
  /** No AnchorRegistry contract is deployed at the configured address. */
  'REGISTRY_NOT_FOUND',
  /** The EVM node could not be reached or answered with an error. */
  'REGISTRY_UNAVAILABLE',
  /** The registry refused the key: it is not an authorised anchorer. */
  'REGISTRY_UNAUTHORIZED',
  /** The registry refused a checkpoint whose tree size does not exceed the latest one. */
  'REGISTRY_SIZE_NOT_INCREASING',
  /** The registry refused the call for another reason (see `details.revert`). */
  'REGISTRY_REJECTED',
  /** The on-chain checkpoint's root differs from this log's root at the same size. */
  'CHECKPOINT_FORK',
  /** The consistency proof from the on-chain checkpoint to the new tree head did not verify. */
  'CHECKPOINT_INCONSISTENT',
  /** The checkpointer stopped writing after a fork or tampering; an operator must look. */
  'CHECKPOINTER_HALTED',
  /** No leaf of the log anchors this document hash. */
  'LEAF_NOT_FOUND',
  /** No on-chain checkpoint covers this leaf yet: the receipt is pending. */
  'RECEIPT_PENDING',
  /** A receipt is not well-formed JSON of the expected shape. */
  'RECEIPT_MALFORMED',
  /** A receipt's `version` is not one this verifier understands. */
  'RECEIPT_UNSUPPORTED_VERSION',
  /** The archive folder holds no regular file. */
  'ARCHIVE_EMPTY',
  /** A path cannot be archived (not valid Unicode, or output inside the archived folder). */
  'ARCHIVE_PATH_INVALID',
  /** A file or folder of the archive could not be read. */
  'ARCHIVE_READ_FAILED',
  /** Writing the archive's receipts failed. */
  'ARCHIVE_WRITE_FAILED',
  /** The anchorRoot callback failed; receipts were written, the root is not anchored yet. */
  'ARCHIVE_ANCHOR_FAILED',
  /** No file with this path or index is in the archive. */
  'ARCHIVE_ENTRY_NOT_FOUND',
] as const;

/** A stable machine-readable code of {@link AnchoringError}. */
export type AnchoringErrorCode = (typeof ANCHORING_ERROR_CODES)[number];

/** Error raised by every module of the anchoring layer: `code` plus a sentence a person understands. */
export class AnchoringError extends Error {
  /** Stable machine code, also the prefix of `message`. */
  readonly code: AnchoringErrorCode;
  /** Machine-readable facts (sizes, roots, revert names); never document content. */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  /**
   * @param code - stable machine code
   * @param sentence - what went wrong and, where there is one, what to do about it
   * @param options - `details` for machines, `cause` for the underlying error
   */
  constructor(code: AnchoringErrorCode, sentence: string, options?: { details?: Record<string, unknown>; cause?: unknown }) {
    super(`${code}: ${sentence}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AnchoringError';
    this.code = code;
    this.details = options?.details;
  }
}

/** True when `err` is an {@link AnchoringError}, optionally with the given code. */
export function isAnchoringError(err: unknown, code?: AnchoringErrorCode): err is AnchoringError {
  return err instanceof AnchoringError && (code === undefined || err.code === code);
}
