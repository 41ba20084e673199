/**
 * A peer whose ledger is lost comes back: started with an empty data folder, it joins the channel
 * again, either
 * - **from the channel's blocks**: `peer channel join` with the genesis block; it pulls every block
 *   from the orderers and validates and commits each (time grows with the channel's height), or
 * - **from a ledger snapshot**: a healthy peer (of the same org when there is one, else of another
 *   org: the snapshot holds no private data here, the chaincode uses none) writes a snapshot of
 *   the channel at its last block (`peer snapshot submitrequest`); the new peer joins from it
 *   (`peer channel joinbysnapshot`), taking the state as of that block at once and pulling only the
 *   blocks after it. Its ledger then starts at the snapshot: blocks before it are not served, so a
 *   gateway that has to rebuild its event-fed state from block 0 (after losing its own folder)
 *   needs a peer that joined from the blocks.
 *
 * Then the chaincode package its org approved is installed again (the lifecycle's installed
 * packages live in the data folder too), and the peer is waited for until its height reaches the
 * channel's height read at the start.
 *
 * @module
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { installChaincode, type ChaincodePackage } from './chaincode';
import { channelHeight, peerChannels } from './channel';
import { peerAsAdmin, retry } from './fabric-cli';
import type { Network, PeerNode } from './network';
import { healthy, startNode } from './nodes';
import { runningPid, stopDaemon, waitUntil } from './processes';
import type { Progress } from './progress';

export type RejoinMethod = 'blocks' | 'snapshot';

/** What a rejoin took, for the operator and the bench. */
export interface RejoinReport {
  readonly peer: string;
  readonly method: RejoinMethod;
  /** The channel's height when the rejoin began (the other peers' highest). */
  readonly targetHeight: number;
  /** The peer's height at the end (at least the target). */
  readonly height: number;
  /** With a snapshot: the block it was taken at, its source peer, and how long it took to write. */
  readonly snapshot?: { readonly blockNumber: number; readonly source: string; readonly seconds: number };
  /** From the start (peer started with an empty folder) to caught up with the chaincode installed. */
  readonly seconds: number;
}

/**
 * Stops the peer (if ours runs) and deletes its data folder: ledger, state, installed chaincode,
 * snapshots. What a lost disk leaves; its crypto material and configuration stay.
 */
export async function wipePeer(network: Network, peer: PeerNode, progress: Progress): Promise<void> {
  const pid = await stopDaemon(network.pidFile(peer.name));
  if (pid) progress.step(`stopped ${peer.name} (pid ${pid})`);
  rmSync(peer.dataDir, { recursive: true, force: true });
  progress.step(`deleted ${peer.name}'s data folder ${peer.dataDir}`);
}

/** The highest channel height among the running peers other than `except`. */
export async function networkHeight(network: Network, except?: PeerNode): Promise<{ height: number; peer: PeerNode }> {
  let best: { height: number; peer: PeerNode } | undefined;
  for (const p of network.peers) {
    if (p === except || runningPid(network.pidFile(p.name)) === undefined) continue;
    const h = await channelHeight(network, p).catch(() => undefined);
    if (h !== undefined && (!best || h > best.height)) best = { height: h, peer: p };
  }
  if (!best) throw new Error(`no other running peer is on channel ${network.channel}: nothing to rejoin from.`);
  return best;
}

/** A healthy peer to take a snapshot from: another of the same org first, else any other running one. */
function snapshotSource(network: Network, peer: PeerNode): PeerNode {
  const others = network.peers.filter((p) => p !== peer && runningPid(network.pidFile(p.name)) !== undefined);
  const source = others.find((p) => p.org === peer.org) ?? others[0];
  if (!source) throw new Error('no other running peer to take a snapshot from.');
  return source;
}

/**
 * Asks `source` for a snapshot of the channel at its last committed block and waits until it is
 * written; returns its folder and block number.
 */
export async function takeSnapshot(network: Network, source: PeerNode, progress: Progress): Promise<{ dir: string; blockNumber: number; seconds: number }> {
  const t0 = Date.now();
  const completed = path.join(source.dataDir, 'snapshots', 'completed', network.channel);
  const before = new Set(existsSync(completed) ? readdirSync(completed) : []);
  const tls = ['--peerAddress', source.address, '--tlsRootCertFile', network.tlsCaOf(source.org)];
  progress.step(`${source.name}: snapshot of ${network.channel} at its last block (peer snapshot submitrequest)`);
  // Block 0: "at the last committed block".
  await retry(() => peerAsAdmin(network, source.org, ['snapshot', 'submitrequest', '-c', network.channel, '-b', '0', ...tls], source), {
    what: `${source.name}: snapshot request`,
    progress,
    withinMs: 60_000,
  });
  let made: string | undefined;
  const done = await waitUntil(
    async () => {
      const pending = await peerAsAdmin(network, source.org, ['snapshot', 'listpending', '-c', network.channel, ...tls], source).catch(() => 'unknown');
      const fresh = existsSync(completed) ? readdirSync(completed).filter((d) => !before.has(d)) : [];
      if (fresh.length > 0 && /\[\]|^\s*$/.test(pending.replace(/Successfully got pending snapshot requests:?/i, '').trim() || '[]')) {
        made = fresh.sort((a, b) => Number(b) - Number(a))[0];
        return true;
      }
      return false;
    },
    300_000,
    250,
  );
  if (!done || made === undefined) throw new Error(`${source.name} did not write the snapshot within 300 s (${completed})`);
  return { dir: path.join(completed, made), blockNumber: Number(made), seconds: (Date.now() - t0) / 1000 };
}

/**
 * Brings a peer back on the channel after its data folder was lost (it must be stopped or wiped:
 * a peer still holding its ledger is refused, nothing to rejoin).
 */
export async function rejoinPeer(network: Network, peer: PeerNode, method: RejoinMethod, progress: Progress): Promise<RejoinReport> {
  if (existsSync(path.join(peer.dataDir, 'ledgersData'))) {
    throw new Error(`${peer.name} still has its ledger (${peer.dataDir}); rejoining is for a peer whose data is lost (wipe it first: --wipe).`);
  }
  const { height: targetHeight, peer: reference } = await networkHeight(network, peer);
  let snapshot: RejoinReport['snapshot'];
  let snapshotDir: string | undefined;
  if (method === 'snapshot') {
    const source = snapshotSource(network, peer);
    const taken = await takeSnapshot(network, source, progress);
    snapshot = { blockNumber: taken.blockNumber, source: source.name, seconds: taken.seconds };
    snapshotDir = taken.dir;
    progress.step(`snapshot at block ${taken.blockNumber} written in ${taken.seconds.toFixed(1)} s: ${taken.dir}`);
  }
  const t0 = Date.now();
  progress.step(`starting ${peer.name} with an empty data folder`);
  // Its own org's private data (the lifecycle's approvals, in the org's implicit collection) can come
  // only from another peer of its org: with none, each block holding some would wait the default 60 s
  // for it. It is not needed to endorse or commit; the peer records it as missing and goes on.
  await startNode(network, peer, peer.org && network.peersOf(peer.org).length === 1 ? { CORE_PEER_GOSSIP_PVTDATA_PULLRETRYTHRESHOLD: '1s' } : {});
  const joinArgs = snapshotDir ? ['channel', 'joinbysnapshot', '--snapshotpath', snapshotDir] : ['channel', 'join', '-b', network.genesisBlock];
  progress.step(`${peer.name} joins ${network.channel} ${snapshotDir ? `from the snapshot at block ${snapshot!.blockNumber}` : 'from the genesis block, pulling every block'}`);
  await retry(() => peerAsAdmin(network, peer.org, joinArgs, peer), { what: `${peer.name}: join`, progress, withinMs: 120_000 });
  // joinbysnapshot returns while the peer still imports the snapshot: the channel shows up once it is done.
  await retry(
    async () => {
      if (!(await peerChannels(network, peer)).includes(network.channel)) throw new Error(`${peer.name} is not on ${network.channel} yet`);
    },
    { what: `${peer.name}: on the channel`, progress, withinMs: 600_000 },
  );
  let height = 0;
  const caughtUp = await waitUntil(
    async () => {
      height = await channelHeight(network, peer).catch(() => height);
      return height >= targetHeight;
    },
    1_800_000,
    500,
  );
  if (!caughtUp || !(await healthy(network, peer))) throw new Error(`${peer.name} reached height ${height} of ${targetHeight} (reference ${reference.name}) and stopped there.`);
  // The chaincode package again: the one the chaincode server runs (what `up` installed on every
  // peer). Its org's approval, private to the org, cannot be read back on a lone peer (queryapproved
  // fails without it), nor is it needed: with the package installed again the peer endorses and
  // commits (the recovery test's writes go through it).
  await installChaincode(network, servedPackage(network), progress, [peer]);
  const seconds = (Date.now() - t0) / 1000;
  progress.step(`${peer.name} is back: height ${height} (target ${targetHeight}) in ${seconds.toFixed(1)} s by ${method}`);
  return { peer: peer.name, method, targetHeight, height, ...(snapshot ? { snapshot } : {}), seconds };
}

/** The package the network's chaincode server serves (written by `up` beside the packages). */
function servedPackage(network: Network): ChaincodePackage {
  const file = path.join(network.chaincodeDir, 'served-package-id');
  if (!existsSync(file)) throw new Error(`no chaincode package is recorded as served (${file}): run \`npm run up\` first.`);
  const packageId = readFileSync(file, 'utf8').trim();
  const label = packageId.slice(0, packageId.indexOf(':'));
  return { label, version: '', file: path.join(network.chaincodeDir, `${label}.tar.gz`), packageId };
}
