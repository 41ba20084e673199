/**
 * Break-glass emergency access (the `Access:breakGlassAccess` and `Access:listBreakGlassAccesses`
 * transactions; the contract methods in access.ts call these).
 *
 * Who: a hospital (the policy table admits hospital MSPs only) whose gateway vouches that the
 * caller is a clinician; a certificate role attribute, when present, must say so too. Any
 * hospital may break the glass on any hospital's record: in Korea an emergency department
 * treating an unconscious patient brought in from elsewhere is the case this exists for, and
 * an access to one's own restricted record is the same transaction.
 *
 * What it writes: the patient's access-log entry (kind `break-glass`, decision `BREAK_GLASS`,
 * purpose ETREAT, the reason code) and two audit keys (`by` the caller, `of` the issuer, under
 * the UTC day), all in one transaction. Every refusal throws, so nothing is written.
 *
 * The rate: at most the consortium's `breakGlass.perOrgPerDay` per organisation per UTC day of
 * the transaction's timestamp, counted from the `by` keys of that day (a range read: two
 * concurrent accesses of one org conflict at validation and one is sent again, so the limit holds).
 *
 * @module
 */
import type { Context } from 'fabric-contract-api';
import { ChaincodeError } from '../lib/errors';
import { canonicalJson, fromBytes, toBytes } from '../lib/canonical-json';
import { accessLogKey, breakGlassKey, KEY_TYPES } from '../lib/keys';
import { breakGlassPerOrgPerDay, readConsortium } from '../lib/consortium';
import { ACCESS_EVENT, type AccessLogEntry } from '../lib/consent-model';
import {
  AUDIT_SIDES,
  BREAK_GLASS_PURPOSE,
  BREAK_GLASS_REASONS,
  BREAK_GLASS_ROLE,
  MAX_AUDIT_DAYS,
  parseUtcDay,
  utcDayOf,
  utcDaysBetween,
} from '../lib/break-glass';
import { txTimeIso } from '../lib/tx-time';
import { ROLE_ATTRIBUTE } from '../lib/certified-roles';
import { parseJsonArgument, requireMspId, requireObject, requireOneOf, requireOpaqueId } from '../lib/validate';
import { readLatestAnchor, readRecordVersions } from './records';

/** The break-glass access: the entry it wrote, and the record's provenance (every version, oldest first). */
export async function breakGlassAccess(ctx: Context, requestJson: string): Promise<string> {
  const body = requireObject('breakGlass', parseJsonArgument('breakGlass', requestJson), ['issuer', 'recordId', 'reason', 'role']);
  const caller = ctx.clientIdentity.getMSPID();
  requireClinician(ctx, caller, body.role);
  const reason = requireReason(body.reason);
  const issuer = requireMspId('breakGlass.issuer', body.issuer);
  const recordId = requireOpaqueId('breakGlass.recordId', body.recordId);
  const anchor = await readLatestAnchor(ctx, issuer, recordId);

  const at = txTimeIso(ctx);
  const day = utcDayOf(at);
  const consortium = await readConsortium(ctx);
  const limit = consortium ? breakGlassPerOrgPerDay(consortium) : 0;
  let used = 0;
  for await (const _ of ctx.stub.getStateByPartialCompositeKey(KEY_TYPES.breakGlass, ['by', caller, day])) {
    used++;
    if (used >= limit) break;
  }
  if (used >= limit) {
    throw new ChaincodeError(
      'BREAK_GLASS_RATE_EXCEEDED',
      limit === 0
        ? `the consortium allows no break-glass access (breakGlass.perOrgPerDay is 0); nothing was opened or logged.`
        : `${caller} has used all ${limit} break-glass accesses the consortium allows per organisation on ${day} (UTC); nothing was opened or logged. Ask the patient for consent, or wait for the next UTC day.`,
    );
  }

  const txId = ctx.stub.getTxID();
  const entry: AccessLogEntry = {
    accessor: caller,
    role: BREAK_GLASS_ROLE,
    kind: 'break-glass',
    issuer: anchor.issuer,
    recordId: anchor.recordId,
    version: anchor.version,
    patientRef: anchor.patientRef,
    purpose: BREAK_GLASS_PURPOSE,
    decision: 'BREAK_GLASS',
    breakGlassReason: reason,
    at,
    txId,
  };
  // Like every access-log entry, no key-level policy: the org it is about must not erase it.
  await ctx.stub.putState(accessLogKey(ctx, anchor.issuer, anchor.patientRef, at, txId), toBytes(entry));
  await ctx.stub.putState(breakGlassKey(ctx, 'by', caller, day, at, txId), toBytes(entry));
  await ctx.stub.putState(breakGlassKey(ctx, 'of', anchor.issuer, day, at, txId), toBytes(entry));
  ctx.stub.setEvent(ACCESS_EVENT, toBytes(entry));
  const provenance = await readRecordVersions(ctx, issuer, recordId);
  return canonicalJson({ decision: 'BREAK_GLASS', accessLog: entry, provenance, limit: { perOrgPerDay: limit, usedToday: used + 1 } });
}

/**
 * The audit report: every break-glass access made `by` an organisation, or made to the records
 * `of` an organisation, on the UTC days from `fromDay` to `toDay` (both included, at most
 * {@link MAX_AUDIT_DAYS}), oldest first, with the rate in force.
 */
export async function listBreakGlassAccesses(ctx: Context, sideArg: string, mspIdArg: string, fromDayArg: string, toDayArg: string): Promise<string> {
  const side = requireOneOf('side', sideArg, AUDIT_SIDES);
  const mspId = requireMspId('mspId', mspIdArg);
  const from = parseUtcDay(fromDayArg);
  const to = parseUtcDay(toDayArg);
  if (from === undefined || to === undefined) throw new ChaincodeError('INVALID_ARGUMENT', 'from and to must be UTC days written YYYY-MM-DD.');
  if (to < from) throw new ChaincodeError('INVALID_ARGUMENT', `to (${toDayArg}) is before from (${fromDayArg}).`);
  const days = utcDaysBetween(from, to);
  if (days.length > MAX_AUDIT_DAYS) throw new ChaincodeError('INVALID_ARGUMENT', `a report covers at most ${MAX_AUDIT_DAYS} days; this period has ${days.length}.`);
  const entries: AccessLogEntry[] = [];
  for (const day of days) {
    for await (const kv of ctx.stub.getStateByPartialCompositeKey(KEY_TYPES.breakGlass, [side, mspId, day])) entries.push(fromBytes<AccessLogEntry>(kv.value));
  }
  const consortium = await readConsortium(ctx);
  return canonicalJson({ side, mspId, from: fromDayArg, to: toDayArg, perOrgPerDay: consortium ? breakGlassPerOrgPerDay(consortium) : 0, entries });
}

function requireClinician(ctx: Context, caller: string, role: unknown): void {
  if (role !== BREAK_GLASS_ROLE) {
    const said = typeof role === 'string' && /^[a-z-]{1,32}$/.test(role) ? `the role ${role}` : 'no valid role';
    throw new ChaincodeError('FORBIDDEN_ROLE', `${caller}'s gateway vouched for ${said}; only a ${BREAK_GLASS_ROLE} may break the glass.`);
  }
  const certified = ctx.clientIdentity.getAttributeValue(ROLE_ATTRIBUTE);
  if (certified !== null && certified !== undefined && certified !== '' && certified !== BREAK_GLASS_ROLE) {
    throw new ChaincodeError('FORBIDDEN_ROLE', `the caller's certificate says its role is not ${BREAK_GLASS_ROLE}; only a ${BREAK_GLASS_ROLE} may break the glass.`);
  }
}

function requireReason(value: unknown): string {
  if (value === undefined || value === null || value === '') {
    throw new ChaincodeError('BREAK_GLASS_REASON_REQUIRED', `a break-glass access needs a reason: one of ${BREAK_GLASS_REASONS.join(', ')}.`);
  }
  if (typeof value !== 'string' || !(BREAK_GLASS_REASONS as readonly string[]).includes(value)) {
    throw new ChaincodeError('BREAK_GLASS_REASON_UNKNOWN', `the break-glass reason must be one of ${BREAK_GLASS_REASONS.join(', ')}.`);
  }
  return value;
}
