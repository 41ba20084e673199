/**
 * The consortium definition (`network/consortium.json`): which organisations exist, what kind
 * each is, how many peers and orderers they run, and the base port everything is counted from.
 * Read and checked here once; everything else is derived from it by {@link Network}.
 *
 * @module
 */
import { readFileSync } from 'node:fs';

/** What an organisation is in the consortium; the chaincode's authorisation rules use it. */
export type OrganisationType = 'hospital' | 'insurer' | 'sponsor' | 'linkage';

/** An organisation's name as people read it, in Korean and English (pages show these, never the MSP ID alone). */
export interface DisplayName {
  readonly ko: string;
  readonly en: string;
}

export interface PeerOrganisation {
  /** Short name, also the gateway's `MEDPROV_ORG` (e.g. `Hospital`). */
  readonly name: string;
  /** The name people know the organisation by; a definition without one shows `name` in both languages. */
  readonly displayName: DisplayName;
  readonly mspId: string;
  readonly type: OrganisationType;
  /** DNS-style domain the org's certificates are issued for (`hospital.medprov.local`). */
  readonly domain: string;
  /** Number of peers the org runs (its gateway uses the first, and the next when that one stops answering). */
  readonly peers: number;
  /**
   * The address this organisation's processes bind to and the others dial (its own server); also
   * a TLS name of its certificates. Absent: the network's one host (everything on one machine).
   */
  readonly host?: string;
}

export interface OrdererOrganisation {
  readonly name: string;
  readonly mspId: string;
  readonly domain: string;
  /** Number of orderers (Raft: 3 tolerates one crash; BFT: 4 tolerates one faulty node, 3f+1 in general). */
  readonly orderers: number;
  /** The orderers' address (see {@link PeerOrganisation.host}). */
  readonly host?: string;
}

/** How the orderers agree on blocks: Raft (crash faults) or SmartBFT (Byzantine faults; Fabric 3, channel capability V3_0). */
export type OrderingType = 'raft' | 'bft';

/** Orderers that must be up for the channel to order blocks: a Raft majority, or a BFT quorum of ⌈(n+f+1)/2⌉ with f = ⌊(n−1)/3⌋. */
export function orderingQuorum(ordering: OrderingType, orderers: number): number {
  if (ordering === 'raft') return Math.floor(orderers / 2) + 1;
  const f = Math.floor((orderers - 1) / 3);
  return Math.ceil((orderers + f + 1) / 2);
}

export interface ConsortiumDefinition {
  readonly channel: string;
  readonly chaincode: string;
  readonly basePort: number;
  /** Raft (the default) or SmartBFT. */
  readonly ordering: OrderingType;
  readonly ordererOrganisation: OrdererOrganisation;
  readonly organisations: readonly PeerOrganisation[];
  /**
   * Where identities come from: each organisation's own Fabric CA (`fabric-ca`: roles as X.509
   * attributes, only public MSP folders exchanged; network/src/identities.ts), or `cryptogen`
   * (absent: every key made in one place — the quick option for tests).
   */
  readonly identities?: IdentitySource;
}

/** See {@link ConsortiumDefinition.identities}. */
export type IdentitySource = 'fabric-ca' | 'cryptogen';

const TYPES: readonly OrganisationType[] = ['hospital', 'insurer', 'sponsor', 'linkage'];

/** Reads and checks a consortium file; the error names the field that is wrong. */
export function readConsortiumFile(file: string): ConsortiumDefinition {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read the consortium definition ${file}: ${(err as Error).message}`);
  }
  return parseConsortiumDefinition(raw, file);
}

/** Checks a parsed consortium definition (see {@link readConsortiumFile}). */
export function parseConsortiumDefinition(raw: unknown, where = 'consortium.json'): ConsortiumDefinition {
  const fail = (message: string): never => {
    throw new Error(`${where}: ${message}`);
  };
  const obj = (v: unknown, what: string): Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : fail(`${what} must be an object`);
  const name = (v: unknown, what: string, pattern: RegExp): string =>
    typeof v === 'string' && pattern.test(v) ? v : fail(`${what} must match ${pattern} (got ${JSON.stringify(v)})`);
  const count = (v: unknown, what: string, max: number): number =>
    Number.isInteger(v) && (v as number) >= 1 && (v as number) <= max ? (v as number) : fail(`${what} must be a whole number from 1 to ${max}`);

  const displayName = (v: unknown, what: string): DisplayName => {
    const d = obj(v, what);
    const text = (x: unknown, lang: string): string =>
      typeof x === 'string' && x.trim().length > 0 && x.length <= 100 && !/[\u0000-\u001f<>]/.test(x) ? x.trim() : fail(`${what}.${lang} must be a name of 1 to 100 characters, without control characters or < >`);
    const unknown = Object.keys(d).filter((k) => k !== 'ko' && k !== 'en');
    if (unknown.length > 0) fail(`${what} has only "ko" and "en" (not ${unknown.join(', ')})`);
    return { ko: text(d.ko, 'ko'), en: text(d.en, 'en') };
  };

  const top = obj(raw, 'the definition');
  const channel = name(top.channel, 'channel', /^[a-z][a-z0-9.-]{0,248}$/);
  const chaincode = name(top.chaincode, 'chaincode', /^[a-zA-Z0-9]+([-_][a-zA-Z0-9]+)*$/);
  const basePort = Number.isInteger(top.basePort) && (top.basePort as number) >= 1024 && (top.basePort as number) <= 60000 ? (top.basePort as number) : fail('basePort must be a whole number from 1024 to 60000');
  const ordering = top.ordering === undefined ? 'raft' : top.ordering === 'raft' || top.ordering === 'bft' ? top.ordering : fail(`ordering must be "raft" or "bft" (got ${JSON.stringify(top.ordering)})`);
  // An IPv4 address or a DNS name: processes bind to it and it goes into the TLS certificates.
  const host = (v: unknown, what: string): string | undefined =>
    v === undefined ? undefined : typeof v === 'string' && (/^(\d{1,3})(\.\d{1,3}){3}$/.test(v) ? v.split('.').every((x) => Number(x) <= 255) : /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(v)) ? v : fail(`${what} must be an IPv4 address or a host name (got ${JSON.stringify(v)})`);
  const o = obj(top.ordererOrganisation, 'ordererOrganisation');
  const ordererOrganisation: OrdererOrganisation = {
    name: name(o.name, 'ordererOrganisation.name', /^[A-Za-z][A-Za-z0-9]*$/),
    mspId: name(o.mspId, 'ordererOrganisation.mspId', /^[A-Za-z][A-Za-z0-9]*$/),
    domain: name(o.domain, 'ordererOrganisation.domain', /^[a-z0-9]+(\.[a-z0-9-]+)+$/),
    orderers: count(o.orderers, 'ordererOrganisation.orderers', 9),
    ...(o.host === undefined ? {} : { host: host(o.host, 'ordererOrganisation.host') }),
  };
  if (ordering === 'bft' && ordererOrganisation.orderers < 4) fail('BFT ordering needs at least 4 orderers (3f+1 tolerate f faulty ones)');
  if (!Array.isArray(top.organisations) || top.organisations.length === 0) fail('organisations must be a non-empty list');
  const organisations = (top.organisations as unknown[]).map((entry, i): PeerOrganisation => {
    const e = obj(entry, `organisations[${i}]`);
    const type = e.type as OrganisationType;
    if (!TYPES.includes(type)) fail(`organisations[${i}].type must be one of ${TYPES.join(', ')}`);
    const orgName = name(e.name, `organisations[${i}].name`, /^[A-Za-z][A-Za-z0-9]*$/);
    return {
      name: orgName,
      displayName: e.displayName === undefined ? { ko: orgName, en: orgName } : displayName(e.displayName, `organisations[${i}].displayName`),
      mspId: name(e.mspId, `organisations[${i}].mspId`, /^[A-Za-z][A-Za-z0-9]*$/),
      type,
      domain: name(e.domain, `organisations[${i}].domain`, /^[a-z0-9]+(\.[a-z0-9-]+)+$/),
      peers: count(e.peers, `organisations[${i}].peers`, 9),
      ...(e.host === undefined ? {} : { host: host(e.host, `organisations[${i}].host`) }),
    };
  });
  const identities = top.identities === undefined ? undefined : top.identities === 'fabric-ca' || top.identities === 'cryptogen' ? (top.identities as IdentitySource) : fail(`identities must be "fabric-ca" or "cryptogen" (got ${JSON.stringify(top.identities)})`);
  if (organisations.length > 8) fail('at most 8 organisations fit the port layout (100 ports each above the orderers)');
  const all = [ordererOrganisation, ...organisations];
  for (const key of ['name', 'mspId', 'domain'] as const) {
    const values = all.map((x) => x[key].toLowerCase());
    const dup = values.find((v, i) => values.indexOf(v) !== i);
    if (dup) fail(`two organisations share the ${key} ${dup}`);
  }
  return { channel, chaincode, basePort, ordering, ordererOrganisation, organisations, ...(identities ? { identities } : {}) };
}
