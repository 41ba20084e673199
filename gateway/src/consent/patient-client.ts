import { encodeBase64, hexlify, id, randomBytes, toUtf8Bytes, type TypedDataDomain, type TypedDataField } from 'ethers';
import {
  CONSENT_CHAIN_ID,
  CONSENT_DOMAIN_NAME,
  CONSENT_DOMAIN_VERSION,
  type ConsentGrantMessage,
  type ConsentRevokeMessage,
  type GuardianAppointmentMessage,
  type GuardianRevokeMessage,
} from '../../../chaincode/src/lib/eip712';
import { PATIENT_CHALLENGE_TYPES, type PatientChallengeMessage } from './typed-data';

/**
 * What a patient's app does around a signature, shared by the Patient page (gateway/web) and
 * the `medprov` CLI: check that what a gateway asks to sign is medprov consent typed data,
 * build the grant, revocation and challenge messages from the patient's registration, and
 * encode the answer to a challenge. Signing itself is the caller's (its wallet). Like
 * typed-data.ts, this module imports nothing from Node or Fabric, so the browser bundles it.
 */

/** validFrom is set this far in the past, so that a patient's clock a little ahead of the ledger's does not make a new grant "not yet valid". */
export const CLOCK_SKEW_SECONDS = 300;
export const DAY_SECONDS = 86_400;

/** 0x + 64 hex: a nonce or a salt as a gateway sends it. */
export const BYTES32 = /^0x[0-9a-fA-F]{64}$/;

/** The patient's registration at a hospital: what every grant, revocation and challenge names. */
export interface PatientRegistration {
  hospital: string;
  patientRef: string;
  /** keccak256(channel), from the hospital's request or a challenge; absent until known. */
  salt?: string;
}

/** The typed data of POST /v1/patients/challenges. */
export interface ChallengeToSign {
  domain: unknown;
  types: unknown;
  primaryType: string;
  message: { gateway: string; nonce: string; expiresAt: number };
}

/**
 * The consent domain of a channel as a gateway sent it, or undefined when it is not
 * medprov-consent v1 on the consortium's chain id with a 32-byte salt (then nothing may be signed).
 */
export function consentDomainOf(domain: unknown): (TypedDataDomain & { salt: string }) | undefined {
  const d = domain as Record<string, unknown> | null;
  if (!d || d.name !== CONSENT_DOMAIN_NAME || d.version !== CONSENT_DOMAIN_VERSION || Number(d.chainId) !== CONSENT_CHAIN_ID || typeof d.salt !== 'string' || !BYTES32.test(d.salt)) {
    return undefined;
  }
  return { name: CONSENT_DOMAIN_NAME, version: CONSENT_DOMAIN_VERSION, chainId: CONSENT_CHAIN_ID, salt: d.salt.toLowerCase() };
}

/** The consent domain of a registration whose channel salt is known. */
export function registrationDomain(reg: PatientRegistration): TypedDataDomain {
  if (!reg.salt) throw new Error('The channel of the registration is not known yet.');
  return { name: CONSENT_DOMAIN_NAME, version: CONSENT_DOMAIN_VERSION, chainId: CONSENT_CHAIN_ID, salt: reg.salt };
}

/** Whether typed-data types a gateway sent are exactly `expected`. */
export const sameTypes = (a: unknown, expected: Record<string, TypedDataField[]>): boolean => JSON.stringify(a) === JSON.stringify(expected);

/** Why a challenge cannot be signed. */
export type ChallengeProblem = 'not-a-challenge' | 'bad-domain' | 'other-channel';

/**
 * The PatientChallenge to sign for `reg`: the gateway's nonce and expiry completed with the
 * registration's hospital and patientRef, in the domain the gateway sent; or the reason it
 * must not be signed (not a PatientChallenge, from another gateway than `expectedGateway`, a
 * foreign domain, or another channel than the registration's).
 */
export function challengeToSign(
  challenge: ChallengeToSign,
  reg: PatientRegistration,
  expectedGateway?: string,
): { domain: TypedDataDomain & { salt: string }; message: PatientChallengeMessage } | { problem: ChallengeProblem } {
  if (challenge.primaryType !== 'PatientChallenge' || !sameTypes(challenge.types, PATIENT_CHALLENGE_TYPES) || (expectedGateway && challenge.message.gateway !== expectedGateway)) {
    return { problem: 'not-a-challenge' };
  }
  const domain = consentDomainOf(challenge.domain);
  if (!domain) return { problem: 'bad-domain' };
  if (reg.salt && reg.salt !== domain.salt) return { problem: 'other-channel' };
  return {
    domain,
    message: { gateway: challenge.message.gateway, hospital: reg.hospital, patientRef: reg.patientRef, nonce: challenge.message.nonce, expiresAt: challenge.message.expiresAt },
  };
}

/** The `Authorization` header value of a signed challenge: `Patient <base64url(JSON {message, signature})>`. */
export function patientAuthorization(message: PatientChallengeMessage, signature: string): string {
  const base64 = encodeBase64(toUtf8Bytes(JSON.stringify({ message, signature })));
  return `Patient ${base64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')}`;
}

/** A fresh random nonce as the chaincode wants it: 0x + 64 lowercase hex. */
export const freshNonce = (): string => hexlify(randomBytes(32));

/** What the patient chooses for a grant; the registration, validFrom and nonce are added by {@link grantMessage}. */
export interface GrantChoice {
  grantee: string;
  purpose: string;
  categories: string[];
  recordIds: string[];
  /** Unix seconds. */
  validUntil: number;
}

/** The ConsentGrant message to sign: valid from a little before `nowSeconds` until the chosen end, with a fresh nonce. */
export function grantMessage(reg: PatientRegistration, choice: GrantChoice, nowSeconds: number): ConsentGrantMessage {
  return {
    hospital: reg.hospital,
    patientRef: reg.patientRef,
    grantee: choice.grantee,
    purpose: choice.purpose,
    categories: choice.categories,
    recordIds: choice.recordIds,
    validFrom: nowSeconds - CLOCK_SKEW_SECONDS,
    validUntil: choice.validUntil,
    nonce: freshNonce(),
  };
}

/** The ConsentRevoke message to sign for one grant, with a fresh nonce. */
export function revokeMessage(reg: PatientRegistration, grantId: string): ConsentRevokeMessage {
  return { hospital: reg.hospital, patientRef: reg.patientRef, grantId, nonce: freshNonce() };
}

/** "category loinc:…, record adm-1": the scope of a grant in words. */
export function describeScope(g: { categories: readonly string[]; recordIds: readonly string[] }): string {
  return [...g.categories.map((c) => `category ${c}`), ...g.recordIds.map((r) => `record ${r}`)].join(', ');
}

/**
 * Who an access-log entry says had the record, in the patient's words: "InsurerMSP" (and the
 * role, when the ledger has one) for an access; "Disclosed by HospitalMSP to SponsorMSP" for a
 * disclosure, the role then being the discloser's.
 */
export function describeAccessParty(e: { accessor: string; role?: string; kind?: string; disclosedBy?: string }): string {
  const role = e.role ? ` (${e.role})` : '';
  if (e.kind === 'linkage') return `Offered by ${e.disclosedBy ?? e.accessor}${role} for ${e.accessor}'s research linkage`;
  return e.kind === 'disclosure' ? `Disclosed by ${e.disclosedBy ?? e.accessor}${role} to ${e.accessor}` : `${e.accessor}${role}`;
}

/** What an access-log entry is about, in a few words: the record (issuer, id, version), or a research linkage request. */
export function describeAccessSubject(e: { kind?: string; issuer: string; recordId: string; version: number; requestId?: string }): string {
  return e.kind === 'linkage' ? `linkage request ${e.requestId ?? e.recordId.replace(/^linkage:/, '')} (no record)` : `${e.issuer} ${e.recordId} v${e.version}`;
}

/**
 * The derivation path of a person's key for one hospital, from their recovery phrase: a
 * hardened account per hospital, m/44'/60'/n'/0/0 with n = the first 31 bits of
 * keccak256("medprov-consent/hospital:" + hospital MSP ID). Patients and guardians alike: the
 * same person's addresses at two hospitals have nothing in common on the ledger, and no list
 * of organisations is needed to find a key again.
 */
export function hospitalKeyPath(hospital: string): string {
  const n = parseInt(id(`medprov-consent/hospital:${hospital}`).slice(2, 10), 16) & 0x7fffffff;
  return `m/44'/60'/${n}'/0/0`;
}

/** What the patient chooses when naming a guardian; the registration, nonce and start are added by {@link appointmentMessage}. */
export interface GuardianChoice {
  /** The address of the guardian's key for this hospital (the guardian derives it from their own phrase). */
  guardian: string;
  purposes: string[];
  categories: string[];
  /** Unix seconds. */
  validUntil: number;
}

/** The GuardianAppointment message to sign: valid from a little before `nowSeconds`, with a fresh nonce. */
export function appointmentMessage(reg: PatientRegistration, choice: GuardianChoice, nowSeconds: number): GuardianAppointmentMessage {
  return {
    hospital: reg.hospital,
    patientRef: reg.patientRef,
    guardian: choice.guardian,
    purposes: choice.purposes,
    categories: choice.categories,
    validFrom: nowSeconds - CLOCK_SKEW_SECONDS,
    validUntil: choice.validUntil,
    nonce: freshNonce(),
  };
}

/** The GuardianRevoke message to sign for one delegation, with a fresh nonce. */
export function guardianRevokeMessage(reg: PatientRegistration, delegationId: string): GuardianRevokeMessage {
  return { hospital: reg.hospital, patientRef: reg.patientRef, delegationId, nonce: freshNonce() };
}

/** The patientRef a challenge names when the signer does not know it yet (the one view, a guardian's listing): 64 zeros. */
export const UNKNOWN_PATIENT_REF = '0'.repeat(64);
