import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { HDNodeWallet, Mnemonic, TypedDataEncoder, Wallet, id, type TypedDataField } from 'ethers';
import { AccessContract, ConsentContract, GuardiansContract, IdentityContract, RecordsContract } from '../../../chaincode/src';
import {
  CONSENT_GRANT_TYPES,
  CONSENT_REVOKE_TYPES,
  GUARDIAN_APPOINTMENT_TYPES,
  GUARDIAN_REVOKE_TYPES,
  REGISTER_PATIENT_TYPES,
  consentDomain,
  type ConsentGrantMessage,
  type GuardianAppointmentMessage,
} from '../../../chaincode/src/lib/eip712';
import { DELEGATION_EVENT, judgeDelegatedGrant, type Delegation } from '../../../chaincode/src/lib/delegation-model';
import { FakeLedger } from './fake-ledger';
import { CONSORTIUM, DAY, DISCHARGE, HOSPITAL, HOSPITAL2, INSURER, SPONSOR, claimsGrantMessage, expectCode } from './fixtures';

const CHANNEL = 'medprov';
const LAB = 'loinc:11502-2';
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const CHILD_REF = sha('hospital patient child');
const ADULT_REF = sha('hospital patient adult');
let counter = 0;
const nonce = (): string => id(`guardian nonce ${++counter}`);
const seed = (phrase: string) => Mnemonic.fromPhrase(phrase);
const PATIENT_SEED = seed('test test test test test test test test test test test junk');
const GUARDIAN_SEED = seed('legal winner thank year wave sausage worth useful legal winner thank yellow');
// One key per hospital from each person's seed, as the pages and the CLI derive them.
const keyAt = (s: Mnemonic, account: number): HDNodeWallet => HDNodeWallet.fromMnemonic(s, `m/44'/60'/${account}'/0/0`);

async function sign<M extends object>(wallet: Wallet | HDNodeWallet, types: Record<string, TypedDataField[]>, message: M) {
  return { message, signature: await wallet.signTypedData(consentDomain(CHANNEL), types, message) };
}

describe('chaincode: guardians and delegates', () => {
  let ledger: FakeLedger;
  const identity = new IdentityContract();
  const records = new RecordsContract();
  const consent = new ConsentContract();
  const guardians = new GuardiansContract();
  const access = new AccessContract();
  const patient = keyAt(PATIENT_SEED, 1);
  const guardian = keyAt(GUARDIAN_SEED, 1);
  const guardianAtHospital2 = keyAt(GUARDIAN_SEED, 2);
  const json = async (p: Promise<string>) => JSON.parse(await p);

  async function refused(promise: Promise<unknown>, code: string): Promise<void> {
    const writes = ledger.writeCount;
    await expectCode(promise, code);
    expect(ledger.writeCount, 'nothing written').to.equal(writes);
  }

  const appointment = (overrides: Partial<GuardianAppointmentMessage> = {}): GuardianAppointmentMessage => ({
    hospital: HOSPITAL,
    patientRef: ADULT_REF,
    guardian: guardian.address,
    purposes: [],
    categories: [],
    validFrom: ledger.now,
    validUntil: ledger.now + 365 * DAY,
    nonce: nonce(),
    ...overrides,
  });
  const appoint = async (message: GuardianAppointmentMessage, signer: Wallet | HDNodeWallet = patient, msp = INSURER) =>
    json(ledger.invoke(msp, guardians, 'appointGuardian', JSON.stringify(await sign(signer, GUARDIAN_APPOINTMENT_TYPES, message))));
  const record = (message: GuardianAppointmentMessage, basis = 'minor', msp = HOSPITAL) =>
    json(ledger.invoke(msp, guardians, 'recordGuardian', JSON.stringify({ message, basis })));
  const grantBy = async (wallet: Wallet | HDNodeWallet, delegationId: string | undefined, overrides: Partial<ConsentGrantMessage> = {}, patientRef = ADULT_REF) => {
    const message = claimsGrantMessage({ patientRef, now: ledger.now, nonce: nonce() }, overrides);
    const signed = await sign(wallet, CONSENT_GRANT_TYPES, message);
    return json(ledger.invoke(SPONSOR, consent, 'grantConsent', JSON.stringify({ ...signed, ...(delegationId ? { delegationId } : {}) })));
  };

  beforeEach(async () => {
    ledger = new FakeLedger();
    await ledger.invoke(HOSPITAL, identity, 'initConsortium', CONSORTIUM);
    await ledger.invoke(HOSPITAL, records, 'anchorRecord', JSON.stringify({ recordId: 'c-1', docHash: sha('doc c-1'), patientRef: CHILD_REF, category: DISCHARGE }));
    const reg = await sign(patient, REGISTER_PATIENT_TYPES, { hospital: HOSPITAL, patientRef: ADULT_REF, nonce: nonce() });
    await ledger.invoke(HOSPITAL, consent, 'registerPatient', JSON.stringify({ ...reg, patient: patient.address }));
  });

  it('patient → guardian → grant: the patient names a guardian, the guardian grants, the grant says so, the access is permitted', async () => {
    const message = appointment({ purposes: ['claims'] });
    const out = await appoint(message);
    const d: Delegation = out.delegation;
    expect(out.created).to.equal(true);
    expect(d.delegationId).to.equal(TypedDataEncoder.hash(consentDomain(CHANNEL), GUARDIAN_APPOINTMENT_TYPES, message));
    expect(d).to.include({ basis: 'patient', appointedBy: 'patient', guardian: guardian.address, status: 'active', submittedBy: INSURER });
    expect(ledger.lastEvent()).to.deep.equal({
      name: DELEGATION_EVENT,
      payload: { kind: 'appointed', hospital: HOSPITAL, patientRef: ADULT_REF, delegationId: d.delegationId, basis: 'patient', status: 'active' },
    });
    // Re-sending the same appointment writes nothing.
    const writes = ledger.writeCount;
    expect((await appoint(message)).created).to.equal(false);
    expect(ledger.writeCount).to.equal(writes);

    const granted = await grantBy(guardian, d.delegationId);
    expect(granted.grant).to.include({ signedBy: 'guardian', delegationId: d.delegationId, patient: guardian.address, status: 'active' });
    expect(await json(ledger.invoke(INSURER, consent, 'checkConsent', HOSPITAL, ADULT_REF, INSURER, 'claims', DISCHARGE, ''))).to.include({ decision: 'PERMIT' });

    // The guardian revokes the grant it made, under the same delegation.
    const rm = { hospital: HOSPITAL, patientRef: ADULT_REF, grantId: granted.grant.grantId, nonce: nonce() };
    const revoked = await json(ledger.invoke(HOSPITAL, consent, 'revokeConsent', JSON.stringify({ ...(await sign(guardian, CONSENT_REVOKE_TYPES, rm)), delegationId: d.delegationId })));
    expect(revoked.grant.revocation).to.include({ signedBy: 'guardian', delegationId: d.delegationId });

    const listed = await json(ledger.invoke(SPONSOR, guardians, 'listDelegations', HOSPITAL, ADULT_REF));
    expect(listed.map((x: Delegation & { effectiveStatus: string }) => [x.delegationId, x.effectiveStatus])).to.deep.equal([[d.delegationId, 'active']]);
    const mine = await json(ledger.invoke(SPONSOR, guardians, 'listGuardianDelegations', guardian.address));
    expect(mine).to.have.length(1);
  });

  it('the patient revokes the delegation; the guardian can then no longer grant (DELEGATION_REVOKED), and the hospital cannot revoke what the patient signed', async () => {
    const d: Delegation = (await appoint(appointment())).delegation;
    await refused(ledger.invoke(HOSPITAL, guardians, 'revokeRecordedGuardian', HOSPITAL, ADULT_REF, d.delegationId), 'DELEGATION_NOT_REVOCABLE');
    const rm = { hospital: HOSPITAL, patientRef: ADULT_REF, delegationId: d.delegationId, nonce: nonce() };
    await refused(ledger.invoke(INSURER, guardians, 'revokeGuardian', JSON.stringify(await sign(guardian, GUARDIAN_REVOKE_TYPES, rm))), 'SIGNER_NOT_PATIENT');
    const out = await json(ledger.invoke(INSURER, guardians, 'revokeGuardian', JSON.stringify(await sign(patient, GUARDIAN_REVOKE_TYPES, rm))));
    expect(out.delegation).to.include({ status: 'revoked' });
    expect(out.delegation.revocation).to.include({ by: 'patient' });
    await refused(grantBy(guardian, d.delegationId), 'DELEGATION_REVOKED');
  });

  it('refusals, each writing nothing: unknown delegation, another signer, out of scope, outliving the delegation, expired, not yet valid', async () => {
    const d: Delegation = (await appoint(appointment({ purposes: ['claims'], categories: [DISCHARGE], validUntil: ledger.now + 30 * DAY }))).delegation;
    await refused(grantBy(guardian, id('no such delegation')), 'DELEGATION_NOT_FOUND');
    await refused(grantBy(Wallet.createRandom(), d.delegationId), 'SIGNER_NOT_GUARDIAN');
    await refused(grantBy(patient, d.delegationId), 'SIGNER_NOT_GUARDIAN');
    await refused(grantBy(guardian, d.delegationId, { purpose: 'research:trial-1', grantee: SPONSOR }), 'DELEGATION_OUT_OF_SCOPE');
    await refused(grantBy(guardian, d.delegationId, { categories: [LAB] }), 'DELEGATION_OUT_OF_SCOPE');
    await refused(grantBy(guardian, d.delegationId, { categories: [], recordIds: ['c-1'] }), 'DELEGATION_OUT_OF_SCOPE');
    await refused(grantBy(guardian, d.delegationId, { validUntil: ledger.now + 31 * DAY }), 'DELEGATION_OUT_OF_SCOPE');
    // Without the delegation id, the guardian is just not the patient.
    await refused(grantBy(guardian, undefined), 'SIGNER_NOT_PATIENT');
    const later: Delegation = (await appoint(appointment({ validFrom: ledger.now + DAY }))).delegation;
    await refused(grantBy(guardian, later.delegationId), 'DELEGATION_NOT_YET_VALID');
    ledger.advance(31 * DAY);
    await refused(grantBy(guardian, d.delegationId, { validUntil: ledger.now + DAY }), 'DELEGATION_EXPIRED');
  });

  it('the hospital records a guardian for a minor without a key, on a legal basis; the guardian grants; only that hospital revokes it', async () => {
    const message = appointment({ patientRef: CHILD_REF });
    await refused(record(message, 'aunt-said-so'), 'INVALID_ARGUMENT');
    await refused(record(message, 'minor', HOSPITAL2), 'FORBIDDEN_OTHER_ORG');
    await refused(ledger.invoke(INSURER, guardians, 'recordGuardian', JSON.stringify({ message, basis: 'minor' })), 'FORBIDDEN_ORG_TYPE');
    // A patient-signed appointment needs the patient's key: the child has none.
    await refused(appoint(message), 'PATIENT_NOT_REGISTERED');
    const d: Delegation = (await record(message, 'minor')).delegation;
    expect(d).to.include({ basis: 'minor', appointedBy: HOSPITAL, status: 'active' });
    expect(d).to.not.have.property('signature');
    const granted = await grantBy(guardian, d.delegationId, {}, CHILD_REF);
    expect(granted.grant).to.include({ signedBy: 'guardian', delegationId: d.delegationId });
    const permitted = await json(ledger.invoke(INSURER, access, 'accessRecord', HOSPITAL, 'c-1', 'claims'));
    expect(permitted.decision).to.equal('PERMIT');
    await refused(ledger.invoke(HOSPITAL2, guardians, 'revokeRecordedGuardian', HOSPITAL, CHILD_REF, d.delegationId), 'FORBIDDEN_OTHER_ORG');
    const out = await json(ledger.invoke(HOSPITAL, guardians, 'revokeRecordedGuardian', HOSPITAL, CHILD_REF, d.delegationId));
    expect(out.delegation.revocation).to.include({ by: HOSPITAL });
    await refused(grantBy(guardian, d.delegationId, {}, CHILD_REF), 'DELEGATION_REVOKED');
  });

  it('a guardian key acts at one hospital only (no join key); the guardian uses the key derived for the other hospital', async () => {
    await record(appointment({ patientRef: CHILD_REF }));
    const elsewhere = appointment({ hospital: HOSPITAL2, patientRef: sha('hospital2 child') });
    await refused(record(elsewhere, 'minor', HOSPITAL2), 'GUARDIAN_KEY_IN_USE');
    const ok = await record({ ...elsewhere, guardian: guardianAtHospital2.address }, 'minor', HOSPITAL2);
    expect(ok.delegation.guardian).to.not.equal(guardian.address);
    // The patient may not be their own guardian.
    await refused(appoint(appointment({ guardian: patient.address })), 'INVALID_ARGUMENT');
  });

  it('judgeDelegatedGrant: "research" covers every trial; empty scope covers all', () => {
    const base = { status: 'active', validFrom: 0, validUntil: 100, purposes: ['research'], categories: [] } as unknown as Delegation;
    expect(judgeDelegatedGrant(base, { purpose: 'research:t-1', categories: [DISCHARGE], recordIds: ['x'], validUntil: 50 }, 10)).to.equal(undefined);
    expect(judgeDelegatedGrant(base, { purpose: 'claims', categories: [DISCHARGE], recordIds: [], validUntil: 50 }, 10)).to.equal('DELEGATION_OUT_OF_SCOPE');
    expect(judgeDelegatedGrant({ ...base, purposes: [] }, { purpose: 'claims', categories: [], recordIds: ['x'], validUntil: 50 }, 10)).to.equal(undefined);
  });
});
