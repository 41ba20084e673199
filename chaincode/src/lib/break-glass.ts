/**
 * Break-glass emergency access: the codes, limits and shapes shared by the chaincode, the
 * gateway, the CLI and the pages. Plain constants, types and pure functions only (no contract
 * runtime), so the browser and the gateway import it as they are.
 *
 * A hospital's clinician opens a record without the patient's consent because the patient cannot
 * give it in time. The purpose recorded is HL7 v3 ActReason `ETREAT` (emergency treatment); the
 * entry's kind (`break-glass`) and decision (`BREAK_GLASS`) say that consent was overridden; the
 * reason is one of a small fixed list of medprov codes (HL7 v3 has no codes for the clinical
 * situation itself).
 */

/** The HL7 v3 ActReason (purpose of use) every break-glass access is recorded with: emergency treatment. */
export const BREAK_GLASS_PURPOSE = 'ETREAT';

/** The gateway role that may break the glass (hospital gateways only). */
export const BREAK_GLASS_ROLE = 'clinician';

/**
 * Why the glass was broken: the only values the chaincode accepts. Small on purpose: each must
 * mean that consent could not be obtained in time.
 */
export const BREAK_GLASS_REASONS = [
  /** The patient is unconscious (or otherwise cannot communicate) and no representative is reachable. */
  'unconscious-patient',
  /** An immediate threat to life or limb: waiting for consent would harm the patient. */
  'life-threatening',
  /** The patient lacks capacity to consent (e.g. delirium, intoxication) and no guardian is reachable. */
  'incapacitated-no-guardian',
  /** Mass-casualty or disaster triage: no time to seek consent from each patient. */
  'mass-casualty',
] as const;
export type BreakGlassReason = (typeof BREAK_GLASS_REASONS)[number];

/**
 * Break-glass accesses one organisation may make per UTC day when the consortium definition sets
 * no rate (`breakGlass.perOrgPerDay`). The consortium changes it by the majority change flow.
 */
export const DEFAULT_BREAK_GLASS_PER_ORG_PER_DAY = 20;

/** The highest rate a consortium definition may set (per organisation per UTC day). */
export const MAX_BREAK_GLASS_PER_ORG_PER_DAY = 10_000;

/** The longest period one audit report covers, in UTC days. */
export const MAX_AUDIT_DAYS = 92;

/** Which break-glass accesses an audit report lists: those an organisation made, or those made to its records. */
export const AUDIT_SIDES = ['by', 'of'] as const;
export type AuditSide = (typeof AUDIT_SIDES)[number];

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** `YYYY-MM-DD` of a real UTC calendar day, or undefined. */
export function parseUtcDay(value: string): number | undefined {
  const m = DAY.exec(value);
  if (!m) return undefined;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return new Date(ms).toISOString().slice(0, 10) === value ? ms : undefined;
}

/** The UTC day (`YYYY-MM-DD`) of an ISO timestamp. */
export function utcDayOf(iso: string): string {
  return iso.slice(0, 10);
}

/** Every UTC day from `from` to `to`, both included (both already valid days, from ≤ to). */
export function utcDaysBetween(fromMs: number, toMs: number): string[] {
  const days: string[] = [];
  for (let ms = fromMs; ms <= toMs; ms += 86_400_000) days.push(new Date(ms).toISOString().slice(0, 10));
  return days;
}

/** What `Access:breakGlassAccess` takes, as one JSON argument. */
export interface BreakGlassRequest {
  issuer: string;
  recordId: string;
  /** One of {@link BREAK_GLASS_REASONS}. */
  reason: string;
  /** The caller's gateway role, vouched for by the gateway: only {@link BREAK_GLASS_ROLE} is accepted. */
  role: string;
}
