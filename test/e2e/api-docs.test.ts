import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { IdentityContract } from '../../chaincode/src';
import { DOCS_CSP } from '../../gateway/src/http/docs-page';
import { FakeLedger } from '../unit/chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL } from '../unit/chaincode/fixtures';
import { startOrgGateway, type OrgGateway } from '../unit/support/org-gateways';
import { ARTIFACTS, launchBrowser, skipWithoutBrowser, type Browser } from './browser';

/**
 * Issue 18: the gateway serves a rendered API reference at /docs (Redoc, from node_modules,
 * offline) of its own /v1/openapi.json. Headless Chromium; skips without Chromium or playwright-core.
 */
describe('e2e: the API reference page (/docs) in headless Chromium', function () {
  this.timeout(180_000);
  const ledger = new FakeLedger();
  let dir: string;
  let hospital: OrgGateway | undefined;
  let browser: Browser | undefined;
  const pageErrors: string[] = [];
  const offOrigin: string[] = [];
  const failed: string[] = [];

  before(async function () {
    skipWithoutBrowser(this, 'the API reference e2e test');
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-docs-'));
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    hospital = await startOrgGateway({ ledger, mspId: HOSPITAL, type: 'hospital', dir });
    // Redoc's "API docs by" badge asks for its logo from Redocly's CDN: the page's policy refuses
    // it (the page works without). Chromium's own favicon request is the one 404 (not a page
    // resource: no page response failed, see below).
    browser = await launchBrowser({ pageErrors, expectedConsoleError: /cdn\.redoc\.ly\/redoc\/logo|status of 404/ });
    (browser.page as unknown as { on(e: 'response', f: (r: { status(): number; url(): string }) => void): void }).on('response', (r) => {
      if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
    });
    browser.page.on('request', (r) => {
      if (!r.url().startsWith(hospital!.url) && !r.url().startsWith('data:') && !r.url().startsWith('blob:')) offOrigin.push(r.url());
    });
  });

  after(async () => {
    try {
      await browser?.close();
    } finally {
      await hospital?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  it('renders the gateway\'s own document (every operation in its navigation), with no script error and nothing fetched from elsewhere', async () => {
    const page = browser!.page;
    const res = await page.goto(`${hospital!.url}/docs`);
    expect(res?.status()).to.equal(200);
    expect(res?.headers()['content-security-policy']).to.equal(DOCS_CSP);
    await page.locator('h1', { hasText: 'medprov gateway' }).first().waitFor({ timeout: 120_000 });
    await page.locator('text=Anchor a record version 1 by its hash').first().waitFor({ timeout: 60_000 });
    const text = (await page.locator('body').textContent()) ?? '';
    expect(text).to.include('Every consent-checked access to records of this binding');
    await page.screenshot({ path: path.join(ARTIFACTS, 'api-docs.png') });
    expect(pageErrors).to.deep.equal([]);
    expect(failed).to.deep.equal([]);
    expect(offOrigin.filter((u) => !u.startsWith('https://cdn.redoc.ly/redoc/logo'))).to.deep.equal([]);
  });
});
