import { TypedDataEncoder } from 'ethers';
import { MAX_SCOPE_ITEMS, type ConsentGrant } from '../../../../chaincode/src/lib/consent-model';
import { CONSENT_GRANT_TYPES, CONSENT_REVOKE_TYPES } from '../../../../chaincode/src/lib/eip712';
import { requireBytes32Hex, requireCode, requireDistinctList, requireMspId, requireOpaqueId, requirePurpose } from '../../../../chaincode/src/lib/validate';
import { DAY_SECONDS, describeScope, grantMessage, revokeMessage, type GrantChoice } from '../../consent/patient-client';
import type { GrantWithStatus } from '../../consent/service';
import { intOption, str, type Command, type Parsed } from '../command';
import { EXIT, UsageError } from '../errors';
import { fields, type Output } from '../output';
import { PATIENT_OPTIONS, PatientSession, isoDate, printListing, validated } from '../patient';

interface Submitted {
  grant: ConsentGrant;
  created: boolean;
  blockNumber: string;
}

/** Repeated flags and comma-separated values, as one list. */
export function listOption(args: Parsed, name: string): string[] {
  const raw = args.values[name];
  const values = Array.isArray(raw) ? raw : typeof raw === 'string' ? [raw] : [];
  return values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v.length > 0);
}

/** The flags of a grant's choice ({@link grantChoice}): `consent grant` and `guardian grant`. */
export const GRANT_CHOICE_OPTIONS = {
  to: { type: 'string', value: 'MSP', description: 'the organisation given access (its MSP ID)' },
  purpose: { type: 'string', value: 'purpose', description: 'treatment, claims or research:<trialId>' },
  category: { type: 'string', multiple: true, value: 'code', description: 'a document type the grant covers (repeatable, or comma-separated)' },
  record: { type: 'string', multiple: true, value: 'id', description: "a record id of your hospital the grant covers (repeatable, or comma-separated)" },
  days: { type: 'string', value: 'n', description: 'how many days the grant lasts, 1-3650' },
  until: { type: 'string', value: 'date', description: 'when the grant ends instead: 2026-12-31 or 2026-12-31T18:00:00Z' },
} as const;

/** The patient's choice for a grant from the flags, checked by the chaincode's own rules; usage errors before any key or gateway. */
export function grantChoice(args: Parsed, nowSeconds: number): GrantChoice {
  const grantee = validated(() => requireMspId('--to', str(args, 'to')));
  const purpose = validated(() => requirePurpose('--purpose', str(args, 'purpose')));
  const categories = validated(() => requireDistinctList('--category', listOption(args, 'category'), MAX_SCOPE_ITEMS, (f, v) => requireCode(f, v)));
  const recordIds = validated(() => requireDistinctList('--record', listOption(args, 'record'), MAX_SCOPE_ITEMS, (f, v) => requireOpaqueId(f, v)));
  if (categories.length + recordIds.length === 0) throw new UsageError('name what the grant covers: at least one --category or --record.');
  const until = str(args, 'until');
  if ((until === undefined) === (args.values.days === undefined)) throw new UsageError('say how long the grant lasts: --days <n> or --until <date>, one of them.');
  let validUntil: number;
  if (until !== undefined) {
    const ms = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(until) ? Date.parse(until) : NaN;
    if (Number.isNaN(ms)) throw new UsageError(`--until '${until}' is not an ISO date such as 2026-12-31 or 2026-12-31T18:00:00Z.`);
    validUntil = Math.floor(ms / 1000);
    if (validUntil <= nowSeconds) throw new UsageError(`--until ${until} has already passed.`);
  } else {
    validUntil = nowSeconds + intOption(args, 'days', 0, 1, 3650) * DAY_SECONDS;
  }
  return { grantee, purpose, categories, recordIds, validUntil };
}

const validity = (g: ConsentGrant): string => `${isoDate(g.validFrom)} – ${isoDate(g.validUntil)}`;

/** What a grant or a revocation prints: the gateway's answer with --json, else a headline and the grant. */
function printSubmitted(out: Output, body: Submitted, headline: string): number {
  out.document(body);
  out.line(headline);
  const g = body.grant;
  for (const l of fields([
    ['to', g.grantee],
    ['purpose', g.purpose],
    ['records', describeScope(g)],
    ['valid', validity(g)],
    ['status', g.status],
    ['txId', g.revocation?.txId ?? g.txId],
  ])) out.line(l);
  return EXIT.OK;
}

/** `medprov consent grant`: sign a grant with the patient's key and submit it. */
export const consentGrantCommand: Command = {
  name: 'consent grant',
  summary: 'give an organisation access to your records (patients; signs with your key file)',
  usage: 'consent grant --to <MSP> --purpose <purpose> (--category <code> | --record <id>)... (--days <n> | --until <date>) --key <file> [options]',
  description: `
Signs a consent grant (EIP-712 ConsentGrant) with your key and sends it to the gateway
(POST /v1/consents; no API key: your signature is what counts). The grant lets the organisation
--to (an MSP ID) use the records you name for one purpose:
  treatment, claims, or research:<trialId>
Name the records by document type (--category, e.g. loinc:18842-5) and/or by record id of your
hospital (--record); both may be repeated or comma-separated. The grant starts now and lasts
--days days or until --until (an ISO date or time; a date alone is midnight UTC).

The key file is the one your hospital registered ('medprov patient register'); its password
comes from MEDPROV_KEY_PASSWORD or is asked on the terminal. Prints the grant id, which
'medprov consent revoke' takes.`,
  examples: [
    'medprov consent grant --to InsurerMSP --purpose claims --category loinc:18842-5 --days 30 --key ~/medprov/hospital.key.json',
    'medprov consent grant --to SponsorMSP --purpose research:TRIAL-042 --record adm-2026-0001,lab-2026-0001 --until 2027-06-30 --json',
  ],
  options: { ...GRANT_CHOICE_OPTIONS, ...PATIENT_OPTIONS },
  usesGateway: 'as-patient',
  positionals: { min: 0, max: 0 },
  async run(ctx) {
    const { args, out } = ctx;
    const now = Math.floor(Date.now() / 1000);
    const choice = grantChoice(args, now);
    const session = await PatientSession.open(ctx);
    const message = grantMessage(session.registration, choice, now);
    const domain = await session.domain();
    const signature = await session.wallet.signTypedData(domain, CONSENT_GRANT_TYPES, message);
    const { body } = await session.client.postOpen<Submitted>('/v1/consents', { message, signature });
    const grantId = TypedDataEncoder.hash(domain, CONSENT_GRANT_TYPES, message);
    if (body.grant.grantId !== grantId) out.note(`medprov consent grant: note: the gateway answered with grant ${body.grant.grantId}, not the one signed (${grantId}).`);
    return printSubmitted(out, body, `granted ${body.grant.grantId}`);
  },
};

/** `medprov consent revoke <grantId>`. */
export const consentRevokeCommand: Command = {
  name: 'consent revoke',
  summary: 'withdraw a grant (patients; signs with your key file)',
  usage: 'consent revoke <grantId> --key <file> [options]',
  description: `
Signs a revocation (EIP-712 ConsentRevoke) of the grant <grantId> (0x + 64 hex, as
'medprov consent grant' and 'medprov consent list' show it) and sends it to the gateway
(POST /v1/consents/revocations). From the revocation's transaction on, the grant permits
nothing. Revoking a grant that is already revoked changes nothing and says so.`,
  examples: ['medprov consent revoke 0x3f9c…e1 --key ~/medprov/hospital.key.json', 'MEDPROV_KEY_FILE=hospital.key.json medprov consent revoke 0x3f9c…e1 --json'],
  options: { ...PATIENT_OPTIONS },
  usesGateway: 'as-patient',
  positionals: { min: 1, max: 1 },
  async run(ctx) {
    const { args, out } = ctx;
    const grantId = validated(() => requireBytes32Hex('the grant id', args.positionals[0]!.toLowerCase()));
    const session = await PatientSession.open(ctx);
    const message = revokeMessage(session.registration, grantId);
    const signature = await session.wallet.signTypedData(await session.domain(), CONSENT_REVOKE_TYPES, message);
    const { body } = await session.client.postOpen<Submitted>('/v1/consents/revocations', { message, signature });
    return printSubmitted(out, body, body.created ? `revoked ${grantId}` : `${grantId} was already revoked (${body.grant.revocation?.at ?? 'earlier'}); nothing changed`);
  },
};

/** `medprov consent list`. */
export const consentListCommand: Command = {
  name: 'consent list',
  summary: 'your grants and whether each is active, revoked or expired (patients)',
  usage: 'consent list --key <file> [options]',
  description: `
Lists every grant you gave at your hospital, oldest first: grant id, organisation, purpose,
records, validity and status now (active, revoked, expired, or pending when it starts later).
The gateway only answers you: the CLI signs a single-use challenge with your key
(POST /v1/patients/challenges, then GET /v1/patients/me/grants).`,
  examples: ['medprov consent list --key ~/medprov/hospital.key.json', 'medprov consent list --json | jq -r \'.grants[] | select(.effectiveStatus == "active") | .grantId\''],
  options: { ...PATIENT_OPTIONS },
  usesGateway: 'as-patient',
  positionals: { min: 0, max: 0 },
  run: (ctx) =>
    printListing<GrantWithStatus>(
      ctx,
      '/v1/patients/me/grants',
      'grants',
      (grants) => `${grants.length} grant${grants.length === 1 ? '' : 's'}, ${grants.filter((g) => g.effectiveStatus === 'active').length} active`,
      ['GRANT', 'STATUS', 'TO', 'PURPOSE', 'RECORDS', 'VALID'],
      (g) => [g.grantId, g.effectiveStatus, g.grantee, g.purpose, describeScope(g), validity(g)],
    ),
};
