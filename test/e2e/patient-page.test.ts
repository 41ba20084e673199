import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { HDNodeWallet, Mnemonic, id } from 'ethers';
import pino from 'pino';
import { IdentityContract } from '../../chaincode/src';
import { ConsentService } from '../../gateway/src/consent/service';
import { createGatewayApp } from '../../gateway/src/http/app';
import { hashApiKey } from '../../gateway/src/http/auth';
import { PAGE_CSP } from '../../gateway/src/http/pages';
import { MasterKey, PatientKeyStore } from '../../gateway/src/privacy';
import { RecordsService } from '../../gateway/src/records/service';
import { FakeLedger } from '../unit/chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL, HOSPITAL2, INSURER } from '../unit/chaincode/fixtures';
import { ChaincodeLedger } from '../unit/support/chaincode-ledger';

/**
 * The Patient page end to end: a hospital's and an insurer's real gateways on one in-memory
 * ledger running the real chaincode; the patient uses /patient on the hospital's gateway in
 * headless Chromium (key, registration, grant, revoke, access log) while the hospital's staff
 * and the insurer's claims officer use the API. Skips when Chromium or playwright-core is missing.
 */
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.resolve(__dirname, '../../test-artifacts');
const CHANNEL = 'medprov';
const DISCHARGE = 'loinc:18842-5';
const LAB = 'loinc:11502-2';
const OFFICER_KEY = 'records-officer-key-0123456789';
const CLAIMS_KEY = 'claims-officer-key-0123456789ab';
const users = [
  { id: 'officer', role: 'records-officer' as const, apiKeySha256: hashApiKey(OFFICER_KEY) },
  { id: 'claims', role: 'claims-officer' as const, apiKeySha256: hashApiKey(CLAIMS_KEY) },
];
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
/** The page's derivation (gateway/web/patient.ts): a hardened account per hospital, from its MSP ID. */
const pathFor = (hospital: string): string => `m/44'/60'/${parseInt(id(`medprov-consent/hospital:${hospital}`).slice(2, 10), 16) & 0x7fffffff}'/0/0`;

// The little of playwright-core this test uses, typed here so that type-checking does not need
// the package (it is loaded at run time, and its absence skips the test).
interface PwRequest { url(): string; method(): string; postData(): string | null; headers(): Record<string, string> }
interface PwResponse { headers(): Record<string, string>; status(): number }
interface PwLocator {
  fill(value: string): Promise<void>;
  click(): Promise<void>;
  textContent(): Promise<string | null>;
  inputValue(): Promise<string>;
  allTextContents(): Promise<string[]>;
  count(): Promise<number>;
  isVisible(): Promise<boolean>;
  selectOption(value: string): Promise<unknown>;
  waitFor(options?: { state?: 'visible' | 'attached' | 'hidden' | 'detached'; timeout?: number }): Promise<void>;
  focus(): Promise<void>;
  first(): PwLocator;
  evaluate<R>(fn: (el: any) => R): Promise<R>; // eslint-disable-line @typescript-eslint/no-explicit-any
}
interface PwPage {
  goto(url: string): Promise<PwResponse | null>;
  getByLabel(text: string, options?: { exact?: boolean }): PwLocator;
  getByRole(role: string, options?: { name?: string | RegExp; exact?: boolean }): PwLocator;
  locator(selector: string): PwLocator;
  screenshot(options: { path: string; fullPage?: boolean }): Promise<unknown>;
  on(event: 'request', fn: (r: PwRequest) => void): void;
  on(event: 'console', fn: (m: { type(): string; text(): string }) => void): void;
  on(event: 'pageerror', fn: (e: Error) => void): void;
  keyboard: { press(key: string): Promise<void> };
  evaluate<R>(fn: string): Promise<R>;
}
interface PwContext { newPage(): Promise<PwPage>; close(): Promise<void> }
interface PwChromium {
  launchPersistentContext(userDataDir: string, options: Record<string, unknown>): Promise<PwContext>;
}

function loadPlaywright(): PwChromium | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('playwright-core') as { chromium: PwChromium }).chromium;
  } catch {
    return undefined;
  }
}

/** Chromium processes started with our user-data dir (the test's own, by their unique argument). */
function browserPids(userDataDir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(userDataDir)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

interface Gateway {
  url: string;
  stop: () => Promise<void>;
}

async function gateway(ledger: FakeLedger, mspId: string, type: 'hospital' | 'insurer', dir: string): Promise<Gateway> {
  const keys = await PatientKeyStore.open({ stateDir: path.join(dir, mspId), masterKey: MasterKey.generate(), ifMissing: 'create' });
  const chaincode = new ChaincodeLedger(ledger, mspId);
  const consent = new ConsentService(chaincode, {
    org: { mspId, type },
    channel: CHANNEL,
    patientRefs: type === 'hospital' ? keys : undefined,
    // Fabric's transaction time is the submitting gateway's clock; here, the stub's clock.
    clock: () => ledger.now * 1000,
  });
  const { app } = createGatewayApp({
    org: { mspId, name: mspId, type },
    users,
    records: new RecordsService(chaincode, keys),
    consent,
    logger: pino({ level: 'silent' }),
    limits: { patientPerSecond: 1000, patientBurst: 1000 },
  });
  const server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: async () => {
      await keys.close();
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
    },
  };
}

async function staff(gw: Gateway, key: string, p: string, json: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(gw.url + p, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(json) });
  return { status: res.status, body: await res.json() };
}

describe('e2e: the Patient page in headless Chromium (hospital + insurer gateways, real chaincode on the in-memory stub)', function () {
  this.timeout(120_000);
  const ledger = new FakeLedger({ channel: CHANNEL });
  let dir: string;
  let userDataDir: string;
  let hospital: Gateway | undefined;
  let insurer: Gateway | undefined;
  let context: PwContext | undefined;
  let page: PwPage;
  let patientRef: string;
  let words: string[] = [];
  let address: string;
  const requests: { method: string; url: string; body: string | null; authorization?: string }[] = [];
  const pageErrors: string[] = [];

  before(async function () {
    const chromium = loadPlaywright();
    if (!existsSync(CHROMIUM) || !chromium) {
      const missing = !existsSync(CHROMIUM) ? `${CHROMIUM} (run scripts/install-browser.sh)` : 'the npm package playwright-core';
      console.warn(`      skipped: the Patient page e2e test needs ${missing}.`);
      this.skip();
      return;
    }
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-e2e-patient-'));
    userDataDir = mkdtempSync(path.join(tmpdir(), 'medprov-chromium-'));
    mkdirSync(ARTIFACTS, { recursive: true });
    // The page signs with the browser's clock, as a patient's phone would; the stub's clock is
    // brought to the same time (a real gateway's transaction time is its wall clock too).
    const wall = Math.floor(Date.now() / 1000);
    if (wall > ledger.now) ledger.advance(wall - ledger.now);
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    hospital = await gateway(ledger, HOSPITAL, 'hospital', dir);
    insurer = await gateway(ledger, INSURER, 'insurer', dir);

    // The hospital anchors two of the patient's records through its API.
    for (const [recordId, category] of [
      ['adm-2026-0001', DISCHARGE],
      ['lab-2026-0001', LAB],
    ]) {
      const res = await staff(hospital, OFFICER_KEY, '/v1/records', { recordId, docHash: sha(`doc ${recordId}`), patientId: 'MRN-1001', category });
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      patientRef = res.body.anchor.patientRef;
    }

    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1100, height: 900 },
      locale: 'en-GB',
      timezoneId: 'UTC',
    });
    page = await context.newPage();
    page.on('request', (r) => requests.push({ method: r.method(), url: r.url(), body: r.postData(), authorization: r.headers().authorization }));
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => {
      // The wrong-registration test's 403 is the browser reporting an answer the test asked for.
      if (m.type() === 'error' && !/status of 403/.test(m.text())) pageErrors.push(m.text());
    });
  });

  after(async () => {
    try {
      if (context) await Promise.race([context.close(), new Promise((r) => setTimeout(r, 10_000))]);
    } finally {
      // Never leave a browser behind: whatever still runs with our own profile dir is ended.
      if (userDataDir) {
        for (const pid of browserPids(userDataDir)) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        rmSync(userDataDir, { recursive: true, force: true });
      }
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
    await page.locator('#key-state').waitFor();
    expect(await page.locator('#org-name').textContent()).to.equal(HOSPITAL);
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

    const registered = await staff(hospital!, OFFICER_KEY, '/v1/patients', signed);
    expect(registered.status, JSON.stringify(registered.body)).to.equal(201);
    expect(registered.body.binding).to.include({ hospital: HOSPITAL, patientRef, patient: address });
    await page.screenshot({ path: path.join(ARTIFACTS, 'patient-registration.png'), fullPage: true });
  });

  it('grants claims access to one category for 30 days to InsurerMSP; the insurer\'s access is PERMITTED', async () => {
    await page.getByLabel('Organisation (MSP ID)').fill(INSURER);
    await page.getByLabel('Purpose').selectOption('claims');
    await page.getByLabel('Record categories').fill(DISCHARGE);
    await page.getByLabel('Valid for (days)').fill('30');
    await page.getByRole('button', { name: 'Sign and give access' }).click();
    await page.locator('#grants .pill.active').waitFor({ timeout: 30_000 });
    expect(await status()).to.include(`Access given: ${INSURER}`).and.include('claims');
    const row = (await page.locator('#grants tbody tr').first().textContent()) ?? '';
    expect(row).to.include(INSURER).and.include('claims').and.include(DISCHARGE);

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
    await page.getByRole('button', { name: `Revoke access of ${INSURER} for claims` }).click();
    await page.locator('#grants .pill.revoked').waitFor({ timeout: 30_000 });
    expect(await status()).to.include('Access revoked');
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
    expect(text).to.include('PATIENT_BINDING_MISMATCH').and.include("The hospital and patientRef signed are not this key's registration.");
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
    const entries = await page.locator('#access-log tbody tr').allTextContents();
    expect(entries).to.have.length(2);
    expect(entries[0]).to.include('DENY').and.include('revoked').and.include(INSURER).and.include('adm-2026-0001');
    expect(entries[1]).to.include('PERMIT').and.include(INSURER).and.include('claims');
    expect(await status()).to.include('2 access-log entries');
    await page.screenshot({ path: path.join(ARTIFACTS, 'patient-access-log.png'), fullPage: true });
  });

  it('never sent the phrase or a private key; kept only the non-secret registration in session storage; each listing used a Patient credential', async () => {
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
