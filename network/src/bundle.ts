/**
 * A deployment bundle: what one member copies to its own server. For a peer organisation: the
 * consortium definition, its own identities (its peers', admin's and users' keys; not its CAs'
 * signing keys, which stay with whoever issues certificates), the other members' public material
 * only (MSP folders of CA and TLS CA certificates), the channel's genesis block (its peers join
 * from it and fetch the rest from the orderers), its chaincode package (naming its own chaincode
 * server), and `start.sh` / `stop.sh` that run {@link upMember} / {@link downMember} with this
 * folder as the state folder. For the orderer organisation: the same with its orderers.
 *
 *   npx tsx network/src/cli.ts bundle ORG DIR      writes the bundle (from a running or generated network)
 *   DIR/start.sh                                   on the member's server (a medprov checkout: MEDPROV_ROOT)
 *   DIR/stop.sh
 *
 * @module
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { caServer, startCa, usesFabricCa } from './ca';
import { approveCommittedForOrg, committedDefinition, installChaincode, packagesPerOrganisation } from './chaincode';
import { joinOrderers, peerChannels } from './channel';
import type { PeerOrganisation } from './consortium';
import { eachInParallel, peerAsAdmin, retry } from './fabric-cli';
import { gatewayName, startGateway } from './gateways';
import { coreYaml, ordererYaml } from './generate';
import type { Network } from './network';
import { startNode } from './nodes';
import { stopDaemon } from './processes';
import type { Progress } from './progress';
import { chaincodeServers, startChaincodeServer } from './system';

/** A member of the consortium: a peer organisation, or the orderer organisation (`orderer`). */
export type Member = PeerOrganisation | 'orderer';

export function memberOf(network: Network, name: string): Member {
  const o = network.definition.ordererOrganisation;
  return name === 'orderer' || name === o.name || name === o.mspId ? 'orderer' : network.organisation(name);
}

const memberName = (network: Network, m: Member): string => (m === 'orderer' ? network.definition.ordererOrganisation.name : m.name);
const cryptoDirOf = (network: Network, m: Member): string => (m === 'orderer' ? network.ordererOrgCryptoDir : network.orgCryptoDir(m));

/** A private key file by its name or place (cryptogen: `priv_sk`, `keystore/*`, TLS `*.key`). */
export function isPrivateKeyFile(file: string): boolean {
  return /(^|\/)keystore\/[^/]+$/.test(file) || /_sk$/.test(file) || /\.key$/.test(file);
}

function copyTree(from: string, to: string, skip: (rel: string) => boolean, rel = ''): void {
  for (const entry of readdirSync(path.join(from, rel))) {
    const r = path.join(rel, entry);
    if (skip(r)) continue;
    const src = path.join(from, r);
    if (statSync(src).isDirectory()) copyTree(from, to, skip, r);
    else {
      mkdirSync(path.dirname(path.join(to, r)), { recursive: true });
      copyFileSync(src, path.join(to, r));
    }
  }
}

/** What {@link writeBundle} wrote. */
export interface BundleReport {
  readonly member: string;
  readonly dir: string;
  /** The addresses of this member's processes others must reach (host:port, what). */
  readonly listens: readonly { address: string; what: string }[];
}

/** Writes `member`'s bundle into `dir` (which must not exist yet or be empty). */
export async function writeBundle(network: Network, member: Member, dir: string): Promise<BundleReport> {
  const out = path.resolve(dir);
  if (existsSync(out) && readdirSync(out).length > 0) throw new Error(`${out} is not empty: a bundle goes into a new folder.`);
  const state = path.join(out, 'state');
  const inState = (p: string) => path.join(state, path.relative(network.stateDir, p));
  writeFileSync(path.join(mkdirp(out), 'consortium.json'), `${JSON.stringify(network.definition, null, 2)}\n`);

  // Its own identities, without the CAs' signing keys.
  copyTree(cryptoDirOf(network, member), inState(cryptoDirOf(network, member)), (rel) => /^(ca|tlsca)\/.*_sk$/.test(rel) || /^(ca|tlsca)\/(?!.*-cert\.pem$)/.test(rel));
  // The others': public MSP folders and TLS CA certificates only.
  const others: Member[] = [...(['orderer'] as Member[]), ...network.definition.organisations].filter((m) => m !== member);
  for (const other of others) {
    const base = cryptoDirOf(network, other);
    copyTree(base, inState(base), (rel) => !(rel === 'msp' || rel.startsWith(`msp${path.sep}`) || rel === 'tlsca' || /^tlsca\/[^/]+-cert\.pem$/.test(rel)) || isPrivateKeyFile(rel));
  }
  copyFileSync(network.genesisBlock, path.join(mkdirp(path.dirname(inState(network.genesisBlock))), path.basename(network.genesisBlock)));
  if (member !== 'orderer') {
    const version = (await committedDefinition(network).catch(() => undefined))?.version;
    const pkg = (await packagesPerOrganisation(network, version))[member.name];
    copyFileSync(pkg.file, path.join(mkdirp(path.dirname(inState(pkg.file))), path.basename(pkg.file)));
  }

  const name = memberName(network, member);
  const env = `MEDPROV_CONSORTIUM="$HERE/consortium.json" MEDPROV_STATE_DIR="$HERE/state" MEDPROV_BASE_PORT=${network.basePort}`;
  const script = (command: string) =>
    [
      '#!/bin/sh',
      `# ${name}'s ${command === 'member-up' ? 'processes, started' : 'processes, stopped'} from this bundle (medprov deployment bundle).`,
      '# Needs a medprov checkout (npm ci done): MEDPROV_ROOT, default the one this bundle was written from.',
      'set -e',
      'HERE=$(cd "$(dirname "$0")" && pwd)',
      `cd "\${MEDPROV_ROOT:-${network.root}}"`,
      `${env} exec npx tsx network/src/cli.ts ${command} ${name}`,
      '',
    ].join('\n');
  for (const [file, command] of [
    ['start.sh', 'member-up'],
    ['stop.sh', 'member-down'],
  ] as const) {
    writeFileSync(path.join(out, file), script(command));
    chmodSync(path.join(out, file), 0o755);
  }
  const listens = member === 'orderer'
    ? network.orderers.flatMap((o) => [{ address: o.address, what: `${o.name}: peers, clients and the other orderers (gRPC, TLS)` }])
    : network.peersOf(member).map((p) => ({ address: p.address, what: `${p.name}: the other members' peers and clients (gRPC, TLS: gossip, endorsement, deliver)` }));
  writeFileSync(
    path.join(out, 'README.txt'),
    [
      `medprov deployment bundle for ${name}`,
      '',
      'state/       its identities (its own private keys only) and the others\' public MSPs, the genesis block' + (member === 'orderer' ? '' : ', its chaincode package'),
      'start.sh     starts its processes on their addresses; stop.sh stops them (by pid)',
      '',
      'Others must reach:',
      ...listens.map((l) => `  ${l.address}  ${l.what}`),
      '',
    ].join('\n'),
  );
  return { member: name, dir: out, listens };
}

function mkdirp(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * Starts one member's processes from its own state folder (a bundle's): the orderer organisation's
 * orderers (joining the channel), or a peer organisation's peers (joining from the genesis block
 * and catching up from the orderers), its chaincode package installed and its chaincode server,
 * then its gateway (ready once it has committed its probe write with the others' endorsements).
 */
export async function upMember(network: Network, member: Member, progress: Progress): Promise<void> {
  // Fabric CA identities: the member runs its own CA (its home came with its own folder), to enrol whom it adds later.
  if (usesFabricCa(network)) await startCa(network, member);
  if (member === 'orderer') {
    mkdirp(network.ordererConfigDir);
    writeFileSync(path.join(network.ordererConfigDir, 'orderer.yaml'), ordererYaml(network));
    await eachInParallel(network.orderers, (o) => startNode(network, o));
    await joinOrderers(network, progress);
    return;
  }
  mkdirp(network.peerConfigDir);
  writeFileSync(path.join(network.peerConfigDir, 'core.yaml'), coreYaml(network));
  const peers = network.peersOf(member);
  progress.step(`starting ${member.name}'s ${peers.length} peer(s)`);
  // A peer joining late may miss its own org's private data (the org's lifecycle approval) when no
  // peer of the org has it any more: give up pulling it after seconds, not the default minute.
  await eachInParallel(peers, (p) => startNode(network, p, { CORE_PEER_GOSSIP_PVTDATA_PULLRETRYTHRESHOLD: '5s' }));
  await eachInParallel(peers, async (peer) => {
    const joined = await retry(() => peerChannels(network, peer), { what: `${peer.name}: list channels`, progress, withinMs: 30_000 });
    if (joined.includes(network.channel)) return;
    progress.step(`${peer.name} joins channel ${network.channel} from its genesis block`);
    await retry(() => peerAsAdmin(network, member, ['channel', 'join', '-b', network.genesisBlock], peer), { what: `${peer.name}: join`, progress, withinMs: 60_000 });
  });
  const definition = await retry(
    async () => {
      const d = await committedDefinition(network, member);
      if (!d) throw new Error(`${network.chaincodeName} is not committed on ${network.channel} (as ${member.name}'s peer sees it yet)`);
      return d;
    },
    { what: 'the committed chaincode definition', progress, withinMs: 180_000 },
  );
  const pkg = (await packagesPerOrganisation(network, definition.version))[member.name];
  await installChaincode(network, pkg, progress, peers);
  // Its own record of its approval lives only on its own peers (the org's implicit collection):
  // peers that joined afresh after every peer of the org lost its disk cannot read it, and cannot
  // approve the sequence in force again; the consortium's next sequence (redefineChaincode, every
  // member approving its own package) gives them the chaincode back.
  const missing = await approveCommittedForOrg(network, member, definition, pkg.packageId, progress).then(
    () => undefined,
    (err: Error) => {
      if (/private data matching public hash version is not available/.test(err.message)) return err.message;
      throw err;
    },
  );
  if (missing) progress.warn(`${member.name}'s peers do not hold the org's own approval of ${network.chaincodeName} sequence ${definition.sequence} (every peer of the org started afresh): they run the chaincode again once the consortium approves the next sequence`);
  const server = chaincodeServers(network).find((s) => !s.org || s.org === member);
  if (server) await startChaincodeServer(network, pkg, progress, server.name, server.address);
  progress.step(`starting ${member.name}'s gateway`);
  await startGateway(network, member);
}

/** Stops one member's processes (by pid): its gateway, chaincode server and peers, or its orderers. */
export async function downMember(network: Network, member: Member, progress: Progress): Promise<void> {
  const names =
    member === 'orderer'
      ? network.orderers.map((o) => o.name)
      : [gatewayName(member), ...chaincodeServers(network).filter((s) => !s.org || s.org === member).map((s) => s.name), ...network.peersOf(member).map((p) => p.name)];
  if (usesFabricCa(network)) names.push(caServer(network, member).name);
  for (const name of names) {
    const pid = await stopDaemon(network.pidFile(name), 30_000);
    if (pid) progress.step(`stopped ${name} (pid ${pid})`);
  }
}
