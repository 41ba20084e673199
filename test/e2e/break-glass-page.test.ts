import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { FakeLedger } from '../unit/chaincode/fake-ledger';
import { HOSPITAL } from '../unit/chaincode/fixtures';
import { sendTo } from '../unit/support/http';
import { ROLE_KEYS, type OrgGateway } from '../unit/support/org-gateways';
import { ARTIFACTS, launchBrowser, skipWithoutBrowser, type Browser, type PwPage } from './browser';
import { ORGANISATIONS, startPatientPageGateways } from './organisations';

/**
 * Break-glass on the Patient page (issue 16), in headless Chromium: the patient registers in the
 * page, a clinician of the hospital opens one of the patient's records without consent through
 * the API, and the page's access log flags that entry (its own row style, an "emergency access"
 * pill, the reason in words, emergency treatment as the purpose) in English and in Korean, next to
 * an ordinary consent-checked entry that is not flagged. Skips when Chromium or playwright-core is missing.
 */
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const HOSPITAL_NAME = ORGANISATIONS[0]!.displayName.en;

/** A staff member's POST through the API (the hospital's records office, a clinician, the insurer's claims officer). */
const staff = (gw: OrgGateway, key: string, p: string, json: unknown) => sendTo(gw, 'POST', p, key, json);

describe('e2e: break-glass flagged in the Patient page’s access log (headless Chromium)', function () {
  this.timeout(120_000);
  const ledger = new FakeLedger({ channel: 'medprov' });
  let dir: string;
  let hospital: OrgGateway | undefined;
  let insurer: OrgGateway | undefined;
  let browser: Browser | undefined;
  let page: PwPage;
  const pageErrors: string[] = [];

  before(async function () {
    skipWithoutBrowser(this, 'the break-glass page e2e test');
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-e2e-break-glass-'));
    ({ hospital, insurer } = await startPatientPageGateways(ledger, dir));
    const res = await staff(hospital, ROLE_KEYS['records-officer'], '/v1/records', { recordId: 'er-2026-0001', docHash: sha('er record'), patientId: 'MRN-2002', category: 'loinc:18842-5' });
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    // The records officer's refused audit request (403) is the browser reporting an answer the test asked for.
    browser = await launchBrowser({ pageErrors, expectedConsoleError: /status of 403/ });
    page = browser.page;
  });

  after(async () => {
    try {
      await browser?.close();
    } finally {
      await Promise.all([hospital?.stop(), insurer?.stop()]);
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the patient registers a new key in the page', async () => {
    await page.goto(`${hospital!.url}/patient`);
    await page.locator('#key-state', { hasText: 'No key loaded.' }).waitFor();
    await page.getByRole('button', { name: 'Create a new key' }).click();
    await page.locator('#mnemonic-box').waitFor({ state: 'visible' });
    await page.getByRole('button', { name: /I have written them down/ }).click();
    const request = await staff(hospital!, ROLE_KEYS['records-officer'], '/v1/patients/registration-requests', { patientId: 'MRN-2002' });
    expect(request.status, JSON.stringify(request.body)).to.equal(201);
    await page.getByLabel('Registration request from your hospital').fill(JSON.stringify(request.body, null, 2));
    await page.getByRole('button', { name: 'Sign the registration' }).click();
    await page.locator('#signed-box').waitFor({ state: 'visible' });
    const registered = await staff(hospital!, ROLE_KEYS['records-officer'], '/v1/patients', JSON.parse(await page.locator('#signed-output').inputValue()));
    expect(registered.status, JSON.stringify(registered.body)).to.equal(201);
  });

  it('an insurer’s access without consent (NO_CONSENT) and a clinician’s break-glass: only the break-glass row is flagged, with its reason', async () => {
    const denied = await staff(insurer!, ROLE_KEYS['claims-officer'], '/v1/access', { issuer: HOSPITAL, recordId: 'er-2026-0001', purpose: 'claims' });
    expect(denied.body.decision, JSON.stringify(denied.body)).to.equal('NO_CONSENT');
    const opened = await staff(hospital!, ROLE_KEYS.clinician, '/v1/break-glass', { issuer: HOSPITAL, recordId: 'er-2026-0001', reason: 'unconscious-patient' });
    expect(opened.status, JSON.stringify(opened.body)).to.equal(201);

    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.locator('#status', { hasText: '2 access-log entries' }).waitFor({ timeout: 30_000 });
    const flagged = page.locator('#access-log tr.log-entry.break-glass');
    expect(await flagged.count()).to.equal(1);
    const text = (await flagged.textContent()) ?? '';
    expect(text).to.include('EMERGENCY ACCESS').and.include('opened without your consent in an emergency: the patient was unconscious');
    expect(text).to.include(`${HOSPITAL_NAME} (clinician)`).and.include('Emergency treatment').and.include('er-2026-0001');
    expect(await page.locator('#access-log tr.log-entry.break-glass .pill.BREAK_GLASS').count()).to.equal(1);
    // The flag is seen, not only read: the row has an outline of its own and the pill is filled.
    expect(await page.evaluate<string>(`getComputedStyle(document.querySelector('#access-log tr.log-entry.break-glass')).outlineStyle`)).to.equal('solid');
    const other = (await page.locator('#access-log tr.log-entry:not(.break-glass)').textContent()) ?? '';
    expect(other).to.include('NO CONSENT').and.not.include('EMERGENCY');
    await page.screenshot({ path: path.join(ARTIFACTS, 'patient-break-glass.png'), fullPage: true });
  });

  it('in Korean too', async () => {
    await page.getByRole('button', { name: '한국어' }).click();
    const flagged = page.locator('#access-log tr.log-entry.break-glass');
    await flagged.filter({ hasText: '응급 열람' }).waitFor({ timeout: 30_000 });
    const text = (await flagged.textContent()) ?? '';
    expect(text).to.include('응급 상황으로 동의 없이 열람: 환자 의식 없음').and.include('응급 진료').and.include('진료 의료인');
    await page.screenshot({ path: path.join(ARTIFACTS, 'patient-break-glass-ko.png'), fullPage: true });
    expect(pageErrors).to.deep.equal([]);
  });

  it("the records office's page: the DPO's break-glass audit report (this hospital's accesses), refused for a records officer's key", async () => {
    await page.goto(`${hospital!.url}/staff`);
    await page.getByRole('button', { name: 'English' }).click();
    await page.locator('#bg-key').fill(ROLE_KEYS['records-officer']);
    await page.getByRole('button', { name: 'Show the report' }).click();
    await page.locator('#bg-error', { hasText: 'FORBIDDEN_ROLE' }).waitFor({ timeout: 30_000 });
    expect(await page.locator('#bg-error').textContent()).to.include('Your role may not do this.');
    await page.locator('#bg-key').fill(ROLE_KEYS.dpo);
    await page.getByRole('button', { name: 'Show the report' }).click();
    await page.locator('#bg-summary', { hasText: `1 break-glass accesses by ${HOSPITAL_NAME}` }).waitFor({ timeout: 30_000 });
    expect(await page.locator('#bg-error').isVisible()).to.equal(false);
    const row = (await page.locator('#bg-result tr.bg-entry').textContent()) ?? '';
    expect(row).to.include(`${HOSPITAL_NAME} (clinician)`).and.include('er-2026-0001 (v1)').and.include('the patient was unconscious');
    // Accesses to this hospital's records: the same one (its own clinician opened its own record).
    await page.getByLabel("Accesses to this hospital's records (by any hospital)").click();
    await page.getByRole('button', { name: 'Show the report' }).click();
    await page.locator('#bg-summary', { hasText: `1 break-glass accesses to ${HOSPITAL_NAME}'s records` }).waitFor({ timeout: 30_000 });
    await page.screenshot({ path: path.join(ARTIFACTS, 'staff-break-glass-audit.png'), fullPage: true });
    await page.getByRole('button', { name: '한국어' }).click();
    await page.locator('#bg-summary', { hasText: '응급 열람 1건' }).waitFor({ timeout: 30_000 });
    expect((await page.locator('#bg-result tr.bg-entry').textContent()) ?? '').to.include('환자 의식 없음').and.include('진료 의료인');
    expect(pageErrors).to.deep.equal([]);
  });
});

