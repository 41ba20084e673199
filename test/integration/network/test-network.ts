/**
 * The real-network test fixture: a whole medprov consortium on real Fabric 3.1.5 (3 Raft
 * orderers, a peer per org, the chaincode as a service, one gateway process per org), started by
 * the project's own network layer in a temporary state folder on its own ports, so it runs
 * beside a developer's `npm start`. Started once per mocha run; stopped by pid.
 *
 * @module
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createWriteStream } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { allCaOrgs, caServer, usesFabricCa } from '../../../network/src/ca';
import { gatewayName, readApiKeys, type ApiKeys } from '../../../network/src/gateways';
import { networkFromEnv, type Network } from '../../../network/src/network';
import { runningPid } from '../../../network/src/processes';
import { consoleProgress, silentProgress, type Progress } from '../../../network/src/progress';
import { down, installFabric, portsTakenByOthers, ROOT, up, type UpOptions } from '../../../network/src/system';

/**
 * The consortium the shared test network runs: the product's organisations (network/consortium.json)
 * with cryptogen identities on one loopback address — the quick option for tests. The product's own
 * definition (each organisation's Fabric CA, each at its own address) is brought up whole by
 * test/integration/deployment/product.test.ts. MEDPROV_TEST_CONSORTIUM runs the suite on another file.
 */
export const TEST_CONSORTIUM = process.env.MEDPROV_TEST_CONSORTIUM ?? path.join(ROOT, 'test', 'integration', 'network', 'consortium-quick.json');

/** How the test network is brought up, every time (also by tests that restart it): with the local EVM chain. */
export const TEST_UP_OPTIONS: UpOptions = { evm: true };

export interface TestNetwork {
  readonly network: Network;
  readonly keys: ApiKeys;
  /** A gateway's base URL and its API key for a role. */
  gateway(org: string, role: string): { url: string; key: string };
  /** Where the network layer's progress lines go (the test's output stays readable). */
  readonly progress: Progress;
}

/**
 * A base port whose every port (orderers to gateways) is free: tried from a pid-derived start.
 * Only below the kernel's ephemeral range (32768 and up here), where outgoing connections take
 * their local ports: a port free when checked could otherwise be taken by a client socket
 * before the process meant to listen on it starts. The benchmarks' fresh networks use it too, and
 * networks of another consortium (`env.MEDPROV_CONSORTIUM`: its organisations' ports are checked).
 */
export async function freeBasePort(stateDir: string, fabricHome: string, options: UpOptions = TEST_UP_OPTIONS, env: NodeJS.ProcessEnv = { MEDPROV_CONSORTIUM: TEST_CONSORTIUM }): Promise<number> {
  const network = await freeNetwork((base) => networkFromEnv({ ...env, MEDPROV_STATE_DIR: stateDir, MEDPROV_BASE_PORT: String(base) }, ROOT, fabricHome), options);
  return network.basePort;
}

/**
 * The network `make(basePort)` on a base port whose every port is free on the addresses its
 * organisations bind (their CAs' ports included), from the same candidates as `freeBasePort`;
 * `offset` shifts them (suites whose networks may run at the same time).
 */
export async function freeNetwork(make: (basePort: number) => Network, options: UpOptions = TEST_UP_OPTIONS, offset = 0): Promise<Network> {
  const slots = 11; // 20000, 21100, … 31000 (+ offset): the last layout ends below 32768
  for (let i = 0; i < slots * 2; i++) {
    const candidate = make(20_000 + offset + ((process.pid + i) % slots) * 1_100);
    if ((await portsTakenByOthers(candidate, options)).length === 0) return candidate;
  }
  throw new Error('no free port range for a test network');
}

/** A network started by the project's own network layer, as a suite gets it. */
export interface StartedNetwork {
  readonly network: Network;
  readonly keys: ApiKeys;
  readonly progress: Progress;
}

/** One network per mocha run: brought up on first `get()`, stopped by pid by `stop()` (in a root after-hook). */
export interface SharedNetwork {
  get(): Promise<StartedNetwork>;
  stop(): Promise<void>;
}

/**
 * A network of `consortium` in a temporary state folder on a free base port, started once and
 * shared by every suite of the run that asks for it (`label` names its folder and its progress).
 */
export function sharedNetwork(label: string, consortium: string, options: UpOptions): SharedNetwork {
  let started: Promise<StartedNetwork> | undefined;
  let stateDir: string | undefined;
  // Kept apart from `started`: a network whose `up` failed half-way still has processes to stop.
  let current: Network | undefined;
  return {
    get() {
      started ??= (async () => {
        stateDir = mkdtempSync(path.join(os.tmpdir(), `medprov-${label}-`));
        const fabricHome = installFabric(silentProgress);
        const env = { MEDPROV_CONSORTIUM: consortium };
        const basePort = await freeBasePort(stateDir, fabricHome, options, env);
        const log = createWriteStream(path.join(stateDir, 'up.log'));
        const progress = process.env.MEDPROV_TEST_VERBOSE ? consoleProgress(label) : consoleProgress(label, log);
        const network = networkFromEnv({ ...env, MEDPROV_STATE_DIR: stateDir, MEDPROV_BASE_PORT: String(basePort) }, ROOT, fabricHome);
        current = network;
        try {
          await up(network, progress, options);
        } catch (err) {
          throw new Error(`the ${label} did not come up: ${(err as Error).message}\n(its progress: ${path.join(stateDir, 'up.log')}; its logs: ${network.logsDir}; MEDPROV_TEST_KEEP_STATE=1 keeps them)`);
        }
        const keys = readApiKeys(network);
        if (!keys) throw new Error('up wrote no API keys');
        return { network, keys, progress };
      })();
      return started;
    },
    async stop() {
      if (!started) return;
      await started.catch(() => undefined);
      started = undefined;
      if (current) await down(current, silentProgress);
      current = undefined;
      if (stateDir && !process.env.MEDPROV_TEST_KEEP_STATE) rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

const main = sharedNetwork('test-network', TEST_CONSORTIUM, TEST_UP_OPTIONS);
let mainNetwork: Promise<TestNetwork> | undefined;

/** The run's network, brought up on first use (about 15 s on 2 cores with Fabric cached). */
export function testNetwork(): Promise<TestNetwork> {
  mainNetwork ??= main.get().then(({ network, keys, progress }) => ({
    network,
    keys,
    progress,
    gateway(org: string, role: string) {
      const entry = keys.orgs[org];
      return { url: entry.url, key: entry.keys[role] };
    },
  }));
  return mainNetwork;
}

/** Every process of the network that still runs (by its pid file). */
export function survivors(network: Network): string[] {
  const cas = usesFabricCa(network) ? allCaOrgs(network).map((o) => caServer(network, o).name) : [];
  const names = [...network.orderers.map((o) => o.name), ...network.peers.map((p) => p.name), 'chaincode', ...network.definition.organisations.map(gatewayName), ...cas];
  const left = names.filter((name) => runningPid(network.pidFile(name)) !== undefined);
  return runningPid(path.join(network.stateDir, 'evm', 'node.pid')) !== undefined ? [...left, 'evm'] : left;
}

/** Stops the network (if it was started) and removes its state folder. */
export async function stopTestNetwork(): Promise<void> {
  mainNetwork = undefined;
  await main.stop();
}
