import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { UserConfig } from './http/auth';
import { patientRateLimitFromEnv, rateLimitFromEnv } from './http/rate-limit';
import { httpLimitsFromEnv, type HttpLimits } from './http/upload-gate';
import type { OrgConnection } from './fabric/client';
import { networkFromEnv, type GatewaySettings, type OrganisationEntry } from '../../network/src/network';

export interface GatewayConfig {
  org: { name: string; mspId: string; type: 'hospital' | 'insurer' | 'sponsor' };
  host: string;
  port: number;
  /** The state folder (the local EVM chain's description is found there). */
  stateDir: string;
  /** This gateway's own folder: key store, journal, indexes, users. */
  dir: string;
  usersFile: string;
  keyStoreDir: string;
  fabric: OrgConnection;
  logLevel: string;
  /** Per API key: sustained requests per second and burst (MEDPROV_RATE_LIMIT_PER_SECOND / _BURST). */
  rateLimit: { perSecond: number; burst: number };
  /** Per client IP on the patients' routes (MEDPROV_PATIENT_RATE_LIMIT_PER_SECOND / _BURST). */
  patientRateLimit: { perSecond: number; burst: number };
  /** The HTTP server's deadlines and the caps on uploads in progress (MEDPROV_HTTP_*, MEDPROV_UPLOAD_IDLE_TIMEOUT_MS, MEDPROV_MAX_UPLOADS*). */
  http: HttpLimits;
  /** The consortium's organisations with their display names (a settings file without them: this org, by its name). */
  organisations?: readonly OrganisationEntry[];
}

/**
 * Where one organisation's gateway finds everything.
 *
 * - `MEDPROV_GATEWAY_CONFIG`: a JSON file with the gateway's settings (`org`, `host`, `port`,
 *   `dir`, `fabric`: peer endpoint, TLS name and root, certificate and key of its identity,
 *   channel, chaincode; optionally `fabric.peers`, every peer of the org in order, to fail over
 *   to) — a real deployment, laid out however the organisation likes.
 * - Otherwise derived by the network layer from `network/consortium.json` and the state folder
 *   (`MEDPROV_ORG`, an organisation name or MSP ID; `MEDPROV_STATE_DIR`, `MEDPROV_BASE_PORT`), the
 *   same derivation that generated the network, so there is one source of truth.
 *
 * `MEDPROV_GATEWAY_HOST`, `MEDPROV_LOG_LEVEL`, the per-key rate limit
 * (`MEDPROV_RATE_LIMIT_PER_SECOND`, `MEDPROV_RATE_LIMIT_BURST`; see {@link rateLimitFromEnv}) and
 * the patients' per-IP one (`MEDPROV_PATIENT_RATE_LIMIT_*`) and the HTTP limits (see {@link httpLimitsFromEnv}) apply to both.
 */
export function loadGatewayConfig(env: NodeJS.ProcessEnv, root: string): GatewayConfig {
  const stateDir = path.resolve(root, env.MEDPROV_STATE_DIR ?? 'state');
  let settings: GatewaySettings;
  if (env.MEDPROV_GATEWAY_CONFIG) {
    settings = readSettingsFile(env.MEDPROV_GATEWAY_CONFIG);
  } else {
    if (!env.MEDPROV_ORG) throw new Error('MEDPROV_ORG is not set: name the organisation this gateway serves (e.g. Hospital).');
    if (env.MEDPROV_BASE_PORT !== undefined && !/^\d+$/.test(env.MEDPROV_BASE_PORT)) throw new Error('MEDPROV_BASE_PORT must be a whole number from 1024 to 60000.');
    try {
      settings = networkFromEnv(env, root).gatewaySettings(env.MEDPROV_ORG);
    } catch (err) {
      const message = (err as Error).message;
      throw new Error(/base port/.test(message) ? 'MEDPROV_BASE_PORT must be a whole number from 1024 to 60000.' : `MEDPROV_ORG=${env.MEDPROV_ORG}: ${message}`);
    }
  }
  return {
    org: settings.org,
    host: env.MEDPROV_GATEWAY_HOST ?? settings.host,
    port: settings.port,
    stateDir,
    dir: settings.dir,
    usersFile: path.join(settings.dir, 'users.json'),
    keyStoreDir: path.join(settings.dir, 'patient-keys'),
    logLevel: env.MEDPROV_LOG_LEVEL ?? 'info',
    rateLimit: rateLimitFromEnv(env),
    patientRateLimit: patientRateLimitFromEnv(env),
    http: httpLimitsFromEnv(env),
    fabric: settings.fabric,
    ...(settings.organisations ? { organisations: settings.organisations } : {}),
  };
}

function readSettingsFile(file: string): GatewaySettings {
  let parsed: Partial<GatewaySettings>;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<GatewaySettings>;
  } catch (err) {
    throw new Error(`cannot read the gateway configuration ${file}: ${(err as Error).message}`);
  }
  const missing = (['org', 'host', 'port', 'dir', 'fabric'] as const).filter((k) => parsed[k] === undefined);
  const fabricMissing = (['mspId', 'peerEndpoint', 'peerHostAlias', 'tlsRootCertPath', 'certPath', 'keyPath', 'channel', 'chaincode'] as const).filter(
    (k) => parsed.fabric?.[k] === undefined,
  );
  if (missing.length + fabricMissing.length > 0) {
    throw new Error(`${file} lacks ${[...missing, ...fabricMissing.map((k) => `fabric.${k}`)].join(', ')}`);
  }
  const peers: unknown = parsed.fabric?.peers;
  if (peers !== undefined && !(Array.isArray(peers) && peers.every((p: unknown) => typeof (p as { endpoint?: unknown })?.endpoint === 'string' && typeof (p as { hostAlias?: unknown })?.hostAlias === 'string'))) {
    throw new Error(`${file}: fabric.peers must be a list of { "endpoint": "host:port", "hostAlias": "TLS name" }, the org's peers in order of preference`);
  }
  const dir = path.resolve(path.dirname(file), parsed.dir as string);
  return { ...(parsed as GatewaySettings), dir };
}

/** Reads the gateway's users; API keys are stored only as SHA-256 digests. */
export function loadUsers(file: string): UserConfig[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read the gateway's users from ${file}: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw new Error(`${file} must hold a JSON list of { id, role, apiKeySha256 }.`);
  return parsed as UserConfig[];
}
