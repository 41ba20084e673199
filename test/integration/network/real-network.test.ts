import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { LedgerClient } from '../../../gateway/src/fabric/client';
import { LedgerError } from '../../../gateway/src/fabric/errors';
import { readFileSync } from 'node:fs';
import { committedDefinition, queryChaincode } from '../../../network/src/chaincode';
import { channelHeight } from '../../../network/src/channel';
import { alive, listening, waitUntil } from '../../../network/src/processes';
import { down, status, up } from '../../../network/src/system';
import { call, write, type Answer } from './support/gateway-http';
import { stopTestNetwork, survivors, TEST_UP_OPTIONS, testNetwork, type TestNetwork } from './test-network';

/** The chaincode version the redeploy test commits (as if the chaincode had changed). */
const REDEPLOYED = `redeploy-${randomBytes(3).toString('hex')}`;

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** Verification at a gateway until the verdict is the expected one (the other org's index follows the ledger's events). */
async function verify(gw: { url: string; key: string }, docHash: string, expected: string): Promise<any> {
  let last: Answer | undefined;
  for (let i = 0; i < 240; i++) {
    last = await call(gw, 'POST', '/v1/verifications', { docHash });
    if (last.status === 200 && last.body.verdict === expected) return last.body;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`verification of ${docHash} never became ${expected}: ${JSON.stringify(last?.body)}`);
}

describe('real network: Fabric 3.1.5, 3 Raft orderers, a peer and a gateway per org, chaincode as a service', function () {
  this.timeout(600_000);
  let net: TestNetwork;
  const recordId = `rn-${randomBytes(4).toString('hex')}`;
  const doc = Buffer.from(`discharge summary ${recordId} ${randomBytes(16).toString('hex')}`);
  const docHash = sha256(doc);
  const amendedHash = sha256(Buffer.concat([doc, Buffer.from(' amended')]));
  let anchoredBlock: string;

  before(async () => {
    net = await testNetwork();
  });

  after(async () => {
    await stopTestNetwork();
  });

  it('serves the client seam as each organisation (Identity:whoAmI through its own peer)', async () => {
    for (const org of net.network.definition.organisations) {
      const client = await LedgerClient.connect(net.network.gatewaySettings(org.name).fabric);
      try {
        const me = JSON.parse(Buffer.from(await client.evaluate('Identity:whoAmI')).toString('utf8'));
        expect(me.mspId).to.equal(org.mspId);
      } finally {
        client.close();
      }
    }
  });

  it("answers Fabric's own peer CLI as each org's admin: whoAmI gives the org's MSP ID; the consortium is on the ledger", async () => {
    for (const org of net.network.definition.organisations) {
      const me = JSON.parse(await queryChaincode(net.network, org.name, 'Identity:whoAmI'));
      expect(me.mspId).to.equal(org.mspId);
    }
    const consortium = JSON.parse(await queryChaincode(net.network, 'Insurer', 'Identity:readConsortium'));
    expect(consortium.organisations.map((o: { mspId: string }) => o.mspId)).to.have.members(net.network.definition.organisations.map((o) => o.mspId));
  });

  it('anchors an uploaded document at the Hospital and verifies it as ORIGINAL at the Insurer, with its block number', async () => {
    const form = new FormData();
    for (const [k, v] of Object.entries({ recordId, patientId: 'MRN-RN-1', category: 'loinc:18842-5', commitment: 'plain' })) form.append(k, v);
    form.append('document', new Blob([doc]), 'discharge.txt');
    const anchored = await write(net.gateway('Hospital', 'records-officer'), 'POST', '/v1/records', form);
    expect(anchored.status, JSON.stringify(anchored.body)).to.equal(201);
    expect(anchored.body.anchor).to.include({ docHash, recordId, issuer: 'HospitalMSP', version: 1, status: 'active' });
    expect(anchored.body.blockNumber).to.match(/^\d+$/);
    anchoredBlock = anchored.body.blockNumber;

    const verdict = await verify(net.gateway('Insurer', 'claims-officer'), docHash, 'ORIGINAL');
    expect(verdict).to.include({ issuer: 'HospitalMSP', recordId, version: 1, blockNumber: anchoredBlock });
  });

  it('amends at the Hospital: the first version becomes SUPERSEDED and the new one ORIGINAL at the Insurer', async () => {
    const amended = await write(net.gateway('Hospital', 'records-officer'), 'POST', `/v1/records/HospitalMSP/${recordId}/versions`, { docHash: amendedHash, category: 'loinc:18842-5' });
    expect(amended.status, JSON.stringify(amended.body)).to.equal(201);
    expect(amended.body.anchor).to.include({ docHash: amendedHash, version: 2, supersedes: docHash });
    expect(amended.body.blockNumber, 'the amendment answer names its block').to.match(/^\d+$/);
    const insurer = net.gateway('Insurer', 'claims-officer');
    expect(await verify(insurer, docHash, 'SUPERSEDED')).to.include({ issuer: 'HospitalMSP', recordId });
    expect(await verify(insurer, amendedHash, 'ORIGINAL')).to.include({ version: 2 });
  });

  it("refuses the Insurer's amend of the Hospital's record: at its gateway, and in the chaincode when sent straight to the ledger", async () => {
    const viaGateway = await call(net.gateway('Insurer', 'claims-officer'), 'POST', `/v1/records/HospitalMSP/${recordId}/versions`, { docHash: sha256(randomBytes(8)), category: 'loinc:18842-5' });
    expect(viaGateway.status).to.equal(403);
    expect(viaGateway.body.error.code).to.match(/^FORBIDDEN_/);

    const insurer = await LedgerClient.connect(net.network.gatewaySettings('Insurer').fabric);
    try {
      const amendment = { issuer: 'HospitalMSP', recordId, docHash: sha256(randomBytes(8)), category: 'loinc:18842-5' };
      const refused = await insurer.submit('Records:amendRecord', JSON.stringify(amendment)).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(refused).to.be.instanceOf(LedgerError);
      expect((refused as LedgerError).code).to.match(/^FORBIDDEN_/);
    } finally {
      insurer.close();
    }
    const current = await call(net.gateway('Hospital', 'records-officer'), 'GET', `/v1/records/HospitalMSP/${recordId}`);
    expect(current.body).to.include({ version: 2, docHash: amendedHash });
  });

  it('retracts at the Hospital: RETRACTED at the Insurer, and the history holds both versions', async () => {
    const retracted = await write(net.gateway('Hospital', 'records-officer'), 'PUT', `/v1/records/HospitalMSP/${recordId}/retraction`, { reason: 'entered-in-error' });
    expect(retracted.status, JSON.stringify(retracted.body)).to.equal(200);
    expect(retracted.body.blockNumber, 'the retraction answer names its block').to.match(/^\d+$/);
    const insurer = net.gateway('Insurer', 'claims-officer');
    expect(await verify(insurer, amendedHash, 'RETRACTED')).to.include({ issuer: 'HospitalMSP', recordId });
    // As the issuer's own staff: another org reads it only under consent (issue 13, reads.test.ts).
    const history = await call(net.gateway('Hospital', 'records-officer'), 'GET', `/v1/records/HospitalMSP/${recordId}/history`);
    expect(history.status).to.equal(200);
    expect(history.body.versions.map((v: { docHash: string }) => v.docHash)).to.deep.equal([docHash, amendedHash]);
  });

  it('restarts the chaincode server when it dies (the supervisor), and writes go through again', async () => {
    const childFile = `${net.network.pidFile('chaincode')}.child`;
    const before = Number(readFileSync(childFile, 'utf8'));
    process.kill(before, 'SIGKILL');
    const [host, port] = net.network.chaincodeServerAddress.split(':');
    const restarted = await waitUntil(async () => {
      const now = Number(readFileSync(childFile, 'utf8'));
      return now !== before && alive(now) && (await listening(host, Number(port)));
    }, 60_000);
    expect(restarted, 'the supervisor started a new chaincode server').to.equal(true);
    const form = new FormData();
    for (const [k, v] of Object.entries({ recordId: `${recordId}-after-kill`, patientId: 'MRN-RN-2', category: 'loinc:18842-5', commitment: 'plain' })) form.append(k, v);
    form.append('document', new Blob([randomBytes(64)]), 'lab.txt');
    const anchored = await write(net.gateway('Hospital', 'records-officer'), 'POST', '/v1/records', form);
    expect(anchored.status, JSON.stringify(anchored.body)).to.equal(201);
  });

  it('redeploys a changed chaincode as the next sequence and keeps the ledger', async () => {
    const before = await committedDefinition(net.network);
    await up(net.network, net.progress, { ...TEST_UP_OPTIONS, chaincodeVersion: REDEPLOYED });
    const def = await committedDefinition(net.network);
    expect(def).to.deep.equal({ sequence: (before?.sequence ?? 0) + 1, version: REDEPLOYED });
    expect((await verify(net.gateway('Insurer', 'claims-officer'), amendedHash, 'RETRACTED')).recordId).to.equal(recordId);
    const probe = await LedgerClient.connect(net.network.gatewaySettings('Sponsor').fabric);
    try {
      expect((await probe.submit('Identity:whoAmI')).blockNumber > 0n).to.equal(true);
    } finally {
      probe.close();
    }
  });

  it('reports every process healthy, the same channel height on every peer and the chaincode sequence', async () => {
    const rows = await status(net.network);
    const unhealthy = rows.filter((r) => !r.healthy);
    expect(unhealthy, JSON.stringify(unhealthy)).to.deep.equal([]);
    expect(rows.find((r) => r.name === 'chaincode')?.detail).to.include(`${REDEPLOYED} sequence`);
    const heights = await Promise.all(net.network.peers.map((p) => channelHeight(net.network, p)));
    expect(new Set(heights).size, `heights ${heights}`).to.be.at.most(2); // a block may be in flight to one peer
  });

  it('stops every process on down and finds the ledger intact on the next up: the document still verifies', async () => {
    const before = await committedDefinition(net.network);
    await down(net.network, net.progress);
    expect(survivors(net.network)).to.deep.equal([]);
    for (const node of [...net.network.orderers, ...net.network.peers]) expect(await listening(net.network.host, node.port), node.name).to.equal(false);

    await up(net.network, net.progress, { ...TEST_UP_OPTIONS, chaincodeVersion: REDEPLOYED });
    expect(await committedDefinition(net.network), 'the same definition: nothing redeployed').to.deep.equal(before);
    const verdict = await verify(net.gateway('Insurer', 'claims-officer'), docHash, 'SUPERSEDED');
    expect(verdict).to.include({ issuer: 'HospitalMSP', recordId, blockNumber: anchoredBlock });
  });

  it('leaves no process and no listening port after the network is torn down', async () => {
    const network = net.network;
    await stopTestNetwork();
    expect(survivors(network)).to.deep.equal([]);
    const ports = [...network.orderers.map((o) => o.port), ...network.peers.map((p) => p.port), ...network.definition.organisations.map((o) => network.gatewayPort(o))];
    for (const port of ports) expect(await listening(network.host, port), `port ${port}`).to.equal(false);
  });
});
