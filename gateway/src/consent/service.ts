import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { hexlify, type TypedDataDomain, type TypedDataField } from 'ethers';
import type { AccessLogEntry, ConsentDecision, ConsentGrant, DisclosureRecord, PatientBinding } from '../../../chaincode/src/lib/consent-model';
import {
  CONSENT_GRANT_TYPES,
  CONSENT_REVOKE_TYPES,
  REGISTER_PATIENT_TYPES,
  consentDomain,
  type ConsentGrantMessage,
  type ConsentRevokeMessage,
  type RegisterPatientMessage,
} from '../../../chaincode/src/lib/eip712';
import type { RecordAnchor } from '../../../chaincode/src/lib/record-model';
import { ApiError } from '../errors';
import type { Committed, Ledger } from '../fabric/client';
import { LedgerError } from '../fabric/errors';
import { prepareDiscloseRecords, refuseDirectIdentifier, type DisclosureRequest } from '../acceptance/requests';
import { toApiError, type PatientRefs } from '../records/service';
import { GuardianService } from './guardians';
import { checksummedAddress, recoverTypedSigner } from './signatures';
import { NonceStore } from './nonce-store';
import { PATIENT_CHALLENGE_TYPES, type PatientChallengeMessage, type TypedDataToSign } from './typed-data';

/** The body of `POST /v1/patients`: the patient's signed RegisterPatient and their address. */
export interface SignedRegistration {
  message: RegisterPatientMessage;
  patient: string;
  signature: string;
}

/** A patient's signed grant, as the chaincode takes it. */
export interface SignedGrant {
  message: ConsentGrantMessage;
  signature: string;
}

/** A patient's signed revocation, as the chaincode takes it. */
export interface SignedRevocation {
  message: ConsentRevokeMessage;
  signature: string;
}

/** The patient's answer to a challenge: the full message they signed, and the signature. */
export interface SignedChallenge {
  message: PatientChallengeMessage;
  signature: string;
}

/** `GET /v1/consents/check`: category and/or recordId describe the record; grantee defaults to this gateway's org. */
export interface ConsentCheckQuery {
  hospital: string;
  patientRef: string;
  grantee?: string;
  purpose: string;
  category?: string;
  recordId?: string;
}

/** What the hospital hands the patient's app to sign, with the moment the request lapses. */
export interface RegistrationRequest extends TypedDataToSign<RegisterPatientMessage> {
  expiresAt: string;
}

/**
 * A fresh challenge. `message` lacks `hospital` and `patientRef`: the patient's app fills in
 * those of the registration it holds, so this open endpoint never tells anyone which hospital
 * an address belongs to.
 */
export interface PatientChallenge extends TypedDataToSign<Omit<PatientChallengeMessage, 'hospital' | 'patientRef'>> {
  nonce: string;
  expiresAt: string;
}

/** The decision on one consent-checked access, the log entry it wrote, and the provenance only on PERMIT. */
export interface AccessResult extends ConsentDecision {
  accessLog: AccessLogEntry;
  provenance?: RecordAnchor[];
  blockNumber: string;
}

export type GrantWithStatus = ConsentGrant & { effectiveStatus: 'active' | 'revoked' | 'expired' | 'pending' };

export interface ConsentServiceOptions {
  /** This gateway's organisation. */
  org: { mspId: string; type: 'hospital' | 'insurer' | 'sponsor' | 'linkage' };
  /** The Fabric channel: its name is the EIP-712 domain's salt, so it must be the ledger's. */
  channel: string;
  /** The hospital's patientId → patientRef; required for registration, so for hospitals only. */
  patientRefs?: PatientRefs;
  /**
   * Wall-clock milliseconds. Fabric's transaction timestamp is the submitting client's clock,
   * i.e. this one, so the gateway's expiry pre-check agrees with the chaincode's; tests point
   * it at the in-memory ledger's clock.
   */
  clock?: () => number;
  /** How long a listing challenge may be answered. Default 120 s. */
  challengeTtlSeconds?: number;
  /** How long a registration request may be answered. Default 15 min: the patient is at the desk. */
  registrationTtlSeconds?: number;
  /** Most outstanding challenges (and, separately, registration requests) held in memory. Default 10,000. */
  maxPendingNonces?: number;
  randomBytes?: (size: number) => Uint8Array;
  /**
   * Retries of a submit the peers turned down for a conflict (see {@link RETRIED_LEDGER_CODES}):
   * most attempts in all (default 8) and the first backoff in ms (default 50, doubled each time,
   * at most 2 s, with jitter). `sleep` is for tests.
   */
  conflictRetry?: { attempts?: number; baseDelayMs?: number; sleep?: (ms: number) => Promise<void> };
  /** Where a conflict and its retry are logged (pino's fields-first form); silent unless given. */
  logger?: { warn(fields: object, message: string): void };
}

/**
 * Ledger codes after which the same submit is sent again at once (after a short backoff): the
 * transaction was not committed (MVCC_CONFLICT: committed invalid, so it wrote nothing;
 * ENDORSEMENT_MISMATCH: never ordered), and every consent write is idempotent (a grant by its
 * id, a revocation by its grant, a registration by its binding; an access writes one log entry
 * per committed transaction). Not LEDGER_TIMEOUT or LEDGER_UNAVAILABLE: the outcome of those is
 * not known, and an access sent again could be logged twice.
 */
export const RETRIED_LEDGER_CODES: ReadonlySet<string> = new Set(['MVCC_CONFLICT', 'ENDORSEMENT_MISMATCH']);

/** Conflicts seen on submits, by transaction and code: retried, or given up after the last attempt. For /metrics. */
export interface LedgerConflictCount {
  transaction: string;
  code: string;
  outcome: 'retried' | 'gave_up';
  count: number;
}

const decoder = new TextDecoder();
const parse = <T>(bytes: Uint8Array): T => JSON.parse(decoder.decode(bytes)) as T;

/**
 * Patient consent in the users' terms, over the {@link Ledger} seam; no Express here.
 *
 * The chaincode is the authority: it verifies every patient signature and nonce itself. The
 * gateway verifies first as well, so that a forged, altered or malformed request is refused
 * with a code before anything is submitted, and an anonymous caller cannot make this org's
 * identity submit transactions that are bound to fail.
 */
export class ConsentService {
  private readonly org: ConsentServiceOptions['org'];
  private readonly domain: TypedDataDomain;
  private readonly patientRefs?: PatientRefs;
  private readonly clock: () => number;
  private readonly random: (size: number) => Uint8Array;
  private readonly challengeTtlSeconds: number;
  private readonly registrationTtlSeconds: number;
  private readonly registrations: NonceStore<{ patientRef: string }>;
  private readonly challenges: NonceStore<{ address: string; expiresAt: number }>;
  private readonly conflictRetry: { attempts: number; baseDelayMs: number; sleep: (ms: number) => Promise<void> };
  private readonly logger?: ConsentServiceOptions['logger'];
  private readonly conflicts = new Map<string, LedgerConflictCount>();
  /** Guardians and delegates, and the reads of the patient's one view, over the same ledger. */
  readonly guardians: GuardianService;

  constructor(
    private readonly ledger: Ledger,
    options: ConsentServiceOptions,
  ) {
    this.org = options.org;
    this.domain = consentDomain(options.channel);
    this.patientRefs = options.patientRefs;
    this.clock = options.clock ?? Date.now;
    this.random = options.randomBytes ?? nodeRandomBytes;
    this.challengeTtlSeconds = options.challengeTtlSeconds ?? 120;
    this.registrationTtlSeconds = options.registrationTtlSeconds ?? 900;
    const capacity = options.maxPendingNonces ?? 10_000;
    this.registrations = new NonceStore(this.registrationTtlSeconds * 1000, capacity, this.clock);
    this.challenges = new NonceStore(this.challengeTtlSeconds * 1000, capacity, this.clock);
    this.conflictRetry = {
      attempts: options.conflictRetry?.attempts ?? 8,
      baseDelayMs: options.conflictRetry?.baseDelayMs ?? 50,
      sleep: options.conflictRetry?.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms).unref())),
    };
    this.logger = options.logger;
    this.guardians = new GuardianService(ledger, { org: options.org, channel: options.channel, patientRefs: options.patientRefs, clock: this.clock, randomBytes: this.random });
  }

  /** This service's clock (wall-clock ms; the ledger's in tests): what its nonces expire by. */
  now(): number {
    return this.clock();
  }

  /** The conflicts this service's submits met since start, for /metrics. */
  ledgerConflicts(): LedgerConflictCount[] {
    return [...this.conflicts.values()].map((c) => ({ ...c }));
  }

  /** The EIP-712 domain every consent message of this channel is signed in. */
  get typedDataDomain(): TypedDataDomain {
    return { ...this.domain };
  }

  // ───────────────────────────── registration (hospital staff) ─────────────────────────────

  /**
   * Turns the hospital's own patient identifier into the RegisterPatient message the patient
   * signs: this hospital, the patient's patientRef (created if the patient is new here) and a
   * fresh random nonce. The nonce is remembered for a while, so that only a registration this
   * gateway asked for, for that patientRef, is submitted.
   */
  async registrationRequest(patientId: string): Promise<RegistrationRequest> {
    const patientRefs = this.requireHospital();
    const patientRef = await this.call(() => patientRefs.ensurePatientRef(patientId));
    const nonce = this.freshNonce();
    const added = this.registrations.add(nonce, { patientRef });
    if (!added) throw tooManyPending('registration requests', this.registrationTtlSeconds);
    return {
      domain: this.typedDataDomain,
      types: REGISTER_PATIENT_TYPES,
      primaryType: 'RegisterPatient',
      message: { hospital: this.org.mspId, patientRef, nonce },
      expiresAt: new Date(added.expiresAt).toISOString(),
    };
  }

  /**
   * Submits the patient's signed registration after checking it answers a registration
   * request of this gateway and was signed by the address it names. Sending the same
   * registration again (e.g. after a timeout) returns the binding with `created: false`.
   */
  async registerPatient(body: SignedRegistration): Promise<{ binding: PatientBinding; created: boolean; blockNumber: string }> {
    this.requireHospital();
    const message: RegisterPatientMessage = { hospital: body.message.hospital, patientRef: body.message.patientRef, nonce: body.message.nonce };
    if (message.hospital !== this.org.mspId) {
      throw new ApiError(403, 'FORBIDDEN_OTHER_ORG', `${this.org.mspId} cannot register a patient of ${message.hospital}.`);
    }
    const pending = this.registrations.lookup(message.nonce);
    if (pending.status === 'unknown') {
      throw new ApiError(400, 'REGISTRATION_REQUEST_UNKNOWN', 'message.nonce was not issued by this gateway (or it restarted since); ask for a new registration request.');
    }
    if (pending.status === 'expired') {
      throw new ApiError(400, 'REGISTRATION_REQUEST_EXPIRED', 'The registration request has expired; ask for a new one and have the patient sign it.');
    }
    if (pending.value.patientRef !== message.patientRef) {
      throw new ApiError(400, 'REGISTRATION_REQUEST_MISMATCH', 'message.patientRef is not the patientRef this registration request was issued for.');
    }
    const patient = checksummedAddress('patient', body.patient);
    const signer = this.recover(REGISTER_PATIENT_TYPES, message, body.signature);
    if (signer !== patient) {
      throw new ApiError(400, 'SIGNATURE_INVALID', 'signature was not made with the key of patient over this message.');
    }
    const committed = await this.call(() => this.submit('Consent:registerPatient', JSON.stringify({ message, patient, signature: body.signature })));
    return { ...parse<{ binding: PatientBinding; created: boolean }>(committed.result), blockNumber: committed.blockNumber.toString() };
  }

  // ───────────────────────────── grants and revocations (the patient) ─────────────────────────────

  /**
   * Submits a grant the patient signed. Refused here, before any submit: a grant whose end has
   * passed, a signature that does not parse, and one not made with the key bound to the
   * patientRef (a forged grant, or one changed after signing). The chaincode checks it all again.
   */
  async grantConsent(body: SignedGrant): Promise<{ grant: ConsentGrant; created: boolean; blockNumber: string }> {
    const m = body.message;
    const message: ConsentGrantMessage = {
      hospital: m.hospital,
      patientRef: m.patientRef,
      grantee: m.grantee,
      purpose: m.purpose,
      categories: [...m.categories],
      recordIds: [...m.recordIds],
      validFrom: m.validFrom,
      validUntil: m.validUntil,
      nonce: m.nonce,
    };
    // The scope and the purpose are copied to every peer: none may look like a personal identifier.
    message.recordIds.forEach((r, i) => refuseDirectIdentifier(`message.recordIds[${i}]`, r));
    message.categories.forEach((c, i) => refuseDirectIdentifier(`message.categories[${i}]`, c));
    refuseDirectIdentifier('message.purpose', message.purpose);
    if (message.categories.length + message.recordIds.length === 0) {
      throw new ApiError(400, 'INVALID_REQUEST', 'message must name at least one category or record id.');
    }
    if (message.validUntil <= message.validFrom) {
      throw new ApiError(400, 'INVALID_REQUEST', 'message.validUntil must be later than message.validFrom.');
    }
    if (message.validUntil <= this.nowSeconds()) {
      throw new ApiError(400, 'GRANT_EXPIRED', 'message.validUntil has already passed; the patient must sign a grant that ends in the future.');
    }
    const signer = this.recover(CONSENT_GRANT_TYPES, message, body.signature);
    await this.requireSignerIsPatient(message.hospital, message.patientRef, signer, 'grant');
    const committed = await this.call(() => this.submit('Consent:grantConsent', JSON.stringify({ message, signature: body.signature })));
    return { ...parse<{ grant: ConsentGrant; created: boolean }>(committed.result), blockNumber: committed.blockNumber.toString() };
  }

  /** Submits a revocation the patient signed, after the same signature checks as a grant. */
  async revokeConsent(body: SignedRevocation): Promise<{ grant: ConsentGrant; created: boolean; blockNumber: string }> {
    const m = body.message;
    const message: ConsentRevokeMessage = { hospital: m.hospital, patientRef: m.patientRef, grantId: m.grantId, nonce: m.nonce };
    const signer = this.recover(CONSENT_REVOKE_TYPES, message, body.signature);
    await this.requireSignerIsPatient(message.hospital, message.patientRef, signer, 'revocation');
    const committed = await this.call(() => this.submit('Consent:revokeConsent', JSON.stringify({ message, signature: body.signature })));
    return { ...parse<{ grant: ConsentGrant; created: boolean }>(committed.result), blockNumber: committed.blockNumber.toString() };
  }

  // ───────────────────────────── checks and access (staff) ─────────────────────────────

  /** PERMIT / DENY (reason) / NO_CONSENT for the grantee (this org unless named), now. A query: nothing is logged. */
  async checkConsent(query: ConsentCheckQuery): Promise<ConsentDecision> {
    if (query.category === undefined && query.recordId === undefined) {
      throw new ApiError(400, 'INVALID_REQUEST', 'Name the record by category, recordId or both.');
    }
    const args = [query.hospital, query.patientRef, query.grantee ?? this.org.mspId, query.purpose, query.category ?? '', query.recordId ?? ''];
    return parse(await this.call(() => this.ledger.evaluate('Consent:checkConsent', ...args)));
  }

  /**
   * A consent-checked access by this org (the grantee) to a record's provenance. It is a
   * transaction: the chaincode logs the attempt whatever the decision, so a DENY is a
   * successful answer here, not an error. Provenance comes back only on PERMIT.
   */
  async accessRecord(issuer: string, recordId: string, purpose: string): Promise<AccessResult> {
    // Both land in the access log on every peer.
    refuseDirectIdentifier('recordId', recordId);
    refuseDirectIdentifier('purpose', purpose);
    const committed = await this.call(() => this.submit('Access:accessRecord', issuer, recordId, purpose));
    return { ...parse<Omit<AccessResult, 'blockNumber'>>(committed.result), blockNumber: committed.blockNumber.toString() };
  }

  /**
   * Records, synchronously, that this hospital discloses its own records to a grantee: the
   * chaincode checks each record's consent at the transaction's time and logs each in the
   * patient's access log, permitted or not. The journal's path is AcceptanceService.discloseRecords.
   */
  async discloseRecords(disclosure: DisclosureRequest): Promise<{ disclosure: DisclosureRecord; created: boolean; transactionId: string; blockNumber: string }> {
    const request = prepareDiscloseRecords(disclosure);
    const committed = await this.call(() => this.submit(request.transaction, ...request.args));
    return { ...parse<{ disclosure: DisclosureRecord; created: boolean }>(committed.result), transactionId: committed.transactionId, blockNumber: committed.blockNumber.toString() };
  }

  // ───────────────────────────── the patient's own listings ─────────────────────────────

  /**
   * A single-use nonce for the patient's key at `address`, valid for a short while. Nothing
   * about the address is looked up: the answer is the same for any address, registered or not.
   */
  issueChallenge(address: string): PatientChallenge {
    const patient = checksummedAddress('address', address);
    const nonce = this.freshNonce();
    // Whole seconds in the signed message; the store keeps the same instant in milliseconds.
    const expiresAt = Math.floor(this.clock() / 1000) + this.challengeTtlSeconds;
    const added = this.challenges.add(nonce, { address: patient, expiresAt });
    if (!added) throw tooManyPending('challenges', this.challengeTtlSeconds);
    return {
      nonce,
      expiresAt: new Date(expiresAt * 1000).toISOString(),
      domain: this.typedDataDomain,
      types: PATIENT_CHALLENGE_TYPES,
      primaryType: 'PatientChallenge',
      message: { gateway: this.org.mspId, nonce, expiresAt },
    };
  }

  /**
   * The binding of the patient who answered a challenge. The nonce is spent first, whatever
   * follows. The signature must be the challenged address's over this gateway, the nonce and
   * its expiry, and the hospital and patientRef named must be that address's own binding.
   */
  async authenticatePatient(answer: SignedChallenge): Promise<PatientBinding> {
    const { address, message } = this.authenticateKey(answer);
    const binding = parse<PatientBinding | null>(await this.call(() => this.ledger.evaluate('Consent:readPatientByAddress', address)));
    if (!binding) throw new ApiError(404, 'PATIENT_NOT_REGISTERED', 'No hospital has registered this key; register it at your hospital first.');
    if (binding.hospital !== message.hospital || binding.patientRef !== message.patientRef) {
      throw new ApiError(403, 'PATIENT_BINDING_MISMATCH', "The hospital and patientRef signed are not this key's registration.");
    }
    return binding;
  }

  /**
   * The address that answered a challenge, and the message it signed; nothing looked up. The
   * nonce is spent first, whatever follows. A guardian's listing and the patient's one view
   * (which learns the binding of each hospital's key) start here.
   */
  authenticateKey(answer: SignedChallenge): { address: string; message: PatientChallengeMessage } {
    const found = this.challenges.consume(answer.message.nonce);
    if (found.status === 'unknown') throw new ApiError(401, 'CHALLENGE_UNKNOWN', 'This gateway did not issue that challenge (or has forgotten it); ask for a new one.');
    if (found.status === 'used') throw new ApiError(401, 'CHALLENGE_USED', 'That challenge was already answered; each one is good for a single request.');
    if (found.status === 'expired') throw new ApiError(401, 'CHALLENGE_EXPIRED', 'That challenge has expired; ask for a new one and answer it at once.');
    const { address, expiresAt } = found.value;
    const message: PatientChallengeMessage = {
      gateway: answer.message.gateway,
      hospital: answer.message.hospital,
      patientRef: answer.message.patientRef,
      nonce: answer.message.nonce,
      expiresAt: answer.message.expiresAt,
    };
    if (message.gateway !== this.org.mspId || message.expiresAt !== expiresAt) {
      throw new ApiError(401, 'PATIENT_SIGNATURE_INVALID', 'The signed challenge does not match the one this gateway issued (gateway or expiresAt differ).');
    }
    let signer: string | undefined;
    try {
      signer = this.recover(PATIENT_CHALLENGE_TYPES, message, answer.signature);
    } catch {
      signer = undefined;
    }
    if (signer !== address) {
      throw new ApiError(401, 'PATIENT_SIGNATURE_INVALID', 'The challenge was not signed with the key of the address it was issued for.');
    }
    return { address, message };
  }

  /** Every grant about the patient's binding, revoked and expired ones included, oldest first. */
  async listGrants(binding: PatientBinding): Promise<GrantWithStatus[]> {
    return parse(await this.call(() => this.ledger.evaluate('Consent:listGrants', binding.hospital, binding.patientRef)));
  }

  /**
   * One grant, for staff of an organisation that is party to it: the patient's hospital or the
   * grantee. Anyone else gets GRANT_NOT_FOUND, as for a grant that does not exist, so this
   * gateway never tells an org about another org's consents.
   */
  async readGrant(hospital: string, patientRef: string, grantId: string): Promise<GrantWithStatus> {
    const grants = parse<GrantWithStatus[]>(await this.call(() => this.ledger.evaluate('Consent:listGrants', hospital, patientRef)));
    const grant = grants.find((g) => g.grantId === grantId);
    if (!grant || (grant.hospital !== this.org.mspId && grant.grantee !== this.org.mspId)) {
      throw new ApiError(404, 'GRANT_NOT_FOUND', `No grant ${grantId} for patientRef ${patientRef} of ${hospital} that ${this.org.mspId} is party to.`);
    }
    return grant;
  }

  /** Every access-log entry about the patient's binding, permitted or not, oldest first. */
  async listAccessLog(binding: PatientBinding): Promise<AccessLogEntry[]> {
    return parse(await this.call(() => this.ledger.evaluate('Access:listAccessLog', binding.hospital, binding.patientRef)));
  }

  // ───────────────────────────── internals ─────────────────────────────

  private requireHospital(): PatientRefs {
    if (this.org.type !== 'hospital' || !this.patientRefs) {
      throw new ApiError(403, 'FORBIDDEN_ORG_TYPE', `${this.org.mspId} is a ${this.org.type}; only a patient's hospital registers the patient's key.`);
    }
    return this.patientRefs;
  }

  /** Now, in Unix seconds, by this gateway's clock (the one its expiry checks use). */
  nowSeconds(): number {
    return Math.floor(this.clock() / 1000);
  }

  /** 32 random bytes as 0x + 64 lowercase hex, the form the chaincode requires of a nonce. */
  private freshNonce(): string {
    return hexlify(this.random(32));
  }

  /**
   * The EIP-55 address that signed the typed message in this channel's domain. Refuses what
   * the chaincode refuses: signatures ethers cannot parse and high-s (non-EIP-2) signatures.
   */
  private recover(types: Record<string, TypedDataField[]>, message: object, signature: string): string {
    return recoverTypedSigner(this.domain, types, message, signature);
  }

  /**
   * The signer must be the key bound to the patientRef. One query; the chaincode gives the
   * same codes when it checks again, so a caller sees one answer whichever layer refused.
   */
  private async requireSignerIsPatient(hospital: string, patientRef: string, signer: string, what: string): Promise<void> {
    const binding = parse<PatientBinding | null>(await this.call(() => this.ledger.evaluate('Consent:readPatient', hospital, patientRef)));
    if (!binding) throw new ApiError(404, 'PATIENT_NOT_REGISTERED', `patientRef ${patientRef} of ${hospital} has no registered patient key.`);
    if (binding.patient !== signer) {
      throw new ApiError(403, 'SIGNER_NOT_PATIENT', `The ${what} was not signed with the key bound to this patientRef (forged, or changed after signing).`);
    }
  }

  /**
   * Submits, sending the same transaction again when the peers turned it down for a conflict
   * with concurrent writes ({@link RETRIED_LEDGER_CODES}): an access racing a grant of the same
   * patient reads the patient's grants, and a grant committed in between invalidates it.
   */
  private async submit(name: string, ...args: string[]): Promise<Committed> {
    const { attempts, baseDelayMs, sleep } = this.conflictRetry;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.ledger.submit(name, ...args);
      } catch (err) {
        if (!(err instanceof LedgerError) || !RETRIED_LEDGER_CODES.has(err.code)) throw err;
        const last = attempt >= attempts;
        this.countConflict(name, err.code, last ? 'gave_up' : 'retried');
        this.logger?.warn({ transaction: name, code: err.code, txId: err.transactionId, attempt, retrying: !last }, last ? 'ledger conflict; giving up' : 'ledger conflict; retrying');
        if (last) throw err;
        const delay = Math.min(2_000, baseDelayMs * 2 ** (attempt - 1));
        await sleep(delay / 2 + Math.random() * (delay / 2));
      }
    }
  }

  private countConflict(transaction: string, code: string, outcome: LedgerConflictCount['outcome']): void {
    const key = `${transaction}\u0000${code}\u0000${outcome}`;
    const entry = this.conflicts.get(key) ?? { transaction, code, outcome, count: 0 };
    entry.count += 1;
    this.conflicts.set(key, entry);
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toApiError(err);
    }
  }
}

function tooManyPending(what: string, retryAfterSeconds: number): ApiError {
  return new ApiError(503, 'TOO_MANY_PENDING', `This gateway holds too many unanswered ${what}; try again later.`, { retryAfterSeconds });
}
