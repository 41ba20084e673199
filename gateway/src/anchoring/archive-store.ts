/**
 * An archive's receipts on disk (Node only): the compact form of `archive-build.ts` — the tree's
 * levels once, each file's SHA-256 and path — from which any file's self-contained receipt is
 * read back in a few small reads.
 *
 * The folder (it must be new or empty):
 *
 * | file | what |
 * |---|---|
 * | `archive.json` | the manifest: root, counts, the ledger anchor and log receipt once known; written last, so a folder with it is complete |
 * | `tree.bin` | every level of the tree, leaves first, 32 bytes per node (≈ 64 MB per million files) |
 * | `files.bin` | each file's SHA-256, 32 bytes per file, in leaf order |
 * | `paths.ndjson` | each file's path as a JSON string literal, one per line, in leaf order |
 * | `paths.idx` | `n + 1` little-endian uint32 byte offsets of those lines |
 *
 * Measured by `npm run bench:archive` (a million files): writing this is a few hundred MB/s of
 * sequential writes, against ~1.7 GB of JSON for a million stand-alone receipts. A receipt read
 * back is checked against the manifest's root before it is returned, so a damaged store gives an
 * error, never a receipt that does not verify.
 *
 * @module
 */
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import * as path from 'node:path';
import { syncDirectory, writeFileAtomic } from '../storage/durable-file';
import { verifyInclusion } from '../merkle';
import { nodeHasher } from '../merkle/node-hasher';
import { archiveReceiptJson, levelLayout, type ArchiveLevels, type EncodedPaths } from './archive-build';
import {
  archiveAnchorReasons,
  encodeArchiveLeaf,
  parseArchiveLedgerAnchor,
  parseArchiveReceipt,
  type ArchiveLedgerAnchor,
  type ArchiveReceipt,
  type LedgerArchive,
} from './archive-receipt';
import { AnchoringError } from './errors';
import { parseReceipt, verifyReceipt, type Receipt } from './receipt';

const HASH_SIZE = 32;
const MANIFEST_FORMAT = 'medprov-archive';
const MANIFEST_VERSION = 2;

/** File names inside an archive's receipts folder. */
export const ARCHIVE_FILES = Object.freeze({
  manifest: 'archive.json',
  tree: 'tree.bin',
  files: 'files.bin',
  paths: 'paths.ndjson',
  pathIndex: 'paths.idx',
});

/** The manifest `archive.json`. */
export interface ArchiveManifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly version: typeof MANIFEST_VERSION;
  /** Base name of the archived folder (no full path), or the caller's name for an in-memory archive. */
  readonly name: string;
  readonly createdAt: string;
  readonly root: string;
  readonly fileCount: number;
  readonly totalBytes: number;
  /** Entries of the folder left out (symbolic links, sockets, devices). */
  readonly skipped: number;
  /** `walk`: paths in walk order (found by binary search); `given`: in the caller's order. */
  readonly pathOrder: 'walk' | 'given';
  /** The ledger transaction that anchored the root, once it has. */
  readonly anchor: ArchiveLedgerAnchor | null;
  /** The anchor log's receipt of the root, once attached. */
  readonly logReceipt: Receipt | null;
}

/** What the store is written from. */
export interface StoreContent {
  readonly levels: ArchiveLevels;
  readonly docHashes: Uint8Array;
  readonly paths: EncodedPaths;
  readonly rootHex: string;
}

/** Manifest fields the writer does not derive. */
export type StoreMeta = Pick<ArchiveManifest, 'name' | 'createdAt' | 'totalBytes' | 'skipped' | 'pathOrder'>;

/** Sizes written, bytes. */
export interface StoreWritten {
  readonly bytes: number;
  /** Time spent in fsync, ms (included in the caller's total). */
  readonly syncMs: number;
}

/**
 * Writes the store into `out` (which must exist and be empty), fsyncs every file and the folder,
 * and writes the manifest last.
 *
 * @throws AnchoringError ARCHIVE_WRITE_FAILED
 */
export async function writeArchiveStore(out: string, content: StoreContent, meta: StoreMeta, options: { sync?: boolean } = {}): Promise<StoreWritten> {
  const { levels, docHashes, paths } = content;
  const n = levels.size;
  if (docHashes.length < n * HASH_SIZE || paths.count !== n) throw new AnchoringError('INVALID_ARGUMENT', 'The store needs one SHA-256 and one path per leaf.');
  const sync = options.sync ?? true;
  let syncMs = 0;
  let bytes = 0;
  const put = async (name: string, data: Uint8Array): Promise<void> => {
    const handle = await fs.open(path.join(out, name), 'wx', 0o644);
    try {
      // writeFile loops until every byte is written (a single write may be short for large buffers).
      await handle.writeFile(data);
      if (sync) {
        const t = performance.now();
        await handle.sync();
        syncMs += performance.now() - t;
      }
    } finally {
      await handle.close();
    }
    bytes += data.length;
  };
  try {
    await Promise.all([
      put(ARCHIVE_FILES.tree, levels.nodes),
      put(ARCHIVE_FILES.files, docHashes.subarray(0, n * HASH_SIZE)),
      put(ARCHIVE_FILES.paths, paths.blob),
      put(ARCHIVE_FILES.pathIndex, littleEndian(paths.offsets)),
    ]);
    const manifest: ArchiveManifest = {
      format: MANIFEST_FORMAT,
      version: MANIFEST_VERSION,
      ...meta,
      root: content.rootHex,
      fileCount: n,
      anchor: null,
      logReceipt: null,
    };
    await writeManifest(out, manifest);
    if (sync) {
      const t = performance.now();
      await syncDirectory(out);
      syncMs += performance.now() - t;
    }
  } catch (err) {
    if (err instanceof AnchoringError) throw err;
    throw new AnchoringError('ARCHIVE_WRITE_FAILED', `Writing the archive's receipts to ${out} failed (${(err as NodeJS.ErrnoException).code ?? 'error'}).`, { cause: err });
  }
  return { bytes, syncMs };
}

function littleEndian(offsets: Uint32Array): Uint8Array {
  const bytes = new Uint8Array(offsets.buffer, offsets.byteOffset, offsets.byteLength);
  if (endianness() === 'LE') return bytes;
  const copy = Buffer.from(bytes);
  copy.swap32();
  return copy;
}

async function writeManifest(out: string, manifest: ArchiveManifest): Promise<void> {
  try {
    await writeFileAtomic(path.join(out, ARCHIVE_FILES.manifest), `${JSON.stringify(manifest, null, 2)}\n`, 0o644);
  } catch (err) {
    throw new AnchoringError('ARCHIVE_WRITE_FAILED', `Writing ${ARCHIVE_FILES.manifest} to ${out} failed.`, { cause: err });
  }
}

/**
 * Reads `archive.json` of an archive's receipts folder.
 *
 * @throws AnchoringError ARCHIVE_ENTRY_NOT_FOUND when there is none, or it is not a version-2 manifest
 */
export async function readArchiveManifest(out: string): Promise<ArchiveManifest> {
  let manifest: ArchiveManifest;
  try {
    manifest = JSON.parse(await fs.readFile(path.join(out, ARCHIVE_FILES.manifest), 'utf8')) as ArchiveManifest;
  } catch (err) {
    throw new AnchoringError('ARCHIVE_ENTRY_NOT_FOUND', `There is no readable ${ARCHIVE_FILES.manifest} in ${out}.`, { cause: err });
  }
  if (manifest?.format !== MANIFEST_FORMAT || manifest.version !== MANIFEST_VERSION) {
    throw new AnchoringError(
      'ARCHIVE_ENTRY_NOT_FOUND',
      `${ARCHIVE_FILES.manifest} in ${out} is not a medprov archive manifest of version ${MANIFEST_VERSION} (an archive of version 1 keeps its receipts as JSON lines in receipts.ndjson).`,
    );
  }
  return manifest;
}

/**
 * Records the ledger transaction that anchored the archive's root: every receipt read afterwards
 * names it.
 *
 * @throws AnchoringError INVALID_ARGUMENT for a malformed anchor, ARCHIVE_WRITE_FAILED
 */
export async function setArchiveAnchor(out: string, anchor: ArchiveLedgerAnchor): Promise<ArchiveManifest> {
  const manifest = await readArchiveManifest(out);
  let checked: ArchiveLedgerAnchor;
  try {
    checked = parseArchiveLedgerAnchor('anchor', anchor);
  } catch (err) {
    throw new AnchoringError('INVALID_ARGUMENT', (err as Error).message, { cause: err });
  }
  const next = { ...manifest, anchor: checked };
  await writeManifest(out, next);
  return next;
}

/**
 * Adds the anchor log's receipt of the archive root's anchor to the archive. Every receipt read
 * afterwards carries it.
 *
 * @throws AnchoringError INVALID_ARGUMENT when the log receipt is for another document or does not verify
 */
export async function attachLogReceipt(out: string, logReceipt: Receipt): Promise<void> {
  const manifest = await readArchiveManifest(out);
  const receipt = parseReceipt(logReceipt);
  if (receipt.leaf.docHash !== manifest.root) {
    throw new AnchoringError('INVALID_ARGUMENT', "The log receipt anchors another document than this archive's root.");
  }
  const check = verifyReceipt(receipt);
  if (!check.valid) throw new AnchoringError('INVALID_ARGUMENT', `The log receipt does not verify: ${check.reasons.join(' ')}`);
  await writeManifest(out, { ...manifest, logReceipt: receipt });
}

/** A whole store in memory (for checking every receipt, or exporting them all). */
export interface LoadedArchive extends StoreContent {
  readonly manifest: ArchiveManifest;
}

/**
 * Reads a whole store into memory (≈ 135 MB for a million files).
 *
 * @throws AnchoringError ARCHIVE_ENTRY_NOT_FOUND when the folder is not a complete archive
 */
export async function loadArchiveStore(out: string): Promise<LoadedArchive> {
  const store = await ArchiveStore.open(out);
  await store.close();
  const { manifest } = store;
  const read = (name: string): Promise<Buffer> => fs.readFile(path.join(out, name));
  const [tree, files, blob, index] = await Promise.all([read(ARCHIVE_FILES.tree), read(ARCHIVE_FILES.files), read(ARCHIVE_FILES.paths), read(ARCHIVE_FILES.pathIndex)]);
  if (endianness() !== 'LE') index.swap32();
  const offsets = new Uint32Array(manifest.fileCount + 1);
  new Uint8Array(offsets.buffer).set(index);
  if (offsets[manifest.fileCount] !== blob.length) throw new AnchoringError('ARCHIVE_READ_FAILED', `The archive store in ${out} is damaged: its path index does not match its paths.`);
  const { levelStart, levelCount } = levelLayout(manifest.fileCount);
  return {
    manifest,
    rootHex: manifest.root,
    levels: { size: manifest.fileCount, nodes: new Uint8Array(tree.buffer, tree.byteOffset, tree.length), levelStart, levelCount },
    docHashes: new Uint8Array(files.buffer, files.byteOffset, files.length),
    paths: { count: manifest.fileCount, blob: new Uint8Array(blob.buffer, blob.byteOffset, blob.length), offsets },
  };
}

/** Which file: by leaf index, or by path. */
export type ArchiveEntryKey = { readonly index: number } | { readonly path: string };

/**
 * Reads receipts from an archive's receipts folder with a few positioned reads each (the folder
 * is never loaded whole). Open, read, close.
 */
export class ArchiveStore {
  private constructor(
    readonly out: string,
    readonly manifest: ArchiveManifest,
    private readonly levelStart: readonly number[],
    private readonly levelCount: readonly number[],
    private readonly tree: FileHandle,
    private readonly files: FileHandle,
    private readonly paths: FileHandle,
    private readonly pathIndex: FileHandle,
  ) {}

  /** @throws AnchoringError ARCHIVE_ENTRY_NOT_FOUND when the folder is not a complete archive */
  static async open(out: string): Promise<ArchiveStore> {
    const manifest = await readArchiveManifest(out);
    const { levelStart: starts, levelCount: counts, total } = levelLayout(manifest.fileCount);
    const handles: FileHandle[] = [];
    try {
      for (const name of [ARCHIVE_FILES.tree, ARCHIVE_FILES.files, ARCHIVE_FILES.paths, ARCHIVE_FILES.pathIndex]) handles.push(await fs.open(path.join(out, name), 'r'));
      const [tree, files, paths, pathIndex] = handles as [FileHandle, FileHandle, FileHandle, FileHandle];
      const sizes = await Promise.all([tree.stat(), files.stat(), pathIndex.stat()]);
      if (sizes[0].size !== total * HASH_SIZE || sizes[1].size !== manifest.fileCount * HASH_SIZE || sizes[2].size !== (manifest.fileCount + 1) * 4) {
        throw new Error('a file of the store has the wrong size');
      }
      return new ArchiveStore(out, manifest, starts, counts, tree, files, paths, pathIndex);
    } catch (err) {
      await Promise.allSettled(handles.map((h) => h.close()));
      throw new AnchoringError('ARCHIVE_ENTRY_NOT_FOUND', `${out} does not hold a complete archive store (${(err as Error).message}).`, { cause: err });
    }
  }

  get size(): number {
    return this.manifest.fileCount;
  }

  /**
   * The self-contained receipt of one file (with the ledger anchor and log receipt when the
   * manifest has them), checked against the root before it is returned.
   *
   * @throws AnchoringError ARCHIVE_ENTRY_NOT_FOUND (no such file), ARCHIVE_READ_FAILED (the store is damaged)
   */
  async receipt(key: ArchiveEntryKey): Promise<ArchiveReceipt> {
    const index = 'index' in key ? (Number.isSafeInteger(key.index) && key.index >= 0 && key.index < this.size ? key.index : -1) : await this.find(key.path);
    if (index < 0) throw new AnchoringError('ARCHIVE_ENTRY_NOT_FOUND', 'No file with this path or index is in the archive.');
    const [pathJson, doc, proof] = await Promise.all([this.pathLiteral(index), this.read(this.files, index * HASH_SIZE, HASH_SIZE), this.proof(index)]);
    const json = archiveReceiptJson({
      index,
      treeSize: this.size,
      pathJson,
      docHashHex: Buffer.from(doc).toString('hex'),
      proof,
      rootHex: this.manifest.root,
      anchor: this.manifest.anchor,
    });
    const receipt = parseArchiveReceipt(this.manifest.logReceipt ? { ...(JSON.parse(json) as object), logReceipt: this.manifest.logReceipt } : json);
    const leaf = nodeHasher.hashLeaf(encodeArchiveLeaf(receipt.file));
    if (!verifyInclusion(leaf, index, this.size, proof, Buffer.from(this.manifest.root, 'hex'), nodeHasher)) {
      throw new AnchoringError('ARCHIVE_READ_FAILED', `The archive store in ${this.out} is damaged: the receipt of leaf ${index} does not lead to its root.`);
    }
    return receipt;
  }

  /** Compares the store with what the ledger holds for its anchor (see {@link archiveAnchorReasons}). */
  async ledgerReasons(ledger: LedgerArchive | null): Promise<string[]> {
    return archiveAnchorReasons(await this.receipt({ index: 0 }), ledger);
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.tree.close(), this.files.close(), this.paths.close(), this.pathIndex.close()]);
  }

  /** The inclusion proof of leaf `index`: one 32-byte read per level where it has a sibling. */
  private async proof(index: number): Promise<Uint8Array> {
    const reads: Promise<Uint8Array>[] = [];
    for (let k = 0, j = index; k < this.levelCount.length - 1; k++, j >>>= 1) {
      const sibling = j ^ 1;
      if (sibling < this.levelCount[k]!) reads.push(this.read(this.tree, (this.levelStart[k]! + sibling) * HASH_SIZE, HASH_SIZE));
    }
    return Buffer.concat(await Promise.all(reads));
  }

  private async pathLiteral(index: number): Promise<string> {
    const pair = await this.read(this.pathIndex, index * 4, 8);
    const view = new DataView(pair.buffer, pair.byteOffset, 8);
    const start = view.getUint32(0, true);
    const end = view.getUint32(4, true) - 1;
    if (!(end > start)) throw new AnchoringError('ARCHIVE_READ_FAILED', `The archive store in ${this.out} is damaged: bad path offsets.`);
    return Buffer.from(await this.read(this.paths, start, end - start)).toString('utf8');
  }

  /** Leaf index of `wanted`: binary search in walk order, or a scan for paths in the caller's order. */
  private async find(wanted: string): Promise<number> {
    if (this.manifest.pathOrder === 'given') {
      const all = (await this.paths.readFile({ encoding: 'utf8' })).split('\n');
      const literal = JSON.stringify(wanted);
      return all.indexOf(literal);
    }
    let lo = 0;
    let hi = this.size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = compareWalkOrder(JSON.parse(await this.pathLiteral(mid)) as string, wanted);
      if (c === 0) return mid;
      if (c < 0) lo = mid + 1;
      else hi = mid;
    }
    return -1;
  }

  private async read(handle: FileHandle, position: number, length: number): Promise<Uint8Array> {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buf, 0, length, position);
    if (bytesRead !== length) throw new AnchoringError('ARCHIVE_READ_FAILED', `The archive store in ${this.out} is damaged: a file is shorter than its manifest says.`);
    return buf;
  }
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
