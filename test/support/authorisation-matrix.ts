/**
 * The authorisation matrix of issue 7: every caller × organisation type × API-key endpoint,
 * each with a body the schemas accept, so that only authorisation decides. Denied = 401/403 with
 * a code; allowed = anything else. Shared by the stub run (test/unit/gateway/authorisation-matrix.test.ts)
 * and the real-network run (test/faults/abuse.test.ts). The table is written out by hand, on
 * purpose apart from gateway/src/http/roles.ts, so that a change to the gateway's table shows up.
 *
 * @module
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Role } from '../../gateway/src/http/roles';
import { HOSPITAL, SPONSOR } from '../unit/chaincode/fixtures';

export type OrgType = 'hospital' | 'insurer' | 'sponsor';

/** Who calls: a user of a role at this gateway, no key at all, or a key this gateway never issued. */
export type Caller = Role | 'no key' | 'bad key';
export const CALLERS: Caller[] = ['records-officer', 'claims-officer', 'research-officer', 'dpo', 'admin', 'no key', 'bad key'];
export const ORGS: OrgType[] = ['hospital', 'insurer', 'sponsor'];
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

const RO = 'records-officer';
const CO = 'claims-officer';
const RS = 'research-officer';
const DPO = 'dpo';
const AD = 'admin';
const ALL_ORGS: OrgType[] = ['hospital', 'insurer', 'sponsor'];
const HOSPITALS: OrgType[] = ['hospital'];

//  endpoint                                              roles allowed             at org types
export const MATRIX: { endpoint: string; roles: Role[]; orgs: OrgType[] }[] = [
  { endpoint: 'GET /v1/whoami',                              roles: [RO, CO, RS, DPO, AD], orgs: ALL_ORGS },
  { endpoint: 'POST /v1/documents/hash',                     roles: [RO, CO, RS, DPO, AD], orgs: ALL_ORGS },
  { endpoint: 'POST /v1/records',                            roles: [RO],                  orgs: HOSPITALS },
  { endpoint: 'POST /v1/records (multipart)',                roles: [RO],                  orgs: HOSPITALS },
  { endpoint: 'POST /v1/records/batch',                      roles: [RO],                  orgs: HOSPITALS },
  { endpoint: 'GET /v1/requests/{id}',                       roles: [RO, DPO, AD],         orgs: ALL_ORGS },
  { endpoint: 'GET /v1/records/{issuer}/{recordId}',         roles: [RO, CO, RS, AD],      orgs: ALL_ORGS },
  { endpoint: 'GET /v1/records/{issuer}/{recordId}/history', roles: [RO, CO, RS, AD],      orgs: ALL_ORGS },
  { endpoint: 'GET /v1/records/{issuer}/{recordId}/versions/{version}/provenance', roles: [RO, CO, RS, AD], orgs: ALL_ORGS },
  { endpoint: 'POST /v1/records/{issuer}/{recordId}/versions', roles: [RO],                orgs: HOSPITALS },
  { endpoint: 'PUT /v1/records/{issuer}/{recordId}/retraction', roles: [RO],               orgs: HOSPITALS },
  { endpoint: 'POST /v1/verifications',                      roles: [RO, CO, RS, DPO, AD], orgs: ALL_ORGS },
  { endpoint: 'POST /v1/verifications (multipart)',          roles: [RO, CO, RS, DPO, AD], orgs: ALL_ORGS },
  { endpoint: 'POST /v1/patients/registration-requests',     roles: [RO],                  orgs: HOSPITALS },
  { endpoint: 'POST /v1/patients',                           roles: [RO],                  orgs: HOSPITALS },
  { endpoint: 'GET /v1/consents/check',                      roles: [RO, CO, RS, DPO, AD], orgs: ALL_ORGS },
  { endpoint: 'POST /v1/access',                             roles: [CO, RS],              orgs: ALL_ORGS },
  { endpoint: 'GET /v1/consents/{hospital}/{patientRef}/{grantId}', roles: [RO, CO, RS, DPO, AD], orgs: ALL_ORGS },
  { endpoint: 'GET /v1/consents/events',                     roles: [CO, RS, AD],          orgs: ALL_ORGS },
  { endpoint: 'GET /v1/receipts/{docHash}',                  roles: [RO, CO, RS, DPO, AD], orgs: ALL_ORGS },
  { endpoint: 'POST /v1/erasures',                           roles: [DPO],                 orgs: HOSPITALS },
  { endpoint: 'GET /v1/erasures/{erasureId}',                roles: [DPO, AD],             orgs: ALL_ORGS },
  { endpoint: 'POST /v1/erasures/{erasureId}/ledger-record', roles: [DPO],                 orgs: HOSPITALS },
  { endpoint: 'POST /v1/admin/master-key/rotation',          roles: [AD],                  orgs: ALL_ORGS },
  { endpoint: 'GET /v1/admin/master-key/rotation',           roles: [AD],                  orgs: ALL_ORGS },
  { endpoint: 'POST /v1/research/releases/preview',          roles: [RS, DPO],             orgs: HOSPITALS },
  { endpoint: 'POST /v1/research/releases',                  roles: [RS],                  orgs: HOSPITALS },
  { endpoint: 'POST /v1/archives',                           roles: [RO],                  orgs: HOSPITALS },
  { endpoint: 'GET /v1/archives/{issuer}/{archiveId}',       roles: [RO, CO, RS, DPO, AD], orgs: ALL_ORGS },
  // Only a clinician breaks the glass: none of the callers here (its allowed cell: test/integration/network/break-glass.test.ts).
  { endpoint: 'POST /v1/break-glass',                        roles: [],                    orgs: HOSPITALS },
  { endpoint: 'GET /v1/audit/break-glass',                   roles: [DPO, AD],             orgs: HOSPITALS },
];

let unique = 0;
/** Set apart the ids and hashes of one run from another's on the same ledger. */
const RUN = randomBytes(3).toString('hex');
/** A request the schemas accept, for this endpoint, caller and gateway. */
export function validRequest(endpoint: string, caller: Caller, mspId: string, authorization: string | undefined): { method: string; path: string; headers: Record<string, string>; body?: string | Buffer } {
  const n = `${RUN}-${++unique}`;
  const [method, rawPath] = endpoint.split(' ');
  const json = (v: unknown) => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(v) });
  const multipart = (fields: Record<string, string>) => {
    const b = `----matrix${n}`;
    const parts = Object.entries(fields).map(([k, v]) => `--${b}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`);
    const body = `${parts.join('')}--${b}\r\nContent-Disposition: form-data; name="document"; filename="d.txt"\r\nContent-Type: text/plain\r\n\r\ndocument ${n}\r\n--${b}--\r\n`;
    return { headers: { 'content-type': `multipart/form-data; boundary=${b}` }, body };
  };
  // the caller's own org in write paths, so that only the role and org type decide
  const p = rawPath
    .replace('{issuer}', mspId)
    .replace('{recordId}', 'matrix-rec-1')
    .replace('{id}', `unknown-request-${n}`)
    .replace('{version}', '1')
    .replace('{hospital}', HOSPITAL)
    .replace('{patientRef}', sha('ref'))
    .replace('{grantId}', `0x${sha(`grant ${n}`)}`)
    .replace('{docHash}', sha(`receipt ${n}`))
    .replace('{erasureId}', randomUUID())
    .replace('{archiveId}', `matrix-archive-${n}`);
  const purpose = caller === 'research-officer' ? 'research:trial-1' : 'claims';
  let rest: { headers: Record<string, string>; body?: string } = { headers: {} };
  switch (endpoint) {
    case 'POST /v1/documents/hash':
    case 'POST /v1/verifications (multipart)':
      rest = multipart({});
      break;
    case 'POST /v1/records':
      rest = json({ recordId: `matrix-${n}`, docHash: sha(`matrix ${n}`), patientId: `MRN-${n}`, category: 'loinc:11506-3' });
      break;
    case 'POST /v1/records (multipart)':
      rest = multipart({ recordId: `matrix-${n}`, patientId: `MRN-${n}`, category: 'loinc:11506-3' });
      break;
    case 'POST /v1/records/batch':
      rest = json({ records: [{ recordId: `matrix-${n}`, docHash: sha(`matrix ${n}`), patientId: `MRN-${n}`, category: 'loinc:11506-3' }] });
      break;
    case 'POST /v1/records/{issuer}/{recordId}/versions':
      rest = json({ docHash: sha(`amended ${n}`) });
      break;
    case 'PUT /v1/records/{issuer}/{recordId}/retraction':
      rest = json({ reason: 'duplicate' });
      break;
    case 'POST /v1/verifications':
      rest = json({ docHash: sha(`verify ${n}`) });
      break;
    case 'POST /v1/patients/registration-requests':
    case 'POST /v1/erasures':
      rest = json({ patientId: `MRN-${n}` });
      break;
    case 'POST /v1/patients':
      rest = json({ message: { hospital: mspId, patientRef: sha(`ref ${n}`), nonce: `0x${sha(`nonce ${n}`)}` }, patient: `0x${'1'.repeat(40)}`, signature: `0x${'ab'.repeat(65)}` });
      break;
    case 'POST /v1/access':
      rest = json({ issuer: HOSPITAL, recordId: 'matrix-rec-1', purpose });
      break;
    case 'POST /v1/break-glass':
      rest = json({ issuer: HOSPITAL, recordId: 'matrix-rec-1', reason: 'unconscious-patient' });
      break;
    case 'POST /v1/archives':
      rest = json({ archiveId: `matrix-archive-${n}`, root: sha(`archive ${n}`), count: 3 });
      break;
    case 'POST /v1/research/releases/preview':
    case 'POST /v1/research/releases':
      // the caller's own org as issuer; allowed cells end in 422 (no consent) or a 200 preview
      rest = json({
        grantee: SPONSOR,
        purpose: 'research:trial-1',
        records: [{ issuer: mspId, recordId: 'matrix-rec-1', attributes: { sex: 'F', birthDate: '1961-03-02', regionCode: '11680', admissionDate: '2025-10-01', diagnosisCode: 'E11.9' } }],
      });
      break;
  }
  const path = endpoint === 'GET /v1/consents/check' ? `${p}?${new URLSearchParams({ hospital: HOSPITAL, patientRef: sha('ref'), purpose })}` : p.replace(' (multipart)', '');
  const auth: Record<string, string> = authorization === undefined ? {} : { authorization };
  return { method, path, headers: { ...auth, ...rest.headers }, ...(rest.body !== undefined ? { body: rest.body } : {}) };
}

/** The Authorization header of `caller`, given the role keys of the gateway asked (`bad key`: its admin key, forged). */
export function authorizationOf(caller: Caller, keyOf: (role: Role) => string): string | undefined {
  if (caller === 'no key') return undefined;
  if (caller === 'bad key') return `Bearer ${keyOf('admin')}-forged`;
  return `Bearer ${keyOf(caller)}`;
}

/** What the table says of a cell. */
export function expectedOf(row: (typeof MATRIX)[number], org: OrgType, caller: Caller): 'allowed' | 'denied' {
  return caller !== 'no key' && caller !== 'bad key' && row.roles.includes(caller) && row.orgs.includes(org) ? 'allowed' : 'denied';
}

/**
 * Asks one cell and judges the answer: `wrong` says what is wrong with it (denied without a code
 * or with an unexpected one, the wrong side of the table, a 5xx); `unauthorisedSuccess` when a
 * denied cell was let through. `expectedCodes` overrides the codes a denial may carry.
 */
export async function askCell(
  baseUrl: string,
  row: (typeof MATRIX)[number],
  org: OrgType,
  caller: Caller,
  req: ReturnType<typeof validRequest>,
  expected: 'allowed' | 'denied' = expectedOf(row, org, caller),
  expectedCodes: readonly string[] = caller === 'no key' ? ['AUTH_REQUIRED'] : caller === 'bad key' ? ['AUTH_INVALID'] : ['FORBIDDEN_ROLE', 'FORBIDDEN_ORG_TYPE'],
): Promise<{ status: number; wrong: string[]; unauthorisedSuccess: boolean }> {
  const res = await fetch(baseUrl + req.path, { method: req.method, headers: req.headers, ...(req.body !== undefined ? { body: req.body } : {}) });
  // An allowed event stream never ends: its 200 is the answer.
  const stream = res.status === 200 && (res.headers.get('content-type') ?? '').startsWith('text/event-stream');
  if (stream) await res.body?.cancel();
  const text = stream ? '' : await res.text();
  const wrong: string[] = [];
  const denied = res.status === 401 || res.status === 403;
  const got = denied ? 'denied' : 'allowed';
  const where = `${row.endpoint} @${org} as ${caller}`;
  if (denied) {
    let code = '';
    try {
      code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? '';
    } catch {
      // not JSON: no code
    }
    if (!/^[A-Z_]+$/.test(code)) wrong.push(`${where}: denied without a code: ${text.slice(0, 100)}`);
    else if (expected === 'denied' && !expectedCodes.includes(code)) wrong.push(`${where}: denied with ${code}, expected one of ${expectedCodes.join(', ')}`);
  }
  if (got !== expected) wrong.push(`${where}: expected ${expected}, got ${res.status} ${text.slice(0, 160)}`);
  if (res.status >= 500) wrong.push(`${where}: ${res.status} ${text.slice(0, 160)}`);
  return { status: res.status, wrong, unauthorisedSuccess: got === 'allowed' && expected === 'denied' };
}
