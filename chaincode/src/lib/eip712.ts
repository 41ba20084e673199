import { id, type TypedDataDomain, type TypedDataField } from 'ethers';

/**
 * The EIP-712 definitions a patient signs. This module imports nothing from Fabric, so the
 * gateway, the CLI and the browser page can import the very same definitions.
 *
 * Domain: name 'medprov-consent', version '1', chainId {@link CONSENT_CHAIN_ID} (the
 * consortium's fixed number; it is no EVM chain), no verifyingContract, and
 * salt = keccak256(UTF-8 bytes of the Fabric channel name), i.e. `ethers.id(channel)`.
 * The salt binds every signature to one channel: a grant signed for channel "medprov"
 * does not verify on any other channel.
 */
export const CONSENT_DOMAIN_NAME = 'medprov-consent';
export const CONSENT_DOMAIN_VERSION = '1';
/** 'med' in ASCII (0x6d6564). Fixed for the consortium; not the id of any EVM network we use. */
export const CONSENT_CHAIN_ID = 7_169_380;

export function consentDomain(channel: string): TypedDataDomain {
  return {
    name: CONSENT_DOMAIN_NAME,
    version: CONSENT_DOMAIN_VERSION,
    chainId: CONSENT_CHAIN_ID,
    salt: id(channel),
  };
}

/**
 * The patient proves possession of the key their hospital binds to their patientRef.
 * `hospital` is the MSP ID of the hospital that submits the registration.
 */
export const REGISTER_PATIENT_TYPES: Record<string, TypedDataField[]> = {
  RegisterPatient: [
    { name: 'hospital', type: 'string' },
    { name: 'patientRef', type: 'string' },
    { name: 'nonce', type: 'bytes32' },
  ],
};

/**
 * A consent grant. `hospital` + `patientRef` name the binding (the patientRef is the
 * hospital's pseudonym); the scope covers a record whose category is in `categories` OR
 * whose record id (of that hospital) is in `recordIds`. Valid for validFrom ≤ t < validUntil,
 * in Unix seconds of the transaction timestamp.
 */
export const CONSENT_GRANT_TYPES: Record<string, TypedDataField[]> = {
  ConsentGrant: [
    { name: 'hospital', type: 'string' },
    { name: 'patientRef', type: 'string' },
    { name: 'grantee', type: 'string' },
    { name: 'purpose', type: 'string' },
    { name: 'categories', type: 'string[]' },
    { name: 'recordIds', type: 'string[]' },
    { name: 'validFrom', type: 'uint64' },
    { name: 'validUntil', type: 'uint64' },
    { name: 'nonce', type: 'bytes32' },
  ],
};

/** Revokes one grant, named by its id (the EIP-712 digest of the grant, 0x-hex). */
export const CONSENT_REVOKE_TYPES: Record<string, TypedDataField[]> = {
  ConsentRevoke: [
    { name: 'hospital', type: 'string' },
    { name: 'patientRef', type: 'string' },
    { name: 'grantId', type: 'bytes32' },
    { name: 'nonce', type: 'bytes32' },
  ],
};

export interface RegisterPatientMessage {
  hospital: string;
  patientRef: string;
  nonce: string;
}

export interface ConsentGrantMessage {
  hospital: string;
  patientRef: string;
  grantee: string;
  purpose: string;
  categories: string[];
  recordIds: string[];
  validFrom: number;
  validUntil: number;
  nonce: string;
}

export interface ConsentRevokeMessage {
  hospital: string;
  patientRef: string;
  grantId: string;
  nonce: string;
}

/**
 * The patient names a guardian: the address of the guardian's key for this hospital, the
 * purposes and categories the guardian may grant (empty = any) and the period. A hospital
 * recording a guardian on a legal basis submits the same message unsigned; either way the
 * delegation's id is this message's EIP-712 digest.
 */
export const GUARDIAN_APPOINTMENT_TYPES: Record<string, TypedDataField[]> = {
  GuardianAppointment: [
    { name: 'hospital', type: 'string' },
    { name: 'patientRef', type: 'string' },
    { name: 'guardian', type: 'address' },
    { name: 'purposes', type: 'string[]' },
    { name: 'categories', type: 'string[]' },
    { name: 'validFrom', type: 'uint64' },
    { name: 'validUntil', type: 'uint64' },
    { name: 'nonce', type: 'bytes32' },
  ],
};

/** The patient ends a delegation, named by its id. */
export const GUARDIAN_REVOKE_TYPES: Record<string, TypedDataField[]> = {
  GuardianRevoke: [
    { name: 'hospital', type: 'string' },
    { name: 'patientRef', type: 'string' },
    { name: 'delegationId', type: 'bytes32' },
    { name: 'nonce', type: 'bytes32' },
  ],
};

export interface GuardianAppointmentMessage {
  hospital: string;
  patientRef: string;
  guardian: string;
  purposes: string[];
  categories: string[];
  validFrom: number;
  validUntil: number;
  nonce: string;
}

export interface GuardianRevokeMessage {
  hospital: string;
  patientRef: string;
  delegationId: string;
  nonce: string;
}
