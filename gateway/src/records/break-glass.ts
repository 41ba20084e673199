/**
 * Break-glass emergency access in the gateway's terms: a hospital's clinician opens a record
 * without consent (`Access:breakGlassAccess`), and the organisation's DPO or admin reads the audit
 * report (`Access:listBreakGlassAccesses`). No Express here: the routes are in
 * `http/break-glass-routes.ts`, the CLI in `cli/commands/break-glass.ts`.
 *
 * Synchronous, not through the acceptance journal: the clinician waits at the bedside for the
 * provenance, and a journalled retry hours later would spend the organisation's daily rate on an
 * emergency that is over.
 *
 * @module
 */
import type { AccessLogEntry } from '../../../chaincode/src/lib/consent-model';
import type { RecordAnchor } from '../../../chaincode/src/lib/record-model';
import { BREAK_GLASS_REASONS, BREAK_GLASS_ROLE, MAX_AUDIT_DAYS, parseUtcDay, type AuditSide } from '../../../chaincode/src/lib/break-glass';
import { ApiError } from '../errors';
import type { Committed, Ledger } from '../fabric/client';
import { LedgerError } from '../fabric/errors';
import { toApiError } from './service';

/** What the clinician sends. */
export interface BreakGlassRequest {
  readonly issuer: string;
  readonly recordId: string;
  /** One of BREAK_GLASS_REASONS; missing or unknown is refused with the chaincode's codes. */
  readonly reason?: string;
}

/** The answer: the access-log entry written, the record's provenance and the organisation's rate for the day. */
export interface BreakGlassResult {
  readonly decision: 'BREAK_GLASS';
  readonly accessLog: AccessLogEntry;
  readonly provenance: RecordAnchor[];
  readonly limit: { perOrgPerDay: number; usedToday: number };
  readonly transactionId: string;
  readonly blockNumber: string;
}

/** An audit report: the break-glass accesses made by this organisation (`by`) or to its records (`of`) over UTC days. */
export interface BreakGlassAudit {
  readonly side: AuditSide;
  readonly mspId: string;
  readonly from: string;
  readonly to: string;
  readonly perOrgPerDay: number;
  readonly entries: AccessLogEntry[];
}

/** Days a report covers when no `from` is given: the last 30 UTC days, today included. */
export const DEFAULT_AUDIT_DAYS = 30;

const decoder = new TextDecoder();

/** The ledger side of break-glass for one hospital's gateway. */
export class BreakGlassAccess {
  constructor(
    private readonly ledger: Ledger,
    private readonly mspId: string,
    private readonly clock: () => number = Date.now,
  ) {}

  /**
   * Opens the record for a clinician of this hospital (the gateway vouches for the role). Refused
   * before any transaction when the reason is missing or unknown, with the chaincode's own codes;
   * the chaincode checks again. A read conflict with another break-glass of this organisation
   * (the day's count) is sent again: a refused transaction wrote nothing.
   */
  async open(request: BreakGlassRequest): Promise<BreakGlassResult> {
    requireReason(request.reason);
    const argument = JSON.stringify({ issuer: request.issuer, recordId: request.recordId, reason: request.reason, role: BREAK_GLASS_ROLE });
    const committed = await this.submitRetryingConflicts(argument);
    const out = JSON.parse(decoder.decode(committed.result)) as Omit<BreakGlassResult, 'transactionId' | 'blockNumber'>;
    return { ...out, transactionId: committed.transactionId, blockNumber: committed.blockNumber.toString() };
  }

  /** This organisation's audit report over UTC days `from`..`to` (default: the last 30 days to today). */
  async audit(query: { side?: AuditSide; from?: string; to?: string }): Promise<BreakGlassAudit> {
    const to = query.to ?? new Date(this.clock()).toISOString().slice(0, 10);
    const toMs = requireDay('to', to);
    const from = query.from ?? new Date(toMs - (DEFAULT_AUDIT_DAYS - 1) * 86_400_000).toISOString().slice(0, 10);
    const fromMs = requireDay('from', from);
    if (fromMs > toMs) throw new ApiError(400, 'INVALID_PERIOD', `The period's start (${from}) is after its end (${to}).`);
    const days = (toMs - fromMs) / 86_400_000 + 1;
    if (days > MAX_AUDIT_DAYS) throw new ApiError(400, 'INVALID_PERIOD', `A report covers at most ${MAX_AUDIT_DAYS} days; ${from} to ${to} is ${days}.`);
    try {
      return JSON.parse(decoder.decode(await this.ledger.evaluate('Access:listBreakGlassAccesses', query.side ?? 'by', this.mspId, from, to))) as BreakGlassAudit;
    } catch (err) {
      throw toApiError(err);
    }
  }

  private async submitRetryingConflicts(argument: string): Promise<Committed> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.ledger.submit('Access:breakGlassAccess', argument);
      } catch (err) {
        const conflict = err instanceof LedgerError && (err.code === 'MVCC_CONFLICT' || err.code === 'ENDORSEMENT_MISMATCH');
        if (err instanceof LedgerError && err.code === 'BREAK_GLASS_RATE_EXCEEDED') {
          // Clients that honour Retry-After come back when the next UTC day opens a new count.
          const now = this.clock();
          const retryAfterSeconds = Math.max(1, Math.ceil(((Math.floor(now / 86_400_000) + 1) * 86_400_000 - now) / 1000));
          throw new ApiError(429, err.code, err.message, { retryAfterSeconds, ...(err.transactionId ? { transactionId: err.transactionId } : {}) });
        }
        if (!conflict || attempt >= 5) throw toApiError(err);
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
  }
}

function requireReason(reason: string | undefined): void {
  if (reason === undefined || reason === '') {
    throw new ApiError(400, 'BREAK_GLASS_REASON_REQUIRED', `Say why the glass is broken: reason must be one of ${BREAK_GLASS_REASONS.join(', ')}.`);
  }
  if (!(BREAK_GLASS_REASONS as readonly string[]).includes(reason)) {
    throw new ApiError(400, 'BREAK_GLASS_REASON_UNKNOWN', `The reason must be one of ${BREAK_GLASS_REASONS.join(', ')}.`);
  }
}

function requireDay(field: string, value: string): number {
  const ms = parseUtcDay(value);
  if (ms === undefined) throw new ApiError(400, 'INVALID_PERIOD', `${field} must be a UTC day written YYYY-MM-DD.`);
  return ms;
}
