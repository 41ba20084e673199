import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { IdentityContract, RecordsContract } from '../../../chaincode/src';
import type { RecordAnchor } from '../../../chaincode/src/lib/record-model';
import { FakeLedger } from './fake-ledger';
import { CONSORTIUM, DISCHARGE, HOSPITAL, HOSPITAL2, INSURER, expectCode } from './fixtures';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('chaincode: Records:listPatientRecords (the patient view)', () => {
  it('lists the latest version of each record of one hospital under one patientRef, and nothing of other patients or hospitals', async () => {
    const ledger = new FakeLedger();
    const records = new RecordsContract();
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    const mine = sha('patient a');
    const anchor = (msp: string, recordId: string, patientRef: string) =>
      ledger.invoke(msp, records, 'anchorRecord', JSON.stringify({ recordId, docHash: sha(`${msp} ${recordId}`), patientRef, category: DISCHARGE }));
    await anchor(HOSPITAL, 'r-1', mine);
    await anchor(HOSPITAL, 'r-2', sha('patient b'));
    await anchor(HOSPITAL2, 'r-3', mine);
    await ledger.invoke(HOSPITAL, records, 'amendRecord', JSON.stringify({ issuer: HOSPITAL, recordId: 'r-1', docHash: sha('r-1 v2') }));
    const listed: RecordAnchor[] = JSON.parse(await ledger.invoke(INSURER, records, 'listPatientRecords', HOSPITAL, mine));
    expect(listed.map((r) => [r.issuer, r.recordId, r.version])).to.deep.equal([[HOSPITAL, 'r-1', 2]]);
    await expectCode(ledger.invoke(INSURER, records, 'listPatientRecords', HOSPITAL, 'not-a-ref'), 'INVALID_ARGUMENT');
  });
});
