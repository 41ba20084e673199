/**
 * The archive routes' part of the OpenAPI document (`openapi.ts` spreads it in): the request
 * schemas the routes validate with, and the paths. Apart from `archive-routes.ts` so that
 * `openapi.ts` does not import the validator, which imports it.
 *
 * @module
 */
import { MAX_ARCHIVE_FILES, MAX_ARCHIVE_ID } from '../../../chaincode/src/lib/archive-model';

const sha256Hex = { type: 'string', pattern: '^[0-9a-f]{64}$', description: 'SHA-256 digest, 64 lowercase hex characters' } as const;
const archiveId = {
  type: 'string',
  minLength: 1,
  maxLength: MAX_ARCHIVE_ID,
  pattern: '^[\\p{L}\\p{N}._:/#@+-]+$',
  description: "The hospital's id of the archive (letters, digits and . _ : / # @ + -), unique per hospital; never a name that says whom the files are about",
} as const;
const mspId = { type: 'string', pattern: '^[A-Za-z0-9.-]{1,64}$' } as const;

/** The request and answer schemas of the archive routes (spread into the OpenAPI document's schemas). */
export const archiveSchemas = {
  ArchiveRequest: {
    type: 'object',
    additionalProperties: false,
    required: ['archiveId', 'root', 'count'],
    properties: {
      archiveId,
      root: { ...sha256Hex, description: "RFC 6962 Merkle root over the archive's files: leaf = SHA-256(0x00 ‖ {\"docHash\":…,\"path\":…})" },
      count: { type: 'integer', minimum: 1, maximum: MAX_ARCHIVE_FILES, description: 'Number of files (leaves) under the root' },
      category: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._:-]+$', description: 'Optional code of what the archive holds' },
    },
  },
  ArchivePath: {
    type: 'object',
    additionalProperties: false,
    required: ['issuer', 'archiveId'],
    properties: { issuer: mspId, archiveId },
  },
  Archive: {
    type: 'object',
    description: 'What the ledger keeps of an archive (Archives:readArchive): no path, no name, no patient',
    required: ['archiveId', 'issuer', 'root', 'count', 'anchoredAt', 'txId'],
    properties: {
      archiveId,
      issuer: mspId,
      root: sha256Hex,
      count: { type: 'integer' },
      category: { type: 'string' },
      anchoredAt: { type: 'string', format: 'date-time' },
      txId: { ...sha256Hex, description: 'The Archives:anchorArchive transaction' },
    },
  },
} as const;

/** The archive routes of the OpenAPI document; `errors` are the document's common error answers. */
export function archivePaths(errors: Record<string, unknown>): Record<string, unknown> {
  const ref = (name: string) => ({ content: { 'application/json': { schema: { $ref: `#/components/schemas/${name}` } } } });
  const errorContent = ref('Error').content;
  return {
    '/v1/archives': {
      post: {
        summary: "Anchor an archive: a folder's Merkle root in one ledger transaction (records officer, hospitals)",
        description:
          'One Archives:anchorArchive transaction writes one key (issuer, archiveId → root, count, category, time, transaction), however many files the archive holds; `medprov archive create <folder>` builds the tree, keeps a receipt for every file and calls this. Synchronous: the answer comes once the transaction is committed, with `blockNumber`. The same archive again is answered 200 with the anchor already on the ledger (`created: false`), so a retry is safe; another root, count or category under the same id is 409 ARCHIVE_EXISTS and writes nothing. Malformed bodies are 400 (INVALID_REQUEST, UNKNOWN_FIELD) and write nothing.',
        requestBody: ref('ArchiveRequest'),
        responses: {
          '201': { description: 'Anchored now: { archive, created: true, blockNumber }', content: { 'application/json': { schema: { type: 'object', properties: { archive: { $ref: '#/components/schemas/Archive' }, created: { type: 'boolean' }, blockNumber: { type: 'string', pattern: '^[0-9]+$' } } } } } },
          '200': { description: 'Anchored before, the same archive: { archive, created: false, blockNumber }' },
          '409': { description: 'Another root, count or category is anchored under this id (ARCHIVE_EXISTS)', content: errorContent },
          ...errors,
        },
      },
    },
    '/v1/archives/{issuer}/{archiveId}': {
      get: {
        summary: 'What the ledger holds for an archive (any role): to check a receipt against it',
        description: "Compare with a receipt's `archiveRoot`, `treeSize` and `anchor` (`archiveAnchorReasons` in gateway/src/anchoring/archive-receipt.ts; `medprov archive verify` does). 404 ARCHIVE_NOT_FOUND.",
        parameters: [
          { name: 'issuer', in: 'path', required: true, schema: mspId },
          { name: 'archiveId', in: 'path', required: true, schema: archiveId },
        ],
        responses: { '200': ref('Archive'), '404': { description: 'No such archive (ARCHIVE_NOT_FOUND)', content: errorContent }, ...errors },
      },
    },
  };
}
