/**
 * Release check for research data: k-anonymity over quasi-identifiers, plus the usual
 * generalisations that raise k.
 *
 * A sponsor's extract carries no direct identifiers, but a combination of ordinary fields
 * (age band, sex, region, record category) can still single a person out. k is the size of
 * the smallest equivalence class (rows sharing every quasi-identifier value); a release
 * needs k ≥ kMin. The check is necessary, not sufficient: it does not prevent attribute
 * disclosure inside a class whose members all share a sensitive value (l-diversity), so
 * the research office still reviews releases.
 */
import { PrivacyError } from './errors';
import { describeDirectIdentifierKind, findDirectIdentifiers } from './pseudonym';

/** A quasi-identifier value after generalisation. `null` means missing or suppressed. */
export type QuasiValue = string | number | boolean | null;

/** One row of a release, as the sponsor would see it. */
export type ReleaseRow = Readonly<Record<string, unknown>>;

/** Rows sharing the same quasi-identifier values. */
export interface EquivalenceClass {
  /** The shared values, by quasi-identifier. */
  values: Readonly<Record<string, QuasiValue>>;
  /** Rows in the class. */
  rows: number;
  /** The class size that k is measured on: rows, or distinct subjects with `subjectField`. */
  size: number;
}

/** Options of the k-anonymity functions. */
export interface KAnonymityOptions {
  /**
   * Field naming the person a row is about (e.g. `patientRef`). When set, a class's size is
   * the number of distinct people in it, not rows: five records of one patient are a class
   * of one person, and counting rows would overstate k.
   */
  subjectField?: string;
}

/** The outcome of a k-anonymity check. */
export interface KAnonymityReport {
  quasiIdentifiers: string[];
  kMin: number;
  /** Size of the smallest class; null for an empty release. */
  k: number | null;
  rows: number;
  classes: number;
  /** Classes smaller than kMin, smallest first. Their values are for the operator, not the requester. */
  classesBelowK: EquivalenceClass[];
  /** Rows in those classes. */
  rowsBelowK: number;
  /** k ≥ kMin, or nothing to release. */
  releasable: boolean;
}

function checkFields(quasiIdentifiers: readonly string[], options: KAnonymityOptions): void {
  if (!Array.isArray(quasiIdentifiers) || quasiIdentifiers.length === 0) {
    throw new PrivacyError('INVALID_ARGUMENT', 'Name at least one quasi-identifier field to check the release against.');
  }
  if (new Set(quasiIdentifiers).size !== quasiIdentifiers.length || quasiIdentifiers.some((f) => typeof f !== 'string' || f === '')) {
    throw new PrivacyError('INVALID_ARGUMENT', 'Quasi-identifier fields must be distinct, non-empty names.');
  }
  if (options.subjectField !== undefined && quasiIdentifiers.includes(options.subjectField)) {
    throw new PrivacyError('INVALID_ARGUMENT', `The field ${options.subjectField} names the subject; it cannot also be a quasi-identifier.`);
  }
}

function checkK(kMin: number): void {
  // k = 1 holds for every dataset, so it would let anything through.
  if (!Number.isInteger(kMin) || kMin < 2) {
    throw new PrivacyError('INVALID_ARGUMENT', `The minimum k (kMin) must be an integer of at least 2; got ${kMin}.`);
  }
}

function quasiValue(row: ReleaseRow, field: string, rowIndex: number): QuasiValue {
  const value = row[field];
  if (value === undefined || value === null) return null;
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  throw new PrivacyError(
    'INVALID_ARGUMENT',
    `Row ${rowIndex}: quasi-identifier ${field} must be a string, finite number, boolean or missing; generalise it to one of those first.`,
  );
}

/**
 * Groups rows into equivalence classes on the quasi-identifiers. Missing values (null or
 * absent) form a value of their own, as a suppressed cell does.
 *
 * @throws PrivacyError INVALID_ARGUMENT
 */
export function equivalenceClasses(
  rows: readonly ReleaseRow[],
  quasiIdentifiers: readonly string[],
  options: KAnonymityOptions = {},
): EquivalenceClass[] {
  checkFields(quasiIdentifiers, options);
  const groups = new Map<string, { values: Record<string, QuasiValue>; rows: number; subjects: Set<unknown> }>();
  rows.forEach((row, i) => {
    const values = quasiIdentifiers.map((field) => quasiValue(row, field, i));
    // JSON of the value list: unambiguous (no separator to collide with) and keeps 1 ≠ "1".
    const key = JSON.stringify(values);
    let group = groups.get(key);
    if (!group) {
      group = { values: Object.fromEntries(quasiIdentifiers.map((f, j) => [f, values[j]])), rows: 0, subjects: new Set() };
      groups.set(key, group);
    }
    group.rows += 1;
    if (options.subjectField !== undefined) {
      const subject = row[options.subjectField];
      if (subject === undefined || subject === null || subject === '') {
        throw new PrivacyError('INVALID_ARGUMENT', `Row ${i} has no ${options.subjectField}; every row needs its subject to count people.`);
      }
      group.subjects.add(subject);
    }
  });
  return [...groups.values()].map((g) => ({
    values: g.values,
    rows: g.rows,
    size: options.subjectField !== undefined ? g.subjects.size : g.rows,
  }));
}

/**
 * Computes k and the classes below `kMin`.
 *
 * @throws PrivacyError INVALID_ARGUMENT
 */
export function checkKAnonymity(
  rows: readonly ReleaseRow[],
  quasiIdentifiers: readonly string[],
  kMin: number,
  options: KAnonymityOptions = {},
): KAnonymityReport {
  checkK(kMin);
  const classes = equivalenceClasses(rows, quasiIdentifiers, options);
  const below = classes.filter((c) => c.size < kMin).sort((a, b) => a.size - b.size);
  const k = classes.length === 0 ? null : Math.min(...classes.map((c) => c.size));
  return {
    quasiIdentifiers: [...quasiIdentifiers],
    kMin,
    k,
    rows: rows.length,
    classes: classes.length,
    classesBelowK: below,
    rowsBelowK: below.reduce((sum, c) => sum + c.rows, 0),
    releasable: below.length === 0,
  };
}

/**
 * Refuses a release that is not k-anonymous, or that carries something looking like a
 * resident registration number, phone number or e-mail address in any string field.
 *
 * The error sentences give counts and field names only, never values: a small class's
 * values are exactly what would identify its members, and the sentence may reach the
 * requester. The full report (with values) is returned for the operator on success and can
 * be recomputed with {@link checkKAnonymity}.
 *
 * @throws PrivacyError RELEASE_BELOW_K, RELEASE_HAS_DIRECT_IDENTIFIER, INVALID_ARGUMENT
 */
export function assertReleasable(
  rows: readonly ReleaseRow[],
  quasiIdentifiers: readonly string[],
  kMin: number,
  options: KAnonymityOptions = {},
): KAnonymityReport {
  assertNoDirectIdentifiers(rows);
  const report = checkKAnonymity(rows, quasiIdentifiers, kMin, options);
  if (!report.releasable) {
    const unit = options.subjectField !== undefined ? 'patients' : 'rows';
    const smallest = report.classesBelowK[0].size;
    throw new PrivacyError(
      'RELEASE_BELOW_K',
      `${report.rowsBelowK} of ${report.rows} rows fall in ${report.classesBelowK.length} of ${report.classes} groups with fewer than k = ${kMin} ${unit} ` +
        `on ${quasiIdentifiers.join(', ')} (the smallest group has ${smallest}); generalise these fields further or suppress those rows before release.`,
    );
  }
  return report;
}

function assertNoDirectIdentifiers(rows: readonly ReleaseRow[]): void {
  const hits = new Map<string, { rows: number; kinds: Set<string> }>();
  for (const row of rows) {
    for (const [field, value] of Object.entries(row)) {
      if (typeof value !== 'string') continue;
      const kinds = findDirectIdentifiers(value);
      if (kinds.length === 0) continue;
      const hit = hits.get(field) ?? { rows: 0, kinds: new Set<string>() };
      hit.rows += 1;
      for (const kind of kinds) hit.kinds.add(describeDirectIdentifierKind(kind));
      hits.set(field, hit);
    }
  }
  if (hits.size > 0) {
    const parts = [...hits].map(([field, h]) => `${field} (${h.rows} rows, ${[...h.kinds].join(' / ')})`);
    throw new PrivacyError(
      'RELEASE_HAS_DIRECT_IDENTIFIER',
      `The release contains values that look like direct identifiers in ${parts.join('; ')}; remove those fields before release.`,
    );
  }
}

/**
 * Drops the rows of classes smaller than `kMin` (cell suppression at row level), the usual
 * complement to generalisation when a few outliers remain.
 *
 * @returns the remaining rows and how many were dropped
 * @throws PrivacyError INVALID_ARGUMENT
 */
export function suppressBelowK<T extends ReleaseRow>(
  rows: readonly T[],
  quasiIdentifiers: readonly string[],
  kMin: number,
  options: KAnonymityOptions = {},
): { rows: T[]; suppressed: number } {
  // Dropping whole classes leaves every other class as it was, so one pass suffices.
  const report = checkKAnonymity(rows, quasiIdentifiers, kMin, options);
  const small = new Set(report.classesBelowK.map((c) => JSON.stringify(quasiIdentifiers.map((f) => c.values[f]))));
  const kept = rows.filter((row, i) => !small.has(JSON.stringify(quasiIdentifiers.map((f) => quasiValue(row, f, i)))));
  return { rows: kept, suppressed: rows.length - kept.length };
}

/** Per-field generalisation rules for {@link generalise}. */
export type GeneralisationRules = Readonly<Record<string, (value: unknown) => QuasiValue>>;

/**
 * Applies generalisation rules to copies of the rows; fields without a rule are copied as
 * they are. Rules only map values: to withhold a field, leave it out of the rows.
 */
export function generalise<T extends ReleaseRow>(rows: readonly T[], rules: GeneralisationRules): Record<string, unknown>[] {
  return rows.map((row) => {
    const out: Record<string, unknown> = { ...row };
    for (const [field, rule] of Object.entries(rules)) out[field] = rule(row[field]);
    return out;
  });
}

/**
 * An age as a band of `width` years ("30-39"), with ages of `topCode` and over pooled into
 * one band ("90+"), as the HIPAA safe harbour and Korean pseudonymisation guidance both do
 * for the very old, who are few.
 *
 * @throws PrivacyError INVALID_ARGUMENT
 */
export function ageBand(age: number, width = 10, topCode = 90): string {
  if (!Number.isFinite(age) || age < 0 || age > 150) throw new PrivacyError('INVALID_ARGUMENT', `Age must be between 0 and 150; got ${age}.`);
  if (!Number.isInteger(width) || width < 1) throw new PrivacyError('INVALID_ARGUMENT', `Band width must be a positive integer; got ${width}.`);
  const years = Math.floor(age);
  if (years >= topCode) return `${topCode}+`;
  const start = years - (years % width);
  return `${start}-${Math.min(start + width, topCode) - 1}`;
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

function parseDate(text: string, what: string): { y: number; m: number; d: number } {
  const match = ISO_DATE.exec(text);
  const [y, m, d] = match ? [Number(match[1]), Number(match[2]), Number(match[3])] : [0, 0, 0];
  const date = new Date(Date.UTC(y, m - 1, d));
  if (!match || date.getUTCFullYear() !== y || date.getUTCMonth() !== m - 1 || date.getUTCDate() !== d) {
    throw new PrivacyError('INVALID_ARGUMENT', `${what} must be a calendar date written YYYY-MM-DD.`);
  }
  return { y, m, d };
}

/** A birth date ("1990-05-17") generalised to its year ("1990"). @throws PrivacyError INVALID_ARGUMENT */
export function birthYear(birthDate: string): string {
  return String(parseDate(birthDate, 'The birth date').y);
}

/**
 * Age band from a birth date at a reference date, in completed years (만 나이, Korea's
 * legal age since June 2023).
 *
 * @param asOf - reference date, YYYY-MM-DD (e.g. the record's date or the release date)
 * @throws PrivacyError INVALID_ARGUMENT
 */
export function ageBandFromBirthDate(birthDate: string, asOf: string, width = 10, topCode = 90): string {
  const b = parseDate(birthDate, 'The birth date');
  const r = parseDate(asOf, 'The reference date');
  const age = r.y - b.y - (r.m < b.m || (r.m === b.m && r.d < b.d) ? 1 : 0);
  if (age < 0) throw new PrivacyError('INVALID_ARGUMENT', 'The birth date is after the reference date.');
  return ageBand(age, width, topCode);
}

/**
 * Keeps the first `keep` characters of a hierarchical code and masks the rest, e.g. a
 * 5-digit Korean postcode or administrative code to its province ("06236" → "06***").
 *
 * @throws PrivacyError INVALID_ARGUMENT
 */
export function truncateCode(code: string, keep: number, mask = '*'): string {
  if (!Number.isInteger(keep) || keep < 0) throw new PrivacyError('INVALID_ARGUMENT', `The number of characters to keep must be a non-negative integer; got ${keep}.`);
  const chars = [...code];
  return chars.slice(0, keep).join('') + mask.repeat(Math.max(0, chars.length - keep));
}
