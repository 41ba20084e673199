/**
 * The consent-bound receipt route's part of the OpenAPI document (`openapi.ts` spreads it in):
 * its path schema, the receipt's schema and the path. Apart from `access-receipt-routes.ts` so
 * that `openapi.ts` does not import the validator, which imports it.
 *
 * @module
 */
const sha256Hex = { type: 'string', pattern: '^[0-9a-f]{64}$', description: 'SHA-256 digest, 64 lowercase hex characters' } as const;
const mspId = { type: 'string', pattern: '^[A-Za-z0-9.-]{1,64}$' } as const;
const bytes32 = { type: 'string', pattern: '^0x[0-9a-f]{64}$' } as const;

/** The schemas of the receipt route (spread into the OpenAPI document's schemas). */
export const accessReceiptSchemas = {
  TxIdPath: {
    type: 'object',
    additionalProperties: false,
    required: ['txId'],
    properties: { txId: { ...sha256Hex, description: 'A Fabric transaction id' } },
  },
  ConsentedAccess: {
    type: 'object',
    additionalProperties: false,
    description: 'What Access:accessRecord stored when a grant permitted the access; the SHA-256 of its canonical JSON is the anchor-log leaf\'s docHash',
    required: ['channel', 'docHash', 'issuer', 'recordId', 'version', 'category', 'grantId', 'patient', 'signature', 'purpose', 'recipient', 'txId', 'at'],
    properties: {
      channel: { type: 'string', description: "The Fabric channel (the EIP-712 domain's salt is bound to it)" },
      docHash: { ...sha256Hex, description: 'SHA-256 of the record version accessed' },
      issuer: { ...mspId, description: 'The hospital that issued the record' },
      recordId: { type: 'string' },
      version: { type: 'integer', minimum: 1 },
      category: { type: 'string' },
      grantId: { ...bytes32, description: 'The grant in force: the EIP-712 digest of its message' },
      patient: { type: 'string', pattern: '^0x[0-9a-fA-F]{40}$', description: "The patient's address for this hospital (it signed the grant)" },
      signature: { type: 'string', pattern: '^0x[0-9a-fA-F]{130}$', description: "The patient's EIP-712 signature over the grant (the guardian's, with signedBy)" },
      signedBy: { const: 'guardian', description: "Present when a guardian signed the grant for the patient: patient is then the guardian's address" },
      delegationId: { ...bytes32, description: 'With signedBy: the delegation under which the guardian signed' },
      purpose: { type: 'string' },
      recipient: { ...mspId, description: 'The organisation that accessed the record' },
      txId: { ...sha256Hex, description: 'The access transaction' },
      at: { type: 'string', format: 'date-time', description: "The access transaction's timestamp" },
    },
  },
  AccessReceipt: {
    type: 'object',
    additionalProperties: false,
    description: 'A consent-bound provenance receipt (format: gateway/src/anchoring/access-receipt.ts). Verify it offline with `medprov access-receipt verify` or the Verify page: the access hashes to the log leaf, the leaf is in the checkpointed tree, the grant hashes to grantId and its signature recovers the patient, the grant covers the recipient, purpose, record and time; any changed field fails.',
    required: ['version', 'kind', 'access', 'grant', 'logReceipt'],
    properties: {
      version: { const: 1 },
      kind: { const: 'consented-access' },
      access: { $ref: '#/components/schemas/ConsentedAccess' },
      grant: {
        type: 'object',
        description: 'The EIP-712 ConsentGrant message the patient signed (hospital, patientRef, grantee, purpose, categories, recordIds, validFrom, validUntil, nonce)',
        required: ['hospital', 'patientRef', 'grantee', 'purpose', 'categories', 'recordIds', 'validFrom', 'validUntil', 'nonce'],
        properties: {
          hospital: mspId,
          patientRef: sha256Hex,
          grantee: mspId,
          purpose: { type: 'string' },
          categories: { type: 'array', items: { type: 'string' } },
          recordIds: { type: 'array', items: { type: 'string' } },
          validFrom: { type: 'integer', description: 'Unix seconds' },
          validUntil: { type: 'integer', description: 'Unix seconds' },
          nonce: bytes32,
        },
      },
      logReceipt: { type: 'object', description: "The anchor log's receipt of the access's leaf (leaf.issuer = recipient, leaf.recordId = access:<txId>), as GET /v1/receipts/{docHash} gives it" },
    },
  },
} as const;

/** The receipt route of the OpenAPI document; `errors` are the document's common error answers. */
export function accessReceiptPaths(errors: Record<string, unknown>): Record<string, unknown> {
  const errorContent = { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } };
  return {
    '/v1/access-receipts/{txId}': {
      get: {
        summary: 'The consent-bound receipt of an access: this recipient read this exact document, under this consent, at this time',
        description:
          "For an Access:accessRecord transaction that a patient's grant permitted (POST /v1/access links it as `receipt`): the record's docHash, issuer, record and version, the grant in force (id, the signed EIP-712 message, the patient's address and signature), purpose, recipient, transaction and time, and the anchor log's receipt of that access, checkpointed on the EVM chain. Only the recipient's and the record issuer's gateways answer (the grant names the patient's pseudonym): elsewhere 403 FORBIDDEN_OTHER_ORG. Claims and research officers get receipts of their own purpose only (403 FORBIDDEN_PURPOSE). 404 ACCESS_RECEIPT_NOT_FOUND for a transaction that was no access permitted by consent (denied, break-glass, disclosures, unknown); 404 NOT_IN_ANCHOR_LOG while the anchor log catches up; 409 RECEIPT_PENDING until a checkpoint covers it (Retry-After); 503 ANCHORING_OFF without an EVM chain.",
        parameters: [{ name: 'txId', in: 'path', required: true, schema: sha256Hex }],
        responses: {
          '200': { description: 'The receipt', content: { 'application/json': { schema: { $ref: '#/components/schemas/AccessReceipt' } } } },
          '404': { description: 'No consented access in that transaction (ACCESS_RECEIPT_NOT_FOUND), or not yet in the anchor log (NOT_IN_ANCHOR_LOG)', content: errorContent },
          '409': { description: 'In the log, not yet checkpointed (RECEIPT_PENDING)', content: errorContent },
          '503': { description: 'No EVM chain configured or reachable (ANCHORING_OFF, REGISTRY_UNAVAILABLE), or receipts withheld after a fork', content: errorContent },
          ...errors,
        },
      },
    },
  };
}
