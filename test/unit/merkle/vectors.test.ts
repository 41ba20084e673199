/**
 * Published RFC 6962 / Certificate Transparency test vectors.
 *
 * Sources (transparency-dev/merkle, Apache-2.0; same values as google/certificate-transparency's
 * merkle_tree_test):
 * - leaf inputs, perfect-subtree node hashes, roots 0..8: `testonly/constants.go`
 *   (LeafInputs, NodeHashes, RootHashes, EmptyRootHash)
 * - inclusion and consistency proofs: `proof/verify_test.go` (inclusionProofs, consistencyProofs,
 *   roots; note that file's `leaf` field is 1-based, converted to 0-based indices below)
 * - hasher known answers: `rfc6962/rfc6962_test.go` (TestRFC6962Hasher)
 */
import { expect } from 'chai';
import {
  MerkleTree,
  emptyRoot,
  hashChildren,
  hashLeaf,
  merkleRoot,
  rootFromInclusionProof,
  verifyConsistency,
  verifyInclusion,
} from '../../../gateway/src/merkle';
import { nodeHasher } from '../../../gateway/src/merkle/node-hasher';
import { flipBit, hex, hexList, refRoot, rejects, throwsCode, unhex } from './helpers';

const LEAF_INPUTS = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'];

const EMPTY_ROOT = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** RootHashes()[1..8]: root of the first n leaves, n = 1..8. */
const ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

/** NodeHashes(): [level][index] hashes of the perfect subtrees of the 8-leaf tree. */
const NODE_HASHES = [
  [
    '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
    '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
    '0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7',
    '07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7',
    'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    '4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658',
    'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
    '46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1',
  ],
  [
    'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
    '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
    '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
    'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
  ],
  [
    'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
  ],
  ['5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328'],
];

/** verify_test.go inclusionProofs (index converted to 0-based). */
const INCLUSION = [
  { index: 0, size: 1, proof: [] as string[] },
  {
    index: 0,
    size: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    index: 5,
    size: 8,
    proof: [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  { index: 2, size: 3, proof: ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125'] },
  {
    index: 1,
    size: 5,
    proof: [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
];

/** verify_test.go consistencyProofs. */
const CONSISTENCY = [
  { size1: 1, size2: 1, proof: [] as string[] },
  {
    size1: 1,
    size2: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    size1: 6,
    size2: 8,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  {
    size1: 2,
    size2: 5,
    proof: [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
  {
    size1: 6,
    size2: 7,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
];

const SOME_HASH = unhex('abacaba000000000000000000000000000000000000000000060061e00123456');

const leafHashes = LEAF_INPUTS.map((h) => hashLeaf(unhex(h)));
const rootOf = (n: number): Uint8Array => unhex(n === 0 ? EMPTY_ROOT : ROOTS[n - 1]!);

describe('merkle: RFC 6962 / CT published vectors', () => {
  it('hasher known answers (rfc6962_test.go)', () => {
    expect(hex(emptyRoot())).to.equal(EMPTY_ROOT);
    expect(hex(hashLeaf(new Uint8Array(0)))).to.equal('6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d');
    expect(hex(hashLeaf(new TextEncoder().encode('L123456')))).to.equal(
      '395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56',
    );
    const enc = new TextEncoder();
    expect(hex(hashChildren(enc.encode('N123'), enc.encode('N456')))).to.equal(
      'aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb',
    );
    for (const h of [nodeHasher]) {
      expect(hex(h.emptyRoot())).to.equal(EMPTY_ROOT);
      expect(hex(h.hashChildren(enc.encode('N123'), enc.encode('N456')))).to.equal(
        'aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb',
      );
    }
  });

  it('leaf hashes of the 8 CT leaves match NodeHashes level 0', () => {
    expect(hexList(leafHashes)).to.deep.equal(NODE_HASHES[0]);
  });

  it('perfect subtree hashes match NodeHashes levels 1..3', () => {
    for (let level = 1; level < NODE_HASHES.length; level++) {
      const width = 2 ** level;
      NODE_HASHES[level]!.forEach((want, j) => {
        expect(hex(merkleRoot(leafHashes.slice(j * width, (j + 1) * width))), `level ${level} node ${j}`).to.equal(want);
      });
    }
  });

  it('roots for every size 0..8: tree.rootAt, incremental append, merkleRoot, naive reference', () => {
    const tree = MerkleTree.fromLeafHashes(leafHashes);
    const incremental = new MerkleTree();
    expect(hex(incremental.root())).to.equal(EMPTY_ROOT);
    expect(hex(tree.rootAt(0))).to.equal(EMPTY_ROOT);
    for (let n = 1; n <= 8; n++) {
      incremental.append(leafHashes[n - 1]!);
      expect(hex(tree.rootAt(n)), `rootAt(${n})`).to.equal(ROOTS[n - 1]);
      expect(hex(incremental.root()), `append → ${n}`).to.equal(ROOTS[n - 1]);
      expect(hex(merkleRoot(leafHashes.slice(0, n))), `merkleRoot ${n}`).to.equal(ROOTS[n - 1]);
      expect(hex(refRoot(leafHashes.slice(0, n))), `reference ${n}`).to.equal(ROOTS[n - 1]);
      expect(hex(MerkleTree.fromLeafHashes(leafHashes.slice(0, n), nodeHasher).root())).to.equal(ROOTS[n - 1]);
    }
  });

  describe('published inclusion proofs', () => {
    const tree = MerkleTree.fromLeafHashes(leafHashes);
    for (const v of INCLUSION) {
      it(`index ${v.index} in size ${v.size}`, () => {
        const leaf = leafHashes[v.index]!;
        const proof = v.proof.map(unhex);
        expect(hexList(tree.inclusionProof(v.index, v.size))).to.deep.equal(v.proof);
        expect(hex(rootFromInclusionProof(leaf, v.index, v.size, proof))).to.equal(ROOTS[v.size - 1]);
        expect(verifyInclusion(leaf, v.index, v.size, proof, rootOf(v.size))).to.equal(true);
        // the corruptions of transparency-dev's corruptInclusionProof()
        const probes: [string, () => boolean][] = [
          ['index - 1', () => verifyInclusion(leaf, v.index - 1, v.size, proof, rootOf(v.size))],
          ['index + 1', () => verifyInclusion(leaf, v.index + 1, v.size, proof, rootOf(v.size))],
          ['index ^ 2', () => verifyInclusion(leaf, v.index ^ 2, v.size, proof, rootOf(v.size))],
          ['size * 2', () => verifyInclusion(leaf, v.index, v.size * 2, proof, rootOf(v.size))],
          ['size / 2', () => verifyInclusion(leaf, v.index, Math.floor(v.size / 2), proof, rootOf(v.size))],
          ['wrong leaf', () => verifyInclusion(flipBit(leaf), v.index, v.size, proof, rootOf(v.size))],
          ['empty root', () => verifyInclusion(leaf, v.index, v.size, proof, unhex(EMPTY_ROOT))],
          ['random root', () => verifyInclusion(leaf, v.index, v.size, proof, SOME_HASH)],
          ['trailing root', () => verifyInclusion(leaf, v.index, v.size, [...proof, rootOf(v.size)], rootOf(v.size))],
          ['preceding root', () => verifyInclusion(leaf, v.index, v.size, [rootOf(v.size), ...proof], rootOf(v.size))],
          ['trailing garbage', () => verifyInclusion(leaf, v.index, v.size, [...proof, new Uint8Array(0)], rootOf(v.size))],
        ];
        proof.forEach((_, i) => {
          const bad = proof.slice();
          bad[i] = flipBit(bad[i]!, 0, 3);
          probes.push([`proof[${i}] bit 3`, () => verifyInclusion(leaf, v.index, v.size, bad, rootOf(v.size))]);
        });
        if (proof.length > 0) {
          probes.push(['removed component', () => verifyInclusion(leaf, v.index, v.size, proof.slice(0, -1), rootOf(v.size))]);
        }
        if (proof.length > 1) {
          const inserted = [proof[0]!, SOME_HASH, ...proof.slice(1)];
          probes.push(['inserted component', () => verifyInclusion(leaf, v.index, v.size, inserted, rootOf(v.size))]);
        }
        for (const [desc, probe] of probes) rejects(probe, desc);
      });
    }
  });

  describe('published consistency proofs', () => {
    const tree = MerkleTree.fromLeafHashes(leafHashes);
    for (const v of CONSISTENCY) {
      it(`${v.size1} → ${v.size2}`, () => {
        const proof = v.proof.map(unhex);
        const r1 = rootOf(v.size1);
        const r2 = rootOf(v.size2);
        expect(hexList(tree.consistencyProof(v.size1, v.size2))).to.deep.equal(v.proof);
        expect(verifyConsistency(v.size1, v.size2, proof, r1, r2)).to.equal(true);
        if (proof.length === 0) return; // as in transparency-dev: corrupt only non-trivial proofs
        const probes: [string, () => boolean][] = [
          ['size1 - 1', () => verifyConsistency(v.size1 - 1, v.size2, proof, r1, r2)],
          ['size1 + 1', () => verifyConsistency(v.size1 + 1, v.size2, proof, r1, r2)],
          ['size1 ^ 2', () => verifyConsistency(v.size1 ^ 2, v.size2, proof, r1, r2)],
          ['size2 * 2', () => verifyConsistency(v.size1, v.size2 * 2, proof, r1, r2)],
          ['size2 / 2', () => verifyConsistency(v.size1, Math.floor(v.size2 / 2), proof, r1, r2)],
          ['wrong root1', () => verifyConsistency(v.size1, v.size2, proof, flipBit(r1), r2)],
          ['wrong root2', () => verifyConsistency(v.size1, v.size2, proof, r1, flipBit(r2))],
          ['swapped roots', () => verifyConsistency(v.size1, v.size2, proof, r2, r1)],
          ['empty proof', () => verifyConsistency(v.size1, v.size2, [], r1, r2)],
          ['trailing root1', () => verifyConsistency(v.size1, v.size2, [...proof, r1], r1, r2)],
          ['trailing root2', () => verifyConsistency(v.size1, v.size2, [...proof, r2], r1, r2)],
          ['preceding root1', () => verifyConsistency(v.size1, v.size2, [r1, ...proof], r1, r2)],
          ['preceding root2', () => verifyConsistency(v.size1, v.size2, [r2, ...proof], r1, r2)],
          ['preceding proof[0]', () => verifyConsistency(v.size1, v.size2, [proof[0]!, ...proof], r1, r2)],
          ['truncated proof', () => verifyConsistency(v.size1, v.size2, proof.slice(0, -1), r1, r2)],
        ];
        proof.forEach((_, i) => {
          const bad = proof.slice();
          bad[i] = flipBit(bad[i]!, 0, 4);
          probes.push([`proof[${i}] bit 4`, () => verifyConsistency(v.size1, v.size2, bad, r1, r2)]);
        });
        for (const [desc, probe] of probes) rejects(probe, desc);
      });
    }
  });

  it('consistency edge cases (TestVerifyConsistency, adapted to this module\'s error policy)', () => {
    const empty = unhex(EMPTY_ROOT);
    const a = rootOf(1);
    const b = rootOf(2);
    // sizes that are always consistent (given an empty proof and matching/empty roots)
    expect(verifyConsistency(0, 0, [], empty, empty)).to.equal(true);
    expect(verifyConsistency(0, 1, [], empty, a)).to.equal(true);
    expect(verifyConsistency(1, 1, [], a, a)).to.equal(true);
    // roots do not match
    expect(verifyConsistency(1, 1, [], a, b)).to.equal(false);
    expect(verifyConsistency(0, 0, [], empty, b)).to.equal(false);
    // size1 = 0 requires root1 = SHA-256("") (stricter than transparency-dev, which ignores root1)
    expect(verifyConsistency(0, 1, [], a, a)).to.equal(false);
    // time travel to the past
    throwsCode(() => verifyConsistency(1, 0, [], a, b), 'SIZES_OUT_OF_ORDER');
    throwsCode(() => verifyConsistency(2, 1, [], a, b), 'SIZES_OUT_OF_ORDER');
    // empty proof where one is needed; non-empty proof where it must be empty
    throwsCode(() => verifyConsistency(1, 2, [], a, b), 'PROOF_MALFORMED');
    throwsCode(() => verifyConsistency(0, 0, [empty], empty, empty), 'PROOF_MALFORMED');
    throwsCode(() => verifyConsistency(0, 1, [empty], empty, a), 'PROOF_MALFORMED');
    throwsCode(() => verifyConsistency(1, 1, [empty], a, a), 'PROOF_MALFORMED');
  });

  it('inclusion edge cases (TestVerifyInclusion / SingleEntry)', () => {
    const leaf = hashLeaf(new TextEncoder().encode('data'));
    expect(verifyInclusion(leaf, 0, 1, [], leaf)).to.equal(true); // root of a 1-leaf tree is the leaf hash
    expect(verifyInclusion(leaf, 0, 1, [], SOME_HASH)).to.equal(false);
    throwsCode(() => verifyInclusion(leaf, 0, 1, [], new Uint8Array(0)), 'INVALID_HASH');
    throwsCode(() => verifyInclusion(new Uint8Array(0), 0, 1, [], leaf), 'INVALID_HASH');
    for (const [index, size] of [
      [0, 0],
      [1, 0],
      [2, 1],
    ] as const) {
      throwsCode(() => verifyInclusion(SOME_HASH, index, size, [], unhex(EMPTY_ROOT)), 'INDEX_OUT_OF_RANGE');
    }
  });
});
