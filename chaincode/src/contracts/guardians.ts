import { Context, Info, Returns, Transaction } from 'fabric-contract-api';
import { TypedDataEncoder } from 'ethers';
import { ChaincodeError } from '../lib/errors';
import { canonicalJson, fromBytes, toBytes } from '../lib/canonical-json';
import { consentDomain, GUARDIAN_APPOINTMENT_TYPES, GUARDIAN_REVOKE_TYPES, type GuardianAppointmentMessage, type GuardianRevokeMessage } from '../lib/eip712';
import { delegationKey, guardianDelegationKey, KEY_TYPES } from '../lib/keys';
import {
  DELEGATION_EVENT,
  LEGAL_BASES,
  MAX_DELEGATION_SCOPE,
  delegationEffectiveStatus,
  delegationInForce,
  judgeDelegatedGrant,
  type Delegation,
  type DelegationChange,
  type LegalBasis,
} from '../lib/delegation-model';
import { MedprovContract } from '../lib/policy';
import { txTimeIso, txTimeSeconds } from '../lib/tx-time';
import {
  parseJsonArgument,
  requireBytes32Hex,
  requireCode,
  requireDistinctList,
  requireMspId,
  requireObject,
  requireOneOf,
  requirePurpose,
  requireSha256Hex,
  requireSignatureHex,
  requireUnixSeconds,
} from '../lib/validate';
import { normaliseAddress, readBinding, recoverSigner, refuseUsedNonce } from './consent';

const APPOINTMENT_FIELDS = GUARDIAN_APPOINTMENT_TYPES.GuardianAppointment.map((f) => f.name);

function requireDelegationPurpose(field: string, value: unknown): string {
  return value === 'research' ? value : requirePurpose(field, value);
}

function parseAppointment(field: string, value: unknown): GuardianAppointmentMessage {
  const m = requireObject(field, value, APPOINTMENT_FIELDS);
  const message: GuardianAppointmentMessage = {
    hospital: requireMspId(`${field}.hospital`, m.hospital),
    patientRef: requireSha256Hex(`${field}.patientRef`, m.patientRef),
    guardian: normaliseAddress(`${field}.guardian`, m.guardian),
    purposes: requireDistinctList(`${field}.purposes`, m.purposes, MAX_DELEGATION_SCOPE, requireDelegationPurpose),
    categories: requireDistinctList(`${field}.categories`, m.categories, MAX_DELEGATION_SCOPE, (f, v) => requireCode(f, v)),
    validFrom: requireUnixSeconds(`${field}.validFrom`, m.validFrom),
    validUntil: requireUnixSeconds(`${field}.validUntil`, m.validUntil),
    nonce: requireBytes32Hex(`${field}.nonce`, m.nonce),
  };
  if (message.validUntil <= message.validFrom) {
    throw new ChaincodeError('INVALID_ARGUMENT', `${field}.validUntil must be later than validFrom.`);
  }
  return message;
}

function parseRevoke(raw: string): { message: GuardianRevokeMessage; signature: string } {
  const body = requireObject('revoke', parseJsonArgument('revoke', raw), ['message', 'signature']);
  const m = requireObject('revoke.message', body.message, ['hospital', 'patientRef', 'delegationId', 'nonce']);
  return {
    message: {
      hospital: requireMspId('revoke.message.hospital', m.hospital),
      patientRef: requireSha256Hex('revoke.message.patientRef', m.patientRef),
      delegationId: requireBytes32Hex('revoke.message.delegationId', m.delegationId),
      nonce: requireBytes32Hex('revoke.message.nonce', m.nonce),
    },
    signature: requireSignatureHex('revoke.signature', body.signature),
  };
}

export async function readDelegation(ctx: Context, hospital: string, patientRef: string, delegationId: string): Promise<Delegation | undefined> {
  const bytes = await ctx.stub.getState(delegationKey(ctx, hospital, patientRef, delegationId));
  return bytes.length > 0 ? fromBytes<Delegation>(bytes) : undefined;
}

async function requireDelegation(ctx: Context, hospital: string, patientRef: string, delegationId: string): Promise<Delegation> {
  const delegation = await readDelegation(ctx, hospital, patientRef, delegationId);
  if (!delegation) {
    throw new ChaincodeError('DELEGATION_NOT_FOUND', `no delegation ${delegationId} for patientRef ${patientRef} of ${hospital}.`);
  }
  return delegation;
}

const REFUSAL_SENTENCES = {
  DELEGATION_REVOKED: 'the delegation was revoked; the guardian may no longer sign for this patient.',
  DELEGATION_NOT_YET_VALID: 'the delegation has not started yet.',
  DELEGATION_EXPIRED: 'the delegation has ended; the guardian may no longer sign for this patient.',
  DELEGATION_OUT_OF_SCOPE: 'the grant is outside what the delegation allows (its purposes, its categories — which then exclude record ids — or its end).',
} as const;

/**
 * The chain a guardian's grant or revocation must pass, at this transaction's time: the
 * delegation exists for this patientRef, is in force, the signer is its guardian and, for a
 * grant, the grant is within its scope and period. Returns the delegation.
 */
export async function requireGuardianFor(
  ctx: Context,
  delegationId: string,
  hospital: string,
  patientRef: string,
  signer: string,
  grant?: { purpose: string; categories: readonly string[]; recordIds: readonly string[]; validUntil: number },
): Promise<Delegation> {
  const delegation = await requireDelegation(ctx, hospital, patientRef, delegationId);
  if (delegation.guardian !== signer) {
    throw new ChaincodeError('SIGNER_NOT_GUARDIAN', `the signature was not made with the key of the guardian of delegation ${delegationId}.`);
  }
  const now = txTimeSeconds(ctx);
  const refusal = grant ? judgeDelegatedGrant(delegation, grant, now) : delegationInForce(delegation, now);
  if (refusal) throw new ChaincodeError(refusal, REFUSAL_SENTENCES[refusal]);
  return delegation;
}

/**
 * Guardians and delegates: a patient (by signature) or the patient's hospital (on a legal
 * basis: minor, incapacity, court order) names a guardian who may then grant and revoke for
 * the patient with the guardian's own signature (Consent:grantConsent / revokeConsent with a
 * delegationId). The patient revokes by signature; the hospital revokes what it recorded.
 */
@Info({ title: 'Guardians', description: 'Delegations to guardians: appointment by the patient or on a legal basis, revocation, listings' })
export class GuardiansContract extends MedprovContract {
  constructor() {
    super('Guardians');
  }

  /**
   * The patient names a guardian with a GuardianAppointment signed by the key bound to their
   * patientRef. Any member's gateway may submit it. Re-sending it returns the delegation.
   */
  @Transaction()
  @Returns('string')
  async appointGuardian(ctx: Context, appointmentJson: string): Promise<string> {
    const body = requireObject('appointment', parseJsonArgument('appointment', appointmentJson), ['message', 'signature']);
    const message = parseAppointment('appointment.message', body.message);
    const signature = requireSignatureHex('appointment.signature', body.signature);
    const binding = await readBinding(ctx, message.hospital, message.patientRef);
    if (!binding) {
      throw new ChaincodeError('PATIENT_NOT_REGISTERED', `patientRef ${message.patientRef} of ${message.hospital} has no registered patient key.`);
    }
    const signer = recoverSigner(ctx, 'appointment.signature', GUARDIAN_APPOINTMENT_TYPES, message, signature);
    if (signer !== binding.patient) {
      throw new ChaincodeError('SIGNER_NOT_PATIENT', 'appointment.signature was not made with the key bound to this patientRef.');
    }
    return this.store(ctx, message, { basis: 'patient', appointedBy: 'patient', signature }, signer);
  }

  /**
   * The patient's hospital records a guardian without the patient's signature, on a legal
   * basis code (minor, incapacity, court-order): for a patient who has no key or cannot sign.
   */
  @Transaction()
  @Returns('string')
  async recordGuardian(ctx: Context, recordJson: string): Promise<string> {
    const body = requireObject('record', parseJsonArgument('record', recordJson), ['message', 'basis']);
    const message = parseAppointment('record.message', body.message);
    const basis = requireOneOf<LegalBasis>('record.basis', body.basis, LEGAL_BASES);
    const caller = ctx.clientIdentity.getMSPID();
    if (message.hospital !== caller) {
      throw new ChaincodeError('FORBIDDEN_OTHER_ORG', `${caller} cannot record a guardian for a patient of ${message.hospital}.`);
    }
    return this.store(ctx, message, { basis, appointedBy: caller }, `hospital:${caller}`);
  }

  /** The patient ends a delegation with a GuardianRevoke signed by their bound key. */
  @Transaction()
  @Returns('string')
  async revokeGuardian(ctx: Context, revokeJson: string): Promise<string> {
    const { message, signature } = parseRevoke(revokeJson);
    const binding = await readBinding(ctx, message.hospital, message.patientRef);
    if (!binding) {
      throw new ChaincodeError('PATIENT_NOT_REGISTERED', `patientRef ${message.patientRef} of ${message.hospital} has no registered patient key.`);
    }
    const signer = recoverSigner(ctx, 'revoke.signature', GUARDIAN_REVOKE_TYPES, message, signature);
    if (signer !== binding.patient) {
      throw new ChaincodeError('SIGNER_NOT_PATIENT', 'revoke.signature was not made with the key bound to this patientRef.');
    }
    const delegation = await requireDelegation(ctx, message.hospital, message.patientRef, message.delegationId);
    if (delegation.status === 'revoked') return canonicalJson({ delegation, created: false });
    const nonceKey = await refuseUsedNonce(ctx, signer, message.nonce, 'revoke.message.nonce');
    await ctx.stub.putState(nonceKey, toBytes({ kind: 'GuardianRevoke', txId: ctx.stub.getTxID() }));
    return this.revoke(ctx, delegation, { by: 'patient', nonce: message.nonce, signature });
  }

  /** The hospital ends a delegation it recorded on a legal basis (not one the patient signed). */
  @Transaction()
  @Returns('string')
  async revokeRecordedGuardian(ctx: Context, hospitalArg: string, patientRefArg: string, delegationIdArg: string): Promise<string> {
    const hospital = requireMspId('hospital', hospitalArg);
    const patientRef = requireSha256Hex('patientRef', patientRefArg);
    const delegationId = requireBytes32Hex('delegationId', delegationIdArg);
    const caller = ctx.clientIdentity.getMSPID();
    if (hospital !== caller) {
      throw new ChaincodeError('FORBIDDEN_OTHER_ORG', `${caller} cannot revoke a guardian of a patient of ${hospital}.`);
    }
    const delegation = await requireDelegation(ctx, hospital, patientRef, delegationId);
    if (delegation.basis === 'patient' || delegation.appointedBy !== caller) {
      throw new ChaincodeError('DELEGATION_NOT_REVOCABLE', 'the patient named this guardian by signature; only the patient can revoke it.');
    }
    if (delegation.status === 'revoked') return canonicalJson({ delegation, created: false });
    return this.revoke(ctx, delegation, { by: caller });
  }

  /** Every delegation of a patientRef, revoked and expired ones included, with its status now. */
  @Transaction(false)
  @Returns('string')
  async listDelegations(ctx: Context, hospitalArg: string, patientRefArg: string): Promise<string> {
    const hospital = requireMspId('hospital', hospitalArg);
    const patientRef = requireSha256Hex('patientRef', patientRefArg);
    const now = txTimeSeconds(ctx);
    const out: Delegation[] = [];
    for await (const kv of ctx.stub.getStateByPartialCompositeKey(KEY_TYPES.delegation, [hospital, patientRef])) out.push(fromBytes<Delegation>(kv.value));
    return canonicalJson(sortByTime(out).map((d) => ({ ...d, effectiveStatus: delegationEffectiveStatus(d, now) })));
  }

  /** Every delegation naming the guardian's key (one hospital per key), with its status now. */
  @Transaction(false)
  @Returns('string')
  async listGuardianDelegations(ctx: Context, guardianArg: string): Promise<string> {
    const guardian = normaliseAddress('guardian', guardianArg);
    const now = txTimeSeconds(ctx);
    const out: Delegation[] = [];
    for await (const kv of ctx.stub.getStateByPartialCompositeKey(KEY_TYPES.guardianDelegation, [guardian])) {
      const { hospital, patientRef, delegationId } = fromBytes<{ hospital: string; patientRef: string; delegationId: string }>(kv.value);
      const delegation = await readDelegation(ctx, hospital, patientRef, delegationId);
      if (delegation) out.push(delegation);
    }
    return canonicalJson(sortByTime(out).map((d) => ({ ...d, effectiveStatus: delegationEffectiveStatus(d, now) })));
  }

  private async store(
    ctx: Context,
    message: GuardianAppointmentMessage,
    made: Pick<Delegation, 'basis' | 'appointedBy' | 'signature'>,
    nonceOwner: string,
  ): Promise<string> {
    if (message.validUntil <= txTimeSeconds(ctx)) {
      throw new ChaincodeError('INVALID_ARGUMENT', 'the delegation\'s validUntil has already passed.');
    }
    const binding = await readBinding(ctx, message.hospital, message.patientRef);
    if (binding?.patient === message.guardian) {
      throw new ChaincodeError('INVALID_ARGUMENT', 'the guardian must be another person than the patient (the guardian key is the patient\'s own).');
    }
    // One hospital per guardian key, as for a patient's key: no address links two hospitals.
    for await (const kv of ctx.stub.getStateByPartialCompositeKey(KEY_TYPES.guardianDelegation, [message.guardian])) {
      const other = fromBytes<{ hospital: string }>(kv.value);
      if (other.hospital !== message.hospital) {
        throw new ChaincodeError(
          'GUARDIAN_KEY_IN_USE',
          'this guardian key already acts at another hospital; the guardian must use the key derived for this hospital, so that no address links two hospitals.',
        );
      }
      break;
    }
    const delegationId = TypedDataEncoder.hash(consentDomain(ctx.stub.getChannelID()), GUARDIAN_APPOINTMENT_TYPES, message);
    const existing = await readDelegation(ctx, message.hospital, message.patientRef, delegationId);
    if (existing) return canonicalJson({ delegation: existing, created: false });
    const nonceKey = await refuseUsedNonce(ctx, nonceOwner, message.nonce, 'message.nonce');

    const delegation: Delegation = {
      ...message,
      delegationId,
      ...made,
      status: 'active',
      appointedAt: txTimeIso(ctx),
      txId: ctx.stub.getTxID(),
      submittedBy: ctx.clientIdentity.getMSPID(),
    };
    // No key-level policy on a patient-signed delegation (the patient owns it, as a grant);
    // the chaincode-level policy (several orgs) protects both kinds.
    await ctx.stub.putState(delegationKey(ctx, message.hospital, message.patientRef, delegationId), toBytes(delegation));
    await ctx.stub.putState(guardianDelegationKey(ctx, message.guardian, delegationId), toBytes({ hospital: message.hospital, patientRef: message.patientRef, delegationId }));
    await ctx.stub.putState(nonceKey, toBytes({ kind: 'GuardianAppointment', txId: ctx.stub.getTxID() }));
    this.emit(ctx, 'appointed', delegation);
    return canonicalJson({ delegation, created: true });
  }

  private async revoke(ctx: Context, delegation: Delegation, how: { by: string; nonce?: string; signature?: string }): Promise<string> {
    const revoked: Delegation = {
      ...delegation,
      status: 'revoked',
      revocation: { at: txTimeIso(ctx), txId: ctx.stub.getTxID(), ...how, submittedBy: ctx.clientIdentity.getMSPID() },
    };
    await ctx.stub.putState(delegationKey(ctx, delegation.hospital, delegation.patientRef, delegation.delegationId), toBytes(revoked));
    this.emit(ctx, 'revoked', revoked);
    return canonicalJson({ delegation: revoked, created: true });
  }

  private emit(ctx: Context, kind: DelegationChange['kind'], d: Delegation): void {
    const change: DelegationChange = { kind, hospital: d.hospital, patientRef: d.patientRef, delegationId: d.delegationId, basis: d.basis, status: d.status };
    ctx.stub.setEvent(DELEGATION_EVENT, toBytes(change));
  }
}

function sortByTime(list: Delegation[]): Delegation[] {
  return list.sort((a, b) => (a.appointedAt < b.appointedAt ? -1 : a.appointedAt > b.appointedAt ? 1 : a.delegationId < b.delegationId ? -1 : 1));
}
