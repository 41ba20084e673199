/**
 * The CLI's exit codes and its one error type. Every failure reaches the user as one sentence on
 * stderr and one of these codes; a stack trace only with `--debug`.
 *
 * @module
 */

/** Exit codes; scripts may rely on them. */
export const EXIT = {
  /** Everything worked (and every verification passed). */
  OK: 0,
  /** A verification failed: a verdict other than ORIGINAL, or a receipt that does not verify. */
  FAILED: 1,
  /** Usage error: unknown command or flag, missing argument, unreadable input file, no gateway/API key configured, a key file missing or not opened by its password. */
  USAGE: 2,
  /** The gateway (or the EVM node of `--rpc`) cannot be reached: connection refused, DNS, timeout. */
  UNREACHABLE: 3,
  /** The gateway refused the request (4xx): its error code and sentence are printed. */
  REFUSED: 4,
  /** The gateway failed (5xx), answered something that is not its API, or did not finish an accepted write in time. */
  GATEWAY_ERROR: 5,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A failure with its exit code; `code` is the gateway's error code when there is one. */
export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    readonly code?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CliError';
  }
}

/** A usage error: printed with the command's usage line and a hint. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(EXIT.USAGE, message);
    this.name = 'UsageError';
  }
}
