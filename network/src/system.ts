/**
 * The whole system on one machine, in order: orderers, peers, the channel, the chaincode
 * server and its definition, the local EVM chain, one gateway per organisation. `up` returns
 * when every gateway has committed a real transaction; `down` stops everything it started, by
 * pid, in the reverse order.
 *
 * @module
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { down as evmDown, status as evmStatus, up as evmUp } from '../../scripts/evm/local-chain';
import { channelHeight, joinOrderers, joinPeers } from './channel';
import { caPorts, caStatusRows, stopCas } from './ca';
import { chaincodeVersion, committedDefinition, deployChaincode, initConsortium, packagesPerOrganisation, probeWrite, type ChaincodePackage } from './chaincode';
import { orderingQuorum, type PeerOrganisation } from './consortium';
import { baseEnv, eachInParallel } from './fabric-cli';
import { gatewayHealth, gatewayName, gatewayUrl, readApiKeys, startGateway } from './gateways';
import { generate } from './generate';
import { networkFromEnv, type Network } from './network';
import { healthy, startNode } from './nodes';
import { listening, logTail, runningPid, startDaemon, stopDaemon, waitUntil } from './processes';
import { silentProgress, type Progress } from './progress';

export const ROOT = path.resolve(__dirname, '../..');

/** Installs Fabric if needed (scripts/install-fabric.sh, a no-op once cached) and returns its folder. */
export function installFabric(progress: Progress): string {
  if (process.env.MEDPROV_FABRIC_HOME) return process.env.MEDPROV_FABRIC_HOME;
  progress.step('Fabric binaries (scripts/install-fabric.sh)');
  const out = execFileSync('bash', [path.join(ROOT, 'scripts', 'install-fabric.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', progress === silentProgress ? 'ignore' : 'inherit'] });
  return out.trim().split('\n').pop() as string;
}

/** The network of this checkout and environment, with Fabric installed. */
export function loadNetwork(progress: Progress, env: NodeJS.ProcessEnv = process.env): Network {
  return networkFromEnv(env, ROOT, installFabric(progress));
}

const SUPERVISOR = path.join('network', 'src', 'chaincode-supervisor.ts');

/** Compiles the chaincode when its sources changed since the last build. */
function buildChaincode(network: Network, progress: Progress): void {
  const stamp = path.join(ROOT, 'chaincode', 'dist', '.medprov-version');
  const version = chaincodeVersion(network);
  if (existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === version) return;
  progress.step('compiling the chaincode');
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(ROOT, 'chaincode', 'tsconfig.json')], { stdio: 'inherit' });
  writeFileSync(stamp, `${version}\n`);
}

/** The chaincode servers' process names: one shared `chaincode`, or with per-org hosts `chaincode-<org>` each on its org's address. */
export function chaincodeServers(network: Network): { name: string; address: string; org?: PeerOrganisation }[] {
  if (!network.perOrgHosts) return [{ name: 'chaincode', address: network.chaincodeServerAddress }];
  return network.definition.organisations.map((org) => ({ name: `chaincode-${org.name.toLowerCase()}`, address: network.chaincodeServerAddressOf(org), org }));
}

/** Runs a chaincode server (supervised) for this package; restarts it when the package changed. */
export async function startChaincodeServer(network: Network, pkg: ChaincodePackage, progress: Progress, name = 'chaincode', address = network.chaincodeServerAddress): Promise<void> {
  const files = { pidFile: network.pidFile(name), logFile: network.logFile(name) };
  const served = path.join(network.chaincodeDir, name === 'chaincode' ? 'served-package-id' : `served-package-id-${name}`);
  if (runningPid(files.pidFile) !== undefined) {
    if (existsSync(served) && readFileSync(served, 'utf8').trim() === pkg.packageId) return;
    progress.step('the chaincode changed: restarting its server');
    await stopDaemon(files.pidFile);
  }
  const [host, port] = address.split(':');
  if (await listening(host, Number(port))) throw new Error(`port ${port} on ${host} (chaincode server) is taken by another process; choose another base port (MEDPROV_BASE_PORT).`);
  progress.step(`starting the chaincode server at ${address} (supervised)`);
  startDaemon(
    {
      name,
      command: process.execPath,
      args: ['--require', 'tsx/cjs', path.join(ROOT, SUPERVISOR), pkg.packageId, address],
      cwd: ROOT,
      marker: SUPERVISOR,
      env: { ...baseEnv(), CORE_CHAINCODE_LOGGING_LEVEL: process.env.CORE_CHAINCODE_LOGGING_LEVEL ?? 'warning', MEDPROV_CHAINCODE_CHILD_PID_FILE: `${files.pidFile}.child` },
    },
    files,
  );
  writeFileSync(served, `${pkg.packageId}\n`);
  if (!(await waitUntil(() => listening(host, Number(port)), 60_000, 200))) {
    throw new Error(`the chaincode server did not listen on ${address}; the end of ${files.logFile}:\n${logTail(files.logFile)}`);
  }
}

export interface UpOptions {
  /** Also start the local EVM chain (default true). */
  readonly evm?: boolean;
  /**
   * The chaincode's version on the channel (default: a digest of its sources). A different one
   * is deployed as the next sequence, as a changed chaincode would be.
   */
  readonly chaincodeVersion?: string;
  /** Also start the gateways (default true). */
  readonly gateways?: boolean;
}

/** Brings everything up (or finds it running); resolves when every gateway has committed a probe write. */
export async function up(network: Network, progress: Progress, options: UpOptions = {}): Promise<void> {
  const t0 = Date.now();
  await checkPortsFree(network, options);
  // The local EVM chain needs nothing of Fabric: it comes up alongside (its error, if any, is
  // kept until the gateways need it, and nothing is left starting behind a Fabric failure).
  let evmReady: Promise<Error | undefined> = Promise.resolve(undefined);
  let evmDone = true;
  if (options.evm ?? true) {
    progress.step('starting the local EVM chain with the AnchorRegistry (alongside)');
    evmDone = false;
    evmReady = evmUp(evmEnv(network)).then(
      () => {
        evmDone = true;
        progress.step('local EVM chain ready (alongside)');
        return undefined;
      },
      (err: unknown) => err as Error,
    );
  }
  let definition: { version: string; sequence: number };
  try {
    await generate(network, progress);
    progress.step(`starting ${network.orderers.length} orderers`);
    await eachInParallel(network.orderers, (o) => startNode(network, o));
    await joinOrderers(network, progress);
    progress.step(`starting ${network.peers.length} peers`);
    await eachInParallel(network.peers, (p) => startNode(network, p));
    await joinPeers(network, progress);

    buildChaincode(network, progress);
    const packages = await packagesPerOrganisation(network, options.chaincodeVersion);
    const pkg = packages[network.definition.organisations[0].name];
    await eachInParallel(chaincodeServers(network), (server) => startChaincodeServer(network, server.org ? packages[server.org.name] : pkg, progress, server.name, server.address));
    definition = await deployChaincode(network, pkg, progress, network.perOrgHosts ? packages : undefined);
    await initConsortium(network, progress);
    progress.step('waiting for a committed probe transaction (readiness is a real write)');
    await probeWrite(network, progress);
  } catch (err) {
    await evmReady;
    throw err;
  }
  progress.step(`network ready: channel ${network.channel}, chaincode ${network.chaincodeName} ${definition.version} (sequence ${definition.sequence})`);

  if (!evmDone) progress.step('waiting for the local EVM chain');
  const evmError = await evmReady;
  if (evmError) throw evmError;
  if (options.gateways ?? true) {
    // In parallel, each until it has committed its own probe (prepareGateway runs before each one's first await, one at a time).
    progress.step(`starting ${network.definition.organisations.length} gateways`);
    await eachInParallel(network.definition.organisations, async (org) => {
      await startGateway(network, org);
      progress.step(`${org.name} gateway ready at ${gatewayUrl(network, org)}`);
    });
  }
  progress.step(`everything is up (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}

/** The ports our processes would take that another process holds now, as `port (name)`. */
export async function portsTakenByOthers(network: Network, options: UpOptions = {}): Promise<string[]> {
  const wanted: { name: string; host: string; port: number }[] = [
    ...network.orderers.flatMap((o) => [{ name: o.name, host: o.host, port: o.port }, { name: `${o.name} (admin)`, host: o.host, port: o.adminPort }, { name: `${o.name} (operations)`, host: o.host, port: o.operationsPort }]),
    ...network.peers.flatMap((p) => [{ name: p.name, host: p.host, port: p.port }, { name: `${p.name} (chaincode)`, host: p.host, port: p.chaincodePort }, { name: `${p.name} (operations)`, host: p.host, port: p.operationsPort }]),
    ...chaincodeServers(network).map((c) => ({ name: c.name, host: c.address.split(':')[0], port: Number(c.address.split(':')[1]) })),
    ...((options.gateways ?? true) ? network.definition.organisations.map((o) => ({ name: gatewayName(o), host: network.hostOf(o), port: network.gatewayPort(o) })) : []),
    ...((options.evm ?? true) ? [{ name: 'evm', host: network.host, port: network.evmPort }] : []),
    ...caPorts(network),
  ];
  const ours = (name: string) =>
    runningPid(name === 'evm' ? path.join(network.stateDir, 'evm', 'node.pid') : network.pidFile(name.split(' ')[0])) !== undefined;
  const taken: string[] = [];
  for (const { name, host, port } of wanted) if (!ours(name) && (await listening(host, port))) taken.push(host === network.host ? `${port} (${name})` : `${host}:${port} (${name})`);
  return taken;
}

/** Before anything starts: every port a process of ours will take is free (or ours already). */
async function checkPortsFree(network: Network, options: UpOptions): Promise<void> {
  const taken = await portsTakenByOthers(network, options);
  if (taken.length > 0) {
    throw new Error(`port${taken.length > 1 ? 's' : ''} ${taken.join(', ')} ${taken.length > 1 ? 'are' : 'is'} taken by another process: stop it, or move every port with MEDPROV_BASE_PORT. Nothing was started.`);
  }
}

function evmEnv(network: Network): NodeJS.ProcessEnv {
  return { ...process.env, MEDPROV_STATE_DIR: network.stateDir, MEDPROV_EVM_PORT: String(network.evmPort) };
}

/** Stops every process `up` started, gateways first (they finish what they accepted), orderers last. */
export async function down(network: Network, progress: Progress): Promise<void> {
  for (const org of network.definition.organisations) {
    const pid = await stopDaemon(network.pidFile(gatewayName(org)), 30_000);
    if (pid) progress.step(`stopped the ${org.name} gateway (pid ${pid})`);
  }
  if (existsSync(path.join(network.stateDir, 'evm'))) await evmDown(evmEnv(network));
  for (const server of chaincodeServers(network)) {
    const cc = await stopDaemon(network.pidFile(server.name));
    if (cc) progress.step(`stopped the chaincode server ${server.name} (pid ${cc})`);
  }
  for (const node of [...network.peers, ...network.orderers]) {
    const pid = await stopDaemon(network.pidFile(node.name));
    if (pid) progress.step(`stopped ${node.name} (pid ${pid})`);
  }
  // Each organisation's Fabric CA (identities "fabric-ca"), last.
  for (const ca of await stopCas(network)) progress.step(`stopped ${ca.name} (pid ${ca.pid})`);
}

/** Stops everything and deletes the state folder: crypto, ledgers, keys, logs. */
export async function clean(network: Network, progress: Progress): Promise<void> {
  await down(network, progress);
  if (path.resolve(network.stateDir) === path.resolve(ROOT) || !existsSync(network.stateDir)) return;
  rmSync(network.stateDir, { recursive: true, force: true });
  progress.step(`removed ${network.stateDir}`);
}

export interface ProcessStatus {
  readonly name: string;
  readonly pid?: number;
  readonly port?: number;
  readonly healthy: boolean;
  readonly detail: string;
}

/** Each process: pid, port, healthy or not, with the channel height and the chaincode definition. */
export async function status(network: Network): Promise<ProcessStatus[]> {
  const rows: ProcessStatus[] = [];
  for (const node of [...network.orderers, ...network.peers]) {
    const pid = runningPid(network.pidFile(node.name));
    const ok = pid !== undefined && (await healthy(network, node));
    let detail = ok ? 'healthy' : pid ? 'not answering its health check' : 'not running';
    if (ok && node.kind === 'peer') {
      detail += await channelHeight(network, node).then(
        (h) => `, channel ${network.channel} height ${h}`,
        () => `, not on channel ${network.channel}`,
      );
    }
    rows.push({ name: node.name, pid, port: node.port, healthy: ok, detail });
  }
  rows.push(await orderingStatus(network, rows));
  rows.push(...(await caStatusRows(network)));
  for (const server of chaincodeServers(network)) {
    const ccPid = runningPid(network.pidFile(server.name));
    const [ccHost, ccPort] = server.address.split(':');
    const ccListening = ccPid !== undefined && (await listening(ccHost, Number(ccPort)));
    const def = ccListening ? await committedDefinition(network).catch(() => undefined) : undefined;
    rows.push({
      name: server.name,
      pid: ccPid,
      port: Number(ccPort),
      healthy: ccListening,
      detail: ccListening ? `listening${def ? `, ${network.chaincodeName} ${def.version} sequence ${def.sequence}` : ''}` : ccPid ? 'supervisor runs, server not listening' : 'not running',
    });
  }
  const evmPid = runningPid(path.join(network.stateDir, 'evm', 'node.pid'));
  const evmOk = await evmStatus(evmEnv(network), { quiet: true }).catch(() => false);
  rows.push({ name: 'evm', pid: evmPid, port: network.evmPort, healthy: evmOk, detail: evmOk ? 'answering JSON-RPC, AnchorRegistry deployed' : 'not running' });
  for (const org of network.definition.organisations) {
    const pid = runningPid(network.pidFile(gatewayName(org)));
    const health = pid ? await gatewayHealth(network, org) : undefined;
    const ready = health?.ledger?.ready === true;
    rows.push({
      name: gatewayName(org),
      pid,
      port: network.gatewayPort(org),
      healthy: ready,
      detail: ready ? `ready (probe committed in block ${health?.ledger?.blockNumber})` : health ? `serving, ledger not ready: ${health.ledger?.lastError ?? '?'}` : pid ? 'not answering' : 'not running',
    });
  }
  return rows;
}

/**
 * Whether the orderers can order: how many answer their health check against the quorum the
 * consensus needs (Raft: a majority; BFT: ⌈(n+f+1)/2⌉), and if not, why writes stop.
 */
export async function orderingStatus(network: Network, rows?: readonly ProcessStatus[]): Promise<ProcessStatus> {
  const ordering = network.definition.ordering;
  const n = network.orderers.length;
  const quorum = orderingQuorum(ordering, n);
  let up = 0;
  for (const o of network.orderers) {
    const row = rows?.find((r) => r.name === o.name);
    if (row ? row.healthy : runningPid(network.pidFile(o.name)) !== undefined && (await healthy(network, o))) up++;
  }
  const down = n - up;
  const kind = ordering === 'bft' ? 'BFT' : 'Raft';
  const ok = up >= quorum;
  const detail = ok
    ? `${kind}: ${up} of ${n} orderers up, ${quorum} needed to order${down > 0 ? ` (${down} down, ${up - quorum} more may fail)` : ` (tolerates ${n - quorum} down)`}`
    : `${down} of ${n} orderers down: ${kind} needs ${quorum} to order; no transaction commits until ${quorum - up} more ${quorum - up === 1 ? 'is' : 'are'} back`;
  return { name: 'ordering', healthy: ok, detail };
}

/** What a person needs after `up`: URLs, where the API keys are, a two-line example. */
export function summary(network: Network): string {
  const keys = readApiKeys(network);
  const hospital = network.definition.organisations.find((o) => o.type === 'hospital');
  const insurer = network.definition.organisations.find((o) => o.type === 'insurer');
  const lines = ['', 'medprov is running.', ''];
  for (const org of network.definition.organisations) lines.push(`  ${org.name.padEnd(10)} gateway ${gatewayUrl(network, org)}   (${org.mspId}, ${org.type})`);
  lines.push('', `API keys (one per role per organisation, owner-only file): ${path.relative(process.cwd(), network.apiKeysFile) || network.apiKeysFile}`);
  if (keys && hospital && insurer) {
    const rel = path.relative(process.cwd(), network.apiKeysFile);
    const key = (org: string, role: string) => `$(node -p "require('./${rel}').orgs.${org}.keys['${role}']")`;
    lines.push(
      '',
      'Anchor a document at the Hospital, then verify it at the Insurer:',
      `  curl -s -H "Authorization: Bearer ${key(hospital.name, 'records-officer')}" -H 'Prefer: wait=10' -F document=@README.md -F recordId=demo-1 -F patientId=MRN-1001 -F category=loinc:18842-5 -F commitment=plain ${gatewayUrl(network, hospital)}/v1/records`,
      `  curl -s -H "Authorization: Bearer ${key(insurer.name, 'claims-officer')}" -F document=@README.md ${gatewayUrl(network, insurer)}/v1/verifications`,
    );
  }
  lines.push('', `Logs: ${path.relative(process.cwd(), network.logsDir)}/   Status: npm run status   Stop: npm run down`, '');
  return lines.join('\n');
}
