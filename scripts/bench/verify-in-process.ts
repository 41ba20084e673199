/**
 * bench:verify --in-process (the real network is the default: verify.ts) — document
 * verifications through the gateway's HTTP API: by hash (POST
 * /v1/verifications, JSON) per second and p50/p99 at bounded concurrency, with and without the
 * local anchor index; and with 1 MiB uploads (multipart, hashed as they stream in), MB/s beside
 * raw node:crypto SHA-256 of the same bytes. Beside the by-hash rows, the same look-ups straight
 * on the ledger object, in the same run. Prints figures; asserts nothing.
 *
 * Run: `npm run bench:verify -- --in-process` (or `MEDPROV_BENCH_GATEWAY=… MEDPROV_BENCH_API_KEY=…
 * npm run bench:verify`). Sizes:
 *   MEDPROV_BENCH_N            verifications by hash per row (default 10000)
 *   MEDPROV_BENCH_CONCURRENCY  clients for the by-hash rows (default 8,32)
 *   MEDPROV_BENCH_ANCHORED     documents anchored on the ledger first (default 20000)
 *   MEDPROV_BENCH_UPLOADS      1 MiB uploads per row (default 400), MEDPROV_BENCH_UPLOAD_MIB (1)
 *   MEDPROV_BENCH_UPLOAD_CONCURRENCY  clients for the upload rows (default 1,4)
 *   MEDPROV_BENCH_GATEWAY + MEDPROV_BENCH_API_KEY: a real gateway (any role may verify); the
 *     documents are anchored through it first when the key may anchor (a hospital's records
 *     officer), or through MEDPROV_BENCH_ANCHOR_GATEWAY + MEDPROV_BENCH_ANCHOR_API_KEY; else the
 *     hashes are not anchored and every answer is UNKNOWN (still a full look-up at the peer)
 *   MEDPROV_BENCH_PROGRESS=1   progress on stderr also when it is not a terminal
 */
import { createHash, randomBytes } from 'node:crypto';
import { HOSPITAL, INSURER } from '../../test/unit/chaincode/fixtures';
import { ChaincodeLedger } from '../../test/unit/support/chaincode-ledger';
import { describeTarget, freshLedger, startLocalGateway, targetFromEnv, type Target } from './lib/in-process';
import { CLIENT_DESCRIPTION, runLoad, type LoadRequest, type LoadSpec } from './lib/load';
import { type Deferred, type RunOutcome, envCounts, envNumber, failureCount, fmtInt, printFailures, printHeader, printTable, progressLine, runBench, runConcurrent, resultRow, medianRun } from './lib/report';

const N = envNumber('MEDPROV_BENCH_N', 10000);
const CONCURRENCY = envCounts('MEDPROV_BENCH_CONCURRENCY', [8, 32]);
const ANCHORED = envNumber('MEDPROV_BENCH_ANCHORED', 20_000);
const UPLOADS = envNumber('MEDPROV_BENCH_UPLOADS', 400);
const UPLOAD_MIB = envNumber('MEDPROV_BENCH_UPLOAD_MIB', 1);
const UPLOAD_CONCURRENCY = envCounts('MEDPROV_BENCH_UPLOAD_CONCURRENCY', [1, 4]);
/** Distinct upload documents (each anchored); the uploads cycle through them. */
const DOCUMENTS = 16;
const BATCH = 1000;
const RUN = randomBytes(4).toString('hex');
const VERDICTS = { field: 'verdict', values: ['ORIGINAL'] };

/** Where the verifications go, with the verdict they should get. */
interface Endpoint {
  label: string;
  url: string;
  apiKey: string;
  expect: LoadSpec['expect'];
}

interface Corpus {
  hashes: string[];
  documents: Uint8Array[];
  documentHashes: string[];
}

function corpus(): Corpus {
  const hashes = Array.from({ length: ANCHORED }, (_, i) => createHash('sha256').update(`${RUN}/doc/${i}`).digest('hex'));
  const documents = Array.from({ length: DOCUMENTS }, () => new Uint8Array(randomBytes(UPLOAD_MIB * 2 ** 20)));
  const documentHashes = documents.map((d) => createHash('sha256').update(d).digest('hex'));
  return { hashes, documents, documentHashes };
}

/** The anchors of `docHashes`, `BATCH` per transaction, as records of a hospital. */
function anchorBatches(docHashes: string[]): { recordId: string; docHash: string; patientId: string; category: string }[][] {
  const batches = [];
  for (let b = 0; b < docHashes.length; b += BATCH) {
    batches.push(docHashes.slice(b, b + BATCH).map((docHash, i) => ({ recordId: `bench-${RUN}-${b + i}`, docHash, patientId: `bench-patient-${(b + i) % 500}`, category: 'loinc:18842-5' })));
  }
  return batches;
}

/** In-process: anchors straight on the ledger as the hospital (patientRef stands in for the patient id). */
async function anchorOnLedger(hospital: ChaincodeLedger, docHashes: string[]): Promise<void> {
  const progress = progressLine('anchoring', docHashes.length);
  let done = 0;
  for (const batch of anchorBatches(docHashes)) {
    const onLedger = batch.map(({ patientId, ...r }) => ({ ...r, patientRef: createHash('sha256').update(patientId).digest('hex') }));
    await hospital.submit('Records:anchorRecords', JSON.stringify(onLedger));
    progress.update((done += batch.length));
  }
  progress.end();
}

/** Real gateway: anchors through the API; false when the key may not (then the hashes stay unknown). */
async function anchorThroughApi(url: string, apiKey: string, docHashes: string[]): Promise<boolean> {
  const requests: LoadRequest[] = anchorBatches(docHashes).map((records) => ({ method: 'POST', path: '/v1/records/batch', json: JSON.stringify({ records }), headers: { prefer: 'wait=30' } }));
  const result = await runLoad({ label: 'anchoring', baseUrl: url, apiKey, concurrency: 2, requests, awaitCommitted: { pollMs: 200, timeoutMs: 600_000 } });
  const refused = Object.keys(result.failures).some((kind) => kind.startsWith('401') || kind.startsWith('403'));
  if (!refused) printFailures('anchoring the documents first', { ...result.failures, ...result.committed?.failures }, result.sampleFailure);
  return !refused && failureCount(result.failures) === 0;
}

/** The baseline: Records:lookupByHash on the ledger object, as the insurer, the answer parsed; the median of three runs. */
async function ledgerLookups(insurer: ChaincodeLedger, hashes: string[], clients: number, runs = 3): Promise<RunOutcome> {
  return medianRun(runs, async () => {
    const progress = progressLine(`ledger look-ups, ${clients} clients`, hashes.length);
    const outcome = await runConcurrent(
      hashes,
      clients,
      async (docHash) => {
        const anchor = JSON.parse(Buffer.from(await insurer.evaluate('Records:lookupByHash', docHash)).toString('utf8')) as { status?: string } | null;
        return anchor?.status === 'active' ? undefined : `status=${anchor?.status ?? 'none'}`;
      },
      progress.update,
    );
    progress.end();
    return outcome;
  });
}

/** `count` items cycling through `from`, starting at a different place in each row. */
const cycle = <T>(from: T[], count: number, offset: number): T[] => Array.from({ length: count }, (_, i) => from[(offset + i) % from.length]);

async function byHash(endpoints: Endpoint[], insurer: ChaincodeLedger, c: Corpus): Promise<void> {
  const rows: string[][] = [];
  const failures: [string, RunOutcome][] = [];
  let offset = 0;
  for (const clients of CONCURRENCY) {
    const hashes = cycle(c.hashes, N, (offset += 7919));
    const baseline = await ledgerLookups(insurer, hashes, clients);
    const ledgerRate = baseline.ok / baseline.seconds;
    rows.push(resultRow('baseline: Records:lookupByHash on the ledger object (median of 3)', clients, baseline, ledgerRate, undefined));
    failures.push([`baseline, ${clients} clients`, baseline]);
    for (const e of endpoints) {
      const requests: LoadRequest[] = hashes.map((docHash) => ({ method: 'POST', path: '/v1/verifications', json: JSON.stringify({ docHash }) }));
      const result = await runLoad({ label: `${e.label}, ${clients} clients`, baseUrl: e.url, apiKey: e.apiKey, concurrency: clients, requests, ...(e.expect ? { expect: e.expect } : {}) });
      rows.push(resultRow(e.label, clients, result, result.ok / result.seconds, ledgerRate));
      failures.push([`${e.label}, ${clients} clients`, result]);
    }
  }
  console.log(`\nverifications by hash (POST /v1/verifications, JSON), ${fmtInt(N)} per row, hashes out of ${fmtInt(c.hashes.length)} anchored:`);
  printTable(['', 'clients', 'requests', 'verifies/s', 'p50 ms', 'p99 ms', 'max ms', 'errors', 'vs ledger'], rows);
  for (const [label, outcome] of failures) printFailures(label, outcome.failures, outcome.sampleFailure);
}

/** Raw node:crypto SHA-256 of the same documents, one after another in this thread. */
function rawHashing(documents: Uint8Array[]): RunOutcome {
  const latenciesMs = new Float64Array(documents.length);
  const start = performance.now();
  documents.forEach((doc, i) => {
    const t0 = performance.now();
    createHash('sha256').update(doc).digest();
    latenciesMs[i] = performance.now() - t0;
  });
  return { seconds: (performance.now() - start) / 1000, latenciesMs, ok: documents.length, failures: {} };
}

async function uploads(endpoint: Endpoint, c: Corpus): Promise<void> {
  const rows: string[][] = [];
  const failures: [string, RunOutcome][] = [];
  const mb = (UPLOAD_MIB * 2 ** 20) / 1e6;
  for (const clients of UPLOAD_CONCURRENCY) {
    const picks = cycle(Array.from(c.documents.keys()), UPLOADS, clients);
    const raw = await medianRun(3, async () => rawHashing(picks.map((i) => c.documents[i])));
    const rawMBps = (raw.ok * mb) / raw.seconds;
    rows.push(resultRow('baseline: raw node:crypto SHA-256, one thread (median of 3)', 1, raw, raw.ok / raw.seconds, undefined, [rawMBps.toFixed(0)]));
    const requests: LoadRequest[] = picks.map((upload) => ({ method: 'POST', path: '/v1/verifications', upload }));
    const result = await runLoad({ label: `uploads, ${clients} clients`, baseUrl: endpoint.url, apiKey: endpoint.apiKey, concurrency: clients, requests, documents: c.documents, ...(endpoint.expect ? { expect: endpoint.expect } : {}) });
    const upMBps = (result.ok * mb) / result.seconds;
    // Same bytes per request, so the ratio of rates is the ratio of MB/s.
    rows.push(resultRow(endpoint.label, clients, result, result.ok / result.seconds, raw.ok / raw.seconds, [upMBps.toFixed(0)]));
    failures.push([`uploads, ${clients} clients`, result]);
  }
  console.log(`\nverifications with ${UPLOAD_MIB} MiB uploads (POST /v1/verifications, multipart, hashed as it streams in), ${fmtInt(UPLOADS)} per row, ${DOCUMENTS} distinct anchored documents:`);
  printTable(['', 'clients', 'requests', 'verifies/s', 'p50 ms', 'p99 ms', 'max ms', 'errors', 'MB/s', 'vs raw SHA-256'], rows);
  for (const [label, outcome] of failures) printFailures(label, outcome.failures, outcome.sampleFailure);
}

async function endpointsFor(resources: Deferred, target: Target, c: Corpus, hospital: ChaincodeLedger): Promise<Endpoint[]> {
  if (target.kind === 'real') {
    const anchorUrl = process.env.MEDPROV_BENCH_ANCHOR_GATEWAY?.replace(/\/+$/, '') ?? target.url;
    const anchorKey = process.env.MEDPROV_BENCH_ANCHOR_API_KEY ?? target.apiKey;
    const anchored = await anchorThroughApi(anchorUrl, anchorKey, [...c.hashes, ...c.documentHashes]);
    if (!anchored) console.log('!!! the documents could not be anchored through the gateway (this key may not anchor): every verification below is of an unanchored hash and answers UNKNOWN');
    return [{ label: 'gateway, as configured', url: target.url, apiKey: target.apiKey, expect: anchored ? VERDICTS : { field: 'verdict', values: ['UNKNOWN'] } }];
  }
  await anchorOnLedger(hospital, [...c.hashes, ...c.documentHashes]);
  const insurer = { type: 'insurer' as const, role: 'claims-officer' as const };
  const peer = await startLocalGateway(resources, new ChaincodeLedger(hospital.state, INSURER), insurer);
  const indexed = await startLocalGateway(resources, new ChaincodeLedger(hospital.state, INSURER), { ...insurer, anchorIndex: true });
  return [
    { label: 'gateway (insurer), no index: peer look-up', url: peer.url, apiKey: peer.apiKey, expect: VERDICTS },
    { label: 'gateway (insurer), local anchor index', url: indexed.url, apiKey: indexed.apiKey, expect: VERDICTS },
  ];
}

export function inProcessMain(): void {
  runBench(inProcess);
}

async function inProcess(resources: Deferred): Promise<void> {
  const target = targetFromEnv();
  printHeader(
    'bench:verify — verifications through the gateway beside the same look-ups on the ledger object and raw SHA-256',
    `MEDPROV_BENCH_N=${N} MEDPROV_BENCH_CONCURRENCY=${CONCURRENCY.join(',')} MEDPROV_BENCH_ANCHORED=${ANCHORED} MEDPROV_BENCH_UPLOADS=${UPLOADS} MEDPROV_BENCH_UPLOAD_MIB=${UPLOAD_MIB} MEDPROV_BENCH_UPLOAD_CONCURRENCY=${UPLOAD_CONCURRENCY.join(',')}`,
  );
  console.log(describeTarget(target));
  console.log(`client: ${CLIENT_DESCRIPTION}`);
  console.log('baselines: the real chaincode on the in-memory stub, called as an object in this thread (no HTTP, no validation); raw node:crypto SHA-256 of the same bytes in this thread');
  if (target.kind === 'in-process') console.log('in-process gateways: two insurer gateways on one in-memory ledger (one with the anchor index, caught up before timing), per-key rate limit lifted');
  else console.log('a real gateway keeps its per-key rate limit (default 200/s, burst 400): 429s above it are counted as errors');
  const c = corpus();
  const hospital = await freshLedger(HOSPITAL);
  const endpoints = await endpointsFor(resources, target, c, hospital);
  const insurer = new ChaincodeLedger(hospital.state, INSURER);
  if (target.kind === 'real') {
    // The baseline ledger is local: anchor the same hashes on it so that its look-ups find them.
    await anchorOnLedger(hospital, c.hashes);
  }
  // Not timed: warms up both paths.
  await ledgerLookups(insurer, c.hashes.slice(0, 1000), 8, 1);
  for (const e of endpoints) {
    await runLoad({ label: 'warm-up', baseUrl: e.url, apiKey: e.apiKey, concurrency: 8, requests: c.hashes.slice(0, 1000).map((docHash) => ({ method: 'POST', path: '/v1/verifications', json: JSON.stringify({ docHash }) })) });
  }
  await byHash(endpoints, insurer, c);
  await uploads(endpoints[endpoints.length - 1], c);
}
