/**
 * One value from which every path, port, name and identity of a medprov network is derived:
 * the consortium definition, a state folder, a base port and the Fabric install. No other
 * module writes a path or a port of its own.
 *
 * Port layout (offsets from the base port, 7000 by default):
 *
 * | offset                  | what |
 * |-------------------------|------|
 * | 10·j + 0 / 1 / 2        | orderer j: service, admin (osnadmin), operations |
 * | 100·(i+1) + 10·p + 0/1/2| peer p of organisation i: service, chaincode, operations |
 * | 900                     | the chaincode server (chaincode as a service) |
 * | 950                     | the local EVM chain (Hardhat) |
 * | 1000 + i                | organisation i's gateway (HTTP) |
 *
 * @module
 */
import * as path from 'node:path';
import type { OrgConnection } from '../../gateway/src/fabric/client';
import { readConsortiumFile, type ConsortiumDefinition, type PeerOrganisation } from './consortium';

export const PORTS = { ordererStride: 10, orgStride: 100, peerStride: 10, chaincodeServer: 900, evm: 950, gateway: 1000 } as const;

export interface NetworkOptions {
  /** The repository root (where `chaincode/` and `node_modules/` are). */
  readonly root: string;
  /** Generated crypto, channel artefacts, ledgers, logs and pid files go here. */
  readonly stateDir: string;
  /** Moves every port; defaults to the definition's. */
  readonly basePort?: number;
  /** Installed Fabric release: `bin/`, `builders/ccaas/bin/`, `config/` (not needed to derive a gateway's settings). */
  readonly fabricHome?: string;
  /** The address every process binds to and dials when the definition gives an organisation no host of its own (one machine). */
  readonly host?: string;
}

export interface OrdererNode {
  readonly kind: 'orderer';
  /** Unique process name (`orderer0`). */
  readonly name: string;
  /** TLS host name (`orderer0.orderer.medprov.local`). */
  readonly fqdn: string;
  /** The address it binds to and is dialled at (its organisation's host). */
  readonly host: string;
  readonly port: number;
  readonly adminPort: number;
  readonly operationsPort: number;
  readonly address: string;
  readonly mspDir: string;
  readonly tlsDir: string;
  readonly dataDir: string;
}

export interface PeerNode {
  readonly kind: 'peer';
  readonly org: PeerOrganisation;
  /** Unique process name (`peer0-hospital`). */
  readonly name: string;
  readonly fqdn: string;
  /** The address it binds to and is dialled at (its organisation's host). */
  readonly host: string;
  readonly port: number;
  readonly chaincodePort: number;
  readonly operationsPort: number;
  readonly address: string;
  readonly mspDir: string;
  readonly tlsDir: string;
  readonly dataDir: string;
}

/** An identity on disk, as cryptogen lays it out. */
export interface IdentityFiles {
  readonly mspId: string;
  readonly mspDir: string;
  readonly certPath: string;
  /** The MSP keystore folder holding exactly one key. */
  readonly keyDir: string;
  /** TLS client certificate and key (for mutual TLS, e.g. osnadmin). */
  readonly tlsCert: string;
  readonly tlsKey: string;
  readonly tlsCa: string;
}

/** What one organisation's gateway needs to reach its peer as its own identity. */
export interface GatewaySettings {
  readonly org: { name: string; mspId: string; type: PeerOrganisation['type'] };
  readonly host: string;
  readonly port: number;
  /** The gateway's own folder: key store, journal, indexes, users. */
  readonly dir: string;
  /** Its peer and identity, as the gateway's Fabric client takes them. */
  readonly fabric: OrgConnection;
  /** Every peer organisation of the consortium with its display names (the pages show these; GET /v1/organisations). */
  readonly organisations?: readonly OrganisationEntry[];
}

/** One organisation as the gateway shows it to people. */
export interface OrganisationEntry {
  readonly mspId: string;
  readonly name: string;
  readonly type: PeerOrganisation['type'];
  readonly displayName: { readonly ko: string; readonly en: string };
}

export class Network {
  readonly basePort: number;
  readonly host: string;
  readonly root: string;
  readonly stateDir: string;
  private readonly fabric: string | undefined;

  constructor(
    readonly definition: ConsortiumDefinition,
    options: NetworkOptions,
  ) {
    this.root = options.root;
    this.stateDir = path.resolve(options.stateDir);
    this.fabric = options.fabricHome;
    this.basePort = options.basePort ?? definition.basePort;
    this.host = options.host ?? '127.0.0.1';
    if (!Number.isInteger(this.basePort) || this.basePort < 1024 || this.basePort > 60000) {
      throw new Error(`the base port must be a whole number from 1024 to 60000 (got ${options.basePort})`);
    }
  }

  get channel(): string {
    return this.definition.channel;
  }

  get chaincodeName(): string {
    return this.definition.chaincode;
  }

  /** The address an organisation's processes bind to and the others dial (its `host`, else the network's one host). */
  hostOf(org: PeerOrganisation | 'orderer'): string {
    return (org === 'orderer' ? this.definition.ordererOrganisation.host : org.host) ?? this.host;
  }

  /** True when some organisation has an address of its own (a deployment across machines; each org runs its own chaincode server). */
  get perOrgHosts(): boolean {
    return this.definition.ordererOrganisation.host !== undefined || this.definition.organisations.some((o) => o.host !== undefined);
  }

  // ---- folders -------------------------------------------------------------------------------

  /** Everything the network layer generates and runs lives under here. */
  get networkDir(): string {
    return path.join(this.stateDir, 'network');
  }
  get cryptoDir(): string {
    return path.join(this.networkDir, 'crypto');
  }
  get configDir(): string {
    return path.join(this.networkDir, 'config');
  }
  /** FABRIC_CFG_PATH of the peers and the `peer` CLI (core.yaml). */
  get peerConfigDir(): string {
    return path.join(this.configDir, 'peer');
  }
  /** FABRIC_CFG_PATH of the orderers (orderer.yaml). */
  get ordererConfigDir(): string {
    return path.join(this.configDir, 'orderer');
  }
  /** FABRIC_CFG_PATH of configtxgen (configtx.yaml). */
  get configtxDir(): string {
    return path.join(this.configDir, 'configtx');
  }
  get genesisBlock(): string {
    return path.join(this.networkDir, 'channel', `${this.channel}.block`);
  }
  get chaincodeDir(): string {
    return path.join(this.networkDir, 'chaincode');
  }
  get logsDir(): string {
    return path.join(this.networkDir, 'logs');
  }
  get pidsDir(): string {
    return path.join(this.networkDir, 'pids');
  }
  logFile(name: string): string {
    return path.join(this.logsDir, `${name}.log`);
  }
  pidFile(name: string): string {
    return path.join(this.pidsDir, `${name}.pid`);
  }
  /** The installed Fabric release this network runs. */
  get fabricHome(): string {
    if (!this.fabric) throw new Error('no Fabric install was given to this network (run scripts/install-fabric.sh)');
    return this.fabric;
  }
  bin(tool: string): string {
    return path.join(this.fabricHome, 'bin', tool);
  }
  get ccaasBuilderDir(): string {
    return path.join(this.fabricHome, 'builders', 'ccaas');
  }

  // ---- nodes ---------------------------------------------------------------------------------

  get orderers(): OrdererNode[] {
    const o = this.definition.ordererOrganisation;
    return Array.from({ length: o.orderers }, (_, j) => {
      const name = `orderer${j}`;
      const fqdn = `${name}.${o.domain}`;
      const port = this.basePort + PORTS.ordererStride * j;
      const dir = path.join(this.cryptoDir, 'ordererOrganizations', o.domain, 'orderers', fqdn);
      const host = this.hostOf('orderer');
      return {
        kind: 'orderer' as const,
        name,
        fqdn,
        host,
        port,
        adminPort: port + 1,
        operationsPort: port + 2,
        address: `${host}:${port}`,
        mspDir: path.join(dir, 'msp'),
        tlsDir: path.join(dir, 'tls'),
        dataDir: path.join(this.networkDir, 'data', name),
      };
    });
  }

  get peers(): PeerNode[] {
    return this.definition.organisations.flatMap((org) => this.peersOf(org));
  }

  peersOf(org: PeerOrganisation): PeerNode[] {
    const i = this.definition.organisations.indexOf(org);
    return Array.from({ length: org.peers }, (_, p) => {
      const fqdn = `peer${p}.${org.domain}`;
      const port = this.basePort + PORTS.orgStride * (i + 1) + PORTS.peerStride * p;
      const dir = path.join(this.orgCryptoDir(org), 'peers', fqdn);
      const host = this.hostOf(org);
      return {
        kind: 'peer' as const,
        org,
        name: `peer${p}-${org.name.toLowerCase()}`,
        fqdn,
        host,
        port,
        chaincodePort: port + 1,
        operationsPort: port + 2,
        address: `${host}:${port}`,
        mspDir: path.join(dir, 'msp'),
        tlsDir: path.join(dir, 'tls'),
        dataDir: path.join(this.networkDir, 'data', `peer${p}-${org.name.toLowerCase()}`),
      };
    });
  }

  /** The organisation by name or MSP ID, or a sentence saying which ones exist. */
  organisation(nameOrMsp: string): PeerOrganisation {
    const org = this.definition.organisations.find((o) => o.name === nameOrMsp || o.mspId === nameOrMsp);
    if (!org) throw new Error(`${nameOrMsp} is not an organisation of this consortium; known: ${this.definition.organisations.map((o) => o.name).join(', ')}.`);
    return org;
  }

  orgCryptoDir(org: PeerOrganisation): string {
    return path.join(this.cryptoDir, 'peerOrganizations', org.domain);
  }

  get ordererOrgCryptoDir(): string {
    return path.join(this.cryptoDir, 'ordererOrganizations', this.definition.ordererOrganisation.domain);
  }

  /** The TLS CA certificate of the orderer organisation (clients check orderers against it). */
  get ordererTlsCa(): string {
    return path.join(this.ordererOrgCryptoDir, 'tlsca', `tlsca.${this.definition.ordererOrganisation.domain}-cert.pem`);
  }

  /** The TLS CA certificate of a peer organisation. */
  tlsCaOf(org: PeerOrganisation): string {
    return path.join(this.orgCryptoDir(org), 'tlsca', `tlsca.${org.domain}-cert.pem`);
  }

  /** A cryptogen user of a peer organisation (`Admin`, `User1`), or of the orderer org. */
  identity(org: PeerOrganisation | 'orderer', user: string): IdentityFiles {
    const domain = org === 'orderer' ? this.definition.ordererOrganisation.domain : org.domain;
    const mspId = org === 'orderer' ? this.definition.ordererOrganisation.mspId : org.mspId;
    const base = org === 'orderer' ? this.ordererOrgCryptoDir : this.orgCryptoDir(org);
    const fullName = `${user}@${domain}`;
    const dir = path.join(base, 'users', fullName);
    return {
      mspId,
      mspDir: path.join(dir, 'msp'),
      certPath: path.join(dir, 'msp', 'signcerts', `${fullName}-cert.pem`),
      keyDir: path.join(dir, 'msp', 'keystore'),
      tlsCert: path.join(dir, 'tls', 'client.crt'),
      tlsKey: path.join(dir, 'tls', 'client.key'),
      tlsCa: path.join(dir, 'tls', 'ca.crt'),
    };
  }

  // ---- services above Fabric -----------------------------------------------------------------

  get chaincodeServerAddress(): string {
    return `${this.host}:${this.basePort + PORTS.chaincodeServer}`;
  }

  /**
   * Where an organisation's peers dial the chaincode: with per-org hosts each organisation runs
   * its own chaincode server on its own address (same port number, another host); otherwise the
   * one shared server.
   */
  chaincodeServerAddressOf(org: PeerOrganisation): string {
    return this.perOrgHosts ? `${this.hostOf(org)}:${this.basePort + PORTS.chaincodeServer}` : this.chaincodeServerAddress;
  }

  get evmPort(): number {
    return this.basePort + PORTS.evm;
  }

  gatewayPort(org: PeerOrganisation): number {
    return this.basePort + PORTS.gateway + this.definition.organisations.indexOf(org);
  }

  gatewayDir(org: PeerOrganisation): string {
    return path.join(this.stateDir, 'gateways', org.name.toLowerCase());
  }

  /** The file of API keys `up` generates (owner-only): one key per role per organisation. */
  get apiKeysFile(): string {
    return path.join(this.stateDir, 'gateways', 'api-keys.json');
  }

  /**
   * One organisation's gateway: its HTTP address and its connection as `User1` to its first peer,
   * with every peer of the org in order (`fabric.peers`: the gateway moves to the next when its
   * peer stops answering).
   */
  gatewaySettings(nameOrMsp: string): GatewaySettings {
    const org = this.organisation(nameOrMsp);
    const peers = this.peersOf(org);
    const peer = peers[0];
    const user = this.identity(org, 'User1');
    return {
      org: { name: org.name, mspId: org.mspId, type: org.type },
      host: this.hostOf(org),
      port: this.gatewayPort(org),
      dir: this.gatewayDir(org),
      fabric: {
        mspId: org.mspId,
        peerEndpoint: peer.address,
        peerHostAlias: peer.fqdn,
        peers: peers.map((p) => ({ endpoint: p.address, hostAlias: p.fqdn })),
        tlsRootCertPath: this.tlsCaOf(org),
        certPath: user.certPath,
        keyPath: user.keyDir,
        channel: this.channel,
        chaincode: this.chaincodeName,
      },
      organisations: this.definition.organisations.map((o) => ({ mspId: o.mspId, name: o.name, type: o.type, displayName: o.displayName })),
    };
  }
}

/**
 * The network of this checkout as the environment sets it: `network/consortium.json`,
 * MEDPROV_STATE_DIR (default `state/`), MEDPROV_BASE_PORT (default the definition's),
 * MEDPROV_CONSORTIUM (another definition file).
 */
export function networkFromEnv(env: NodeJS.ProcessEnv, root: string, fabricHome?: string): Network {
  const definition = readConsortiumFile(path.resolve(root, env.MEDPROV_CONSORTIUM ?? path.join('network', 'consortium.json')));
  const basePort = env.MEDPROV_BASE_PORT ? Number(env.MEDPROV_BASE_PORT) : undefined;
  return new Network(definition, { root, stateDir: path.resolve(root, env.MEDPROV_STATE_DIR ?? 'state'), basePort, fabricHome });
}
