import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { Wallet, id } from 'ethers';
import { AccessContract, ConsentContract, IdentityContract, RecordsContract } from '../../../chaincode/src';
import { GuardiansContract } from '../../../chaincode/src';
import { CONSENT_GRANT_TYPES, GUARDIAN_APPOINTMENT_TYPES, REGISTER_PATIENT_TYPES, consentDomain } from '../../../chaincode/src/lib/eip712';
import { verifyAccessReceipt } from '../../../gateway/src/anchoring/access-receipt';
import { receiptOfStored } from '../support/access-receipts';
import { FakeLedger } from './fake-ledger';
import { CONSORTIUM, DAY, DISCHARGE, HOSPITAL, INSURER, SPONSOR, claimsGrantMessage, expectCode } from './fixtures';

/**
 * Access:accessRecord and Access:readConsentedAccess, for consent-bound receipts: a permitted
 * access stores its consented access (no patientRef in it) and the signed grant is read back by
 * the recipient and the issuer only; a denied access stores nothing.
 */
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('chaincode: consented accesses for consent-bound receipts', () => {
  const access = new AccessContract();
  const patientRef = sha('patient 1');
  const otherRef = sha('patient 2');
  const patient = new Wallet(id('patient key'));
  let ledger: FakeLedger;
  let grant: ReturnType<typeof claimsGrantMessage>;

  beforeEach(async () => {
    ledger = new FakeLedger();
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    for (const [recordId, ref] of [['r-1', patientRef], ['r-2', otherRef]] as const) {
      await ledger.invoke(HOSPITAL, new RecordsContract(), 'anchorRecord', JSON.stringify({ recordId, docHash: sha(`doc ${recordId}`), patientRef: ref, category: DISCHARGE }));
    }
    const domain = consentDomain(ledger.channel);
    const registration = { hospital: HOSPITAL, patientRef, nonce: id('n1') };
    await ledger.invoke(HOSPITAL, new ConsentContract(), 'registerPatient', JSON.stringify({ message: registration, patient: patient.address, signature: await patient.signTypedData(domain, REGISTER_PATIENT_TYPES, registration) }));
    grant = claimsGrantMessage({ patientRef, now: ledger.now, nonce: id('n2') });
    await ledger.invoke(INSURER, new ConsentContract(), 'grantConsent', JSON.stringify({ message: grant, signature: await patient.signTypedData(domain, CONSENT_GRANT_TYPES, grant) }));
  });

  it('stores a permitted access without the patientRef, and gives it with the signed grant to the recipient and the issuer', async () => {
    const permitted = JSON.parse(await ledger.invoke(INSURER, access, 'accessRecord', HOSPITAL, 'r-1', 'claims'));
    const txId = permitted.accessLog.txId;
    for (const caller of [INSURER, HOSPITAL]) {
      const read = JSON.parse(await ledger.query(caller, access, 'readConsentedAccess', txId));
      expect(read.grant).to.deep.equal(grant);
      expect(read.access).to.include({ docHash: sha('doc r-1'), issuer: HOSPITAL, recordId: 'r-1', recipient: INSURER, purpose: 'claims', grantId: permitted.grantId, patient: patient.address, txId });
      expect(read.access).to.not.have.property('patientRef');
    }
    expect(JSON.stringify((ledger.lastEvent()?.payload as { consentedAccess?: unknown }).consentedAccess)).to.not.include(patientRef);
    await expectCode(ledger.query(SPONSOR, access, 'readConsentedAccess', txId), 'FORBIDDEN_OTHER_ORG');
  });

  it('stores nothing for an access consent did not permit; refuses a malformed transaction id', async () => {
    const denied = JSON.parse(await ledger.invoke(INSURER, access, 'accessRecord', HOSPITAL, 'r-2', 'claims'));
    expect(denied.decision).to.equal('NO_CONSENT');
    expect(ledger.lastEvent()?.payload).to.not.have.property('consentedAccess');
    expect(await ledger.query(INSURER, access, 'readConsentedAccess', denied.accessLog.txId)).to.equal('null');
    await expectCode(ledger.query(INSURER, access, 'readConsentedAccess', 'not-a-tx'), 'INVALID_ARGUMENT');
  });

  it('names a grant a guardian signed: signedBy guardian, the delegation, the guardian as signer; the receipt verifies', async () => {
    // A fresh patient whose guardian grants (the beforeEach grant is the patient's own, for r-1).
    const guardian = new Wallet(id('guardian key'));
    const domain = consentDomain(ledger.channel);
    const appointment = { hospital: HOSPITAL, patientRef, guardian: guardian.address, purposes: ['claims'], categories: [], validFrom: ledger.now, validUntil: ledger.now + 365 * DAY, nonce: id('n3') };
    const appointed = JSON.parse(await ledger.invoke(INSURER, new GuardiansContract(), 'appointGuardian', JSON.stringify({ message: appointment, signature: await patient.signTypedData(domain, GUARDIAN_APPOINTMENT_TYPES, appointment) })));
    const delegationId = appointed.delegation.delegationId;
    const byGuardian = claimsGrantMessage({ patientRef, now: ledger.now, nonce: id('n4') }, { categories: [], recordIds: ['r-1'], validUntil: ledger.now + 60 * DAY });
    await ledger.invoke(INSURER, new ConsentContract(), 'grantConsent', JSON.stringify({ message: byGuardian, signature: await guardian.signTypedData(domain, CONSENT_GRANT_TYPES, byGuardian), delegationId }));
    // Two grants permit; the most recent (the guardian's) is the one in force.
    const permitted = JSON.parse(await ledger.invoke(INSURER, access, 'accessRecord', HOSPITAL, 'r-1', 'claims'));
    const stored = JSON.parse(await ledger.query(INSURER, access, 'readConsentedAccess', permitted.accessLog.txId));
    expect(stored.grant).to.deep.equal(byGuardian);
    expect(stored.access).to.include({ signedBy: 'guardian', delegationId, patient: guardian.address, grantId: permitted.grantId });
    const receipt = receiptOfStored(stored);
    expect(verifyAccessReceipt(receipt)).to.deep.equal({ valid: true, reasons: [] });
    // Claimed as the patient's own signature, it fails.
    const { signedBy: _s, delegationId: _d, ...asPatient } = receipt.access;
    expect(verifyAccessReceipt({ ...receipt, access: asPatient }).reasons).to.include('The access does not hash to the logged leaf (logReceipt.leaf.docHash): a field of access was changed since the ledger recorded it.');
  });
});
