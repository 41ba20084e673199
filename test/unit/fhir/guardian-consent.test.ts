import { expect } from 'chai';
import { id } from 'ethers';
import { grantToConsent, grantsToConsentBundle } from '../../../gateway/src/fhir';
import { DAY, T0, grant, patientRef } from './fixtures';
import { directIdentifiersIn, r4Errors } from './r4';

describe('FHIR R4 Consent of a grant a guardian made (issue 16)', function () {
  this.timeout(60_000);
  const delegationId = id('delegation 1');
  const byGuardian = grant({ signedBy: 'guardian', delegationId });

  it('names the guardian as performer and in verification (RelatedPerson by delegation id), keeps the patient as patient, and is valid R4', () => {
    const c = grantToConsent(byGuardian, T0 + DAY);
    expect(r4Errors(c), JSON.stringify(c, null, 1)).to.deep.equal([]);
    const guardian = { type: 'RelatedPerson', identifier: { system: 'urn:medprov:delegation', value: delegationId } };
    expect(c.performer).to.deep.equal([guardian]);
    expect(c.verification).to.deep.equal([{ verified: true, verifiedWith: guardian, verificationDate: byGuardian.grantedAt }]);
    expect(c.patient?.identifier?.value).to.equal(patientRef);
    expect(JSON.stringify(c)).to.not.include(byGuardian.patient);
    expect(directIdentifiersIn(c)).to.deep.equal([]);
    expect(r4Errors(grantsToConsentBundle([grant(), byGuardian], T0 + DAY))).to.deep.equal([]);
  });

  it("a patient's own grant has no verification and the patient as performer, as before", () => {
    const c = grantToConsent(grant(), T0 + DAY);
    expect(c).to.not.have.property('verification');
    expect(c.performer).to.deep.equal([c.patient]);
  });
});
