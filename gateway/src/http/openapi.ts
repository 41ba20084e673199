import { MAX_SCOPE_ITEMS } from '../../../chaincode/src/lib/consent-model';
import { MAX_BATCH, RETRACTION_REASONS } from '../../../chaincode/src/lib/record-model';
import { MAX_UNIX_SECONDS } from '../../../chaincode/src/lib/validate';
import { MAX_RELEASE_RECORDS } from '../research/release';
import { archivePaths, archiveSchemas } from './archive-openapi';
import { linkagePaths, linkageSchemas } from './linkage-openapi';
import { guardianPaths, guardianSchemas } from './guardian-openapi';
import { breakGlassPaths, breakGlassSchemas } from './break-glass-openapi';
import { accessReceiptPaths, accessReceiptSchemas } from './access-receipt-openapi';
import { organisationPaths, pageSchemas, registrationLinkPaths } from './pages-openapi';

/**
 * The gateway's OpenAPI 3.1 description: served at /v1/openapi.json and, through its
 * schemas, the validator of every request body, so the document and the checks cannot drift.
 */
const sha256Hex = { type: 'string', pattern: '^[0-9a-f]{64}$', description: 'SHA-256 digest, 64 lowercase hex characters' } as const;
const recordId = {
  type: 'string',
  minLength: 1,
  maxLength: 128,
  pattern: '^[\\p{L}\\p{N}._:/#@+-]+$',
  description: 'Opaque record id chosen by the hospital (letters, digits and . _ : / # @ + -); never a patient identifier',
} as const;
const category = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._:-]+$', description: 'Document type code, e.g. loinc:11506-3' } as const;
const mspId = { type: 'string', pattern: '^[A-Za-z0-9.-]{1,64}$' } as const;
const patientId = {
  type: 'string',
  minLength: 1,
  maxLength: 128,
  description: "The hospital's own patient identifier. It never leaves the gateway: the ledger gets an HMAC commitment under a per-patient key.",
} as const;
const commitment = {
  type: 'string',
  enum: ['salted', 'plain'],
  description:
    "How the ledger commits to the document: plain (its SHA-256) or salted (HMAC-SHA256 of the SHA-256 under a salt only this hospital can derive; the salt is returned and must go with the document to whoever verifies it). Default: salted for uploads up to the gateway's small-document size (64 KiB unless configured), plain otherwise.",
} as const;
const erasureId = {
  type: 'string',
  pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$',
  description: 'The random id of an erasure: a version-4 UUID in lower case',
} as const;
const salt = { ...sha256Hex, description: "A salted record's salt, 64 lowercase hex characters (from the issuing hospital or the document's receipt)" } as const;

// Consent values, with the chaincode's own formats (chaincode/src/lib/validate.ts).
const address = {
  type: 'string',
  pattern: '^0x[0-9a-fA-F]{40}$',
  description: "the address of the patient's key: 0x and 40 hex characters (a mixed-case address must carry a valid EIP-55 checksum)",
} as const;
const bytes32 = { type: 'string', pattern: '^0x[0-9a-f]{64}$', description: '32 bytes as 0x and 64 lowercase hex characters' } as const;
const signature = {
  type: 'string',
  pattern: '^0x[0-9a-fA-F]{130}$',
  description: 'a 65-byte secp256k1 signature r ‖ s ‖ v as 0x and 130 hex characters (low s)',
} as const;
const purpose = {
  type: 'string',
  pattern: '^(treatment|claims|research:[A-Za-z0-9._-]{1,64})$',
  description: 'treatment, claims or research:<trialId> (trialId: 1 to 64 letters, digits, . _ -)',
} as const;
const releaseName = { type: 'string', pattern: '^[a-z][A-Za-z0-9]{0,39}$', description: 'an attribute or column name: a lower-case letter, then letters and digits (at most 40)' } as const;
const unixSeconds = { type: 'integer', minimum: 0, maximum: MAX_UNIX_SECONDS, description: 'Unix seconds' } as const;
const decision = { type: 'string', enum: ['PERMIT', 'DENY', 'NO_CONSENT'] } as const;
const denyReason = { type: 'string', enum: ['REVOKED', 'EXPIRED', 'NOT_YET_VALID', 'OUT_OF_SCOPE', 'WRONG_PURPOSE', 'WRONG_GRANTEE'] } as const;
const typedData = (messageSchema: string, description: string) =>
  ({
    type: 'object',
    description,
    required: ['domain', 'types', 'primaryType', 'message'],
    properties: {
      domain: {
        type: 'object',
        description: "EIP-712 domain: name 'medprov-consent', version '1', chainId 7169380, salt keccak256(channel)",
        properties: { name: { type: 'string' }, version: { type: 'string' }, chainId: { type: 'integer' }, salt: bytes32 },
      },
      types: { type: 'object', description: "ethers' types argument (without EIP712Domain)" },
      primaryType: { type: 'string' },
      message: { $ref: `#/components/schemas/${messageSchema}` },
      expiresAt: { type: 'string', format: 'date-time' },
    },
  }) as const;

export const schemas = {
  ...archiveSchemas,
  ...linkageSchemas,
  ...guardianSchemas,
  ...breakGlassSchemas,
  ...accessReceiptSchemas,
  ...pageSchemas,
  AnchorRequest: {
    type: 'object',
    additionalProperties: false,
    required: ['recordId', 'docHash', 'patientId', 'category'],
    properties: { recordId, docHash: sha256Hex, patientId, category, commitment },
  },
  AnchorBatchRequest: {
    type: 'object',
    additionalProperties: false,
    required: ['records'],
    properties: {
      records: { type: 'array', minItems: 1, maxItems: MAX_BATCH, items: { $ref: '#/components/schemas/AnchorRequest' } },
    },
  },
  AmendRequest: {
    type: 'object',
    additionalProperties: false,
    required: ['docHash'],
    properties: { docHash: sha256Hex, category, commitment: { ...commitment, description: 'As for an anchor; plain unless given' } },
  },
  RetractRequest: {
    type: 'object',
    additionalProperties: false,
    required: ['reason'],
    properties: { reason: { type: 'string', enum: [...RETRACTION_REASONS] } },
  },
  VerifyRequest: {
    type: 'object',
    additionalProperties: false,
    required: ['docHash'],
    properties: { docHash: sha256Hex, salt },
  },
  DocHashPath: {
    type: 'object',
    additionalProperties: false,
    required: ['docHash'],
    properties: { docHash: sha256Hex },
  },
  RecordPath: {
    type: 'object',
    additionalProperties: false,
    required: ['issuer', 'recordId'],
    properties: { issuer: mspId, recordId },
  },
  RecordVersionPath: {
    type: 'object',
    additionalProperties: false,
    required: ['issuer', 'recordId', 'version'],
    properties: { issuer: mspId, recordId, version: { type: 'string', pattern: '^[1-9][0-9]{0,9}$', description: 'a version number: 1, 2, …' } },
  },
  RecordReadQuery: {
    type: 'object',
    additionalProperties: false,
    properties: {
      purpose: {
        ...purpose,
        description:
          "what a record of another organisation is read for: claims (claims officer) or research:<trialId> (research officer); the read is then a consent-checked access logged on the ledger. Not used for this organisation's own records",
      },
    },
  },
  GrantPath: {
    type: 'object',
    additionalProperties: false,
    required: ['hospital', 'patientRef', 'grantId'],
    properties: { hospital: mspId, patientRef: sha256Hex, grantId: { ...bytes32, description: 'the grant id: the EIP-712 digest of the signed grant' } },
  },
  FhirResource: {
    type: 'object',
    description:
      'An HL7 FHIR R4 (4.0.1) resource in JSON, as application/fhir+json: valid against the R4 JSON schema (http://hl7.org/fhir/json-schema/4.0). Identifiers are URNs: urn:medprov:msp (organisations by MSP ID), urn:medprov:patient-ref:<hospital> (the pseudonymous patientRef, never a name or number), urn:medprov:consent-grant, urn:medprov:document-sha256 (a record version), urn:medprov:record:<issuer>. Every export passes the official HL7 validator (HAPI FHIR FhirInstanceValidator, base R4) with no error.',
    required: ['resourceType'],
    properties: { resourceType: { type: 'string', enum: ['Consent', 'Provenance', 'AuditEvent', 'Bundle'] } },
  },
  Anchor: {
    type: 'object',
    properties: {
      docHash: sha256Hex,
      recordId,
      version: { type: 'integer', minimum: 1 },
      supersedes: sha256Hex,
      supersededBy: sha256Hex,
      issuer: mspId,
      patientRef: sha256Hex,
      category,
      status: { type: 'string', enum: ['active', 'superseded', 'retracted'] },
      anchoredAt: { type: 'string', format: 'date-time' },
      txId: { type: 'string' },
    },
  },
  Verdict: {
    type: 'object',
    required: ['verdict', 'docHash'],
    properties: {
      verdict: { type: 'string', enum: ['ORIGINAL', 'SUPERSEDED', 'RETRACTED', 'UNKNOWN'] },
      docHash: sha256Hex,
      issuer: mspId,
      recordId,
      version: { type: 'integer' },
      anchoredAt: { type: 'string', format: 'date-time' },
      txId: { type: 'string' },
      blockNumber: { type: 'string', pattern: '^[0-9]+$', description: 'The block holding the anchoring transaction (txId); absent when the ledger could not tell' },
      supersededBy: sha256Hex,
      retraction: { type: 'object' },
      commitment: { type: 'string', enum: ['plain', 'salted'], description: 'Which form of the document matched: its SHA-256, or its salted commitment' },
      anchoredHash: { ...sha256Hex, description: "For a salted match: the commitment the ledger holds (docHash stays the document's SHA-256)" },
      note: { type: 'string', description: 'With UNKNOWN and no salt: a salted record is found only with its salt' },
    },
  },
  BackupRequestBody: {
    type: 'object',
    additionalProperties: false,
    required: ['recipient'],
    properties: { recipient: { type: 'string', pattern: '^[A-Za-z0-9_-]{43}$', description: "The operator's X25519 public key (32 bytes, base64url): the backup is encrypted to it" } },
  },
  ErasureRequestBody: {
    type: 'object',
    additionalProperties: false,
    required: ['patientId'],
    properties: { patientId: { ...patientId, description: "The hospital's own identifier of the patient to erase; never logged, stored or recorded" } },
  },
  ErasurePath: {
    type: 'object',
    additionalProperties: false,
    required: ['erasureId'],
    properties: { erasureId },
  },
  RegistrationRequestBody: {
    type: 'object',
    additionalProperties: false,
    required: ['patientId'],
    properties: { patientId },
  },
  RegisterPatientMessage: {
    type: 'object',
    additionalProperties: false,
    required: ['hospital', 'patientRef', 'nonce'],
    properties: { hospital: mspId, patientRef: sha256Hex, nonce: bytes32 },
  },
  RegistrationBody: {
    type: 'object',
    additionalProperties: false,
    required: ['message', 'patient', 'signature'],
    properties: { message: { $ref: '#/components/schemas/RegisterPatientMessage' }, patient: address, signature },
  },
  ConsentGrantMessage: {
    type: 'object',
    additionalProperties: false,
    required: ['hospital', 'patientRef', 'grantee', 'purpose', 'categories', 'recordIds', 'validFrom', 'validUntil', 'nonce'],
    properties: {
      hospital: mspId,
      patientRef: sha256Hex,
      grantee: mspId,
      purpose,
      categories: { type: 'array', maxItems: MAX_SCOPE_ITEMS, uniqueItems: true, items: category },
      recordIds: { type: 'array', maxItems: MAX_SCOPE_ITEMS, uniqueItems: true, items: recordId },
      validFrom: unixSeconds,
      validUntil: unixSeconds,
      nonce: bytes32,
    },
  },
  ConsentGrantBody: {
    type: 'object',
    additionalProperties: false,
    required: ['message', 'signature'],
    properties: { message: { $ref: '#/components/schemas/ConsentGrantMessage' }, signature },
  },
  ConsentRevokeMessage: {
    type: 'object',
    additionalProperties: false,
    required: ['hospital', 'patientRef', 'grantId', 'nonce'],
    properties: { hospital: mspId, patientRef: sha256Hex, grantId: bytes32, nonce: bytes32 },
  },
  ConsentRevokeBody: {
    type: 'object',
    additionalProperties: false,
    required: ['message', 'signature'],
    properties: { message: { $ref: '#/components/schemas/ConsentRevokeMessage' }, signature },
  },
  ConsentCheckQuery: {
    type: 'object',
    additionalProperties: false,
    required: ['hospital', 'patientRef', 'purpose'],
    properties: { hospital: mspId, patientRef: sha256Hex, grantee: mspId, purpose, category, recordId },
  },
  AccessRequest: {
    type: 'object',
    additionalProperties: false,
    required: ['issuer', 'recordId', 'purpose'],
    properties: { issuer: mspId, recordId, purpose },
  },
  ReleaseColumnRule: {
    type: 'object',
    additionalProperties: false,
    description:
      'How one released column is derived from one attribute: keep; ageBand (an age, or a birth date at asOf or the release date; width, topCode); birthYear, year, month (of a YYYY-MM-DD date); truncate (keep characters, the rest masked with mask, or cut when mask is empty)',
    required: ['from', 'as'],
    properties: {
      from: releaseName,
      as: { type: 'string', enum: ['keep', 'ageBand', 'birthYear', 'year', 'month', 'truncate'] },
      width: { type: 'integer', minimum: 1, maximum: 100 },
      topCode: { type: 'integer', minimum: 1, maximum: 150 },
      asOf: releaseName,
      keep: { type: 'integer', minimum: 0, maximum: 16 },
      mask: { type: 'string', pattern: '^[*#xX]?$', description: 'one of * # x X, or empty to cut' },
    },
  },
  ReleaseRequest: {
    type: 'object',
    additionalProperties: false,
    required: ['grantee', 'purpose', 'records'],
    properties: {
      grantee: { ...mspId, description: "The sponsor's MSP ID: every record needs a grant to it for purpose" },
      purpose: { type: 'string', pattern: '^research:[A-Za-z0-9._-]{1,64}$', description: 'research:<trialId>' },
      profile: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$', description: "A release profile of this gateway's configuration; default: default" },
      kMin: { type: 'integer', minimum: 2, maximum: 1000, description: "Raises the gateway's minimum k for this release (never lowers it)" },
      records: {
        type: 'array',
        minItems: 1,
        maxItems: MAX_RELEASE_RECORDS,
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['issuer', 'recordId', 'attributes'],
          properties: {
            issuer: { ...mspId, description: 'This hospital: a hospital releases only the records it issued' },
            recordId,
            attributes: {
              type: 'object',
              description:
                'The quasi-identifiers the profile reads (default: sex, birthDate, regionCode, admissionDate, diagnosisCode), as codes, dates YYYY-MM-DD or whole numbers; null or absent for unknown. Never names, numbers, contacts or free text.',
              maxProperties: 16,
              propertyNames: releaseName,
              additionalProperties: {
                oneOf: [
                  { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._:+-]*$' },
                  { type: 'integer', minimum: 0, maximum: 100000 },
                  { type: 'null' },
                ],
              },
            },
          },
        },
      },
      generalisation: {
        type: 'object',
        description: "Column → rule: adds or redefines a column of the profile (such a column always counts as a quasi-identifier), or null to leave it out",
        maxProperties: 16,
        propertyNames: releaseName,
        additionalProperties: { oneOf: [{ $ref: '#/components/schemas/ReleaseColumnRule' }, { type: 'null' }] },
      },
      suppressSmallClasses: { type: 'boolean', description: "Leave out the rows of classes below k instead of refusing, up to the gateway's limit" },
      withoutConsent: { type: 'string', enum: ['refuse', 'omit'], description: 'refuse (default) the release if any record lacks consent, or omit those records' },
      includeRecordIds: { type: 'boolean', description: "Give each row its recordId (default false: record ids lead to the ledger's metadata of the record, which k does not cover)" },
    },
  },
  ReleaseReport: {
    type: 'object',
    description:
      'Counts and column names only, never the values of a class: k (distinct patients in the smallest class of the released rows), the classes below kMin before suppression by size, the records without consent, suppressed and released, and l-diversity of the sensitive columns',
    required: ['kMin', 'k', 'unit', 'quasiIdentifiers', 'records', 'belowK', 'releasable'],
    properties: {
      profile: { type: 'string' },
      grantee: mspId,
      purpose,
      quasiIdentifiers: { type: 'array', items: { type: 'string' } },
      sensitive: { type: 'array', items: { type: 'string' } },
      kMin: { type: 'integer' },
      k: { type: ['integer', 'null'] },
      unit: { type: 'string', enum: ['patients'] },
      records: { type: 'object' },
      classes: { type: 'integer' },
      belowK: { type: 'object' },
      suppression: { type: 'object' },
      lDiversity: { type: 'object' },
      includesRecordIds: { type: 'boolean' },
      releasable: { type: 'boolean' },
    },
  },
  ConsentEventsQuery: {
    type: 'object',
    additionalProperties: false,
    properties: { after: { type: 'string', pattern: '^(?:0|[1-9][0-9]{0,14})$', description: 'an event id of this stream: replay the events after it (0: from the first)' } },
  },
  ConsentEvent: {
    type: 'object',
    description: 'The data of one consent.granted / consent.revoked event: its id, where the ledger committed it, and the change',
    required: ['seq', 'blockNumber', 'transactionId', 'change'],
    properties: {
      seq: { type: 'integer', minimum: 1, description: 'The event id, 1, 2, 3, … without gaps' },
      blockNumber: { type: 'string', pattern: '^[0-9]+$' },
      transactionId: { type: 'string' },
      change: {
        type: 'object',
        required: ['kind', 'hospital', 'patientRef', 'grantId', 'grantee'],
        properties: {
          kind: { type: 'string', enum: ['granted', 'revoked'] },
          hospital: mspId,
          patientRef: sha256Hex,
          grantId: bytes32,
          grantee: mspId,
          purpose,
          status: { type: 'string', enum: ['active', 'revoked'] },
        },
      },
    },
  },
  ChallengeRequest: {
    type: 'object',
    additionalProperties: false,
    required: ['address'],
    properties: { address },
  },
  PatientChallengeMessage: {
    type: 'object',
    additionalProperties: false,
    required: ['gateway', 'hospital', 'patientRef', 'nonce', 'expiresAt'],
    properties: { gateway: mspId, hospital: mspId, patientRef: sha256Hex, nonce: bytes32, expiresAt: unixSeconds },
  },
  PatientCredential: {
    type: 'object',
    additionalProperties: false,
    description: 'The decoded "Authorization: Patient <base64url(JSON)>" credential: the challenge message as signed, and the signature',
    required: ['message', 'signature'],
    properties: { message: { $ref: '#/components/schemas/PatientChallengeMessage' }, signature },
  },
  RegistrationToSign: typedData('RegisterPatientMessage', 'The RegisterPatient message for the patient to sign; answer before expiresAt'),
  ChallengeToSign: {
    type: 'object',
    description:
      "A single-use challenge. message lacks hospital and patientRef: the patient's app adds those of its registration, signs PatientChallenge, and sends Authorization: Patient base64url(JSON {message, signature})",
    required: ['nonce', 'expiresAt', 'domain', 'types', 'primaryType', 'message'],
    properties: {
      nonce: bytes32,
      expiresAt: { type: 'string', format: 'date-time' },
      domain: { type: 'object' },
      types: { type: 'object' },
      primaryType: { type: 'string', enum: ['PatientChallenge'] },
      message: { type: 'object', properties: { gateway: mspId, nonce: bytes32, expiresAt: unixSeconds } },
    },
  },
  PatientBinding: {
    type: 'object',
    properties: {
      hospital: mspId,
      patientRef: sha256Hex,
      patient: address,
      nonce: bytes32,
      signature,
      registeredAt: { type: 'string', format: 'date-time' },
      txId: { type: 'string' },
    },
  },
  ConsentGrant: {
    type: 'object',
    properties: {
      grantId: { ...bytes32, description: 'EIP-712 digest of the signed grant' },
      hospital: mspId,
      patientRef: sha256Hex,
      patient: address,
      grantee: mspId,
      purpose,
      categories: { type: 'array', items: category },
      recordIds: { type: 'array', items: recordId },
      validFrom: unixSeconds,
      validUntil: unixSeconds,
      nonce: bytes32,
      signature,
      status: { type: 'string', enum: ['active', 'revoked'] },
      effectiveStatus: { type: 'string', enum: ['active', 'revoked', 'expired', 'pending'], description: 'In listings: the status at the time of the query' },
      grantedAt: { type: 'string', format: 'date-time' },
      txId: { type: 'string' },
      submittedBy: mspId,
      revocation: { type: 'object' },
    },
  },
  RegistrationResult: {
    type: 'object',
    required: ['binding', 'created', 'blockNumber'],
    properties: { binding: { $ref: '#/components/schemas/PatientBinding' }, created: { type: 'boolean' }, blockNumber: { type: 'string' } },
  },
  GrantResult: {
    type: 'object',
    required: ['grant', 'created', 'blockNumber'],
    properties: { grant: { $ref: '#/components/schemas/ConsentGrant' }, created: { type: 'boolean' }, blockNumber: { type: 'string' } },
  },
  PatientGrants: {
    type: 'object',
    required: ['hospital', 'patientRef', 'patient', 'grants'],
    properties: { hospital: mspId, patientRef: sha256Hex, patient: address, grants: { type: 'array', items: { $ref: '#/components/schemas/ConsentGrant' } } },
  },
  PatientAccessLog: {
    type: 'object',
    required: ['hospital', 'patientRef', 'patient', 'entries'],
    properties: { hospital: mspId, patientRef: sha256Hex, patient: address, entries: { type: 'array', items: { $ref: '#/components/schemas/AccessLogEntry' } } },
  },
  ConsentDecision: {
    type: 'object',
    required: ['decision', 'evaluatedAt'],
    properties: {
      decision,
      reason: denyReason,
      grantId: { ...bytes32, description: 'The grant that permits, or the one this grantee had for this purpose and scope but cannot use now' },
      evaluatedAt: { type: 'string', format: 'date-time' },
    },
  },
  AccessLogEntry: {
    type: 'object',
    description: 'An access (kind absent or access: accessor asked for the record) or a disclosure (kind disclosure: the issuing hospital disclosedBy handed the record to accessor), permitted or not, or a break-glass access (kind break-glass: a hospital clinician opened the record without consent in an emergency)',
    properties: {
      accessor: { ...mspId, description: 'Who the record went to: the caller of an access, the grantee of a disclosure' },
      role: { type: 'string' },
      kind: { type: 'string', enum: ['access', 'disclosure', 'break-glass', 'linkage'], description: 'linkage: the hospital disclosedBy offered the patient for the sponsor’s research linkage request requestId (no record: recordId linkage:<requestId>, version 0)' },
      disclosedBy: { ...mspId, description: 'A disclosure or a linkage: the hospital that disclosed (the issuer)' },
      requestId: { type: 'string', description: 'A linkage: the research linkage request the patient was offered for' },
      disclosureId: { type: 'string', description: 'A disclosure: its id, shared by its entries' },
      issuer: mspId,
      recordId,
      version: { type: 'integer' },
      patientRef: sha256Hex,
      purpose: { type: 'string', description: 'treatment, claims, research:<trialId>; ETREAT (HL7 v3 emergency treatment) on a break-glass entry' },
      decision: { type: 'string', enum: [...decision.enum, 'BREAK_GLASS'], description: 'BREAK_GLASS: opened without consent in an emergency (kind break-glass)' },
      reason: denyReason,
      breakGlassReason: { type: 'string', description: 'A break-glass entry: why consent could not be obtained (unconscious-patient, life-threatening, incapacitated-no-guardian, mass-casualty)' },
      grantId: bytes32,
      at: { type: 'string', format: 'date-time' },
      txId: { type: 'string' },
    },
  },
  AccessResult: {
    type: 'object',
    description:
      'The outcome of a consent-checked access. A DENY or NO_CONSENT is a valid, logged outcome and comes with 200 like a PERMIT: read decision (and reason). provenance is present only on PERMIT.',
    required: ['decision', 'evaluatedAt', 'accessLog', 'blockNumber'],
    properties: {
      decision,
      reason: denyReason,
      grantId: bytes32,
      evaluatedAt: { type: 'string', format: 'date-time' },
      accessLog: { $ref: '#/components/schemas/AccessLogEntry' },
      provenance: { type: 'array', description: 'Every version of the record, oldest first (PERMIT only)', items: { $ref: '#/components/schemas/Anchor' } },
      blockNumber: { type: 'string' },
      receipt: { type: 'string', description: "PERMIT only, at a gateway that issues receipts: the path of this access's consent-bound receipt (GET /v1/access-receipts/{txId}), answered once a checkpoint covers it" },
    },
  },
  Error: {
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message'],
        properties: {
          code: { type: 'string', description: 'Stable machine-readable code, e.g. RECORD_NOT_FOUND' },
          message: { type: 'string', description: 'A sentence a person understands' },
          details: { type: 'object' },
          requestId: { type: 'string' },
        },
      },
    },
  },
} as const;

export type SchemaName = keyof typeof schemas;

const errorResponses = {
  '400': { description: 'Malformed request', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
  '401': { description: 'Missing or unknown API key', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
  '403': { description: 'Your role or organisation may not do this', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
  '429': { description: 'Too many requests', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
} as const;

const patientErrors = {
  '400': errorResponses['400'],
  '401': { description: 'Missing, malformed, unknown, used or expired patient credential', content: errorResponses['400'].content },
  '403': { description: 'Signed by a key that is not bound to this patientRef', content: errorResponses['400'].content },
  '404': { description: 'The patientRef or key is not registered', content: errorResponses['400'].content },
  '409': { description: 'The nonce was already used by this key (NONCE_REUSED)', content: errorResponses['400'].content },
  '429': errorResponses['429'],
} as const;

const json = (name: SchemaName) => ({ content: { 'application/json': { schema: { $ref: `#/components/schemas/${name}` } } } });
const upload = {
  content: {
    'multipart/form-data': {
      schema: {
        type: 'object',
        required: ['document'],
        properties: { document: { type: 'string', contentMediaType: 'application/octet-stream', description: 'The document; hashed as it streams in, never stored' } },
      },
    },
  },
};

/** An upload with extra form fields beside the document. */
const uploadWith = (fields: Record<string, unknown>, required: readonly string[] = []) => ({
  content: {
    'multipart/form-data': {
      schema: { ...upload.content['multipart/form-data'].schema, required: ['document', ...required], properties: { ...upload.content['multipart/form-data'].schema.properties, ...fields } },
    },
  },
});
const anchorUpload = uploadWith({ recordId, patientId, category, commitment }, ['recordId', 'patientId', 'category']);
const verifyUpload = uploadWith({ salt });

/** The document; `consent: false` leaves out the consent routes of a gateway that has no consent service. */
const writeHeaders = [
  { name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,255}$' } },
  { name: 'Prefer', in: 'header', required: false, schema: { type: 'string', examples: ['wait=10'] } },
];
const accepted = { description: 'Accepted durably; poll the Location header (/v1/requests/{id})' };

export function openApiDocument(
  org: { mspId: string; name: string },
  features: { consent?: boolean; consentEvents?: boolean; erasure?: boolean; rotation?: boolean; backups?: boolean; archives?: boolean; linkage?: 'hospital' | 'sponsor' | 'linkage'; registrationLinks?: boolean; accessReceipts?: boolean; breakGlass?: boolean } = {},
): Record<string, unknown> {
  return completeForLinters({
    openapi: '3.1.0',
    info: {
      title: `medprov gateway — ${org.name}`,
      version: '1.0.0',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
      description:
        "One organisation's gateway to the medprov consortium ledger. Documents are hashed here and never stored; the ledger holds hashes, HMAC commitments and codes only.",
    },
    servers: [{ url: '/' }],
    security: [{ apiKey: [] }],
    components: {
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <API key>' },
        patientChallenge: {
          type: 'http',
          scheme: 'patient',
          description:
            'Authorization: Patient <base64url(JSON {message, signature})>, where message is the PatientChallenge from POST /v1/patients/challenges completed with your hospital and patientRef, signed with EIP-712 by the key the challenge was issued for. Each challenge answers one request.',
        },
      },
      schemas,
    },
    paths: {
      '/healthz': { get: { security: [], summary: 'Liveness and readiness', description: 'Always 200 while the process serves. `ledger.ready` is true once a probe transaction (Identity:whoAmI) committed through this gateway\'s peer since start; `peer` names the organisation\'s peer in use, its configured peers in order and how often the gateway moved to the next one because its peer stopped answering; `anchorIndex` and `anchoring` say how far the local index and the public anchoring have read.', responses: { '200': { description: 'Up' } } } },
      '/metrics': { get: { security: [], summary: 'Prometheus metrics', responses: { '200': { description: 'Metrics in text format' } } } },
      '/v1/openapi.json': { get: { security: [], summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1' } } } },
      '/docs': { get: { security: [], summary: 'This document rendered as an API reference page (Redoc, served by the gateway itself)', responses: { '200': { description: 'HTML' } } } },
      '/v1/whoami': {
        get: {
          summary: 'The caller and the organisation',
          description:
            "The API user (id, role), the organisation, and `ledgerIdentity`: the Fabric identity this key's transactions are submitted as — with Fabric CA identities the organisation's enrolled user of the key's role (`source: fabric-ca`, `certifiedRole` its certificate's `medprov.role`, which the chaincode checks where a role matters), with cryptogen the organisation's one gateway identity (`certifiedRole: null`).",
          responses: { '200': { description: 'Caller' }, ...errorResponses },
        },
      },
      '/v1/documents/hash': {
        post: { summary: 'Hash a document (upload) without anchoring it', requestBody: upload, responses: { '200': { description: 'Digest' }, ...errorResponses } },
      },
      '/v1/records': {
        post: {
          summary: 'Anchor a record version 1 by its hash (records officer)',
          description:
            'Like every write: accepted durably and answered 202 with a Location (/v1/requests/{id}) to poll; send `Prefer: wait=N` (N ≤ 30 s) to get the final answer when it comes in time, and an `Idempotency-Key` header to make retries safe (the same key with another body is refused 409 IDEMPOTENCY_KEY_REUSED). ' +
            'Every answer (201, 200, 202) says `commitment` (salted or plain); a salted one also carries the `salt` (the ledger holds HMAC-SHA256 of the document hash under it, see gateway/src/documents/commitment.ts): hand it on with the document, or it can be verified only here. Batch answers carry `salts` by record id; amendments take `commitment` as well.',
          parameters: writeHeaders,
          requestBody: { content: { ...json('AnchorRequest').content, ...anchorUpload.content } },
          responses: { '201': json('Anchor'), '202': accepted, ...errorResponses },
        },
      },
      '/v1/requests/{id}': {
        get: {
          summary: 'How an accepted write stands: accepted, submitting (attempts, last error), committed (transaction, block, result) or rejected (code)',
          responses: { '200': { description: 'Request status' }, ...errorResponses },
        },
      },
      '/v1/records/batch': {
        post: { summary: 'Anchor many records in one transaction', requestBody: json('AnchorBatchRequest'), responses: { '201': { description: 'Anchored' }, ...errorResponses } },
      },
      '/v1/records/{issuer}/{recordId}': {
        get: {
          summary: 'Latest version of a record',
          description: RECORD_READ_RULE,
          parameters: recordReadParameters,
          responses: { '200': { ...json('Anchor'), headers: accessReadHeaders }, ...errorResponses, ...recordReadRefusals },
        },
      },
      '/v1/records/{issuer}/{recordId}/history': {
        get: {
          summary: 'Every version, oldest first',
          description: `${RECORD_READ_RULE} A read under consent also carries \`access\` ({ purpose, grantId, transactionId, blockNumber }) in the body.`,
          parameters: recordReadParameters,
          responses: { '200': { description: 'Versions', headers: accessReadHeaders }, ...errorResponses, ...recordReadRefusals },
        },
      },
      '/v1/records/{issuer}/{recordId}/versions/{version}/provenance': {
        get: {
          summary: 'The provenance of one record version as FHIR R4: a Bundle (collection) of Provenance, oldest first',
          description:
            `Its anchoring (v3-DataOperation CREATE for version 1, UPDATE for an amendment, naming the superseded version as entity revision) and, when the version is retracted, the retraction (NULLIFY, with the reason). Target: the version as a DocumentReference by its SHA-256; agent: the issuing hospital; the ledger transaction id in an extension. 404 RECORD_NOT_FOUND when the record has no such version. ${RECORD_READ_RULE}`,
          parameters: recordReadParameters,
          responses: { '200': { ...fhirJson, headers: accessReadHeaders }, ...errorResponses, ...recordReadRefusals },
        },
      },
      '/v1/records/{issuer}/{recordId}/versions': {
        post: { summary: 'Amend: anchor the next version', requestBody: json('AmendRequest'), responses: { '201': json('Anchor'), ...errorResponses } },
      },
      '/v1/records/{issuer}/{recordId}/retraction': {
        put: { summary: 'Retract a record with a reason code', requestBody: json('RetractRequest'), responses: { '200': json('Anchor'), ...errorResponses } },
      },
      '/v1/receipts/{docHash}': {
        get: {
          summary: 'The receipt of an anchored document: checkable offline, and against the EVM chain, without the consortium',
          description:
            'A self-contained JSON receipt: the anchor\'s leaf (document hash, issuer, record id, version, time, Fabric transaction and block), its RFC 9162 inclusion proof, and the first AnchorRegistry checkpoint covering it (tree size, root, chain id, contract, EVM transaction). Check it with `medprov verify-receipt` or the Verify page. 404 NOT_IN_ANCHOR_LOG when the hash is not (yet) in the log; 409 RECEIPT_PENDING until a checkpoint covers it (Retry-After); 503 ANCHORING_OFF when this gateway has no EVM chain configured.',
          parameters: [{ name: 'docHash', in: 'path', required: true, schema: sha256Hex }],
          responses: {
            '200': { description: 'Receipt (see gateway/src/anchoring/receipt.ts for the format)', content: { 'application/json': { schema: { type: 'object' } } } },
            '404': { description: 'Not (yet) in the anchor log (NOT_IN_ANCHOR_LOG)', content: errorResponses['400'].content },
            '409': { description: 'Anchored, not yet checkpointed (RECEIPT_PENDING)', content: errorResponses['400'].content },
            '503': { description: 'No EVM chain configured or reachable (ANCHORING_OFF, REGISTRY_UNAVAILABLE), or receipts withheld after a fork', content: errorResponses['400'].content },
            ...errorResponses,
          },
        },
      },
      '/v1/verifications': {
        post: {
          summary: 'Verify a document: send its hash (JSON) or the document itself (multipart)',
          description:
            "With `salt`, the salted commitment of the document under it is looked up (a wrong salt gives UNKNOWN). Without one, the bare hash; at the issuing hospital's own gateway also its own salted commitment. `commitment` says which matched; an UNKNOWN without a salt carries a `note` that a salted record needs its salt.",
          requestBody: { content: { ...json('VerifyRequest').content, ...verifyUpload.content } },
          responses: { '200': json('Verdict'), ...errorResponses },
        },
      },
      ...(features.consent === false ? {} : consentPaths),
      ...(features.consent === false ? {} : guardianPaths(errorResponses, patientErrors)),
      ...(features.consent === false ? {} : researchPaths),
      ...(features.consentEvents ? consentEventPaths : {}),
      ...(features.erasure ? erasurePaths : {}),
      ...(features.rotation ? rotationPaths : {}),
      ...(features.backups ? backupPaths : {}),
      ...(features.archives ? archivePaths(errorResponses) : {}),
      ...(features.linkage ? linkagePaths(errorResponses, features.linkage) : {}),
      ...(features.breakGlass ? breakGlassPaths(errorResponses) : {}),
      ...(features.accessReceipts ? accessReceiptPaths(errorResponses) : {}),
      ...organisationPaths,
      ...(features.registrationLinks ? registrationLinkPaths(errorResponses, patientErrors) : {}),
    },
  });
}

/** The schema of each path template variable, where an operation does not declare its own. */
const PATH_PARAMETER_SCHEMAS: Record<string, object> = {
  id: { type: 'string', description: 'The id of an accepted request (from its Location)' },
  issuer: mspId,
  hospital: mspId,
  recordId,
  version: { type: 'integer', minimum: 1 },
  patientRef: sha256Hex,
  grantId: bytes32,
  docHash: sha256Hex,
};

/**
 * What OpenAPI 3.1 requires and the route tables leave implicit, filled in so the document
 * passes a standard linter (Redocly CLI, test/unit/gateway/openapi-lint.test.ts): every
 * response object has a description (the schema's name when none is written), and every
 * `{variable}` of a path is declared as a required path parameter (at the path level, unless
 * every operation declares it).
 */
function completeForLinters(doc: { paths: Record<string, Record<string, unknown>> } & Record<string, unknown>): Record<string, unknown> {
  const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];
  const declared = (params: unknown, name: string) => Array.isArray(params) && params.some((p: { name?: string; in?: string }) => p.in === 'path' && p.name === name);
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [route, item] of Object.entries(doc.paths)) {
    const next: Record<string, unknown> = { ...item };
    const operations = METHODS.filter((m) => item[m] !== undefined).map((m) => item[m] as Record<string, unknown>);
    for (const method of METHODS) {
      const op = item[method] as { responses?: Record<string, Record<string, unknown>> } | undefined;
      if (!op?.responses) continue;
      const responses: Record<string, unknown> = {};
      for (const [status, response] of Object.entries(op.responses)) {
        responses[status] = typeof response.description === 'string' ? response : { description: describeResponse(response), ...response };
      }
      next[method] = { ...op, responses };
    }
    const missing = [...route.matchAll(/\{([^}]+)\}/g)]
      .map((m) => m[1]!)
      .filter((name) => !declared(item.parameters, name) && !operations.every((op) => declared(op.parameters, name)));
    if (missing.length > 0) {
      next.parameters = [
        ...((item.parameters as unknown[] | undefined) ?? []),
        ...missing.map((name) => ({ name, in: 'path', required: true, schema: PATH_PARAMETER_SCHEMAS[name] ?? { type: 'string' } })),
      ];
    }
    paths[route] = next;
  }
  return { ...doc, paths };
}

/** A response's description from what it carries: the schema names of its content. */
function describeResponse(response: Record<string, unknown>): string {
  const content = (response.content ?? {}) as Record<string, { schema?: { $ref?: string } }>;
  const names = Object.entries(content).map(([type, c]) => `${c.schema?.$ref?.split('/').pop() ?? 'body'} (${type})`);
  return names.length > 0 ? names.join(' or ') : 'Success';
}

/** Who reads which records, as gateway/src/records/reads.ts decides. */
const RECORD_READ_RULE =
  "This organisation's own records: for its staff, a query that logs nothing. A record another organisation issued: only a claims officer (purpose claims) or research officer (research:<trialId>), only with `purpose`, and only as a consent-checked access (Access:accessRecord) that writes an entry in the patient's access log on the ledger whatever the decision, as POST /v1/access does. 403 CONSENT_REQUIRED without `purpose` (nothing is read or logged), FORBIDDEN_PURPOSE for a purpose the role does not read for, FORBIDDEN_ROLE for other roles, CONSENT_DENIED (details: decision, reason, transactionId) when the patient's consent does not permit it — that attempt is logged. Verifying a document (POST /v1/verifications) needs none of this.";
const recordReadParameters = [{ name: 'purpose', in: 'query', required: false, schema: { $ref: '#/components/schemas/RecordReadQuery/properties/purpose' } }];
const accessReadHeaders = {
  'Medprov-Access-Transaction': { description: 'A read under consent: the transaction that logged it in the patient\'s access log', schema: { type: 'string' } },
  'Medprov-Access-Grant': { description: 'A read under consent: the grant that permitted it', schema: { type: 'string' } },
};
const recordReadRefusals = {
  '403': {
    description: 'CONSENT_REQUIRED (another organisation\'s record without purpose), CONSENT_DENIED (logged), FORBIDDEN_PURPOSE, FORBIDDEN_ROLE',
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
  },
};

const fhirJson = { description: 'FHIR R4 JSON', content: { 'application/fhir+json': { schema: { $ref: '#/components/schemas/FhirResource' } } } } as const;

const consentPaths = {
  '/v1/patients/registration-requests': {
    post: {
      summary: "Registration, step 1 (hospital records officer): the RegisterPatient message for the patient's app to sign",
      description:
        "Takes the hospital's own patientId, which never leaves the gateway; answers with this hospital, the patient's patientRef and a fresh nonce, valid for 15 minutes on this gateway.",
      requestBody: json('RegistrationRequestBody'),
      responses: { '201': json('RegistrationToSign'), ...errorResponses },
    },
  },
  '/v1/patients': {
    post: {
      summary: "Registration, step 2 (hospital records officer): bind the patientRef to the patient's key",
      description:
        'The message must be one this gateway issued (REGISTRATION_REQUEST_UNKNOWN / _EXPIRED / _MISMATCH otherwise) and be signed by patient (SIGNATURE_INVALID). 201 when bound now, 200 when this exact binding already existed.',
      requestBody: json('RegistrationBody'),
      responses: { '201': json('RegistrationResult'), '200': json('RegistrationResult'), ...errorResponses, '409': patientErrors['409'] },
    },
  },
  '/v1/consents': {
    post: {
      security: [],
      summary: 'Grant consent (the patient; no API key: the EIP-712 signature is the authentication)',
      description:
        'Refused before anything is submitted: GRANT_EXPIRED (validUntil passed), SIGNATURE_INVALID (unparseable or high-s), PATIENT_NOT_REGISTERED, SIGNER_NOT_PATIENT (forged, or changed after signing). The chaincode then refuses a spent nonce (409 NONCE_REUSED). 201 when stored now, 200 when the very same signed grant was already stored. Rate-limited per client IP.',
      requestBody: json('ConsentGrantBody'),
      responses: { '201': json('GrantResult'), '200': json('GrantResult'), ...patientErrors },
    },
  },
  '/v1/consents/revocations': {
    post: {
      security: [],
      summary: 'Revoke a grant (the patient; no API key: the EIP-712 signature is the authentication)',
      description: '201 when revoked now, 200 when it was already revoked. Same refusals as a grant, plus 404 GRANT_NOT_FOUND. Rate-limited per client IP.',
      requestBody: json('ConsentRevokeBody'),
      responses: { '201': json('GrantResult'), '200': json('GrantResult'), ...patientErrors },
    },
  },
  '/v1/consents/check': {
    get: {
      summary: 'Is consent in force now? A query: nothing is logged',
      description: 'Query parameters as in ConsentCheckQuery; grantee defaults to this gateway\'s organisation; name category, recordId or both.',
      parameters: ['hospital', 'patientRef', 'grantee', 'purpose', 'category', 'recordId'].map((name) => ({
        name,
        in: 'query',
        required: ['hospital', 'patientRef', 'purpose'].includes(name),
        schema: { $ref: `#/components/schemas/ConsentCheckQuery/properties/${name}` },
      })),
      responses: { '200': json('ConsentDecision'), ...errorResponses },
    },
  },
  '/v1/consents/{hospital}/{patientRef}/{grantId}': {
    get: {
      summary: 'One grant as a FHIR R4 Consent, as it stands now (staff of the patient\'s hospital or of the grantee)',
      description:
        "status active, or inactive once revoked or expired; scope patient-privacy (research for research:<trialId>, the trial in the consent-ResearchStudyContext extension); provision permit with the validity period, the grantee as information recipient, the purpose as v3-ActReason TREAT / HPAYMT / HRESCH, the categories as codes and the record ids as data. 404 GRANT_NOT_FOUND for a grant this organisation is not party to; claims and research officers only see grants of their purpose (403 FORBIDDEN_PURPOSE).",
      responses: { '200': fhirJson, ...errorResponses, '404': { description: 'No such grant that this organisation is party to', content: errorResponses['400'].content } },
    },
  },
  '/v1/access': {
    post: {
      summary: "Consent-checked access to a record's provenance (claims officer: purpose claims; research officer: research:<trialId>)",
      description:
        "A transaction: the attempt is written to the patient's access log whatever the decision. Every decision answers 200 — PERMIT with provenance, DENY with a reason (REVOKED, EXPIRED, …), NO_CONSENT — because a denial is a recorded outcome, not a failed request, and must not be retried as one. Errors (4xx/5xx) mean nothing was decided or logged: e.g. 404 RECORD_NOT_FOUND, 403 FORBIDDEN_PURPOSE.",
      requestBody: json('AccessRequest'),
      responses: { '200': json('AccessResult'), ...errorResponses },
    },
  },
  '/v1/patients/challenges': {
    post: {
      security: [],
      summary: "A single-use challenge for the patient's key, to list their own grants and access log",
      description: 'The same answer for any address, registered or not; expires after 2 minutes; one request per challenge. Rate-limited per client IP.',
      requestBody: json('ChallengeRequest'),
      responses: { '201': json('ChallengeToSign'), ...patientErrors },
    },
  },
  '/v1/patients/me/grants': {
    get: {
      security: [{ patientChallenge: [] }],
      summary: "The patient's grants at this binding, revoked and expired included",
      description: 'Refusals: 401 PATIENT_AUTH_REQUIRED / PATIENT_AUTH_INVALID / CHALLENGE_UNKNOWN / CHALLENGE_USED / CHALLENGE_EXPIRED / PATIENT_SIGNATURE_INVALID, 403 PATIENT_BINDING_MISMATCH, 404 PATIENT_NOT_REGISTERED.',
      responses: { '200': json('PatientGrants'), ...patientErrors },
    },
  },
  '/v1/patients/me/consents': {
    get: {
      security: [{ patientChallenge: [] }],
      summary: "The patient's grants at this binding as FHIR R4 Consent resources, in a Bundle (collection), as they stand now",
      description: 'The same grants as /v1/patients/me/grants, revoked (inactive) and expired (inactive) included; same authentication and refusals.',
      responses: { '200': fhirJson, ...patientErrors },
    },
  },
  '/v1/patients/me/access-log': {
    get: {
      security: [{ patientChallenge: [] }],
      summary: 'Every consent-checked access to records of this binding, permitted or not, oldest first',
      description:
        'Same authentication and refusals as /v1/patients/me/grants. With format=fhir the same entries come as a FHIR R4 Bundle (collection) of AuditEvent resources, one per entry (who: the accessor and, for a disclosure, the disclosing hospital; what: the record and its version; purpose of use; decision as outcome; time), for import into a hospital\'s audit system; an unknown format is refused 400 INVALID_FORMAT.',
      parameters: [
        {
          name: 'format',
          in: 'query',
          required: false,
          description: 'json (default): the PatientAccessLog; fhir: a FHIR R4 Bundle of AuditEvent',
          schema: { type: 'string', enum: ['json', 'fhir'], default: 'json' },
        },
      ],
      responses: {
        '200': {
          description: 'The access log: PatientAccessLog (format=json) or a FHIR R4 Bundle of AuditEvent (format=fhir)',
          content: { ...json('PatientAccessLog').content, ...fhirJson.content },
        },
        ...patientErrors,
      },
    },
  },
} as const;

const release = {
  requestBody: json('ReleaseRequest'),
  responses: {
    '404': { description: 'A record of the release is not on the ledger (RECORD_NOT_FOUND)', content: errorResponses['400'].content },
    '422': {
      description:
        'Refused: RELEASE_NO_CONSENT (details.records: recordId, decision, reason), RELEASE_RECORD_RETRACTED, RELEASE_BELOW_K, RELEASE_SUPPRESSION_TOO_LARGE, RELEASE_EMPTY; details.report is the ReleaseReport',
      content: errorResponses['400'].content,
    },
    ...errorResponses,
  },
} as const;

const researchPaths = {
  '/v1/research/releases': {
    post: {
      summary: 'Prepare a research release for a sponsor (hospital research officer): generalised rows and their k-anonymity report',
      description:
        "The attributes are generalised by the release profile (and the request's changes), every record's consent for grantee and purpose is checked on the ledger now with queries, and k is measured in distinct patients over exactly the quasi-identifier columns the sponsor receives. Refused 422 below the gateway's k (RELEASE_BELOW_K) unless suppressSmallClasses, within the gateway's limit; direct identifiers in attributes are refused 400 DIRECT_IDENTIFIER. A release that can go is recorded on the ledger in one Access:discloseRecords transaction (through the acceptance journal when the gateway has one, waiting for its commit): the chaincode checks each record's consent again and logs a disclosure entry in the patient's access log, and its decisions are the ones that count (a DENY refuses the release or, with withoutConsent omit, leaves the record out). Records held back for lack of consent are logged as denied disclosures even when the release is refused (details.disclosure). 503 RELEASE_NOT_CONFIRMED when the journal did not see the commit in time (nothing released; it is still logged). The answer is the payload to hand to the sponsor: { issuer, grantee, purpose, columns, rows, report, disclosure }.",
      ...release,
      responses: { '200': { description: 'The release payload and its report' }, ...release.responses },
    },
  },
  '/v1/research/releases/preview': {
    post: {
      summary: 'What a research release would do (research officer, DPO): the report only, no rows',
      description:
        "The same checks as POST /v1/research/releases, with queries only: nothing is written to the ledger or logged; a release that would be refused for consent or k is answered 200 with report.releasable false and the refusal (code, message, details), and heldBack lists the records without consent by recordId. Malformed requests are refused as for a release.",
      ...release,
      responses: { '200': { description: '{ report, heldBack, refusal? }', content: { 'application/json': { schema: { type: 'object', properties: { report: { $ref: '#/components/schemas/ReleaseReport' } } } } } }, ...release.responses },
    },
  },
} as const;

const consentEventPaths = {
  '/v1/consents/events': {
    get: {
      summary: 'Server-Sent Events: the grants and revocations that concern this organisation (research officer, claims officer, admin)',
      description:
        "A stream, not a page: the grants and revocations whose grantee is this organisation (at a hospital, also those about its patients), followed from the ledger's medprov.ConsentChanged events and kept in the gateway's feed file, so the stream resumes across reconnects and gateway restarts. A claims officer receives only the changes of grants for the purpose claims, a research officer only those for research:*, an admin all of them (the purposes of exportConsent and /v1/access); the others are skipped, not renumbered, so ids may have gaps and a Last-Event-ID means the same for every role. Each event has `id` (its seq), `event` consent.granted or consent.revoked, and `data` a ConsentEvent as JSON; a `: heartbeat` comment comes every 15 s. The events after the Last-Event-ID header (what EventSource sends on reconnecting; it wins over after) or the after parameter are replayed first, from the first event when neither is sent; each event is sent once per connection, in order. 400 INVALID_EVENT_ID for a malformed id. An id beyond the feed's last event is one the feed has not reached yet (the numbering follows the ledger, so another gateway of this org, or this one rebuilding its feed, gives it the same entry): the stream opens with a comment saying so, and the events after that id follow as the feed reaches them.",
      parameters: [
        { name: 'Last-Event-ID', in: 'header', required: false, schema: { $ref: '#/components/schemas/ConsentEventsQuery/properties/after' } },
        { name: 'after', in: 'query', required: false, schema: { $ref: '#/components/schemas/ConsentEventsQuery/properties/after' } },
      ],
      responses: {
        '200': {
          description: 'The event stream; the data of each event is a ConsentEvent (#/components/schemas/ConsentEvent)',
          content: { 'text/event-stream': { schema: { type: 'string', description: 'Events of three lines (id: <seq>, event: consent.granted or consent.revoked, data: <ConsentEvent JSON>) and a blank line; : heartbeat comments between them' } } },
        },
        ...errorResponses,
      },
    },
  },
} as const;

const erasureIdParameter = { name: 'erasureId', in: 'path', required: true, schema: erasureId } as const;

const erasurePaths = {
  '/v1/erasures': {
    post: {
      summary: "Erase a patient (the hospital's data-protection officer): destroy the patient's key, then record the erasure on the ledger without naming the patient",
      description:
        "Crypto-shredding: the patient's key is destroyed in this gateway's key store, so no one can derive the patient's patientRef again and every ledger entry about them becomes unlinkable; documents and receipts keep verifying. 201 with `erasure` (erasureId, erasedAt, keysDestroyed: nothing derived from the patient) and `ledger`: the recording of the erasure id on the ledger (committed, or accepted / submitting in the acceptance journal: follow `location`; `Prefer: wait=N` waits for the commit). If it could not be queued, `ledger.state` is not-recorded with code ERASURE_NOT_RECORDED: the key stays destroyed; record it with POST /v1/erasures/{erasureId}/ledger-record. Refusals (nothing destroyed): 404 PATIENT_NOT_REGISTERED, 400 INVALID_IDENTIFIER, 409 PATIENT_KEY_ERASED (already erased; `details`: the earlier erasureId, ledgerRecorded, and when it was not recorded `ledger`, its recording queued again — nothing about the patient).",
      parameters: [writeHeaders[1]],
      requestBody: json('ErasureRequestBody'),
      responses: { '201': { description: 'Erased: { erasure, ledger }' }, ...errorResponses },
    },
  },
  '/v1/erasures/{erasureId}': {
    get: {
      summary: "The ledger's record of an erasure (DPO, admin): { erasureId, hospital, recordedAt, txId } — nothing about the patient",
      description: '404 ERASURE_NOT_FOUND when no erasure with this id is recorded (yet).',
      parameters: [erasureIdParameter],
      responses: { '200': { description: 'The erasure record' }, ...errorResponses },
    },
  },
  '/v1/erasures/{erasureId}/ledger-record': {
    post: {
      summary: 'Record (again) an erasure on the ledger, now (DPO): the retry after ERASURE_NOT_RECORDED; idempotent',
      description: '201 when recorded now, 200 when it was recorded already. The ledger keeps one record per id, by the hospital that recorded it first.',
      parameters: [erasureIdParameter],
      responses: { '201': { description: 'Recorded' }, '200': { description: 'Already recorded' }, ...errorResponses },
    },
  },
} as const;

const backupPaths = {
  '/v1/admin/backups': {
    post: {
      summary: "Back up this gateway's state (admin): patient key store, acceptance journal and API users, encrypted to the operator's public key",
      description:
        'Copies, while the gateway serves, what the ledger cannot give back: the acceptance journal (every request acknowledged so far, whole), then the patient key store, then the users; encrypts them to `recipient` (X25519, HKDF-SHA256, AES-256-GCM), bound to this organisation, channel and consortium. The answer is the backup file (application/octet-stream; header Medprov-Backup-Summary: counts). Restore it with `medprov admin restore`, gateway stopped. The master key is not in it. 400 INVALID_BACKUP_RECIPIENT for a key that is not X25519.',
      requestBody: json('BackupRequestBody'),
      responses: { '200': { description: 'The encrypted backup', content: { 'application/octet-stream': {} } }, ...errorResponses },
    },
  },
} as const;

const rotationPaths = {
  '/v1/admin/master-key/rotation': {
    post: {
      summary: "Rotate the org's master key (admin), without downtime: the new key is read from the file named by MEDPROV_MASTER_KEY_NEXT_FILE, never sent",
      description:
        'Starts re-encrypting every patient key under the new master key, in batches, while reads and writes go on; resumes an unfinished rotation instead when there is one. 202 with the progress (follow it with GET). Refusals (409): MASTER_KEY_MISSING (no file configured, or no file), MASTER_KEY_FILE_UNSAFE (readable by other users), MASTER_KEY_MALFORMED, MASTER_KEY_WEAK, MASTER_KEY_REUSED (the current or a retired key), ROTATION_IN_PROGRESS.',
      responses: { '202': { description: 'Rotation running: progress' }, ...errorResponses },
    },
    get: {
      summary: 'Progress of the last rotation (admin): state, report, error, the store\'s generations and counts, and the next step',
      responses: { '200': { description: 'Progress' }, ...errorResponses },
    },
  },
} as const;
