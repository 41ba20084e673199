/**
 * Where the CLI writes: results on stdout (human lines, or one JSON document with `--json`),
 * errors and progress on stderr.
 *
 * @module
 */
import { Progress } from './progress';

export class Output {
  constructor(
    readonly json: boolean,
    /** Progress bars: `--progress`, or stderr is a terminal (never with --json unless --progress). */
    readonly progress: boolean,
    readonly stdout: NodeJS.WritableStream = process.stdout,
    readonly stderr: NodeJS.WriteStream = process.stderr,
  ) {}

  /** A human line on stdout; nothing in --json mode. */
  line(text = ''): void {
    if (!this.json) this.stdout.write(text + '\n');
  }

  /** The JSON document of the command (only in --json mode). */
  document(value: unknown): void {
    if (this.json) this.stdout.write(JSON.stringify(value, null, 2) + '\n');
  }

  /** A warning or note on stderr (never on stdout, so --json output stays clean). */
  note(text: string): void {
    this.stderr.write(text + '\n');
  }

  /** A progress bar (inert unless progress is on). */
  bar(label: string, total: number, unit: string): Progress {
    return new Progress(this.stderr, label, total, unit, this.progress);
  }
}

/** Aligned `key  value` lines. */
export function fields(pairs: readonly (readonly [string, string | number | undefined])[], indent = '  '): string[] {
  const shown = pairs.filter((p): p is readonly [string, string | number] => p[1] !== undefined && p[1] !== '');
  const width = Math.max(0, ...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `${indent}${k.padEnd(width)}  ${v}`);
}

/** A table: a header row and aligned columns (the last one unpadded). */
export function table(header: readonly string[], rows: readonly (readonly string[])[], indent = '  '): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => indent + cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)];
}
