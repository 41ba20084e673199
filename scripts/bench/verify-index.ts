/**
 * bench:verify-index — verifications per second answered from the gateway's local anchor index
 * beside the same verifications answered by the (in-memory) peer path, in the same run; then
 * what the index costs at scale: bytes per anchor in memory, snapshot size, write and load time.
 * Prints figures; asserts nothing.
 *
 * Run: `CORE_CHAINCODE_LOGGING_LEVEL=WARNING npx tsx --expose-gc scripts/bench/verify-index.ts`.
 * MEDPROV_BENCH_N anchors on the ledger for the verify rows (default 5000), MEDPROV_BENCH_SCALE
 * anchors in the table for the memory and snapshot rows (default 1,000,000), MEDPROV_BENCH_DIR
 * the folder to write the snapshot in (default the OS temp folder).
 *
 * The peer path here is the real chaincode on the in-memory stub, so it is far faster than a
 * real peer (no gRPC, no endorsement, no network); the ratio is a floor.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { IdentityContract } from '../../chaincode/src';
import type { RecordChange } from '../../chaincode/src/contracts/records';
import { writeFileAtomic } from '../../gateway/src/storage/durable-file';
import { AnchorIndex } from '../../gateway/src/records/anchor-index';
import { AnchorTable } from '../../gateway/src/records/anchor-table';
import { RecordsService } from '../../gateway/src/records/service';
import { FakeLedger } from '../../test/unit/chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL, INSURER } from '../../test/unit/chaincode/fixtures';
import { ChaincodeLedger } from '../../test/unit/support/chaincode-ledger';

const N = Number(process.env.MEDPROV_BENCH_N ?? 5000);
const SCALE = Number(process.env.MEDPROV_BENCH_SCALE ?? 1_000_000);
const ROOT = mkdtempSync(path.join(process.env.MEDPROV_BENCH_DIR ?? tmpdir(), 'medprov-bench-index-'));
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const refs = { ensurePatientRef: async (id: string) => sha(`bench\u0000${id}`) };
const gc = (globalThis as { gc?: () => void }).gc;
const ms = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;

/** Collects garbage, and lets V8 free the backing stores of dropped typed arrays (it does so off the main thread). */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function verifiesPerSecond(service: RecordsService, hashes: string[]): Promise<number> {
  const start = process.hrtime.bigint();
  for (const docHash of hashes) await service.verifyDocument(docHash);
  return hashes.length / (ms(start) / 1000);
}

async function verifyRows(): Promise<void> {
  const ledger = new FakeLedger();
  await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
  const hospital = new ChaincodeLedger(ledger, HOSPITAL);
  const hashes: string[] = [];
  for (let b = 0; b < N; b += 1000) {
    const batch = Array.from({ length: Math.min(1000, N - b) }, (_, i) => ({ recordId: `r-${b + i}`, docHash: sha(`doc ${b + i}`), patientRef: sha(`p ${b + i}`), category: 'loinc:18842-5' }));
    await hospital.submit('Records:anchorRecords', JSON.stringify(batch));
    hashes.push(...batch.map((r) => r.docHash));
  }
  const insurer = new ChaincodeLedger(ledger, INSURER);
  const index = await AnchorIndex.open({ file: path.join(ROOT, 'verify', 'anchor-index.bin'), events: insurer, settleMs: 50 });
  index.start();
  await index.whenIndexed();
  const fromIndex = new RecordsService(insurer, refs, index);
  const fromPeer = new RecordsService(insurer, refs);
  // Warm both paths, then measure them alternately on the same hashes.
  await verifiesPerSecond(fromIndex, hashes.slice(0, 200));
  await verifiesPerSecond(fromPeer, hashes.slice(0, 200));
  const indexRate = await verifiesPerSecond(fromIndex, hashes);
  const peerRate = await verifiesPerSecond(fromPeer, hashes);
  await index.stop();
  console.log(`verify, ${N} anchored documents, each verified once (RecordsService.verifyDocument):`);
  console.log(`  ${'answered from'.padEnd(28)}${'verifies/s'.padStart(12)}`);
  console.log(`  ${'anchor index'.padEnd(28)}${Math.round(indexRate).toString().padStart(12)}`);
  console.log(`  ${'peer path (in-memory stub)'.padEnd(28)}${Math.round(peerRate).toString().padStart(12)}`);
  console.log(`  index / peer: ${(indexRate / peerRate).toFixed(1)}×`);
}

async function scaleRows(): Promise<void> {
  const base = 1_767_225_600_000;
  const issuers = ['HospitalMSP', 'Hospital2MSP', 'Hospital3MSP'];
  const random = randomBytes(64 * SCALE);
  await settle();
  const before = process.memoryUsage();
  let start = process.hrtime.bigint();
  const table = new AnchorTable();
  for (let i = 0; i < SCALE; i++) {
    const change: RecordChange = {
      kind: 'anchored',
      docHash: random.toString('hex', 64 * i, 64 * i + 32),
      issuer: issuers[i % 3],
      recordId: `adm-2026-${String(i).padStart(7, '0')}`,
      version: 1,
      status: 'active',
      anchoredAt: new Date(base + i * 37).toISOString(),
      txId: random.toString('hex', 64 * i + 32, 64 * i + 64),
    };
    // As from events of 1,000-record batches, one transaction per block.
    table.apply(change, { blockNumber: BigInt(2 + Math.floor(i / 1000)), transactionId: change.txId });
  }
  const buildMs = ms(start);
  await settle();
  const after = process.memoryUsage();
  // `external` already includes `arrayBuffers` (the typed-array columns): counted once.
  const measured = after.heapUsed + after.external - (before.heapUsed + before.external);
  // Used after the measurement, so the input bytes (64 per anchor) are not collected in between and subtracted from it.
  if (random.length !== 64 * SCALE) throw new Error('the input changed');

  const file = path.join(ROOT, 'scale', 'anchor-index.bin');
  await fs.mkdir(path.dirname(file), { recursive: true });
  start = process.hrtime.bigint();
  const bytes = table.encode({ checkpoint: null });
  const encodeMs = ms(start);
  start = process.hrtime.bigint();
  await writeFileAtomic(file, bytes);
  const writeMs = ms(start);
  start = process.hrtime.bigint();
  const read = await fs.readFile(file);
  const readMs = ms(start);
  start = process.hrtime.bigint();
  const { table: loaded } = AnchorTable.decode(read);
  const decodeMs = ms(start);
  if (loaded.size !== SCALE) throw new Error('the snapshot did not read back');

  console.log(`\nanchor table, ${SCALE.toLocaleString('en')} anchors (record ids of 16 bytes)${gc ? '' : ' — run with --expose-gc for exact memory'}:`);
  console.log(`  build (apply each change)       ${buildMs.toFixed(0)} ms`);
  console.log(`  memory, measured (heap + buffers) ${(measured / SCALE).toFixed(0)} bytes/anchor (${(measured / 2 ** 20).toFixed(0)} MiB)`);
  console.log(`  memory, allocated columns        ${(table.allocatedBytes / SCALE).toFixed(0)} bytes/anchor (capacity doubles as it grows)`);
  console.log(`  snapshot size                    ${(bytes.length / SCALE).toFixed(0)} bytes/anchor (${(bytes.length / 2 ** 20).toFixed(0)} MiB)`);
  console.log(`  snapshot encode + checksum       ${encodeMs.toFixed(0)} ms`);
  console.log(`  snapshot write (atomic, fsync)   ${writeMs.toFixed(0)} ms`);
  console.log(`  load: read file                  ${readMs.toFixed(0)} ms`);
  console.log(`  load: verify checksum + decode   ${decodeMs.toFixed(0)} ms`);
}

async function main(): Promise<void> {
  try {
    await verifyRows();
    await scaleRows();
  } finally {
    rmSync(ROOT, { recursive: true, force: true });
  }
}

void main();
