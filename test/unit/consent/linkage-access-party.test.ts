import { expect } from 'chai';
import { describeAccessParty, describeAccessSubject } from '../../../gateway/src/consent/patient-client';

/** Issue 19: how the CLI names a research linkage entry of the patient's access log. */
describe('access log: a research linkage entry in words', () => {
  const entry = { accessor: 'SponsorMSP', kind: 'linkage', disclosedBy: 'HospitalMSP', requestId: 'LR-7', issuer: 'HospitalMSP', recordId: 'linkage:LR-7', version: 0 };
  it('names who offered the patient for whose linkage, and the request instead of a record', () => {
    expect(describeAccessParty(entry)).to.equal("Offered by HospitalMSP for SponsorMSP's research linkage");
    expect(describeAccessSubject(entry)).to.equal('linkage request LR-7 (no record)');
  });
  it('leaves accesses and disclosures as they were', () => {
    expect(describeAccessParty({ accessor: 'InsurerMSP', role: 'claims' })).to.equal('InsurerMSP (claims)');
    expect(describeAccessParty({ accessor: 'SponsorMSP', kind: 'disclosure', disclosedBy: 'HospitalMSP' })).to.equal('Disclosed by HospitalMSP to SponsorMSP');
    expect(describeAccessSubject({ issuer: 'HospitalMSP', recordId: 'r-1', version: 2 })).to.equal('HospitalMSP r-1 v2');
  });
});
