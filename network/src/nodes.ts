/**
 * The Fabric daemons: how each orderer and peer is started (its environment, derived from the
 * {@link Network}) and how to tell that it is up.
 *
 * @module
 */
import * as path from 'node:path';
import { baseEnv } from './fabric-cli';
import type { Network, OrdererNode, PeerNode } from './network';
import { listening, logTail, runningPid, startDaemon, waitUntil, type DaemonSpec } from './processes';

/** Fabric logs every gRPC call at INFO, which costs throughput on a small machine. */
const DAEMON_LOGGING = 'info:grpc=error:comm.grpc.server=warn:gossip=warn:lifecycle=warn';

const list = (items: readonly string[]) => `[${items.join(',')}]`;

export function ordererSpec(network: Network, node: OrdererNode): DaemonSpec {
  const admin = network.identity('orderer', 'Admin');
  return {
    name: node.name,
    command: network.bin('orderer'),
    args: [],
    env: {
      ...baseEnv(),
      FABRIC_LOGGING_SPEC: DAEMON_LOGGING,
      FABRIC_CFG_PATH: network.ordererConfigDir,
      ORDERER_GENERAL_LISTENADDRESS: node.host,
      ORDERER_GENERAL_LISTENPORT: String(node.port),
      ORDERER_GENERAL_LOCALMSPID: network.definition.ordererOrganisation.mspId,
      ORDERER_GENERAL_LOCALMSPDIR: node.mspDir,
      ORDERER_GENERAL_TLS_ENABLED: 'true',
      ORDERER_GENERAL_TLS_PRIVATEKEY: path.join(node.tlsDir, 'server.key'),
      ORDERER_GENERAL_TLS_CERTIFICATE: path.join(node.tlsDir, 'server.crt'),
      ORDERER_GENERAL_TLS_ROOTCAS: list([path.join(node.tlsDir, 'ca.crt')]),
      ORDERER_FILELEDGER_LOCATION: path.join(node.dataDir, 'ledger'),
      ORDERER_CONSENSUS_WALDIR: path.join(node.dataDir, 'etcdraft', 'wal'),
      ORDERER_CONSENSUS_SNAPDIR: path.join(node.dataDir, 'etcdraft', 'snapshot'),
      ORDERER_OPERATIONS_LISTENADDRESS: `${node.host}:${node.operationsPort}`,
      ORDERER_ADMIN_LISTENADDRESS: `${node.host}:${node.adminPort}`,
      ORDERER_ADMIN_TLS_ENABLED: 'true',
      ORDERER_ADMIN_TLS_PRIVATEKEY: path.join(node.tlsDir, 'server.key'),
      ORDERER_ADMIN_TLS_CERTIFICATE: path.join(node.tlsDir, 'server.crt'),
      ORDERER_ADMIN_TLS_ROOTCAS: list([path.join(node.tlsDir, 'ca.crt')]),
      ORDERER_ADMIN_TLS_CLIENTAUTHREQUIRED: 'true',
      ORDERER_ADMIN_TLS_CLIENTROOTCAS: list([admin.tlsCa]),
      ORDERER_CHANNELPARTICIPATION_ENABLED: 'true',
    },
  };
}

export function peerSpec(network: Network, node: PeerNode): DaemonSpec {
  const first = network.peersOf(node.org)[0];
  return {
    name: node.name,
    command: network.bin('peer'),
    args: ['node', 'start'],
    env: {
      ...baseEnv(),
      FABRIC_LOGGING_SPEC: DAEMON_LOGGING,
      FABRIC_CFG_PATH: network.peerConfigDir,
      CORE_PEER_ID: node.fqdn,
      CORE_PEER_ADDRESS: node.address,
      CORE_PEER_LISTENADDRESS: node.address,
      CORE_PEER_CHAINCODEADDRESS: `${node.host}:${node.chaincodePort}`,
      CORE_PEER_CHAINCODELISTENADDRESS: `${node.host}:${node.chaincodePort}`,
      // Gossip within the org through its first peer; other orgs are found through anchor peers.
      CORE_PEER_GOSSIP_BOOTSTRAP: first.address,
      CORE_PEER_GOSSIP_EXTERNALENDPOINT: node.address,
      CORE_PEER_GOSSIP_RECONNECTINTERVAL: '2s',
      CORE_PEER_LOCALMSPID: node.org.mspId,
      CORE_PEER_MSPCONFIGPATH: node.mspDir,
      CORE_PEER_TLS_ENABLED: 'true',
      CORE_PEER_TLS_CERT_FILE: path.join(node.tlsDir, 'server.crt'),
      CORE_PEER_TLS_KEY_FILE: path.join(node.tlsDir, 'server.key'),
      CORE_PEER_TLS_ROOTCERT_FILE: path.join(node.tlsDir, 'ca.crt'),
      CORE_PEER_FILESYSTEMPATH: node.dataDir,
      CORE_LEDGER_SNAPSHOTS_ROOTDIR: path.join(node.dataDir, 'snapshots'),
      CORE_OPERATIONS_LISTENADDRESS: `${node.host}:${node.operationsPort}`,
      // One process per machine here: the peer's gateway service finds the other orgs' peers by discovery.
      CORE_PEER_GATEWAY_ENABLED: 'true',
      // Go's pprof endpoints on the peer's port + 3, for finding where a peer's CPU goes (never by default).
      ...(process.env.MEDPROV_PEER_PROFILE === '1' ? { CORE_PEER_PROFILE_ENABLED: 'true', CORE_PEER_PROFILE_LISTENADDRESS: `${node.host}:${node.port + 3}` } : {}),
    },
  };
}

/** Starts the node unless ours already runs; waits until its operations endpoint answers. */
export async function startNode(network: Network, node: OrdererNode | PeerNode, env: NodeJS.ProcessEnv = {}): Promise<'started' | 'running'> {
  const files = { pidFile: network.pidFile(node.name), logFile: network.logFile(node.name) };
  if (runningPid(files.pidFile) !== undefined) return 'running';
  if (await listening(node.host, node.port)) {
    throw new Error(`port ${node.port} (${node.name}) is taken by another process; stop it or choose another base port (MEDPROV_BASE_PORT).`);
  }
  const spec = node.kind === 'orderer' ? ordererSpec(network, node) : peerSpec(network, node);
  startDaemon({ ...spec, env: { ...spec.env, ...env } }, files);
  const up = await waitUntil(async () => runningPid(files.pidFile) === undefined || (await healthy(network, node)), 60_000, 200);
  if (!up || runningPid(files.pidFile) === undefined) {
    throw new Error(`${node.name} did not start; the end of ${files.logFile}:\n${logTail(files.logFile)}`);
  }
  return 'started';
}

/** The node's own health check (`/healthz` on its operations port). */
export async function healthy(_network: Network, node: OrdererNode | PeerNode): Promise<boolean> {
  try {
    const res = await fetch(`http://${node.host}:${node.operationsPort}/healthz`, { signal: AbortSignal.timeout(2_000) });
    return res.ok;
  } catch {
    return false;
  }
}
