/** The noble (browser) and node:crypto hashers must be interchangeable, bit for bit. */
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import {
  MerkleTree,
  bytesEqual,
  bytesToHex,
  concatBytes,
  createMerkleHasher,
  hexToBytes,
  isBytes,
  nobleHasher,
  verifyConsistency,
  verifyInclusion,
} from '../../../gateway/src/merkle';
import { createNodeHasher, nodeHasher } from '../../../gateway/src/merkle/node-hasher';
import { hex, refLeafHash, refNodeHash, sha256 } from './helpers';

const rnd = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

describe('merkle: hashers', () => {
  it('hashLeaf agrees (noble, node, reference) for lengths 0..300', () => {
    for (let len = 0; len <= 300; len += len < 70 ? 1 : 23) {
      const data = rnd(len);
      const want = hex(refLeafHash(data));
      expect(hex(nobleHasher.hashLeaf(data)), `noble ${len}`).to.equal(want);
      expect(hex(nodeHasher.hashLeaf(data)), `node ${len}`).to.equal(want);
    }
  });

  it('hashChildren agrees for 32+32 and arbitrary lengths, and does not alias outputs', () => {
    for (const [a, b] of [
      [32, 32],
      [0, 0],
      [1, 63],
      [31, 33],
      [64, 100],
    ] as const) {
      const l = rnd(a);
      const r = rnd(b);
      const want = hex(refNodeHash(l, r));
      const x = nobleHasher.hashChildren(l, r);
      const y = nodeHasher.hashChildren(l, r);
      expect(hex(x)).to.equal(want);
      expect(hex(y)).to.equal(want);
      // returned arrays are fresh (the scratch buffers are reused internally)
      const x2 = nobleHasher.hashChildren(r, l);
      const y2 = nodeHasher.hashChildren(r, l);
      expect(hex(x)).to.equal(want);
      expect(hex(y)).to.equal(want);
      expect(hex(x2)).to.equal(hex(y2));
    }
  });

  it('emptyRoot is SHA-256("") and a fresh copy each time', () => {
    for (const h of [nobleHasher, nodeHasher]) {
      const e = h.emptyRoot();
      expect(hex(e)).to.equal(hex(sha256()));
      e[0] = 0;
      expect(hex(h.emptyRoot())).to.equal(hex(sha256()));
    }
  });

  it('hashChildrenBulk agrees with hashChildren, aligned and unaligned, with offsets', () => {
    const count = 37;
    const backing = rnd(64 * count + 7);
    for (const shift of [0, 1, 3, 4]) {
      const src = backing.subarray(shift, shift + 64 * count); // unaligned byteOffset when shift % 4 !== 0
      for (const h of [nobleHasher, nodeHasher, createNodeHasher()]) {
        const dst = new Uint8Array(32 * (count + 2));
        h.hashChildrenBulk(src, 64, dst, 32, count - 1);
        for (let i = 1; i < count; i++) {
          const want = refNodeHash(src.subarray(64 * i, 64 * i + 32), src.subarray(64 * i + 32, 64 * i + 64));
          expect(hex(dst.subarray(32 * i, 32 * i + 32)), `${h.name} shift ${shift} pair ${i}`).to.equal(hex(want));
        }
        expect(hex(dst.subarray(0, 32))).to.equal('00'.repeat(32)); // nothing written outside the range
      }
    }
  });

  it('trees built with either hasher give identical roots and proofs (random sizes up to 3000)', () => {
    for (const n of [1, 2, 3, 255, 256, 257, 1000, 2999]) {
      const leaves = rnd(32 * n);
      const a = MerkleTree.fromLeafHashes(leaves, nobleHasher);
      const b = MerkleTree.fromLeafHashes(leaves, nodeHasher);
      expect(hex(a.root()), `root ${n}`).to.equal(hex(b.root()));
      for (const i of [0, n >> 1, n - 1]) expect(hex(a.inclusionProofFlat(i))).to.equal(hex(b.inclusionProofFlat(i)));
      for (const m of [1, n >> 1, n - 1].filter((x) => x > 0)) {
        expect(hex(a.rootAt(m))).to.equal(hex(b.rootAt(m)));
        expect(hex(a.consistencyProofFlat(m))).to.equal(hex(b.consistencyProofFlat(m)));
        // verifier with either hasher
        expect(verifyConsistency(m, n, b.consistencyProofFlat(m), a.rootAt(m), a.root(), nodeHasher)).to.equal(true);
      }
      const i = n - 1;
      const leaf = leaves.subarray(32 * i, 32 * i + 32);
      expect(verifyInclusion(leaf, i, n, b.inclusionProof(i), a.root())).to.equal(true);
      expect(verifyInclusion(leaf, i, n, b.inclusionProof(i), a.root(), nodeHasher)).to.equal(true);
    }
  });

  it('the worker-thread node hasher gives the same levels, also when a worker misses its deadline', async function () {
    this.timeout(30_000);
    const leaves = rnd(32 * 5000);
    const want = hex(MerkleTree.fromLeafHashes(leaves, nodeHasher).root());
    const parallel = createNodeHasher({ workers: 1, parallelThreshold: 64 });
    try {
      const tree = MerkleTree.fromLeafHashes(leaves, parallel);
      expect(hex(tree.root())).to.equal(want);
      expect(hex(tree.inclusionProofFlat(4321))).to.equal(hex(MerkleTree.fromLeafHashes(leaves, nodeHasher).inclusionProofFlat(4321)));
      expect(parallel.activeWorkers).to.equal(1);
      const src = rnd(64 * 1000);
      const a = new Uint8Array(32 * 1000);
      const b = new Uint8Array(32 * 1000);
      parallel.hashChildrenBulk(src.subarray(0), 0, a, 0, 1000);
      nodeHasher.hashChildrenBulk(src, 0, b, 0, 1000);
      expect(hex(a)).to.equal(hex(b));
    } finally {
      await parallel.close();
    }
    expect(parallel.activeWorkers).to.equal(0);
    // after close it keeps working single-threaded
    expect(hex(MerkleTree.fromLeafHashes(leaves, parallel).root())).to.equal(want);
    // a zero deadline makes the caller recompute the worker's share itself: same result
    const impatient = createNodeHasher({ workers: 1, parallelThreshold: 64, workerTimeoutMs: 0 });
    try {
      expect(hex(MerkleTree.fromLeafHashes(leaves, impatient).root())).to.equal(want);
    } finally {
      await impatient.close();
    }
  });

  it('createMerkleHasher wraps any SHA-256', () => {
    const h = createMerkleHasher((m) => sha256(m), 'ref');
    const data = rnd(40);
    expect(hex(h.hashLeaf(data))).to.equal(hex(nobleHasher.hashLeaf(data)));
    expect(h.name).to.equal('ref');
  });
});

describe('merkle: byte helpers', () => {
  it('hex round trip, 0x prefix, upper case, errors', () => {
    const b = rnd(33);
    expect(bytesToHex(b)).to.equal(Buffer.from(b).toString('hex'));
    expect(bytesEqual(hexToBytes(bytesToHex(b)), b)).to.equal(true);
    expect(bytesEqual(hexToBytes('0x' + bytesToHex(b).toUpperCase()), b)).to.equal(true);
    expect(hexToBytes('').length).to.equal(0);
    expect(() => hexToBytes('abc')).to.throw(TypeError);
    expect(() => hexToBytes('zz')).to.throw(TypeError);
    expect(() => hexToBytes('0g')).to.throw(TypeError);
  });
  it('bytesEqual, concatBytes, isBytes', () => {
    expect(bytesEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2))).to.equal(true);
    expect(bytesEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 3))).to.equal(false);
    expect(bytesEqual(Uint8Array.of(1), Uint8Array.of(1, 2))).to.equal(false);
    expect(Array.from(concatBytes(Uint8Array.of(1), new Uint8Array(0), Uint8Array.of(2, 3)))).to.deep.equal([1, 2, 3]);
    expect(isBytes(Buffer.alloc(1))).to.equal(true);
    expect(isBytes([1, 2])).to.equal(false);
    expect(isBytes(new Uint16Array(1))).to.equal(false);
  });
});
