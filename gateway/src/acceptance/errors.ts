/**
 * The one error type of the acceptance layer (journal, submitter, idempotency).
 *
 * It extends the gateway's {@link ApiError}, so a route that lets it escape gets the usual
 * `{ error: { code, message, requestId } }` envelope with the right HTTP status and nothing
 * more to wire. Sentences never contain a patient identifier, an idempotency key or
 * document content: they may be shown to the caller.
 *
 * @module
 */
import { ApiError } from '../errors';

/** Every code {@link AcceptanceError} can carry, with its HTTP status. Codes are stable; sentences may change. */
export const ACCEPTANCE_ERROR_STATUS = {
  /** The same Idempotency-Key was sent by the same user with a different request. */
  IDEMPOTENCY_KEY_REUSED: 409,
  /** The Idempotency-Key header is empty, too long or not printable ASCII. */
  IDEMPOTENCY_KEY_INVALID: 400,
  /** No accepted request has this id (never accepted here, or forgotten after compaction). */
  REQUEST_NOT_FOUND: 404,
  /** A programming-level argument is out of range (options, kinds, outcome shapes). */
  INVALID_ARGUMENT: 400,
  /** A record in the middle of the journal fails its checksum or shape: an operator must look. */
  JOURNAL_CORRUPT: 500,
  /** The journal file was written by a format this code does not read. */
  JOURNAL_UNSUPPORTED: 500,
  /** Appending to the journal or syncing it failed; nothing more is accepted until the gateway restarts. */
  JOURNAL_WRITE_FAILED: 503,
  /**
   * The disk under the gateway's state folder is full (ENOSPC, or a quota: EDQUOT): the request
   * was not recorded, so not accepted. Nothing already acknowledged is lost, and requests are
   * accepted again as soon as there is space (no restart).
   */
  STORAGE_FULL: 503,
  /** The journal was closed (the gateway is stopping). */
  JOURNAL_CLOSED: 503,
  /** Another live process holds the journal. */
  JOURNAL_LOCKED: 500,
} as const;

/** A stable machine-readable code of {@link AcceptanceError}. */
export type AcceptanceErrorCode = keyof typeof ACCEPTANCE_ERROR_STATUS;

/** Error raised by every module of the acceptance layer: HTTP `status`, stable `code`, a sentence. */
export class AcceptanceError extends ApiError {
  override readonly code: AcceptanceErrorCode;

  /**
   * @param code - stable machine code; the HTTP status follows from it
   * @param sentence - what went wrong and, where there is one, what to do about it
   * @param options - `details` for machines (ids, offsets), `cause` for the underlying error
   */
  constructor(code: AcceptanceErrorCode, sentence: string, options?: { details?: Record<string, unknown>; cause?: unknown }) {
    super(ACCEPTANCE_ERROR_STATUS[code], code, sentence, options?.details);
    this.name = 'AcceptanceError';
    this.code = code;
    if (options?.cause !== undefined) (this as { cause?: unknown }).cause = options.cause;
  }
}

/** True when `err` is an {@link AcceptanceError}, optionally with the given code. */
export function isAcceptanceError(err: unknown, code?: AcceptanceErrorCode): err is AcceptanceError {
  return err instanceof AcceptanceError && (code === undefined || err.code === code);
}

/** True when `err`, or an error it was caused by, is the file system saying it is full (ENOSPC) or over a quota (EDQUOT). */
export function isStorageFull(err: unknown): boolean {
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'STORAGE_FULL') return true;
  }
  return false;
}

/** The refusal of a write the gateway could not record for lack of disk space (HTTP 503, STORAGE_FULL). */
export function storageFullError(cause: unknown): AcceptanceError {
  return new AcceptanceError(
    'STORAGE_FULL',
    "The gateway's disk is full, so it could not record this request, which was not accepted; try again once space has been freed. Requests already acknowledged are safe.",
    { details: { retryAfterSeconds: 10 }, cause },
  );
}
