import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { verifyAccessReceipt, type AccessReceipt } from '../../gateway/src/anchoring/access-receipt';
import { FakeLedger } from '../unit/chaincode/fake-ledger';
import { INSURER } from '../unit/chaincode/fixtures';
import { consentedAccessReceipt } from '../unit/support/access-receipts';
import { ROLE_KEYS, startOrgGateway, type OrgGateway } from '../unit/support/org-gateways';
import { ARTIFACTS, launchBrowser, skipWithoutBrowser, type Browser, type PwPage } from './browser';

/**
 * The Verify page with a consent-bound access receipt, end to end in headless Chromium: the real
 * chaincode on the in-memory ledger records an insurer's access permitted by the patient's signed
 * grant; the receipt is built from what the ledger stored (its leaf in a small log, proved against
 * a checkpoint of that log, as the anchor log does); the page served by the insurer's gateway
 * checks it with the CLI's verifier and says who accessed which document, why, when and under
 * which consent — in English and in Korean; a changed receipt and another document fail.
 */
const CLAIMS_KEY = ROLE_KEYS['claims-officer'];

describe('e2e: the Verify page checks a consent-bound access receipt (headless Chromium, real chaincode on the in-memory stub)', function () {
  this.timeout(120_000);
  const ledger = new FakeLedger();
  let dir: string;
  let insurer: OrgGateway | undefined;
  let browser: Browser | undefined;
  let page: PwPage;
  const pageErrors: string[] = [];
  const document = Buffer.concat([Buffer.from('%PDF-1.7 discharge summary for a claim\n'), randomBytes(64 * 1024)]);
  const files = { document: '', other: '', receipt: '', tampered: '' };
  let receipt: AccessReceipt;

  before(async function () {
    skipWithoutBrowser(this, 'the access receipt page e2e test');
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-e2e-access-'));
    receipt = await consentedAccessReceipt(document, { ledger, recordId: 'adm-2026-0077' });
    expect(verifyAccessReceipt(receipt, document)).to.deep.equal({ valid: true, reasons: [] });

    insurer = await startOrgGateway({ ledger, mspId: INSURER, type: 'insurer', dir });
    files.document = path.join(dir, 'discharge-summary.pdf');
    files.other = path.join(dir, 'another.pdf');
    files.receipt = path.join(dir, 'claim.access-receipt.json');
    files.tampered = path.join(dir, 'claim.tampered.json');
    writeFileSync(files.document, document);
    writeFileSync(files.other, Buffer.from('a document the insurer did not access'));
    writeFileSync(files.receipt, JSON.stringify(receipt, null, 2));
    writeFileSync(files.tampered, JSON.stringify({ ...receipt, access: { ...receipt.access, purpose: 'research:TRIAL-9' } }, null, 2));
    browser = await launchBrowser({ pageErrors, expectedConsoleError: /^$/ });
    page = browser.page;
  });

  after(async () => {
    try {
      await browser?.close();
    } finally {
      await insurer?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  const receiptHeading = () => page.locator('#receipt-result h3').textContent();

  it('says who accessed which document, for what purpose, when and under which consent, for the document and its receipt', async () => {
    await page.goto(`${insurer!.url}/verify`);
    await page.getByLabel('API key').fill(CLAIMS_KEY);
    await page.getByLabel('Receipt (optional, JSON)').setInputFiles(files.receipt);
    await page.getByLabel('Document', { exact: true }).setInputFiles(files.document);
    await page.locator('#receipt-result[data-kind="consented-access"]').waitFor({ timeout: 30_000 });
    expect(await receiptHeading()).to.equal('Consent receipt valid');
    const text = (await page.locator('#access-text').textContent()) ?? '';
    expect(text).to.include(INSURER).and.to.include('claims').and.to.include(receipt.access.grantId).and.to.include(receipt.access.patient).and.to.include('adm-2026-0077');
    expect(text).to.include('entry 4 of 7');
    expect(await page.locator('#recipient').textContent()).to.include(INSURER);
    // The gateway's own verdict on the document is there too.
    await page.locator('#verdict.ORIGINAL').waitFor({ timeout: 30_000 });
    expect(pageErrors).to.deep.equal([]);
    await page.screenshot({ path: path.join(ARTIFACTS, 'verify-access-receipt.png'), fullPage: true });
  });

  it('refuses a receipt with a changed field, naming what failed, and one for another document', async () => {
    await page.getByLabel('Receipt (optional, JSON)').setInputFiles(files.tampered);
    await page.locator('#receipt-result.invalid').waitFor({ timeout: 30_000 });
    expect(await receiptHeading()).to.equal('Receipt invalid');
    const reasons = (await page.locator('#receipt-result').textContent()) ?? '';
    expect(reasons).to.include('a field of access was changed').and.to.include('grant.purpose is not access.purpose');

    await page.getByLabel('Receipt (optional, JSON)').setInputFiles(files.receipt);
    await page.getByLabel('Document', { exact: true }).setInputFiles(files.other);
    await page.locator('#verdict.UNKNOWN').waitFor({ timeout: 30_000 });
    await page.locator('#receipt-result.invalid').waitFor({ timeout: 30_000 });
    expect(await page.locator('#receipt-result').textContent()).to.include('does not match the consent receipt');
  });

  it('says it in Korean when the reader chose Korean', async () => {
    await page.evaluate(`localStorage.setItem('medprov.lang', 'ko')`);
    await page.goto(`${insurer!.url}/verify`);
    expect(await page.evaluate<string>('document.documentElement.lang')).to.equal('ko');
    await page.locator('#receipt-input').setInputFiles(files.receipt);
    await page.locator('#document-input').setInputFiles(files.document);
    await page.locator('#receipt-result[data-kind="consented-access"]').waitFor({ timeout: 30_000 });
    expect(await receiptHeading()).to.equal('동의 영수증이 유효함');
    expect(await page.locator('#access-text').textContent()).to.include('환자의 동의').and.to.include(receipt.access.grantId);
    await page.screenshot({ path: path.join(ARTIFACTS, 'verify-access-receipt-ko.png'), fullPage: true });
    await page.evaluate(`localStorage.removeItem('medprov.lang')`);
  });
});
