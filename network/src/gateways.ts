/**
 * One gateway process per organisation, started by the network layer: its master key and API
 * users generated on first start (owner-only files), its settings derived from the same
 * {@link Network}, and readiness by the gateway's own probe write (`/healthz` → `ledger.ready`).
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { LINKAGE_SETTINGS_FILE, parseLinkageSettings, type LinkageSettings } from '../../gateway/src/config';
import type { PeerOrganisation } from './consortium';
import { baseEnv } from './fabric-cli';
import type { Network } from './network';
import { logTail, runningPid, startDaemon, waitUntil, type DaemonSpec } from './processes';

/** The roles each kind of organisation gets a generated API key for (its staff's jobs). */
export const GATEWAY_ROLES: Record<PeerOrganisation['type'], readonly string[]> = {
  hospital: ['records-officer', 'research-officer', 'dpo', 'admin', 'clinician'],
  insurer: ['claims-officer', 'admin'],
  sponsor: ['research-officer', 'admin'],
  // A research linkage institution; its partners' users (one per hospital and sponsor) come from prepareLinkage.
  linkage: ['linkage-officer', 'admin'],
};

/** `api-keys.json`: each organisation's gateway URL and one API key per role. */
export interface ApiKeys {
  orgs: Record<string, { mspId: string; url: string; keys: Record<string, string> }>;
}

export function gatewayName(org: PeerOrganisation): string {
  return `gateway-${org.name.toLowerCase()}`;
}

export function gatewayUrl(network: Network, org: PeerOrganisation): string {
  return `http://${network.hostOf(org)}:${network.gatewayPort(org)}`;
}

function writePrivate(file: string, text: string): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, text, { mode: 0o600, flag: 'wx' });
}

/**
 * Generates what a gateway needs before its first start: a master key for its patient-key
 * store and its users (API keys stored as SHA-256 only; the keys themselves go to the
 * owner-only `api-keys.json`). Returns true when this is the gateway's first start.
 */
export function prepareGateway(network: Network, org: PeerOrganisation): boolean {
  prepareLinkage(network);
  const dir = network.gatewayDir(org);
  const keyFile = path.join(dir, 'master.key');
  const fresh = !existsSync(keyFile);
  if (fresh) writePrivate(keyFile, `${randomBytes(32).toString('hex')}\n`);
  const usersFile = path.join(dir, 'users.json');
  if (!existsSync(usersFile)) {
    const keys: Record<string, string> = {};
    const users = GATEWAY_ROLES[org.type].map((role) => {
      keys[role] = `mp_${org.name.toLowerCase()}_${randomBytes(24).toString('base64url')}`;
      return { id: `${org.name.toLowerCase()}-${role}`, role, apiKeySha256: createHash('sha256').update(keys[role]).digest('hex') };
    });
    // A linkage institution's users also include the one it issued to each hospital and sponsor.
    if (org.type === 'linkage') {
      for (const p of institutionPartners(network, org)) users.push({ id: p.userId, role: 'linkage-partner', apiKeySha256: p.apiKeySha256 });
    }
    writePrivate(usersFile, `${JSON.stringify(users, null, 2)}\n`);
    const all = readApiKeys(network) ?? { orgs: {} };
    all.orgs[org.name] = { mspId: org.mspId, url: gatewayUrl(network, org), keys };
    writeFileSync(network.apiKeysFile, `${JSON.stringify(all, null, 2)}\n`, { mode: 0o600 });
  }
  return fresh;
}

/** A partner of the linkage institution as its own linkage.json keeps it (the key's SHA-256 only). */
interface StoredPartner {
  userId: string;
  mspId: string;
  type: 'hospital' | 'sponsor';
  apiKeySha256: string;
}

function linkageFile(network: Network, org: PeerOrganisation): string {
  return path.join(network.gatewayDir(org), LINKAGE_SETTINGS_FILE);
}

function institutionPartners(network: Network, institution: PeerOrganisation): StoredPartner[] {
  const file = linkageFile(network, institution);
  return existsSync(file) ? ((JSON.parse(readFileSync(file, 'utf8')) as { partners?: StoredPartner[] }).partners ?? []) : [];
}

/**
 * Research linkage (issue 19), generated once before the first gateway starts when the consortium
 * has a `linkage` organisation (owner-only `linkage.json` in each gateway's folder; see
 * gateway/src/config.ts `LinkageSettings`):
 *
 * - the institution: a fresh OPRF master seed and its partners (one `linkage-partner` user per
 *   hospital and sponsor, the key's SHA-256 only);
 * - every hospital: the institution's URL, the API key it issued to that hospital, and the
 *   hospitals' shared linkage secret (the same for all hospitals; never given to the institution
 *   or a sponsor);
 * - every sponsor: the institution's URL and its API key.
 *
 * A consortium with more than one linkage institution uses the first for the others' settings.
 */
export function prepareLinkage(network: Network): void {
  const institution = network.definition.organisations.find((o) => o.type === 'linkage');
  if (!institution || existsSync(linkageFile(network, institution))) return;
  const partners = network.definition.organisations.filter((o) => o.type === 'hospital' || o.type === 'sponsor');
  const hospitalSecret = randomBytes(32).toString('hex');
  const stored: StoredPartner[] = [];
  for (const org of partners) {
    const apiKey = `mp_${institution.name.toLowerCase()}_for_${org.name.toLowerCase()}_${randomBytes(24).toString('base64url')}`;
    stored.push({ userId: `partner-${org.name.toLowerCase()}`, mspId: org.mspId, type: org.type as 'hospital' | 'sponsor', apiKeySha256: createHash('sha256').update(apiKey).digest('hex') });
    const settings = {
      institution: { mspId: institution.mspId, url: gatewayUrl(network, institution), apiKey },
      ...(org.type === 'hospital' ? { hospitalSecret } : {}),
    };
    const file = linkageFile(network, org);
    rmSync(file, { force: true });
    writePrivate(file, `${JSON.stringify(settings, null, 2)}\n`);
  }
  // Written last: its presence means every partner's file is there.
  for (const other of network.definition.organisations.filter((o) => o.type === 'linkage' && o !== institution)) rmSync(linkageFile(network, other), { force: true });
  writePrivate(linkageFile(network, institution), `${JSON.stringify({ oprfSeed: randomBytes(32).toString('hex'), partners: stored }, null, 2)}\n`);
  // An institution whose users exist already (its settings were removed): its partner users are the new ones.
  const usersFile = path.join(network.gatewayDir(institution), 'users.json');
  if (existsSync(usersFile)) {
    const users = (JSON.parse(readFileSync(usersFile, 'utf8')) as { id: string; role: string; apiKeySha256: string }[]).filter((u) => u.role !== 'linkage-partner');
    users.push(...stored.map((p) => ({ id: p.userId, role: 'linkage-partner', apiKeySha256: p.apiKeySha256 })));
    writeFileSync(usersFile, `${JSON.stringify(users, null, 2)}\n`, { mode: 0o600 });
  }
}

/** A gateway's linkage settings as `up` generated them (tests read a partner's API key at the institution here), or undefined. */
export function readLinkageSettings(network: Network, org: PeerOrganisation): LinkageSettings | undefined {
  const file = linkageFile(network, org);
  return existsSync(file) ? parseLinkageSettings(JSON.parse(readFileSync(file, 'utf8')), file) : undefined;
}

/**
 * The consortium definition the network runs, written where its gateways read it
 * (`MEDPROV_CONSORTIUM`): a network built from another file than `network/consortium.json` (a
 * test's, with more peers) gives its gateways the same organisations and peers.
 */
export function definitionFileOf(network: Network): string {
  const file = path.join(network.networkDir, 'consortium.json');
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(network.definition, null, 2)}\n`);
  return file;
}

export function readApiKeys(network: Network): ApiKeys | undefined {
  return existsSync(network.apiKeysFile) ? (JSON.parse(readFileSync(network.apiKeysFile, 'utf8')) as ApiKeys) : undefined;
}

const GATEWAY_MAIN = path.join('gateway', 'src', 'main.ts');

export function gatewaySpec(network: Network, org: PeerOrganisation, fresh: boolean): DaemonSpec {
  const masterKey = readFileSync(path.join(network.gatewayDir(org), 'master.key'), 'utf8').trim();
  // The operator's own gateway settings (MEDPROV_EVM_*, MEDPROV_RELEASE_*, …) pass through.
  const operator = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('MEDPROV_') && k !== 'MEDPROV_GATEWAY_CONFIG' && k !== 'MEDPROV_LINKAGE_CONFIG'));
  return {
    name: gatewayName(org),
    command: process.execPath,
    args: ['--require', 'tsx/cjs', path.join(network.root, GATEWAY_MAIN)],
    cwd: network.root,
    marker: GATEWAY_MAIN,
    env: {
      ...baseEnv(),
      ...operator,
      MEDPROV_ORG: org.name,
      MEDPROV_STATE_DIR: network.stateDir,
      MEDPROV_BASE_PORT: String(network.basePort),
      MEDPROV_CONSORTIUM: definitionFileOf(network),
      MEDPROV_MASTER_KEY: masterKey,
      MEDPROV_LOG_LEVEL: process.env.MEDPROV_LOG_LEVEL ?? 'info',
      // The key store is created on the first start only: a store missing later is an error, not a fresh start.
      ...(fresh ? { MEDPROV_CREATE_KEY_STORE: '1' } : {}),
    },
  };
}

/** The gateway's /healthz answer, or undefined when it does not answer. */
export async function gatewayHealth(network: Network, org: PeerOrganisation): Promise<{ ledger?: { ready: boolean; blockNumber?: string; lastError?: string } } | undefined> {
  try {
    const res = await fetch(`${gatewayUrl(network, org)}/healthz`, { signal: AbortSignal.timeout(2_000) });
    return res.ok ? ((await res.json()) as { ledger?: { ready: boolean } }) : undefined;
  } catch {
    return undefined;
  }
}

/** Starts the gateway unless it runs; resolves once it has committed its probe transaction. */
export async function startGateway(network: Network, org: PeerOrganisation, withinMs = 180_000): Promise<'started' | 'running'> {
  const files = { pidFile: network.pidFile(gatewayName(org)), logFile: network.logFile(gatewayName(org)) };
  let outcome: 'started' | 'running' = 'running';
  if (runningPid(files.pidFile) === undefined) {
    const fresh = prepareGateway(network, org);
    startDaemon(gatewaySpec(network, org, fresh), files);
    outcome = 'started';
  }
  const ready = await waitUntil(async () => runningPid(files.pidFile) === undefined || (await gatewayHealth(network, org))?.ledger?.ready === true, withinMs, 250);
  if (runningPid(files.pidFile) === undefined) throw new Error(`the ${org.name} gateway exited; the end of ${files.logFile}:\n${logTail(files.logFile)}`);
  if (!ready) {
    const health = await gatewayHealth(network, org);
    throw new Error(`the ${org.name} gateway did not commit its probe transaction within ${withinMs / 1000} s (${health?.ledger?.lastError ?? 'no answer'}); see ${files.logFile}`);
  }
  return outcome;
}
