/**
 * The channel, made with the channel participation API (no system channel): every orderer
 * joins with the genesis block through `osnadmin`, then every peer joins as its org's admin.
 * Each step asks first, so a restart joins nothing twice.
 *
 * @module
 */
import { eachInParallel, osnadmin, peerAsAdmin, retry } from './fabric-cli';
import type { Network, OrdererNode, PeerNode } from './network';
import type { Progress } from './progress';

/** The channels an orderer takes part in (`osnadmin channel list`). */
export async function ordererChannels(network: Network, orderer: OrdererNode): Promise<string[]> {
  const out = await osnadmin(network, orderer, ['list']);
  // osnadmin prints "Status: 200" then the JSON body.
  const body = JSON.parse(out.slice(out.indexOf('{'))) as { channels: { name: string }[] | null };
  return (body.channels ?? []).map((c) => c.name);
}

export async function joinOrderers(network: Network, progress: Progress): Promise<void> {
  await eachInParallel(network.orderers, async (orderer) => {
    const joined = await retry(() => ordererChannels(network, orderer), { what: `${orderer.name}: list channels`, progress, withinMs: 30_000 });
    if (joined.includes(network.channel)) return;
    progress.step(`${orderer.name} joins channel ${network.channel}`);
    await retry(() => osnadmin(network, orderer, ['join', '--channelID', network.channel, '--config-block', network.genesisBlock]), {
      what: `${orderer.name}: join ${network.channel}`,
      progress,
      withinMs: 30_000,
    });
  });
}

/** The channels a peer has joined (`peer channel list`). */
export async function peerChannels(network: Network, peer: PeerNode): Promise<string[]> {
  const out = await peerAsAdmin(network, peer.org, ['channel', 'list'], peer);
  return out
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.includes(':'));
}

export async function joinPeers(network: Network, progress: Progress): Promise<void> {
  await eachInParallel(network.peers, async (peer) => {
    const joined = await retry(() => peerChannels(network, peer), { what: `${peer.name}: list channels`, progress, withinMs: 30_000 });
    if (joined.includes(network.channel)) return;
    progress.step(`${peer.name} joins channel ${network.channel}`);
    await retry(() => peerAsAdmin(network, peer.org, ['channel', 'join', '-b', network.genesisBlock], peer), {
      what: `${peer.name}: join ${network.channel}`,
      progress,
      withinMs: 60_000,
    });
  });
}

/** The channel as one peer sees it (`peer channel getinfo`): its height and the hash of its last block (base64). */
export async function chainInfo(network: Network, peer: PeerNode): Promise<{ height: number; currentBlockHash: string }> {
  const out = await peerAsAdmin(network, peer.org, ['channel', 'getinfo', '-c', network.channel], peer, 10_000);
  return JSON.parse(out.slice(out.indexOf('{'))) as { height: number; currentBlockHash: string };
}

/** The channel's height as one peer sees it (`peer channel getinfo`). */
export async function channelHeight(network: Network, peer: PeerNode): Promise<number> {
  return (await chainInfo(network, peer)).height;
}
