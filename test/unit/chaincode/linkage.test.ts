import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { HDNodeWallet, Mnemonic, id, type TypedDataField } from 'ethers';
import { AccessContract, ConsentContract, IdentityContract, LinkageContract } from '../../../chaincode/src';
import {
  decideLinkageConsent,
  LINKAGE_CONTRIBUTED_EVENT,
  LINKAGE_RECORDED_EVENT,
  LINKAGE_REQUESTED_EVENT,
  MAX_LINKAGE_CANDIDATES,
  type ContributionOutcome,
  type LinkageLogEntry,
  type LinkageView,
} from '../../../chaincode/src/contracts/linkage';
import type { ConsentGrant } from '../../../chaincode/src/lib/consent-model';
import { CONSENT_GRANT_TYPES, CONSENT_REVOKE_TYPES, REGISTER_PATIENT_TYPES, consentDomain, type ConsentGrantMessage } from '../../../chaincode/src/lib/eip712';
import { FakeLedger } from './fake-ledger';
import { DAY, DISCHARGE, HOSPITAL, HOSPITAL2, INSURER, SPONSOR, expectCode } from './fixtures';

const LINKAGE = 'LinkageMSP';
const HOSPITAL3 = 'Hospital3MSP';
const SPONSOR2 = 'Sponsor2MSP';
const CONSORTIUM = JSON.stringify({
  organisations: [
    { mspId: HOSPITAL, type: 'hospital' },
    { mspId: HOSPITAL2, type: 'hospital' },
    { mspId: HOSPITAL3, type: 'hospital' },
    { mspId: INSURER, type: 'insurer' },
    { mspId: SPONSOR, type: 'sponsor' },
    { mspId: SPONSOR2, type: 'sponsor' },
    { mspId: LINKAGE, type: 'linkage' },
  ],
});
const PROJECT = 'trial-77';
const PURPOSE = `research:${PROJECT}`;
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const SEED = Mnemonic.fromPhrase('test test test test test test test test test test test junk');
let nonceCounter = 0;
const freshNonce = (): string => id(`linkage nonce ${++nonceCounter}`);

/** Issue 19: research linkage on the ledger — request, consent-checked contributions, the institution's record. */
describe('chaincode: Linkage (consented research linkage)', () => {
  const linkage = new LinkageContract();
  const consent = new ConsentContract();
  const access = new AccessContract();
  let ledger: FakeLedger;
  let walletIndex = 0;
  const json = async <T = unknown>(p: Promise<string>): Promise<T> => JSON.parse(await p) as T;

  /** A patient registered at `hospital` under `patientRef`, with a key of its own; returns a signer for grants. */
  async function patientAt(hospital: string, patientRef: string): Promise<{ grant(over?: Partial<ConsentGrantMessage>): Promise<ConsentGrant>; revoke(grantId: string): Promise<void> }> {
    const wallet = HDNodeWallet.fromMnemonic(SEED, `m/44'/60'/0'/0/${++walletIndex}`);
    const sign = <M extends object>(types: Record<string, TypedDataField[]>, message: M) => wallet.signTypedData(consentDomain('medprov'), types, message);
    const message = { hospital, patientRef, nonce: freshNonce() };
    await ledger.invoke(hospital, consent, 'registerPatient', JSON.stringify({ message, signature: await sign(REGISTER_PATIENT_TYPES, message), patient: wallet.address }));
    return {
      async grant(over = {}) {
        const m: ConsentGrantMessage = { hospital, patientRef, grantee: SPONSOR, purpose: PURPOSE, categories: [DISCHARGE], recordIds: [], validFrom: ledger.now, validUntil: ledger.now + 30 * DAY, nonce: freshNonce(), ...over };
        return (await json<{ grant: ConsentGrant }>(ledger.invoke(SPONSOR, consent, 'grantConsent', JSON.stringify({ message: m, signature: await sign(CONSENT_GRANT_TYPES, m) })))).grant;
      },
      async revoke(grantId) {
        const m = { hospital, patientRef, grantId, nonce: freshNonce() };
        await ledger.invoke(SPONSOR, consent, 'revokeConsent', JSON.stringify({ message: m, signature: await sign(CONSENT_REVOKE_TYPES, m) }));
      },
    };
  }

  const request = (over: Record<string, unknown> = {}) =>
    JSON.stringify({ requestId: 'lr-1', projectId: PROJECT, hospitals: [HOSPITAL, HOSPITAL2], institution: LINKAGE, quasiIdentifiers: ['birthYear', 'sex'], k: 2, ...over });
  const contribute = (msp: string, patientRefs: string[], requestId = 'lr-1') => json<ContributionOutcome>(ledger.invoke(msp, linkage, 'contribute', JSON.stringify({ requestId, patientRefs })));
  const read = (requestId = 'lr-1') => json<LinkageView>(ledger.query(INSURER, linkage, 'readLinkage', requestId));
  const result = (over: Record<string, unknown> = {}) =>
    JSON.stringify({
      requestId: 'lr-1',
      perHospital: { [HOSPITAL]: { count: 1, tokenSetHash: sha('h1 tokens') }, [HOSPITAL2]: { count: 1, tokenSetHash: sha('h2 tokens') } },
      linkedSubjects: 1,
      releaseHash: sha('release'),
      status: 'released',
      ...over,
    });
  const logOf = async (hospital: string, patientRef: string) => json<LinkageLogEntry[]>(ledger.query(INSURER, access, 'listAccessLog', hospital, patientRef));

  /** Runs the call, expects the code, and checks that nothing was written. */
  async function refused(promise: Promise<unknown>, code: string, fragment?: string): Promise<void> {
    const writes = ledger.writeCount;
    const committed = ledger.committed.length;
    await expectCode(promise, code, fragment);
    expect(ledger.writeCount, 'nothing written').to.equal(writes);
    expect(ledger.committed.length, 'nothing committed').to.equal(committed);
  }

  const A = sha('h1 patient A'); // consents
  const B = sha('h1 patient B'); // registered, no grant
  const C = sha('h1 patient C'); // consent revoked
  const U = sha('h1 unregistered');
  const A2 = sha('h2 patient A'); // the same person as A at Hospital2, consents

  beforeEach(async () => {
    ledger = new FakeLedger();
    walletIndex = 0;
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
  });

  it('request → contributions (consent in force, absent, revoked, unregistered) → the institution records → readLinkage shows it all, with no patientRef', async () => {
    const a = await patientAt(HOSPITAL, A);
    await a.grant();
    await patientAt(HOSPITAL, B);
    const c = await patientAt(HOSPITAL, C);
    const cGrant = await c.grant();
    await c.revoke(cGrant.grantId);
    const a2 = await patientAt(HOSPITAL2, A2);
    await a2.grant({ hospital: HOSPITAL2 });

    const requested = await json<{ request: Record<string, unknown>; created: boolean }>(ledger.invoke(SPONSOR, linkage, 'requestLinkage', request()));
    expect(requested.created).to.equal(true);
    expect(requested.request).to.include({ requestId: 'lr-1', projectId: PROJECT, purpose: PURPOSE, sponsor: SPONSOR, institution: LINKAGE, k: 2 });
    expect(ledger.lastEvent()?.name).to.equal(LINKAGE_REQUESTED_EVENT);
    const requestTx = ledger.committed[ledger.committed.length - 1]!;
    expect([...requestTx.validationParameters.keys()]).to.have.length(1);

    const h1 = await contribute(HOSPITAL, [A, B, C, U]);
    expect(h1.included).to.deep.equal([A]);
    expect(h1.excluded).to.deep.equal([
      { patientRef: B, reason: 'NO_CONSENT' },
      { patientRef: C, reason: 'REVOKED' },
      { patientRef: U, reason: 'PATIENT_NOT_REGISTERED' },
    ]);
    expect(h1.contribution).to.include({ requestId: 'lr-1', hospital: HOSPITAL, candidates: 4, included: 1 });
    expect(ledger.lastEvent()).to.deep.equal({ name: LINKAGE_CONTRIBUTED_EVENT, payload: h1.contribution });

    // Every candidate is in its own access log, permitted or not, under the project's purpose.
    const [entryA] = await logOf(HOSPITAL, A);
    expect(entryA).to.include({ kind: 'linkage', accessor: SPONSOR, disclosedBy: HOSPITAL, requestId: 'lr-1', purpose: PURPOSE, decision: 'PERMIT', recordId: 'linkage:lr-1', version: 0 });
    expect(entryA.grantId).to.be.a('string');
    expect((await logOf(HOSPITAL, B))[0]).to.include({ kind: 'linkage', decision: 'NO_CONSENT' });
    expect((await logOf(HOSPITAL, C))[0]).to.include({ kind: 'linkage', decision: 'DENY', reason: 'REVOKED', grantId: cGrant.grantId });
    expect((await logOf(HOSPITAL, U))[0]).to.include({ kind: 'linkage', decision: 'NO_CONSENT' }).and.not.to.have.property('reason');

    // The institution cannot record before every listed hospital contributed.
    await refused(ledger.invoke(LINKAGE, linkage, 'recordLinkage', result()), 'LINKAGE_INCOMPLETE', HOSPITAL2);
    expect(await read()).to.deep.include({ status: 'open', awaiting: [HOSPITAL2] });

    const h2 = await contribute(HOSPITAL2, [A2]);
    expect(h2.included).to.deep.equal([A2]);

    const recorded = await json<Record<string, unknown>>(ledger.invoke(LINKAGE, linkage, 'recordLinkage', result()));
    expect(recorded).to.include({ requestId: 'lr-1', institution: LINKAGE, linkedSubjects: 1, status: 'released', releaseHash: sha('release') });
    expect(ledger.lastEvent()).to.deep.equal({ name: LINKAGE_RECORDED_EVENT, payload: recorded });

    const view = await read();
    expect(view.status).to.equal('released');
    expect(view.awaiting).to.deep.equal([]);
    expect(view.contributions.map((x) => [x.hospital, x.candidates, x.included])).to.deep.equal([
      [HOSPITAL, 4, 1],
      [HOSPITAL2, 1, 1],
    ]);
    // The linkage's own records hold counts and hashes: none of the candidates' pseudonyms.
    const stored = [...ledger.state.entries()].filter(([k]) => k.includes('medprov.linkage')).map(([, v]) => Buffer.from(v).toString('utf8'));
    expect(stored).to.have.length(4);
    for (const ref of [A, B, C, U, A2]) for (const s of stored) expect(s).not.to.include(ref);
    expect(JSON.stringify(await json(ledger.query(SPONSOR, linkage, 'listLinkages', PROJECT)))).not.to.include(A);

    // Once recorded, closed: no more contributions, no second record.
    await refused(ledger.invoke(LINKAGE, linkage, 'recordLinkage', result()), 'LINKAGE_CLOSED');
  });

  it('records a refused release with its report', async () => {
    await ledger.invoke(SPONSOR, linkage, 'requestLinkage', request());
    await contribute(HOSPITAL, [A]);
    await contribute(HOSPITAL2, [A2]);
    const perHospital = { [HOSPITAL]: { count: 0, tokenSetHash: sha('') }, [HOSPITAL2]: { count: 0, tokenSetHash: sha('') } };
    await refused(ledger.invoke(LINKAGE, linkage, 'recordLinkage', result({ perHospital, linkedSubjects: 0, status: 'refused' })), 'INVALID_ARGUMENT', 'refusal');
    await refused(
      ledger.invoke(LINKAGE, linkage, 'recordLinkage', result({ perHospital, linkedSubjects: 0, refusal: { code: 'K_ANONYMITY_NOT_MET', k: 2, smallestClass: 1 } })),
      'INVALID_ARGUMENT',
      'only when',
    );
    const out = await json<Record<string, unknown>>(
      ledger.invoke(LINKAGE, linkage, 'recordLinkage', result({ perHospital, linkedSubjects: 0, status: 'refused', refusal: { code: 'K_ANONYMITY_NOT_MET', k: 2, smallestClass: 1 } })),
    );
    expect(out).to.deep.include({ status: 'refused', refusal: { code: 'K_ANONYMITY_NOT_MET', k: 2, smallestClass: 1 } });
    expect((await read()).status).to.equal('refused');
  });

  it('refuses the wrong organisation types and non-parties, writing nothing', async () => {
    await refused(ledger.invoke(HOSPITAL, linkage, 'requestLinkage', request()), 'FORBIDDEN_ORG_TYPE');
    await refused(ledger.invoke(LINKAGE, linkage, 'requestLinkage', request()), 'FORBIDDEN_ORG_TYPE');
    await refused(ledger.invoke(SPONSOR, linkage, 'requestLinkage', request({ hospitals: [HOSPITAL, INSURER] })), 'INVALID_ARGUMENT', 'not a hospital');
    await refused(ledger.invoke(SPONSOR, linkage, 'requestLinkage', request({ hospitals: [HOSPITAL, 'NobodyMSP'] })), 'ORG_NOT_IN_CONSORTIUM');
    await refused(ledger.invoke(SPONSOR, linkage, 'requestLinkage', request({ institution: SPONSOR2 })), 'INVALID_ARGUMENT', 'not a linkage institution');
    await ledger.invoke(SPONSOR, linkage, 'requestLinkage', request());

    await refused(ledger.invoke(SPONSOR, linkage, 'contribute', JSON.stringify({ requestId: 'lr-1', patientRefs: [A] })), 'FORBIDDEN_ORG_TYPE');
    await refused(ledger.invoke(LINKAGE, linkage, 'contribute', JSON.stringify({ requestId: 'lr-1', patientRefs: [A] })), 'FORBIDDEN_ORG_TYPE');
    await refused(ledger.invoke(HOSPITAL3, linkage, 'contribute', JSON.stringify({ requestId: 'lr-1', patientRefs: [A] })), 'LINKAGE_NOT_PARTY');
    await refused(ledger.invoke(HOSPITAL, linkage, 'contribute', JSON.stringify({ requestId: 'lr-nope', patientRefs: [A] })), 'LINKAGE_NOT_FOUND');
    await contribute(HOSPITAL, [A]);
    await refused(ledger.invoke(HOSPITAL, linkage, 'contribute', JSON.stringify({ requestId: 'lr-1', patientRefs: [B] })), 'LINKAGE_ALREADY_CONTRIBUTED');
    await contribute(HOSPITAL2, [A2]);

    await refused(ledger.invoke(HOSPITAL, linkage, 'recordLinkage', result()), 'FORBIDDEN_ORG_TYPE');
    await refused(ledger.invoke(SPONSOR, linkage, 'recordLinkage', result()), 'FORBIDDEN_ORG_TYPE');
  });

  it('only the institution named in the request records it', async () => {
    const withTwo = JSON.stringify({ organisations: [...JSON.parse(CONSORTIUM).organisations, { mspId: 'Linkage2MSP', type: 'linkage' }] });
    ledger = new FakeLedger();
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', withTwo);
    await ledger.invoke(SPONSOR, linkage, 'requestLinkage', request());
    await contribute(HOSPITAL, [A]);
    await contribute(HOSPITAL2, [A2]);
    const none = { [HOSPITAL]: { count: 0, tokenSetHash: sha('a') }, [HOSPITAL2]: { count: 0, tokenSetHash: sha('b') } };
    await refused(ledger.invoke('Linkage2MSP', linkage, 'recordLinkage', result({ perHospital: none, linkedSubjects: 0 })), 'LINKAGE_NOT_PARTY', LINKAGE);
    await ledger.invoke(LINKAGE, linkage, 'recordLinkage', result({ perHospital: none, linkedSubjects: 0 }));
  });

  it('a request once closed takes no contribution', async () => {
    await ledger.invoke(SPONSOR, linkage, 'requestLinkage', request({ hospitals: [HOSPITAL, HOSPITAL2, HOSPITAL3] }));
    await contribute(HOSPITAL, [A]);
    await contribute(HOSPITAL2, [A2]);
    await refused(ledger.invoke(LINKAGE, linkage, 'recordLinkage', result()), 'LINKAGE_INCOMPLETE', HOSPITAL3);
    await contribute(HOSPITAL3, [sha('h3 x')]);
    const perHospital = { [HOSPITAL]: { count: 0, tokenSetHash: sha('a') }, [HOSPITAL2]: { count: 0, tokenSetHash: sha('b') }, [HOSPITAL3]: { count: 0, tokenSetHash: sha('c') } };
    await ledger.invoke(LINKAGE, linkage, 'recordLinkage', result({ perHospital, linkedSubjects: 0 }));
    // A contribution after the outcome (a fourth hospital would be a non-party; a listed one has contributed): closed.
    await refused(ledger.invoke(HOSPITAL, linkage, 'contribute', JSON.stringify({ requestId: 'lr-1', patientRefs: [B] })), 'LINKAGE_CLOSED');
  });

  it('validates every argument (counts no larger than what was included, exactly the listed hospitals, k, sizes)', async () => {
    await refused(ledger.invoke(SPONSOR, linkage, 'requestLinkage', request({ hospitals: [HOSPITAL] })), 'INVALID_ARGUMENT', 'at least 2');
    await refused(ledger.invoke(SPONSOR, linkage, 'requestLinkage', request({ hospitals: [HOSPITAL, HOSPITAL] })), 'INVALID_ARGUMENT', 'repeats');
    await refused(ledger.invoke(SPONSOR, linkage, 'requestLinkage', request({ k: 1 })), 'INVALID_ARGUMENT', 'request.k');
    await refused(ledger.invoke(SPONSOR, linkage, 'requestLinkage', request({ k: 2.5 })), 'INVALID_ARGUMENT', 'request.k');
    await refused(ledger.invoke(SPONSOR, linkage, 'requestLinkage', request({ projectId: 'trial 77' })), 'INVALID_ARGUMENT', 'projectId');
    await refused(ledger.invoke(SPONSOR, linkage, 'requestLinkage', request({ quasiIdentifiers: [] })), 'INVALID_ARGUMENT', 'quasiIdentifiers');
    await refused(ledger.invoke(SPONSOR, linkage, 'requestLinkage', request({ requestId: 'a\u0000b' })), 'INVALID_ARGUMENT');
    await refused(ledger.invoke(SPONSOR, linkage, 'requestLinkage', request({ extra: 1 })), 'UNKNOWN_FIELD');
    await refused(ledger.invoke(SPONSOR, linkage, 'requestLinkage', '{'), 'INVALID_JSON');

    await ledger.invoke(SPONSOR, linkage, 'requestLinkage', request());
    // The same request again is answered from the ledger; other terms under the id are refused.
    const again = await json<{ created: boolean }>(ledger.invoke(SPONSOR, linkage, 'requestLinkage', request()));
    expect(again.created).to.equal(false);
    await refused(ledger.invoke(SPONSOR, linkage, 'requestLinkage', request({ k: 5 })), 'LINKAGE_EXISTS');
    await refused(ledger.invoke(SPONSOR2, linkage, 'requestLinkage', request()), 'LINKAGE_EXISTS');

    await refused(contribute(HOSPITAL, []), 'INVALID_ARGUMENT', 'at least one');
    await refused(contribute(HOSPITAL, ['not-a-ref']), 'INVALID_ARGUMENT', 'patientRefs[0]');
    await refused(contribute(HOSPITAL, [A, A]), 'INVALID_ARGUMENT', 'repeats');
    await refused(contribute(HOSPITAL, Array.from({ length: MAX_LINKAGE_CANDIDATES + 1 }, (_, i) => sha(`c${i}`))), 'INVALID_ARGUMENT', `at most ${MAX_LINKAGE_CANDIDATES}`);

    await patientAt(HOSPITAL, A).then((p) => p.grant());
    await contribute(HOSPITAL, [A, B]);
    await contribute(HOSPITAL2, [A2]);
    // Hospital2 included nobody (A2 never consented): a count of 1 there cannot be.
    await refused(ledger.invoke(LINKAGE, linkage, 'recordLinkage', result()), 'INVALID_ARGUMENT', `perHospital.${HOSPITAL2}.count`);
    const zero2 = { [HOSPITAL]: { count: 1, tokenSetHash: sha('x') }, [HOSPITAL2]: { count: 0, tokenSetHash: sha('y') } };
    await refused(ledger.invoke(LINKAGE, linkage, 'recordLinkage', result({ perHospital: zero2 })), 'INVALID_ARGUMENT', 'linkedSubjects');
    await refused(ledger.invoke(LINKAGE, linkage, 'recordLinkage', result({ perHospital: { [HOSPITAL]: zero2[HOSPITAL] }, linkedSubjects: 0 })), 'INVALID_ARGUMENT', 'exactly');
    await refused(ledger.invoke(LINKAGE, linkage, 'recordLinkage', result({ perHospital: zero2, linkedSubjects: 0, releaseHash: 'x' })), 'INVALID_ARGUMENT', 'releaseHash');
    await refused(ledger.invoke(LINKAGE, linkage, 'recordLinkage', result({ perHospital: zero2, linkedSubjects: 0, status: 'maybe' })), 'INVALID_ARGUMENT', 'status');
    await refused(ledger.invoke(LINKAGE, linkage, 'recordLinkage', result({ perHospital: { ...zero2, [HOSPITAL]: { count: 1, tokenSetHash: 'nope' } }, linkedSubjects: 0 })), 'INVALID_ARGUMENT', 'tokenSetHash');
    await ledger.invoke(LINKAGE, linkage, 'recordLinkage', result({ perHospital: zero2, linkedSubjects: 0 }));
  });

  it('lists linkages by project', async () => {
    await ledger.invoke(SPONSOR, linkage, 'requestLinkage', request());
    await ledger.invoke(SPONSOR, linkage, 'requestLinkage', request({ requestId: 'lr-2', projectId: 'other-trial' }));
    const all = await json<LinkageView[]>(ledger.query(HOSPITAL, linkage, 'listLinkages', ''));
    expect(all.map((v) => v.request.requestId)).to.deep.equal(['lr-1', 'lr-2']);
    const one = await json<LinkageView[]>(ledger.query(HOSPITAL, linkage, 'listLinkages', 'other-trial'));
    expect(one.map((v) => [v.request.requestId, v.status, v.awaiting])).to.deep.equal([['lr-2', 'open', [HOSPITAL, HOSPITAL2]]]);
    await expectCode(ledger.query(HOSPITAL, linkage, 'readLinkage', 'lr-9'), 'LINKAGE_NOT_FOUND');
  });

  describe('decideLinkageConsent', () => {
    const g = (over: Partial<ConsentGrant>): ConsentGrant =>
      ({ grantId: '0x01', grantee: SPONSOR, purpose: PURPOSE, status: 'active', validFrom: 100, validUntil: 200, grantedAt: '2026-01-01T00:00:00.000Z', ...over }) as ConsentGrant;
    const q = { sponsor: SPONSOR, purpose: PURPOSE };
    it('permits a grant in force to the sponsor for the project, whatever its scope', () => {
      expect(decideLinkageConsent([g({ categories: [], recordIds: ['r-1'] })], q, 150)).to.deep.equal({ decision: 'PERMIT', grantId: '0x01' });
    });
    it('ignores grants to others or for other projects (NO_CONSENT), and says why a grant of its own does not count', () => {
      expect(decideLinkageConsent([g({ grantee: SPONSOR2 }), g({ purpose: 'research:other' })], q, 150)).to.deep.equal({ decision: 'NO_CONSENT' });
      expect(decideLinkageConsent([g({ status: 'revoked' })], q, 150)).to.include({ decision: 'DENY', reason: 'REVOKED' });
      expect(decideLinkageConsent([g({})], q, 200)).to.include({ decision: 'DENY', reason: 'EXPIRED' });
      expect(decideLinkageConsent([g({})], q, 99)).to.include({ decision: 'DENY', reason: 'NOT_YET_VALID' });
      // A revoked grant and a later one in force: the one in force wins.
      expect(decideLinkageConsent([g({ status: 'revoked' }), g({ grantId: '0x02', grantedAt: '2026-01-02T00:00:00.000Z' })], q, 150)).to.deep.equal({ decision: 'PERMIT', grantId: '0x02' });
    });
  });
});
