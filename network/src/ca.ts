/**
 * One Fabric CA per organisation (the orderer organisation included): `fabric-ca-server` run by
 * the network layer like the other daemons (pid file, log, TLS on its listening port), on the
 * organisation's own address and ports.
 *
 * Port layout (offsets from the base port, beside {@link PORTS} of network.ts): the orderer
 * organisation's CA at 95 (operations 96); peer organisation i's CA at 100·(i+1) + 95 (96).
 * Peers take at most 100·(i+1) + 92 and orderers 92, so these never collide.
 *
 * Each CA's home (its signing key, its database, the bootstrap registrar's password) lives in
 * that organisation's own folder ({@link orgWorkspace} of identities.ts): no other organisation's
 * step reads it.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { PeerOrganisation } from './consortium';
import { baseEnv } from './fabric-cli';
import type { Network } from './network';
import { listening, logTail, runningPid, startDaemon, stopDaemon, waitUntil, type DaemonSpec } from './processes';

export const CA_PORTS = { service: 95, operations: 96 } as const;

/** An organisation as its CA sees it: the orderer organisation or a peer organisation. */
export type CaOrg = PeerOrganisation | 'orderer';

export interface CaServer {
  /** Process name (`ca-hospital`, `ca-orderer`). */
  readonly name: string;
  /** The CA's name inside the server (`ca-hospital`). */
  readonly caName: string;
  readonly host: string;
  readonly port: number;
  readonly operationsPort: number;
  /** The server's home: its config, CA key and certificate, database. Private to the organisation. */
  readonly home: string;
  /** `https://host:port` */
  readonly url: string;
  /** The CA's self-signed root certificate (also what its TLS certificate chains to). */
  readonly caCert: string;
}

/** The Fabric CA release installed beside Fabric (scripts/install-fabric.sh), or MEDPROV_FABRIC_CA_HOME. */
export function fabricCaHome(network: Network): string {
  return process.env.MEDPROV_FABRIC_CA_HOME ?? path.join(path.dirname(network.fabricHome), 'fabric-ca-1.5.21');
}

export function caBin(network: Network, tool: 'fabric-ca-server' | 'fabric-ca-client'): string {
  return path.join(fabricCaHome(network), 'bin', tool);
}

/** True when the consortium file asks for Fabric CA identities (`"identities": "fabric-ca"`). */
export function usesFabricCa(network: Network): boolean {
  return (network.definition as { identities?: string }).identities === 'fabric-ca';
}

/** The organisation's own address: where its nodes bind (per-org hosts), else the network's one host. */
export function orgHost(network: Network, org: CaOrg): string {
  const first = org === 'orderer' ? network.orderers[0] : network.peersOf(org)[0];
  return first ? first.address.slice(0, first.address.lastIndexOf(':')) : network.host;
}

/** The organisation's own folder (the layout cryptogen uses, so every other module finds its files). */
export function orgDir(network: Network, org: CaOrg): string {
  return org === 'orderer' ? network.ordererOrgCryptoDir : network.orgCryptoDir(org);
}

export function caServer(network: Network, org: CaOrg): CaServer {
  const i = org === 'orderer' ? -1 : network.definition.organisations.indexOf(org);
  const short = org === 'orderer' ? 'orderer' : org.name.toLowerCase();
  const base = network.basePort + 100 * (i + 1);
  const host = orgHost(network, org);
  const home = path.join(orgDir(network, org), 'ca-server');
  return {
    name: `ca-${short}`,
    caName: `ca-${short}`,
    host,
    port: base + CA_PORTS.service,
    operationsPort: base + CA_PORTS.operations,
    home,
    url: `https://${host}:${base + CA_PORTS.service}`,
    caCert: path.join(home, 'ca-cert.pem'),
  };
}

export function allCaOrgs(network: Network): CaOrg[] {
  return ['orderer', ...network.definition.organisations];
}

function domainOf(network: Network, org: CaOrg): string {
  return org === 'orderer' ? network.definition.ordererOrganisation.domain : org.domain;
}

/** The bootstrap registrar's password, made on the CA's first start (owner-only, in the CA's home). */
export function bootstrapSecret(ca: CaServer): string {
  const file = path.join(ca.home, 'bootstrap-secret');
  if (!existsSync(file)) {
    mkdirSync(ca.home, { recursive: true, mode: 0o700 });
    writeFileSync(file, `${randomBytes(18).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  }
  return readFileSync(file, 'utf8').trim();
}

export function caSpec(network: Network, org: CaOrg): DaemonSpec {
  const ca = caServer(network, org);
  const domain = domainOf(network, org);
  return {
    name: ca.name,
    command: caBin(network, 'fabric-ca-server'),
    args: [
      'start',
      '--home',
      ca.home,
      '-b',
      `admin:${bootstrapSecret(ca)}`,
      '--address',
      ca.host,
      '--port',
      String(ca.port),
      '--ca.name',
      ca.caName,
      '--csr.cn',
      `ca.${domain}`,
      '--csr.hosts',
      [...new Set([...(network.perOrgHosts ? [] : ['localhost', '127.0.0.1']), ca.host, `ca.${domain}`])].join(','),
      '--tls.enabled',
    ],
    env: {
      ...baseEnv(),
      FABRIC_CA_SERVER_OPERATIONS_LISTENADDRESS: `${ca.host}:${ca.operationsPort}`,
      FABRIC_CA_SERVER_LOGLEVEL: 'warning',
    },
  };
}

/** The CA's own health: `GET /cainfo` over TLS answered (checked by its listening port and its root on disk). */
export async function caReady(ca: CaServer): Promise<boolean> {
  return existsSync(ca.caCert) && existsSync(path.join(ca.home, 'tls-cert.pem')) && (await listening(ca.host, ca.port));
}

/** Starts the organisation's CA unless ours runs; resolves when it listens with its root certificate written. */
export async function startCa(network: Network, org: CaOrg): Promise<'started' | 'running'> {
  const ca = caServer(network, org);
  const files = { pidFile: network.pidFile(ca.name), logFile: network.logFile(ca.name) };
  if (runningPid(files.pidFile) !== undefined) return 'running';
  if (await listening(ca.host, ca.port)) throw new Error(`port ${ca.port} (${ca.name}) is taken by another process; choose another base port (MEDPROV_BASE_PORT).`);
  mkdirSync(ca.home, { recursive: true, mode: 0o700 });
  startDaemon(caSpec(network, org), files);
  const up = await waitUntil(async () => runningPid(files.pidFile) === undefined || (await caReady(ca)), 60_000, 200);
  if (!up || runningPid(files.pidFile) === undefined) throw new Error(`${ca.name} did not start; the end of ${files.logFile}:\n${logTail(files.logFile)}`);
  return 'started';
}

export async function stopCa(network: Network, org: CaOrg): Promise<number | undefined> {
  return stopDaemon(network.pidFile(caServer(network, org).name));
}

/** `down`: stops every organisation's CA that runs (after the nodes: nothing needs it then). Returns what it stopped. */
export async function stopCas(network: Network): Promise<{ name: string; pid: number }[]> {
  const stopped: { name: string; pid: number }[] = [];
  for (const org of allCaOrgs(network)) {
    const pid = await stopCa(network, org);
    if (pid) stopped.push({ name: caServer(network, org).name, pid });
  }
  return stopped;
}

/** `status`: one row per CA, when the network uses Fabric CA identities. */
export async function caStatusRows(network: Network): Promise<{ name: string; pid?: number; port: number; healthy: boolean; detail: string }[]> {
  if (!usesFabricCa(network)) return [];
  const rows = [];
  for (const org of allCaOrgs(network)) {
    const ca = caServer(network, org);
    const pid = runningPid(network.pidFile(ca.name));
    const ok = pid !== undefined && (await caReady(ca));
    rows.push({ name: ca.name, pid, port: ca.port, healthy: ok, detail: ok ? `listening (TLS) at ${ca.url}` : pid ? 'not listening' : 'not running' });
  }
  return rows;
}

/** The ports the CAs will take (identities "fabric-ca"), for `up`'s check that nothing else holds them. */
export function caPorts(network: Network): { name: string; host: string; port: number }[] {
  if (!usesFabricCa(network)) return [];
  return allCaOrgs(network).flatMap((org) => {
    const ca = caServer(network, org);
    return [
      { name: ca.name, host: ca.host, port: ca.port },
      { name: `${ca.name} (operations)`, host: ca.host, port: ca.operationsPort },
    ];
  });
}
