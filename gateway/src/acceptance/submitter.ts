/**
 * The submitter: takes every accepted request from the {@link AcceptanceJournal} to the ledger,
 * retrying with exponential backoff and jitter until the ledger gives a final answer, and
 * records that answer in the journal.
 *
 * - **Resumes after a restart**: on {@link Submitter.start} it picks up every request the
 *   journal holds without an outcome, then follows new ones as they become durable.
 * - **Re-submitting is safe** because the chaincode is idempotent: anchoring a document the
 *   same issuer already anchored returns the existing anchor (`created: false`), and re-sending
 *   the amendment or retraction that produced a record's latest state returns it. So a request
 *   whose transaction committed but whose reply was lost (timeout, crash) is simply sent again.
 * - **Ordered per record**: requests that touch the same record id or document hash go to the
 *   ledger one after the other, in acceptance order (see {@link orderingKeysOf}); a request is
 *   only released to its successors once its outcome is durable, so a later change can never
 *   overtake a request that still has to be re-sent.
 * - **Coalesced**: requests go through a {@link LedgerWriter}, which sends single-record anchors
 *   that are ready at the same time as one `Records:anchorEach` transaction (each request still
 *   gets its own outcome: committed with its own anchor, or rejected with its own code), and
 *   everything else one request per transaction.
 * - **Bounded**: at most `concurrency` ledger transactions and about `maxRecordsInFlight` records
 *   in flight; a request waiting for its retry holds no slot.
 * - **Final only on a real refusal**: `rejected` is recorded only when the chaincode refused the
 *   request with its own code (DOC_HASH_CLAIMED, FORBIDDEN_*, …), which no retry can change.
 *   Transient failures (LEDGER_UNAVAILABLE, LEDGER_TIMEOUT, MVCC_CONFLICT) are retried; so is
 *   anything the gateway cannot classify (LEDGER_ERROR, ENDORSEMENT_POLICY_FAILURE,
 *   CONSORTIUM_NOT_CONFIGURED), because giving up on a guess would lose an accepted request:
 *   those are logged as errors and counted as `stuck` after a few attempts, for an operator.
 *
 * @module
 */
import { setTimeout as delay } from 'node:timers/promises';
import { CHAINCODE_ERROR_CODES } from '../../../chaincode/src/lib/errors';
import { MAX_BATCH } from '../../../chaincode/src/lib/record-model';
import type { Ledger } from '../fabric/client';
import { isLagSensitiveCode, LedgerError, toLedgerError } from '../fabric/errors';
import { DEFAULT_CONCURRENCY, LedgerWriter, NotSentError, type CallReport, type WriterCounts } from './coalescer';
import { AcceptanceError, isAcceptanceError } from './errors';
import type { AcceptanceJournal, AcceptedEntry, Outcome } from './journal';
import { silentLogger, type AcceptanceLogger } from './logger';
import { orderingKeysOf, presentResult, type RequestKind } from './requests';

/** How long to wait between attempts: `base · 2^(attempt−1)`, capped, with "equal jitter". */
export interface RetryPolicy {
  /** Delay after the first failed attempt, before jitter (default 200 ms). */
  baseDelayMs: number;
  /** Largest delay, before jitter (default 30 s). */
  maxDelayMs: number;
}

/** Options of {@link Submitter}. */
export interface SubmitterOptions {
  journal: AcceptanceJournal;
  /** Where requests go: the org's {@link LedgerClient} in the gateway. */
  ledger: Ledger;
  /** Most ledger transactions in flight at once (default 16). */
  concurrency?: number;
  /** Most single-record anchors sent together as one Records:anchorEach transaction (default 1,000; 1: each alone). */
  maxBatch?: number;
  /** About the most records in the transactions in flight (default 2,000): a batch of 1,000 takes 1,000. */
  maxRecordsInFlight?: number;
  retry?: Partial<RetryPolicy>;
  /** Milliseconds since the epoch (default `Date.now`). */
  now?: () => number;
  /** Waits `ms`, or rejects when `signal` aborts (default: an unref'd timer). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** A number in [0, 1) for jitter (default `Math.random`). */
  random?: () => number;
  logger?: AcceptanceLogger;
  /** Attempts after which a request counts as `stuck` in {@link SubmitterCounts} (default 10); it is still retried. */
  stuckAfterAttempts?: number;
}

/** The last failure of a request that is being retried. */
export interface LastError {
  code: string;
  message: string;
  /** When it happened (ISO 8601). */
  at: string;
}

/** How an accepted request stands, for `GET /v1/requests/{id}`. */
export type RequestStatus =
  | {
      id: string;
      kind: RequestKind;
      /** Durable, not yet sent to the ledger. */
      state: 'accepted';
      acceptedAt: string;
      /** An earlier request on the same record that must finish first. */
      waitingFor?: string;
    }
  | {
      id: string;
      kind: RequestKind;
      /** Sent at least once; being sent, or waiting for its next attempt. */
      state: 'submitting';
      acceptedAt: string;
      attempts: number;
      lastError?: LastError;
      /** When the next attempt is due (ISO 8601), while waiting for it. */
      nextAttemptAt?: string;
    }
  | {
      id: string;
      kind: RequestKind;
      state: 'committed';
      acceptedAt: string;
      finishedAt: string;
      transactionId: string;
      blockNumber: string;
      /** The chaincode's answer, e.g. `{ anchor, created }`; `created: false` when an earlier attempt had committed it. */
      result: unknown;
    }
  | {
      id: string;
      kind: RequestKind;
      state: 'rejected';
      acceptedAt: string;
      finishedAt: string;
      /** The chaincode's code, e.g. DOC_HASH_CLAIMED. */
      code: string;
      message: string;
    };

/** Counters for metrics (gauges, then totals since {@link Submitter.start}). */
export interface SubmitterCounts {
  /** Durable requests not yet sent (including those waiting behind an earlier one on the same record). */
  accepted: number;
  /** Requests sent at least once and not finished. */
  submitting: number;
  /** Ledger transactions in flight now. */
  inFlight: number;
  /** Requests waiting for their next attempt. */
  backingOff: number;
  /** Requests with at least `stuckAfterAttempts` attempts: worth an alert. */
  stuck: number;
  attempts: number;
  retries: number;
  transientFailures: number;
  /** Failures the gateway could not classify (retried all the same). */
  unknownFailures: number;
  committed: number;
  rejected: number;
  /** True once the journal refused an outcome: the submitter stopped and needs a restart. */
  halted: boolean;
  /** The transactions: how many, how many carried several anchors, and how many requests those carried. */
  ledger: WriterCounts;
}

/** What a ledger failure means for an accepted request. */
export type FailureClass = 'transient' | 'final' | 'unknown';

// Codes on which the chaincode refused the request itself: deterministic, final. Not
// CONSORTIUM_NOT_CONFIGURED, which the consortium's initialisation fixes.
const FINAL_CODES: ReadonlySet<string> = new Set(CHAINCODE_ERROR_CODES.filter((c) => c !== 'CONSORTIUM_NOT_CONFIGURED'));

/**
 * Refusals that name state as missing ({@link isLagSensitiveCode}: RECORD_NOT_FOUND, …) can come from
 * a peer that has not committed the latest blocks yet: an endorsing peer of another organisation
 * a block behind, or the gateway's own peer just restarted and catching up. The journal sends a
 * request only after the ones it depends on have committed, so such a refusal is recorded as
 * final only when it persists over this many attempts (a few seconds of backoff).
 * Seen on the real network: an amendment sent right behind its committed anchor was refused
 * RECORD_NOT_FOUND once, by a peer that had not yet caught up.
 */
export const LAG_CONFIRMATIONS = 6;

/** Classifies a ledger failure: retry soon (`transient`), give up (`final`), or retry and alert (`unknown`). */
export function classifyFailure(err: unknown): FailureClass {
  const ledgerError = err instanceof LedgerError ? err : toLedgerError(err);
  if (ledgerError.transient) return 'transient';
  return FINAL_CODES.has(ledgerError.code) ? 'final' : 'unknown';
}

/** The wait before attempt `attempt + 1`, after `attempt` failures: half fixed, half random, so retries spread but never come at once. */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/**
 * Submitter settings from the environment, for the gateway's process: MEDPROV_SUBMIT_CONCURRENCY
 * (transactions in flight), MEDPROV_ANCHOR_MAX_BATCH (anchors per transaction; 1 turns coalescing
 * off), MEDPROV_SUBMIT_MAX_RECORDS_IN_FLIGHT. Unset means the default.
 *
 * @throws Error naming the variable when one is not a whole number of at least 1
 */
export function submitterOptionsFromEnv(env: NodeJS.ProcessEnv): Pick<SubmitterOptions, 'concurrency' | 'maxBatch' | 'maxRecordsInFlight'> {
  const read = (name: string, max = Number.MAX_SAFE_INTEGER): number | undefined => {
    const text = env[name];
    if (text === undefined || text === '') return undefined;
    const value = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1 || value > max) throw new Error(`${name} must be a whole number from 1 to ${max}, not ${JSON.stringify(text)}.`);
    return value;
  };
  const concurrency = read('MEDPROV_SUBMIT_CONCURRENCY', 1024);
  const maxBatch = read('MEDPROV_ANCHOR_MAX_BATCH', MAX_BATCH);
  const maxRecordsInFlight = read('MEDPROV_SUBMIT_MAX_RECORDS_IN_FLIGHT');
  return { ...(concurrency ? { concurrency } : {}), ...(maxBatch ? { maxBatch } : {}), ...(maxRecordsInFlight ? { maxRecordsInFlight } : {}) };
}

/** A first-in first-out queue whose `shift` does not move the rest (the ready list can hold many thousands). */
class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

interface Tracked {
  entry: AcceptedEntry;
  keys: string[];
  attempts: number;
  phase: 'waiting' | 'ready' | 'inFlight' | 'backoff';
  lastError?: LastError;
  nextAttemptAt?: number;
}

const defaultSleep = (ms: number, signal: AbortSignal): Promise<void> => delay(ms, undefined, { signal, ref: false });

/** Submits accepted requests to the ledger until each has a final, recorded outcome. */
export class Submitter {
  private readonly journal: AcceptanceJournal;
  private readonly writer: LedgerWriter;
  /** Most requests handed to the writer at once: enough to fill the next transactions. */
  private readonly handOverLimit: number;
  private readonly policy: RetryPolicy;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly random: () => number;
  private readonly logger: AcceptanceLogger;
  private readonly stuckAfter: number;

  private readonly tracked = new Map<string, Tracked>();
  /** Per ordering key, the unfinished requests that touch it, oldest first; only the head may run. */
  private readonly keyQueues = new Map<string, string[]>();
  private readonly ready = new Fifo<string>();
  /** Requests handed to the writer and not yet answered. */
  private inFlight = 0;
  /** Failures already logged (a failed batch hands the same error to each of its requests). */
  private readonly loggedFailures = new WeakSet<object>();
  private readonly abort = new AbortController();
  private started = false;
  private stopping = false;
  private halted: AcceptanceError | undefined;
  private unsubscribe: (() => void) | undefined;
  private idleWaiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  private readonly settledWaiters = new Map<string, Set<() => void>>();
  private drainWaiters: (() => void)[] = [];
  private readonly totals = { attempts: 0, retries: 0, transientFailures: 0, unknownFailures: 0, committed: 0, rejected: 0 };

  constructor(options: SubmitterOptions) {
    const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
    const maxBatch = Math.min(MAX_BATCH, options.maxBatch ?? MAX_BATCH);
    const maxRecordsInFlight = options.maxRecordsInFlight ?? 2 * MAX_BATCH;
    const policy: RetryPolicy = { baseDelayMs: 200, maxDelayMs: 30_000, ...options.retry };
    if (!(policy.baseDelayMs >= 0) || !(policy.maxDelayMs >= policy.baseDelayMs)) {
      throw new AcceptanceError('INVALID_ARGUMENT', 'retry delays must satisfy 0 ≤ baseDelayMs ≤ maxDelayMs.');
    }
    this.journal = options.journal;
    this.policy = policy;
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? defaultSleep;
    this.random = options.random ?? Math.random;
    this.logger = options.logger ?? silentLogger;
    this.stuckAfter = options.stuckAfterAttempts ?? 10;
    // The writer checks the numbers (INVALID_ARGUMENT); retries are this submitter's, with its backoff.
    this.writer = new LedgerWriter({ ledger: options.ledger, concurrency, maxBatch, maxRecordsInFlight, logger: this.logger, now: this.now, random: this.random });
    this.handOverLimit = maxBatch === 1 ? concurrency : Math.min(concurrency * maxBatch, maxRecordsInFlight + maxBatch);
  }

  /** Called with each ledger transaction's report (batch sizes, timings): for metrics. Returns the function that unsubscribes. */
  observeCalls(listener: (report: CallReport) => void): () => void {
    return this.writer.observe(listener);
  }

  /** Picks up every unfinished request in the journal, oldest first, and follows new ones. */
  start(): void {
    if (this.started) return;
    this.started = true;
    // Snapshot and subscription in the same tick: no request can fall between the two.
    const pending = this.journal.unfinished();
    this.unsubscribe = this.journal.subscribe((entry) => this.track(entry));
    for (const entry of pending) this.track(entry);
    if (pending.length > 0) this.logger.info('acceptance: resuming unfinished requests', { count: pending.length });
    this.pump();
  }

  /**
   * Stops sending: no new attempt starts, waits for retries are cancelled, and the calls in
   * flight finish and record their outcomes. Unfinished requests stay in the journal for the
   * next start.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.unsubscribe?.();
    this.abort.abort();
    this.releaseSettledWaiters();
    // Requests not sent yet come back (NotSentError) and stay unfinished; the transactions in flight finish.
    await this.writer.stop();
    if (this.inFlight > 0) await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
  }

  /**
   * Resolves when every request known to this submitter has its outcome recorded (for tests,
   * benchmarks and a draining shutdown). Rejects if the submitter halted.
   */
  idle(): Promise<void> {
    if (this.halted) return Promise.reject(this.halted);
    if (this.tracked.size === 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.idleWaiters.push({ resolve, reject }));
  }

  /**
   * Waits until request `id` is committed or rejected, or `timeoutMs` has passed, and returns
   * its status then (undefined for an unknown id). For routes that honour `Prefer: wait=N`
   * and answer 201 when the ledger is quick, 202 when it is not. Never rejects.
   */
  async settled(id: string, timeoutMs: number): Promise<RequestStatus | undefined> {
    const current = this.status(id);
    if (!current || current.state === 'committed' || current.state === 'rejected' || timeoutMs <= 0 || this.stopping || this.halted) return current;
    await new Promise<void>((resolve) => {
      const waiters = this.settledWaiters.get(id) ?? new Set<() => void>();
      this.settledWaiters.set(id, waiters);
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(done);
        if (waiters.size === 0 && this.settledWaiters.get(id) === waiters) this.settledWaiters.delete(id);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      timer.unref();
      waiters.add(done);
    });
    return this.status(id);
  }

  /** How request `id` stands, or undefined when the journal does not know it. */
  status(id: string): RequestStatus | undefined {
    const entry = this.journal.get(id);
    if (!entry) return undefined;
    const base = { id: entry.id, kind: entry.kind, acceptedAt: entry.acceptedAt };
    const outcome = entry.outcome;
    if (outcome?.status === 'committed') {
      return { ...base, state: 'committed', finishedAt: outcome.at, transactionId: outcome.transactionId, blockNumber: outcome.blockNumber, result: presentResult(entry, outcome.result) };
    }
    if (outcome?.status === 'rejected') return { ...base, state: 'rejected', finishedAt: outcome.at, code: outcome.code, message: outcome.message };
    const t = this.tracked.get(id);
    if (!t || t.attempts === 0) {
      const waitingFor = t?.phase === 'waiting' ? t.keys.map((k) => this.keyQueues.get(k)?.[0]).find((head) => head !== undefined && head !== id) : undefined;
      return { ...base, state: 'accepted', ...(waitingFor ? { waitingFor } : {}) };
    }
    return {
      ...base,
      state: 'submitting',
      attempts: t.attempts,
      ...(t.lastError ? { lastError: { ...t.lastError } } : {}),
      ...(t.phase === 'backoff' && t.nextAttemptAt !== undefined ? { nextAttemptAt: new Date(t.nextAttemptAt).toISOString() } : {}),
    };
  }

  /** Gauges and totals for `/metrics`. */
  counts(): SubmitterCounts {
    let accepted = 0;
    let submitting = 0;
    let backingOff = 0;
    let stuck = 0;
    for (const t of this.tracked.values()) {
      if (t.attempts === 0 && t.phase !== 'inFlight') accepted += 1;
      else submitting += 1;
      if (t.phase === 'backoff') backingOff += 1;
      if (t.attempts >= this.stuckAfter) stuck += 1;
    }
    const ledger = this.writer.counts();
    return { accepted, submitting, inFlight: ledger.inFlight, backingOff, stuck, ...this.totals, halted: this.halted !== undefined, ledger };
  }

  private track(entry: AcceptedEntry): void {
    if (entry.outcome || this.tracked.has(entry.id)) return;
    const t: Tracked = { entry, keys: orderingKeysOf(entry), attempts: 0, phase: 'waiting' };
    this.tracked.set(entry.id, t);
    for (const key of t.keys) {
      const queue = this.keyQueues.get(key);
      if (queue) queue.push(entry.id);
      else this.keyQueues.set(key, [entry.id]);
    }
    if (this.isHead(t)) this.makeReady(t);
    this.pump();
  }

  private isHead(t: Tracked): boolean {
    return t.keys.every((key) => this.keyQueues.get(key)?.[0] === t.entry.id);
  }

  private makeReady(t: Tracked): void {
    t.phase = 'ready';
    t.nextAttemptAt = undefined;
    this.ready.push(t.entry.id);
  }

  private pump(): void {
    while (!this.stopping && !this.halted && this.inFlight < this.handOverLimit && this.ready.length > 0) {
      const t = this.tracked.get(this.ready.shift() as string);
      if (t?.phase === 'ready') void this.attempt(t);
    }
  }

  private async attempt(t: Tracked): Promise<void> {
    t.phase = 'inFlight';
    t.attempts += 1;
    this.inFlight += 1;
    this.totals.attempts += 1;
    if (t.attempts > 1) this.totals.retries += 1;
    try {
      const answer = await this.submitOnce(t);
      if ('notSent' in answer) {
        // The submitter is stopping: never sent, so not an attempt; it stays in the journal.
        t.attempts -= 1;
        this.totals.attempts -= 1;
        if (t.attempts > 0) this.totals.retries -= 1;
        t.phase = 'ready';
        return;
      }
      if ('retry' in answer) {
        this.scheduleRetry(t, answer.retry, answer.cls);
        return;
      }
      try {
        // Durable before the next request on the same record may go: see the module comment.
        await this.recordOutcome(t, answer);
      } catch (err) {
        this.halt(err, t);
        return;
      }
      this.finish(t, answer);
    } finally {
      this.inFlight -= 1;
      if (this.inFlight === 0 && this.drainWaiters.length > 0) for (const resolve of this.drainWaiters.splice(0)) resolve();
      this.pump();
    }
  }

  private async submitOnce(t: Tracked): Promise<Outcome | { retry: LedgerError; cls: FailureClass } | { notSent: true }> {
    const { id, kind } = t.entry;
    try {
      const committed = await this.writer.submit(t.entry);
      return { status: 'committed', transactionId: committed.transactionId, blockNumber: committed.blockNumber.toString(), result: committed.result };
    } catch (err) {
      if (err instanceof NotSentError) return { notSent: true };
      const ledgerError = err instanceof LedgerError ? err : toLedgerError(err);
      const cls = classifyFailure(ledgerError);
      if (cls === 'final' && isLagSensitiveCode(ledgerError.code) && t.attempts < LAG_CONFIRMATIONS) {
        // Perhaps a peer a block behind: asked again before it counts (see LAG_CONFIRMATIONS).
        return { retry: ledgerError, cls: 'transient' };
      }
      if (cls === 'final') {
        this.logger.info('acceptance: the ledger refused a request', { id, kind, attempts: t.attempts, code: ledgerError.code, message: ledgerError.message });
        return { status: 'rejected', code: ledgerError.code, message: ledgerError.message };
      }
      return { retry: ledgerError, cls };
    }
  }

  private scheduleRetry(t: Tracked, err: LedgerError, cls: FailureClass): void {
    const now = this.now();
    t.lastError = { code: err.code, message: err.message, at: new Date(now).toISOString() };
    const wait = backoffDelay(t.attempts, this.policy, this.random);
    t.phase = 'backoff';
    t.nextAttemptAt = now + wait;
    const fields = { id: t.entry.id, kind: t.entry.kind, attempts: t.attempts, code: err.code, message: err.message, retryInMs: wait };
    // A failed batch gives all its requests the same error: logged once (the writer logged the batch).
    const log = !this.loggedFailures.has(err);
    this.loggedFailures.add(err);
    if (cls === 'transient') {
      this.totals.transientFailures += 1;
      if (log) this.logger.warn('acceptance: ledger call failed; retrying', fields);
    } else {
      this.totals.unknownFailures += 1;
      if (log) this.logger.error('acceptance: ledger call failed for a reason the gateway cannot classify; retrying', fields);
    }
    this.sleep(wait, this.abort.signal).then(
      () => {
        if (this.stopping || this.halted || t.phase !== 'backoff') return;
        this.makeReady(t);
        this.pump();
      },
      () => undefined, // stop() cancelled the wait; the request stays in the journal for the next start
    );
  }

  private finish(t: Tracked, outcome: Outcome): void {
    const id = t.entry.id;
    this.tracked.delete(id);
    if (outcome.status === 'committed') this.totals.committed += 1;
    else this.totals.rejected += 1;
    for (const key of t.keys) {
      const queue = this.keyQueues.get(key);
      if (!queue) continue;
      // Only a head runs, so this request is the head of each of its queues.
      const at = queue.indexOf(id);
      if (at >= 0) queue.splice(at, 1);
      if (queue.length === 0) {
        this.keyQueues.delete(key);
        continue;
      }
      const next = this.tracked.get(queue[0]);
      if (next?.phase === 'waiting' && this.isHead(next)) this.makeReady(next);
    }
    for (const done of [...(this.settledWaiters.get(id) ?? [])]) done();
    if (this.tracked.size === 0) for (const w of this.idleWaiters.splice(0)) w.resolve();
  }

  private releaseSettledWaiters(): void {
    for (const waiters of [...this.settledWaiters.values()]) for (const done of [...waiters]) done();
  }

  /** The journal refused an outcome: stop everything (a restart replays the journal and re-sends, idempotently). */
  /**
   * Records a request's outcome in the journal. While the disk is full (STORAGE_FULL) it keeps
   * trying, with the retry backoff, and the request stays in flight meanwhile (the next request
   * on its record waits): the ledger has answered, only the note of it waits for space.
   */
  private async recordOutcome(t: Tracked, answer: Outcome): Promise<void> {
    for (let tries = 0; ; tries++) {
      try {
        await this.journal.recordOutcome(t.entry.id, answer);
        return;
      } catch (err) {
        if (!isAcceptanceError(err, 'STORAGE_FULL') || this.stopping) throw err;
        t.lastError = { code: err.code, message: err.message, at: new Date(this.now()).toISOString() };
        if (tries % 20 === 0) this.logger.warn('acceptance: the disk is full; the outcome of a request the ledger answered waits to be recorded', { id: t.entry.id, tries: tries + 1 });
        const ms = Math.min(this.policy.maxDelayMs, Math.max(this.policy.baseDelayMs, 1) * 2 ** Math.min(tries, 16));
        await this.sleep(ms, this.abort.signal).catch(() => undefined);
      }
    }
  }

  private halt(err: unknown, t: Tracked): void {
    this.halted = err instanceof AcceptanceError ? err : new AcceptanceError('JOURNAL_WRITE_FAILED', 'The outcome of a request could not be recorded.', { cause: err });
    t.lastError = { code: this.halted.code, message: this.halted.message, at: new Date(this.now()).toISOString() };
    t.phase = 'backoff';
    this.logger.error('acceptance: could not record an outcome; the submitter stopped until the gateway restarts', { id: t.entry.id, code: this.halted.code });
    this.abort.abort();
    for (const w of this.idleWaiters.splice(0)) w.reject(this.halted);
    this.releaseSettledWaiters();
  }
}

