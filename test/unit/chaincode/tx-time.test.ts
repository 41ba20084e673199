import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { Wallet, id, type TypedDataField } from 'ethers';
import { AccessContract, ConsentContract, IdentityContract, PrivacyContract, RecordsContract } from '../../../chaincode/src';
import { CONSENT_GRANT_TYPES, CONSENT_REVOKE_TYPES, REGISTER_PATIENT_TYPES, consentDomain } from '../../../chaincode/src/lib/eip712';
import { DEFAULT_TX_TIME_TOLERANCE_SECONDS, TX_TIME_TOLERANCE_ENV, txTimeToleranceSeconds } from '../../../chaincode/src/lib/tx-time';
import { FakeLedger } from './fake-ledger';
import { CONSORTIUM, DAY, DISCHARGE, HOSPITAL, INSURER, SPONSOR, claimsGrantMessage, expectCode } from './fixtures';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const PATIENT_REF = sha('tx-time patient');
const TOLERANCE = DEFAULT_TX_TIME_TOLERANCE_SECONDS;
const patient = new Wallet(id('tx-time patient key'));
let nonces = 0;
const nonce = (): string => id(`tx-time nonce ${++nonces}`);

async function signed<M extends object>(types: Record<string, TypedDataField[]>, message: M): Promise<{ message: M; signature: string }> {
  return { message, signature: await patient.signTypedData(consentDomain('medprov'), types, message) };
}

describe('chaincode: a transaction is dated near the endorsing peer’s clock', () => {
  const identity = new IdentityContract();
  const records = new RecordsContract();
  const consent = new ConsentContract();
  const access = new AccessContract();
  let ledger: FakeLedger;

  /** Runs the call with the client's clock `skew` seconds off, expects the code, and checks nothing was written. */
  async function refusedWithSkew(skew: number, call: () => Promise<unknown>): Promise<Error> {
    const writes = ledger.writeCount;
    ledger.clientClockSkew = skew;
    try {
      return await expectCode(call(), 'TRANSACTION_TIME_SKEWED', `more than ${TOLERANCE} s is refused`);
    } finally {
      ledger.clientClockSkew = 0;
      expect(ledger.writeCount, 'nothing written').to.equal(writes);
    }
  }
  async function withSkew<T>(skew: number, call: () => Promise<T>): Promise<T> {
    ledger.clientClockSkew = skew;
    try {
      return await call();
    } finally {
      ledger.clientClockSkew = 0;
    }
  }

  const grant = async (validUntil: number) =>
    signed(CONSENT_GRANT_TYPES, claimsGrantMessage({ patientRef: PATIENT_REF, now: ledger.now, nonce: nonce() }, { validUntil }));
  const accessAsInsurer = () => ledger.invoke(INSURER, access, 'accessRecord', HOSPITAL, 'r-1', 'claims').then((out) => JSON.parse(out));
  const accessLog = async () => JSON.parse(await ledger.query(SPONSOR, access, 'listAccessLog', HOSPITAL, PATIENT_REF)) as { decision: string; reason?: string }[];

  beforeEach(async () => {
    ledger = new FakeLedger();
    await ledger.invoke(HOSPITAL, identity, 'initConsortium', CONSORTIUM);
    await ledger.invoke(HOSPITAL, records, 'anchorRecord', JSON.stringify({ recordId: 'r-1', docHash: sha('doc r-1'), patientRef: PATIENT_REF, category: DISCHARGE }));
    const registration = await signed(REGISTER_PATIENT_TYPES, { hospital: HOSPITAL, patientRef: PATIENT_REF, nonce: nonce() });
    await ledger.invoke(HOSPITAL, consent, 'registerPatient', JSON.stringify({ ...registration, patient: patient.address }));
  });

  it('refuses an access backdated into an expired consent, beyond the tolerance, and logs nothing', async () => {
    const validUntil = ledger.now + DAY;
    await ledger.invoke(INSURER, consent, 'grantConsent', JSON.stringify(await grant(validUntil)));
    expect(await accessAsInsurer()).to.include({ decision: 'PERMIT' });
    ledger.advance(2 * DAY);
    expect(await accessAsInsurer()).to.include({ decision: 'DENY', reason: 'EXPIRED' });

    // The insurer's client dates the access an hour before the consent ran out.
    const backdate = validUntil - 3600 - (ledger.now + 1);
    const err = await refusedWithSkew(backdate, accessAsInsurer);
    expect(err.message).to.match(/is \d+ s behind this peer's clock/);
    expect((await accessLog()).map((e) => e.decision)).to.deep.equal(['PERMIT', 'DENY']);
  });

  it('refuses a future-dated access and a future-dated grant (one that would start a consent early)', async () => {
    await refusedWithSkew(TOLERANCE + 1, accessAsInsurer);
    const future = await grant(ledger.now + 10 * DAY);
    const err = await refusedWithSkew(2 * DAY, () => ledger.invoke(INSURER, consent, 'grantConsent', JSON.stringify(future)));
    expect(err.message).to.match(/is \d+ s ahead of this peer's clock/);
    expect(JSON.parse(await ledger.query(INSURER, consent, 'listGrants', HOSPITAL, PATIENT_REF))).to.deep.equal([]);
  });

  it('accepts a timestamp up to the tolerance away, either way, and writes the timestamp (not the peer’s clock)', async () => {
    const before = await withSkew(-TOLERANCE, accessAsInsurer);
    expect(before.accessLog.at).to.equal(new Date((ledger.now - TOLERANCE) * 1000 + 500).toISOString());
    const after = await withSkew(TOLERANCE, accessAsInsurer);
    expect(after.accessLog.at).to.equal(new Date((ledger.now + TOLERANCE) * 1000 + 500).toISOString());
    await refusedWithSkew(-TOLERANCE - 1, accessAsInsurer);
  });

  it('bounds every transaction that decides or records by time: revoke, register, anchor, amend, retract, disclose, erasure, the consent check, the consortium', async () => {
    const g = JSON.parse(await ledger.invoke(INSURER, consent, 'grantConsent', JSON.stringify(await grant(ledger.now + DAY)))).grant;
    const revoke = await signed(CONSENT_REVOKE_TYPES, { hospital: HOSPITAL, patientRef: PATIENT_REF, grantId: g.grantId, nonce: nonce() });
    const skew = -2 * TOLERANCE;
    await refusedWithSkew(skew, () => ledger.invoke(SPONSOR, consent, 'revokeConsent', JSON.stringify(revoke)));
    await refusedWithSkew(skew, () => ledger.query(SPONSOR, consent, 'checkConsent', HOSPITAL, PATIENT_REF, INSURER, 'claims', DISCHARGE, 'r-1'));
    await refusedWithSkew(skew, () => ledger.query(SPONSOR, consent, 'listGrants', HOSPITAL, PATIENT_REF));
    const other = new Wallet(id('another patient'));
    const otherRef = sha('another patient');
    const registration = { message: { hospital: HOSPITAL, patientRef: otherRef, nonce: nonce() }, patient: other.address, signature: '' };
    registration.signature = await other.signTypedData(consentDomain('medprov'), REGISTER_PATIENT_TYPES, registration.message);
    await refusedWithSkew(skew, () => ledger.invoke(HOSPITAL, consent, 'registerPatient', JSON.stringify(registration)));
    await refusedWithSkew(skew, () => ledger.invoke(HOSPITAL, records, 'anchorRecord', JSON.stringify({ recordId: 'r-2', docHash: sha('doc r-2'), patientRef: PATIENT_REF, category: DISCHARGE })));
    await refusedWithSkew(skew, () => ledger.invoke(HOSPITAL, records, 'anchorRecords', JSON.stringify([{ recordId: 'r-3', docHash: sha('doc r-3'), patientRef: PATIENT_REF, category: DISCHARGE }])));
    await refusedWithSkew(skew, () => ledger.invoke(HOSPITAL, records, 'amendRecord', JSON.stringify({ issuer: HOSPITAL, recordId: 'r-1', docHash: sha('doc r-1 v2') })));
    await refusedWithSkew(skew, () => ledger.invoke(HOSPITAL, records, 'retractRecord', HOSPITAL, 'r-1', 'duplicate'));
    const disclosure = { disclosureId: 'd-1', issuer: HOSPITAL, grantee: SPONSOR, purpose: 'research:t-1', recordIds: ['r-1'] };
    await refusedWithSkew(skew, () => ledger.invoke(HOSPITAL, access, 'discloseRecords', JSON.stringify(disclosure)));
    await refusedWithSkew(skew, () => ledger.invoke(HOSPITAL, new PrivacyContract(), 'recordErasure', '3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b'));
    const changed = { organisations: JSON.parse(CONSORTIUM).organisations.reverse() };
    await refusedWithSkew(skew, () => ledger.invoke(HOSPITAL, identity, 'approveConsortiumChange', JSON.stringify(changed)));
    await refusedWithSkew(skew, () => ledger.query(HOSPITAL, identity, 'whoAmI'));
    // Reads that use no time answer whatever the client's clock says.
    expect(JSON.parse(await withSkew(skew, () => ledger.query(SPONSOR, records, 'readRecord', HOSPITAL, 'r-1', ''))).version).to.equal(1);
  });

  it('takes its tolerance from the chaincode server’s environment, and falls back to 5 minutes on anything but 1 s to a day', async () => {
    expect(txTimeToleranceSeconds({})).to.equal(300);
    expect(txTimeToleranceSeconds({ [TX_TIME_TOLERANCE_ENV]: '60' })).to.equal(60);
    expect(txTimeToleranceSeconds({ [TX_TIME_TOLERANCE_ENV]: ' 86400 ' })).to.equal(86_400);
    for (const bad of ['', '0', '-5', '1.5', '5m', '86401', '1e3', 'off']) {
      expect(txTimeToleranceSeconds({ [TX_TIME_TOLERANCE_ENV]: bad }), bad).to.equal(300);
    }
    const saved = process.env[TX_TIME_TOLERANCE_ENV];
    process.env[TX_TIME_TOLERANCE_ENV] = '60';
    try {
      expect((await withSkew(60, accessAsInsurer)).decision).to.equal('NO_CONSENT');
      const writes = ledger.writeCount;
      ledger.clientClockSkew = 61;
      await expectCode(accessAsInsurer(), 'TRANSACTION_TIME_SKEWED', 'more than 60 s');
      expect(ledger.writeCount).to.equal(writes);
    } finally {
      ledger.clientClockSkew = 0;
      if (saved === undefined) delete process.env[TX_TIME_TOLERANCE_ENV];
      else process.env[TX_TIME_TOLERANCE_ENV] = saved;
    }
  });
});
