/**
 * The one error type of disaster recovery (backups, restores, master key shares). Like the
 * privacy layer's errors, the stable code is also the message's prefix (`CODE: sentence`).
 *
 * @module
 */
export const RECOVERY_ERROR_CODES = [
  /** The file is not a medprov gateway backup, or of a version this code does not read. */
  'BACKUP_UNREADABLE',
  /** The backup was encrypted to another operator key than the one given. */
  'BACKUP_WRONG_KEY',
  /** The backup's authentication failed: it was altered (or damaged) after it was written. */
  'BACKUP_TAMPERED',
  /** The backup is of another organisation, channel or consortium than the gateway restored to. */
  'BACKUP_FOREIGN',
  /** The operator key file cannot be read or opened with its passphrase. */
  'BACKUP_KEY_INVALID',
  /** Restoring would overwrite a gateway's state that is there; `--replace` says to move it aside. */
  'RESTORE_WOULD_OVERWRITE',
  /** The gateway holds its state (a live process owns a lock): stop it before restoring. */
  'GATEWAY_RUNNING',
  /** A split needs 2 ≤ threshold ≤ shares ≤ 255. */
  'SHARES_INVALID',
  /** A share line is not a share, or its check digits do not match. */
  'SHARE_MALFORMED',
  /** Shares of different splits were given together. */
  'SHARES_MIXED',
  /** Fewer shares than the split's threshold. */
  'SHARES_TOO_FEW',
  /** The same share twice. */
  'SHARES_DUPLICATE',
  /** The shares combine to something else than the key they name. */
  'SHARES_INCONSISTENT',
] as const;

export type RecoveryErrorCode = (typeof RECOVERY_ERROR_CODES)[number];

/** Raised by the recovery modules: `code` plus a sentence a person understands (never key material). */
export class RecoveryError extends Error {
  readonly code: RecoveryErrorCode;
  readonly details?: Record<string, unknown>;

  constructor(code: RecoveryErrorCode, sentence: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(`${code}: ${sentence}`, options);
    this.name = 'RecoveryError';
    this.code = code;
    if (options?.details) this.details = options.details;
  }
}

export function isRecoveryError(err: unknown, code?: RecoveryErrorCode): err is RecoveryError {
  return err instanceof RecoveryError && (code === undefined || err.code === code);
}
