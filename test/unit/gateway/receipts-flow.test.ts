/**
 * Issue 5's first promise, through the product code (unit level on the ledger side, a real EVM): a document anchored through a
 * hospital's gateway gets a receipt (GET /v1/receipts/{docHash}, `medprov receipt`) that verifies
 * offline against the document and against the EVM chain, and a changed byte of the document,
 * the proof or the checkpoint makes it fail.
 *
 * Real: the gateways over HTTP, the chaincode, the anchor log, the checkpointer, a `hardhat node`
 * with the AnchorRegistry, the CLI as a child process. Not real: the ledger is the chaincode on
 * the in-memory stub (whose events feed the anchor log), which is why this is a unit test; the
 * same flow against Fabric belongs in test/integration once the network can run.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { JsonRpcProvider, Network } from 'ethers';
import { IdentityContract } from '../../../chaincode/src';
import { verifyReceipt, verifyReceiptOnChain, type Receipt } from '../../../gateway/src/anchoring';
import { AnchoringService, AnchorRegistryClient, deployAnchorRegistry } from '../../../gateway/src/anchoring/node';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL, HOSPITAL2, INSURER, SPONSOR } from '../chaincode/fixtures';
import { runCli } from '../support/cli-process';
import { sendTo, uploadForm } from '../support/http';
import { ROLE_KEYS, startOrgGateway, type OrgGateway } from '../support/org-gateways';
import type { ChaincodeLedger } from '../support/chaincode-ledger';
import { compileContracts, DEV_ADDRESSES, DEV_KEYS, startEvmNode, type EvmNode } from '../../integration/anchoring/evm';

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const OFFICER = ROLE_KEYS['records-officer'];
const CLAIMS = ROLE_KEYS['claims-officer'];

async function get(gw: OrgGateway, p: string, key: string): Promise<{ status: number; body: any }> {
  const res = await fetch(gw.url + p, { headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, body: await res.json() };
}

/** Asks for a receipt until a checkpoint covers the anchor (the checkpointer runs every second). */
async function receiptOf(gw: OrgGateway, docHash: string, key: string): Promise<Receipt> {
  const deadline = Date.now() + 60_000;
  let last: { status: number; body: any } | undefined;
  while (Date.now() < deadline) {
    last = await get(gw, `/v1/receipts/${docHash}`, key);
    if (last.status === 200) return last.body as Receipt;
    expect(last.body.error.code, JSON.stringify(last.body)).to.be.oneOf(['NOT_IN_ANCHOR_LOG', 'RECEIPT_PENDING']);
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no receipt within 60 s: ${JSON.stringify(last?.body)}`);
}

describe('receipts through the gateway: anchor → log → checkpoint on a real EVM node → receipt', function () {
  this.timeout(300_000);
  let evm: EvmNode;
  let provider: JsonRpcProvider;
  let dir: string;
  const ledger = new FakeLedger();
  const gateways: OrgGateway[] = [];
  let hospital: OrgGateway;
  let insurer: OrgGateway;
  const docs = [0, 1, 2].map((i) => Buffer.from(`%PDF-1.7 discharge summary ${i} — ${'x'.repeat(200 * i)}`));

  /** Anchors a small document by multipart upload at the hospital (salted by default): its answer. */
  async function anchorSalted(doc: Buffer, fields: Record<string, string>): Promise<{ commitment: string; salt: string; anchor: { docHash: string } }> {
    const res = await sendTo(hospital, 'POST', '/v1/records', OFFICER, uploadForm(doc, fields));
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    return res.body;
  }

  async function registry(address: string, key?: string): Promise<AnchorRegistryClient> {
    return AnchorRegistryClient.connect({ rpcUrl: evm.url, address, pollingIntervalMs: 100, ...(key ? { privateKey: key } : {}) });
  }

  /** Public anchoring on `address` for one gateway; `writes` with anchorer key 1. */
  const anchoring = (address: string, writes: boolean) => async (view: ChaincodeLedger) => {
    const client = await registry(address, writes ? DEV_KEYS[1] : undefined);
    const service = await AnchoringService.start({
      dir: path.join(dir, `${view.mspId}-anchor-log`),
      ledger: view,
      registry: client,
      writes,
      everyAnchors: 2,
      everySeconds: 1,
      pollDelayMs: 100,
      onStop: () => client.close(),
    });
    return { service };
  };

  before(async () => {
    compileContracts();
    evm = await startEvmNode();
    provider = new JsonRpcProvider(evm.url, Network.from(31337n), { staticNetwork: true, pollingInterval: 100 });
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-receipts-'));
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    const deploy = async () =>
      (await deployAnchorRegistry({ rpcUrl: evm.url, ownerKey: DEV_KEYS[0], channel: 'medprov', anchorers: [DEV_ADDRESSES[1]] })).address;
    const registryAddress = await deploy();
    // A second registry nobody writes to: its receipts stay pending.
    const silentRegistry = await deploy();
    hospital = await startOrgGateway({ ledger, mspId: HOSPITAL, type: 'hospital', dir, anchoring: anchoring(registryAddress, true) });
    insurer = await startOrgGateway({ ledger, mspId: INSURER, type: 'insurer', dir, anchoring: anchoring(registryAddress, false) });
    gateways.push(hospital, insurer);
    gateways.push(await startOrgGateway({ ledger, mspId: HOSPITAL2, type: 'hospital', dir, anchoring: anchoring(silentRegistry, false) }));
    gateways.push(await startOrgGateway({ ledger, mspId: SPONSOR, type: 'sponsor', dir, anchoring: async () => ({ off: 'no EVM chain is configured (test).' }) }));
  });

  after(async () => {
    for (const gw of gateways) await gw.stop();
    provider?.destroy();
    await evm?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a document not anchored has no receipt: 404 NOT_IN_ANCHOR_LOG; a malformed hash is 400', async () => {
    const none = await get(hospital, `/v1/receipts/${sha('never anchored')}`, OFFICER);
    expect(none.status).to.equal(404);
    expect(none.body.error.code).to.equal('NOT_IN_ANCHOR_LOG');
    const bad = await get(hospital, '/v1/receipts/not-a-hash', OFFICER);
    expect(bad.status).to.equal(400);
  });

  it('anchored through the hospital gateway, each document gets a receipt that verifies offline and on chain', async () => {
    for (const [i, doc] of docs.entries()) {
      const res = await fetch(`${hospital.url}/v1/records`, {
        method: 'POST',
        headers: { authorization: `Bearer ${OFFICER}`, 'content-type': 'application/json' },
        body: JSON.stringify({ recordId: `adm-2026-${i}`, docHash: sha(doc), patientId: `MRN-${i}`, category: 'loinc:18842-5' }),
      });
      expect(res.status).to.equal(201);
    }
    for (const doc of docs) {
      const receipt = await receiptOf(hospital, sha(doc), OFFICER);
      expect(receipt.leaf).to.include({ docHash: sha(doc), issuer: HOSPITAL });
      expect(verifyReceipt(receipt, doc)).to.deep.equal({ valid: true, reasons: [] });
      const onChain = await verifyReceiptOnChain(receipt, provider);
      expect(onChain.reasons).to.deep.equal([]);
      expect(onChain.valid).to.equal(true);
    }
  });

  it("a salted record (issue 8): the hospital's receipt carries the salt and verifies against the document; other gateways do not find it by the document hash", async () => {
    const labResult = Buffer.from('{"code":"HbA1c","unit":"%","value":"5.4"}');
    const anchored = await anchorSalted(labResult, { recordId: 'lab-2026-1', patientId: 'MRN-7', category: 'loinc:4548-4' });
    expect(anchored.commitment).to.equal('salted');
    const receipt = await receiptOf(hospital, sha(labResult), OFFICER);
    expect(receipt.salt).to.equal(anchored.salt);
    expect(receipt.leaf.docHash).to.equal(anchored.anchor.docHash);
    expect(verifyReceipt(receipt, labResult)).to.deep.equal({ valid: true, reasons: [] });
    expect((await verifyReceiptOnChain(receipt, provider)).valid).to.equal(true);
    const changed = Buffer.from(labResult);
    changed[changed.length - 2] ^= 0x01;
    expect(verifyReceipt(receipt, changed).valid).to.equal(false);
    expect(verifyReceipt({ ...receipt, salt: sha('another salt') }, labResult).valid).to.equal(false);
    // The insurer's log holds only the commitment: by the document hash it has nothing; by the commitment, the same leaf (no salt).
    expect((await get(insurer, `/v1/receipts/${sha(labResult)}`, CLAIMS)).body.error.code).to.equal('NOT_IN_ANCHOR_LOG');
    const atInsurer = await receiptOf(insurer, anchored.anchor.docHash, CLAIMS);
    expect(atInsurer.leaf).to.deep.equal(receipt.leaf);
    expect(atInsurer).to.not.have.property('salt');
  });

  it('one changed byte of the document, the proof or the checkpoint makes the receipt fail', async () => {
    const doc = docs[2]!;
    const receipt = await receiptOf(hospital, sha(doc), OFFICER);
    const changedDoc = Buffer.from(doc);
    changedDoc[10] ^= 0x01;
    expect(verifyReceipt(receipt, changedDoc).valid).to.equal(false);

    const flip = (hex: string): string => (hex[0] === '0' ? '1' : '0') + hex.slice(1);
    expect(receipt.inclusionProof.length).to.be.greaterThan(0);
    const badProof = { ...receipt, inclusionProof: [flip(receipt.inclusionProof[0]!), ...receipt.inclusionProof.slice(1)] };
    expect(verifyReceipt(badProof, doc).valid).to.equal(false);
    expect((await verifyReceiptOnChain(badProof, provider)).valid).to.equal(false);

    const badCheckpoint = { ...receipt, checkpoint: { ...receipt.checkpoint, root: flip(receipt.checkpoint.root) } };
    expect(verifyReceipt(badCheckpoint, doc).valid).to.equal(false);
    expect((await verifyReceiptOnChain(badCheckpoint, provider)).valid).to.equal(false);
  });

  it("the insurer's gateway follows the same ledger into the same log and serves the same receipt (it writes no checkpoint)", async () => {
    const doc = docs[0]!;
    const atHospital = await receiptOf(hospital, sha(doc), OFFICER);
    const atInsurer = await receiptOf(insurer, sha(doc), CLAIMS);
    expect(atInsurer.leaf).to.deep.equal(atHospital.leaf);
    expect(atInsurer.leafIndex).to.equal(atHospital.leafIndex);
    expect(verifyReceipt(atInsurer, doc).valid).to.equal(true);
    const health = (await get(insurer, '/healthz', CLAIMS)).body;
    expect(health.anchoring).to.deep.include({ writesCheckpoints: false });
  });

  it('no checkpoint yet: 409 RECEIPT_PENDING with Retry-After; no chain configured: 503 ANCHORING_OFF', async () => {
    const [, , silent, sponsor] = gateways;
    const deadline = Date.now() + 30_000;
    let res: Response | undefined;
    while (Date.now() < deadline) {
      res = await fetch(`${silent!.url}/v1/receipts/${sha(docs[0]!)}`, { headers: { authorization: `Bearer ${OFFICER}` } });
      if (res.status !== 404) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(res?.status).to.equal(409);
    expect(res?.headers.get('retry-after')).to.equal('30');
    expect(((await res!.json()) as any).error.code).to.equal('RECEIPT_PENDING');
    const off = await get(sponsor!, `/v1/receipts/${sha(docs[0]!)}`, ROLE_KEYS['research-officer']);
    expect(off.status).to.equal(503);
    expect(off.body.error.code).to.equal('ANCHORING_OFF');
  });

  it('CLI: `medprov receipt` saves a checked receipt; `verify-receipt --rpc` accepts it, and refuses a changed file (exit 1)', async () => {
    const home = mkdtempSync(path.join(tmpdir(), 'medprov-receipt-cli-'));
    try {
      const file = path.join(home, 'discharge.pdf');
      writeFileSync(file, docs[1]!);
      const gatewayArgs = ['--gateway', insurer.url, '--api-key', CLAIMS];
      const fetched = await runCli(['receipt', file, ...gatewayArgs], { home });
      expect(fetched.code, fetched.stderr).to.equal(0);
      expect(fetched.stdout).to.contain('verifies');
      const saved = JSON.parse(readFileSync(`${file}.receipt.json`, 'utf8')) as Receipt;
      expect(saved.leaf.docHash).to.equal(sha(docs[1]!));
      const again = await runCli(['receipt', file, ...gatewayArgs], { home });
      expect(again.code, 'never over an existing receipt').to.equal(2);

      const ok = await runCli(['verify-receipt', `${file}.receipt.json`, file, '--rpc', evm.url], { home });
      expect(ok.code, ok.stdout + ok.stderr).to.equal(0);
      const changed = path.join(home, 'changed.pdf');
      writeFileSync(changed, Buffer.concat([docs[1]!, Buffer.from(' ')]));
      const refused = await runCli(['verify-receipt', `${file}.receipt.json`, changed, '--rpc', evm.url], { home });
      expect(refused.code).to.equal(1);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it("CLI on a salted record: `medprov receipt` at the hospital saves a receipt with the salt that `verify-receipt` accepts offline and with --rpc; the insurer's gateway refuses (NOT_IN_ANCHOR_LOG, exit 4)", async () => {
    const home = mkdtempSync(path.join(tmpdir(), 'medprov-receipt-cli-salted-'));
    try {
      const lab = Buffer.from('{"code":"Hct","unit":"%","value":"41.0"}');
      const anchored = await anchorSalted(lab, { recordId: 'lab-2026-cli', patientId: 'MRN-8', category: 'loinc:4544-3' });
      expect(anchored.commitment).to.equal('salted');
      // Both logs hold the commitment and a checkpoint covers it: what follows is not a lag.
      await receiptOf(hospital, sha(lab), OFFICER);
      await receiptOf(insurer, anchored.anchor.docHash, CLAIMS);
      const file = path.join(home, 'lab-result.json');
      writeFileSync(file, lab);

      const fetched = await runCli(['receipt', file, '--gateway', hospital.url, '--api-key', OFFICER], { home });
      expect(fetched.code, fetched.stderr).to.equal(0);
      expect(fetched.stdout).to.contain('verifies');
      const saved = JSON.parse(readFileSync(`${file}.receipt.json`, 'utf8')) as Receipt;
      expect(saved.salt).to.equal(anchored.salt);
      expect(saved.leaf.docHash).to.equal(anchored.anchor.docHash);

      const offline = await runCli(['verify-receipt', `${file}.receipt.json`, file, '--json'], { home });
      expect(offline.code, offline.stdout + offline.stderr).to.equal(0);
      expect(JSON.parse(offline.stdout)).to.deep.include({ valid: true, reasons: [], checkedOnChain: false });
      const onChain = await runCli(['verify-receipt', `${file}.receipt.json`, file, '--rpc', evm.url], { home });
      expect(onChain.code, onChain.stdout + onChain.stderr).to.equal(0);
      expect(onChain.stdout).to.match(/^VALID /).and.include(anchored.salt).and.include('checkpoint recorded on chain');
      const changed = path.join(home, 'changed.json');
      writeFileSync(changed, lab.toString().replace('41.0', '41.1'));
      expect((await runCli(['verify-receipt', `${file}.receipt.json`, changed], { home })).code).to.equal(1);

      const atInsurer = await runCli(['receipt', file, '--out', path.join(home, 'insurer.receipt.json'), '--gateway', insurer.url, '--api-key', CLAIMS], { home });
      expect(atInsurer.code).to.equal(4);
      expect(atInsurer.stderr).to.include('NOT_IN_ANCHOR_LOG');
      expect(atInsurer.stderr).to.not.match(/\n\s+at /);
      expect(existsSync(path.join(home, 'insurer.receipt.json')), 'nothing kept').to.equal(false);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
