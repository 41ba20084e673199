/**
 * The archive in memory (Node only): every file's SHA-256 and archive leaf hash, the tree's
 * levels, the root, and any file's receipt from them. `archive.ts` feeds it from a folder,
 * `scripts/bench/archive.ts` from contents generated in memory; `archive-store.ts` writes it to
 * disk and reads receipts back.
 *
 * Why levels and not a receipt per file: a receipt needs the file's path and SHA-256, its leaf
 * index, the tree size, the root and its ~log2(n) sibling hashes. Written out per file that is
 * ~1.7 KB of JSON (1.7 GB for a million files, most of it the same upper-level hashes again and
 * again); the siblings of every file are all in the tree's levels, 2n hashes in total. So the
 * archive keeps the levels once (64 MB for a million files), the SHA-256 and path of each file,
 * and any file's self-contained receipt is assembled from them in microseconds, by
 * {@link receiptFromLevels}: same JSON, same offline verifier.
 *
 * Levels: level 0 holds the n leaf hashes; level k+1 pairs the nodes of level k and promotes a
 * last odd node unchanged. That is exactly RFC 6962's tree (its split at the largest power of two
 * below n gives the same nodes), so the root is the RFC root and a file's inclusion proof is the
 * sibling at each level where it has one, leaf side first.
 *
 * Hashing: one pass per file computes its SHA-256 and its leaf hash (SHA-256 of 0x00 ‖
 * `{"docHash":"…","path":…}`) with `node:crypto`'s one-shot `crypto.hash`, on worker threads
 * over shared memory, the calling thread free. The code that runs in the threads is plain
 * JavaScript in {@link HASH_CODE} (no transpiler in between) and the calling thread runs the same
 * code when asked for no threads.
 *
 * @module
 */
import * as crypto from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { MAX_TREE_SIZE } from '../merkle';
import type { MerkleHasher } from '../merkle/hasher';
import { createNodeHasher, nodeHasher } from '../merkle/node-hasher';
import { ARCHIVE_RECEIPT_KIND, ARCHIVE_RECEIPT_VERSION, MAX_ARCHIVE_PATH, validateArchivePath, type ArchiveLedgerAnchor } from './archive-receipt';
import { AnchoringError } from './errors';

const HASH_SIZE = 32;
/** Files per piece of work handed to a thread (threads pull pieces, so a slow one does fewer). */
const PIECE = 8192;

/**
 * Per-file hashing as plain JavaScript, for worker threads and the calling thread alike.
 * `makeArchiveHasher(crypto)` returns:
 * - `leafInto(doc, docAt, pathJson, out, outAt)`: the archive leaf hash of (docHash, path) into
 *   `out[outAt..+32)`, where `pathJson` is the path as a JSON string literal in UTF-8;
 * - `hashRange(data, cOff, paths, pOff, doc, leaf, start, end)`: for files `start..end-1`, the
 *   SHA-256 of `data[cOff[i], cOff[i+1])` into `doc` and the leaf hash into `leaf` (32 bytes per
 *   file), the path literal of file i being `paths[pOff[i], pOff[i+1] - 1)`.
 */
export const HASH_CODE = `
function makeArchiveHasher(crypto) {
  'use strict';
  const oneShot = typeof crypto.hash === 'function';
  const HEX = new Uint8Array(512);
  const digits = '0123456789abcdef';
  for (let i = 0; i < 256; i++) { HEX[2 * i] = digits.charCodeAt(i >> 4); HEX[2 * i + 1] = digits.charCodeAt(i & 15); }
  // 0x00 ‖ {"docHash":"<64 hex>","path":<literal>}
  const HEAD = '\\u0000{"docHash":"';
  const MID = '","path":';
  const PATH_AT = HEAD.length + 64 + MID.length;
  let scratch = new Uint8Array(PATH_AT + 8192);
  const writeAscii = (s, at) => { for (let j = 0; j < s.length; j++) scratch[at + j] = s.charCodeAt(j); };
  writeAscii(HEAD, 0);
  writeAscii(MID, HEAD.length + 64);
  const digestInto = (msg, out, at) => {
    if (oneShot) {
      const s = crypto.hash('sha256', msg, 'binary');
      for (let j = 0; j < 32; j++) out[at + j] = s.charCodeAt(j);
    } else {
      out.set(crypto.createHash('sha256').update(msg).digest(), at);
    }
  };
  const leafInto = (doc, docAt, pathJson, out, outAt) => {
    const end = PATH_AT + pathJson.length + 1;
    if (end > scratch.length) {
      const grown = new Uint8Array(end * 2);
      grown.set(scratch.subarray(0, PATH_AT));
      scratch = grown;
    }
    for (let j = 0, o = HEAD.length; j < 32; j++, o += 2) {
      const b = doc[docAt + j] * 2;
      scratch[o] = HEX[b];
      scratch[o + 1] = HEX[b + 1];
    }
    scratch.set(pathJson, PATH_AT);
    scratch[end - 1] = 0x7d;
    digestInto(scratch.subarray(0, end), out, outAt);
  };
  const hashRange = (data, cOff, paths, pOff, doc, leaf, start, end) => {
    for (let i = start; i < end; i++) {
      digestInto(data.subarray(cOff[i], cOff[i + 1]), doc, i * 32);
      leafInto(doc, i * 32, paths.subarray(pOff[i], pOff[i + 1] - 1), leaf, i * 32);
    }
  };
  return { digestInto, leafInto, hashRange };
}
`;

/** The per-file hashing functions of {@link HASH_CODE}, typed. */
export interface ArchiveHasherCode {
  digestInto(msg: Uint8Array, out: Uint8Array, at: number): void;
  leafInto(doc: Uint8Array, docAt: number, pathJson: Uint8Array, out: Uint8Array, outAt: number): void;
  hashRange(data: Uint8Array, cOff: ArrayLike<number>, paths: Uint8Array, pOff: ArrayLike<number>, doc: Uint8Array, leaf: Uint8Array, start: number, end: number): void;
}

/** {@link HASH_CODE} instantiated in this thread. */
export function archiveHasherCode(): ArchiveHasherCode {
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return new Function('crypto', `${HASH_CODE}\nreturn makeArchiveHasher(crypto);`)(crypto) as ArchiveHasherCode;
}

/** Paths as JSON string literals in UTF-8, one per line (the form leaves and the store use). */
export interface EncodedPaths {
  readonly count: number;
  /** Literal i is `blob[offsets[i], offsets[i+1] - 1)`; each is followed by `\n`. */
  readonly blob: Uint8Array;
  readonly offsets: Uint32Array;
}

// Anything JSON.stringify escapes (but the newline that joins the paths here) and anything an
// archive path must be checked for more closely: such paths take the path-by-path way.
const NEEDS_CARE = /["\\\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\ud800-\udfff\ufffd]/;
// An empty, "." or ".." segment, the paths being joined by newlines.
const BAD_SEGMENT = /(?:^|[/\n])\.{0,2}(?=[/\n]|$)/;

/**
 * Validates every path ({@link validateArchivePath}) and encodes them all at once: when no path
 * needs an escape or a closer look (the usual case), one join, two regular expressions and one
 * UTF-8 encoding for the whole list; otherwise path by path.
 *
 * @param shared - put the result in SharedArrayBuffers (for {@link hashContents}' threads)
 * @throws AnchoringError ARCHIVE_PATH_INVALID naming the first bad path
 */
export function encodePaths(paths: readonly string[], shared = false): EncodedPaths {
  const n = paths.length;
  let plain = true;
  for (let i = 0; i < n && plain; i++) {
    const p = paths[i];
    plain = typeof p === 'string' && p.length > 0 && p.length <= MAX_ARCHIVE_PATH;
  }
  if (plain) {
    const joined = paths.join('\n');
    if (!NEEDS_CARE.test(joined) && !BAD_SEGMENT.test(joined)) {
      // Each line becomes "line"; a path holding a newline itself shows up as a line too many.
      const quoted = quoteLines(Buffer.from(joined, 'utf8'), n, shared);
      if (quoted) return quoted;
    }
  }
  const literals = new Array<string>(n);
  for (let i = 0; i < n; i++) literals[i] = JSON.stringify(validateArchivePath(paths[i]!));
  const text = Buffer.from(`${literals.join('\n')}\n`, 'utf8');
  const offsets = alloc(Uint32Array, n + 1, shared);
  // A JSON literal never holds a raw newline, so every 0x0a ends one.
  for (let i = 0, k = 1; i < text.length; i++) if (text[i] === 0x0a) offsets[k++] = i + 1;
  const blob = alloc(Uint8Array, text.length, shared);
  blob.set(text);
  return { count: n, blob, offsets };
}

/** `n` newline-separated lines as `"line"\n` each, with offsets; undefined when there are not exactly `n` lines. */
function quoteLines(raw: Uint8Array, n: number, shared: boolean): EncodedPaths | undefined {
  const blob = alloc(Uint8Array, raw.length + 1 + 2 * n, shared);
  const offsets = alloc(Uint32Array, n + 1, shared);
  let o = 0;
  let k = 1;
  blob[o++] = 0x22;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i]!;
    if (b === 0x0a) {
      if (k >= n) return undefined;
      blob[o++] = 0x22;
      blob[o++] = 0x0a;
      offsets[k++] = o;
      blob[o++] = 0x22;
    } else {
      blob[o++] = b;
    }
  }
  if (k !== n) return undefined;
  blob[o++] = 0x22;
  blob[o++] = 0x0a;
  offsets[n] = o;
  return { count: n, blob, offsets };
}

function alloc<T extends Uint8Array | Uint32Array>(Ctor: { new (length: number): T; new (buffer: SharedArrayBuffer): T; BYTES_PER_ELEMENT: number }, length: number, shared: boolean): T {
  return shared ? new Ctor(new SharedArrayBuffer(length * Ctor.BYTES_PER_ELEMENT)) : new Ctor(length);
}

/** Contents of many files in one buffer: file i is `data[offsets[i], offsets[i+1])`. */
export interface FileContents {
  readonly data: Uint8Array;
  readonly offsets: Float64Array | Uint32Array;
}

/** Every file's SHA-256 and archive leaf hash, 32 bytes per file each. */
export interface FileHashes {
  readonly docHashes: Uint8Array;
  readonly leafHashes: Uint8Array;
}

/** The tree of an archive as levels (see the module comment). */
export interface ArchiveLevels {
  /** Number of leaves. */
  readonly size: number;
  /** All levels back to back, level 0 (the leaf hashes) first, 32 bytes per node. */
  readonly nodes: Uint8Array;
  /** Node index in `nodes` where level k starts. */
  readonly levelStart: readonly number[];
  /** Nodes of level k. */
  readonly levelCount: readonly number[];
}

/** Node counts of the levels of a tree of `n` leaves, leaves first, the root's level last. */
export function levelCounts(n: number): number[] {
  const counts = [n];
  while (counts[counts.length - 1]! > 1) counts.push(Math.ceil(counts[counts.length - 1]! / 2));
  return counts;
}

/** Where each level of a tree of `n` leaves starts in the flat node array, and the nodes in all. */
export function levelLayout(n: number): { levelStart: number[]; levelCount: number[]; total: number } {
  const levelCount = levelCounts(n);
  const levelStart: number[] = [];
  let total = 0;
  for (const c of levelCount) {
    levelStart.push(total);
    total += c;
  }
  return { levelStart, levelCount, total };
}

/** Memory for the levels of a tree of `n` leaves; level 0 is filled in by the caller. */
export function allocateLevels(n: number, shared = false): ArchiveLevels {
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_TREE_SIZE) throw new AnchoringError('INVALID_ARGUMENT', `An archive holds 1 to ${MAX_TREE_SIZE} files.`);
  const { levelStart, levelCount, total } = levelLayout(n);
  const bytes = total * HASH_SIZE;
  const nodes = shared ? new Uint8Array(new SharedArrayBuffer(bytes)) : new Uint8Array(bytes);
  return { size: n, nodes, levelStart, levelCount };
}

/** The leaf hashes of the levels (level 0), a view. */
export function leafLevel(levels: ArchiveLevels): Uint8Array {
  return levels.nodes.subarray(0, levels.size * HASH_SIZE);
}

/**
 * Hashes levels 1 and up from level 0 with `hasher` (one bulk call per level; a hasher with
 * worker threads shares the large ones).
 */
export function buildLevels(levels: ArchiveLevels, hasher: MerkleHasher = nodeHasher): void {
  const { nodes, levelStart, levelCount } = levels;
  for (let k = 1; k < levelCount.length; k++) {
    const below = levelCount[k - 1]!;
    const pairs = below >>> 1;
    const from = levelStart[k - 1]! * HASH_SIZE;
    const to = levelStart[k]! * HASH_SIZE;
    hasher.hashChildrenBulk(nodes, from, nodes, to, pairs);
    if (below & 1) nodes.copyWithin(to + pairs * HASH_SIZE, from + (below - 1) * HASH_SIZE, from + below * HASH_SIZE);
  }
}

/** The root: the single node of the last level (a copy). */
export function levelsRoot(levels: ArchiveLevels): Uint8Array {
  const at = levels.levelStart[levels.levelStart.length - 1]! * HASH_SIZE;
  return levels.nodes.slice(at, at + HASH_SIZE);
}

/**
 * Inclusion proof of leaf `index` (RFC 9162 order, leaf side first) as one flat array, read from
 * the levels: the sibling at each level where the path has one.
 */
export function proofFromLevels(levels: ArchiveLevels, index: number): Uint8Array {
  if (!Number.isSafeInteger(index) || index < 0 || index >= levels.size) throw new RangeError(`leaf ${index} is not in the archive`);
  const { nodes, levelStart, levelCount } = levels;
  const out = new Uint8Array((levelCount.length - 1) * HASH_SIZE);
  let o = 0;
  for (let k = 0, j = index; k < levelCount.length - 1; k++, j >>>= 1) {
    const sibling = j ^ 1;
    if (sibling >= levelCount[k]!) continue;
    const at = (levelStart[k]! + sibling) * HASH_SIZE;
    out.set(nodes.subarray(at, at + HASH_SIZE), o);
    o += HASH_SIZE;
  }
  return out.subarray(0, o);
}

/** What a file's receipt is made of. */
export interface ReceiptParts {
  readonly index: number;
  readonly treeSize: number;
  /** The path as its JSON string literal. */
  readonly pathJson: string;
  /** The file's SHA-256, 64 hex. */
  readonly docHashHex: string;
  /** The inclusion proof, flat (32 bytes per hash, leaf side first). */
  readonly proof: Uint8Array;
  readonly rootHex: string;
  readonly anchor?: ArchiveLedgerAnchor | null;
}

/**
 * The JSON text of a file's archive receipt (version 1, without the log receipt): what
 * `verifyArchiveReceipt` checks. Written by hand, in the order of the format's description.
 */
export function archiveReceiptJson(parts: ReceiptParts): string {
  const proof = Buffer.from(parts.proof.buffer, parts.proof.byteOffset, parts.proof.length).toString('hex');
  let list = '';
  for (let o = 0; o < proof.length; o += 64) list += o === 0 ? `"${proof.slice(o, o + 64)}"` : `,"${proof.slice(o, o + 64)}"`;
  const a = parts.anchor;
  const anchor = a
    ? `,"anchor":{"issuer":${JSON.stringify(a.issuer)},"archiveId":${JSON.stringify(a.archiveId)},"txId":"${a.txId}","blockNumber":"${a.blockNumber}","anchoredAt":"${a.anchoredAt}"}`
    : '';
  return (
    `{"version":${ARCHIVE_RECEIPT_VERSION},"kind":"${ARCHIVE_RECEIPT_KIND}","file":{"path":${parts.pathJson},"docHash":"${parts.docHashHex}"},` +
    `"leafIndex":${parts.index},"treeSize":${parts.treeSize},"inclusionProof":[${list}],"archiveRoot":"${parts.rootHex}"${anchor}}`
  );
}

/** The receipt JSON of file `index` of an archive built in memory. */
export function receiptJsonFromBuild(built: Pick<BuiltArchive, 'levels' | 'docHashes' | 'paths' | 'rootHex'>, index: number, anchor?: ArchiveLedgerAnchor | null): string {
  const { levels, docHashes, paths } = built;
  const proof = proofFromLevels(levels, index);
  return archiveReceiptJson({
    index,
    treeSize: levels.size,
    pathJson: Buffer.from(paths.blob.buffer, paths.blob.byteOffset + paths.offsets[index]!, paths.offsets[index + 1]! - 1 - paths.offsets[index]!).toString('utf8'),
    docHashHex: Buffer.from(docHashes.buffer, docHashes.byteOffset + index * HASH_SIZE, HASH_SIZE).toString('hex'),
    proof,
    rootHex: built.rootHex,
    anchor,
  });
}

/** Options of {@link hashContents}. */
export interface HashOptions {
  /** Worker threads (0: the calling thread does it all). */
  readonly threads: number;
}

/**
 * Every file's SHA-256 and leaf hash, written into `docHashes` and the leaf level (32 bytes per
 * file each). With threads, `contents`, `paths` and both outputs must live in SharedArrayBuffers
 * (see {@link toShared}).
 */
export async function hashContents(
  contents: FileContents,
  paths: EncodedPaths,
  out: { docHashes: Uint8Array; leafHashes: Uint8Array },
  options: HashOptions,
): Promise<void> {
  const n = paths.count;
  if (contents.offsets.length !== n + 1) throw new AnchoringError('INVALID_ARGUMENT', 'There must be as many contents as paths.');
  if (options.threads <= 0 || n < PIECE) {
    archiveHasherCode().hashRange(contents.data, contents.offsets, paths.blob, paths.offsets, out.docHashes, out.leafHashes, 0, n);
    return;
  }
  for (const [what, view] of [
    ['contents', contents.data],
    ['content offsets', contents.offsets],
    ['paths', paths.blob],
    ['path offsets', paths.offsets],
    ['docHashes', out.docHashes],
    ['leafHashes', out.leafHashes],
  ] as const) {
    if (!(view.buffer instanceof SharedArrayBuffer)) throw new AnchoringError('INVALID_ARGUMENT', `With threads, the ${what} must be in a SharedArrayBuffer.`);
  }
  const workers = Array.from({ length: Math.min(options.threads, Math.ceil(n / PIECE)) }, () => new Worker(RANGE_WORKER, { eval: true }));
  let next = 0;
  try {
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve, reject) => {
            const give = (): void => {
              if (next >= n) {
                resolve();
                return;
              }
              const start = next;
              next = Math.min(n, next + PIECE);
              worker.postMessage({ start, end: next });
            };
            worker.on('message', (msg: { ok: boolean; error?: string }) => (msg.ok ? give() : reject(new AnchoringError('ARCHIVE_WRITE_FAILED', `Hashing failed in a thread: ${msg.error}`))));
            worker.on('error', reject);
            worker.on('exit', (code) => (next < n || code !== 0 ? reject(new AnchoringError('ARCHIVE_WRITE_FAILED', 'A hashing thread stopped.')) : undefined));
            worker.postMessage({
              init: {
                data: contents.data,
                cOff: contents.offsets,
                paths: paths.blob,
                pOff: paths.offsets,
                doc: out.docHashes,
                leaf: out.leafHashes,
              },
            });
            give();
          }),
      ),
    );
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** Worker of {@link hashContents}: shared views once, then ranges. */
const RANGE_WORKER = `
'use strict';
const { parentPort } = require('node:worker_threads');
${HASH_CODE}
const hasher = makeArchiveHasher(require('node:crypto'));
let v;
parentPort.on('message', (msg) => {
  if (msg.init) { v = msg.init; return; }
  try {
    hasher.hashRange(v.data, v.cOff, v.paths, v.pOff, v.doc, v.leaf, msg.start, msg.end);
    parentPort.postMessage({ ok: true });
  } catch (err) {
    parentPort.postMessage({ ok: false, error: String(err && err.message) });
  }
});
`;

/** A copy of `bytes` in a SharedArrayBuffer (or `bytes` itself when it already is in one). */
export function toShared<T extends Uint8Array | Uint32Array | Float64Array>(bytes: T): T {
  if (bytes.buffer instanceof SharedArrayBuffer) return bytes;
  const Ctor = bytes.constructor as new (buffer: SharedArrayBuffer) => T;
  const copy = new Ctor(new SharedArrayBuffer(bytes.byteLength));
  copy.set(bytes as never);
  return copy;
}

/** An archive built in memory. */
export interface BuiltArchive {
  readonly levels: ArchiveLevels;
  readonly docHashes: Uint8Array;
  readonly paths: EncodedPaths;
  readonly root: Uint8Array;
  readonly rootHex: string;
  readonly totalBytes: number;
  /** Phase times, ms. */
  readonly timings: { readonly pathsMs: number; readonly hashMs: number; readonly treeMs: number };
}

/** Options of {@link buildArchive}. */
export interface BuildOptions {
  /**
   * Threads: hashing runs on this many worker threads; the tree's large levels are shared between
   * the calling thread and `threads - 1` workers. 0 or 1: the calling thread builds the tree.
   */
  readonly threads?: number;
}

/**
 * Builds an archive from files held in memory: paths (validated, encoded), every file's SHA-256
 * and leaf hash, the levels, the root.
 *
 * @throws AnchoringError ARCHIVE_EMPTY, ARCHIVE_PATH_INVALID, INVALID_ARGUMENT
 */
export async function buildArchive(paths: readonly string[], contents: FileContents, options: BuildOptions = {}): Promise<BuiltArchive> {
  const n = paths.length;
  if (n === 0) throw new AnchoringError('ARCHIVE_EMPTY', 'An archive needs at least one file.');
  const threads = options.threads ?? 0;
  const parallel = threads > 0 && n >= PIECE;
  let t = performance.now();
  const encoded = encodePaths(paths, parallel);
  const pathsMs = performance.now() - t;
  t = performance.now();
  const levels = allocateLevels(n, parallel);
  const docHashes = parallel ? new Uint8Array(new SharedArrayBuffer(n * HASH_SIZE)) : new Uint8Array(n * HASH_SIZE);
  const shared = parallel ? { data: toShared(contents.data), offsets: toShared(contents.offsets) } : contents;
  await hashContents(shared, encoded, { docHashes, leafHashes: leafLevel(levels) }, { threads: parallel ? threads : 0 });
  const hashMs = performance.now() - t;
  t = performance.now();
  const hasher = threads > 1 ? createNodeHasher({ workers: threads - 1 }) : nodeHasher;
  try {
    buildLevels(levels, hasher);
  } finally {
    if (hasher !== nodeHasher) await hasher.close();
  }
  const root = levelsRoot(levels);
  const treeMs = performance.now() - t;
  const totalBytes = contents.offsets[n]! - contents.offsets[0]!;
  return { levels, docHashes, paths: encoded, root, rootHex: Buffer.from(root).toString('hex'), totalBytes, timings: { pathsMs, hashMs, treeMs } };
}
