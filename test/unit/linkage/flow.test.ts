import { expect } from 'chai';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ristretto255_oprf } from '@noble/curves/ed25519.js';
import { HospitalLinkageService, type CohortEntry } from '../../../gateway/src/linkage/hospital';
import { LinkageInstitutionService, type Partner } from '../../../gateway/src/linkage/institution';
import type { InstitutionPort } from '../../../gateway/src/linkage/institution-client';
import { SponsorLinkageService } from '../../../gateway/src/linkage/sponsor';
import { blindInput, deriveProjectKey, evaluateBlinded, finalizeOutput } from '../../../gateway/src/linkage/oprf';
import { hospitalProjectKey, linkageInput, linkageToken } from '../../../gateway/src/linkage/tokens';
import { FakeLinkageLedger } from './fake-ledger';

const H1 = 'Hospital1MSP';
const H2 = 'Hospital2MSP';
const LI = 'LinkageMSP';
const SPONSOR = 'SponsorMSP';
const QI = ['ageBand', 'sex'];

/** Synthetic resident registration numbers (not valid ones). */
const rrn = (i: number) => `900101-${String(3000000 + i).padStart(7, '0')}`;
/** A hospital's patientRef: an HMAC of its own patient id, as the key store's are. */
const refOf = (hospital: string) => (patientId: string) => createHmac('sha256', hospital).update(patientId).digest('hex');

interface World {
  dir: string;
  ledger: FakeLinkageLedger;
  institution: LinkageInstitutionService;
  hospitals: Record<string, HospitalLinkageService>;
  sponsor: SponsorLinkageService;
  oprfSeed: Buffer;
  hospitalSecret: Buffer;
  /** Tokens as they reached the institution, by request. */
  sentTokens: Map<string, string[]>;
  consenting: Set<string>;
}

function world(): World {
  const dir = mkdtempSync(path.join(tmpdir(), 'medprov-linkage-'));
  const consenting = new Set<string>();
  const ledger = new FakeLinkageLedger((hospital, patientRef) => consenting.has(`${hospital}/${patientRef}`));
  const oprfSeed = randomBytes(32);
  const hospitalSecret = randomBytes(32);
  const institution = new LinkageInstitutionService({ mspId: LI, oprfSeed, ledger: ledger.as(LI), dir: path.join(dir, 'li'), ledgerWaitMs: 0 });
  const sentTokens = new Map<string, string[]>();
  const port = (partner: Partner): InstitutionPort => ({
    evaluate: async (requestId, blinded) => institution.evaluate(partner, requestId, blinded),
    contribute: async (requestId, entries) => {
      sentTokens.set(requestId, [...(sentTokens.get(requestId) ?? []), ...entries.map((e) => e.token)]);
      return institution.contribute(partner, requestId, JSON.parse(JSON.stringify(entries)));
    },
    release: (requestId) => institution.release(partner, requestId),
  });
  const hospital = (mspId: string) =>
    new HospitalLinkageService({ mspId, hospitalSecret, ledger: ledger.as(mspId), institution: port({ mspId, type: 'hospital' }), patientRef: refOf(mspId) });
  return {
    dir,
    ledger,
    institution,
    hospitals: { [H1]: hospital(H1), [H2]: hospital(H2) },
    sponsor: new SponsorLinkageService({ mspId: SPONSOR, ledger: ledger.as(SPONSOR), institution: { mspId: LI, port: port({ mspId: SPONSOR, type: 'sponsor' }) }, dir: path.join(dir, 'sponsor') }),
    oprfSeed,
    hospitalSecret,
    sentTokens,
    consenting,
  };
}

/** Patient i at a hospital: its own patient id, the common linkage id, quasi-identifiers and data. */
const entry = (hospital: string, i: number): CohortEntry => ({
  patientId: `${hospital}-P${i}`,
  linkageId: rrn(i),
  quasiIdentifiers: { ageBand: '30-39', sex: i % 2 === 0 ? 'F' : 'M' },
  data: { hospital, labs: [{ code: 'loinc:2345-7', value: 90 + i }] },
});

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((f) => path.join(dir, f)).filter((f) => statSync(f).isFile());
}

describe('linkage: hospitals, institution and sponsor (in process)', function () {
  this.timeout(300_000);
  let w: World;
  beforeEach(() => {
    w = world();
  });
  afterEach(() => rmSync(w.dir, { recursive: true, force: true }));

  /** Patients 0..9 at H1, 4..13 at H2 (4..9 at both); consent as given. */
  async function run(requestId: string, projectId: string, consents: (hospital: string, i: number) => boolean, k = 2) {
    for (const h of [H1, H2]) for (let i = 0; i < 14; i++) if (consents(h, i)) w.consenting.add(`${h}/${refOf(h)(`${h}-P${i}`)}`);
    await w.sponsor.request({ requestId, projectId, hospitals: [H1, H2], quasiIdentifiers: QI, k });
    const one = await w.hospitals[H1].contribute(requestId, Array.from({ length: 10 }, (_, i) => entry(H1, i)));
    const two = await w.hospitals[H2].contribute(requestId, Array.from({ length: 10 }, (_, i) => entry(H2, i + 4)));
    return { one, two };
  }

  it('links one pseudonymous record set per consenting patient across both hospitals; non-consenting patients are absent', async () => {
    // Patient 5 consented at H1 only, 6 at neither; the rest at every hospital holding them.
    const { one, two } = await run('R1', 'P-001', (h, i) => i !== 6 && !(i === 5 && h === H2));
    expect(one).to.deep.include({ candidates: 10, included: 9 });
    expect(one.excluded.map((e) => e.patientId)).to.deep.equal([`${H1}-P6`]);
    expect(two).to.deep.include({ candidates: 10, included: 8 });
    expect(two.institution.waitingFor).to.deep.equal([]);

    const release = await w.sponsor.release('R1');
    expect(release.status).to.equal('released');
    // 0..13 less 6 = 13 people; 4,7,8,9 at both (5 only at H1 by consent).
    expect(release.subjects).to.equal(13);
    expect(release.linkedAcrossHospitals).to.equal(4);
    const spans = release.release!.map((s) => s.records.map((r) => r.hospital).join('+')).sort();
    expect(spans.filter((s) => s === `${H1}+${H2}`)).to.have.length(4);
    expect(new Set(release.release!.map((s) => s.linkedId)).size).to.equal(13);
    // The ledger holds counts and hashes only, and the candidates are in the access log.
    const recorded = w.ledger.records[0];
    expect(recorded).to.deep.include({ requestId: 'R1', status: 'released', linkedSubjects: 4 });
    expect(recorded.perHospital[H1].count).to.equal(9);
    expect(w.ledger.accessLog.filter((e) => e.requestId === 'R1')).to.have.length(20);
    expect(w.ledger.accessLog.filter((e) => e.decision === 'DENY').map((e) => e.hospital).sort()).to.deep.equal([H1, H2, H2]);
  });

  it("the sponsor's release and the institution's and sponsor's stored files hold no token, patientRef or identifier", async () => {
    await run('R2', 'P-001', () => true);
    const release = await w.sponsor.release('R2');
    const texts = [JSON.stringify(release), ...filesUnder(w.dir).map((f) => readFileSync(f, 'utf8'))];
    const secrets = [
      ...w.sentTokens.get('R2')!,
      ...[H1, H2].flatMap((h) => Array.from({ length: 14 }, (_, i) => [refOf(h)(`${h}-P${i}`), `${h}-P${i}`])).flat(),
      ...Array.from({ length: 14 }, (_, i) => [rrn(i), rrn(i).replace('-', '')]).flat(),
    ];
    expect(w.sentTokens.get('R2')).to.have.length(20);
    for (const text of texts) for (const s of secrets) expect(text.includes(s), `found ${s}`).to.equal(false);
  });

  it('refuses a release below k with a report, and records the refusal on the ledger', async () => {
    await run('R3', 'P-001', () => true, 8);
    const release = await w.sponsor.release('R3');
    expect(release.status).to.equal('refused');
    expect(release.release).to.equal(undefined);
    expect(release.refusal).to.deep.include({ code: 'RELEASE_BELOW_K', k: 8, smallestClass: 7, subjects: 14, classes: 2 });
    expect(release.refusal!.message).to.match(/fewer than k = 8/);
    expect(w.ledger.records[0]).to.deep.include({ status: 'refused', refusal: { code: 'RELEASE_BELOW_K', k: 8, smallestClass: 7 } });
  });

  it("two projects' tokens do not match", async () => {
    await run('R4', 'P-001', () => true);
    await w.sponsor.request({ requestId: 'R5', projectId: 'P-002', hospitals: [H1, H2], quasiIdentifiers: QI, k: 2 });
    await w.hospitals[H1].contribute('R5', Array.from({ length: 10 }, (_, i) => entry(H1, i)));
    const first = new Set(w.sentTokens.get('R4'));
    expect(w.sentTokens.get('R5')).to.have.length(10);
    for (const t of w.sentTokens.get('R5')!) expect(first.has(t)).to.equal(false);
  });

  it('the institution evaluates only for a listed hospital of an open request, after its ledger contribution, never more than it included', async () => {
    await w.sponsor.request({ requestId: 'R6', projectId: 'P-001', hospitals: [H1, H2], quasiIdentifiers: QI, k: 2 });
    const guess = blindInput(linkageInput(rrn(1))).blinded;
    const h1: Partner = { mspId: H1, type: 'hospital' };
    await expectCode(w.institution.evaluate(h1, 'R6', [guess]), 'LINKAGE_NOT_CONTRIBUTED');
    await expectCode(w.institution.evaluate({ mspId: 'Hospital3MSP', type: 'hospital' }, 'R6', [guess]), 'LINKAGE_NOT_PARTY');
    await expectCode(w.institution.evaluate({ mspId: SPONSOR, type: 'sponsor' }, 'R6', [guess]), 'LINKAGE_NOT_PARTY');
    await expectCode(w.institution.evaluate(h1, 'NOPE', [guess]), 'LINKAGE_NOT_FOUND');
    w.consenting.add(`${H1}/${refOf(H1)(`${H1}-P1`)}`);
    await w.hospitals[H1].contribute('R6', [entry(H1, 1), entry(H1, 2)]);
    // H1 included one patient and used its one evaluation: a dictionary of guesses gets nothing.
    await expectCode(w.institution.evaluate(h1, 'R6', [guess]), 'LINKAGE_EVALUATIONS_EXCEEDED');
    await expectCode(w.institution.contribute(h1, 'R6', []), 'LINKAGE_COUNT_MISMATCH');
  });
});

describe('linkage: threat-model claims', function () {
  // Hundreds of OPRF rounds on a shared, loaded machine: no timing threshold.
  this.timeout(300_000);
  const projectId = 'P-001';
  const oprfSeed = randomBytes(32);
  const hospitalSecret = randomBytes(32);
  const kLI = deriveProjectKey(oprfSeed, projectId);
  const kH = hospitalProjectKey(hospitalSecret, projectId);
  /** The token as the protocol makes it (blind, evaluate, unblind, finalize, HMAC). */
  const tokenOf = (id: string, key = kLI, hKey = kH) => {
    const input = linkageInput(id);
    const b = blindInput(input);
    return linkageToken(hKey, finalizeOutput(input, b.blind, evaluateBlinded(key, b.blinded)));
  };
  const dictionary = Array.from({ length: 200 }, (_, i) => rrn(i));
  const tokens = new Set(dictionary.slice(50, 60).map((id) => tokenOf(id)));

  it('the institution, with its key and the tokens, cannot confirm a guessed identifier (it lacks K_H)', () => {
    // What the institution can compute on its own for a guess: the OPRF output, and keyed hashes of it with what it holds.
    for (const guess of dictionary) {
      const input = linkageInput(guess);
      const b = blindInput(input);
      const output = finalizeOutput(input, b.blind, evaluateBlinded(kLI, b.blinded));
      const candidates = [
        Buffer.from(output).toString('hex').slice(0, 64),
        createHash('sha256').update(output).digest('hex'),
        linkageToken(oprfSeed, output),
        linkageToken(kLI, output),
        linkageToken(hospitalProjectKey(oprfSeed, projectId), output),
      ];
      for (const c of candidates) expect(tokens.has(c)).to.equal(false);
    }
    // With K_H the same guess would be confirmed: that key is what keeps the institution out.
    expect(tokens.has(tokenOf(dictionary[55]))).to.equal(true);
  });

  it('a hospital, with K_H but without the institution, cannot compute a token', () => {
    const ownKey = ristretto255_oprf.oprf.generateKeyPair().secretKey;
    for (const id of dictionary.slice(50, 60)) {
      const input = linkageInput(id);
      const attempts = [
        linkageToken(kH, input),
        linkageToken(kH, createHash('sha512').update(input).digest()),
        tokenOf(id, ownKey),
        tokenOf(id, deriveProjectKey(hospitalSecret, projectId)),
      ];
      for (const a of attempts) expect(tokens.has(a)).to.equal(false);
    }
  });

  it("two projects' tokens of the same people differ (each layer's key is per project)", () => {
    const other = 'P-002';
    for (const id of dictionary.slice(50, 60)) {
      expect(tokens.has(tokenOf(id, deriveProjectKey(oprfSeed, other), hospitalProjectKey(hospitalSecret, other)))).to.equal(false);
      expect(tokens.has(tokenOf(id, deriveProjectKey(oprfSeed, other), kH))).to.equal(false);
      expect(tokens.has(tokenOf(id, kLI, hospitalProjectKey(hospitalSecret, other)))).to.equal(false);
    }
  });

  it('one identifier written with or without its hyphen is one person', () => {
    expect(tokenOf('900101-3000001')).to.equal(tokenOf(' 9001013000001 '));
  });
});

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  try {
    await promise;
  } catch (err) {
    expect((err as { code?: string }).code).to.equal(code);
    return;
  }
  expect.fail(`expected ${code}`);
}
