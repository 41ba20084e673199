/**
 * bench:archive — a folder of a million small files anchored as ONE archive: every file's
 * SHA-256, the archive tree, every file's receipt (the receipts folder, fsync'ed), then the root
 * in one Archives:anchorArchive transaction through the Hospital's gateway on the REAL network,
 * and a sample of receipts checked offline and against the ledger. Goal: ≥ 200,000 files/s for
 * hash + tree + receipts, printed beside node:crypto's raw SHA-256 rate over the same bytes.
 *
 * File reading is excluded: the files' contents are generated in memory (random bytes, sizes
 * 64–448, average 256) and their paths (`batch-NNNN/scan-NNNNNNN.bin`, 1,000 per folder) as the
 * walk of a folder would list them. What is timed starts from those contents and paths:
 *   paths      every path validated and encoded as its JSON literal (the leaf's and the store's form)
 *   hash       per file: SHA-256 of the contents, then the archive leaf hash
 *              SHA-256(0x00 ‖ {"docHash":…,"path":…}) — node:crypto, on worker threads over shared memory
 *   tree       the RFC 6962 levels and root
 *   receipts   the receipts folder written and fsync'ed: the levels once, each file's SHA-256 and
 *              path, the path index, the manifest — from which any file's self-contained receipt is
 *              read back (each one checked against the root before it is handed out)
 * The raw baseline hashes the same bytes, one node:crypto call per file, on the same threads.
 *
 *   npm run bench:archive
 *   MEDPROV_BENCH_ARCHIVE_FILES=100000 MEDPROV_BENCH_ARCHIVE_THREADS=0,1,2 npm run bench:archive
 *
 *   MEDPROV_BENCH_ARCHIVE_FILES     files (default 1,000,000)
 *   MEDPROV_BENCH_ARCHIVE_THREADS   hashing-thread counts to compare (default 0,2; 0 = the calling thread alone)
 *   MEDPROV_BENCH_ARCHIVE_RUNS      runs per thread count, the median reported (default 3)
 *   MEDPROV_BENCH_ARCHIVE_SAMPLE    receipts read back and verified (default 1,000)
 *   MEDPROV_BENCH_NETWORK=0         skip the real network (no anchoring transaction)
 *   MEDPROV_BENCH_STATE_DIR         use a running network (else a fresh one, stopped at the end)
 */
import { hash as cryptoHash, randomBytes, randomFillSync, randomInt } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { archiveAnchorReasons, verifyArchiveReceipt, type ArchiveLedgerAnchor, type LedgerArchive } from '../../gateway/src/anchoring';
import type { AnchoredArchive } from '../../gateway/src/anchoring/archive-ledger';
import { ArchiveStore, buildArchive, receiptJsonFromBuild, setArchiveAnchor, writeArchiveStore, type BuiltArchive } from '../../gateway/src/anchoring/node';
import { nativeSha256 } from '../../gateway/src/merkle/node-hasher';
import { CEILING_DESCRIPTION, ceilingPut } from './lib/ceiling';
import { benchNetwork, printRunContext } from './lib/real-network';
import { envNumber, fmtInt, fmtMs, fmtRatio, printHeader, printTable, runBench, summarize, type Deferred } from './lib/report';

const FILES = envNumber('MEDPROV_BENCH_ARCHIVE_FILES', 1_000_000);
const THREADS = (process.env.MEDPROV_BENCH_ARCHIVE_THREADS ?? '0,2').split(',').map((t) => Number(t.trim()));
const RUNS = envNumber('MEDPROV_BENCH_ARCHIVE_RUNS', 3);
const SAMPLE = envNumber('MEDPROV_BENCH_ARCHIVE_SAMPLE', 1000);
const NETWORK = process.env.MEDPROV_BENCH_NETWORK !== '0';
const GOAL = 200_000;
const PER_FOLDER = 1000;

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const rate = (n: number, ms: number): number => (n / ms) * 1000;
const rssMiB = (): number => process.memoryUsage().rss / 2 ** 20;

if (THREADS.some((t) => !Number.isSafeInteger(t) || t < 0 || t > 64)) throw new Error('MEDPROV_BENCH_ARCHIVE_THREADS must be whole numbers from 0 to 64, comma-separated.');

/** The files, as a folder walk would give them: contents in one shared buffer, paths in walk order. */
function generate(n: number): { paths: string[]; data: Uint8Array; offsets: Float64Array } {
  const offsets = new Float64Array(new SharedArrayBuffer(8 * (n + 1)));
  const sizes = randomBytes(n);
  for (let i = 0; i < n; i++) offsets[i + 1] = offsets[i]! + 64 + (sizes[i]! % 193) * 2; // 64..448 bytes, 256 on average
  const data = new Uint8Array(new SharedArrayBuffer(offsets[n]!));
  randomFillSync(data);
  const paths = new Array<string>(n);
  for (let i = 0; i < n; i++) paths[i] = `batch-${String(Math.floor(i / PER_FOLDER)).padStart(4, '0')}/scan-${String(i).padStart(7, '0')}.bin`;
  return { paths, data, offsets };
}

/**
 * node:crypto SHA-256 of every file, one call per file, digests kept (32 bytes each), on `threads`
 * workers (0: this thread): ms. `crypto.hash(…, 'binary')`, the cheapest per-call form (no Buffer
 * allocated per digest), so the baseline is not slowed by the API.
 */
async function rawHash(data: Uint8Array, offsets: Float64Array, threads: number): Promise<number> {
  const n = offsets.length - 1;
  const t0 = performance.now();
  if (threads === 0) {
    const out = new Uint8Array(32 * n);
    for (let i = 0; i < n; i++) {
      const h = cryptoHash('sha256', data.subarray(offsets[i], offsets[i + 1]), 'binary');
      for (let j = 0; j < 32; j++) out[i * 32 + j] = h.charCodeAt(j);
    }
    return performance.now() - t0;
  }
  const source = `
    const { parentPort, workerData: { data, offsets, start, end } } = require('node:worker_threads');
    const crypto = require('node:crypto');
    const out = new Uint8Array(32 * (end - start));
    for (let i = start; i < end; i++) {
      const h = crypto.hash('sha256', data.subarray(offsets[i], offsets[i + 1]), 'binary');
      for (let j = 0; j < 32; j++) out[(i - start) * 32 + j] = h.charCodeAt(j);
    }
    parentPort.postMessage(out.length);`;
  await Promise.all(
    Array.from({ length: threads }, (_, w) => {
      const start = Math.floor((w * n) / threads);
      const end = Math.floor(((w + 1) * n) / threads);
      return new Promise<void>((resolve, reject) => {
        const worker = new Worker(source, { eval: true, workerData: { data, offsets, start, end } });
        worker.once('message', () => void worker.terminate().then(() => resolve()));
        worker.once('error', reject);
      });
    }),
  );
  return performance.now() - t0;
}

interface Run {
  threads: number;
  pathsMs: number;
  hashMs: number;
  treeMs: number;
  receiptsMs: number;
  syncMs: number;
  storeBytes: number;
  totalMs: number;
  /** CPU time of the whole process (every thread) during the run. */
  cpuMs: number;
  rootHex: string;
}

/** One timed archive: build in memory, then the receipts folder written and fsync'ed. */
async function archiveOnce(files: ReturnType<typeof generate>, threads: number, out: string): Promise<{ run: Run; built: BuiltArchive }> {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const built = await buildArchive(files.paths, { data: files.data, offsets: files.offsets }, { threads });
  const t1 = performance.now();
  const written = await writeArchiveStore(out, built, { name: 'bench', createdAt: new Date().toISOString(), totalBytes: built.totalBytes, skipped: 0, pathOrder: 'walk' });
  const t2 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  const { pathsMs, hashMs, treeMs } = built.timings;
  return {
    run: { threads, pathsMs, hashMs, treeMs, receiptsMs: t2 - t1, syncMs: written.syncMs, storeBytes: written.bytes, totalMs: t2 - t0, cpuMs: (cpu.user + cpu.system) / 1000, rootHex: built.rootHex },
    built,
  };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(resources: Deferred): Promise<void> {
  printHeader('bench:archive — one archive of small files: hash + tree + receipts, then one ledger transaction', `${fmtInt(FILES)} files (64–448 bytes, 256 on average), hashing threads ${THREADS.join(', ')}, ${RUNS} runs each (median), ${fmtInt(SAMPLE)} receipts sampled`);
  const base = mkdtempSync(path.join(os.tmpdir(), 'medprov-bench-archive-'));
  resources.defer(() => rmSync(base, { recursive: true, force: true }));
  console.log(`receipts folder: ${base} (${os.tmpdir()})`);

  const g0 = performance.now();
  const files = generate(FILES);
  const totalBytes = files.offsets[FILES]!;
  console.log(`generated in memory (not timed: this stands in for reading the files): ${fmtInt(FILES)} files, ${mib(totalBytes)}, ${fmtMs((performance.now() - g0) / 1000)} s`);

  // Raw SHA-256 of the same bytes.
  const rawRows: string[][] = [];
  const raw = new Map<number, number>();
  for (const threads of [...new Set([0, ...THREADS])]) {
    // The better of two runs: the baseline is not understated by a busy moment.
    const best = Math.min(await rawHash(files.data, files.offsets, threads), await rawHash(files.data, files.offsets, threads));
    raw.set(threads, rate(FILES, best));
    rawRows.push([`node:crypto SHA-256 (crypto.hash), one call per file, ${threads === 0 ? 'calling thread' : `${threads} worker thread${threads > 1 ? 's' : ''}`}`, fmtInt(rate(FILES, best)), `${(totalBytes / 2 ** 20 / (best / 1000)).toFixed(0)} MiB/s`, fmtMs(best / 1000)]);
  }
  const s0 = performance.now();
  cryptoHash('sha256', files.data.subarray(0, Math.min(files.data.length, 2 ** 30)), 'buffer');
  const streamMs = performance.now() - s0;
  rawRows.push(['node:crypto SHA-256 of all the bytes as one message (hash speed alone)', '', `${(Math.min(totalBytes, 2 ** 30) / 2 ** 20 / (streamMs / 1000)).toFixed(0)} MiB/s`, fmtMs(streamMs / 1000)]);

  // The archive, timed.
  const runs: Run[] = [];
  let kept: { built: BuiltArchive; out: string } | undefined;
  const rssBefore = rssMiB();
  for (const threads of THREADS) {
    for (let r = 0; r < RUNS; r++) {
      const out = path.join(base, `t${threads}-r${r}`);
      const { run, built } = await archiveOnce(files, threads, out);
      runs.push(run);
      if (runs.length > 1 && run.rootHex !== runs[0]!.rootHex) throw new Error('runs disagree on the root');
      if (kept) rmSync(kept.out, { recursive: true, force: true });
      kept = { built, out };
    }
  }
  const rssPeakBuild = rssMiB();

  console.log('');
  console.log('hash + tree + receipts (the goal: ≥ 200,000 files/s), each beside the raw SHA-256 rate of the same bytes on the same threads;');
  console.log('the median run by wall time; cpu s is the process\'s CPU time over all threads (on a busy machine, wall time overstates and files per cpu-s tells more):');
  const rows: string[][] = [];
  let best = 0;
  for (const threads of THREADS) {
    const mine = runs.filter((r) => r.threads === threads);
    const m = mine.find((r) => r.totalMs === median(mine.map((x) => x.totalMs)))!;
    const filesPerSecond = rate(FILES, m.totalMs);
    best = Math.max(best, filesPerSecond);
    const rawRate = raw.get(threads)!;
    rows.push([
      threads === 0 ? 'calling thread' : `${threads} hashing threads`,
      fmtInt(filesPerSecond),
      fmtInt(rawRate),
      fmtRatio(filesPerSecond / rawRate),
      fmtMs(m.pathsMs / 1000),
      fmtMs(m.hashMs / 1000),
      fmtMs(m.treeMs / 1000),
      `${fmtMs(m.receiptsMs / 1000)} (fsync ${fmtMs(m.syncMs / 1000)})`,
      fmtMs(m.totalMs / 1000),
      `${fmtMs(m.cpuMs / 1000)} (${fmtInt(rate(FILES, m.cpuMs))}/cpu-s)`,
      mine.map((x) => fmtInt(rate(FILES, x.totalMs))).join(' / '),
      filesPerSecond >= GOAL ? 'met' : 'NOT met',
    ]);
  }
  printTable(['archive of the files', 'files/s', 'raw files/s', 'vs raw', 'paths s', 'hash s', 'tree s', 'receipts s', 'total s', 'cpu s (files per cpu-s)', 'every run, files/s', `goal ${fmtInt(GOAL)}/s`], rows);
  console.log('');
  printTable(['raw SHA-256 of the same bytes', 'files/s', 'bytes/s', 'time s'], rawRows);
  const storeBytes = runs[0]!.storeBytes;
  console.log(`receipts folder: ${mib(storeBytes)} (levels ${mib(kept!.built.levels.nodes.length)}, SHA-256s ${mib(32 * FILES)}, paths ${mib(kept!.built.paths.blob.length)}, path index ${mib(4 * (FILES + 1))})`);

  // Every receipt, as the JSON handed out (not timed above: it is made when asked for).
  const { built, out } = kept!;
  const j0 = performance.now();
  let jsonBytes = 0;
  for (let i = 0; i < FILES; i++) jsonBytes += receiptJsonFromBuild(built, i).length;
  const jsonMs = performance.now() - j0;
  console.log(`every receipt as its self-contained JSON, from the levels in memory: ${fmtInt(rate(FILES, jsonMs))} receipts/s (${mib(jsonBytes)} of JSON, ${fmtMs(jsonMs / 1000)} s) — what one JSON file per receipt would cost to write`);

  // The root on the ledger: one transaction through the Hospital's gateway.
  let anchor: ArchiveLedgerAnchor | undefined;
  let onLedger: LedgerArchive | null = null;
  if (NETWORK) {
    const net = await benchNetwork(resources);
    printRunContext(net);
    const { url, apiKey } = net.gateway('Hospital', 'records-officer');
    const archiveId = `bench-${randomBytes(4).toString('hex')}`;
    const a0 = performance.now();
    const res = await fetch(`${url}/v1/archives`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ archiveId, root: built.rootHex, count: FILES }),
    });
    const anchorMs = performance.now() - a0;
    const body = (await res.json()) as AnchoredArchive & { error?: { code: string; message: string } };
    if (res.status !== 201) throw new Error(`POST /v1/archives answered ${res.status}: ${JSON.stringify(body)}`);
    anchor = { issuer: body.archive.issuer, archiveId, txId: body.archive.txId, blockNumber: body.blockNumber!, anchoredAt: body.archive.anchoredAt };
    await setArchiveAnchor(out, anchor);
    // Read back at another organisation's gateway.
    const insurer = net.gateway('Insurer', 'claims-officer');
    const readBack = await fetch(`${insurer.url}/v1/archives/${anchor.issuer}/${archiveId}`, { headers: { authorization: `Bearer ${insurer.apiKey}` } });
    onLedger = readBack.status === 200 ? ((await readBack.json()) as LedgerArchive) : null;
    const ceiling = await ceilingPut(net, 'Hospital', { concurrency: 1, count: 20 });
    const c = summarize(ceiling.latenciesMs);
    console.log('');
    printTable(
      ['on the real network', 'transactions', 'latency ms'],
      [
        [`anchor the archive: POST /v1/archives → Archives:anchorArchive, ${fmtInt(FILES)} files`, '1', fmtMs(anchorMs)],
        ['ceiling: Probe:put one at a time (p50 / p99 of 20)', String(ceiling.ok), `${fmtMs(c.p50)} / ${fmtMs(c.p99)}`],
      ],
    );
    console.log(CEILING_DESCRIPTION);
    console.log(`anchored: transaction ${anchor.txId}, block ${anchor.blockNumber}; read back at the Insurer's gateway: ${onLedger ? `root ${onLedger.root === built.rootHex ? 'equal' : 'DIFFERENT'}, count ${onLedger.count}` : `HTTP ${readBack.status}`}`);
  } else {
    console.log('\nMEDPROV_BENCH_NETWORK=0: no network, the root is not anchored.');
  }

  // A sample of receipts read back from the folder and checked offline (and against the ledger).
  const store = await ArchiveStore.open(out);
  const readMs: number[] = [];
  const verifyMs: number[] = [];
  let failed = 0;
  try {
    for (let k = 0; k < SAMPLE; k++) {
      const i = randomInt(FILES);
      const t0 = performance.now();
      const receipt = await store.receipt(k % 2 === 0 ? { index: i } : { path: files.paths[i]! });
      const t1 = performance.now();
      const result = verifyArchiveReceipt(receipt, files.data.subarray(files.offsets[i], files.offsets[i + 1]), { sha256: nativeSha256 });
      const t2 = performance.now();
      readMs.push(t1 - t0);
      verifyMs.push(t2 - t1);
      const reasons = [...result.reasons, ...(anchor ? archiveAnchorReasons(receipt, onLedger) : [])];
      if (receipt.leafIndex !== i || reasons.length > 0) failed++;
    }
    // A changed byte fails.
    const i = randomInt(FILES);
    const changed = Buffer.from(files.data.subarray(files.offsets[i], files.offsets[i + 1]));
    changed[0]! ^= 1;
    if (verifyArchiveReceipt(await store.receipt({ index: i }), changed, { sha256: nativeSha256 }).valid) failed++;
  } finally {
    await store.close();
  }
  const r = summarize(Float64Array.from(readMs));
  const v = summarize(Float64Array.from(verifyMs));
  console.log('');
  printTable(
    ['receipts sampled from the folder', 'count', 'p50 ms', 'p99 ms', 'failed'],
    [
      ['read back (by index or path; proof checked against the root)', fmtInt(SAMPLE), fmtMs(r.p50), fmtMs(r.p99), String(failed)],
      [`verified offline against the file${anchor ? ' and the ledger\'s record' : ''}`, fmtInt(SAMPLE), fmtMs(v.p50), fmtMs(v.p99), ''],
    ],
  );
  console.log(`a changed byte in one file: its receipt fails (${failed === 0 ? 'yes' : 'NO'})`);
  const peakRss = process.resourceUsage().maxRSS / 1024;
  console.log(`memory: RSS ${rssBefore.toFixed(0)} MiB with the files generated, ${rssPeakBuild.toFixed(0)} MiB after the runs, peak ${peakRss.toFixed(0)} MiB (the contents alone are ${mib(totalBytes)})`);
  console.log(`result: best ${fmtInt(best)} files/s for hash + tree + receipts — goal ≥ ${fmtInt(GOAL)} files/s ${best >= GOAL ? 'met' : 'NOT met'}`);
  if (failed > 0) process.exitCode = 1;
}

runBench(main);
