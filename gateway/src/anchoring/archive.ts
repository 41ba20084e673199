/**
 * Archive mode: anchor a folder of any size (a million files and more) as ONE Merkle root, and
 * write a receipt for every file. Node only; the receipt format and verifier are in the
 * browser-safe `archive-receipt.ts`.
 *
 * Steps:
 * 1. walk the folder (`fs.opendir`, one folder's names in memory at a time) and count the files,
 *    for progress and ETA;
 * 2. walk it again in the same order and hash every regular file with `node:crypto` on a small
 *    pool of threads (`file-hash-pool.ts`); paths go to a temporary file as they are walked, file
 *    digests and archive leaf hashes into two flat arrays (64 bytes per file in memory);
 * 3. build the archive tree with `nodeHasher` over leaf = SHA-256(0x00 ‖ `{"docHash","path"}`);
 * 4. write the receipts (proofs in batches from the flat tree levels);
 * 5. hand the root to `anchorRoot` (the gateway anchors it as one record on Fabric).
 *
 * Order and reproducibility: files are taken folder by folder, each folder's entries sorted by
 * JavaScript string order (UTF-16 code units), sub-folders where their names sort. The same
 * folder content therefore gives the same root on any machine. Only regular files are archived:
 * symbolic links are not followed (a link could leave the folder or loop) and, like sockets or
 * devices, are skipped and counted. A file that cannot be read fails the whole archive: a partial
 * archive would silently not cover files its owner believes covered.
 *
 * Receipts on disk (choice measured by `scripts/bench/receipts.ts`): one NDJSON file,
 * `receipts.ndjson`, line `i` = the complete archive receipt of leaf `i` (without the log receipt),
 * plus `receipts.idx`, `size + 1` little-endian uint64 byte offsets, so receipt `i` is one seek
 * away and a path is found by binary search (paths are in walk order). One JSON file per source
 * file would double the inode count of a million-file archive and write several times slower.
 * `archive.json` holds the root, counts, the anchor reference and, once available, the log
 * receipt of the root's anchor — stored once, and added to every receipt read back through
 * {@link readArchiveReceipt}, which therefore returns self-contained receipts.
 *
 * @module
 */
import { createReadStream, createWriteStream, promises as fs, readFileSync, type Dir, type Dirent, type WriteStream } from 'node:fs';
import { availableParallelism } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { bytesToHex, MerkleTree } from '../merkle';
import { nodeHasher } from '../merkle/node-hasher';
import {
  ARCHIVE_RECEIPT_KIND,
  ARCHIVE_RECEIPT_VERSION,
  encodeArchiveLeaf,
  parseArchiveReceipt,
  validateArchivePath,
  verifyArchiveReceipt,
  type ArchiveReceipt,
} from './archive-receipt';
import { AnchoringError } from './errors';
import { FileHashPool } from './file-hash-pool';
import { syncDirectory, writeFileAtomic } from '../storage/durable-file';
import { parseReceipt, verifyReceipt, type Receipt, type VerifyOptions } from './receipt';

const HASH_SIZE = 32;
const MANIFEST_FORMAT = 'medprov-archive';
const MANIFEST_VERSION = 1;
/** Files per hashing batch sent to a thread. */
const HASH_BATCH = 256;
/** Receipts per proof batch. */
const RECEIPT_BATCH = 4096;

/** File names inside an archive's output folder. */
export const ARCHIVE_FILES = Object.freeze({
  manifest: 'archive.json',
  receipts: 'receipts.ndjson',
  index: 'receipts.idx',
  pathsTemp: '.paths.tmp',
});

/** What `anchorRoot` is told about the archive. */
export interface ArchiveAnchorMeta {
  readonly fileCount: number;
  readonly totalBytes: number;
  /** Base name of the archived folder (no full path: paths can say more than they should). */
  readonly name: string;
  /** When the archive was built, ISO-8601. */
  readonly createdAt: string;
}

/** Where the archive root was anchored on the ledger. */
export interface ArchiveAnchorRef {
  readonly recordId: string;
  readonly txId: string;
  readonly blockNumber: bigint;
}

/**
 * Anchors the archive root as one record (the gateway implements it with `Records:anchorRecord`,
 * `docHash = rootHex`).
 */
export type AnchorRootFn = (rootHex: string, meta: ArchiveAnchorMeta) => Promise<ArchiveAnchorRef>;

/** Progress of {@link archiveFolder}. */
export interface ArchiveProgress {
  readonly phase: 'scanning' | 'hashing' | 'tree' | 'receipts' | 'anchoring' | 'done';
  /** Files found by the counting walk (known from the end of `scanning`). */
  readonly filesTotal: number | undefined;
  readonly filesHashed: number;
  readonly bytesHashed: number;
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
  /** Inclusion proofs (part of the receipts phase). */
  readonly proofsMs: number;
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
  readonly anchor: ArchiveAnchorRef | undefined;
  readonly receiptBytes: number;
  readonly timings: ArchiveTimings;
}

/** The manifest `archive.json`. */
export interface ArchiveManifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly version: typeof MANIFEST_VERSION;
  readonly name: string;
  readonly createdAt: string;
  readonly root: string;
  readonly fileCount: number;
  readonly totalBytes: number;
  readonly skipped: number;
  readonly anchor: { readonly recordId: string; readonly txId: string; readonly blockNumber: string } | null;
  readonly logReceipt: Receipt | null;
}

/**
 * Archives a folder: hashes every regular file, builds the archive tree, writes a receipt per file
 * into `options.out`, and anchors the root through `options.anchorRoot`.
 *
 * @throws AnchoringError ARCHIVE_EMPTY, ARCHIVE_PATH_INVALID (a name that is not valid Unicode, or
 *   `out` inside the source), ARCHIVE_READ_FAILED, ARCHIVE_WRITE_FAILED, ARCHIVE_ANCHOR_FAILED
 *   (receipts and manifest are written; anchoring can be retried with the same root)
 *
 * @example
 * ```ts
 * const summary = await archiveFolder('/data/scans-2019', {
 *   out: '/data/receipts/scans-2019',
 *   anchorRoot: (root, meta) => gateway.anchorArchiveRoot(root, meta),
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
  const tree = MerkleTree.fromLeafHashes(hashed.leafHashes.subarray(0, n * HASH_SIZE), nodeHasher);
  const rootHex = bytesToHex(tree.root());
  const treeMs = performance.now() - treeStarted;

  // 4. Receipts.
  progress.phase('receipts');
  const receiptsStarted = performance.now();
  const written = await writeReceipts(out, tree, hashed.docHashes, rootHex, progress);
  const receiptsMs = performance.now() - receiptsStarted;
  await fs.rm(path.join(out, ARCHIVE_FILES.pathsTemp), { force: true });

  const createdAt = new Date().toISOString();
  const manifest: ArchiveManifest = {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    name: path.basename(root),
    createdAt,
    root: rootHex,
    fileCount: n,
    totalBytes: hashed.totalBytes,
    skipped: hashed.skipped,
    anchor: null,
    logReceipt: null,
  };
  await writeManifest(out, manifest);

  // 5. Anchor.
  let anchor: ArchiveAnchorRef | undefined;
  let anchorMs = 0;
  if (options.anchorRoot) {
    progress.phase('anchoring');
    const anchorStarted = performance.now();
    try {
      anchor = await options.anchorRoot(rootHex, { fileCount: n, totalBytes: hashed.totalBytes, name: manifest.name, createdAt });
    } catch (err) {
      throw new AnchoringError('ARCHIVE_ANCHOR_FAILED', 'The archive was written but anchoring its root failed; anchor the same root again later.', {
        details: { root: rootHex, out },
        cause: err,
      });
    }
    anchorMs = performance.now() - anchorStarted;
    await writeManifest(out, { ...manifest, anchor: { recordId: anchor.recordId, txId: anchor.txId, blockNumber: anchor.blockNumber.toString() } });
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
    timings: { scanMs, hashMs, treeMs, proofsMs: written.proofsMs, receiptsMs, anchorMs, totalMs: performance.now() - started },
  };
}

/** Reads `archive.json` of an archive output folder. */
export async function readArchiveManifest(out: string): Promise<ArchiveManifest> {
  let manifest: ArchiveManifest;
  try {
    manifest = JSON.parse(await fs.readFile(path.join(out, ARCHIVE_FILES.manifest), 'utf8')) as ArchiveManifest;
  } catch (err) {
    throw new AnchoringError('ARCHIVE_ENTRY_NOT_FOUND', `There is no readable ${ARCHIVE_FILES.manifest} in ${out}.`, { cause: err });
  }
  if (manifest.format !== MANIFEST_FORMAT || manifest.version !== MANIFEST_VERSION) {
    throw new AnchoringError('ARCHIVE_ENTRY_NOT_FOUND', `${ARCHIVE_FILES.manifest} in ${out} is not a medprov archive manifest of version ${MANIFEST_VERSION}.`);
  }
  return manifest;
}

/**
 * Adds the anchor log's receipt of the archive root's anchor to the archive (once a checkpoint
 * covers it: `ReceiptIssuer.issueForDocHash(root)`). Every receipt read afterwards carries it.
 *
 * @throws AnchoringError INVALID_ARGUMENT when the log receipt is for another document or does not verify
 */
export async function attachLogReceipt(out: string, logReceipt: Receipt): Promise<void> {
  const manifest = await readArchiveManifest(out);
  const receipt = parseReceipt(logReceipt);
  if (receipt.leaf.docHash !== manifest.root) {
    throw new AnchoringError('INVALID_ARGUMENT', 'The log receipt anchors another document than this archive\'s root.');
  }
  const check = verifyReceipt(receipt);
  if (!check.valid) {
    throw new AnchoringError('INVALID_ARGUMENT', `The log receipt does not verify: ${check.reasons.join(' ')}`);
  }
  await writeManifest(out, { ...manifest, logReceipt: receipt });
}

/**
 * The self-contained receipt of one archived file, by leaf index or by path (binary search over
 * the walk order: a few reads).
 *
 * @throws AnchoringError ARCHIVE_ENTRY_NOT_FOUND
 */
export async function readArchiveReceipt(out: string, key: { readonly index: number } | { readonly path: string }): Promise<ArchiveReceipt> {
  const manifest = await readArchiveManifest(out);
  const receipts = await fs.open(path.join(out, ARCHIVE_FILES.receipts), 'r');
  const index = await fs.open(path.join(out, ARCHIVE_FILES.index), 'r');
  try {
    // Offsets are read where needed (two per probe), never the whole index: a million-file
    // archive's index is 8 MB.
    const count = (await index.stat()).size / 8 - 1;
    const pair = Buffer.alloc(16);
    const lineAt = async (i: number): Promise<Record<string, unknown>> => {
      await index.read(pair, 0, 16, i * 8);
      const start = Number(pair.readBigUInt64LE(0));
      const length = Number(pair.readBigUInt64LE(8)) - start - 1;
      const buf = Buffer.alloc(length);
      await receipts.read(buf, 0, length, start);
      return JSON.parse(buf.toString('utf8')) as Record<string, unknown>;
    };
    let found: Record<string, unknown> | undefined;
    if ('index' in key) {
      if (Number.isSafeInteger(key.index) && key.index >= 0 && key.index < count) found = await lineAt(key.index);
    } else {
      let lo = 0;
      let hi = count;
      while (lo < hi && !found) {
        const mid = (lo + hi) >>> 1;
        const line = await lineAt(mid);
        const c = compareWalkOrder((line.file as { path: string }).path, key.path);
        if (c === 0) found = line;
        else if (c < 0) lo = mid + 1;
        else hi = mid;
      }
    }
    if (!found) throw new AnchoringError('ARCHIVE_ENTRY_NOT_FOUND', 'No file with this path or index is in the archive.');
    return parseArchiveReceipt(manifest.logReceipt ? { ...found, logReceipt: manifest.logReceipt } : found);
  } finally {
    await Promise.allSettled([receipts.close(), index.close()]);
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
 * Verifies every receipt of an archive against the files of `source` (e.g. a restored copy),
 * each one independently with {@link verifyArchiveReceipt}. Meant for the CLI and tests: it reads
 * files synchronously (yielding to the event loop between batches).
 */
export async function verifyArchiveFolder(source: string, out: string, options?: VerifyOptions): Promise<ArchiveFolderCheck> {
  const manifest = await readArchiveManifest(out);
  const lines = createInterface({ input: createReadStream(path.join(out, ARCHIVE_FILES.receipts)), crlfDelay: Infinity });
  let verified = 0;
  let failed = 0;
  let anchored = 0;
  const failures: { path: string; reasons: readonly string[] }[] = [];
  for await (const line of lines) {
    const receipt = JSON.parse(line) as Record<string, unknown>;
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
    if ((verified + failed) % 1024 === 0) await yieldToLoop();
  }
  return { verified, failed, failures, anchored };
}

/**
 * Compares two archive paths in walk order: segment by segment, JavaScript string order.
 * Negative, zero or positive as `a` comes before, with or after `b`.
 */
export function compareWalkOrder(a: string, b: string): number {
  const as = a.split('/');
  const bs = b.split('/');
  for (let i = 0; i < Math.min(as.length, bs.length); i++) {
    if (as[i] !== bs[i]) return as[i]! < bs[i]! ? -1 : 1;
  }
  return as.length - bs.length;
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
  const paths = openWriteStream(path.join(out, ARCHIVE_FILES.pathsTemp), 1 << 20);
  const docHashes = new FlatHashes(expected);
  const leafHashes = new FlatHashes(expected);
  let count = 0;
  let skipped = 0;
  let failure: unknown;
  const inFlight = new Set<Promise<void>>();

  const dispatch = (start: number, batch: string[]): void => {
    const job = pool.hash(root, batch).then(
      ({ hashes, sizes }) => {
        docHashes.ensure(start + batch.length);
        leafHashes.ensure(start + batch.length);
        docHashes.bytes.set(hashes, start * HASH_SIZE);
        const hex = Buffer.from(hashes.buffer, hashes.byteOffset, hashes.length).toString('hex');
        let bytes = 0;
        for (let i = 0; i < batch.length; i++) {
          const leaf = encodeArchiveLeaf({ path: batch[i]!, docHash: hex.slice(i * 64, i * 64 + 64) });
          leafHashes.bytes.set(nodeHasher.hashLeaf(leaf), (start + i) * HASH_SIZE);
          bytes += sizes[i]!;
        }
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
      // The temporary file keeps paths in leaf order, so receipts need not hold them all in memory.
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
    await fs.rm(path.join(out, ARCHIVE_FILES.pathsTemp), { force: true });
    throw err instanceof AnchoringError ? err : new AnchoringError('ARCHIVE_WRITE_FAILED', 'Hashing the archive failed.', { cause: err });
  } finally {
    await pool.close();
  }
  return { count, totalBytes: progress.bytesHashed, skipped, docHashes: docHashes.bytes, leafHashes: leafHashes.bytes };
}

async function writeReceipts(
  out: string,
  tree: MerkleTree,
  docHashes: Uint8Array,
  rootHex: string,
  progress: ProgressReporter,
): Promise<{ bytes: number; proofsMs: number }> {
  const n = tree.size;
  const receiptsFile = path.join(out, ARCHIVE_FILES.receipts);
  const stream = openWriteStream(receiptsFile, 4 << 20);
  const offsets = new BigUint64Array(n + 1);
  const pathLines = createInterface({ input: createReadStream(path.join(out, ARCHIVE_FILES.pathsTemp)), crlfDelay: Infinity })[
    Symbol.asyncIterator
  ]();
  let bytes = 0;
  let proofsMs = 0;
  const tail = `,"archiveRoot":"${rootHex}"}\n`;
  try {
    for (let start = 0; start < n; start += RECEIPT_BATCH) {
      const end = Math.min(n, start + RECEIPT_BATCH);
      const t = performance.now();
      const batch = tree.inclusionProofBatch(start, end, n);
      proofsMs += performance.now() - t;
      // One hex conversion per batch; receipts slice it (much cheaper than per-hash encoding).
      const proofHex = Buffer.from(batch.proofs.buffer, batch.proofs.byteOffset, batch.proofs.length).toString('hex');
      const docHex = Buffer.from(docHashes.buffer, docHashes.byteOffset + start * HASH_SIZE, (end - start) * HASH_SIZE).toString('hex');
      let chunk = '';
      for (let i = start; i < end; i++) {
        const j = i - start;
        const next = await pathLines.next();
        if (next.done) throw new Error('the temporary path list ended early');
        const pathJson = next.value; // already a JSON string literal
        let proof = '';
        for (let o = batch.offsets[j]!; o < batch.offsets[j + 1]!; o += HASH_SIZE) {
          proof += proof === '' ? `"${proofHex.slice(o * 2, o * 2 + 64)}"` : `,"${proofHex.slice(o * 2, o * 2 + 64)}"`;
        }
        const line =
          `{"version":${ARCHIVE_RECEIPT_VERSION},"kind":"${ARCHIVE_RECEIPT_KIND}","file":{"path":${pathJson},` +
          `"docHash":"${docHex.slice(j * 64, j * 64 + 64)}"},"leafIndex":${i},"treeSize":${n},"inclusionProof":[${proof}]${tail}`;
        offsets[i] = BigInt(bytes);
        bytes += Buffer.byteLength(line, 'utf8');
        chunk += line;
      }
      if (!stream.write(chunk)) await drained(stream);
      progress.receipts(end);
    }
    offsets[n] = BigInt(bytes);
    await endStream(stream);
    const index = await fs.open(path.join(out, ARCHIVE_FILES.index), 'w');
    try {
      await index.writeFile(new Uint8Array(offsets.buffer));
      await index.sync();
    } finally {
      await index.close();
    }
    const receipts = await fs.open(receiptsFile, 'r');
    try {
      await receipts.sync();
    } finally {
      await receipts.close();
    }
    await syncDirectory(out);
  } catch (err) {
    stream.destroy();
    throw new AnchoringError('ARCHIVE_WRITE_FAILED', `Writing the receipts to ${out} failed.`, { cause: err });
  } finally {
    await pathLines.return?.();
  }
  return { bytes, proofsMs };
}

async function writeManifest(out: string, manifest: ArchiveManifest): Promise<void> {
  try {
    await writeFileAtomic(path.join(out, ARCHIVE_FILES.manifest), `${JSON.stringify(manifest, null, 2)}\n`, 0o644);
  } catch (err) {
    throw new AnchoringError('ARCHIVE_WRITE_FAILED', `Writing ${ARCHIVE_FILES.manifest} to ${out} failed.`, { cause: err });
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
