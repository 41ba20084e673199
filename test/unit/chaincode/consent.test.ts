import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { HDNodeWallet, Mnemonic, Signature, TypedDataEncoder, Wallet, id, type TypedDataField } from 'ethers';
import { KeyEndorsementPolicy } from 'fabric-shim';
import { AccessContract, ConsentContract, IdentityContract, RecordsContract } from '../../../chaincode/src';
import { ACCESS_EVENT, accessEventEntries, type AccessEvent, type AccessLogEntry } from '../../../chaincode/src/contracts/access';
import { MAX_BATCH } from '../../../chaincode/src/contracts/records';
import { CONSENT_EVENT, MAX_SCOPE_ITEMS, decideConsent, type ConsentGrant } from '../../../chaincode/src/contracts/consent';
import {
  CONSENT_CHAIN_ID,
  CONSENT_GRANT_TYPES,
  CONSENT_REVOKE_TYPES,
  REGISTER_PATIENT_TYPES,
  consentDomain,
  type ConsentGrantMessage,
  type ConsentRevokeMessage,
  type RegisterPatientMessage,
} from '../../../chaincode/src/lib/eip712';
import { KEY_TYPES } from '../../../chaincode/src/lib/keys';
import { FakeLedger } from './fake-ledger';
import { CONSORTIUM, HOSPITAL, HOSPITAL2, INSURER, SPONSOR, expectCode, DAY, DISCHARGE, claimsGrantMessage } from './fixtures';

const CHANNEL = 'medprov';
const LAB = 'loinc:11502-2';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const PATIENT_REF = sha('hospital patient 1001');
const OTHER_REF = sha('hospital patient 1002');

let nonceCounter = 0;
const freshNonce = (): string => id(`nonce ${++nonceCounter}`);
// Fixed keys keep failures reproducible; the patient's key per org comes from one seed.
const SEED = Mnemonic.fromPhrase('test test test test test test test test test test test junk');
const orgKey = (index: number): HDNodeWallet => HDNodeWallet.fromMnemonic(SEED, `m/44'/60'/0'/0/${index}`);
const stranger = new Wallet(id('stranger key'));


interface Signed<M> {
  message: M;
  signature: string;
}

async function sign<M extends object>(wallet: Wallet | HDNodeWallet, types: Record<string, TypedDataField[]>, message: M, channel = CHANNEL): Promise<Signed<M>> {
  return { message, signature: await wallet.signTypedData(consentDomain(channel), types, message) };
}

describe('chaincode: consent and consent-checked access', () => {
  let ledger: FakeLedger;
  const identity = new IdentityContract();
  const records = new RecordsContract();
  const consent = new ConsentContract();
  const access = new AccessContract();
  const patient = orgKey(0); // the patient's key for HospitalMSP
  const patientAtHospital2 = orgKey(1); // the same patient's key for Hospital2MSP
  const otherPatient = new Wallet(id('other patient key'));

  const invoke = (msp: string, method: string, ...args: string[]) => ledger.invoke(msp, consent, method, ...args);
  const json = async (p: Promise<string>) => JSON.parse(await p);

  function registration(wallet: Wallet | HDNodeWallet, overrides: Partial<RegisterPatientMessage> = {}, channel = CHANNEL) {
    const message: RegisterPatientMessage = { hospital: HOSPITAL, patientRef: PATIENT_REF, nonce: freshNonce(), ...overrides };
    return sign(wallet, REGISTER_PATIENT_TYPES, message, channel).then((s) => ({ ...s, patient: wallet.address }));
  }
  const register = async (wallet: Wallet | HDNodeWallet, overrides: Partial<RegisterPatientMessage> = {}, msp = overrides.hospital ?? HOSPITAL) =>
    json(invoke(msp, 'registerPatient', JSON.stringify(await registration(wallet, overrides))));

  function grantMessage(overrides: Partial<ConsentGrantMessage> = {}): ConsentGrantMessage {
    return claimsGrantMessage({ patientRef: PATIENT_REF, now: ledger.now, nonce: freshNonce() }, overrides);
  }
  const signGrant = (wallet: Wallet | HDNodeWallet, message: ConsentGrantMessage, channel = CHANNEL) => sign(wallet, CONSENT_GRANT_TYPES, message, channel);
  const submitGrant = (signed: object, msp = INSURER) => invoke(msp, 'grantConsent', JSON.stringify(signed));
  const grant = async (overrides: Partial<ConsentGrantMessage> = {}, wallet: Wallet | HDNodeWallet = patient): Promise<ConsentGrant> =>
    (await json(submitGrant(await signGrant(wallet, grantMessage(overrides))))).grant;

  function revokeMessage(grantId: string, overrides: Partial<ConsentRevokeMessage> = {}): ConsentRevokeMessage {
    return { hospital: HOSPITAL, patientRef: PATIENT_REF, grantId, nonce: freshNonce(), ...overrides };
  }
  const signRevoke = (wallet: Wallet | HDNodeWallet, message: ConsentRevokeMessage) => sign(wallet, CONSENT_REVOKE_TYPES, message);
  const submitRevoke = (signed: object, msp = SPONSOR) => invoke(msp, 'revokeConsent', JSON.stringify(signed));

  const check = async (grantee: string, purpose: string, category = DISCHARGE, recordId = 'r-1', patientRef = PATIENT_REF) =>
    json(invoke(SPONSOR, 'checkConsent', HOSPITAL, patientRef, grantee, purpose, category, recordId));
  const accessRecord = (msp: string, recordId: string, purpose: string) => json(ledger.invoke(msp, access, 'accessRecord', HOSPITAL, recordId, purpose));

  /** Runs the call, expects the code, and checks that nothing was written. */
  async function refused(promise: Promise<unknown>, code: string, fragment?: string): Promise<void> {
    const writes = ledger.writeCount;
    await expectCode(promise, code, fragment);
    expect(ledger.writeCount, 'nothing written').to.equal(writes);
  }

  beforeEach(async () => {
    ledger = new FakeLedger();
    await ledger.invoke(HOSPITAL, identity, 'initConsortium', CONSORTIUM);
    for (const [recordId, category, patientRef] of [
      ['r-1', DISCHARGE, PATIENT_REF],
      ['r-2', LAB, PATIENT_REF],
      ['r-9', DISCHARGE, OTHER_REF],
    ]) {
      await ledger.invoke(HOSPITAL, records, 'anchorRecord', JSON.stringify({ recordId, docHash: sha(`doc ${recordId}`), patientRef, category }));
    }
  });

  describe('end to end', () => {
    it('register → grant claims to the insurer for 30 days → PERMIT, logged → revoke → DENY (REVOKED), logged → the patient lists both', async () => {
      const bound = await register(patient);
      expect(bound.created).to.equal(true);
      expect(bound.binding).to.include({ hospital: HOSPITAL, patientRef: PATIENT_REF, patient: patient.address });

      // The patient signs in the browser; the insurer's gateway submits.
      const message = grantMessage();
      const granted = await json(submitGrant(await signGrant(patient, message), INSURER));
      expect(granted.created).to.equal(true);
      const g: ConsentGrant = granted.grant;
      expect(g.grantId).to.equal(TypedDataEncoder.hash(consentDomain(CHANNEL), CONSENT_GRANT_TYPES, message));
      expect(g).to.include({ status: 'active', patient: patient.address, grantee: INSURER, purpose: 'claims', submittedBy: INSURER });
      expect(ledger.lastEvent()).to.deep.equal({
        name: CONSENT_EVENT,
        payload: { kind: 'granted', hospital: HOSPITAL, patientRef: PATIENT_REF, grantId: g.grantId, grantee: INSURER, purpose: 'claims', status: 'active' },
      });

      const permitted = await accessRecord(INSURER, 'r-1', 'claims');
      expect(permitted).to.include({ decision: 'PERMIT', grantId: g.grantId });
      expect(permitted.provenance).to.have.length(1);
      expect(permitted.provenance[0]).to.include({ recordId: 'r-1', docHash: sha('doc r-1'), issuer: HOSPITAL });
      expect(permitted.accessLog).to.include({ accessor: INSURER, decision: 'PERMIT', grantId: g.grantId, recordId: 'r-1', patientRef: PATIENT_REF, purpose: 'claims' });
      // A permitted access announces its consented access too (the leaf of its consent-bound receipt).
      expect(ledger.lastEvent()).to.deep.equal({
        name: ACCESS_EVENT,
        payload: {
          ...permitted.accessLog,
          consentedAccess: {
            channel: CHANNEL, docHash: sha('doc r-1'), issuer: HOSPITAL, recordId: 'r-1', version: 1, category: DISCHARGE, grantId: g.grantId,
            patient: patient.address, signature: g.signature, purpose: 'claims', recipient: INSURER, txId: permitted.accessLog.txId, at: permitted.accessLog.at,
          },
        },
      });

      const revoked = await json(submitRevoke(await signRevoke(patient, revokeMessage(g.grantId)), HOSPITAL));
      expect(revoked.created).to.equal(true);
      expect(revoked.grant.status).to.equal('revoked');
      expect(revoked.grant.revocation.txId).to.equal(ledger.committed[ledger.committed.length - 1].txId);
      expect(ledger.lastEvent()?.payload).to.include({ kind: 'revoked', grantId: g.grantId, grantee: INSURER, status: 'revoked' });

      const denied = await accessRecord(INSURER, 'r-1', 'claims');
      expect(denied).to.include({ decision: 'DENY', reason: 'REVOKED', grantId: g.grantId });
      expect(denied).to.not.have.property('provenance');
      expect(denied.accessLog).to.include({ decision: 'DENY', reason: 'REVOKED' });

      const log: AccessLogEntry[] = await json(ledger.invoke(SPONSOR, access, 'listAccessLog', HOSPITAL, PATIENT_REF));
      expect(log.map((e) => [e.accessor, e.decision, e.reason ?? null])).to.deep.equal([
        [INSURER, 'PERMIT', null],
        [INSURER, 'DENY', 'REVOKED'],
      ]);
      expect(log[0].at < log[1].at).to.equal(true);
      expect(log.map((e) => e.txId)).to.deep.equal([permitted.accessLog.txId, denied.accessLog.txId]);

      // Full history: the revoked grant stays readable.
      const grants = await json(invoke(INSURER, 'listGrants', HOSPITAL, PATIENT_REF));
      expect(grants).to.have.length(1);
      expect(grants[0]).to.include({ grantId: g.grantId, status: 'revoked', effectiveStatus: 'revoked', signature: g.signature });
      expect(grants[0].revocation).to.include({ txId: revoked.grant.revocation.txId, submittedBy: HOSPITAL });
    });

    it('writes canonical JSON only, and protects the binding (not grants or the log) with the hospital’s key-level policy', async () => {
      await register(patient);
      const g = await grant();
      await accessRecord(INSURER, 'r-1', 'claims');
      await submitRevoke(await signRevoke(patient, revokeMessage(g.grantId)));
      for (const value of ledger.state.values()) {
        const text = Buffer.from(value).toString('utf8');
        expect(JSON.stringify(sortDeep(JSON.parse(text)))).to.equal(text);
      }
      // Composite keys only: the plain consortium key carries its own (majority) policy.
      const typeOf = (key: string) => key.split('\u0000')[1] ?? '';
      const policies = [...ledger.validationParameters].filter(([key]) => typeOf(key).startsWith('medprov.patient'));
      expect(policies.map(([key]) => typeOf(key)).sort()).to.deep.equal([KEY_TYPES.patientAddress, KEY_TYPES.patientBinding].sort());
      for (const [, ep] of policies) expect(new KeyEndorsementPolicy(ep).listOrgs()).to.deep.equal([HOSPITAL]);
      for (const key of ledger.validationParameters.keys()) {
        expect([KEY_TYPES.consentGrant, KEY_TYPES.consentNonce, KEY_TYPES.accessLog]).to.not.include(typeOf(key));
      }
    });

    it('uses the documented EIP-712 domain: name, version, chain id and the channel as salt', () => {
      expect(consentDomain('medprov')).to.deep.equal({ name: 'medprov-consent', version: '1', chainId: CONSENT_CHAIN_ID, salt: id('medprov') });
    });
  });

  describe('registerPatient', () => {
    it('binds the patientRef to the key; a retry returns the binding and writes nothing', async () => {
      const signed = await registration(patient);
      const first = await json(invoke(HOSPITAL, 'registerPatient', JSON.stringify(signed)));
      expect(first.binding.registeredAt).to.match(/^2026-01-01T/);
      expect(ledger.lastEvent()).to.deep.equal({ name: CONSENT_EVENT, payload: { kind: 'registered', hospital: HOSPITAL, patientRef: PATIENT_REF } });
      const writes = ledger.writeCount;
      const again = await json(invoke(HOSPITAL, 'registerPatient', JSON.stringify(signed)));
      expect(again).to.deep.equal({ binding: first.binding, created: false });
      expect(ledger.writeCount).to.equal(writes);
      expect(await json(invoke(INSURER, 'readPatient', HOSPITAL, PATIENT_REF))).to.deep.equal(first.binding);
      expect(await json(invoke(INSURER, 'readPatientByAddress', patient.address.toLowerCase()))).to.deep.equal(first.binding);
      expect(await json(invoke(INSURER, 'readPatient', HOSPITAL, OTHER_REF))).to.equal(null);
    });

    it('accepts one derived key per organisation, and refuses the same key at a second hospital (no join key)', async () => {
      await register(patient);
      const ref2 = sha('hospital2 patient 77');
      await register(patientAtHospital2, { hospital: HOSPITAL2, patientRef: ref2 });
      expect(patient.address).to.not.equal(patientAtHospital2.address);
      await refused(register(patient, { hospital: HOSPITAL2, patientRef: sha('hospital2 patient 78') }), 'PATIENT_KEY_IN_USE', 'derived for this organisation');
      await refused(register(patient, { patientRef: OTHER_REF }), 'PATIENT_KEY_IN_USE');
    });

    it('refuses a second key for a bound patientRef', async () => {
      await register(patient);
      await refused(register(otherPatient), 'PATIENT_ALREADY_REGISTERED');
    });

    it('is for hospitals, and only for their own patients', async () => {
      await refused(register(patient, {}, INSURER), 'FORBIDDEN_ORG_TYPE', 'hospital');
      await refused(register(patient, {}, HOSPITAL2), 'FORBIDDEN_OTHER_ORG', HOSPITAL);
    });

    it('refuses a signature not made by the named key, and one made for another channel', async () => {
      const forged = { ...(await registration(stranger)), patient: patient.address };
      await refused(invoke(HOSPITAL, 'registerPatient', JSON.stringify(forged)), 'SIGNATURE_INVALID', 'registration.patient');
      const otherChannel = await registration(patient, {}, 'medprov-staging');
      await refused(invoke(HOSPITAL, 'registerPatient', JSON.stringify(otherChannel)), 'SIGNATURE_INVALID');
      const changed = await registration(patient);
      await refused(invoke(HOSPITAL, 'registerPatient', JSON.stringify({ ...changed, message: { ...changed.message, patientRef: OTHER_REF } })), 'SIGNATURE_INVALID');
    });

    it('refuses malformed addresses and bad checksums', async () => {
      const good = await registration(patient);
      const lower = patient.address.toLowerCase();
      const badChecksum = '0x' + [...lower.slice(2)].map((c, i) => (/[a-f]/.test(c) && i % 2 === 0 ? c.toUpperCase() : c)).join('');
      for (const address of ['', '0x1234', lower.slice(2), lower + '00', lower.replace(/.$/, 'g'), badChecksum, 42, null]) {
        if (address === badChecksum && badChecksum === patient.address) continue;
        await refused(invoke(HOSPITAL, 'registerPatient', JSON.stringify({ ...good, patient: address })), 'INVALID_ARGUMENT', 'registration.patient');
      }
      // The all-lowercase form (no checksum) is fine and is stored checksummed.
      const out = await json(invoke(HOSPITAL, 'registerPatient', JSON.stringify({ ...good, patient: lower })));
      expect(out.binding.patient).to.equal(patient.address);
    });
  });

  describe('grantConsent refusals (each writes nothing)', () => {
    beforeEach(async () => {
      await register(patient);
    });

    it('a forged signature from a random key', async () => {
      await refused(submitGrant(await signGrant(Wallet.createRandom(), grantMessage())), 'SIGNER_NOT_PATIENT');
    });

    it('a signature over different fields (one field changed after signing)', async () => {
      const changes: Partial<ConsentGrantMessage>[] = [
        { validUntil: ledger.now + 365 * DAY },
        { categories: [DISCHARGE, LAB] },
        { recordIds: ['r-2'] },
        { grantee: SPONSOR },
        { purpose: 'treatment' },
        { nonce: freshNonce() },
        { validFrom: ledger.now - DAY },
      ];
      for (const change of changes) {
        const signed = await signGrant(patient, grantMessage());
        await refused(submitGrant({ ...signed, message: { ...signed.message, ...change } }), 'SIGNER_NOT_PATIENT');
      }
    });

    it('a replayed nonce: a second grant with a spent nonce, and the registration nonce', async () => {
      const first = await signGrant(patient, grantMessage());
      await submitGrant(first);
      await refused(submitGrant(await signGrant(patient, grantMessage({ nonce: first.message.nonce, grantee: SPONSOR, purpose: 'research:T-1' }))), 'NONCE_REUSED');
      const reg = await json(invoke(SPONSOR, 'readPatient', HOSPITAL, PATIENT_REF));
      await refused(submitGrant(await signGrant(patient, grantMessage({ nonce: reg.nonce }))), 'NONCE_REUSED');
    });

    it('re-sending the very same signed grant returns it and writes nothing', async () => {
      const signed = await signGrant(patient, grantMessage());
      const first = await json(submitGrant(signed));
      const writes = ledger.writeCount;
      expect(await json(submitGrant(signed, HOSPITAL2))).to.deep.equal({ grant: first.grant, created: false });
      expect(ledger.writeCount).to.equal(writes);
    });

    it('a grant by a wallet that is not the registered one', async () => {
      await refused(submitGrant(await signGrant(otherPatient, grantMessage())), 'SIGNER_NOT_PATIENT');
      // Registered elsewhere does not help either.
      const ref2 = sha('hospital2 patient 80');
      await register(patientAtHospital2, { hospital: HOSPITAL2, patientRef: ref2 });
      await refused(submitGrant(await signGrant(patientAtHospital2, grantMessage())), 'SIGNER_NOT_PATIENT');
      // A patientRef nobody bound.
      await refused(submitGrant(await signGrant(patient, grantMessage({ patientRef: OTHER_REF }))), 'PATIENT_NOT_REGISTERED');
      // Hospital2 cannot grant over HospitalMSP's patientRef by binding it under its own name.
      await refused(submitGrant(await signGrant(patientAtHospital2, grantMessage({ hospital: HOSPITAL2 }))), 'PATIENT_NOT_REGISTERED');
    });

    it('a signature for another channel (channel-replay guard)', async () => {
      const signed = await signGrant(patient, grantMessage(), 'medprov-staging');
      await refused(submitGrant(signed), 'SIGNER_NOT_PATIENT');
      // …while on that channel the same signature is accepted, with a different grant id.
      const staging = new FakeLedger({ channel: 'medprov-staging' });
      const save = ledger;
      ledger = staging;
      try {
        await ledger.invoke(HOSPITAL, identity, 'initConsortium', CONSORTIUM);
        await json(invoke(HOSPITAL, 'registerPatient', JSON.stringify(await registration(patient, {}, 'medprov-staging'))));
        const out = await json(submitGrant(signed));
        expect(out.grant.grantId).to.equal(TypedDataEncoder.hash(consentDomain('medprov-staging'), CONSENT_GRANT_TYPES, signed.message));
        expect(out.grant.grantId).to.not.equal(TypedDataEncoder.hash(consentDomain(CHANNEL), CONSENT_GRANT_TYPES, signed.message));
      } finally {
        ledger = save;
      }
    });

    it('malformed signatures', async () => {
      const signed = await signGrant(patient, grantMessage());
      const sig = Signature.from(signed.signature);
      const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
      const highS = sig.r + (N - BigInt(sig.s)).toString(16).padStart(64, '0') + (sig.v === 27 ? '1c' : '1b');
      const cases: [unknown, string][] = [
        ['', 'INVALID_ARGUMENT'],
        [signed.signature.slice(2), 'INVALID_ARGUMENT'],
        [signed.signature.slice(0, -2), 'INVALID_ARGUMENT'],
        [signed.signature + '00', 'INVALID_ARGUMENT'],
        [signed.signature.replace(/.$/, 'z'), 'INVALID_ARGUMENT'],
        [123, 'INVALID_ARGUMENT'],
        [signed.signature.slice(0, -2) + '05', 'SIGNATURE_INVALID'],
        ['0x' + '00'.repeat(64) + '1b', 'SIGNATURE_INVALID'],
        [highS, 'SIGNATURE_INVALID'],
      ];
      for (const [signature, code] of cases) {
        await refused(submitGrant({ ...signed, signature }), code, 'grant.signature');
      }
    });

    it('malformed hex and values in the message', async () => {
      const cases: [Partial<Record<keyof ConsentGrantMessage, unknown>>, string][] = [
        [{ nonce: freshNonce().toUpperCase().replace('0X', '0x') }, 'grant.message.nonce'],
        [{ nonce: freshNonce().slice(0, 40) }, 'grant.message.nonce'],
        [{ nonce: 7 }, 'grant.message.nonce'],
        [{ patientRef: PATIENT_REF.toUpperCase() }, 'grant.message.patientRef'],
        [{ patientRef: '0x' + PATIENT_REF }, 'grant.message.patientRef'],
        [{ hospital: 'Hospital MSP' }, 'grant.message.hospital'],
        [{ grantee: '' }, 'grant.message.grantee'],
        [{ purpose: 'marketing' }, 'grant.message.purpose'],
        [{ purpose: 'research:' }, 'grant.message.purpose'],
        [{ validFrom: -1 }, 'grant.message.validFrom'],
        [{ validFrom: '1767225600' }, 'grant.message.validFrom'],
        [{ validUntil: 1.5 }, 'grant.message.validUntil'],
        [{ validUntil: 1e300 }, 'grant.message.validUntil'],
        [{ categories: 'loinc:1' }, 'grant.message.categories'],
        [{ categories: ['has space'] }, 'grant.message.categories[0]'],
        [{ categories: [DISCHARGE, DISCHARGE] }, 'grant.message.categories[1]'],
        [{ recordIds: [''] }, 'grant.message.recordIds[0]'],
        [{ categories: [], recordIds: [] }, 'at least one category or record id'],
        [{ validFrom: 2_000_000_000, validUntil: 2_000_000_000 }, 'later than validFrom'],
        [{ validFrom: 1_000_000_000, validUntil: 1_000_000_100 }, 'already passed'],
      ];
      for (const [change, fragment] of cases) {
        const message = { ...grantMessage(), ...change } as ConsentGrantMessage;
        await refused(submitGrant({ message, signature: (await signGrant(patient, grantMessage())).signature }), 'INVALID_ARGUMENT', fragment);
      }
      await refused(submitGrant(await signGrant(patient, grantMessage({ grantee: 'BankMSP' }))), 'ORG_NOT_IN_CONSORTIUM', 'BankMSP');
    });

    it('unknown fields, missing fields and malformed JSON', async () => {
      const signed = await signGrant(patient, grantMessage());
      await refused(submitGrant({ ...signed, note: 'x' }), 'UNKNOWN_FIELD', '"note"');
      await refused(submitGrant({ ...signed, message: { ...signed.message, chainId: 1 } }), 'UNKNOWN_FIELD', '"chainId"');
      const { nonce: _drop, ...withoutNonce } = signed.message;
      void _drop;
      await refused(submitGrant({ ...signed, message: withoutNonce }), 'INVALID_ARGUMENT', 'grant.message.nonce');
      await refused(submitGrant({ signature: signed.signature }), 'INVALID_ARGUMENT', 'grant.message');
      await refused(invoke(INSURER, 'grantConsent', '{"message":'), 'INVALID_JSON');
      await refused(invoke(INSURER, 'grantConsent', '[]'), 'INVALID_ARGUMENT');
    });

    it('oversized arrays', async () => {
      const many = Array.from({ length: MAX_SCOPE_ITEMS + 1 }, (_, i) => `loinc:${i}`);
      await refused(submitGrant(await signGrant(patient, grantMessage({ categories: many }))), 'INVALID_ARGUMENT', `at most ${MAX_SCOPE_ITEMS}`);
      const ids = Array.from({ length: MAX_SCOPE_ITEMS + 1 }, (_, i) => `r-${i}`);
      await refused(submitGrant(await signGrant(patient, grantMessage({ recordIds: ids }))), 'INVALID_ARGUMENT', `at most ${MAX_SCOPE_ITEMS}`);
      // The limit itself is fine.
      await grant({ categories: many.slice(0, MAX_SCOPE_ITEMS), recordIds: ids.slice(0, MAX_SCOPE_ITEMS) });
    });

    it('U+0000 and U+10FFFF in strings', async () => {
      for (const change of [
        { categories: ['loinc:1\u0000x'] },
        { recordIds: ['r-1\u0000'] },
        { recordIds: ['r-1\u{10FFFF}'] },
        { hospital: `${HOSPITAL}\u0000` },
        { grantee: `${INSURER}\u0000` },
        { purpose: 'research:T\u0000' },
      ]) {
        await refused(submitGrant(await signGrant(patient, grantMessage(change))), 'INVALID_ARGUMENT');
      }
      const reg = await registration(otherPatient, { patientRef: OTHER_REF });
      await refused(invoke(HOSPITAL, 'registerPatient', JSON.stringify({ ...reg, message: { ...reg.message, hospital: 'H\u0000' } })), 'INVALID_ARGUMENT');
      await expectCode(invoke(INSURER, 'listGrants', HOSPITAL, `${PATIENT_REF}\u0000`), 'INVALID_ARGUMENT');
      await expectCode(ledger.invoke(INSURER, access, 'accessRecord', HOSPITAL, 'r-1\u0000', 'claims'), 'INVALID_ARGUMENT');
    });
  });

  describe('revokeConsent refusals (each writes nothing)', () => {
    let g: ConsentGrant;
    const ref2 = sha('hospital patient 2002');
    beforeEach(async () => {
      await register(patient);
      await register(otherPatient, { patientRef: ref2 });
      g = await grant();
    });

    it("revoking someone else's grant", async () => {
      // The other patient names this patient's grant: not their key.
      await refused(submitRevoke(await signRevoke(otherPatient, revokeMessage(g.grantId))), 'SIGNER_NOT_PATIENT');
      // …or names it under their own patientRef: no such grant there.
      await refused(submitRevoke(await signRevoke(otherPatient, revokeMessage(g.grantId, { patientRef: ref2 }))), 'GRANT_NOT_FOUND');
    });

    it('a revocation signed by another key, or changed after signing', async () => {
      await refused(submitRevoke(await signRevoke(stranger, revokeMessage(g.grantId))), 'SIGNER_NOT_PATIENT');
      const signed = await signRevoke(patient, revokeMessage(g.grantId));
      const other = await grant({ grantee: SPONSOR, purpose: 'research:T-1' });
      await refused(submitRevoke({ ...signed, message: { ...signed.message, grantId: other.grantId } }), 'SIGNER_NOT_PATIENT');
    });

    it('an unknown grant, a malformed grant id and a spent nonce', async () => {
      await refused(submitRevoke(await signRevoke(patient, revokeMessage(id('no such grant')))), 'GRANT_NOT_FOUND');
      const signed = await signRevoke(patient, revokeMessage(g.grantId));
      for (const grantId of [g.grantId.slice(2), g.grantId.toUpperCase().replace('0X', '0x'), '']) {
        await refused(submitRevoke({ ...signed, message: { ...signed.message, grantId } }), 'INVALID_ARGUMENT', 'revoke.message.grantId');
      }
      await refused(submitRevoke(await signRevoke(patient, revokeMessage(g.grantId, { nonce: g.nonce }))), 'NONCE_REUSED');
    });

    it('revoking twice returns the revoked grant and writes nothing; the original grant cannot be re-submitted to revive it', async () => {
      const signedGrant = await signGrant(patient, grantMessage());
      const live = (await json(submitGrant(signedGrant))).grant as ConsentGrant;
      const first = await json(submitRevoke(await signRevoke(patient, revokeMessage(live.grantId))));
      const writes = ledger.writeCount;
      const again = await json(submitRevoke(await signRevoke(patient, revokeMessage(live.grantId))));
      expect(again).to.deep.equal({ grant: first.grant, created: false });
      const resent = await json(submitGrant(signedGrant));
      expect(resent).to.deep.equal({ grant: first.grant, created: false });
      expect(ledger.writeCount).to.equal(writes);
    });
  });

  describe('decisions', () => {
    beforeEach(async () => {
      await register(patient);
    });

    it('PERMIT within the validity period, EXPIRED from validUntil on (clock advanced)', async () => {
      const g = await grant({ validUntil: ledger.now + 10 * DAY });
      expect(await check(INSURER, 'claims')).to.include({ decision: 'PERMIT', grantId: g.grantId });
      ledger.advance(10 * DAY - 2); // the next transaction runs at exactly validUntil
      const atEnd = await check(INSURER, 'claims');
      expect(atEnd).to.include({ decision: 'DENY', reason: 'EXPIRED', grantId: g.grantId });
      expect((await json(invoke(INSURER, 'listGrants', HOSPITAL, PATIENT_REF)))[0].effectiveStatus).to.equal('expired');
      expect(await accessRecord(INSURER, 'r-1', 'claims')).to.include({ decision: 'DENY', reason: 'EXPIRED' });
    });

    it('NOT_YET_VALID before validFrom, then PERMIT', async () => {
      const g = await grant({ validFrom: ledger.now + DAY, validUntil: ledger.now + 2 * DAY });
      expect(await check(INSURER, 'claims')).to.include({ decision: 'DENY', reason: 'NOT_YET_VALID', grantId: g.grantId });
      expect((await json(invoke(INSURER, 'listGrants', HOSPITAL, PATIENT_REF)))[0].effectiveStatus).to.equal('pending');
      ledger.advance(DAY);
      expect(await check(INSURER, 'claims')).to.include({ decision: 'PERMIT', grantId: g.grantId });
    });

    it('WRONG_GRANTEE and WRONG_PURPOSE, without naming the grant', async () => {
      await grant();
      const wrongGrantee = await check(SPONSOR, 'claims');
      expect(wrongGrantee).to.deep.equal({ decision: 'DENY', reason: 'WRONG_GRANTEE', evaluatedAt: wrongGrantee.evaluatedAt });
      const wrongPurpose = await check(INSURER, 'research:T-1');
      expect(wrongPurpose).to.deep.equal({ decision: 'DENY', reason: 'WRONG_PURPOSE', evaluatedAt: wrongPurpose.evaluatedAt });
    });

    it('OUT_OF_SCOPE by category and by record; a record id in scope permits whatever its category', async () => {
      const byRecord = await grant({ categories: [], recordIds: ['r-2'], grantee: SPONSOR, purpose: 'research:T-1' });
      await grant();
      expect(await check(INSURER, 'claims', LAB, 'r-2')).to.include({ decision: 'DENY', reason: 'OUT_OF_SCOPE' });
      expect(await check(SPONSOR, 'research:T-1', DISCHARGE, 'r-1')).to.include({ decision: 'DENY', reason: 'OUT_OF_SCOPE', grantId: byRecord.grantId });
      expect(await check(SPONSOR, 'research:T-1', LAB, 'r-2')).to.include({ decision: 'PERMIT', grantId: byRecord.grantId });
      expect(await check(SPONSOR, 'research:T-1', '', 'r-2')).to.include({ decision: 'PERMIT' });
      expect(await accessRecord(SPONSOR, 'r-2', 'research:T-1')).to.include({ decision: 'PERMIT' });
      expect(await accessRecord(SPONSOR, 'r-1', 'research:T-1')).to.include({ decision: 'DENY', reason: 'OUT_OF_SCOPE' });
    });

    it('NO_CONSENT without any grant, or for a patient never registered; the denied access is still logged', async () => {
      const none = await check(INSURER, 'claims');
      expect(none).to.deep.equal({ decision: 'NO_CONSENT', evaluatedAt: none.evaluatedAt });
      expect(await check(INSURER, 'claims', DISCHARGE, 'r-9', OTHER_REF)).to.include({ decision: 'NO_CONSENT' });
      const out = await accessRecord(INSURER, 'r-9', 'claims');
      expect(out).to.include({ decision: 'NO_CONSENT' });
      expect(out).to.not.have.property('provenance');
      const log = await json(ledger.invoke(INSURER, access, 'listAccessLog', HOSPITAL, OTHER_REF));
      expect(log).to.have.length(1);
      expect(log[0]).to.include({ accessor: INSURER, decision: 'NO_CONSENT', recordId: 'r-9' });
      expect(await json(ledger.invoke(INSURER, access, 'listAccessLog', HOSPITAL, PATIENT_REF))).to.deep.equal([]);
    });

    it('a PERMIT wins over other grants; otherwise the most informative reason', async () => {
      const old = await grant();
      await submitRevoke(await signRevoke(patient, revokeMessage(old.grantId)));
      await grant({ grantee: SPONSOR, purpose: 'research:T-1' });
      await grant({ categories: [LAB] });
      // Revoked beats out-of-scope, wrong purpose and wrong grantee.
      expect(await check(INSURER, 'claims')).to.include({ decision: 'DENY', reason: 'REVOKED', grantId: old.grantId });
      // A future grant says more than the revoked one.
      const future = await grant({ validFrom: ledger.now + DAY, validUntil: ledger.now + 3 * DAY });
      expect(await check(INSURER, 'claims')).to.include({ decision: 'DENY', reason: 'NOT_YET_VALID', grantId: future.grantId });
      const live = await grant();
      expect(await check(INSURER, 'claims')).to.include({ decision: 'PERMIT', grantId: live.grantId });
    });

    it('checkConsent validates its arguments and needs a category or a record id', async () => {
      await expectCode(invoke(INSURER, 'checkConsent', HOSPITAL, PATIENT_REF, INSURER, 'claims', '', ''), 'INVALID_ARGUMENT', 'category or recordId');
      await expectCode(invoke(INSURER, 'checkConsent', HOSPITAL, PATIENT_REF, INSURER, 'gossip', DISCHARGE, ''), 'INVALID_ARGUMENT', 'purpose');
      await expectCode(invoke(INSURER, 'checkConsent', HOSPITAL, 'abc', INSURER, 'claims', DISCHARGE, ''), 'INVALID_ARGUMENT', 'patientRef');
    });
  });

  describe('accessRecord', () => {
    it('refuses an unknown record without writing, and validates the purpose', async () => {
      await refused(accessRecord(INSURER, 'no-such-record', 'claims'), 'RECORD_NOT_FOUND');
      await refused(accessRecord(INSURER, 'r-1', 'marketing'), 'INVALID_ARGUMENT', 'purpose');
    });

    it('is open to insurers, sponsors and hospitals; the caller is the grantee', async () => {
      await register(patient);
      await grant({ grantee: HOSPITAL2, purpose: 'treatment' });
      expect(await accessRecord(HOSPITAL2, 'r-1', 'treatment')).to.include({ decision: 'PERMIT' });
      expect(await accessRecord(INSURER, 'r-1', 'treatment')).to.include({ decision: 'DENY', reason: 'WRONG_GRANTEE' });
    });

    it('returns every version of the record when permitted, and checks the latest version’s category', async () => {
      await register(patient);
      await grant({ categories: [LAB] });
      await ledger.invoke(HOSPITAL, records, 'amendRecord', JSON.stringify({ issuer: HOSPITAL, recordId: 'r-1', docHash: sha('doc r-1 v2'), category: LAB }));
      const out = await accessRecord(INSURER, 'r-1', 'claims');
      expect(out.decision).to.equal('PERMIT');
      expect(out.provenance.map((a: { version: number; status: string }) => [a.version, a.status])).to.deep.equal([
        [1, 'superseded'],
        [2, 'active'],
      ]);
      expect(out.accessLog.version).to.equal(2);
    });
  });

  describe('discloseRecords (a hospital discloses its own records to a grantee)', () => {
    let disclosureCounter = 0;
    const disclosure = (overrides: Record<string, unknown> = {}) => ({
      disclosureId: `rel-${++disclosureCounter}`,
      issuer: HOSPITAL,
      grantee: SPONSOR,
      purpose: 'research:T-1',
      recordIds: ['r-1', 'r-9'],
      ...overrides,
    });
    const disclose = (body: unknown, msp = HOSPITAL) => json(ledger.invoke(msp, access, 'discloseRecords', JSON.stringify(body)));
    const logOf = async (patientRef = PATIENT_REF): Promise<AccessLogEntry[]> => json(ledger.invoke(SPONSOR, access, 'listAccessLog', HOSPITAL, patientRef));

    it('checks each record’s consent for the grantee as accessRecord does, logs one disclosure entry per record whatever the decision, and emits them in one event', async () => {
      await register(patient);
      const g = await grant({ grantee: SPONSOR, purpose: 'research:T-1' });
      const body = disclosure({ recordIds: ['r-1', 'r-2', 'r-9'] });
      const out = await disclose(body);
      const txId = ledger.committed[ledger.committed.length - 1].txId;
      expect(out.created).to.equal(true);
      expect(out.disclosure).to.deep.include({ disclosureId: body.disclosureId, issuer: HOSPITAL, grantee: SPONSOR, purpose: 'research:T-1', txId });
      expect(out.disclosure.records).to.deep.equal([
        { recordId: 'r-1', version: 1, decision: 'PERMIT', grantId: g.grantId },
        { recordId: 'r-2', version: 1, decision: 'DENY', reason: 'OUT_OF_SCOPE', grantId: g.grantId },
        { recordId: 'r-9', version: 1, decision: 'NO_CONSENT' },
      ]);
      const event = ledger.lastEvent();
      expect(event?.name).to.equal(ACCESS_EVENT);
      const emitted = accessEventEntries(event?.payload as AccessEvent);
      expect(emitted.map((e) => e.recordId)).to.deep.equal(['r-1', 'r-2', 'r-9']);
      // the same decisions the sponsor's own access would get now
      for (const r of out.disclosure.records) {
        const own = await json(invoke(SPONSOR, 'checkConsent', HOSPITAL, r.recordId === 'r-9' ? OTHER_REF : PATIENT_REF, SPONSOR, 'research:T-1', r.recordId === 'r-2' ? LAB : DISCHARGE, r.recordId));
        expect(own.decision, r.recordId).to.equal(r.decision);
      }

      const log = await logOf();
      expect(log).to.have.length(2);
      for (const e of log) {
        expect(e).to.include({ kind: 'disclosure', accessor: SPONSOR, disclosedBy: HOSPITAL, issuer: HOSPITAL, disclosureId: body.disclosureId, purpose: 'research:T-1', patientRef: PATIENT_REF, txId });
      }
      expect(log).to.deep.equal(emitted.slice(0, 2));
      expect(log.map((e) => [e.recordId, e.decision, e.reason ?? null, e.grantId ?? null])).to.deep.equal([
        ['r-1', 'PERMIT', null, g.grantId],
        ['r-2', 'DENY', 'OUT_OF_SCOPE', g.grantId],
      ]);
      const other = await logOf(OTHER_REF);
      expect(other).to.have.length(1);
      expect(other[0]).to.include({ kind: 'disclosure', recordId: 'r-9', decision: 'NO_CONSENT', accessor: SPONSOR, disclosedBy: HOSPITAL });
    });

    it('a revoked, expired or other-trial grant is a logged DENY; an access and a disclosure of one record sit side by side in the log', async () => {
      await register(patient);
      const g = await grant({ grantee: SPONSOR, purpose: 'research:T-1' });
      await submitRevoke(await signRevoke(patient, revokeMessage(g.grantId)));
      expect((await disclose(disclosure({ recordIds: ['r-1'] }))).disclosure.records[0]).to.include({ decision: 'DENY', reason: 'REVOKED', grantId: g.grantId });
      expect((await disclose(disclosure({ recordIds: ['r-1'], purpose: 'research:T-2' }))).disclosure.records[0]).to.include({ decision: 'DENY', reason: 'WRONG_PURPOSE' });
      const later = await grant({ grantee: SPONSOR, purpose: 'research:T-1', validUntil: ledger.now + DAY });
      ledger.advance(2 * DAY);
      expect((await disclose(disclosure({ recordIds: ['r-1'] }))).disclosure.records[0]).to.include({ decision: 'DENY', reason: 'EXPIRED', grantId: later.grantId });
      await accessRecord(SPONSOR, 'r-1', 'research:T-1');
      const log = await logOf();
      expect(log.map((e) => [e.kind ?? 'access', e.decision, e.reason])).to.deep.equal([
        ['disclosure', 'DENY', 'REVOKED'],
        ['disclosure', 'DENY', 'WRONG_PURPOSE'],
        ['disclosure', 'DENY', 'EXPIRED'],
        ['access', 'DENY', 'EXPIRED'],
      ]);
      expect(log[3]).to.not.have.property('disclosedBy');
    });

    it('the same disclosureId again returns the recorded disclosure and logs nothing; reused for another disclosure it is refused', async () => {
      const body = disclosure();
      const first = await disclose(body);
      const writes = ledger.writeCount;
      const again = await disclose(body);
      expect(again).to.deep.equal({ disclosure: first.disclosure, created: false });
      expect(ledger.writeCount).to.equal(writes);
      expect(ledger.committed[ledger.committed.length - 1].event).to.equal(undefined);
      expect(await logOf()).to.have.length(1);
      await refused(disclose({ ...body, recordIds: ['r-1'] }), 'INVALID_ARGUMENT', 'already names another disclosure');
      await refused(disclose({ ...body, grantee: INSURER }), 'INVALID_ARGUMENT', 'already names another disclosure');
    });

    it('is for hospitals, for their own records only, to another member', async () => {
      await refused(disclose(disclosure(), SPONSOR), 'FORBIDDEN_ORG_TYPE');
      await refused(disclose(disclosure(), INSURER), 'FORBIDDEN_ORG_TYPE');
      // another hospital cannot disclose HospitalMSP's records, nor name itself the issuer of them
      await refused(disclose(disclosure(), HOSPITAL2), 'FORBIDDEN_NOT_ISSUER', `${HOSPITAL2} cannot disclose records issued by ${HOSPITAL}`);
      await refused(disclose(disclosure({ issuer: HOSPITAL2 }), HOSPITAL2), 'RECORD_NOT_FOUND', 'recordIds[0] (recordId r-1)');
      await ledger.invoke(HOSPITAL2, records, 'anchorRecord', JSON.stringify({ recordId: 'h2-1', docHash: sha('doc h2-1'), patientRef: PATIENT_REF, category: DISCHARGE }));
      await refused(disclose(disclosure({ recordIds: ['r-1', 'h2-1'] })), 'RECORD_NOT_FOUND', 'recordIds[1] (recordId h2-1)');
      await refused(disclose(disclosure({ grantee: HOSPITAL })), 'INVALID_ARGUMENT', 'another organisation');
      await refused(disclose(disclosure({ grantee: 'StrangerMSP' })), 'ORG_NOT_IN_CONSORTIUM', 'StrangerMSP');
    });

    it('validates the batch item by item and fails on the first malformed one, naming it; bounded by MAX_BATCH', async () => {
      await refused(disclose(disclosure({ recordIds: ['r-1', 'bad id', 'r-2'] })), 'INVALID_ARGUMENT', 'recordIds[1] (recordId bad id)');
      await refused(disclose(disclosure({ recordIds: ['r-1', 7] })), 'INVALID_ARGUMENT', 'recordIds[1] must be a string');
      await refused(disclose(disclosure({ recordIds: ['r-1', 'r\u0000x'] })), 'INVALID_ARGUMENT', 'recordIds[1]');
      await refused(disclose(disclosure({ recordIds: ['r-1', 'r-2', 'r-1'] })), 'BATCH_INVALID', 'recordIds[2] (recordId r-1) repeats recordIds[0]');
      await refused(disclose(disclosure({ recordIds: ['r-1', 'missing'] })), 'RECORD_NOT_FOUND', 'recordIds[1] (recordId missing)');
      await refused(disclose(disclosure({ recordIds: [] })), 'INVALID_ARGUMENT', `1 to ${MAX_BATCH}`);
      await refused(disclose(disclosure({ recordIds: Array.from({ length: MAX_BATCH + 1 }, (_, i) => `r-${i}`) })), 'INVALID_ARGUMENT', `1 to ${MAX_BATCH}`);
      await refused(disclose(disclosure({ recordIds: 'r-1' })), 'INVALID_ARGUMENT', 'recordIds');
      await refused(disclose(disclosure({ purpose: 'marketing' })), 'INVALID_ARGUMENT', 'disclosure.purpose');
      await refused(disclose(disclosure({ disclosureId: 'x'.repeat(65) })), 'INVALID_ARGUMENT', 'disclosure.disclosureId');
      await refused(disclose({ ...disclosure(), note: 'x' }), 'UNKNOWN_FIELD', 'note');
      await refused(ledger.invoke(HOSPITAL, access, 'discloseRecords', '{'), 'INVALID_JSON');
    });
  });

  describe('decideConsent (pure)', () => {
    const base: ConsentGrant = {
      grantId: id('g'),
      hospital: HOSPITAL,
      patientRef: PATIENT_REF,
      patient: patient.address,
      grantee: INSURER,
      purpose: 'claims',
      categories: [DISCHARGE],
      recordIds: [],
      validFrom: 100,
      validUntil: 200,
      nonce: id('n'),
      signature: '0x',
      status: 'active',
      grantedAt: '2026-01-01T00:00:00.000Z',
      txId: 'tx',
      submittedBy: INSURER,
    };
    const q = { hospital: HOSPITAL, patientRef: PATIENT_REF, grantee: INSURER, purpose: 'claims', category: DISCHARGE, recordId: 'r-1' };

    it('honours the validity bounds: validFrom ≤ t < validUntil', () => {
      expect(decideConsent([base], q, 99)).to.deep.equal({ decision: 'DENY', reason: 'NOT_YET_VALID', grantId: base.grantId });
      expect(decideConsent([base], q, 100).decision).to.equal('PERMIT');
      expect(decideConsent([base], q, 199).decision).to.equal('PERMIT');
      expect(decideConsent([base], q, 200).reason).to.equal('EXPIRED');
    });

    it('between an expired and a revoked grant, names the more recent one', () => {
      const expired = { ...base, grantId: id('a'), grantedAt: '2026-01-02T00:00:00.000Z' };
      const revoked = { ...base, grantId: id('b'), status: 'revoked' as const, validUntil: 10_000, grantedAt: '2026-01-01T00:00:00.000Z' };
      expect(decideConsent([revoked, expired], q, 300)).to.include({ reason: 'EXPIRED', grantId: expired.grantId });
      expect(decideConsent([{ ...expired, grantedAt: '2025-12-31T00:00:00.000Z' }, revoked], q, 300)).to.include({ reason: 'REVOKED' });
    });
  });
});

function sortDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortDeep);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortDeep((value as Record<string, unknown>)[k])]));
  }
  return value;
}
