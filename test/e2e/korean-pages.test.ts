import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { FakeLedger } from '../unit/chaincode/fake-ledger';
import { HOSPITAL, INSURER } from '../unit/chaincode/fixtures';
import { ROLE_KEYS, type OrgGateway } from '../unit/support/org-gateways';
import { ARTIFACTS, launchBrowser, skipWithoutBrowser, type Browser, type PwPage } from './browser';
import { ORGANISATIONS, startPatientPageGateways } from './organisations';

/**
 * Both pages for a Korean reader, end to end: headless Chromium with a Korean locale (so
 * navigator.languages and Accept-Language prefer ko-KR) in the Asia/Seoul time zone, on a
 * hospital's and an insurer's real gateways (one in-memory ledger with the real chaincode).
 * The patient registers from the hospital's one-time link (no JSON to copy), gives access and
 * sees the access log, all in Korean with the organisations' Korean names; the link is refused
 * when used again and when expired; the language switch turns the page to English and is
 * remembered; the records office's page makes the link and shows its QR code. The README's
 * screenshots (docs/screenshots/*-ko.png) are taken here with MEDPROV_README_SCREENSHOTS=1.
 */
const OFFICER_KEY = ROLE_KEYS['records-officer'];
const CLAIMS_KEY = ROLE_KEYS['claims-officer'];
const DISCHARGE = 'loinc:18842-5';
/** The README's screenshots are written over only when asked (MEDPROV_README_SCREENSHOTS=1); otherwise they go with the other artifacts. */
const SCREENSHOTS = process.env.MEDPROV_README_SCREENSHOTS === '1' ? path.resolve(__dirname, '../../docs/screenshots') : ARTIFACTS;
const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const [HOSPITAL_KO, INSURER_KO] = ORGANISATIONS.map((o) => o.displayName.ko) as [string, string];

async function staff(gw: OrgGateway, key: string, p: string, json: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(gw.url + p, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(json) });
  return { status: res.status, body: await res.json() };
}

describe('e2e: the pages in Korean (ko-KR, Asia/Seoul): registration by one-time link, display names, the language switch', function () {
  this.timeout(120_000);
  const ledger = new FakeLedger({ channel: 'medprov' });
  let dir: string;
  let hospital: OrgGateway | undefined;
  let insurer: OrgGateway | undefined;
  let browser: Browser | undefined;
  let page: PwPage;
  let firstLink: { url: string; expiresAt: string };
  const pageErrors: string[] = [];
  const document = Buffer.from('%PDF-1.7 퇴원 요약 2026-03-14\n');

  before(async function () {
    skipWithoutBrowser(this, 'the Korean pages e2e test');
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-e2e-ko-'));
    ({ hospital, insurer } = await startPatientPageGateways(ledger, dir));
    const anchored = await staff(hospital, OFFICER_KEY, '/v1/records', { recordId: 'adm-2026-0007', docHash: sha(document), patientId: 'MRN-2001', category: DISCHARGE });
    expect(anchored.status, JSON.stringify(anchored.body)).to.equal(201);
    // The refusals the tests ask for (a used and an expired link, a wrong API key) are reported by the browser too.
    browser = await launchBrowser({ pageErrors, expectedConsoleError: /status of (401|409|410)/, locale: 'ko-KR', timezoneId: 'Asia/Seoul' });
    page = browser.page;
    mkdirSync(SCREENSHOTS, { recursive: true });
  });

  after(async () => {
    try {
      await browser?.close();
    } finally {
      await Promise.all([hospital?.stop(), insurer?.stop()]);
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  const status = () => page.locator('#status');
  const newLink = async (patientId: string) => {
    const res = await staff(hospital!, OFFICER_KEY, '/v1/patients/registration-links', { patientId });
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    return res.body.link as { url: string; path: string; expiresAt: string; qrSvg: string };
  };

  it('opens the hospital’s registration link in Korean, the hospital by its Korean name, the expiry in Seoul time', async () => {
    firstLink = await newLink('MRN-2001');
    await page.goto(firstLink.url);
    await page.locator('#link-box').waitFor({ state: 'visible', timeout: 30_000 });
    expect(await page.evaluate<string>('document.documentElement.lang')).to.equal('ko');
    expect(await page.locator('h1').textContent()).to.equal('내 동의 관리');
    expect(await page.getByRole('button', { name: '한국어' }).getAttribute('aria-pressed')).to.equal('true');
    await page.locator('#org-name', { hasText: HOSPITAL_KO }).waitFor();
    const text = (await page.locator('#link-text').textContent()) ?? '';
    expect(text).to.include(HOSPITAL_KO).and.include('등록을 요청했습니다');
    // Korean date and time, in Seoul (UTC+9), not the ISO string the gateway sent.
    const seoul = new Intl.DateTimeFormat('en-GB', { timeZone: 'Asia/Seoul', hour: 'numeric', hourCycle: 'h12' }).formatToParts(new Date(firstLink.expiresAt)).find((p) => p.type === 'hour')!.value;
    expect(text).to.match(/\d{4}\. \d{1,2}\. \d{1,2}\./).and.include(`${seoul}시`).and.not.include(firstLink.expiresAt);
  });

  it('creates a key, signs and registers in the page: registered at the hospital, the token leaves the address bar', async () => {
    await page.getByRole('button', { name: '새 키 만들기' }).click();
    await page.locator('#mnemonic-box').waitFor({ state: 'visible' });
    expect(await page.locator('#mnemonic-words li').count()).to.equal(12);
    await page.getByRole('button', { name: /다 적었습니다/ }).click();
    await page.evaluate('window.scrollTo(0, 0)');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'patient-link-ko.png'), fullPage: false });
    await page.getByRole('button', { name: '서명하고 등록하기' }).click();
    await status().filter({ hasText: `${HOSPITAL_KO}에 등록되었습니다` }).waitFor({ timeout: 30_000 });
    expect(await page.locator('#link-box').isVisible()).to.equal(false);
    expect(await page.locator('#reg-hospital').textContent()).to.equal(HOSPITAL_KO);
    expect(await page.evaluate<string>('location.hash')).to.equal('');
    // The listing proves the registration: the gateway answers this key's (empty) grants.
    await page.getByRole('button', { name: '새로 고침' }).click();
    await status().filter({ hasText: '접근 허용 0건' }).waitFor({ timeout: 30_000 });
  });

  it('gives access to the insurer, chosen by its Korean name; the grants and the access log are in Korean', async () => {
    expect(await page.locator('#grantee option').allTextContents()).to.include(`${INSURER_KO} (${INSURER})`);
    await page.getByLabel('기관', { exact: true }).selectOption(INSURER);
    await page.getByLabel('목적', { exact: true }).selectOption('claims');
    await page.getByLabel('기록 종류').fill(DISCHARGE);
    await page.getByRole('button', { name: '서명하고 접근 허용하기' }).click();
    await status().filter({ hasText: `접근을 허용했습니다: ${INSURER_KO}` }).waitFor({ timeout: 30_000 });
    const row = (await page.locator('#grants tbody tr').first().textContent()) ?? '';
    expect(row).to.include(INSURER_KO).and.include('보험 청구').and.include('유효').and.not.include(INSURER);
    const access = await staff(insurer!, CLAIMS_KEY, '/v1/access', { issuer: HOSPITAL, recordId: 'adm-2026-0007', purpose: 'claims' });
    expect(access.body.decision, JSON.stringify(access.body)).to.equal('PERMIT');
    await page.getByRole('button', { name: '새로 고침' }).click();
    await status().filter({ hasText: '열람 기록 1건' }).waitFor({ timeout: 30_000 });
    const entry = (await page.locator('#access-log tbody tr').first().textContent()) ?? '';
    expect(entry).to.include('허용').and.include(INSURER_KO).and.include(HOSPITAL_KO).and.include('adm-2026-0007');
    await page.locator('#list-title').evaluate((e: { scrollIntoView(): void }) => e.scrollIntoView());
    await page.screenshot({ path: path.join(SCREENSHOTS, 'patient-grants-ko.png'), fullPage: false });
  });

  it('refuses the same link a second time with a clear sentence and the code REGISTRATION_LINK_USED', async () => {
    await page.goto(firstLink.url);
    await page.locator('#error').waitFor({ state: 'visible', timeout: 30_000 });
    const text = (await page.locator('#error').textContent()) ?? '';
    expect(text).to.include('등록 링크를 사용할 수 없습니다').and.include('이미 사용된 등록 링크입니다').and.include('REGISTRATION_LINK_USED');
    expect(await page.locator('#link-box').isVisible()).to.equal(false);
  });

  it('switches to English and back with the banner’s buttons; the choice is remembered across a reload', async () => {
    await page.getByRole('button', { name: 'English' }).click();
    expect(await page.locator('h1').textContent()).to.equal('Your consent');
    expect(await page.evaluate<string>('document.documentElement.lang')).to.equal('en');
    expect(await page.locator('#org-name').textContent()).to.equal('Hanbit University Hospital');
    expect(await page.locator('#error').textContent()).to.include('REGISTRATION_LINK_USED');
    expect(await page.evaluate<string | null>(`localStorage.getItem('medprov.lang')`)).to.equal('en');
    await page.reload();
    await page.locator('#org-name', { hasText: 'Hanbit University Hospital' }).waitFor();
    expect(await page.locator('h1').textContent()).to.equal('Your consent');
    expect(await page.getByRole('button', { name: 'English' }).getAttribute('aria-pressed')).to.equal('true');
    await page.getByRole('button', { name: '한국어' }).click();
    expect(await page.locator('h1').textContent()).to.equal('내 동의 관리');
    expect(await page.evaluate<string | null>(`localStorage.getItem('medprov.lang')`)).to.equal('ko');
  });

  it('verifies a document in Korean: 원본, issued by the hospital’s Korean name; a wrong API key is refused in Korean with its code', async () => {
    const file = path.join(dir, 'discharge-summary.pdf');
    writeFileSync(file, document);
    await page.goto(`${insurer!.url}/verify`);
    await page.locator('#org-name', { hasText: INSURER_KO }).waitFor({ timeout: 30_000 });
    expect(await page.locator('h1').textContent()).to.equal('의료 문서 검증하기');
    await page.getByLabel('API 키').fill('not-a-key-of-this-gateway');
    await page.getByLabel('문서', { exact: true }).setInputFiles(file);
    await page.locator('#error').waitFor({ timeout: 30_000 });
    expect(await page.locator('#error').textContent()).to.include('이 게이트웨이에 등록되지 않은 API 키입니다').and.include('AUTH_INVALID');
    await page.getByLabel('API 키').fill(CLAIMS_KEY);
    await page.getByRole('button', { name: '검증' }).click();
    await page.locator('#verdict.ORIGINAL').waitFor({ timeout: 30_000 });
    expect(await page.locator('#verdict').textContent()).to.equal('원본');
    expect(await page.locator('#issuer').textContent()).to.equal(`${HOSPITAL_KO} (${HOSPITAL})`);
    expect(await page.locator('#live').textContent()).to.include('원본입니다').and.include(sha(document));
    await page.screenshot({ path: path.join(SCREENSHOTS, 'verify-ko.png'), fullPage: true });
  });

  it('the records office’s page (/staff) makes a link in Korean and shows its QR code; the link opens the Patient page', async () => {
    await page.goto(`${hospital!.url}/staff`);
    await page.locator('#org-name', { hasText: HOSPITAL_KO }).waitFor({ timeout: 30_000 });
    expect(await page.locator('h1').textContent()).to.equal('환자 키 등록');
    await page.getByLabel('API 키').fill(OFFICER_KEY);
    await page.getByLabel('이 병원의 환자 번호').fill('MRN-2003');
    await page.getByRole('button', { name: '등록 링크 만들기' }).click();
    await page.locator('#link-result').waitFor({ state: 'visible', timeout: 30_000 });
    const url = (await page.locator('#link-url').textContent()) ?? '';
    expect(url).to.match(new RegExp(`^${hospital!.url}/patient#registration=[A-Za-z0-9_-]{32}$`));
    expect(await page.locator('#qr').evaluate((img: { naturalWidth: number; alt: string }) => [img.naturalWidth > 0, img.alt])).to.deep.equal([true, '등록 링크 QR 코드']);
    expect(await page.locator('#link-expiry').textContent()).to.include('한 번만 쓸 수 있으며');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'staff-ko.png'), fullPage: true });
    // The wrong key: refused in Korean with the code.
    await page.getByLabel('API 키').fill('not-a-key-of-this-gateway');
    await page.getByLabel('이 병원의 환자 번호').fill('MRN-2004');
    await page.getByRole('button', { name: '등록 링크 만들기' }).click();
    await page.locator('#error').waitFor({ state: 'visible', timeout: 30_000 });
    expect(await page.locator('#error').textContent()).to.include('이 게이트웨이에 등록되지 않은 API 키입니다').and.include('AUTH_INVALID');
    await page.goto(url);
    await page.locator('#link-box').waitFor({ state: 'visible', timeout: 30_000 });
    expect(await page.locator('#link-text').textContent()).to.include(HOSPITAL_KO);
    expect((await fetch(`${insurer!.url}/staff`)).status, 'an insurer has no records office page').to.equal(404);
  });

  it('refuses an expired link (REGISTRATION_LINK_EXPIRED) in Korean', async () => {
    const late = await newLink('MRN-2002');
    ledger.advance(16 * 60);
    await page.goto(late.url);
    await page.locator('#error').waitFor({ state: 'visible', timeout: 30_000 });
    expect(await page.locator('#error').textContent()).to.include('등록 링크가 만료되었습니다').and.include('REGISTRATION_LINK_EXPIRED');
    await page.screenshot({ path: path.join(ARTIFACTS, 'patient-link-expired-ko.png'), fullPage: true });
    expect(pageErrors).to.deep.equal([]);
  });
});
