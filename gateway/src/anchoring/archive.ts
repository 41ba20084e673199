/**
 * Archive mode: anchor a folder of any size (a million files and more) as ONE Merkle root, in one
 * ledger transaction (`Archives:anchorArchive`), with a receipt for every file. Node only; the
 * receipt format and verifier are in the browser-safe `archive-receipt.ts`, the in-memory build
 * in `archive-build.ts`, the receipts folder in `archive-store.ts`.
 *
 * Steps:
 * 1. walk the folder (`fs.opendir`, one folder's names in memory at a time) and count the files,
 *    for progress and ETA;
 * 2. walk it again in the same order and hash every regular file with `node:crypto` on a small
 *    pool of threads (`file-hash-pool.ts`), each thread also computing the file's archive leaf
 *    hash, SHA-256(0x00 ‖ `{"docHash","path"}`); paths go to a temporary file as they are walked,
 *    digests and leaf hashes into two flat arrays (64 bytes per file in memory);
 * 3. hash the tree's levels (`archive-build.ts`);
 * 4. write the receipts folder: the levels once, each file's SHA-256 and path
 *    (`archive-store.ts`), from which any file's self-contained receipt is read back;
 * 5. hand the root to `anchorRoot` (the CLI: `POST /v1/archives` at the hospital's gateway, one
 *    `Archives:anchorArchive` transaction) and record the transaction in the manifest: every
 *    receipt read afterwards names it.
 *
 * Order and reproducibility: files are taken folder by folder, each folder's entries sorted by
 * JavaScript string order (UTF-16 code units), sub-folders where their names sort. The same
 * folder content therefore gives the same root on any machine. Only regular files are archived:
 * symbolic links are not followed (a link could leave the folder or loop) and, like sockets or
 * devices, are skipped and counted. A file that cannot be read fails the whole archive: a partial
 * archive would silently not cover files its owner believes covered.
 *
 * @module
 */
import { createWriteStream, promises as fs, readFileSync, type Dir, type Dirent, type WriteStream } from 'node:fs';
import { availableParallelism } from 'node:os';
import * as path from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { createNodeHasher, nodeHasher } from '../merkle/node-hasher';
import { allocateLevels, buildLevels, leafLevel, levelsRoot, receiptJsonFromBuild, type EncodedPaths } from './archive-build';
import { validateArchivePath, verifyArchiveReceipt, type ArchiveLedgerAnchor, type ArchiveReceipt } from './archive-receipt';
import { ArchiveStore, loadArchiveStore, readArchiveManifest, setArchiveAnchor, writeArchiveStore, type ArchiveEntryKey } from './archive-store';
import { AnchoringError } from './errors';
import { FileHashPool } from './file-hash-pool';
import type { VerifyOptions } from './receipt';

export { ARCHIVE_FILES, attachLogReceipt, compareWalkOrder, readArchiveManifest, type ArchiveManifest } from './archive-store';

const HASH_SIZE = 32;
/** Files per hashing batch sent to a thread. */
const HASH_BATCH = 256;
/** The temporary list of paths, in leaf order, while the folder is hashed. */
const PATHS_TEMP = '.paths.tmp';

/** What `anchorRoot` is told about the archive. */
export interface ArchiveAnchorMeta {
  readonly fileCount: number;
  readonly totalBytes: number;
  /** Base name of the archived folder (no full path: paths can say more than they should). */
  readonly name: string;
  /** When the archive was built, ISO-8601. */
  readonly createdAt: string;
}

/**
 * Anchors the archive root on the ledger (the CLI: `POST /v1/archives`, one
 * `Archives:anchorArchive` transaction) and says where.
 */
export type AnchorRootFn = (rootHex: string, meta: ArchiveAnchorMeta) => Promise<ArchiveLedgerAnchor>;

/** Progress of {@link archiveFolder}. */
export interface ArchiveProgress {
  readonly phase: 'scanning' | 'hashing' | 'tree' | 'receipts' | 'anchoring' | 'done';
  /** Files found by the counting walk (known from the end of `scanning`). */
  readonly filesTotal: number | undefined;
  readonly filesHashed: number;
  readonly bytesHashed: number;
  /** Receipts written (all of them at once, at the end of `receipts`). */
  readonly receiptsWritten: number;
  /** Since the archive started. */
  readonly elapsedMs: number;
  /** Hashing rate so far (receipts rate during `receipts`). */
  readonly filesPerSecond: number;
  readonly bytesPerSecond: number;
  /** Estimated seconds left in the current phase, when it can be estimated. */
  readonly etaSeconds: number | undefined;
}

/** Options of {@link archiveFolder}. */
export interface ArchiveOptions {
  /** Output folder for receipts; must not exist or be empty, and must not be inside the source. */
  readonly out: string;
  /** Hashing threads (default: available parallelism, at most 4). */
  readonly threads?: number;
  /** Anchors the root; without it the archive is written but not anchored. */
  readonly anchorRoot?: AnchorRootFn;
  /** Called at every phase change and at most every `progressIntervalMs` within a phase. */
  readonly onProgress?: (progress: ArchiveProgress) => void;
  /** Default 1000. */
  readonly progressIntervalMs?: number;
}

/** Phase durations of an archive run, in ms. */
export interface ArchiveTimings {
  readonly scanMs: number;
  readonly hashMs: number;
  readonly treeMs: number;
  /** Writing the receipts folder (levels, digests, paths), fsync included. */
  readonly receiptsMs: number;
  readonly anchorMs: number;
  readonly totalMs: number;
}

/** What {@link archiveFolder} produced. */
export interface ArchiveSummary {
  /** Archive root, 64 lowercase hex. */
  readonly root: string;
  readonly fileCount: number;
  readonly totalBytes: number;
  /** Entries skipped (symbolic links, sockets, devices). */
  readonly skipped: number;
  readonly out: string;
  /** The ledger transaction that anchored the root (undefined without `anchorRoot`). */
  readonly anchor: ArchiveLedgerAnchor | undefined;
  /** Bytes of the receipts folder. */
  readonly receiptBytes: number;
  readonly timings: ArchiveTimings;
}

/**
 * Archives a folder: hashes every regular file, builds the archive tree, writes the receipts
 * folder into `options.out`, and anchors the root through `options.anchorRoot`.
 *
 * @throws AnchoringError ARCHIVE_EMPTY, ARCHIVE_PATH_INVALID (a name that is not valid Unicode, or
 *   `out` inside the source), ARCHIVE_READ_FAILED, ARCHIVE_WRITE_FAILED, ARCHIVE_ANCHOR_FAILED
 *   (receipts and manifest are written; anchor the same root again with {@link anchorArchiveStore})
 *
 * @example
 * ```ts
 * const summary = await archiveFolder('/data/scans-2019', {
 *   out: '/data/receipts/scans-2019',
 *   anchorRoot: (root, meta) => gateway.anchorArchive({ archiveId: 'scans-2019', root, count: meta.fileCount }),
 *   onProgress: (p) => log.info(p),
 * });
 * ```
 */
export async function archiveFolder(source: string, options: ArchiveOptions): Promise<ArchiveSummary> {
  const started = performance.now();
  const root = await realDirectory(source);
  const out = path.resolve(options.out);
  await prepareOutput(root, out);
  const threads = options.threads ?? Math.min(4, availableParallelism());
  if (!Number.isSafeInteger(threads) || threads < 1) throw new AnchoringError('INVALID_ARGUMENT', 'threads must be a positive integer.');
  const progress = new ProgressReporter(started, options.onProgress, options.progressIntervalMs ?? 1000);

  // 1. Count.
  progress.phase('scanning');
  let filesTotal = 0;
  for await (const entry of walkFolder(root)) if (entry.kind === 'file') filesTotal++;
  if (filesTotal === 0) throw new AnchoringError('ARCHIVE_EMPTY', `The folder ${path.basename(root)} holds no regular file to archive.`);
  progress.filesTotal = filesTotal;
  const scanMs = performance.now() - started;

  // 2. Hash.
  progress.phase('hashing');
  const hashStarted = performance.now();
  const hashed = await hashFolder(root, out, threads, filesTotal, progress);
  const hashMs = performance.now() - hashStarted;
  const n = hashed.count;
  if (n === 0) throw new AnchoringError('ARCHIVE_EMPTY', `The folder ${path.basename(root)} holds no regular file to archive.`);

  // 3. Tree.
  progress.phase('tree');
  const treeStarted = performance.now();
  const levels = allocateLevels(n);
  leafLevel(levels).set(hashed.leafHashes.subarray(0, n * HASH_SIZE));
  const hasher = threads > 1 ? createNodeHasher({ workers: 1 }) : nodeHasher;
  try {
    buildLevels(levels, hasher);
  } finally {
    if (hasher !== nodeHasher) await hasher.close();
  }
  const rootHex = Buffer.from(levelsRoot(levels)).toString('hex');
  const treeMs = performance.now() - treeStarted;

  // 4. Receipts.
  progress.phase('receipts');
  const receiptsStarted = performance.now();
  const createdAt = new Date().toISOString();
  const name = path.basename(root);
  const paths = await takePaths(out, n);
  const written = await writeArchiveStore(out, { levels, docHashes: hashed.docHashes, paths, rootHex }, { name, createdAt, totalBytes: hashed.totalBytes, skipped: hashed.skipped, pathOrder: 'walk' });
  progress.receipts(n);
  const receiptsMs = performance.now() - receiptsStarted;

  // 5. Anchor.
  let anchor: ArchiveLedgerAnchor | undefined;
  let anchorMs = 0;
  if (options.anchorRoot) {
    progress.phase('anchoring');
    const anchorStarted = performance.now();
    anchor = await anchorArchiveStore(out, options.anchorRoot);
    anchorMs = performance.now() - anchorStarted;
  }
  progress.phase('done');
  return {
    root: rootHex,
    fileCount: n,
    totalBytes: hashed.totalBytes,
    skipped: hashed.skipped,
    out,
    anchor,
    receiptBytes: written.bytes,
    timings: { scanMs, hashMs, treeMs, receiptsMs, anchorMs, totalMs: performance.now() - started },
  };
}

/**
 * Anchors the root of an archive's receipts folder through `anchorRoot` and records the ledger
 * transaction in its manifest (every receipt read afterwards names it). For an archive whose
 * anchoring failed, or was left for later; the chaincode answers a re-sent archive with the
 * anchor it already holds.
 *
 * @throws AnchoringError ARCHIVE_ANCHOR_FAILED (with `details.root`), ARCHIVE_ENTRY_NOT_FOUND
 */
export async function anchorArchiveStore(out: string, anchorRoot: AnchorRootFn): Promise<ArchiveLedgerAnchor> {
  const manifest = await readArchiveManifest(out);
  let anchor: ArchiveLedgerAnchor;
  try {
    anchor = await anchorRoot(manifest.root, { fileCount: manifest.fileCount, totalBytes: manifest.totalBytes, name: manifest.name, createdAt: manifest.createdAt });
  } catch (err) {
    throw new AnchoringError('ARCHIVE_ANCHOR_FAILED', 'The archive was written but anchoring its root failed; anchor the same root again later.', {
      details: { root: manifest.root, out },
      cause: err,
    });
  }
  await setArchiveAnchor(out, anchor);
  return anchor;
}

/**
 * The self-contained receipt of one archived file, by leaf index or by path (binary search over
 * the walk order: a few reads), checked against the archive's root.
 *
 * @throws AnchoringError ARCHIVE_ENTRY_NOT_FOUND
 */
export async function readArchiveReceipt(out: string, key: ArchiveEntryKey): Promise<ArchiveReceipt> {
  const store = await ArchiveStore.open(out);
  try {
    return await store.receipt(key);
  } finally {
    await store.close();
  }
}

/** Result of {@link verifyArchiveFolder}. */
export interface ArchiveFolderCheck {
  readonly verified: number;
  /** Receipts whose file is missing or does not verify (the first 100). */
  readonly failures: readonly { readonly path: string; readonly reasons: readonly string[] }[];
  readonly failed: number;
  /** How many receipts carried a verified log receipt. */
  readonly anchored: number;
}

/**
 * Verifies every file's receipt against the files of `source` (e.g. a restored copy), each one
 * assembled as it is handed out and checked independently with {@link verifyArchiveReceipt}.
 * Meant for the CLI and tests: it holds the receipts folder in memory and reads files
 * synchronously (yielding to the event loop between batches).
 */
export async function verifyArchiveFolder(source: string, out: string, options?: VerifyOptions): Promise<ArchiveFolderCheck> {
  const archive = await loadArchiveStore(out);
  const { manifest } = archive;
  let verified = 0;
  let failed = 0;
  let anchored = 0;
  const failures: { path: string; reasons: readonly string[] }[] = [];
  for (let i = 0; i < manifest.fileCount; i++) {
    const receipt = JSON.parse(receiptJsonFromBuild(archive, i, manifest.anchor)) as Record<string, unknown>;
    if (manifest.logReceipt) receipt.logReceipt = manifest.logReceipt;
    const rel = (receipt.file as { path: string }).path;
    let reasons: readonly string[];
    let isAnchored = false;
    try {
      const bytes = readFileSync(path.join(source, ...rel.split('/')));
      const result = verifyArchiveReceipt(receipt, bytes, options);
      reasons = result.reasons;
      isAnchored = result.anchored;
    } catch (err) {
      reasons = [(err as Error).message];
    }
    if (reasons.length === 0) {
      verified++;
      if (isAnchored) anchored++;
    } else {
      failed++;
      if (failures.length < 100) failures.push({ path: rel, reasons });
    }
    if ((i + 1) % 1024 === 0) await yieldToLoop();
  }
  return { verified, failed, failures, anchored };
}

async function realDirectory(source: string): Promise<string> {
  try {
    const real = await fs.realpath(source);
    if (!(await fs.stat(real)).isDirectory()) throw new Error('not a folder');
    return real;
  } catch (err) {
    throw new AnchoringError('ARCHIVE_READ_FAILED', `The folder to archive (${path.basename(source)}) cannot be read as a folder.`, { cause: err });
  }
}

/** The output folder must be outside the source (its receipts would be archived) and empty. */
async function prepareOutput(root: string, out: string): Promise<void> {
  const existing = await fs.realpath(out).catch(() => undefined);
  const resolved = existing ?? path.join(await fs.realpath(path.dirname(out)).catch(() => path.dirname(out)), path.basename(out));
  const rel = path.relative(root, resolved);
  if (rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))) {
    throw new AnchoringError('ARCHIVE_PATH_INVALID', 'The receipts folder must not be inside the folder being archived.');
  }
  if (existing !== undefined && (await fs.readdir(existing)).length > 0) {
    throw new AnchoringError('ARCHIVE_WRITE_FAILED', `The receipts folder ${out} is not empty; use a new folder for every archive.`);
  }
  await fs.mkdir(out, { recursive: true });
}

/** One entry of the walk. */
interface WalkEntry {
  readonly rel: string;
  readonly kind: 'file' | 'other';
}

/** Names of one folder, sorted, with the few that are not regular files set apart. */
interface Listing {
  readonly rel: string;
  readonly names: string[];
  readonly dirs: Set<string>;
  readonly others: Set<string>;
  pos: number;
}

/**
 * Walks `root` depth-first in walk order (see the module comment), yielding regular files and
 * skipped entries. Holds the names of the folders on the current path only.
 */
async function* walkFolder(root: string): AsyncGenerator<WalkEntry> {
  const stack: Listing[] = [await listFolder(root, '')];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.pos === top.names.length) {
      stack.pop();
      continue;
    }
    const name = top.names[top.pos++]!;
    const rel = top.rel === '' ? name : `${top.rel}/${name}`;
    if (top.dirs.has(name)) stack.push(await listFolder(root, rel));
    else yield { rel, kind: top.others.has(name) ? 'other' : 'file' };
  }
}

async function listFolder(root: string, rel: string): Promise<Listing> {
  const abs = rel === '' ? root : path.join(root, ...rel.split('/'));
  const names: string[] = [];
  const dirs = new Set<string>();
  const others = new Set<string>();
  try {
    const dir = await fs.opendir(abs, { bufferSize: 256 });
    for await (const entry of dirEntries(dir)) {
      names.push(entry.name);
      let isDir = entry.isDirectory();
      let isFile = entry.isFile();
      if (!isDir && !isFile && !entry.isSymbolicLink() && !entry.isFIFO() && !entry.isSocket() && !entry.isBlockDevice() && !entry.isCharacterDevice()) {
        // Some filesystems do not report entry types (DT_UNKNOWN): ask lstat.
        const st = await fs.lstat(path.join(abs, entry.name));
        isDir = st.isDirectory();
        isFile = st.isFile();
      }
      if (isDir) dirs.add(entry.name);
      else if (!isFile) others.add(entry.name);
    }
  } catch (err) {
    if (err instanceof AnchoringError) throw err;
    throw new AnchoringError('ARCHIVE_READ_FAILED', `The folder ${JSON.stringify(rel || '.')} could not be read (${(err as NodeJS.ErrnoException).code ?? 'error'}).`, {
      details: { path: rel || '.' },
      cause: err,
    });
  }
  names.sort();
  return { rel, names, dirs, others, pos: 0 };
}

/** `for await` over a Dir that closes it even when the loop exits early. */
async function* dirEntries(dir: Dir): AsyncGenerator<Dirent> {
  try {
    for (let entry = await dir.read(); entry !== null; entry = await dir.read()) yield entry;
  } finally {
    await dir.close().catch(() => undefined);
  }
}

/** Growable flat array of 32-byte values. */
class FlatHashes {
  bytes: Uint8Array;
  constructor(capacity: number) {
    this.bytes = new Uint8Array(Math.max(1, capacity) * HASH_SIZE);
  }
  ensure(count: number): void {
    if (this.bytes.length >= count * HASH_SIZE) return;
    const grown = new Uint8Array(Math.max(count * HASH_SIZE, this.bytes.length * 2));
    grown.set(this.bytes);
    this.bytes = grown;
  }
}

interface HashedFolder {
  readonly count: number;
  readonly totalBytes: number;
  readonly skipped: number;
  readonly docHashes: Uint8Array;
  readonly leafHashes: Uint8Array;
}

async function hashFolder(root: string, out: string, threads: number, expected: number, progress: ProgressReporter): Promise<HashedFolder> {
  const pool = new FileHashPool(threads);
  const paths = openWriteStream(path.join(out, PATHS_TEMP), 1 << 20);
  const docHashes = new FlatHashes(expected);
  const leafHashes = new FlatHashes(expected);
  let count = 0;
  let skipped = 0;
  let failure: unknown;
  const inFlight = new Set<Promise<void>>();

  const dispatch = (start: number, batch: string[]): void => {
    const job = pool.hash(root, batch).then(
      ({ hashes, leaves, sizes }) => {
        docHashes.ensure(start + batch.length);
        leafHashes.ensure(start + batch.length);
        docHashes.bytes.set(hashes, start * HASH_SIZE);
        leafHashes.bytes.set(leaves, start * HASH_SIZE);
        let bytes = 0;
        for (let i = 0; i < batch.length; i++) bytes += sizes[i]!;
        progress.hashed(batch.length, bytes);
      },
      (err: unknown) => {
        failure ??= err;
      },
    );
    const tracked = job.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
  };

  try {
    let batch: string[] = [];
    let batchStart = 0;
    for await (const entry of walkFolder(root)) {
      if (failure) break;
      if (entry.kind === 'other') {
        skipped++;
        continue;
      }
      validateArchivePath(entry.rel);
      // The temporary file keeps paths in leaf order (as JSON literals, the store's form).
      if (!paths.write(`${JSON.stringify(entry.rel)}\n`)) await drained(paths);
      batch.push(entry.rel);
      count++;
      if (batch.length === HASH_BATCH) {
        await pool.ready();
        dispatch(batchStart, batch);
        batch = [];
        batchStart = count;
      }
    }
    if (batch.length > 0 && !failure) {
      await pool.ready();
      dispatch(batchStart, batch);
    }
    await Promise.all(inFlight);
    if (failure) throw failure;
    await endStream(paths);
  } catch (err) {
    await Promise.allSettled(inFlight);
    paths.destroy();
    await fs.rm(path.join(out, PATHS_TEMP), { force: true });
    throw err instanceof AnchoringError ? err : new AnchoringError('ARCHIVE_WRITE_FAILED', 'Hashing the archive failed.', { cause: err });
  } finally {
    await pool.close();
  }
  return { count, totalBytes: progress.bytesHashed, skipped, docHashes: docHashes.bytes, leafHashes: leafHashes.bytes };
}

/** The walked paths back from the temporary file (which is removed), with their offsets. */
async function takePaths(out: string, n: number): Promise<EncodedPaths> {
  const file = path.join(out, PATHS_TEMP);
  try {
    const blob = await fs.readFile(file);
    const offsets = new Uint32Array(n + 1);
    let k = 1;
    for (let i = 0; i < blob.length; i++) if (blob[i] === 0x0a && k <= n) offsets[k++] = i + 1;
    if (k !== n + 1 || offsets[n] !== blob.length) throw new Error('the temporary path list does not hold one line per file');
    return { count: n, blob: new Uint8Array(blob.buffer, blob.byteOffset, blob.length), offsets };
  } catch (err) {
    throw new AnchoringError('ARCHIVE_WRITE_FAILED', `Reading back the list of paths in ${out} failed.`, { cause: err });
  } finally {
    await fs.rm(file, { force: true });
  }
}

/**
 * A write stream whose errors are kept rather than thrown at the process: they surface at the
 * next {@link drained} or at {@link endStream}.
 */
function openWriteStream(file: string, highWaterMark: number): WriteStream & { failure?: Error } {
  const stream: WriteStream & { failure?: Error } = createWriteStream(file, { highWaterMark });
  stream.on('error', (err) => {
    stream.failure ??= err;
  });
  return stream;
}

function drained(stream: WriteStream & { failure?: Error }): Promise<void> {
  return new Promise((resolve, reject) => {
    if (stream.failure) return reject(stream.failure);
    const onError = (err: Error): void => {
      stream.off('drain', onDrain);
      reject(err);
    };
    const onDrain = (): void => {
      stream.off('error', onError);
      resolve();
    };
    stream.once('error', onError);
    stream.once('drain', onDrain);
  });
}

function endStream(stream: WriteStream & { failure?: Error }): Promise<void> {
  return new Promise((resolve, reject) => {
    if (stream.failure) return reject(stream.failure);
    stream.once('error', reject);
    stream.end(() => (stream.failure ? reject(stream.failure) : resolve()));
  });
}

/** Throttled progress reports. */
class ProgressReporter {
  filesTotal: number | undefined;
  filesHashed = 0;
  bytesHashed = 0;
  receiptsWritten = 0;
  #phase: ArchiveProgress['phase'] = 'scanning';
  #phaseStarted: number;
  #lastReport = 0;

  constructor(
    private readonly started: number,
    private readonly onProgress: ((p: ArchiveProgress) => void) | undefined,
    private readonly intervalMs: number,
  ) {
    this.#phaseStarted = started;
  }

  phase(phase: ArchiveProgress['phase']): void {
    this.#phase = phase;
    this.#phaseStarted = performance.now();
    this.#report(true);
  }

  hashed(files: number, bytes: number): void {
    this.filesHashed += files;
    this.bytesHashed += bytes;
    this.#report(false);
  }

  receipts(written: number): void {
    this.receiptsWritten = written;
    this.#report(false);
  }

  #report(force: boolean): void {
    if (!this.onProgress) return;
    const now = performance.now();
    if (!force && now - this.#lastReport < this.intervalMs) return;
    this.#lastReport = now;
    const phaseSeconds = Math.max((now - this.#phaseStarted) / 1000, 1e-3);
    const receiptsPhase = this.#phase === 'receipts';
    const done = receiptsPhase ? this.receiptsWritten : this.filesHashed;
    const filesPerSecond = done / phaseSeconds;
    const left = this.filesTotal === undefined ? undefined : this.filesTotal - done;
    const estimating = (this.#phase === 'hashing' || receiptsPhase) && left !== undefined && filesPerSecond > 0;
    this.onProgress({
      phase: this.#phase,
      filesTotal: this.filesTotal,
      filesHashed: this.filesHashed,
      bytesHashed: this.bytesHashed,
      receiptsWritten: this.receiptsWritten,
      elapsedMs: now - this.started,
      filesPerSecond,
      bytesPerSecond: receiptsPhase ? 0 : this.bytesHashed / phaseSeconds,
      etaSeconds: estimating ? Math.max(0, left / filesPerSecond) : undefined,
    });
  }
}
