/** MerkleTree API behaviour: append, older sizes, output ownership, argument checking. */
import { expect } from 'chai';
import { MerkleTree, batchProof, flattenProof, toProofList, verifyConsistency, verifyInclusion } from '../../../gateway/src/merkle';
import { nodeHasher } from '../../../gateway/src/merkle/node-hasher';
import { hex, hexList, makeLeaves, refConsistency, refPath, refRoot } from './helpers';

describe('merkle: MerkleTree', () => {
  const leaves = makeLeaves(300);

  it('append returns the index and keeps every older root, proof and consistency proof valid', () => {
    const tree = new MerkleTree(nodeHasher);
    for (let n = 1; n <= 300; n++) {
      expect(tree.append(leaves[n - 1]!)).to.equal(n - 1);
      expect(tree.size).to.equal(n);
    }
    for (const n of [1, 2, 5, 64, 127, 128, 129, 255, 300]) {
      const prefix = leaves.slice(0, n);
      expect(hex(tree.rootAt(n))).to.equal(hex(refRoot(prefix)));
      for (const i of [0, n >> 1, n - 1]) expect(hexList(tree.inclusionProof(i, n))).to.deep.equal(hexList(refPath(i, prefix)));
      for (const m of [0, 1, n >> 1, n - 1, n]) {
        expect(hexList(tree.consistencyProof(m, n)), `${m}→${n}`).to.deep.equal(hexList(refConsistency(m, prefix)));
      }
    }
  });

  it('checkpointer pattern: interleaved appends, roots, and consistency proofs from earlier checkpoints', () => {
    const tree = new MerkleTree(nodeHasher);
    const checkpoints: { size: number; root: Uint8Array }[] = [];
    let i = 0;
    for (const batch of [1, 1, 2, 3, 1, 8, 5, 13, 21, 34, 1, 1, 64, 100]) {
      if (batch === 1) tree.append(leaves[i]!);
      else tree.appendMany(leaves.slice(i, i + batch));
      i += batch;
      const root = tree.root();
      for (const cp of checkpoints) {
        expect(hex(tree.rootAt(cp.size))).to.equal(hex(cp.root));
        expect(verifyConsistency(cp.size, i, tree.consistencyProof(cp.size), cp.root, root, nodeHasher), `${cp.size}→${i}`).to.equal(true);
      }
      for (const j of [0, i - 1, i >> 1]) expect(verifyInclusion(leaves[j]!, j, i, tree.inclusionProof(j), root, nodeHasher)).to.equal(true);
      checkpoints.push({ size: i, root });
    }
  });

  it('appendMany grows capacity across reallocations and matches a single build', () => {
    const a = new MerkleTree(nodeHasher);
    a.appendMany(leaves.slice(0, 1));
    a.appendMany(new Uint8Array(0));
    a.appendMany(leaves.slice(1, 17));
    const flat = new Uint8Array(32 * 283);
    leaves.slice(17).forEach((l, i) => flat.set(l, 32 * i));
    a.appendMany(flat);
    const b = MerkleTree.fromLeafHashes(leaves, nodeHasher);
    expect(hex(a.root())).to.equal(hex(b.root()));
    for (let i = 0; i < 300; i += 7) expect(hex(a.inclusionProofFlat(i))).to.equal(hex(b.inclusionProofFlat(i)));
    expect(hex(a.leafHash(299))).to.equal(hex(leaves[299]!));
  });

  it('returns copies: mutating outputs does not corrupt the tree', () => {
    const tree = MerkleTree.fromLeafHashes(leaves.slice(0, 100), nodeHasher);
    const root = hex(tree.root());
    tree.root()[0]! ^= 1;
    tree.leafHash(3)[0]! ^= 1;
    for (const p of tree.inclusionProof(3)) p.fill(0);
    tree.consistencyProofFlat(37).fill(0);
    tree.rootAt(37).fill(0);
    expect(hex(tree.root())).to.equal(root);
    expect(verifyInclusion(leaves[3]!, 3, 100, tree.inclusionProof(3), tree.root())).to.equal(true);
  });

  it('does not keep a reference to the input leaves', () => {
    const flat = new Uint8Array(32 * 10);
    leaves.slice(0, 10).forEach((l, i) => flat.set(l, 32 * i));
    const tree = MerkleTree.fromLeafHashes(flat, nodeHasher);
    const root = hex(tree.root());
    flat.fill(0);
    expect(hex(tree.root())).to.equal(root);
  });

  it('inclusionProofBatch equals per-leaf proofs for every range of small trees, current and older sizes', () => {
    const tree = MerkleTree.fromLeafHashes(leaves.slice(0, 70), nodeHasher);
    for (let m = 1; m <= 70; m++) {
      const want = Array.from({ length: m }, (_, i) => hex(tree.inclusionProofFlat(i, m)));
      for (const [start, end] of [
        [0, m],
        [m >> 1, m],
        [1, Math.max(1, m - 1)],
        [m - 1, m],
        [m, m],
      ] as const) {
        if (start > end) continue;
        const batch = tree.inclusionProofBatch(start, end, m);
        expect(batch.count).to.equal(end - start);
        expect(batch.offsets[batch.count]).to.equal(batch.proofs.length);
        for (let i = start; i < end; i++) expect(hex(batchProof(batch, i)), `${i}/${m} in [${start},${end})`).to.equal(want[i]);
      }
    }
    const batch = tree.inclusionProofBatch(0, 70);
    expect(() => batchProof(batch, 70)).to.throw(RangeError);
    expect(verifyInclusion(leaves[33]!, 33, 70, batchProof(batch, 33), tree.root())).to.equal(true);
  });

  it('writeInclusionProofs streams ranges through a reusable buffer', () => {
    const tree = MerkleTree.fromLeafHashes(leaves, nodeHasher);
    const out = new Uint8Array(8 + 32 * 9 * 64);
    const offsets = new Uint32Array(65);
    for (let start = 0; start < 300; start += 64) {
      const end = Math.min(300, start + 64);
      const written = tree.writeInclusionProofs(start, end, 300, out, offsets, 8);
      expect(offsets[0]).to.equal(8);
      expect(offsets[end - start]).to.equal(8 + written);
      for (let i = start; i < end; i++) {
        const p = out.subarray(offsets[i - start]!, offsets[i - start + 1]!);
        expect(hex(p)).to.equal(hex(tree.inclusionProofFlat(i)));
      }
    }
    expect(() => tree.writeInclusionProofs(0, 64, 300, out, offsets, 2)).to.throw(RangeError); // misaligned
    expect(() => tree.writeInclusionProofs(0, 64, 300, new Uint8Array(32 * 100), offsets)).to.throw(RangeError); // too small
    expect(() => tree.writeInclusionProofs(0, 64, 300, out, new Uint32Array(64))).to.throw(RangeError); // offsets too short
    expect(() => tree.inclusionProofBatch(5, 4)).to.throw(RangeError);
    expect(() => tree.inclusionProofBatch(0, 301)).to.throw(RangeError);
  });

  it('flat and list proof forms convert both ways', () => {
    const tree = MerkleTree.fromLeafHashes(leaves.slice(0, 77), nodeHasher);
    const flat = tree.inclusionProofFlat(40);
    const list = tree.inclusionProof(40);
    expect(hex(flattenProof(list))).to.equal(hex(flat));
    expect(hexList(toProofList(flat))).to.deep.equal(hexList(list));
  });

  it('empty tree and argument checking', () => {
    const tree = new MerkleTree(nodeHasher);
    expect(tree.size).to.equal(0);
    expect(hex(tree.root())).to.equal('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(() => tree.inclusionProof(0)).to.throw(RangeError);
    expect(tree.consistencyProof(0)).to.deep.equal([]);
    tree.appendMany(leaves.slice(0, 10));
    expect(() => tree.inclusionProof(10)).to.throw(RangeError);
    expect(() => tree.inclusionProof(3, 11)).to.throw(RangeError);
    expect(() => tree.inclusionProof(5, 5)).to.throw(RangeError);
    expect(() => tree.inclusionProof(-1)).to.throw(RangeError);
    expect(() => tree.inclusionProof(1.5)).to.throw(RangeError);
    expect(() => tree.rootAt(11)).to.throw(RangeError);
    expect(() => tree.consistencyProof(6, 5)).to.throw(RangeError);
    expect(() => tree.consistencyProof(1, 11)).to.throw(RangeError);
    expect(() => tree.leafHash(10)).to.throw(RangeError);
    expect(() => tree.append(new Uint8Array(31))).to.throw(TypeError);
    expect(() => tree.appendMany(new Uint8Array(33))).to.throw(TypeError);
    expect(() => tree.appendMany([new Uint8Array(32), new Uint8Array(1)])).to.throw(TypeError);
    expect(tree.size).to.equal(10);
  });
});

describe('merkle: browser safety', () => {
  it('the public surface (index.ts and what it imports) uses no Node built-ins or Buffer', async () => {
    const { readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const dir = join(__dirname, '../../../gateway/src/merkle');
    const source = (file: string): string =>
      readFileSync(join(dir, `${file}.ts`), 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '') // comments (TSDoc examples mention node-hasher)
        .replace(/\/\/.*$/gm, '');
    const local = [...source('index').matchAll(/from '\.\/([\w-]+)'/g)].map((m) => m[1]!);
    expect(local).to.not.include('node-hasher');
    expect(local).to.include.members(['hasher', 'verify', 'tree']);
    for (const file of new Set(['index', ...local])) {
      const code = source(file);
      expect(code, file).to.not.match(/from 'node:|require\(|\bBuffer\b|\bprocess\./);
      for (const m of code.matchAll(/from '([^']+)'/g)) {
        expect(m[1]!.startsWith('./') || m[1] === '@noble/hashes/sha2.js', `${file} imports ${m[1]}`).to.equal(true);
      }
    }
  });
});
