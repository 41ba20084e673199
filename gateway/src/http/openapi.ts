import { MAX_BATCH, RETRACTION_REASONS } from '../../../chaincode/src/lib/record-model';

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

export const schemas = {
  AnchorRequest: {
    type: 'object',
    additionalProperties: false,
    required: ['recordId', 'docHash', 'patientId', 'category'],
    properties: { recordId, docHash: sha256Hex, patientId, category },
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
    properties: { docHash: sha256Hex, category },
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
    properties: { docHash: sha256Hex },
  },
  RecordPath: {
    type: 'object',
    additionalProperties: false,
    required: ['issuer', 'recordId'],
    properties: { issuer: mspId, recordId },
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
      supersededBy: sha256Hex,
      retraction: { type: 'object' },
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

export function openApiDocument(org: { mspId: string; name: string }): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: `medprov gateway — ${org.name}`,
      version: '1.0.0',
      description:
        "One organisation's gateway to the medprov consortium ledger. Documents are hashed here and never stored; the ledger holds hashes, HMAC commitments and codes only.",
    },
    servers: [{ url: '/' }],
    security: [{ apiKey: [] }],
    components: {
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <API key>' } },
      schemas,
    },
    paths: {
      '/healthz': { get: { security: [], summary: 'Liveness', responses: { '200': { description: 'Up' } } } },
      '/metrics': { get: { security: [], summary: 'Prometheus metrics', responses: { '200': { description: 'Metrics in text format' } } } },
      '/v1/openapi.json': { get: { security: [], summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1' } } } },
      '/v1/whoami': { get: { summary: 'The caller and the organisation', responses: { '200': { description: 'Caller' }, ...errorResponses } } },
      '/v1/documents/hash': {
        post: { summary: 'Hash a document (upload) without anchoring it', requestBody: upload, responses: { '200': { description: 'Digest' }, ...errorResponses } },
      },
      '/v1/records': {
        post: { summary: 'Anchor a record version 1 by its hash (records officer)', requestBody: json('AnchorRequest'), responses: { '201': json('Anchor'), ...errorResponses } },
      },
      '/v1/records/batch': {
        post: { summary: 'Anchor many records in one transaction', requestBody: json('AnchorBatchRequest'), responses: { '201': { description: 'Anchored' }, ...errorResponses } },
      },
      '/v1/records/{issuer}/{recordId}': {
        get: { summary: 'Latest version of a record', responses: { '200': json('Anchor'), ...errorResponses } },
      },
      '/v1/records/{issuer}/{recordId}/history': {
        get: { summary: 'Every version, oldest first', responses: { '200': { description: 'Versions' }, ...errorResponses } },
      },
      '/v1/records/{issuer}/{recordId}/versions': {
        post: { summary: 'Amend: anchor the next version', requestBody: json('AmendRequest'), responses: { '201': json('Anchor'), ...errorResponses } },
      },
      '/v1/records/{issuer}/{recordId}/retraction': {
        put: { summary: 'Retract a record with a reason code', requestBody: json('RetractRequest'), responses: { '200': json('Anchor'), ...errorResponses } },
      },
      '/v1/verifications': {
        post: {
          summary: 'Verify a document: send its hash (JSON) or the document itself (multipart)',
          requestBody: { content: { ...json('VerifyRequest').content, ...upload.content } },
          responses: { '200': json('Verdict'), ...errorResponses },
        },
      },
    },
  };
}
