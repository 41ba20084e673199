/**
 * The generated malformed requests of the abuse tests, shared by the stub run
 * (test/unit/gateway/abuse.test.ts: real gateways on an in-memory ledger) and the real-network
 * run (test/faults/abuse.test.ts: the consortium's own gateway processes on Fabric): one seeded
 * generator, so a case seed names the same request shape in both. The generator is a seeded
 * xorshift PRNG; every failing case names its seed (replay one with MEDPROV_ABUSE_CASE_SEED=<seed>,
 * a whole run with MEDPROV_ABUSE_SEED). Also here: the transport that sends a case as it is, the
 * check of the error envelope, and the loop that runs many cases and tallies the answers.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import { ROLES, type Role } from '../../gateway/src/http/roles';
import { HOSPITAL, INSURER, SPONSOR } from '../unit/chaincode/fixtures';

/** The run's settings from the environment: cases (MEDPROV_ABUSE_CASES), base seed, and one case to replay. */
export function abuseSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): { cases: number; baseSeed: number; onlyCase?: number } {
  const cases = Number(env.MEDPROV_ABUSE_CASES ?? 10_000);
  const baseSeed = env.MEDPROV_ABUSE_SEED !== undefined ? Number(env.MEDPROV_ABUSE_SEED) >>> 0 : (Math.random() * 2 ** 32) >>> 0 || 1;
  const onlyCase = env.MEDPROV_ABUSE_CASE_SEED !== undefined ? Number(env.MEDPROV_ABUSE_CASE_SEED) >>> 0 : undefined;
  return { cases, baseSeed, ...(onlyCase !== undefined ? { onlyCase } : {}) };
}

// ─────────────────────────────── the PRNG ───────────────────────────────

export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  /** xorshift32 */
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  int(n: number): number {
    return this.next() % n;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  chance(p: number): boolean {
    return this.next() / 2 ** 32 < p;
  }
}
/** The seed of case `i` of a run with base seed `base`. */
export const caseSeed = (base: number, i: number): number => {
  // splitmix-style mixing so neighbouring cases are unrelated
  let z = (base + Math.imul(i + 1, 0x9e3779b9)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0 || 1;
};

// ─────────────────────────────── the requests ───────────────────────────────

export type Org = 'hospital' | 'insurer' | 'sponsor';

/** One API key per role, at one gateway: the keys a generated request authenticates with (or forges). */
export type KeyRing = Readonly<Record<Role, string>>;

export interface Case {
  seed: number;
  kind: string;
  org: Org;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** Send the body with chunked encoding (a truncated multipart ends "cleanly" at HTTP level). */
  chunked?: boolean;
  /** The client gives up half-way: no answer is expected, only that nothing breaks. */
  abort?: boolean;
}

export const hex64 = (s: string): string => createHash('sha256').update(s).digest('hex');
const bytes32 = (s: string): string => `0x${hex64(s)}`;
const SIG = `0x${'ab'.repeat(65)}`;
const ADDR = '0x' + '1'.repeat(40);

/** Valid-shaped bodies per route: the generator breaks exactly these. */
const TEMPLATES: Record<string, () => Record<string, unknown>> = {
  anchor: () => ({ recordId: 'rec-abuse-1', docHash: hex64('doc'), patientId: 'MRN-1', category: 'loinc:11506-3' }),
  batch: () => ({ records: [TEMPLATES.anchor(), { ...TEMPLATES.anchor(), recordId: 'rec-abuse-2', docHash: hex64('doc2') }] }),
  amend: () => ({ docHash: hex64('amended'), category: 'loinc:11506-3' }),
  retract: () => ({ reason: 'duplicate' }),
  verify: () => ({ docHash: hex64('doc') }),
  registrationRequest: () => ({ patientId: 'MRN-1' }),
  erasure: () => ({ patientId: 'MRN-abuse-erasure' }),
  archive: () => ({ archiveId: 'archive-abuse-1', root: hex64('archive'), count: 1000, category: 'scans' }),
  register: () => ({ message: { hospital: HOSPITAL, patientRef: hex64('ref'), nonce: bytes32('n') }, patient: ADDR, signature: SIG }),
  grant: () => ({
    message: {
      hospital: HOSPITAL,
      patientRef: hex64('ref'),
      grantee: INSURER,
      purpose: 'claims',
      categories: ['loinc:18842-5'],
      recordIds: ['rec-1'],
      validFrom: 1_767_225_600,
      validUntil: 1_769_817_600,
      nonce: bytes32('g'),
    },
    signature: SIG,
  }),
  revoke: () => ({ message: { hospital: HOSPITAL, patientRef: hex64('ref'), grantId: bytes32('grant'), nonce: bytes32('r') }, signature: SIG }),
  access: () => ({ issuer: HOSPITAL, recordId: 'rec-1', purpose: 'claims' }),
  breakGlass: () => ({ issuer: HOSPITAL, recordId: 'rec-1', reason: 'unconscious-patient' }),
  release: () => ({
    grantee: SPONSOR,
    purpose: 'research:trial-1',
    records: [{ issuer: HOSPITAL, recordId: 'rec-abuse-1', attributes: { sex: 'F', birthDate: '1961-03-02', regionCode: '11680', admissionDate: '2025-10-01', diagnosisCode: 'E11.9' } }],
  }),
  challenge: () => ({ address: ADDR }),
  linkToken: () => ({ token: 'A'.repeat(32) }),
  linkComplete: () => ({ token: 'A'.repeat(32), registration: TEMPLATES.register() }),
  check: () => ({ hospital: HOSPITAL, patientRef: hex64('ref'), purpose: 'claims' }),
  appointment: () => ({
    message: { hospital: HOSPITAL, patientRef: hex64('ref'), guardian: ADDR, purposes: ['claims'], categories: ['loinc:18842-5'], validFrom: 1_767_225_600, validUntil: 1_769_817_600, nonce: bytes32('a') },
    signature: SIG,
  }),
  guardianRevoke: () => ({ message: { hospital: HOSPITAL, patientRef: hex64('ref'), delegationId: bytes32('delegation'), nonce: bytes32('gr') }, signature: SIG }),
  legalGuardian: () => ({ patientId: 'MRN-abuse-minor', guardian: ADDR, basis: 'minor', purposes: [], categories: [], validUntil: 1_769_817_600 }),
  legalGuardianRevoke: () => ({ patientId: 'MRN-abuse-minor', delegationId: bytes32('delegation') }),
  guardianGrant: () => ({ ...TEMPLATES.grant(), delegationId: bytes32('delegation') }),
  guardianConsentRevoke: () => ({ ...TEMPLATES.revoke(), delegationId: bytes32('delegation') }),
};

export interface Route {
  method: string;
  /** OpenAPI path with {params} */
  path: string;
  auth: 'key' | 'patient-body' | 'patient-header';
  body?: keyof typeof TEMPLATES;
  query?: keyof typeof TEMPLATES;
  multipart?: boolean;
}
export const ROUTES: Route[] = [
  { method: 'GET', path: '/v1/whoami', auth: 'key' },
  { method: 'POST', path: '/v1/documents/hash', auth: 'key', multipart: true },
  { method: 'POST', path: '/v1/records', auth: 'key', body: 'anchor', multipart: true },
  { method: 'GET', path: '/v1/requests/{id}', auth: 'key' },
  { method: 'POST', path: '/v1/records/batch', auth: 'key', body: 'batch' },
  { method: 'GET', path: '/v1/records/{issuer}/{recordId}', auth: 'key' },
  { method: 'GET', path: '/v1/records/{issuer}/{recordId}/history', auth: 'key' },
  { method: 'GET', path: '/v1/records/{issuer}/{recordId}/versions/{version}/provenance', auth: 'key' },
  { method: 'POST', path: '/v1/records/{issuer}/{recordId}/versions', auth: 'key', body: 'amend' },
  { method: 'PUT', path: '/v1/records/{issuer}/{recordId}/retraction', auth: 'key', body: 'retract' },
  { method: 'POST', path: '/v1/verifications', auth: 'key', body: 'verify', multipart: true },
  { method: 'POST', path: '/v1/patients/registration-requests', auth: 'key', body: 'registrationRequest' },
  { method: 'POST', path: '/v1/patients', auth: 'key', body: 'register' },
  { method: 'POST', path: '/v1/patients/registration-links', auth: 'key', body: 'registrationRequest' },
  { method: 'POST', path: '/v1/patients/registration-links/open', auth: 'patient-body', body: 'linkToken' },
  { method: 'POST', path: '/v1/patients/registration-links/complete', auth: 'patient-body', body: 'linkComplete' },
  { method: 'POST', path: '/v1/consents', auth: 'patient-body', body: 'grant' },
  { method: 'POST', path: '/v1/consents/revocations', auth: 'patient-body', body: 'revoke' },
  { method: 'GET', path: '/v1/consents/check', auth: 'key', query: 'check' },
  { method: 'POST', path: '/v1/access', auth: 'key', body: 'access' },
  { method: 'POST', path: '/v1/patients/challenges', auth: 'patient-body', body: 'challenge' },
  { method: 'GET', path: '/v1/patients/me/grants', auth: 'patient-header' },
  { method: 'GET', path: '/v1/patients/me/access-log', auth: 'patient-header' },
  { method: 'GET', path: '/v1/patients/me/consents', auth: 'patient-header' },
  { method: 'POST', path: '/v1/delegations', auth: 'patient-body', body: 'appointment' },
  { method: 'POST', path: '/v1/delegations/revocations', auth: 'patient-body', body: 'guardianRevoke' },
  { method: 'POST', path: '/v1/delegations/legal-basis', auth: 'key', body: 'legalGuardian' },
  { method: 'POST', path: '/v1/delegations/legal-basis/revocations', auth: 'key', body: 'legalGuardianRevoke' },
  { method: 'POST', path: '/v1/guardians/consents', auth: 'patient-body', body: 'guardianGrant' },
  { method: 'POST', path: '/v1/guardians/consents/revocations', auth: 'patient-body', body: 'guardianConsentRevoke' },
  { method: 'GET', path: '/v1/guardians/me/delegations', auth: 'patient-header' },
  { method: 'GET', path: '/v1/patients/me/delegations', auth: 'patient-header' },
  { method: 'GET', path: '/v1/patients/me/registration', auth: 'patient-header' },
  { method: 'GET', path: '/v1/patients/me/records', auth: 'patient-header' },
  { method: 'GET', path: '/v1/consents/{hospital}/{patientRef}/{grantId}', auth: 'key' },
  { method: 'GET', path: '/v1/consents/events', auth: 'key' },
  { method: 'GET', path: '/v1/receipts/{docHash}', auth: 'key' },
  { method: 'POST', path: '/v1/erasures', auth: 'key', body: 'erasure' },
  { method: 'GET', path: '/v1/erasures/{erasureId}', auth: 'key' },
  { method: 'POST', path: '/v1/erasures/{erasureId}/ledger-record', auth: 'key' },
  { method: 'POST', path: '/v1/admin/master-key/rotation', auth: 'key' },
  { method: 'GET', path: '/v1/admin/master-key/rotation', auth: 'key' },
  { method: 'POST', path: '/v1/research/releases/preview', auth: 'key', body: 'release' },
  { method: 'POST', path: '/v1/research/releases', auth: 'key', body: 'release' },
  { method: 'POST', path: '/v1/archives', auth: 'key', body: 'archive' },
  { method: 'GET', path: '/v1/archives/{issuer}/{archiveId}', auth: 'key' },
  { method: 'GET', path: '/v1/access-receipts/{txId}', auth: 'key' },
  { method: 'POST', path: '/v1/break-glass', auth: 'key', body: 'breakGlass' },
  // Every query parameter is optional, so a query with one left out is no defect: tried without one.
  { method: 'GET', path: '/v1/audit/break-glass', auth: 'key' },
];
export const OPEN_PATHS = ['/healthz', '/metrics', '/v1/openapi.json', '/docs', '/v1/organisations'];

/** Strings no schema field accepts (patientId included: the privacy layer refuses these). */
const BAD_STRINGS: (() => string)[] = [
  () => '',
  () => ' ',
  () => '\u0000',
  () => 'rec\u0000x',
  () => '\ud800',
  () => 'a\udc00b',
  () => '\u{10FFFF}',
  () => 'x\u{10FFFF}',
  () => '\u202Eabc\u202C',
  () => 'a\u200Fb',
  () => '\uFFFE',
  () => 'a\tb',
  () => 'x'.repeat(100_000),
  () => '\u0000'.repeat(5_000),
];
/** Strings only the strictly patterned fields refuse (not the free-text patientId). */
const BAD_PATTERNED: (() => string)[] = [
  () => 'e\u0301',
  () => '\u{1F600}',
  () => '\u{1F468}\u200D\u{1F469}',
  () => '%00',
  () => '../../etc/passwd',
  () => '<script>alert(1)</script>',
  () => "' OR 1=1 --",
  () => 'x'.repeat(129),
  () => 'a b',
];
const BAD_HEX: (() => string)[] = [() => 'A'.repeat(64), () => 'a'.repeat(63), () => 'a'.repeat(65), () => `0x${'a'.repeat(64)}`, () => 'g'.repeat(64)];
const WRONG_TYPES: unknown[] = [0, -1, 1.5, 1e308, true, false, null, [], {}, ['a'], { a: 1 }, 2 ** 53 + 2];

const KIND_OF_FIELD: Record<string, string> = {
  docHash: 'hex', patientRef: 'hex', nonce: 'bytes32', grantId: 'bytes32', signature: 'sig', patient: 'address', address: 'address',
  recordId: 'recordId', archiveId: 'recordId', patientId: 'patientId', category: 'patterned', hospital: 'patterned', grantee: 'patterned', issuer: 'patterned',
  purpose: 'patterned', reason: 'patterned', validFrom: 'int', validUntil: 'int',
};

function badValue(rng: Rng, field: string): unknown {
  const kind = KIND_OF_FIELD[field] ?? 'patterned';
  if (kind === 'int') return rng.pick([-1, 1.5, '1767225600', null, true, 1e21, [], {}, 2 ** 53, 99_999_999_999_999]);
  if (rng.chance(0.25)) {
    const t = rng.pick(WRONG_TYPES);
    // a string field given a non-string; never the same type
    return t;
  }
  const pool = [...BAD_STRINGS];
  // ('../../etc/passwd' is a valid record or archive id: '.' and '/' are allowed in an opaque id, which is only ever a ledger key)
  if (kind !== 'patientId') pool.push(...BAD_PATTERNED.filter((f) => kind !== 'recordId' || f() !== '../../etc/passwd'));
  if (kind === 'hex' || kind === 'bytes32' || kind === 'sig' || kind === 'address') pool.push(...BAD_HEX);
  if (kind === 'patientId') pool.push(() => 'M'.repeat(129), () => '   \t  ');
  return rng.pick(pool)();
}

/** Breaks one thing in a valid-shaped body, so that it is certainly invalid. */
function breakBody(rng: Rng, body: Record<string, unknown>): { body: unknown; what: string } {
  // every place in the body, with its parent
  type Place = { parent: Record<string, unknown> | unknown[]; key: string | number; field: string };
  const places: Place[] = [];
  const objects: Record<string, unknown>[] = [];
  const walk = (node: unknown, field: string): void => {
    if (Array.isArray(node)) node.forEach((v, i) => (typeof v === 'object' && v !== null ? walk(v, field) : places.push({ parent: node, key: i, field })));
    else if (node && typeof node === 'object') {
      objects.push(node as Record<string, unknown>);
      for (const [k, v] of Object.entries(node)) {
        if (v && typeof v === 'object' && !(Array.isArray(v) && v.every((x) => typeof x !== 'object'))) walk(v, k);
        else if (Array.isArray(v)) {
          places.push({ parent: node as Record<string, unknown>, key: k, field: `${k}[]` });
          v.forEach((_, i) => places.push({ parent: v, key: i, field: k === 'categories' ? 'category' : k === 'recordIds' ? 'recordId' : k }));
        } else places.push({ parent: node as Record<string, unknown>, key: k, field: k });
      }
    }
  };
  walk(body, '');
  const how = rng.int(100);
  if (how < 60) {
    const place = rng.pick(places);
    if (place.field.endsWith('[]')) {
      const arr = (place.parent as Record<string, unknown[]>)[place.key as string];
      const choice = rng.int(4);
      if (choice === 0) (place.parent as Record<string, unknown>)[place.key as string] = rng.pick(['x', 7, null, { a: 1 }]);
      else if (choice === 1) (place.parent as Record<string, unknown>)[place.key as string] = Array.from({ length: 1_001 }, (_, i) => `c${i}`);
      else if (choice === 2 && arr.length) arr.push(arr[0]); // uniqueItems
      else (place.parent as Record<string, unknown>)[place.key as string] = [...arr, rng.pick(['', '\u0000', '\ud800', 5, null])];
      return { body, what: `array ${place.field}` };
    }
    const value = badValue(rng, place.field);
    (place.parent as Record<string | number, unknown>)[place.key] = value;
    return { body, what: `field ${place.field} = ${describeValue(value)}` };
  }
  if (how < 75) {
    const obj = rng.pick(objects);
    const name = rng.pick(['__proto__', 'constructor', 'admin', 'role', 'issuer2', '\u0000', '\u202E', 'x'.repeat(1000), 'docHash ', 'DocHash']);
    // JSON text with the extra key, so that "__proto__" is a real own key of the parsed object
    obj[name] = rng.pick([1, 'x', null, { $ref: '#' }]);
    if (name === '__proto__') return { body: JSON.parse(JSON.stringify(body).replace(/^\{/, '{"__proto__":{"isAdmin":true},')), what: 'extra __proto__' };
    return { body, what: `extra field ${describeValue(name)}` };
  }
  if (how < 90) {
    // Only required fields: an amendment's and an archive's category, and a legal-basis guardian's scope, are optional.
    const optional = (p: Place) =>
      (p.field === 'category' && (('docHash' in p.parent && !('recordId' in p.parent)) || 'archiveId' in p.parent)) ||
      ((p.key === 'purposes' || p.key === 'categories') && 'basis' in p.parent);
    const place = rng.pick(places.filter((p) => !Array.isArray(p.parent) && !optional(p)));
    delete (place.parent as Record<string, unknown>)[place.key as string];
    return { body, what: `missing ${place.field}` };
  }
  return { body: rng.pick<unknown>([[body], [], {}, { body }, [1, 2, 3]]), what: 'wrong top-level shape' };
}

function describeValue(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 40)}…(${s.length})` : s;
}

/** Whole bodies that are not acceptable JSON, or too large, or too deep. */
function badJsonText(rng: Rng, org: Org): { text: string | Buffer; what: string } {
  const choice = rng.int(16);
  switch (choice) {
    case 0: return { text: '{', what: 'truncated JSON' };
    case 1: return { text: '{"docHash": "abc"', what: 'unterminated object' };
    case 2: return { text: rng.pick(['null', '"str"', '123', 'true', '1e309']), what: 'scalar top level' };
    case 3: return { text: "{'a': 1}", what: 'single quotes' };
    case 4: return { text: '{"a":NaN}', what: 'NaN' };
    case 5: return { text: Buffer.from([0xef, 0xbb, 0xbf, ...Buffer.from('{"x":1,}')]), what: 'BOM and trailing comma' };
    case 6: return { text: Buffer.from(Array.from({ length: 200 + rng.int(2000) }, () => rng.int(256))), what: 'random bytes' };
    case 7: return { text: '{"docHash":"\\ud800\\udc00\\ud800"}', what: 'lone surrogate escape' };
    case 8: return { text: Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]), what: 'invalid UTF-8' };
    case 9: {
      const depth = 10_000 + rng.int(200_000);
      return { text: `{"records":${'['.repeat(depth)}${']'.repeat(depth)}}`, what: `nesting ${depth} deep` };
    }
    case 10: {
      const depth = 5_000 + rng.int(50_000);
      return { text: `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`, what: `object nesting ${depth}` };
    }
    case 11: {
      // 10^6 elements: within the insurer's 4 MB body limit, over the others' 1 MB
      return { text: `{"records":[${'0,'.repeat(999_999)}0]}`, what: `10^6-element array (${org})` };
    }
    case 12: return { text: `{"records":[${'1,'.repeat(400_000)}1]}`, what: '4×10^5-element array' };
    case 13: return { text: `{"docHash":"${'a'.repeat(1_048_576)}"}`, what: '1 MB string' };
    case 14: return { text: `{"docHash":"${'é'.repeat(300_000)}"}`, what: '600 kB unicode string' };
    default: return { text: `{"a":${'1'.repeat(5000)}}`, what: '5000-digit number' };
  }
}

/** Authorization headers that authenticate no one. */
function badAuth(rng: Rng, keys: KeyRing): { value?: string; what: string } {
  const k = keys['records-officer'];
  const options: [string | undefined, string][] = [
    [undefined, 'no auth'],
    ['', 'empty auth'],
    ['Bearer', 'Bearer alone'],
    ['Bearer ', 'Bearer and space'],
    [`Bearer  ${k}`, 'two spaces'],
    // (a trailing space is not a defect: HTTP strips whitespace around header values)
    [`Bearer ${k.slice(0, 10)} ${k.slice(10)}`, 'space in key'],
    [`bearer ${k}`, 'lowercase scheme'],
    [`Basic ${Buffer.from(`u:${k}`).toString('base64')}`, 'Basic'],
    [`Bearer ${'k'.repeat(10_240)}`, '10 KB key'],
    [`Bearer ${k}x`, 'forged key (one char more)'],
    [`Bearer ${k.slice(0, -1)}`, 'forged key (one char less)'],
    [`Bearer ${'a'.repeat(15)}`, 'short key'],
    [`Bearer ${hex64(String(rng.next()))}`, 'random key'],
    [`Bearer ${k}\xff`, 'latin-1 byte'],
    [`Bearer \xe9${k}`, 'latin-1 prefix'],
    [`Patient ${Buffer.from('{}').toString('base64url')}`, 'Patient scheme on a staff route'],
    [`Bearer ${hashApiKeyHex(k)}`, 'the stored digest as a key'],
  ];
  const [value, what] = rng.pick(options);
  return value === undefined ? { what } : { value, what };
}
const hashApiKeyHex = (k: string): string => createHash('sha256').update(k).digest('hex');

function badPatientAuth(rng: Rng, keys: KeyRing): { value?: string; what: string } {
  const b64 = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
  const valid = { message: { gateway: HOSPITAL, hospital: HOSPITAL, patientRef: hex64('ref'), nonce: bytes32('c'), expiresAt: 1_767_225_700 }, signature: SIG };
  const options: [string | undefined, string][] = [
    [undefined, 'no patient auth'],
    ['Patient', 'Patient alone'],
    ['Patient ', 'Patient and space'],
    [`Patient ${'A'.repeat(5000)}`, 'Patient credential too long'],
    [`Patient ${b64('not json at all')}`, 'not JSON'],
    [`Patient ${b64('{"message":')}`, 'truncated JSON'],
    [`Patient ${b64([1, 2])}`, 'an array'],
    [`Patient ${b64({ ...valid, extra: 1 })}`, 'extra field'],
    [`Patient ${b64({ message: { ...valid.message, nonce: 'x' }, signature: SIG })}`, 'bad nonce'],
    [`Patient ${b64(valid)}`, 'unknown challenge'],
    [`Patient ${b64({ message: { ...valid.message, hospital: '\u0000' }, signature: SIG })}`, 'NUL hospital'],
    [`Patient ${b64(valid)}==`, 'padding'],
    [`Patient ${b64(valid).replace(/./, '%')}`, 'invalid base64url'],
    [`Bearer ${keys.admin}`, 'a staff key on a patient route'],
    [`Patient  ${b64(valid)}`, 'two spaces'],
  ];
  const [value, what] = rng.pick(options);
  return value === undefined ? { what } : { value, what };
}

/** Path parameters no route accepts (%-encoded as they travel). */
const BAD_PARAMS: (() => string)[] = [
  () => '%00',
  () => 'rec%00x',
  () => '%FF',
  () => '%E0%A4%A',
  () => '%ED%A0%80', // an encoded lone surrogate
  () => '%F4%8F%BF%BF', // U+10FFFF
  () => '%E2%80%AEabc', // RTL override
  () => 'e%CC%81', // NFD combining mark
  () => '%F0%9F%98%80',
  () => 'x'.repeat(129),
  () => 'x'.repeat(8_000),
  () => '%20',
  () => 'a%20b',
  () => '%25',
  () => '%',
  () => 'a%2Fb%00',
];
const PARAM_VALID: Record<string, string> = {
  issuer: HOSPITAL,
  recordId: 'rec-abuse-1',
  id: 'req-abuse-1',
  version: '1',
  hospital: HOSPITAL,
  patientRef: hex64('ref'),
  grantId: bytes32('grant'),
  docHash: hex64('receipt'),
  erasureId: '3b0e5a4c-1f2d-4e6a-9b7c-8d9e0f1a2b3c',
  archiveId: 'archive-abuse-1',
  txId: hex64('access'),
};

function fillPath(p: string, rng: Rng, breakOne: boolean): { path: string; what: string } {
  const params = [...p.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
  const broken = breakOne && params.length ? rng.pick(params) : undefined;
  let what = '';
  const out = p.replace(/\{(\w+)\}/g, (_, name: string) => {
    if (name === broken) {
      const v = rng.pick(BAD_PARAMS)();
      what = `path ${name}=${v.slice(0, 30)}`;
      return v;
    }
    // '.' and '..' are valid ids for the schemas: only as decoration of an otherwise broken request
    if (!breakOne && rng.chance(0.1)) return rng.pick(['..', '.', '%2e%2e', encodeURIComponent('Ω-1')]);
    return PARAM_VALID[name];
  });
  return { path: out, what };
}

/** encodeURIComponent, except that a lone surrogate travels as its (invalid) UTF-8 bytes. */
function encodeQuery(s: string): string {
  return s
    .split(/([\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff])/)
    .map((piece) => (piece.length === 1 && /[\ud800-\udfff]/.test(piece) ? '%ED%A0%80' : encodeURIComponent(piece)))
    .join('');
}

function jsonHeaders(extra: Record<string, string> = {}): Record<string, string> {
  return { 'content-type': 'application/json', ...extra };
}

/** Multipart bodies that are broken at the HTTP-content level. */
function badMultipart(rng: Rng, route: Route): { headers: Record<string, string>; body: Buffer; chunked: boolean; what: string } {
  const boundary = `----medprov${rng.next().toString(16)}`;
  const part = (name: string, value: string | Buffer, file = false): Buffer =>
    Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"${file ? '; filename="d.pdf"\r\nContent-Type: application/pdf' : ''}\r\n\r\n`),
      Buffer.isBuffer(value) ? value : Buffer.from(value),
      Buffer.from('\r\n'),
    ]);
  const fields = route.path === '/v1/records' ? [part('recordId', 'rec-mp-1'), part('patientId', 'MRN-mp'), part('category', 'loinc:11506-3')] : [];
  const doc = part('document', Buffer.from(Array.from({ length: 1 + rng.int(4096) }, () => rng.int(256))), true);
  const end = Buffer.from(`--${boundary}--\r\n`);
  const whole = Buffer.concat([...fields, doc, end]);
  const ct = `multipart/form-data; boundary=${boundary}`;
  switch (rng.int(10)) {
    case 0: {
      const cut = rng.int(whole.length - end.length - 1) + 1;
      return { headers: { 'content-type': ct }, body: whole.subarray(0, cut), chunked: true, what: `truncated at ${cut}/${whole.length}` };
    }
    case 1: return { headers: { 'content-type': 'multipart/form-data' }, body: whole, chunked: false, what: 'no boundary' };
    case 2: return { headers: { 'content-type': 'multipart/form-data; boundary=' }, body: whole, chunked: false, what: 'empty boundary' };
    case 3: return { headers: { 'content-type': `multipart/form-data; boundary=${'b'.repeat(200)}` }, body: whole, chunked: false, what: 'boundary too long / not in body' };
    case 4: return { headers: { 'content-type': 'multipart/form-data; boundary=other' }, body: whole, chunked: false, what: 'wrong boundary' };
    case 5: return { headers: { 'content-type': ct }, body: Buffer.concat([...fields, end]), chunked: false, what: 'no document' };
    case 6: return { headers: { 'content-type': ct }, body: Buffer.concat([...fields, doc, doc, end]), chunked: false, what: 'two documents' };
    case 7: return { headers: { 'content-type': ct }, body: Buffer.concat([...fields, part('x'.repeat(10), 'y'.repeat(2_000)), doc, end]), chunked: false, what: 'field too large' };
    case 8:
      return {
        headers: { 'content-type': ct },
        body: Buffer.concat([...Array.from({ length: 12 }, (_, i) => part(`f${i}`, 'v')), doc, end]),
        chunked: false,
        what: 'too many fields',
      };
    default:
      return { headers: { 'content-type': `multipart/form-data; boundary="${boundary}` }, body: whole, chunked: rng.chance(0.5), what: 'unterminated quoted boundary' };
  }
}

/**
 * One malformed request, chosen by the seed; `keysOf(org)` gives the keys it authenticates with
 * (the same seed gives the same request shape at any gateways, only the keys differ).
 */
export function generate(seed: number, keysOf: (org: Org) => KeyRing): Case & { what: string } {
  const rng = new Rng(seed);
  const org: Org = rng.pick(['hospital', 'hospital', 'insurer', 'sponsor'] as const);
  const keys = keysOf(org);
  const roll = rng.int(100);
  const validKey = (): Record<string, string> => ({ authorization: `Bearer ${rng.pick(ROLES.map((role) => keys[role]))}` });

  if (roll < 6) {
    // unknown routes
    const p = rng.pick([
      '/v1/unknown', '/v2/records', '/v1/records/a/b/c/d', '/v1/%00', '/%00', `/${'x'.repeat(10_000)}`, '/v1/records%2Fbatch', '/v1/requests',
      '/v1/consents/check/more', '/v1/patients/me', '/v1/../../etc/passwd', '/v1/%2e%2e/%2e%2e/etc/passwd', '/v1/openapi.yaml', '/admin', '/v1/whoami/x',
      `/v1/records/${encodeURIComponent('\u202E')}/a/b/c`,
    ]);
    const method = rng.pick(['GET', 'POST', 'PUT', 'DELETE', 'PATCH']);
    return { seed, kind: 'unknown-route', org, method, path: p, headers: validKey(), what: `${method} ${p.slice(0, 60)}` };
  }
  if (roll < 10) {
    // methods the route does not have (open routes included)
    const all = [...ROUTES.map((r) => ({ method: r.method, path: r.path })), ...OPEN_PATHS.map((p) => ({ method: 'GET', path: p }))];
    const r = rng.pick(all);
    const samePath = all.filter((x) => x.path === r.path).map((x) => x.method);
    const method = rng.pick(['GET', 'POST', 'PUT', 'DELETE', 'PATCH'].filter((m) => !samePath.includes(m)));
    const { path: p } = fillPath(r.path, rng, false);
    return { seed, kind: 'method-not-allowed', org, method, path: p, headers: validKey(), what: `${method} ${r.path}` };
  }

  const route = rng.pick(ROUTES);
  const kinds: string[] = [];
  if (route.auth === 'key') kinds.push('auth');
  if (route.auth === 'patient-header') kinds.push('patient-auth');
  if (route.body) kinds.push('body', 'body', 'body', 'json-text', 'content-type');
  if (route.multipart) kinds.push('multipart', 'multipart');
  if (route.path.includes('{')) kinds.push('path', 'path');
  if (route.query) kinds.push('query', 'query');
  if (route.multipart && route.body && rng.chance(0.05)) kinds.push('abort');
  const kind = rng.pick(kinds);

  const { path: filled, what: pathWhat } = fillPath(route.path, rng, kind === 'path');
  let p = filled;
  let headers: Record<string, string> = route.auth === 'key' ? validKey() : {};
  let body: Buffer | undefined;
  let chunked = false;
  let what = '';
  const template = route.body ? TEMPLATES[route.body]() : undefined;
  const validJson = template ? Buffer.from(JSON.stringify(template)) : undefined;
  if (route.query && kind !== 'query') p += `?${new URLSearchParams(TEMPLATES[route.query]() as Record<string, string>)}`;

  switch (kind) {
    case 'auth': {
      const a = badAuth(rng, keys);
      headers = a.value === undefined ? {} : { authorization: a.value };
      if (validJson) {
        body = validJson;
        headers = { ...headers, ...jsonHeaders() };
      }
      what = a.what;
      break;
    }
    case 'patient-auth': {
      const a = badPatientAuth(rng, keys);
      headers = a.value === undefined ? {} : { authorization: a.value };
      what = a.what;
      break;
    }
    case 'body': {
      const broken = breakBody(rng, template as Record<string, unknown>);
      body = Buffer.from(JSON.stringify(broken.body));
      headers = { ...headers, ...jsonHeaders(rng.chance(0.2) ? { 'idempotency-key': rng.pick(['k', 'x'.repeat(5000), '\xff\xfe']), prefer: 'wait=5' } : {}) };
      what = broken.what;
      break;
    }
    case 'json-text': {
      const bad = badJsonText(rng, org);
      body = Buffer.isBuffer(bad.text) ? bad.text : Buffer.from(bad.text);
      headers = { ...headers, ...jsonHeaders() };
      what = bad.what;
      break;
    }
    case 'content-type': {
      const ct = rng.pick([
        undefined,
        'text/plain',
        'application/x-www-form-urlencoded',
        'application/json; charset=utf-16',
        'application/json; charset=latin1',
        'application/jsonx',
        'application/xml',
        'text/json',
        '*/*',
        'application/octet-stream',
        ...(route.multipart ? [] : ['multipart/form-data; boundary=abc']),
      ]);
      body = validJson;
      headers = { ...headers, ...(ct === undefined ? {} : { 'content-type': ct }) };
      what = `content-type ${ct ?? 'missing'}`;
      break;
    }
    case 'multipart': {
      const mp = badMultipart(rng, route);
      body = mp.body;
      chunked = mp.chunked;
      headers = { ...headers, ...mp.headers };
      what = `multipart: ${mp.what}`;
      break;
    }
    case 'path': {
      if (validJson) {
        body = validJson;
        headers = { ...headers, ...jsonHeaders() };
      }
      what = pathWhat;
      break;
    }
    case 'query': {
      const q = TEMPLATES[route.query as string]() as Record<string, unknown>;
      const choice = rng.int(5);
      let search: string;
      if (choice === 0) {
        const broken = breakBody(rng, q);
        const flat = broken.body && typeof broken.body === 'object' && !Array.isArray(broken.body) ? (broken.body as Record<string, unknown>) : { x: 1 };
        search = Object.entries(flat).map(([k, v]) => `${encodeQuery(k)}=${encodeQuery(typeof v === 'string' ? v : JSON.stringify(v) ?? '')}`).join('&');
        // a string value that a query can carry: non-strings became their JSON text; make sure something is wrong
        if (!/%|\[|\{|null|true|false|\d/.test(search) && Object.keys(flat).length >= 3) search += '&unknown=1';
        what = `query ${broken.what}`;
      } else if (choice === 1) {
        search = `${new URLSearchParams(q as Record<string, string>)}&purpose=claims`;
        what = 'query: repeated parameter';
      } else if (choice === 2) {
        search = `hospital=${HOSPITAL}&patientRef=%00&purpose=claims`;
        what = 'query: NUL';
      } else if (choice === 3) {
        search = `${new URLSearchParams(q as Record<string, string>)}&${rng.pick(['__proto__[x]=1', 'constructor=1', 'a=%E0%A4%A', 'x=' + 'y'.repeat(9000)])}`;
        what = 'query: extra parameter';
      } else {
        search = `hospital=${HOSPITAL}&patientRef=${'a'.repeat(64)}&purpose=${rng.pick(['research', 'claims%20', 'research%3A', 'Claims', '%E2%80%AEclaims'])}`;
        what = 'query: bad purpose';
      }
      p = `${filled}?${search}`;
      break;
    }
    case 'abort': {
      body = validJson;
      headers = { ...headers, ...jsonHeaders(), 'content-length': String((validJson?.length ?? 0) + 1000) };
      what = 'client aborts mid-body';
      return { seed, kind, org, method: route.method, path: p, headers, body, abort: true, what };
    }
  }
  if (body && route.method === 'GET') {
    // GET routes take no body: keep the defect elsewhere
    body = undefined;
  }
  return { seed, kind, org, method: route.method, path: p, headers, ...(body ? { body } : {}), chunked, what: `${route.method} ${route.path}: ${what}` };
}

// ─────────────────────────────── the transport ───────────────────────────────

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}
/** Where a gateway listens. */
export interface Target {
  host: string;
  port: number;
}

/** Sends one case as it is (no retry, no normalisation): the answer, or why none came. */
export function send(target: Target, c: Case, agent: http.Agent): Promise<Answer | { error: string }> {
  return new Promise((resolve) => {
    let req: http.ClientRequest;
    try {
      const headers: Record<string, string> = { ...c.headers };
      if (c.body && !c.chunked && headers['content-length'] === undefined) headers['content-length'] = String(c.body.length);
      // A head over Node's 16 KB limit goes on a connection of its own: the server answers it and closes (see runCases).
      const alone = c.abort || headBytes(c) > 16 * 1024;
      req = http.request({ host: target.host, port: target.port, method: c.method, path: c.path, headers, agent: alone ? false : agent });
    } catch (err) {
      resolve({ error: `client refused to send: ${(err as Error).message}` });
      return;
    }
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', (err) => resolve({ error: `response: ${err.message}` }));
    });
    req.on('error', (err) => resolve({ error: (err as NodeJS.ErrnoException).code ?? err.message }));
    if (c.abort) {
      req.write(c.body ?? Buffer.alloc(0));
      setTimeout(() => {
        req.destroy();
        resolve({ error: 'aborted by the client' });
      }, 5);
      return;
    }
    if (c.chunked && c.body) {
      // in a few writes, as a slow client would
      const cut = Math.max(1, Math.floor(c.body.length / 3));
      req.write(c.body.subarray(0, cut));
      req.write(c.body.subarray(cut));
      req.end();
    } else req.end(c.body);
  });
}

export const headBytes = (c: Case): number => c.method.length + c.path.length + Object.entries(c.headers).reduce((n, [k, v]) => n + k.length + v.length + 4, 0) + 64;

export function envelopeProblem(a: Answer): string | undefined {
  if (a.status < 400 || a.status > 499) return `status ${a.status}`;
  let parsed: any;
  try {
    parsed = JSON.parse(a.body.toString('utf8'));
  } catch {
    return `body is not JSON: ${a.body.toString('utf8').slice(0, 120)}`;
  }
  const e = parsed?.error;
  if (!e || typeof e !== 'object') return 'no error envelope';
  if (typeof e.code !== 'string' || !/^[A-Z_]+$/.test(e.code)) return `bad code ${JSON.stringify(e.code)}`;
  if (typeof e.message !== 'string' || !/^\S.*\s.*[.!?]$/s.test(e.message)) return `message is not a sentence: ${JSON.stringify(e.message)}`;
  if (typeof e.requestId !== 'string' || e.requestId.length === 0) return 'no requestId';
  if (!String(a.headers['content-type'] ?? '').startsWith('application/json')) return `content-type ${a.headers['content-type']}`;
  return undefined;
}


// ─────────────────────────────── the run ───────────────────────────────

/** What a run of cases got back. */
export interface AbuseTally {
  tried: number;
  c4xx: number;
  c5xx: number;
  /** 429 answers (counted in c4xx too). */
  rateLimited: number;
  aborted: number;
  /** Heads over Node's 16 KB limit, refused by Node's parser (431, no body) before the gateway sees them. */
  headTooLarge: number;
  byStatus: Map<string, number>;
  byKind: Map<string, number>;
  /** One line per case that broke a rule, starting with its seed. */
  failures: string[];
  seconds: number;
}

/**
 * Sends every seed's case to its org's gateway, `concurrency` at a time, and checks each answer:
 * a 4xx with the error envelope (a client abort may get no answer).
 */
export async function runCases(options: { seeds: readonly number[]; concurrency: number; keysOf: (org: Org) => KeyRing; targetOf: (org: Org) => Target }): Promise<AbuseTally> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.concurrency });
  const t: AbuseTally = { tried: 0, c4xx: 0, c5xx: 0, rateLimited: 0, aborted: 0, headTooLarge: 0, byStatus: new Map(), byKind: new Map(), failures: [], seconds: 0 };
  const count = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  const started = Date.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < options.seeds.length) {
      const seed = options.seeds[next++];
      const c = generate(seed, options.keysOf);
      t.tried += 1;
      count(t.byKind, c.kind);
      const answer = await send(options.targetOf(c.org), c, agent);
      if ('error' in answer) {
        if (c.abort) {
          t.aborted += 1;
          continue;
        }
        // A head over Node's 16 KB limit is refused before the gateway sees it: the server answers
        // 431 and closes while the client may still be writing the rest of its head, which TCP can
        // turn into a reset on the client's side (seen once in a CI run of 10,000 cases on the
        // real network). Refused either way: nothing reached the gateway.
        if (headBytes(c) > 16 * 1024 && /^(ECONNRESET|EPIPE)$/.test(answer.error)) {
          t.headTooLarge += 1;
          count(t.byStatus, 'reset (head over 16 KB)');
          continue;
        }
        count(t.byStatus, 'no answer');
        t.failures.push(`seed ${seed} [${c.org}] ${c.what}: no answer (${answer.error})`);
        continue;
      }
      count(t.byStatus, String(answer.status));
      if (answer.status >= 400 && answer.status < 500) t.c4xx += 1;
      if (answer.status === 429) t.rateLimited += 1;
      if (answer.status >= 500) t.c5xx += 1;
      // A request head over Node's 16 KB limit is refused by Node's HTTP parser (431, no body)
      // before the gateway sees it: still a refusal, but without the envelope.
      if (answer.status === 431 && headBytes(c) > 16 * 1024 && answer.body.length === 0) {
        t.headTooLarge += 1;
        continue;
      }
      const problem = envelopeProblem(answer);
      if (problem) t.failures.push(`seed ${seed} [${c.org}] ${c.what}: ${problem} ${answer.body.toString('utf8').slice(0, 200)}`);
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency }, worker));
  } finally {
    agent.destroy();
  }
  t.seconds = (Date.now() - started) / 1000;
  return t;
}

/** Prints the tally's breakdown and, if any, the failing cases grouped (the first 25 in full). */
export function printTally(label: string, t: AbuseTally): void {
  console.log(`      ${label}: by status ${JSON.stringify(Object.fromEntries([...t.byStatus].sort()))}`);
  console.log(`      ${label}: by kind ${JSON.stringify(Object.fromEntries([...t.byKind].sort()))}`);
  if (t.failures.length === 0) return;
  const groups = new Map<string, number>();
  for (const f of t.failures) {
    const key = f.replace(/^seed \d+ /, '').replace(/: status.*|: no answer.*|: body is not.*|: bad code.*|: message is.*/s, (m) => m.slice(0, 30));
    groups.set(key, (groups.get(key) ?? 0) + 1);
  }
  console.log(`      ${label}: failure groups ${JSON.stringify([...groups].slice(0, 40), null, 1)}`);
  console.log(`      ${label}: ${t.failures.length} failing cases (replay one with MEDPROV_ABUSE_CASE_SEED=<seed>):\n        ${t.failures.slice(0, 25).join('\n        ')}`);
}
