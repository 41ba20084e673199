import { expect } from 'chai';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { TypedDataEncoder, Wallet, id, type TypedDataField } from 'ethers';
import { AccessContract, ConsentContract, IdentityContract, RecordsContract } from '../../../chaincode/src';
import { ChaincodeError } from '../../../chaincode/src/lib/errors';
import {
  CONSENT_GRANT_TYPES,
  CONSENT_REVOKE_TYPES,
  REGISTER_PATIENT_TYPES,
  consentDomain,
  type ConsentGrantMessage,
  type ConsentRevokeMessage,
  type RegisterPatientMessage,
} from '../../../chaincode/src/lib/eip712';
import { FakeLedger } from './fake-ledger';
import { CONSORTIUM, HOSPITAL, HOSPITAL2, INSURER, SPONSOR } from './fixtures';

/**
 * Model-based test of consent: random sequences of register / grant / revoke / check /
 * access / list / clock steps run against the contracts on the FakeLedger and against an
 * independent in-memory model of the rules, and every outcome must agree: success or the
 * error code, the decision, its reason and grant id, the grant statuses and the access log.
 *
 * Reproduce a failure with MEDPROV_FC_SEED=<seed> (and MEDPROV_FC_PATH=<path> from the
 * report); MEDPROV_FC_RUNS changes the number of runs, MEDPROV_FC_VERBOSE=1 prints how often
 * each outcome occurred.
 */

const CHANNEL = 'medprov';
const OTHER_CHANNEL = 'medprov-staging';
const UNKNOWN_ORG = 'BankMSP';
const DISCHARGE = 'loinc:18842-5';
const LAB = 'loinc:11502-2';
const IMAGING = 'loinc:18748-4';
const CATEGORIES = [DISCHARGE, LAB, IMAGING];
const RECORD_IDS = ['r-1', 'r-2', 'r-3', 'r-4', 'r-5', 'r-6'];
const PURPOSES = ['treatment', 'claims', 'research:T-1', 'research:T-2'];
/**
 * Consortium members a patient may grant to (hospitals too, for treatment). Every one may
 * call Access:accessRecord, and is then the grantee its consent is checked for.
 */
const GRANTEES = [INSURER, SPONSOR, HOSPITAL2, HOSPITAL];

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

interface Patient {
  name: string;
  hospital: string;
  patientRef: string;
  wallet: Wallet;
}

/** Three patients who may register (two at HospitalMSP, one at Hospital2MSP) and one who never does. */
const PATIENTS: Patient[] = [
  { name: 'P0', hospital: HOSPITAL, patientRef: sha('mb patient 0'), wallet: new Wallet(id('mb patient 0 key')) },
  { name: 'P1', hospital: HOSPITAL, patientRef: sha('mb patient 1'), wallet: new Wallet(id('mb patient 1 key')) },
  { name: 'P2', hospital: HOSPITAL2, patientRef: sha('mb patient 2'), wallet: new Wallet(id('mb patient 2 key')) },
  { name: 'ghost', hospital: HOSPITAL, patientRef: sha('mb ghost'), wallet: new Wallet(id('mb ghost key')) },
];
const REGISTRABLE = 3;
const STRANGER = new Wallet(id('mb stranger key'));

/** Anchored records: the same record id under two issuers, and one id (r-6) anchored nowhere. */
const RECORDS: { issuer: string; recordId: string; category: string; patient: number }[] = [
  { issuer: HOSPITAL, recordId: 'r-1', category: DISCHARGE, patient: 0 },
  { issuer: HOSPITAL, recordId: 'r-2', category: LAB, patient: 0 },
  { issuer: HOSPITAL, recordId: 'r-3', category: DISCHARGE, patient: 1 },
  { issuer: HOSPITAL, recordId: 'r-4', category: IMAGING, patient: 1 },
  { issuer: HOSPITAL2, recordId: 'r-1', category: LAB, patient: 2 },
  { issuer: HOSPITAL2, recordId: 'r-5', category: DISCHARGE, patient: 2 },
  { issuer: HOSPITAL, recordId: 'r-5', category: IMAGING, patient: 3 },
];
const ACCESS_TARGETS = [...RECORDS.map((r) => ({ issuer: r.issuer, recordId: r.recordId })), { issuer: HOSPITAL, recordId: 'r-6' }];

// ECDSA signing is the cost of a run, and shrinking replays the same messages (the nonces
// are counted per run), so every signature is made once.
const signatures = new Map<string, Promise<string>>();
function signTyped(wallet: Wallet, types: Record<string, TypedDataField[]>, message: object, channel = CHANNEL): Promise<string> {
  const key = `${wallet.address}|${channel}|${Object.keys(types)[0]}|${JSON.stringify(message)}`;
  let signature = signatures.get(key);
  if (!signature) {
    signature = wallet.signTypedData(consentDomain(channel), types, message);
    signatures.set(key, signature);
  }
  return signature;
}

const seconds = (iso: string): number => Math.floor(Date.parse(iso) / 1000);
const nonceOf = (n: number): string => id(`mb nonce ${n}`);
const registrationNonce = (patient: number): string => id(`mb registration ${patient}`);
/** The item at index, counted from the end when negative (-1 is the latest), wrapping around. */
const pick = <T>(list: readonly T[], index: number): T => list[((index % list.length) + list.length) % list.length];

// ---------------------------------------------------------------------------------------------
// The model: the rules as the issue states them, written without the chaincode's decision code.
// ---------------------------------------------------------------------------------------------

interface ModelGrant {
  grantId: string;
  patient: number;
  message: ConsentGrantMessage;
  grantedAt: number;
  revokedAt?: number;
}

/** A signed grant as it was sent, and who really signed exactly that message on this channel. */
interface SentGrant {
  message: ConsentGrantMessage;
  signature: string;
  signer?: string;
}

interface ModelLogEntry {
  accessor: string;
  issuer: string;
  recordId: string;
  version: number;
  patientRef: string;
  purpose: string;
  decision: string;
  reason: string | null;
  grantId: string | null;
  at: number;
}

interface Model {
  /** Timestamp of the last transaction; the next one runs one second later. */
  clock: number;
  registered: boolean[];
  /** Per patient address: the nonces of its registration, grants and revocations that were written. */
  usedNonces: Map<string, Set<string>>;
  /** Every stored grant, oldest first. */
  grants: ModelGrant[];
  sent: SentGrant[];
  /** Access-log entries per `hospital patientRef`, oldest first. */
  log: Map<string, ModelLogEntry[]>;
  nextNonce: number;
}

type Outcome = { ok: true; value: Record<string, unknown> } | { ok: false; code: string };
const refused = (code: string): Outcome => ({ ok: false, code });
const done = (value: Record<string, unknown>): Outcome => ({ ok: true, value });

interface Decision {
  decision: 'PERMIT' | 'DENY' | 'NO_CONSENT';
  reason: string | null;
  grantId: string | null;
}

/** The grant id the documentation promises: the EIP-712 digest of the message on this channel. */
const grantIdOf = (message: ConsentGrantMessage): string => TypedDataEncoder.hash(consentDomain(CHANNEL), CONSENT_GRANT_TYPES, message);

const isUsable = (g: ModelGrant, t: number): boolean => g.revokedAt === undefined && g.message.validFrom <= t && t < g.message.validUntil;

/**
 * The decision at time t, narrowing the patient's grants step by step. Where several grants
 * remain, the chaincode's documented rule (consent-model.ts, decideConsent) applies: a
 * permitting grant wins; else a grant yet to start (NOT_YET_VALID); else the most recently
 * granted of the revoked or expired ones. A grant that fails on grantee or purpose is not
 * named. WRONG_GRANTEE is the chaincode's documented answer when the patient has grants but
 * none for this grantee; NO_CONSENT is for a patient without any grant.
 */
function modelDecide(grants: readonly ModelGrant[], q: { grantee: string; purpose: string; category?: string; recordId?: string }, t: number): Decision {
  const latest = (list: readonly ModelGrant[]): ModelGrant => list[list.length - 1];
  if (grants.length === 0) return { decision: 'NO_CONSENT', reason: null, grantId: null };
  const forGrantee = grants.filter((g) => g.message.grantee === q.grantee);
  if (forGrantee.length === 0) return { decision: 'DENY', reason: 'WRONG_GRANTEE', grantId: null };
  const forPurpose = forGrantee.filter((g) => g.message.purpose === q.purpose);
  if (forPurpose.length === 0) return { decision: 'DENY', reason: 'WRONG_PURPOSE', grantId: null };
  const inScope = forPurpose.filter(
    (g) => (q.category !== undefined && g.message.categories.includes(q.category)) || (q.recordId !== undefined && g.message.recordIds.includes(q.recordId)),
  );
  if (inScope.length === 0) return { decision: 'DENY', reason: 'OUT_OF_SCOPE', grantId: latest(forPurpose).grantId };
  const usable = inScope.filter((g) => isUsable(g, t));
  if (usable.length > 0) return { decision: 'PERMIT', reason: null, grantId: latest(usable).grantId };
  const pending = inScope.filter((g) => g.revokedAt === undefined && t < g.message.validFrom);
  if (pending.length > 0) return { decision: 'DENY', reason: 'NOT_YET_VALID', grantId: latest(pending).grantId };
  const last = latest(inScope);
  return { decision: 'DENY', reason: last.revokedAt !== undefined ? 'REVOKED' : 'EXPIRED', grantId: last.grantId };
}

function modelStatus(g: ModelGrant, t: number): string {
  if (g.revokedAt !== undefined) return 'revoked';
  if (t < g.message.validFrom) return 'pending';
  return t >= g.message.validUntil ? 'expired' : 'active';
}

const grantsOf = (m: Model, patient: number): ModelGrant[] => m.grants.filter((g) => g.patient === patient);
const patientAt = (hospital: string, patientRef: string): number => PATIENTS.findIndex((p) => p.hospital === hospital && p.patientRef === patientRef);
const nonceUsed = (m: Model, address: string, nonce: string): boolean => m.usedNonces.get(address)?.has(nonce) ?? false;
function useNonce(m: Model, address: string, nonce: string): void {
  const used = m.usedNonces.get(address) ?? new Set<string>();
  used.add(nonce);
  m.usedNonces.set(address, used);
}

/**
 * A grant submission at time t, with the checks in the order the contract documents and
 * performs them: malformed or already-ended validity, grantee outside the consortium,
 * unregistered patient, signer other than the bound key; then re-sending an existing grant
 * returns it (before the nonce is looked at), else a spent nonce is refused.
 */
function modelGrant(m: Model, sent: SentGrant, t: number): Outcome {
  const { message } = sent;
  if (message.categories.length + message.recordIds.length === 0) return refused('INVALID_ARGUMENT');
  if (message.validUntil <= message.validFrom || message.validUntil <= t) return refused('INVALID_ARGUMENT');
  if (!GRANTEES.includes(message.grantee)) return refused('ORG_NOT_IN_CONSORTIUM');
  const patient = patientAt(message.hospital, message.patientRef);
  if (patient < 0 || !m.registered[patient]) return refused('PATIENT_NOT_REGISTERED');
  const bound = PATIENTS[patient].wallet.address;
  if (sent.signer !== bound) return refused('SIGNER_NOT_PATIENT');
  const grantId = grantIdOf(message);
  const existing = m.grants.find((g) => g.grantId === grantId);
  if (existing) return done({ created: false, grantId, revokedAt: existing.revokedAt ?? null, grantedAt: existing.grantedAt });
  if (nonceUsed(m, bound, message.nonce)) return refused('NONCE_REUSED');
  useNonce(m, bound, message.nonce);
  m.grants.push({ grantId, patient, message, grantedAt: t });
  return done({ created: true, grantId, revokedAt: null, grantedAt: t });
}

/**
 * A revocation at time t: the named patient must be registered and the signer must be their
 * key; the grant must exist under that patient; revoking a revoked grant returns it as it is
 * (no nonce is spent); otherwise a spent nonce is refused.
 */
function modelRevoke(m: Model, message: ConsentRevokeMessage, signer: string, t: number): Outcome {
  const patient = patientAt(message.hospital, message.patientRef);
  if (patient < 0 || !m.registered[patient]) return refused('PATIENT_NOT_REGISTERED');
  if (signer !== PATIENTS[patient].wallet.address) return refused('SIGNER_NOT_PATIENT');
  const grant = m.grants.find((g) => g.patient === patient && g.grantId === message.grantId);
  if (!grant) return refused('GRANT_NOT_FOUND');
  if (grant.revokedAt !== undefined) return done({ created: false, grantId: grant.grantId, revokedAt: grant.revokedAt });
  if (nonceUsed(m, signer, message.nonce)) return refused('NONCE_REUSED');
  useNonce(m, signer, message.nonce);
  grant.revokedAt = t;
  return done({ created: true, grantId: grant.grantId, revokedAt: t });
}

// ---------------------------------------------------------------------------------------------
// The real side: the contracts on a FakeLedger.
// ---------------------------------------------------------------------------------------------

const identity = new IdentityContract();
const records = new RecordsContract();
const consent = new ConsentContract();
const access = new AccessContract();

interface Real {
  ledger: FakeLedger;
  /** The transaction ids of the access calls, per `hospital patientRef`, oldest first. */
  accessTxIds: Map<string, string[]>;
}

const stats = new Map<string, number>();
const count = (what: string): void => {
  stats.set(what, (stats.get(what) ?? 0) + 1);
};

/**
 * Runs one chaincode transaction and returns its outcome. An idempotent answer (created:
 * false) must write nothing, and the ledger's clock must be where the model's is.
 */
async function transact(m: Model, real: Real, submit: boolean, msp: string, contract: ConsentContract | AccessContract, method: string, ...args: string[]): Promise<Outcome> {
  const writes = real.ledger.writeCount;
  let outcome: Outcome;
  try {
    const text = submit ? await real.ledger.invoke(msp, contract, method, ...args) : await real.ledger.query(msp, contract, method, ...args);
    outcome = done(JSON.parse(text) as Record<string, unknown>);
  } catch (err) {
    if (!(err instanceof ChaincodeError)) throw err;
    outcome = refused(err.code);
  }
  if (outcome.ok && outcome.value.created === false) expect(real.ledger.writeCount, 'an idempotent answer writes nothing').to.equal(writes);
  expect(real.ledger.now, 'ledger clock').to.equal(m.clock);
  const result = outcome.ok ? (outcome.value.created === false ? 'unchanged' : [outcome.value.decision ?? 'ok', outcome.value.reason].filter(Boolean).join(' ')) : outcome.code;
  count(`${method} ${result}`);
  return outcome;
}

/** Compares the code of a refusal, or the given projection of a success, with the model's. */
function expectSame(actual: Outcome, expected: Outcome, project: (value: Record<string, unknown>) => unknown, what: string): void {
  const seen = actual.ok ? { ok: true, value: project(actual.value) } : actual;
  expect(seen, `${what}\n  chaincode: ${JSON.stringify(seen)}\n  model:     ${JSON.stringify(expected)}\n`).to.deep.equal(expected);
}

function lastEventOf(real: Real): { name: string; payload: Record<string, unknown> } | undefined {
  return real.ledger.lastEvent() as { name: string; payload: Record<string, unknown> } | undefined;
}

// ---------------------------------------------------------------------------------------------
// Commands.
// ---------------------------------------------------------------------------------------------

type ConsentCommand = fc.AsyncCommand<Model, Real>;

class Register implements ConsentCommand {
  constructor(
    readonly patient: number,
    readonly byOtherHospital: boolean,
  ) {}
  check = (): boolean => true;
  async run(m: Model, real: Real): Promise<void> {
    const p = PATIENTS[this.patient];
    const caller = this.byOtherHospital ? (p.hospital === HOSPITAL ? HOSPITAL2 : HOSPITAL) : p.hospital;
    const message: RegisterPatientMessage = { hospital: p.hospital, patientRef: p.patientRef, nonce: registrationNonce(this.patient) };
    const signature = await signTyped(p.wallet, REGISTER_PATIENT_TYPES, message);
    m.clock += 1;
    let expected: Outcome;
    if (caller !== p.hospital) expected = refused('FORBIDDEN_OTHER_ORG');
    else if (m.registered[this.patient]) expected = done({ created: false });
    else {
      m.registered[this.patient] = true;
      useNonce(m, p.wallet.address, message.nonce);
      expected = done({ created: true });
    }
    const actual = await transact(m, real, true, caller, consent, 'registerPatient', JSON.stringify({ message, patient: p.wallet.address, signature }));
    expectSame(actual, expected, (v) => ({ created: v.created }), `register ${p.name} by ${caller} at ${m.clock}`);
  }
  toString = (): string => `register(${PATIENTS[this.patient].name}${this.byOtherHospital ? ', by the other hospital' : ''})`;
}

type Forgery = 'none' | 'stranger' | 'otherPatient' | 'otherChannel' | 'tamperGrantee' | 'tamperPurpose' | 'tamperValidUntil' | 'tamperScope' | 'tamperNonce' | 'unknownGrantee';
type NonceChoice = 'fresh' | 'replayOwn' | 'replayOther';

interface GrantSpec {
  patient: number;
  grantee: number;
  purpose: number;
  scope: { categories: string[]; recordIds: string[] };
  /** Index of a stored grant whose patient, grantee, purpose and scope to grant again (other validity, nonce). */
  like: number | null;
  /** validFrom relative to the submitting transaction's time. */
  startOffset: number;
  duration: number;
  nonce: NonceChoice;
  nonceIndex: number;
  forgery: Forgery;
  submitter: number;
}

class Grant implements ConsentCommand {
  constructor(readonly spec: GrantSpec) {}
  check = (): boolean => true;

  private nonce(m: Model, patient: number): string {
    const { nonce, nonceIndex } = this.spec;
    const own = PATIENTS[patient].wallet.address;
    // A nonce another key spent is still fresh for this one: nonces are per patient key.
    const spent = nonce === 'replayOwn' ? [...(m.usedNonces.get(own) ?? [])] : [...m.usedNonces].filter(([a]) => a !== own).flatMap(([, n]) => [...n]);
    if (nonce === 'fresh' || spent.length === 0) return nonceOf(m.nextNonce++);
    return pick(spent, nonceIndex);
  }

  async run(m: Model, real: Real): Promise<void> {
    const s = this.spec;
    const like = s.like !== null && m.grants.length > 0 ? pick(m.grants, s.like) : undefined;
    const patient = like ? like.patient : s.patient;
    const p = PATIENTS[patient];
    const t = m.clock + 1;
    const validFrom = Math.max(0, t + s.startOffset);
    const signed: ConsentGrantMessage = {
      hospital: p.hospital,
      patientRef: p.patientRef,
      grantee: s.forgery === 'unknownGrantee' ? UNKNOWN_ORG : like ? like.message.grantee : pick(GRANTEES, s.grantee),
      purpose: like ? like.message.purpose : pick(PURPOSES, s.purpose),
      categories: like ? like.message.categories : s.scope.categories,
      recordIds: like ? like.message.recordIds : s.scope.recordIds,
      validFrom,
      validUntil: validFrom + s.duration,
      nonce: this.nonce(m, patient),
    };
    const wallet = s.forgery === 'stranger' ? STRANGER : s.forgery === 'otherPatient' ? PATIENTS[(patient + 1) % REGISTRABLE].wallet : p.wallet;
    const channel = s.forgery === 'otherChannel' ? OTHER_CHANNEL : CHANNEL;
    const signature = await signTyped(wallet, CONSENT_GRANT_TYPES, signed, channel);
    const message = tamper(signed, s.forgery, m);
    const honest = message === signed && channel === CHANNEL;
    const sent: SentGrant = { message, signature, signer: honest ? wallet.address : undefined };
    m.sent.push(sent);
    await submitGrant(m, real, sent, pick(GRANTEES, s.submitter));
  }

  toString = (): string => {
    const s = this.spec;
    const scope = [...s.scope.categories, ...s.scope.recordIds].join('+') || 'nothing';
    const like = s.like === null ? '' : `like grant #${s.like}; else `;
    return `grant(${like}${PATIENTS[s.patient].name} → ${pick(GRANTEES, s.grantee)} ${pick(PURPOSES, s.purpose)} [${scope}] from ${s.startOffset} for ${s.duration}s, nonce ${s.nonce}#${s.nonceIndex}, ${s.forgery})`;
  };
}

/** The message after signing, with one field changed (the signature then names nobody). */
function tamper(message: ConsentGrantMessage, forgery: Forgery, m: Model): ConsentGrantMessage {
  switch (forgery) {
    case 'tamperGrantee':
      return { ...message, grantee: pick(GRANTEES, GRANTEES.indexOf(message.grantee) + 1) };
    case 'tamperPurpose':
      return { ...message, purpose: pick(PURPOSES, PURPOSES.indexOf(message.purpose) + 1) };
    case 'tamperValidUntil':
      return { ...message, validUntil: message.validUntil + 7 };
    case 'tamperScope':
      return message.categories.includes(IMAGING)
        ? { ...message, categories: message.categories.filter((c) => c !== IMAGING) }
        : { ...message, categories: [...message.categories, IMAGING] };
    case 'tamperNonce':
      return { ...message, nonce: nonceOf(m.nextNonce++) };
    default:
      return message;
  }
}

async function submitGrant(m: Model, real: Real, sent: SentGrant, submitter: string): Promise<void> {
  m.clock += 1;
  const expected = modelGrant(m, sent, m.clock);
  const actual = await transact(m, real, true, submitter, consent, 'grantConsent', JSON.stringify({ message: sent.message, signature: sent.signature }));
  const view = (v: Record<string, unknown>) => {
    const g = v.grant as { grantId: string; status: string; grantedAt: string; revocation?: { at: string } };
    return { created: v.created, grantId: g.grantId, revokedAt: g.revocation ? seconds(g.revocation.at) : null, grantedAt: seconds(g.grantedAt) };
  };
  expectSame(actual, expected, view, `grant ${JSON.stringify(sent.message)} signed by ${sent.signer ?? 'nobody'} at ${m.clock}`);
  if (expected.ok && expected.value.created === true) {
    expect(lastEventOf(real)?.payload).to.include({ kind: 'granted', grantId: expected.value.grantId, status: 'active' });
  }
}

/** Sends again a signed grant that was sent before (as it was, by another member's gateway). */
class Resend implements ConsentCommand {
  constructor(
    readonly index: number,
    readonly submitter: number,
  ) {}
  check = (m: Readonly<Model>): boolean => m.sent.length > 0;
  async run(m: Model, real: Real): Promise<void> {
    await submitGrant(m, real, pick(m.sent, this.index), pick(GRANTEES, this.submitter));
  }
  toString = (): string => `resend(sent grant #${this.index})`;
}

interface RevokeSpec {
  /** Index into the stored grants, or null for a grant id that was never granted. */
  target: number | null;
  /** Whose patientRef the revocation names when the target is unknown. */
  patient: number;
  signer: 'patient' | 'otherPatient' | 'stranger';
  /** With another patient as signer: name the grant's patientRef, or the signer's own. */
  namesOwnRef: boolean;
  replayNonce: boolean;
  nonceIndex: number;
  submitter: number;
}

class Revoke implements ConsentCommand {
  constructor(readonly spec: RevokeSpec) {}
  check = (): boolean => true;
  async run(m: Model, real: Real): Promise<void> {
    const s = this.spec;
    const grant = s.target === null || m.grants.length === 0 ? undefined : pick(m.grants, s.target);
    const owner = grant ? grant.patient : s.patient;
    const other = (owner + 1) % REGISTRABLE;
    const wallet = s.signer === 'stranger' ? STRANGER : s.signer === 'otherPatient' ? PATIENTS[other].wallet : PATIENTS[owner].wallet;
    const named = PATIENTS[s.signer === 'otherPatient' && s.namesOwnRef ? other : owner];
    const used = [...(m.usedNonces.get(wallet.address) ?? [])];
    const message: ConsentRevokeMessage = {
      hospital: named.hospital,
      patientRef: named.patientRef,
      grantId: grant ? grant.grantId : id(`mb unknown grant ${m.nextNonce++}`),
      nonce: s.replayNonce && used.length > 0 ? pick(used, s.nonceIndex) : nonceOf(m.nextNonce++),
    };
    const signature = await signTyped(wallet, CONSENT_REVOKE_TYPES, message);
    m.clock += 1;
    const expected = modelRevoke(m, message, wallet.address, m.clock);
    const actual = await transact(m, real, true, pick(GRANTEES, s.submitter), consent, 'revokeConsent', JSON.stringify({ message, signature }));
    const view = (v: Record<string, unknown>) => {
      const g = v.grant as { grantId: string; status: string; revocation: { at: string } };
      expect(g.status).to.equal('revoked');
      return { created: v.created, grantId: g.grantId, revokedAt: seconds(g.revocation.at) };
    };
    expectSame(actual, expected, view, `revoke ${JSON.stringify(message)} signed by ${wallet.address} at ${m.clock}`);
    if (expected.ok && expected.value.created === true) {
      expect(lastEventOf(real)?.payload).to.include({ kind: 'revoked', grantId: message.grantId, status: 'revoked' });
    }
  }
  toString = (): string => {
    const s = this.spec;
    const target = s.target === null ? `unknown grant of ${PATIENTS[s.patient].name}` : `grant #${s.target}`;
    return `revoke(${target} by ${s.signer}${s.namesOwnRef ? ' naming own ref' : ''}${s.replayNonce ? `, replayed nonce #${s.nonceIndex}` : ''})`;
  };
}

/**
 * Most random queries miss every grant; a focused query takes a stored grant's patient,
 * grantee, purpose and scope, and may vary one of them, so that PERMIT and the reasons
 * that name a grant come up often.
 */
interface Focus {
  grant: number;
  vary: 'nothing' | 'grantee' | 'purpose' | 'scope' | 'patient';
  scopeItem: number;
}

interface CheckSpec {
  patient: number;
  grantee: number;
  purpose: number;
  category: string | null;
  recordId: string | null;
  caller: number;
  focus: Focus | null;
}

interface Query {
  patient: number;
  grantee: string;
  purpose: string;
  category: string | null;
  recordId: string | null;
}

function focusedGrant(m: Model, focus: Focus | null): ModelGrant | undefined {
  return focus && m.grants.length > 0 ? pick(m.grants, focus.grant) : undefined;
}

function resolveCheck(m: Model, s: CheckSpec): Query {
  const random: Query = { patient: s.patient, grantee: pick(GRANTEES, s.grantee), purpose: pick(PURPOSES, s.purpose), category: s.category, recordId: s.recordId };
  const g = focusedGrant(m, s.focus);
  if (!g || !s.focus) return random;
  const { categories, recordIds } = g.message;
  const byCategory = recordIds.length === 0 || (categories.length > 0 && s.focus.scopeItem % 2 === 0);
  const focused: Query = {
    patient: g.patient,
    grantee: g.message.grantee,
    purpose: g.message.purpose,
    category: byCategory ? pick(categories, s.focus.scopeItem) : null,
    recordId: byCategory ? null : pick(recordIds, s.focus.scopeItem),
  };
  switch (s.focus.vary) {
    case 'grantee':
      return { ...focused, grantee: random.grantee };
    case 'purpose':
      return { ...focused, purpose: random.purpose };
    case 'scope':
      return { ...focused, category: random.category, recordId: random.recordId };
    case 'patient':
      return { ...focused, patient: random.patient };
    default:
      return focused;
  }
}

const describeFocus = (f: Focus | null): string => (f ? `about grant #${f.grant}, scope item ${f.scopeItem}, varying ${f.vary}; else ` : '');

class Check implements ConsentCommand {
  constructor(readonly spec: CheckSpec) {}
  check = (): boolean => true;
  async run(m: Model, real: Real): Promise<void> {
    const q = resolveCheck(m, this.spec);
    const p = PATIENTS[q.patient];
    m.clock += 1;
    const query = { grantee: q.grantee, purpose: q.purpose, category: q.category ?? undefined, recordId: q.recordId ?? undefined };
    const expected: Outcome =
      q.category === null && q.recordId === null ? refused('INVALID_ARGUMENT') : done({ ...modelDecide(grantsOf(m, q.patient), query, m.clock), at: m.clock });
    const args = [p.hospital, p.patientRef, q.grantee, q.purpose, q.category ?? '', q.recordId ?? ''];
    const actual = await transact(m, real, false, pick(GRANTEES, this.spec.caller), consent, 'checkConsent', ...args);
    const view = (v: Record<string, unknown>) => ({ decision: v.decision, reason: v.reason ?? null, grantId: v.grantId ?? null, at: seconds(v.evaluatedAt as string) });
    expectSame(actual, expected, view, `check ${JSON.stringify({ ...q, patient: p.name })} at ${m.clock}`);
  }
  toString = (): string => {
    const s = this.spec;
    return `check(${describeFocus(s.focus)}${PATIENTS[s.patient].name}, ${pick(GRANTEES, s.grantee)}, ${pick(PURPOSES, s.purpose)}, ${s.category ?? '-'}, ${s.recordId ?? '-'})`;
  };
}

const logKey = (hospital: string, patientRef: string): string => `${hospital} ${patientRef}`;

interface AccessSpec {
  target: number;
  accessor: number;
  purpose: number;
  focus: Focus | null;
}

function resolveAccess(m: Model, s: AccessSpec): { issuer: string; recordId: string; accessor: string; purpose: string } {
  const random = { ...pick(ACCESS_TARGETS, s.target), accessor: pick(GRANTEES, s.accessor), purpose: pick(PURPOSES, s.purpose) };
  const g = focusedGrant(m, s.focus);
  if (!g || !s.focus) return random;
  const { issuer, recordId } = pick(
    RECORDS.filter((r) => r.patient === g.patient),
    s.target,
  );
  const focused = { issuer, recordId, accessor: g.message.grantee, purpose: g.message.purpose };
  switch (s.focus.vary) {
    case 'grantee':
      return { ...focused, accessor: random.accessor };
    case 'purpose':
      return { ...focused, purpose: random.purpose };
    case 'scope':
    case 'patient':
      return { ...focused, issuer: random.issuer, recordId: random.recordId };
    default:
      return focused;
  }
}

class Access implements ConsentCommand {
  constructor(readonly spec: AccessSpec) {}
  check = (): boolean => true;
  async run(m: Model, real: Real): Promise<void> {
    const { issuer, recordId, accessor, purpose } = resolveAccess(m, this.spec);
    const record = RECORDS.find((r) => r.issuer === issuer && r.recordId === recordId);
    m.clock += 1;
    let expected: Outcome = refused('RECORD_NOT_FOUND');
    if (record) {
      const p = PATIENTS[record.patient];
      const decision = modelDecide(grantsOf(m, record.patient), { grantee: accessor, purpose, category: record.category, recordId }, m.clock);
      const entry: ModelLogEntry = { accessor, issuer, recordId, version: 1, patientRef: p.patientRef, purpose, ...decision, at: m.clock };
      const key = logKey(issuer, p.patientRef);
      m.log.set(key, [...(m.log.get(key) ?? []), entry]);
      expected = done({ ...decision, entry, provenance: decision.decision === 'PERMIT' ? 1 : null });
    }
    const actual = await transact(m, real, true, accessor, access, 'accessRecord', issuer, recordId, purpose);
    const view = (v: Record<string, unknown>) => {
      const log = v.accessLog as Record<string, unknown>;
      const key = logKey(issuer, log.patientRef as string);
      real.accessTxIds.set(key, [...(real.accessTxIds.get(key) ?? []), log.txId as string]);
      expect(log.at).to.equal(v.evaluatedAt);
      return {
        decision: v.decision,
        reason: v.reason ?? null,
        grantId: v.grantId ?? null,
        entry: logView(log),
        provenance: Array.isArray(v.provenance) ? v.provenance.length : null,
      };
    };
    expectSame(actual, expected, view, `${accessor} accesses ${issuer}/${recordId} for ${purpose} at ${m.clock}`);
  }
  toString = (): string => {
    const s = this.spec;
    const { issuer, recordId } = pick(ACCESS_TARGETS, s.target);
    return `access(${describeFocus(s.focus)}${pick(GRANTEES, s.accessor)} reads ${issuer}/${recordId} for ${pick(PURPOSES, s.purpose)})`;
  };
}

function logView(e: Record<string, unknown>): ModelLogEntry {
  const { accessor, issuer, recordId, version, patientRef, purpose, decision } = e as unknown as ModelLogEntry;
  return {
    accessor,
    issuer,
    recordId,
    version,
    patientRef,
    purpose,
    decision,
    reason: (e.reason as string | undefined) ?? null,
    grantId: (e.grantId as string | undefined) ?? null,
    at: seconds(e.at as string),
  };
}

class ListGrants implements ConsentCommand {
  constructor(readonly patient: number) {}
  check = (): boolean => true;
  async run(m: Model, real: Real): Promise<void> {
    const p = PATIENTS[this.patient];
    m.clock += 1;
    const expected = grantsOf(m, this.patient).map((g) => ({
      grantId: g.grantId,
      grantee: g.message.grantee,
      purpose: g.message.purpose,
      status: g.revokedAt === undefined ? 'active' : 'revoked',
      effectiveStatus: modelStatus(g, m.clock),
      grantedAt: g.grantedAt,
      revokedAt: g.revokedAt ?? null,
    }));
    const actual = await transact(m, real, false, INSURER, consent, 'listGrants', p.hospital, p.patientRef);
    expect(actual.ok).to.equal(true);
    const list = (actual.ok ? actual.value : []) as unknown as Array<Record<string, unknown> & { grantedAt: string; revocation?: { at: string } }>;
    expect(
      list.map((g) => ({
        grantId: g.grantId,
        grantee: g.grantee,
        purpose: g.purpose,
        status: g.status,
        effectiveStatus: g.effectiveStatus,
        grantedAt: seconds(g.grantedAt),
        revokedAt: g.revocation ? seconds(g.revocation.at) : null,
      })),
    ).to.deep.equal(expected);
  }
  toString = (): string => `listGrants(${PATIENTS[this.patient].name})`;
}

class ListAccessLog implements ConsentCommand {
  constructor(readonly patient: number) {}
  check = (): boolean => true;
  async run(m: Model, real: Real): Promise<void> {
    const p = PATIENTS[this.patient];
    const key = logKey(p.hospital, p.patientRef);
    m.clock += 1;
    const actual = await transact(m, real, false, SPONSOR, access, 'listAccessLog', p.hospital, p.patientRef);
    expect(actual.ok).to.equal(true);
    const entries = (actual.ok ? actual.value : []) as unknown as Array<Record<string, unknown>>;
    expect(entries.map(logView)).to.deep.equal(m.log.get(key) ?? []);
    expect(entries.map((e) => e.txId)).to.deep.equal(real.accessTxIds.get(key) ?? []);
  }
  toString = (): string => `listAccessLog(${PATIENTS[this.patient].name})`;
}

/** Moves the clock by a fixed amount, or so that the next transaction lands on (or next to) a grant's validFrom or validUntil. */
class Advance implements ConsentCommand {
  constructor(
    readonly by: number | { grant: number; edge: 'validFrom' | 'validUntil'; delta: -1 | 0 | 1 },
  ) {}
  check = (): boolean => true;
  async run(m: Model, real: Real): Promise<void> {
    let amount = 0;
    if (typeof this.by === 'number') amount = this.by;
    else if (m.grants.length > 0) {
      const g = pick(m.grants, this.by.grant);
      amount = Math.max(0, g.message[this.by.edge] + this.by.delta - (m.clock + 1));
    }
    m.clock += amount;
    real.ledger.advance(amount);
  }
  toString = (): string =>
    typeof this.by === 'number' ? `advance(${this.by}s)` : `advanceTo(grant #${this.by.grant} ${this.by.edge}${this.by.delta < 0 ? '-1' : this.by.delta > 0 ? '+1' : ''})`;
}

// ---------------------------------------------------------------------------------------------
// Arbitraries.
// ---------------------------------------------------------------------------------------------

/** One or two distinct items of the list, in the list's order. */
const someOf = (list: string[]): fc.Arbitrary<string[]> => fc.subarray(list, { minLength: 1, maxLength: 2 });
const none = fc.constant<string[]>([]);
const patientArb = fc.nat({ max: PATIENTS.length - 1 });
/** Which stored grant (or sent grant, or used nonce) a command is about: often one of the latest. */
const indexArb = fc.oneof(fc.nat({ max: 50 }), fc.integer({ min: -3, max: -1 }));
const grantSpecArb: fc.Arbitrary<GrantSpec> = fc.record({
  patient: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(0, 1) }, { weight: 2, arbitrary: fc.constant(2) }, { weight: 1, arbitrary: fc.constant(REGISTRABLE) }),
  grantee: fc.nat({ max: GRANTEES.length - 1 }),
  purpose: fc.nat({ max: PURPOSES.length - 1 }),
  scope: fc.oneof(
    { weight: 6, arbitrary: fc.record({ categories: someOf(CATEGORIES), recordIds: none }) },
    { weight: 3, arbitrary: fc.record({ categories: none, recordIds: someOf(RECORD_IDS) }) },
    { weight: 2, arbitrary: fc.record({ categories: someOf(CATEGORIES), recordIds: someOf(RECORD_IDS) }) },
    { weight: 1, arbitrary: fc.record({ categories: none, recordIds: none }) },
  ),
  like: fc.oneof({ weight: 2, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: indexArb }),
  startOffset: fc.constantFrom(-3, -1, 0, 0, 0, 0, 1, 2, 5, 20, 100),
  duration: fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 12, arbitrary: fc.constantFrom(1, 2, 3, 5, 10, 60, 3600) }),
  nonce: fc.constantFrom<NonceChoice>('fresh', 'fresh', 'fresh', 'fresh', 'replayOwn', 'replayOther'),
  nonceIndex: indexArb,
  forgery: fc.oneof(
    { weight: 12, arbitrary: fc.constant<Forgery>('none') },
    {
      weight: 5,
      arbitrary: fc.constantFrom<Forgery>(
        'stranger',
        'otherPatient',
        'otherChannel',
        'tamperGrantee',
        'tamperPurpose',
        'tamperValidUntil',
        'tamperScope',
        'tamperNonce',
        'unknownGrantee',
      ),
    },
  ),
  submitter: fc.nat({ max: GRANTEES.length - 1 }),
});
const revokeSpecArb: fc.Arbitrary<RevokeSpec> = fc.record({
  target: fc.oneof({ weight: 6, arbitrary: indexArb }, { weight: 1, arbitrary: fc.constant(null) }),
  patient: patientArb,
  signer: fc.constantFrom<RevokeSpec['signer']>('patient', 'patient', 'patient', 'patient', 'otherPatient', 'stranger'),
  namesOwnRef: fc.boolean(),
  replayNonce: fc.boolean(),
  nonceIndex: indexArb,
  submitter: fc.nat({ max: GRANTEES.length - 1 }),
});
const scopeArb = fc.oneof(
  { weight: 10, arbitrary: fc.record({ category: fc.constantFrom(...CATEGORIES), recordId: fc.constantFrom(...RECORD_IDS) }) },
  { weight: 10, arbitrary: fc.record({ category: fc.constantFrom(...CATEGORIES), recordId: fc.constant(null) }) },
  { weight: 10, arbitrary: fc.record({ category: fc.constant(null), recordId: fc.constantFrom(...RECORD_IDS) }) },
  { weight: 1, arbitrary: fc.constant({ category: null, recordId: null }) },
);
const focusArb: fc.Arbitrary<Focus | null> = fc.oneof(
  { weight: 1, arbitrary: fc.constant(null) },
  {
    weight: 3,
    arbitrary: fc.record({
      grant: indexArb,
      vary: fc.constantFrom<Focus['vary']>('nothing', 'nothing', 'nothing', 'grantee', 'purpose', 'scope', 'patient'),
      scopeItem: fc.nat({ max: 5 }),
    }),
  },
);
const checkSpecArb: fc.Arbitrary<CheckSpec> = fc
  .tuple(patientArb, fc.nat({ max: GRANTEES.length - 1 }), fc.nat({ max: PURPOSES.length - 1 }), scopeArb, fc.nat({ max: GRANTEES.length - 1 }), focusArb)
  .map(([patient, grantee, purpose, scope, caller, focus]) => ({ patient, grantee, purpose, ...scope, caller, focus }));
const accessSpecArb: fc.Arbitrary<AccessSpec> = fc.record({
  target: fc.nat({ max: ACCESS_TARGETS.length - 1 }),
  accessor: fc.nat({ max: GRANTEES.length - 1 }),
  purpose: fc.nat({ max: PURPOSES.length - 1 }),
  focus: focusArb,
});
const advanceArb = fc.oneof(
  fc.constantFrom(0, 1, 2, 3, 5, 10, 60, 3600, 86_400).map((by) => new Advance(by)),
  fc
    .record({ grant: indexArb, edge: fc.constantFrom<'validFrom' | 'validUntil'>('validFrom', 'validUntil'), delta: fc.constantFrom<-1 | 0 | 1>(-1, 0, 1) })
    .map((by) => new Advance(by)),
);

const commandArbs: fc.Arbitrary<ConsentCommand>[] = [
  fc.tuple(fc.nat({ max: REGISTRABLE - 1 }), fc.boolean()).map(([p, other]) => new Register(p, other && p === 0)),
  ...Array.from({ length: 4 }, () => grantSpecArb.map((s) => new Grant(s))),
  fc.tuple(indexArb, fc.nat({ max: GRANTEES.length - 1 })).map(([i, s]) => new Resend(i, s)),
  ...Array.from({ length: 2 }, () => revokeSpecArb.map((s) => new Revoke(s))),
  ...Array.from({ length: 3 }, () => checkSpecArb.map((s) => new Check(s))),
  ...Array.from({ length: 2 }, () => accessSpecArb.map((s) => new Access(s))),
  ...Array.from({ length: 2 }, () => advanceArb),
  patientArb.map((p) => new ListGrants(p)),
  patientArb.map((p) => new ListAccessLog(p)),
];

async function setup(): Promise<{ model: Model; real: Real }> {
  const ledger = new FakeLedger({ channel: CHANNEL });
  await ledger.invoke(HOSPITAL, identity, 'initConsortium', CONSORTIUM);
  for (const r of RECORDS) {
    const record = { recordId: r.recordId, docHash: sha(`mb doc ${r.issuer} ${r.recordId}`), patientRef: PATIENTS[r.patient].patientRef, category: r.category };
    await ledger.invoke(r.issuer, records, 'anchorRecord', JSON.stringify(record));
  }
  const model: Model = {
    clock: ledger.now,
    registered: PATIENTS.map(() => false),
    usedNonces: new Map(),
    grants: [],
    sent: [],
    log: new Map(),
    nextNonce: 0,
  };
  const real: Real = { ledger, accessTxIds: new Map() };
  // P0 and P1 start registered; P2 registers only through a command, the ghost never does.
  for (const patient of [0, 1]) await new Register(patient, false).run(model, real);
  return { model, real };
}

const envInt = (name: string): number | undefined => (process.env[name] ? Number.parseInt(process.env[name] as string, 10) : undefined);

describe('chaincode: consent, model-based (random grant / revoke / check / access / clock sequences)', function () {
  // A guard against a hung run, not a performance threshold.
  this.timeout(15 * 60_000);

  it('agrees with an independent model of the consent rules on every step', async () => {
    const seed = envInt('MEDPROV_FC_SEED');
    const path = process.env.MEDPROV_FC_PATH;
    await fc.assert(
      fc.asyncProperty(fc.commands(commandArbs, { maxCommands: 60, size: 'max' }), (cmds) => fc.asyncModelRun(setup, cmds)),
      { numRuns: envInt('MEDPROV_FC_RUNS') ?? 200, ...(seed === undefined ? {} : { seed }), ...(path ? { path } : {}) },
    );
    if (process.env.MEDPROV_FC_VERBOSE) console.log([...stats].sort().map(([k, v]) => `${k}: ${v}`).join('\n'));
  });
});
