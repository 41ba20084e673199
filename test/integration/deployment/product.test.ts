/**
 * The product's own consortium, exactly as `npm start` brings it up from network/consortium.json:
 * every organisation enrolled from its own Fabric CA and running at its own address, Raft ordering.
 * (The shared test network runs the same organisations with cryptogen on one address, the quick
 * option for tests: test/integration/network/consortium-quick.json.)
 *
 * - each organisation's CA, peer, chaincode server and gateway, and the orderers, listen only on
 *   that organisation's address from the configuration;
 * - TLS certificates name only the organisation's own address (no 127.0.0.1, no localhost);
 * - an API key submits as the organisation's enrolled user of the key's role (its certificate's
 *   `medprov.role`), not as one shared identity;
 * - a document anchored at the Hospital is verified as the original at the Insurer.
 *
 * @module
 */
import { expect } from 'chai';
import { randomBytes, X509Certificate } from 'node:crypto';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { allCaOrgs, caServer } from '../../../network/src/ca';
import { gatewayName, readApiKeys } from '../../../network/src/gateways';
import { Network, networkFromEnv } from '../../../network/src/network';
import { runningPid } from '../../../network/src/processes';
import { consoleProgress, type Progress } from '../../../network/src/progress';
import { chaincodeServers, down, installFabric, ROOT, up, type UpOptions } from '../../../network/src/system';
import { verifyUntil } from '../network/flows';
import { freeNetwork } from '../network/test-network';
import { call, write } from '../network/support/gateway-http';
import { hostOfAddress, listeningByPid } from './support';

const UP: UpOptions = { evm: false, gateways: true };


describe("deployment: the product's consortium (network/consortium.json) — Fabric CA per organisation, each at its own address", function () {
  this.timeout(900_000);
  let network: Network;
  let stateDir: string;
  let progress: Progress;

  before(async () => {
    stateDir = mkdtempSync(path.join(os.tmpdir(), 'medprov-product-'));
    const fabricHome = installFabric(consoleProgress('product', createWriteStream('/dev/null')));
    // The product's network: network/consortium.json (no MEDPROV_CONSORTIUM).
    network = await freeNetwork((base) => networkFromEnv({ MEDPROV_STATE_DIR: path.join(stateDir, 'state'), MEDPROV_BASE_PORT: String(base) }, ROOT, fabricHome), UP, 3);
    progress = consoleProgress('product', createWriteStream(path.join(stateDir, 'up.log')));
    expect((network.definition as { identities?: string }).identities).to.equal('fabric-ca');
    await up(network, progress, UP);
  });

  after(async () => {
    if (network) await down(network, progress);
    if (stateDir && !process.env.MEDPROV_TEST_KEEP_STATE) rmSync(stateDir, { recursive: true, force: true });
  });

  it("every organisation's CA and nodes listen only on that organisation's own address", async () => {
    const sockets = await listeningByPid();
    const expected = [
      ...allCaOrgs(network).map((org) => ({ name: caServer(network, org).name, host: caServer(network, org).host })),
      ...network.orderers.map((o) => ({ name: o.name, host: o.host })),
      ...network.peers.map((p) => ({ name: p.name, host: network.hostOf(p.org) })),
      ...network.definition.organisations.map((o) => ({ name: gatewayName(o), host: network.hostOf(o) })),
    ];
    const hosts = new Set(expected.map((e) => e.host));
    expect(hosts.size, 'one address per organisation, the orderers’ included').to.equal(network.definition.organisations.length + 1);
    expect(hosts.has('127.0.0.1')).to.equal(false);
    for (const e of expected) {
      const pid = runningPid(network.pidFile(e.name));
      expect(pid, `${e.name} runs`).to.be.a('number');
      const addresses = sockets.get(pid as number) ?? [];
      expect(addresses, `${e.name} (pid ${pid}) listens`).to.not.be.empty;
      for (const a of addresses) expect(hostOfAddress(a), `${e.name} listens on ${a}`).to.equal(e.host);
    }
    for (const c of chaincodeServers(network)) {
      const pid = runningPid(`${network.pidFile(c.name)}.child`);
      for (const a of sockets.get(pid as number) ?? []) expect(hostOfAddress(a), `${c.name} listens on ${a}`).to.equal(hostOfAddress(c.address));
    }
  });

  it("TLS certificates from each organisation's CA name its own address and node name, not 127.0.0.1 or localhost", () => {
    for (const node of [...network.peers, ...network.orderers]) {
      const san = new X509Certificate(readFileSync(path.join(node.tlsDir, 'server.crt'))).subjectAltName ?? '';
      expect(san, node.name).to.include(`IP Address:${node.host}`);
      expect(san, node.name).to.include(`DNS:${node.fqdn}`);
      expect(san, node.name).to.not.include('127.0.0.1');
      expect(san, node.name).to.not.include('localhost');
    }
    for (const org of allCaOrgs(network)) {
      const ca = caServer(network, org);
      const san = new X509Certificate(readFileSync(path.join(ca.home, 'tls-cert.pem'))).subjectAltName ?? '';
      expect(san, ca.name).to.include(`IP Address:${ca.host}`);
      expect(san, ca.name).to.not.include('127.0.0.1');
      expect(san, ca.name).to.not.include('localhost');
    }
  });

  it("an API key submits as its organisation's enrolled user of the key's role", async () => {
    const keys = readApiKeys(network);
    if (!keys) throw new Error('up wrote no API keys');
    for (const role of ['records-officer', 'clinician']) {
      const whoami = await call({ url: keys.orgs.Hospital.url, key: keys.orgs.Hospital.keys[role] }, 'GET', '/v1/whoami');
      expect(whoami.status, whoami.text).to.equal(200);
      expect(whoami.body.ledgerIdentity).to.include({ mspId: 'HospitalMSP', certifiedRole: role, source: 'fabric-ca' });
    }
  });

  it('a document anchored at the Hospital is the original at the Insurer', async () => {
    const keys = readApiKeys(network);
    if (!keys) throw new Error('up wrote no API keys');
    const body = { recordId: `product-${randomBytes(4).toString('hex')}`, docHash: randomBytes(32).toString('hex'), patientId: 'MRN-PRODUCT-1', category: 'loinc:18842-5', commitment: 'plain' };
    const anchored = await write({ url: keys.orgs.Hospital.url, key: keys.orgs.Hospital.keys['records-officer'] }, 'POST', '/v1/records', body);
    expect(anchored.status, anchored.text).to.equal(201);
    await verifyUntil({ url: keys.orgs.Insurer.url, key: keys.orgs.Insurer.keys['claims-officer'] }, { docHash: body.docHash }, 'ORIGINAL');
  });
});
