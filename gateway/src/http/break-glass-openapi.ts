/**
 * The break-glass routes' part of the OpenAPI document (`openapi.ts` spreads it in): the request
 * schemas the routes validate with, and the paths. Apart from `break-glass-routes.ts` so that
 * `openapi.ts` does not import the validator, which imports it.
 *
 * @module
 */
import { AUDIT_SIDES, BREAK_GLASS_REASONS, DEFAULT_BREAK_GLASS_PER_ORG_PER_DAY, MAX_AUDIT_DAYS } from '../../../chaincode/src/lib/break-glass';

const mspId = { type: 'string', pattern: '^[A-Za-z0-9.-]{1,64}$' } as const;
const recordId = {
  type: 'string',
  minLength: 1,
  maxLength: 128,
  pattern: '^[\\p{L}\\p{N}._:/#@+-]+$',
  description: 'Opaque record id chosen by the issuing hospital',
} as const;
const utcDay = { type: 'string', pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$', description: 'a UTC day, YYYY-MM-DD' } as const;

/** The request and answer schemas of the break-glass routes (spread into the OpenAPI document's schemas). */
export const breakGlassSchemas = {
  BreakGlassRequest: {
    type: 'object',
    additionalProperties: false,
    required: ['issuer', 'recordId'],
    properties: {
      issuer: { ...mspId, description: "The hospital that issued the record: this hospital's own, or another's (cross-hospital emergency access)" },
      recordId,
      // Not required by the schema: a missing reason is refused with its own code (BREAK_GLASS_REASON_REQUIRED).
      reason: { type: 'string', maxLength: 64, description: `Why consent cannot be obtained in time; one of ${BREAK_GLASS_REASONS.join(', ')}`, examples: [...BREAK_GLASS_REASONS] },
    },
  },
  BreakGlassAuditQuery: {
    type: 'object',
    additionalProperties: false,
    properties: {
      side: { type: 'string', enum: [...AUDIT_SIDES], description: "by (default): the accesses this organisation's clinicians made; of: the accesses made to this organisation's records, by any hospital" },
      from: utcDay,
      to: utcDay,
    },
  },
  BreakGlassResult: {
    type: 'object',
    required: ['decision', 'accessLog', 'provenance', 'limit', 'transactionId', 'blockNumber'],
    properties: {
      decision: { type: 'string', enum: ['BREAK_GLASS'] },
      accessLog: { $ref: '#/components/schemas/AccessLogEntry' },
      provenance: { type: 'array', description: 'Every version of the record, oldest first', items: { $ref: '#/components/schemas/Anchor' } },
      limit: {
        type: 'object',
        description: "The consortium's rate and how much of it this organisation has used on the transaction's UTC day, this access included",
        properties: { perOrgPerDay: { type: 'integer' }, usedToday: { type: 'integer' } },
      },
      transactionId: { type: 'string' },
      blockNumber: { type: 'string', pattern: '^[0-9]+$' },
    },
  },
  BreakGlassAudit: {
    type: 'object',
    required: ['side', 'mspId', 'from', 'to', 'perOrgPerDay', 'entries'],
    properties: {
      side: { type: 'string', enum: [...AUDIT_SIDES] },
      mspId,
      from: utcDay,
      to: utcDay,
      perOrgPerDay: { type: 'integer', description: 'The rate in force now (consortium definition, breakGlass.perOrgPerDay)' },
      entries: { type: 'array', description: 'Oldest first', items: { $ref: '#/components/schemas/AccessLogEntry' } },
    },
  },
} as const;

/** The break-glass routes of the OpenAPI document; `errors` are the document's common error answers. */
export function breakGlassPaths(errors: Record<string, unknown>): Record<string, unknown> {
  const ref = (name: string) => ({ content: { 'application/json': { schema: { $ref: `#/components/schemas/${name}` } } } });
  const errorContent = ref('Error').content;
  return {
    '/v1/break-glass': {
      post: {
        summary: 'Break the glass: open a record without consent in an emergency (clinician, hospitals)',
        description:
          `One Access:breakGlassAccess transaction, synchronous (no journal): the patient's access log gets an entry of kind break-glass, decision BREAK_GLASS, purpose ETREAT (HL7 v3 emergency treatment) and the reason; the same entry goes into the audit of this hospital (side by) and of the issuing hospital (side of). Any hospital may open any hospital's record this way. The answer carries the provenance (every version of the record) and the organisation's rate for the day. ` +
          `Refusals write nothing: 400 BREAK_GLASS_REASON_REQUIRED (no reason), 400 BREAK_GLASS_REASON_UNKNOWN (not one of ${BREAK_GLASS_REASONS.join(', ')}), 403 FORBIDDEN_ROLE (not a clinician), 403 FORBIDDEN_ORG_TYPE (not a hospital), 404 RECORD_NOT_FOUND, 429 BREAK_GLASS_RATE_EXCEEDED when this organisation has used the consortium's rate for the UTC day (breakGlass.perOrgPerDay in the consortium definition, ${DEFAULT_BREAK_GLASS_PER_ORG_PER_DAY} unless set; Retry-After: seconds to the next UTC day).`,
        requestBody: ref('BreakGlassRequest'),
        responses: {
          '201': { description: 'Opened and logged', ...ref('BreakGlassResult') },
          '429': { description: "This organisation has used the consortium's break-glass rate for the UTC day (BREAK_GLASS_RATE_EXCEEDED), or the API key's request rate (RATE_LIMITED)", content: errorContent },
          ...errors,
        },
      },
    },
    '/v1/audit/break-glass': {
      get: {
        summary: "The organisation's break-glass audit report over a period (DPO, admin; hospitals)",
        description: `Every break-glass access made by this organisation's clinicians (side=by, the default) or to this organisation's records by any hospital (side=of), on the UTC days from \`from\` to \`to\` (both included; default: the last 30 days to today; at most ${MAX_AUDIT_DAYS} days), oldest first, read from the ledger (Access:listBreakGlassAccesses). 400 INVALID_PERIOD for a day that is not YYYY-MM-DD, a start after the end or a longer period.`,
        parameters: [
          { name: 'side', in: 'query', required: false, schema: breakGlassSchemas.BreakGlassAuditQuery.properties.side },
          { name: 'from', in: 'query', required: false, schema: utcDay },
          { name: 'to', in: 'query', required: false, schema: utcDay },
        ],
        responses: { '200': ref('BreakGlassAudit'), ...errors },
      },
    },
  };
}
