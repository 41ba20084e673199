import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Wallet, id } from 'ethers';
import { IdentityContract } from '../../../chaincode/src';
import { CONSENT_GRANT_TYPES, CONSENT_REVOKE_TYPES, consentDomain, type ConsentGrantMessage } from '../../../chaincode/src/lib/eip712';
import type { Role } from '../../../gateway/src/http/roles';
import { ResearchReleases, releaseOptionsFromEnv, type ReleaseRecord } from '../../../gateway/src/research/release';
import type { Disclosures } from '../../../gateway/src/research/disclosure';
import type { ApiError } from '../../../gateway/src/errors';
import { challengeToSign, patientAuthorization } from '../../../gateway/src/consent/patient-client';
import { accessEventEntries, type AccessEvent, type AccessLogEntry, type DisclosedRecord } from '../../../chaincode/src/lib/consent-model';
import { DEFAULT_RELEASE_PROFILE } from '../../../gateway/src/research/profile';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL, HOSPITAL2, SPONSOR } from '../chaincode/fixtures';
import { CountingLedger, type LedgerCalls } from '../support/counting-ledger';
import { ROLE_KEYS, startOrgGateway, type OrgGateway } from '../support/org-gateways';

/**
 * Issue 8, the research release check at the hospital's gateway, at unit level: real
 * gateways over HTTP, the real chaincode on the in-memory stub, 200 synthetic patients who
 * registered their keys and signed research grants for the sponsor's trial.
 */
const CHANNEL = 'medprov';
const DAY = 86_400;
const DISCHARGE = 'loinc:18842-5';
const TRIAL = 'research:TRIAL-KR-01';
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

/** Counts what the hospital's gateway asks of the ledger. */
const calls: LedgerCalls = { evaluate: 0, submit: 0 };

interface Res {
  status: number;
  body: any;
  text: string;
}
async function send(gw: OrgGateway, method: string, p: string, opts: { role?: Role; json?: unknown } = {}): Promise<Res> {
  const headers: Record<string, string> = {};
  if (opts.role) headers.authorization = `Bearer ${ROLE_KEYS[opts.role]}`;
  if (opts.json !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(gw.url + p, { method, headers, ...(opts.json !== undefined ? { body: JSON.stringify(opts.json) } : {}) });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text), text };
}

// ───────────────────────────── synthetic Korean-context patients ─────────────────────────────

/** Five districts (시군구 codes) of Seoul (11) and of Busan (26). */
const DISTRICTS: Record<string, string[]> = {
  '11': ['11110', '11440', '11650', '11680', '11710'],
  '26': ['26110', '26350', '26410', '26440', '26500'],
};
/** KCD-8 codes; the release keeps their 3-character category. */
const DIAGNOSES = ['E11.9', 'I10', 'J18.9', 'N18.3', 'C16.9', 'I21.0', 'K80.2', 'M17.1'];
const BANDS = [40, 50, 60, 70, 80];

interface Patient {
  patientId: string;
  recordId: string;
  wallet: Wallet;
  patientRef?: string;
  grantId?: string;
  attributes: ReleaseRecord['attributes'];
}

/**
 * 40 cells (sex × 10-year band × province × admission month) of 5 patients each. Every raw
 * combination is unique (birth date, district, admission day, diagnosis differ); generalised,
 * each cell is one class of exactly 5 patients.
 */
function cohort(): Patient[] {
  const out: Patient[] = [];
  let n = 0;
  for (const sex of ['M', 'F'])
    for (const band of BANDS)
      for (const province of ['11', '26'])
        for (const month of ['10', '11'])
          for (let j = 0; j < 5; j += 1) {
            n += 1;
            const day = String(3 + j * 5).padStart(2, '0');
            const admission = `2025-${month}-${day}`;
            // age at admission: band + 1 + j (whole years), birthday early in the year
            const birthYear = 2025 - (band + 1 + j);
            out.push({
              patientId: `MRN-${String(100000 + n)}`,
              recordId: `dis-${String(n).padStart(4, '0')}`,
              wallet: new Wallet(id(`release patient ${n}`)),
              attributes: {
                sex,
                birthDate: `${birthYear}-0${1 + (n % 9)}-1${n % 10}`,
                regionCode: DISTRICTS[province][j],
                admissionDate: admission,
                diagnosisCode: DIAGNOSES[n % DIAGNOSES.length],
              },
            });
          }
  return out;
}

/** A 97-year-old woman from Jeju admitted in December: alone in her class. */
const UNIQUE: Omit<Patient, 'wallet'> = {
  patientId: 'MRN-900001',
  recordId: 'dis-jeju-1',
  attributes: { sex: 'F', birthDate: '1928-02-14', regionCode: '50110', admissionDate: '2025-12-20', diagnosisCode: 'S72.0' },
};

describe('gateway flow: research release check at the hospital (issue 8, unit level)', function () {
  this.timeout(120_000);
  const ledger = new FakeLedger({ channel: CHANNEL });
  let dir: string;
  let hospital: OrgGateway;
  let sponsor: OrgGateway;
  const patients = cohort();
  const unique: Patient = { ...UNIQUE, wallet: new Wallet(id('release unique patient')) };
  // Registered and anchored, but granted research to another trial only.
  const otherTrial: Patient = {
    patientId: 'MRN-900002',
    recordId: 'dis-other-1',
    wallet: new Wallet(id('release other-trial patient')),
    attributes: { sex: 'M', birthDate: '1970-03-01', regionCode: '11680', admissionDate: '2025-10-08', diagnosisCode: 'I10' },
  };
  // Anchored, never registered, never granted anything.
  const noGrant: Patient = { ...otherTrial, patientId: 'MRN-900003', recordId: 'dis-none-1', wallet: new Wallet(id('release no-grant patient')) };
  let nonce = 0;
  const freshNonce = (): string => id(`release nonce ${++nonce}`);

  const record = (p: Patient): ReleaseRecord => ({ issuer: HOSPITAL, recordId: p.recordId, attributes: p.attributes });
  const request = (ps: Patient[], extra: Record<string, unknown> = {}) => ({ grantee: SPONSOR, purpose: TRIAL, records: ps.map(record), ...extra });
  const release = (body: unknown, role: Role = 'research-officer', gw = hospital) => send(gw, 'POST', '/v1/research/releases', { role, json: body });
  const preview = (body: unknown, role: Role = 'research-officer', gw = hospital) => send(gw, 'POST', '/v1/research/releases/preview', { role, json: body });

  async function registerAndGrant(p: Patient, purpose: string): Promise<void> {
    const req = await send(hospital, 'POST', '/v1/patients/registration-requests', { role: 'records-officer', json: { patientId: p.patientId } });
    expect(req.status, req.text).to.equal(201);
    p.patientRef = req.body.message.patientRef;
    const signature = await p.wallet.signTypedData(req.body.domain, req.body.types, req.body.message);
    const reg = await send(hospital, 'POST', '/v1/patients', { role: 'records-officer', json: { message: req.body.message, patient: p.wallet.address, signature } });
    expect(reg.status, reg.text).to.equal(201);
    const message: ConsentGrantMessage = {
      hospital: HOSPITAL,
      patientRef: p.patientRef!,
      grantee: SPONSOR,
      purpose,
      categories: [DISCHARGE],
      recordIds: [],
      validFrom: ledger.now,
      validUntil: ledger.now + 365 * DAY,
      nonce: freshNonce(),
    };
    const grant = await send(hospital, 'POST', '/v1/consents', { json: { message, signature: await p.wallet.signTypedData(consentDomain(CHANNEL), CONSENT_GRANT_TYPES, message) } });
    expect(grant.status, grant.text).to.equal(201);
    p.grantId = grant.body.grant.grantId;
  }

  /** The request must not reach the ledger at all, or only with queries: never a write. */
  async function refused(res: Promise<Res>, status: number, code: string, reach: 'none' | 'evaluate'): Promise<Res> {
    const before = { ...calls, writes: ledger.writeCount, txs: ledger.committed.length };
    const r = await res;
    expect(r.status, r.text).to.equal(status);
    expect(r.body.error.code).to.equal(code);
    expect(r.body.error.message).to.match(/[.!]$/);
    expect(calls.submit, 'nothing submitted').to.equal(before.submit);
    expect(ledger.writeCount, 'nothing written').to.equal(before.writes);
    expect(ledger.committed.length).to.equal(before.txs);
    if (reach === 'none') expect(calls.evaluate, 'no ledger call at all').to.equal(before.evaluate);
    return r;
  }

  /** The patient's own view: GET /v1/patients/me/access-log with a signed challenge, as the patient's app does it. */
  async function accessLogOf(p: Patient): Promise<AccessLogEntry[]> {
    const challenge = await send(hospital, 'POST', '/v1/patients/challenges', { json: { address: p.wallet.address } });
    expect(challenge.status, challenge.text).to.equal(201);
    const toSign = challengeToSign(challenge.body, { hospital: HOSPITAL, patientRef: p.patientRef! }, HOSPITAL);
    if ('problem' in toSign) throw new Error(toSign.problem);
    const authorization = patientAuthorization(toSign.message, await p.wallet.signTypedData(toSign.domain, challenge.body.types, toSign.message));
    const res = await fetch(`${hospital.url}/v1/patients/me/access-log`, { headers: { authorization } });
    expect(res.status).to.equal(200);
    return ((await res.json()) as { entries: AccessLogEntry[] }).entries;
  }

  /** The one transaction the last release committed: a disclosure of these records (in this order), each entry as the patient's log holds it. */
  function lastDisclosure(recordIds: string[], grantee = SPONSOR): AccessLogEntry[] {
    const tx = ledger.committed[ledger.committed.length - 1];
    expect(tx.fcn).to.equal('Access:discloseRecords');
    expect(tx.mspId).to.equal(HOSPITAL);
    const entries = accessEventEntries(JSON.parse(Buffer.from(tx.event!.payload).toString('utf8')) as AccessEvent);
    expect(entries.map((e) => e.recordId)).to.deep.equal(recordIds);
    for (const e of entries) expect(e).to.include({ kind: 'disclosure', accessor: grantee, disclosedBy: HOSPITAL, issuer: HOSPITAL, txId: tx.txId });
    return entries;
  }

  /** A refusal that logged, in one transaction, exactly the records held back for lack of consent (and wrote nothing else). */
  async function refusedLogged(res: Promise<Res>, status: number, code: string, heldBack: Pick<DisclosedRecord, 'recordId' | 'decision' | 'reason'>[], grantee = SPONSOR): Promise<Res> {
    const before = { submits: calls.submit, txs: ledger.committed.length };
    const r = await res;
    expect(r.status, r.text).to.equal(status);
    expect(r.body.error.code).to.equal(code);
    expect(calls.submit - before.submits, 'one disclosure submitted').to.equal(1);
    expect(ledger.committed.length - before.txs).to.equal(1);
    const logged = lastDisclosure(heldBack.map((h) => h.recordId), grantee);
    expect(logged.map((e) => ({ recordId: e.recordId, decision: e.decision, ...(e.reason ? { reason: e.reason } : {}) }))).to.deep.equal(heldBack.map((h) => ({ ...h })));
    expect(r.body.error.details.disclosure).to.include({ logged: heldBack.length, transactionId: logged[0].txId });
    return r;
  }

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-release-'));
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    const limits = { perSecond: 1e6, burst: 1e6, patientPerSecond: 1e6, patientBurst: 1e6 };
    hospital = await startOrgGateway({ ledger, mspId: HOSPITAL, type: 'hospital', dir, limits, wrapLedger: (l) => new CountingLedger(l, calls) });
    sponsor = await startOrgGateway({ ledger, mspId: SPONSOR, type: 'sponsor', dir, limits });
    const everyone = [...patients, unique, otherTrial, noGrant];
    const batch = await send(hospital, 'POST', '/v1/records/batch', {
      role: 'records-officer',
      json: { records: everyone.map((p) => ({ recordId: p.recordId, docHash: sha(`discharge summary ${p.recordId}`), patientId: p.patientId, category: DISCHARGE })) },
    });
    expect(batch.status, batch.text).to.equal(201);
    for (const p of [...patients, unique]) await registerAndGrant(p, TRIAL);
    await registerAndGrant(otherTrial, 'research:TRIAL-KR-02');
  });
  after(async () => {
    await Promise.all([hospital?.stop(), sponsor?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  let released200: any;

  it('200 consented records with unique raw quasi-identifiers release at k = 5 after generalisation, recorded on the ledger as one disclosure', async () => {
    const before = { txs: ledger.committed.length, submits: calls.submit };
    const res = await release(request(patients));
    expect(res.status, res.text).to.equal(200);
    expect(res.body).to.include({ issuer: HOSPITAL, grantee: SPONSOR, purpose: TRIAL });
    expect(res.body.columns).to.deep.equal(['sex', 'ageBand', 'region', 'admissionMonth', 'diagnosis']);
    expect(res.body.rows).to.have.length(200);
    expect(res.body.report).to.deep.include({
      k: 5,
      kMin: 5,
      unit: 'patients',
      classes: 40,
      quasiIdentifiers: ['sex', 'ageBand', 'region', 'admissionMonth'],
      sensitive: ['diagnosis'],
      releasable: true,
      includesRecordIds: false,
    });
    expect(res.body.report.records).to.deep.equal({ requested: 200, withoutConsent: 0, omitted: 0, suppressed: 0, released: 200 });
    expect(res.body.report.belowK).to.deep.equal({ classes: 0, rows: 0, sizes: {} });
    expect(res.body.report.lDiversity.diagnosis).to.be.at.least(1);
    // generalised: 만 나이 band at admission, province, month, KCD category; nothing raw, no record ids
    expect(res.body.rows).to.deep.include({ sex: 'M', ageBand: '40-49', region: '11***', admissionMonth: '2025-10', diagnosis: 'I10' });
    for (const row of res.body.rows) {
      expect(Object.keys(row)).to.deep.equal(res.body.columns);
      expect(row.ageBand).to.match(/^\d0-\d9$/);
      expect(row.region).to.match(/^(11|26)\*\*\*$/);
      expect(row.diagnosis).to.match(/^[A-Z]\d\d$/);
    }
    // (the disclosure's ids are hex, so the rows and the report are checked)
    expect(JSON.stringify({ rows: res.body.rows, report: res.body.report })).to.not.match(/dis-\d{4}|MRN-|\d{4}-\d\d-\d\d|\d{5}/);
    // one transaction: a disclosure entry per released record, PERMIT under the patient's grant
    expect(calls.submit - before.submits).to.equal(1);
    expect(ledger.committed.length - before.txs).to.equal(1);
    const entries = lastDisclosure(patients.map((p) => p.recordId));
    expect(res.body.disclosure).to.deep.include({ logged: 200, transactionId: entries[0].txId, disclosureId: entries[0].disclosureId });
    patients.forEach((p, i) => expect(entries[i]).to.include({ decision: 'PERMIT', grantId: p.grantId, purpose: TRIAL, patientRef: p.patientRef }));
    // the patient sees it in their own access log
    for (const p of [patients[0], patients[123]]) {
      const log = await accessLogOf(p);
      expect(log).to.have.length(1);
      expect(log[0]).to.deep.equal(entries[patients.indexOf(p)]);
    }
    released200 = res.body;

    // the preview (research officer or DPO) reports the same, without rows
    for (const role of ['research-officer', 'dpo'] as const) {
      const p = await preview(request(patients), role);
      expect(p.status, p.text).to.equal(200);
      expect(p.body.report).to.deep.equal(res.body.report);
      expect(p.body).to.not.have.property('rows');
      expect(p.body.heldBack).to.deep.equal([]);
      expect(p.body).to.not.have.property('refusal');
    }
    // the preview writes nothing: no transaction, no entry in the patient's log
    expect(ledger.committed.length - before.txs).to.equal(1);
    expect(calls.submit - before.submits).to.equal(1);
    expect(await accessLogOf(patients[0])).to.have.length(1);

    // record ids only when asked, and then with the report saying so
    const withIds = await release(request(patients.slice(0, 40), { includeRecordIds: true }));
    expect(withIds.status, withIds.text).to.equal(200);
    expect(withIds.body.rows[0]).to.have.property('recordId', patients[0].recordId);
    expect(withIds.body.report.includesRecordIds).to.equal(true);
  });

  it('k is measured over exactly the columns the sponsor receives: keeping the raw birth date gives k = 1 and is refused', async () => {
    const res = await refused(release(request(patients, { generalisation: { ageBand: { from: 'birthDate', as: 'keep' } } })), 422, 'RELEASE_BELOW_K', 'evaluate');
    expect(res.body.error.details.report).to.deep.include({ k: 1, releasable: false, classes: 200 });
    expect(res.body.error.details.report.belowK).to.deep.equal({ classes: 200, rows: 200, sizes: { '1': 200 } });
    // leaving the month out (null) and widening bands to 20 years still passes, at a higher k
    const coarse = await release(request(patients, { generalisation: { admissionMonth: null, ageBand: { from: 'birthDate', as: 'ageBand', width: 20, asOf: 'admissionDate' } } }));
    expect(coarse.status, coarse.text).to.equal(200);
    expect(coarse.body.columns).to.deep.equal(['sex', 'ageBand', 'region', 'diagnosis']);
    expect(coarse.body.report.k).to.be.at.least(10);
    // a column the request redefines counts as a quasi-identifier, even one the profile calls sensitive
    const redefined = await refused(release(request(patients, { generalisation: { diagnosis: { from: 'diagnosisCode', as: 'keep' } } })), 422, 'RELEASE_BELOW_K', 'evaluate');
    expect(redefined.body.error.details.report.quasiIdentifiers).to.include('diagnosis');
  });

  it('a release with one unique combination is refused RELEASE_BELOW_K; neither the error nor the report reveals that row', async () => {
    const res = await refused(release(request([...patients, unique])), 422, 'RELEASE_BELOW_K', 'evaluate');
    expect(res.body.error.message).to.include('1 of 201 rows fall in 1 of 41 groups with fewer than k = 5 patients on sex, ageBand, region, admissionMonth');
    const report = res.body.error.details.report;
    expect(report).to.deep.include({ k: 1, classes: 41, releasable: false });
    expect(report.belowK).to.deep.equal({ classes: 1, rows: 1, sizes: { '1': 1 } });
    expect(report.records.released).to.equal(0);
    expect(res.body.error.details).to.not.have.property('rows');
    // nothing of the unique row, raw or generalised, in the answer
    for (const value of ['1928', '02-14', '50110', '50*', '2025-12', '90+', 'S72', 'dis-jeju-1']) expect(res.text, value).to.not.include(value);
    const p = await preview(request([...patients, unique]), 'dpo');
    expect(p.status).to.equal(200);
    expect(p.body.refusal).to.include({ code: 'RELEASE_BELOW_K', status: 422 });
    for (const value of ['1928', '50110', '50*', '2025-12', '90+', 'S72', 'dis-jeju-1']) expect(p.text, value).to.not.include(value);
  });

  it('suppression removes exactly the small classes, and is refused when it would remove more than the limit', async () => {
    const res = await release(request([unique, ...patients], { suppressSmallClasses: true }));
    expect(res.status, res.text).to.equal(200);
    expect(res.body.rows).to.deep.equal(released200.rows);
    expect(res.body.report).to.deep.include({ k: 5, releasable: true, classes: 41 });
    expect(res.body.report.records).to.include({ requested: 201, suppressed: 1, released: 200 });
    expect(res.body.report.suppression).to.deep.equal({ rows: 1, fraction: 1 / 201, maxFraction: 0.1 });
    expect(res.body.report.belowK).to.deep.equal({ classes: 1, rows: 1, sizes: { '1': 1 } });

    // k = 6 for this trial: every class of 5 would go
    const tooMuch = await refused(release(request(patients, { kMin: 6, suppressSmallClasses: true })), 422, 'RELEASE_SUPPRESSION_TOO_LARGE', 'evaluate');
    expect(tooMuch.body.error.details.report.suppression).to.include({ rows: 200, fraction: 1 });
    // a request may raise k, never lower it
    await refused(release(request(patients, { kMin: 3 })), 400, 'INVALID_REQUEST', 'none');
  });

  it('records without consent for this sponsor and trial are refused by record id, or left out when asked; either way their denied disclosure is logged', async () => {
    const denied = [
      { recordId: otherTrial.recordId, decision: 'DENY' as const, reason: 'WRONG_PURPOSE' as const },
      { recordId: noGrant.recordId, decision: 'NO_CONSENT' as const },
    ];
    // refused: only the held-back records are logged (nothing was disclosed)
    const res = await refusedLogged(release(request([...patients, otherTrial, noGrant])), 422, 'RELEASE_NO_CONSENT', denied);
    expect(res.body.error.details.records).to.deep.equal(denied);
    expect(res.text).to.not.include(otherTrial.attributes.birthDate as string);
    const otherLog = await accessLogOf(otherTrial);
    expect(otherLog).to.have.length(1);
    expect(otherLog[0]).to.include({ kind: 'disclosure', accessor: SPONSOR, disclosedBy: HOSPITAL, decision: 'DENY', reason: 'WRONG_PURPOSE', purpose: TRIAL });
    // another trial of the same sponsor is not this one's consent; another sponsor neither
    const five = patients.slice(0, 5);
    await refusedLogged(release(request(five, { purpose: 'research:TRIAL-KR-02' })), 422, 'RELEASE_NO_CONSENT', five.map((p) => ({ recordId: p.recordId, decision: 'DENY', reason: 'WRONG_PURPOSE' })));
    await refusedLogged(release(request(five, { grantee: HOSPITAL2 })), 422, 'RELEASE_NO_CONSENT', five.map((p) => ({ recordId: p.recordId, decision: 'DENY', reason: 'WRONG_GRANTEE' })), HOSPITAL2);

    // omitted: the released records and the held-back ones in one transaction
    const omitted = await release(request([...patients, otherTrial, noGrant], { withoutConsent: 'omit' }));
    expect(omitted.status, omitted.text).to.equal(200);
    expect(omitted.body.rows).to.deep.equal(released200.rows);
    expect(omitted.body.report.records).to.deep.equal({ requested: 202, withoutConsent: 2, omitted: 2, suppressed: 0, released: 200 });
    const logged = lastDisclosure([...patients, otherTrial, noGrant].map((p) => p.recordId));
    expect(logged.slice(200).map((e) => e.decision)).to.deep.equal(['DENY', 'NO_CONSENT']);
    expect(omitted.body.disclosure.logged).to.equal(202);

    const p = await preview(request([...patients, noGrant]));
    expect(p.status).to.equal(200);
    expect(p.body.heldBack).to.deep.equal([{ recordId: noGrant.recordId, decision: 'NO_CONSENT' }]);
    expect(p.body.refusal.code).to.equal('RELEASE_NO_CONSENT');
    // nothing consented at all: refused, the attempt logged
    await refusedLogged(release(request([noGrant], { withoutConsent: 'omit' })), 422, 'RELEASE_EMPTY', [{ recordId: noGrant.recordId, decision: 'NO_CONSENT' }]);
  });

  it('direct identifiers in attributes or columns are refused before the ledger is asked anything', async () => {
    const first = patients[0];
    const withAttrs = (attributes: Record<string, unknown>) => ({ grantee: SPONSOR, purpose: TRIAL, records: [{ issuer: HOSPITAL, recordId: first.recordId, attributes: { ...first.attributes, ...attributes } }] });
    const cases: [string, unknown][] = [
      ['a name field', withAttrs({ patientName: 'HongGildong' })],
      ['a name field', withAttrs({ name: 'KimMinjun' })],
      ['a resident registration number field', withAttrs({ rrn: '900101' })],
      ['a phone field', withAttrs({ phoneNumber: '01012345678' })],
      ['an RRN as a value', withAttrs({ regionCode: '900101-1234567' })],
      ['a phone number as a value', withAttrs({ diagnosisCode: '010-1234-5678' })],
      ['a name column', { ...withAttrs({}), generalisation: { patientName: { from: 'sex', as: 'keep' } } }],
      ['a column reading a phone', { ...withAttrs({}), generalisation: { contact: { from: 'mobile', as: 'keep' } } }],
    ];
    for (const [what, body] of cases) {
      const res = await refused(release(body), 400, 'DIRECT_IDENTIFIER', 'none');
      expect(res.text, what).to.not.match(/HongGildong|KimMinjun|1234567|5678/);
      await refused(preview(body), 400, 'DIRECT_IDENTIFIER', 'none');
    }
    // an attribute no column reads is refused too, rather than silently dropped
    await refused(release(withAttrs({ ward: 'W3' })), 400, 'UNKNOWN_ATTRIBUTE', 'none');
    // malformed values of a generalisation: named by field, never quoted
    const bad = await refused(release(withAttrs({ birthDate: '1970-02-30' })), 400, 'INVALID_ATTRIBUTE', 'none');
    expect(bad.body.error.message).to.include('records[0].attributes.birthDate').and.not.include('1970');
    await refused(release(withAttrs({ birthDate: '2030-01-01' })), 400, 'INVALID_ATTRIBUTE', 'none');
    await refused(release(withAttrs({ regionCode: 11680 })), 400, 'INVALID_ATTRIBUTE', 'none');
    // free text and unknown fields never pass the schema
    await refused(release(withAttrs({ diagnosisCode: 'type 2 diabetes' })), 400, 'INVALID_REQUEST', 'none');
    await refused(release(withAttrs({ sex: '여' })), 400, 'INVALID_REQUEST', 'none');
    await refused(release({ ...withAttrs({}), note: 'x' }), 400, 'UNKNOWN_FIELD', 'none');
    await refused(release({ ...withAttrs({}), purpose: 'claims' }), 400, 'INVALID_REQUEST', 'none');
    await refused(release({ ...withAttrs({}), generalisation: { x: { from: 'sex', as: 'truncate' } } }), 400, 'INVALID_GENERALISATION', 'none');
    await refused(release({ ...withAttrs({}), profile: 'nope' }), 400, 'UNKNOWN_PROFILE', 'none');
    await refused(release({ grantee: SPONSOR, purpose: TRIAL, records: [record(first), record(first)] }), 400, 'DUPLICATE_RECORD', 'none');
    const tooMany = { grantee: SPONSOR, purpose: TRIAL, records: Array.from({ length: 5001 }, (_, i) => ({ issuer: HOSPITAL, recordId: `r${i}`, attributes: { sex: 'F' } })) };
    await refused(release(tooMany), 400, 'INVALID_REQUEST', 'none');
    await refused(release({ ...withAttrs({}), records: [{ ...record(first), attributes: { sex: 'x'.repeat(65) } }] }), 400, 'INVALID_REQUEST', 'none');
  });

  it('roles and organisations: research officer prepares, DPO previews only, only at the issuing hospital', async () => {
    const body = request(patients.slice(0, 5));
    for (const role of ['records-officer', 'claims-officer', 'admin', 'dpo'] as const) await refused(release(body, role), 403, 'FORBIDDEN_ROLE', 'none');
    for (const role of ['records-officer', 'claims-officer', 'admin'] as const) await refused(preview(body, role), 403, 'FORBIDDEN_ROLE', 'none');
    await refused(release(body, 'research-officer', sponsor), 403, 'FORBIDDEN_ORG_TYPE', 'none');
    await refused(preview(body, 'dpo', sponsor), 403, 'FORBIDDEN_ORG_TYPE', 'none');
    const unauthenticated = await fetch(`${hospital.url}/v1/research/releases`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(unauthenticated.status).to.equal(401);
    // another hospital's records are not this hospital's to release
    await refused(release({ ...body, records: [{ ...record(patients[0]), issuer: HOSPITAL2 }] }), 403, 'FORBIDDEN_NOT_ISSUER', 'none');
    // a record that is not on the ledger
    await refused(release({ ...body, records: [{ ...record(patients[0]), recordId: 'dis-missing' }] }), 404, 'RECORD_NOT_FOUND', 'evaluate');
  });

  it('a revoked consent is refused; left out, its class falls below k, and suppression then takes that class', async () => {
    const p = patients[7];
    const message = { hospital: HOSPITAL, patientRef: p.patientRef!, grantId: p.grantId!, nonce: freshNonce() };
    const revoke = await send(hospital, 'POST', '/v1/consents/revocations', { json: { message, signature: await p.wallet.signTypedData(consentDomain(CHANNEL), CONSENT_REVOKE_TYPES, message) } });
    expect(revoke.status, revoke.text).to.equal(201);

    const before = await accessLogOf(p);
    const revokedDeny = { recordId: p.recordId, decision: 'DENY' as const, reason: 'REVOKED' as const };
    const res = await refusedLogged(release(request(patients)), 422, 'RELEASE_NO_CONSENT', [revokedDeny]);
    expect(res.body.error.details.records).to.deep.equal([revokedDeny]);
    const omitted = await refusedLogged(release(request(patients, { withoutConsent: 'omit' })), 422, 'RELEASE_BELOW_K', [revokedDeny]);
    expect(omitted.body.error.details.report.belowK).to.deep.equal({ classes: 1, rows: 4, sizes: { '4': 1 } });
    const both = await release(request(patients, { withoutConsent: 'omit', suppressSmallClasses: true }));
    expect(both.status, both.text).to.equal(200);
    expect(both.body.rows).to.have.length(195);
    expect(both.body.report.records).to.deep.equal({ requested: 200, withoutConsent: 1, omitted: 1, suppressed: 4, released: 195 });
    expect(both.body.report.k).to.equal(5);
    // the suppressed class (the cohort's cells are runs of 5: patients[5..9]) was not disclosed, so not logged; the revoked record was attempted
    const logged = lastDisclosure([...patients.filter((_, i) => i < 5 || i > 9), p].map((q) => q.recordId));
    expect(logged.slice(0, 195).every((e) => e.decision === 'PERMIT')).to.equal(true);
    expect(logged[195]).to.include({ ...revokedDeny, grantId: p.grantId });
    // the patient sees three denied disclosures (refused, below k, and the release that went without them), each naming the revoked grant
    const after = await accessLogOf(p);
    expect(after.slice(0, before.length)).to.deep.equal(before);
    expect(after.slice(before.length).map((e) => [e.kind, e.accessor, e.disclosedBy, e.decision, e.reason, e.grantId])).to.deep.equal(
      Array.from({ length: 3 }, () => ['disclosure', SPONSOR, HOSPITAL, 'DENY', 'REVOKED', p.grantId]),
    );
  });

  it('the ledger holds no attribute value: world state, every write and every event of every transaction', () => {
    const everything = [
      ...[...ledger.state.entries()].map(([k, v]) => `${k}\n${Buffer.from(v).toString('utf8')}`),
      ...ledger.committed.flatMap((tx) => [
        ...[...tx.writes.entries()].map(([k, v]) => `${k}\n${v ? Buffer.from(v).toString('utf8') : ''}`),
        tx.event ? `${tx.event.name}\n${Buffer.from(tx.event.payload).toString('utf8')}` : '',
      ]),
    ].join('\n');
    expect(everything.length).to.be.greaterThan(10_000);
    for (const p of [...patients, unique, otherTrial]) {
      for (const field of ['birthDate', 'admissionDate', 'diagnosisCode'] as const) {
        expect(everything, `${p.recordId} ${field}`).to.not.include(String(p.attributes[field]));
      }
    }
    for (const value of ['11***', '26***', '"40-49"', '2025-10', '2025-11', 'ageBand', 'regionCode', 'diagnosis']) expect(everything, value).to.not.include(value);
  });

  it('with an acceptance journal, the disclosure goes through it (record ids only) and the release answers once it committed', async () => {
    const durable = await startOrgGateway({ ledger, mspId: HOSPITAL, type: 'hospital', dir: path.join(dir, 'journal'), acceptance: true });
    try {
      const forty = patients.slice(40, 80);
      const res = await release(request(forty), 'research-officer', durable);
      expect(res.status, res.text).to.equal(200);
      expect(res.body.rows).to.have.length(40);
      const entries = durable.journal!.list().filter((e) => e.kind === 'discloseRecords');
      expect(entries).to.have.length(1);
      expect(entries[0]).to.include({ id: res.body.disclosure.requestId, transaction: 'Access:discloseRecords', user: 'research-officer-1' });
      expect(entries[0].outcome).to.include({ status: 'committed', transactionId: res.body.disclosure.transactionId });
      expect(JSON.parse(entries[0].args[0])).to.deep.equal({
        disclosureId: res.body.disclosure.disclosureId,
        issuer: HOSPITAL,
        grantee: SPONSOR,
        purpose: TRIAL,
        recordIds: forty.map((p) => p.recordId),
      });
      lastDisclosure(forty.map((p) => p.recordId));
      // the preview goes nowhere near the journal
      expect((await preview(request(forty), 'dpo', durable)).status).to.equal(200);
      expect(durable.journal!.list().filter((e) => e.kind === 'discloseRecords')).to.have.length(1);
    } finally {
      await durable.stop();
    }
  });

  it('a gateway configured with a higher k refuses what the default allows', async () => {
    const strict = await startOrgGateway({ ledger, mspId: HOSPITAL, type: 'hospital', dir: path.join(dir, 'strict'), research: { kMin: 6 } });
    try {
      const res = await release(request(patients.slice(10, 50)), 'research-officer', strict);
      expect(res.status, res.text).to.equal(422);
      expect(res.body.error.code).to.equal('RELEASE_BELOW_K');
      expect(res.body.error.details.report.kMin).to.equal(6);
    } finally {
      await strict.stop();
    }
  });
});

describe('research release policy and patient counting (no HTTP)', () => {
  const anchor = (recordId: string, patientRef: string) => ({
    docHash: sha(recordId),
    recordId,
    version: 1,
    issuer: HOSPITAL,
    patientRef,
    category: DISCHARGE,
    status: 'active' as const,
    anchoredAt: '2026-01-01T00:00:00Z',
    txId: 't',
  });
  const deps = (refs: Record<string, string>) => ({
    org: { mspId: HOSPITAL },
    records: { readRecord: async (_issuer: string, recordId: string) => anchor(recordId, refs[recordId]) },
    consent: { checkConsent: async () => ({ decision: 'PERMIT' as const, evaluatedAt: '2026-01-01T00:00:00Z' }), nowSeconds: () => 1_767_225_600 },
    disclosures: ledgerDeciding(() => ({ decision: 'PERMIT' })),
  });
  /** A ledger whose disclosure transaction decides each record with `decide` (e.g. a revocation that lands between query and transaction). */
  const ledgerDeciding = (decide: (recordId: string) => Omit<DisclosedRecord, 'recordId' | 'version'>, seen: string[][] = []): Disclosures => ({
    disclose: async (d) => {
      seen.push([...d.recordIds]);
      const records = d.recordIds.map((recordId) => ({ recordId, version: 1, ...decide(recordId) }));
      return { disclosure: { disclosureId: d.disclosureId, issuer: d.issuer, grantee: d.grantee, purpose: d.purpose, records, at: '2026-01-01T00:00:01Z', txId: 'tx' }, transactionId: 'tx', blockNumber: '7' };
    },
  });
  const rec = (recordId: string) => ({ issuer: HOSPITAL, recordId, attributes: { sex: 'F', birthDate: '1960-05-05', regionCode: '11680', admissionDate: '2025-10-10', diagnosisCode: 'E11.9' } });

  it('k counts distinct patients: six records of two patients are a class of two, not six', async () => {
    const refs = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`r${i}`, sha(`patient ${i % 2}`)]));
    const releases = new ResearchReleases(deps(refs), { kMin: 2 });
    const out = await releases.release({ grantee: SPONSOR, purpose: TRIAL, records: Object.keys(refs).map(rec) });
    expect(out.report.k).to.equal(2);
    const strict = new ResearchReleases(deps(refs), { kMin: 3 });
    const p = await strict.preview({ grantee: SPONSOR, purpose: TRIAL, records: Object.keys(refs).map(rec) });
    expect(p.refusal?.code).to.equal('RELEASE_BELOW_K');
    expect(p.report.k).to.equal(2);
  });

  it("the ledger's decisions are the check of record: a record its transaction denies is refused, or left out and k measured again", async () => {
    const refs = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`r${i}`, sha(`patient ${i}`)]));
    const revokedMeanwhile = (recordId: string) => (recordId === 'r5' ? { decision: 'DENY' as const, reason: 'REVOKED' as const } : { decision: 'PERMIT' as const });
    const body = { grantee: SPONSOR, purpose: TRIAL, records: Object.keys(refs).map(rec) };
    const seen: string[][] = [];
    const refusing = new ResearchReleases({ ...deps(refs), disclosures: ledgerDeciding(revokedMeanwhile, seen) }, { kMin: 6 });
    // the queries permitted all six; the transaction (which logged all six) denied r5
    const err = await refusing.release(body).then(() => undefined, (e: ApiError) => e);
    expect(err).to.include({ status: 422, code: 'RELEASE_NO_CONSENT' });
    expect(err!.details).to.deep.include({ records: [{ recordId: 'r5', decision: 'DENY', reason: 'REVOKED' }] });
    expect(err!.details!.disclosure).to.include({ logged: 6, transactionId: 'tx' });
    expect(seen).to.deep.equal([Object.keys(refs)]);
    // omitted, five patients are left: below k = 6
    const omitting = await refusing.release({ ...body, withoutConsent: 'omit' }).then(() => undefined, (e: ApiError) => e);
    expect(omitting).to.include({ code: 'RELEASE_BELOW_K' });
    const lenient = new ResearchReleases({ ...deps(refs), disclosures: ledgerDeciding(revokedMeanwhile) }, { kMin: 5 });
    const out = await lenient.release({ ...body, withoutConsent: 'omit', includeRecordIds: true });
    expect(out.rows.map((r) => r.recordId)).to.deep.equal(['r0', 'r1', 'r2', 'r3', 'r4']);
    expect(out.report.records).to.include({ withoutConsent: 1, omitted: 1, released: 5 });
    expect(out.disclosure).to.deep.equal({ disclosureId: out.disclosure.disclosureId, transactionId: 'tx', blockNumber: '7', logged: 6 });
    // the preview never asks for a disclosure
    const previewed: string[][] = [];
    await new ResearchReleases({ ...deps(refs), disclosures: ledgerDeciding(revokedMeanwhile, previewed) }, { kMin: 2 }).preview(body);
    expect(previewed).to.deep.equal([]);
  });

  it('refuses a policy that would let anything through, or a broken profile, at start', () => {
    const d = deps({});
    expect(() => new ResearchReleases(d, { kMin: 1 })).to.throw(/kMin/);
    expect(() => new ResearchReleases(d, { maxSuppressedFraction: 1.5 })).to.throw(/maxSuppressedFraction/);
    expect(() => new ResearchReleases(d, { profiles: { default: { columns: { name: { from: 'sex', as: 'keep' } } } } })).to.throw(/profile default/);
    expect(() => new ResearchReleases(d, { profiles: { default: { ...DEFAULT_RELEASE_PROFILE, sensitive: ['nope'] } } })).to.throw(/sensitive/);
    expect(() => new ResearchReleases(d, { profiles: { default: { columns: { d: { from: 'diagnosisCode', as: 'keep' } }, sensitive: ['d'] } } })).to.throw(/no quasi-identifier/);
  });

  it('reads the policy from the environment', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'medprov-release-env-'));
    try {
      const file = path.join(dir, 'profiles.json');
      writeFileSync(file, JSON.stringify({ default: DEFAULT_RELEASE_PROFILE, coarse: { columns: { sex: { from: 'sex', as: 'keep' } } } }));
      const options = releaseOptionsFromEnv({ MEDPROV_RELEASE_K_MIN: '10', MEDPROV_RELEASE_MAX_SUPPRESSED: '0.05', MEDPROV_RELEASE_PROFILES: file });
      expect(options).to.deep.include({ kMin: 10, maxSuppressedFraction: 0.05 });
      expect(new ResearchReleases(deps({}), options).policy).to.deep.equal({ kMin: 10, maxSuppressedFraction: 0.05, profiles: ['default', 'coarse'] });
      expect(releaseOptionsFromEnv({})).to.deep.equal({});
      expect(() => releaseOptionsFromEnv({ MEDPROV_RELEASE_K_MIN: 'five' })).to.throw(/MEDPROV_RELEASE_K_MIN/);
      expect(() => releaseOptionsFromEnv({ MEDPROV_RELEASE_MAX_SUPPRESSED: '2' })).to.throw(/MEDPROV_RELEASE_MAX_SUPPRESSED/);
      expect(() => releaseOptionsFromEnv({ MEDPROV_RELEASE_PROFILES: path.join(dir, 'missing.json') })).to.throw(/MEDPROV_RELEASE_PROFILES/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
