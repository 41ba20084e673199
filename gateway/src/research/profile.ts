/**
 * Release profiles for research extracts: which columns a sponsor receives and how each is
 * generalised from the hospital's attributes. Pure: no Express, no ledger.
 *
 * A profile is data (JSON-able), so that it can come from configuration and be shown back
 * in a report; the generalisations are the privacy layer's helpers (age bands, birth year,
 * truncated codes) plus month / year of a date.
 */
import { ApiError } from '../errors';
import { ageBand, ageBandFromBirthDate, birthYear, findDirectIdentifiers, truncateCode, type QuasiValue } from '../privacy';

/** How one released column is derived from one attribute of the hospital's record. */
export interface ColumnRule {
  /** The attribute read. */
  from: string;
  /**
   * keep: as it is; ageBand: an age (number) or a birth date (YYYY-MM-DD, at `asOf`) as a band;
   * birthYear / year / month: a date as YYYY / YYYY / YYYY-MM; truncate: a code's first `keep`
   * characters, the rest masked with `mask` (empty: cut).
   */
  as: 'keep' | 'ageBand' | 'birthYear' | 'year' | 'month' | 'truncate';
  /** ageBand: band width in years (default 10). */
  width?: number;
  /** ageBand: ages from this one on pooled as "N+" (default 90). */
  topCode?: number;
  /** ageBand from a birth date: the attribute holding the reference date (e.g. admissionDate); the release date when absent or empty. */
  asOf?: string;
  /** truncate: characters kept. */
  keep?: number;
  /** truncate: the mask character; '' cuts the code instead (default '*'). */
  mask?: string;
}

/** What a sponsor receives, column by column. */
export interface ReleaseProfile {
  /** Released column → its rule. Every column is a quasi-identifier unless listed in `sensitive`. */
  columns: Readonly<Record<string, ColumnRule>>;
  /**
   * Released columns that are the research values rather than quasi-identifiers (e.g. the
   * diagnosis category): k is not measured on them, l-diversity is reported for them.
   */
  sensitive?: readonly string[];
}

/** The columns of one release: the profile with the request's changes. */
export interface ReleaseColumns {
  rules: Record<string, ColumnRule>;
  /** Columns k is measured on, in release order. */
  quasiIdentifiers: string[];
  /** Columns l-diversity is reported for. */
  sensitive: string[];
  /** Attributes the rules read (the `from` and `asOf` fields). */
  reads: Set<string>;
}

/**
 * The default profile, in Korean terms: sex; 10-year age band (만 나이 at admission, 90+
 * pooled) from the birth date; region to the province (시·도, the first two digits of a
 * 5-digit 시군구 code or postcode); admission month; and, as the research value, the KCD
 * diagnosis category (its first three characters, e.g. E11).
 */
export const DEFAULT_RELEASE_PROFILE: ReleaseProfile = {
  columns: {
    sex: { from: 'sex', as: 'keep' },
    ageBand: { from: 'birthDate', as: 'ageBand', width: 10, topCode: 90, asOf: 'admissionDate' },
    region: { from: 'regionCode', as: 'truncate', keep: 2 },
    admissionMonth: { from: 'admissionDate', as: 'month' },
    diagnosis: { from: 'diagnosisCode', as: 'truncate', keep: 3, mask: '' },
  },
  sensitive: ['diagnosis'],
};

const NAME = /^[a-z][A-Za-z0-9]{0,39}$/;
const RULE_KEYS: Record<ColumnRule['as'], readonly string[]> = {
  keep: [],
  ageBand: ['width', 'topCode', 'asOf'],
  birthYear: [],
  year: [],
  month: [],
  truncate: ['keep', 'mask'],
};

/**
 * Field names that say the field is a direct identifier (after lower-casing and dropping
 * everything but letters and digits): names, resident registration / foreigner numbers,
 * phone numbers, e-mail and street addresses, hospital and chart numbers.
 */
const IDENTIFIER_NAMES = new Set([
  'rrn', 'ssn', 'jumin', 'juminno', 'juminbunho', 'residentno', 'residentnumber', 'residentregistrationnumber', 'registrationnumber',
  'foreignerno', 'alienregistrationnumber', 'passport', 'passportno', 'passportnumber', 'driverslicense', 'licenseno',
  'tel', 'telephone', 'mobile', 'cellphone', 'contact', 'address', 'streetaddress', 'homeaddress', 'roadaddress',
  'patientid', 'patientno', 'mrn', 'medicalrecordnumber', 'chartno', 'chartnumber', 'hospitalno', 'insuranceno', 'cardnumber', 'accountnumber',
  'ip', 'ipaddress', 'photo', 'face',
]);

/** Why a field name reads as a direct identifier, or undefined. */
export function identifierFieldKind(field: string): string | undefined {
  const n = field.toLowerCase().replace(/[^a-z0-9]/g, '');
  if (n.endsWith('name')) return 'a name';
  if (/phone|email|jumin|rrn/.test(n) || IDENTIFIER_NAMES.has(n)) return 'a personal number, contact or address';
  return undefined;
}

/** 400 DIRECT_IDENTIFIER naming the field, never the value. */
export function directIdentifierError(where: string, what: string): ApiError {
  return new ApiError(400, 'DIRECT_IDENTIFIER', `${where} looks like ${what}; direct identifiers never go into a research release, generalised or not.`);
}

/** Refuses an attribute or column whose name, or string value, looks like a direct identifier. */
export function refuseIdentifierField(where: string, field: string, value?: unknown): void {
  const kind = identifierFieldKind(field);
  if (kind) throw directIdentifierError(where, `${kind} by its name`);
  if (typeof value === 'string') {
    const kinds = findDirectIdentifiers(value);
    if (kinds.length > 0) throw directIdentifierError(where, `it holds ${kinds.length > 1 ? 'direct identifiers' : 'a direct identifier'} (a resident registration number, phone number or e-mail address)`);
  }
}

function invalidRule(where: string, sentence: string): ApiError {
  return new ApiError(400, 'INVALID_GENERALISATION', `${where} ${sentence}`);
}

/** Checks one rule's shape beyond what the schema says (the options that fit its kind). */
export function checkRule(where: string, rule: ColumnRule): void {
  if (!NAME.test(rule.from)) throw invalidRule(where, 'must read an attribute named with letters and digits (from).');
  const allowed = RULE_KEYS[rule.as];
  if (!allowed) throw invalidRule(where, `has an unknown generalisation "${String(rule.as).slice(0, 32)}".`);
  const extra = Object.keys(rule).filter((k) => k !== 'from' && k !== 'as' && !allowed.includes(k));
  if (extra.length > 0) throw invalidRule(where, `does not take ${extra.join(', ')} with "as": "${rule.as}".`);
  if (rule.as === 'truncate' && rule.keep === undefined) throw invalidRule(where, 'needs keep (how many characters to keep) with "as": "truncate".');
  if (rule.keep !== undefined && (!Number.isInteger(rule.keep) || rule.keep < 0 || rule.keep > 16)) throw invalidRule(where, 'keep must be an integer from 0 to 16.');
  if (rule.mask !== undefined && [...rule.mask].length > 1) throw invalidRule(where, 'mask must be one character, or empty to cut the code.');
  if (rule.width !== undefined && (!Number.isInteger(rule.width) || rule.width < 1 || rule.width > 100)) throw invalidRule(where, 'width must be an integer from 1 to 100.');
  if (rule.topCode !== undefined && (!Number.isInteger(rule.topCode) || rule.topCode < 1 || rule.topCode > 150)) throw invalidRule(where, 'topCode must be an integer from 1 to 150.');
  if (rule.asOf !== undefined && !NAME.test(rule.asOf)) throw invalidRule(where, 'asOf must name an attribute with letters and digits.');
}

/**
 * The columns of a release: the profile's, with the request's changes. A column the request
 * adds or redefines counts as a quasi-identifier whatever the profile said, so a request
 * cannot slip a raw value out under a column the profile treats as the research value; `null`
 * leaves a column out.
 *
 * @throws ApiError 400 INVALID_GENERALISATION, DIRECT_IDENTIFIER
 */
export function releaseColumns(profile: ReleaseProfile, changes: Readonly<Record<string, ColumnRule | null>> = {}): ReleaseColumns {
  const rules: Record<string, ColumnRule> = { ...profile.columns };
  const sensitive = new Set(profile.sensitive ?? []);
  for (const [column, rule] of Object.entries(changes)) {
    sensitive.delete(column);
    if (rule === null) delete rules[column];
    else rules[column] = rule;
  }
  const reads = new Set<string>();
  for (const [column, rule] of Object.entries(rules)) {
    const where = `generalisation.${column}`;
    if (!NAME.test(column)) throw invalidRule(where, 'is not a column name of letters and digits starting with a lower-case letter.');
    refuseIdentifierField(`The column ${column}`, column);
    checkRule(where, rule);
    refuseIdentifierField(`The attribute ${rule.from} (read by column ${column})`, rule.from);
    reads.add(rule.from);
    if (rule.asOf !== undefined) reads.add(rule.asOf);
  }
  const columns = Object.keys(rules);
  if (columns.length === 0) throw invalidRule('generalisation', 'leaves no column to release.');
  const quasiIdentifiers = columns.filter((c) => !sensitive.has(c));
  if (quasiIdentifiers.length === 0) throw invalidRule('generalisation', 'leaves no quasi-identifier column: k would not be measured on anything.');
  return { rules, quasiIdentifiers, sensitive: columns.filter((c) => sensitive.has(c)), reads };
}

/** An attribute value as the hospital sends it: a code, a number, or missing. */
export type AttributeValue = string | number | null;

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/**
 * Applies one release's rules to one record's attributes. A missing attribute (absent or
 * null) gives null, a suppressed cell. Errors name the record and attribute, never the value.
 *
 * @param releaseDate - YYYY-MM-DD, for age bands without a reference date of their own
 * @throws ApiError 400 INVALID_ATTRIBUTE
 */
export function generaliseAttributes(
  where: string,
  attributes: Readonly<Record<string, AttributeValue>>,
  rules: Readonly<Record<string, ColumnRule>>,
  releaseDate: string,
): Record<string, QuasiValue> {
  const out: Record<string, QuasiValue> = {};
  for (const [column, rule] of Object.entries(rules)) {
    const value = attributes[rule.from];
    if (value === undefined || value === null) {
      out[column] = null;
      continue;
    }
    const bad = (expected: string): ApiError =>
      new ApiError(400, 'INVALID_ATTRIBUTE', `${where}.attributes.${rule.from} must be ${expected} for column ${column} (${rule.as}).`);
    try {
      out[column] = applyRule(rule, value, attributes, releaseDate, bad);
    } catch (err) {
      // The privacy helpers' own sentences may quote the value: only ours leave.
      throw err instanceof ApiError ? err : bad('a value this generalisation takes');
    }
  }
  return out;
}

function applyRule(
  rule: ColumnRule,
  value: string | number,
  attributes: Readonly<Record<string, AttributeValue>>,
  releaseDate: string,
  bad: (expected: string) => ApiError,
): QuasiValue {
  const date = (): string => {
    if (typeof value !== 'string' || !ISO_DATE.test(value)) throw bad('a date written YYYY-MM-DD');
    birthYear(value); // checks it is a calendar date
    return value;
  };
  switch (rule.as) {
    case 'keep':
      return value;
    case 'birthYear':
    case 'year':
      return birthYear(date());
    case 'month':
      return date().slice(0, 7);
    case 'truncate':
      if (typeof value !== 'string') throw bad('a code (a string)');
      return truncateCode(value, rule.keep ?? 0, rule.mask ?? '*');
    case 'ageBand': {
      const width = rule.width ?? 10;
      const topCode = rule.topCode ?? 90;
      if (typeof value === 'number') {
        if (!Number.isInteger(value) || value < 0 || value > 150) throw bad('an age in whole years from 0 to 150');
        return ageBand(value, width, topCode);
      }
      const asOf = rule.asOf !== undefined ? attributes[rule.asOf] : undefined;
      const reference = asOf === undefined || asOf === null || asOf === '' ? releaseDate : asOf;
      if (typeof reference !== 'string' || !ISO_DATE.test(reference)) throw bad(`a birth date with ${rule.asOf ?? 'the reference date'} a date written YYYY-MM-DD`);
      const birthDate = date();
      if (birthDate > reference) throw bad(`a birth date on or before ${rule.asOf ?? 'the release date'}`);
      return ageBandFromBirthDate(birthDate, reference, width, topCode);
    }
  }
}
