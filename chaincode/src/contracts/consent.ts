import { Context, Info, Returns, Transaction } from 'fabric-contract-api';
import { getAddress, Signature, TypedDataEncoder, verifyTypedData, type TypedDataField } from 'ethers';
import { ChaincodeError } from '../lib/errors';
import { canonicalJson, fromBytes, toBytes } from '../lib/canonical-json';
import { readConsortium } from '../lib/consortium';
import {
  CONSENT_GRANT_TYPES,
  CONSENT_REVOKE_TYPES,
  consentDomain,
  REGISTER_PATIENT_TYPES,
  type ConsentGrantMessage,
  type ConsentRevokeMessage,
  type RegisterPatientMessage,
} from '../lib/eip712';
import {
  consentGrantKey,
  consentNonceKey,
  KEY_TYPES,
  patientAddressKey,
  patientBindingKey,
  restrictToOrg,
} from '../lib/keys';
import {
  CONSENT_EVENT,
  MAX_SCOPE_ITEMS,
  decideConsent,
  effectiveStatus,
  type ConsentChange,
  type ConsentDecision,
  type ConsentGrant,
  type ConsentQuery,
  type PatientBinding,
} from '../lib/consent-model';
import { MedprovContract } from '../lib/policy';
import { requireGuardianFor } from './guardians';
import { txTimeIso, txTimeSeconds } from '../lib/tx-time';
import {
  parseJsonArgument,
  requireAddressHex,
  requireBytes32Hex,
  requireCode,
  requireDistinctList,
  requireMspId,
  requireObject,
  requireOpaqueId,
  requirePurpose,
  requireSha256Hex,
  requireSignatureHex,
  requireUnixSeconds,
} from '../lib/validate';

export {
  CONSENT_EVENT,
  MAX_SCOPE_ITEMS,
  decideConsent,
  effectiveStatus,
  type ConsentChange,
  type ConsentDecision,
  type ConsentGrant,
  type ConsentQuery,
  type Decision,
  type DenyReason,
  type GrantStatus,
  type PatientBinding,
} from '../lib/consent-model';

/** Reads the patient's grants and decides at the transaction timestamp. Shared with Access. */
export async function evaluateConsent(ctx: Context, query: ConsentQuery): Promise<ConsentDecision> {
  const grants = await readGrants(ctx, query.hospital, query.patientRef);
  return { ...decideConsent(grants, query, txTimeSeconds(ctx)), evaluatedAt: txTimeIso(ctx) };
}

export async function readGrants(ctx: Context, hospital: string, patientRef: string): Promise<ConsentGrant[]> {
  const grants: ConsentGrant[] = [];
  for await (const kv of ctx.stub.getStateByPartialCompositeKey(KEY_TYPES.consentGrant, [hospital, patientRef])) {
    grants.push(fromBytes<ConsentGrant>(kv.value));
  }
  return grants;
}

export async function readBinding(ctx: Context, hospital: string, patientRef: string): Promise<PatientBinding | undefined> {
  const bytes = await ctx.stub.getState(patientBindingKey(ctx, hospital, patientRef));
  return bytes.length > 0 ? fromBytes<PatientBinding>(bytes) : undefined;
}

/** An address in its EIP-55 form; a mixed-case address must carry a valid checksum. */
export function normaliseAddress(field: string, value: unknown): string {
  const hex = requireAddressHex(field, value);
  try {
    return getAddress(hex);
  } catch {
    throw new ChaincodeError('INVALID_ARGUMENT', `${field} has a wrong EIP-55 checksum (mixed case that does not match).`);
  }
}

/**
 * The address that signed the typed message, for the domain of this transaction's channel.
 * Refuses signatures ethers cannot parse and high-s (malleable, non-EIP-2) signatures.
 */
export function recoverSigner(ctx: Context, field: string, types: Record<string, TypedDataField[]>, message: object, signature: string): string {
  try {
    if (!Signature.from(signature).isValid()) throw new Error('high s');
    return getAddress(verifyTypedData(consentDomain(ctx.stub.getChannelID()), types, message, signature));
  } catch {
    throw new ChaincodeError('SIGNATURE_INVALID', `${field} is not a valid secp256k1 signature (65 bytes r ‖ s ‖ v, low s, v 27 or 28).`);
  }
}

export async function refuseUsedNonce(ctx: Context, address: string, nonce: string, field: string): Promise<string> {
  const key = consentNonceKey(ctx, address, nonce);
  if ((await ctx.stub.getState(key)).length > 0) {
    throw new ChaincodeError('NONCE_REUSED', `${field} ${nonce} was already used by this patient key; sign again with a fresh random nonce.`);
  }
  return key;
}

function parseRegistration(raw: string): { message: RegisterPatientMessage; patient: string; signature: string } {
  const body = requireObject('registration', parseJsonArgument('registration', raw), ['message', 'patient', 'signature']);
  const m = requireObject('registration.message', body.message, ['hospital', 'patientRef', 'nonce']);
  return {
    message: {
      hospital: requireMspId('registration.message.hospital', m.hospital),
      patientRef: requireSha256Hex('registration.message.patientRef', m.patientRef),
      nonce: requireBytes32Hex('registration.message.nonce', m.nonce),
    },
    patient: normaliseAddress('registration.patient', body.patient),
    signature: requireSignatureHex('registration.signature', body.signature),
  };
}

const GRANT_FIELDS = CONSENT_GRANT_TYPES.ConsentGrant.map((f) => f.name);

function parseGrant(raw: string): { message: ConsentGrantMessage; signature: string; delegationId?: string } {
  const body = requireObject('grant', parseJsonArgument('grant', raw), ['message', 'signature', 'delegationId']);
  const m = requireObject('grant.message', body.message, GRANT_FIELDS);
  const message: ConsentGrantMessage = {
    hospital: requireMspId('grant.message.hospital', m.hospital),
    patientRef: requireSha256Hex('grant.message.patientRef', m.patientRef),
    grantee: requireMspId('grant.message.grantee', m.grantee),
    purpose: requirePurpose('grant.message.purpose', m.purpose),
    categories: requireDistinctList('grant.message.categories', m.categories, MAX_SCOPE_ITEMS, (f, v) => requireCode(f, v)),
    recordIds: requireDistinctList('grant.message.recordIds', m.recordIds, MAX_SCOPE_ITEMS, (f, v) => requireOpaqueId(f, v)),
    validFrom: requireUnixSeconds('grant.message.validFrom', m.validFrom),
    validUntil: requireUnixSeconds('grant.message.validUntil', m.validUntil),
    nonce: requireBytes32Hex('grant.message.nonce', m.nonce),
  };
  if (message.categories.length + message.recordIds.length === 0) {
    throw new ChaincodeError('INVALID_ARGUMENT', 'grant.message must name at least one category or record id.');
  }
  if (message.validUntil <= message.validFrom) {
    throw new ChaincodeError('INVALID_ARGUMENT', 'grant.message.validUntil must be later than validFrom.');
  }
  return { message, signature: requireSignatureHex('grant.signature', body.signature), ...delegationIdOf('grant', body) };
}

/** A guardian's grant or revocation names the delegation it is made under; a patient's does not. */
function delegationIdOf(field: string, body: Record<string, unknown>): { delegationId?: string } {
  return body.delegationId === undefined ? {} : { delegationId: requireBytes32Hex(`${field}.delegationId`, body.delegationId) };
}

function parseRevoke(raw: string): { message: ConsentRevokeMessage; signature: string; delegationId?: string } {
  const body = requireObject('revoke', parseJsonArgument('revoke', raw), ['message', 'signature', 'delegationId']);
  const m = requireObject('revoke.message', body.message, ['hospital', 'patientRef', 'grantId', 'nonce']);
  return {
    message: {
      hospital: requireMspId('revoke.message.hospital', m.hospital),
      patientRef: requireSha256Hex('revoke.message.patientRef', m.patientRef),
      grantId: requireBytes32Hex('revoke.message.grantId', m.grantId),
      nonce: requireBytes32Hex('revoke.message.nonce', m.nonce),
    },
    signature: requireSignatureHex('revoke.signature', body.signature),
    ...delegationIdOf('revoke', body),
  };
}

/**
 * Patient consent: a hospital binds its patientRef to the patient's key; the patient grants
 * and revokes with EIP-712 signatures the chaincode verifies itself, through any member's
 * gateway; anyone in the consortium checks and lists.
 */
@Info({ title: 'Consent', description: 'Patient keys, signed consent grants and revocations, consent checks' })
export class ConsentContract extends MedprovContract {
  constructor() {
    super('Consent');
  }

  /**
   * Binds the caller hospital's patientRef to the patient's address, proven by the patient's
   * RegisterPatient signature. A retry of the same registration returns the binding.
   */
  @Transaction()
  @Returns('string')
  async registerPatient(ctx: Context, registrationJson: string): Promise<string> {
    const { message, patient, signature } = parseRegistration(registrationJson);
    const caller = ctx.clientIdentity.getMSPID();
    if (message.hospital !== caller) {
      throw new ChaincodeError('FORBIDDEN_OTHER_ORG', `${caller} cannot register a patient of ${message.hospital}.`);
    }
    const signer = recoverSigner(ctx, 'registration.signature', REGISTER_PATIENT_TYPES, message, signature);
    if (signer !== patient) {
      throw new ChaincodeError('SIGNATURE_INVALID', 'registration.signature was not made with the key of registration.patient.');
    }
    const existing = await readBinding(ctx, message.hospital, message.patientRef);
    if (existing) {
      if (existing.patient === patient) return canonicalJson({ binding: existing, created: false });
      throw new ChaincodeError('PATIENT_ALREADY_REGISTERED', `patientRef ${message.patientRef} of ${message.hospital} is already bound to another key.`);
    }
    const addressKey = patientAddressKey(ctx, patient);
    if ((await ctx.stub.getState(addressKey)).length > 0) {
      throw new ChaincodeError(
        'PATIENT_KEY_IN_USE',
        'this key is already bound to another patientRef; the patient must use a key derived for this organisation, so that no address links two records.',
      );
    }
    const nonceKey = await refuseUsedNonce(ctx, patient, message.nonce, 'registration.message.nonce');

    const binding: PatientBinding = {
      ...message,
      patient,
      signature,
      registeredAt: txTimeIso(ctx),
      txId: ctx.stub.getTxID(),
    };
    const bindingKey = patientBindingKey(ctx, message.hospital, message.patientRef);
    await ctx.stub.putState(bindingKey, toBytes(binding));
    await restrictToOrg(ctx, bindingKey, message.hospital);
    await ctx.stub.putState(addressKey, toBytes({ hospital: message.hospital, patientRef: message.patientRef }));
    await restrictToOrg(ctx, addressKey, message.hospital);
    await ctx.stub.putState(nonceKey, toBytes({ kind: 'RegisterPatient', txId: ctx.stub.getTxID() }));
    this.emit(ctx, { kind: 'registered', hospital: message.hospital, patientRef: message.patientRef });
    return canonicalJson({ binding, created: true });
  }

  /**
   * Stores a grant signed by the patient. Any member's gateway may submit it; the chaincode
   * checks the signer is the key bound to the patientRef and that the nonce is fresh. The
   * grant id is the EIP-712 digest; re-sending the same signed grant returns it.
   */
  @Transaction()
  @Returns('string')
  async grantConsent(ctx: Context, grantJson: string): Promise<string> {
    const { message, signature, delegationId } = parseGrant(grantJson);
    if (message.validUntil <= txTimeSeconds(ctx)) {
      throw new ChaincodeError('INVALID_ARGUMENT', 'grant.message.validUntil has already passed.');
    }
    const consortium = await readConsortium(ctx);
    if (!consortium?.organisations.some((o) => o.mspId === message.grantee)) {
      throw new ChaincodeError('ORG_NOT_IN_CONSORTIUM', `grant.message.grantee ${message.grantee} is not a member of the consortium.`);
    }
    const signer = recoverSigner(ctx, 'grant.signature', CONSENT_GRANT_TYPES, message, signature);
    if (delegationId !== undefined) {
      // patient → delegation in force, covering this grant → the guardian's signature.
      await requireGuardianFor(ctx, delegationId, message.hospital, message.patientRef, signer, message);
    } else {
      const binding = await this.requireBinding(ctx, message.hospital, message.patientRef);
      if (signer !== binding.patient) {
        throw new ChaincodeError('SIGNER_NOT_PATIENT', 'grant.signature was not made with the key bound to this patientRef.');
      }
    }
    const grantId = TypedDataEncoder.hash(consentDomain(ctx.stub.getChannelID()), CONSENT_GRANT_TYPES, message);
    const grantKey = consentGrantKey(ctx, message.hospital, message.patientRef, grantId);
    const existingBytes = await ctx.stub.getState(grantKey);
    if (existingBytes.length > 0) return canonicalJson({ grant: fromBytes<ConsentGrant>(existingBytes), created: false });
    const nonceKey = await refuseUsedNonce(ctx, signer, message.nonce, 'grant.message.nonce');

    const grant: ConsentGrant = {
      ...message,
      grantId,
      patient: signer,
      signature,
      status: 'active',
      grantedAt: txTimeIso(ctx),
      txId: ctx.stub.getTxID(),
      submittedBy: ctx.clientIdentity.getMSPID(),
      ...(delegationId !== undefined ? { signedBy: 'guardian' as const, delegationId } : {}),
    };
    // No key-level policy: the patient, not one org, owns a grant; the chaincode-level
    // policy (several orgs) protects it, so no single org can extend or delete it.
    await ctx.stub.putState(grantKey, toBytes(grant));
    await ctx.stub.putState(nonceKey, toBytes({ kind: 'ConsentGrant', txId: ctx.stub.getTxID() }));
    this.emit(ctx, changeOf('granted', grant));
    return canonicalJson({ grant, created: true });
  }

  /**
   * Revokes a grant, signed by the key bound to its patientRef. The grant stays readable,
   * marked revoked with the revocation's time and transaction. Revoking a revoked grant
   * returns it unchanged.
   */
  @Transaction()
  @Returns('string')
  async revokeConsent(ctx: Context, revokeJson: string): Promise<string> {
    const { message, signature, delegationId } = parseRevoke(revokeJson);
    const signer = recoverSigner(ctx, 'revoke.signature', CONSENT_REVOKE_TYPES, message, signature);
    if (delegationId !== undefined) {
      await requireGuardianFor(ctx, delegationId, message.hospital, message.patientRef, signer);
    } else {
      const binding = await this.requireBinding(ctx, message.hospital, message.patientRef);
      if (signer !== binding.patient) {
        throw new ChaincodeError('SIGNER_NOT_PATIENT', 'revoke.signature was not made with the key bound to this patientRef.');
      }
    }
    const grantKey = consentGrantKey(ctx, message.hospital, message.patientRef, message.grantId);
    const bytes = await ctx.stub.getState(grantKey);
    if (bytes.length === 0) {
      throw new ChaincodeError('GRANT_NOT_FOUND', `no grant ${message.grantId} for patientRef ${message.patientRef} of ${message.hospital}.`);
    }
    const grant = fromBytes<ConsentGrant>(bytes);
    if (grant.status === 'revoked') return canonicalJson({ grant, created: false });
    const nonceKey = await refuseUsedNonce(ctx, signer, message.nonce, 'revoke.message.nonce');

    const revoked: ConsentGrant = {
      ...grant,
      status: 'revoked',
      revocation: {
        at: txTimeIso(ctx),
        txId: ctx.stub.getTxID(),
        nonce: message.nonce,
        signature,
        submittedBy: ctx.clientIdentity.getMSPID(),
        ...(delegationId !== undefined ? { signedBy: 'guardian' as const, delegationId } : {}),
      },
    };
    await ctx.stub.putState(grantKey, toBytes(revoked));
    await ctx.stub.putState(nonceKey, toBytes({ kind: 'ConsentRevoke', txId: ctx.stub.getTxID() }));
    this.emit(ctx, changeOf('revoked', revoked));
    return canonicalJson({ grant: revoked, created: true });
  }

  /**
   * PERMIT (with the grant id), DENY (with a reason) or NO_CONSENT, at this transaction's
   * timestamp. category and/or recordId (either may be empty, not both) describe the record.
   */
  @Transaction(false)
  @Returns('string')
  async checkConsent(
    ctx: Context,
    hospitalArg: string,
    patientRefArg: string,
    granteeArg: string,
    purposeArg: string,
    categoryArg: string,
    recordIdArg: string,
  ): Promise<string> {
    const query: ConsentQuery = {
      hospital: requireMspId('hospital', hospitalArg),
      patientRef: requireSha256Hex('patientRef', patientRefArg),
      grantee: requireMspId('grantee', granteeArg),
      purpose: requirePurpose('purpose', purposeArg),
      category: categoryArg === undefined || categoryArg === '' ? undefined : requireCode('category', categoryArg),
      recordId: recordIdArg === undefined || recordIdArg === '' ? undefined : requireOpaqueId('recordId', recordIdArg),
    };
    if (query.category === undefined && query.recordId === undefined) {
      throw new ChaincodeError('INVALID_ARGUMENT', 'category or recordId must be given: consent is checked for a record.');
    }
    return canonicalJson(await evaluateConsent(ctx, query));
  }

  /**
   * Every grant for the patientRef, revoked ones included, each with its effective status
   * at this transaction's timestamp (active, revoked, expired or pending).
   */
  @Transaction(false)
  @Returns('string')
  async listGrants(ctx: Context, hospitalArg: string, patientRefArg: string): Promise<string> {
    const hospital = requireMspId('hospital', hospitalArg);
    const patientRef = requireSha256Hex('patientRef', patientRefArg);
    const now = txTimeSeconds(ctx);
    const grants = await readGrants(ctx, hospital, patientRef);
    grants.sort((a, b) => (a.grantedAt < b.grantedAt ? -1 : a.grantedAt > b.grantedAt ? 1 : 0));
    return canonicalJson(grants.map((g) => ({ ...g, effectiveStatus: effectiveStatus(g, now) })));
  }

  /** The binding of a patientRef, or null. */
  @Transaction(false)
  @Returns('string')
  async readPatient(ctx: Context, hospitalArg: string, patientRefArg: string): Promise<string> {
    const hospital = requireMspId('hospital', hospitalArg);
    const patientRef = requireSha256Hex('patientRef', patientRefArg);
    return canonicalJson((await readBinding(ctx, hospital, patientRef)) ?? null);
  }

  /** The binding of an address, or null: lets the patient's app find its patientRef per org. */
  @Transaction(false)
  @Returns('string')
  async readPatientByAddress(ctx: Context, addressArg: string): Promise<string> {
    const address = normaliseAddress('address', addressArg);
    const bytes = await ctx.stub.getState(patientAddressKey(ctx, address));
    if (bytes.length === 0) return canonicalJson(null);
    const { hospital, patientRef } = fromBytes<{ hospital: string; patientRef: string }>(bytes);
    return canonicalJson((await readBinding(ctx, hospital, patientRef)) ?? null);
  }

  private async requireBinding(ctx: Context, hospital: string, patientRef: string): Promise<PatientBinding> {
    const binding = await readBinding(ctx, hospital, patientRef);
    if (!binding) {
      throw new ChaincodeError('PATIENT_NOT_REGISTERED', `patientRef ${patientRef} of ${hospital} has no registered patient key.`);
    }
    return binding;
  }

  private emit(ctx: Context, change: ConsentChange): void {
    ctx.stub.setEvent(CONSENT_EVENT, toBytes(change));
  }
}

function changeOf(kind: 'granted' | 'revoked', grant: ConsentGrant): ConsentChange {
  const { hospital, patientRef, grantId, grantee, purpose, status } = grant;
  return { kind, hospital, patientRef, grantId, grantee, purpose, status };
}
