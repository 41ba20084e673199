/**
 * Pure, browser-safe verification of RFC 9162 inclusion and consistency proofs.
 *
 * Algorithms follow RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency) step by step.
 *
 * Error policy (deliberate):
 * - input that is structurally invalid, i.e. wrong without computing a single hash (bad types,
 *   hashes that are not 32 bytes, index ≥ size, size1 > size2, a proof with the wrong number of
 *   elements for the claimed index/sizes), throws {@link MerkleProofError} with a stable `code`;
 * - a well-formed proof that does not reproduce the claimed root(s) returns `false`.
 * Callers that only need "valid or not" treat a thrown `MerkleProofError` like `false`.
 *
 * Sizes and indices are JavaScript numbers and must be safe integers (≤ 2^53 − 1); the arithmetic
 * here deliberately avoids 32-bit bitwise operators.
 *
 * @module
 */
import { bytesEqual, isBytes } from './bytes';
import { MerkleProofError } from './errors';
import { HASH_SIZE, nobleHasher, type MerkleHasher } from './hasher';

/** A proof as plain data: the list of 32-byte sibling hashes, leaf side first (RFC 9162 order). */
export type Proof = readonly Uint8Array[];

/**
 * What the verifier accepts as a proof: a {@link Proof} list, or the same hashes concatenated in
 * one flat `Uint8Array` of `32 * length` bytes (as produced by `MerkleTree.inclusionProofFlat`).
 */
export type ProofInput = Proof | Uint8Array;

/** The subset of {@link MerkleHasher} the verifier needs. */
export type VerifierHasher = Pick<MerkleHasher, 'hashChildren' | 'emptyRoot'>;

const isOdd = (x: number): boolean => x % 2 === 1;
const half = (x: number): number => Math.floor(x / 2);

function isPowerOfTwo(x: number): boolean {
  if (x < 1) return false;
  while (x % 2 === 0) x /= 2;
  return x === 1;
}

function checkCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new MerkleProofError('INVALID_ARGUMENT', `${name} must be a non-negative safe integer, got ${String(value)}`);
  }
}

function checkHash(name: string, value: Uint8Array): void {
  if (!isBytes(value) || value.length !== HASH_SIZE) {
    const got = isBytes(value) ? `${value.length} bytes` : typeof value;
    throw new MerkleProofError('INVALID_HASH', `${name} must be a ${HASH_SIZE}-byte Uint8Array, got ${got}`);
  }
}

/**
 * Normalises a {@link ProofInput} to a list of 32-byte hashes (views for flat input; no copying).
 *
 * @throws MerkleProofError `PROOF_MALFORMED` for elements that are not 32 bytes or a flat proof whose
 *   length is not a multiple of 32; `INVALID_ARGUMENT` for anything that is neither form.
 */
export function toProofList(proof: ProofInput): Proof {
  if (Array.isArray(proof)) {
    const list = proof as Proof;
    for (let i = 0; i < list.length; i++) {
      const el = list[i];
      if (!isBytes(el) || el.length !== HASH_SIZE) {
        throw new MerkleProofError('PROOF_MALFORMED', `proof[${i}] is not a ${HASH_SIZE}-byte Uint8Array`);
      }
    }
    return list;
  }
  if (isBytes(proof)) {
    if (proof.length % HASH_SIZE !== 0) {
      throw new MerkleProofError('PROOF_MALFORMED', `flat proof length ${proof.length} is not a multiple of ${HASH_SIZE}`);
    }
    const out = new Array<Uint8Array>(proof.length / HASH_SIZE);
    for (let i = 0; i < out.length; i++) out[i] = proof.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE);
    return out;
  }
  throw new MerkleProofError('INVALID_ARGUMENT', 'proof must be an array of Uint8Array or a flat Uint8Array');
}

/**
 * Concatenates a proof list into one flat `Uint8Array` (`32 * proof.length` bytes).
 *
 * @throws MerkleProofError `PROOF_MALFORMED` when an element is not 32 bytes.
 */
export function flattenProof(proof: Proof): Uint8Array {
  const list = toProofList(proof);
  const out = new Uint8Array(list.length * HASH_SIZE);
  for (let i = 0; i < list.length; i++) out.set(list[i]!, i * HASH_SIZE);
  return out;
}

/**
 * Number of hashes an RFC 9162 inclusion proof for `index` in a tree of `treeSize` leaves has:
 * the number of iterations of the §2.1.3.2 loop until `sn` reaches 0.
 *
 * @throws MerkleProofError `INVALID_ARGUMENT` or `INDEX_OUT_OF_RANGE`.
 */
export function inclusionProofSize(index: number, treeSize: number): number {
  checkCount('index', index);
  checkCount('treeSize', treeSize);
  if (index >= treeSize) {
    throw new MerkleProofError('INDEX_OUT_OF_RANGE', `index ${index} is not below tree size ${treeSize}`);
  }
  return countProofLevels(index, treeSize - 1, 0);
}

/**
 * Number of hashes an RFC 9162 consistency proof from `size1` to `size2` has
 * (0 when `size1` is 0 or equal to `size2`; otherwise the §2.1.4.2 iteration count, plus one
 * unless `size1` is a power of two).
 *
 * @throws MerkleProofError `INVALID_ARGUMENT` or `SIZES_OUT_OF_ORDER`.
 */
export function consistencyProofSize(size1: number, size2: number): number {
  checkCount('size1', size1);
  checkCount('size2', size2);
  if (size1 > size2) {
    throw new MerkleProofError('SIZES_OUT_OF_ORDER', `size1 ${size1} is greater than size2 ${size2}`);
  }
  if (size1 === 0 || size1 === size2) return 0;
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  return countProofLevels(fn, sn, isPowerOfTwo(size1) ? 0 : 1);
}

/**
 * The RFC 9162 proof walk shared by inclusion and consistency proofs, counting one hash per
 * level from node `fn` up to the root of the tree whose last node is `sn`, starting at `n`.
 */
function countProofLevels(fn: number, sn: number, n: number): number {
  while (sn !== 0) {
    if (!isOdd(fn) && fn === sn) {
      while (!isOdd(fn) && fn !== 0) {
        fn /= 2;
        sn = half(sn);
      }
    }
    fn = half(fn);
    sn = half(sn);
    n++;
  }
  return n;
}

/**
 * Recomputes the tree root implied by an inclusion proof (RFC 9162 §2.1.3.2, steps 1–4).
 *
 * @param leafHash - the 32-byte leaf hash (`SHA-256(0x00 ‖ entry)`), not the raw entry.
 * @param index - 0-based leaf index.
 * @param treeSize - number of leaves in the tree the proof is for.
 * @param proof - sibling hashes, leaf side first; a list or one flat `Uint8Array`.
 * @param hasher - hash strategy; defaults to the browser-safe {@link nobleHasher}.
 * @returns the implied 32-byte root (a fresh array).
 * @throws MerkleProofError for structurally invalid input (see module docs).
 */
export function rootFromInclusionProof(
  leafHash: Uint8Array,
  index: number,
  treeSize: number,
  proof: ProofInput,
  hasher: VerifierHasher = nobleHasher,
): Uint8Array {
  checkHash('leafHash', leafHash);
  const expected = inclusionProofSize(index, treeSize);
  const path = toProofList(proof);
  if (path.length !== expected) {
    throw new MerkleProofError(
      'PROOF_MALFORMED',
      `inclusion proof for index ${index} in tree size ${treeSize} needs ${expected} hashes, got ${path.length}`,
    );
  }
  let fn = index;
  let sn = treeSize - 1;
  let r = leafHash;
  for (const p of path) {
    // Step 4a cannot trigger after the exact length check above; kept for fidelity to the RFC.
    if (sn === 0) throw new MerkleProofError('PROOF_MALFORMED', 'inclusion proof is too long');
    if (isOdd(fn) || fn === sn) {
      r = hasher.hashChildren(p, r);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn /= 2;
          sn = half(sn);
        }
      }
    } else {
      r = hasher.hashChildren(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) throw new MerkleProofError('PROOF_MALFORMED', 'inclusion proof is too short');
  return r === leafHash ? leafHash.slice() : r;
}

/**
 * Verifies that `leafHash` is the leaf at `index` of the tree of `treeSize` leaves whose root is
 * `root` (RFC 9162 §2.1.3.2).
 *
 * @param leafHash - the 32-byte leaf hash (`SHA-256(0x00 ‖ entry)`).
 * @param index - 0-based leaf index.
 * @param treeSize - number of leaves in the tree.
 * @param proof - sibling hashes, leaf side first; a list or one flat `Uint8Array`.
 * @param root - the 32-byte root the proof must reproduce.
 * @param hasher - hash strategy; defaults to the browser-safe {@link nobleHasher}.
 * @returns `true` when the proof reproduces `root`, `false` when it does not.
 * @throws MerkleProofError for structurally invalid input (see module docs).
 */
export function verifyInclusion(
  leafHash: Uint8Array,
  index: number,
  treeSize: number,
  proof: ProofInput,
  root: Uint8Array,
  hasher: VerifierHasher = nobleHasher,
): boolean {
  checkHash('root', root);
  return bytesEqual(rootFromInclusionProof(leafHash, index, treeSize, proof, hasher), root);
}

/**
 * Verifies that the tree of `size2` leaves with root `root2` is an append-only extension of the
 * tree of `size1` leaves with root `root1` (RFC 9162 §2.1.4.2).
 *
 * Edge cases (where the RFC algorithm does not apply): `size1 === size2` needs an empty proof and
 * `root1 == root2`; `size1 === 0` needs an empty proof and `root1` equal to `SHA-256("")` (and, if
 * `size2` is also 0, `root2` too): every tree extends the empty tree.
 *
 * @param size1 - size of the older tree.
 * @param size2 - size of the newer tree.
 * @param proof - consistency proof hashes; a list or one flat `Uint8Array`.
 * @param root1 - 32-byte root of the older tree.
 * @param root2 - 32-byte root of the newer tree.
 * @param hasher - hash strategy; defaults to the browser-safe {@link nobleHasher}.
 * @returns `true` when consistent, `false` when the hashes do not match.
 * @throws MerkleProofError for structurally invalid input (see module docs).
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  proof: ProofInput,
  root1: Uint8Array,
  root2: Uint8Array,
  hasher: VerifierHasher = nobleHasher,
): boolean {
  checkHash('root1', root1);
  checkHash('root2', root2);
  const expected = consistencyProofSize(size1, size2);
  const path = toProofList(proof);
  if (path.length !== expected) {
    throw new MerkleProofError(
      'PROOF_MALFORMED',
      `consistency proof from size ${size1} to ${size2} needs ${expected} hashes, got ${path.length}`,
    );
  }
  if (size1 === 0) {
    const empty = hasher.emptyRoot();
    return bytesEqual(root1, empty) && (size2 !== 0 || bytesEqual(root2, empty));
  }
  if (size1 === size2) return bytesEqual(root1, root2);

  // RFC 9162 §2.1.4.2. Step 1 (empty path) is excluded by the length check above.
  // Step 2: if size1 is a power of two, first_hash is (virtually) prepended to the path.
  let next = 0;
  let seed: Uint8Array;
  if (isPowerOfTwo(size1)) {
    seed = root1;
  } else {
    seed = path[0]!;
    next = 1;
  }
  // Step 3.
  let fn = size1 - 1;
  let sn = size2 - 1;
  // Step 4.
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  // Step 5.
  let fr = seed;
  let sr = seed;
  // Step 6.
  for (; next < path.length; next++) {
    const c = path[next]!;
    if (sn === 0) return false; // 6a; unreachable after the length check.
    if (isOdd(fn) || fn === sn) {
      fr = hasher.hashChildren(c, fr);
      sr = hasher.hashChildren(c, sr);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn /= 2;
          sn = half(sn);
        }
      }
    } else {
      sr = hasher.hashChildren(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // Step 7.
  return sn === 0 && bytesEqual(fr, root1) && bytesEqual(sr, root2);
}
