/**
 * The one error type of the privacy layer.
 *
 * Like the chaincode's errors, the stable machine code travels as the message prefix
 * (`CODE: sentence`) so that it survives logging and re-throwing, and `code` carries it for
 * routes that map it to an HTTP status. Sentences never contain a patient identifier, a
 * patientRef, key material or a quasi-identifier value: they may be shown to the caller.
 */
export const PRIVACY_ERROR_CODES = [
  /** No master key was configured. */
  'MASTER_KEY_MISSING',
  /** The configured master key is not 32 bytes written as hex or base64. */
  'MASTER_KEY_MALFORMED',
  /** The configured master key decodes to 32 bytes that are evidently not random. */
  'MASTER_KEY_WEAK',
  /** The master key does not open this store (wrong key, retired key, or keys swapped). */
  'MASTER_KEY_INVALID',
  /** The file holding the next master key may be read by other users of the host. */
  'MASTER_KEY_FILE_UNSAFE',
  /** A rotation target that this store has used before (or uses now). */
  'MASTER_KEY_REUSED',
  /** Entries are still encrypted under a key generation whose key was not supplied. */
  'ROTATION_INCOMPLETE',
  /** A rotation is already under way (or pending) towards a different key. */
  'ROTATION_IN_PROGRESS',
  /** An identifier is empty, too long, or contains characters that are not allowed. */
  'INVALID_IDENTIFIER',
  /** A value that must not carry direct identifiers looks like it does. */
  'DIRECT_IDENTIFIER',
  /** No key exists for this identifier (never registered here). */
  'PATIENT_NOT_REGISTERED',
  /** This identifier's key was destroyed on an erasure request. */
  'PATIENT_KEY_ERASED',
  /** The key store file does not exist and creating it was not asked for. */
  'STORE_NOT_FOUND',
  /** The key store file is not a well-formed medprov key store. */
  'STORE_CORRUPT',
  /** The key store file failed authentication (MAC or AES-GCM tag). */
  'STORE_TAMPERED',
  /** Another live process holds the key store. */
  'STORE_LOCKED',
  /** Writing the key store to disk failed; the change was not made. */
  'STORE_WRITE_FAILED',
  /** The store was closed. */
  'STORE_CLOSED',
  /** A research release has equivalence classes smaller than the required k. */
  'RELEASE_BELOW_K',
  /** A research release contains something that looks like a direct identifier. */
  'RELEASE_HAS_DIRECT_IDENTIFIER',
  /** A programming-level argument is out of range (k, field list, age, date, …). */
  'INVALID_ARGUMENT',
] as const;

/** A stable machine-readable code of {@link PrivacyError}. */
export type PrivacyErrorCode = (typeof PRIVACY_ERROR_CODES)[number];

/** Error raised by every module of the privacy layer: `code` plus a sentence a person understands. */
export class PrivacyError extends Error {
  /** Stable machine code, also the prefix of `message`. */
  readonly code: PrivacyErrorCode;
  /**
   * PATIENT_KEY_ERASED from `erasePatient` only: the random id of the earlier erasure, when
   * the store kept it (random, so it says nothing about the patient).
   */
  readonly erasureId?: string;

  /**
   * @param code - stable machine code
   * @param sentence - what went wrong and, where there is one, what to do about it
   * @param options - `cause` for the underlying error (never shown to users); `erasureId` (see above)
   */
  constructor(code: PrivacyErrorCode, sentence: string, options?: { cause?: unknown; erasureId?: string }) {
    super(`${code}: ${sentence}`, options);
    this.name = 'PrivacyError';
    this.code = code;
    if (options?.erasureId !== undefined) this.erasureId = options.erasureId;
  }
}

/** True when `err` is a {@link PrivacyError}, optionally with the given code. */
export function isPrivacyError(err: unknown, code?: PrivacyErrorCode): err is PrivacyError {
  return err instanceof PrivacyError && (code === undefined || err.code === code);
}
