import { expect } from 'chai';
import type { Context } from 'fabric-contract-api';
import { CERTIFIED_ROLES } from '../../../chaincode/src/lib/certified-roles';
import { requireCertifiedRole, TRANSACTION_RULES } from '../../../chaincode/src/lib/policy';

/** A caller whose certificate holds these Fabric CA attributes (none: a cryptogen certificate). */
function caller(attrs: Record<string, string>, mspId = 'HospitalMSP'): Context {
  return { clientIdentity: { getMSPID: () => mspId, getAttributeValue: (name: string) => attrs[name] ?? null } } as unknown as Context;
}

const code = (fn: () => void): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
};

describe('Chaincode: certified roles (medprov.role attribute, in addition to the MSP ID)', () => {
  it('admits a certificate whose medprov.role is one of the roles', () => {
    expect(code(() => requireCertifiedRole(caller({ 'hf.EnrollmentID': 'gw-clinician', 'medprov.role': 'clinician' }), ['clinician'], 'Access:breakGlassAccess'))).to.equal(undefined);
  });

  it('refuses another role with FORBIDDEN_ROLE, whoever issued the certificate', () => {
    expect(code(() => requireCertifiedRole(caller({ 'hf.EnrollmentID': 'gw-dpo', 'medprov.role': 'dpo' }), ['records-officer'], 'Records:anchorRecord'))).to.equal('FORBIDDEN_ROLE');
    expect(code(() => requireCertifiedRole(caller({ 'medprov.role': 'dpo' }), ['records-officer'], 'Records:anchorRecord'))).to.equal('FORBIDDEN_ROLE');
  });

  it("refuses an identity of an organisation's Fabric CA without the attribute (its admin, its default user)", () => {
    expect(code(() => requireCertifiedRole(caller({ 'hf.EnrollmentID': 'org-admin', 'hf.Type': 'admin' }), ['dpo'], 'Privacy:recordErasure'))).to.equal('FORBIDDEN_ROLE');
  });

  it('keeps the MSP-only rule for a certificate without any Fabric CA attribute (cryptogen, the quick option for tests)', () => {
    expect(code(() => requireCertifiedRole(caller({}), ['records-officer'], 'Records:anchorRecord'))).to.equal(undefined);
  });

  it('names only transactions of the chaincode, each also limited by organisation type', () => {
    for (const transaction of Object.keys(CERTIFIED_ROLES)) {
      const rule = TRANSACTION_RULES[transaction];
      expect(rule, transaction).to.not.equal(undefined);
      expect('orgTypes' in rule, transaction).to.equal(true);
    }
  });
});
