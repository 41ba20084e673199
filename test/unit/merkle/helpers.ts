/**
 * Test helpers: an independent, naive RFC 9162 reference (straight from the §2.1.1, §2.1.3.1 and
 * §2.1.4.1 definitions, hashing with node:crypto directly) and small utilities.
 */
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { isMerkleProofError } from '../../../gateway/src/merkle';

export function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

export const refLeafHash = (data: Uint8Array): Uint8Array => sha256(Uint8Array.of(0), data);
export const refNodeHash = (l: Uint8Array, r: Uint8Array): Uint8Array => sha256(Uint8Array.of(1), l, r);

/** Largest power of two strictly less than n (n ≥ 2). */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH(D[n]) over leaf hashes, RFC 9162 §2.1.1 (recursive, no shortcuts). */
export function refRoot(leaves: readonly Uint8Array[]): Uint8Array {
  const n = leaves.length;
  if (n === 0) return sha256();
  if (n === 1) return leaves[0]!;
  const k = splitPoint(n);
  return refNodeHash(refRoot(leaves.slice(0, k)), refRoot(leaves.slice(k)));
}

/** PATH(m, D[n]), RFC 9162 §2.1.3.1. */
export function refPath(m: number, leaves: readonly Uint8Array[]): Uint8Array[] {
  const n = leaves.length;
  if (n <= 1) return [];
  const k = splitPoint(n);
  if (m < k) return [...refPath(m, leaves.slice(0, k)), refRoot(leaves.slice(k))];
  return [...refPath(m - k, leaves.slice(k)), refRoot(leaves.slice(0, k))];
}

/** PROOF(m, D[n]) = SUBPROOF(m, D[n], true), RFC 9162 §2.1.4.1. */
export function refConsistency(m: number, leaves: readonly Uint8Array[]): Uint8Array[] {
  if (m === 0) return [];
  return refSubproof(m, leaves, true);
}

function refSubproof(m: number, leaves: readonly Uint8Array[], b: boolean): Uint8Array[] {
  const n = leaves.length;
  if (m === n) return b ? [] : [refRoot(leaves)];
  const k = splitPoint(n);
  if (m <= k) return [...refSubproof(m, leaves.slice(0, k), b), refRoot(leaves.slice(k))];
  return [...refSubproof(m - k, leaves.slice(k), false), refRoot(leaves.slice(0, k))];
}

/** Deterministic pseudo-random leaf hashes: leaf i = SHA-256(0x00 ‖ "leaf-i"). */
export function makeLeaves(n: number, tag = 'leaf'): Uint8Array[] {
  const enc = new TextEncoder();
  return Array.from({ length: n }, (_, i) => refLeafHash(enc.encode(`${tag}-${i}`)));
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const hexList = (l: readonly Uint8Array[]): string[] => l.map(hex);
export const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

export function flipBit(b: Uint8Array, byte = 0, bit = 0): Uint8Array {
  const c = b.slice();
  c[byte]! ^= 1 << bit;
  return c;
}

/**
 * Runs a verification that must REJECT: it either returns false or throws a MerkleProofError.
 * Returns how it was rejected, for diagnostics.
 */
export function rejects(fn: () => boolean, desc: string): 'false' | string {
  let result: boolean;
  try {
    result = fn();
  } catch (e) {
    if (isMerkleProofError(e)) return e.code;
    throw e;
  }
  expect(result, `accepted: ${desc}`).to.equal(false);
  return 'false';
}

/** Expects a MerkleProofError with the given code. */
export function throwsCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    expect(isMerkleProofError(e), String(e)).to.equal(true);
    expect((e as { code: string }).code).to.equal(code);
    return;
  }
  expect.fail(`expected MerkleProofError ${code}`);
}
