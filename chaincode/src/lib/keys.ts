import type { Context } from 'fabric-contract-api';
import { common, msp } from '@hyperledger/fabric-protos';
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
  /** by|of, organisation, UTC day, time, txId → one break-glass access (made by the org / to the org's records). */
  breakGlass: 'medprov.breakGlass',
  /** revision of the definition in force, digest of the proposed one → its approvals by members' admins. */
  consortiumChange: 'medprov.consortiumChange',
  /** hospital, patientRef, delegationId → a guardian's delegation and its status. */
  delegation: 'medprov.delegation',
  /** guardian address, delegationId → hospital, patientRef: the guardian's own listing, and one hospital per guardian key. */
  guardianDelegation: 'medprov.guardian',
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

export function delegationKey(ctx: Context, hospital: string, patientRef: string, delegationId: string): string {
  return ctx.stub.createCompositeKey(KEY_TYPES.delegation, [hospital, patientRef, delegationId]);
}

export function guardianDelegationKey(ctx: Context, guardian: string, delegationId: string): string {
  return ctx.stub.createCompositeKey(KEY_TYPES.guardianDelegation, [guardian, delegationId]);
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

export function consortiumChangeKey(ctx: Context, baseRevision: number, digest: string): string {
  return ctx.stub.createCompositeKey(KEY_TYPES.consortiumChange, [versionSegment(baseRevision), digest]);
}

/**
 * A break-glass access indexed for audit: `by` the organisation that broke the glass, or `of` the
 * issuer whose record it opened. The day segment lets the rate check and a report scan one UTC day.
 */
export function breakGlassKey(ctx: Context, side: 'by' | 'of', mspId: string, day: string, atIso?: string, txId?: string): string {
  return ctx.stub.createCompositeKey(KEY_TYPES.breakGlass, atIso === undefined || txId === undefined ? [side, mspId, day] : [side, mspId, day, atIso, txId]);
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
  await ctx.stub.setStateValidationParameter(key, orgPolicy(mspId));
}

/** The key-level endorsement policy "a peer of `mspId`", as `setStateValidationParameter` takes it. */
export function orgPolicy(mspId: string): Uint8Array {
  const policy = new KeyEndorsementPolicy();
  policy.addOrgs('PEER', mspId);
  return policy.getPolicy();
}

/**
 * Makes a key changeable only with endorsements from the peers of more than half of `mspIds`
 * (state-based endorsement; the shim's KeyEndorsementPolicy can only require all of them). The
 * consortium definition carries it, so a change needs a majority of the members even if the
 * chaincode-level policy were weaker, or a minority ran patched chaincode.
 */
export async function restrictToMajorityOf(ctx: Context, key: string, mspIds: readonly string[]): Promise<void> {
  await ctx.stub.setStateValidationParameter(key, majorityPolicy(mspIds));
}

/** A signature policy envelope: ⌊n/2⌋+1 out of the peers of the n organisations, as bytes. */
export function majorityPolicy(mspIds: readonly string[]): Uint8Array {
  const orgs = [...new Set(mspIds)].sort();
  const principals = orgs.map((mspId) => {
    const role = new msp.MSPRole();
    role.setMspIdentifier(mspId);
    role.setRole(msp.MSPRole.MSPRoleType.PEER);
    const principal = new msp.MSPPrincipal();
    principal.setPrincipalClassification(msp.MSPPrincipal.Classification.ROLE);
    principal.setPrincipal(role.serializeBinary());
    return principal;
  });
  const nOutOf = new common.SignaturePolicy.NOutOf();
  nOutOf.setN(Math.floor(orgs.length / 2) + 1);
  nOutOf.setRulesList(
    orgs.map((_, i) => {
      const signedBy = new common.SignaturePolicy();
      signedBy.setSignedBy(i);
      return signedBy;
    }),
  );
  const rule = new common.SignaturePolicy();
  rule.setNOutOf(nOutOf);
  const envelope = new common.SignaturePolicyEnvelope();
  envelope.setVersion(0);
  envelope.setRule(rule);
  envelope.setIdentitiesList(principals);
  return envelope.serializeBinary();
}
