/**
 * Adversarial inputs that the verifier must reject (return false or throw MerkleProofError),
 * swept over every index / size pair of small trees.
 *
 * Note on "wrong tree size": an RFC 6962 proof does not bind the tree size by itself. With a
 * *stale* root, some (index, size±1) or (size1, size2±1) claims compute exactly the same hash
 * chain and verify — see the last test. Receipts are therefore only meaningful when the
 * (treeSize, root) pair is checked against the checkpoint for that size. The sweeps below use the
 * genuine root of the claimed (mutated) size, which is what a verifier holding checkpoints sees.
 */
import { expect } from 'chai';
import {
  MerkleTree,
  nobleHasher,
  verifyConsistency,
  verifyInclusion,
  type MerkleHasher,
} from '../../../gateway/src/merkle';
import { nodeHasher } from '../../../gateway/src/merkle/node-hasher';
import { flipBit, hex, hexList, makeLeaves, refConsistency, refPath, rejects, throwsCode } from './helpers';

const ZERO = new Uint8Array(32);

function sweepInclusion(hasher: MerkleHasher, maxSize: number): number {
  const leaves = makeLeaves(maxSize + 1);
  const big = MerkleTree.fromLeafHashes(leaves, nodeHasher);
  const rootOf = (n: number): Uint8Array => big.rootAt(n);
  let probes = 0;
  for (let n = 1; n <= maxSize; n++) {
    const root = rootOf(n);
    for (let i = 0; i < n; i++) {
      const leaf = leaves[i]!;
      const proof = big.inclusionProof(i, n);
      const v = (l: Uint8Array, idx: number, size: number, p: readonly Uint8Array[] | Uint8Array, r: Uint8Array) => () =>
        verifyInclusion(l, idx, size, p, r, hasher);
      expect(v(leaf, i, n, proof, root)(), `genuine ${i}/${n}`).to.equal(true);
      const cases: [string, () => boolean][] = [];
      // flipped bit in every proof element (first and last byte)
      proof.forEach((_, k) => {
        for (const [byte, bit] of [
          [0, 0],
          [31, 7],
        ] as const) {
          const bad = proof.slice();
          bad[k] = flipBit(bad[k]!, byte, bit);
          cases.push([`proof[${k}] byte ${byte} bit ${bit}`, v(leaf, i, n, bad, root)]);
        }
      });
      cases.push(['flipped leaf bit', v(flipBit(leaf, 7, 2), i, n, proof, root)]);
      cases.push(['other leaf', v(leaves[(i + 1) % (n + 1)]!, i, n, proof, root)]);
      // wrong index ±1
      for (const idx of [i - 1, i + 1]) {
        if (idx >= 0 && idx < n && hexList(refPath(idx, leaves.slice(0, n))).join() === hexList(proof).join()) continue;
        cases.push([`index ${idx}`, v(leaf, idx, n, proof, root)]);
      }
      // wrong tree size ±1, with the genuine root of that size (and the right leaf)
      for (const size of [n - 1, n + 1]) {
        if (size < 1) continue;
        cases.push([`size ${size}`, v(leaf, i, size, proof, rootOf(size))]);
      }
      // truncated / extended / empty proofs
      if (proof.length > 0) {
        cases.push(['truncated', v(leaf, i, n, proof.slice(0, -1), root)]);
        cases.push(['first element dropped', v(leaf, i, n, proof.slice(1), root)]);
        cases.push(['empty proof', v(leaf, i, n, [], root)]);
      }
      cases.push(['extra root at end', v(leaf, i, n, [...proof, root], root)]);
      cases.push(['extra zero hash at end', v(leaf, i, n, [...proof, ZERO], root)]);
      cases.push(['extra root at front', v(leaf, i, n, [root, ...proof], root)]);
      cases.push(['flat proof + 1 byte', v(leaf, i, n, Uint8Array.from([...big.inclusionProofFlat(i, n), 0]), root)]);
      if (proof.length > 0) {
        cases.push(['31-byte element', v(leaf, i, n, proof.map((p, k) => (k === 0 ? p.subarray(1) : p)), root)]);
      }
      // swapped elements
      for (let k = 0; k + 1 < proof.length; k++) {
        const bad = proof.slice();
        [bad[k], bad[k + 1]] = [bad[k + 1]!, bad[k]!];
        cases.push([`swap ${k},${k + 1}`, v(leaf, i, n, bad, root)]);
      }
      if (proof.length > 1) cases.push(['reversed', v(leaf, i, n, proof.slice().reverse(), root)]);
      // wrong root
      cases.push(['root bit flipped', v(leaf, i, n, proof, flipBit(root, 31, 0))]);
      cases.push(['root of other size', v(leaf, i, n, proof, rootOf(n + 1))]);
      cases.push(['empty-tree root', v(leaf, i, n, proof, hasher.emptyRoot())]);
      for (const [desc, probe] of cases) {
        rejects(probe, `${desc} (index ${i}, size ${n})`);
        probes++;
      }
    }
  }
  return probes;
}

function sweepConsistency(hasher: MerkleHasher, maxSize: number): number {
  const leaves = makeLeaves(maxSize + 1);
  const big = MerkleTree.fromLeafHashes(leaves, nodeHasher);
  const rootOf = (n: number): Uint8Array => big.rootAt(n);
  let probes = 0;
  for (let n = 1; n <= maxSize; n++) {
    for (let m = 1; m < n; m++) {
      const proof = big.consistencyProof(m, n);
      const r1 = rootOf(m);
      const r2 = rootOf(n);
      const v = (s1: number, s2: number, p: readonly Uint8Array[] | Uint8Array, a: Uint8Array, b: Uint8Array) => () =>
        verifyConsistency(s1, s2, p, a, b, hasher);
      expect(v(m, n, proof, r1, r2)(), `genuine ${m}→${n}`).to.equal(true);
      const cases: [string, () => boolean][] = [];
      proof.forEach((_, k) => {
        for (const [byte, bit] of [
          [0, 4],
          [31, 0],
        ] as const) {
          const bad = proof.slice();
          bad[k] = flipBit(bad[k]!, byte, bit);
          cases.push([`proof[${k}] byte ${byte} bit ${bit}`, v(m, n, bad, r1, r2)]);
        }
      });
      // wrong sizes ±1 with the genuine roots of those sizes (skip when the proof is identical)
      const same = (s1: number, s2: number): boolean =>
        s1 >= 0 && s1 <= s2 && s2 <= maxSize + 1 && hexList(refConsistency(s1, leaves.slice(0, s2))).join() === hexList(proof).join();
      for (const [s1, s2] of [
        [m - 1, n],
        [m + 1, n],
        [m, n - 1],
        [m, n + 1],
      ] as const) {
        if (s1 < 0 || s2 < 1 || s2 > maxSize + 1 || same(s1, s2)) continue;
        cases.push([`sizes ${s1}→${s2}`, v(s1, s2, proof, s1 === 0 ? hasher.emptyRoot() : rootOf(s1), rootOf(s2))]);
      }
      cases.push(['size1 > size2', v(n, m, proof, r2, r1)]);
      cases.push(['truncated', v(m, n, proof.slice(0, -1), r1, r2)]);
      cases.push(['first element dropped', v(m, n, proof.slice(1), r1, r2)]);
      cases.push(['empty proof', v(m, n, [], r1, r2)]);
      cases.push(['extra root2 at end', v(m, n, [...proof, r2], r1, r2)]);
      cases.push(['extra root1 at front', v(m, n, [r1, ...proof], r1, r2)]);
      cases.push(['duplicated proof[0]', v(m, n, [proof[0]!, ...proof], r1, r2)]);
      cases.push(['flat proof + 1 byte', v(m, n, Uint8Array.from([...big.consistencyProofFlat(m, n), 0]), r1, r2)]);
      for (let k = 0; k + 1 < proof.length; k++) {
        if (hex(proof[k]!) === hex(proof[k + 1]!)) continue;
        const bad = proof.slice();
        [bad[k], bad[k + 1]] = [bad[k + 1]!, bad[k]!];
        cases.push([`swap ${k},${k + 1}`, v(m, n, bad, r1, r2)]);
      }
      cases.push(['root1 flipped', v(m, n, proof, flipBit(r1, 5, 5), r2)]);
      cases.push(['root2 flipped', v(m, n, proof, r1, flipBit(r2, 5, 5))]);
      cases.push(['roots swapped', v(m, n, proof, r2, r1)]);
      cases.push(['root1 = empty-tree root', v(m, n, proof, hasher.emptyRoot(), r2)]);
      // size1 = 0 must come with an empty proof
      cases.push(['size1 = 0 with non-empty proof', v(0, n, proof, hasher.emptyRoot(), r2)]);
      cases.push(['size1 = size2 with non-empty proof', v(n, n, proof, r2, r2)]);
      for (const [desc, probe] of cases) {
        rejects(probe, `${desc} (${m}→${n})`);
        probes++;
      }
    }
  }
  return probes;
}

describe('merkle: adversarial inclusion proofs', function () {
  this.timeout(120_000);
  it('every mutation is rejected, sizes 1..40 (node hasher)', () => {
    expect(sweepInclusion(nodeHasher, 40)).to.be.greaterThan(10_000);
  });
  it('every mutation is rejected, sizes 1..12 (noble hasher, the browser verifier)', () => {
    expect(sweepInclusion(nobleHasher, 12)).to.be.greaterThan(1_000);
  });
  it('structural errors carry stable codes', () => {
    const leaves = makeLeaves(5);
    const tree = MerkleTree.fromLeafHashes(leaves, nodeHasher);
    const proof = tree.inclusionProof(2);
    const root = tree.root();
    throwsCode(() => verifyInclusion(leaves[2]!, 5, 5, proof, root), 'INDEX_OUT_OF_RANGE');
    throwsCode(() => verifyInclusion(leaves[2]!, 2, 0, proof, root), 'INDEX_OUT_OF_RANGE');
    throwsCode(() => verifyInclusion(leaves[2]!, -1, 5, proof, root), 'INVALID_ARGUMENT');
    throwsCode(() => verifyInclusion(leaves[2]!, 1.5, 5, proof, root), 'INVALID_ARGUMENT');
    throwsCode(() => verifyInclusion(leaves[2]!, 2, Number.NaN, proof, root), 'INVALID_ARGUMENT');
    throwsCode(() => verifyInclusion(leaves[2]!, 2, 2 ** 53, proof, root), 'INVALID_ARGUMENT');
    throwsCode(() => verifyInclusion(leaves[2]!, 2, 5, proof.slice(1), root), 'PROOF_MALFORMED');
    throwsCode(() => verifyInclusion(leaves[2]!, 2, 5, [...proof, root], root), 'PROOF_MALFORMED');
    throwsCode(() => verifyInclusion(leaves[2]!, 2, 5, [], root), 'PROOF_MALFORMED');
    throwsCode(() => verifyInclusion(leaves[2]!, 2, 5, new Uint8Array(33), root), 'PROOF_MALFORMED');
    throwsCode(() => verifyInclusion(leaves[2]!, 2, 5, 'abc' as unknown as Uint8Array, root), 'INVALID_ARGUMENT');
    throwsCode(() => verifyInclusion(leaves[2]!.subarray(1), 2, 5, proof, root), 'INVALID_HASH');
    throwsCode(() => verifyInclusion(leaves[2]!, 2, 5, proof, root.subarray(0, 31)), 'INVALID_HASH');
    throwsCode(() => verifyConsistency(3, 2, [], root, root), 'SIZES_OUT_OF_ORDER');
    throwsCode(() => verifyConsistency(2, 5, tree.consistencyProof(2), root, root.subarray(1)), 'INVALID_HASH');
  });
});

describe('merkle: adversarial consistency proofs', function () {
  this.timeout(120_000);
  it('every mutation is rejected, sizes 1..40 (node hasher)', () => {
    expect(sweepConsistency(nodeHasher, 40)).to.be.greaterThan(10_000);
  });
  it('every mutation is rejected, sizes 1..12 (noble hasher, the browser verifier)', () => {
    expect(sweepConsistency(nobleHasher, 12)).to.be.greaterThan(500);
  });

  it('forked logs: same size, different root', () => {
    const honest = makeLeaves(24);
    for (const [m, n, forkAt] of [
      [7, 24, 3],
      [8, 24, 0],
      [13, 17, 12],
      [16, 24, 15],
      [5, 6, 4],
    ] as const) {
      const forked = honest.slice();
      forked[forkAt] = makeLeaves(1, 'evil')[0]!;
      const a = MerkleTree.fromLeafHashes(honest.slice(0, n), nodeHasher);
      const b = MerkleTree.fromLeafHashes(forked.slice(0, n), nodeHasher);
      expect(hex(a.rootAt(m))).to.not.equal(hex(b.rootAt(m)));
      // the fork's own proof does not link the honest old root to the forked new root …
      rejects(() => verifyConsistency(m, n, b.consistencyProof(m), a.rootAt(m), b.root()), `fork proof ${m}→${n}`);
      // … nor does the honest proof link to the forked new root, or the forked old root to the honest new root
      rejects(() => verifyConsistency(m, n, a.consistencyProof(m), a.rootAt(m), b.root()), `honest proof, forked root2`);
      rejects(() => verifyConsistency(m, n, a.consistencyProof(m), b.rootAt(m), a.root()), `honest proof, forked root1`);
      // same size, different roots
      expect(verifyConsistency(n, n, [], a.root(), b.root())).to.equal(false);
      expect(verifyConsistency(m, m, [], a.rootAt(m), b.rootAt(m))).to.equal(false);
      // the fork is internally consistent
      expect(verifyConsistency(m, n, b.consistencyProof(m), b.rootAt(m), b.root())).to.equal(true);
    }
    // a fork after size1 is a legitimate extension of the old root, but not consistent with the honest new root
    const forked = honest.slice();
    forked[20] = makeLeaves(1, 'evil')[0]!;
    const a = MerkleTree.fromLeafHashes(honest, nodeHasher);
    const b = MerkleTree.fromLeafHashes(forked, nodeHasher);
    expect(verifyConsistency(10, 24, b.consistencyProof(10), a.rootAt(10), b.root())).to.equal(true);
    rejects(() => verifyConsistency(21, 24, a.consistencyProof(21), b.rootAt(21), a.root()), 'forked old, honest new');
    rejects(() => verifyConsistency(10, 24, a.consistencyProof(10), a.rootAt(10), b.root()), 'honest proof, forked root2');
  });

  it('documents the RFC 6962 limit: with a stale root, size is bound only by the checkpoint', () => {
    const leaves = makeLeaves(4);
    const tree = MerkleTree.fromLeafHashes(leaves, nodeHasher);
    // PATH(0, D[3]) = [l1, l2] has the same shape as PATH(0, D[4]) = [l1, H(l2, l3)], so the size-3
    // proof verifies as a "size 4" claim against the size-3 root. The verifier cannot tell: the
    // caller must check that `root` is the checkpointed root for `treeSize`.
    expect(verifyInclusion(leaves[0]!, 0, 4, tree.inclusionProof(0, 3), tree.rootAt(3))).to.equal(true);
    expect(verifyInclusion(leaves[0]!, 0, 4, tree.inclusionProof(0, 3), tree.rootAt(4))).to.equal(false);
    // Same for consistency: PROOF(2, D[3]) = [l2] also passes as 2 → 4 against the size-3 root.
    expect(verifyConsistency(2, 4, tree.consistencyProof(2, 3), tree.rootAt(2), tree.rootAt(3))).to.equal(true);
    expect(verifyConsistency(2, 4, tree.consistencyProof(2, 3), tree.rootAt(2), tree.rootAt(4))).to.equal(false);
  });
});
