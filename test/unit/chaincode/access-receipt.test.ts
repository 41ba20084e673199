import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { Wallet, id } from 'ethers';
import { AccessContract, ConsentContract, IdentityContract, RecordsContract } from '../../../chaincode/src';
import { CONSENT_GRANT_TYPES, REGISTER_PATIENT_TYPES, consentDomain } from '../../../chaincode/src/lib/eip712';
import { FakeLedger } from './fake-ledger';
import { CONSORTIUM, DISCHARGE, HOSPITAL, INSURER, SPONSOR, claimsGrantMessage, expectCode } from './fixtures';

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
});
