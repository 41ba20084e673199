/**
 * The on-disk document of the patient key store, and its strict parser. Internal.
 *
 * One compact JSON object, written in exactly one byte form (fixed field order, entries
 * sorted, no whitespace). The parser re-serialises what it read and demands the same bytes,
 * so there is no second spelling of a valid file, and the file MAC covers every byte.
 * Sorting also keeps the file from revealing the order in which patients were registered.
 *
 * {"format":"medprov.patient-keys/v1","storeId":…,"current":2,
 *  "generations":[{"g":1,"check":…,"seed":…},{"g":2,…}],   live key generations
 *  "retired":[{"g":0,"check":…}],                            refused as future keys
 *  "entries":{"<index>":{"g":1,"key":…}},                    index = HMAC(orgIndexKey, id)
 *  "erased":[{"index":"<index>","erasureId":"<uuid>"},"<index>",…],  tombstones (no key, no time)
 *  "mac":{"g":2,"v":…}}                                      HMAC(MAC_current, all of the above)
 *
 * A tombstone names the erasure's random id next to the index, so that an erasure whose ledger
 * record was lost (a crash before it was journalled) can still be recorded. The id is drawn at
 * random, derived from nothing about the patient, and is what the ledger's erasure record
 * carries anyway. Stores written before ids were kept have bare-index tombstones (`"<index>"`);
 * those still open, and are written back unchanged: one byte form per document, as before, and
 * the format tag (part of every AAD and HKDF label) stays v1. An older gateway refuses a store
 * holding the new form as STORE_CORRUPT rather than misreading it.
 */
import { PrivacyError } from './errors';
import { STORE_FORMAT, fromB64uStrict, toB64u } from './sealing';

/** A live key generation as stored. */
export interface GenerationRecord {
  g: number;
  /** {@link keyCheckOf} of this generation's master key. */
  check: Buffer;
  /** The index seed sealed under this generation's DEK. */
  seed: Buffer;
}

/** A retired key generation: only its check value, so the key is never accepted again. */
export interface RetiredRecord {
  g: number;
  check: Buffer;
}

/** One patient's key as stored: sealed under generation `g`'s DEK. */
export interface EntryRecord {
  g: number;
  key: Buffer;
}

/** The whole document except its MAC. */
export interface StoreDocument {
  storeId: Buffer;
  current: number;
  generations: GenerationRecord[];
  retired: RetiredRecord[];
  entries: Map<string, EntryRecord>;
  /** Tombstones: index → the erasure's random id (`null`: erased before ids were kept). */
  erased: Map<string, string | null>;
}

/** Bytes of the store id (HKDF salt). */
export const STORE_ID_BYTES = 16;
/** Bytes of an index value (HMAC-SHA256). */
export const INDEX_BYTES = 32;
/** An erasure id: a version-4 UUID in lower case. */
const ERASURE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const sortStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The MAC input: the document without its closing `}` and MAC field. */
export function serializeBody(doc: StoreDocument): string {
  const gens = [...doc.generations].sort((a, b) => a.g - b.g);
  const retired = [...doc.retired].sort((a, b) => a.g - b.g);
  const parts: string[] = [];
  parts.push(`{"format":${JSON.stringify(STORE_FORMAT)},"storeId":"${toB64u(doc.storeId)}","current":${doc.current}`);
  parts.push(`,"generations":[${gens.map((r) => `{"g":${r.g},"check":"${toB64u(r.check)}","seed":"${toB64u(r.seed)}"}`).join(',')}]`);
  parts.push(`,"retired":[${retired.map((r) => `{"g":${r.g},"check":"${toB64u(r.check)}"}`).join(',')}]`);
  const indexes = [...doc.entries.keys()].sort(sortStrings);
  parts.push(`,"entries":{${indexes.map((i) => { const e = doc.entries.get(i)!; return `"${i}":{"g":${e.g},"key":"${toB64u(e.key)}"}`; }).join(',')}}`);
  const tombstones = [...doc.erased.keys()].sort(sortStrings).map((i) => {
    const erasureId = doc.erased.get(i);
    return erasureId ? `{"index":"${i}","erasureId":"${erasureId}"}` : `"${i}"`;
  });
  parts.push(`,"erased":[${tombstones.join(',')}]`);
  return parts.join('');
}

/** The complete file text: body plus the MAC field. */
export function serializeWithMac(body: string, macGeneration: number, mac: Buffer): string {
  return `${body},"mac":{"g":${macGeneration},"v":"${toB64u(mac)}"}}`;
}

/** A parsed file: the document, its body text (MAC input) and the MAC. */
export interface ParsedStore {
  doc: StoreDocument;
  body: string;
  macGeneration: number;
  mac: Buffer;
}

function corrupt(detail: string): PrivacyError {
  return new PrivacyError(
    'STORE_CORRUPT',
    `The patient key store file is damaged or is not a medprov key store (${detail}). Restore it from a backup; do not create a new store in its place, or every patient would get new, unrelated refs.`,
  );
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function requireFields(value: unknown, fields: string[], what: string): Record<string, unknown> {
  if (!isObject(value)) throw corrupt(`${what} is not an object`);
  const keys = Object.keys(value);
  if (keys.length !== fields.length || !fields.every((f) => Object.prototype.hasOwnProperty.call(value, f))) {
    throw corrupt(`${what} must have exactly the fields ${fields.join(', ')}`);
  }
  return value;
}

function requireGeneration(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw corrupt(`${what} is not a positive integer`);
  return value;
}

function requireIndex(value: unknown, what: string): string {
  fromB64uStrict(value, what, INDEX_BYTES);
  return value as string;
}

/**
 * Parses and structurally validates the file bytes (no cryptography here).
 *
 * @throws PrivacyError STORE_CORRUPT
 */
export function parseStore(bytes: Uint8Array): ParsedStore {
  let text: string;
  let raw: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    raw = JSON.parse(text);
  } catch {
    throw corrupt('it is not valid UTF-8 JSON');
  }
  const top = requireFields(raw, ['format', 'storeId', 'current', 'generations', 'retired', 'entries', 'erased', 'mac'], 'the document');
  if (top.format !== STORE_FORMAT) throw corrupt(`its format is not ${STORE_FORMAT}`);
  const storeId = fromB64uStrict(top.storeId, 'storeId', STORE_ID_BYTES);
  const current = requireGeneration(top.current, 'current');
  if (!Array.isArray(top.generations) || !Array.isArray(top.retired) || !Array.isArray(top.erased) || !isObject(top.entries)) {
    throw corrupt('generations, retired, erased or entries has the wrong type');
  }
  const seen = new Set<number>();
  const generations = top.generations.map((value, i) => {
    const r = requireFields(value, ['g', 'check', 'seed'], `generations[${i}]`);
    const g = requireGeneration(r.g, `generations[${i}].g`);
    if (seen.has(g)) throw corrupt(`generation ${g} is listed twice`);
    seen.add(g);
    return { g, check: fromB64uStrict(r.check, `generations[${i}].check`, 16), seed: fromB64uStrict(r.seed, `generations[${i}].seed`) };
  });
  const retired = top.retired.map((value, i) => {
    const r = requireFields(value, ['g', 'check'], `retired[${i}]`);
    const g = requireGeneration(r.g, `retired[${i}].g`);
    if (seen.has(g)) throw corrupt(`generation ${g} is listed twice`);
    seen.add(g);
    return { g, check: fromB64uStrict(r.check, `retired[${i}].check`, 16) };
  });
  if (!generations.some((r) => r.g === current)) throw corrupt('the current generation is not among the live generations');
  const live = new Set(generations.map((r) => r.g));
  const entries = new Map<string, EntryRecord>();
  for (const [index, value] of Object.entries(top.entries)) {
    requireIndex(index, 'an entry index');
    const r = requireFields(value, ['g', 'key'], 'an entry');
    const g = requireGeneration(r.g, 'an entry generation');
    if (!live.has(g)) throw corrupt(`an entry refers to generation ${g}, which is not live`);
    entries.set(index, { g, key: fromB64uStrict(r.key, 'an entry key') });
  }
  const erased = new Map<string, string | null>();
  for (const value of top.erased) {
    let index: string;
    let erasureId: string | null = null;
    if (typeof value === 'string') {
      index = requireIndex(value, 'an erased index');
    } else {
      const r = requireFields(value, ['index', 'erasureId'], 'a tombstone');
      index = requireIndex(r.index, 'an erased index');
      if (typeof r.erasureId !== 'string' || !ERASURE_ID.test(r.erasureId)) throw corrupt('a tombstone\'s erasureId is not a lower-case UUID');
      erasureId = r.erasureId;
    }
    if (erased.has(index)) throw corrupt('an erased index is listed twice');
    if (entries.has(index)) throw corrupt('an index is both active and erased');
    erased.set(index, erasureId);
  }
  const mac = requireFields(top.mac, ['g', 'v'], 'mac');
  const macGeneration = requireGeneration(mac.g, 'mac.g');
  const macValue = fromB64uStrict(mac.v, 'mac.v', 32);
  const doc: StoreDocument = { storeId, current, generations, retired, entries, erased };
  const body = serializeBody(doc);
  // One byte form only: anything JSON.parse tolerated (whitespace, duplicate keys, another
  // order, escapes) makes the bytes differ from what this store would have written.
  if (serializeWithMac(body, macGeneration, macValue) !== text) throw corrupt('it is not in canonical form');
  return { doc, body, macGeneration, mac: macValue };
}
