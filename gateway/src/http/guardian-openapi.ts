/**
 * The guardian routes' part of the OpenAPI document (`openapi.ts` spreads it in): request
 * schemas the routes validate with, and the paths of guardians and delegates and of the
 * patient's one view. Apart from `guardian-routes.ts` so that `openapi.ts` does not import the
 * validator, which imports it.
 *
 * @module
 */
import { LEGAL_BASES, MAX_DELEGATION_SCOPE } from '../../../chaincode/src/lib/delegation-model';
import { MAX_UNIX_SECONDS } from '../../../chaincode/src/lib/validate';

const sha256Hex = { type: 'string', pattern: '^[0-9a-f]{64}$', description: 'SHA-256 digest, 64 lowercase hex characters' } as const;
const mspId = { type: 'string', pattern: '^[A-Za-z0-9.-]{1,64}$' } as const;
const bytes32 = { type: 'string', pattern: '^0x[0-9a-f]{64}$', description: '32 bytes as 0x and 64 lowercase hex characters' } as const;
const signature = { type: 'string', pattern: '^0x[0-9a-fA-F]{130}$', description: 'a 65-byte secp256k1 signature r ‖ s ‖ v as 0x and 130 hex characters (low s)' } as const;
const address = {
  type: 'string',
  pattern: '^0x[0-9a-fA-F]{40}$',
  description: "the address of the guardian's key for this hospital (derived from the guardian's own seed, one key per hospital)",
} as const;
const unixSeconds = { type: 'integer', minimum: 0, maximum: MAX_UNIX_SECONDS, description: 'Unix seconds' } as const;
const purposes = {
  type: 'array',
  maxItems: MAX_DELEGATION_SCOPE,
  uniqueItems: true,
  description: 'Purposes the guardian may grant for (empty: any): treatment, claims, research (any trial) or research:<trialId>',
  items: { type: 'string', pattern: '^(treatment|claims|research|research:[A-Za-z0-9._-]{1,64})$' },
} as const;
const categories = {
  type: 'array',
  maxItems: MAX_DELEGATION_SCOPE,
  uniqueItems: true,
  description: 'Record categories the guardian may grant (empty: any; when limited, the guardian may not grant record ids)',
  items: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._:-]+$' },
} as const;
const patientId = { type: 'string', minLength: 1, maxLength: 128, description: "The hospital's own identifier of the patient (never sent to the ledger)" } as const;

/** The request and answer schemas of the guardian routes (spread into the OpenAPI document's schemas). */
export const guardianSchemas = {
  GuardianAppointmentMessage: {
    type: 'object',
    additionalProperties: false,
    description: 'EIP-712 GuardianAppointment (chaincode/src/lib/eip712.ts); the delegation id is its digest',
    required: ['hospital', 'patientRef', 'guardian', 'purposes', 'categories', 'validFrom', 'validUntil', 'nonce'],
    properties: { hospital: mspId, patientRef: sha256Hex, guardian: address, purposes, categories, validFrom: unixSeconds, validUntil: unixSeconds, nonce: bytes32 },
  },
  GuardianAppointmentBody: {
    type: 'object',
    additionalProperties: false,
    required: ['message', 'signature'],
    properties: { message: { $ref: '#/components/schemas/GuardianAppointmentMessage' }, signature },
  },
  GuardianRevokeBody: {
    type: 'object',
    additionalProperties: false,
    required: ['message', 'signature'],
    properties: {
      message: {
        type: 'object',
        additionalProperties: false,
        description: 'EIP-712 GuardianRevoke',
        required: ['hospital', 'patientRef', 'delegationId', 'nonce'],
        properties: { hospital: mspId, patientRef: sha256Hex, delegationId: bytes32, nonce: bytes32 },
      },
      signature,
    },
  },
  LegalGuardianRequest: {
    type: 'object',
    additionalProperties: false,
    required: ['patientId', 'guardian', 'basis', 'validUntil'],
    properties: {
      patientId,
      guardian: address,
      basis: { type: 'string', enum: [...LEGAL_BASES], description: 'The legal basis on which the hospital names the guardian without the patient’s signature' },
      purposes,
      categories,
      validFrom: { ...unixSeconds, description: 'Unix seconds; default: now (less 5 minutes of clock skew)' },
      validUntil: unixSeconds,
    },
  },
  LegalGuardianRevokeRequest: {
    type: 'object',
    additionalProperties: false,
    required: ['patientId', 'delegationId'],
    properties: { patientId, delegationId: bytes32 },
  },
  GuardianGrantBody: {
    type: 'object',
    additionalProperties: false,
    required: ['message', 'signature', 'delegationId'],
    properties: { message: { $ref: '#/components/schemas/ConsentGrantMessage' }, signature, delegationId: bytes32 },
  },
  GuardianConsentRevokeBody: {
    type: 'object',
    additionalProperties: false,
    required: ['message', 'signature', 'delegationId'],
    properties: { message: { $ref: '#/components/schemas/ConsentRevokeMessage' }, signature, delegationId: bytes32 },
  },
  Delegation: {
    type: 'object',
    description: 'A delegation as the ledger keeps it (Guardians contract); effectiveStatus at the time of the query',
    required: ['delegationId', 'hospital', 'patientRef', 'guardian', 'purposes', 'categories', 'validFrom', 'validUntil', 'basis', 'appointedBy', 'status', 'appointedAt', 'txId'],
    properties: {
      delegationId: bytes32,
      hospital: mspId,
      patientRef: sha256Hex,
      guardian: address,
      purposes: { type: 'array', items: { type: 'string' } },
      categories: { type: 'array', items: { type: 'string' } },
      validFrom: unixSeconds,
      validUntil: unixSeconds,
      basis: { type: 'string', enum: ['patient', ...LEGAL_BASES] },
      appointedBy: { type: 'string', description: "'patient', or the MSP ID of the hospital that recorded it on a legal basis" },
      status: { type: 'string', enum: ['active', 'revoked'] },
      effectiveStatus: { type: 'string', enum: ['active', 'revoked', 'expired', 'pending'] },
      appointedAt: { type: 'string', format: 'date-time' },
      txId: { type: 'string' },
      revocation: { type: 'object', description: "When and by whom ('patient' or the hospital's MSP ID) it was revoked" },
    },
  },
  DelegationResult: {
    type: 'object',
    required: ['delegation', 'created'],
    properties: { delegation: { $ref: '#/components/schemas/Delegation' }, created: { type: 'boolean' }, blockNumber: { type: 'string' } },
  },
  DelegationList: {
    type: 'object',
    required: ['delegations'],
    properties: { hospital: mspId, patientRef: sha256Hex, delegations: { type: 'array', items: { $ref: '#/components/schemas/Delegation' } } },
  },
} as const;

/** The guardian and one-view paths (mounted with the consent routes). */
export function guardianPaths(errors: Record<string, unknown>, patientErrors: Record<string, unknown>): Record<string, unknown> {
  const json = (name: string) => ({ content: { 'application/json': { schema: { $ref: `#/components/schemas/${name}` } } } });
  const patientAuth = 'Authorization: Patient <answer to a challenge> (POST /v1/patients/challenges), one challenge per request.';
  const delegationRefusals =
    '404 DELEGATION_NOT_FOUND; 403 SIGNER_NOT_GUARDIAN (not signed by the delegation’s guardian), DELEGATION_OUT_OF_SCOPE (purpose, categories, record ids or an end past the delegation’s); 409 DELEGATION_REVOKED, DELEGATION_EXPIRED, DELEGATION_NOT_YET_VALID, NONCE_REUSED; 400 SIGNATURE_INVALID.';
  return {
    '/v1/delegations': {
      post: {
        security: [],
        summary: 'The patient names a guardian (no API key: the patient’s EIP-712 GuardianAppointment signature is the authentication)',
        description:
          'The guardian may then grant and revoke for the patient within the purposes, categories and period named. Refusals: 400 SIGNATURE_INVALID, 403 SIGNER_NOT_PATIENT, 404 PATIENT_NOT_REGISTERED, 409 GUARDIAN_KEY_IN_USE (the guardian key already acts at another hospital), NONCE_REUSED. 201 when stored now, 200 when the same appointment was already stored.',
        requestBody: json('GuardianAppointmentBody'),
        responses: { '201': json('DelegationResult'), '200': json('DelegationResult'), ...patientErrors },
      },
    },
    '/v1/delegations/revocations': {
      post: {
        security: [],
        summary: 'The patient ends a delegation (EIP-712 GuardianRevoke)',
        description: '201 when revoked now, 200 when already revoked. Grants the guardian made stay as they are; the patient revokes them one by one. Refusals as for an appointment, plus 404 DELEGATION_NOT_FOUND.',
        requestBody: json('GuardianRevokeBody'),
        responses: { '201': json('DelegationResult'), '200': json('DelegationResult'), ...patientErrors },
      },
    },
    '/v1/delegations/legal-basis': {
      post: {
        summary: 'The hospital records a guardian on a legal basis (minor, incapacity, court-order), for its own patient',
        description: "Records officers of the patient's hospital. The patient needs no registered key (a child may have none). 403 FORBIDDEN_ORG_TYPE elsewhere than a hospital.",
        requestBody: json('LegalGuardianRequest'),
        responses: { '201': json('DelegationResult'), '200': json('DelegationResult'), ...errors },
      },
    },
    '/v1/delegations/legal-basis/revocations': {
      post: {
        summary: 'The hospital ends a delegation it recorded on a legal basis',
        description: '403 DELEGATION_NOT_REVOCABLE for a delegation the patient signed (only the patient revokes it), 404 DELEGATION_NOT_FOUND.',
        requestBody: json('LegalGuardianRevokeRequest'),
        responses: { '201': json('DelegationResult'), '200': json('DelegationResult'), ...errors },
      },
    },
    '/v1/guardians/consents': {
      post: {
        security: [],
        summary: 'A guardian grants for the patient (EIP-712 ConsentGrant signed by the guardian’s key, with the delegation id)',
        description: `The chaincode checks patient → delegation in force at the transaction's time and covering the grant → the guardian's signature; the stored grant says signedBy guardian and names the delegation. Refusals: ${delegationRefusals}`,
        requestBody: json('GuardianGrantBody'),
        responses: { '201': { description: 'Granted', ...json('GrantResult') }, '200': json('GrantResult'), ...patientErrors },
      },
    },
    '/v1/guardians/consents/revocations': {
      post: {
        security: [],
        summary: 'A guardian revokes one of the patient’s grants under a delegation in force',
        description: `Refusals: ${delegationRefusals} 404 GRANT_NOT_FOUND.`,
        requestBody: json('GuardianConsentRevokeBody'),
        responses: { '201': json('GrantResult'), '200': json('GrantResult'), ...patientErrors },
      },
    },
    '/v1/guardians/me/delegations': {
      get: {
        security: [{ patientChallenge: [] }],
        summary: "The delegations naming the guardian's key (the challenge signed by that key, with patientRef 64 zeros; its hospital and patientRef are not used)",
        description: patientAuth,
        responses: { '200': json('DelegationList'), ...patientErrors },
      },
    },
    '/v1/patients/me/delegations': {
      get: {
        security: [{ patientChallenge: [] }],
        summary: "The patient's delegations at this binding, revoked and expired included",
        description: patientAuth,
        responses: { '200': json('DelegationList'), ...patientErrors },
      },
    },
    '/v1/patients/me/registration': {
      get: {
        security: [{ patientChallenge: [] }],
        summary: "The binding of the key that signed the challenge (hospital, patientRef): the patient's one view learns each hospital's patientRef with it",
        description: `${patientAuth} Sign the challenge with the hospital the key was derived for and patientRef 64 zeros (not known yet; not used). 404 PATIENT_NOT_REGISTERED when no hospital bound the key.`,
        responses: { '200': { description: 'The binding' }, ...patientErrors },
      },
    },
    '/v1/patients/me/records': {
      get: {
        security: [{ patientChallenge: [] }],
        summary: "The latest version of every record the patient's hospital anchored under this binding's patientRef",
        description: `${patientAuth} Hashes, record ids, categories, versions and times only.`,
        responses: { '200': { description: 'The records' }, ...patientErrors },
      },
    },
  };
}
