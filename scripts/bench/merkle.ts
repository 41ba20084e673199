/**
 * Merkle module benchmark: prints figures, asserts nothing (beyond sanity checks of results).
 *
 *   npx tsx scripts/bench/merkle.ts                     # 1,000,000 leaves, 100,000 verifications
 *   MERKLE_BENCH_LEAVES=100000 MERKLE_BENCH_VERIFY=10000 npx tsx scripts/bench/merkle.ts
 *
 * Note on noble under tsx: tsx transpiles ESM-only packages that CommonJS code `require`s, and the
 * transpiled @noble/hashes is ~10x slower than the same code loaded natively (every internal call
 * goes through an esbuild namespace getter). Compiled output (tsc → node, which uses Node's native
 * require(esm)) and browser bundles load it natively. The noble baseline below therefore uses a
 * noble instance loaded with a native dynamic `import()` (identical code, no transpilation) and
 * reports the tsx-transpiled static import separately, on a sample.
 *
 * Beside the tree, the raw hashing of the same bytes: node:crypto SHA-256 of the n − 1 interior
 * messages (0x01 ‖ left ‖ right, 65 bytes, one call each: the least any builder must hash) and of
 * the n leaf hashes as one message; and the archive's level builder (`archive-build.ts`, the
 * same tree kept as flat levels) for comparison.
 */
import { createHash, hash as cryptoHash, randomBytes, randomInt } from 'node:crypto';
import {
  MerkleTree,
  bytesEqual,
  createMerkleHasher,
  inclusionProofSize,
  nobleHasher,
  verifyInclusion,
  type MerkleHasher,
} from '../../gateway/src/merkle';
import { createNodeHasher, nodeHasher } from '../../gateway/src/merkle/node-hasher';
import { allocateLevels, buildLevels, leafLevel, levelsRoot } from '../../gateway/src/anchoring/archive-build';

const N = Number(process.env.MERKLE_BENCH_LEAVES ?? 1_000_000);
const VERIFY_N = Number(process.env.MERKLE_BENCH_VERIFY ?? 100_000);
const CHUNK = 65_536;

const rows: string[][] = [];
const int = (x: number): string => Math.round(x).toLocaleString('en-US');
const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const fmtMs = (ms: number): string => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`);
const perSec = (count: number, ms: number): string => `${int((count / ms) * 1000)}/s`;

function row(what: string, hasher: string, ms: number | undefined, rate: string): void {
  rows.push([what, hasher, ms === undefined ? '' : fmtMs(ms), rate, mib(process.memoryUsage().rss)]);
}

function timed<T>(fn: () => T): [T, number] {
  const t0 = performance.now();
  const r = fn();
  return [r, performance.now() - t0];
}

function printTable(): void {
  const header = ['measurement', 'hasher', 'time', 'rate', 'rss after'];
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((r) => r[c]!.length)));
  const line = (r: string[]): string =>
    r.map((cell, c) => (c >= 2 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd();
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

/** Per-hash cost of the SHA-256 options for one 65-byte interior-node message. */
function hashMicrobench(nativeNobleSha256: (m: Uint8Array) => Uint8Array): void {
  const M = 200_000;
  const msg = new Uint8Array(randomBytes(65));
  msg[0] = 1;
  const src = new Uint8Array(randomBytes(64 * M));
  const dst = new Uint8Array(32 * M);
  const loop = (count: number, f: () => unknown) => (): void => {
    for (let i = 0; i < count; i++) f();
  };
  const candidates: [string, () => void, number][] = [
    ['createHash().update().digest()', loop(M, () => createHash('sha256').update(msg).digest()), M],
    ["crypto.hash(msg, 'buffer')", loop(M, () => cryptoHash('sha256', msg, 'buffer')), M],
    ["crypto.hash(msg, 'binary')", loop(M, () => cryptoHash('sha256', msg, 'binary')), M],
    ['nodeHasher.hashChildrenBulk, per node', () => nodeHasher.hashChildrenBulk(src, 0, dst, 0, M), M],
    ['noble sha256 (native ESM)', loop(M / 4, () => nativeNobleSha256(msg)), M / 4],
    ['noble sha256 (tsx-transpiled require)', loop(M / 40, () => nobleHasher.hashChildren(msg.subarray(1, 33), msg.subarray(33))), M / 40],
  ];
  console.log('SHA-256 of one 65-byte interior-node message:');
  for (const [name, fn, count] of candidates) {
    fn(); // warm-up
    const [, ms] = timed(fn);
    console.log(`  ${name.padEnd(40)} ${((ms * 1e6) / count).toFixed(0).padStart(6)} ns/hash`);
  }
  console.log();
}

/** Build + root, then all N proofs (one by one, and batched), with one hasher. */
function benchTree(leaves: Uint8Array, hasher: MerkleHasher, proofs: boolean): Uint8Array {
  const [tree, buildMs] = timed(() => {
    const t = MerkleTree.fromLeafHashes(leaves, hasher);
    t.root();
    return t;
  });
  row(`build ${int(N)} leaves + root`, hasher.name, buildMs, `${perSec(N, buildMs)} leaves`);
  let sink = 0;
  let batchMs = 0;
  // All N inclusion proofs, streamed in batches through one reusable buffer.
  const buf = new Uint8Array(32 * 32 * CHUNK);
  const offsets = new Uint32Array(CHUNK + 1);
  [, batchMs] = timed(() => {
    for (let start = 0; start < N; start += CHUNK) {
      sink ^= tree.writeInclusionProofs(start, Math.min(N, start + CHUNK), N, buf, offsets);
    }
  });
  if (proofs) {
    row(`all ${int(N)} inclusion proofs, batches of ${int(CHUNK)}`, hasher.name, batchMs, perSec(N, batchMs));
    // All N inclusion proofs, one call and one flat Uint8Array per proof.
    const [, singleMs] = timed(() => {
      for (let i = 0; i < N; i++) sink ^= tree.inclusionProofFlat(i).length;
    });
    row(`all ${int(N)} inclusion proofs, one call each`, hasher.name, singleMs, perSec(N, singleMs));
  }
  row('=> build + root + all proofs (batched)', hasher.name, buildMs + batchMs, '');
  if (sink === -1) console.log(sink); // keep the loops observable
  return tree.root();
}

async function main(): Promise<void> {
  console.log(`Node ${process.version}, ${int(N)} leaves, ${int(VERIFY_N)} verifications\n`);
  // Native (untranspiled) noble, see the header comment.
  const nativeNoble = (await import('@noble/hashes/sha2.js')) as typeof import('@noble/hashes/sha2.js');
  const nobleNative = createMerkleHasher((m) => nativeNoble.sha256(m), 'noble (native ESM)');
  const parallelNode = createNodeHasher({ workers: 1 });
  // Start the worker (a one-time ~50 ms cost in a long-lived gateway) outside the timed runs.
  MerkleTree.fromLeafHashes(new Uint8Array(32 * 2 * 16384), parallelNode);

  hashMicrobench((m) => nativeNoble.sha256(m));

  const leaves = new Uint8Array(randomBytes(32 * N));
  row(`${int(N)} random leaf hashes generated`, '', undefined, '');

  // Raw hashing of the same bytes: every interior message once, one node:crypto call each.
  {
    const msg = new Uint8Array(65);
    msg[0] = 1;
    const [, ms] = timed(() => {
      for (let i = 0; i + 1 < N; i++) {
        msg.set(leaves.subarray((i % (N >>> 1)) * 64, (i % (N >>> 1)) * 64 + 64), 1);
        cryptoHash('sha256', msg, 'binary');
      }
    });
    row(`raw: ${int(N - 1)} SHA-256 of 65-byte node messages, one call each`, "crypto.hash 'binary'", ms, perSec(N - 1, ms));
    const [, oneMs] = timed(() => cryptoHash('sha256', leaves, 'buffer'));
    row(`raw: SHA-256 of the ${mib(leaves.length)} of leaf hashes as one message`, 'node:crypto', oneMs, `${((leaves.length / 2 ** 20) / (oneMs / 1000)).toFixed(0)} MiB/s`);
  }

  const roots = [
    benchTree(leaves, nodeHasher, true),
    benchTree(leaves, parallelNode, false),
    benchTree(leaves, nobleNative, false),
  ];
  // The archive's flat levels (the same RFC 6962 tree; a receipt is read straight from them).
  {
    const [levelsRootBytes, ms] = timed(() => {
      const levels = allocateLevels(N);
      leafLevel(levels).set(leaves);
      buildLevels(levels, nodeHasher);
      return levelsRoot(levels);
    });
    row(`archive levels (archive-build.ts), ${int(N)} leaves + root`, nodeHasher.name, ms, `${perSec(N, ms)} leaves`);
    roots.push(levelsRootBytes);
  }
  if (!roots.every((r) => bytesEqual(r, roots[0]!))) throw new Error('roots differ between hashers');

  // Every proof at once, kept in memory.
  {
    const [batch, ms] = timed(() => MerkleTree.fromLeafHashes(leaves, nodeHasher).inclusionProofBatch(0, N));
    row(`build + all proofs as one retained ${mib(batch.proofs.length)} batch`, nodeHasher.name, ms, '');
  }

  // Incremental log: append one leaf at a time.
  const [, appendMs] = timed(() => {
    const t = new MerkleTree(nodeHasher);
    for (let i = 0; i < N; i++) t.append(leaves.subarray(32 * i, 32 * i + 32));
    return t.root();
  });
  row(`append() x ${int(N)}, one leaf at a time`, nodeHasher.name, appendMs, perSec(N, appendMs));

  // Receipt verification: random proofs against the root of the full tree.
  const tree = MerkleTree.fromLeafHashes(leaves, nodeHasher);
  const root = tree.root();
  const samples = Array.from({ length: VERIFY_N }, () => {
    const index = randomInt(N);
    return { index, leaf: tree.leafHash(index), proof: tree.inclusionProofFlat(index) };
  });
  const verify = (hasher: MerkleHasher, count: number): void => {
    let ok = 0;
    const [, ms] = timed(() => {
      for (let k = 0; k < count; k++) {
        const s = samples[k]!;
        if (verifyInclusion(s.leaf, s.index, N, s.proof, root, hasher)) ok++;
      }
    });
    if (ok !== count) throw new Error(`only ${ok}/${count} proofs verified`);
    row(`verifyInclusion x ${int(count)} (${inclusionProofSize(0, N)}-hash proofs)`, hasher.name, ms, perSec(count, ms));
  };
  verify(nobleNative, VERIFY_N);
  verify(nodeHasher, VERIFY_N);
  verify(nobleHasher, Math.min(VERIFY_N, 2_000)); // the default verifier as transpiled by tsx: sample only

  await parallelNode.close();
  printTable();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
