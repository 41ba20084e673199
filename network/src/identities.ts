/**
 * Identities from each organisation's own Fabric CA (`"identities": "fabric-ca"` in the
 * consortium file), instead of cryptogen making every member's keys in one place.
 *
 * The work is split per organisation, and each step is given only what that organisation holds:
 *
 * - {@link enrolOrganisation} takes one {@link OrgWorkspace} — the organisation's own folder
 *   (its CA's home, its nodes' and users' keys) and the folder it exports — and talks only to its
 *   own CA. It enrols the org's peers or orderers (MSP and TLS), its admin, and (peer orgs) one
 *   gateway user per role with the X.509 attribute `medprov.role` (an ecert attribute), then
 *   writes the organisation's **public MSP**: CA certificate, TLS CA certificate and the NodeOUs
 *   config (admins are recognised by their OU, so no admin certificate is exchanged), plus the
 *   orderers' TLS and signing certificates the channel's consenter list names.
 * - The channel configuration (generate.ts `configtx`) reads each organisation's MSP from
 *   {@link channelMspDir}: the public folders only.
 *
 * TLS certificates come from the same CA, with its `tls` signing profile (server and client
 * auth key usages): one CA process per organisation instead of two on a small machine, and a
 * member that trusts an org's CA for identities trusts it for TLS anyway. A deployment that
 * wants the TLS root apart runs a second CA and points `tlscacerts` at it; nothing else changes.
 *
 * The layout on disk is the one cryptogen writes (`peers/<fqdn>/msp`, `…/tls/server.crt`,
 * `users/Admin@<domain>/msp/signcerts/Admin@<domain>-cert.pem`, …), so the daemons, the `peer`
 * CLI and the gateways find their files the same way under either option.
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import { allCaOrgs, bootstrapSecret, caBin, caServer, orgDir, orgHost, startCa, usesFabricCa, type CaOrg, type CaServer } from './ca';
import type { PeerOrganisation } from './consortium';
import { baseEnv, eachInParallel, FabricToolError } from './fabric-cli';
import { GATEWAY_ROLES } from './gateways';
import type { OrgConnection } from '../../gateway/src/fabric/client';
import type { Network } from './network';
import type { Progress } from './progress';

/** The X.509 attribute (an ecert attribute from the org's CA) that names a gateway user's role; the chaincode checks it. */
export const ROLE_ATTRIBUTE = 'medprov.role';

/** The roles an organisation enrols a gateway user for: those it has API keys for (gateways.ts; read at call time, the modules import each other). */
export function enrolledRoles(org: PeerOrganisation): readonly string[] {
  return GATEWAY_ROLES[org.type];
}

/** What one organisation's bring-up is given: its own folder, and the folder it exports to the others. */
export interface OrgWorkspace {
  readonly org: CaOrg;
  readonly mspId: string;
  readonly domain: string;
  /** Private: the CA's home, every key of the org's nodes and users. */
  readonly ownDir: string;
  /** Public: what the org gives the other members (certificates only). */
  readonly publicDir: string;
  readonly ca: CaServer;
}

export function publicRoot(network: Network): string {
  return path.join(network.networkDir, 'public');
}

export function orgWorkspace(network: Network, org: CaOrg): OrgWorkspace {
  const domain = org === 'orderer' ? network.definition.ordererOrganisation.domain : org.domain;
  return {
    org,
    mspId: org === 'orderer' ? network.definition.ordererOrganisation.mspId : org.mspId,
    domain,
    ownDir: orgDir(network, org),
    publicDir: path.join(publicRoot(network), domain),
    ca: caServer(network, org),
  };
}

/** The MSP folder the channel configuration reads for an organisation: its exported public MSP. */
export function channelMspDir(network: Network, org: CaOrg): string {
  return path.join(orgWorkspace(network, org).publicDir, 'msp');
}

/** Where a gateway user of a role keeps its enrolled identity (`users/gw-<role>@<domain>`). */
export function roleUserName(role: string): string {
  return `gw-${role}`;
}

/** One identity to enrol: who, what type (its NodeOU), which TLS names, which attributes. */
interface Enrolment {
  /** Enrolment ID at the CA. */
  readonly id: string;
  readonly type: 'peer' | 'orderer' | 'admin' | 'client';
  /** Folder of the identity (`peers/<fqdn>`, `users/Admin@<domain>`). */
  readonly dir: string;
  /** Name of its signing certificate file, as cryptogen names it (`<fqdn>-cert.pem`). */
  readonly certName: string;
  /** TLS names (nodes) — also asks for a TLS certificate; users get a client TLS certificate when `tls` is set. */
  readonly hosts?: readonly string[];
  readonly tls?: 'server' | 'client';
  readonly attrs?: Record<string, string>;
}

function enrolmentsOf(network: Network, ws: OrgWorkspace): Enrolment[] {
  const host = orgHost(network, ws.org);
  // With each organisation at its own address the certificates name only that address (and the node's name).
  const names = (fqdn: string) => [...new Set(network.perOrgHosts ? [fqdn, host] : [fqdn, 'localhost', '127.0.0.1', host])];
  const user = (name: string) => path.join(ws.ownDir, 'users', `${name}@${ws.domain}`);
  const list: Enrolment[] = [];
  if (ws.org === 'orderer') {
    for (const n of network.orderers) list.push({ id: n.name, type: 'orderer', dir: path.dirname(n.mspDir), certName: `${n.fqdn}-cert.pem`, hosts: names(n.fqdn), tls: 'server' });
  } else {
    for (const p of network.peersOf(ws.org)) list.push({ id: `peer${p.fqdn.split('.')[0].slice(4)}`, type: 'peer', dir: path.dirname(p.mspDir), certName: `${p.fqdn}-cert.pem`, hosts: names(p.fqdn), tls: 'server' });
  }
  list.push({ id: 'org-admin', type: 'admin', dir: user('Admin'), certName: `Admin@${ws.domain}-cert.pem`, tls: 'client' });
  if (ws.org !== 'orderer') {
    // The gateway's default identity (queries, event reading, its readiness probe): no role.
    list.push({ id: 'gateway', type: 'client', dir: user('User1'), certName: `User1@${ws.domain}-cert.pem` });
    for (const role of enrolledRoles(ws.org)) {
      const name = roleUserName(role);
      list.push({ id: name, type: 'client', dir: user(name), certName: `${name}@${ws.domain}-cert.pem`, attrs: { [ROLE_ATTRIBUTE]: role } });
    }
  }
  return list;
}

/** `fabric-ca-client <args>` against the organisation's own CA, trusting only its root. */
function caClient(network: Network, ws: OrgWorkspace, args: readonly string[]): Promise<string> {
  const full = [...args, '--caname', ws.ca.caName, '--tls.certfiles', ws.ca.caCert];
  return new Promise((resolve, reject) => {
    execFile(caBin(network, 'fabric-ca-client'), full, { env: { ...baseEnv(), FABRIC_CA_CLIENT_HOME: path.join(ws.ownDir, 'ca-client') }, timeout: 60_000 }, (err, stdout, stderr) => {
      // The secret in a URL never goes into an error message.
      const shown = full.map((a) => a.replace(/\/\/[^@/]+@/, '//***@'));
      if (err) reject(new FabricToolError('fabric-ca-client', shown, `${stdout}\n${stderr}`, typeof err.code === 'number' ? err.code : null));
      else resolve(stdout);
    });
  });
}

function urlWith(ca: CaServer, id: string, secret: string): string {
  return ca.url.replace('https://', `https://${encodeURIComponent(id)}:${encodeURIComponent(secret)}@`);
}

function writeNodeOus(mspDir: string, caFile: string): void {
  const ou = (name: string) => ({ Certificate: `cacerts/${caFile}`, OrganizationalUnitIdentifier: name });
  const config = { NodeOUs: { Enable: true, ClientOUIdentifier: ou('client'), PeerOUIdentifier: ou('peer'), AdminOUIdentifier: ou('admin'), OrdererOUIdentifier: ou('orderer') } };
  writeFileSync(path.join(mspDir, 'config.yaml'), YAML.stringify(config));
}

/** Turns what `fabric-ca-client enroll` wrote into cryptogen's layout: named signcert, one CA file, TLS CA, NodeOUs. */
function shapeMsp(ws: OrgWorkspace, mspDir: string, certName: string): void {
  renameSync(path.join(mspDir, 'signcerts', 'cert.pem'), path.join(mspDir, 'signcerts', certName));
  const caFile = `ca.${ws.domain}-cert.pem`;
  rmSync(path.join(mspDir, 'cacerts'), { recursive: true, force: true });
  mkdirSync(path.join(mspDir, 'cacerts'), { recursive: true });
  copyFileSync(ws.ca.caCert, path.join(mspDir, 'cacerts', caFile));
  mkdirSync(path.join(mspDir, 'tlscacerts'), { recursive: true });
  copyFileSync(ws.ca.caCert, path.join(mspDir, 'tlscacerts', `tlsca.${ws.domain}-cert.pem`));
  writeNodeOus(mspDir, caFile);
}

function onlyKey(keystore: string): string {
  const keys = readdirSync(keystore).filter((f) => f.endsWith('_sk'));
  if (keys.length !== 1) throw new Error(`${keystore} should hold exactly one key, not ${keys.length}`);
  return path.join(keystore, keys[0]);
}

async function enrol(network: Network, ws: OrgWorkspace, registrarMsp: string, e: Enrolment): Promise<void> {
  const mspDir = path.join(e.dir, 'msp');
  if (existsSync(path.join(mspDir, 'signcerts', e.certName))) return;
  const secret = randomBytes(18).toString('base64url');
  const attrs = Object.entries(e.attrs ?? {}).map(([k, v]) => `${k}=${v}:ecert`);
  const register = ['register', '-u', ws.ca.url, '--mspdir', registrarMsp, '--id.name', e.id, '--id.secret', secret, '--id.type', e.type, ...(attrs.length ? ['--id.attrs', attrs.join(',')] : [])];
  try {
    await caClient(network, ws, register);
  } catch (err) {
    // Registered by an earlier run that stopped before enrolling: give it a new secret.
    if (!/already registered/i.test((err as FabricToolError).output ?? '')) throw err;
    await caClient(network, ws, ['identity', 'modify', e.id, '-u', ws.ca.url, '--mspdir', registrarMsp, '--secret', secret]);
  }
  rmSync(mspDir, { recursive: true, force: true });
  await caClient(network, ws, ['enroll', '-u', urlWith(ws.ca, e.id, secret), '-M', mspDir, ...(e.hosts ? ['--csr.hosts', e.hosts.join(',')] : [])]);
  shapeMsp(ws, mspDir, e.certName);
  if (!e.tls) return;
  const scratch = path.join(e.dir, 'tls-enrolment');
  rmSync(scratch, { recursive: true, force: true });
  await caClient(network, ws, ['enroll', '-u', urlWith(ws.ca, e.id, secret), '-M', scratch, '--enrollment.profile', 'tls', ...(e.hosts ? ['--csr.hosts', e.hosts.join(',')] : [])]);
  const tlsDir = path.join(e.dir, 'tls');
  mkdirSync(tlsDir, { recursive: true });
  const side = e.tls;
  copyFileSync(path.join(scratch, 'signcerts', 'cert.pem'), path.join(tlsDir, `${side}.crt`));
  copyFileSync(onlyKey(path.join(scratch, 'keystore')), path.join(tlsDir, `${side}.key`));
  copyFileSync(ws.ca.caCert, path.join(tlsDir, 'ca.crt'));
  rmSync(scratch, { recursive: true, force: true });
}

/** The organisation's MSP (cryptogen's `<org>/msp`, `<org>/ca`, `<org>/tlsca`) and its public export. */
function writeOrgMsp(network: Network, ws: OrgWorkspace): void {
  const caFile = `ca.${ws.domain}-cert.pem`;
  const tlsFile = `tlsca.${ws.domain}-cert.pem`;
  for (const mspDir of [path.join(ws.ownDir, 'msp'), path.join(ws.publicDir, 'msp')]) {
    mkdirSync(path.join(mspDir, 'cacerts'), { recursive: true });
    mkdirSync(path.join(mspDir, 'tlscacerts'), { recursive: true });
    copyFileSync(ws.ca.caCert, path.join(mspDir, 'cacerts', caFile));
    copyFileSync(ws.ca.caCert, path.join(mspDir, 'tlscacerts', tlsFile));
    writeNodeOus(mspDir, caFile);
  }
  mkdirSync(path.join(ws.ownDir, 'ca'), { recursive: true });
  mkdirSync(path.join(ws.ownDir, 'tlsca'), { recursive: true });
  copyFileSync(ws.ca.caCert, path.join(ws.ownDir, 'ca', caFile));
  copyFileSync(ws.ca.caCert, path.join(ws.ownDir, 'tlsca', tlsFile));
  // The orderers' certificates the channel's consenter list names (TLS, and the signing identity for BFT).
  if (ws.org === 'orderer') {
    for (const n of network.orderers) {
      const out = path.join(ws.publicDir, 'orderers', n.fqdn);
      mkdirSync(out, { recursive: true });
      copyFileSync(path.join(n.tlsDir, 'server.crt'), path.join(out, 'tls-server.crt'));
      copyFileSync(path.join(n.mspDir, 'signcerts', `${n.fqdn}-cert.pem`), path.join(out, 'signcert.pem'));
    }
  }
}

/**
 * One organisation's bring-up: its CA (started if needed), then every identity it lacks, then
 * its public MSP. It reads and writes only `ws.ownDir` and `ws.publicDir`.
 */
export async function enrolOrganisation(network: Network, ws: OrgWorkspace, progress: Progress): Promise<void> {
  await startCa(network, ws.org);
  const registrarMsp = path.join(ws.ownDir, 'ca-client', 'registrar', 'msp');
  const todo = enrolmentsOf(network, ws).filter((e) => !existsSync(path.join(e.dir, 'msp', 'signcerts', e.certName)));
  if (todo.length > 0) {
    progress.step(`${ws.mspId}: enrolling ${todo.length} identities from ${ws.ca.name} (${ws.ca.url})`);
    if (!existsSync(path.join(registrarMsp, 'signcerts', 'cert.pem'))) {
      await caClient(network, ws, ['enroll', '-u', urlWith(ws.ca, 'admin', bootstrapSecret(ws.ca)), '-M', registrarMsp]);
    }
    for (const e of todo) await enrol(network, ws, registrarMsp, e);
  }
  writeOrgMsp(network, ws);
}

/** Every organisation's bring-up, in parallel; each gets only its own workspace. */
export async function enrolAll(network: Network, progress: Progress): Promise<void> {
  progress.step(`identities from each organisation's own Fabric CA (${allCaOrgs(network).length} CAs)`);
  await eachInParallel(allCaOrgs(network), (org) => enrolOrganisation(network, orgWorkspace(network, org), progress));
}

/** The enrolled gateway user of a role at a peer organisation: its certificate and keystore folder. */
export function roleIdentity(network: Network, org: PeerOrganisation, role: string): { certPath: string; keyPath: string } {
  const id = network.identity(org, roleUserName(role));
  return { certPath: id.certPath, keyPath: id.keyDir };
}

/**
 * A gateway's enrolled user per role (its `fabric.roleIdentities`), when the network uses Fabric
 * CA identities; undefined with cryptogen (the gateway then submits everything as `User1`).
 */
export function gatewayRoleIdentities(network: Network, org: PeerOrganisation): Record<string, { certPath: string; keyPath: string }> | undefined {
  if (!usesFabricCa(network)) return undefined;
  return Object.fromEntries(enrolledRoles(org).map((role) => [role, roleIdentity(network, org, role)]));
}

/**
 * An organisation's gateway connection as the enrolled user of `role` (Fabric CA identities);
 * with cryptogen, the gateway's one identity. For clients that reach the ledger directly as a
 * given role (tests, tools), as the gateway does for an API key of that role.
 */
export function connectionAs(network: Network, org: PeerOrganisation, role: string): OrgConnection {
  const fabric = network.gatewaySettings(org.name).fabric;
  if (!usesFabricCa(network)) return fabric;
  return { ...fabric, ...roleIdentity(network, org, role) };
}
