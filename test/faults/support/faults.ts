/**
 * Killing the network's real processes the way a machine loses them (`SIGKILL`: no handler
 * runs, nothing is flushed) and bringing them back with the network layer's own start code.
 *
 * @module
 */
import * as path from 'node:path';
import { gatewayName, startGateway } from '../../../network/src/gateways';
import type { Network, OrdererNode, PeerNode } from '../../../network/src/network';
import { startNode } from '../../../network/src/nodes';
import { alive, runningPid, waitUntil } from '../../../network/src/processes';

/** SIGKILLs a pid and waits until it is gone (a zombie this VM's PID 1 has not reaped counts as gone). */
export async function killPid(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return; // already gone
  }
  if (!(await waitUntil(() => !alive(pid), 10_000, 50))) throw new Error(`pid ${pid} survived SIGKILL for 10 s`);
}

/** SIGKILLs one of the network's daemons by its pid file (`orderer1`, `peer0-hospital`, `gateway-hospital`, `chaincode`). */
export async function kill(network: Network, name: string): Promise<number> {
  const pid = runningPid(network.pidFile(name));
  if (pid === undefined) throw new Error(`${name} is not running: nothing to kill`);
  await killPid(pid);
  return pid;
}

/** The chaincode server's own pid (the supervisor's child), from the file the supervisor keeps. */
export function chaincodeServerPid(network: Network): number | undefined {
  return runningPid(`${network.pidFile('chaincode')}.child`);
}

/** Every process of the network (pid and name): orderers, peers, chaincode supervisor and server, gateways, the EVM chain. */
export function allProcesses(network: Network): { name: string; pid: number }[] {
  const named: [string, string][] = [
    ...network.orderers.map((o): [string, string] => [o.name, network.pidFile(o.name)]),
    ...network.peers.map((p): [string, string] => [p.name, network.pidFile(p.name)]),
    ['chaincode', network.pidFile('chaincode')],
    ['chaincode server', `${network.pidFile('chaincode')}.child`],
    ...network.definition.organisations.map((o): [string, string] => [gatewayName(o), network.pidFile(gatewayName(o))]),
    ['evm', path.join(network.stateDir, 'evm', 'node.pid')],
  ];
  return named.flatMap(([name, file]) => {
    const pid = runningPid(file);
    return pid === undefined ? [] : [{ name, pid }];
  });
}

/** Starts a node that was killed again, as `up` starts it; resolves once its health check answers. */
export async function restart(network: Network, node: OrdererNode | PeerNode): Promise<void> {
  await startNode(network, node);
}

/** Starts an organisation's gateway again; resolves once it has committed its probe transaction. */
export async function restartGateway(network: Network, orgName: string, withinMs?: number): Promise<void> {
  await startGateway(network, network.organisation(orgName), withinMs);
}

/**
 * The orderer that leads the channel's Raft cluster, from each orderer's operations metrics
 * (`consensus_etcdraft_is_leader{channel=…} 1`); undefined while there is none (an election).
 */
export async function raftLeader(network: Network): Promise<OrdererNode | undefined> {
  for (const o of network.orderers) {
    if (runningPid(network.pidFile(o.name)) === undefined) continue;
    try {
      const res = await fetch(`http://${network.host}:${o.operationsPort}/metrics`, { signal: AbortSignal.timeout(2_000) });
      const text = await res.text();
      const line = text.split('\n').find((l) => l.startsWith('consensus_etcdraft_is_leader') && l.includes(`channel="${network.channel}"`));
      if (line && Number(line.trim().split(/\s+/).pop()) === 1) return o;
    } catch {
      // not answering: not the leader we can use
    }
  }
  return undefined;
}

/** Waits for a Raft leader among the running orderers. */
export async function awaitLeader(network: Network, withinMs = 60_000): Promise<OrdererNode> {
  let leader: OrdererNode | undefined;
  await waitUntil(async () => (leader = await raftLeader(network)) !== undefined, withinMs, 250);
  if (!leader) throw new Error(`no Raft leader among the running orderers within ${withinMs / 1000} s`);
  return leader;
}
