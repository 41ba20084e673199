import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { HDNodeWallet, Mnemonic, Signature, randomBytes } from 'ethers';
import { IdentityContract } from '../../../chaincode/src';
import { CONSENT_GRANT_TYPES, GUARDIAN_APPOINTMENT_TYPES, consentDomain } from '../../../chaincode/src/lib/eip712';
import { appointmentMessage, grantMessage, hospitalKeyPath } from '../../../gateway/src/consent/patient-client';
import { patientOverview } from '../../../gateway/src/consent/patient-overview';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, DISCHARGE, HOSPITAL, HOSPITAL2, INSURER } from '../chaincode/fixtures';
import { ROLE_KEYS, startOrgGateway, type OrgGateway } from '../support/org-gateways';

/**
 * Guardians through a real gateway at unit level (real chaincode on the in-memory stub): what the
 * gateway refuses before anything is submitted, and the one view's requests. The real network
 * (test/integration/patient-view) covers the chaincode's refusals through real peers.
 */
const CHANNEL = 'medprov';
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const DAY = 86_400;

describe('gateway flow: guardians and the one view (unit level)', function () {
  this.timeout(60_000);
  const ledger = new FakeLedger({ channel: CHANNEL });
  const phrase = Mnemonic.fromEntropy(randomBytes(16));
  const guardianPhrase = Mnemonic.fromEntropy(randomBytes(16));
  const keyAt = (m: Mnemonic, h: string) => HDNodeWallet.fromMnemonic(m, hospitalKeyPath(h));
  let dir: string;
  let gw: OrgGateway;
  let patientRef: string;

  const send = async (method: string, p: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(gw.url + p, { method, headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as any };
  };
  const officer = { authorization: `Bearer ${ROLE_KEYS['records-officer']}` };
  const now = () => ledger.now;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-guardian-flow-'));
    const wall = Math.floor(Date.now() / 1000);
    if (wall > ledger.now) ledger.advance(wall - ledger.now);
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    gw = await startOrgGateway({ ledger, mspId: HOSPITAL, type: 'hospital', dir, limits: { patientPerSecond: 1000, patientBurst: 1000 } });
    const request = await send('POST', '/v1/patients/registration-requests', { patientId: 'MRN-G1' }, officer);
    patientRef = request.body.message.patientRef;
    const key = keyAt(phrase, HOSPITAL);
    const done = await send('POST', '/v1/patients', { message: request.body.message, patient: key.address, signature: await key.signTypedData(request.body.domain, request.body.types, request.body.message) }, officer);
    expect(done.status, JSON.stringify(done.body)).to.equal(201);
  });

  after(async () => {
    await gw?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses before submitting: an appointment signed by another key (SIGNER_NOT_PATIENT), a high-s signature (SIGNATURE_INVALID), a bad checksum, a grant by someone not the guardian', async () => {
    const message = appointmentMessage({ hospital: HOSPITAL, patientRef }, { guardian: keyAt(guardianPhrase, HOSPITAL).address, purposes: [], categories: [], validUntil: now() + 30 * DAY }, now());
    const writes = ledger.writeCount;
    const byGuardian = await send('POST', '/v1/delegations', { message, signature: await keyAt(guardianPhrase, HOSPITAL).signTypedData(consentDomain(CHANNEL), GUARDIAN_APPOINTMENT_TYPES, message) });
    expect([byGuardian.status, byGuardian.body.error.code]).to.deep.equal([403, 'SIGNER_NOT_PATIENT']);
    const good = await keyAt(phrase, HOSPITAL).signTypedData(consentDomain(CHANNEL), GUARDIAN_APPOINTMENT_TYPES, message);
    const sig = Signature.from(good);
    const n = BigInt('0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141');
    // The same signature with s' = n - s (and v flipped): valid for ecrecover, refused as malleable.
    const highS = `0x${sig.r.slice(2)}${(n - BigInt(sig.s)).toString(16).padStart(64, '0')}${sig.v === 27 ? '1c' : '1b'}`;
    const malleable = await send('POST', '/v1/delegations', { message, signature: highS });
    expect([malleable.status, malleable.body.error.code]).to.deep.equal([400, 'SIGNATURE_INVALID']);
    const badChecksum = await send('POST', '/v1/delegations', { message: { ...message, guardian: message.guardian.slice(0, 2) + message.guardian.slice(2).split('').map((c, i) => (i % 2 ? c.toLowerCase() : c.toUpperCase())).join('') }, signature: good });
    expect(badChecksum.status).to.equal(400);
    expect(ledger.writeCount, 'nothing written').to.equal(writes);

    const appointed = await send('POST', '/v1/delegations', { message, signature: good });
    expect(appointed.status, JSON.stringify(appointed.body)).to.equal(201);
    const delegationId = appointed.body.delegation.delegationId;
    const g = grantMessage({ hospital: HOSPITAL, patientRef }, { grantee: INSURER, purpose: 'claims', categories: [DISCHARGE], recordIds: [], validUntil: now() + DAY }, now());
    const stranger = HDNodeWallet.fromMnemonic(Mnemonic.fromEntropy(randomBytes(16)));
    const before = ledger.writeCount;
    const notGuardian = await send('POST', '/v1/guardians/consents', { message: g, signature: await stranger.signTypedData(consentDomain(CHANNEL), CONSENT_GRANT_TYPES, g), delegationId });
    expect([notGuardian.status, notGuardian.body.error.code]).to.deep.equal([403, 'SIGNER_NOT_GUARDIAN']);
    const unknown = await send('POST', '/v1/guardians/consents', { message: g, signature: await keyAt(guardianPhrase, HOSPITAL).signTypedData(consentDomain(CHANNEL), CONSENT_GRANT_TYPES, g), delegationId: `0x${sha('none')}` });
    expect([unknown.status, unknown.body.error.code]).to.deep.equal([404, 'DELEGATION_NOT_FOUND']);
    expect(ledger.writeCount, 'nothing written').to.equal(before);
    const granted = await send('POST', '/v1/guardians/consents', { message: g, signature: await keyAt(guardianPhrase, HOSPITAL).signTypedData(consentDomain(CHANNEL), CONSENT_GRANT_TYPES, g), delegationId });
    expect(granted.status, JSON.stringify(granted.body)).to.equal(201);
    expect(granted.body.grant).to.include({ signedBy: 'guardian', delegationId });
  });

  it('the one view asks one challenge per request, reads only, and reports a hospital where the key is not registered', async () => {
    const calls: string[] = [];
    const writes = ledger.writeCount;
    const view = await patientOverview(
      async (method, p, body, headers) => {
        calls.push(`${method} ${p}`);
        return send(method, p, body, headers);
      },
      [HOSPITAL, HOSPITAL2],
      (h) => keyAt(phrase, h),
    );
    expect(ledger.writeCount).to.equal(writes);
    expect(view.map((v) => [v.hospital, v.registered])).to.deep.equal([
      [HOSPITAL, true],
      [HOSPITAL2, false],
    ]);
    expect(view[0]!.grants).to.have.length(1);
    expect(view[0]!.delegations).to.have.length(1);
    expect(calls.filter((c) => c.startsWith('POST')).every((c) => c === 'POST /v1/patients/challenges')).to.equal(true);
    expect(calls.filter((c) => c.startsWith('GET'))).to.deep.equal([
      'GET /v1/patients/me/registration',
      'GET /v1/patients/me/records',
      'GET /v1/patients/me/grants',
      'GET /v1/patients/me/delegations',
      'GET /v1/patients/me/access-log',
      'GET /v1/patients/me/registration',
    ]);
  });
});
