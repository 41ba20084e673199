/**
 * Guardians and delegates: the data model shared by the chaincode and its clients, and the
 * test of whether a delegation lets its guardian sign a given grant now. Plain types,
 * constants and pure functions only, so the gateway, the CLI and the browser import it
 * without the contract runtime.
 *
 * A delegation names a guardian, by the address of the guardian's key for the patient's
 * hospital, who may then sign grants and revocations for the patient within an optional
 * scope (purposes, categories) and period. It is made either by the patient (their EIP-712
 * GuardianAppointment signature) or by the hospital with a legal basis code from
 * {@link LEGAL_BASES}, for a minor or a patient who cannot sign. The guardian derives one
 * key per hospital from their own seed, exactly as a patient does, so the same person is
 * under unrelated addresses at two hospitals and the ledger gains no join key.
 */
import type { GuardianAppointmentMessage } from './eip712';

/** Why a hospital may record a guardian without the patient's signature. */
export const LEGAL_BASES = ['minor', 'incapacity', 'court-order'] as const;
export type LegalBasis = (typeof LEGAL_BASES)[number];

/** Who put a delegation in force: the patient's own signature, or the hospital on a legal basis. */
export type DelegationBasis = 'patient' | LegalBasis;

/** Most purposes, and most categories, one delegation may name. */
export const MAX_DELEGATION_SCOPE = 16;

/** The chaincode event of every appointment and revocation of a guardian; payload {@link DelegationChange}. */
export const DELEGATION_EVENT = 'medprov.DelegationChanged';

export type DelegationStatus = 'active' | 'revoked';

/**
 * A delegation as stored: the GuardianAppointment's fields (the guardian is the EIP-55 address
 * of the guardian's key for this hospital; purposes treatment, claims, research = any trial or
 * research:<trialId>, and categories, each empty = any) and how it was made.
 */
export interface Delegation extends GuardianAppointmentMessage {
  /** EIP-712 digest of the GuardianAppointment message (0x + 64 hex), whoever made it. */
  delegationId: string;
  basis: DelegationBasis;
  /** 'patient', or the MSP ID of the hospital that recorded a legal-basis delegation. */
  appointedBy: string;
  /** The patient's signature (basis 'patient' only). */
  signature?: string;
  status: DelegationStatus;
  appointedAt: string;
  txId: string;
  submittedBy: string;
  revocation?: { at: string; txId: string; by: string; nonce?: string; signature?: string; submittedBy: string };
}

/** What the delegation event announces: no PHI, the pseudonym and the delegation's id. */
export interface DelegationChange {
  kind: 'appointed' | 'revoked';
  hospital: string;
  patientRef: string;
  delegationId: string;
  basis: DelegationBasis;
  status: DelegationStatus;
}

/** Whether a delegation's purpose entry covers a grant's purpose ('research' covers every trial). */
export function purposeCovered(purposes: readonly string[], purpose: string): boolean {
  return purposes.length === 0 || purposes.some((p) => p === purpose || (p === 'research' && purpose.startsWith('research:')));
}

/** The first reason a delegation does not let its guardian sign this grant at `now`, or undefined when it does. */
export type DelegationRefusal = 'DELEGATION_REVOKED' | 'DELEGATION_NOT_YET_VALID' | 'DELEGATION_EXPIRED' | 'DELEGATION_OUT_OF_SCOPE';

/**
 * Pure: whether `delegation` covers a grant of `purpose` over `categories` and `recordIds`
 * ending at `validUntil`, at `now` (Unix seconds). A delegation limited to categories covers
 * no record ids (the chaincode would have to guess their category); a grant may not outlive
 * the delegation it was made under.
 */
export function judgeDelegatedGrant(
  delegation: Delegation,
  grant: { purpose: string; categories: readonly string[]; recordIds: readonly string[]; validUntil: number },
  now: number,
): DelegationRefusal | undefined {
  const inForce = delegationInForce(delegation, now);
  if (inForce) return inForce;
  if (!purposeCovered(delegation.purposes, grant.purpose)) return 'DELEGATION_OUT_OF_SCOPE';
  if (delegation.categories.length > 0) {
    if (grant.recordIds.length > 0) return 'DELEGATION_OUT_OF_SCOPE';
    if (grant.categories.some((c) => !delegation.categories.includes(c))) return 'DELEGATION_OUT_OF_SCOPE';
  }
  if (grant.validUntil > delegation.validUntil) return 'DELEGATION_OUT_OF_SCOPE';
  return undefined;
}

/** Revoked, not yet valid or expired at `now`, or undefined while in force. */
export function delegationInForce(delegation: Delegation, now: number): Exclude<DelegationRefusal, 'DELEGATION_OUT_OF_SCOPE'> | undefined {
  if (delegation.status === 'revoked') return 'DELEGATION_REVOKED';
  if (now < delegation.validFrom) return 'DELEGATION_NOT_YET_VALID';
  if (now >= delegation.validUntil) return 'DELEGATION_EXPIRED';
  return undefined;
}

export function delegationEffectiveStatus(delegation: Delegation, now: number): 'active' | 'revoked' | 'expired' | 'pending' {
  const refusal = delegationInForce(delegation, now);
  return refusal === 'DELEGATION_REVOKED' ? 'revoked' : refusal === 'DELEGATION_EXPIRED' ? 'expired' : refusal === 'DELEGATION_NOT_YET_VALID' ? 'pending' : 'active';
}
