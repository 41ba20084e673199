import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { JsonRpcProvider } from 'ethers';
import { verifyReceiptOnChain } from '../../../gateway/src/anchoring';
import { verifyAccessReceipt, type AccessReceipt } from '../../../gateway/src/anchoring/access-receipt';
import { LedgerClient } from '../../../gateway/src/fabric/client';
import { expectEveryChangedFieldToFail } from '../../unit/support/access-receipts';
import { runCli, type CliRun } from '../../unit/support/cli-process';
import { localChain } from './flows';
import { call, journalled, Patient, type Answer, type Endpoint } from './support/consent';
import { sleep } from './support/gateway-http';
import { stopTestNetwork, testNetwork, type TestNetwork } from './test-network';

/**
 * Issue 16, consent-bound provenance receipts, on the real network: an insurer accesses a record
 * under the patient's grant, gets a receipt binding the document hash, issuer, grant (id, message,
 * the patient's signature), purpose, recipient, transaction and time, which is a leaf of every
 * gateway's anchor log, checkpointed on the EVM chain; it verifies offline, and on chain; every
 * changed field fails; an access consent did not permit gets none; the chaincode answers the
 * recipient and the issuer only. The CLI fetches and verifies it.
 */
const HOSPITAL = 'HospitalMSP';
const INSURER = 'InsurerMSP';
const DISCHARGE = 'loinc:18842-5';
const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

describe('real network: consent-bound provenance receipts (issue 16)', function () {
  this.timeout(900_000);
  const run = randomBytes(3).toString('hex');
  let net: TestNetwork;
  let officer: Endpoint;
  let claims: Endpoint;
  let provider: JsonRpcProvider;
  let dir: string;
  let home: string;
  let alice: Patient;
  let carol: Patient;
  const document = Buffer.from(`discharge summary ${run} for the access receipt test`);
  const aliceRecord = { recordId: `ar-${run}-1`, docHash: sha(document) };
  const carolRecord = { recordId: `ar-${run}-2`, docHash: sha(`carol ${run}`) };
  let grantId: string;
  let permitted: Answer;
  let receipt: AccessReceipt;

  /** Polls the receipt route until the anchor log has the leaf and a checkpoint covers it. */
  async function receiptAt(gw: Endpoint, txId: string, withinMs = 300_000): Promise<Answer> {
    const deadline = Date.now() + withinMs;
    let last: Answer | undefined;
    while (Date.now() < deadline) {
      last = await call(gw, 'GET', `/v1/access-receipts/${txId}`);
      if (!['NOT_IN_ANCHOR_LOG', 'RECEIPT_PENDING'].includes(last.body?.error?.code)) return last;
      await sleep(1_000);
    }
    throw new Error(`no access receipt of ${txId} within ${withinMs / 1000} s: ${JSON.stringify(last?.body)}`);
  }

  const cli = (args: string[]): Promise<CliRun> => runCli(args, { home });

  before(async () => {
    net = await testNetwork();
    officer = net.gateway('Hospital', 'records-officer');
    claims = net.gateway('Insurer', 'claims-officer');
    provider = new JsonRpcProvider(localChain(net.network).rpcUrl, undefined, { staticNetwork: true, pollingInterval: 250 });
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-access-receipts-'));
    home = path.join(dir, 'home');
    mkdirSync(home);
    alice = new Patient(`MRN-AR-${run}-A`, HOSPITAL, net.network.channel);
    carol = new Patient(`MRN-AR-${run}-C`, HOSPITAL, net.network.channel);
    const records = [
      { ...aliceRecord, patientId: alice.patientId, category: DISCHARGE },
      { ...carolRecord, patientId: carol.patientId, category: DISCHARGE },
    ];
    const batch = await journalled(officer, 'POST', '/v1/records/batch', { records });
    expect(batch.status, batch.text).to.equal(201);
    for (const p of [alice, carol]) {
      const registered = await p.register(officer);
      expect(registered.status, registered.text).to.equal(201);
    }
    const granted = await alice.grant({ url: officer.url }, { grantee: INSURER, purpose: 'claims', categories: [DISCHARGE] });
    expect(granted.status, granted.text).to.equal(201);
    grantId = granted.body.grant.grantId;
  });

  after(async () => {
    provider?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await stopTestNetwork();
  });

  it('an access consent did not permit gets no receipt: no link, and 404 ACCESS_RECEIPT_NOT_FOUND at the recipient and the issuer', async () => {
    const denied = await call(claims, 'POST', '/v1/access', { issuer: HOSPITAL, recordId: carolRecord.recordId, purpose: 'claims' });
    expect(denied.status, denied.text).to.equal(200);
    expect(denied.body.decision).to.equal('NO_CONSENT');
    expect(denied.body).to.not.have.property('receipt');
    const txId = denied.body.accessLog.txId;
    for (const gw of [claims, officer]) {
      const res = await call(gw, 'GET', `/v1/access-receipts/${txId}`);
      expect(res.status, res.text).to.equal(404);
      expect(res.body.error.code).to.equal('ACCESS_RECEIPT_NOT_FOUND');
    }
    // The chaincode itself: nothing stored for that transaction.
    const client = await LedgerClient.connect(net.network.gatewaySettings('Insurer').fabric);
    try {
      expect(Buffer.from(await client.evaluate('Access:readConsentedAccess', txId)).toString('utf8')).to.equal('null');
    } finally {
      client.close();
    }
    // Not a transaction id at all: 400 before anything is asked.
    const bad = await call(claims, 'GET', '/v1/access-receipts/not-a-tx');
    expect(bad.status, bad.text).to.equal(400);
  });

  it('the insurer accesses under consent: the answer links the receipt, which binds document, issuer, grant and signature, purpose, recipient, transaction and time', async () => {
    const started = Date.now();
    permitted = await call(claims, 'POST', '/v1/access', { issuer: HOSPITAL, recordId: aliceRecord.recordId, purpose: 'claims' });
    expect(permitted.status, permitted.text).to.equal(200);
    expect(permitted.body).to.include({ decision: 'PERMIT', grantId });
    const txId = permitted.body.accessLog.txId;
    expect(permitted.body.receipt).to.equal(`/v1/access-receipts/${txId}`);
    const res = await receiptAt(claims, txId);
    expect(res.status, res.text).to.equal(200);
    receipt = res.body;
    console.log(`      access → receipt: ${((Date.now() - started) / 1000).toFixed(1)} s (a checkpoint every 60 s or 1,000 leaves); receipt ${Buffer.byteLength(JSON.stringify(receipt))} bytes, proof of ${receipt.logReceipt.inclusionProof.length} hashes in a log of ${receipt.logReceipt.treeSize}`);
    expect(receipt).to.include({ version: 1, kind: 'consented-access' });
    expect(receipt.access).to.deep.equal({
      channel: net.network.channel,
      docHash: aliceRecord.docHash,
      issuer: HOSPITAL,
      recordId: aliceRecord.recordId,
      version: 1,
      category: DISCHARGE,
      grantId,
      patient: alice.address,
      signature: receipt.access.signature,
      purpose: 'claims',
      recipient: INSURER,
      txId,
      at: permitted.body.accessLog.at,
    });
    expect(receipt.grant).to.include({ hospital: HOSPITAL, patientRef: alice.patientRef, grantee: INSURER, purpose: 'claims' });
    expect(receipt.logReceipt.leaf).to.include({ issuer: INSURER, recordId: `access:${txId}`, version: 1, txId, anchoredAt: permitted.body.accessLog.at, blockNumber: Number(permitted.body.blockNumber) });
    expect(receipt.logReceipt.checkpoint).to.include({ chainId: localChain(net.network).chainId, contract: localChain(net.network).registry.address.toLowerCase() });
  });

  it('verifies offline (with and without the document) and on the EVM chain; the issuing hospital issues the very same receipt from its own log', async () => {
    expect(verifyAccessReceipt(receipt)).to.deep.equal({ valid: true, reasons: [] });
    const rounds = 200;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < rounds; i++) verifyAccessReceipt(receipt);
    console.log(`      offline verification: ${(Number(process.hrtime.bigint() - t0) / 1e6 / rounds).toFixed(2)} ms per receipt (noble SHA-256, ethers EIP-712 recovery)`);
    expect(verifyAccessReceipt(JSON.stringify(receipt), document)).to.deep.equal({ valid: true, reasons: [] });
    const other = verifyAccessReceipt(receipt, Buffer.from('another document'));
    expect(other.valid).to.equal(false);
    expect(other.reasons).to.deep.equal(['The document does not match the receipt: its SHA-256 differs from access.docHash.']);
    const onChain = await verifyReceiptOnChain(receipt.logReceipt, provider);
    expect(onChain.reasons).to.deep.equal([]);
    expect(onChain.valid).to.equal(true);
    const atHospital = await receiptAt(officer, receipt.access.txId);
    expect(atHospital.status, atHospital.text).to.equal(200);
    expect(atHospital.body).to.deep.equal(receipt);
  });

  it('every changed field fails, with a reason naming what failed', () => {
    expect(expectEveryChangedFieldToFail(receipt, document)).to.be.at.least(13 + 9 + 7 + 4);
  });

  it('the chaincode gives the consented access to the recipient and the issuer only: the Sponsor is refused FORBIDDEN_OTHER_ORG by the chaincode and by its gateway', async () => {
    const txId = receipt.access.txId;
    const client = await LedgerClient.connect(net.network.gatewaySettings('Sponsor').fabric);
    try {
      let refused: { code?: string; message?: string } | undefined;
      try {
        await client.evaluate('Access:readConsentedAccess', txId);
      } catch (err) {
        refused = err as { code?: string; message?: string };
      }
      expect(refused?.code, refused?.message ?? 'answered').to.equal('FORBIDDEN_OTHER_ORG');
      expect(refused?.message).to.contain('the recipient');
    } finally {
      client.close();
    }
    const atSponsor = await call(net.gateway('Sponsor', 'research-officer'), 'GET', `/v1/access-receipts/${txId}`);
    expect(atSponsor.status, atSponsor.text).to.equal(403);
    expect(atSponsor.body.error.code).to.equal('FORBIDDEN_OTHER_ORG');
    // At the issuing Hospital, a research officer reads receipts of research accesses only.
    const research = await call(net.gateway('Hospital', 'research-officer'), 'GET', `/v1/access-receipts/${txId}`);
    expect(research.status, research.text).to.equal(403);
    expect(research.body.error.code).to.equal('FORBIDDEN_PURPOSE');
  });

  it('the CLI fetches the receipt (access-receipt get) and verifies it offline and on chain (access-receipt verify); a changed receipt fails with exit 1', async () => {
    const txId = receipt.access.txId;
    const out = path.join(dir, 'access.receipt.json');
    const got = await cli(['access-receipt', 'get', txId, '--out', out, '--gateway', claims.url, '--api-key', claims.key!]);
    expect(got.code, got.stderr + got.stdout).to.equal(0);
    expect(got.stdout).to.contain('verifies');
    const docFile = path.join(dir, 'discharge.txt');
    writeFileSync(docFile, document);
    const verified = await cli(['access-receipt', 'verify', out, docFile, '--rpc', localChain(net.network).rpcUrl, '--json']);
    expect(verified.code, verified.stderr + verified.stdout).to.equal(0);
    expect(JSON.parse(verified.stdout)).to.include({ valid: true, checkedOnChain: true });
    const tampered = path.join(dir, 'tampered.json');
    writeFileSync(tampered, JSON.stringify({ ...receipt, access: { ...receipt.access, purpose: 'research:OTHER' } }));
    const failed = await cli(['access-receipt', 'verify', tampered]);
    expect(failed.code, failed.stderr + failed.stdout).to.equal(1);
    expect(failed.stdout).to.contain('INVALID');
    expect(failed.stdout).to.contain('a field of access was changed');
    expect(failed.stdout).to.contain('grant.purpose is not access.purpose');
  });
});
