import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { IdentityContract } from '../../chaincode/src';
import type { RecordAnchor } from '../../chaincode/src/contracts/records';
import { encodeLeaf, leafFromAnchor, leafHash, verifyReceipt, type Receipt } from '../../gateway/src/anchoring';
import { buildReceipt } from '../../gateway/src/anchoring/node';
import { PAGE_CSP } from '../../gateway/src/http/pages';
import { SALT_NOTE } from '../../gateway/src/records/service';
import { bytesToHex, MerkleTree } from '../../gateway/src/merkle';
import { FakeLedger } from '../unit/chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL, INSURER } from '../unit/chaincode/fixtures';
import { sendTo, uploadForm } from '../unit/support/http';
import { ROLE_KEYS, startOrgGateway, type OrgGateway } from '../unit/support/org-gateways';
import { ARTIFACTS, launchBrowser, skipWithoutBrowser, type Browser, type PwPage } from './browser';

/**
 * The Verify page end to end: real gateways (a hospital and an insurer on one in-memory ledger
 * running the real chaincode), the page served by the insurer's gateway, driven in headless
 * Chromium. Skips when Chromium (scripts/install-browser.sh) or playwright-core is missing.
 */
const OFFICER_KEY = ROLE_KEYS['records-officer'];
const CLAIMS_KEY = ROLE_KEYS['claims-officer'];
const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/**
 * A receipt built with the anchoring module's builder: the anchor's leaf in a small log (other
 * anchors around it), proved against a checkpoint of that log.
 */
function receiptOf(anchored: { anchor: RecordAnchor; blockNumber: string }): Receipt {
  const leaf = leafFromAnchor(anchored.anchor, BigInt(anchored.blockNumber));
  const others = Array.from({ length: 6 }, () => new Uint8Array(randomBytes(32)));
  const tree = MerkleTree.fromLeafHashes([...others.slice(0, 4), leafHash(leaf), ...others.slice(4)]);
  return buildReceipt({
    leafBytes: encodeLeaf(leaf),
    leafIndex: 4,
    tree,
    checkpoint: { treeSize: 7, root: bytesToHex(tree.rootAt(7)), fabricBlockHeight: 3, chainId: 31337, contract: '0x5fbdb2315678afecb367f032d93f642f64180aa3', evmBlockNumber: 5 },
  });
}

describe('e2e: the Verify page in headless Chromium (real gateway, real chaincode on the in-memory stub)', function () {
  this.timeout(120_000);
  const ledger = new FakeLedger();
  let dir: string;
  let hospital: OrgGateway | undefined;
  let insurer: OrgGateway | undefined;
  let browser: Browser | undefined;
  let page: PwPage;
  const requests: { method: string; url: string; body: string | null }[] = [];
  const pageErrors: string[] = [];

  const original = Buffer.concat([Buffer.from('%PDF-1.7 discharge summary of 2026-03-14\n'), randomBytes(3 * 2 ** 20)]);
  const changed = Buffer.from(original);
  changed[changed.length >> 1]! ^= 0x01;
  const files = { original: '', changed: '', receipt: '' };
  /** The block that anchored the original, as the hospital's gateway answered. */
  let anchoredBlock = '';
  /** A small structured document (salted when uploaded) and, once anchored, its commitment and receipt. */
  const labResult = Buffer.from('{"resourceType":"Observation","code":"HbA1c","unit":"%","value":"5.4"}');
  let saltedCommitment = '';
  let saltedReceiptText = '';

  before(async function () {
    skipWithoutBrowser(this, 'the Verify page e2e test');
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-e2e-'));
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    hospital = await startOrgGateway({ ledger, mspId: HOSPITAL, type: 'hospital', dir });
    insurer = await startOrgGateway({ ledger, mspId: INSURER, type: 'insurer', dir });

    // The hospital anchors the document (by hash) through its API.
    const res = await fetch(`${hospital.url}/v1/records`, {
      method: 'POST',
      headers: { authorization: `Bearer ${OFFICER_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ recordId: 'adm-2026-0042', docHash: sha(original), patientId: '900101-1234567', category: 'loinc:18842-5' }),
    });
    expect(res.status).to.equal(201);
    const anchored = (await res.json()) as { anchor: RecordAnchor; blockNumber: string };
    anchoredBlock = anchored.blockNumber;

    const receipt = receiptOf(anchored);
    expect(verifyReceipt(receipt, original).valid).to.equal(true);

    // A small lab result uploaded to the hospital is anchored as a salted commitment; its receipt
    // is the leaf of the commitment, with the salt that the hospital answered.
    const salted = await sendTo(hospital, 'POST', '/v1/records', OFFICER_KEY, uploadForm(labResult, { recordId: 'lab-2026-0042', patientId: '900101-1234567', category: 'loinc:4548-4' }));
    expect(salted.status, JSON.stringify(salted.body)).to.equal(201);
    expect(salted.body.commitment).to.equal('salted');
    saltedCommitment = salted.body.anchor.docHash;
    expect(saltedCommitment).to.not.equal(sha(labResult));
    saltedReceiptText = JSON.stringify({ ...receiptOf(salted.body), salt: salted.body.salt });
    expect(verifyReceipt(JSON.parse(saltedReceiptText), labResult)).to.deep.equal({ valid: true, reasons: [] });

    files.original = path.join(dir, 'discharge-summary.pdf');
    files.changed = path.join(dir, 'discharge-summary-edited.pdf');
    files.receipt = path.join(dir, 'discharge-summary.receipt.json');
    writeFileSync(files.original, original);
    writeFileSync(files.changed, changed);
    writeFileSync(files.receipt, JSON.stringify(receipt, null, 2));

    // The wrong-key test's 401 is the browser reporting an answer the test asked for.
    browser = await launchBrowser({ pageErrors, expectedConsoleError: /status of 401/ });
    page = browser.page;
    page.on('request', (r) => requests.push({ method: r.method(), url: r.url(), body: r.postData() }));
  });

  after(async () => {
    try {
      await browser?.close();
    } finally {
      await Promise.all([hospital?.stop(), insurer?.stop()]);
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  const verdict = () => page.locator('#verdict').textContent();
  /** Drops files (name, text, type) together on the drop zone, as a user dragging them would. */
  const drop = (dropped: { name: string; text: string; type: string }[]) =>
    page.evaluate(`(() => {
      const t = new DataTransfer();
      for (const f of ${JSON.stringify(dropped)}) t.items.add(new File([f.text], f.name, { type: f.type }));
      document.querySelector('#drop-zone').dispatchEvent(new DragEvent('drop', { dataTransfer: t, bubbles: true, cancelable: true }));
    })()`);
  // Locators, not waitForFunction: the page's CSP (rightly) forbids the eval that it needs.
  const waitForVerdict = (v: string) => page.locator(`#verdict.${v}`).waitFor({ timeout: 30_000 });

  it('serves the page with a strict Content-Security-Policy, and its script without errors', async () => {
    const res = await page.goto(`${insurer!.url}/verify`);
    expect(res?.status()).to.equal(200);
    expect(res?.headers()['content-security-policy']).to.equal(PAGE_CSP);
    expect(PAGE_CSP).to.include("script-src 'self'");
    await page.locator('#verify-form').waitFor();
    expect(await page.locator('#org-name').textContent()).to.equal(INSURER);
    expect(pageErrors).to.deep.equal([]);
  });

  it('shows the gateway\'s own error sentence for a wrong API key', async () => {
    await page.getByLabel('API key').fill('not-a-key-of-this-gateway');
    await page.getByLabel('Document', { exact: true }).setInputFiles(files.original);
    await page.locator('#error').waitFor({ timeout: 30_000 });
    expect(await page.locator('#error').textContent()).to.include('This API key is not known to this gateway.');
    expect(await page.locator('#error').textContent()).to.include('AUTH_INVALID');
    await page.screenshot({ path: path.join(ARTIFACTS, 'verify-error.png'), fullPage: true });
  });

  it('hashes the anchored file in the browser and shows ORIGINAL, with its receipt valid; only the hash is sent', async () => {
    await page.getByLabel('API key').fill(CLAIMS_KEY);
    await page.getByLabel('Receipt (optional, JSON)').setInputFiles(files.receipt);
    await waitForVerdict('ORIGINAL');
    await page.locator('#receipt-result').waitFor();
    expect(await verdict()).to.equal('ORIGINAL');
    const text = (await page.locator('#live').textContent()) ?? '';
    expect(text).to.include(HOSPITAL).and.to.include('adm-2026-0042').and.to.include(sha(original));
    expect(await page.locator('#receipt-result h3').textContent()).to.equal('Receipt valid');
    // The block of the anchoring transaction, as a term of the facts list right after the transaction id.
    expect(await page.locator('#block-number').textContent()).to.equal(anchoredBlock);
    const terms = await page.locator('#live dl.facts > dt').allTextContents();
    expect(terms.slice(terms.indexOf('Ledger transaction'), terms.indexOf('Ledger transaction') + 2)).to.deep.equal(['Ledger transaction', 'Ledger block']);
    expect(await page.locator('#live dl.facts > dt:has(+ dd #block-number)').textContent()).to.equal('Ledger block');
    expect(await page.locator('#hash-progress').evaluate((e: { value: number }) => e.value)).to.equal(100);
    // The key is in this tab's session storage, nowhere else.
    expect(await page.evaluate<string | null>(`sessionStorage.getItem('medprov.verify.apiKey')`)).to.equal(CLAIMS_KEY);
    expect(await page.evaluate<number>(`localStorage.length`)).to.equal(0);
    // The document never left the browser: each POST carried only { docHash }.
    const posts = requests.filter((r) => r.method === 'POST');
    expect(posts.length).to.be.greaterThan(0);
    for (const post of posts) {
      expect(post.url).to.equal(`${insurer!.url}/v1/verifications`);
      expect(Object.keys(JSON.parse(post.body ?? '{}'))).to.deep.equal(['docHash']);
      expect(post.body!.length).to.be.lessThan(200);
    }
    await page.screenshot({ path: path.join(ARTIFACTS, 'verify-original.png'), fullPage: true });
  });

  it('shows UNKNOWN for a one-byte change, and the receipt no longer matches', async () => {
    await page.getByLabel('Document', { exact: true }).setInputFiles(files.changed);
    await waitForVerdict('UNKNOWN');
    expect(await page.locator('#live').textContent()).to.include(sha(changed));
    await page.locator('#receipt-result').waitFor();
    expect(await page.locator('#receipt-result h3').textContent()).to.equal('Receipt invalid');
    expect(await page.locator('#receipt-result').textContent()).to.include('does not match the receipt');
    await page.screenshot({ path: path.join(ARTIFACTS, 'verify-unknown.png'), fullPage: true });
  });

  it('takes a document and its receipt dropped together on the drop zone, and tells them apart', async () => {
    const receiptText = readFileSync(files.receipt, 'utf8');
    await drop([
      { name: 'r.receipt.json', text: receiptText, type: 'application/json' },
      { name: 'letter.pdf', text: 'a scanned letter nobody anchored', type: 'application/pdf' },
    ]);
    // The previous test left an UNKNOWN verdict on the page: wait for the one about letter.pdf.
    await page.locator('#live', { hasText: 'letter.pdf' }).waitFor({ timeout: 30_000 });
    await page.locator('#verdict.UNKNOWN').waitFor({ timeout: 30_000 });
    expect(await page.locator('#live').textContent()).to.include('letter.pdf').and.to.include(sha('a scanned letter nobody anchored'));
    expect(await page.locator('#document-chosen').textContent()).to.include('letter.pdf');
    expect(await page.locator('#receipt-chosen').textContent()).to.include('r.receipt.json');
    expect(await page.locator('#receipt-result h3').textContent()).to.equal('Receipt invalid');
  });

  it('is usable from the keyboard: Tab reaches the key, the file inputs and Verify, with a visible focus ring', async () => {
    await page.locator('#api-key').focus();
    const order: string[] = [];
    for (let i = 0; i < 5; i++) {
      await page.keyboard.press('Tab');
      order.push(await page.evaluate<string>(`document.activeElement.id`));
    }
    expect(order).to.deep.equal(['forget-key', 'document-input', 'receipt-input', 'verify-button', 'clear-button']);
    await page.locator('#verify-button').focus();
    await page.keyboard.press('Tab');
    await page.keyboard.press('Shift+Tab');
    const outline = await page.evaluate<string>(`getComputedStyle(document.activeElement).outlineStyle`);
    expect(outline).to.equal('solid');
    await page.keyboard.press('Enter');
    await waitForVerdict('UNKNOWN');
    expect(await page.evaluate<string>(`document.activeElement.id`), 'focus stays on Verify').to.equal('verify-button');
    expect(await page.locator('#live').evaluate((e: { getAttribute(n: string): string | null }) => e.getAttribute('aria-live'))).to.equal('polite');
    await page.screenshot({ path: path.join(ARTIFACTS, 'verify-focus.png'), fullPage: false });
    expect(pageErrors).to.deep.equal([]);
  });

  it('a salted record with its receipt dropped: ORIGINAL as a salted commitment, the receipt valid; the salt went with the hash', async () => {
    const before = requests.length;
    await drop([
      { name: 'lab-result.json', text: labResult.toString('utf8'), type: 'application/json' },
      { name: 'lab-result.receipt.json', text: saltedReceiptText, type: 'application/json' },
    ]);
    await page.locator('#live', { hasText: 'lab-result.json' }).waitFor({ timeout: 30_000 });
    await waitForVerdict('ORIGINAL');
    await page.locator('#receipt-result').waitFor();
    expect(await page.locator('#document-chosen').textContent()).to.include('lab-result.json');
    expect(await page.locator('#receipt-chosen').textContent()).to.include('lab-result.receipt.json');
    const text = (await page.locator('#live').textContent()) ?? '';
    expect(text).to.include(HOSPITAL).and.to.include('lab-2026-0042').and.to.include(sha(labResult));
    expect(await page.locator('#commitment').textContent()).to.equal(`salted commitment: ${saltedCommitment}`);
    expect(await page.locator('#receipt-result h3').textContent()).to.equal('Receipt valid');
    expect(await page.locator('#receipt-result').textContent()).to.include('salted commitment').and.to.include(saltedCommitment);
    expect(await page.locator('#salt-note').count()).to.equal(0);
    // Only the hash and the receipt's salt left the browser.
    const posts = requests.slice(before).filter((r) => r.method === 'POST');
    expect(posts).to.have.length(1);
    expect(JSON.parse(posts[0]!.body ?? '{}')).to.deep.equal({ docHash: sha(labResult), salt: JSON.parse(saltedReceiptText).salt });
    await page.screenshot({ path: path.join(ARTIFACTS, 'verify-salted.png'), fullPage: true });
  });

  it('the salted document dropped without its receipt: UNKNOWN at the insurer, with the note on salted records', async () => {
    await page.locator('#clear-button').click();
    expect(await page.locator('#receipt-chosen').textContent()).to.equal('No receipt chosen.');
    await drop([{ name: 'lab-result.json', text: labResult.toString('utf8'), type: 'application/json' }]);
    await page.locator('#salt-note').waitFor({ timeout: 30_000 });
    expect(await verdict()).to.equal('UNKNOWN');
    expect(await page.locator('#live').textContent()).to.include('lab-result.json').and.to.include(sha(labResult));
    expect(await page.locator('#salt-note').textContent()).to.equal(SALT_NOTE);
    expect(await page.locator('#receipt-result').count()).to.equal(0);
    await page.screenshot({ path: path.join(ARTIFACTS, 'verify-salted-no-receipt.png'), fullPage: true });
    expect(pageErrors).to.deep.equal([]);
  });
});
