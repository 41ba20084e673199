import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { UserConfig } from './http/auth';
import { patientRateLimitFromEnv, rateLimitFromEnv } from './http/rate-limit';
import { httpLimitsFromEnv, type HttpLimits } from './http/upload-gate';
import type { OrgConnection } from './fabric/client';
import { gatewayRoleIdentities } from '../../network/src/identities';
import { networkFromEnv, type GatewaySettings, type OrganisationEntry } from '../../network/src/network';

export interface GatewayConfig {
  org: { name: string; mspId: string; type: 'hospital' | 'insurer' | 'sponsor' | 'linkage' };
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
  /** Research linkage (issue 19): this gateway's part, absent when the consortium has no linkage institution. */
  linkage?: LinkageSettings;
}

/**
 * What a gateway needs for research linkage, from its own owner-only file: `MEDPROV_LINKAGE_CONFIG`,
 * or else `linkage.json` in the gateway's folder (the network layer generates it at `up` for every
 * hospital, sponsor and linkage institution when the consortium has a `linkage` organisation). Which
 * fields are present depends on the organisation type:
 *
 * - hospital: `institution` and `hospitalSecret`;
 * - sponsor: `institution`;
 * - linkage institution: `oprfSeed` and `partners`.
 *
 * No party holds both the hospitals' secret and the institution's OPRF seed.
 */
export interface LinkageSettings {
  /** Hospitals and sponsors: the linkage institution's gateway and the API key it issued to this organisation. */
  institution?: LinkageInstitution;
  /**
   * Hospitals: the hospitals' shared linkage secret, 64 hex characters (32 bytes). The per-project
   * key is K_H(p) = HKDF-SHA256(secret, salt empty, info "medprov-linkage:" + p, 32 bytes).
   */
  hospitalSecret?: string;
  /**
   * The linkage institution: its master OPRF seed, 64 hex characters (32 bytes); the per-project key
   * is RFC 9497 DeriveKeyPair(seed, info = project id), ristretto255-SHA512, mode OPRF.
   */
  oprfSeed?: string;
  /** The linkage institution: the users it issued to partner organisations (role `linkage-partner`), by user id. */
  partners?: readonly LinkagePartner[];
}

export interface LinkageInstitution {
  readonly mspId: string;
  /** Base URL of the institution's gateway (e.g. `http://127.0.0.1:8003`). */
  readonly url: string;
  /** The API key the institution issued to this organisation (a `linkage-partner` user there). */
  readonly apiKey: string;
}

export interface LinkagePartner {
  /** The user's id in the institution gateway's users.json (role `linkage-partner`). */
  readonly userId: string;
  readonly mspId: string;
  readonly type: 'hospital' | 'sponsor';
}

/** The linkage settings file's name in a gateway's folder. */
export const LINKAGE_SETTINGS_FILE = 'linkage.json';

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
      const network = networkFromEnv(env, root);
      settings = network.gatewaySettings(env.MEDPROV_ORG);
      // Fabric CA identities: the enrolled gateway user of each role (network/src/identities.ts).
      const roleIdentities = gatewayRoleIdentities(network, network.organisation(env.MEDPROV_ORG));
      if (roleIdentities) settings = { ...settings, fabric: { ...settings.fabric, roleIdentities } };
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
    ...linkageOf(env, settings.dir),
  };
}

/** The linkage settings named by MEDPROV_LINKAGE_CONFIG, or the gateway folder's linkage.json if there is one. */
function linkageOf(env: NodeJS.ProcessEnv, dir: string): { linkage?: LinkageSettings } {
  const file = env.MEDPROV_LINKAGE_CONFIG ? path.resolve(env.MEDPROV_LINKAGE_CONFIG) : path.join(dir, LINKAGE_SETTINGS_FILE);
  if (!env.MEDPROV_LINKAGE_CONFIG && !existsSync(file)) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read the linkage settings ${file}: ${(err as Error).message}`);
  }
  return { linkage: parseLinkageSettings(raw, file) };
}

/** Checks a linkage settings file (see {@link LinkageSettings}); the error names the field that is wrong. */
export function parseLinkageSettings(raw: unknown, where = LINKAGE_SETTINGS_FILE): LinkageSettings {
  const fail = (message: string): never => {
    throw new Error(`${where}: ${message}`);
  };
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(raw)) return fail('the linkage settings must be a JSON object');
  const hex32 = (v: unknown, what: string): string => (typeof v === 'string' && /^[0-9a-f]{64}$/.test(v) ? v : fail(`${what} must be 64 lowercase hex characters (32 bytes)`));
  const text = (v: unknown, what: string): string => (typeof v === 'string' && v.length > 0 && v.length <= 512 ? v : fail(`${what} must be a non-empty string`));
  const out: { -readonly [K in keyof LinkageSettings]: LinkageSettings[K] } = {};
  if (raw.institution !== undefined) {
    const i = isObject(raw.institution) ? raw.institution : fail('institution must be an object { mspId, url, apiKey }');
    const url = text(i.url, 'institution.url');
    if (!/^https?:\/\/[^\s/]+(\/[^\s]*)?$/.test(url)) fail('institution.url must be an http(s) URL');
    out.institution = { mspId: text(i.mspId, 'institution.mspId'), url: url.replace(/\/+$/, ''), apiKey: text(i.apiKey, 'institution.apiKey') };
  }
  if (raw.hospitalSecret !== undefined) out.hospitalSecret = hex32(raw.hospitalSecret, 'hospitalSecret');
  if (raw.oprfSeed !== undefined) out.oprfSeed = hex32(raw.oprfSeed, 'oprfSeed');
  if (raw.partners !== undefined) {
    if (!Array.isArray(raw.partners)) fail('partners must be a list of { userId, mspId, type }');
    out.partners = (raw.partners as unknown[]).map((entry, n) => {
      const e = isObject(entry) ? entry : fail(`partners[${n}] must be an object { userId, mspId, type }`);
      const type = e.type === 'hospital' || e.type === 'sponsor' ? e.type : fail(`partners[${n}].type must be hospital or sponsor`);
      return { userId: text(e.userId, `partners[${n}].userId`), mspId: text(e.mspId, `partners[${n}].mspId`), type };
    });
  }
  if (out.hospitalSecret !== undefined && out.oprfSeed !== undefined) fail('one party must not hold both the hospitals\' linkage secret and the institution\'s OPRF seed');
  return out;
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
  // Fabric CA identities: the enrolled user of each role ({ "records-officer": { "certPath", "keyPath" }, … }).
  const roleIdentities: unknown = parsed.fabric?.roleIdentities;
  if (
    roleIdentities !== undefined &&
    !(typeof roleIdentities === 'object' && roleIdentities !== null && !Array.isArray(roleIdentities) &&
      Object.values(roleIdentities).every((r: unknown) => typeof (r as { certPath?: unknown })?.certPath === 'string' && typeof (r as { keyPath?: unknown })?.keyPath === 'string'))
  ) {
    throw new Error(`${file}: fabric.roleIdentities must map each role to { "certPath": "…", "keyPath": "…" }, its enrolled user's certificate and key`);
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
