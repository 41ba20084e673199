import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Wallet, id } from 'ethers';
import { AccessContract, IdentityContract } from '../../../chaincode/src';
import { CONSENT_GRANT_TYPES, CONSENT_REVOKE_TYPES, consentDomain, type ConsentGrantMessage } from '../../../chaincode/src/lib/eip712';
import type { AccessLogEntry } from '../../../chaincode/src/lib/consent-model';
import type { Role } from '../../../gateway/src/http/roles';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, DISCHARGE, HOSPITAL, HOSPITAL2, INSURER, SPONSOR, claimsGrantMessage } from '../chaincode/fixtures';
import { CountingLedger, type LedgerCalls } from '../support/counting-ledger';
import { ROLE_KEYS, startOrgGateway, type OrgGateway, type OrgType } from '../support/org-gateways';

/**
 * Issue 13: the read routes are no way around consent. A record's issuing hospital reads it as
 * before; any other organisation reads it, or its history, or a version's FHIR provenance, only
 * through the chaincode's consent-checked access, which logs every attempt in the patient's
 * access log. Real gateways over HTTP, the real chaincode on the in-memory ledger, a real
 * patient key for the consent.
 */
const LAB = 'loinc:11502-2';
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

interface Res {
  status: number;
  body: any;
  headers: Headers;
  text: string;
}

describe('record reads: another organisation reads a record only under consent, logged (issue 13)', function () {
  this.timeout(30_000);
  const ledger = new FakeLedger();
  const patient = new Wallet(id('record reads patient key'));
  /** What each gateway asks of the ledger, to prove a refused read never reached it. */
  const calls: Record<string, LedgerCalls> = {};
  let dir: string;
  let hospital: OrgGateway;
  let hospital2: OrgGateway;
  let insurer: OrgGateway;
  let sponsor: OrgGateway;
  let patientRef: string;
  let claimsGrant: string;
  let nonce = 0;

  const paths = {
    latest: (recordId: string, query = '') => `/v1/records/${HOSPITAL}/${recordId}${query}`,
    history: (recordId: string, query = '') => `/v1/records/${HOSPITAL}/${recordId}/history${query}`,
    provenance: (recordId: string, version: number, query = '') => `/v1/records/${HOSPITAL}/${recordId}/versions/${version}/provenance${query}`,
  };
  const allReads = (recordId: string, query = '') => [paths.latest(recordId, query), paths.history(recordId, query), paths.provenance(recordId, 1, query)];

  async function send(gw: OrgGateway, method: string, p: string, role?: Role, json?: unknown): Promise<Res> {
    const headers: Record<string, string> = {};
    if (role) headers.authorization = `Bearer ${ROLE_KEYS[role]}`;
    if (json !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(gw.url + p, { method, headers, ...(json !== undefined ? { body: JSON.stringify(json) } : {}) });
    const text = await res.text();
    return { status: res.status, body: JSON.parse(text), headers: res.headers, text };
  }

  /** The patient's access log as the ledger holds it (what GET /v1/patients/me/access-log lists). */
  const accessLog = async (): Promise<AccessLogEntry[]> => JSON.parse(await ledger.query(HOSPITAL, new AccessContract(), 'listAccessLog', HOSPITAL, patientRef)) as AccessLogEntry[];

  const start = (mspId: string, type: OrgType) => {
    calls[mspId] = { evaluate: 0, submit: 0 };
    return startOrgGateway({ ledger, mspId, type, dir, limits: { patientPerSecond: 1000, patientBurst: 1000 }, wrapLedger: (l) => new CountingLedger(l, calls[mspId]) });
  };

  /** Sends the request and expects a refusal with `code` that read and wrote nothing: no ledger call at all, no record data in the answer. */
  async function refusedUnread(gw: OrgGateway, p: string, role: Role, status: number, code: string): Promise<Res> {
    const writes = ledger.writeCount;
    const before = { ...calls[gw.mspId] };
    const res = await send(gw, 'GET', p, role);
    expect(res.status, `${gw.mspId} ${role} ${p}: ${res.text}`).to.equal(status);
    expect(res.body.error.code).to.equal(code);
    expect(res.body.error.message).to.match(/[.!]$/);
    expect(calls[gw.mspId], `${p}: the ledger was not asked`).to.deep.equal(before);
    expect(ledger.writeCount, 'nothing written').to.equal(writes);
    expect(res.text).to.not.include(sha('adm-1 v1')).and.not.include(sha('adm-1 v2')).and.not.include(patientRef);
    expect(res.headers.get('medprov-access-transaction')).to.equal(null);
    return res;
  }

  async function grant(overrides: Partial<ConsentGrantMessage>): Promise<string> {
    const message = claimsGrantMessage({ patientRef, now: ledger.now, nonce: id(`record reads nonce ${++nonce}`) }, overrides);
    const signature = await patient.signTypedData(consentDomain(ledger.channel), CONSENT_GRANT_TYPES, message);
    const res = await send(hospital, 'POST', '/v1/consents', undefined, { message, signature });
    expect(res.status, res.text).to.equal(201);
    return res.body.grant.grantId as string;
  }

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-record-reads-'));
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    hospital = await start(HOSPITAL, 'hospital');
    hospital2 = await start(HOSPITAL2, 'hospital');
    insurer = await start(INSURER, 'insurer');
    sponsor = await start(SPONSOR, 'sponsor');
    // adm-1: a discharge summary, amended once; lab-1: a lab result of the same patient
    for (const [recordId, category] of [
      ['adm-1', DISCHARGE],
      ['lab-1', LAB],
    ]) {
      const res = await send(hospital, 'POST', '/v1/records', 'records-officer', { recordId, docHash: sha(`${recordId} v1`), patientId: 'MRN-1313', category });
      expect(res.status, res.text).to.equal(201);
      patientRef = res.body.anchor.patientRef;
    }
    expect((await send(hospital, 'POST', `/v1/records/${HOSPITAL}/adm-1/versions`, 'records-officer', { docHash: sha('adm-1 v2') })).status).to.equal(201);
    const request = await send(hospital, 'POST', '/v1/patients/registration-requests', 'records-officer', { patientId: 'MRN-1313' });
    const signature = await patient.signTypedData(request.body.domain, request.body.types, request.body.message);
    expect((await send(hospital, 'POST', '/v1/patients', 'records-officer', { message: request.body.message, patient: patient.address, signature })).status).to.equal(201);
  });
  after(async () => {
    await Promise.all([hospital, hospital2, insurer, sponsor].map((gw) => gw.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  it("the issuing hospital's own staff read the record, its history and its provenance as before: a query, nothing logged", async () => {
    const writes = ledger.writeCount;
    for (const role of ['records-officer', 'research-officer', 'admin'] as const) {
      const latest = await send(hospital, 'GET', paths.latest('adm-1'), role);
      expect(latest.status, latest.text).to.equal(200);
      expect(latest.body).to.include({ recordId: 'adm-1', version: 2, docHash: sha('adm-1 v2'), issuer: HOSPITAL });
      const history = await send(hospital, 'GET', paths.history('adm-1'), role);
      expect(history.body.versions.map((v: { version: number }) => v.version)).to.deep.equal([1, 2]);
      expect(history.body).to.not.have.property('access');
      const provenance = await send(hospital, 'GET', paths.provenance('adm-1', 1), role);
      expect(provenance.status).to.equal(200);
      expect(provenance.body.resourceType).to.equal('Bundle');
      for (const res of [latest, history, provenance]) expect(res.headers.get('medprov-access-transaction')).to.equal(null);
    }
    // A purpose changes nothing for the issuer's own records: still a query, nothing logged.
    expect((await send(hospital, 'GET', paths.latest('adm-1', '?purpose=claims'), 'records-officer')).status).to.equal(200);
    expect(ledger.writeCount).to.equal(writes);
    expect(await accessLog()).to.deep.equal([]);
  });

  it("the insurer's claims officer and the sponsor's research officer cannot read the record or its history without a purpose: 403 CONSENT_REQUIRED naming POST /v1/access, nothing read or logged", async () => {
    for (const [gw, role] of [
      [insurer, 'claims-officer'],
      [sponsor, 'research-officer'],
    ] as const) {
      for (const p of allReads('adm-1')) {
        const res = await refusedUnread(gw, p, role, 403, 'CONSENT_REQUIRED');
        expect(res.body.error.message).to.include('POST /v1/access').and.include('purpose');
      }
    }
    // Whether the record exists is not told either.
    await refusedUnread(insurer, paths.latest('no-such-record'), 'claims-officer', 403, 'CONSENT_REQUIRED');
    expect(await accessLog()).to.deep.equal([]);
  });

  it("roles that never read for a purpose (admin, records officer) are refused another org's records outright; a purpose outside the role's is FORBIDDEN_PURPOSE", async () => {
    for (const [gw, role] of [
      [insurer, 'admin'],
      [sponsor, 'admin'],
      [hospital2, 'records-officer'],
      [hospital2, 'admin'],
    ] as const) {
      for (const p of [...allReads('adm-1'), ...allReads('adm-1', '?purpose=claims')]) await refusedUnread(gw, p, role, 403, 'FORBIDDEN_ROLE');
    }
    for (const p of allReads('adm-1', '?purpose=research:T-1')) await refusedUnread(insurer, p, 'claims-officer', 403, 'FORBIDDEN_PURPOSE');
    for (const p of allReads('adm-1', '?purpose=claims')) await refusedUnread(sponsor, p, 'research-officer', 403, 'FORBIDDEN_PURPOSE');
    await refusedUnread(insurer, paths.latest('adm-1', '?purpose=treatment'), 'claims-officer', 403, 'FORBIDDEN_PURPOSE');
    // The query is validated like every request: a malformed purpose or an unknown parameter is 400.
    await refusedUnread(insurer, paths.latest('adm-1', '?purpose=bills'), 'claims-officer', 400, 'INVALID_REQUEST');
    await refusedUnread(insurer, paths.latest('adm-1', '?purpose=claims&purpose=claims'), 'claims-officer', 400, 'INVALID_REQUEST');
    await refusedUnread(insurer, paths.history('adm-1', '?why=claims'), 'claims-officer', 400, 'UNKNOWN_FIELD');
    expect(await accessLog()).to.deep.equal([]);
  });

  it('with a purpose and no consent: 403 CONSENT_DENIED (NO_CONSENT), no record data, and the attempt is in the access log', async () => {
    const writes = ledger.writeCount;
    const res = await send(insurer, 'GET', paths.history('adm-1', '?purpose=claims'), 'claims-officer');
    expect(res.status, res.text).to.equal(403);
    expect(res.body.error.code).to.equal('CONSENT_DENIED');
    expect(res.body.error.details).to.include({ decision: 'NO_CONSENT', purpose: 'claims' });
    expect(res.text).to.not.include(sha('adm-1 v1')).and.not.include(sha('adm-1 v2'));
    expect(ledger.writeCount).to.equal(writes + 1);
    const log = await accessLog();
    expect(log).to.have.length(1);
    expect(log[0]).to.include({ accessor: INSURER, issuer: HOSPITAL, recordId: 'adm-1', purpose: 'claims', decision: 'NO_CONSENT', txId: res.body.error.details.transactionId });
  });

  it('with a claims grant in force, the claims officer reads the record, its history and a version\'s provenance; each read is a PERMIT in the access log, named in the answer', async () => {
    claimsGrant = await grant({ categories: [DISCHARGE] });
    const before = (await accessLog()).length;

    const latest = await send(insurer, 'GET', paths.latest('adm-1', '?purpose=claims'), 'claims-officer');
    expect(latest.status, latest.text).to.equal(200);
    expect(latest.body).to.include({ recordId: 'adm-1', version: 2, docHash: sha('adm-1 v2'), issuer: HOSPITAL });
    expect(latest.headers.get('medprov-access-grant')).to.equal(claimsGrant);

    const history = await send(insurer, 'GET', paths.history('adm-1', '?purpose=claims'), 'claims-officer');
    expect(history.status, history.text).to.equal(200);
    expect(history.body.versions.map((v: { version: number; docHash: string }) => [v.version, v.docHash])).to.deep.equal([
      [1, sha('adm-1 v1')],
      [2, sha('adm-1 v2')],
    ]);
    expect(history.body.access).to.include({ purpose: 'claims', grantId: claimsGrant, transactionId: history.headers.get('medprov-access-transaction') });
    expect(history.body.access.blockNumber).to.match(/^\d+$/);

    const provenance = await send(insurer, 'GET', paths.provenance('adm-1', 1, '?purpose=claims'), 'claims-officer');
    expect(provenance.status, provenance.text).to.equal(200);
    expect(provenance.headers.get('content-type')).to.match(/^application\/fhir\+json/);
    expect(provenance.body.entry[0].resource.target[0].identifier.value).to.equal(sha('adm-1 v1'));

    const log = (await accessLog()).slice(before);
    expect(log.map((e) => [e.accessor, e.decision, e.grantId, e.purpose, e.recordId])).to.deep.equal([
      [INSURER, 'PERMIT', claimsGrant, 'claims', 'adm-1'],
      [INSURER, 'PERMIT', claimsGrant, 'claims', 'adm-1'],
      [INSURER, 'PERMIT', claimsGrant, 'claims', 'adm-1'],
    ]);
    expect(log.map((e) => e.txId)).to.deep.equal([latest, history, provenance].map((r) => r.headers.get('medprov-access-transaction')));
  });

  it('the same grant does not open a record outside its scope, nor a version the record does not have', async () => {
    const lab = await send(insurer, 'GET', paths.latest('lab-1', '?purpose=claims'), 'claims-officer');
    expect(lab.status, lab.text).to.equal(403);
    expect(lab.body.error.code).to.equal('CONSENT_DENIED');
    expect(lab.body.error.details).to.include({ decision: 'DENY', reason: 'OUT_OF_SCOPE' });
    expect(lab.text).to.not.include(sha('lab-1 v1'));
    const missing = await send(insurer, 'GET', paths.provenance('adm-1', 3, '?purpose=claims'), 'claims-officer');
    expect(missing.status).to.equal(404);
    expect(missing.body.error.code).to.equal('RECORD_NOT_FOUND');
  });

  it('once the patient revokes, the next read is 403 CONSENT_DENIED (REVOKED), logged', async () => {
    const message = { hospital: HOSPITAL, patientRef, grantId: claimsGrant, nonce: id(`record reads nonce ${++nonce}`) };
    const signature = await patient.signTypedData(consentDomain(ledger.channel), CONSENT_REVOKE_TYPES, message);
    expect((await send(hospital, 'POST', '/v1/consents/revocations', undefined, { message, signature })).status).to.equal(201);
    const res = await send(insurer, 'GET', paths.latest('adm-1', '?purpose=claims'), 'claims-officer');
    expect(res.status).to.equal(403);
    expect(res.body.error.details).to.include({ decision: 'DENY', reason: 'REVOKED', grantId: claimsGrant });
    const last = (await accessLog()).at(-1);
    expect(last).to.include({ accessor: INSURER, decision: 'DENY', reason: 'REVOKED', txId: res.body.error.details.transactionId });
  });

  it('verification stays open to every role at every org and logs nothing: it answers for a document the caller holds, with provenance fields only', async () => {
    const writes = ledger.writeCount;
    const logged = (await accessLog()).length;
    for (const [gw, role] of [
      [insurer, 'claims-officer'],
      [insurer, 'admin'],
      [sponsor, 'research-officer'],
      [hospital2, 'dpo'],
    ] as const) {
      const res = await send(gw, 'POST', '/v1/verifications', role, { docHash: sha('adm-1 v1') });
      expect(res.status, res.text).to.equal(200);
      expect(res.body).to.include({ verdict: 'SUPERSEDED', issuer: HOSPITAL, recordId: 'adm-1', version: 1, supersededBy: sha('adm-1 v2') });
      expect(res.text).to.not.include(patientRef);
    }
    expect(ledger.writeCount).to.equal(writes);
    expect(await accessLog()).to.have.length(logged);
  });

  it('the OpenAPI document describes the purpose parameter and the consent refusals of the read routes', async () => {
    const spec = (await send(insurer, 'GET', '/v1/openapi.json')).body;
    for (const p of ['/v1/records/{issuer}/{recordId}', '/v1/records/{issuer}/{recordId}/history', '/v1/records/{issuer}/{recordId}/versions/{version}/provenance']) {
      const op = spec.paths[p].get;
      expect(op.parameters.map((x: { name: string; in: string }) => `${x.in}:${x.name}`)).to.deep.equal(['query:purpose']);
      expect(op.description).to.include('CONSENT_REQUIRED').and.include('CONSENT_DENIED');
      expect(op.responses['403'].description).to.include('CONSENT_REQUIRED');
      expect(Object.keys(op.responses['200'].headers)).to.deep.equal(['Medprov-Access-Transaction', 'Medprov-Access-Grant']);
    }
    expect(spec.components.schemas.RecordReadQuery.additionalProperties).to.equal(false);
  });
});
