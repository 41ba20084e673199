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
import { endorserFlags, ordererFlags, peerAsAdmin, retry } from './fabric-cli';
import type { Network } from './network';
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
  const label = `${network.chaincodeName}_${version}`;
  const dir = path.join(network.chaincodeDir, label);
  const file = path.join(network.chaincodeDir, `${label}.tar.gz`);
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    // Every peer dials the one chaincode server; no TLS on the loopback link.
    writeFileSync(path.join(dir, 'connection.json'), `${JSON.stringify({ address: network.chaincodeServerAddress, dial_timeout: '10s', tls_required: false })}\n`);
    writeFileSync(path.join(dir, 'metadata.json'), `${JSON.stringify({ type: 'ccaas', label })}\n`);
    await deterministicTarGz(dir, path.join(dir, 'code.tar.gz'), ['connection.json']);
    await deterministicTarGz(dir, file, ['code.tar.gz', 'metadata.json']);
  }
  const packageId = `${label}:${createHash('sha256').update(readFileSync(file)).digest('hex')}`;
  return { label, version, file, packageId };
}

/** The chaincode's definition as committed on the channel, or undefined before the first commit. */
export async function committedDefinition(network: Network): Promise<CommittedDefinition | undefined> {
  const org = network.definition.organisations[0];
  try {
    const out = await peerAsAdmin(network, org, ['lifecycle', 'chaincode', 'querycommitted', '-C', network.channel, '-n', network.chaincodeName, '--output', 'json']);
    const def = JSON.parse(out) as { sequence: number; version: string };
    return { sequence: def.sequence, version: def.version };
  } catch (err) {
    if (/namespace .* is not defined|not found/i.test((err as Error).message)) return undefined;
    throw err;
  }
}

/**
 * Installs, approves and commits the package where that is not done yet; returns the
 * definition in force. Retried with backoff: right after the channel is made there is no Raft
 * leader for a few seconds and the peers have not met yet.
 */
export async function deployChaincode(network: Network, pkg: ChaincodePackage, progress: Progress): Promise<CommittedDefinition> {
  for (const peer of network.peers) {
    const out = await retry(() => peerAsAdmin(network, peer.org, ['lifecycle', 'chaincode', 'queryinstalled', '--output', 'json'], peer), {
      what: `${peer.name}: query installed chaincode`,
      progress,
    });
    const installed = ((JSON.parse(out || '{}') as { installed_chaincodes?: { package_id: string }[] }).installed_chaincodes ?? []).some((c) => c.package_id === pkg.packageId);
    if (installed) continue;
    progress.step(`${peer.name}: installing chaincode ${pkg.label}`);
    await retry(() => peerAsAdmin(network, peer.org, ['lifecycle', 'chaincode', 'install', pkg.file], peer), { what: `${peer.name}: install`, progress });
  }

  const committed = await retry(() => committedDefinition(network), { what: 'query the committed chaincode', progress });
  if (committed?.version === pkg.version) return committed;
  const sequence = (committed?.sequence ?? 0) + 1;
  const defArgs = ['-C', network.channel, '-n', network.chaincodeName, '--version', pkg.version, '--sequence', String(sequence)];
  if (committed) progress.step(`chaincode changed (${committed.version} → ${pkg.version}): redeploying as sequence ${sequence}; the ledger stays`);

  for (const org of network.definition.organisations) {
    const readiness = await retry(
      () => peerAsAdmin(network, org, ['lifecycle', 'chaincode', 'checkcommitreadiness', ...defArgs, '--output', 'json']),
      { what: `${org.name}: check commit readiness`, progress },
    );
    if ((JSON.parse(readiness) as { approvals: Record<string, boolean> }).approvals[org.mspId]) continue;
    progress.step(`${org.name} approves ${network.chaincodeName} ${pkg.version} (sequence ${sequence})`);
    await retry(
      () => peerAsAdmin(network, org, ['lifecycle', 'chaincode', 'approveformyorg', ...defArgs, '--package-id', pkg.packageId, ...ordererFlags(network)], undefined, 60_000),
      { what: `${org.name}: approve`, progress },
    );
  }
  progress.step(`committing ${network.chaincodeName} ${pkg.version} (sequence ${sequence}) with every org's endorsement`);
  const first = network.definition.organisations[0];
  await retry(
    () => peerAsAdmin(network, first, ['lifecycle', 'chaincode', 'commit', ...defArgs, ...ordererFlags(network), ...endorserFlags(network)], undefined, 60_000),
    { what: 'commit the chaincode definition', progress },
  );
  return { sequence, version: pkg.version };
}

/** `peer chaincode query` as an org's admin: the chaincode's answer as text. */
export function queryChaincode(network: Network, orgName: string, fn: string, args: readonly string[] = []): Promise<string> {
  const org = network.organisation(orgName);
  return peerAsAdmin(network, org, ['chaincode', 'query', '-C', network.channel, '-n', network.chaincodeName, '-c', JSON.stringify({ function: fn, Args: args })]);
}

/**
 * `peer chaincode invoke --waitForEvent` as an org's admin, endorsed by every org's first peer:
 * resolves once the transaction committed valid.
 */
export function invokeChaincode(network: Network, orgName: string, fn: string, args: readonly string[] = []): Promise<string> {
  const org = network.organisation(orgName);
  return peerAsAdmin(
    network,
    org,
    ['chaincode', 'invoke', '-C', network.channel, '-n', network.chaincodeName, '-c', JSON.stringify({ function: fn, Args: args }), ...ordererFlags(network), ...endorserFlags(network), '--waitForEvent'],
    undefined,
    60_000,
  );
}

/** Writes the consortium definition on the ledger once (the deploy step's job, never a gateway's). */
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
      if (current.trim() !== 'null') return;
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
