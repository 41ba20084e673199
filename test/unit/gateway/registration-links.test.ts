import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { HDNodeWallet, Mnemonic, id } from 'ethers';
import { IdentityContract } from '../../../chaincode/src';
import { REGISTER_PATIENT_TYPES } from '../../../chaincode/src/lib/eip712';
import { parseConsortiumDefinition, readConsortiumFile } from '../../../network/src/consortium';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL, INSURER } from '../chaincode/fixtures';
import { ROLE_KEYS, startOrgGateway, type OrgGateway } from '../support/org-gateways';

/**
 * Registration by one-time link, at unit level: a hospital's real gateway on the in-memory
 * ledger with the real chaincode. The records office makes the link; the patient's page opens
 * it and completes it with the link's token only (no API key). Also GET /v1/organisations and
 * the consortium definition's display names.
 */
const OFFICER = ROLE_KEYS['records-officer'];
const ORGANISATIONS = [
  { mspId: HOSPITAL, name: 'Hospital', type: 'hospital' as const, displayName: { ko: '한빛대학교병원', en: 'Hanbit University Hospital' } },
  { mspId: INSURER, name: 'Insurer', type: 'insurer' as const, displayName: { ko: '누리손해보험', en: 'Nuri Insurance' } },
];

async function call(url: string, method: string, p: string, body?: unknown, key?: string): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (key) headers.authorization = `Bearer ${key}`;
  const res = await fetch(url + p, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, body: await res.json() };
}

describe('gateway: registration by one-time link; organisations with display names', function () {
  this.timeout(60_000);
  const ledger = new FakeLedger({ channel: 'medprov' });
  let dir: string;
  let hospital: OrgGateway;
  let insurer: OrgGateway;
  const wallet = HDNodeWallet.fromMnemonic(Mnemonic.fromEntropy(id('link patient')), "m/44'/60'/0'/0/0");

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-links-'));
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    const limits = { patientPerSecond: 1000, patientBurst: 1000 };
    hospital = await startOrgGateway({ ledger, mspId: HOSPITAL, type: 'hospital', dir, limits, organisations: ORGANISATIONS });
    insurer = await startOrgGateway({ ledger, mspId: INSURER, type: 'insurer', dir, limits });
  });
  after(async () => {
    await Promise.all([hospital?.stop(), insurer?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  const link = async (patientId: string) => {
    const res = await call(hospital.url, 'POST', '/v1/patients/registration-links', { patientId }, OFFICER);
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    return res.body as { link: { token: string; path: string; url: string; expiresAt: string; qrSvg: string }; request: any };
  };
  const sign = async (request: any, signer = wallet) => ({
    message: request.message,
    patient: signer.address,
    signature: await signer.signTypedData(request.domain, REGISTER_PATIENT_TYPES, request.message),
  });

  it('gives the records office a link to the Patient page with the token in its fragment, and its QR code as SVG', async () => {
    const { link: l, request } = await link('MRN-LINK-1');
    expect(l.token).to.match(/^[A-Za-z0-9_-]{32}$/);
    expect(l.path).to.equal(`/patient#registration=${l.token}`);
    expect(l.url).to.equal(`${hospital.url}${l.path}`);
    expect(l.qrSvg).to.match(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"[^>]*><title>[^<]+<\/title>.*<path fill="#000" d="M[0-9 hvMz-]+"\/><\/svg>$/);
    expect(request.primaryType).to.equal('RegisterPatient');
    expect(Date.parse(l.expiresAt)).to.be.at.most(Date.parse(request.expiresAt));
  });

  it('is refused without the records officer’s key, and is not offered by an insurer’s gateway', async () => {
    expect((await call(hospital.url, 'POST', '/v1/patients/registration-links', { patientId: 'x' })).status).to.equal(401);
    expect((await call(hospital.url, 'POST', '/v1/patients/registration-links', { patientId: 'x' }, ROLE_KEYS['claims-officer'])).body.error.code).to.equal('FORBIDDEN_ROLE');
    const res = await call(insurer.url, 'POST', '/v1/patients/registration-links/open', { token: 'a'.repeat(32) });
    expect(res.status).to.equal(404);
    expect(res.body.error.code).to.equal('ROUTE_NOT_FOUND');
  });

  it('opens (as often as needed) and completes once with the patient’s signature; a second completion is 409 REGISTRATION_LINK_USED', async () => {
    const { link: l, request } = await link('MRN-LINK-2');
    for (let i = 0; i < 2; i++) {
      const opened = await call(hospital.url, 'POST', '/v1/patients/registration-links/open', { token: l.token });
      expect(opened.status).to.equal(200);
      expect(opened.body).to.deep.equal(request);
    }
    const registration = await sign(request);
    const done = await call(hospital.url, 'POST', '/v1/patients/registration-links/complete', { token: l.token, registration });
    expect(done.status, JSON.stringify(done.body)).to.equal(201);
    expect(done.body.binding).to.include({ hospital: HOSPITAL, patientRef: request.message.patientRef, patient: wallet.address });
    const again = await call(hospital.url, 'POST', '/v1/patients/registration-links/complete', { token: l.token, registration });
    expect(again.status).to.equal(409);
    expect(again.body.error.code).to.equal('REGISTRATION_LINK_USED');
    expect((await call(hospital.url, 'POST', '/v1/patients/registration-links/open', { token: l.token })).body.error.code).to.equal('REGISTRATION_LINK_USED');
  });

  it('refuses a signature by another key (SIGNATURE_INVALID) without spending the link, and another request’s message (REGISTRATION_LINK_MISMATCH)', async () => {
    const { link: l, request } = await link('MRN-LINK-3');
    const other = HDNodeWallet.fromMnemonic(Mnemonic.fromEntropy(id('other link patient')), "m/44'/60'/0'/0/0");
    const forged = { ...(await sign(request, other)), patient: other.address.replace(/.$/, (c) => (c === '0' ? '1' : '0')) };
    const bad = await call(hospital.url, 'POST', '/v1/patients/registration-links/complete', { token: l.token, registration: { ...forged, patient: wallet.address } });
    expect(bad.status).to.equal(400);
    expect(bad.body.error.code).to.equal('SIGNATURE_INVALID');
    const { request: otherRequest } = await link('MRN-LINK-4');
    const mismatch = await call(hospital.url, 'POST', '/v1/patients/registration-links/complete', { token: l.token, registration: await sign(otherRequest, other) });
    expect(mismatch.status).to.equal(400);
    expect(mismatch.body.error.code).to.equal('REGISTRATION_LINK_MISMATCH');
    const ok = await call(hospital.url, 'POST', '/v1/patients/registration-links/complete', { token: l.token, registration: await sign(request, other) });
    expect(ok.status, JSON.stringify(ok.body)).to.equal(201);
  });

  it('refuses an unknown token 404 REGISTRATION_LINK_UNKNOWN, a malformed one 400, and an expired link 410 REGISTRATION_LINK_EXPIRED', async () => {
    const unknown = await call(hospital.url, 'POST', '/v1/patients/registration-links/open', { token: 'b'.repeat(32) });
    expect(unknown.status).to.equal(404);
    expect(unknown.body.error.code).to.equal('REGISTRATION_LINK_UNKNOWN');
    const malformed = await call(hospital.url, 'POST', '/v1/patients/registration-links/open', { token: 'short' });
    expect(malformed.status).to.equal(400);
    const { link: l, request } = await link('MRN-LINK-5');
    const who = HDNodeWallet.fromMnemonic(Mnemonic.fromEntropy(id('late link patient')), "m/44'/60'/0'/0/0");
    const registration = await sign(request, who);
    ledger.advance(16 * 60);
    for (const [p, body] of [
      ['/v1/patients/registration-links/open', { token: l.token }],
      ['/v1/patients/registration-links/complete', { token: l.token, registration }],
    ] as const) {
      const res = await call(hospital.url, 'POST', p, body);
      expect(res.status, p).to.equal(410);
      expect(res.body.error.code).to.equal('REGISTRATION_LINK_EXPIRED');
    }
  });

  it('GET /v1/organisations answers the display names without a key; a gateway given none shows its own name', async () => {
    const res = await call(hospital.url, 'GET', '/v1/organisations');
    expect(res.status).to.equal(200);
    expect(res.body.organisations).to.deep.equal(ORGANISATIONS);
    const bare = await call(insurer.url, 'GET', '/v1/organisations');
    expect(bare.body.organisations).to.deep.equal([{ mspId: INSURER, name: INSURER, type: 'insurer', displayName: { ko: INSURER, en: INSURER } }]);
    const spec = (await call(hospital.url, 'GET', '/v1/openapi.json')).body;
    for (const p of ['/v1/organisations', '/v1/patients/registration-links', '/v1/patients/registration-links/open', '/v1/patients/registration-links/complete']) expect(spec.paths, p).to.have.property(p);
  });
});

describe('network: display names in the consortium definition', () => {
  const base = (org: Record<string, unknown>) => ({
    channel: 'medprov',
    chaincode: 'medprov',
    basePort: 7000,
    ordererOrganisation: { name: 'Orderer', mspId: 'OrdererMSP', domain: 'orderer.medprov.local', orderers: 3 },
    organisations: [{ name: 'Hospital', mspId: 'HospitalMSP', type: 'hospital', domain: 'hospital.medprov.local', peers: 1, ...org }],
  });

  it('reads Korean and English display names, and falls back to the name in an older file without them', () => {
    expect(parseConsortiumDefinition(base({ displayName: { ko: '한빛대학교병원', en: 'Hanbit University Hospital' } })).organisations[0]!.displayName).to.deep.equal({ ko: '한빛대학교병원', en: 'Hanbit University Hospital' });
    expect(parseConsortiumDefinition(base({})).organisations[0]!.displayName).to.deep.equal({ ko: 'Hospital', en: 'Hospital' });
  });

  it('refuses a display name that is missing a language, empty, too long, has markup or another language key', () => {
    for (const [displayName, message] of [
      [{ ko: '한빛' }, /displayName\.en must be/],
      [{ ko: ' ', en: 'x' }, /displayName\.ko must be/],
      [{ ko: 'x'.repeat(101), en: 'x' }, /displayName\.ko must be/],
      [{ ko: '<b>한빛</b>', en: 'x' }, /displayName\.ko must be/],
      [{ ko: '한빛', en: 'x', ja: 'y' }, /only "ko" and "en"/],
      ['Hanbit', /displayName must be an object/],
    ] as const) {
      expect(() => parseConsortiumDefinition(base({ displayName }))).to.throw(message);
    }
  });

  it('the repository’s consortium.json gives every organisation both names', () => {
    const def = readConsortiumFile(path.resolve(__dirname, '../../../network/consortium.json'));
    for (const o of def.organisations) expect(o.displayName.ko).to.not.equal(o.name);
  });
});
