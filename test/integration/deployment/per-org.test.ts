/**
 * Every organisation at its own address, and what a member copies to its own server.
 *
 * One network of its own (test/integration/deployment/consortium-hosts.json: Hospital 127.0.1.1,
 * Insurer 127.0.2.1, Sponsor 127.0.3.1, the orderers 127.0.4.1):
 *
 * - each org's processes (peers, its own chaincode server, its gateway; the orderers) listen only on
 *   that org's address (`ss -ltnp`, by the pids the network layer recorded), nothing of the
 *   consortium on 127.0.0.1; TLS certificates name the org's address and not 127.0.0.1/localhost;
 * - the flows work across addresses: anchored at the Hospital (127.0.1.1), verified at the Insurer (127.0.2.1);
 * - the Hospital's deployment bundle (`cli.ts bundle Hospital DIR`) holds its own private keys and
 *   none of anyone else's (compared by content with every key the network generated), the others'
 *   public MSPs, the genesis block, its chaincode package; its `start.sh`, with the Hospital's
 *   processes of the running network stopped, brings them up again from the bundle alone (a fresh
 *   peer joining from the genesis block and catching up, its chaincode server, its gateway
 *   committing its probe), and once the consortium has approved the next chaincode sequence the
 *   Hospital anchors through it and the Insurer verifies; `stop.sh` stops them.
 *
 * @module
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { downMember, isPrivateKeyFile } from '../../../network/src/bundle';
import { approvedPackageIds, packagesPerOrganisation, redefineChaincode, committedDefinition } from '../../../network/src/chaincode';
import { readConsortiumFile } from '../../../network/src/consortium';
import { gatewayName, readApiKeys } from '../../../network/src/gateways';
import { Network } from '../../../network/src/network';
import { runningPid } from '../../../network/src/processes';
import { consoleProgress, type Progress } from '../../../network/src/progress';
import { chaincodeServers, down, installFabric, ROOT, up, type UpOptions } from '../../../network/src/system';
import { verifyUntil } from '../network/flows';
import { freeNetwork } from '../network/test-network';
import { write } from '../network/support/gateway-http';
import { listeningByPid } from './support';

const exec = promisify(execFile);
const UP: UpOptions = { evm: false, gateways: true };
const DISCHARGE = 'loinc:18842-5';

/** Every file under `dir`, relative. */
function files(dir: string, rel = ''): string[] {
  return readdirSync(path.join(dir, rel)).flatMap((e) => (statSync(path.join(dir, rel, e)).isDirectory() ? files(dir, path.join(rel, e)) : [path.join(rel, e)]));
}


function anchorBody(tag: string): { recordId: string; docHash: string; patientId: string; category: string; commitment: string } {
  return { recordId: `per-org-${tag}-${randomBytes(4).toString('hex')}`, docHash: randomBytes(32).toString('hex'), patientId: `MRN-PO-${tag}`, category: DISCHARGE, commitment: 'plain' };
}

describe('deployment: every organisation at its own address; a member’s bundle', function () {
  this.timeout(900_000);
  let network: Network;
  let stateDir: string;
  let progress: Progress;
  let bundleDir: string;
  const fabricHome = installFabric(consoleProgress('per-org', createWriteStream('/dev/null')));

  before(async () => {
    stateDir = mkdtempSync(path.join(os.tmpdir(), 'medprov-per-org-'));
    bundleDir = path.join(stateDir, 'bundle-hospital');
    const definition = readConsortiumFile(path.join(ROOT, 'test', 'integration', 'deployment', 'consortium-hosts.json'));
    network = await freeNetwork((base) => new Network(definition, { root: ROOT, stateDir: path.join(stateDir, 'consortium'), basePort: base, fabricHome }), UP, 7);
    progress = consoleProgress('per-org', createWriteStream(path.join(stateDir, 'up.log')));
    await up(network, progress, UP);
  });

  after(async () => {
    if (bundleDir && existsSync(path.join(bundleDir, 'stop.sh'))) await exec(path.join(bundleDir, 'stop.sh'), [], { env: { ...process.env, MEDPROV_FABRIC_HOME: fabricHome } }).catch(() => undefined);
    if (network) await down(network, progress);
    if (stateDir && !process.env.MEDPROV_TEST_KEEP_STATE) rmSync(stateDir, { recursive: true, force: true });
  });

  it('each org’s processes listen only on that org’s address; nothing of the consortium on 127.0.0.1', async () => {
    const sockets = await listeningByPid();
    const expected: { name: string; pidFile: string; host: string }[] = [
      ...network.orderers.map((o) => ({ name: o.name, pidFile: network.pidFile(o.name), host: '127.0.4.1' })),
      ...network.peers.map((p) => ({ name: p.name, pidFile: network.pidFile(p.name), host: network.hostOf(p.org) })),
      ...chaincodeServers(network).map((c) => ({ name: `${c.name} server`, pidFile: `${network.pidFile(c.name)}.child`, host: c.address.split(':')[0] })),
      ...network.definition.organisations.map((o) => ({ name: gatewayName(o), pidFile: network.pidFile(gatewayName(o)), host: network.hostOf(o) })),
    ];
    expect(new Set(network.peers.map((p) => p.host))).to.deep.equal(new Set(['127.0.1.1', '127.0.2.1', '127.0.3.1']));
    for (const e of expected) {
      const pid = runningPid(e.pidFile);
      expect(pid, `${e.name} runs`).to.be.a('number');
      const addresses = sockets.get(pid as number) ?? [];
      expect(addresses, `${e.name} (pid ${pid}) listens`).to.not.be.empty;
      for (const a of addresses) expect(a.slice(0, a.lastIndexOf(':')), `${e.name} listens on ${a}`).to.equal(e.host);
    }
  });

  it('TLS certificates name the org’s own address (from the configuration), not 127.0.0.1 or localhost', async () => {
    for (const node of [...network.peers, ...network.orderers]) {
      const { stdout } = await exec('openssl', ['x509', '-noout', '-ext', 'subjectAltName', '-in', path.join(node.tlsDir, 'server.crt')]);
      expect(stdout, node.name).to.include(`IP Address:${node.host}`);
      expect(stdout, node.name).to.not.include('127.0.0.1');
      expect(stdout, node.name).to.not.include('localhost');
    }
  });

  it('the flows work across addresses: anchored at the Hospital (127.0.1.1), verified at the Insurer (127.0.2.1)', async () => {
    const keys = readApiKeys(network);
    if (!keys) throw new Error('no API keys');
    expect(new URL(keys.orgs.Hospital.url).hostname).to.equal('127.0.1.1');
    expect(new URL(keys.orgs.Insurer.url).hostname).to.equal('127.0.2.1');
    const body = anchorBody('hosts');
    const anchored = await write({ url: keys.orgs.Hospital.url, key: keys.orgs.Hospital.keys['records-officer'] }, 'POST', '/v1/records', body);
    expect(anchored.status, anchored.text).to.equal(201);
    await verifyUntil({ url: keys.orgs.Insurer.url, key: keys.orgs.Insurer.keys['claims-officer'] }, { docHash: body.docHash }, 'ORIGINAL');
  });

  it('the Hospital’s bundle holds its own private keys and no other org’s, the others’ public MSPs, the genesis block and its chaincode package', async () => {
    const env = { ...process.env, MEDPROV_CONSORTIUM: path.join(ROOT, 'test', 'integration', 'deployment', 'consortium-hosts.json'), MEDPROV_STATE_DIR: network.stateDir, MEDPROV_BASE_PORT: String(network.basePort), MEDPROV_FABRIC_HOME: fabricHome };
    const { stdout } = await exec(process.execPath, ['--require', 'tsx/cjs', path.join(ROOT, 'network', 'src', 'cli.ts'), 'bundle', 'Hospital', bundleDir], { cwd: ROOT, env });
    expect(stdout).to.include('127.0.1.1:');
    // Every private key the network generated, by content, with the org it belongs to.
    const keyOwner = new Map<string, string>();
    for (const f of files(network.cryptoDir).filter(isPrivateKeyFile)) keyOwner.set(readFileSync(path.join(network.cryptoDir, f), 'utf8').trim(), f.split(path.sep)[1]);
    expect(keyOwner.size).to.be.greaterThan(10);
    const inBundle = files(bundleDir);
    let own = 0;
    for (const f of inBundle) {
      const owner = keyOwner.get(readFileSync(path.join(bundleDir, f), 'utf8').trim());
      if (owner !== undefined) {
        expect(owner, `${f} is ${owner}'s private key`).to.equal('hospital.medprov.local');
        own++;
      }
      if (isPrivateKeyFile(f)) expect(f, 'a key file outside the Hospital’s own folder').to.include(`peerOrganizations${path.sep}hospital.medprov.local${path.sep}`);
    }
    expect(own, 'the Hospital’s own keys (peer, admin, users, TLS) are there').to.be.greaterThan(3);
    // Not its CAs' signing keys either.
    expect(inBundle.filter((f) => /(^|\/)(ca|tlsca)\/priv_sk$/.test(f))).to.deep.equal([]);
    for (const org of ['insurer', 'sponsor']) {
      expect(inBundle).to.include(path.join('state', 'network', 'crypto', 'peerOrganizations', `${org}.medprov.local`, 'msp', 'cacerts', `ca.${org}.medprov.local-cert.pem`));
      expect(inBundle).to.include(path.join('state', 'network', 'crypto', 'peerOrganizations', `${org}.medprov.local`, 'tlsca', `tlsca.${org}.medprov.local-cert.pem`));
    }
    expect(inBundle).to.include(path.join('state', 'network', 'channel', 'medprov.block'));
    expect(inBundle.some((f) => /chaincode\/medprov_.*_hospital\.tar\.gz$/.test(f))).to.equal(true);
    expect(inBundle).to.include.members(['start.sh', 'stop.sh', 'README.txt', 'consortium.json']);
  });

  it('the bundle’s start.sh brings the Hospital’s processes up from the bundle alone; with the next sequence approved it anchors and the Insurer verifies; stop.sh stops them', async () => {
    const hospital = network.organisation('Hospital');
    // The Hospital's processes of the running network stop: the bundle replaces them on the same address.
    const names = [gatewayName(hospital), 'chaincode-hospital', ...network.peersOf(hospital).map((p) => p.name)];
    await downMember(network, hospital, progress);
    for (const n of names) expect(runningPid(network.pidFile(n)), n).to.equal(undefined);

    const bundleState = path.join(bundleDir, 'state');
    await exec(path.join(bundleDir, 'start.sh'), [], { env: { ...process.env, MEDPROV_FABRIC_HOME: fabricHome }, timeout: 600_000 });
    const fromBundle = new Network(readConsortiumFile(path.join(bundleDir, 'consortium.json')), { root: ROOT, stateDir: bundleState, basePort: network.basePort, fabricHome });
    for (const n of names) expect(runningPid(fromBundle.pidFile(n)), `${n} runs from the bundle`).to.be.a('number');
    const sockets = await listeningByPid();
    for (const a of sockets.get(runningPid(fromBundle.pidFile('peer0-hospital')) as number) ?? []) expect(a.startsWith('127.0.1.1:'), a).to.equal(true);

    // Its peers started afresh: the consortium approves the next sequence (each member its own package), as after any such loss.
    const packages = await packagesPerOrganisation(network, (await committedDefinition(network, network.organisation('Insurer')))?.version);
    const ids = { ...(await approvedPackageIds(network).catch(() => ({}) as Record<string, string>)), ...Object.fromEntries(Object.entries(packages).map(([k, v]) => [k, v.packageId])) };
    await redefineChaincode(network, ids, progress);

    const keys = readApiKeys(fromBundle);
    const networkKeys = readApiKeys(network);
    if (!keys || !networkKeys) throw new Error('no API keys');
    expect(keys.orgs.Hospital.url).to.match(/^http:\/\/127\.0\.1\.1:/);
    const body = anchorBody('bundle');
    const anchored = await write({ url: keys.orgs.Hospital.url, key: keys.orgs.Hospital.keys['records-officer'] }, 'POST', '/v1/records', body);
    expect(anchored.status, anchored.text).to.equal(201);
    await verifyUntil({ url: networkKeys.orgs.Insurer.url, key: networkKeys.orgs.Insurer.keys['claims-officer'] }, { docHash: body.docHash }, 'ORIGINAL');

    await exec(path.join(bundleDir, 'stop.sh'), [], { env: { ...process.env, MEDPROV_FABRIC_HOME: fabricHome } });
    for (const n of names) expect(runningPid(fromBundle.pidFile(n)), `${n} stopped`).to.equal(undefined);
  });
});
