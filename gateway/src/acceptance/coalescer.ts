/**
 * The gateway's one way of sending writes to the ledger: a bounded number of transactions in
 * flight, and concurrent single-record anchors sent together as one `Records:anchorEach`
 * transaction, each request still getting its own answer.
 *
 * - **Adaptive, no added wait**: a request is sent as soon as a transaction slot and the record
 *   budget allow. Requests that arrive in the same turn of the event loop (one journal frame, one
 *   burst of HTTP requests) go together, and whatever queued up while every slot was busy goes
 *   into the next free one (at most `maxBatch` records a transaction). At low load every anchor
 *   goes alone, as `Records:anchorRecord`; under load the batches grow by themselves.
 * - **Bounded**: at most `concurrency` transactions and about `maxRecordsInFlight` records in
 *   flight (a request bigger than the budget still goes when nothing else is in flight), so that
 *   large batches never pile up at the chaincode and time out together.
 * - **Never two requests on the same record or document in one transaction, nor in two
 *   transactions at once**: a request waits while another one with a common ordering key
 *   ({@link orderingKeysOf}) is in flight.
 * - **Each request its own answer**: a created or `existing` record resolves with
 *   `{ anchor, created }` (what `Records:anchorRecord` answers), the transaction's id and block;
 *   a record the chaincode refused rejects with a {@link LedgerError} of its own code
 *   (DOC_HASH_CLAIMED, RECORD_EXISTS, …) and fails only that request.
 * - **Failures**: a transaction that fails as a whole fails every request in it with that error,
 *   for the caller to retry (re-sending is idempotent: a record committed by a transaction whose
 *   answer was lost comes back `existing`, `created: false`). `transientAttempts` > 1 retries
 *   transient failures here (the synchronous routes); the acceptance submitter retries itself.
 *   A batch refused as a whole for a reason that is not transient is re-sent one record per
 *   transaction, so that a record that caused it fails alone.
 *
 * @module
 */
import { expandAnchorResults, MAX_BATCH, type AnchorBatchAnswer, type NewRecordInput, type RecordAnchor } from '../../../chaincode/src/lib/record-model';
import type { Ledger } from '../fabric/client';
import { LedgerError, toLedgerError } from '../fabric/errors';
import { AcceptanceError } from './errors';
import { silentLogger, type AcceptanceLogger } from './logger';
import { orderingKeysOf, type LedgerRequest } from './requests';

/**
 * Transactions in flight by default. Bursts of requests go as one transaction each, so this
 * is about how many bursts may be on their way at once (each waits ~one block for the
 * orderer's cut); measured on the shared 2-core machine with 100 closed-loop clients, 8 made
 * requests wait for a slot (p50 640 ms), 16–32 not (p50 480–540 ms).
 */
export const DEFAULT_CONCURRENCY = 16;

/** The chaincode transaction that anchors a list of records, each on its own. */
export const ANCHOR_EACH = 'Records:anchorEach';

/** A committed request's answer: the chaincode's result (parsed JSON), its transaction and block. */
export interface LedgerAnswer {
  result: unknown;
  transactionId: string;
  blockNumber: bigint;
}

/** What one ledger transaction carried and how it went: for logs and metrics. */
export interface CallReport {
  transaction: string;
  /** Requests in it (anchors coalesced into one anchorEach, or 1). */
  requests: number;
  /** Records in it (a batch request counts its records). */
  records: number;
  /** Milliseconds from sending to the answer. */
  ms: number;
  /** `committed`, or the failure's code. */
  outcome: string;
}

/** Options of {@link LedgerWriter}. */
export interface LedgerWriterOptions {
  ledger: Ledger;
  /** Most transactions in flight at once (default 16). */
  concurrency?: number;
  /** Most single-record anchors in one Records:anchorEach transaction (default 1,000; 1 sends each alone). */
  maxBatch?: number;
  /** About the most records in the transactions in flight (default 2,000). */
  maxRecordsInFlight?: number;
  /** Attempts for a transient failure before it is handed to the caller (default 1: no retry here). */
  transientAttempts?: number;
  /** First retry delay when `transientAttempts` > 1 (default 100 ms, doubling, with jitter). */
  retryDelayMs?: number;
  logger?: AcceptanceLogger;
  /** Milliseconds (default `Date.now`). */
  now?: () => number;
  /** A number in [0, 1) for jitter (default `Math.random`). */
  random?: () => number;
}

/** The request was never sent: the writer stopped first. The caller may send it again later. */
export class NotSentError extends Error {
  constructor() {
    super('The ledger writer stopped before this request was sent.');
    this.name = 'NotSentError';
  }
}

/** {@link LedgerWriter.counts}: gauges, then totals. */
export interface WriterCounts {
  /** Requests waiting to be sent. */
  queued: number;
  /** Transactions in flight. */
  inFlight: number;
  /** Records in the transactions in flight. */
  recordsInFlight: number;
  transactions: number;
  /** Transactions that carried more than one request (Records:anchorEach), and the requests they carried. */
  coalescedTransactions: number;
  coalescedRequests: number;
  failedTransactions: number;
  /** Batches refused as a whole for a reason that is not transient, whose records were re-sent one by one. */
  soloFallbacks: number;
}

interface Item {
  readonly request: LedgerRequest;
  readonly keys: readonly string[];
  readonly weight: number;
  /** Sent alone, as its own transaction (not an anchor, or its batch failed as a whole). */
  solo: boolean;
  attempts: number;
  /** When it was queued (last), for the log's `queuedMs`. */
  queuedAt: number;
  readonly resolve: (answer: LedgerAnswer) => void;
  readonly reject: (err: unknown) => void;
}

const decoder = new TextDecoder();

/** Sends writes to the ledger, coalescing single-record anchors; see the module comment. */
export class LedgerWriter {
  private readonly ledger: Ledger;
  private readonly concurrency: number;
  private readonly maxBatch: number;
  private readonly maxRecordsInFlight: number;
  private readonly transientAttempts: number;
  private readonly retryDelayMs: number;
  private readonly logger: AcceptanceLogger;
  private readonly now: () => number;
  private readonly random: () => number;

  private queue: Item[] = [];
  private inFlight = 0;
  private recordsInFlight = 0;
  private readonly keysInFlight = new Set<string>();
  /** Requests waiting to be re-sent after a transient failure, by their timer. */
  private readonly retrying = new Map<NodeJS.Timeout, Item[]>();
  private pumpScheduled = false;
  private stopped = false;
  private drainWaiters: (() => void)[] = [];
  private readonly listeners = new Set<(report: CallReport) => void>();
  private readonly totals = { transactions: 0, coalescedTransactions: 0, coalescedRequests: 0, failedTransactions: 0, soloFallbacks: 0 };

  constructor(options: LedgerWriterOptions) {
    const whole = (name: string, value: number, min: number): number => {
      if (!Number.isSafeInteger(value) || value < min) throw new AcceptanceError('INVALID_ARGUMENT', `${name} must be a whole number of at least ${min}.`);
      return value;
    };
    this.ledger = options.ledger;
    this.concurrency = whole('concurrency', options.concurrency ?? DEFAULT_CONCURRENCY, 1);
    this.maxBatch = Math.min(MAX_BATCH, whole('maxBatch', options.maxBatch ?? MAX_BATCH, 1));
    this.maxRecordsInFlight = whole('maxRecordsInFlight', options.maxRecordsInFlight ?? 2 * MAX_BATCH, 1);
    this.transientAttempts = whole('transientAttempts', options.transientAttempts ?? 1, 1);
    this.retryDelayMs = options.retryDelayMs ?? 100;
    this.logger = options.logger ?? silentLogger;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  /**
   * Sends `request` (a single-record anchor may share its transaction with others) and resolves
   * with its own committed answer, or rejects with a {@link LedgerError} of its own (or
   * {@link NotSentError} when the writer stopped before sending it).
   */
  submit(request: LedgerRequest): Promise<LedgerAnswer> {
    if (this.stopped) return Promise.reject(new NotSentError());
    return new Promise<LedgerAnswer>((resolve, reject) => {
      const solo = request.kind !== 'anchorRecord' || this.maxBatch === 1;
      this.enqueue({ request, keys: orderingKeysOf(request), weight: weightOf(request), solo, attempts: 0, queuedAt: 0, resolve, reject });
    });
  }

  /** Called with every transaction's {@link CallReport}; returns the function that unsubscribes. */
  observe(listener: (report: CallReport) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Gauges and totals. */
  counts(): WriterCounts {
    return { queued: this.queue.length, inFlight: this.inFlight, recordsInFlight: this.recordsInFlight, ...this.totals };
  }

  /** Sends nothing more: queued requests reject with {@link NotSentError}; resolves once the transactions in flight have answered. */
  async stop(): Promise<void> {
    this.stopped = true;
    const queued = [...this.queue];
    for (const [timer, items] of this.retrying) {
      clearTimeout(timer);
      queued.push(...items);
    }
    this.retrying.clear();
    this.queue = [];
    for (const item of queued) item.reject(new NotSentError());
    if (this.inFlight > 0) await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
  }

  private enqueue(item: Item, front = false): void {
    if (this.stopped) {
      item.reject(new NotSentError());
      return;
    }
    item.queuedAt = this.now();
    if (front) this.queue.unshift(item);
    else this.queue.push(item);
    this.schedulePump();
  }

  /** Looks at the queue once the current turn of the event loop is over, so that a burst is seen whole. */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (!this.stopped && this.inFlight < this.concurrency && this.queue.length > 0) {
      const budget = this.maxRecordsInFlight - this.recordsInFlight;
      if (budget <= 0 && this.inFlight > 0) return;
      const first = this.queue.findIndex((item) => !this.touchesInFlight(item.keys));
      if (first < 0) return;
      const head = this.queue[first]!;
      if (head.solo) {
        if (head.weight > budget && this.inFlight > 0) return; // the oldest sendable request waits for room (a larger one goes alone)
        this.queue.splice(first, 1);
        this.send([head]);
        continue;
      }
      // Everything queued goes into this one transaction, up to maxBatch and the budget: the
      // transactions sent meanwhile would all wait for the same block anyway, and the chaincode
      // runs one endorsement at a time, so splitting a burst would only add transactions.
      const wanted = Math.max(1, Math.min(this.maxBatch, budget));
      const batch: Item[] = [];
      const batchKeys = new Set<string>();
      const rest: Item[] = this.queue.slice(0, first);
      for (let i = first; i < this.queue.length; i++) {
        const item = this.queue[i]!;
        if (batch.length < wanted && !item.solo && !this.touchesInFlight(item.keys) && !item.keys.some((k) => batchKeys.has(k))) {
          batch.push(item);
          for (const k of item.keys) batchKeys.add(k);
        } else rest.push(item);
      }
      this.queue = rest;
      this.send(batch);
    }
  }

  private touchesInFlight(keys: readonly string[]): boolean {
    return keys.some((k) => this.keysInFlight.has(k));
  }

  private send(items: Item[]): void {
    const weight = items.reduce((sum, item) => sum + item.weight, 0);
    this.inFlight += 1;
    this.recordsInFlight += weight;
    for (const item of items) {
      item.attempts += 1;
      for (const k of item.keys) this.keysInFlight.add(k);
    }
    const started = this.now();
    const transaction = items.length === 1 ? items[0]!.request.transaction : ANCHOR_EACH;
    let outcome = 'committed';
    void this.call(items)
      .catch((err: unknown) => {
        const error = toLedgerError(err);
        outcome = error.code;
        this.failed(items, error, err, this.now() - started);
      })
      .finally(() => {
        this.inFlight -= 1;
        this.recordsInFlight -= weight;
        for (const item of items) for (const k of item.keys) this.keysInFlight.delete(k);
        const report: CallReport = { transaction, requests: items.length, records: weight, ms: this.now() - started, outcome };
        this.totals.transactions += 1;
        if (items.length > 1) {
          this.totals.coalescedTransactions += 1;
          this.totals.coalescedRequests += items.length;
        }
        for (const listener of this.listeners) listener(report);
        if (this.inFlight === 0) for (const resolve of this.drainWaiters.splice(0)) resolve();
        this.schedulePump();
      });
  }

  /** One transaction: its items answered one by one; throws when the transaction failed as a whole. */
  private async call(items: Item[]): Promise<void> {
    if (items.length === 1) {
      const { transaction, args } = items[0]!.request;
      const committed = await this.ledger.submit(transaction, ...args);
      items[0]!.resolve({ result: parseResult(committed.result), transactionId: committed.transactionId, blockNumber: committed.blockNumber });
      return;
    }
    const started = this.now();
    const queuedMs = started - Math.min(...items.map((item) => item.queuedAt));
    const committed = await this.ledger.submit(ANCHOR_EACH, `[${items.map((item) => item.request.args[0]).join(',')}]`);
    const sent = items.map((item) => JSON.parse(item.request.args[0]!) as NewRecordInput);
    const outcomes = splitAnchorEach(sent, parseResult(committed.result));
    let created = 0;
    let existing = 0;
    const refused: Record<string, number> = {};
    outcomes.forEach((outcome, i) => {
      const item = items[i]!;
      if ('refused' in outcome) {
        const { code, message } = outcome.refused;
        refused[code] = (refused[code] ?? 0) + 1;
        // Cannot happen (ordering keys keep repeats apart), but must not fail a request that is fine alone.
        if (code === 'BATCH_INVALID') {
          this.logger.error('ledger writer: a coalesced anchor was refused as a repeat within its batch; sending it alone', { message });
          item.solo = true;
          this.enqueue(item, true);
        } else item.reject(new LedgerError(code, message));
        return;
      }
      if (outcome.created) created += 1;
      else existing += 1;
      item.resolve({ result: { anchor: outcome.anchor, created: outcome.created }, transactionId: committed.transactionId, blockNumber: committed.blockNumber });
    });
    this.logger.info('ledger writer: anchors sent together', {
      transaction: ANCHOR_EACH,
      records: items.length,
      created,
      existing,
      ...(Object.keys(refused).length > 0 ? { refused } : {}),
      txId: committed.transactionId,
      block: committed.blockNumber.toString(),
      ms: this.now() - started,
      // How long the oldest of them waited for a transaction slot.
      queuedMs,
    });
  }

  /** `raw` is what the ledger threw: a lone request gets it as it is, as if it had called the ledger itself. */
  private failed(items: Item[], error: LedgerError, raw: unknown, ms: number): void {
    this.totals.failedTransactions += 1;
    const fields = { transaction: items.length === 1 ? items[0]!.request.transaction : ANCHOR_EACH, requests: items.length, code: error.code, message: error.message, txId: error.transactionId, ms };
    if (items.length > 1 && !error.transient) {
      // Refused as a whole, not for a passing reason: one record may be the cause; let each answer for itself.
      this.totals.soloFallbacks += 1;
      this.logger.warn('ledger writer: a batch of anchors failed as a whole; sending each alone', fields);
      for (const item of [...items].reverse()) {
        item.solo = true;
        item.attempts -= 1;
        this.enqueue(item, true);
      }
      return;
    }
    const again = error.transient && !this.stopped ? items.filter((item) => item.attempts < this.transientAttempts) : [];
    for (const item of items) if (!again.includes(item)) item.reject(items.length === 1 ? raw : error);
    if (items.length > 1) this.logger.warn(`ledger writer: a batch of anchors failed${again.length > 0 ? '; retrying' : ''}`, fields);
    if (again.length === 0) return;
    const attempt = Math.max(...again.map((item) => item.attempts));
    const ceiling = this.retryDelayMs * 2 ** (attempt - 1);
    const wait = Math.round(ceiling / 2 + this.random() * (ceiling / 2));
    if (items.length === 1) this.logger.warn('ledger writer: transaction failed; retrying', { ...fields, attempt, retryInMs: wait });
    const timer = setTimeout(() => {
      this.retrying.delete(timer);
      for (const item of [...again].reverse()) this.enqueue(item, true);
    }, wait);
    timer.unref();
    this.retrying.set(timer, again);
  }
}

/** One record's outcome in an anchorEach answer: `{ anchor, created }` as anchorRecord answers, or its refusal. */
export type AnchorEachOutcome = { anchor: RecordAnchor; created: boolean } | { refused: { code: string; message: string } };

/**
 * Each record's outcome of a `Records:anchorEach` answer, in the order sent. A refusal's
 * sentence names the record as a lone anchor would ("record (recordId …)"), not its place in a
 * list the caller never saw.
 *
 * @throws LedgerError LEDGER_ERROR when the answer is not an anchorEach answer for these records
 */
export function splitAnchorEach(sent: readonly NewRecordInput[], answer: unknown): AnchorEachOutcome[] {
  const a = answer as Partial<AnchorBatchAnswer> | null;
  if (a === null || typeof a !== 'object' || !Array.isArray(a.results) || a.results.length !== sent.length || typeof a.txId !== 'string') {
    throw new LedgerError('LEDGER_ERROR', `The ledger's answer to ${ANCHOR_EACH} is not a list of ${sent.length} results.`);
  }
  return expandAnchorResults(sent, a as AnchorBatchAnswer).map((r, i) =>
    'refused' in r ? { refused: { code: r.refused.code, message: r.refused.message.replace(`records[${i}]`, 'record') } } : r,
  );
}

/** How many records a request writes: the budget it takes. */
function weightOf(request: LedgerRequest): number {
  if (request.kind !== 'anchorBatch' && request.kind !== 'discloseRecords') return 1;
  try {
    const parsed = JSON.parse(request.args[0] ?? 'null') as unknown;
    const list = Array.isArray(parsed) ? parsed : (parsed as { recordIds?: unknown } | null)?.recordIds;
    return Array.isArray(list) ? Math.max(1, list.length) : 1;
  } catch {
    return 1;
  }
}

function parseResult(bytes: Uint8Array): unknown {
  const text = decoder.decode(bytes);
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
