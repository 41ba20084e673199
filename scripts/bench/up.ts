/**
 * bench:up — from nothing to the first committed anchor: Fabric binaries cached, a fresh state
 * folder (fresh crypto, channel, ledgers, keys) on a free base port, the whole system brought up by
 * the network layer as `npm run up` does (orderers, peers, channel, chaincode server and
 * definition, consortium, readiness probe, the local EVM chain, a gateway per org), then one
 * `POST /v1/records` to the Hospital's gateway answered committed (`Prefer: wait=30`). Prints
 * the total and where the time went (the network layer's progress steps, grouped in phases);
 * goal ≤ 30 s. Each run's network is stopped by pid and its folder removed before the next.
 *
 * Run: `npm run bench:up [-- --no-evm]`; MEDPROV_BENCH_RUNS runs (default 3; the median is the figure).
 */
import { createHash, randomBytes } from 'node:crypto';
import * as os from 'node:os';
import type { Progress } from '../../network/src/progress';
import { benchCommand, benchNetwork, benchProgress } from './lib/real-network';
import { Deferred, envNumber, printHeader, printTable, runBench } from './lib/report';

const RUNS = envNumber('MEDPROV_BENCH_RUNS', 3);
const GOAL_SECONDS = 30;

/** Which phase a progress step belongs to (the first that matches); its time runs until the next step. */
const PHASES: [string, RegExp][] = [
  ['Fabric binaries check, free ports', /Fabric binaries|a fresh network in/],
  ['crypto material and genesis block', /cryptogen|configtxgen|generating|genesis/],
  ['orderers: start, join the channel', /orderer/],
  ['peers: start, join the channel', /peer\d*-?\w* joins|starting \d+ peers/],
  ['chaincode: build, package, start its server', /compiling|chaincode server/],
  ['chaincode: install, approve, commit', /installing|approves|committing|redeploying/],
  ['consortium definition, readiness probe', /consortium|probe|network ready/],
  ['waiting for the local EVM chain (started alongside)', /EVM/],
  ['gateways: start, each commits its probe', /gateway|everything is up/],
  ['first anchor through the gateway', /first anchor/],
];

interface Step {
  at: number;
  message: string;
}

/** Forwards to the bench's progress and keeps each step's time since `t0`. */
function timedProgress(t0: number): { progress: Progress; steps: Step[] } {
  const steps: Step[] = [];
  return {
    steps,
    progress: {
      step(message) {
        steps.push({ at: (performance.now() - t0) / 1000, message });
        benchProgress.step(message);
      },
      warn: (message) => benchProgress.warn(message),
    },
  };
}

interface RunResult {
  total: number;
  steps: Step[];
  block: string;
}

async function once(resources: Deferred, evm: boolean): Promise<RunResult> {
  const local = new Deferred();
  // Also on Ctrl-C: the run's network is in `local`.
  resources.defer(() => local.closeAll());
  try {
    const t0 = performance.now();
    const { progress, steps } = timedProgress(t0);
    const net = await benchNetwork(local, { evm, fresh: true, progress });
    const org = net.network.definition.organisations.find((o) => o.type === 'hospital')?.name;
    if (!org) throw new Error('the consortium has no hospital');
    const { url, apiKey } = net.gateway(org, 'records-officer');
    progress.step(`first anchor: POST ${url}/v1/records, Prefer: wait=30`);
    const run = randomBytes(4).toString('hex');
    const res = await fetch(`${url}/v1/records`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', prefer: 'wait=30' },
      body: JSON.stringify({ recordId: `bench-up-${run}`, docHash: createHash('sha256').update(run).digest('hex'), patientId: 'bench-up-patient', category: 'loinc:18842-5' }),
    });
    const body = (await res.json()) as { blockNumber?: string | number };
    if (res.status !== 201 || body.blockNumber === undefined) throw new Error(`the first anchor was not answered committed: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
    const total = (performance.now() - t0) / 1000;
    progress.step(`first anchor committed in block ${body.blockNumber} (${total.toFixed(1)} s)`);
    // Not the steps of stopping it.
    return { total, steps: steps.slice(), block: String(body.blockNumber) };
  } finally {
    await local.closeAll();
  }
}

/**
 * Seconds per phase: each step lasts until the next one (the last step is the end). Steps of work
 * that runs alongside (the EVM chain) only mark a moment: they take no time from the steps they interrupt.
 */
function phases(result: RunResult): Map<string, number> {
  const out = new Map<string, number>(PHASES.map(([name]) => [name, 0]));
  const steps = result.steps.filter((s) => !/\(alongside\)/.test(s.message));
  steps.forEach((step, i) => {
    const end = i + 1 < steps.length ? steps[i + 1].at : result.total;
    const phase = PHASES.find(([, re]) => re.test(step.message))?.[0] ?? 'other';
    out.set(phase, (out.get(phase) ?? 0) + (end - step.at));
  });
  // Before the first step: this process getting to the network layer.
  out.set('Fabric binaries check, free ports', (out.get('Fabric binaries check, free ports') ?? 0) + (steps[0]?.at ?? 0));
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

runBench(async (resources) => {
  const evm = !process.argv.includes('--no-evm');
  printHeader(
    'bench:up — from nothing (Fabric binaries cached, fresh state folder and crypto) to the first anchor committed through a gateway',
    `MEDPROV_BENCH_RUNS=${RUNS}${evm ? '' : ' --no-evm'}`,
  );
  console.log(`command: ${benchCommand()}`);
  console.log(`date: ${new Date().toISOString()}`);
  console.log(`what runs: the network layer's up() in this process (as npm run up does, ${evm ? 'with' : 'without'} the local EVM chain), then POST /v1/records (JSON, Prefer: wait=30) to the Hospital's gateway answered 201 with its block; the clock starts in this process after Node and tsx loaded it (${process.uptime().toFixed(1)} s so far, not counted)`);
  const results: RunResult[] = [];
  for (let i = 0; i < RUNS; i++) {
    benchProgress.step(`run ${i + 1} of ${RUNS}`);
    results.push(await once(resources, evm));
  }
  const byRun = results.map(phases);
  const names = [...new Set(byRun.flatMap((m) => [...m.keys()]))].filter((n) => byRun.some((m) => (m.get(n) ?? 0) > 0.005));
  console.log(`\nwhere the time goes, seconds per phase (${os.cpus().length} cores, ${os.cpus()[0]?.model.trim() ?? '?'}):`);
  printTable(
    ['phase', ...results.map((_, i) => `run ${i + 1}`), 'median'],
    [
      ...names.map((n) => [n, ...byRun.map((m) => (m.get(n) ?? 0).toFixed(1)), median(byRun.map((m) => m.get(n) ?? 0)).toFixed(1)]),
      ['total: nothing → first committed anchor', ...results.map((r) => r.total.toFixed(1)), median(results.map((r) => r.total)).toFixed(1)],
    ],
  );
  const figure = median(results.map((r) => r.total));
  console.log(`\nbench:up: ${figure.toFixed(1)} s (median of ${RUNS}; min ${Math.min(...results.map((r) => r.total)).toFixed(1)} s), goal ≤ ${GOAL_SECONDS} s: ${figure <= GOAL_SECONDS ? 'met' : 'NOT met'}`);
  console.log('\nsteps of the last run (s since the start):');
  for (const s of results[results.length - 1].steps) console.log(`  ${s.at.toFixed(1).padStart(5)}  ${s.message}`);
});
