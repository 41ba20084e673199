import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { HDNodeWallet, Mnemonic, randomBytes } from 'ethers';
import { ConsentContract, GuardiansContract, IdentityContract, RecordsContract } from '../../chaincode/src';
import { CONSENT_GRANT_TYPES, REGISTER_PATIENT_TYPES, consentDomain } from '../../chaincode/src/lib/eip712';
import { grantMessage, hospitalKeyPath } from '../../gateway/src/consent/patient-client';
import { FakeLedger } from '../unit/chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL, HOSPITAL2, INSURER } from '../unit/chaincode/fixtures';
import { ROLE_KEYS, startOrgGateway, type OrgGateway } from '../unit/support/org-gateways';
import { ARTIFACTS, launchBrowser, skipWithoutBrowser, type Browser, type PwPage } from './browser';

/**
 * Issue 16 in the Patient page, headless Chromium: the patient names a guardian (and ends the
 * delegation), sees the grant the guardian made marked as such, and opens the one view that lists
 * what both hospitals hold about them from the phrase alone. One hospital's real gateway on the
 * in-memory ledger running the real chaincode; the second hospital writes to the same ledger
 * directly (the page only ever talks to the first one's gateway).
 */
const CHANNEL = 'medprov';
const DISCHARGE = 'loinc:18842-5';
const OFFICER_KEY = ROLE_KEYS['records-officer'];
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const ORGS = [
  { mspId: HOSPITAL, name: 'Hospital', type: 'hospital' as const, displayName: { ko: '한빛대학교병원', en: 'Hanbit University Hospital' } },
  { mspId: HOSPITAL2, name: 'Clinic', type: 'hospital' as const, displayName: { ko: '푸른숲의원', en: 'Pureunsup Clinic' } },
  { mspId: INSURER, name: 'Insurer', type: 'insurer' as const, displayName: { ko: '누리손해보험', en: 'Nuri Insurance' } },
];

async function post(gw: OrgGateway, p: string, json: unknown, key?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(gw.url + p, { method: 'POST', headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), 'content-type': 'application/json' }, body: JSON.stringify(json) });
  return { status: res.status, body: await res.json() };
}

describe('e2e: guardians and the one view in the Patient page (headless Chromium)', function () {
  this.timeout(120_000);
  const ledger = new FakeLedger({ channel: CHANNEL });
  const phrase = Mnemonic.fromEntropy(randomBytes(16));
  const guardianPhrase = Mnemonic.fromEntropy(randomBytes(16));
  const keyAt = (m: Mnemonic, hospital: string) => HDNodeWallet.fromMnemonic(m, hospitalKeyPath(hospital));
  const clinicRef = sha('clinic patient 77');
  let dir: string;
  let hospital: OrgGateway | undefined;
  let browser: Browser | undefined;
  let page: PwPage;
  let patientRef: string;
  let delegationId: string;
  const requests: { method: string; url: string }[] = [];
  const pageErrors: string[] = [];

  before(async function () {
    skipWithoutBrowser(this, 'the guardian page e2e test');
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-e2e-guardian-'));
    const wall = Math.floor(Date.now() / 1000);
    if (wall > ledger.now) ledger.advance(wall - ledger.now);
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    hospital = await startOrgGateway({ ledger, mspId: HOSPITAL, type: 'hospital', dir, limits: { patientPerSecond: 1000, patientBurst: 1000 }, organisations: ORGS });

    // The hospital anchors and registers through its API (the patient's key for it from the phrase).
    const anchored = await post(hospital, '/v1/records', { recordId: 'adm-1', docHash: sha('adm-1'), patientId: 'MRN-77', category: DISCHARGE }, OFFICER_KEY);
    expect(anchored.status, JSON.stringify(anchored.body)).to.equal(201);
    patientRef = anchored.body.anchor.patientRef;
    const request = await post(hospital, '/v1/patients/registration-requests', { patientId: 'MRN-77' }, OFFICER_KEY);
    const mine = keyAt(phrase, HOSPITAL);
    const registered = await post(hospital, '/v1/patients', { message: request.body.message, patient: mine.address, signature: await mine.signTypedData(request.body.domain, request.body.types, request.body.message) }, OFFICER_KEY);
    expect(registered.status, JSON.stringify(registered.body)).to.equal(201);
    // The second hospital, straight on the ledger: a record and the binding of the phrase's key for it.
    await ledger.invoke(HOSPITAL2, new RecordsContract(), 'anchorRecord', JSON.stringify({ recordId: 'clinic-lab-9', docHash: sha('clinic-lab-9'), patientRef: clinicRef, category: 'loinc:11502-2' }));
    const other = keyAt(phrase, HOSPITAL2);
    const message = { hospital: HOSPITAL2, patientRef: clinicRef, nonce: `0x${sha('clinic nonce')}` };
    await ledger.invoke(HOSPITAL2, new ConsentContract(), 'registerPatient', JSON.stringify({ message, patient: other.address, signature: await other.signTypedData(consentDomain(CHANNEL), REGISTER_PATIENT_TYPES, message) }));

    browser = await launchBrowser({ pageErrors, expectedConsoleError: /^$/ });
    page = browser.page;
    page.on('request', (r) => requests.push({ method: r.method(), url: r.url() }));
  });

  after(async () => {
    try {
      await browser?.close();
    } finally {
      await hospital?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  it('loads the phrase and the registration; names a guardian by the address of the guardian’s key for this hospital', async () => {
    await page.goto(`${hospital!.url}/patient`);
    await page.locator('#key-state', { hasText: 'No key loaded.' }).waitFor();
    await page.locator('#phrase-input').fill(phrase.phrase);
    await page.locator('#load-key').click();
    await page.locator('#known-details summary').click();
    await page.locator('#known-hospital').selectOption(HOSPITAL);
    await page.getByLabel('Patient reference (patientRef)').fill(patientRef);
    await page.getByRole('button', { name: 'Use this registration' }).click();
    await page.locator('#grants .placeholder').waitFor({ timeout: 30_000 });

    await page.getByLabel("Guardian's address for this hospital").fill(keyAt(guardianPhrase, HOSPITAL).address);
    await page.getByLabel('May give access for').selectOption('claims');
    await page.locator('#guardian-days').fill('365');
    await page.getByRole('button', { name: 'Sign and name the guardian' }).click();
    await page.locator('#delegations .pill.active').waitFor({ timeout: 30_000 });
    await page.locator('#status', { hasText: 'named until' }).waitFor({ timeout: 30_000 });
    const row = (await page.locator('#delegations tbody tr').first().textContent()) ?? '';
    expect(row).to.include(keyAt(guardianPhrase, HOSPITAL).address).and.include('named by you').and.include('Insurance claims');
    const listed = JSON.parse(await ledger.invoke(INSURER, new GuardiansContract(), 'listDelegations', HOSPITAL, patientRef));
    expect(listed).to.have.length(1);
    expect(listed[0]).to.include({ basis: 'patient', guardian: keyAt(guardianPhrase, HOSPITAL).address });
    delegationId = listed[0].delegationId;
    await page.screenshot({ path: path.join(ARTIFACTS, 'patient-guardian.png'), fullPage: true });
  });

  it('shows the grant the guardian made, marked "by your guardian"', async () => {
    const now = Math.floor(Date.now() / 1000);
    const message = grantMessage({ hospital: HOSPITAL, patientRef }, { grantee: INSURER, purpose: 'claims', categories: [DISCHARGE], recordIds: [], validUntil: now + 30 * 86_400 }, now);
    const signature = await keyAt(guardianPhrase, HOSPITAL).signTypedData(consentDomain(CHANNEL), CONSENT_GRANT_TYPES, message);
    const granted = await post(hospital!, '/v1/guardians/consents', { message, signature, delegationId });
    expect(granted.status, JSON.stringify(granted.body)).to.equal(201);
    await page.locator('#refresh').click();
    await page.locator('#grants .pill.active').waitFor({ timeout: 30_000 });
    expect((await page.locator('#grants tbody tr').first().textContent()) ?? '').to.include('by your guardian');
  });

  it('the one view: both hospitals from the phrase alone, grouped by hospital, through reads only', async () => {
    const before = requests.length;
    const writes = ledger.writeCount;
    await page.getByRole('button', { name: 'Show everything' }).click();
    await page.locator('#overview section[data-hospital="Hospital2MSP"]').waitFor({ timeout: 30_000 });
    await page.locator('#status', { hasText: 'Registered at 2 of 2 hospitals.' }).waitFor({ timeout: 30_000 });
    const first = (await page.locator('#overview section[data-hospital="HospitalMSP"]').textContent()) ?? '';
    expect(first).to.include('Hanbit University Hospital').and.include('adm-1 (v1)').and.include('by your guardian').and.include(keyAt(guardianPhrase, HOSPITAL).address);
    const second = (await page.locator('#overview section[data-hospital="Hospital2MSP"]').textContent()) ?? '';
    expect(second).to.include('Pureunsup Clinic').and.include('clinic-lab-9 (v1)').and.include('1 record(s), 0 grant(s)');
    expect(ledger.writeCount, 'the one view writes nothing to the ledger').to.equal(writes);
    const sent = requests.slice(before).filter((r) => r.url.includes('/v1/'));
    expect(sent.filter((r) => r.method !== 'GET').every((r) => r.url.endsWith('/v1/patients/challenges')), 'only challenges are POSTed').to.equal(true);
    await page.screenshot({ path: path.join(ARTIFACTS, 'patient-overview.png'), fullPage: true });
  });

  it('in Korean too; then the patient ends the delegation', async () => {
    await page.getByRole('button', { name: '한국어' }).click();
    await page.locator('#overview-title', { hasText: '모든 병원의 내 정보' }).waitFor();
    expect((await page.locator('#overview section[data-hospital="Hospital2MSP"]').textContent()) ?? '').to.include('푸른숲의원');
    await page.getByRole('button', { name: 'English' }).click();
    await page.getByRole('button', { name: `End the delegation to ${keyAt(guardianPhrase, HOSPITAL).address}` }).click();
    await page.locator('#delegations .pill.revoked').waitFor({ timeout: 30_000 });
    const listed = JSON.parse(await ledger.invoke(INSURER, new GuardiansContract(), 'listDelegations', HOSPITAL, patientRef));
    expect(listed[0]).to.include({ status: 'revoked' });
    expect(listed[0].revocation).to.include({ by: 'patient' });
    expect(pageErrors).to.deep.equal([]);
  });
});
