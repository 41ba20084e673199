/**
 * The real network the benchmarks run against: Fabric 3.1.5 brought up by the project's own
 * network layer (3 Raft orderers, a peer per org, the chaincode as a service, one gateway process
 * per org), either one that already runs (MEDPROV_BENCH_STATE_DIR, + MEDPROV_BENCH_BASE_PORT) or a
 * fresh one in a temp state folder on a free base port, stopped by pid at the end of the run.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gatewayName, readApiKeys } from '../../../network/src/gateways';
import { networkFromEnv, PORTS, type Network } from '../../../network/src/network';
import { runningPid } from '../../../network/src/processes';
import { consoleProgress, type Progress } from '../../../network/src/progress';
import { down, installFabric, ROOT, up } from '../../../network/src/system';
import { freeBasePort } from '../../../test/integration/network/test-network';
import type { Deferred } from './report';

export interface BenchNetwork {
  network: Network;
  /** a gateway's base URL and the API key of a role, e.g. ('Hospital', 'records-officer') */
  gateway(org: string, role: string): { url: string; apiKey: string };
  /** every process of the network by a readable name (orderer0, peer0.hospital, chaincode, gateway.hospital, …) → pid */
  pids(): Record<string, number>;
  /** how it was obtained, for the report */
  description: string;
}

/** Progress of the network layer and of the benches' own setup, on stderr. */
export const benchProgress: Progress = consoleProgress('bench');

/** The running processes of `network` by readable name → pid (those not running are left out). */
export function networkPids(network: Network): Record<string, number> {
  const pids: Record<string, number> = {};
  const add = (name: string, pid: number | undefined) => {
    if (pid !== undefined) pids[name] = pid;
  };
  for (const o of network.orderers) add(o.name, runningPid(network.pidFile(o.name)));
  for (const p of network.peers) add(p.fqdn.split('.').slice(0, 2).join('.'), runningPid(network.pidFile(p.name)));
  // The supervisor only watches; the chaincode server is its child (pid in `<pid file>.child`).
  const supervisor = runningPid(network.pidFile('chaincode'));
  add('chaincode-supervisor', supervisor);
  const childFile = `${network.pidFile('chaincode')}.child`;
  if (supervisor !== undefined && existsSync(childFile)) add('chaincode', Number(readFileSync(childFile, 'utf8').trim()) || undefined);
  add('evm', runningPid(path.join(network.stateDir, 'evm', 'node.pid')));
  for (const org of network.definition.organisations) add(`gateway.${org.name.toLowerCase()}`, runningPid(network.pidFile(gatewayName(org))));
  return pids;
}

/** The base port of a running network, read from its api-keys.json (the first org's gateway URL). */
function basePortOf(stateDir: string): string | undefined {
  const probe = networkFromEnv({ MEDPROV_STATE_DIR: stateDir }, ROOT);
  const keys = readApiKeys(probe);
  const first = probe.definition.organisations[0];
  const url = first && keys?.orgs[first.name]?.url;
  return url ? String(Number(new URL(url).port) - PORTS.gateway) : undefined;
}

function benchNetworkOf(network: Network, description: string): BenchNetwork {
  const keys = readApiKeys(network);
  if (!keys) throw new Error(`no API keys in ${network.apiKeysFile}: is the network up (with its gateways)?`);
  return {
    network,
    description,
    gateway(org, role) {
      const entry = keys.orgs[org];
      const apiKey = entry?.keys[role];
      if (!entry || !apiKey) throw new Error(`no API key for ${org} ${role} in ${network.apiKeysFile}`);
      return { url: entry.url, apiKey };
    },
    pids: () => networkPids(network),
  };
}

/**
 * MEDPROV_BENCH_STATE_DIR (+ MEDPROV_BENCH_BASE_PORT, else read from its api-keys.json) → the
 * network running there (not stopped at the end); otherwise a fresh network in a temp state folder
 * on a free base port, brought down by pid at the end of the run via `resources.defer` (also when
 * `up` fails half-way). `evm`: also the local EVM chain (default false: the checkpointer would
 * take CPU from the ledger). `fresh`: a fresh network even when MEDPROV_BENCH_STATE_DIR is set.
 * Progress lines on stderr (or to `progress`).
 */
export async function benchNetwork(resources: Deferred, options: { evm?: boolean; fresh?: boolean; progress?: Progress } = {}): Promise<BenchNetwork> {
  const progress = options.progress ?? benchProgress;
  const fabricHome = installFabric(progress);
  const given = options.fresh ? undefined : process.env.MEDPROV_BENCH_STATE_DIR;
  if (given) {
    const stateDir = path.resolve(given);
    const basePort = process.env.MEDPROV_BENCH_BASE_PORT ?? basePortOf(stateDir);
    const network = networkFromEnv({ MEDPROV_STATE_DIR: stateDir, ...(basePort ? { MEDPROV_BASE_PORT: basePort } : {}) }, ROOT, fabricHome);
    const missing = network.definition.organisations.filter((o) => runningPid(network.pidFile(gatewayName(o))) === undefined).map((o) => o.name);
    if (missing.length > 0) throw new Error(`MEDPROV_BENCH_STATE_DIR=${stateDir}: the gateway(s) of ${missing.join(', ')} do not run (npm run up with that state folder first)`);
    benchProgress.step(`using the running network in ${stateDir} (base port ${network.basePort}); it is left running`);
    return benchNetworkOf(network, `the running network in ${stateDir}, base port ${network.basePort} (MEDPROV_BENCH_STATE_DIR), left running`);
  }
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'medprov-bench-net-'));
  const upOptions = { evm: options.evm ?? false };
  const basePort = await freeBasePort(stateDir, fabricHome, upOptions);
  const network = networkFromEnv({ MEDPROV_STATE_DIR: stateDir, MEDPROV_BASE_PORT: String(basePort) }, ROOT, fabricHome);
  // `up` cannot be cancelled: on Ctrl-C half-way, it is let finish (or fail) first, so that it starts nothing after `down`.
  let upSettled: Promise<unknown> = Promise.resolve();
  resources.defer(async () => {
    await upSettled.catch(() => undefined);
    progress.step(`stopping the bench network (by pid) and removing ${stateDir}`);
    await down(network, progress);
    if (process.env.MEDPROV_BENCH_KEEP_STATE) progress.step(`kept ${stateDir} (MEDPROV_BENCH_KEEP_STATE)`);
    else rmSync(stateDir, { recursive: true, force: true });
  });
  progress.step(`a fresh network in ${stateDir}, base port ${basePort}${upOptions.evm ? ', with the local EVM chain' : ', without the EVM chain'}`);
  const t0 = performance.now();
  const started = up(network, progress, upOptions);
  upSettled = started;
  await started;
  const seconds = (performance.now() - t0) / 1000;
  return benchNetworkOf(network, `a fresh network (temp state ${stateDir}, base port ${basePort}, ${upOptions.evm ? 'with' : 'without'} the EVM chain; up took ${seconds.toFixed(1)} s), stopped at the end`);
}

/**
 * The command that ran this bench, as one would type it again: the MEDPROV_* settings in the
 * environment (none that look like secrets), then `npm run <script> -- <args>` or `npx tsx <file> <args>`.
 */
export function benchCommand(): string {
  const settings = Object.entries(process.env)
    .filter(([k]) => k.startsWith('MEDPROV_') && !/KEY|SECRET|TOKEN|PASSWORD/.test(k))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`);
  const args = process.argv.slice(2);
  const script = process.env.npm_lifecycle_event;
  const command = script?.startsWith('bench:')
    ? `npm run ${script}${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`
    : `npx tsx ${path.relative(process.cwd(), process.argv[1] ?? '')} ${args.join(' ')}`.trim();
  return [...settings, command].join(' ');
}

/** The lines every real-network bench prints after its header: command, date, the network. */
export function printRunContext(net: BenchNetwork): void {
  console.log(`command: ${benchCommand()}`);
  console.log(`date: ${new Date().toISOString()}`);
  console.log(`network: ${net.description}`);
}

/** The per-key rate limit a fresh bench network's gateways get: one bench client stands for many staff. */
export const BENCH_RATE_LIMIT = '100000';

/**
 * Before `benchNetwork`: a fresh network's gateways inherit MEDPROV_* from this process
 * (network/src/gateways.ts), so their per-key rate limit is lifted to {@link BENCH_RATE_LIMIT}
 * unless MEDPROV_RATE_LIMIT_PER_SECOND is set; a running network keeps its own. Returns how the
 * limit stands, for the report.
 */
export function benchRateLimit(): string {
  if (process.env.MEDPROV_BENCH_STATE_DIR) return 'per-key rate limit: as the running network was started with (default 200/s, burst 400)';
  const set = process.env.MEDPROV_RATE_LIMIT_PER_SECOND;
  if (set === undefined) process.env.MEDPROV_RATE_LIMIT_PER_SECOND = BENCH_RATE_LIMIT;
  return `per-key rate limit: MEDPROV_RATE_LIMIT_PER_SECOND=${process.env.MEDPROV_RATE_LIMIT_PER_SECOND} (set for this fresh network${set === undefined ? ' by the bench' : ''})`;
}
