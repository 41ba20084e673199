import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { UserConfig } from './http/auth';
import type { OrgConnection } from './fabric/client';

/** The consortium definition (network/consortium.json), as far as a gateway needs it. */
export interface ConsortiumFile {
  channel: string;
  chaincode: string;
  basePort: number;
  organisations: { name: string; mspId: string; type: 'hospital' | 'insurer' | 'sponsor'; domain: string; peers: number }[];
}

export interface GatewayConfig {
  org: { name: string; mspId: string; type: 'hospital' | 'insurer' | 'sponsor' };
  host: string;
  port: number;
  stateDir: string;
  usersFile: string;
  keyStoreDir: string;
  fabric: OrgConnection;
  logLevel: string;
}

/** Offsets from the base port, so one setting moves every port of a network (see network/). */
export const PORT_OFFSETS = { gateway: 1000 } as const;

/**
 * Where one organisation's gateway finds everything, from the consortium definition and a few
 * environment variables: MEDPROV_ORG (required, an organisation name or MSP ID),
 * MEDPROV_STATE_DIR, MEDPROV_BASE_PORT, MEDPROV_GATEWAY_HOST, MEDPROV_LOG_LEVEL.
 */
export function loadGatewayConfig(env: NodeJS.ProcessEnv, root: string): GatewayConfig {
  const consortium = JSON.parse(readFileSync(path.join(root, 'network', 'consortium.json'), 'utf8')) as ConsortiumFile;
  const wanted = env.MEDPROV_ORG;
  if (!wanted) throw new Error('MEDPROV_ORG is not set: name the organisation this gateway serves (e.g. Hospital).');
  const index = consortium.organisations.findIndex((o) => o.name === wanted || o.mspId === wanted);
  if (index === -1) {
    throw new Error(`MEDPROV_ORG=${wanted} is not in network/consortium.json; known: ${consortium.organisations.map((o) => o.name).join(', ')}.`);
  }
  const org = consortium.organisations[index];
  const basePort = env.MEDPROV_BASE_PORT ? Number(env.MEDPROV_BASE_PORT) : consortium.basePort;
  if (!Number.isInteger(basePort) || basePort < 1024 || basePort > 60000) throw new Error('MEDPROV_BASE_PORT must be a whole number from 1024 to 60000.');
  const stateDir = path.resolve(root, env.MEDPROV_STATE_DIR ?? 'state');
  // cryptogen's layout: one folder per organisation under peerOrganizations/<domain>.
  const orgCrypto = path.join(stateDir, 'crypto', 'peerOrganizations', org.domain);
  const user = `User1@${org.domain}`;
  return {
    org: { name: org.name, mspId: org.mspId, type: org.type },
    host: env.MEDPROV_GATEWAY_HOST ?? '127.0.0.1',
    port: basePort + PORT_OFFSETS.gateway + index,
    stateDir,
    usersFile: path.join(stateDir, 'gateways', org.name.toLowerCase(), 'users.json'),
    keyStoreDir: path.join(stateDir, 'gateways', org.name.toLowerCase(), 'patient-keys'),
    logLevel: env.MEDPROV_LOG_LEVEL ?? 'info',
    fabric: {
      mspId: org.mspId,
      peerEndpoint: `127.0.0.1:${peerPort(basePort, index)}`,
      peerHostAlias: `peer0.${org.domain}`,
      tlsRootCertPath: path.join(orgCrypto, 'peers', `peer0.${org.domain}`, 'tls', 'ca.crt'),
      certPath: path.join(orgCrypto, 'users', user, 'msp', 'signcerts', `${user}-cert.pem`),
      keyPath: path.join(orgCrypto, 'users', user, 'msp', 'keystore'),
      channel: consortium.channel,
      chaincode: consortium.chaincode,
    },
  };
}

/** The first peer of the organisation at `index`: 100 ports per organisation above the orderers. */
export function peerPort(basePort: number, index: number): number {
  return basePort + 100 * (index + 1);
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
