import type { AccessLogEntry } from '../../../../chaincode/src/lib/consent-model';
import { AUDIT_SIDES, BREAK_GLASS_REASONS, DEFAULT_BREAK_GLASS_PER_ORG_PER_DAY, MAX_AUDIT_DAYS } from '../../../../chaincode/src/lib/break-glass';
import type { BreakGlassAudit, BreakGlassResult } from '../../records/break-glass';
import { str, type Command } from '../command';
import { gatewaySettings } from '../config';
import { GatewayClient } from '../client';
import { EXIT, UsageError } from '../errors';
import { fields, table } from '../output';

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const when = (iso: string): string => iso.replace('T', ' ').replace(/(\.\d+)?Z$/, ' UTC');

/** `medprov break-glass <issuer> <recordId> --reason <code>`: a clinician's emergency access without consent. */
export const breakGlassCommand: Command = {
  name: 'break-glass',
  summary: "open a record without consent in an emergency, logged for the patient and the DPO (hospital clinicians)",
  usage: 'break-glass <issuer> <recordId> --reason <code> [--gateway <url>] [--api-key <key>] [--json]',
  description: `
Opens the record <recordId> issued by the hospital <issuer> (its MSP id: your own hospital's,
or another hospital's) without the patient's consent, because the patient cannot give it in
time (POST /v1/break-glass). Only a clinician's API key at a hospital's gateway may; the reason
is mandatory and one of: ${BREAK_GLASS_REASONS.join(', ')}.

The ledger writes the access to the patient's access log as "break-glass" with the reason
(purpose ETREAT, HL7 emergency treatment), and to your hospital's and the issuing hospital's
break-glass audit (see 'medprov audit break-glass'). Each hospital may break the glass at most
the consortium's rate per UTC day (${DEFAULT_BREAK_GLASS_PER_ORG_PER_DAY} unless the consortium set another): beyond it
the request is refused (exit 4, BREAK_GLASS_RATE_EXCEEDED) and nothing is opened or logged.
Prints the record's provenance (every version).`,
  examples: [
    'medprov break-glass HospitalMSP adm-2026-0001 --reason unconscious-patient',
    'medprov break-glass Hospital2MSP er-7781 --reason life-threatening --json',
  ],
  options: {
    reason: { type: 'string', value: 'code', description: `why consent cannot be obtained: ${BREAK_GLASS_REASONS.join(', ')}` },
  },
  usesGateway: true,
  positionals: { min: 2, max: 2 },
  async run({ args, out, env }) {
    const [issuer, recordId] = args.positionals as [string, string];
    const reason = str(args, 'reason');
    if (reason === undefined) throw new UsageError(`--reason is required: one of ${BREAK_GLASS_REASONS.join(', ')}.`);
    if (!(BREAK_GLASS_REASONS as readonly string[]).includes(reason)) throw new UsageError(`--reason must be one of ${BREAK_GLASS_REASONS.join(', ')}.`);
    const client = new GatewayClient(gatewaySettings(args, env));
    const { body } = await client.request<BreakGlassResult>('POST', '/v1/break-glass', { issuer, recordId, reason });
    out.document(body);
    const e = body.accessLog;
    out.line(`BREAK-GLASS ${e.issuer} ${e.recordId} v${e.version}: opened without consent (${e.breakGlassReason}); logged for the patient and the DPO`);
    for (const line of fields([
      ['transaction', `${body.transactionId} (block ${body.blockNumber})`],
      ['at', when(e.at)],
      ['rate', `${body.limit.usedToday} of ${body.limit.perOrgPerDay} today (UTC) for ${e.accessor}`],
    ])) out.line(line);
    for (const v of body.provenance) out.line(`  v${v.version}  ${v.status.padEnd(10)}  ${v.anchoredAt}  ${v.docHash}  tx ${v.txId}`);
    return EXIT.OK;
  },
};

/** `medprov audit break-glass [--from D] [--to D] [--of-our-records]`: the organisation's break-glass audit report. */
export const auditBreakGlassCommand: Command = {
  name: 'audit break-glass',
  summary: "the hospital's break-glass audit report over a period (DPO, admin)",
  usage: 'audit break-glass [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--of-our-records] [--gateway <url>] [--api-key <key>] [--json]',
  description: `
Lists every break-glass access your hospital's clinicians made (or, with --of-our-records, that
any hospital made to your hospital's records) on the UTC days from --from to --to, both
included, oldest first, as the ledger holds them (GET /v1/audit/break-glass): when, who (MSP
and role), which record, and the reason. Default period: the last 30 days to today; at most
${MAX_AUDIT_DAYS} days. For the DPO and the admin of a hospital.`,
  examples: [
    'medprov audit break-glass',
    'medprov audit break-glass --from 2026-11-01 --to 2026-11-30 --json',
    'medprov audit break-glass --of-our-records',
  ],
  options: {
    from: { type: 'string', value: 'YYYY-MM-DD', description: 'first UTC day of the period (default: 29 days before --to)' },
    to: { type: 'string', value: 'YYYY-MM-DD', description: 'last UTC day of the period (default: today)' },
    'of-our-records': { type: 'boolean', description: "the accesses made to your hospital's records (by any hospital) instead of those your hospital made" },
  },
  usesGateway: true,
  positionals: { min: 0, max: 0 },
  async run({ args, out, env }) {
    const from = str(args, 'from');
    const to = str(args, 'to');
    for (const [name, value] of [['from', from], ['to', to]] as const) {
      if (value !== undefined && !DAY.test(value)) throw new UsageError(`--${name} must be a UTC day written YYYY-MM-DD.`);
    }
    const side: (typeof AUDIT_SIDES)[number] = args.values['of-our-records'] === true ? 'of' : 'by';
    const query = new URLSearchParams({ side, ...(from ? { from } : {}), ...(to ? { to } : {}) });
    const client = new GatewayClient(gatewaySettings(args, env));
    const { body } = await client.get<BreakGlassAudit>(`/v1/audit/break-glass?${query}`);
    out.document(body);
    const n = body.entries.length;
    out.line(`${n} break-glass access${n === 1 ? '' : 'es'} ${side === 'by' ? `by ${body.mspId}` : `to records of ${body.mspId}`}, ${body.from} to ${body.to} (rate: ${body.perOrgPerDay} per organisation per UTC day)`);
    if (n > 0) {
      const rows = body.entries.map((e: AccessLogEntry) => [when(e.at), `${e.accessor}${e.role ? ` (${e.role})` : ''}`, `${e.issuer} ${e.recordId} v${e.version}`, e.breakGlassReason ?? '', e.txId]);
      for (const line of table(['WHEN', 'WHO', 'RECORD', 'REASON', 'TRANSACTION'], rows)) out.line(line);
    }
    return EXIT.OK;
  },
};

export const BREAK_GLASS_COMMANDS: readonly Command[] = [breakGlassCommand, auditBreakGlassCommand];
