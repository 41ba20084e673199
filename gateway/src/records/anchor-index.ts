/**
 * The gateway's local index of record anchors, so that most verifications need no peer.
 *
 * It follows the chaincode's `medprov.RecordsChanged` events through the {@link LedgerEvents}
 * seam, in commit order, and keeps docHash → what a verification shows (an {@link AnchorTable}).
 * Every event carries the anchors' own time and transaction (the chaincode puts them there), so
 * following needs no read of the ledger.
 *
 * Durable and resumable: the table and the checkpoint of the last event it holds are written
 * together as one snapshot file, replaced atomically ({@link writeFileAtomic}), at most every
 * few seconds while events come in (never more than 1/20 of the time, however large the table)
 * and when the index stops. After a restart it loads the snapshot and resumes after its
 * checkpoint; what happened after the last snapshot is simply read again (applying a change
 * twice is harmless). The ledger stays the source of truth, so a snapshot that fails its
 * checksum is moved aside and the index rebuilds from the first block (or, with
 * `onCorrupt: 'fail'`, refuses to open). A sound snapshot of an older format (format 1 has no
 * block numbers) is never read: the index says so in the log and rebuilds from the first block
 * whatever `onCorrupt` says; its first snapshot then replaces the old file.
 *
 * Each entry keeps the block of its anchoring transaction (the event's block when the change is
 * that transaction's own anchor), so that a verdict from the index carries the same block number
 * as one from the peer.
 *
 * When may the index answer instead of the peer ({@link AnchorIndex.verdictOf})?
 * - A hash it does not hold: never (it may not have read that block yet): the peer answers.
 * - SUPERSEDED or RETRACTED: always. Those statuses are final (only the latest version is
 *   amended or retracted, and a retracted record is never amended), so they cannot be stale.
 * - ORIGINAL: only while the index is `ready`: subscribed and caught up (see below), and past
 *   every amendment or retraction this gateway itself committed (it sees them through {@link AnchorIndex.observe}), so a user who just retracted
 *   a record through this gateway never sees it ORIGINAL. What remains is another gateway's
 *   change in the moment between its commit and its event reaching this one; the peer would
 *   give the same answer a moment earlier (each peer also applies blocks after the orderer).
 *
 * Caught up. With a ledger that tells its height ({@link Ledger.height}), the index reads it
 * when it (re)subscribes: the last block then on the channel is its target. Events arrive only
 * for blocks holding an event of this chaincode, so the index knows it has read the blocks up to
 * that of its last event (Fabric delivers a block's events together) and nothing about the
 * blocks after it. It is caught up once its last event is in the target block or a later one.
 * Blocks after the last event that hold no event of this chaincode (the genesis and config
 * blocks, lifecycle transactions, a re-sent change that changed nothing) cannot be told from
 * events still on their way; a tail of at most `quietTailBlocks` of them is accepted after the
 * stream has been quiet for `settleMs`, a longer one only by a later event. So a backlog after
 * a long outage is never taken for caught up because its delivery pauses: the peer answers
 * ORIGINAL until the index has read it. If the height cannot be read, the index is not caught
 * up and reads it again every `heightEveryMs` (the same reads keep `lagBlocks` true).
 * Without `height`, the older rule of thumb applies: caught up when no event came for
 * `settleMs` since subscribing, which a pause in a long backlog can fool.
 *
 * @module
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { RecordChange } from '../../../chaincode/src/contracts/records';
import { RECORDS_EVENT } from '../../../chaincode/src/lib/record-model';
import { silentLogger, type AcceptanceLogger } from '../acceptance/logger';
import type { Committed, EventCheckpoint, Ledger, LedgerEvent, LedgerEvents } from '../fabric/client';
import { delegatingLedger } from '../fabric/delegating-ledger';
import { acquireLock, writeFileAtomic, type FileLock } from '../storage/durable-file';
import { AnchorTable, SnapshotError, SnapshotFormatError } from './anchor-table';
import { verdictOf, type VerdictSource, type VerificationResult } from './service';

export interface AnchorIndexOptions {
  /** The snapshot file (a lock file sits next to it). */
  file: string;
  events: LedgerEvents;
  /** The ledger whose height tells when the index has caught up (see the module's notes); without `height`, the quiet period does. */
  ledger?: Pick<Ledger, 'height'>;
  logger?: AcceptanceLogger;
  /** Quiet time after subscribing before the index trusts itself for ORIGINAL (default 1 s). */
  settleMs?: number;
  /** With the ledger's height: blocks after the last event that a quiet period may take for blocks without events (default 16). */
  quietTailBlocks?: number;
  /** With the ledger's height: how often it is read again, for the lag and while it could not be read (default 5 s). */
  heightEveryMs?: number;
  /** Shortest time between two snapshots while events come in (default 5 s). */
  snapshotEveryMs?: number;
  /** Back-off between re-subscriptions after the event stream breaks (default 500 ms → 30 s). */
  retryMs?: { first: number; max: number };
  /** A snapshot that fails its checks: rebuild from block 0 (default) or refuse to open. An older format always rebuilds. */
  onCorrupt?: 'rebuild' | 'fail';
}

export type AnchorIndexState = 'stopped' | 'catching-up' | 'live' | 'reconnecting' | 'failed';

/** What `/healthz` and `/metrics` show of the index. */
export interface AnchorIndexStatus {
  state: AnchorIndexState;
  /** May answer ORIGINAL (see the module's notes). */
  ready: boolean;
  entries: number;
  /** Block and transaction of the last event indexed; null before the first. */
  checkpoint: { blockNumber: string; transactionId: string } | null;
  /** Highest block this gateway knows was committed (its own commits, events and the ledger's height). */
  headBlock: string;
  /** headBlock − the checkpoint's block. Blocks without an event of this chaincode after the last one hold it above 0 while idle. */
  lagBlocks: number;
  answered: { index: number; peer: number };
  snapshot: { bytes: number; ms: number; at: string } | null;
  /** Why the index was rebuilt from block 0 at open, when it was. */
  rebuilt?: string;
  /** Why the index stopped following (then every ORIGINAL goes to the peer). */
  error?: string;
}

/** The index's errors: a corrupt snapshot with `onCorrupt: 'fail'`, a held lock, a malformed event, a wait cut short by {@link AnchorIndex.stop}. */
export class AnchorIndexError extends Error {
  constructor(
    readonly code: 'INDEX_CORRUPT' | 'INDEX_LOCKED' | 'INDEX_BAD_EVENT' | 'INDEX_STOPPED',
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'AnchorIndexError';
  }
}

/** Snapshot fields that belong to the index, not the table. */
interface SnapshotMeta {
  checkpoint: { blockNumber: string; transactionId: string } | null;
}

/** The transactions that can make an ORIGINAL stale; see {@link AnchorIndex.observe}. */
const STATUS_CHANGING = new Set(['Records:amendRecord', 'Records:retractRecord']);
const decoder = new TextDecoder();

export class AnchorIndex implements VerdictSource {
  private state: AnchorIndexState = 'stopped';
  private checkpoint: EventCheckpoint | undefined;
  private headBlock = 0n;
  /** The channel's height as last read (undefined before the first read, or without `height`). */
  private height: bigint | undefined;
  /** With `height`: the last block on the channel when the index subscribed, once read. */
  private target: bigint | undefined;
  private heightTimer: NodeJS.Timeout | undefined;
  private readingHeight: Promise<void> | undefined;
  private heightFailing = false;
  /** Block of this gateway's latest committed amendment or retraction. */
  private mustReach = 0n;
  private readonly answered = { index: 0, peer: 0 };
  private lastSnapshot: AnchorIndexStatus['snapshot'] = null;
  private error: string | undefined;
  private abort: AbortController | undefined;
  private following: Promise<void> | undefined;
  private settleTimer: NodeJS.Timeout | undefined;
  private snapshotTimer: NodeJS.Timeout | undefined;
  private snapshotting: Promise<void> | undefined;
  private dirty = false;
  /** Set by {@link stop}: the index follows no more, so a wait for a block it does not hold is answered INDEX_STOPPED. */
  private stopped = false;
  private lastSnapshotEnded = 0;
  private readonly waiters = new Set<() => void>();
  private readonly logger: AcceptanceLogger;
  private readonly settleMs: number;
  private readonly quietTailBlocks: bigint;
  private readonly snapshotEveryMs: number;
  private readonly retryMs: { first: number; max: number };

  private constructor(
    private readonly options: AnchorIndexOptions,
    private table: AnchorTable,
    private readonly lock: FileLock,
    private readonly rebuilt: string | undefined,
  ) {
    this.logger = options.logger ?? silentLogger;
    this.settleMs = options.settleMs ?? 1_000;
    this.quietTailBlocks = BigInt(options.quietTailBlocks ?? 16);
    this.snapshotEveryMs = options.snapshotEveryMs ?? 5_000;
    this.retryMs = options.retryMs ?? { first: 500, max: 30_000 };
  }

  /** Loads the snapshot (if any) and takes the file's lock; {@link start} then follows the ledger. */
  static async open(options: AnchorIndexOptions): Promise<AnchorIndex> {
    await fs.mkdir(path.dirname(options.file), { recursive: true, mode: 0o700 });
    const lock = await acquireLock(`${options.file}.lock`, (pid) => new AnchorIndexError('INDEX_LOCKED', `${options.file} is in use by process ${pid ?? 'unknown'}.`));
    try {
      const { table, checkpoint, rebuilt } = await loadSnapshot(options);
      const index = new AnchorIndex(options, table, lock, rebuilt?.reason);
      index.checkpoint = checkpoint;
      index.headBlock = checkpoint?.blockNumber ?? 0n;
      if (rebuilt) index.logger.warn(rebuilt.log, { file: options.file, reason: rebuilt.reason });
      return index;
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  /** Follows the ledger's events from the checkpoint, re-subscribing after a broken stream. */
  start(): void {
    if (this.following) return;
    this.abort = new AbortController();
    this.following = this.follow(this.abort.signal);
    if (this.options.ledger?.height) {
      this.heightTimer = setInterval(() => void this.readHeight(), this.options.heightEveryMs ?? 5_000);
      this.heightTimer.unref();
    }
  }

  /** Stops following, writes a last snapshot and releases the file. Pending {@link whenIndexed} waits are rejected INDEX_STOPPED. */
  async stop(): Promise<void> {
    this.abort?.abort();
    await this.following;
    this.following = undefined;
    clearInterval(this.heightTimer);
    this.heightTimer = undefined;
    await this.readingHeight;
    clearTimeout(this.settleTimer);
    clearTimeout(this.snapshotTimer);
    if (this.state !== 'failed') this.state = 'stopped';
    this.stopped = true;
    this.wake();
    await this.snapshot();
    await this.lock.release();
  }

  /**
   * The verdict for this document if the index may give it (see the module's notes), or
   * undefined: then the caller asks the peer. Counts both for the metrics.
   */
  verdictOf(docHash: string): VerificationResult | undefined {
    const anchor = this.table.get(docHash);
    if (anchor && (anchor.status !== 'active' || this.ready())) {
      this.answered.index += 1;
      return verdictOf(docHash, anchor);
    }
    this.answered.peer += 1;
    return undefined;
  }

  /**
   * Wraps the gateway's ledger so that the index knows of this gateway's commits: the highest
   * block (for the lag), and the block of each amendment or retraction that changed something,
   * before which the index does not answer ORIGINAL.
   */
  observe(ledger: Ledger): Ledger {
    return delegatingLedger(ledger, {
      submit: async (name, ...args) => {
        const committed = await ledger.submit(name, ...args);
        this.noteCommit(name, committed);
        return committed;
      },
    });
  }

  /** May the index answer ORIGINAL now? */
  ready(): boolean {
    return this.state === 'live' && (this.checkpoint?.blockNumber ?? 0n) >= this.mustReach;
  }

  status(): AnchorIndexStatus {
    const indexed = this.indexedBlock();
    const lastOnChannel = this.height === undefined ? 0n : this.height - 1n;
    const head = this.headBlock > lastOnChannel ? this.headBlock : lastOnChannel;
    return {
      state: this.state,
      ready: this.ready(),
      entries: this.table.size,
      checkpoint: this.checkpoint ? { blockNumber: this.checkpoint.blockNumber.toString(), transactionId: this.checkpoint.transactionId } : null,
      headBlock: head.toString(),
      lagBlocks: Number(head > indexed ? head - indexed : 0n),
      answered: { ...this.answered },
      snapshot: this.lastSnapshot && { ...this.lastSnapshot },
      ...(this.rebuilt ? { rebuilt: this.rebuilt } : {}),
      ...(this.error ? { error: this.error } : {}),
    };
  }

  /**
   * Resolves once the index holds the events of block `blockNumber` (or is ready, with no block
   * given), or has failed (it will get no further; every ORIGINAL then goes to the peer). Rejects
   * with INDEX_STOPPED when {@link stop} is called first, or was already.
   */
  async whenIndexed(blockNumber?: bigint): Promise<void> {
    const done = () => (blockNumber === undefined ? this.ready() : (this.checkpoint?.blockNumber ?? 0n) >= blockNumber) || this.state === 'failed';
    while (!done()) {
      if (this.stopped) throw new AnchorIndexError('INDEX_STOPPED', `the index was stopped before it held ${blockNumber === undefined ? 'the last block' : `block ${blockNumber}`}.`);
      await new Promise<void>((resolve) => this.waiters.add(resolve));
    }
  }

  /** Writes the table and its checkpoint now (waits for a write in progress first). */
  async snapshot(): Promise<void> {
    while (this.snapshotting) await this.snapshotting;
    if (!this.dirty) return;
    this.snapshotting = this.writeSnapshot().finally(() => {
      this.snapshotting = undefined;
    });
    await this.snapshotting;
  }

  private async writeSnapshot(): Promise<void> {
    const started = performance.now();
    const meta: SnapshotMeta = {
      checkpoint: this.checkpoint ? { blockNumber: this.checkpoint.blockNumber.toString(), transactionId: this.checkpoint.transactionId } : null,
    };
    // Encoding copies the columns synchronously, so the snapshot and its checkpoint agree.
    const bytes = this.table.encode(meta);
    this.dirty = false;
    try {
      await writeFileAtomic(this.options.file, bytes);
    } catch (err) {
      this.dirty = true;
      this.logger.error('anchor index snapshot failed', { file: this.options.file, message: (err as Error).message });
      return;
    }
    this.lastSnapshotEnded = performance.now();
    this.lastSnapshot = { bytes: bytes.length, ms: Math.round(this.lastSnapshotEnded - started), at: new Date().toISOString() };
  }

  private scheduleSnapshot(): void {
    if (this.snapshotTimer || this.abort?.signal.aborted) return;
    // At most every snapshotEveryMs, and never more than 1/20 of the time however large the table.
    const gap = Math.max(this.snapshotEveryMs, 20 * (this.lastSnapshot?.ms ?? 0));
    const wait = Math.max(0, this.lastSnapshotEnded + gap - performance.now());
    this.snapshotTimer = setTimeout(() => {
      this.snapshotTimer = undefined;
      void this.snapshot();
    }, wait);
    this.snapshotTimer.unref();
  }

  private async follow(signal: AbortSignal): Promise<void> {
    let retry = this.retryMs.first;
    while (!signal.aborted) {
      this.setState('catching-up');
      // The target is read before subscribing, so the subscription delivers every block up to it.
      this.target = undefined;
      await this.readHeight();
      if (signal.aborted) break;
      this.armSettle();
      this.liveIfCaughtUp();
      try {
        for await (const event of this.options.events.events({ ...(this.checkpoint ? { after: this.checkpoint } : {}), signal })) {
          this.apply(event);
          retry = this.retryMs.first;
          if (this.state === 'catching-up' && !this.liveIfCaughtUp()) this.armSettle();
        }
        if (signal.aborted) break;
      } catch (err) {
        if (err instanceof AnchorIndexError) {
          this.error = err.message;
          this.setState('failed');
          this.logger.error('anchor index stopped following the ledger', { message: err.message });
          return;
        }
        if (signal.aborted) break;
        this.logger.warn('anchor index lost the ledger event stream; resubscribing', { message: (err as Error).message, retryMs: retry });
      }
      this.setState('reconnecting');
      await sleep(retry, signal);
      retry = Math.min(retry * 2, this.retryMs.max);
    }
  }

  private apply(event: LedgerEvent): void {
    if (event.eventName === RECORDS_EVENT) {
      const changes = parseChanges(event);
      try {
        for (const change of changes) this.table.apply(change, event);
      } catch (err) {
        throw new AnchorIndexError('INDEX_BAD_EVENT', `transaction ${event.transactionId}: ${(err as Error).message}`);
      }
    }
    this.checkpoint = { blockNumber: event.blockNumber, transactionId: event.transactionId };
    if (event.blockNumber > this.headBlock) this.headBlock = event.blockNumber;
    this.dirty = true;
    this.scheduleSnapshot();
    this.wake();
  }

  private noteCommit(name: string, committed: Committed): void {
    if (committed.blockNumber > this.headBlock) this.headBlock = committed.blockNumber;
    if (STATUS_CHANGING.has(name) && committed.blockNumber > this.mustReach && changedSomething(committed.result)) {
      this.mustReach = committed.blockNumber;
    }
  }

  /** Block of the last event the index holds (0 before the first). */
  private indexedBlock(): bigint {
    return this.checkpoint?.blockNumber ?? 0n;
  }

  /**
   * Reads the channel's height (one read at a time); the first read after subscribing sets the
   * target. A failure is logged once per run of failures and leaves the target unset.
   */
  private readHeight(): Promise<void> {
    const ledger = this.options.ledger;
    if (!ledger?.height) return Promise.resolve();
    this.readingHeight ??= (async () => {
      try {
        const height = await ledger.height!();
        this.height = height;
        this.heightFailing = false;
        if (this.target === undefined && this.state === 'catching-up') {
          this.target = height - 1n;
          if (!this.liveIfCaughtUp()) this.armSettle();
        }
      } catch (err) {
        if (!this.heightFailing) this.logger.warn('anchor index could not read the ledger height; ORIGINAL goes to the peer until it can', { message: (err as Error).message });
        this.heightFailing = true;
      } finally {
        this.readingHeight = undefined;
      }
    })();
    return this.readingHeight;
  }

  /** With `height`: goes live once the index holds an event of the target block or a later one. */
  private liveIfCaughtUp(): boolean {
    if (this.state !== 'catching-up' || this.target === undefined || this.indexedBlock() < this.target) return false;
    clearTimeout(this.settleTimer);
    this.setState('live');
    return true;
  }

  private armSettle(): void {
    clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => {
      if (this.state !== 'catching-up') return;
      // With `height`, quiet only vouches for a short tail of blocks without events (see the module's notes).
      if (!this.options.ledger?.height || (this.target !== undefined && this.target - this.indexedBlock() <= this.quietTailBlocks)) this.setState('live');
    }, this.settleMs);
  }

  private setState(state: AnchorIndexState): void {
    this.state = state;
    this.wake();
  }

  private wake(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const resolve of waiters) resolve();
  }
}

/** Why the index starts empty although a snapshot file was there, and the log line that says so. */
interface Rebuild {
  reason: string;
  log: string;
}

async function loadSnapshot(options: AnchorIndexOptions): Promise<{ table: AnchorTable; checkpoint?: EventCheckpoint; rebuilt?: Rebuild }> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(options.file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { table: new AnchorTable() };
    throw err;
  }
  try {
    const { table, meta } = AnchorTable.decode(bytes);
    return { table, ...checkpointOf(meta) };
  } catch (err) {
    if (!(err instanceof SnapshotError)) throw err;
    const reason = `${options.file}: ${err.message}`;
    if (err instanceof SnapshotFormatError && err.older) {
      // Left in place: nothing is wrong with it, and the first snapshot of the new format replaces it.
      return { table: new AnchorTable(), rebuilt: { reason, log: `anchor index snapshot is of format ${String(err.format)}, without the block numbers of anchors; rebuilding from block 0` } };
    }
    if (options.onCorrupt === 'fail') throw new AnchorIndexError('INDEX_CORRUPT', `${reason} Remove it to rebuild the index from the ledger.`);
    await fs.rename(options.file, `${options.file}.corrupt-${Date.now()}`);
    return { table: new AnchorTable(), rebuilt: { reason, log: 'anchor index snapshot unreadable; rebuilding from block 0' } };
  }
}

function checkpointOf(meta: unknown): { checkpoint?: EventCheckpoint } {
  const checkpoint = (meta as Partial<SnapshotMeta> | null)?.checkpoint;
  if (checkpoint === null) return {};
  if (!checkpoint || typeof checkpoint.transactionId !== 'string' || !/^\d+$/.test(String(checkpoint.blockNumber))) {
    throw new SnapshotError('its checkpoint is malformed.');
  }
  return { checkpoint: { blockNumber: BigInt(checkpoint.blockNumber), transactionId: checkpoint.transactionId } };
}

function parseChanges(event: LedgerEvent): RecordChange[] {
  let body: unknown;
  try {
    body = JSON.parse(decoder.decode(event.payload));
  } catch {
    body = undefined;
  }
  const changes = (body as { changes?: unknown } | undefined)?.changes;
  if (!Array.isArray(changes) || !changes.every(isChange)) {
    throw new AnchorIndexError('INDEX_BAD_EVENT', `the ${RECORDS_EVENT} event of transaction ${event.transactionId} is not a list of complete changes.`);
  }
  return changes;
}

function isChange(value: unknown): value is RecordChange {
  const c = value as Partial<RecordChange> | null;
  return (
    typeof c === 'object' &&
    c !== null &&
    (c.kind === 'anchored' || c.kind === 'amended' || c.kind === 'retracted') &&
    [c.docHash, c.issuer, c.recordId, c.status, c.anchoredAt, c.txId].every((field) => typeof field === 'string') &&
    typeof c.version === 'number'
  );
}

/** Did an amendment or retraction change anything (`created`), or was it a harmless re-send? */
function changedSomething(result: Uint8Array): boolean {
  try {
    return (JSON.parse(decoder.decode(result)) as { created?: unknown }).created !== false;
  } catch {
    return true;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
