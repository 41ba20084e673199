/**
 * patientRef derivation and identifier hygiene.
 *
 * patientRef = HMAC-SHA256(patientKey, canonical(orgPatientId)), hex. The patient key is
 * random, per patient and per org, and never leaves the org's key store, so
 *  - two orgs' refs for the same person are unrelated (nothing to join on), and
 *  - a low-entropy identifier (a resident registration number has fewer than 10^10
 *    plausible values, a date of birth ~ 4·10^4) is never hashed bare: it only ever enters
 *    an HMAC under a secret key, so there is no dictionary to run.
 */
import { createHmac } from 'node:crypto';
import { PrivacyError } from './errors';

/** Longest identifier accepted, in Unicode code points after normalisation. */
export const MAX_IDENTIFIER_LENGTH = 128;

/** Bytes in a per-patient key. */
export const PATIENT_KEY_BYTES = 32;

// Controls (C0, C1, DEL), format characters (zero-width joiners, bidi overrides, BOM),
// line/paragraph separators, surrogates, private use, unassigned code points, and
// U+FFFE/U+FFFF/U+10FFFF (which Fabric composite keys reject). Invisible or look-alike
// characters would give one visible identifier two refs, and one patient two histories.
const FORBIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Co}\p{Cn}]/u;
// Half of a UTF-16 pair: not text (ES2022 has no String#isWellFormed).
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// Any whitespace other than U+0020 (tab, NBSP, ideographic space U+3000, …): visually a
// space, but a different identifier.
const ODD_SPACE = /(?! )\s/u;

/**
 * The canonical form of an org's patient identifier: trimmed, Unicode NFC, at most
 * {@link MAX_IDENTIFIER_LENGTH} code points, no control, format or unusual space characters.
 *
 * NFC (not NFKC) on purpose: NFKC would fold distinct identifiers together (`①` and `1`,
 * full-width and ASCII letters), and giving two patients one key is worse than asking the
 * EMR integration to send one spelling. Changing this function changes every patientRef.
 *
 * @throws PrivacyError INVALID_IDENTIFIER (the sentence never repeats the identifier)
 */
export function canonicalPatientId(orgPatientId: string): string {
  if (typeof orgPatientId !== 'string') {
    throw new PrivacyError('INVALID_IDENTIFIER', `A patient identifier must be a string; got ${orgPatientId === null ? 'null' : typeof orgPatientId}.`);
  }
  if (LONE_SURROGATE.test(orgPatientId)) {
    throw new PrivacyError('INVALID_IDENTIFIER', 'The patient identifier contains an unpaired UTF-16 surrogate; send valid Unicode text.');
  }
  const canonical = orgPatientId.trim().normalize('NFC');
  if (canonical === '') throw new PrivacyError('INVALID_IDENTIFIER', 'The patient identifier is empty.');
  const length = [...canonical].length;
  if (length > MAX_IDENTIFIER_LENGTH) {
    throw new PrivacyError('INVALID_IDENTIFIER', `The patient identifier is ${length} characters long; at most ${MAX_IDENTIFIER_LENGTH} are allowed.`);
  }
  if (FORBIDDEN.test(canonical) || /[\uFFFE\uFFFF]|\u{10FFFF}/u.test(canonical)) {
    throw new PrivacyError('INVALID_IDENTIFIER', 'The patient identifier contains a control, invisible formatting or non-character code point; these are not allowed.');
  }
  if (ODD_SPACE.test(canonical)) {
    throw new PrivacyError('INVALID_IDENTIFIER', 'The patient identifier contains a whitespace character other than an ordinary space (tab, no-break or ideographic space); these are not allowed.');
  }
  return canonical;
}

/**
 * patientRef = HMAC-SHA256(patientKey, canonical(orgPatientId)), lower-case hex.
 * Pure: the caller (the key store) supplies the patient's key. The key is used for this
 * derivation only, so the identifier needs no further domain-separation prefix.
 *
 * @throws PrivacyError INVALID_IDENTIFIER, or INVALID_ARGUMENT for a key that is not 32 bytes
 */
export function derivePatientRef(patientKey: Uint8Array, orgPatientId: string): string {
  if (patientKey.length !== PATIENT_KEY_BYTES) {
    throw new PrivacyError('INVALID_ARGUMENT', `A patient key must be ${PATIENT_KEY_BYTES} bytes; got ${patientKey.length}.`);
  }
  return createHmac('sha256', patientKey).update(canonicalPatientId(orgPatientId), 'utf8').digest('hex');
}

/** Kinds of direct identifier that {@link findDirectIdentifiers} recognises. */
export type DirectIdentifierKind = 'resident-registration-number' | 'phone-number' | 'email';

// Matches may not touch letters or digits (hex hashes contain long digit runs; a phone
// pattern must not fire inside a docHash). Hangul and punctuation are fine neighbours.
const B = '(?<![0-9A-Za-z])';
const E = '(?![0-9A-Za-z])';
const SEP = '[-‐‑‒–—―−.\\s]?'; // after NFKC; dash look-alikes people paste from documents
// Resident / foreigner registration number YYMMDD-GNNNNNN: plausible month and day, G 1–8
// (Koreans born 1900–2099 and foreign residents). Masked forms (YYMMDD-G******) still carry
// date of birth and sex, so they count too.
const RRN = new RegExp(`${B}\\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\\d|3[01])${SEP}[1-8](?:\\d{6}|[*xX•●]{6})${E}`, 'u');
// Korean mobile (010, 011, 016–019), Seoul 02, regional 031–064, 070 internet phones, 050x
// safe numbers, and +82 with the leading 0 dropped.
const PHONE = new RegExp(
  `${B}(?:(?:\\+|00)82${SEP}\\(?0?\\)?|0)(?:1[016789]|2|[3-6][1-5]|70|50\\d)\\)?${SEP}\\d{3,4}${SEP}\\d{4}${E}`,
  'u',
);
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/u;

/**
 * Which kinds of direct identifier `text` appears to contain. Returns kinds only, never the
 * matched text, so that a caller cannot log the identifier by accident. Full-width digits
 * and look-alike dashes are folded first (NFKC), as Korean input methods produce them.
 */
export function findDirectIdentifiers(text: string): DirectIdentifierKind[] {
  const folded = text.normalize('NFKC');
  const found: DirectIdentifierKind[] = [];
  if (RRN.test(folded)) found.push('resident-registration-number');
  if (PHONE.test(folded)) found.push('phone-number');
  if (EMAIL.test(folded)) found.push('email');
  return found;
}

/**
 * True when `text` looks like, or contains, a resident registration number, a phone number
 * or an e-mail address. For guards on input paths whose values may reach the ledger or a
 * research release. A heuristic: it catches the common formats, not every possible one.
 */
export function looksLikeDirectIdentifier(text: string): boolean {
  return findDirectIdentifiers(text).length > 0;
}

const KIND_LABEL: Record<DirectIdentifierKind, string> = {
  'resident-registration-number': 'a resident registration number',
  'phone-number': 'a phone number',
  email: 'an e-mail address',
};

/**
 * Throws when `value` looks like it carries a direct identifier.
 *
 * @param field - the field's name, used in the sentence (the value never is)
 * @throws PrivacyError DIRECT_IDENTIFIER
 */
export function assertNoDirectIdentifier(field: string, value: string): void {
  const kinds = findDirectIdentifiers(value);
  if (kinds.length > 0) {
    throw new PrivacyError(
      'DIRECT_IDENTIFIER',
      `The field ${field} looks like it contains ${kinds.map((k) => KIND_LABEL[k]).join(' and ')}; personal identifiers must never be sent here. Use the opaque record or patient reference instead.`,
    );
  }
}

/** Human wording of a kind, for callers composing their own sentences. */
export function describeDirectIdentifierKind(kind: DirectIdentifierKind): string {
  return KIND_LABEL[kind];
}
