/**
 * bench:ordering — Raft (3 orderers) and SmartBFT (4 orderers) side by side, in one run on the
 * same machine: for each, a fresh network (fresh crypto, channel, ledgers) brought up by the
 * network layer from its consortium file (network/consortium.json with "ordering" forced to
 * "raft"; test/faults/support/consortium-bft.json), without gateways or the EVM chain; then the
 * trivial one-key transaction (`Probe:put`, each waiting for its commit status) through
 * @hyperledger/fabric-gateway to the Hospital's peer as the Hospital's gateway identity, and the
 * trivial evaluate (`Probe:get`, which no orderer sees) as the baseline that ordering does not touch.
 *
 * Printed: bring-up time (nothing → committed probe write), tx/s, p50/p99, and BFT ÷ Raft.
 *
 * Run: `npm run bench:ordering`; MEDPROV_BENCH_CONCURRENCY (default 100), MEDPROV_BENCH_COUNT
 * (default 1000 per measurement), MEDPROV_BENCH_RUNS (default 3: the run with the median rate).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readConsortiumFile, type ConsortiumDefinition } from '../../network/src/consortium';
import { Network } from '../../network/src/network';
import { down, installFabric, ROOT, up, type UpOptions } from '../../network/src/system';
import { freeNetwork } from '../../test/integration/network/test-network';
import { ceilingEvaluate, ceilingPut, CEILING_DESCRIPTION } from './lib/ceiling';
import { benchCommand, benchProgress, networkPids, type BenchNetwork } from './lib/real-network';
import { envNumber, fmtInt, fmtMs, fmtRatio, medianRun, printHeader, printTable, runBench, summarize, type RunOutcome } from './lib/report';

const CONCURRENCY = envNumber('MEDPROV_BENCH_CONCURRENCY', 100);
const COUNT = envNumber('MEDPROV_BENCH_COUNT', 1000);
const RUNS = envNumber('MEDPROV_BENCH_RUNS', 3);
const UP: UpOptions = { evm: false, gateways: false };

interface ModeResult {
  readonly label: string;
  readonly orderers: number;
  readonly upSeconds: number;
  readonly put: RunOutcome;
  readonly get: RunOutcome;
}

const rate = (o: RunOutcome): number => o.ok / o.seconds;

async function measureMode(label: string, definition: ConsortiumDefinition): Promise<ModeResult> {
  const fabricHome = installFabric(benchProgress);
  const stateDir = mkdtempSync(path.join(os.tmpdir(), `medprov-bench-${definition.ordering}-`));
  const network = await freeNetwork((basePort) => new Network(definition, { root: ROOT, stateDir, basePort, fabricHome }), UP);
  try {
    benchProgress.step(`${label}: a fresh network in ${stateDir}, base port ${network.basePort}`);
    const t0 = performance.now();
    await up(network, benchProgress, UP);
    const upSeconds = (performance.now() - t0) / 1000;
    const net: BenchNetwork = {
      network,
      description: `${label}, fresh, base port ${network.basePort}`,
      gateway: () => {
        throw new Error('no gateways in bench:ordering');
      },
      pids: () => networkPids(network),
    };
    const put = await medianRun(RUNS, () => ceilingPut(net, 'Hospital', { concurrency: CONCURRENCY, count: COUNT }));
    const get = await medianRun(RUNS, () => ceilingEvaluate(net, 'Hospital', { concurrency: CONCURRENCY, count: COUNT }));
    return { label, orderers: network.orderers.length, upSeconds, put, get };
  } finally {
    await down(network, benchProgress);
    if (!process.env.MEDPROV_BENCH_KEEP_STATE) rmSync(stateDir, { recursive: true, force: true });
  }
}

runBench(async () => {
  printHeader('bench:ordering — Raft vs SmartBFT: bring-up and trivial-transaction throughput, same run, same machine', `concurrency ${CONCURRENCY}, ${COUNT} transactions per measurement, median of ${RUNS}`);
  console.log(`command: ${benchCommand()}`);
  console.log(`date: ${new Date().toISOString()}`);
  console.log(`what runs: ${CEILING_DESCRIPTION}; bring-up = the network layer's up() without gateways or EVM chain, from nothing to a committed probe write`);
  // Both from the product's definition (each organisation's Fabric CA, each at its own address): only the ordering differs.
  const product = readConsortiumFile(path.join(ROOT, 'network', 'consortium.json'));
  const raft = await measureMode('Raft', { ...product, ordering: 'raft' });
  const bft = await measureMode('SmartBFT', { ...product, ordering: 'bft', ordererOrganisation: { ...product.ordererOrganisation, orderers: 4 } });
  console.log(`\n${os.cpus().length} cores, ${os.cpus()[0]?.model.trim() ?? '?'}; BatchTimeout 100 ms / 100 transactions per block for both\n`);
  const row = (r: ModeResult, baseline?: ModeResult): string[] => {
    const p = summarize(r.put.latenciesMs);
    return [
      `${r.label} (${r.orderers} orderers)`,
      r.upSeconds.toFixed(1),
      fmtInt(rate(r.put)),
      `${fmtMs(p.p50)} / ${fmtMs(p.p99)}`,
      String(Object.values(r.put.failures).reduce((a, b) => a + b, 0)),
      fmtInt(rate(r.get)),
      baseline ? fmtRatio(rate(r.put) / rate(baseline.put)) : '1.00× (baseline)',
    ];
  };
  printTable(['ordering', 'bring-up s', 'put tx/s', 'put p50 / p99 ms', 'put failures', 'get /s (no ordering)', 'put vs Raft'], [row(raft), row(bft, raft)]);
  for (const r of [raft, bft]) if (r.put.sampleFailure) console.log(`${r.label}: a failure: ${r.put.sampleFailure.slice(0, 300)}`);
});
