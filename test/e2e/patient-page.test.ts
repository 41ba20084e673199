import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { HDNodeWallet, Mnemonic, id } from 'ethers';
import { AccessContract, IdentityContract, LinkageContract } from '../../chaincode/src';
import { PAGE_CSP } from '../../gateway/src/http/pages';
import { FakeLedger } from '../unit/chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL, HOSPITAL2, INSURER, SPONSOR } from '../unit/chaincode/fixtures';
import { ROLE_KEYS, type OrgGateway } from '../unit/support/org-gateways';
import { ARTIFACTS, launchBrowser, skipWithoutBrowser, type Browser, type PwPage } from './browser';
import { ORGANISATIONS, startPatientPageGateways } from './organisations';

/**
 * The Patient page end to end: a hospital's and an insurer's real gateways on one in-memory
 * ledger running the real chaincode; the patient uses /patient on the hospital's gateway in
 * headless Chromium (key, registration, grant, revoke, access log) while the hospital's staff
 * and the insurer's claims officer use the API. Skips when Chromium or playwright-core is missing.
 */
const CHANNEL = 'medprov';
const DISCHARGE = 'loinc:18842-5';
const LAB = 'loinc:11502-2';
const OFFICER_KEY = ROLE_KEYS['records-officer'];
const CLAIMS_KEY = ROLE_KEYS['claims-officer'];
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
/** The page's derivation (gateway/web/patient.ts): a hardened account per hospital, from its MSP ID. */
const HOSPITAL_NAME = ORGANISATIONS[0]!.displayName.en;
const INSURER_NAME = ORGANISATIONS[1]!.displayName.en;
const pathFor = (hospital: string): string => `m/44'/60'/${parseInt(id(`medprov-consent/hospital:${hospital}`).slice(2, 10), 16) & 0x7fffffff}'/0/0`;

async function staff(gw: OrgGateway, key: string, p: string, json: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(gw.url + p, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(json) });
  return { status: res.status, body: await res.json() };
}

describe('e2e: the Patient page in headless Chromium (hospital + insurer gateways, real chaincode on the in-memory stub)', function () {
  this.timeout(120_000);
  const ledger = new FakeLedger({ channel: CHANNEL });
  let dir: string;
  let hospital: OrgGateway | undefined;
  let insurer: OrgGateway | undefined;
  let browser: Browser | undefined;
  let page: PwPage;
  let patientRef: string;
  let words: string[] = [];
  let address: string;
  const requests: { method: string; url: string; body: string | null; authorization?: string }[] = [];
  const pageErrors: string[] = [];

  before(async function () {
    skipWithoutBrowser(this, 'the Patient page e2e test');
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-e2e-patient-'));
    ({ hospital, insurer } = await startPatientPageGateways(ledger, dir));

    // The hospital anchors two of the patient's records through its API.
    for (const [recordId, category] of [
      ['adm-2026-0001', DISCHARGE],
      ['lab-2026-0001', LAB],
    ]) {
      const res = await staff(hospital, OFFICER_KEY, '/v1/records', { recordId, docHash: sha(`doc ${recordId}`), patientId: 'MRN-1001', category });
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      patientRef = res.body.anchor.patientRef;
    }

    // The wrong-registration test's 403 is the browser reporting an answer the test asked for.
    browser = await launchBrowser({ pageErrors, expectedConsoleError: /status of 403/ });
    page = browser.page;
    page.on('request', (r) => requests.push({ method: r.method(), url: r.url(), body: r.postData(), authorization: r.headers().authorization }));
  });

  after(async () => {
    try {
      await browser?.close();
    } finally {
      await Promise.all([hospital?.stop(), insurer?.stop()]);
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  const status = async () => (await page.locator('#status').textContent()) ?? '';
  const access = () => staff(insurer!, CLAIMS_KEY, '/v1/access', { issuer: HOSPITAL, recordId: 'adm-2026-0001', purpose: 'claims' });

  it('serves /patient with the strict Content-Security-Policy and its script without errors; /verify still works', async () => {
    const verify = await fetch(`${hospital!.url}/verify`);
    expect(verify.status).to.equal(200);
    expect(await verify.text()).to.include('Verify a medical document');
    const res = await page.goto(`${hospital!.url}/patient`);
    expect(res?.status()).to.equal(200);
    expect(res?.headers()['content-security-policy']).to.equal(PAGE_CSP);
    const html = await (await fetch(`${hospital!.url}/patient`)).text();
    expect(html).to.not.match(/<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
    // The script is ready when it has rendered the key state.
    await page.locator('#key-state', { hasText: 'No key loaded.' }).waitFor();
    // English for an English-speaking browser (en-GB), the hospital by its display name.
    expect(await page.evaluate<string>('document.documentElement.lang')).to.equal('en');
    await page.locator('#org-name', { hasText: HOSPITAL_NAME }).waitFor();
    expect(await page.getByRole('button', { name: 'English' }).getAttribute('aria-pressed')).to.equal('true');
    expect(pageErrors).to.deep.equal([]);
  });

  it('creates a key in the browser and shows the 12 words once, with a "write this down" warning', async () => {
    await page.getByRole('button', { name: 'Create a new key' }).click();
    await page.locator('#mnemonic-box').waitFor({ state: 'visible' });
    words = await page.locator('#mnemonic-words li').allTextContents();
    expect(words).to.have.length(12);
    expect(Mnemonic.isValidMnemonic(words.join(' '))).to.equal(true);
    expect(await page.locator('#mnemonic-box').textContent()).to.include('Write these 12 words down now').and.include('only once');
    expect(await page.evaluate<string>('document.activeElement.id'), 'focus moves to the words').to.equal('mnemonic-box');
    await page.screenshot({ path: path.join(ARTIFACTS, 'patient-key.png'), fullPage: true });
    await page.getByRole('button', { name: /I have written them down/ }).click();
    await page.locator('#mnemonic-box').waitFor({ state: 'hidden' });
    expect(await page.locator('#mnemonic-words li').count()).to.equal(0);
    // Neither the phrase nor anything else is in storage yet.
    expect(await page.evaluate<number>('localStorage.length')).to.equal(0);
    expect(await page.evaluate<number>('sessionStorage.length')).to.equal(0);
  });

  it("signs the hospital's registration request; the staff submit the signed payload; the key is the phrase's key for that hospital only", async () => {
    const request = await staff(hospital!, OFFICER_KEY, '/v1/patients/registration-requests', { patientId: 'MRN-1001' });
    expect(request.status, JSON.stringify(request.body)).to.equal(201);
    await page.getByLabel('Registration request from your hospital').fill(JSON.stringify(request.body, null, 2));
    await page.getByRole('button', { name: 'Sign the registration' }).click();
    await page.locator('#signed-box').waitFor({ state: 'visible' });
    const signed = JSON.parse(await page.locator('#signed-output').inputValue());
    expect(Object.keys(signed).sort()).to.deep.equal(['message', 'patient', 'signature']);
    expect(signed.message).to.deep.equal(request.body.message);

    // The design: one key per hospital, derived from the phrase; the address at another hospital differs.
    const seed = Mnemonic.fromPhrase(words.join(' '));
    address = HDNodeWallet.fromMnemonic(seed, pathFor(HOSPITAL)).address;
    expect(signed.patient).to.equal(address);
    expect(HDNodeWallet.fromMnemonic(seed, pathFor(HOSPITAL2)).address).to.not.equal(address);
    expect(await page.locator('#reg-address').textContent()).to.equal(address);
    expect(await page.locator('#reg-hospital').textContent()).to.equal(HOSPITAL_NAME);

    const registered = await staff(hospital!, OFFICER_KEY, '/v1/patients', signed);
    expect(registered.status, JSON.stringify(registered.body)).to.equal(201);
    expect(registered.body.binding).to.include({ hospital: HOSPITAL, patientRef, patient: address });
    await page.screenshot({ path: path.join(ARTIFACTS, 'patient-registration.png'), fullPage: true });
  });

  it('grants claims access to one category for 30 days to InsurerMSP; the insurer\'s access is PERMITTED', async () => {
    expect(await page.locator('#grantee option').allTextContents()).to.include(`${INSURER_NAME} (${INSURER})`);
    await page.getByLabel('Organisation', { exact: true }).selectOption(INSURER);
    await page.getByLabel('Purpose').selectOption('claims');
    await page.getByLabel('Record categories').fill(DISCHARGE);
    await page.getByLabel('Valid for (days)').fill('30');
    await page.getByRole('button', { name: 'Sign and give access' }).click();
    await page.locator('#grants .pill.active').waitFor({ timeout: 30_000 });
    // The status line is written after the grants table; wait for it rather than read it once.
    await page.locator('#status', { hasText: `Access given: ${INSURER_NAME}` }).waitFor({ timeout: 30_000 });
    expect(await status()).to.include('Insurance claims');
    const row = (await page.locator('#grants tbody tr').first().textContent()) ?? '';
    expect(row).to.include(INSURER_NAME).and.include('Insurance claims').and.include(DISCHARGE).and.not.include(INSURER);

    const grants = await fetch(`${hospital!.url}/v1/consents/check?${new URLSearchParams({ hospital: HOSPITAL, patientRef, grantee: INSURER, purpose: 'claims', category: DISCHARGE })}`, {
      headers: { authorization: `Bearer ${OFFICER_KEY}` },
    });
    expect(((await grants.json()) as { decision: string }).decision).to.equal('PERMIT');
    const permitted = await access();
    expect(permitted.status, JSON.stringify(permitted.body)).to.equal(200);
    expect(permitted.body.decision).to.equal('PERMIT');
    expect(permitted.body.provenance).to.be.an('array').with.length(1);
    await page.screenshot({ path: path.join(ARTIFACTS, 'patient-granted.png'), fullPage: true });
  });

  it("revokes in the page; the insurer's next access is DENIED (REVOKED)", async () => {
    await page.getByRole('button', { name: `Revoke access of ${INSURER_NAME} for Insurance claims` }).click();
    await page.locator('#grants .pill.revoked').waitFor({ timeout: 30_000 });
    await page.locator('#status', { hasText: 'Access revoked' }).waitFor({ timeout: 30_000 });
    expect(await page.locator('#grants .pill.active').count()).to.equal(0);
    expect(await page.locator('button.revoke').count()).to.equal(0);
    const denied = await access();
    expect(denied.status, JSON.stringify(denied.body)).to.equal(200);
    expect(denied.body.decision).to.equal('DENY');
    expect(denied.body.reason).to.equal('REVOKED');
    expect(denied.body).to.not.have.property('provenance');
  });

  it("shows the gateway's sentence and code when a registration entered by hand is not this key's", async () => {
    await page.locator('#known-details summary').click();
    await page.getByLabel('Patient reference (patientRef)').fill(`${patientRef.slice(0, -4)}0000`);
    await page.getByRole('button', { name: 'Use this registration' }).click();
    await page.locator('#error').waitFor({ state: 'visible', timeout: 30_000 });
    const text = (await page.locator('#error').textContent()) ?? '';
    // The sentence for the code in the reader's language, the code, and the gateway's own words.
    expect(text).to.include('PATIENT_BINDING_MISMATCH').and.include("The hospital and patient reference given are not this key's registration.");
    expect(text).to.include("The hospital and patientRef signed are not this key's registration.");
    expect(await page.locator('#error').evaluate((e: { getAttribute(n: string): string | null }) => e.getAttribute('role'))).to.equal('alert');
    await page.screenshot({ path: path.join(ARTIFACTS, 'patient-error.png'), fullPage: true });
    // The registration that the gateway refused is not kept.
    expect(await page.locator('#reg-ref').textContent()).to.equal(patientRef);
    // Back to the right registration (which also reloads the listings).
    await page.getByLabel('Patient reference (patientRef)').fill(patientRef);
    await page.getByRole('button', { name: 'Use this registration' }).click();
    await page.locator('#error').waitFor({ state: 'hidden', timeout: 30_000 });
  });

  it("shows the access log with both of the insurer's attempts: PERMIT and DENY", async () => {
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.locator('#access-log tr.log-entry.DENY').waitFor({ timeout: 30_000 });
    await page.locator('#status', { hasText: '2 access-log entries' }).waitFor({ timeout: 30_000 });
    const entries = await page.locator('#access-log tbody tr').allTextContents();
    expect(entries).to.have.length(2);
    expect(entries[0]).to.include('DENY').and.include('revoked').and.include(INSURER_NAME).and.include('adm-2026-0001');
    expect(entries[1]).to.include('PERMIT').and.include(INSURER_NAME).and.include('Insurance claims');
    // The time in the reader's locale (en-GB, UTC), not an ISO string.
    expect(entries[0]).to.match(/\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2}:\d{2} UTC/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'patient-access-log.png'), fullPage: true });
  });

  it('shows a disclosure the hospital recorded as "Disclosed by <hospital> to <grantee>", newest first', async () => {
    const disclosure = { disclosureId: 'page-disclosure-1', issuer: HOSPITAL, grantee: INSURER, purpose: 'claims', recordIds: ['adm-2026-0001'] };
    await ledger.invoke(HOSPITAL, new AccessContract(), 'discloseRecords', JSON.stringify(disclosure));
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.locator('#status', { hasText: '3 access-log entries' }).waitFor({ timeout: 30_000 });
    expect(await page.locator('#access-log tr.log-entry.disclosure').count()).to.equal(1);
    const cells = await page.locator('#access-log tr.log-entry.disclosure td').allTextContents();
    expect(cells[1]).to.equal(`Disclosed by ${HOSPITAL_NAME} to ${INSURER_NAME}`);
    expect(cells.join(' ')).to.include('adm-2026-0001').and.include('Insurance claims').and.include('DENY').and.include('revoked');
    expect((await page.locator('#access-log tbody tr').first().textContent()) ?? '').to.include('Disclosed by');
  });

  it('shows the hospital checking the patient for a sponsor\'s research linkage as "Offered by <hospital> for <sponsor>\'s research linkage", with the request in place of a record', async () => {
    // The consortium admits a linkage institution (a majority of the members and the institution itself approve).
    const next = JSON.stringify({ organisations: [...(JSON.parse(CONSORTIUM) as { organisations: object[] }).organisations, { mspId: 'LinkageMSP', type: 'linkage' }] });
    for (const msp of [HOSPITAL, HOSPITAL2, INSURER, 'LinkageMSP']) await ledger.invoke(msp, new IdentityContract(), 'approveConsortiumChange', next);
    const linkage = new LinkageContract();
    await ledger.invoke(SPONSOR, linkage, 'requestLinkage', JSON.stringify({ requestId: 'page-linkage-1', projectId: 'TRIAL-7', hospitals: [HOSPITAL, HOSPITAL2], institution: 'LinkageMSP', quasiIdentifiers: ['birthYear'], k: 2 }));
    await ledger.invoke(HOSPITAL, linkage, 'contribute', JSON.stringify({ requestId: 'page-linkage-1', patientRefs: [patientRef] }));
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.locator('#status', { hasText: '4 access-log entries' }).waitFor({ timeout: 30_000 });
    expect(await page.locator('#access-log tr.log-entry.linkage').count()).to.equal(1);
    const cells = await page.locator('#access-log tr.log-entry.linkage td').allTextContents();
    expect(cells[1]).to.equal(`Offered by ${HOSPITAL_NAME} for ${SPONSOR}'s research linkage`);
    expect(cells[2]).to.equal('research linkage request page-linkage-1 (no record)');
    // No research consent for the project: not included, and the page says so.
    expect(cells.join(' ')).to.include('TRIAL-7').and.include('NO CONSENT');
    expect(await page.locator('#access-log tr.log-entry.linkage.NO_CONSENT').count()).to.equal(1);
  });

  it('never sent the phrase or a private key; kept only the non-secret registration in session storage (and nothing but the language in local storage); each listing used a Patient credential', async () => {
    const seed = Mnemonic.fromPhrase(words.join(' '));
    const secrets = [words.join(' '), HDNodeWallet.fromMnemonic(seed, pathFor(HOSPITAL)).privateKey.slice(2), seed.entropy.slice(2)];
    for (const r of requests) {
      for (const secret of secrets) {
        expect(r.body ?? '').to.not.include(secret);
        expect(r.url).to.not.include(secret);
        expect(r.authorization ?? '').to.not.include(secret);
      }
      expect(new URL(r.url).origin, 'the page talks to its own gateway only').to.equal(hospital!.url);
    }
    const listings = requests.filter((r) => r.url.includes('/v1/patients/me/'));
    expect(listings.length).to.be.greaterThan(0);
    for (const r of listings) expect(r.authorization).to.match(/^Patient [A-Za-z0-9_-]+$/);
    expect(await page.evaluate<number>('localStorage.length')).to.equal(0);
    const stored = JSON.parse((await page.evaluate<string | null>(`sessionStorage.getItem('medprov.patient.registration')`)) ?? '{}');
    expect(Object.keys(stored).sort()).to.deep.equal(['hospital', 'patientRef', 'salt']);
    expect(stored.salt).to.equal(id(CHANNEL));
  });

  it('is usable from the keyboard, with a visible focus ring; the status region is polite and live', async () => {
    await page.locator('#grantee').focus();
    const order: string[] = [];
    for (let i = 0; i < 4; i++) {
      await page.keyboard.press('Tab');
      order.push(await page.evaluate<string>('document.activeElement.id'));
    }
    expect(order).to.deep.equal(['purpose', 'categories', 'record-ids', 'days']);
    await page.keyboard.press('Tab');
    expect(await page.evaluate<string>('document.activeElement.id')).to.equal('grant-button');
    expect(await page.evaluate<string>('getComputedStyle(document.activeElement).outlineStyle')).to.equal('solid');
    expect(await page.locator('#status').evaluate((e: { getAttribute(n: string): string | null }) => e.getAttribute('aria-live'))).to.equal('polite');
    await page.screenshot({ path: path.join(ARTIFACTS, 'patient-focus.png'), fullPage: false });
    expect(pageErrors).to.deep.equal([]);
  });
});
