import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { IdentityContract } from '../../../chaincode/src';
import { accessLogEntryToAuditEvent } from '../../../gateway/src/fhir/audit-event';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL, HOSPITAL2, INSURER } from '../chaincode/fixtures';
import { runCli, type CliRun } from '../support/cli-process';
import { sendTo } from '../support/http';
import { ROLE_KEYS, startOrgGateway, type OrgGateway } from '../support/org-gateways';

const sha = (b: string): string => createHash('sha256').update(b).digest('hex');
const CLINICIAN = ROLE_KEYS.clinician;

/**
 * Break-glass through the gateway and the CLI (unit level: real gateways, the real chaincode on
 * the in-memory stub). The real network's run is test/integration/network/break-glass.test.ts.
 */
describe('break-glass through the gateway and the CLI', function () {
  this.timeout(60_000);
  const ledger = new FakeLedger();
  let dir: string;
  let home: string;
  let hospital: OrgGateway;
  let hospital2: OrgGateway;
  let insurer: OrgGateway;
  const cli = (gw: OrgGateway, key: string, args: string[]): Promise<CliRun> => runCli([...args, '--gateway', gw.url, '--api-key', key], { home, env: {} });
  const submits = () => ledger.committed.length;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-break-glass-flow-'));
    home = path.join(dir, 'home');
    mkdirSync(home);
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    hospital = await startOrgGateway({ ledger, mspId: HOSPITAL, type: 'hospital', dir });
    hospital2 = await startOrgGateway({ ledger, mspId: HOSPITAL2, type: 'hospital', dir });
    insurer = await startOrgGateway({ ledger, mspId: INSURER, type: 'insurer', dir });
    const anchored = await sendTo(hospital, 'POST', '/v1/records', ROLE_KEYS['records-officer'], { recordId: 'bg-1', docHash: sha('bg-1'), patientId: 'MRN-bg-1', category: 'loinc:18842-5' });
    expect(anchored.status, JSON.stringify(anchored.body)).to.equal(201);
  });
  after(async () => {
    await Promise.all([hospital.stop(), hospital2.stop(), insurer.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("a clinician of another hospital opens the record (201, provenance, the entry) and both hospitals' DPOs see it", async () => {
    const opened = await sendTo(hospital2, 'POST', '/v1/break-glass', CLINICIAN, { issuer: HOSPITAL, recordId: 'bg-1', reason: 'unconscious-patient' });
    expect(opened.status, JSON.stringify(opened.body)).to.equal(201);
    expect(opened.body.accessLog).to.include({ accessor: HOSPITAL2, kind: 'break-glass', decision: 'BREAK_GLASS', breakGlassReason: 'unconscious-patient', purpose: 'ETREAT' });
    expect(opened.body.provenance[0]).to.include({ recordId: 'bg-1', docHash: sha('bg-1') });
    const by = await sendTo(hospital2, 'GET', '/v1/audit/break-glass', ROLE_KEYS.dpo);
    expect(by.status).to.equal(200);
    expect(by.body.entries.map((e: { txId: string }) => e.txId)).to.deep.equal([opened.body.accessLog.txId]);
    const of = await sendTo(hospital, 'GET', '/v1/audit/break-glass?side=of', ROLE_KEYS.admin);
    expect(of.body.entries.map((e: { txId: string }) => e.txId)).to.deep.equal([opened.body.accessLog.txId]);
  });

  it('a break-glass entry as a FHIR AuditEvent: read successfully, purposes ETREAT and BTG, the reason in outcomeDesc', async () => {
    const opened = await sendTo(hospital, 'POST', '/v1/break-glass', CLINICIAN, { issuer: HOSPITAL, recordId: 'bg-1', reason: 'mass-casualty' });
    const event = accessLogEntryToAuditEvent(opened.body.accessLog);
    expect(event.outcome).to.equal('0');
    expect(event.outcomeDesc).to.equal('BREAK_GLASS (without consent, emergency): mass-casualty');
    expect(event.purposeOfEvent?.map((p) => p.coding?.[0]?.code)).to.deep.equal(['ETREAT', 'BTG']);
    expect(event.purposeOfEvent?.[1]?.coding?.[0]).to.deep.equal({ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'BTG', display: 'break the glass' });
  });

  it('refuses with a code and submits nothing: no or unknown reason, other roles, insurers, bad periods', async () => {
    const before = submits();
    const cases: [OrgGateway, string, unknown, number, string][] = [
      [hospital, CLINICIAN, { issuer: HOSPITAL, recordId: 'bg-1' }, 400, 'BREAK_GLASS_REASON_REQUIRED'],
      [hospital, CLINICIAN, { issuer: HOSPITAL, recordId: 'bg-1', reason: 'curiosity' }, 400, 'BREAK_GLASS_REASON_UNKNOWN'],
      [hospital, CLINICIAN, { issuer: HOSPITAL, recordId: 'bg-1', reason: 'life-threatening', note: 'x' }, 400, 'UNKNOWN_FIELD'],
      [hospital, ROLE_KEYS['records-officer'], { issuer: HOSPITAL, recordId: 'bg-1', reason: 'life-threatening' }, 403, 'FORBIDDEN_ROLE'],
      [hospital, ROLE_KEYS.dpo, { issuer: HOSPITAL, recordId: 'bg-1', reason: 'life-threatening' }, 403, 'FORBIDDEN_ROLE'],
      [insurer, CLINICIAN, { issuer: HOSPITAL, recordId: 'bg-1', reason: 'life-threatening' }, 403, 'FORBIDDEN_ORG_TYPE'],
    ];
    for (const [gw, key, body, status, code] of cases) {
      const res = await sendTo(gw, 'POST', '/v1/break-glass', key, body);
      expect([res.status, res.body.error?.code], JSON.stringify(body)).to.deep.equal([status, code]);
      expect(res.body.error.message).to.be.a('string').and.not.equal('');
    }
    for (const q of ['from=2026-02-30', 'from=2026-03-02&to=2026-03-01', 'from=2026-01-01&to=2026-12-31', 'side=sideways']) {
      const res = await sendTo(hospital, 'GET', `/v1/audit/break-glass?${q}`, ROLE_KEYS.dpo);
      expect(res.status, q).to.equal(400);
      expect(res.body.error.code, q).to.be.oneOf(['INVALID_PERIOD', 'INVALID_REQUEST']);
    }
    expect(submits()).to.equal(before);
  });

  it('medprov break-glass and medprov audit break-glass', async () => {
    const opened = await cli(hospital, CLINICIAN, ['break-glass', HOSPITAL, 'bg-1', '--reason', 'life-threatening']);
    expect(opened.code, opened.stderr).to.equal(0);
    expect(opened.stdout).to.match(/^BREAK-GLASS HospitalMSP bg-1 v1: opened without consent \(life-threatening\)/);
    const missing = await cli(hospital, CLINICIAN, ['break-glass', HOSPITAL, 'bg-1']);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.include('--reason is required');
    const refused = await cli(hospital, ROLE_KEYS['records-officer'], ['break-glass', HOSPITAL, 'bg-1', '--reason', 'life-threatening']);
    expect(refused.code).to.equal(4);
    expect(refused.stderr).to.include('FORBIDDEN_ROLE');
    const audit = await cli(hospital, ROLE_KEYS.dpo, ['audit', 'break-glass', '--json']);
    expect(audit.code, audit.stderr).to.equal(0);
    const report = JSON.parse(audit.stdout);
    expect(report.entries.map((e: { breakGlassReason: string }) => e.breakGlassReason)).to.deep.equal(['mass-casualty', 'life-threatening']);
    const text = await cli(hospital, ROLE_KEYS.dpo, ['audit', 'break-glass', '--of-our-records']);
    expect(text.stdout).to.match(/^3 break-glass accesses to records of HospitalMSP/);
    expect(text.stdout).to.include('unconscious-patient');
  });
});
