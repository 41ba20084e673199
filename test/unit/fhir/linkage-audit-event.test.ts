import { expect } from 'chai';
import { accessLogEntryToAuditEvent, accessLogToAuditEventBundle } from '../../../gateway/src/fhir';
import type { AccessLogEntry } from '../../../chaincode/src/lib/consent-model';
import { HOSPITAL, SPONSOR, T0, patientRef } from './fixtures';
import { directIdentifiersIn, r4Errors } from './r4';

/** Issue 19: a research linkage entry of the patient's access log as an R4 AuditEvent. */
describe('FHIR: a linkage entry of the access log as an AuditEvent', function () {
  // The R4 schema compiles on first use (seconds on a busy machine).
  this.timeout(120_000);
  const entry: AccessLogEntry = {
    accessor: SPONSOR,
    kind: 'linkage',
    disclosedBy: HOSPITAL,
    requestId: 'LR-2026-7',
    issuer: HOSPITAL,
    recordId: 'linkage:LR-2026-7',
    version: 0,
    patientRef,
    purpose: 'research:TRIAL-2026-01',
    decision: 'PERMIT',
    grantId: `0x${'ab'.repeat(32)}`,
    at: new Date((T0 + 60) * 1000).toISOString(),
    txId: 'cd'.repeat(32),
  };

  it('is an export by the hospital to the sponsor, about the linkage request (no record), valid R4 with no direct identifier', () => {
    const audit = accessLogEntryToAuditEvent(entry);
    expect(r4Errors(audit)).to.deep.equal([]);
    expect(directIdentifiersIn(audit)).to.deep.equal([]);
    expect(audit.type.code).to.equal('110106');
    expect(audit.agent.map((a) => [a.type?.coding?.[0]?.code, a.who?.identifier?.value, a.requestor])).to.deep.equal([
      ['AUT', HOSPITAL, true],
      ['IRCP', SPONSOR, false],
    ]);
    const [subject, patient, grant] = audit.entity ?? [];
    expect(subject?.what?.identifier).to.deep.equal({ system: 'urn:medprov:linkage-request', value: 'LR-2026-7' });
    expect(subject?.what).not.to.have.property('type');
    expect(subject?.detail).to.deep.equal([{ type: 'requestId', valueString: 'LR-2026-7' }]);
    expect(patient?.role?.code).to.equal('1');
    expect(grant?.what?.identifier?.value).to.equal(entry.grantId);
    expect(audit.outcome).to.equal('0');
    expect(r4Errors(accessLogToAuditEventBundle([entry, { ...entry, decision: 'NO_CONSENT', grantId: undefined }], T0 + 120))).to.deep.equal([]);
  });
});
