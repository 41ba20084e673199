import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { IdentityContract, RecordsContract } from '../../../chaincode/src';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL, HOSPITAL2, INSURER, SPONSOR } from '../chaincode/fixtures';
import { NOTHING_ANCHORED, ROLE_KEYS, startOrgGateway, type OrgGateway, type OrgType } from '../support/org-gateways';
import { askCell, authorizationOf, CALLERS, MATRIX, ORGS, validRequest, type Caller } from '../../support/authorisation-matrix';

/**
 * Issue 7, authorisation: every caller × organisation type × API-key endpoint (the table and the
 * requests are in test/support/authorisation-matrix.ts, shared with the real-network run in
 * test/faults/abuse.test.ts), each with a body the schemas accept, so that only authorisation
 * decides. Denied = 401/403 with a code; allowed = anything else.
 */
const RO = 'records-officer';
const CO = 'claims-officer';
const RS = 'research-officer';
const AD = 'admin';
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const request = (endpoint: string, caller: Caller, gw: OrgGateway) => validRequest(endpoint, caller, gw.mspId, authorizationOf(caller, (role) => ROLE_KEYS[role]));

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
          const cell = await askCell(gws[org].url, row, org, caller, request(row.endpoint, caller, gws[org]));
          cells += 1;
          if (cell.unauthorisedSuccess) unauthorisedSuccesses += 1;
          wrong.push(...cell.wrong);
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
        const req = request(endpoint, RO, gws[org]);
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
