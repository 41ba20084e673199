/**
 * Generation, separate from running: the cryptogen and configtxgen inputs, the peers' and
 * orderers' configuration (Fabric's own `core.yaml` / `orderer.yaml`, read, changed where this
 * network needs it and written back), the crypto material and the channel's genesis block.
 * Each step keeps what is already there, so a restart reuses the network's identities.
 *
 * @module
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import { usesFabricCa } from './ca';
import { runTool } from './fabric-cli';
import { channelMspDir, enrolAll } from './identities';
import type { Network } from './network';
import type { Progress } from './progress';

/** Ordering: how long a block waits for more transactions, and how large it may get. */
export const BATCHING = { timeout: '100ms', maxMessageCount: 100, absoluteMaxBytes: '16 MB', preferredMaxBytes: '2 MB' } as const;

/** Names every certificate carries on one machine; with per-org hosts only the org's own address and its names. */
function sansOf(network: Network, org: Parameters<Network['hostOf']>[0]): string[] {
  const host = network.hostOf(org);
  return network.perOrgHosts ? [host] : [...new Set(['localhost', '127.0.0.1', host])];
}

/** cryptogen's input: NodeOUs on (the record keys' state-based policies name the PEER role). */
export function cryptoConfig(network: Network): object {
  const o = network.definition.ordererOrganisation;
  return {
    OrdererOrgs: [
      {
        Name: o.name,
        Domain: o.domain,
        EnableNodeOUs: true,
        Specs: network.orderers.map((n) => ({ Hostname: n.name, SANS: sansOf(network, 'orderer') })),
      },
    ],
    PeerOrgs: network.definition.organisations.map((org) => ({
      Name: org.name,
      Domain: org.domain,
      EnableNodeOUs: true,
      Template: { Count: org.peers, SANS: sansOf(network, org) },
      Users: { Count: 1 },
    })),
  };
}

const signature = (rule: string) => ({ Type: 'Signature', Rule: rule });
const implicit = (rule: string) => ({ Type: 'ImplicitMeta', Rule: rule });

/**
 * The consensus part of the channel's Orderer section: Raft consenters, or SmartBFT's consenter
 * mapping (id, address, MSP, signing identity, TLS certificates; needs channel capability V3_0)
 * with timeouts short enough that a dead leader is replaced within seconds, not a minute.
 */
function consensus(network: Network): Record<string, unknown> {
  if (network.definition.ordering === 'bft') {
    return {
      OrdererType: 'BFT',
      ConsenterMapping: network.orderers.map((n, j) => ({
        ID: j + 1,
        Host: n.host,
        Port: n.port,
        MSPID: network.definition.ordererOrganisation.mspId,
        Identity: path.join(n.mspDir, 'signcerts', `${n.fqdn}-cert.pem`),
        ClientTLSCert: path.join(n.tlsDir, 'server.crt'),
        ServerTLSCert: path.join(n.tlsDir, 'server.crt'),
      })),
      SmartBFT: {
        RequestBatchMaxCount: BATCHING.maxMessageCount,
        RequestBatchMaxInterval: BATCHING.timeout,
        RequestForwardTimeout: '2s',
        RequestComplainTimeout: '8s',
        RequestAutoRemoveTimeout: '3m0s',
        ViewChangeResendInterval: '5s',
        ViewChangeTimeout: '10s',
        LeaderHeartbeatTimeout: '10s',
        LeaderHeartbeatCount: 10,
        CollectTimeout: '1s',
        IncomingMessageBufferSize: 200,
        RequestPoolSize: 100000,
      },
    };
  }
  return {
    OrdererType: 'etcdraft',
    EtcdRaft: {
      Consenters: network.orderers.map((n) => ({
        Host: n.host,
        Port: n.port,
        ClientTLSCert: path.join(n.tlsDir, 'server.crt'),
        ServerTLSCert: path.join(n.tlsDir, 'server.crt'),
      })),
      Options: { TickInterval: '500ms', ElectionTick: 10, HeartbeatTick: 1, MaxInflightBlocks: 5, SnapshotIntervalSize: '16 MB' },
    },
  };
}

/** configtxgen's input: one channel profile with every organisation, Raft or SmartBFT ordering. */
export function configtx(network: Network): object {
  const o = network.definition.ordererOrganisation;
  const ordererOrg = {
    Name: o.mspId,
    ID: o.mspId,
    // Fabric CA identities: the organisation's exported public MSP (certificates only).
    MSPDir: usesFabricCa(network) ? channelMspDir(network, 'orderer') : path.join(network.ordererOrgCryptoDir, 'msp'),
    Policies: {
      Readers: signature(`OR('${o.mspId}.member')`),
      Writers: signature(`OR('${o.mspId}.member')`),
      Admins: signature(`OR('${o.mspId}.admin')`),
    },
    // Channel capability V3_0 refuses the global Orderer.Addresses: endpoints are per org.
    OrdererEndpoints: network.orderers.map((n) => n.address),
  };
  const peerOrgs = network.definition.organisations.map((org) => ({
    Name: org.mspId,
    ID: org.mspId,
    MSPDir: usesFabricCa(network) ? channelMspDir(network, org) : path.join(network.orgCryptoDir(org), 'msp'),
    Policies: {
      Readers: signature(`OR('${org.mspId}.admin', '${org.mspId}.peer', '${org.mspId}.client')`),
      Writers: signature(`OR('${org.mspId}.admin', '${org.mspId}.client')`),
      Admins: signature(`OR('${org.mspId}.admin')`),
      Endorsement: signature(`OR('${org.mspId}.peer')`),
    },
    // Without anchor peers, cross-org discovery finds no endorsers for a multi-org policy.
    AnchorPeers: [{ Host: network.peersOf(org)[0].host, Port: network.peersOf(org)[0].port }],
  }));
  return {
    Organizations: [ordererOrg, ...peerOrgs],
    Profiles: {
      MedprovChannel: {
        Policies: {
          Readers: implicit('ANY Readers'),
          Writers: implicit('ANY Writers'),
          Admins: implicit('MAJORITY Admins'),
        },
        Capabilities: { V3_0: true },
        Orderer: {
          ...consensus(network),
          BatchTimeout: BATCHING.timeout,
          BatchSize: {
            MaxMessageCount: BATCHING.maxMessageCount,
            AbsoluteMaxBytes: BATCHING.absoluteMaxBytes,
            PreferredMaxBytes: BATCHING.preferredMaxBytes,
          },
          Organizations: [ordererOrg],
          Policies: {
            Readers: implicit('ANY Readers'),
            Writers: implicit('ANY Writers'),
            Admins: implicit('MAJORITY Admins'),
            // BFT too: peers check a BFT block's quorum of consenter signatures themselves (configtxgen 3.1 knows no ImplicitOrderer policy).
            BlockValidation: implicit('ANY Writers'),
          },
          Capabilities: { V2_0: true },
        },
        Application: {
          Organizations: peerOrgs,
          Policies: {
            Readers: implicit('ANY Readers'),
            Writers: implicit('ANY Writers'),
            Admins: implicit('MAJORITY Admins'),
            LifecycleEndorsement: implicit('MAJORITY Endorsement'),
            Endorsement: implicit('MAJORITY Endorsement'),
          },
          Capabilities: { V2_5: true },
        },
      },
    },
  };
}

/**
 * The peers' core.yaml: Fabric's own, with no Docker (the peer panics with neither Docker nor
 * a builder) and the chaincode-as-a-service builder of the installed release. Everything that
 * differs between peers is set per process in the environment.
 */
export function coreYaml(network: Network): string {
  const doc = YAML.parseDocument(readFileSync(path.join(network.fabricHome, 'config', 'core.yaml'), 'utf8'));
  doc.setIn(['vm', 'endpoint'], '');
  doc.setIn(['chaincode', 'externalBuilders'], [
    { name: 'ccaas_builder', path: network.ccaasBuilderDir, propagateEnvironment: ['CHAINCODE_AS_A_SERVICE_BUILDER_CONFIG'] },
  ]);
  // The default 25 s leaves a fresh network unable to meet a multi-org policy for a while.
  doc.setIn(['peer', 'gossip', 'reconnectInterval'], '2s');
  doc.setIn(['metrics', 'provider'], 'prometheus');
  // No chaincode of this project asks for a key's history (a record's versions are keys of their
  // own), and the history index costs every peer a write per key committed.
  doc.setIn(['ledger', 'history', 'enableHistoryDatabase'], false);
  return doc.toString();
}

/** The orderers' orderer.yaml: Fabric's own, with metrics on; the rest is per process. */
export function ordererYaml(network: Network): string {
  const doc = YAML.parseDocument(readFileSync(path.join(network.fabricHome, 'config', 'orderer.yaml'), 'utf8'));
  doc.setIn(['Metrics', 'Provider'], 'prometheus');
  doc.setIn(['ChannelParticipation', 'Enabled'], true);
  return doc.toString();
}

function write(file: string, text: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
}

/**
 * Writes the configuration (always: it is derived, and a new Fabric install moves the builder),
 * then the crypto material and the genesis block when they are not there yet.
 */
export async function generate(network: Network, progress: Progress): Promise<void> {
  write(path.join(network.peerConfigDir, 'core.yaml'), coreYaml(network));
  write(path.join(network.ordererConfigDir, 'orderer.yaml'), ordererYaml(network));
  write(path.join(network.configtxDir, 'configtx.yaml'), YAML.stringify(configtx(network)));
  const cryptoInput = path.join(network.configDir, 'crypto-config.yaml');
  write(cryptoInput, YAML.stringify(cryptoConfig(network)));

  if (usesFabricCa(network)) {
    // Each organisation enrols its own identities from its own CA and exports only its public MSP.
    await enrolAll(network, progress);
  } else if (!existsSync(network.ordererOrgCryptoDir)) {
    progress.step('generating identities (cryptogen)');
    await runTool(network, 'cryptogen', ['generate', `--config=${cryptoInput}`, `--output=${network.cryptoDir}`]);
  } else {
    // Adds what a changed definition asks for (a new org or peer) and keeps every existing key.
    await runTool(network, 'cryptogen', ['extend', `--config=${cryptoInput}`, `--input=${network.cryptoDir}`]);
  }
  if (!existsSync(network.genesisBlock)) {
    progress.step(`creating the genesis block of channel ${network.channel} (configtxgen)`);
    mkdirSync(path.dirname(network.genesisBlock), { recursive: true });
    await runTool(network, 'configtxgen', ['-profile', 'MedprovChannel', '-channelID', network.channel, '-outputBlock', network.genesisBlock], {
      FABRIC_CFG_PATH: network.configtxDir,
    });
  }
}
