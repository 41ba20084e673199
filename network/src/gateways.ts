/**
 * One gateway process per organisation, started by the network layer: its master key and API
 * users generated on first start (owner-only files), its settings derived from the same
 * {@link Network}, and readiness by the gateway's own probe write (`/healthz` → `ledger.ready`).
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { PeerOrganisation } from './consortium';
import { baseEnv } from './fabric-cli';
import type { Network } from './network';
import { logTail, runningPid, startDaemon, waitUntil, type DaemonSpec } from './processes';

/** The roles each kind of organisation gets a generated API key for (its staff's jobs). */
export const GATEWAY_ROLES: Record<PeerOrganisation['type'], readonly string[]> = {
  hospital: ['records-officer', 'research-officer', 'dpo', 'admin'],
  insurer: ['claims-officer', 'admin'],
  sponsor: ['research-officer', 'admin'],
};

/** `api-keys.json`: each organisation's gateway URL and one API key per role. */
export interface ApiKeys {
  orgs: Record<string, { mspId: string; url: string; keys: Record<string, string> }>;
}

export function gatewayName(org: PeerOrganisation): string {
  return `gateway-${org.name.toLowerCase()}`;
}

export function gatewayUrl(network: Network, org: PeerOrganisation): string {
  return `http://${network.host}:${network.gatewayPort(org)}`;
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
    writePrivate(usersFile, `${JSON.stringify(users, null, 2)}\n`);
    const all = readApiKeys(network) ?? { orgs: {} };
    all.orgs[org.name] = { mspId: org.mspId, url: gatewayUrl(network, org), keys };
    writeFileSync(network.apiKeysFile, `${JSON.stringify(all, null, 2)}\n`, { mode: 0o600 });
  }
  return fresh;
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
  const operator = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('MEDPROV_') && k !== 'MEDPROV_GATEWAY_CONFIG'));
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
