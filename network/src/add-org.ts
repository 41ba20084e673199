/**
 * Adding a member to a RUNNING consortium (a second hospital, say), as a real consortium does it:
 *
 * 1. the new organisation makes its own crypto (cryptogen here, for that organisation only);
 * 2. its MSP definition (configtxgen -printOrg) goes into the channel configuration: the current
 *    config block is fetched, decoded (configtxlator), the org (with its anchor peer) added to the
 *    Application group, the update computed (configtxlator compute_update), wrapped in an envelope
 *    and signed by a majority of the current members' admins, each with its own admin identity
 *    (the channel's Admins policy is MAJORITY Admins), the last one submitting it;
 * 3. its peers start on its own address and join from block 0 (the orderers serve it: the org is
 *    in the channel's Readers now); its chaincode package is installed and it approves the
 *    definition in force (same sequence: Fabric lets a new org approve the committed sequence);
 *    its chaincode server starts;
 * 4. the consortium definition held by the chaincode is changed under the same majority
 *    (Identity:approveConsortiumChange by a majority of the current members' admins, and by the
 *    joining org's admin);
 * 5. its gateway starts and commits its probe write.
 *
 *   npx tsx network/src/cli.ts add-org ORG.json   (ORG.json: one organisation entry of the consortium file)
 *
 * Removing a member is the same path backwards: a consortium change without it (majority), then a
 * channel config update deleting its group from Application (majority of admins), then its processes stop.
 *
 * @module
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import { approveCommittedForOrg, committedDefinition, installChaincode, invokeChaincode, packagesPerOrganisation, queryChaincode } from './chaincode';
import { peerChannels } from './channel';
import { parseConsortiumDefinition, type PeerOrganisation } from './consortium';
import { adminEnv, eachInParallel, ordererFlags, peerAsAdmin, retry, runTool } from './fabric-cli';
import { startGateway } from './gateways';
import { usesFabricCa } from './ca';
import { configtx, cryptoConfig } from './generate';
import { enrolOrganisation, orgWorkspace } from './identities';
import { Network } from './network';
import { startNode } from './nodes';
import type { Progress } from './progress';
import { chaincodeServers, startChaincodeServer } from './system';

/** The network with `org` added to its definition (checked as a whole, as a consortium file is). */
export function withOrganisation(network: Network, org: unknown): Network {
  const definition = parseConsortiumDefinition({ ...network.definition, organisations: [...network.definition.organisations, org] }, 'the consortium with the new organisation');
  // A network derived without a Fabric install (to compute paths and ports) stays without one.
  let fabricHome: string | undefined;
  try {
    fabricHome = network.fabricHome;
  } catch {
    fabricHome = undefined;
  }
  return new Network(definition, { root: network.root, stateDir: network.stateDir, basePort: network.basePort, fabricHome, host: network.host });
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** What {@link addOrganisation} did, for the report. */
export interface AddOrgReport {
  readonly org: string;
  readonly signedBy: readonly string[];
  readonly consortiumApprovedBy: readonly string[];
  readonly network: Network;
}

/**
 * Adds `orgEntry` (an organisation entry of the consortium file) to the running consortium of
 * `network`; returns the grown network (its definition has the new org; `down` on it stops all).
 */
export async function addOrganisation(network: Network, orgEntry: unknown, progress: Progress): Promise<AddOrgReport> {
  const grown = withOrganisation(network, orgEntry);
  const org = grown.definition.organisations[grown.definition.organisations.length - 1];
  const members = network.definition.organisations;
  const majority = Math.floor(members.length / 2) + 1;
  const signers = members.slice(0, majority);
  const work = path.join(network.networkDir, 'add-org', org.name.toLowerCase());
  mkdirSync(work, { recursive: true });

  // 1. Its own crypto, nothing else touched.
  if (usesFabricCa(grown)) {
    // Its own CA, its own identities, its public MSP out (network/src/identities.ts).
    await enrolOrganisation(grown, orgWorkspace(grown, org), progress);
  } else {
    progress.step(`${org.name}: its identities (cryptogen, this organisation only)`);
    const all = cryptoConfig(grown) as { PeerOrgs: { Name: string }[] };
    const cryptoInput = path.join(work, 'crypto-config.yaml');
    writeFileSync(cryptoInput, YAML.stringify({ PeerOrgs: all.PeerOrgs.filter((o) => o.Name === org.name) }));
    await runTool(grown, 'cryptogen', ['extend', `--config=${cryptoInput}`, `--input=${grown.cryptoDir}`]);
  }

  // 2. The channel configuration update.
  const signedBy = await updateChannelConfig(grown, org, signers, work, progress);

  // 3. Its peers, chaincode and chaincode server.
  const peers = grown.peersOf(org);
  progress.step(`${org.name}: starting ${peers.length} peer(s) at ${grown.hostOf(org)}`);
  await eachInParallel(peers, (p) => startNode(grown, p));
  const block0 = path.join(work, 'block0.block');
  await retry(() => peerAsAdmin(grown, org, ['channel', 'fetch', '0', block0, '-c', grown.channel, ...ordererFlags(grown)]), { what: `${org.name}: fetch block 0`, progress });
  await eachInParallel(peers, async (peer) => {
    if ((await peerChannels(grown, peer).catch(() => [] as string[])).includes(grown.channel)) return;
    progress.step(`${peer.name} joins channel ${grown.channel} from block 0`);
    await retry(() => peerAsAdmin(grown, org, ['channel', 'join', '-b', block0], peer), { what: `${peer.name}: join`, progress, withinMs: 60_000 });
  });
  const definition = await retry(
    async () => {
      const d = await committedDefinition(grown, org);
      if (!d) throw new Error(`${grown.chaincodeName} is not committed yet as ${org.name}'s peer sees it`);
      return d;
    },
    { what: `${org.name}: the committed chaincode definition`, progress, withinMs: 180_000 },
  );
  const pkg = (await packagesPerOrganisation(grown, definition.version))[org.name];
  await installChaincode(grown, pkg, progress, peers);
  await approveCommittedForOrg(grown, org, definition, pkg.packageId, progress);
  for (const server of chaincodeServers(grown).filter((s) => s.org === org)) await startChaincodeServer(grown, pkg, progress, server.name, server.address);

  // 4. The consortium definition on the ledger, under the same majority and with the new org's consent.
  const consortiumApprovedBy = await changeConsortium(network, grown, org, signers, progress);

  // 5. Its gateway.
  progress.step(`${org.name}: starting its gateway`);
  await startGateway(grown, org);
  return { org: org.name, signedBy, consortiumApprovedBy, network: grown };
}

async function updateChannelConfig(grown: Network, org: PeerOrganisation, signers: readonly PeerOrganisation[], work: string, progress: Progress): Promise<string[]> {
  const lator = (args: string[]) => runTool(grown, 'configtxlator', args);
  const f = (name: string) => path.join(work, name);
  // Its MSP definition as configtxgen prints it, from a configtx.yaml that has it.
  const cfgDir = path.join(work, 'configtx');
  mkdirSync(cfgDir, { recursive: true });
  writeFileSync(path.join(cfgDir, 'configtx.yaml'), YAML.stringify(configtx(grown)));
  const orgJson = JSON.parse(await runTool(grown, 'configtxgen', ['-printOrg', org.mspId], { FABRIC_CFG_PATH: cfgDir })) as Json;
  const anchor = grown.peersOf(org)[0];
  orgJson.values ??= {};
  orgJson.values.AnchorPeers ??= { mod_policy: 'Admins', value: { anchor_peers: [{ host: anchor.host, port: anchor.port }] }, version: '0' };

  const first = signers[0];
  progress.step(`fetching the channel's current configuration (as ${first.name}'s admin)`);
  await retry(() => peerAsAdmin(grown, first, ['channel', 'fetch', 'config', f('config_block.pb'), '-c', grown.channel, ...ordererFlags(grown)]), { what: 'fetch the config block', progress });
  await lator(['proto_decode', '--input', f('config_block.pb'), '--type', 'common.Block', '--output', f('config_block.json')]);
  const config = (JSON.parse(readFileSync(f('config_block.json'), 'utf8')) as Json).data.data[0].payload.data.config as Json;
  const application = config.channel_group.groups.Application.groups as Json;
  if (application[org.mspId]) throw new Error(`${org.mspId} is in the channel configuration already`);
  const modified = structuredClone(config);
  modified.channel_group.groups.Application.groups[org.mspId] = orgJson;
  writeFileSync(f('config.json'), JSON.stringify(config));
  writeFileSync(f('modified_config.json'), JSON.stringify(modified));
  await lator(['proto_encode', '--input', f('config.json'), '--type', 'common.Config', '--output', f('config.pb')]);
  await lator(['proto_encode', '--input', f('modified_config.json'), '--type', 'common.Config', '--output', f('modified_config.pb')]);
  await lator(['compute_update', '--channel_id', grown.channel, '--original', f('config.pb'), '--updated', f('modified_config.pb'), '--output', f('update.pb')]);
  await lator(['proto_decode', '--input', f('update.pb'), '--type', 'common.ConfigUpdate', '--output', f('update.json')]);
  const update = JSON.parse(readFileSync(f('update.json'), 'utf8')) as Json;
  const envelope = { payload: { header: { channel_header: { channel_id: grown.channel, type: 2 } }, data: { config_update: update } } };
  writeFileSync(f('update_envelope.json'), JSON.stringify(envelope));
  await lator(['proto_encode', '--input', f('update_envelope.json'), '--type', 'common.Envelope', '--output', f('update_envelope.pb')]);

  // A majority of the current members' admins sign, each as itself; the last one submits (its signature is added then).
  const signed: string[] = [];
  for (const signer of signers.slice(0, -1)) {
    progress.step(`${signer.name}'s admin signs the configuration update`);
    await runTool(grown, 'peer', ['channel', 'signconfigtx', '-f', f('update_envelope.pb')], adminEnv(grown, signer));
    signed.push(signer.mspId);
  }
  const last = signers[signers.length - 1];
  progress.step(`${last.name}'s admin signs and submits the configuration update (${signers.length} of the ${grown.definition.organisations.length - 1} members' admins: a majority)`);
  await retry(() => runTool(grown, 'peer', ['channel', 'update', '-f', f('update_envelope.pb'), '-c', grown.channel, ...ordererFlags(grown)], adminEnv(grown, last)), {
    what: 'submit the channel configuration update',
    progress,
    final: (err) => /already exists|version|signature set did not satisfy/i.test((err as Error).message),
  });
  signed.push(last.mspId);
  return signed;
}

async function changeConsortium(network: Network, grown: Network, org: PeerOrganisation, signers: readonly PeerOrganisation[], progress: Progress): Promise<string[]> {
  const current = JSON.parse(await queryChaincode(network, signers[0].name, 'Identity:readConsortium')) as { organisations: { mspId: string; type: string }[]; breakGlass?: unknown };
  const next = { organisations: [...current.organisations, { mspId: org.mspId, type: org.type }], ...(current.breakGlass !== undefined ? { breakGlass: current.breakGlass } : {}) };
  // The current members' peers endorse (a majority of the grown channel's orgs), named as the grown network knows them.
  const endorsers = network.definition.organisations.map((o) => grown.organisation(o.name));
  const approvedBy: string[] = [];
  for (const approver of [...signers, org]) {
    progress.step(`${approver.name}'s admin approves the consortium change (Identity:approveConsortiumChange)`);
    await retry(() => invokeChaincode(grown, approver.name, 'Identity:approveConsortiumChange', [JSON.stringify(next)], { endorsers }), {
      what: `${approver.name}: approve the consortium change`,
      progress,
      withinMs: 180_000,
    });
    approvedBy.push(approver.mspId);
  }
  return approvedBy;
}
