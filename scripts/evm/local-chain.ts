/**
 * The local EVM chain `npm start` runs as the default public chain for anchoring: a Hardhat node
 * in the background with the AnchorRegistry deployed and one anchorer account per organisation.
 *
 *   npm run evm -- up       start (or find running) the node, deploy the registry once
 *   npm run evm -- status   say whether it runs and where the registry is
 *   npm run evm -- down     stop the node (its chain is in memory: the next `up` starts afresh)
 *
 * Everything lives in `<state>/evm/` (MEDPROV_STATE_DIR, default `state/`): `node.pid`, `node.log`
 * and `chain.json` — the RPC URL, chain id, registry address and deployment block, and each
 * organisation's anchorer account. The keys are Hardhat's public development keys, which hold
 * value on nothing but this local node; to anchor on another EVM chain, set MEDPROV_EVM_RPC_URL,
 * MEDPROV_ANCHOR_REGISTRY_ADDRESS and MEDPROV_EVM_ANCHORER_KEY for the gateway instead.
 *
 * Port: MEDPROV_EVM_PORT, else the consortium's base port + 950 (7950 by default).
 *
 * @module
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { deployAnchorRegistry } from '../../gateway/src/anchoring/node';
import { LOCAL_CHAIN_FILE, readLocalChain as readChainFile, type LocalChain } from '../../gateway/src/anchoring/setup';
import { writeFileAtomic } from '../../gateway/src/storage/durable-file';
import { PORTS } from '../../network/src/network';
import { chainIdAt, compileContracts, devAccount, ROOT, signalGroup, spawnHardhatNode, waitForNode } from './hardhat-node';

/** Port offset of the local EVM node from the consortium's base port (the network layer's port table). */
export const EVM_PORT_OFFSET = PORTS.evm;

interface Consortium {
  channel: string;
  basePort: number;
  organisations: { name: string; mspId: string }[];
}

function paths(env: NodeJS.ProcessEnv) {
  const state = path.resolve(ROOT, env.MEDPROV_STATE_DIR ?? 'state');
  const chain = path.join(state, LOCAL_CHAIN_FILE);
  const dir = path.dirname(chain);
  return { state, dir, pid: path.join(dir, 'node.pid'), log: path.join(dir, 'node.log'), chain };
}

function consortium(): Consortium {
  return JSON.parse(readFileSync(path.join(ROOT, 'network', 'consortium.json'), 'utf8')) as Consortium;
}

/** The chain description `up` wrote, when there is one. */
export function readLocalChain(env: NodeJS.ProcessEnv = process.env): LocalChain | undefined {
  return readChainFile(paths(env).state);
}

function runningPid(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  return signalGroup(pid, 0) && isHardhatNode(pid) ? pid : undefined;
}

/**
 * Is `pid` still our Hardhat node, not another process that got its pid after the node died (which
 * `down` would otherwise kill with its whole group)? Without /proc it cannot tell and says yes.
 */
function isHardhatNode(pid: number): boolean {
  return commandLineSays(pid, (args) => args.includes(path.join(ROOT, 'node_modules/hardhat/internal/cli/bootstrap.js')));
}

/** Was our node `pid` started for `port` (`--port <port>` on its command line)? Without /proc it cannot tell and says yes. */
function listensOn(pid: number, port: number): boolean {
  return commandLineSays(pid, (args) => args[args.indexOf('--port') + 1] === String(port));
}

/** Does `test` hold of the arguments `pid` runs with? Yes without /proc; no when `pid` is gone. */
function commandLineSays(pid: number, test: (args: string[]) => boolean): boolean {
  if (!existsSync('/proc/self/cmdline')) return true;
  try {
    return test(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0'));
  } catch {
    return false;
  }
}

/**
 * Starts the node (unless it already runs) and deploys the registry (unless already deployed on it:
 * our node running without `chain.json`, after a deployment failed part-way, gets a fresh one).
 */
export async function up(env: NodeJS.ProcessEnv = process.env): Promise<LocalChain> {
  const files = paths(env);
  const network = consortium();
  const port = env.MEDPROV_EVM_PORT ? Number(env.MEDPROV_EVM_PORT) : network.basePort + EVM_PORT_OFFSET;
  const rpcUrl = `http://127.0.0.1:${port}`;
  mkdirSync(files.dir, { recursive: true });
  const known = readLocalChain(env);
  const ours = runningPid(files.pid);
  const answering = (await chainIdAt(rpcUrl)) !== undefined;
  if (ours !== undefined && known?.rpcUrl === rpcUrl && answering) {
    log(`already running at ${rpcUrl}; registry ${known.registry.address}`);
    return known;
  }
  if (answering && (ours === undefined || !listensOn(ours, port))) {
    throw new Error(`something else already answers JSON-RPC at ${rpcUrl}; stop it or set MEDPROV_EVM_PORT.`);
  }
  rmSync(files.chain, { force: true });
  if (answering) {
    // Our own node, without the chain it should describe (a deployment failed part-way): deploy on it.
    log(`the Hardhat node (pid ${ours}) runs at ${rpcUrl} without ${path.relative(ROOT, files.chain)}; deploying the registry on it`);
  } else {
    const out = openSync(files.log, 'a');
    const child = spawnHardhatNode(port, out);
    closeSync(out);
    child.unref();
    await writeFileAtomic(files.pid, `${child.pid}\n`);
    log(`starting a Hardhat node at ${rpcUrl} (log: ${path.relative(ROOT, files.log)})`);
    let exited = false;
    child.once('exit', () => (exited = true));
    await waitForNode(rpcUrl, () => exited, () => ` (see ${files.log})`);
  }

  if (!existsSync(path.join(ROOT, 'artifacts'))) {
    log('compiling the contracts');
    compileContracts();
  }
  const owner = devAccount(0);
  const anchorers = Object.fromEntries(network.organisations.map((o, i) => [o.mspId, devAccount(i + 1)]));
  const { address, blockNumber } = await deployAnchorRegistry({
    rpcUrl,
    ownerKey: owner.privateKey,
    channel: network.channel,
    anchorers: Object.values(anchorers).map((a) => a.address),
  });
  const chain: LocalChain = {
    rpcUrl,
    chainId: Number(await chainIdAt(rpcUrl)),
    registry: { address, fromBlock: blockNumber, channel: network.channel },
    checkpointWriter: network.organisations[0].mspId,
    anchorers,
  };
  await writeFileAtomic(files.chain, `${JSON.stringify(chain, null, 2)}\n`, 0o600);
  log(`AnchorRegistry deployed at ${address} (block ${blockNumber}); ${path.relative(ROOT, files.chain)} written`);
  return chain;
}

/** Stops the node and forgets its chain. */
export async function down(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const files = paths(env);
  const pid = runningPid(files.pid);
  if (pid !== undefined) {
    signalGroup(pid, 'SIGTERM');
    const deadline = Date.now() + 10_000;
    while (signalGroup(pid, 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (signalGroup(pid, 0)) signalGroup(pid, 'SIGKILL');
    log(`stopped the Hardhat node (pid ${pid})`);
  } else {
    log('no Hardhat node was running');
  }
  rmSync(files.pid, { force: true });
  rmSync(files.chain, { force: true });
}

/** One line: running or not, and where. Exit code 0 when running, 1 when not. */
export async function status(env: NodeJS.ProcessEnv = process.env, options: { quiet?: boolean } = {}): Promise<boolean> {
  const say = options.quiet ? () => undefined : log;
  const files = paths(env);
  const chain = readLocalChain(env);
  const pid = runningPid(files.pid);
  const answering = chain ? (await chainIdAt(chain.rpcUrl)) !== undefined : false;
  if (pid !== undefined && chain && answering) {
    say(`running (pid ${pid}) at ${chain.rpcUrl}, chain ${chain.chainId}; AnchorRegistry ${chain.registry.address}`);
    return true;
  }
  say(pid !== undefined ? `process ${pid} runs but does not answer JSON-RPC (see ${files.log})` : 'not running');
  return false;
}

function log(line: string): void {
  process.stdout.write(`medprov evm: ${line}\n`);
}

if (require.main === module) {
  const command = process.argv[2];
  const run: Record<string, () => Promise<unknown>> = { up: () => up(), down: () => down(), status: async () => (process.exitCode = (await status()) ? 0 : 1) };
  if (!command || !run[command]) {
    process.stderr.write('usage: npm run evm -- up|status|down\n');
    process.exit(2);
  }
  run[command]().catch((err: unknown) => {
    process.stderr.write(`medprov evm: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
