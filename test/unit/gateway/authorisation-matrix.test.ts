import { expect } from 'chai';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { IdentityContract, RecordsContract } from '../../../chaincode/src';
import type { Role } from '../../../gateway/src/http/roles';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL, HOSPITAL2, INSURER, SPONSOR } from '../chaincode/fixtures';
import { NOTHING_ANCHORED, ROLE_KEYS, startOrgGateway, type OrgGateway, type OrgType } from '../support/org-gateways';

/**
 * Issue 7, authorisation: every caller × organisation type × API-key endpoint, each with a
 * body the schemas accept, so that only authorisation decides. Denied = 401/403 with a code;
 * allowed = anything else. The table below is written out by hand, on purpose apart from
 * gateway/src/http/roles.ts, so that a change to the gateway's table shows up here.
 */
type Caller = Role | 'no key' | 'bad key';
const CALLERS: Caller[] = ['records-officer', 'claims-officer', 'research-officer', 'dpo', 'admin', 'no key', 'bad key'];
const ORGS: OrgType[] = ['hospital', 'insurer', 'sponsor'];
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

const RO = 'records-officer';
const CO = 'claims-officer';
const RS = 'research-officer';
const DPO = 'dpo';
const AD = 'admin';
const ALL_ORGS: OrgType[] = ['hospital', 'insurer', 'sponsor'];
const HOSPITALS: OrgType[] = ['hospital'];

//  endpoint                                              roles allowed             at org types
const MATRIX: { endpoint: string; roles: Role[]; orgs: OrgType[] }[] = [
  { endpoint: 'GET /v1/whoami',                              roles: [RO, CO, RS, DPO, AD], orgs: ALL_ORGS },
  { endpoint: 'POST /v1/documents/hash',                     roles: [RO, CO, RS, DPO, AD], orgs: ALL_ORGS },
  { endpoint: 'POST /v1/records',                            roles: [RO],                  orgs: HOSPITALS },
  { endpoint: 'POST /v1/records (multipart)',                roles: [RO],                  orgs: HOSPITALS },
  { endpoint: 'POST /v1/records/batch',                      roles: [RO],                  orgs: HOSPITALS },
  { endpoint: 'GET /v1/requests/{id}',                       roles: [RO, DPO, AD],         orgs: ALL_ORGS },
  { endpoint: 'GET /v1/records/{issuer}/{recordId}',         roles: [RO, CO, RS, AD],      orgs: ALL_ORGS },
  { endpoint: 'GET /v1/records/{issuer}/{recordId}/history', roles: [RO, CO, RS, AD],      orgs: ALL_ORGS },
  { endpoint: 'GET /v1/records/{issuer}/{recordId}/versions/{version}/provenance', roles: [RO, CO, RS, AD], orgs: ALL_ORGS },
  { endpoint: 'POST /v1/records/{issuer}/{recordId}/versions', roles: [RO],                orgs: HOSPITALS },
  { endpoint: 'PUT /v1/records/{issuer}/{recordId}/retraction', roles: [RO],               orgs: HOSPITALS },
  { endpoint: 'POST /v1/verifications',                      roles: [RO, CO, RS, DPO, AD], orgs: ALL_ORGS },
  { endpoint: 'POST /v1/verifications (multipart)',          roles: [RO, CO, RS, DPO, AD], orgs: ALL_ORGS },
  { endpoint: 'POST /v1/patients/registration-requests',     roles: [RO],                  orgs: HOSPITALS },
  { endpoint: 'POST /v1/patients',                           roles: [RO],                  orgs: HOSPITALS },
  { endpoint: 'GET /v1/consents/check',                      roles: [RO, CO, RS, DPO, AD], orgs: ALL_ORGS },
  { endpoint: 'POST /v1/access',                             roles: [CO, RS],              orgs: ALL_ORGS },
  { endpoint: 'GET /v1/consents/{hospital}/{patientRef}/{grantId}', roles: [RO, CO, RS, DPO, AD], orgs: ALL_ORGS },
  { endpoint: 'GET /v1/consents/events',                     roles: [CO, RS, AD],          orgs: ALL_ORGS },
  { endpoint: 'GET /v1/receipts/{docHash}',                  roles: [RO, CO, RS, DPO, AD], orgs: ALL_ORGS },
  { endpoint: 'POST /v1/erasures',                           roles: [DPO],                 orgs: HOSPITALS },
  { endpoint: 'GET /v1/erasures/{erasureId}',                roles: [DPO, AD],             orgs: ALL_ORGS },
  { endpoint: 'POST /v1/erasures/{erasureId}/ledger-record', roles: [DPO],                 orgs: HOSPITALS },
  { endpoint: 'POST /v1/admin/master-key/rotation',          roles: [AD],                  orgs: ALL_ORGS },
  { endpoint: 'GET /v1/admin/master-key/rotation',           roles: [AD],                  orgs: ALL_ORGS },
  { endpoint: 'POST /v1/research/releases/preview',          roles: [RS, DPO],             orgs: HOSPITALS },
  { endpoint: 'POST /v1/research/releases',                  roles: [RS],                  orgs: HOSPITALS },
  { endpoint: 'POST /v1/archives',                           roles: [RO],                  orgs: HOSPITALS },
  { endpoint: 'GET /v1/archives/{issuer}/{archiveId}',       roles: [RO, CO, RS, DPO, AD], orgs: ALL_ORGS },
];

let unique = 0;
/** A request the schemas accept, for this endpoint, caller and gateway. */
function validRequest(endpoint: string, caller: Caller, gw: OrgGateway): { method: string; path: string; headers: Record<string, string>; body?: string | Buffer } {
  const n = ++unique;
  const [method, rawPath] = endpoint.split(' ');
  const json = (v: unknown) => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(v) });
  const multipart = (fields: Record<string, string>) => {
    const b = `----matrix${n}`;
    const parts = Object.entries(fields).map(([k, v]) => `--${b}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`);
    const body = `${parts.join('')}--${b}\r\nContent-Disposition: form-data; name="document"; filename="d.txt"\r\nContent-Type: text/plain\r\n\r\ndocument ${n}\r\n--${b}--\r\n`;
    return { headers: { 'content-type': `multipart/form-data; boundary=${b}` }, body };
  };
  // the caller's own org in write paths, so that only the role and org type decide
  const p = rawPath
    .replace('{issuer}', gw.mspId)
    .replace('{recordId}', 'matrix-rec-1')
    .replace('{id}', `unknown-request-${n}`)
    .replace('{version}', '1')
    .replace('{hospital}', HOSPITAL)
    .replace('{patientRef}', sha('ref'))
    .replace('{grantId}', `0x${sha(`grant ${n}`)}`)
    .replace('{docHash}', sha(`receipt ${n}`))
    .replace('{erasureId}', randomUUID())
    .replace('{archiveId}', `matrix-archive-${n}`);
  const purpose = caller === 'research-officer' ? 'research:trial-1' : 'claims';
  let rest: { headers: Record<string, string>; body?: string } = { headers: {} };
  switch (endpoint) {
    case 'POST /v1/documents/hash':
    case 'POST /v1/verifications (multipart)':
      rest = multipart({});
      break;
    case 'POST /v1/records':
      rest = json({ recordId: `matrix-${n}`, docHash: sha(`matrix ${n}`), patientId: `MRN-${n}`, category: 'loinc:11506-3' });
      break;
    case 'POST /v1/records (multipart)':
      rest = multipart({ recordId: `matrix-${n}`, patientId: `MRN-${n}`, category: 'loinc:11506-3' });
      break;
    case 'POST /v1/records/batch':
      rest = json({ records: [{ recordId: `matrix-${n}`, docHash: sha(`matrix ${n}`), patientId: `MRN-${n}`, category: 'loinc:11506-3' }] });
      break;
    case 'POST /v1/records/{issuer}/{recordId}/versions':
      rest = json({ docHash: sha(`amended ${n}`) });
      break;
    case 'PUT /v1/records/{issuer}/{recordId}/retraction':
      rest = json({ reason: 'duplicate' });
      break;
    case 'POST /v1/verifications':
      rest = json({ docHash: sha(`verify ${n}`) });
      break;
    case 'POST /v1/patients/registration-requests':
    case 'POST /v1/erasures':
      rest = json({ patientId: `MRN-${n}` });
      break;
    case 'POST /v1/patients':
      rest = json({ message: { hospital: gw.mspId, patientRef: sha(`ref ${n}`), nonce: `0x${sha(`nonce ${n}`)}` }, patient: `0x${'1'.repeat(40)}`, signature: `0x${'ab'.repeat(65)}` });
      break;
    case 'POST /v1/access':
      rest = json({ issuer: HOSPITAL, recordId: 'matrix-rec-1', purpose });
      break;
    case 'POST /v1/archives':
      rest = json({ archiveId: `matrix-archive-${n}`, root: sha(`archive ${n}`), count: 3 });
      break;
    case 'POST /v1/research/releases/preview':
    case 'POST /v1/research/releases':
      // the caller's own org as issuer; allowed cells end in 422 (no consent) or a 200 preview
      rest = json({
        grantee: SPONSOR,
        purpose: 'research:trial-1',
        records: [{ issuer: gw.mspId, recordId: 'matrix-rec-1', attributes: { sex: 'F', birthDate: '1961-03-02', regionCode: '11680', admissionDate: '2025-10-01', diagnosisCode: 'E11.9' } }],
      });
      break;
  }
  const path = endpoint === 'GET /v1/consents/check' ? `${p}?${new URLSearchParams({ hospital: HOSPITAL, patientRef: sha('ref'), purpose })}` : p.replace(' (multipart)', '');
  const auth: Record<string, string> =
    caller === 'no key' ? {} : caller === 'bad key' ? { authorization: `Bearer ${ROLE_KEYS.admin}-forged` } : { authorization: `Bearer ${ROLE_KEYS[caller]}` };
  return { method, path, headers: { ...auth, ...rest.headers }, ...(rest.body !== undefined ? { body: rest.body } : {}) };
}

describe('gateway authorisation matrix: role × org type × endpoint (issue 7)', function () {
  this.timeout(60_000);
  const ledger = new FakeLedger();
  let dir: string;
  const gws = {} as Record<OrgType | 'hospital2', OrgGateway>;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-authz-'));
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    const limits = { perSecond: 1e6, burst: 1e6 };
    const consentFeed = (org: string) => ({ dir: path.join(dir, `${org}-feed`) });
    gws.hospital = await startOrgGateway({ ledger, mspId: HOSPITAL, type: 'hospital', dir, acceptance: true, limits, consentFeed: consentFeed('hospital'), anchoring: NOTHING_ANCHORED });
    gws.insurer = await startOrgGateway({ ledger, mspId: INSURER, type: 'insurer', dir, acceptance: true, limits, consentFeed: consentFeed('insurer'), anchoring: NOTHING_ANCHORED });
    gws.sponsor = await startOrgGateway({ ledger, mspId: SPONSOR, type: 'sponsor', dir, acceptance: true, limits, consentFeed: consentFeed('sponsor'), anchoring: NOTHING_ANCHORED });
    gws.hospital2 = await startOrgGateway({ ledger, mspId: HOSPITAL2, type: 'hospital', dir, limits });
    // a record of the hospital, for reads, access and the cross-hospital checks
    const res = await fetch(`${gws.hospital.url}/v1/records`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ROLE_KEYS[RO]}`, 'content-type': 'application/json', prefer: 'wait=10' },
      body: JSON.stringify({ recordId: 'matrix-rec-1', docHash: sha('matrix record'), patientId: 'MRN-matrix', category: 'loinc:11506-3' }),
    });
    expect(res.status, await res.clone().text()).to.equal(201);
  });
  after(async () => {
    for (const gw of Object.values(gws)) await gw.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('every cell of the table: denied with 401/403 and a code, or allowed', async () => {
    let cells = 0;
    let unauthorisedSuccesses = 0;
    const wrong: string[] = [];
    for (const row of MATRIX) {
      for (const org of ORGS) {
        for (const caller of CALLERS) {
          const expected = caller !== 'no key' && caller !== 'bad key' && row.roles.includes(caller) && row.orgs.includes(org) ? 'allowed' : 'denied';
          const req = validRequest(row.endpoint, caller, gws[org]);
          const res = await fetch(gws[org].url + req.path, { method: req.method, headers: req.headers, ...(req.body !== undefined ? { body: req.body } : {}) });
          // An allowed event stream never ends: its 200 is the answer.
          const stream = res.status === 200 && (res.headers.get('content-type') ?? '').startsWith('text/event-stream');
          if (stream) await res.body?.cancel();
          const text = stream ? '' : await res.text();
          cells += 1;
          const denied = res.status === 401 || res.status === 403;
          const got = denied ? 'denied' : 'allowed';
          if (denied) {
            const code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? '';
            if (!/^[A-Z_]+$/.test(code)) wrong.push(`${row.endpoint} @${org} as ${caller}: denied without a code: ${text.slice(0, 100)}`);
            const expectedCodes = caller === 'no key' ? ['AUTH_REQUIRED'] : caller === 'bad key' ? ['AUTH_INVALID'] : ['FORBIDDEN_ROLE', 'FORBIDDEN_ORG_TYPE'];
            if (expected === 'denied' && !expectedCodes.includes(code)) wrong.push(`${row.endpoint} @${org} as ${caller}: denied with ${code}, expected one of ${expectedCodes.join(', ')}`);
          }
          if (got === 'allowed' && expected === 'denied') unauthorisedSuccesses += 1;
          if (got !== expected) wrong.push(`${row.endpoint} @${org} as ${caller}: expected ${expected}, got ${res.status} ${text.slice(0, 160)}`);
          if (res.status >= 500) wrong.push(`${row.endpoint} @${org} as ${caller}: ${res.status} ${text.slice(0, 160)}`);
        }
      }
    }
    console.log(`      authorisation matrix: ${cells} cells tried (${MATRIX.length} endpoints × ${ORGS.length} org types × ${CALLERS.length} callers), ${unauthorisedSuccesses} unauthorised successes, ${wrong.length} wrong cells`);
    expect(wrong).to.deep.equal([]);
    expect(unauthorisedSuccesses).to.equal(0);
    expect(cells).to.equal(MATRIX.length * ORGS.length * CALLERS.length);
  });

  it('a role may only access records for its own purpose (claims ↔ research)', async () => {
    for (const org of ORGS) {
      for (const [caller, purpose] of [
        [CO, 'research:trial-1'],
        [RS, 'claims'],
        [CO, 'treatment'],
        [RS, 'treatment'],
      ] as const) {
        const writes = ledger.writeCount;
        const res = await fetch(`${gws[org].url}/v1/access`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ROLE_KEYS[caller]}`, 'content-type': 'application/json' },
          body: JSON.stringify({ issuer: HOSPITAL, recordId: 'matrix-rec-1', purpose }),
        });
        const body = (await res.json()) as { error: { code: string } };
        expect(res.status, `${org} ${caller} ${purpose}`).to.equal(403);
        expect(body.error.code).to.equal('FORBIDDEN_PURPOSE');
        expect(ledger.writeCount, 'no access-log entry written').to.equal(writes);
      }
    }
  });

  it("a hospital's records officer cannot amend or retract another hospital's record: 403, nothing written", async () => {
    const other = gws.hospital2;
    const readLatest = async () => (await (await fetch(`${gws.hospital.url}/v1/records/${HOSPITAL}/matrix-rec-1`, { headers: { authorization: `Bearer ${ROLE_KEYS[AD]}` } })).json()) as object;
    // (the table's own allowed cells may have amended or retracted it already: it must not change from here)
    const latestBefore = await readLatest();
    const before = { writes: ledger.writeCount, txs: ledger.committed.length, journal: gws.hospital.journal!.list().length };
    const attempts = [
      { method: 'POST', path: `/v1/records/${HOSPITAL}/matrix-rec-1/versions`, body: { docHash: sha('hijack') } },
      { method: 'PUT', path: `/v1/records/${HOSPITAL}/matrix-rec-1/retraction`, body: { reason: 'entered-in-error' } },
      { method: 'POST', path: `/v1/records/${HOSPITAL}/matrix-rec-1/versions`, body: { docHash: sha('hijack 2'), category: 'loinc:18842-5' } },
      { method: 'PUT', path: `/v1/records/${HOSPITAL}/matrix-rec-1/retraction`, body: { reason: 'legal-order' } },
    ];
    {
      const gw = other;
      for (const a of attempts) {
        for (const prefer of [{}, { prefer: 'wait=5' }] as Record<string, string>[]) {
          const res = await fetch(gw.url + a.path, {
            method: a.method,
            headers: { authorization: `Bearer ${ROLE_KEYS[RO]}`, 'content-type': 'application/json', ...prefer },
            body: JSON.stringify(a.body),
          });
          const body = (await res.json()) as { error: { code: string } };
          expect(res.status, `${a.method} ${a.path}`).to.equal(403);
          expect(body.error.code).to.equal('FORBIDDEN_NOT_ISSUER');
        }
      }
    }
    // and the hospital with the journal, asked about Hospital2's namesake path, refuses the same way
    const res = await fetch(`${gws.hospital.url}/v1/records/${HOSPITAL2}/some-rec/versions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ROLE_KEYS[RO]}`, 'content-type': 'application/json' },
      body: JSON.stringify({ docHash: sha('x') }),
    });
    expect(res.status).to.equal(403);
    expect(ledger.writeCount).to.equal(before.writes);
    expect(ledger.committed.length).to.equal(before.txs);
    expect(gws.hospital.journal!.list().length, 'nothing accepted in the journal').to.equal(before.journal);
    // the record is unchanged
    expect(await readLatest()).to.deep.equal(latestBefore);
    // and the chaincode refuses it too when invoked directly as the other hospital
    const records = new RecordsContract();
    let refused: Error | undefined;
    try {
      await ledger.invoke(HOSPITAL2, records, 'amendRecord', JSON.stringify({ issuer: HOSPITAL, recordId: 'matrix-rec-1', docHash: sha('direct hijack') }));
    } catch (err) {
      refused = err as Error;
    }
    expect(refused?.message).to.match(/^FORBIDDEN_NOT_ISSUER/);
    refused = undefined;
    try {
      await ledger.invoke(HOSPITAL2, records, 'retractRecord', HOSPITAL, 'matrix-rec-1', 'duplicate');
    } catch (err) {
      refused = err as Error;
    }
    expect(refused?.message).to.match(/^FORBIDDEN_NOT_ISSUER/);
    expect(ledger.writeCount).to.equal(before.writes);
  });

  it('an insurer or sponsor cannot anchor: 403 at its gateway and FORBIDDEN_ORG_TYPE from the chaincode', async () => {
    const writes = ledger.writeCount;
    for (const org of ['insurer', 'sponsor'] as const) {
      for (const endpoint of ['POST /v1/records', 'POST /v1/records (multipart)', 'POST /v1/records/batch']) {
        const req = validRequest(endpoint, RO, gws[org]);
        const res = await fetch(gws[org].url + req.path, { method: req.method, headers: { ...req.headers, prefer: 'wait=5' }, ...(req.body !== undefined ? { body: req.body } : {}) });
        const body = (await res.json()) as { error: { code: string } };
        expect(res.status, `${org} ${endpoint}`).to.equal(403);
        expect(body.error.code).to.equal('FORBIDDEN_ORG_TYPE');
      }
      expect(gws[org].journal!.list().length, `${org}: nothing accepted`).to.equal(0);
    }
    const records = new RecordsContract();
    for (const msp of [INSURER, SPONSOR]) {
      let refused: Error | undefined;
      try {
        await ledger.invoke(msp, records, 'anchorRecord', JSON.stringify({ recordId: `direct-${msp}`, docHash: sha(`direct ${msp}`), patientRef: sha('ref'), category: 'loinc:11506-3' }));
      } catch (err) {
        refused = err as Error;
      }
      expect(refused?.message, msp).to.match(/^FORBIDDEN_ORG_TYPE/);
      refused = undefined;
      try {
        await ledger.invoke(msp, records, 'anchorRecords', JSON.stringify([{ recordId: `direct-b-${msp}`, docHash: sha(`direct b ${msp}`), patientRef: sha('ref'), category: 'loinc:11506-3' }]));
      } catch (err) {
        refused = err as Error;
      }
      expect(refused?.message, `${msp} batch`).to.match(/^FORBIDDEN_ORG_TYPE/);
    }
    expect(ledger.writeCount).to.equal(writes);
  });
});
