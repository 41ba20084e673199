/**
 * The privacy canaries and the scanner that looks for them, shared by the unit-level canary test
 * (test/unit/privacy/canary.test.ts: in-memory ledger, journal, logs) and the real-network scan of
 * every block (test/integration/network/phi-scan.test.ts): one definition of what a leak looks
 * like, so that both tests search for the same identifiers in the same encodings.
 *
 * A canary is a distinctive fake identifier of a kind that must never reach the ledger (names,
 * resident registration numbers, phone numbers, e-mail, dates of birth). The scanner finds it
 * as text (any case, NFC or NFD), as hex (either case), inside base64 or base64url at any byte
 * offset, as its SHA-256 (a dictionary could confirm it) and URL-encoded.
 *
 * @module
 */
import { createHash } from 'node:crypto';

// ───────────────────────────── the canaries ─────────────────────────────

/** The fake identifiers planted in every input path. */
export const CANARIES = {
  'name (Hangul)': '홍길동',
  'name (romanised)': 'Hong Gildong',
  'RRN': '900101-1234567',
  'RRN (digits)': '9001011234567',
  'phone': '010-1234-5678',
  'phone (digits)': '01012345678',
  'e-mail': 'hong.gildong@example.kr',
  'DOB': '1990-01-01',
  'DOB (digits)': '19900101',
} as const;
export type CanaryName = keyof typeof CANARIES;
export const CANARY_NAMES = Object.keys(CANARIES) as CanaryName[];
/** The ones the gateway can recognise (and must refuse) where an opaque id or code is expected. */
export const DETECTABLE: CanaryName[] = ['RRN', 'RRN (digits)', 'phone', 'phone (digits)', 'e-mail'];
/** A patient id carrying every canary at once. */
export const ALL_IN_ONE = `${CANARIES['name (Hangul)']} ${CANARIES['name (romanised)']} ${CANARIES.RRN} ${CANARIES['phone']} ${CANARIES['e-mail']} ${CANARIES.DOB}`;
/** The canaries made of printable ASCII only (they fit in HTTP headers). */
export const ASCII_CANARIES: string[] = CANARY_NAMES.map((n) => CANARIES[n]).filter((c) => /^[\x21-\x7e]+$/.test(c));

/** A document whose content is full of the canaries (as a real discharge summary would be). */
export const documentText = (version: number): string =>
  `%PDF-1.7\nDISCHARGE SUMMARY v${version}\nPatient: ${CANARIES['name (Hangul)']} (${CANARIES['name (romanised)']})\nRRN: ${CANARIES.RRN} / ${CANARIES['RRN (digits)']}\n` +
  `Phone: ${CANARIES.phone} / ${CANARIES['phone (digits)']}\nE-mail: ${CANARIES['e-mail']}\nDOB: ${CANARIES.DOB} (${CANARIES['DOB (digits)']})\n${'Findings: stable. '.repeat(20)}`;

// ───────────────────────────── encodings ─────────────────────────────

/** Every form in which a canary is searched for. */
export const ENCODINGS = ['utf8/NFC', 'NFD', 'hex', 'HEX', 'base64', 'base64url', 'sha256', 'url'] as const;
export type Encoding = (typeof ENCODINGS)[number];

/** The base64 characters that depend on `bytes` only, whatever their offset in a longer base64 text. */
function base64Cores(bytes: Buffer, url: boolean): string[] {
  const cores: string[] = [];
  for (let k = 0; k < 3; k++) {
    const text = Buffer.concat([Buffer.alloc(k), bytes]).toString(url ? 'base64url' : 'base64');
    const first = Math.ceil((8 * k) / 6);
    const last = Math.floor((8 * (k + bytes.length)) / 6) - 1;
    cores.push(text.slice(first, last + 1));
  }
  return cores;
}

/** One string to search for; case-insensitive ones match in any ASCII case. */
export interface Needle {
  text: string;
  caseInsensitive: boolean;
}

/** The needles of one canary, by encoding. */
export function needlesOf(canary: string): Record<Encoding, Needle[]> {
  const forms = [...new Set([canary.normalize('NFC'), canary.normalize('NFD')])];
  const bytes = forms.map((f) => Buffer.from(f, 'utf8'));
  const sha = (f: string) => createHash('sha256').update(f, 'utf8').digest('hex');
  const url = forms.flatMap((f) => [encodeURIComponent(f), new URLSearchParams({ q: f }).toString().slice(2)]);
  const ci = (text: string): Needle => ({ text, caseInsensitive: true });
  const cs = (text: string): Needle => ({ text, caseInsensitive: false });
  return {
    'utf8/NFC': [ci(canary.normalize('NFC'))],
    NFD: [ci(canary.normalize('NFD'))],
    hex: bytes.map((b) => cs(b.toString('hex'))),
    HEX: bytes.map((b) => cs(b.toString('hex').toUpperCase())),
    base64: bytes.flatMap((b) => base64Cores(b, false).map(cs)),
    base64url: bytes.flatMap((b) => base64Cores(b, true).map(cs)),
    sha256: forms.map((f) => ci(sha(f))),
    url: [...new Set(url)].map(ci),
  };
}

/**
 * One text per encoding that carries `canary` in that encoding inside other characters: what
 * a scanner must find (its positive control).
 */
export function plantedForms(canary: string): Record<Encoding, string> {
  const b = Buffer.from(canary, 'utf8');
  return {
    'utf8/NFC': `x${canary.toUpperCase()}x`,
    NFD: `"${canary.normalize('NFD')}"`,
    hex: `00${b.toString('hex')}ff`,
    HEX: `00${b.toString('hex').toUpperCase()}FF`,
    base64: Buffer.concat([Buffer.from('ab'), b, Buffer.from('z')]).toString('base64'),
    base64url: Buffer.concat([Buffer.from('q'), b]).toString('base64url'),
    sha256: `ref=${createHash('sha256').update(canary, 'utf8').digest('hex').toUpperCase()}`,
    url: `?q=${encodeURIComponent(canary).toLowerCase()}`,
  };
}

// ───────────────────────────── scanning ─────────────────────────────

/** Hits per encoding (all canaries together) and per canary. */
export interface ScanResult<K extends string = CanaryName> {
  byEncoding: Record<Encoding, number>;
  byCanary: Record<K, number>;
  total: number;
}

function emptyResult<K extends string>(names: readonly K[]): ScanResult<K> {
  return {
    byEncoding: Object.fromEntries(ENCODINGS.map((e) => [e, 0])) as Record<Encoding, number>,
    byCanary: Object.fromEntries(names.map((c) => [c, 0])) as Record<K, number>,
    total: 0,
  };
}

/** Adds `b` into `a` (same canaries). */
export function addResults<K extends string>(a: ScanResult<K>, b: ScanResult<K>): ScanResult<K> {
  for (const e of ENCODINGS) a.byEncoding[e] += b.byEncoding[e];
  for (const k of Object.keys(b.byCanary) as K[]) a.byCanary[k] = (a.byCanary[k] ?? 0) + b.byCanary[k];
  a.total += b.total;
  return a;
}

function count(haystack: string, needle: Needle): number {
  const h = needle.caseInsensitive ? haystack.toLowerCase() : haystack;
  const n = needle.caseInsensitive ? needle.text.toLowerCase() : needle.text;
  if (n.length === 0) return 0;
  let hits = 0;
  for (let i = h.indexOf(n); i !== -1; i = h.indexOf(n, i + 1)) hits += 1;
  return hits;
}

/** Scans texts (each also in its NFC form) for every canary of `canaries` in every encoding. */
export function scan<K extends string = CanaryName>(texts: readonly string[], canaries: Readonly<Record<K, string>> = CANARIES as unknown as Record<K, string>): ScanResult<K> {
  const names = Object.keys(canaries) as K[];
  const result = emptyResult(names);
  const haystacks = texts.flatMap((t) => [t, t.normalize('NFC')]);
  for (const name of names) {
    const needles = needlesOf(canaries[name]);
    for (const encoding of ENCODINGS) {
      // A hit counts once per text even when it matches both the text and its NFC form.
      const hits = texts.reduce((n, _t, i) => n + Math.max(...needles[encoding].map((nd) => Math.max(count(haystacks[2 * i], nd), count(haystacks[2 * i + 1], nd)))), 0);
      result.byEncoding[encoding] += hits;
      result.byCanary[name] += hits;
    }
  }
  result.total = Object.values<number>(result.byEncoding).reduce((a, b) => a + b, 0);
  return result;
}

/** A copy with ASCII A–Z lowered and every other byte as it was (UTF-8 sequences stay intact). */
function asciiLower(bytes: Uint8Array): Buffer {
  const out = Buffer.from(bytes);
  for (let i = 0; i < out.length; i++) if (out[i] >= 0x41 && out[i] <= 0x5a) out[i] += 0x20;
  return out;
}

function countBytes(haystack: Buffer, needle: Buffer): number {
  if (needle.length === 0) return 0;
  let hits = 0;
  for (let i = haystack.indexOf(needle); i !== -1; i = haystack.indexOf(needle, i + 1)) hits += 1;
  return hits;
}

/**
 * Scans raw bytes (protobuf, files) for every canary of `canaries` in every encoding, byte for
 * byte: the UTF-8 bytes of each needle, case-insensitive ones in any ASCII case. Nothing is
 * decoded first, so no byte sequence is lost to a text decoder.
 */
export function scanBytes<K extends string = CanaryName>(buffers: readonly Uint8Array[], canaries: Readonly<Record<K, string>> = CANARIES as unknown as Record<K, string>): ScanResult<K> {
  const names = Object.keys(canaries) as K[];
  const result = emptyResult(names);
  const plain = buffers.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  const lowered = buffers.map(asciiLower);
  for (const name of names) {
    const needles = needlesOf(canaries[name]);
    for (const encoding of ENCODINGS) {
      const hits = plain.reduce(
        (n, buf, i) => n + Math.max(...needles[encoding].map((nd) => (nd.caseInsensitive ? countBytes(lowered[i], asciiLower(Buffer.from(nd.text, 'utf8'))) : countBytes(buf, Buffer.from(nd.text, 'utf8'))))),
        0,
      );
      result.byEncoding[encoding] += hits;
      result.byCanary[name] += hits;
    }
  }
  result.total = Object.values<number>(result.byEncoding).reduce((a, b) => a + b, 0);
  return result;
}

/** The canaries and encodings a result found, as `canary in encoding` phrases. */
export function describeHits<K extends string>(result: ScanResult<K>): string {
  const canaries = (Object.keys(result.byCanary) as K[]).filter((k) => result.byCanary[k] > 0);
  const encodings = ENCODINGS.filter((e) => result.byEncoding[e] > 0);
  return `${canaries.join(', ')} (as ${encodings.join(', ')})`;
}
