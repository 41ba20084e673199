import type { AcceptanceLogger } from '../../../gateway/src/acceptance';

/** For unit tests only: a logger that keeps what it is told, to check that a component says why. */
export function recorder(): AcceptanceLogger & { lines: { level: string; message: string; fields?: Record<string, unknown> }[] } {
  const lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  const at = (level: string) => (message: string, fields?: Readonly<Record<string, unknown>>) => void lines.push({ level, message, ...(fields ? { fields: { ...fields } } : {}) });
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}
