/**
 * The logging seam of the acceptance layer. Library code never writes to the console: the
 * gateway passes its pino logger through {@link fromPino} (pino puts the fields first, hence
 * the adapter), tests pass a recorder or nothing.
 *
 * @module
 */

/** Structured facts attached to a log line: ids, codes, counts; never a patient identifier. */
export type LogFields = Readonly<Record<string, unknown>>;

/** What the acceptance layer needs of a logger. */
export interface AcceptanceLogger {
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** A logger that drops everything: the default, so a library call never prints. */
export const silentLogger: AcceptanceLogger = Object.freeze({
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
});

/** The part of a pino logger {@link fromPino} uses. */
export interface PinoLike {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** Adapts a pino logger (fields first) to {@link AcceptanceLogger} (message first). */
export function fromPino(logger: PinoLike): AcceptanceLogger {
  return {
    info: (message, fields) => logger.info({ ...fields }, message),
    warn: (message, fields) => logger.warn({ ...fields }, message),
    error: (message, fields) => logger.error({ ...fields }, message),
  };
}
