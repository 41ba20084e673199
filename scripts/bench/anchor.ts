/**
 * bench:anchor — record anchors on the REAL network (Fabric 3.1.5, the project's own network
 * layer, the Hospital's gateway process), each figure beside the same-run ceiling: the trivial
 * one-key `Probe:put` through the same peer, as the same identity, at the same concurrency.
 *
 *   single: the ceiling at 100 clients; single-record anchors from 100 concurrent HTTP clients
 *           (POST /v1/records, `Prefer: wait=30`), counted as committed anchors/s end to end
 *           (an answer that is still 202 after the wait is polled until committed); goal ≥ 1.5×.
 *   batch:  the ceiling at the batches' concurrency; batches of 1,000 records
 *           (POST /v1/records/batch) a few in flight, committed records/s; goal ≥ 20,000/s.
 *
 * Prints the machine, the exact command, the date, a table and CPU seconds per process; asserts
 * nothing. Run: `npm run bench:anchor [-- --single | --batch]`. The network: a fresh one, stopped at
 * the end, or a running one (MEDPROV_BENCH_STATE_DIR [+ MEDPROV_BENCH_BASE_PORT], left running).
 * `-- --in-process` (or MEDPROV_BENCH_GATEWAY + MEDPROV_BENCH_API_KEY): the older bench on in-process
 * gateways without Fabric (anchor-in-process.ts). Sizes:
 *   MEDPROV_BENCH_N                  single anchors, and ceiling puts, per row (default 2000)
 *   MEDPROV_BENCH_CONCURRENCY        clients for single anchors (default 100)
 *   MEDPROV_BENCH_BATCHES            batches (default 20), MEDPROV_BENCH_BATCH_SIZE (1000)
 *   MEDPROV_BENCH_BATCH_CONCURRENCY  batches in flight (default 4)
 *   MEDPROV_BENCH_PATIENTS           distinct patients the records belong to (default 500)
 *   MEDPROV_BENCH_PROGRESS=1         progress on stderr also when it is not a terminal
 */
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import { anchorRecords, batchAnchorRequests, singleAnchorRequests } from './lib/anchor-requests';
import { CEILING_DESCRIPTION, ceilingPut } from './lib/ceiling';
import { printCpu, withCpu } from './lib/cpu';
import { CLIENT_DESCRIPTION, runLoad, type LoadRequest, type LoadResult } from './lib/load';
import { ceilingRow, printBenchRows as printRows, type BenchRow as Row } from './lib/rows';
import { benchNetwork, benchRateLimit, printRunContext, type BenchNetwork } from './lib/real-network';
import { type Deferred, envNumber, failureCount, fmtInt, printFailures, printHeader, runBench } from './lib/report';

const N = envNumber('MEDPROV_BENCH_N', 2000);
const CLIENTS = envNumber('MEDPROV_BENCH_CONCURRENCY', 100);
const BATCHES = envNumber('MEDPROV_BENCH_BATCHES', 20);
const BATCH_SIZE = envNumber('MEDPROV_BENCH_BATCH_SIZE', 1000);
const BATCH_CLIENTS = envNumber('MEDPROV_BENCH_BATCH_CONCURRENCY', 4);
const PATIENTS = envNumber('MEDPROV_BENCH_PATIENTS', 500);
const RUN = randomBytes(4).toString('hex');
const PREFER_WAIT = { prefer: 'wait=30' };
const POLL = { pollMs: 50, timeoutMs: 600_000 };
const GOAL_SINGLE = 1.5;
const GOAL_BATCH = 20_000;

/**
 * What a load run committed and how fast, end to end: answers that were final (201/200: committed
 * within the `Prefer: wait`) plus 202s polled until committed, over the time until the last commit.
 */
function committedRate(result: LoadResult, perRequest: number): { items: number; seconds: number } {
  const accepted = result.statuses['202'] ?? 0;
  const final = result.ok - accepted;
  const later = result.committed?.count ?? 0;
  return { items: (final + later) * perRequest, seconds: Math.max(result.seconds, result.committed?.seconds ?? 0) };
}

function loadRow(label: string, clients: number, result: LoadResult, perRequest: number, unit: string): Row {
  const { items, seconds } = committedRate(result, perRequest);
  return {
    label,
    clients,
    sent: result.latenciesMs.length,
    rate: items / seconds,
    unit,
    latenciesMs: result.latenciesMs,
    errors: failureCount(result.failures) + failureCount(result.committed?.failures ?? {}),
    rateLimited: result.statuses['429'] ?? 0,
  };
}

function printLoadFailures(label: string, result: LoadResult): void {
  printFailures(label, result.failures, result.sampleFailure);
  if (result.committed) printFailures(`${label}: waiting for commit`, result.committed.failures);
  const accepted = result.statuses['202'] ?? 0;
  if (accepted > 0) console.log(`  ${label}: ${fmtInt(accepted)} answer(s) still 202 after Prefer: wait=30, polled until committed (${fmtInt(result.committed?.polls ?? 0)} polls of GET /v1/requests/{id}); their latency above is to the 202`);
}

interface Target {
  net: BenchNetwork;
  org: string;
  url: string;
  apiKeys: string[];
}

function load(target: Target, label: string, clients: number, requests: LoadRequest[], expect?: { field: string; values: string[] }): Promise<LoadResult> {
  return runLoad({ label, baseUrl: target.url, apiKey: target.apiKeys[0], apiKeys: target.apiKeys, concurrency: clients, requests, awaitCommitted: POLL, ...(expect ? { expect } : {}) });
}

/** Row 1, the ceiling at 100 clients; row 2, single-record anchors from 100 HTTP clients. */
async function singleAnchors(target: Target, rows: Row[]): Promise<void> {
  const ceiling = await withCpu(target.net.pids(), () => ceilingPut(target.net, target.org, { concurrency: CLIENTS, count: N }));
  const ceilingRate = ceiling.result.ok / ceiling.result.seconds;
  rows.push(ceilingRow(`ceiling: Probe:put via ${target.org}'s peer`, CLIENTS, ceiling.result));
  printFailures('ceiling (single)', ceiling.result.failures, ceiling.result.sampleFailure);
  printCpu(`ceiling Probe:put, ${CLIENTS} clients`, ceiling);

  // Not timed: as many anchors as two rounds of the clients, through the same path.
  const warm = await load(target, 'single anchors warm-up', CLIENTS, singleAnchorRequests(anchorRecords(RUN, 'single-warm', Math.min(N, 2 * CLIENTS), PATIENTS), PREFER_WAIT));
  printLoadFailures('single anchors warm-up', warm);
  const label = 'single anchors: POST /v1/records, Prefer: wait=30';
  const run = await withCpu(target.net.pids(), () => load(target, `single anchors, ${CLIENTS} clients`, CLIENTS, singleAnchorRequests(anchorRecords(RUN, 'single', N, PATIENTS), PREFER_WAIT)));
  rows.push({ ...loadRow(label, CLIENTS, run.result, 1, 'anchors/s'), ceiling: ceilingRate, goal: `≥ ${GOAL_SINGLE}×` });
  printLoadFailures(label, run.result);
  printCpu(`single anchors, ${CLIENTS} clients`, run);
}

/** The ceiling at the batches' concurrency; batches of BATCH_SIZE records, BATCH_CLIENTS in flight. */
async function batchedAnchors(target: Target, rows: Row[]): Promise<void> {
  const ceiling = await withCpu(target.net.pids(), () => ceilingPut(target.net, target.org, { concurrency: BATCH_CLIENTS, count: Math.max(200, 50 * BATCH_CLIENTS) }));
  const ceilingRate = ceiling.result.ok / ceiling.result.seconds;
  rows.push(ceilingRow(`ceiling: Probe:put via ${target.org}'s peer`, BATCH_CLIENTS, ceiling.result));
  printFailures('ceiling (batch)', ceiling.result.failures, ceiling.result.sampleFailure);

  const expect = { field: 'anchored', values: [String(BATCH_SIZE)] };
  // Not timed: one batch per client.
  const warm = await load(target, 'batch warm-up', BATCH_CLIENTS, batchAnchorRequests(anchorRecords(RUN, 'batch-warm', BATCH_CLIENTS * BATCH_SIZE, PATIENTS), BATCH_SIZE, PREFER_WAIT), expect);
  printLoadFailures('batch warm-up', warm);
  const label = `batches of ${fmtInt(BATCH_SIZE)}: POST /v1/records/batch, Prefer: wait=30`;
  const run = await withCpu(target.net.pids(), () =>
    load(target, `batches, ${BATCH_CLIENTS} in flight`, BATCH_CLIENTS, batchAnchorRequests(anchorRecords(RUN, 'batch', BATCHES * BATCH_SIZE, PATIENTS), BATCH_SIZE, PREFER_WAIT), expect),
  );
  rows.push({ ...loadRow(label, BATCH_CLIENTS, run.result, BATCH_SIZE, 'records/s'), ceiling: ceilingRate, goal: `≥ ${fmtInt(GOAL_BATCH)} records/s` });
  printLoadFailures(label, run.result);
  printCpu(`batches of ${fmtInt(BATCH_SIZE)}, ${BATCH_CLIENTS} in flight`, run);
}

async function realNetwork(resources: Deferred): Promise<void> {
  const args = process.argv.slice(2);
  const only = args.includes('--single') ? 'single' : args.includes('--batch') ? 'batch' : undefined;
  printHeader(
    'bench:anchor — record anchors on the real network beside the same-run ceiling (Probe:put through the same peer, same identity, same concurrency)',
    `MEDPROV_BENCH_N=${N} MEDPROV_BENCH_CONCURRENCY=${CLIENTS} MEDPROV_BENCH_BATCHES=${BATCHES} MEDPROV_BENCH_BATCH_SIZE=${BATCH_SIZE} MEDPROV_BENCH_BATCH_CONCURRENCY=${BATCH_CLIENTS} MEDPROV_BENCH_PATIENTS=${PATIENTS}${only ? ` (--${only} only)` : ''}`,
  );
  const rateLimit = benchRateLimit();
  const net = await benchNetwork(resources);
  printRunContext(net);
  const org = net.network.definition.organisations.find((o) => o.type === 'hospital')?.name;
  if (!org) throw new Error('the consortium has no hospital');
  const { url, apiKey } = net.gateway(org, 'records-officer');
  const target: Target = { net, org, url, apiKeys: [apiKey] };
  console.log(`gateway: ${org}'s at ${url} as it runs (journal, coalescing as configured), ${target.apiKeys.length} records-officer API key(s); ${rateLimit}`);
  console.log(`client: ${CLIENT_DESCRIPTION}`);
  console.log(CEILING_DESCRIPTION);
  console.log('warm-up (not timed) before each row: the ceiling puts as many as its clients; one batch of one record per patient (creates each patient key), then two rounds of anchors / one batch per client');
  const rows: Row[] = [];
  // Not timed: the first sight of each patient creates its key (a key-store write).
  const patients = await load(target, 'patients warm-up', 1, batchAnchorRequests(anchorRecords(RUN, 'patients', PATIENTS, PATIENTS), BATCH_SIZE, PREFER_WAIT));
  printLoadFailures('patients warm-up', patients);
  if (only !== 'batch') await singleAnchors(target, rows);
  if (only !== 'single') await batchedAnchors(target, rows);
  console.log(`\nbench:anchor on ${os.cpus().length} cores (${os.cpus()[0]?.model.trim() ?? '?'}); figure = committed per second end to end; latency per request (a batch is one request):`);
  printRows(rows);
}

if (process.argv.includes('--in-process') || process.env.MEDPROV_BENCH_GATEWAY) {
  // Loaded only here: it loads the chaincode and the in-memory ledger.
  (require('./anchor-in-process') as { inProcessMain(): void }).inProcessMain();
} else {
  runBench(realNetwork);
}
