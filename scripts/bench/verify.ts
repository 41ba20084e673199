/**
 * bench:verify — document verifications on the REAL network (Fabric 3.1.5, the project's own
 * network layer, the Insurer's gateway process), each figure beside the same-run ceiling: the
 * trivial one-key evaluate `Probe:get` through the Insurer's peer, as the Insurer gateway's own
 * identity, at the same concurrency.
 *
 *   1. documents anchored first through the Hospital's gateway (batches, each polled until
 *      committed), then waited for until the Insurer's event-fed anchor index holds them;
 *   2. the ceiling: Probe:get from 100 clients;
 *   3. verifications by hash (POST /v1/verifications, JSON) of those documents from 100
 *      concurrent HTTP clients, answered from the index: verifies/s, p50/p99 (the median of
 *      MEDPROV_BENCH_ROUNDS runs); goal ≥ 5,000/s with p99 ≤ 50 ms;
 *   4. verifications of hashes nobody anchored: the index cannot answer those, the peer does
 *      (Records:lookupByHash), so this row is held against the ceiling directly;
 *   5. verifications by upload (multipart, the document hashed as it streams in).
 *
 * Every answer must be the expected verdict (ORIGINAL / UNKNOWN): anything else, 429s included,
 * is counted in the table, never hidden. How many answers the index gave and how many the peer
 * did is read from the gateway's /healthz before and after each row.
 *
 * The per-key rate limit: a fresh network's gateways are started with MEDPROV_RATE_LIMIT_PER_SECOND
 * = 100000 unless the environment sets it (the bench's 100 clients are one claims-processing
 * service with one key, which an operator would configure so; the default 200/s per key is for
 * people). A running network keeps what it was started with: its 429s show in the table.
 *
 * Prints the machine, the exact command, the date, a table and CPU seconds per process; asserts
 * nothing. Run: `npm run bench:verify`. The network: a fresh one, stopped at the end, or a running
 * one (MEDPROV_BENCH_STATE_DIR [+ MEDPROV_BENCH_BASE_PORT], left running). `-- --in-process` (or
 * MEDPROV_BENCH_GATEWAY + MEDPROV_BENCH_API_KEY): the older bench on in-process gateways without
 * Fabric (verify-in-process.ts). Sizes:
 *   MEDPROV_BENCH_N             verifications by hash per run (default 50000)
 *   MEDPROV_BENCH_ROUNDS        runs of the by-hash row; the median is reported (default 3)
 *   MEDPROV_BENCH_CONCURRENCY   clients (default 100)
 *   MEDPROV_BENCH_ANCHORED      documents anchored first (default 10000), in batches of
 *                               MEDPROV_BENCH_ANCHOR_BATCH (default 500)
 *   MEDPROV_BENCH_PEER_N        verifications of unanchored hashes (default 5000)
 *   MEDPROV_BENCH_UPLOADS       verifications by upload (default 2000) of MEDPROV_BENCH_UPLOAD_KIB
 *                               KiB documents (default 100)
 *   MEDPROV_BENCH_PROGRESS=1    progress on stderr also when it is not a terminal
 */
import { createHash, randomBytes } from 'node:crypto';
import * as os from 'node:os';
import { CEILING_DESCRIPTION, ceilingEvaluate } from './lib/ceiling';
import { printCpu, withCpu } from './lib/cpu';
import { CLIENT_DESCRIPTION, runLoad, type LoadRequest, type LoadResult } from './lib/load';
import { benchNetwork, benchProgress, benchRateLimit, printRunContext, type BenchNetwork } from './lib/real-network';
import { type Deferred, type RunOutcome, envNumber, failureCount, fmtInt, fmtMs, printFailures, printHeader, runBench, summarize } from './lib/report';
import { ceilingRow, printBenchRows, type BenchRow } from './lib/rows';

const N = envNumber('MEDPROV_BENCH_N', 50_000);
const ROUNDS = envNumber('MEDPROV_BENCH_ROUNDS', 3);
const CLIENTS = envNumber('MEDPROV_BENCH_CONCURRENCY', 100);
const ANCHORED = envNumber('MEDPROV_BENCH_ANCHORED', 10_000);
const ANCHOR_BATCH = envNumber('MEDPROV_BENCH_ANCHOR_BATCH', 500);
const PEER_N = envNumber('MEDPROV_BENCH_PEER_N', 5000);
const UPLOADS = envNumber('MEDPROV_BENCH_UPLOADS', 2000);
const UPLOAD_KIB = envNumber('MEDPROV_BENCH_UPLOAD_KIB', 100);
/** Distinct upload documents (each anchored); the uploads cycle through them. */
const DOCUMENTS = 16;
const RUN = randomBytes(4).toString('hex');
const GOAL = { rate: 5000, p99Ms: 50 };
const sha = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

const rateOf = (o: RunOutcome) => o.ok / o.seconds;

/** A load run's row: its answers per second; who answered it (index / peer) in the table's own column. */
function loadRow(label: string, clients: number, result: LoadResult, unit: string, answered: { index: number; peer: number }): BenchRow {
  return {
    label,
    clients,
    sent: result.latenciesMs.length,
    rate: rateOf(result),
    unit,
    latenciesMs: result.latenciesMs,
    errors: failureCount(result.failures),
    rateLimited: result.statuses['429'] ?? 0,
    extra: [`${fmtInt(answered.index)} / ${fmtInt(answered.peer)}`],
  };
}

interface IndexHealth {
  ready: boolean;
  entries: number;
  lagBlocks: number;
  answered: { index: number; peer: number };
}

/** The Insurer gateway's anchor index as /healthz shows it. */
async function indexHealth(url: string): Promise<IndexHealth> {
  const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(5_000) });
  const body = (await res.json()) as { anchorIndex?: IndexHealth };
  if (!body.anchorIndex) throw new Error(`${url}/healthz shows no anchor index: this bench measures the event-fed index`);
  return body.anchorIndex;
}

/** Waits until the index is ready, caught up, and holds at least `entries` anchors. */
async function waitForIndex(url: string, entries: number, withinMs = 300_000): Promise<IndexHealth> {
  const until = Date.now() + withinMs;
  for (;;) {
    const health = await indexHealth(url);
    if (health.ready && health.lagBlocks === 0 && health.entries >= entries) return health;
    if (Date.now() > until) throw new Error(`the Insurer's anchor index did not catch up within ${withinMs / 1000} s: ${JSON.stringify(health)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const byHash = (hashes: string[], count: number, offset: number): LoadRequest[] =>
  Array.from({ length: count }, (_, i) => ({ method: 'POST', path: '/v1/verifications', json: JSON.stringify({ docHash: hashes[(offset + i * 7919) % hashes.length] }) }));

interface Target {
  net: BenchNetwork;
  /** The Insurer's gateway and its claims officer's key. */
  url: string;
  apiKey: string;
}

/** A load run at the Insurer's gateway, with CPU per process and the index's counters around it. */
async function measured(target: Target, label: string, clients: number, requests: LoadRequest[], expect: string, documents?: Uint8Array[]) {
  const before = await indexHealth(target.url);
  const run = await withCpu(target.net.pids(), () =>
    runLoad({ label, baseUrl: target.url, apiKey: target.apiKey, concurrency: clients, requests, expect: { field: 'verdict', values: [expect] }, ...(documents ? { documents } : {}) }),
  );
  const after = await indexHealth(target.url);
  const answered = { index: after.answered.index - before.answered.index, peer: after.answered.peer - before.answered.peer };
  return { ...run, answered };
}

function rateLimitHint(result: LoadResult): void {
  if ((result.statuses['429'] ?? 0) === 0) return;
  console.log(
    `!!! ${fmtInt(result.statuses['429'])} answer(s) were 429 RATE_LIMITED: the gateway's per-key limit (MEDPROV_RATE_LIMIT_PER_SECOND, default 200/s) is below this load. ` +
      'Start the network with a higher limit for a service key (README, Gateway) or let the bench start a fresh network.',
  );
}

/** Anchors `docHashes` through the Hospital's gateway, ANCHOR_BATCH per request, each polled until committed. */
async function anchorThroughHospital(net: BenchNetwork, hospital: string, docHashes: string[]): Promise<void> {
  const { url, apiKey } = net.gateway(hospital, 'records-officer');
  const requests: LoadRequest[] = [];
  for (let b = 0; b < docHashes.length; b += ANCHOR_BATCH) {
    const records = docHashes.slice(b, b + ANCHOR_BATCH).map((docHash, i) => ({
      recordId: `bench-verify-${RUN}-${b + i}`,
      docHash,
      patientId: `bench-patient-${(b + i) % 500}`,
      category: 'loinc:18842-5',
      // Plain: verifiers find it by the bare hash, as a hospital anchors a document it hands out.
      commitment: 'plain',
    }));
    requests.push({ method: 'POST', path: '/v1/records/batch', json: JSON.stringify({ records }), headers: { prefer: 'wait=30' } });
  }
  const t0 = performance.now();
  const result = await runLoad({ label: 'anchoring the documents', baseUrl: url, apiKey, concurrency: 2, requests, awaitCommitted: { pollMs: 200, timeoutMs: 900_000 } });
  const failures = { ...result.failures, ...result.committed?.failures };
  printFailures('anchoring the documents first', failures, result.sampleFailure);
  if (failureCount(failures) > 0) throw new Error('the documents could not all be anchored: the verifications would not measure the index');
  console.log(`anchored ${fmtInt(docHashes.length)} documents through ${hospital}'s gateway in ${fmtInt(requests.length)} batches (${((performance.now() - t0) / 1000).toFixed(1)} s, not timed)`);
}

async function realNetwork(resources: Deferred): Promise<void> {
  printHeader(
    'bench:verify — verifications on the real network beside the same-run ceiling (Probe:get through the same peer, same identity, same concurrency)',
    `MEDPROV_BENCH_N=${N} MEDPROV_BENCH_ROUNDS=${ROUNDS} MEDPROV_BENCH_CONCURRENCY=${CLIENTS} MEDPROV_BENCH_ANCHORED=${ANCHORED} MEDPROV_BENCH_ANCHOR_BATCH=${ANCHOR_BATCH} MEDPROV_BENCH_PEER_N=${PEER_N} MEDPROV_BENCH_UPLOADS=${UPLOADS} MEDPROV_BENCH_UPLOAD_KIB=${UPLOAD_KIB}`,
  );
  // Before the network comes up: a fresh network's gateways inherit it.
  const rateLimit = benchRateLimit();
  const net = await benchNetwork(resources);
  printRunContext(net);
  const orgs = net.network.definition.organisations;
  const hospital = orgs.find((o) => o.type === 'hospital')?.name;
  const insurer = orgs.find((o) => o.type === 'insurer')?.name;
  if (!hospital || !insurer) throw new Error('the consortium needs a hospital and an insurer');
  const { url, apiKey } = net.gateway(insurer, 'claims-officer');
  const target: Target = { net, url, apiKey };
  console.log(`gateway: ${insurer}'s at ${url} as it runs (event-fed anchor index), one claims-officer API key; ${rateLimit}`);
  console.log(`client: ${CLIENT_DESCRIPTION}`);
  console.log(CEILING_DESCRIPTION);
  console.log('warm-up (not timed) before each row: as many requests as two rounds of the clients (10,000 for the by-hash row)');

  const hashes = Array.from({ length: ANCHORED }, (_, i) => sha(`${RUN}/verify/${i}`));
  const documents = Array.from({ length: DOCUMENTS }, () => new Uint8Array(randomBytes(UPLOAD_KIB * 1024)));
  const before = await indexHealth(url);
  await anchorThroughHospital(net, hospital, [...hashes, ...documents.map((d) => sha(d))]);
  benchProgress.step(`waiting for ${insurer}'s anchor index to hold them`);
  await waitForIndex(url, before.entries + hashes.length + documents.length);

  const rows: BenchRow[] = [];
  const ceiling = await withCpu(net.pids(), () => ceilingEvaluate(net, insurer, { concurrency: CLIENTS, count: Math.max(5000, PEER_N) }));
  const ceilingRate = rateOf(ceiling.result);
  rows.push(ceilingRow(`ceiling: Probe:get via ${insurer}'s peer`, CLIENTS, ceiling.result));
  printFailures('ceiling', ceiling.result.failures, ceiling.result.sampleFailure);
  printCpu(`ceiling Probe:get, ${CLIENTS} clients`, ceiling);

  // By hash, from the index: ROUNDS runs, the median reported.
  await runLoad({ label: 'by-hash warm-up', baseUrl: url, apiKey, concurrency: CLIENTS, requests: byHash(hashes, 10_000, 1) });
  const runs = [];
  for (let r = 0; r < ROUNDS; r++) {
    const run = await measured(target, `by hash, run ${r + 1} of ${ROUNDS}`, CLIENTS, byHash(hashes, N, 1 + r * 104_729), 'ORIGINAL');
    runs.push(run);
    rateLimitHint(run.result);
  }
  const median = [...runs].sort((a, b) => rateOf(a.result) - rateOf(b.result))[Math.floor(runs.length / 2)];
  const label = 'verify by hash: POST /v1/verifications (JSON), anchored documents';
  rows.push({ ...loadRow(label, CLIENTS, median.result, 'verifies/s', median.answered), ceiling: ceilingRate, goal: `≥ ${fmtInt(GOAL.rate)}/s, p99 ≤ ${GOAL.p99Ms} ms` });
  console.log(`\n${label}: ${runs.map((r) => `${fmtInt(rateOf(r.result))}/s (p99 ${fmtMs(summarize(r.result.latenciesMs).p99)} ms)`).join(', ')}; the median in the table`);
  for (const [i, r] of runs.entries()) printFailures(`by hash, run ${i + 1}`, r.result.failures, r.result.sampleFailure);
  printCpu(`verify by hash, ${CLIENTS} clients (the median run)`, median);

  // Hashes nobody anchored: the peer answers every one.
  const unknown = Array.from({ length: 20_000 }, (_, i) => sha(`${RUN}/never-anchored/${i}`));
  await runLoad({ label: 'peer-path warm-up', baseUrl: url, apiKey, concurrency: CLIENTS, requests: byHash(unknown, 2 * CLIENTS, 3) });
  const peer = await measured(target, 'unanchored hashes', CLIENTS, byHash(unknown, PEER_N, 11), 'UNKNOWN');
  const peerLabel = 'verify by hash, not anchored: the peer answers (lookupByHash)';
  rows.push({ ...loadRow(peerLabel, CLIENTS, peer.result, 'verifies/s', peer.answered), ceiling: ceilingRate });
  printFailures(peerLabel, peer.result.failures, peer.result.sampleFailure);
  rateLimitHint(peer.result);
  printCpu(`verify unanchored hashes, ${CLIENTS} clients`, peer);

  // By upload: the document hashed as it streams in.
  const uploads = (count: number): LoadRequest[] => Array.from({ length: count }, (_, i) => ({ method: 'POST', path: '/v1/verifications', upload: i % DOCUMENTS }));
  await runLoad({ label: 'upload warm-up', baseUrl: url, apiKey, concurrency: CLIENTS, requests: uploads(2 * CLIENTS), documents });
  const up = await measured(target, 'uploads', CLIENTS, uploads(UPLOADS), 'ORIGINAL', documents);
  const upLabel = `verify by upload: multipart, ${fmtInt(UPLOAD_KIB)} KiB documents`;
  const mbps = (rateOf(up.result) * UPLOAD_KIB * 1024) / 1e6;
  rows.push(loadRow(upLabel, CLIENTS, up.result, `verifies/s (${mbps.toFixed(0)} MB/s)`, up.answered));
  printFailures(upLabel, up.result.failures, up.result.sampleFailure);
  rateLimitHint(up.result);
  printCpu(`verify by upload, ${CLIENTS} clients`, up);

  console.log(`\nbench:verify on ${os.cpus().length} cores (${os.cpus()[0]?.model.trim() ?? '?'}); latency per request, at the client; index / peer: who answered the row's verifications:`);
  printBenchRows(rows, ['index / peer']);
}

if (process.argv.includes('--in-process') || process.env.MEDPROV_BENCH_GATEWAY) {
  // Loaded only here: it loads the chaincode and the in-memory ledger.
  (require('./verify-in-process') as { inProcessMain(): void }).inProcessMain();
} else {
  runBench(realNetwork);
}
