import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { HDNodeWallet, Mnemonic, id } from 'ethers';
import { IdentityContract } from '../../../chaincode/src';
import { CONSENT_GRANT_TYPES, CONSENT_REVOKE_TYPES, consentDomain, type ConsentGrantMessage } from '../../../chaincode/src/lib/eip712';
import type { Role } from '../../../gateway/src/http/roles';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL, INSURER, SPONSOR, DAY, DISCHARGE, claimsGrantMessage } from '../chaincode/fixtures';
import { directIdentifiersIn, r4Errors } from '../fhir/r4';
import { ROLE_KEYS, startOrgGateway, type OrgGateway } from '../support/org-gateways';

/**
 * Issue 4 over HTTP: real hospital, insurer and sponsor gateways on the in-memory ledger with
 * the real chaincode. Records are anchored, amended and retracted, the patient grants and
 * revokes with a real key; every FHIR export is fetched as application/fhir+json and
 * validated against the R4 JSON schema and invariants.
 */
const CHANNEL = 'medprov';
const MRN = 'MRN-48151623';
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const patient = HDNodeWallet.fromMnemonic(Mnemonic.fromEntropy(id('fhir export patient seed')), "m/44'/60'/0'/0/0");
let nonces = 0;
const nonce = (): string => id(`fhir nonce ${++nonces}`);

interface Res {
  status: number;
  type: string;
  body: any;
}

async function send(gw: OrgGateway, method: string, p: string, opts: { role?: Role; json?: unknown; headers?: Record<string, string> } = {}): Promise<Res> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.role) headers.authorization = `Bearer ${ROLE_KEYS[opts.role]}`;
  if (opts.json !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(gw.url + p, { method, headers, ...(opts.json !== undefined ? { body: JSON.stringify(opts.json) } : {}) });
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.json() };
}

/** A FHIR answer: 200, application/fhir+json, valid R4, no direct identifier, none of the patient's secrets. */
function expectFhir(res: Res, resourceType: string): any {
  expect(res.status, JSON.stringify(res.body)).to.equal(200);
  expect(res.type).to.match(/^application\/fhir\+json; charset=utf-8$/);
  expect(res.body.resourceType).to.equal(resourceType);
  expect(r4Errors(res.body), JSON.stringify(res.body, null, 1)).to.deep.equal([]);
  expect(directIdentifiersIn(res.body)).to.deep.equal([]);
  const text = JSON.stringify(res.body);
  expect(text).to.not.include(MRN);
  expect(text.toLowerCase()).to.not.include(patient.address.slice(2).toLowerCase());
  return res.body;
}

describe('gateway flow: FHIR R4 exports of grants and anchors (issue 4, unit level)', function () {
  this.timeout(60_000);
  const ledger = new FakeLedger({ channel: CHANNEL });
  let dir: string;
  let hospital: OrgGateway;
  let insurer: OrgGateway;
  let sponsor: OrgGateway;
  let patientRef: string;
  const grants: Record<'claims' | 'research' | 'revoked' | 'short', string> = { claims: '', research: '', revoked: '', short: '' };
  // Another org's reads name their purpose: they go through the consent-checked, logged access (issue 13).
  const provenancePath = (recordId: string, version: number, purpose?: string) =>
    `/v1/records/${HOSPITAL}/${recordId}/versions/${version}/provenance${purpose ? `?purpose=${purpose}` : ''}`;
  const consentPath = (grantId: string) => `/v1/consents/${HOSPITAL}/${patientRef}/${grantId}`;

  async function grant(overrides: Partial<ConsentGrantMessage>): Promise<string> {
    const message = claimsGrantMessage({ patientRef, now: ledger.now, nonce: nonce() }, overrides);
    const signature = await patient.signTypedData(consentDomain(CHANNEL), CONSENT_GRANT_TYPES, message);
    const res = await send(hospital, 'POST', '/v1/consents', { json: { message, signature } });
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    return res.body.grant.grantId as string;
  }

  async function patientAuth(): Promise<Record<string, string>> {
    const challenge = await send(hospital, 'POST', '/v1/patients/challenges', { json: { address: patient.address } });
    const message = { ...challenge.body.message, hospital: HOSPITAL, patientRef };
    const signature = await patient.signTypedData(challenge.body.domain, challenge.body.types, message);
    return { authorization: `Patient ${Buffer.from(JSON.stringify({ message, signature })).toString('base64url')}` };
  }

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-fhir-flow-'));
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    const limits = { patientPerSecond: 1000, patientBurst: 1000 };
    hospital = await startOrgGateway({ ledger, mspId: HOSPITAL, type: 'hospital', dir, limits });
    insurer = await startOrgGateway({ ledger, mspId: INSURER, type: 'insurer', dir, limits });
    sponsor = await startOrgGateway({ ledger, mspId: SPONSOR, type: 'sponsor', dir, limits });

    // records: adm-1 anchored then amended; lab-1 anchored then retracted
    for (const recordId of ['adm-1', 'lab-1']) {
      const res = await send(hospital, 'POST', '/v1/records', { role: 'records-officer', json: { recordId, docHash: sha(`${recordId} v1`), patientId: MRN, category: DISCHARGE } });
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      patientRef = res.body.anchor.patientRef;
    }
    expect((await send(hospital, 'POST', `/v1/records/${HOSPITAL}/adm-1/versions`, { role: 'records-officer', json: { docHash: sha('adm-1 v2') } })).status).to.equal(201);
    expect((await send(hospital, 'PUT', `/v1/records/${HOSPITAL}/lab-1/retraction`, { role: 'records-officer', json: { reason: 'entered-in-error' } })).status).to.equal(200);

    // the patient's key, bound at the hospital's desk
    const request = await send(hospital, 'POST', '/v1/patients/registration-requests', { role: 'records-officer', json: { patientId: MRN } });
    const signature = await patient.signTypedData(request.body.domain, request.body.types, request.body.message);
    expect((await send(hospital, 'POST', '/v1/patients', { role: 'records-officer', json: { message: request.body.message, patient: patient.address, signature } })).status).to.equal(201);

    grants.claims = await grant({ recordIds: ['adm-1'] });
    grants.research = await grant({ grantee: SPONSOR, purpose: 'research:KCT-0001', categories: [DISCHARGE, 'loinc:11502-2'] });
    grants.revoked = await grant({ purpose: 'claims', categories: ['loinc:11502-2'] });
    grants.short = await grant({ validUntil: ledger.now + DAY });
    const revoke = { hospital: HOSPITAL, patientRef, grantId: grants.revoked, nonce: nonce() };
    const revokeSignature = await patient.signTypedData(consentDomain(CHANNEL), CONSENT_REVOKE_TYPES, revoke);
    expect((await send(insurer, 'POST', '/v1/consents/revocations', { json: { message: revoke, signature: revokeSignature } })).status).to.equal(201);
  });
  after(async () => {
    await Promise.all([hospital.stop(), insurer.stop(), sponsor.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a version 1, an amendment and a retracted version: Provenance bundles that validate, at the issuing hospital and, under consent, at the insurer and the sponsor', async () => {
    const v1 = expectFhir(await send(insurer, 'GET', provenancePath('adm-1', 1, 'claims'), { role: 'claims-officer' }), 'Bundle');
    const v2 = expectFhir(await send(sponsor, 'GET', provenancePath('adm-1', 2, 'research:KCT-0001'), { role: 'research-officer' }), 'Bundle');
    const retracted = expectFhir(await send(hospital, 'GET', provenancePath('lab-1', 1), { role: 'records-officer' }), 'Bundle');
    const activities = (b: any) => b.entry.map((e: any) => e.resource.activity.coding[0].code);
    expect(activities(v1)).to.deep.equal(['CREATE']);
    expect(activities(v2)).to.deep.equal(['UPDATE']);
    expect(activities(retracted)).to.deep.equal(['CREATE', 'NULLIFY']);
    expect(v1.entry[0].resource.target[0].identifier.value).to.equal(sha('adm-1 v1'));
    expect(v2.entry[0].resource.entity[0].what.identifier.value).to.equal(sha('adm-1 v1'));
    expect(retracted.entry[1].resource.reason[0].coding[0].code).to.equal('entered-in-error');
    // the ledger's own time and transaction
    const history = await send(hospital, 'GET', `/v1/records/${HOSPITAL}/adm-1/history`, { role: 'records-officer' });
    expect(v2.entry[0].resource.recorded).to.equal(history.body.versions[1].anchoredAt);
    expect(v2.entry[0].resource.extension[0].valueIdentifier.value).to.equal(history.body.versions[1].txId);
    // the patient is not named in Provenance, not even by patientRef
    expect(JSON.stringify([v1, v2, retracted])).to.not.include(patientRef);
  });

  it('a version that does not exist: 404 RECORD_NOT_FOUND in the JSON error envelope; a malformed version: 400', async () => {
    const missing = await send(hospital, 'GET', provenancePath('adm-1', 3), { role: 'admin' });
    expect(missing.status).to.equal(404);
    expect(missing.type).to.match(/^application\/json/);
    expect(missing.body.error.code).to.equal('RECORD_NOT_FOUND');
    for (const bad of ['0', '01', '-1', 'latest', '1.0', '12345678901']) {
      const res = await send(hospital, 'GET', `/v1/records/${HOSPITAL}/adm-1/versions/${bad}/provenance`, { role: 'admin' });
      expect(res.status, bad).to.equal(400);
      expect(res.body.error.code).to.equal('INVALID_REQUEST');
    }
  });

  it("each grant as a Consent at an org party to it: active claims at the insurer, research at the sponsor, revoked and expired inactive", async () => {
    const claims = expectFhir(await send(insurer, 'GET', consentPath(grants.claims), { role: 'claims-officer' }), 'Consent');
    expect(claims.status).to.equal('active');
    expect(claims.id).to.equal(grants.claims.slice(2));
    expect(claims.provision.purpose[0].code).to.equal('HPAYMT');
    expect(claims.provision.data[0].reference.identifier).to.deep.equal({ system: `urn:medprov:record:${HOSPITAL}`, value: 'adm-1' });
    expect(claims.patient.identifier).to.deep.equal({ system: `urn:medprov:patient-ref:${HOSPITAL}`, value: patientRef });

    const research = expectFhir(await send(sponsor, 'GET', consentPath(grants.research), { role: 'research-officer' }), 'Consent');
    expect(research.status).to.equal('active');
    expect(research.scope.coding[0].code).to.equal('research');
    expect(research.provision.purpose[0].code).to.equal('HRESCH');
    expect(research.provision.extension[0].valueReference.identifier.value).to.equal('KCT-0001');

    const revoked = expectFhir(await send(hospital, 'GET', consentPath(grants.revoked), { role: 'dpo' }), 'Consent');
    expect(revoked.status).to.equal('inactive');

    expect(expectFhir(await send(insurer, 'GET', consentPath(grants.short), { role: 'dpo' }), 'Consent').status).to.equal('active');
    ledger.advance(DAY);
    expect(expectFhir(await send(insurer, 'GET', consentPath(grants.short), { role: 'dpo' }), 'Consent').status).to.equal('inactive');
    expect(expectFhir(await send(insurer, 'GET', consentPath(grants.claims), { role: 'admin' }), 'Consent').status).to.equal('active');
  });

  it("another org's grant is not found there; a claims or research officer reads only grants of their purpose; an unknown grant is 404", async () => {
    const elsewhere = await send(insurer, 'GET', consentPath(grants.research), { role: 'dpo' });
    expect(elsewhere.status).to.equal(404);
    expect(elsewhere.body.error.code).to.equal('GRANT_NOT_FOUND');
    const wrongPurpose = await send(insurer, 'GET', consentPath(grants.claims), { role: 'research-officer' });
    expect(wrongPurpose.status).to.equal(403);
    expect(wrongPurpose.body.error.code).to.equal('FORBIDDEN_PURPOSE');
    const unknown = await send(hospital, 'GET', consentPath(`0x${sha('no such grant')}`), { role: 'records-officer' });
    expect(unknown.status).to.equal(404);
    expect(unknown.body.error.code).to.equal('GRANT_NOT_FOUND');
    const malformed = await send(hospital, 'GET', `/v1/consents/${HOSPITAL}/${patientRef}/${sha('x')}`, { role: 'records-officer' });
    expect(malformed.status).to.equal(400);
  });

  it("the patient exports their own grants as a Bundle of Consents with the challenge credential (no API key)", async () => {
    const bundle = expectFhir(await send(hospital, 'GET', '/v1/patients/me/consents', { headers: await patientAuth() }), 'Bundle');
    expect(bundle.type).to.equal('collection');
    const byId = new Map<string, string>(bundle.entry.map((e: any) => [e.resource.identifier[0].value, e.resource.status]));
    expect(Object.fromEntries(byId)).to.deep.equal({
      [grants.claims]: 'active',
      [grants.research]: 'active',
      [grants.revoked]: 'inactive',
      [grants.short]: 'inactive',
    });
    const noAuth = await send(hospital, 'GET', '/v1/patients/me/consents');
    expect(noAuth.status).to.equal(401);
    expect(noAuth.body.error.code).to.equal('PATIENT_AUTH_REQUIRED');
  });

  it('the OpenAPI document describes the three exports as application/fhir+json', async () => {
    const doc = await send(hospital, 'GET', '/v1/openapi.json');
    for (const p of ['/v1/records/{issuer}/{recordId}/versions/{version}/provenance', '/v1/consents/{hospital}/{patientRef}/{grantId}', '/v1/patients/me/consents']) {
      expect(Object.keys(doc.body.paths[p].get.responses['200'].content), p).to.deep.equal(['application/fhir+json']);
    }
  });
});
