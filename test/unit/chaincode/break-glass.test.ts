import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { AccessContract, IdentityContract, RecordsContract } from '../../../chaincode/src';
import { ACCESS_EVENT, type AccessLogEntry } from '../../../chaincode/src/contracts/access';
import { BREAK_GLASS_REASONS, DEFAULT_BREAK_GLASS_PER_ORG_PER_DAY } from '../../../chaincode/src/lib/break-glass';
import { definitionDigest, parseConsortium } from '../../../chaincode/src/lib/consortium';
import { FakeLedger } from './fake-ledger';
import { CONSORTIUM, DISCHARGE, HOSPITAL, HOSPITAL2, INSURER, SPONSOR, expectCode } from './fixtures';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const PATIENT_REF = sha('hospital patient 1001');

describe('chaincode: break-glass emergency access', () => {
  let ledger: FakeLedger;
  const identity = new IdentityContract();
  const records = new RecordsContract();
  const access = new AccessContract();
  const json = async (p: Promise<string>) => JSON.parse(await p);
  const request = (overrides: Record<string, unknown> = {}) => JSON.stringify({ issuer: HOSPITAL, recordId: 'r-1', reason: 'unconscious-patient', role: 'clinician', ...overrides });
  const breakGlass = (msp: string, overrides: Record<string, unknown> = {}) => json(ledger.invoke(msp, access, 'breakGlassAccess', request(overrides)));
  const today = () => new Date((ledger.now + 1) * 1000).toISOString().slice(0, 10);
  const audit = (side: string, msp: string, from = today(), to = from) => json(ledger.query(SPONSOR, access, 'listBreakGlassAccesses', side, msp, from, to));

  async function refused(promise: Promise<unknown>, code: string, fragment?: string): Promise<void> {
    const writes = ledger.writeCount;
    await expectCode(promise, code, fragment);
    expect(ledger.writeCount, 'nothing written').to.equal(writes);
  }

  /** The consortium's admins set the rate by the majority change flow (two of four approve, then a third). */
  async function setRate(perOrgPerDay: number): Promise<void> {
    const next = JSON.stringify({ ...JSON.parse(CONSORTIUM), breakGlass: { perOrgPerDay } });
    for (const msp of [HOSPITAL, HOSPITAL2, INSURER]) await ledger.invoke(msp, identity, 'approveConsortiumChange', next);
    expect((await json(ledger.query(SPONSOR, identity, 'readConsortium'))).breakGlass).to.deep.equal({ perOrgPerDay });
  }

  beforeEach(async () => {
    ledger = new FakeLedger();
    await ledger.invoke(HOSPITAL, identity, 'initConsortium', CONSORTIUM);
    await ledger.invoke(HOSPITAL, records, 'anchorRecord', JSON.stringify({ recordId: 'r-1', docHash: sha('doc r-1'), patientRef: PATIENT_REF, category: DISCHARGE }));
  });

  it('opens the record without consent, logs a break-glass entry for the patient and in both organisations’ audits', async () => {
    const opened = await breakGlass(HOSPITAL2);
    expect(opened.decision).to.equal('BREAK_GLASS');
    expect(opened.provenance).to.have.length(1);
    expect(opened.accessLog).to.include({
      accessor: HOSPITAL2,
      role: 'clinician',
      kind: 'break-glass',
      decision: 'BREAK_GLASS',
      breakGlassReason: 'unconscious-patient',
      purpose: 'ETREAT',
      issuer: HOSPITAL,
      recordId: 'r-1',
      patientRef: PATIENT_REF,
    });
    expect(opened.limit).to.deep.equal({ perOrgPerDay: DEFAULT_BREAK_GLASS_PER_ORG_PER_DAY, usedToday: 1 });
    expect(ledger.lastEvent()).to.deep.equal({ name: ACCESS_EVENT, payload: opened.accessLog });
    const log: AccessLogEntry[] = await json(ledger.query(SPONSOR, access, 'listAccessLog', HOSPITAL, PATIENT_REF));
    expect(log).to.deep.equal([opened.accessLog]);
    expect((await audit('by', HOSPITAL2)).entries).to.deep.equal([opened.accessLog]);
    expect((await audit('of', HOSPITAL)).entries).to.deep.equal([opened.accessLog]);
    expect((await audit('by', HOSPITAL)).entries).to.deep.equal([]);
  });

  it('a hospital may break the glass on its own record too', async () => {
    expect((await breakGlass(HOSPITAL, { reason: 'life-threatening' })).accessLog).to.include({ accessor: HOSPITAL, breakGlassReason: 'life-threatening' });
  });

  it('refuses, writing nothing: other roles, no or unknown reason, non-hospital organisations, unknown records, bad fields', async () => {
    await refused(ledger.invoke(HOSPITAL, access, 'breakGlassAccess', request({ role: 'records-officer' })), 'FORBIDDEN_ROLE', 'records-officer');
    await refused(ledger.invoke(HOSPITAL, access, 'breakGlassAccess', request({ role: undefined })), 'FORBIDDEN_ROLE');
    await refused(ledger.invoke(HOSPITAL, access, 'breakGlassAccess', request({ reason: undefined })), 'BREAK_GLASS_REASON_REQUIRED');
    await refused(ledger.invoke(HOSPITAL, access, 'breakGlassAccess', request({ reason: '' })), 'BREAK_GLASS_REASON_REQUIRED');
    await refused(ledger.invoke(HOSPITAL, access, 'breakGlassAccess', request({ reason: 'curiosity' })), 'BREAK_GLASS_REASON_UNKNOWN', BREAK_GLASS_REASONS.join(', '));
    await refused(ledger.invoke(INSURER, access, 'breakGlassAccess', request()), 'FORBIDDEN_ORG_TYPE');
    await refused(ledger.invoke(SPONSOR, access, 'breakGlassAccess', request()), 'FORBIDDEN_ORG_TYPE');
    await refused(ledger.invoke(HOSPITAL, access, 'breakGlassAccess', request({ recordId: 'nope' })), 'RECORD_NOT_FOUND');
    await refused(ledger.invoke(HOSPITAL, access, 'breakGlassAccess', request({ note: 'free text' })), 'UNKNOWN_FIELD');
    await refused(ledger.invoke(HOSPITAL, access, 'breakGlassAccess', 'not json'), 'INVALID_JSON');
  });

  it('holds each organisation to the consortium’s rate per UTC day, set by the majority change flow; the next day starts afresh', async () => {
    await setRate(2);
    await breakGlass(HOSPITAL2);
    const second = await breakGlass(HOSPITAL2, { reason: 'mass-casualty' });
    expect(second.limit).to.deep.equal({ perOrgPerDay: 2, usedToday: 2 });
    await refused(ledger.invoke(HOSPITAL2, access, 'breakGlassAccess', request()), 'BREAK_GLASS_RATE_EXCEEDED', '2 break-glass');
    // Another hospital has its own count.
    await breakGlass(HOSPITAL);
    ledger.advance(86_400);
    await breakGlass(HOSPITAL2);
    const yesterday = new Date((ledger.now - 86_400) * 1000).toISOString().slice(0, 10);
    const report = await audit('by', HOSPITAL2, yesterday, today());
    expect(report.perOrgPerDay).to.equal(2);
    expect(report.entries).to.have.length(3);
    await setRate(0);
    await refused(ledger.invoke(HOSPITAL, access, 'breakGlassAccess', request()), 'BREAK_GLASS_RATE_EXCEEDED', 'allows no break-glass');
  });

  it('audit reports take UTC days, at most 92, in order', async () => {
    await expectCode(audit('by', HOSPITAL, '2026-02-30'), 'INVALID_ARGUMENT');
    await expectCode(audit('by', HOSPITAL, '2026-03-02', '2026-03-01'), 'INVALID_ARGUMENT', 'before');
    await expectCode(audit('by', HOSPITAL, '2026-01-01', '2026-06-01'), 'INVALID_ARGUMENT', 'at most 92');
    await expectCode(audit('sideways', HOSPITAL), 'INVALID_ARGUMENT');
  });

  it('the rate is part of the definition: validated, and a change of it alone is a change', () => {
    const base = JSON.parse(CONSORTIUM);
    expect(definitionDigest(parseConsortium(JSON.stringify({ ...base, breakGlass: { perOrgPerDay: 3 } })))).to.not.equal(definitionDigest(parseConsortium(CONSORTIUM)));
    for (const bad of [-1, 1.5, '3', 10_001]) {
      expect(() => parseConsortium(JSON.stringify({ ...base, breakGlass: { perOrgPerDay: bad } }))).to.throw(/^INVALID_ARGUMENT: consortium.breakGlass.perOrgPerDay/);
    }
    expect(() => parseConsortium(JSON.stringify({ ...base, breakGlass: { perDay: 3 } }))).to.throw(/^UNKNOWN_FIELD/);
  });
});
