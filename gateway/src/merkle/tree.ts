/**
 * In-memory RFC 6962 / RFC 9162 Merkle tree builder over flat `Uint8Array` levels.
 *
 * Storage: level `k` holds the hashes of all *perfect* subtrees of `2^k` leaves that fit in the
 * current size `n`, i.e. `floor(n / 2^k)` nodes, in one contiguous `Uint8Array` (32 bytes per node,
 * node `j` covering leaves `[j·2^k, (j+1)·2^k)`). Perfect nodes never change when leaves are
 * appended, so appending costs amortised one hash per leaf.
 *
 * The RFC tree for a size `m` that is not a power of two (split at the largest power of two strictly
 * less than `m`) consists of those perfect nodes plus at most one non-perfect node per level: the
 * "right border" node covering `[floor(m / 2^k)·2^k, m)`. The border for a size costs
 * `popcount(m) − 1` hashes; the one for the current size is cached, so roots and inclusion or
 * consistency proofs at the current size involve no hashing at all — proof hashes are copied
 * straight out of the flat levels. Roots and proofs for older sizes `m ≤ n` only recompute that
 * size's border.
 *
 * This file has no Node-only dependency; pass `nodeHasher` from `./node-hasher` for fast bulk
 * building in the gateway.
 *
 * @module
 */
import { isBytes } from './bytes';
import { nobleHasher, type MerkleHasher } from './hasher';

/** Bytes per hash (local copy of `HASH_SIZE`: imported bindings can be slow getters under transpilers). */
const HASH_SIZE = 32;

/** Words (uint32) per hash. */
const W = HASH_SIZE / 4;

/**
 * Largest supported tree size. Indices are handled with 32-bit integer arithmetic; in practice the
 * limit is memory (a single typed array holds at most ~2^27 leaf hashes in Node 20).
 */
export const MAX_TREE_SIZE = 2 ** 30;

/** Number of levels above the leaves of a tree of `m ≥ 1` leaves: `ceil(log2(m))`. */
function heightOf(m: number): number {
  return m <= 1 ? 0 : 32 - Math.clz32(m - 1);
}

/** Copies 8 words (one hash) between word views. */
function copyHash(src: Uint32Array, srcWord: number, dst: Uint32Array, dstWord: number): void {
  dst[dstWord] = src[srcWord]!;
  dst[dstWord + 1] = src[srcWord + 1]!;
  dst[dstWord + 2] = src[srcWord + 2]!;
  dst[dstWord + 3] = src[srcWord + 3]!;
  dst[dstWord + 4] = src[srcWord + 4]!;
  dst[dstWord + 5] = src[srcWord + 5]!;
  dst[dstWord + 6] = src[srcWord + 6]!;
  dst[dstWord + 7] = src[srcWord + 7]!;
}

/** Allocates a zeroed byte array whose buffer is usable through a `Uint32Array` view. */
function allocHashes(count: number): { bytes: Uint8Array; words: Uint32Array } {
  const words = new Uint32Array(count * W);
  return { bytes: new Uint8Array(words.buffer), words };
}

/** Number of set bits of a 32-bit integer. */
function popcount32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/**
 * Number of hashes in the inclusion proof of `index` in a tree of `m` leaves: the levels below the
 * point where the paths to `index` and to the last leaf split, plus one per left sibling above.
 */
function inclusionCount(index: number, m: number): number {
  const inner = 32 - Math.clz32(index ^ (m - 1));
  return inner + popcount32(index >>> inner);
}

/** Words per slab from which returned proofs are carved (see `inclusionProofFlat`). */
const SLAB_WORDS = 4096;

function checkLeafHashes(leafHashes: Uint8Array | readonly Uint8Array[]): Uint8Array {
  if (isBytes(leafHashes)) {
    if (leafHashes.length % HASH_SIZE !== 0) {
      throw new TypeError(`flat leaf hashes must be a multiple of ${HASH_SIZE} bytes, got ${leafHashes.length}`);
    }
    return leafHashes;
  }
  if (!Array.isArray(leafHashes)) throw new TypeError('leaf hashes must be a Uint8Array or an array of Uint8Array');
  const flat = new Uint8Array(leafHashes.length * HASH_SIZE);
  leafHashes.forEach((h, i) => {
    if (!isBytes(h) || h.length !== HASH_SIZE) throw new TypeError(`leaf hash ${i} is not a ${HASH_SIZE}-byte Uint8Array`);
    flat.set(h, i * HASH_SIZE);
  });
  return flat;
}

function checkInt(name: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${String(v)}`);
  }
}

/** Right-border nodes of the RFC tree of one size (see module docs). */
interface Border {
  readonly size: number;
  /** `words[8k .. 8k+8)` holds the border node of level `k`, when `size mod 2^k !== 0`. */
  readonly words: Uint32Array;
  readonly bytes: Uint8Array;
}

/**
 * Inclusion proofs of consecutive leaves, concatenated (plain data; see
 * {@link MerkleTree.inclusionProofBatch} and {@link batchProof}).
 */
export interface InclusionProofBatch {
  /** Tree size all proofs are for. */
  readonly treeSize: number;
  /** Leaf index of the first proof. */
  readonly start: number;
  /** Number of proofs. */
  readonly count: number;
  /** All proofs' 32-byte hashes back to back. */
  readonly proofs: Uint8Array;
  /** `count + 1` byte offsets: proof `j` (leaf `start + j`) is `proofs[offsets[j], offsets[j + 1])`. */
  readonly offsets: Uint32Array;
}

/**
 * The flat proof of leaf `index` from a batch (a view, no copy).
 *
 * @throws RangeError when `index` is outside the batch.
 */
export function batchProof(batch: InclusionProofBatch, index: number): Uint8Array {
  const j = index - batch.start;
  if (!Number.isInteger(j) || j < 0 || j >= batch.count) throw new RangeError(`leaf ${index} is not in this batch`);
  return batch.proofs.subarray(batch.offsets[j]!, batch.offsets[j + 1]!);
}

/**
 * An append-only RFC 6962 Merkle tree over 32-byte leaf hashes.
 *
 * Leaves are leaf *hashes* (`SHA-256(0x00 ‖ entry)`, see `MerkleHasher.hashLeaf`), not raw entries.
 * Returned hashes and proofs never alias the tree's internal state (mutating them is harmless).
 * Misuse (bad index or size, wrong byte length) throws `RangeError`/`TypeError`; the tree is not
 * changed by a failed call.
 */
export class MerkleTree {
  /** The hash strategy this tree was built with. */
  readonly hasher: MerkleHasher;

  #size = 0;
  /** `#levels[k]`: perfect level-k node hashes, capacity ≥ `#size >>> k` nodes. */
  #levels: Uint8Array[] = [];
  #words: Uint32Array[] = [];
  /** Border of the current size (lazily computed, dropped on append). */
  #border: Border | undefined;
  /** Border of the most recent older size asked for. */
  #oldBorder: Border | undefined;
  /** Pool from which `inclusionProofFlat` carves its results (like Node's pooled small Buffers). */
  #slab = new Uint32Array(0);
  #slabPos = 0;

  /**
   * Creates an empty tree.
   *
   * @param hasher - hash strategy; defaults to the browser-safe noble implementation. Use
   *   `nodeHasher` from `./node-hasher` in Node for bulk work (several times faster).
   */
  constructor(hasher: MerkleHasher = nobleHasher) {
    this.hasher = hasher;
  }

  /**
   * Builds a tree from leaf hashes.
   *
   * @param leafHashes - one flat `Uint8Array` of `32 · n` bytes, or an array of 32-byte hashes.
   *   The input is copied.
   * @param hasher - hash strategy (see constructor).
   */
  static fromLeafHashes(leafHashes: Uint8Array | readonly Uint8Array[], hasher: MerkleHasher = nobleHasher): MerkleTree {
    const tree = new MerkleTree(hasher);
    tree.appendMany(leafHashes);
    return tree;
  }

  /** Number of leaves. */
  get size(): number {
    return this.#size;
  }

  /**
   * Appends one leaf hash (amortised one hash computation).
   *
   * @param leafHash - a 32-byte leaf hash.
   * @returns the index of the new leaf.
   */
  append(leafHash: Uint8Array): number {
    if (!isBytes(leafHash) || leafHash.length !== HASH_SIZE) {
      throw new TypeError(`leaf hash must be a ${HASH_SIZE}-byte Uint8Array`);
    }
    const index = this.#size;
    this.#appendFlat(leafHash);
    return index;
  }

  /**
   * Appends many leaf hashes at once; each level is extended with one bulk hashing call.
   *
   * @param leafHashes - one flat `Uint8Array` of `32 · k` bytes, or an array of 32-byte hashes.
   */
  appendMany(leafHashes: Uint8Array | readonly Uint8Array[]): void {
    this.#appendFlat(checkLeafHashes(leafHashes));
  }

  #appendFlat(flat: Uint8Array): void {
    const count = flat.length / HASH_SIZE;
    if (count === 0) return;
    const oldSize = this.#size;
    const newSize = oldSize + count;
    if (newSize > MAX_TREE_SIZE) throw new RangeError(`tree size would exceed ${MAX_TREE_SIZE}`);
    this.#reserve(0, newSize);
    this.#levels[0]!.set(flat, oldSize * HASH_SIZE);
    for (let k = 1; newSize >>> k > 0; k++) {
      const from = oldSize >>> k;
      const to = newSize >>> k;
      if (from === to) break; // no new perfect node here, hence none above either
      this.#reserve(k, to);
      this.hasher.hashChildrenBulk(this.#levels[k - 1]!, from * 2 * HASH_SIZE, this.#levels[k]!, from * HASH_SIZE, to - from);
    }
    this.#size = newSize;
    // Borders of older sizes stay valid (they only read perfect nodes): keep the last one, since
    // the next consistency proof is typically from the previous checkpoint size.
    if (this.#border) this.#oldBorder = this.#border;
    this.#border = undefined;
  }

  /** Ensures level `k` can hold `nodes` nodes (doubling growth, exact on first allocation). */
  #reserve(k: number, nodes: number): void {
    const cur = this.#levels[k];
    const capacity = cur ? cur.length / HASH_SIZE : 0;
    if (capacity >= nodes) return;
    const next = capacity === 0 ? nodes : Math.max(nodes, capacity * 2);
    const { bytes, words } = allocHashes(next);
    if (cur) bytes.set(cur.subarray(0, (this.#size >>> k) * HASH_SIZE));
    this.#levels[k] = bytes;
    this.#words[k] = words;
  }

  /** Returns (and caches) the right-border nodes of the RFC tree of `m` leaves (1 ≤ m ≤ size). */
  #borderFor(m: number): Border {
    if (this.#border?.size === m) return this.#border;
    if (this.#oldBorder?.size === m) return this.#oldBorder;
    const height = heightOf(m);
    const { bytes, words } = allocHashes(height + 1);
    let has = false; // whether level k-1 has a border node, i.e. m mod 2^(k-1) !== 0
    for (let k = 1; k <= height; k++) {
      if ((m >>> (k - 1)) & 1) {
        const left = (m >>> (k - 1)) - 1; // last perfect node of level k-1
        const lw = this.#words[k - 1]!;
        if (has) {
          const lb = this.#levels[k - 1]!;
          const h = this.hasher.hashChildren(
            lb.subarray(left * HASH_SIZE, (left + 1) * HASH_SIZE),
            bytes.subarray((k - 1) * HASH_SIZE, k * HASH_SIZE),
          );
          bytes.set(h, k * HASH_SIZE);
        } else {
          copyHash(lw, left * W, words, k * W);
        }
        has = true;
      } else if (has) {
        copyHash(words, (k - 1) * W, words, k * W); // single child: promoted unchanged
      }
    }
    const border: Border = { size: m, words, bytes };
    if (m === this.#size) this.#border = border;
    else this.#oldBorder = border;
    return border;
  }

  /** Word view and word offset of node (level k, index j) of the RFC tree of size m. */
  #locate(k: number, j: number, m: number, border: Border): [Uint32Array, number] {
    if ((j + 1) * 2 ** k <= m) return [this.#words[k]!, j * W];
    return [border.words, k * W];
  }

  /**
   * The current root, `MTH(D[0:size])`; `SHA-256("")` for the empty tree.
   *
   * @returns a fresh 32-byte array.
   */
  root(): Uint8Array {
    return this.rootAt(this.#size);
  }

  /**
   * Root of the prefix of `m` leaves, `MTH(D[0:m])` for `0 ≤ m ≤ size`, e.g. to check an older
   * checkpointed root. Costs at most `popcount(m) − 1` hashes.
   *
   * @param m - prefix size.
   * @returns a fresh 32-byte array.
   */
  rootAt(m: number): Uint8Array {
    checkInt('size', m, 0, this.#size);
    if (m === 0) return this.hasher.emptyRoot();
    const height = heightOf(m);
    const out = allocHashes(1);
    if ((m & (m - 1)) === 0) copyHash(this.#words[height]!, 0, out.words, 0);
    else copyHash(this.#borderFor(m).words, height * W, out.words, 0);
    return out.bytes;
  }

  /**
   * The leaf hash at `index` (a copy).
   *
   * @param index - 0-based leaf index, below `size`.
   */
  leafHash(index: number): Uint8Array {
    checkInt('index', index, 0, this.#size - 1);
    return this.#levels[0]!.slice(index * HASH_SIZE, (index + 1) * HASH_SIZE);
  }

  /**
   * Inclusion proofs of the consecutive leaves `[start, end)` in the tree of `treeSize` leaves, all
   * concatenated in one buffer: the typical "issue receipts for a batch" operation. No hashing;
   * after the first proof, each proof copies only the hashes of the levels where it differs from
   * the previous one and takes the rest from the previous proof with one `copyWithin`, which is
   * several times faster than producing proofs one by one.
   *
   * @param start - first leaf index.
   * @param end - one past the last leaf index (`start ≤ end ≤ treeSize`).
   * @param treeSize - tree size the proofs are for; defaults to the current size.
   */
  inclusionProofBatch(start: number, end: number, treeSize: number = this.#size): InclusionProofBatch {
    checkInt('treeSize', treeSize, 1, this.#size);
    checkInt('end', end, 0, treeSize);
    checkInt('start', start, 0, end);
    let hashes = 0;
    for (let i = start; i < end; i++) hashes += inclusionCount(i, treeSize);
    if (hashes * HASH_SIZE > 0xffffffff) throw new RangeError('batch too large: proofs exceed 4 GiB, use smaller ranges');
    const proofs = allocHashes(hashes);
    const offsets = new Uint32Array(end - start + 1);
    this.#writeRange(start, end, treeSize, proofs.words, offsets, 0);
    return { treeSize, start, count: end - start, proofs: proofs.bytes, offsets };
  }

  /**
   * Like {@link MerkleTree.inclusionProofBatch}, but writes into caller-owned memory, so a large
   * range can be streamed through one reusable buffer.
   *
   * @param start - first leaf index.
   * @param end - one past the last leaf index (`start ≤ end ≤ treeSize`).
   * @param treeSize - tree size the proofs are for (`1 ≤ treeSize ≤ size`).
   * @param out - destination bytes; `out.byteOffset + outOffset` must be a multiple of 4.
   * @param offsets - receives `end − start + 1` byte offsets into `out`: the proof of leaf
   *   `start + j` is `out.subarray(offsets[j], offsets[j + 1])`.
   * @param outOffset - byte offset in `out` where writing starts.
   * @returns the number of bytes written.
   * @throws RangeError when `out` or `offsets` is too small, or `out` is misaligned.
   */
  writeInclusionProofs(
    start: number,
    end: number,
    treeSize: number,
    out: Uint8Array,
    offsets: Uint32Array,
    outOffset = 0,
  ): number {
    checkInt('treeSize', treeSize, 1, this.#size);
    checkInt('end', end, 0, treeSize);
    checkInt('start', start, 0, end);
    checkInt('outOffset', outOffset, 0, out.length);
    if (offsets.length < end - start + 1) throw new RangeError(`offsets needs ${end - start + 1} entries`);
    const abs = out.byteOffset + outOffset;
    if ((abs & 3) !== 0) throw new RangeError('out.byteOffset + outOffset must be a multiple of 4');
    let bytes = 0;
    for (let i = start; i < end; i++) bytes += inclusionCount(i, treeSize) * HASH_SIZE;
    if (out.length - outOffset < bytes) throw new RangeError(`out needs ${bytes} bytes from offset ${outOffset}`);
    if (outOffset + bytes > 0xffffffff) throw new RangeError('offsets exceed 32 bits, use smaller ranges');
    this.#writeRange(start, end, treeSize, new Uint32Array(out.buffer, abs, bytes >>> 2), offsets, outOffset);
    return bytes;
  }

  /**
   * Core of the batch writers: proofs of `[start, end)` for size `m` into `out` (word view, from
   * word 0); `offsets[j] = base + byte offset of proof j`.
   */
  #writeRange(start: number, end: number, m: number, out: Uint32Array, offsets: Uint32Array, base: number): void {
    const border = this.#borderFor(m).words;
    const height = heightOf(m);
    const levels = this.#words;
    let o = 0;
    let prevBegin = 0;
    for (let i = start, j = 0; i < end; i++, j++) {
      offsets[j] = base + o * 4;
      const begin = o;
      // Levels >= top have the same siblings as for i - 1 (i and i - 1 agree on those bits).
      const top = i === start ? height : Math.min(height, 32 - Math.clz32(i ^ (i - 1)));
      for (let k = 0; k < top; k++) {
        const sibling = (i >>> k) ^ 1;
        const perfect = m >>> k;
        if (sibling < perfect) {
          copyHash(levels[k]!, sibling * W, out, o);
        } else if (sibling === perfect && (m & ((1 << k) - 1)) !== 0) {
          copyHash(border, k * W, out, o);
        } else {
          continue;
        }
        o += W;
      }
      if (top < height) {
        // Skip the previous proof's hashes for levels < top, copy the rest.
        let from = prevBegin;
        const p = i - 1;
        for (let k = 0; k < top; k++) {
          const sibling = (p >>> k) ^ 1;
          const perfect = m >>> k;
          if (sibling < perfect || (sibling === perfect && (m & ((1 << k) - 1)) !== 0)) from += W;
        }
        out.copyWithin(o, from, begin);
        o += begin - from;
      }
      prevBegin = begin;
    }
    offsets[end - start] = base + o * 4;
  }

  #writeInclusion(index: number, m: number, out: Uint32Array, wordOffset: number): number {
    const border = this.#borderFor(m);
    const height = heightOf(m);
    const levels = this.#words;
    let o = wordOffset;
    for (let k = 0; k < height; k++) {
      const sibling = (index >>> k) ^ 1;
      const perfect = m >>> k;
      if (sibling < perfect) {
        copyHash(levels[k]!, sibling * W, out, o);
      } else if (sibling === perfect && (m & ((1 << k) - 1)) !== 0) {
        copyHash(border.words, k * W, out, o);
      } else {
        continue;
      }
      o += W;
    }
    return (o - wordOffset) / W;
  }

  /**
   * Inclusion proof as one flat `Uint8Array` of `32 · length` bytes (leaf side first).
   * The verifier accepts this form directly. For speed, successive results are views into shared
   * 16 KiB pool buffers (as Node does for small `Buffer`s): each result owns its byte range, but
   * its `.buffer` may hold other proofs; use `.slice()` to detach it.
   *
   * @param index - 0-based leaf index, below `treeSize`.
   * @param treeSize - tree size the proof is for; defaults to the current size.
   */
  inclusionProofFlat(index: number, treeSize: number = this.#size): Uint8Array {
    checkInt('treeSize', treeSize, 1, this.#size);
    checkInt('index', index, 0, treeSize - 1);
    const words = inclusionCount(index, treeSize) * W;
    if (this.#slabPos + words > this.#slab.length) {
      this.#slab = new Uint32Array(SLAB_WORDS);
      this.#slabPos = 0;
    }
    const at = this.#slabPos;
    this.#slabPos += words;
    this.#writeInclusion(index, treeSize, this.#slab, at);
    return new Uint8Array(this.#slab.buffer, at * 4, words * 4);
  }

  /**
   * Inclusion proof (RFC 9162 §2.1.3.1) as plain data: a list of 32-byte hashes, leaf side first.
   *
   * @param index - 0-based leaf index, below `treeSize`.
   * @param treeSize - tree size the proof is for; defaults to the current size.
   */
  inclusionProof(index: number, treeSize: number = this.#size): Uint8Array[] {
    return splitFlat(this.inclusionProofFlat(index, treeSize));
  }

  /**
   * Consistency proof (RFC 9162 §2.1.4.1, `PROOF(m, D[n])`) as one flat `Uint8Array`.
   *
   * @param oldSize - the older size `m`, `0 ≤ m ≤ newSize`.
   * @param newSize - the newer size `n`, `≤ size`; defaults to the current size.
   */
  consistencyProofFlat(oldSize: number, newSize: number = this.#size): Uint8Array {
    checkInt('newSize', newSize, 0, this.#size);
    checkInt('oldSize', oldSize, 0, newSize);
    if (oldSize === 0 || oldSize === newSize) return new Uint8Array(0);
    const border = this.#borderFor(newSize);
    // Iterative SUBPROOF(m, D[0:n], true): descend with the RFC split, remembering siblings
    // (as [start, end) ranges); output the final node (unless b is still true) then the siblings
    // from the deepest to the top.
    const siblings: number[] = [];
    let start = 0;
    let end = newSize;
    let complete = true; // the RFC's `b`
    while (oldSize !== end) {
      const k = 2 ** (heightOf(end - start) - 1); // largest power of two < end - start
      if (oldSize <= start + k) {
        siblings.push(start + k, end);
        end = start + k;
      } else {
        siblings.push(start, start + k);
        start += k;
        complete = false;
      }
    }
    const count = siblings.length / 2 + (complete ? 0 : 1);
    const out = allocHashes(count);
    let o = 0;
    const emit = (s: number, e: number): void => {
      const k = heightOf(e - s);
      const [src, at] = this.#locate(k, s / 2 ** k, newSize, border);
      copyHash(src, at, out.words, o);
      o += W;
    };
    if (!complete) emit(start, end);
    for (let i = siblings.length - 2; i >= 0; i -= 2) emit(siblings[i]!, siblings[i + 1]!);
    return out.bytes;
  }

  /**
   * Consistency proof (RFC 9162 §2.1.4.1) as plain data: a list of 32-byte hashes.
   *
   * @param oldSize - the older size, `0 ≤ oldSize ≤ newSize`.
   * @param newSize - the newer size, `≤ size`; defaults to the current size.
   */
  consistencyProof(oldSize: number, newSize: number = this.#size): Uint8Array[] {
    return splitFlat(this.consistencyProofFlat(oldSize, newSize));
  }
}

/** Splits a flat proof into 32-byte views (no copy). */
function splitFlat(flat: Uint8Array): Uint8Array[] {
  const out = new Array<Uint8Array>(flat.length / HASH_SIZE);
  for (let i = 0; i < out.length; i++) out[i] = flat.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE);
  return out;
}

/**
 * Root of `leafHashes` (`MTH`, RFC 9162 §2.1.1) without keeping a tree: level by level, pairing
 * nodes and promoting a trailing odd node unchanged, which yields exactly the RFC's split at the
 * largest power of two. Peak extra memory is about half the input.
 *
 * @param leafHashes - one flat `Uint8Array` of `32 · n` bytes, or an array of 32-byte hashes.
 * @param hasher - hash strategy; defaults to the browser-safe noble implementation.
 * @returns a fresh 32-byte root; `SHA-256("")` for no leaves.
 */
export function merkleRoot(leafHashes: Uint8Array | readonly Uint8Array[], hasher: MerkleHasher = nobleHasher): Uint8Array {
  let cur = checkLeafHashes(leafHashes);
  let count = cur.length / HASH_SIZE;
  if (count === 0) return hasher.emptyRoot();
  if (count === 1) return cur.slice(0, HASH_SIZE);
  while (count > 1) {
    const pairs = Math.floor(count / 2);
    const odd = count % 2;
    const next = new Uint8Array((pairs + odd) * HASH_SIZE);
    hasher.hashChildrenBulk(cur, 0, next, 0, pairs);
    if (odd) next.set(cur.subarray((count - 1) * HASH_SIZE, count * HASH_SIZE), pairs * HASH_SIZE);
    cur = next;
    count = pairs + odd;
  }
  return cur;
}
