/**
 * Cross-check of the flat-level builder against the naive recursive RFC 9162 reference
 * (helpers.ts), and of builder proofs against the verifier, for every size 1..64, every leaf
 * index and every older size.
 */
import { expect } from 'chai';
import {
  MerkleTree,
  consistencyProofSize,
  inclusionProofSize,
  merkleRoot,
  nobleHasher,
  rootFromInclusionProof,
  verifyConsistency,
  verifyInclusion,
  type MerkleHasher,
} from '../../../gateway/src/merkle';
import { nodeHasher } from '../../../gateway/src/merkle/node-hasher';
import { hex, hexList, makeLeaves, refConsistency, refPath, refRoot } from './helpers';

const MAX = 64;

describe('merkle: builder vs naive reference, sizes 1..64', function () {
  this.timeout(60_000);
  const leaves = makeLeaves(MAX);
  const refRoots = [new Uint8Array(0), ...Array.from({ length: MAX }, (_, i) => refRoot(leaves.slice(0, i + 1)))];

  for (const hasher of [nodeHasher, nobleHasher] as MerkleHasher[]) {
    it(`roots of fromLeafHashes / append / rootAt / merkleRoot equal the reference (${hasher.name})`, () => {
      const full = MerkleTree.fromLeafHashes(leaves, hasher);
      const inc = new MerkleTree(hasher);
      for (let n = 1; n <= MAX; n++) {
        inc.append(leaves[n - 1]!);
        const want = hex(refRoots[n]!);
        expect(hex(inc.root()), `append ${n}`).to.equal(want);
        expect(hex(full.rootAt(n)), `rootAt ${n}`).to.equal(want);
        expect(hex(MerkleTree.fromLeafHashes(leaves.slice(0, n), hasher).root()), `fromLeafHashes ${n}`).to.equal(want);
        expect(hex(merkleRoot(leaves.slice(0, n), hasher)), `merkleRoot ${n}`).to.equal(want);
        // every older prefix root of the incrementally built tree
        for (let m = 0; m <= n; m += 1 + (n >> 3)) {
          expect(hex(inc.rootAt(m))).to.equal(m === 0 ? hex(hasher.emptyRoot()) : hex(refRoots[m]!));
        }
      }
    });
  }

  it('appendMany in uneven batches gives the same levels as one build', () => {
    const tree = new MerkleTree(nodeHasher);
    let i = 0;
    for (const batch of [1, 2, 3, 5, 8, 13, 1, 31]) {
      tree.appendMany(leaves.slice(i, i + batch));
      i += batch;
      expect(hex(tree.root())).to.equal(hex(refRoots[i]!));
      for (let idx = 0; idx < i; idx++) expect(hexList(tree.inclusionProof(idx))).to.deep.equal(hexList(refPath(idx, leaves.slice(0, i))));
    }
  });

  it('every inclusion proof (all sizes, all indices, current and older sizes) equals PATH(m, D[n]) and verifies', () => {
    const big = MerkleTree.fromLeafHashes(leaves, nodeHasher); // proofs for older sizes of a bigger tree
    let checked = 0;
    for (let n = 1; n <= MAX; n++) {
      const tree = MerkleTree.fromLeafHashes(leaves.slice(0, n), nodeHasher);
      const root = tree.root();
      for (let i = 0; i < n; i++) {
        const want = hexList(refPath(i, leaves.slice(0, n)));
        const proof = tree.inclusionProof(i);
        expect(hexList(proof), `PATH(${i}, ${n})`).to.deep.equal(want);
        expect(hexList(big.inclusionProof(i, n)), `older size PATH(${i}, ${n})`).to.deep.equal(want);
        expect(inclusionProofSize(i, n)).to.equal(want.length);
        expect(verifyInclusion(leaves[i]!, i, n, proof, root), `verify ${i}/${n}`).to.equal(true);
        expect(verifyInclusion(leaves[i]!, i, n, tree.inclusionProofFlat(i), root)).to.equal(true);
        expect(hex(rootFromInclusionProof(leaves[i]!, i, n, proof, nodeHasher))).to.equal(hex(refRoots[n]!));
        checked++;
      }
    }
    expect(checked).to.equal((MAX * (MAX + 1)) / 2);
  });

  it('every consistency proof (all size pairs 0 ≤ m ≤ n ≤ 64) equals PROOF(m, D[n]) and verifies', () => {
    const big = MerkleTree.fromLeafHashes(leaves, nodeHasher);
    for (let n = 1; n <= MAX; n++) {
      const tree = MerkleTree.fromLeafHashes(leaves.slice(0, n), nodeHasher);
      for (let m = 0; m <= n; m++) {
        const want = hexList(refConsistency(m, leaves.slice(0, n)));
        const proof = tree.consistencyProof(m);
        expect(hexList(proof), `PROOF(${m}, ${n})`).to.deep.equal(want);
        expect(hexList(big.consistencyProof(m, n)), `older sizes PROOF(${m}, ${n})`).to.deep.equal(want);
        expect(consistencyProofSize(m, n)).to.equal(want.length);
        const r1 = m === 0 ? nobleHasher.emptyRoot() : refRoots[m]!;
        expect(verifyConsistency(m, n, proof, r1, refRoots[n]!), `verify ${m}→${n}`).to.equal(true);
        expect(verifyConsistency(m, n, tree.consistencyProofFlat(m), r1, refRoots[n]!)).to.equal(true);
      }
    }
  });

  it('proof sizes match the closed form of transparency-dev for larger sizes', () => {
    // inner = bitlen(index ^ (size-1)), border = popcount(index >> inner)
    const bitlen = (x: number): number => (x === 0 ? 0 : 32 - Math.clz32(x));
    const popcount = (x: number): number => {
      let c = 0;
      for (; x; x &= x - 1) c++;
      return c;
    };
    for (const size of [1, 2, 3, 100, 1000, 65535, 65536, 65537, 1_000_000]) {
      for (const index of [0, 1, size >> 1, size - 2, size - 1].filter((i) => i >= 0 && i < size)) {
        const inner = bitlen(index ^ (size - 1));
        expect(inclusionProofSize(index, size), `${index}/${size}`).to.equal(inner + popcount(index >>> inner));
      }
    }
    // sizes beyond 32 bits are handled by the verifier's (non-bitwise) arithmetic
    const bigClosedForm = (index: bigint, size: bigint): number => {
      const inner = (index ^ (size - 1n)).toString(2).length;
      return inner + (index >> BigInt(inner)).toString(2).replace(/0/g, '').length;
    };
    for (const [i, s] of [
      [2 ** 40, 2 ** 41 + 3],
      [2 ** 52 + 12345, 2 ** 53 - 1],
      [7, 2 ** 45 + 2 ** 33 + 5],
    ] as const) {
      expect(inclusionProofSize(i, s), `${i}/${s}`).to.equal(bigClosedForm(BigInt(i), BigInt(s)));
    }
    expect(consistencyProofSize(2 ** 40, 2 ** 41)).to.equal(1);
    expect(consistencyProofSize(2 ** 40, 2 ** 41 + 1)).to.equal(2);
  });
});
