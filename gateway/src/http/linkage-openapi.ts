/**
 * The research linkage routes' part of the OpenAPI document (`openapi.ts` spreads it in): the
 * request schemas the routes validate with, and the paths each party's gateway offers (a
 * hospital contributes, the linkage institution evaluates, collects and releases, the sponsor
 * requests and fetches its release).
 *
 * @module
 */
import { MAX_LINKAGE_CANDIDATES, MAX_LINKAGE_HOSPITALS, MAX_LINKAGE_K, MAX_LINKAGE_REQUEST_ID, MAX_QUASI_IDENTIFIERS } from '../../../chaincode/src/lib/linkage-model';

const mspId = { type: 'string', pattern: '^[A-Za-z0-9.-]{1,64}$' } as const;
const requestId = {
  type: 'string',
  pattern: `^[A-Za-z0-9][A-Za-z0-9._:-]{0,${MAX_LINKAGE_REQUEST_ID - 1}}$`,
  description: 'A linkage request id: letters, digits and . _ : - (the sponsor picks it, or the gateway makes LR-<uuid>)',
} as const;
const projectId = { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$', description: 'The research project: purpose research:<projectId>' } as const;
const quasiValue = { anyOf: [{ type: 'string', maxLength: 256 }, { type: 'number' }, { type: 'boolean' }, { type: 'null' }] } as const;
const quasiIdentifiers = { type: 'object', maxProperties: MAX_QUASI_IDENTIFIERS, additionalProperties: quasiValue, description: "The request's quasi-identifiers, generalised (e.g. ageBand, sex, region)" } as const;
const token = { type: 'string', pattern: '^[0-9a-f]{64}$', description: 'A linkage token: HMAC-SHA256(K_H(p), OPRF(k_LI(p), linkageId)), 64 lowercase hex' } as const;
const element = { type: 'string', pattern: '^[A-Za-z0-9_-]{43}$', description: 'A ristretto255 element, 32 bytes, base64url without padding' } as const;

/** The request and answer schemas of the linkage routes (spread into the OpenAPI document's schemas). */
export const linkageSchemas = {
  LinkageRequestBody: {
    type: 'object',
    additionalProperties: false,
    required: ['projectId', 'hospitals', 'quasiIdentifiers', 'k'],
    properties: {
      requestId,
      projectId,
      hospitals: { type: 'array', minItems: 2, maxItems: MAX_LINKAGE_HOSPITALS, uniqueItems: true, items: mspId, description: 'MSP IDs of the hospitals asked to contribute' },
      institution: { ...mspId, description: "The linkage institution's MSP ID (default: the one this gateway has a key of)" },
      quasiIdentifiers: { type: 'array', minItems: 1, maxItems: MAX_QUASI_IDENTIFIERS, uniqueItems: true, items: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9_]{0,63}$' } },
      k: { type: 'integer', minimum: 2, maximum: MAX_LINKAGE_K, description: "The release's minimum class size" },
    },
  },
  LinkageCohortBody: {
    type: 'object',
    additionalProperties: false,
    required: ['cohort'],
    properties: {
      cohort: {
        type: 'array',
        minItems: 1,
        maxItems: MAX_LINKAGE_CANDIDATES,
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['patientId', 'linkageId', 'quasiIdentifiers'],
          properties: {
            patientId: { type: 'string', minLength: 1, maxLength: 256, description: "The hospital's own patient id (becomes its patientRef; never sent on)" },
            linkageId: { type: 'string', minLength: 1, maxLength: 256, description: 'The identifier common to every hospital (e.g. the resident registration number): blinded here, never stored, never sent in the clear' },
            quasiIdentifiers,
            data: { description: 'What the hospital releases about this patient for the project (no direct identifiers)' },
          },
        },
      },
    },
  },
  LinkageEvaluateBody: {
    type: 'object',
    additionalProperties: false,
    required: ['requestId', 'blinded'],
    properties: { requestId, blinded: { type: 'array', minItems: 1, maxItems: MAX_LINKAGE_CANDIDATES, items: element } },
  },
  LinkageEntriesBody: {
    type: 'object',
    additionalProperties: false,
    required: ['entries'],
    properties: {
      entries: {
        type: 'array',
        maxItems: MAX_LINKAGE_CANDIDATES,
        items: { type: 'object', additionalProperties: false, required: ['token', 'quasiIdentifiers'], properties: { token, quasiIdentifiers, data: {} } },
      },
    },
  },
  LinkageRequestPath: { type: 'object', additionalProperties: false, required: ['requestId'], properties: { requestId } },
  LinkageListQuery: { type: 'object', additionalProperties: false, properties: { projectId } },
} as const;

/** The linkage paths of one party's gateway; `errors` are the document's common error answers. */
export function linkagePaths(errors: Record<string, unknown>, party: 'hospital' | 'sponsor' | 'linkage'): Record<string, unknown> {
  const ref = (name: string) => ({ content: { 'application/json': { schema: { $ref: `#/components/schemas/${name}` } } } });
  const errorContent = ref('Error').content;
  const pathId = [{ name: 'requestId', in: 'path', required: true, schema: requestId }];
  const object = (description: string) => ({ description, content: { 'application/json': { schema: { type: 'object' } } } });
  const refused = (codes: string) => ({ description: codes, content: errorContent });
  const read = {
    get: {
      summary: 'A linkage request as the ledger holds it (Linkage:readLinkage): status, per-hospital counts, the institution\'s result',
      description: 'Counts and hashes only: no patientRef, no token. At the institution the answer also carries `institution`: evaluations and contributions it holds (counts).',
      parameters: pathId,
      responses: { '200': object('{ requestId, projectId, purpose, sponsor, hospitals, institution, quasiIdentifiers, k, status, contributions, awaiting, result? }'), '404': refused('LINKAGE_NOT_FOUND'), ...errors },
    },
  };
  const list = {
    get: {
      summary: 'Linkage requests on the ledger (Linkage:listLinkages), of one project with ?projectId=',
      parameters: [{ name: 'projectId', in: 'query', required: false, schema: projectId }],
      responses: { '200': object('{ linkages: [...] }'), ...errors },
    },
  };
  if (party === 'sponsor') {
    return {
      '/v1/linkage/requests': {
        post: {
          summary: 'Request a research linkage across hospitals (research officer, sponsors): Linkage:requestLinkage',
          description:
            'The purpose is research:<projectId>; each listed hospital will include only patients whose research consent for the project to this sponsor is in force (checked and logged by the chaincode). The linkage institution links, runs the k-anonymity check and keeps the release for this sponsor. 201 with the request as stored.',
          requestBody: ref('LinkageRequestBody'),
          responses: { '201': object('{ request, transactionId }'), '409': refused('LINKAGE_EXISTS: a request with this id'), ...errors },
        },
        ...list,
      },
      '/v1/linkage/requests/{requestId}': read,
      '/v1/linkage/requests/{requestId}/release': {
        get: {
          summary: 'The linked, pseudonymous release (research officer, the request\'s sponsor)',
          description:
            "Fetched once from the institution with the key it issued to this sponsor, checked against the hash it recorded on the ledger, then kept in this gateway's folder. One entry per consenting patient: a fresh per-request pseudonym (linkedId), the quasi-identifiers and each hospital's data; no token, no hospital pseudonym, no identifier. A release below k is refused: 409 LINKAGE_RELEASE_REFUSED with the report in `details.refusal` (counts, never a class's values). 409 LINKAGE_INCOMPLETE while hospitals have not contributed.",
          parameters: pathId,
          responses: { '200': object('{ requestId, projectId, status: released, subjects, linkedAcrossHospitals, release: [{ linkedId, quasiIdentifiers, records: [{ hospital, data }] }], releaseHash, ledgerTransactionId }'), '409': refused('LINKAGE_RELEASE_REFUSED, LINKAGE_INCOMPLETE, LINKAGE_NO_INSTITUTION'), '502': refused('LINKAGE_INSTITUTION_UNREACHABLE, LINKAGE_RELEASE_MISMATCH'), ...errors },
        },
      },
    };
  }
  if (party === 'hospital') {
    return {
      '/v1/linkage/requests': list,
      '/v1/linkage/requests/{requestId}': read,
      '/v1/linkage/requests/{requestId}/contributions': {
        post: {
          summary: "Contribute this hospital's cohort to a linkage (research officer, hospitals)",
          description:
            "Each patientId becomes the hospital's patientRef; Linkage:contribute checks each candidate's research consent for the project (every candidate logged in the patient's access log) and answers who is included. The included patients' linkage ids are blinded (RFC 9497 OPRF, ristretto255-SHA512), evaluated by the institution, unblinded and keyed with K_H(p) into tokens; the institution receives tokens, quasi-identifiers and data only, in random order. Nothing of the cohort is stored. Once per hospital per request (LINKAGE_ALREADY_CONTRIBUTED). 400 LINKAGE_DIRECT_IDENTIFIER when quasi-identifiers or data look like a direct identifier.",
          parameters: pathId,
          requestBody: ref('LinkageCohortBody'),
          responses: { '200': object('{ requestId, projectId, candidates, included, excluded: [{ patientId, patientRef, reason }], ledgerTransactionId, institution: { received, waitingFor } }'), '409': refused('LINKAGE_CLOSED, LINKAGE_ALREADY_CONTRIBUTED'), '502': refused('LINKAGE_INSTITUTION_UNREACHABLE'), ...errors },
        },
      },
    };
  }
  return {
    '/v1/linkage/requests': list,
    '/v1/linkage/requests/{requestId}': read,
    '/v1/linkage/evaluate': {
      post: {
        summary: "Evaluate a hospital's blinded elements with the project's OPRF key (linkage partner: a listed hospital)",
        description:
          "RFC 9497 OPRF, mode 0x00, ristretto255-SHA512, key = DeriveKeyPair(seed, projectId). Only for a hospital listed in an open request of this institution whose Linkage:contribute is on the ledger, and never more elements in all than the patients the ledger let it include (403 LINKAGE_EVALUATIONS_EXCEEDED): a hospital cannot use the institution to test a dictionary of identifiers.",
        requestBody: ref('LinkageEvaluateBody'),
        responses: { '200': object('{ evaluated: [base64url element, …] }, in the order sent'), '403': refused('LINKAGE_NOT_PARTY, LINKAGE_EVALUATIONS_EXCEEDED'), '409': refused('LINKAGE_CLOSED, LINKAGE_NOT_CONTRIBUTED'), ...errors },
      },
    },
    '/v1/linkage/requests/{requestId}/contributions': {
      post: {
        summary: "A hospital's tokens (linkage partner: a listed hospital); the last one links",
        description:
          "Exactly as many entries as the ledger let the hospital include (409 LINKAGE_COUNT_MISMATCH), once (LINKAGE_ALREADY_CONTRIBUTED). When every listed hospital has contributed, the institution matches the tokens, gives each person a fresh pseudonym, drops the tokens, runs the k-anonymity check on the quasi-identifiers and records the outcome on the ledger (Linkage:recordLinkage: counts, SHA-256 of each hospital's token set, the release's hash, released or refused).",
        parameters: pathId,
        requestBody: ref('LinkageEntriesBody'),
        responses: { '200': object('{ requestId, received, waitingFor, linked? }'), '409': refused('LINKAGE_CLOSED, LINKAGE_COUNT_MISMATCH, LINKAGE_ALREADY_CONTRIBUTED'), ...errors },
      },
    },
    '/v1/linkage/requests/{requestId}/release': {
      get: {
        summary: "The release, for the request's sponsor (linkage partner: the sponsor)",
        parameters: pathId,
        responses: { '200': object('The release or the refusal report (status released | refused)'), '409': refused('LINKAGE_INCOMPLETE'), ...errors },
      },
    },
  };
}
