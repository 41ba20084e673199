/**
 * The anchor log: every record anchor the ledger committed, in commit order, as the leaves of one
 * RFC 6962 Merkle tree. Node only.
 *
 * On disk (one folder, one writer):
 * - `leaves.bin`: the leaf hashes, 32 bytes each, leaf `i` at byte `32·i`; the tree is rebuilt
 *   from this file alone (32 MiB per million anchors);
 * - `leaves.ndjson`: the leaf data, one canonical leaf JSON per line (`leaf.ts`), so a receipt can
 *   be rebuilt for any leaf; line `i` hashes to leaf `i`;
 * - `commit.json`: the commit record, replaced atomically after each batch: committed size, byte
 *   length of the data file, hash of the last leaf, and the last ledger position consumed;
 * - `lock`: the single-writer lock.
 *
 * Appends are buffered and written in batches (`flushEvery`, or an explicit {@link AnchorLog.flush}):
 * data, then hashes, both fsync'ed, then the commit record. The commit record is the commit point:
 * whatever lies beyond it after a crash is an uncommitted tail, discarded on open (and re-read
 * from the ledger, because the committed position did not advance past it). Committed data that
 * is missing or disagrees with the commit record is refused with LOG_TRUNCATED or LOG_CORRUPT:
 * that is damage, and silently repairing it could change roots already written on chain.
 *
 * @module
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { bytesEqual, bytesToHex, hexToBytes, MerkleTree } from '../merkle';
import { nodeHasher } from '../merkle/node-hasher';
import { AnchoringError } from './errors';
import { acquireLock, syncDirectory, writeFileAtomic, type FileLock } from '../storage/durable-file';
import { canonicalLeafJson, leafFromAnchor, parseLeaf, type AnchorLeaf } from './leaf';
import { silentLogger, type AnchoringLogger } from './logger';
import {
  checkPosition,
  comparePositions,
  positionFromJson,
  positionToJson,
  type LedgerPosition,
  type LedgerPositionJson,
  type SourcedAnchor,
} from './source';

const FORMAT = 'medprov-anchor-log';
const FORMAT_VERSION = 1;
const HASH_SIZE = 32;
const NEWLINE = 0x0a;
/** Read size for scans of the data file. */
const CHUNK = 4 << 20;
/** No canonical leaf comes near this; a longer "line" means the file is not ours. */
const MAX_LINE = 4096;

/** File names inside a log folder. */
export const ANCHOR_LOG_FILES = Object.freeze({
  leaves: 'leaves.bin',
  data: 'leaves.ndjson',
  commit: 'commit.json',
  lock: 'lock',
});

/** Options of {@link AnchorLog.open}. */
export interface AnchorLogOptions {
  /** Create the folder and an empty log when there is none (default true). */
  readonly create?: boolean;
  /** Buffered anchors that trigger a write + fsync (default 1000). */
  readonly flushEvery?: number;
  /** Where recoveries are reported (default: silent). */
  readonly logger?: AnchoringLogger;
}

/** Result of {@link AnchorLog.append}. */
export type AppendResult =
  | { readonly appended: true; readonly leafIndex: number; readonly leaf: AnchorLeaf }
  | { readonly appended: false; readonly reason: 'replay' };

/** What open found beyond the commit point and threw away (a crash mid-batch). */
export interface LogRecovery {
  readonly discardedHashBytes: number;
  readonly discardedDataBytes: number;
}

interface CommitRecordJson {
  format: string;
  version: number;
  size: number;
  dataBytes: number;
  lastLeafHash: string | null;
  position: LedgerPositionJson | null;
}

interface Committed {
  readonly size: number;
  readonly dataBytes: number;
  readonly lastLeafHash: Uint8Array | undefined;
  readonly position: LedgerPosition | undefined;
}

interface PendingLeaf {
  readonly hash: Uint8Array;
  /** Canonical leaf JSON followed by `\n`. */
  readonly line: Buffer;
  readonly position: LedgerPosition;
}

/**
 * Append-only, durable, resumable log of record anchors (see the module comment).
 *
 * @example
 * ```ts
 * const log = await AnchorLog.open('state/anchor-log');
 * for await (const item of source.anchorsAfter(log.position)) await log.append(item);
 * await log.flush();
 * const tree = await log.tree();
 * ```
 */
export class AnchorLog {
  /** The log's folder. */
  readonly dir: string;
  /** What open discarded beyond the commit point, if anything. */
  readonly recovery: LogRecovery | undefined;

  readonly #bin: fs.FileHandle;
  readonly #data: fs.FileHandle;
  readonly #lock: FileLock;
  readonly #flushEvery: number;
  #committed: Committed;
  /** Batch being written by a flush; indices `[committed.size, committed.size + flushing.length)`. */
  #flushing: PendingLeaf[] = [];
  #pending: PendingLeaf[] = [];
  #position: LedgerPosition | undefined;
  #tree: MerkleTree | undefined;
  /** `#offsets[i]` = byte offset of line i, for `i ≤ size` (built lazily, then kept up to date). */
  #offsets: Float64Array | undefined;
  #serial: Promise<unknown> = Promise.resolve();
  #closed = false;
  #broken: AnchoringError | undefined;

  private constructor(
    dir: string,
    handles: { bin: fs.FileHandle; data: fs.FileHandle; lock: FileLock },
    committed: Committed,
    flushEvery: number,
    recovery: LogRecovery | undefined,
  ) {
    this.dir = dir;
    this.#bin = handles.bin;
    this.#data = handles.data;
    this.#lock = handles.lock;
    this.#committed = committed;
    this.#position = committed.position;
    this.#flushEvery = flushEvery;
    this.recovery = recovery;
  }

  /**
   * Opens (or creates) the log in `dir`, discarding an uncommitted tail left by a crash.
   *
   * @throws AnchoringError LOG_LOCKED (another live writer), LOG_TRUNCATED (committed data
   *   missing), LOG_CORRUPT (files disagree), LOG_UNSUPPORTED (unknown format version)
   */
  static async open(dir: string, options: AnchorLogOptions = {}): Promise<AnchorLog> {
    const flushEvery = options.flushEvery ?? 1000;
    if (!Number.isSafeInteger(flushEvery) || flushEvery < 1) {
      throw new AnchoringError('INVALID_ARGUMENT', 'flushEvery must be a positive integer.');
    }
    const logger = options.logger ?? silentLogger;
    const create = options.create ?? true;
    const files = filesOf(dir);
    if (create) {
      await fs.mkdir(dir, { recursive: true });
    } else if (!(await exists(files.commit))) {
      throw new AnchoringError('INVALID_ARGUMENT', `There is no anchor log in ${dir} (no ${ANCHOR_LOG_FILES.commit}) and creating one was not asked for.`);
    }
    const lock = await acquireLock(files.lock, (holder) =>
      holder === undefined
        ? new AnchoringError('LOG_LOCKED', `The anchor log in ${dir} could not be locked (another process keeps taking the lock).`)
        : new AnchoringError('LOG_LOCKED', `The anchor log in ${dir} is in use by process ${holder}; only one writer may hold it.`, { details: { pid: holder } }),
    );
    let bin: fs.FileHandle | undefined;
    let data: fs.FileHandle | undefined;
    try {
      const committed = await readCommit(files, dir);
      // a+: reads at any position, writes always at the end (O_APPEND).
      bin = await fs.open(files.leaves, 'a+', 0o644);
      data = await fs.open(files.data, 'a+', 0o644);
      const recovery = await recoverTail(bin, data, committed, dir);
      if (recovery) {
        logger.warn('anchor log: discarded an uncommitted tail left by an interrupted write; it will be re-read from the ledger', {
          dir,
          committedSize: committed.size,
          ...recovery,
        });
      }
      await checkTail(bin, data, committed, dir);
      if (committed.size === 0 && !(await exists(files.commit))) {
        await writeCommit(files.commit, committed);
        await syncDirectory(dir);
      }
      return new AnchorLog(dir, { bin, data, lock }, committed, flushEvery, recovery);
    } catch (err) {
      await bin?.close().catch(() => undefined);
      await data?.close().catch(() => undefined);
      await lock.release().catch(() => undefined);
      throw err;
    }
  }

  /** Number of leaves appended, including ones not yet flushed. */
  get size(): number {
    return this.#committed.size + this.#flushing.length + this.#pending.length;
  }

  /** Number of leaves durably on disk. */
  get committedSize(): number {
    return this.#committed.size;
  }

  /** Ledger position of the last anchor appended (flushed or not); `undefined` for an empty log. */
  get position(): LedgerPosition | undefined {
    return this.#position;
  }

  /** Ledger position of the last durably committed anchor: where following resumes after a restart. */
  get committedPosition(): LedgerPosition | undefined {
    return this.#committed.position;
  }

  /**
   * Appends one anchor from the ledger. An anchor at or before the last position already in the
   * log is a replay (a source restarted from an earlier block) and is skipped, so replaying never
   * creates duplicates. Writes a batch to disk when `flushEvery` anchors are buffered.
   *
   * @throws AnchoringError LEAF_INVALID (anchor fields malformed), INVALID_ARGUMENT (position),
   *   LOG_CLOSED, LOG_WRITE_FAILED
   */
  async append(item: SourcedAnchor): Promise<AppendResult> {
    this.#usable();
    const position = checkPosition(item.position);
    if (item.blockNumber !== position.blockNumber) {
      throw new AnchoringError('INVALID_ARGUMENT', 'an anchor\'s blockNumber must equal its position\'s blockNumber.');
    }
    if (this.#position !== undefined && comparePositions(position, this.#position) <= 0) {
      return { appended: false, reason: 'replay' };
    }
    const leaf = leafFromAnchor(item.anchor, item.blockNumber);
    const line = Buffer.from(`${canonicalLeafJson(leaf)}\n`, 'utf8');
    const hash = nodeHasher.hashLeaf(line.subarray(0, line.length - 1));
    const leafIndex = this.size;
    this.#pending.push({ hash, line, position });
    this.#position = position;
    this.#tree?.append(hash);
    if (this.#offsets) this.#pushOffset(line.length);
    if (this.#pending.length >= this.#flushEvery) await this.flush();
    return { appended: true, leafIndex, leaf };
  }

  /**
   * Writes buffered anchors: data and hashes, fsync, then the commit record. After it resolves,
   * {@link committedSize} covers every anchor appended before the call.
   *
   * @throws AnchoringError LOG_WRITE_FAILED (the log then refuses further use: reopen it)
   */
  flush(): Promise<void> {
    return this.#enqueue(() => this.#flushNow());
  }

  async #flushNow(): Promise<void> {
    this.#usable();
    if (this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    this.#flushing = batch;
    try {
      const lines = Buffer.concat(batch.map((p) => p.line));
      const hashes = Buffer.allocUnsafe(batch.length * HASH_SIZE);
      batch.forEach((p, i) => hashes.set(p.hash, i * HASH_SIZE));
      // Data before hashes, both synced before the commit record: a committed leaf always has both.
      await this.#data.appendFile(lines);
      await this.#bin.appendFile(hashes);
      await Promise.all([this.#data.datasync(), this.#bin.datasync()]);
      const last = batch[batch.length - 1]!;
      const next: Committed = {
        size: this.#committed.size + batch.length,
        dataBytes: this.#committed.dataBytes + lines.length,
        lastLeafHash: last.hash,
        position: last.position,
      };
      await writeCommit(path.join(this.dir, ANCHOR_LOG_FILES.commit), next);
      this.#committed = next;
      this.#flushing = [];
    } catch (err) {
      this.#broken = new AnchoringError(
        'LOG_WRITE_FAILED',
        `Writing the anchor log in ${this.dir} failed; reopen it (anchors after the last commit are re-read from the ledger).`,
        { cause: err },
      );
      throw this.#broken;
    }
  }

  /**
   * The Merkle tree over all appended leaves (built with `nodeHasher` from `leaves.bin` on first
   * call, then extended as anchors are appended). The returned tree is live: it grows with the
   * log, so pass explicit sizes to `rootAt`/`inclusionProof`/`consistencyProof`.
   */
  tree(): Promise<MerkleTree> {
    if (this.#tree) return Promise.resolve(this.#tree);
    return this.#enqueue(async () => {
      this.#usable();
      if (this.#tree) return this.#tree;
      const size = this.#committed.size;
      const flat = await readExactly(this.#bin, 0, size * HASH_SIZE);
      const tree = MerkleTree.fromLeafHashes(flat, nodeHasher);
      for (const p of this.#pending) tree.append(p.hash);
      this.#tree = tree;
      return tree;
    });
  }

  /**
   * The canonical leaf bytes of leaf `index` (what its hash is computed over).
   *
   * @throws AnchoringError INVALID_ARGUMENT (index out of range), LOG_CORRUPT
   */
  async leafBytes(index: number): Promise<Uint8Array> {
    this.#usable();
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.size) {
      throw new AnchoringError('INVALID_ARGUMENT', `leaf index ${index} is not below the log size ${this.size}.`);
    }
    const committed = this.#committed.size;
    if (index >= committed) {
      const inFlight = index - committed;
      const p = inFlight < this.#flushing.length ? this.#flushing[inFlight]! : this.#pending[inFlight - this.#flushing.length]!;
      return p.line.subarray(0, p.line.length - 1);
    }
    const offsets = await this.#ensureOffsets();
    const start = offsets[index]!;
    const end = offsets[index + 1]! - 1;
    return readExactly(this.#data, start, end - start);
  }

  /** The parsed leaf data of leaf `index`. */
  async leaf(index: number): Promise<AnchorLeaf> {
    return parseLeaf(await this.leafBytes(index));
  }

  /**
   * Index of the leaf anchoring `docHash`, by scanning the data file (O(size); meant for rare
   * look-ups such as an archive's root, the gateway's own index serves the frequent ones).
   */
  findByDocHash(docHash: string): Promise<number | undefined> {
    // Queued: a flush moving leaves from memory to disk mid-scan could otherwise hide one.
    return this.#enqueue(async () => {
      this.#usable();
      const needle = Buffer.from(`"docHash":"${docHash}"`, 'utf8');
      const committed = this.#committed.size;
      const offsets = await this.#ensureOffsetsQueued();
      let found: number | undefined;
      await this.#scanLines(offsets, 0, committed, (index, line) => {
        if (found === undefined && line.indexOf(needle) >= 0) found = index;
      });
      if (found !== undefined) return found;
      const at = this.#pending.findIndex((p) => p.line.indexOf(needle) >= 0);
      return at < 0 ? undefined : committed + at;
    });
  }

  /**
   * Re-reads committed leaves `[from, to)` from disk and checks that leaf data, leaf hashes and
   * (when loaded) the in-memory tree agree. The checkpointer runs it over the leaves it is about
   * to checkpoint for the first time, so a log rewritten under the running process is caught
   * before its root reaches the chain.
   *
   * @throws AnchoringError LOG_TAMPERED (disk differs from what this process appended or
   *   loaded), LOG_CORRUPT (disk files disagree with each other), INVALID_ARGUMENT
   */
  verify(from = 0, to = this.#committed.size): Promise<void> {
    return this.#enqueue(async () => {
      this.#usable();
      const committed = this.#committed;
      if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || from > to || to > committed.size) {
        throw new AnchoringError('INVALID_ARGUMENT', `range [${from}, ${to}) is not within the committed log of ${committed.size} leaves.`);
      }
      const [binStat, dataStat] = await Promise.all([this.#bin.stat(), this.#data.stat()]);
      if (binStat.size !== committed.size * HASH_SIZE || dataStat.size !== committed.dataBytes) {
        throw new AnchoringError('LOG_TAMPERED', `The anchor log files in ${this.dir} changed size under the running process.`, {
          details: { expectedHashBytes: committed.size * HASH_SIZE, hashBytes: binStat.size, expectedDataBytes: committed.dataBytes, dataBytes: dataStat.size },
        });
      }
      if (from === to) return;
      const hashes = await readExactly(this.#bin, from * HASH_SIZE, (to - from) * HASH_SIZE);
      const tree = this.#tree;
      if (tree) {
        for (let i = from; i < to; i++) {
          if (!bytesEqual(hashes.subarray((i - from) * HASH_SIZE, (i - from + 1) * HASH_SIZE), tree.leafHash(i))) {
            throw new AnchoringError('LOG_TAMPERED', `Leaf ${i} in ${ANCHOR_LOG_FILES.leaves} differs from the leaf this process holds.`, {
              details: { leafIndex: i },
            });
          }
        }
      }
      const offsets = await this.#ensureOffsetsQueued();
      await this.#scanLines(offsets, from, to, (index, line) => {
        const expected = hashes.subarray((index - from) * HASH_SIZE, (index - from + 1) * HASH_SIZE);
        if (!bytesEqual(nodeHasher.hashLeaf(line), expected)) {
          throw new AnchoringError(
            tree ? 'LOG_TAMPERED' : 'LOG_CORRUPT',
            `Line ${index} of ${ANCHOR_LOG_FILES.data} does not hash to leaf ${index} of ${ANCHOR_LOG_FILES.leaves}.`,
            { details: { leafIndex: index } },
          );
        }
        try {
          parseLeaf(line);
        } catch (err) {
          throw new AnchoringError('LOG_CORRUPT', `Line ${index} of ${ANCHOR_LOG_FILES.data} is not a valid leaf.`, {
            details: { leafIndex: index },
            cause: err,
          });
        }
      });
    });
  }

  /** Flushes, closes the files and releases the lock. Further calls throw LOG_CLOSED. */
  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      if (!this.#broken) await this.flush();
    } finally {
      this.#closed = true;
      await this.#enqueue(async () => undefined).catch(() => undefined);
      await Promise.allSettled([this.#bin.close(), this.#data.close()]);
      await this.#lock.release();
    }
  }

  #usable(): void {
    if (this.#closed) throw new AnchoringError('LOG_CLOSED', `The anchor log in ${this.dir} is closed.`);
    if (this.#broken) throw this.#broken;
  }

  /** Runs `fn` after every earlier queued operation (flushes, tree loads, scans) settled. */
  #enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#serial.then(fn, fn);
    this.#serial = run.catch(() => undefined);
    return run;
  }

  /** Records the end offset of the leaf just appended (its start is the previous end). */
  #pushOffset(lineLength: number): void {
    const n = this.size; // already counts the new leaf
    this.#offsetsSet(n, this.#offsets![n - 1]! + lineLength);
  }

  /** Line offsets of every leaf, scanning the data file once (queued, so no flush interleaves). */
  #ensureOffsets(): Promise<Float64Array> {
    if (this.#offsets) return Promise.resolve(this.#offsets);
    return this.#enqueue(() => this.#ensureOffsetsQueued());
  }

  /** {@link #ensureOffsets} for code already running in the queue. */
  async #ensureOffsetsQueued(): Promise<Float64Array> {
    if (this.#offsets) return this.#offsets;
    const committed = this.#committed;
    const offsets = new Float64Array(Math.max(16, Math.ceil((committed.size + this.#pending.length + 1) * 1.25)));
    let count = 0;
    await scanData(this.#data, committed.dataBytes, (start) => {
      if (count >= committed.size) {
        throw new AnchoringError('LOG_CORRUPT', `${ANCHOR_LOG_FILES.data} in ${this.dir} holds more lines than the ${committed.size} committed leaves.`);
      }
      offsets[count++] = start;
    });
    if (count !== committed.size) {
      throw new AnchoringError(
        'LOG_CORRUPT',
        `${ANCHOR_LOG_FILES.data} in ${this.dir} holds ${count} lines but ${committed.size} leaves are committed.`,
      );
    }
    offsets[count] = committed.dataBytes;
    this.#offsets = offsets;
    // Nothing is being flushed while queued code runs, so only pending lines follow.
    for (const p of this.#pending) {
      count++;
      this.#offsetsSet(count, this.#offsets[count - 1]! + p.line.length);
    }
    return this.#offsets;
  }

  #offsetsSet(i: number, value: number): void {
    let offsets = this.#offsets!;
    if (offsets.length < i + 1) {
      const grown = new Float64Array(Math.max(i + 1, offsets.length * 2));
      grown.set(offsets);
      offsets = grown;
      this.#offsets = offsets;
    }
    offsets[i] = value;
  }

  /**
   * Calls `onLine(index, bytes without newline)` for committed lines `[from, to)`, at the offsets
   * where they were written.
   */
  async #scanLines(offsets: Float64Array, from: number, to: number, onLine: (index: number, line: Buffer) => void): Promise<void> {
    if (from === to) return;
    const start = offsets[from]!;
    const end = offsets[to]!;
    const misplaced = (): AnchoringError =>
      new AnchoringError('LOG_TAMPERED', `${ANCHOR_LOG_FILES.data} in ${this.dir} no longer has its lines where they were written.`);
    let index = from;
    let carry: Buffer | undefined;
    for (let pos = start; pos < end; ) {
      const len = Math.min(CHUNK, end - pos);
      const chunk = await readExactly(this.#data, pos, len);
      pos += len;
      const buf = carry ? Buffer.concat([carry, chunk]) : chunk;
      let lineStart = 0;
      for (let nl = buf.indexOf(NEWLINE); nl >= 0; nl = buf.indexOf(NEWLINE, lineStart)) {
        if (index >= to) throw misplaced();
        onLine(index++, buf.subarray(lineStart, nl));
        lineStart = nl + 1;
      }
      carry = lineStart < buf.length ? Buffer.from(buf.subarray(lineStart)) : undefined;
    }
    if (carry || index !== to) throw misplaced();
  }
}

function filesOf(dir: string): { leaves: string; data: string; commit: string; lock: string } {
  return {
    leaves: path.join(dir, ANCHOR_LOG_FILES.leaves),
    data: path.join(dir, ANCHOR_LOG_FILES.data),
    commit: path.join(dir, ANCHOR_LOG_FILES.commit),
    lock: path.join(dir, ANCHOR_LOG_FILES.lock),
  };
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.stat(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

async function fileSize(file: string): Promise<number> {
  try {
    return (await fs.stat(file)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
}

async function readCommit(files: ReturnType<typeof filesOf>, dir: string): Promise<Committed> {
  let text: string;
  try {
    text = await fs.readFile(files.commit, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    // No commit record: a fresh log, unless data is lying around without one.
    if ((await fileSize(files.leaves)) > 0 || (await fileSize(files.data)) > 0) {
      throw new AnchoringError('LOG_CORRUPT', `The anchor log in ${dir} has leaf files but no ${ANCHOR_LOG_FILES.commit}.`);
    }
    return { size: 0, dataBytes: 0, lastLeafHash: undefined, position: undefined };
  }
  let json: Partial<CommitRecordJson>;
  try {
    json = JSON.parse(text) as Partial<CommitRecordJson>;
  } catch (err) {
    throw new AnchoringError('LOG_CORRUPT', `${ANCHOR_LOG_FILES.commit} in ${dir} is not valid JSON.`, { cause: err });
  }
  if (json.format !== FORMAT) {
    throw new AnchoringError('LOG_CORRUPT', `${ANCHOR_LOG_FILES.commit} in ${dir} is not a medprov anchor log commit record.`);
  }
  if (json.version !== FORMAT_VERSION) {
    throw new AnchoringError('LOG_UNSUPPORTED', `The anchor log in ${dir} has format version ${String(json.version)}; this code reads version ${FORMAT_VERSION}.`);
  }
  const { size, dataBytes, lastLeafHash, position } = json;
  const sizeOk = Number.isSafeInteger(size) && size! >= 0 && Number.isSafeInteger(dataBytes) && dataBytes! >= 0;
  const tailOk =
    size === 0
      ? lastLeafHash === null && position === null && dataBytes === 0
      : typeof lastLeafHash === 'string' && /^[0-9a-f]{64}$/.test(lastLeafHash) && position != null;
  if (!sizeOk || !tailOk) {
    throw new AnchoringError('LOG_CORRUPT', `${ANCHOR_LOG_FILES.commit} in ${dir} has malformed fields.`);
  }
  try {
    return {
      size: size!,
      dataBytes: dataBytes!,
      lastLeafHash: size === 0 ? undefined : hexToBytes(lastLeafHash!),
      position: size === 0 ? undefined : positionFromJson(position, 'commit.position'),
    };
  } catch (err) {
    throw new AnchoringError('LOG_CORRUPT', `${ANCHOR_LOG_FILES.commit} in ${dir} has a malformed position.`, { cause: err });
  }
}

async function writeCommit(file: string, c: Committed): Promise<void> {
  const json: CommitRecordJson = {
    format: FORMAT,
    version: FORMAT_VERSION,
    size: c.size,
    dataBytes: c.dataBytes,
    lastLeafHash: c.lastLeafHash ? bytesToHex(c.lastLeafHash) : null,
    position: c.position ? positionToJson(c.position) : null,
  };
  await writeFileAtomic(file, `${JSON.stringify(json, null, 2)}\n`, 0o644);
}

/** Cuts both files back to the commit point; refuses when committed bytes are missing. */
async function recoverTail(bin: fs.FileHandle, data: fs.FileHandle, c: Committed, dir: string): Promise<LogRecovery | undefined> {
  const [binSize, dataSize] = await Promise.all([bin.stat().then((s) => s.size), data.stat().then((s) => s.size)]);
  const wantBin = c.size * HASH_SIZE;
  if (binSize < wantBin || dataSize < c.dataBytes) {
    throw new AnchoringError(
      'LOG_TRUNCATED',
      `The anchor log in ${dir} is shorter than its commit record: ${c.size} leaves were committed, ` +
        `${Math.floor(binSize / HASH_SIZE)} leaf hashes and ${dataSize} of ${c.dataBytes} data bytes are there. ` +
        'Restore it from a backup or rebuild it from the ledger.',
      { details: { committedSize: c.size, hashBytes: binSize, dataBytes: dataSize, committedDataBytes: c.dataBytes } },
    );
  }
  if (binSize === wantBin && dataSize === c.dataBytes) return undefined;
  await Promise.all([bin.truncate(wantBin), data.truncate(c.dataBytes)]);
  await Promise.all([bin.sync(), data.sync()]);
  return { discardedHashBytes: binSize - wantBin, discardedDataBytes: dataSize - c.dataBytes };
}

/** The last committed leaf hash and data line must both match the commit record. */
async function checkTail(bin: fs.FileHandle, data: fs.FileHandle, c: Committed, dir: string): Promise<void> {
  if (c.size === 0) return;
  const lastHash = await readExactly(bin, (c.size - 1) * HASH_SIZE, HASH_SIZE);
  if (!bytesEqual(lastHash, c.lastLeafHash!)) {
    throw new AnchoringError('LOG_CORRUPT', `The last committed leaf hash in ${dir} differs from the commit record.`, {
      details: { leafIndex: c.size - 1 },
    });
  }
  const window = Math.min(c.dataBytes, MAX_LINE + 1);
  const tail = await readExactly(data, c.dataBytes - window, window);
  if (tail[tail.length - 1] !== NEWLINE) {
    throw new AnchoringError('LOG_CORRUPT', `The committed leaf data in ${dir} does not end with a complete line.`);
  }
  const prev = tail.lastIndexOf(NEWLINE, tail.length - 2);
  if (prev < 0 && window < c.dataBytes) {
    throw new AnchoringError('LOG_CORRUPT', `The last committed line of leaf data in ${dir} is longer than any leaf.`);
  }
  const line = tail.subarray(prev + 1, tail.length - 1);
  if (!bytesEqual(nodeHasher.hashLeaf(line), c.lastLeafHash!)) {
    throw new AnchoringError('LOG_CORRUPT', `The last committed line of leaf data in ${dir} does not hash to the last leaf.`, {
      details: { leafIndex: c.size - 1 },
    });
  }
}

/** Reads exactly `length` bytes at `position`. */
async function readExactly(handle: fs.FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buf, done, length - done, position + done);
    if (bytesRead === 0) {
      throw new AnchoringError('LOG_TAMPERED', 'An anchor log file ended before data that was committed to it.');
    }
    done += bytesRead;
  }
  return buf;
}

/** Calls `onLineStart(offset)` for every line in the first `length` bytes of the data file. */
async function scanData(handle: fs.FileHandle, length: number, onLineStart: (offset: number) => void): Promise<void> {
  let lineStart = 0;
  let pos = 0;
  while (pos < length) {
    const len = Math.min(CHUNK, length - pos);
    const chunk = await readExactly(handle, pos, len);
    for (let nl = chunk.indexOf(NEWLINE); nl >= 0; nl = chunk.indexOf(NEWLINE, nl + 1)) {
      const end = pos + nl;
      if (end - lineStart > MAX_LINE) {
        throw new AnchoringError('LOG_CORRUPT', `${ANCHOR_LOG_FILES.data} has a line longer than any leaf at byte ${lineStart}.`);
      }
      onLineStart(lineStart);
      lineStart = end + 1;
    }
    pos += len;
  }
  if (lineStart !== length) {
    throw new AnchoringError('LOG_CORRUPT', `${ANCHOR_LOG_FILES.data} does not end with a complete line.`);
  }
}
