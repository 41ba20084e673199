/**
 * bench:anchor --in-process (the real network is the default: anchor.ts) — record anchors through the gateway's HTTP API: single anchors per second and
 * their p50/p99/max latency at bounded concurrency, with and without durable acceptance (the
 * journal: 202 to-ack latency, then time until committed), and records per second in batches.
 * Beside each, the same transactions submitted straight to the ledger object (no HTTP, no
 * validation, no journal), in the same run. Prints figures; asserts nothing.
 *
 * Run: `npm run bench:anchor -- --in-process` (or `MEDPROV_BENCH_GATEWAY=… MEDPROV_BENCH_API_KEY=… npm run bench:anchor`). Sizes:
 *   MEDPROV_BENCH_N            single anchors per row (default 2000)
 *   MEDPROV_BENCH_CONCURRENCY  clients for single anchors (default 8,32)
 *   MEDPROV_BENCH_BATCHES      batches per batch row (default 12), MEDPROV_BENCH_BATCH_SIZE (1000)
 *   MEDPROV_BENCH_BATCH_CONCURRENCY  batches in flight (default 2)
 *   MEDPROV_BENCH_PATIENTS     distinct patients the records belong to (default 500)
 *   MEDPROV_BENCH_GATEWAY + MEDPROV_BENCH_API_KEY (a hospital records officer's key): a real gateway
 *   MEDPROV_BENCH_PROGRESS=1   progress on stderr also when it is not a terminal
 */
import { createHash, randomBytes } from 'node:crypto';
import { prepareAnchorBatch, prepareAnchorRecord, type LedgerRequest } from '../../gateway/src/acceptance';
import type { NewRecordRequest } from '../../gateway/src/records/service';
import { HOSPITAL } from '../../test/unit/chaincode/fixtures';
import { anchorRecords, batchAnchorRequests, singleAnchorRequests } from './lib/anchor-requests';
import { describeTarget, freshLedger, startLocalGateway, targetFromEnv, type Target } from './lib/in-process';
import { CLIENT_DESCRIPTION, runLoad, type LoadRequest, type LoadResult } from './lib/load';
import { type Deferred, type RunOutcome, envCounts, envNumber, fmtInt, printFailures, printHeader, printTable, progressLine, runBench, runConcurrent, resultRow, medianRun } from './lib/report';

const N = envNumber('MEDPROV_BENCH_N', 2000);
const CONCURRENCY = envCounts('MEDPROV_BENCH_CONCURRENCY', [8, 32]);
const BATCHES = envNumber('MEDPROV_BENCH_BATCHES', 12);
const BATCH_SIZE = envNumber('MEDPROV_BENCH_BATCH_SIZE', 1000);
const BATCH_CONCURRENCY = envNumber('MEDPROV_BENCH_BATCH_CONCURRENCY', 2);
const PATIENTS = envNumber('MEDPROV_BENCH_PATIENTS', 500);
/** Different in every run, so that a real ledger never sees the same record twice. */
const RUN = randomBytes(4).toString('hex');
const PREFER_WAIT = { prefer: 'wait=30' };
const POLL = { pollMs: 20, timeoutMs: 300_000 };
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
/** The baselines' patient refs: an HMAC-like hash, no key store. */
const refs = { ensurePatientRef: async (id: string) => sha(`bench\u0000${id}`) };

const records = (tag: string, count: number): NewRecordRequest[] => anchorRecords(RUN, tag, count, PATIENTS);

const singleRequests = (tag: string, headers?: Record<string, string>): LoadRequest[] => singleAnchorRequests(records(tag, N), headers);

const batchRequests = (tag: string, headers?: Record<string, string>, batches = BATCHES): LoadRequest[] =>
  batchAnchorRequests(records(tag, batches * BATCH_SIZE), BATCH_SIZE, headers);

let warmUps = 0;
/** One record of each patient, in batches, answered when committed. */
const warmUpRequests = (): LoadRequest[] => batchRequests(`warm${warmUps++}`, PREFER_WAIT, Math.ceil(PATIENTS / BATCH_SIZE));

/**
 * The baseline: the same transactions, prepared beforehand, submitted straight to a fresh
 * in-memory ledger; the median of three runs (by rate), since a busy machine makes one run noisy.
 */
async function ledgerRow(label: string, prepared: LedgerRequest[], concurrency: number, runs = 3): Promise<RunOutcome> {
  return medianRun(runs, async () => {
    const ledger = await freshLedger(HOSPITAL);
    const progress = progressLine(label, prepared.length);
    const outcome = await runConcurrent(
      prepared,
      concurrency,
      async (request) => {
        await ledger.submit(request.transaction, ...request.args);
        return undefined;
      },
      progress.update,
    );
    progress.end();
    return outcome;
  });
}

interface Row {
  label: string;
  clients: number;
  outcome: RunOutcome;
  /** Items per request (records per batch). */
  perRequest: number;
  baseline?: number;
}

const rate = (row: Row) => (row.outcome.ok * row.perRequest) / row.outcome.seconds;

function printRows(unit: string, rows: Row[]): void {
  printTable(
    ['', 'clients', 'requests', `${unit}/s`, 'p50 ms', 'p99 ms', 'max ms', 'errors', 'vs ledger'],
    rows.map((row) => resultRow(row.label, row.clients, row.outcome, rate(row), row.baseline)),
  );
  for (const row of rows) printFailures(`${row.label} (${row.clients} clients)`, row.outcome.failures, row.outcome.sampleFailure);
}

/** What a run of 202 answers took until the last one was committed. */
function commitLine(label: string, result: LoadResult, perRequest: number): string | undefined {
  const c = result.committed;
  if (!c) return undefined;
  printFailures(`${label}: waiting for commit`, c.failures);
  return `  ${label}: all ${fmtInt(c.count * perRequest)} accepted ${perRequest > 1 ? 'records' : 'anchors'} committed ${c.seconds.toFixed(2)} s after the first request (${fmtInt((c.count * perRequest) / c.seconds)}/s end to end; ${fmtInt(c.polls)} polls of GET /v1/requests/{id}, every ${POLL.pollMs} ms)`;
}

async function gatewayRow(
  resources: Deferred,
  target: Target,
  row: { label: string; clients: number; perRequest: number; acceptance: boolean; requests: LoadRequest[] },
): Promise<{ row: Row; result: LoadResult }> {
  let url: string;
  let apiKey: string;
  let stop = async (): Promise<void> => undefined;
  if (target.kind === 'real') {
    ({ url, apiKey } = target);
  } else {
    const gateway = await startLocalGateway(resources, await freshLedger(HOSPITAL), { type: 'hospital', role: 'records-officer', acceptance: row.acceptance });
    ({ url, apiKey, stop } = gateway);
  }
  // Not timed: the first sight of each patient creates its key (a key-store write), so every
  // gateway first anchors one record per patient, which also warms up the code paths.
  const warm = await runLoad({ label: 'warm-up', baseUrl: url, apiKey, concurrency: 1, requests: warmUpRequests(), awaitCommitted: POLL });
  printFailures(`warm-up of ${row.label}`, warm.failures, warm.sampleFailure);
  const result = await runLoad({ label: `${row.label}, ${row.clients} clients`, baseUrl: url, apiKey, concurrency: row.clients, requests: row.requests, awaitCommitted: POLL });
  await stop();
  return { row: { label: row.label, clients: row.clients, outcome: result, perRequest: row.perRequest }, result };
}

async function singleAnchors(resources: Deferred, target: Target): Promise<void> {
  const rows: Row[] = [];
  const notes: string[] = [];
  for (const clients of CONCURRENCY) {
    const tag = (name: string) => `c${clients}-${name}`;
    const prepared = await Promise.all(records(tag('ledger'), N).map((r) => prepareAnchorRecord(r, refs)));
    const baseline = await ledgerRow(`ledger, ${clients} clients`, prepared, clients);
    const ledgerRate = baseline.ok / baseline.seconds;
    rows.push({ label: 'baseline: Records:anchorRecord on the ledger object (median of 3)', clients, outcome: baseline, perRequest: 1 });
    const variants =
      target.kind === 'real'
        ? [{ label: 'gateway, as configured', acceptance: false, headers: undefined }]
        : [
            { label: 'gateway, no journal (201 when committed)', acceptance: false, headers: undefined },
            { label: 'gateway + journal: to 202 ack', acceptance: true, headers: undefined },
            { label: 'gateway + journal, Prefer: wait=30 (to commit)', acceptance: true, headers: PREFER_WAIT },
          ];
    let variantNo = 0;
    for (const v of variants) {
      const { row, result } = await gatewayRow(resources, target, { label: v.label, clients, perRequest: 1, acceptance: v.acceptance, requests: singleRequests(tag(`v${variantNo++}`), v.headers) });
      rows.push({ ...row, baseline: ledgerRate });
      const line = commitLine(`${v.label}, ${clients} clients`, result, 1);
      if (line) notes.push(line);
      // A real gateway that answers 202: also measure each request's time to commit.
      if (target.kind === 'real' && result.committed) {
        const waited = await gatewayRow(resources, target, { label: 'gateway, Prefer: wait=30 (to commit)', clients, perRequest: 1, acceptance: true, requests: singleRequests(tag('wait'), PREFER_WAIT) });
        rows.push({ ...waited.row, baseline: ledgerRate });
      }
    }
  }
  console.log(`\nsingle anchors (POST /v1/records, JSON), ${fmtInt(N)} per row; records of ${PATIENTS} patients:`);
  printRows('anchors', rows);
  for (const line of notes) console.log(line);
}

async function batchedAnchors(resources: Deferred, target: Target): Promise<void> {
  const clients = BATCH_CONCURRENCY;
  const rows: Row[] = [];
  const notes: string[] = [];
  const prepared = await Promise.all(
    Array.from({ length: BATCHES }, (_, b) => prepareAnchorBatch(records(`batch-ledger-${b}`, BATCH_SIZE), refs)),
  );
  const baseline = await ledgerRow('ledger batches', prepared, clients);
  rows.push({ label: 'baseline: Records:anchorRecords on the ledger object (median of 3)', clients, outcome: baseline, perRequest: BATCH_SIZE });
  const ledgerRate = (baseline.ok * BATCH_SIZE) / baseline.seconds;
  const variants =
    target.kind === 'real'
      ? [{ label: 'gateway, as configured, Prefer: wait=30', acceptance: false, headers: PREFER_WAIT }]
      : [
          { label: 'gateway, no journal (201 when committed)', acceptance: false, headers: undefined },
          { label: 'gateway + journal, Prefer: wait=30 (to commit)', acceptance: true, headers: PREFER_WAIT },
        ];
  for (const v of variants) {
    const { row, result } = await gatewayRow(resources, target, { label: v.label, clients, perRequest: BATCH_SIZE, acceptance: v.acceptance, requests: batchRequests(`batch-${v.acceptance ? 'journal' : 'direct'}`, v.headers) });
    rows.push({ ...row, baseline: ledgerRate });
    const line = commitLine(v.label, result, BATCH_SIZE);
    if (line) notes.push(line);
  }
  console.log(`\nbatched anchors (POST /v1/records/batch), ${BATCHES} batches of ${fmtInt(BATCH_SIZE)} records per row; latency is per batch:`);
  printRows('records', rows);
  for (const line of notes) console.log(line);
}

/** The in-process (or given gateway URL) variant of bench:anchor. */
export function inProcessMain(): void {
  runBench(async (resources) => {
    const target = targetFromEnv();
    printHeader(
      'bench:anchor — record anchors through the gateway beside the same transactions straight on the ledger object',
      `MEDPROV_BENCH_N=${N} MEDPROV_BENCH_CONCURRENCY=${CONCURRENCY.join(',')} MEDPROV_BENCH_BATCHES=${BATCHES} MEDPROV_BENCH_BATCH_SIZE=${BATCH_SIZE} MEDPROV_BENCH_BATCH_CONCURRENCY=${BATCH_CONCURRENCY} MEDPROV_BENCH_PATIENTS=${PATIENTS}`,
    );
    console.log(describeTarget(target));
    console.log(`client: ${CLIENT_DESCRIPTION}`);
    console.log('baseline: the real chaincode on the in-memory stub, called as an object in this thread (no HTTP, no validation, no journal, patient refs precomputed); a fresh ledger per row');
    if (target.kind === 'in-process') console.log('in-process gateways: a fresh hospital gateway and ledger per row, per-key rate limit lifted, journal (when on) in the temp folder');
    else console.log('a real gateway keeps its per-key rate limit (default 200/s, burst 400): 429s above it are counted as errors');
    // Not timed: warms up the chaincode and the stub in this thread, as the gateways' warm-up does.
    await ledgerRow('ledger warm-up', await Promise.all(records('ledger-warm', 1000).map((r) => prepareAnchorRecord(r, refs))), 8, 1);
    await singleAnchors(resources, target);
    await batchedAnchors(resources, target);
  });
}
