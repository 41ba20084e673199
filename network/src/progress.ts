/**
 * Progress for long work, on stderr: one line per step with the seconds since the start, so a
 * person watching `npm start` sees where the time goes.
 *
 * @module
 */
export interface Progress {
  step(message: string): void;
  /** Something went wrong but the work goes on (a retry, a skipped part). */
  warn(message: string): void;
}

/** Writes `[medprov  12.3s] message` lines to a stream (stderr by default). */
export function consoleProgress(prefix = 'medprov', stream: NodeJS.WritableStream = process.stderr): Progress {
  const t0 = Date.now();
  const at = () => ((Date.now() - t0) / 1000).toFixed(1).padStart(5);
  return {
    step: (message) => void stream.write(`[${prefix} ${at()}s] ${message}\n`),
    warn: (message) => void stream.write(`[${prefix} ${at()}s] warning: ${message}\n`),
  };
}

/** Says nothing (tests that check their own output). */
export const silentProgress: Progress = { step: () => undefined, warn: () => undefined };
