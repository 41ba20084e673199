import type { Context } from 'fabric-contract-api';
import { KeyEndorsementPolicy } from 'fabric-shim';

/** Composite-key object types. Prefixed so other contracts' keys can never collide. */
export const KEY_TYPES = {
  recordVersion: 'medprov.record',
  recordHead: 'medprov.recordHead',
  docHash: 'medprov.docHash',
  /** hospital, patientRef → the patient's address for that hospital. */
  patientBinding: 'medprov.patient',
  /** address → hospital, patientRef: one binding per address (no cross-org join key). */
  patientAddress: 'medprov.patientAddress',
  /** hospital, patientRef, grantId → the signed grant and its status. */
  consentGrant: 'medprov.consent',
  /** address, nonce → which signed message used it. */
  consentNonce: 'medprov.consentNonce',
  /** hospital, patientRef, time, txId → one access-log entry. */
  accessLog: 'medprov.access',
  /** discloser, disclosureId → what one disclosure recorded (its replay answer). */
  disclosure: 'medprov.disclosure',
  /** erasureId → the record that a hospital destroyed one patient's key (nothing about the patient). */
  erasure: 'medprov.erasure',
} as const;

/** Versions are zero-padded so that a partial-key scan returns them in numeric order. */
export function versionSegment(version: number): string {
  return String(version).padStart(10, '0');
}

export function recordVersionKey(ctx: Context, issuer: string, recordId: string, version: number): string {
  return ctx.stub.createCompositeKey(KEY_TYPES.recordVersion, [issuer, recordId, versionSegment(version)]);
}

export function recordHeadKey(ctx: Context, issuer: string, recordId: string): string {
  return ctx.stub.createCompositeKey(KEY_TYPES.recordHead, [issuer, recordId]);
}

export function docHashKey(ctx: Context, docHash: string): string {
  return ctx.stub.createCompositeKey(KEY_TYPES.docHash, [docHash]);
}

export function patientBindingKey(ctx: Context, hospital: string, patientRef: string): string {
  return ctx.stub.createCompositeKey(KEY_TYPES.patientBinding, [hospital, patientRef]);
}

export function patientAddressKey(ctx: Context, address: string): string {
  return ctx.stub.createCompositeKey(KEY_TYPES.patientAddress, [address]);
}

export function consentGrantKey(ctx: Context, hospital: string, patientRef: string, grantId: string): string {
  return ctx.stub.createCompositeKey(KEY_TYPES.consentGrant, [hospital, patientRef, grantId]);
}

export function consentNonceKey(ctx: Context, address: string, nonce: string): string {
  return ctx.stub.createCompositeKey(KEY_TYPES.consentNonce, [address, nonce]);
}

/**
 * The ISO time segment makes a partial-key scan return a patient's log oldest first. A
 * disclosure writes several entries in one transaction, so its keys carry the record id as a
 * fifth segment (an access's key has four, as it always had).
 */
export function accessLogKey(ctx: Context, hospital: string, patientRef: string, atIso: string, txId: string, recordId?: string): string {
  return ctx.stub.createCompositeKey(KEY_TYPES.accessLog, recordId === undefined ? [hospital, patientRef, atIso, txId] : [hospital, patientRef, atIso, txId, recordId]);
}

export function disclosureKey(ctx: Context, issuer: string, disclosureId: string): string {
  return ctx.stub.createCompositeKey(KEY_TYPES.disclosure, [issuer, disclosureId]);
}

export function erasureKey(ctx: Context, erasureId: string): string {
  return ctx.stub.createCompositeKey(KEY_TYPES.erasure, [erasureId]);
}

/**
 * Makes a key changeable only with an endorsement from the owning organisation's peers
 * (state-based endorsement). It overrides the chaincode-level policy for later updates, so
 * another org running patched chaincode cannot rewrite the key on its own.
 */
export async function restrictToOrg(ctx: Context, key: string, mspId: string): Promise<void> {
  const policy = new KeyEndorsementPolicy();
  policy.addOrgs('PEER', mspId);
  await ctx.stub.setStateValidationParameter(key, policy.getPolicy());
}
