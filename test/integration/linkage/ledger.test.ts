/**
 * Research linkage on the real network (issue 19), the ledger side: two hospitals asked to link, a
 * third hospital no request asks, a sponsor and a linkage institution on Fabric 3.1.5
 * (test/integration/linkage/consortium.json). Driven as each
 * organisation's gateway identity through the gateways' own ledger client (gateway/src/fabric/client.ts),
 * and, for the refusals, as each organisation's admin through Fabric's own `peer` CLI with no
 * medprov client code in between.
 *
 * Patients are registered and grant research consent to the sponsor with real secp256k1 keys
 * (EIP-712, checked by the chaincode). Shown: the sponsor's request; each hospital's contribution
 * keeps only the candidates whose consent for the project is in force (absent, revoked, other
 * project, unregistered: excluded), every candidate in that patient's access log; refusals for
 * the wrong organisation types, a hospital the request does not ask, a second contribution, a record before every hospital
 * contributed, counts beyond what was included, a second record, a contribution after the
 * outcome — each writing nothing; a withdrawal excludes the patient from the project's next
 * linkage; the ledger's linkage records hold counts and hashes, no patientRef.
 *
 * Not shown here (the consortium has one institution): an institution that is no party to a
 * request (LINKAGE_NOT_PARTY) — see test/unit/chaincode/linkage.test.ts.
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { Wallet } from 'ethers';
import { invokeChaincode, queryChaincode } from '../../../network/src/chaincode';
import { LedgerClient } from '../../../gateway/src/fabric/client';
import { LedgerError } from '../../../gateway/src/fabric/errors';
import { CONSENT_GRANT_TYPES, CONSENT_REVOKE_TYPES, REGISTER_PATIENT_TYPES, consentDomain, type ConsentGrantMessage } from '../../../chaincode/src/lib/eip712';
import type { ContributionOutcome, LinkageLogEntry, LinkageResult, LinkageView } from '../../../chaincode/src/lib/linkage-model';
import { refusalOf } from '../network/support/peer-cli';
import { linkageNetwork, stopLinkageNetwork, type LinkageNetwork } from './linkage-network';

after(async () => {
  await stopLinkageNetwork();
});

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const nonce = (): string => `0x${randomBytes(32).toString('hex')}`;
const DAY = 86_400;

describe('real network: research linkage on the ledger (requests, consented contributions, the institution’s record)', function () {
  this.timeout(600_000);
  const run = randomBytes(3).toString('hex');
  const PROJECT = `trial-${run}`;
  const OTHER_PROJECT = `other-${run}`;
  const PURPOSE = `research:${PROJECT}`;
  let net: LinkageNetwork;
  const ledgers: Record<string, LedgerClient> = {};
  let H1: string;
  let H2: string;
  let SP: string;
  let LI: string;

  const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8');
  const submit = async <T>(org: string, fn: string, ...args: string[]): Promise<T> => JSON.parse(text((await ledgers[org].submit(fn, ...args)).result)) as T;
  const evaluate = async <T>(org: string, fn: string, ...args: string[]): Promise<T> => JSON.parse(text(await ledgers[org].evaluate(fn, ...args))) as T;
  /** A refusal through the gateways' ledger client: the chaincode's code. */
  const refusedCode = async (call: Promise<unknown>): Promise<string> => {
    try {
      await call;
    } catch (err) {
      if (err instanceof LedgerError) return err.code;
      throw err;
    }
    throw new Error('the call was expected to be refused, but it succeeded');
  };
  /**
   * Runs `check` on what `probe` reads until it passes (60 s at most): a read at another org's
   * peer than the one that committed may be a block behind for a moment.
   */
  const settled = async <T>(probe: () => Promise<T>, check: (value: T) => void): Promise<T> => {
    for (let i = 0; ; i++) {
      const value = await probe();
      try {
        check(value);
        return value;
      } catch (err) {
        if (i >= 240) throw err;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  /** The linkage as one org's peer has it (the org that wrote last: its peer has committed that write when the submit returns). */
  const readLinkage = (requestId: string, org: string) => evaluate<LinkageView>(org, 'Linkage:readLinkage', requestId);
  /** Waits until `org`'s peer has the request with `awaiting` hospitals still to contribute (before `org` acts on another org's write). */
  const awaitingAt = (org: string, requestId: string, awaiting: string[]) =>
    settled(() => readLinkage(requestId, org).catch(() => undefined), (v) => expect(v?.awaiting, `${requestId} at ${org}`).to.deep.equal(awaiting));
  /** A patient's access log, read at the patient's hospital's peer (the writer of every entry here). */
  const accessLog = (hospital: string, patientRef: string) => evaluate<LinkageLogEntry[]>(net.network.organisation(hospital).name, 'Access:listAccessLog', hospital, patientRef);
  const linkageEntries = async (hospital: string, patientRef: string) => (await accessLog(hospital, patientRef)).filter((e) => e.kind === 'linkage');

  /** A patient with a key of its own for one hospital: registered there (as the hospital's gateway would), granting and revoking with signatures. */
  class Patient {
    readonly wallet = Wallet.createRandom();
    constructor(
      readonly org: string,
      readonly patientRef: string,
    ) {}
    get hospital(): string {
      return net.mspId(this.org);
    }
    async register(): Promise<void> {
      const message = { hospital: this.hospital, patientRef: this.patientRef, nonce: nonce() };
      const signature = await this.wallet.signTypedData(consentDomain(net.network.channel), REGISTER_PATIENT_TYPES, message);
      await submit(this.org, 'Consent:registerPatient', JSON.stringify({ message, signature, patient: this.wallet.address }));
    }
    async grant(purpose = PURPOSE): Promise<string> {
      const message: ConsentGrantMessage = {
        hospital: this.hospital,
        patientRef: this.patientRef,
        grantee: SP,
        purpose,
        categories: ['loinc:18842-5'],
        recordIds: [],
        validFrom: Math.floor(Date.now() / 1000) - 60,
        validUntil: Math.floor(Date.now() / 1000) + 30 * DAY,
        nonce: nonce(),
      };
      const signature = await this.wallet.signTypedData(consentDomain(net.network.channel), CONSENT_GRANT_TYPES, message);
      // Any member's gateway will do (the signature is what counts): the hospital's, so that its peer, which endorses its contributions, has it when the submit returns.
      return (await submit<{ grant: { grantId: string } }>(this.org, 'Consent:grantConsent', JSON.stringify({ message, signature }))).grant.grantId;
    }
    async revoke(grantId: string): Promise<void> {
      const message = { hospital: this.hospital, patientRef: this.patientRef, grantId, nonce: nonce() };
      const signature = await this.wallet.signTypedData(consentDomain(net.network.channel), CONSENT_REVOKE_TYPES, message);
      await submit(this.org, 'Consent:revokeConsent', JSON.stringify({ message, signature }));
    }
  }

  // Hospital: A consents to the project, B registered without a grant, C granted then revoked,
  // D consents to another project only, U is not registered. Hospital2: A2 (the same person as A) consents, E2 does not.
  let A: Patient;
  let B: Patient;
  let C: Patient;
  let D: Patient;
  let A2: Patient;
  let E2: Patient;
  const U = sha(`unregistered ${run}`);
  let aGrant: string;

  const request = (requestId: string, over: Record<string, unknown> = {}) =>
    JSON.stringify({ requestId, projectId: PROJECT, hospitals: [H1, H2], institution: LI, quasiIdentifiers: ['birthYear', 'sex', 'region'], k: 2, ...over });
  const contribution = (requestId: string, patients: readonly (Patient | string)[]) =>
    JSON.stringify({ requestId, patientRefs: patients.map((p) => (typeof p === 'string' ? p : p.patientRef)) });
  const result = (requestId: string, counts: [number, number], over: Record<string, unknown> = {}) =>
    JSON.stringify({
      requestId,
      perHospital: { [H1]: { count: counts[0], tokenSetHash: sha(`h1 ${requestId}`) }, [H2]: { count: counts[1], tokenSetHash: sha(`h2 ${requestId}`) } },
      linkedSubjects: Math.min(...counts),
      releaseHash: sha(`release ${requestId}`),
      status: 'released',
      ...over,
    });

  before(async () => {
    net = await linkageNetwork();
    [H1, H2, SP, LI] = ['Hospital', 'Hospital2', 'Sponsor', 'Linkage'].map((o) => net.mspId(o));
    for (const org of ['Hospital', 'Hospital2', 'Hospital3', 'Sponsor', 'Linkage']) ledgers[org] = await LedgerClient.connect(net.network.gatewaySettings(org).fabric);
    A = new Patient('Hospital', sha(`A ${run}`));
    B = new Patient('Hospital', sha(`B ${run}`));
    C = new Patient('Hospital', sha(`C ${run}`));
    D = new Patient('Hospital', sha(`D ${run}`));
    A2 = new Patient('Hospital2', sha(`A2 ${run}`));
    E2 = new Patient('Hospital2', sha(`E2 ${run}`));
    await Promise.all([A, B, C, D, A2, E2].map((p) => p.register()));
    aGrant = await A.grant();
    const cGrant = await C.grant();
    await Promise.all([C.revoke(cGrant), D.grant(`research:${OTHER_PROJECT}`), A2.grant()]);
  });

  after(() => {
    for (const ledger of Object.values(ledgers)) ledger.close();
  });

  it('a sponsor requests a linkage; a hospital or the institution may not, nor may a request name a non-hospital or a non-institution (nothing written)', async () => {
    // Refused by the chaincode itself, as each org's admin through the peer CLI.
    expect((await refusalOf(invokeChaincode(net.network, 'Hospital', 'Linkage:requestLinkage', [request(`bad-h-${run}`)]))).code).to.equal('FORBIDDEN_ORG_TYPE');
    expect((await refusalOf(invokeChaincode(net.network, 'Linkage', 'Linkage:requestLinkage', [request(`bad-l-${run}`)]))).code).to.equal('FORBIDDEN_ORG_TYPE');
    expect(await refusedCode(submit('Sponsor', 'Linkage:requestLinkage', request(`bad-s1-${run}`, { hospitals: [H1, SP] })))).to.equal('INVALID_ARGUMENT');
    expect(await refusedCode(submit('Sponsor', 'Linkage:requestLinkage', request(`bad-s2-${run}`, { institution: SP })))).to.equal('INVALID_ARGUMENT');
    expect(await refusedCode(submit('Sponsor', 'Linkage:requestLinkage', request(`bad-s3-${run}`, { k: 1 })))).to.equal('INVALID_ARGUMENT');
    for (const id of ['bad-h', 'bad-l', 'bad-s1', 'bad-s2', 'bad-s3']) expect(await refusedCode(readLinkage(`${id}-${run}`, 'Sponsor'))).to.equal('LINKAGE_NOT_FOUND');

    const created = await submit<{ request: Record<string, unknown>; created: boolean }>('Sponsor', 'Linkage:requestLinkage', request(`lr1-${run}`));
    expect(created.created).to.equal(true);
    expect(created.request).to.include({ requestId: `lr1-${run}`, projectId: PROJECT, purpose: PURPOSE, sponsor: SP, institution: LI, k: 2 });
    // Every org's peer has it (read here at Hospital2's and, through the peer CLI, at the institution's).
    expect(await readLinkage(`lr1-${run}`, 'Sponsor')).to.deep.include({ status: 'open', awaiting: [H1, H2], contributions: [] });
    await settled(() => readLinkage(`lr1-${run}`, 'Hospital2'), (view) => expect(view).to.deep.include({ status: 'open', awaiting: [H1, H2], contributions: [] }));
    expect(JSON.parse(await queryChaincode(net.network, 'Linkage', 'Linkage:readLinkage', [`lr1-${run}`])).request.sponsor).to.equal(SP);
    // The same request again is answered from the ledger.
    expect((await submit<{ created: boolean }>('Sponsor', 'Linkage:requestLinkage', request(`lr1-${run}`))).created).to.equal(false);
  });

  it('a listed hospital contributes once: only candidates with research consent for the project in force are included, every candidate is in its access log', async () => {
    const id = `lr1-${run}`;
    expect((await refusalOf(invokeChaincode(net.network, 'Sponsor', 'Linkage:contribute', [contribution(id, [A])]))).code).to.equal('FORBIDDEN_ORG_TYPE');
    expect((await refusalOf(invokeChaincode(net.network, 'Linkage', 'Linkage:contribute', [contribution(id, [A])]))).code).to.equal('FORBIDDEN_ORG_TYPE');
    expect(await refusedCode(submit('Hospital', 'Linkage:contribute', contribution(`nope-${run}`, [A])))).to.equal('LINKAGE_NOT_FOUND');
    // A hospital the request does not ask, through its gateway identity and as its admin.
    await awaitingAt('Hospital3', id, [H1, H2]);
    expect(await refusedCode(submit('Hospital3', 'Linkage:contribute', contribution(id, [sha(`h3 ${run}`)])))).to.equal('LINKAGE_NOT_PARTY');
    expect((await refusalOf(invokeChaincode(net.network, 'Hospital3', 'Linkage:contribute', [contribution(id, [sha(`h3 ${run}`)])]))).code).to.equal('LINKAGE_NOT_PARTY');
    expect((await readLinkage(id, 'Hospital3')).contributions, 'nothing stored by a non-party').to.deep.equal([]);
    expect(await linkageEntries(H1, A.patientRef), 'nothing logged by a refusal').to.deep.equal([]);

    await awaitingAt('Hospital', id, [H1, H2]);
    const outcome = await submit<ContributionOutcome>('Hospital', 'Linkage:contribute', contribution(id, [A, B, C, D, U]));
    expect(outcome.included).to.deep.equal([A.patientRef]);
    expect(outcome.excluded).to.deep.equal([
      { patientRef: B.patientRef, reason: 'NO_CONSENT' },
      { patientRef: C.patientRef, reason: 'REVOKED' },
      { patientRef: D.patientRef, reason: 'NO_CONSENT' },
      { patientRef: U, reason: 'PATIENT_NOT_REGISTERED' },
    ]);
    expect(outcome.contribution).to.include({ requestId: id, hospital: H1, candidates: 5, included: 1 });

    // The same access log the patient lists: one linkage entry per candidate, with the decision.
    const [a] = await linkageEntries(H1, A.patientRef);
    expect(a).to.include({ kind: 'linkage', requestId: id, accessor: SP, disclosedBy: H1, purpose: PURPOSE, decision: 'PERMIT', grantId: aGrant, txId: outcome.contribution.txId });
    expect((await linkageEntries(H1, B.patientRef)).map((e) => e.decision)).to.deep.equal(['NO_CONSENT']);
    expect((await linkageEntries(H1, C.patientRef)).map((e) => [e.decision, e.reason])).to.deep.equal([['DENY', 'REVOKED']]);
    expect((await linkageEntries(H1, D.patientRef)).map((e) => [e.decision, e.purpose])).to.deep.equal([['NO_CONSENT', PURPOSE]]);
    expect((await linkageEntries(H1, U)).map((e) => [e.decision, e.reason])).to.deep.equal([['NO_CONSENT', undefined]]);

    // Once per hospital per request; the refusal logs nothing.
    expect((await refusalOf(invokeChaincode(net.network, 'Hospital', 'Linkage:contribute', [contribution(id, [B])]))).code).to.equal('LINKAGE_ALREADY_CONTRIBUTED');
    expect(await linkageEntries(H1, B.patientRef)).to.have.length(1);
    expect(await readLinkage(id, 'Hospital')).to.deep.include({ status: 'open', awaiting: [H2] });
  });

  it('only the institution records, only after every listed hospital contributed, counts within what was included, once', async () => {
    const id = `lr1-${run}`;
    expect(await refusedCode(submit('Linkage', 'Linkage:recordLinkage', result(id, [1, 0])))).to.equal('LINKAGE_INCOMPLETE');

    const h2 = await submit<ContributionOutcome>('Hospital2', 'Linkage:contribute', contribution(id, [A2, E2]));
    expect(h2.included).to.deep.equal([A2.patientRef]);
    expect(h2.excluded).to.deep.equal([{ patientRef: E2.patientRef, reason: 'NO_CONSENT' }]);
    expect((await linkageEntries(H2, A2.patientRef)).map((e) => [e.decision, e.requestId])).to.deep.equal([['PERMIT', id]]);

    expect((await refusalOf(invokeChaincode(net.network, 'Hospital', 'Linkage:recordLinkage', [result(id, [1, 1])]))).code).to.equal('FORBIDDEN_ORG_TYPE');
    expect((await refusalOf(invokeChaincode(net.network, 'Sponsor', 'Linkage:recordLinkage', [result(id, [1, 1])]))).code).to.equal('FORBIDDEN_ORG_TYPE');
    await awaitingAt('Linkage', id, []);
    expect(await refusedCode(submit('Linkage', 'Linkage:recordLinkage', result(id, [2, 1])))).to.equal('INVALID_ARGUMENT');
    expect((await readLinkage(id, 'Hospital2')).status, 'nothing recorded by the refusals').to.equal('open');

    const recorded = await submit<LinkageResult>('Linkage', 'Linkage:recordLinkage', result(id, [1, 1]));
    expect(recorded).to.include({ requestId: id, institution: LI, linkedSubjects: 1, status: 'released', releaseHash: sha(`release ${id}`) });
    const view = await readLinkage(id, 'Linkage');
    expect(view.status).to.equal('released');
    expect(view.result).to.deep.equal(recorded);
    expect(view.contributions.map((c) => [c.hospital, c.candidates, c.included])).to.deep.equal([
      [H1, 5, 1],
      [H2, 2, 1],
    ]);

    expect((await refusalOf(invokeChaincode(net.network, 'Linkage', 'Linkage:recordLinkage', [result(id, [0, 0])]))).code).to.equal('LINKAGE_CLOSED');
    expect(await refusedCode(submit('Hospital', 'Linkage:contribute', contribution(id, [B])))).to.equal('LINKAGE_CLOSED');
    expect((await readLinkage(id, 'Linkage')).result).to.deep.equal(recorded);
    // Every org's peer has the same record.
    for (const org of ['Hospital', 'Hospital2', 'Sponsor']) await settled(() => readLinkage(id, org), (v) => expect(v.result, org).to.deep.equal(recorded));
  });

  it('a patient who withdraws research consent is excluded from the project’s next linkage; a refused release is recorded with its report', async () => {
    await A.revoke(aGrant);
    const id = `lr2-${run}`;
    await submit('Sponsor', 'Linkage:requestLinkage', request(id));
    await awaitingAt('Hospital', id, [H1, H2]);
    const h1 = await submit<ContributionOutcome>('Hospital', 'Linkage:contribute', contribution(id, [A, B]));
    expect(h1.included).to.deep.equal([]);
    expect(h1.excluded).to.deep.equal([
      { patientRef: A.patientRef, reason: 'REVOKED' },
      { patientRef: B.patientRef, reason: 'NO_CONSENT' },
    ]);
    // A's log: permitted for the first linkage, denied for the second.
    await settled(
      () => linkageEntries(H1, A.patientRef),
      (entries) =>
        expect(entries.map((e) => [e.requestId, e.decision])).to.deep.equal([
          [`lr1-${run}`, 'PERMIT'],
          [id, 'DENY'],
        ]),
    );
    await awaitingAt('Hospital2', id, [H2]);
    await submit('Hospital2', 'Linkage:contribute', contribution(id, [A2]));
    await awaitingAt('Linkage', id, []);
    const refusedRelease = await submit<LinkageResult>('Linkage', 'Linkage:recordLinkage', result(id, [0, 1], { linkedSubjects: 0, status: 'refused', refusal: { code: 'K_ANONYMITY_NOT_MET', k: 2, smallestClass: 0 } }));
    expect(refusedRelease).to.deep.include({ status: 'refused', refusal: { code: 'K_ANONYMITY_NOT_MET', k: 2, smallestClass: 0 } });
  });

  it('two hospitals contributing at the same moment both commit (each writes only keys of its own)', async () => {
    const id = `lr3-${run}`;
    await submit('Sponsor', 'Linkage:requestLinkage', request(id, { projectId: OTHER_PROJECT }));
    await awaitingAt('Hospital', id, [H1, H2]);
    await awaitingAt('Hospital2', id, [H1, H2]);
    const [h1, h2] = await Promise.all([
      submit<ContributionOutcome>('Hospital', 'Linkage:contribute', contribution(id, [D, B])),
      submit<ContributionOutcome>('Hospital2', 'Linkage:contribute', contribution(id, [E2])),
    ]);
    // D consented to this other project; nobody else did.
    expect([h1.included, h2.included]).to.deep.equal([[D.patientRef], []]);
    await awaitingAt('Linkage', id, []);
  });

  it('the ledger’s linkage records carry counts and hashes only: no candidate’s patientRef (canary)', async () => {
    const views = await settled(
      () => evaluate<LinkageView[]>('Sponsor', 'Linkage:listLinkages', PROJECT),
      (v) =>
        expect(v.map((x) => [x.request.requestId, x.status])).to.deep.equal([
          [`lr1-${run}`, 'released'],
          [`lr2-${run}`, 'refused'],
        ]),
    );
    const listed = JSON.stringify(views);
    for (const ref of [A, B, C, D, A2, E2].map((p) => p.patientRef).concat(U)) expect(listed).not.to.include(ref);
    const other = await evaluate<LinkageView[]>('Linkage', 'Linkage:listLinkages', OTHER_PROJECT);
    expect(other.map((v) => [v.request.requestId, v.status, v.contributions.map((c) => c.included)])).to.deep.equal([[`lr3-${run}`, 'open', [1, 0]]]);
    expect(JSON.stringify(other)).not.to.include(D.patientRef);
  });
});
