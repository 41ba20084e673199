/**
 * bench:acceptance — how many anchor requests per second the gateway can acknowledge durably
 * (journal append + fsync before 202), with group commit and with one fsync per request,
 * beside the raw fsync rate of the same disk, in the same run. Prints figures; asserts nothing.
 *
 * Run: `npx tsx scripts/bench/acceptance.ts`. MEDPROV_BENCH_N requests per row (default 4000),
 * MEDPROV_BENCH_DIR the folder to write in (default the OS temp folder: put it on the disk the
 * gateway's state folder is on, since fsync cost is the disk's).
 */
import { createHash } from 'node:crypto';
import { promises as fs, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { IdentityContract } from '../../chaincode/src';
import { AcceptanceJournal, Submitter, prepareAnchorRecord, type LedgerRequest } from '../../gateway/src/acceptance';
import { ChaincodeLedger } from '../../test/unit/support/chaincode-ledger';
import { FakeLedger } from '../../test/unit/chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL } from '../../test/unit/chaincode/fixtures';

const N = Number(process.env.MEDPROV_BENCH_N ?? 4000);
const ROOT = mkdtempSync(path.join(process.env.MEDPROV_BENCH_DIR ?? tmpdir(), 'medprov-bench-accept-'));
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const refs = { ensurePatientRef: async (id: string) => sha(`bench\u0000${id}`) };
let dirCounter = 0;
const freshDir = () => path.join(ROOT, String(dirCounter++));

async function requests(n: number, tag: string): Promise<LedgerRequest[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => prepareAnchorRecord({ recordId: `${tag}-${i}`, docHash: sha(`${tag}/${i}`), patientId: `p-${i}`, category: 'loinc:18842-5' }, refs)));
}

/** The disk's own rate: one small append + fsync after another, nothing else. */
async function rawFsyncsPerSecond(n: number, bytes: number): Promise<number> {
  const file = path.join(freshDir() + '.raw');
  const handle = await fs.open(file, 'a');
  const record = Buffer.alloc(bytes, 0x61);
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    await handle.write(record);
    await handle.sync();
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  await handle.close();
  return n / seconds;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** `concurrency` clients, each accepting its share one after the other (as HTTP clients would). */
async function acceptRow(groupCommit: boolean, concurrency: number, reqs: LedgerRequest[]) {
  const journal = await AcceptanceJournal.open({ dir: freshDir(), groupCommit });
  const latencies: number[] = [];
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < reqs.length) {
        const r = reqs[next++];
        const t0 = process.hrtime.bigint();
        await journal.accept(r);
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const stats = journal.stats();
  await journal.close();
  latencies.sort((a, b) => a - b);
  return { perSecond: reqs.length / seconds, fsyncs: stats.fsyncs, perFsync: reqs.length / stats.fsyncs, p50: percentile(latencies, 50), p99: percentile(latencies, 99), bytes: stats.bytes / reqs.length };
}

async function main(): Promise<void> {
  console.log(`acceptance journal, ${N} anchor requests per row, writing in ${ROOT}`);
  const sample = (await requests(1, 'size'))[0];
  const recordBytes = JSON.stringify(sample).length + 80;
  const raw = await rawFsyncsPerSecond(Math.min(N, 2000), recordBytes);
  console.log(`baseline: raw append + fsync of ${recordBytes} B, one after another: ${Math.round(raw)} fsyncs/s (${(1000 / raw).toFixed(3)} ms each)\n`);

  console.log('clients  mode           accepts/s   fsyncs  accepts/fsync  p50 ms  p99 ms');
  for (const concurrency of [1, 16, 64, 256]) {
    for (const groupCommit of [true, false]) {
      const reqs = await requests(N, `c${concurrency}${groupCommit ? 'g' : 's'}`);
      const row = await acceptRow(groupCommit, concurrency, reqs);
      console.log(
        `${String(concurrency).padStart(7)}  ${(groupCommit ? 'group commit' : 'fsync each').padEnd(13)} ${String(Math.round(row.perSecond)).padStart(10)} ${String(row.fsyncs).padStart(8)} ${row.perFsync.toFixed(1).padStart(14)} ${row.p50.toFixed(2).padStart(7)} ${row.p99.toFixed(2).padStart(7)}`,
      );
    }
  }

  // The submitter's own overhead, on the in-memory chaincode (not a network figure: a real
  // Fabric network commits ~200-250 tx/s on this machine, see DESIGN.md).
  const ledger = new FakeLedger();
  await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
  const journal = await AcceptanceJournal.open({ dir: freshDir() });
  const submitter = new Submitter({ journal, ledger: new ChaincodeLedger(ledger, HOSPITAL), concurrency: 8 });
  const reqs = await requests(Math.min(N, 2000), 'e2e');
  const start = process.hrtime.bigint();
  submitter.start();
  await Promise.all(reqs.map((r) => journal.accept(r)));
  await submitter.idle();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const stats = journal.stats();
  console.log(
    `\naccept → committed on the in-memory chaincode, ${reqs.length} requests, concurrency 8: ${Math.round(reqs.length / seconds)} requests/s; ` +
      `${stats.fsyncs} fsyncs for ${stats.records} journal records (accepts + outcomes)`,
  );
  await submitter.stop();
  await journal.close();
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => rmSync(ROOT, { recursive: true, force: true }));
