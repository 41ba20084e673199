/**
 * The results table of the real-network benches (bench:anchor, bench:verify): one row per
 * measured figure, each beside the same-run ceiling it is held against and its goal.
 */
import { type RunOutcome, failureCount, fmtInt, fmtMs, fmtRatio, printTable, summarize } from './report';

/** One line of the results table. */
export interface BenchRow {
  label: string;
  clients: number;
  /** Operations sent (transactions, requests). */
  sent: number;
  /** The figure: per second, in `unit`. */
  rate: number;
  unit: string;
  latenciesMs: Float64Array;
  errors: number;
  rateLimited: number;
  /** Cells of the bench's own columns ({@link printBenchRows}'s `extraColumns`), in order. */
  extra?: string[];
  /** The same-run ceiling (tx/s) this row is held against, and the goal as text. */
  ceiling?: number;
  goal?: string;
}

/** A ceiling's row: its transactions per second. */
export function ceilingRow(label: string, clients: number, outcome: RunOutcome): BenchRow {
  return { label, clients, sent: outcome.latenciesMs.length, rate: outcome.ok / outcome.seconds, unit: 'tx/s', latenciesMs: outcome.latenciesMs, errors: failureCount(outcome.failures), rateLimited: 0 };
}

/** The table; errors and 429s flagged; `extraColumns` after the 429s, filled from each row's `extra`. */
export function printBenchRows(rows: BenchRow[], extraColumns: string[] = []): void {
  printTable(
    ['', 'clients', 'sent', 'figure', 'p50 ms', 'p99 ms', 'max ms', 'errors', '429s', ...extraColumns, 'ceiling tx/s', 'ratio', 'goal'],
    rows.map((r) => {
      const s = summarize(r.latenciesMs);
      return [
        r.label,
        String(r.clients),
        fmtInt(r.sent),
        `${fmtInt(r.rate)} ${r.unit}`,
        fmtMs(s.p50),
        fmtMs(s.p99),
        fmtMs(s.max),
        r.errors === 0 ? '0' : `${fmtInt(r.errors)} !!!`,
        r.rateLimited === 0 ? '0' : `${fmtInt(r.rateLimited)} !!!`,
        ...extraColumns.map((_, i) => r.extra?.[i] ?? ''),
        r.ceiling === undefined ? '' : fmtInt(r.ceiling),
        r.ceiling === undefined ? '' : fmtRatio(r.rate / r.ceiling),
        r.goal ?? '',
      ];
    }),
  );
}
