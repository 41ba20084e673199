/**
 * What the gateway benchmarks (bench:anchor, bench:verify) share to print: machine facts, latency
 * percentiles, tables, a progress line, sizes from the environment, and a main wrapper that tidies
 * up servers and temp folders also on error or Ctrl-C. No gateway code here: the load-generating
 * worker thread imports it too.
 */
import * as os from 'node:os';

/** A positive number from the environment, or the default. */
export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number (got "${raw}").`);
  return value;
}

/** A comma-separated list of positive whole numbers from the environment, e.g. `8,32`. */
export function envCounts(name: string, fallback: number[]): number[] {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const values = raw.split(',').map((part) => Number(part.trim()));
  if (values.some((v) => !Number.isSafeInteger(v) || v < 1)) throw new Error(`${name} must be whole numbers ≥ 1 separated by commas (got "${raw}").`);
  return values;
}

/** The first lines of every run: what ran, on what, and how busy the machine was. */
export function printHeader(title: string, sizes: string): void {
  const cpus = os.cpus();
  const [one, five, fifteen] = os.loadavg().map((x) => x.toFixed(2));
  console.log(title);
  console.log(`machine: ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB; Node ${process.version} (${process.platform}/${process.arch})`);
  console.log(`load average at start (1/5/15 min): ${one} / ${five} / ${fifteen}${Number(one) > cpus.length / 2 ? ' — the machine is busy: throughput is understated and latency overstated' : ''}`);
  console.log(`sizes: ${sizes}`);
}

export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentiles of latencies in milliseconds. */
export function summarize(latenciesMs: ArrayLike<number>): LatencySummary {
  const sorted = Float64Array.from(latenciesMs).sort();
  const at = (p: number) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]);
  return { count: sorted.length, p50: at(50), p99: at(99), max: sorted.length === 0 ? NaN : sorted[sorted.length - 1] };
}

export const fmtInt = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
export const fmtMs = (x: number): string => (Number.isFinite(x) ? x.toFixed(x < 10 ? 2 : 1) : '–');
export const fmtRatio = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '–');

/** A table: the first column left-aligned, the others right-aligned. */
export function printTable(header: string[], rows: string[][]): void {
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ').trimEnd();
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

/** Failures by kind (`409 DOC_HASH_CLAIMED`, `network ECONNRESET`, `200 verdict=UNKNOWN`, …). */
export type Failures = Record<string, number>;

export const failureCount = (failures: Failures): number => Object.values(failures).reduce((n, c) => n + c, 0);

/** Every failure kind with its count, loudly, under the table; says nothing when there were none. */
export function printFailures(label: string, failures: Failures, sample?: string): void {
  const total = failureCount(failures);
  if (total === 0) return;
  const kinds = Object.entries(failures)
    .sort((a, b) => b[1] - a[1])
    .map(([kind, n]) => `${n} × ${kind}`)
    .join(', ');
  console.log(`!!! ${label}: ${total} request(s) FAILED: ${kinds}${sample ? `\n!!!   e.g. ${sample.slice(0, 300)}` : ''}`);
}

/**
 * One row of a results table: label, clients, requests, rate, p50/p99/max ms, errors (flagged),
 * any `extra` cells, and the rate's ratio to its baseline when there is one.
 */
export function resultRow(label: string, clients: number, outcome: RunOutcome, rate: number, baseline?: number, extra: string[] = []): string[] {
  const s = summarize(outcome.latenciesMs);
  const errors = failureCount(outcome.failures);
  return [label, String(clients), fmtInt(s.count), fmtInt(rate), fmtMs(s.p50), fmtMs(s.p99), fmtMs(s.max), errors === 0 ? '0' : `${errors} !!!`, ...extra, baseline === undefined ? '' : fmtRatio(rate / baseline)];
}

/** Whether long phases show a progress line on stderr. */
export const progressWanted = (): boolean => Boolean(process.stderr.isTTY) || process.env.MEDPROV_BENCH_PROGRESS === '1';

/** A progress line on stderr (rate, ETA): rewritten in place on a terminal, a line every 2 s otherwise. */
export function progressLine(label: string, total: number): { update(done: number): void; end(): void } {
  if (!progressWanted()) return { update: () => undefined, end: () => undefined };
  const tty = Boolean(process.stderr.isTTY);
  const start = performance.now();
  const every = tty ? 250 : 2000;
  let last = start;
  let shown = false;
  return {
    update(done: number) {
      const now = performance.now();
      // Short phases print nothing; long ones a line every `every` ms and their last count.
      if (now - last < every && !(shown && done >= total)) return;
      last = now;
      const rate = done / ((now - start) / 1000);
      const eta = rate > 0 ? (total - done) / rate : NaN;
      const text = `  ${label}: ${fmtInt(done)}/${fmtInt(total)}, ${fmtInt(rate)}/s, ETA ${Number.isFinite(eta) ? `${eta.toFixed(0)} s` : '?'}`;
      process.stderr.write(tty ? `\r${text.padEnd(78)}` : `${text}\n`);
      shown = true;
    },
    end() {
      if (tty && shown) process.stderr.write(`\r${' '.repeat(80)}\r`);
    },
  };
}

/** The outcome of running many operations with at most `concurrency` in flight. */
export interface RunOutcome {
  seconds: number;
  latenciesMs: Float64Array;
  ok: number;
  failures: Failures;
  sampleFailure?: string;
}

/**
 * Runs `op` on each item with at most `concurrency` in flight (each "client" takes the next item
 * when its previous one finished) and times each one. `op` returns undefined for success, or the
 * kind of failure; a throw is a failure of kind `error <name>`.
 */
export async function runConcurrent<T>(
  items: readonly T[],
  concurrency: number,
  op: (item: T, index: number) => Promise<string | undefined>,
  onProgress?: (done: number) => void,
): Promise<RunOutcome> {
  const latenciesMs = new Float64Array(items.length);
  const failures: Failures = {};
  let sampleFailure: string | undefined;
  let next = 0;
  let done = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        const t0 = performance.now();
        let failure: string | undefined;
        try {
          failure = await op(items[i], i);
        } catch (err) {
          failure = `error ${(err as Error).name}`;
          sampleFailure ??= (err as Error).message;
        }
        latenciesMs[i] = performance.now() - t0;
        if (failure !== undefined) failures[failure] = (failures[failure] ?? 0) + 1;
        onProgress?.(++done);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  return { seconds, latenciesMs, ok: items.length - failureCount(failures), failures, ...(sampleFailure !== undefined ? { sampleFailure } : {}) };
}

/** Runs `once` `runs` times and keeps the run with the median rate: one run of a baseline is noisy on a busy machine. */
export async function medianRun(runs: number, once: () => Promise<RunOutcome>): Promise<RunOutcome> {
  const outcomes: RunOutcome[] = [];
  for (let i = 0; i < runs; i++) outcomes.push(await once());
  return outcomes.sort((a, b) => a.ok / a.seconds - b.ok / b.seconds)[Math.floor(runs / 2)];
}

/** Things to close at the end, last opened first closed. */
export class Deferred {
  private readonly closers: (() => unknown)[] = [];

  defer(close: () => unknown): void {
    this.closers.push(close);
  }

  async closeAll(): Promise<void> {
    while (this.closers.length > 0) {
      try {
        await this.closers.pop()?.();
      } catch (err) {
        console.error(`cleanup: ${(err as Error).message}`);
      }
    }
  }
}

/**
 * Runs a benchmark's main and then closes what it deferred (servers, temp folders), also when it
 * fails or the user presses Ctrl-C. Exit code 1 on error.
 */
export function runBench(main: (resources: Deferred) => Promise<void>): void {
  const resources = new Deferred();
  const interrupted = (signal: NodeJS.Signals) => {
    console.error(`\n${signal}: stopping, cleaning up`);
    void resources.closeAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  main(resources)
    .catch((err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    })
    .finally(async () => {
      await resources.closeAll();
      process.removeListener('SIGINT', interrupted);
      process.removeListener('SIGTERM', interrupted);
    });
}
