/**
 * Receipts benchmark: prints figures, asserts nothing beyond sanity checks.
 *
 *   npx tsx scripts/bench/receipts.ts
 *   BENCH_LOG_ANCHORS=1000000 BENCH_ARCHIVE_FILES=100000 npx tsx scripts/bench/receipts.ts
 *
 * 1. Anchor log: append + fsync'ed batches, reopen + tree rebuild, receipt building, offline
 *    verification (noble loaded natively, see scripts/bench/merkle.ts for why).
 * 2. Archive receipts on disk: the chosen layout (the tree's levels once, each file's SHA-256 and
 *    path; receipts assembled when asked) against one JSON file per source file in a mirrored
 *    tree, and look-up by path.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, promises as fs, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { RecordAnchor } from '../../chaincode/src/contracts/records';
import { verifyReceipt, type SourcedAnchor } from '../../gateway/src/anchoring';
import { AnchorLog, archiveFolder, buildReceipt, loadArchiveStore, readArchiveReceipt, receiptJsonFromBuild } from '../../gateway/src/anchoring/node';
import { bytesToHex } from '../../gateway/src/merkle';

const LOG_ANCHORS = Number(process.env.BENCH_LOG_ANCHORS ?? 200_000);
const ARCHIVE_FILES_N = Number(process.env.BENCH_ARCHIVE_FILES ?? 100_000);
const RECEIPTS = 10_000;

const int = (x: number): string => Math.round(x).toLocaleString('en-US');
const fmtMs = (ms: number): string => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`);
const perSec = (n: number, ms: number): string => `${int((n / ms) * 1000)}/s`;
const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const hex = (s: string): string => createHash('sha256').update(s).digest('hex');

async function timed<T>(fn: () => Promise<T> | T): Promise<[T, number]> {
  const t = performance.now();
  const value = await fn();
  return [value, performance.now() - t];
}

function anchorAt(i: number): SourcedAnchor {
  const anchor: RecordAnchor = {
    docHash: hex(`doc-${i}`),
    recordId: `rec-${i}`,
    version: 1,
    issuer: 'HospitalMSP',
    patientRef: hex(`p-${i % 1000}`),
    category: 'LOINC:18842-5',
    status: 'active',
    anchoredAt: new Date(Date.UTC(2025, 0, 1) + i * 10).toISOString(),
    txId: hex(`tx-${i}`),
  };
  const blockNumber = BigInt(1 + Math.floor(i / 100));
  return { position: { blockNumber, txIndex: Math.floor(i / 10) % 10, anchorIndex: i % 10 }, anchor, blockNumber };
}

/** Bytes actually allocated on disk under `dir` (what `du` counts). */
async function diskUsage(dir: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for (const entry of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    const st = await fs.stat(path.join(entry.parentPath, entry.name));
    bytes += st.blocks * 512;
    if (entry.isFile()) files++;
  }
  return { files, bytes };
}

async function benchLog(base: string): Promise<void> {
  console.log(`\n== anchor log: ${int(LOG_ANCHORS)} anchors`);
  const dir = path.join(base, 'log');
  const log = await AnchorLog.open(dir, { flushEvery: 1000 });
  const [, appendMs] = await timed(async () => {
    for (let i = 0; i < LOG_ANCHORS; i++) await log.append(anchorAt(i));
    await log.flush();
  });
  console.log(`append + fsync per 1000       ${fmtMs(appendMs)}  (${perSec(LOG_ANCHORS, appendMs)})`);
  await log.close();
  const [reopened, openMs] = await timed(() => AnchorLog.open(dir));
  const [tree, treeMs] = await timed(() => reopened.tree());
  console.log(`reopen (tail checks)          ${fmtMs(openMs)}`);
  console.log(`tree rebuild from leaves.bin  ${fmtMs(treeMs)}`);
  const [, verifyLogMs] = await timed(() => reopened.verify());
  console.log(`full verify (re-hash data)    ${fmtMs(verifyLogMs)}  (${perSec(LOG_ANCHORS, verifyLogMs)})`);

  const size = tree.size;
  const checkpoint = { treeSize: size, root: bytesToHex(tree.root()), fabricBlockHeight: 1, chainId: 31337, contract: `0x${'12'.repeat(20)}` };
  const indices = Array.from({ length: RECEIPTS }, () => Math.floor(Math.random() * size));
  await reopened.leafBytes(0); // builds the line index once
  const [receipts, buildMs] = await timed(async () => {
    const out = [];
    for (const i of indices) out.push(buildReceipt({ leafBytes: await reopened.leafBytes(i), leafIndex: i, tree, checkpoint }));
    return out;
  });
  console.log(`build receipt (random leaf)   ${fmtMs(buildMs)} for ${int(RECEIPTS)}  (${perSec(RECEIPTS, buildMs)})`);
  console.log(`receipt JSON size             ${int(JSON.stringify(receipts[0]).length)} bytes`);
  const native = (await import('@noble/hashes/sha2.js')) as typeof import('@noble/hashes/sha2.js');
  const sha256 = (m: Uint8Array): Uint8Array => native.sha256(m);
  const [, verifyMs] = await timed(() => {
    for (const r of receipts) if (!verifyReceipt(r, undefined, { sha256 }).valid) throw new Error('receipt did not verify');
  });
  console.log(`verify receipt (noble)        ${fmtMs(verifyMs)} for ${int(RECEIPTS)}  (${perSec(RECEIPTS, verifyMs)})`);
  await reopened.close();
}

async function benchArchive(base: string): Promise<void> {
  console.log(`\n== archive receipts: ${int(ARCHIVE_FILES_N)} files of 64 bytes`);
  const source = path.join(base, 'files');
  const contents = randomBytes(64 * ARCHIVE_FILES_N);
  for (let d = 0; d * 1000 < ARCHIVE_FILES_N; d++) {
    const folder = path.join(source, `d${String(d).padStart(4, '0')}`);
    mkdirSync(folder, { recursive: true });
    for (let f = 0; f < 1000 && d * 1000 + f < ARCHIVE_FILES_N; f++) {
      const i = d * 1000 + f;
      writeFileSync(path.join(folder, `f${String(f).padStart(4, '0')}.bin`), contents.subarray(i * 64, i * 64 + 64));
    }
  }
  const out = path.join(base, 'receipts');
  const summary = await archiveFolder(source, { out });
  const t = summary.timings;
  console.log(`scan ${fmtMs(t.scanMs)}, hash ${fmtMs(t.hashMs)}, tree ${fmtMs(t.treeMs)}`);
  const store = await diskUsage(out);
  console.log(`levels + digests + paths (chosen) ${fmtMs(t.receiptsMs)}  ${store.files} files, ${mib(store.bytes)} on disk (fsync'ed)`);

  // The alternative: one JSON file per source file, mirroring the tree.
  const mirror = path.join(base, 'mirror');
  const [, mirrorMs] = await timed(async () => {
    const made = new Set<string>();
    const archive = await loadArchiveStore(out);
    for (let i = 0; i < archive.manifest.fileCount; i++) {
      const line = receiptJsonFromBuild(archive, i);
      const rel = (JSON.parse(line) as { file: { path: string } }).file.path;
      const target = path.join(mirror, ...rel.split('/')) + '.receipt.json';
      const folder = path.dirname(target);
      if (!made.has(folder)) {
        mkdirSync(folder, { recursive: true });
        made.add(folder);
      }
      writeFileSync(target, line);
    }
  });
  const files = await diskUsage(mirror);
  console.log(`one file per receipt          ${fmtMs(mirrorMs)}  ${int(files.files)} files, ${mib(files.bytes)} on disk (sync writes, no fsync)`);

  const paths = Array.from({ length: 1000 }, () => {
    const i = Math.floor(Math.random() * ARCHIVE_FILES_N);
    return `d${String(Math.floor(i / 1000)).padStart(4, '0')}/f${String(i % 1000).padStart(4, '0')}.bin`;
  });
  const [, lookupMs] = await timed(async () => {
    for (const p of paths) if ((await readArchiveReceipt(out, { path: p })).file.path !== p) throw new Error('wrong receipt');
  });
  console.log(`look-up by path (store)       ${(lookupMs / paths.length).toFixed(2)} ms each (binary search over the path index, proof read level by level)`);
}

async function main(): Promise<void> {
  console.log(`Node ${process.version}`);
  const base = mkdtempSync(path.join(tmpdir(), 'medprov-bench-receipts-'));
  try {
    await benchLog(base);
    await benchArchive(base);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}

void main();
