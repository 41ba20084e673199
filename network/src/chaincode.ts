/**
 * The chaincode as a service: a deterministic ccaas package (so its package id is the same on
 * every machine for the same chaincode), installed on every peer, approved by every org and
 * committed under the channel's MAJORITY endorsement policy; the consortium definition written
 * once by the deploy step. A changed chaincode gets a new version and the next sequence; the
 * ledger stays.
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { eachInParallel, endorserFlags, ordererFlags, peerAsAdmin, retry } from './fabric-cli';
import type { PeerOrganisation } from './consortium';
import type { Network, OrdererNode, PeerNode } from './network';
import type { Progress } from './progress';

const exec = promisify(execFile);

export interface ChaincodePackage {
  readonly label: string;
  readonly version: string;
  readonly file: string;
  readonly packageId: string;
}

export interface CommittedDefinition {
  readonly sequence: number;
  readonly version: string;
}

/** Every file the chaincode is built from, in a stable order. */
function chaincodeSources(network: Network): string[] {
  const dir = path.join(network.root, 'chaincode');
  const walk = (d: string): string[] =>
    readdirSync(d, { withFileTypes: true })
      .sort((a, b) => a.name.localeCompare(b.name))
      .flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : e.name.endsWith('.ts') ? [path.join(d, e.name)] : []));
  return [path.join(dir, 'package.json'), path.join(dir, 'tsconfig.json'), ...walk(path.join(dir, 'src'))];
}

/** The chaincode's version: a digest of its sources (a change to them is a new version). */
export function chaincodeVersion(network: Network): string {
  const h = createHash('sha256');
  for (const file of chaincodeSources(network)) {
    h.update(path.relative(network.root, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return h.digest('hex').slice(0, 12);
}

/** tar + gzip with nothing of this machine or moment in them: same input, same bytes. */
async function deterministicTarGz(cwd: string, out: string, files: string[]): Promise<void> {
  const tarFile = `${out}.tar`;
  await exec('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '--format=gnu', '-cf', tarFile, ...files], { cwd });
  await exec('gzip', ['-n', '-9', '-f', tarFile]);
  rmSync(out, { force: true });
  await exec('mv', [`${tarFile}.gz`, out]);
}

/** Writes the ccaas package: metadata.json and code.tar.gz holding connection.json. */
export async function packageChaincode(network: Network, version = chaincodeVersion(network)): Promise<ChaincodePackage> {
  if (!/^[A-Za-z0-9._+-]{1,64}$/.test(version)) throw new Error(`chaincode version ${JSON.stringify(version)}: use 1 to 64 letters, digits, '.', '_', '+' or '-'`);
  // Every peer dials the one chaincode server.
  return packageChaincodeService(network, { label: `${network.chaincodeName}_${version}`, version, address: network.chaincodeServerAddress });
}

/**
 * One package per organisation, each naming that organisation's own chaincode server (its own
 * address): with per-org hosts no organisation's peers dial another's server. Without, every
 * organisation gets the one shared package.
 */
export async function packagesPerOrganisation(network: Network, version = chaincodeVersion(network)): Promise<Record<string, ChaincodePackage>> {
  if (!network.perOrgHosts) {
    const pkg = await packageChaincode(network, version);
    return Object.fromEntries(network.definition.organisations.map((o) => [o.name, pkg]));
  }
  const out: Record<string, ChaincodePackage> = {};
  for (const org of network.definition.organisations) {
    out[org.name] = await packageChaincodeService(network, { label: `${network.chaincodeName}_${version}_${org.name.toLowerCase()}`, version, address: network.chaincodeServerAddressOf(org) });
  }
  return out;
}

/** What a ccaas package says: its label, the chaincode version it is meant for, and where its server listens. */
export interface ChaincodeServiceSpec {
  /** Letters, digits, '_', '.', '+' or '-'; also the package file's name. */
  readonly label: string;
  readonly version: string;
  /** host:port of the chaincode server the peers dial. */
  readonly address: string;
}

/**
 * Writes a ccaas package for a chaincode server at `spec.address` (deterministic: the same spec
 * gives the same package id). {@link packageChaincode} is this for the network's own server;
 * tests use it for a server of their own.
 */
export async function packageChaincodeService(network: Network, spec: ChaincodeServiceSpec): Promise<ChaincodePackage> {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}$/.test(spec.label)) throw new Error(`chaincode package label ${JSON.stringify(spec.label)}: use letters, digits, '_', '.', '+' or '-', starting with a letter or digit`);
  const dir = path.join(network.chaincodeDir, spec.label);
  const file = path.join(network.chaincodeDir, `${spec.label}.tar.gz`);
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    // No TLS on the loopback link.
    writeFileSync(path.join(dir, 'connection.json'), `${JSON.stringify({ address: spec.address, dial_timeout: '10s', tls_required: false })}\n`);
    writeFileSync(path.join(dir, 'metadata.json'), `${JSON.stringify({ type: 'ccaas', label: spec.label })}\n`);
    await deterministicTarGz(dir, path.join(dir, 'code.tar.gz'), ['connection.json']);
    await deterministicTarGz(dir, file, ['code.tar.gz', 'metadata.json']);
  }
  const packageId = `${spec.label}:${createHash('sha256').update(readFileSync(file)).digest('hex')}`;
  return { label: spec.label, version: spec.version, file, packageId };
}

/** The chaincode's definition as committed on the channel, or undefined before the first commit. */
export async function committedDefinition(network: Network, org: PeerOrganisation = network.definition.organisations[0]): Promise<CommittedDefinition | undefined> {
  try {
    const out = await peerAsAdmin(network, org, ['lifecycle', 'chaincode', 'querycommitted', '-C', network.channel, '-n', network.chaincodeName, '--output', 'json']);
    const def = JSON.parse(out) as { sequence: number; version: string };
    return { sequence: def.sequence, version: def.version };
  } catch (err) {
    if (/namespace .* is not defined|not found/i.test((err as Error).message)) return undefined;
    throw err;
  }
}

/** Installs the package on `peers` (default: every peer) where it is not installed yet. */
export async function installChaincode(network: Network, pkg: ChaincodePackage, progress: Progress, peers: readonly PeerNode[] = network.peers): Promise<void> {
  await eachInParallel(peers, async (peer) => {
    const out = await retry(() => peerAsAdmin(network, peer.org, ['lifecycle', 'chaincode', 'queryinstalled', '--output', 'json'], peer), {
      what: `${peer.name}: query installed chaincode`,
      progress,
    });
    const installed = ((JSON.parse(out || '{}') as { installed_chaincodes?: { package_id: string }[] }).installed_chaincodes ?? []).some((c) => c.package_id === pkg.packageId);
    if (installed) return;
    progress.step(`${peer.name}: installing chaincode ${pkg.label}`);
    await retry(() => peerAsAdmin(network, peer.org, ['lifecycle', 'chaincode', 'install', pkg.file], peer), { what: `${peer.name}: install`, progress });
  });
}

/**
 * Installs, approves and commits the package where that is not done yet; returns the
 * definition in force. Retried with backoff: right after the channel is made there is no Raft
 * leader for a few seconds and the peers have not met yet.
 */
export async function deployChaincode(network: Network, pkg: ChaincodePackage, progress: Progress, perOrg?: Readonly<Record<string, ChaincodePackage>>): Promise<CommittedDefinition> {
  if (perOrg) {
    // Each organisation's peers get only its own package.
    await eachInParallel(network.definition.organisations, (org) => installChaincode(network, perOrg[org.name], progress, network.peersOf(org)));
  } else {
    await installChaincode(network, pkg, progress);
  }

  const committed = await retry(() => committedDefinition(network), { what: 'query the committed chaincode', progress });
  if (committed?.version === pkg.version) return committed;
  const sequence = (committed?.sequence ?? 0) + 1;
  if (committed) progress.step(`chaincode changed (${committed.version} → ${pkg.version}): redeploying as sequence ${sequence}; the ledger stays`);
  const packageIds = Object.fromEntries(network.definition.organisations.map((o) => [o.name, (perOrg?.[o.name] ?? pkg).packageId]));
  return approveAndCommit(network, { version: pkg.version, sequence }, packageIds, progress);
}

/**
 * Each organisation approves the definition with the package `packageIds[org name]` names, then
 * the first commits it with every org's endorsement. Each step asks first whether it is done:
 * a try whose answer was lost may have gone through, and doing it again would be refused.
 */
async function approveAndCommit(network: Network, def: CommittedDefinition, packageIds: Readonly<Record<string, string>>, progress: Progress): Promise<CommittedDefinition> {
  const defArgs = ['-C', network.channel, '-n', network.chaincodeName, '--version', def.version, '--sequence', String(def.sequence)];
  // Each org's approval is its own transaction on its own keys: they go together.
  await eachInParallel(network.definition.organisations, (org) =>
    retry(
      async () => {
        const approved = await peerAsAdmin(network, org, ['lifecycle', 'chaincode', 'queryapproved', '-C', network.channel, '-n', network.chaincodeName, '--sequence', String(def.sequence), '--output', 'json']).catch(() => undefined);
        if (approved !== undefined && approvedPackageId(approved) === packageIds[org.name]) return;
        progress.step(`${org.name} approves ${network.chaincodeName} ${def.version} (sequence ${def.sequence}) with package ${packageIds[org.name]}`);
        await peerAsAdmin(network, org, ['lifecycle', 'chaincode', 'approveformyorg', ...defArgs, '--package-id', packageIds[org.name], ...ordererFlags(network)], undefined, 60_000);
      },
      { what: `${org.name}: approve`, progress },
    ),
  );
  progress.step(`committing ${network.chaincodeName} ${def.version} (sequence ${def.sequence}) with every org's endorsement`);
  const first = network.definition.organisations[0];
  await retry(
    async () => {
      if ((await committedDefinition(network))?.sequence === def.sequence) return;
      await peerAsAdmin(network, first, ['lifecycle', 'chaincode', 'commit', ...defArgs, ...ordererFlags(network), ...endorserFlags(network)], undefined, 60_000);
    },
    { what: 'commit the chaincode definition', progress },
  );
  return def;
}

/**
 * One organisation approves the definition in force (same sequence, version and policy) with its
 * own package, unless it already has: how a member that joins later, or whose peers lost their
 * disks (and with them the org's own record of its approval), gets its peers to run the chaincode.
 * Fabric allows approving the committed sequence again with another package id.
 */
export async function approveCommittedForOrg(network: Network, org: PeerOrganisation, def: CommittedDefinition, packageId: string, progress: Progress): Promise<void> {
  const defArgs = ['-C', network.channel, '-n', network.chaincodeName, '--version', def.version, '--sequence', String(def.sequence)];
  await retry(
    async () => {
      const approved = await peerAsAdmin(network, org, ['lifecycle', 'chaincode', 'queryapproved', '-C', network.channel, '-n', network.chaincodeName, '--sequence', String(def.sequence), '--output', 'json']).catch(() => undefined);
      if (approved !== undefined && approvedPackageId(approved) === packageId) return;
      progress.step(`${org.name} approves ${network.chaincodeName} ${def.version} (sequence ${def.sequence}, in force) with package ${packageId}`);
      await peerAsAdmin(network, org, ['lifecycle', 'chaincode', 'approveformyorg', ...defArgs, '--package-id', packageId, ...ordererFlags(network)], undefined, 60_000).catch((err: Error) => {
        // Not a "not yet": the org's own approval record is gone from its peers; no retry helps.
        if (/private data matching public hash version is not available/.test(err.message)) return Promise.reject(Object.assign(err, { final: true }));
        throw err;
      });
    },
    { what: `${org.name}: approve the definition in force`, progress, withinMs: 180_000, final: (err) => (err as { final?: boolean }).final === true },
  );
}

/** Where a `peer chaincode query` or `invoke` goes, beyond the org whose admin sends it. */
export interface PeerCallOptions {
  /** The peer that answers a query, of any organisation (default: the org's own first peer). */
  readonly peer?: PeerNode;
  /** The organisations whose first peers endorse an invoke (default: every organisation). */
  readonly endorsers?: readonly PeerOrganisation[];
  /** The orderer an invoke is sent to (default: the first). */
  readonly orderer?: OrdererNode;
  /** How long an invoke waits for its commit event (the `peer` CLI's default is 30 s). */
  readonly waitForEventTimeout?: string;
}

/** `peer chaincode query` as an org's admin: the chaincode's answer as text. */
export function queryChaincode(network: Network, orgName: string, fn: string, args: readonly string[] = [], options: PeerCallOptions = {}): Promise<string> {
  const org = network.organisation(orgName);
  // Another org's peer is named with its own TLS root: the admin's environment trusts only its own org's.
  const target = options.peer ? ['--peerAddresses', options.peer.address, '--tlsRootCertFiles', network.tlsCaOf(options.peer.org)] : [];
  return peerAsAdmin(network, org, ['chaincode', 'query', '-C', network.channel, '-n', network.chaincodeName, '-c', JSON.stringify({ function: fn, Args: args }), ...target]);
}

/**
 * `peer chaincode invoke --waitForEvent` as an org's admin, endorsed by every org's first peer
 * (or those of `options.endorsers`): resolves once the transaction committed valid. A refusal
 * at endorsement, or a transaction the peers invalidate, rejects with the tool's own words
 * (`endorsement failure during invoke … message:"CODE: …"`, `transaction invalidated with
 * status (ENDORSEMENT_POLICY_FAILURE)`).
 */
export function invokeChaincode(network: Network, orgName: string, fn: string, args: readonly string[] = [], options: PeerCallOptions = {}): Promise<string> {
  const org = network.organisation(orgName);
  return peerAsAdmin(
    network,
    org,
    [
      'chaincode',
      'invoke',
      '-C',
      network.channel,
      '-n',
      network.chaincodeName,
      '-c',
      JSON.stringify({ function: fn, Args: args }),
      ...ordererFlags(network, options.orderer),
      ...endorserFlags(network, options.endorsers),
      '--waitForEvent',
      ...(options.waitForEventTimeout ? ['--waitForEventTimeout', options.waitForEventTimeout] : []),
    ],
    undefined,
    60_000,
  );
}

/** The package id in `peer lifecycle chaincode queryapproved --output json`'s answer, if it names one. */
function approvedPackageId(queryApprovedJson: string): string | undefined {
  const approved = JSON.parse(queryApprovedJson) as { source?: { Type?: { LocalPackage?: { package_id?: string } } } };
  return approved.source?.Type?.LocalPackage?.package_id;
}

/** The package id each organisation approved for the chaincode's latest approved definition, by organisation name. */
export async function approvedPackageIds(network: Network): Promise<Record<string, string>> {
  const ids: Record<string, string> = {};
  for (const org of network.definition.organisations) {
    const id = approvedPackageId(await peerAsAdmin(network, org, ['lifecycle', 'chaincode', 'queryapproved', '-C', network.channel, '-n', network.chaincodeName, '--output', 'json']));
    if (!id) throw new Error(`${org.name} approved ${network.chaincodeName} without a package: its peers run no chaincode for it.`);
    ids[org.name] = id;
  }
  return ids;
}

/**
 * Commits the definition in force again as the next sequence (same version, same policy), each
 * organisation approving the package `packageIds[org name]` names. Fabric agrees on the
 * definition, not on the code: each organisation chooses the package its own peers run, so
 * this is how one org's peers come to run other code than the rest (tests of a dishonest org)
 * and how they are brought back. The packages must be installed on the orgs' peers.
 */
export async function redefineChaincode(network: Network, packageIds: Readonly<Record<string, string>>, progress: Progress): Promise<CommittedDefinition> {
  const committed = await retry(() => committedDefinition(network), { what: 'query the committed chaincode', progress });
  if (!committed) throw new Error(`${network.chaincodeName} is not committed on ${network.channel} yet: deploy it before redefining it.`);
  const missing = network.definition.organisations.filter((o) => !packageIds[o.name]).map((o) => o.name);
  if (missing.length > 0) throw new Error(`no package id for ${missing.join(', ')}: every organisation approves its own package.`);
  return approveAndCommit(network, { version: committed.version, sequence: committed.sequence + 1 }, packageIds, progress);
}

/**
 * Writes the first consortium definition on the ledger (the deploy step's job, as the first org's
 * admin: the chaincode takes it from an admin only, never from a gateway). Once one is there it
 * is changed only by a majority of the members' admins (`Identity:approveConsortiumChange`), so
 * here a ledger that disagrees with consortium.json is only reported.
 */
export async function initConsortium(network: Network, progress: Progress): Promise<void> {
  const first = network.definition.organisations[0].name;
  const definition = { organisations: network.definition.organisations.map((o) => ({ mspId: o.mspId, type: o.type })) };
  // Read before each try: a try whose answer was lost may still have committed.
  await retry(
    async () => {
      const current = await queryChaincode(network, first, 'Identity:readConsortium').catch((err: Error) => {
        // Before the definition is written the chaincode refuses every call but initConsortium.
        if (/CONSORTIUM_NOT_CONFIGURED/.test(err.message)) return 'null';
        throw err;
      });
      if (current.trim() !== 'null') {
        const onLedger = JSON.parse(current) as { organisations: { mspId: string; type: string }[]; revision?: number };
        const key = (orgs: { mspId: string; type: string }[]) => orgs.map((o) => `${o.mspId}=${o.type}`).sort().join(', ');
        if (key(onLedger.organisations) !== key(definition.organisations)) {
          progress.warn(
            `the ledger's consortium definition (revision ${onLedger.revision ?? 1}: ${key(onLedger.organisations)}) differs from network/consortium.json (${key(definition.organisations)}); it changes once a majority of the members' admins approve the new one (Identity:approveConsortiumChange)`,
          );
        }
        return;
      }
      progress.step('writing the consortium definition on the ledger (Identity:initConsortium)');
      await invokeChaincode(network, first, 'Identity:initConsortium', [JSON.stringify(definition)]);
    },
    { what: 'Identity:initConsortium', progress },
  );
}

/** Readiness: a transaction endorsed by every org, ordered and committed valid. */
export async function probeWrite(network: Network, progress: Progress, withinMs = 90_000): Promise<void> {
  const first = network.definition.organisations[0].name;
  await retry(() => invokeChaincode(network, first, 'Identity:whoAmI'), { what: 'a committed probe transaction', progress, withinMs });
}
