/**
 * The two web pages on the real network (issue 13), in headless Chromium (test/e2e/browser.ts):
 * the Patient page on the Hospital's gateway — a key made in the browser, the registration the
 * hospital's staff submit, grant → the Insurer's access PERMIT → revoke → DENY → both in the
 * page's access log — and the Verify page on the Insurer's gateway with documents anchored at
 * the Hospital and their real receipts (checkpointed on the local EVM chain): ORIGINAL with the
 * block, a changed byte, a salted record with and without its receipt, a retracted record.
 * Skips when Chromium or playwright-core is missing. Screenshots in test-artifacts/ (network-*).
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { HDNodeWallet, Mnemonic, id } from 'ethers';
import { verifyReceipt } from '../../../gateway/src/anchoring';
import { PAGE_CSP } from '../../../gateway/src/http/pages';
import { SALT_NOTE } from '../../../gateway/src/records/service';
import { ARTIFACTS, launchBrowser, skipWithoutBrowser, type Browser, type PwPage } from '../../e2e/browser';
import { call, receiptOf, sha256, uploadForm, verifyUntil, write, type Gw } from './flows';
import { stopTestNetwork, testNetwork, type TestNetwork } from './test-network';

// The network is shared by every real-network spec file of the mocha run: stopped once, at the end.
after(async () => {
  await stopTestNetwork();
});

const DISCHARGE = 'loinc:18842-5';
const LAB = 'loinc:4548-4';
/** The Patient page's derivation (gateway/web/patient.ts): a hardened account per hospital, from its MSP ID. */
const pathFor = (hospital: string): string => `m/44'/60'/${parseInt(id(`medprov-consent/hospital:${hospital}`).slice(2, 10), 16) & 0x7fffffff}'/0/0`;

describe('real network: the Patient and Verify pages in headless Chromium against the gateways', function () {
  this.timeout(900_000);
  const run = randomBytes(4).toString('hex');
  const patientId = `MRN-PAGE-${run}`;
  let net: TestNetwork;
  let hospital: Gw;
  let insurer: Gw;
  let dir: string;
  let browser: Browser | undefined;
  let page: PwPage;
  const pageErrors: string[] = [];
  const requests: { method: string; url: string; body: string | null; authorization?: string }[] = [];

  const original = Buffer.concat([Buffer.from(`%PDF-1.7 discharge summary ${run}\n`), randomBytes(2 * 2 ** 20)]);
  const changed = Buffer.from(original);
  changed[changed.length >> 1]! ^= 0x01;
  const labResult = Buffer.from(JSON.stringify({ resourceType: 'Observation', code: 'HbA1c', unit: '%', value: '5.9', run }));
  const retractedDoc = Buffer.from(`%PDF-1.7 a letter entered in error ${run}`);
  const recordId = `page-adm-${run}`;
  const files = { original: '', changed: '', receipt: '', retracted: '' };
  const anchored = { block: '', txId: '', labSalt: '', labCommitment: '', labBlock: '' };
  /** An organisation's English display name from the network's consortium definition (the pages show it, not the MSP ID). */
  const displayName = (org: string): string => net.network.organisation(org).displayName.en;
  let patientRef = '';

  before(async function () {
    skipWithoutBrowser(this, 'the pages on the real network');
    net = await testNetwork();
    hospital = net.gateway('Hospital', 'records-officer');
    insurer = net.gateway('Insurer', 'claims-officer');
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-net-pages-'));

    // The Hospital anchors the patient's discharge summary (by hash), a salted lab result (uploaded), and a letter it then retracts.
    const res = await write(hospital, 'POST', '/v1/records', { recordId, docHash: sha256(original), patientId, category: DISCHARGE });
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    anchored.block = res.body.blockNumber;
    anchored.txId = res.body.anchor.txId;
    patientRef = res.body.anchor.patientRef;
    const lab = await write(hospital, 'POST', '/v1/records', uploadForm(labResult, { recordId: `page-lab-${run}`, patientId, category: LAB }, 'lab.json'));
    expect(lab.status, JSON.stringify(lab.body)).to.equal(201);
    expect(lab.body.commitment).to.equal('salted');
    anchored.labSalt = lab.body.salt;
    anchored.labCommitment = lab.body.anchor.docHash;
    anchored.labBlock = lab.body.blockNumber;
    const letter = await write(hospital, 'POST', '/v1/records', { recordId: `page-letter-${run}`, docHash: sha256(retractedDoc), patientId, category: DISCHARGE });
    expect(letter.status, JSON.stringify(letter.body)).to.equal(201);
    const retraction = await write(hospital, 'PUT', `/v1/records/HospitalMSP/page-letter-${run}/retraction`, { reason: 'entered-in-error' });
    expect(retraction.status, JSON.stringify(retraction.body)).to.equal(200);

    files.original = path.join(dir, 'discharge-summary.pdf');
    files.changed = path.join(dir, 'discharge-summary-edited.pdf');
    files.receipt = path.join(dir, 'discharge-summary.receipt.json');
    files.retracted = path.join(dir, 'letter.pdf');
    writeFileSync(files.original, original);
    writeFileSync(files.changed, changed);
    writeFileSync(files.retracted, retractedDoc);

    browser = await launchBrowser({ pageErrors, expectedConsoleError: /^$/ });
    page = browser.page;
    page.on('request', (r) => requests.push({ method: r.method(), url: r.url(), body: r.postData(), authorization: r.headers().authorization }));
  });

  after(async () => {
    try {
      await browser?.close();
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('the Patient page on the Hospital gateway', () => {
    let words: string[] = [];
    const access = async (): Promise<any> => {
      const res = await call(insurer, 'POST', '/v1/access', { issuer: 'HospitalMSP', recordId, purpose: 'claims' });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      return res.body;
    };

    it('serves /patient with its Content-Security-Policy; the page makes a key and shows the 12 words once', async () => {
      const res = await page.goto(`${hospital.url}/patient`);
      expect(res?.status()).to.equal(200);
      expect(res?.headers()['content-security-policy']).to.equal(PAGE_CSP);
      await page.locator('#key-state').waitFor();
      // The page names the organisation by its display name (consortium.json); the key's derivation uses the MSP ID of the registration request.
      await page.locator('#org-name', { hasText: displayName('Hospital') }).waitFor();
      await page.getByRole('button', { name: 'Create a new key' }).click();
      await page.locator('#mnemonic-box').waitFor({ state: 'visible' });
      words = await page.locator('#mnemonic-words li').allTextContents();
      expect(Mnemonic.isValidMnemonic(words.join(' '))).to.equal(true);
      await page.getByRole('button', { name: /I have written them down/ }).click();
      await page.locator('#mnemonic-box').waitFor({ state: 'hidden' });
      expect(pageErrors).to.deep.equal([]);
    });

    it("signs the Hospital's registration request; the staff submit it and the ledger binds the phrase's key for this hospital", async () => {
      const request = await call(hospital, 'POST', '/v1/patients/registration-requests', { patientId });
      expect(request.status, JSON.stringify(request.body)).to.equal(201);
      await page.getByLabel('Registration request from your hospital').fill(JSON.stringify(request.body, null, 2));
      await page.getByRole('button', { name: 'Sign the registration' }).click();
      await page.locator('#signed-box').waitFor({ state: 'visible' });
      const signed = JSON.parse(await page.locator('#signed-output').inputValue());
      const address = HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(words.join(' ')), pathFor('HospitalMSP')).address;
      expect(signed.patient).to.equal(address);
      const registered = await call(hospital, 'POST', '/v1/patients', signed);
      expect(registered.status, JSON.stringify(registered.body)).to.equal(201);
      expect(registered.body.binding).to.include({ hospital: 'HospitalMSP', patientRef, patient: address });
      await page.screenshot({ path: path.join(ARTIFACTS, 'network-patient-registration.png'), fullPage: true });
    });

    it("grants the Insurer claims access to discharge summaries in the page: the Insurer's access is PERMITTED", async () => {
      await page.getByLabel('Organisation', { exact: true }).selectOption('InsurerMSP');
      await page.getByLabel('Purpose').selectOption('claims');
      await page.getByLabel('Record categories').fill(DISCHARGE);
      await page.getByLabel('Valid for (days)').fill('30');
      await page.getByRole('button', { name: 'Sign and give access' }).click();
      await page.locator('#grants .pill.active').waitFor({ timeout: 60_000 });
      await page.locator('#status', { hasText: `Access given: ${displayName('Insurer')}` }).waitFor({ timeout: 60_000 });
      expect((await page.locator('#grants tbody tr').first().textContent()) ?? '').to.include(displayName('Insurer')).and.include('claims').and.include(DISCHARGE);
      const permitted = await access();
      expect(permitted.decision).to.equal('PERMIT');
      expect(permitted.provenance).to.be.an('array').with.length(1);
      expect(permitted.provenance[0]).to.include({ recordId, docHash: sha256(original) });
      await page.screenshot({ path: path.join(ARTIFACTS, 'network-patient-granted.png'), fullPage: true });
    });

    it("revokes in the page: the Insurer's next access is DENIED (REVOKED)", async () => {
      await page.getByRole('button', { name: `Revoke access of ${displayName('Insurer')} for Insurance claims` }).click();
      await page.locator('#grants .pill.revoked').waitFor({ timeout: 60_000 });
      await page.locator('#status', { hasText: 'Access revoked' }).waitFor({ timeout: 60_000 });
      expect(await page.locator('#grants .pill.active').count()).to.equal(0);
      const denied = await access();
      expect(denied).to.include({ decision: 'DENY', reason: 'REVOKED' });
      expect(denied).to.not.have.property('provenance');
    });

    it("shows both of the Insurer's attempts in the page's access log: PERMIT and DENY; the phrase and key never left the browser", async () => {
      await page.getByRole('button', { name: 'Refresh' }).click();
      await page.locator('#access-log tr.log-entry.DENY').waitFor({ timeout: 60_000 });
      await page.locator('#status', { hasText: '2 access-log entries' }).waitFor({ timeout: 60_000 });
      const entries = await page.locator('#access-log tbody tr').allTextContents();
      expect(entries).to.have.length(2);
      expect(entries[0]).to.include('DENY').and.include('revoked').and.include(displayName('Insurer')).and.include(recordId);
      expect(entries[1]).to.include('PERMIT').and.include(displayName('Insurer')).and.include('claims');
      await page.screenshot({ path: path.join(ARTIFACTS, 'network-patient-access-log.png'), fullPage: true });
      const seed = Mnemonic.fromPhrase(words.join(' '));
      const secrets = [words.join(' '), HDNodeWallet.fromMnemonic(seed, pathFor('HospitalMSP')).privateKey.slice(2)];
      for (const r of requests) for (const secret of secrets) expect(`${r.url} ${r.body ?? ''} ${r.authorization ?? ''}`).to.not.include(secret);
      expect(pageErrors).to.deep.equal([]);
    });
  });

  describe('the Verify page on the Insurer gateway', () => {
    const waitForVerdict = (v: string) => page.locator(`#verdict.${v}`).waitFor({ timeout: 60_000 });
    const drop = (dropped: { name: string; text: string; type: string }[]) =>
      page.evaluate(`(() => {
        const t = new DataTransfer();
        for (const f of ${JSON.stringify(dropped)}) t.items.add(new File([f.text], f.name, { type: f.type }));
        document.querySelector('#drop-zone').dispatchEvent(new DragEvent('drop', { dataTransfer: t, bubbles: true, cancelable: true }));
      })()`);
    let saltedReceiptText = '';

    before(async () => {
      // Real receipts: the Hospital's checkpointer writes a checkpoint covering the anchors (every 1,000 anchors or 60 s).
      const receipt = await receiptOf(hospital, sha256(original));
      expect(verifyReceipt(receipt, original).valid).to.equal(true);
      writeFileSync(files.receipt, JSON.stringify(receipt, null, 2));
      const saltedReceipt = await receiptOf(hospital, sha256(labResult));
      expect(saltedReceipt.salt).to.equal(anchored.labSalt);
      saltedReceiptText = JSON.stringify(saltedReceipt);
      await verifyUntil(insurer, { docHash: sha256(retractedDoc) }, 'RETRACTED');
    });

    it('hashes the anchored document in the browser: ORIGINAL with its ledger block, the real receipt valid; only the hash was sent', async () => {
      const res = await page.goto(`${insurer.url}/verify`);
      expect(res?.status()).to.equal(200);
      expect(res?.headers()['content-security-policy']).to.equal(PAGE_CSP);
      await page.locator('#verify-form').waitFor();
      await page.locator('#org-name', { hasText: displayName('Insurer') }).waitFor();
      const before = requests.length;
      await page.getByLabel('API key').fill(insurer.key);
      await page.getByLabel('Receipt (optional, JSON)').setInputFiles(files.receipt);
      await page.getByLabel('Document', { exact: true }).setInputFiles(files.original);
      await waitForVerdict('ORIGINAL');
      await page.locator('#receipt-result').waitFor({ timeout: 60_000 });
      const text = (await page.locator('#live').textContent()) ?? '';
      expect(text).to.include('HospitalMSP').and.include(recordId).and.include(sha256(original)).and.include(anchored.txId);
      expect(await page.locator('#block-number').textContent()).to.equal(anchored.block);
      expect(await page.locator('#receipt-result h3').textContent()).to.equal('Receipt valid');
      const posts = requests.slice(before).filter((r) => r.method === 'POST');
      expect(posts.length).to.be.greaterThan(0);
      for (const post of posts) {
        expect(post.url).to.equal(`${insurer.url}/v1/verifications`);
        expect(Object.keys(JSON.parse(post.body ?? '{}'))).to.deep.equal(['docHash']);
      }
      await page.screenshot({ path: path.join(ARTIFACTS, 'network-verify-original.png'), fullPage: true });
    });

    it('a one-byte change: UNKNOWN, and the receipt no longer matches the document', async () => {
      await page.getByLabel('Document', { exact: true }).setInputFiles(files.changed);
      await waitForVerdict('UNKNOWN');
      expect(await page.locator('#live').textContent()).to.include(sha256(changed));
      await page.locator('#receipt-result').waitFor();
      expect(await page.locator('#receipt-result h3').textContent()).to.equal('Receipt invalid');
      expect(await page.locator('#receipt-result').textContent()).to.include('does not match the receipt');
    });

    it('a salted lab result dropped with its receipt: ORIGINAL as a salted commitment, the receipt valid; without the receipt: UNKNOWN with the note', async () => {
      const before = requests.length;
      await drop([
        { name: 'lab-result.json', text: labResult.toString('utf8'), type: 'application/json' },
        { name: 'lab-result.receipt.json', text: saltedReceiptText, type: 'application/json' },
      ]);
      await page.locator('#live', { hasText: 'lab-result.json' }).waitFor({ timeout: 60_000 });
      await waitForVerdict('ORIGINAL');
      await page.locator('#receipt-result').waitFor();
      expect(await page.locator('#commitment').textContent()).to.equal(`salted commitment: ${anchored.labCommitment}`);
      expect(await page.locator('#block-number').textContent()).to.equal(anchored.labBlock);
      expect(await page.locator('#receipt-result h3').textContent()).to.equal('Receipt valid');
      const posts = requests.slice(before).filter((r) => r.method === 'POST');
      expect(posts.map((p) => JSON.parse(p.body ?? '{}'))).to.deep.equal([{ docHash: sha256(labResult), salt: anchored.labSalt }]);
      await page.screenshot({ path: path.join(ARTIFACTS, 'network-verify-salted.png'), fullPage: true });

      await page.locator('#clear-button').click();
      await drop([{ name: 'lab-result.json', text: labResult.toString('utf8'), type: 'application/json' }]);
      await page.locator('#salt-note').waitFor({ timeout: 60_000 });
      expect(await page.locator('#verdict').textContent()).to.equal('UNKNOWN');
      expect(await page.locator('#salt-note').textContent()).to.equal(SALT_NOTE);
    });

    it('a retracted document: RETRACTED, with the block that anchored it', async () => {
      await page.locator('#clear-button').click();
      await page.getByLabel('Document', { exact: true }).setInputFiles(files.retracted);
      await waitForVerdict('RETRACTED');
      expect(await page.locator('#live').textContent()).to.include(`page-letter-${run}`);
      expect(await page.locator('#block-number').textContent()).to.match(/^\d+$/);
      await page.screenshot({ path: path.join(ARTIFACTS, 'network-verify-retracted.png'), fullPage: true });
      expect(pageErrors).to.deep.equal([]);
    });
  });
});
