/**
 * The logging seam of the anchoring layer. Library code never writes to the console: the
 * gateway passes its pino logger (whose `info(obj, msg)` order differs, hence this tiny
 * interface and an adapter on the gateway side), tests pass a recorder.
 *
 * @module
 */

/** Structured facts attached to a log line (sizes, roots, codes; never document content). */
export type LogFields = Readonly<Record<string, unknown>>;

/** What the anchoring layer needs from a logger. */
export interface AnchoringLogger {
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** A logger that drops everything: the default, so a library call never prints. */
export const silentLogger: AnchoringLogger = Object.freeze({
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
});
