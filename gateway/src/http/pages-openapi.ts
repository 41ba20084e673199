/**
 * The OpenAPI part of the routes the pages use beyond the consent API (`openapi.ts` spreads it
 * in): the consortium's organisations with their display names, and registration by one-time
 * link. Apart from `page-routes.ts` so that `openapi.ts` does not import the validator.
 *
 * @module
 */
const token = { type: 'string', pattern: '^[A-Za-z0-9_-]{32}$', description: "The link's one-time token (24 random bytes, base64url), from the fragment of the Patient page's URL" } as const;
const displayName = {
  type: 'object',
  required: ['ko', 'en'],
  properties: { ko: { type: 'string', description: 'Korean' }, en: { type: 'string', description: 'English' } },
} as const;

/** The request and answer schemas of the page routes (spread into the OpenAPI document's schemas). */
export const pageSchemas = {
  Organisations: {
    type: 'object',
    required: ['organisations'],
    properties: {
      organisations: {
        type: 'array',
        items: {
          type: 'object',
          required: ['mspId', 'name', 'type', 'displayName'],
          properties: {
            mspId: { type: 'string' },
            name: { type: 'string', description: "The consortium definition's short name" },
            type: { type: 'string', enum: ['hospital', 'insurer', 'sponsor', 'linkage'] },
            displayName: { ...displayName, description: "The name people know the organisation by (the definition's name when it gives none)" },
          },
        },
      },
    },
  },
  RegistrationLinkToken: {
    type: 'object',
    additionalProperties: false,
    required: ['token'],
    properties: { token },
  },
  RegistrationLinkCompletion: {
    type: 'object',
    additionalProperties: false,
    required: ['token', 'registration'],
    properties: { token, registration: { $ref: '#/components/schemas/RegistrationBody' } },
  },
  RegistrationLink: {
    type: 'object',
    required: ['link', 'request'],
    properties: {
      link: {
        type: 'object',
        required: ['token', 'path', 'url', 'expiresAt', 'qrSvg'],
        properties: {
          token,
          path: { type: 'string', description: '/patient#registration=<token>' },
          url: { type: 'string', description: "The path on the origin this request was sent to (the Host it named): what the QR code holds" },
          expiresAt: { type: 'string', format: 'date-time' },
          qrSvg: { type: 'string', description: 'The QR code of url, as a standalone SVG document' },
        },
      },
      request: { $ref: '#/components/schemas/RegistrationToSign' },
    },
  },
} as const;

type Responses = Record<string, unknown>;
const json = (name: string) => ({ content: { 'application/json': { schema: { $ref: `#/components/schemas/${name}` } } } });

/** GET /v1/organisations (public). */
export const organisationPaths = {
  '/v1/organisations': {
    get: {
      security: [],
      summary: "The consortium's organisations with their Korean and English display names (public; the pages show these)",
      responses: { '200': json('Organisations') },
    },
  },
};

/** The registration-link paths; `errors` are the API key routes' error answers, `patientErrors` the patient routes'. */
export function registrationLinkPaths(errors: Responses, patientErrors: Responses): Record<string, unknown> {
  const error = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });
  const linkErrors = {
    '404': error('REGISTRATION_LINK_UNKNOWN: not issued here, or the gateway restarted since'),
    '409': error('REGISTRATION_LINK_USED: the link already registered; REGISTRATION_LINK_BUSY: a completion is under way'),
    '410': error('REGISTRATION_LINK_EXPIRED'),
  };
  return {
    '/v1/patients/registration-links': {
      post: {
        summary: 'Registration by link (hospital records officer): a one-time link and its QR code that open the Patient page with the registration request filled in',
        description:
          "Takes the hospital's own patientId, as POST /v1/patients/registration-requests does, and answers with that request and a link to /patient#registration=<token> (the token in the fragment, so it is never sent to a server or logged). The patient signs in the page, which completes the registration with POST /v1/patients/registration-links/complete. The link registers once and expires with its request (15 minutes); links are kept in this gateway's memory.",
        requestBody: json('RegistrationRequestBody'),
        responses: { '201': json('RegistrationLink'), ...errors },
      },
    },
    '/v1/patients/registration-links/open': {
      post: {
        security: [],
        summary: "The registration request behind a link (the Patient page; no API key: the link's token is the credential)",
        requestBody: json('RegistrationLinkToken'),
        responses: { '200': json('RegistrationToSign'), '400': patientErrors['400'], ...linkErrors, '429': patientErrors['429'] },
      },
    },
    '/v1/patients/registration-links/complete': {
      post: {
        security: [],
        summary: "Completes a link's registration with the patient's signature (the Patient page; no API key)",
        description:
          "registration is what POST /v1/patients takes, for the link's own message (400 REGISTRATION_LINK_MISMATCH otherwise); the same checks follow (SIGNATURE_INVALID, …). The link is spent once the binding is on the ledger: a second completion is 409 REGISTRATION_LINK_USED. A failed attempt does not spend it.",
        requestBody: json('RegistrationLinkCompletion'),
        responses: { '201': json('RegistrationResult'), '200': json('RegistrationResult'), '400': patientErrors['400'], ...linkErrors, '429': patientErrors['429'] },
      },
    },
  };
}
