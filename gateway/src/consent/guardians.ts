import { hexlify, type TypedDataDomain, type TypedDataField } from 'ethers';
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import type { ConsentGrant, PatientBinding } from '../../../chaincode/src/lib/consent-model';
import type { Delegation, LegalBasis } from '../../../chaincode/src/lib/delegation-model';
import {
  CONSENT_GRANT_TYPES,
  CONSENT_REVOKE_TYPES,
  GUARDIAN_APPOINTMENT_TYPES,
  GUARDIAN_REVOKE_TYPES,
  consentDomain,
  type GuardianAppointmentMessage,
  type GuardianRevokeMessage,
} from '../../../chaincode/src/lib/eip712';
import type { RecordAnchor } from '../../../chaincode/src/lib/record-model';
import { refuseDirectIdentifier } from '../acceptance/requests';
import { ApiError } from '../errors';
import type { Ledger } from '../fabric/client';
import { toApiError, type PatientRefs } from '../records/service';
import type { SignedGrant, SignedRevocation } from './service';
import { checksummedAddress as checksummed, recoverTypedSigner } from './signatures';

/** The patient's signed GuardianAppointment. */
export interface SignedAppointment {
  message: GuardianAppointmentMessage;
  signature: string;
}

/** The patient's signed GuardianRevoke. */
export interface SignedGuardianRevoke {
  message: GuardianRevokeMessage;
  signature: string;
}

/** A grant or revocation a guardian signed, with the delegation it is made under. */
export type GuardianSigned<T> = T & { delegationId: string };

/** What the hospital's records office sends to record a guardian on a legal basis. */
export interface LegalGuardianRequest {
  patientId: string;
  guardian: string;
  basis: LegalBasis;
  purposes?: string[];
  categories?: string[];
  /** Unix seconds; default now. */
  validFrom?: number;
  validUntil: number;
}

export type DelegationWithStatus = Delegation & { effectiveStatus: 'active' | 'revoked' | 'expired' | 'pending' };

const decoder = new TextDecoder();
const parse = <T>(bytes: Uint8Array): T => JSON.parse(decoder.decode(bytes)) as T;

/**
 * Guardians and delegates in the users' terms, over the {@link Ledger} seam; no Express. As
 * for consent, the chaincode is the authority and checks everything again; the gateway checks
 * the signatures first so that a forged or altered request is refused before it is submitted.
 */
export class GuardianService {
  private readonly domain: TypedDataDomain;
  private readonly random: (size: number) => Uint8Array;

  constructor(
    private readonly ledger: Ledger,
    private readonly options: {
      org: { mspId: string; type: string };
      channel: string;
      patientRefs?: PatientRefs;
      clock?: () => number;
      randomBytes?: (size: number) => Uint8Array;
    },
  ) {
    this.domain = consentDomain(options.channel);
    this.random = options.randomBytes ?? nodeRandomBytes;
  }

  /** The patient names a guardian (signed with the key bound to the patientRef). */
  async appointGuardian(body: SignedAppointment): Promise<{ delegation: Delegation; created: boolean; blockNumber: string }> {
    const m = body.message;
    const message: GuardianAppointmentMessage = {
      hospital: m.hospital,
      patientRef: m.patientRef,
      guardian: checksummed('message.guardian', m.guardian),
      purposes: [...m.purposes],
      categories: [...m.categories],
      validFrom: m.validFrom,
      validUntil: m.validUntil,
      nonce: m.nonce,
    };
    this.refuseScopeIdentifiers(message);
    const signer = this.recover(GUARDIAN_APPOINTMENT_TYPES, message, body.signature);
    await this.requireSignerIsPatient(message.hospital, message.patientRef, signer);
    return this.submit('Guardians:appointGuardian', JSON.stringify({ message, signature: body.signature }));
  }

  /** The patient ends a delegation. */
  async revokeGuardian(body: SignedGuardianRevoke): Promise<{ delegation: Delegation; created: boolean; blockNumber: string }> {
    const m = body.message;
    const message: GuardianRevokeMessage = { hospital: m.hospital, patientRef: m.patientRef, delegationId: m.delegationId, nonce: m.nonce };
    const signer = this.recover(GUARDIAN_REVOKE_TYPES, message, body.signature);
    await this.requireSignerIsPatient(message.hospital, message.patientRef, signer);
    return this.submit('Guardians:revokeGuardian', JSON.stringify({ message, signature: body.signature }));
  }

  /** The hospital records a guardian on a legal basis, for its own patient named by the hospital's id. */
  async recordGuardian(request: LegalGuardianRequest): Promise<{ delegation: Delegation; created: boolean; blockNumber: string }> {
    const patientRefs = this.requireHospital();
    const patientRef = await this.call(() => patientRefs.ensurePatientRef(request.patientId));
    const now = Math.floor((this.options.clock ?? Date.now)() / 1000);
    const message: GuardianAppointmentMessage = {
      hospital: this.options.org.mspId,
      patientRef,
      guardian: checksummed('guardian', request.guardian),
      purposes: request.purposes ?? [],
      categories: request.categories ?? [],
      validFrom: request.validFrom ?? now - 300,
      validUntil: request.validUntil,
      nonce: hexlify(this.random(32)),
    };
    this.refuseScopeIdentifiers(message);
    return this.submit('Guardians:recordGuardian', JSON.stringify({ message, basis: request.basis }));
  }

  /** The hospital ends a delegation it recorded on a legal basis. */
  async revokeRecordedGuardian(patientId: string, delegationId: string): Promise<{ delegation: Delegation; created: boolean; blockNumber: string }> {
    const patientRefs = this.requireHospital();
    const patientRef = await this.call(() => patientRefs.ensurePatientRef(patientId));
    return this.submit('Guardians:revokeRecordedGuardian', this.options.org.mspId, patientRef, delegationId);
  }

  /** A grant the guardian signed under a delegation: the guardian must be the delegation's. */
  async grantAsGuardian(body: GuardianSigned<SignedGrant>): Promise<{ grant: ConsentGrant; created: boolean; blockNumber: string }> {
    const m = body.message;
    const message = { hospital: m.hospital, patientRef: m.patientRef, grantee: m.grantee, purpose: m.purpose, categories: [...m.categories], recordIds: [...m.recordIds], validFrom: m.validFrom, validUntil: m.validUntil, nonce: m.nonce };
    message.recordIds.forEach((r, i) => refuseDirectIdentifier(`message.recordIds[${i}]`, r));
    message.categories.forEach((c, i) => refuseDirectIdentifier(`message.categories[${i}]`, c));
    const signer = this.recover(CONSENT_GRANT_TYPES, message, body.signature);
    await this.requireSignerIsGuardian(message.hospital, message.patientRef, body.delegationId, signer);
    return this.submit('Consent:grantConsent', JSON.stringify({ message, signature: body.signature, delegationId: body.delegationId }));
  }

  /** A revocation the guardian signed under a delegation. */
  async revokeAsGuardian(body: GuardianSigned<SignedRevocation>): Promise<{ grant: ConsentGrant; created: boolean; blockNumber: string }> {
    const m = body.message;
    const message = { hospital: m.hospital, patientRef: m.patientRef, grantId: m.grantId, nonce: m.nonce };
    const signer = this.recover(CONSENT_REVOKE_TYPES, message, body.signature);
    await this.requireSignerIsGuardian(message.hospital, message.patientRef, body.delegationId, signer);
    return this.submit('Consent:revokeConsent', JSON.stringify({ message, signature: body.signature, delegationId: body.delegationId }));
  }

  /** Every delegation of the patient's binding, with its status now. */
  async listDelegations(binding: { hospital: string; patientRef: string }): Promise<DelegationWithStatus[]> {
    return parse(await this.call(() => this.ledger.evaluate('Guardians:listDelegations', binding.hospital, binding.patientRef)));
  }

  /** Every delegation naming the guardian's key. */
  async listGuardianDelegations(address: string): Promise<DelegationWithStatus[]> {
    return parse(await this.call(() => this.ledger.evaluate('Guardians:listGuardianDelegations', address)));
  }

  /** The latest version of each record the binding's hospital anchored under its patientRef. */
  async listPatientRecords(binding: { hospital: string; patientRef: string }): Promise<RecordAnchor[]> {
    return parse(await this.call(() => this.ledger.evaluate('Records:listPatientRecords', binding.hospital, binding.patientRef)));
  }

  /** The binding of a key, or PATIENT_NOT_REGISTERED: the one view learns each hospital's patientRef with it. */
  async registrationOf(address: string): Promise<PatientBinding> {
    const binding = parse<PatientBinding | null>(await this.call(() => this.ledger.evaluate('Consent:readPatientByAddress', address)));
    if (!binding) throw new ApiError(404, 'PATIENT_NOT_REGISTERED', 'No hospital has registered this key.');
    return binding;
  }

  // ───────────────────────────── internals ─────────────────────────────

  private refuseScopeIdentifiers(message: GuardianAppointmentMessage): void {
    message.purposes.forEach((p, i) => refuseDirectIdentifier(`message.purposes[${i}]`, p));
    message.categories.forEach((c, i) => refuseDirectIdentifier(`message.categories[${i}]`, c));
    if (message.validUntil <= message.validFrom) throw new ApiError(400, 'INVALID_REQUEST', 'validUntil must be later than validFrom.');
  }

  private requireHospital(): PatientRefs {
    if (this.options.org.type !== 'hospital' || !this.options.patientRefs) {
      throw new ApiError(403, 'FORBIDDEN_ORG_TYPE', `${this.options.org.mspId} is a ${this.options.org.type}; only the patient's hospital records a guardian on a legal basis.`);
    }
    return this.options.patientRefs;
  }

  private recover(types: Record<string, TypedDataField[]>, message: object, signature: string): string {
    return recoverTypedSigner(this.domain, types, message, signature);
  }

  private async requireSignerIsPatient(hospital: string, patientRef: string, signer: string): Promise<void> {
    const binding = parse<PatientBinding | null>(await this.call(() => this.ledger.evaluate('Consent:readPatient', hospital, patientRef)));
    if (!binding) throw new ApiError(404, 'PATIENT_NOT_REGISTERED', `patientRef ${patientRef} of ${hospital} has no registered patient key.`);
    if (binding.patient !== signer) throw new ApiError(403, 'SIGNER_NOT_PATIENT', 'This was not signed with the key bound to this patientRef (forged, or changed after signing).');
  }

  private async requireSignerIsGuardian(hospital: string, patientRef: string, delegationId: string, signer: string): Promise<void> {
    const delegation = (await this.listDelegations({ hospital, patientRef })).find((d) => d.delegationId === delegationId);
    if (!delegation) throw new ApiError(404, 'DELEGATION_NOT_FOUND', `No delegation ${delegationId} for patientRef ${patientRef} of ${hospital}.`);
    if (delegation.guardian !== signer) throw new ApiError(403, 'SIGNER_NOT_GUARDIAN', 'This was not signed with the key of the guardian the delegation names.');
  }

  private async submit<T>(name: string, ...args: string[]): Promise<T & { blockNumber: string }> {
    const committed = await this.call(() => this.ledger.submit(name, ...args));
    return { ...parse<T>(committed.result), blockNumber: committed.blockNumber.toString() };
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toApiError(err);
    }
  }
}
