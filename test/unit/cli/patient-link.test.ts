import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { IdentityContract } from '../../../chaincode/src';
import { qrCodeText } from '../../../gateway/src/consent/qr-code';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL } from '../chaincode/fixtures';
import { runCli } from '../support/cli-process';
import { ROLE_KEYS, startOrgGateway, type OrgGateway } from '../support/org-gateways';

/**
 * `medprov patient link` as a child process against a hospital's real gateway: the one-time
 * registration link, its QR code on the terminal and as an SVG file, the patients' public
 * address; a link that the Patient page can open (the gateway answers its request).
 */
describe('medprov patient link (child process against a real gateway)', function () {
  this.timeout(120_000);
  const ledger = new FakeLedger();
  let dir: string;
  let home: string;
  let hospital: OrgGateway;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-link-cli-'));
    home = path.join(dir, 'home');
    mkdirSync(home);
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    hospital = await startOrgGateway({ ledger, mspId: HOSPITAL, type: 'hospital', dir });
  });
  after(async () => {
    await hospital?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const asOfficer = (args: string[]) => runCli(['patient', 'link', ...args, '--gateway', hospital.url], { home, env: { MEDPROV_API_KEY: ROLE_KEYS['records-officer'] } });

  it('prints the link with its QR code, and writes the QR code as SVG; the link opens the request at the gateway', async () => {
    const svg = path.join(dir, 'link.svg');
    const r = await asOfficer(['--patient-id', 'MRN-3001', '--qr', svg]);
    expect(r.code, r.stderr).to.equal(0);
    const url = /link\s+(\S+)/.exec(r.stdout)![1]!;
    expect(url).to.match(new RegExp(`^${hospital.url}/patient#registration=[A-Za-z0-9_-]{32}$`));
    expect(r.stdout).to.include(qrCodeText(url));
    expect(readFileSync(svg, 'utf8')).to.match(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    const token = url.split('=')[1];
    const opened = await fetch(`${hospital.url}/v1/patients/registration-links/open`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
    expect(opened.status).to.equal(200);
    expect(((await opened.json()) as { message: { hospital: string } }).message.hospital).to.equal(HOSPITAL);
  });

  it('uses the patients’ public address when given, and answers one JSON document with --json', async () => {
    const r = await asOfficer(['--patient-id', 'MRN-3002', '--public-url', 'https://consent.hanbit.example/', '--json']);
    expect(r.code, r.stderr).to.equal(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.url).to.match(/^https:\/\/consent\.hanbit\.example\/patient#registration=[A-Za-z0-9_-]{32}$/);
    expect(doc).to.include({ hospital: HOSPITAL });
    expect(Date.parse(doc.expiresAt)).to.be.greaterThan(0);
  });

  it('is a usage error without a patient id, with a bad public address, or without an API key (exit 2)', async () => {
    for (const args of [[], ['--patient-id', 'MRN-1', '--public-url', 'ftp://x']]) {
      const r = await asOfficer(args);
      expect(r.code, r.stderr).to.equal(2);
    }
    const r = await runCli(['patient', 'link', '--patient-id', 'MRN-1', '--gateway', hospital.url], { home });
    expect(r.code).to.equal(2);
    expect(r.stderr).to.include('no API key');
  });
});
