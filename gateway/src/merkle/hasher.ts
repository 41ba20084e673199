/**
 * RFC 6962 / RFC 9162 §2.1.1 hashing, browser-safe.
 *
 * - leaf hash:   `SHA-256(0x00 ‖ data)`
 * - node hash:   `SHA-256(0x01 ‖ left ‖ right)`
 * - empty root:  `SHA-256("")`
 *
 * The hasher is a tiny, separate piece (as in transparency-dev/merkle): the verifier and the tree
 * builder take any {@link MerkleHasher}. This file depends on `@noble/hashes` only, so it runs
 * unchanged in browsers and in Node. A faster Node-only implementation lives in `node-hasher.ts`.
 *
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';

/** Size in bytes of every hash handled by this module (SHA-256). */
export const HASH_SIZE = 32;

/** Domain-separation prefix of leaf hashes (RFC 6962 §2.1). */
export const LEAF_PREFIX = 0x00;

/** Domain-separation prefix of interior node hashes (RFC 6962 §2.1). */
export const NODE_PREFIX = 0x01;

/**
 * The RFC 6962 hash strategy used by the tree builder and the verifier.
 *
 * Implementations must be deterministic and synchronous, must return fresh arrays the caller may
 * keep or mutate, and must not keep references to their inputs.
 */
export interface MerkleHasher {
  /** Human-readable name, used in benchmarks and diagnostics (e.g. `"noble-sha256"`). */
  readonly name: string;
  /** `SHA-256(0x00 ‖ data)`: the hash of a log entry. */
  hashLeaf(data: Uint8Array): Uint8Array;
  /** `SHA-256(0x01 ‖ left ‖ right)`: the hash of an interior node. Inputs may have any length. */
  hashChildren(left: Uint8Array, right: Uint8Array): Uint8Array;
  /**
   * Bulk interior hashing over flat arrays, used by the tree builder to hash a whole level at once.
   * For `i` in `[0, count)`: `dst[dstOffset + 32i, +32) = hashChildren(src[srcOffset + 64i, +32),
   * src[srcOffset + 64i + 32, +32))`. Offsets are in bytes. `src` and `dst` ranges must not overlap.
   */
  hashChildrenBulk(src: Uint8Array, srcOffset: number, dst: Uint8Array, dstOffset: number, count: number): void;
  /** `SHA-256("")`, the root of the empty tree (RFC 9162 §2.1.1). Returns a fresh copy each call. */
  emptyRoot(): Uint8Array;
}

/** A one-shot SHA-256 function: message in, 32-byte digest out (e.g. noble's `sha256`). */
export type Sha256Fn = (message: Uint8Array) => Uint8Array;

/**
 * Builds an RFC 6962 {@link MerkleHasher} from any one-shot SHA-256 function.
 *
 * @param digest - synchronous SHA-256; must return 32 bytes and not retain its input.
 * @param name - label for diagnostics.
 */
export function createMerkleHasher(digest: Sha256Fn, name = 'custom-sha256'): MerkleHasher {
  // Reused buffer for the common 32+32 byte case; safe because `digest` is synchronous.
  const scratch = new Uint8Array(1 + 2 * HASH_SIZE);
  scratch[0] = NODE_PREFIX;
  let empty: Uint8Array | undefined;

  const hashLeaf = (data: Uint8Array): Uint8Array => {
    const buf = new Uint8Array(1 + data.length);
    buf[0] = LEAF_PREFIX;
    buf.set(data, 1);
    return digest(buf);
  };

  const hashChildren = (left: Uint8Array, right: Uint8Array): Uint8Array => {
    if (left.length === HASH_SIZE && right.length === HASH_SIZE) {
      scratch.set(left, 1);
      scratch.set(right, 1 + HASH_SIZE);
      return digest(scratch);
    }
    const buf = new Uint8Array(1 + left.length + right.length);
    buf[0] = NODE_PREFIX;
    buf.set(left, 1);
    buf.set(right, 1 + left.length);
    return digest(buf);
  };

  const hashChildrenBulk = (
    src: Uint8Array,
    srcOffset: number,
    dst: Uint8Array,
    dstOffset: number,
    count: number,
  ): void => {
    for (let i = 0, s = srcOffset, d = dstOffset; i < count; i++, s += 2 * HASH_SIZE, d += HASH_SIZE) {
      scratch.set(src.subarray(s, s + 2 * HASH_SIZE), 1);
      dst.set(digest(scratch), d);
    }
  };

  const emptyRoot = (): Uint8Array => {
    empty ??= digest(new Uint8Array(0));
    return empty.slice();
  };

  return Object.freeze({ name, hashLeaf, hashChildren, hashChildrenBulk, emptyRoot });
}

/**
 * The default, browser-safe hasher backed by `@noble/hashes` SHA-256. Used by the verifier and,
 * unless another hasher is given, by the tree builder.
 */
export const nobleHasher: MerkleHasher = createMerkleHasher((m) => sha256(m), 'noble-sha256');

/** `SHA-256(0x00 ‖ data)` with the default {@link nobleHasher}. */
export function hashLeaf(data: Uint8Array): Uint8Array {
  return nobleHasher.hashLeaf(data);
}

/** `SHA-256(0x01 ‖ left ‖ right)` with the default {@link nobleHasher}. */
export function hashChildren(left: Uint8Array, right: Uint8Array): Uint8Array {
  return nobleHasher.hashChildren(left, right);
}

/** `SHA-256("")`, the RFC 9162 root of the empty tree, as a fresh array. */
export function emptyRoot(): Uint8Array {
  return nobleHasher.emptyRoot();
}
