/**
 * Guardians and delegates, and the patient's one view, in the CLI:
 *  - the patient: `guardian appoint`, `guardian revoke`, `guardian list` (their key file);
 *  - the hospital's records office: `guardian record`, `guardian end` (API key, legal basis);
 *  - the guardian: `guardian delegations`, `guardian grant`, `guardian revoke-grant` (the
 *    guardian's own key file for that hospital: one key per hospital, as for patients);
 *  - `patient overview`: everything about the patient at every hospital, from the recovery phrase.
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import { HDNodeWallet, Mnemonic, TypedDataEncoder, type TypedDataDomain, type Wallet } from 'ethers';
import type { ConsentGrant } from '../../../../chaincode/src/lib/consent-model';
import { LEGAL_BASES, MAX_DELEGATION_SCOPE, type Delegation } from '../../../../chaincode/src/lib/delegation-model';
import { CONSENT_GRANT_TYPES, CONSENT_REVOKE_TYPES, GUARDIAN_APPOINTMENT_TYPES, GUARDIAN_REVOKE_TYPES } from '../../../../chaincode/src/lib/eip712';
import { requireAddressHex, requireBytes32Hex, requireCode, requireDistinctList, requireMspId, requireOneOf, requirePurpose, requireSha256Hex } from '../../../../chaincode/src/lib/validate';
import { PATIENT_CHALLENGE_TYPES } from '../../consent/typed-data';
import {
  DAY_SECONDS,
  appointmentMessage,
  challengeToSign,
  describeScope,
  grantMessage,
  guardianRevokeMessage,
  hospitalKeyPath,
  patientAuthorization,
  revokeMessage,
  UNKNOWN_PATIENT_REF,
  type ChallengeToSign,
} from '../../consent/patient-client';
import { patientOverview, type HospitalOverview } from '../../consent/patient-overview';
import type { DelegationWithStatus } from '../../consent/guardians';
import { intOption, str, type Command, type Context, type Parsed } from '../command';
import { gatewaySettings } from '../config';
import { GatewayClient } from '../client';
import { CliError, EXIT, UsageError } from '../errors';
import { fields, table } from '../output';
import { KEY_OPTION, PATIENT_OPTIONS, PatientSession, isoDate, keyFilePath, readKeyFile, unlockKey, validated } from '../patient';
import { GRANT_CHOICE_OPTIONS, grantChoice, listOption } from './consent';

const PHRASE_ENV = 'MEDPROV_RECOVERY_PHRASE';
const PATIENT_ID_OPTION = { 'patient-id': { type: 'string', value: 'id', description: "the hospital's patient id (never leaves the gateway)" } } as const;
const DURATION_OPTIONS = {
  days: { type: 'string', value: 'n', description: 'how many days it lasts, 1-3650' },
} as const;
const SCOPE_OPTIONS = {
  purpose: { type: 'string', multiple: true, value: 'purpose', description: 'a purpose the guardian may grant for: treatment, claims, research (any trial) or research:<trialId> (repeatable; none: any)' },
  category: { type: 'string', multiple: true, value: 'code', description: 'a document type the guardian may grant (repeatable; none: any)' },
} as const;

interface DelegationAnswer {
  delegation: Delegation;
  created: boolean;
  blockNumber: string;
}

function scopeOf(args: Parsed): { purposes: string[]; categories: string[] } {
  const purposes = validated(() =>
    requireDistinctList('--purpose', listOption(args, 'purpose'), MAX_DELEGATION_SCOPE, (f, v) => (v === 'research' ? v : requirePurpose(f, v))),
  );
  const categories = validated(() => requireDistinctList('--category', listOption(args, 'category'), MAX_DELEGATION_SCOPE, (f, v) => requireCode(f, v)));
  return { purposes, categories };
}

const describeDelegation = (d: Pick<Delegation, 'purposes' | 'categories'>): string =>
  `${d.purposes.length > 0 ? d.purposes.join(', ') : 'any purpose'}; ${d.categories.length > 0 ? d.categories.join(', ') : 'any records'}`;

function printDelegation(ctx: Context, body: DelegationAnswer, headline: string): number {
  ctx.out.document(body);
  ctx.out.line(headline);
  const d = body.delegation;
  for (const l of fields([
    ['delegation', d.delegationId],
    ['guardian', d.guardian],
    ['basis', d.basis === 'patient' ? 'named by the patient' : `${d.basis} (recorded by ${d.appointedBy})`],
    ['scope', describeDelegation(d)],
    ['valid', `${isoDate(d.validFrom)} – ${isoDate(d.validUntil)}`],
    ['status', d.status],
    ['txId', d.revocation?.txId ?? d.txId],
  ])) ctx.out.line(l);
  return EXIT.OK;
}

function printDelegations(ctx: Context, body: { delegations: DelegationWithStatus[] }, headline: string): number {
  ctx.out.document(body);
  ctx.out.line(`${headline}: ${body.delegations.length} delegation${body.delegations.length === 1 ? '' : 's'}`);
  if (body.delegations.length > 0) {
    for (const l of table(
      ['DELEGATION', 'STATUS', 'HOSPITAL', 'GUARDIAN', 'BASIS', 'SCOPE', 'VALID'],
      body.delegations.map((d) => [d.delegationId, d.effectiveStatus, d.hospital, d.guardian, d.basis, describeDelegation(d), `${isoDate(d.validFrom)} – ${isoDate(d.validUntil)}`]),
    )) ctx.out.line(l);
  }
  return EXIT.OK;
}

/** The records office's client (API key required). */
function recordsOffice(ctx: Context, act: string): GatewayClient {
  const client = new GatewayClient(gatewaySettings(ctx.args, ctx.env));
  if (!client.settings.apiKey) throw new UsageError(`no API key: ${act} is the records officer's act (pass --api-key, set MEDPROV_API_KEY, or put "apiKey" in the config file).`);
  return client;
}

function validUntilOf(args: Parsed, now: number): number {
  if (args.values.days === undefined) throw new UsageError('say how long it lasts: --days <n>.');
  return now + intOption(args, 'days', 0, 1, 3650) * DAY_SECONDS;
}

/** The guardian's key file, unlocked, and a challenge answer for its own listing. */
async function guardianKey(ctx: Context): Promise<{ client: GatewayClient; wallet: Wallet }> {
  const client = new GatewayClient(gatewaySettings(ctx.args, ctx.env));
  const key = await readKeyFile(keyFilePath(ctx));
  return { client, wallet: await unlockKey(key, ctx.env) };
}

async function answerChallenge(client: GatewayClient, signer: { address: string; signTypedData: Wallet['signTypedData'] }, hospital: string, patientRef: string): Promise<{ authorization: string; domain: TypedDataDomain }> {
  const challenge = (await client.postOpen<ChallengeToSign>('/v1/patients/challenges', { address: signer.address })).body;
  const toSign = challengeToSign(challenge, { hospital, patientRef });
  if ('problem' in toSign) throw new CliError(EXIT.GATEWAY_ERROR, 'the gateway sent a challenge that is not a medprov PatientChallenge; nothing was signed.');
  return { authorization: patientAuthorization(toSign.message, await signer.signTypedData(toSign.domain, PATIENT_CHALLENGE_TYPES, toSign.message)), domain: toSign.domain };
}

/** The guardian's view of the patient: --hospital, --patient-ref and --delegation. */
function guardianTarget(args: Parsed): { hospital: string; patientRef: string; delegationId: string } {
  const hospital = validated(() => requireMspId('--hospital', str(args, 'hospital')));
  const patientRef = validated(() => requireSha256Hex('--patient-ref', str(args, 'patient-ref')));
  const delegationId = validated(() => requireBytes32Hex('--delegation', str(args, 'delegation')?.toLowerCase()));
  return { hospital, patientRef, delegationId };
}

const GUARDIAN_TARGET_OPTIONS = {
  hospital: { type: 'string', value: 'msp', description: "the patient's hospital (its MSP ID)" },
  'patient-ref': { type: 'string', value: 'ref', description: "the patient's patientRef at that hospital (as 'guardian delegations' shows it)" },
  delegation: { type: 'string', value: 'id', description: 'the delegation you act under (0x + 64 hex)' },
} as const;

export const guardianAppointCommand: Command = {
  name: 'guardian appoint',
  summary: 'name a guardian who may grant and revoke for you (patients; signs with your key file)',
  usage: 'guardian appoint --guardian <address> [--purpose <p>]... [--category <code>]... --days <n> --key <file> [options]',
  description: `
Signs an EIP-712 GuardianAppointment with your key and sends it (POST /v1/delegations; no API
key). --guardian is the address of the guardian's key for YOUR hospital: the guardian makes one
key per hospital ('medprov key create'), so the same guardian has unrelated addresses at two
hospitals. Limit what the guardian may grant with --purpose and --category (none: anything),
and for how long with --days. The guardian's grants may not outlive the delegation.`,
  examples: ['medprov guardian appoint --guardian 0x5B38Da6a701c568545dCfcB03FcB875f56beddC4 --purpose claims --category loinc:18842-5 --days 365 --key hospital.key.json'],
  options: { guardian: { type: 'string', value: 'address', description: "the guardian's address for your hospital" }, ...SCOPE_OPTIONS, ...DURATION_OPTIONS, ...PATIENT_OPTIONS },
  usesGateway: 'as-patient',
  positionals: { min: 0, max: 0 },
  async run(ctx) {
    const now = Math.floor(Date.now() / 1000);
    const guardian = validated(() => requireAddressHex('--guardian', str(ctx.args, 'guardian')));
    const scope = scopeOf(ctx.args);
    const validUntil = validUntilOf(ctx.args, now);
    const session = await PatientSession.open(ctx);
    const message = appointmentMessage(session.registration, { guardian, ...scope, validUntil }, now);
    const signature = await session.wallet.signTypedData(await session.domain(), GUARDIAN_APPOINTMENT_TYPES, message);
    const { body } = await session.client.postOpen<DelegationAnswer>('/v1/delegations', { message, signature });
    return printDelegation(ctx, body, body.created ? `appointed ${body.delegation.guardian}` : 'that appointment was already recorded; nothing changed');
  },
};

export const guardianRevokeCommand: Command = {
  name: 'guardian revoke',
  summary: 'end a delegation you gave (patients; signs with your key file)',
  usage: 'guardian revoke <delegationId> --key <file> [options]',
  description: `
Signs an EIP-712 GuardianRevoke and sends it (POST /v1/delegations/revocations). From its
transaction on, the guardian can neither grant nor revoke for you; grants the guardian already
made stay until you revoke them ('medprov consent revoke').`,
  examples: ['medprov guardian revoke 0x9a…c2 --key hospital.key.json'],
  options: { ...PATIENT_OPTIONS },
  usesGateway: 'as-patient',
  positionals: { min: 1, max: 1 },
  async run(ctx) {
    const delegationId = validated(() => requireBytes32Hex('the delegation id', ctx.args.positionals[0]!.toLowerCase()));
    const session = await PatientSession.open(ctx);
    const message = guardianRevokeMessage(session.registration, delegationId);
    const signature = await session.wallet.signTypedData(await session.domain(), GUARDIAN_REVOKE_TYPES, message);
    const { body } = await session.client.postOpen<DelegationAnswer>('/v1/delegations/revocations', { message, signature });
    return printDelegation(ctx, body, body.created ? `revoked ${delegationId}` : `${delegationId} was already revoked; nothing changed`);
  },
};

export const guardianListCommand: Command = {
  name: 'guardian list',
  summary: 'the guardians you named or your hospital recorded, and their status (patients)',
  usage: 'guardian list --key <file> [options]',
  description: `Lists your delegations at your hospital (GET /v1/patients/me/delegations, answering a challenge with your key).`,
  examples: ['medprov guardian list --key hospital.key.json'],
  options: { ...PATIENT_OPTIONS },
  usesGateway: 'as-patient',
  positionals: { min: 0, max: 0 },
  async run(ctx) {
    const session = await PatientSession.open(ctx);
    const body = await session.listing<{ hospital: string; patientRef: string; delegations: DelegationWithStatus[] }>('/v1/patients/me/delegations');
    return printDelegations(ctx, body, `${body.hospital} patient ${session.wallet.address}`);
  },
};

export const guardianRecordCommand: Command = {
  name: 'guardian record',
  summary: "record a guardian on a legal basis: minor, incapacity, court-order (records officers)",
  usage: `guardian record --patient-id <id> --guardian <address> --basis <${LEGAL_BASES.join('|')}> [--purpose <p>]... [--category <code>]... --days <n> [options]`,
  description: `
For a patient who cannot sign (a child, an incapacitated adult) the hospital names the guardian
itself, with the legal basis code (POST /v1/delegations/legal-basis). The patient needs no key.
Only this hospital can end it ('medprov guardian end').`,
  examples: ['medprov guardian record --patient-id MRN-2002 --guardian 0x5B38…dC4 --basis minor --days 365'],
  options: {
    ...PATIENT_ID_OPTION,
    guardian: { type: 'string', value: 'address', description: "the guardian's address for this hospital" },
    basis: { type: 'string', value: 'code', description: LEGAL_BASES.join(', ') },
    ...SCOPE_OPTIONS,
    ...DURATION_OPTIONS,
  },
  usesGateway: true,
  positionals: { min: 0, max: 0 },
  async run(ctx) {
    const now = Math.floor(Date.now() / 1000);
    const patientId = str(ctx.args, 'patient-id');
    if (!patientId) throw new UsageError("--patient-id is required: the hospital's id of the patient.");
    const guardian = validated(() => requireAddressHex('--guardian', str(ctx.args, 'guardian')));
    const basis = validated(() => requireOneOf('--basis', str(ctx.args, 'basis'), LEGAL_BASES));
    const scope = scopeOf(ctx.args);
    const validUntil = validUntilOf(ctx.args, now);
    const client = recordsOffice(ctx, 'recording a guardian');
    const { body } = await client.post<DelegationAnswer>('/v1/delegations/legal-basis', { patientId, guardian, basis, ...scope, validUntil });
    return printDelegation(ctx, body, body.created ? `recorded guardian ${guardian} (${basis})` : 'already recorded; nothing changed');
  },
};

export const guardianEndCommand: Command = {
  name: 'guardian end',
  summary: 'end a delegation this hospital recorded on a legal basis (records officers)',
  usage: 'guardian end <delegationId> --patient-id <id> [options]',
  description: 'POST /v1/delegations/legal-basis/revocations. A delegation the patient signed can only be ended by the patient.',
  examples: ['medprov guardian end 0x9a…c2 --patient-id MRN-2002'],
  options: { ...PATIENT_ID_OPTION },
  usesGateway: true,
  positionals: { min: 1, max: 1 },
  async run(ctx) {
    const delegationId = validated(() => requireBytes32Hex('the delegation id', ctx.args.positionals[0]!.toLowerCase()));
    const patientId = str(ctx.args, 'patient-id');
    if (!patientId) throw new UsageError("--patient-id is required: the hospital's id of the patient.");
    const { body } = await recordsOffice(ctx, 'ending a guardian').post<DelegationAnswer>('/v1/delegations/legal-basis/revocations', { patientId, delegationId });
    return printDelegation(ctx, body, body.created ? `ended ${delegationId}` : `${delegationId} was already ended; nothing changed`);
  },
};

export const guardianDelegationsCommand: Command = {
  name: 'guardian delegations',
  summary: 'the delegations naming your guardian key (guardians; your key file for that hospital)',
  usage: 'guardian delegations --key <file> --hospital <msp> [options]',
  description: `GET /v1/guardians/me/delegations, answering a challenge with the guardian's key. Shows the patientRef and delegation id that 'guardian grant' takes.`,
  examples: ['medprov guardian delegations --key guardian-hospital.key.json --hospital HospitalMSP'],
  options: { ...KEY_OPTION, hospital: GUARDIAN_TARGET_OPTIONS.hospital },
  usesGateway: 'as-patient',
  positionals: { min: 0, max: 0 },
  async run(ctx) {
    const hospital = validated(() => requireMspId('--hospital', str(ctx.args, 'hospital')));
    const { client, wallet } = await guardianKey(ctx);
    const { authorization } = await answerChallenge(client, wallet, hospital, UNKNOWN_PATIENT_REF);
    const body = (await client.request<{ guardian: string; delegations: DelegationWithStatus[] }>('GET', '/v1/guardians/me/delegations', undefined, { auth: false, headers: { authorization } })).body;
    if (ctx.out.json) return printDelegations(ctx, body, `guardian ${body.guardian}`);
    printDelegations(ctx, body, `guardian ${body.guardian}`);
    for (const d of body.delegations) ctx.out.line(`  ${d.delegationId}: patientRef ${d.patientRef}`);
    return EXIT.OK;
  },
};

export const guardianGrantCommand: Command = {
  name: 'guardian grant',
  summary: "grant for the patient under a delegation (guardians; signs with the guardian's key file)",
  usage: 'guardian grant --delegation <id> --hospital <msp> --patient-ref <ref> --to <MSP> --purpose <p> (--category <c> | --record <id>)... --days <n> --key <file> [options]',
  description: `
Signs an EIP-712 ConsentGrant with the guardian's key and sends it with the delegation id
(POST /v1/guardians/consents). The chaincode checks that the delegation is in force, that the
grant is within its purposes, categories and end, and that you are its guardian; the stored
grant says a guardian made it.`,
  examples: ['medprov guardian grant --delegation 0x9a…c2 --hospital HospitalMSP --patient-ref 3f…9a --to InsurerMSP --purpose claims --category loinc:18842-5 --days 30 --key guardian-hospital.key.json'],
  options: {
    ...GUARDIAN_TARGET_OPTIONS,
    ...GRANT_CHOICE_OPTIONS,
    ...KEY_OPTION,
  },
  usesGateway: 'as-patient',
  positionals: { min: 0, max: 0 },
  async run(ctx) {
    const now = Math.floor(Date.now() / 1000);
    const target = guardianTarget(ctx.args);
    const choice = grantChoice(ctx.args, now);
    const { client, wallet } = await guardianKey(ctx);
    const { domain } = await answerChallenge(client, wallet, target.hospital, target.patientRef);
    const message = grantMessage(target, choice, now);
    const signature = await wallet.signTypedData(domain, CONSENT_GRANT_TYPES, message);
    const { body } = await client.postOpen<{ grant: ConsentGrant; created: boolean }>('/v1/guardians/consents', { message, signature, delegationId: target.delegationId });
    ctx.out.document(body);
    ctx.out.line(`granted ${TypedDataEncoder.hash(domain, CONSENT_GRANT_TYPES, message)} as guardian`);
    for (const l of fields([
      ['to', body.grant.grantee],
      ['purpose', body.grant.purpose],
      ['records', describeScope(body.grant)],
      ['delegation', body.grant.delegationId],
    ])) ctx.out.line(l);
    return EXIT.OK;
  },
};

export const guardianRevokeGrantCommand: Command = {
  name: 'guardian revoke-grant',
  summary: "revoke one of the patient's grants under a delegation (guardians)",
  usage: 'guardian revoke-grant <grantId> --delegation <id> --hospital <msp> --patient-ref <ref> --key <file> [options]',
  description: 'Signs an EIP-712 ConsentRevoke with the guardian\'s key (POST /v1/guardians/consents/revocations).',
  examples: ['medprov guardian revoke-grant 0x3f…e1 --delegation 0x9a…c2 --hospital HospitalMSP --patient-ref 3f…9a --key guardian-hospital.key.json'],
  options: { ...GUARDIAN_TARGET_OPTIONS, ...KEY_OPTION },
  usesGateway: 'as-patient',
  positionals: { min: 1, max: 1 },
  async run(ctx) {
    const grantId = validated(() => requireBytes32Hex('the grant id', ctx.args.positionals[0]!.toLowerCase()));
    const target = guardianTarget(ctx.args);
    const { client, wallet } = await guardianKey(ctx);
    const { domain } = await answerChallenge(client, wallet, target.hospital, target.patientRef);
    const message = revokeMessage(target, grantId);
    const signature = await wallet.signTypedData(domain, CONSENT_REVOKE_TYPES, message);
    const { body } = await client.postOpen<{ grant: ConsentGrant; created: boolean }>('/v1/guardians/consents/revocations', { message, signature, delegationId: target.delegationId });
    ctx.out.document(body);
    ctx.out.line(body.created ? `revoked ${grantId} as guardian` : `${grantId} was already revoked; nothing changed`);
    return EXIT.OK;
  },
};

export const patientOverviewCommand: Command = {
  name: 'patient overview',
  summary: 'everything about you at every hospital, from your recovery phrase (patients)',
  usage: `patient overview --phrase-file <file> [options]`,
  description: `
Derives your key for each hospital of the consortium (GET /v1/organisations) from your 12-word
recovery phrase (the file --phrase-file, or ${PHRASE_ENV}), and lists, per hospital, your
records, grants (a guardian's marked), delegations and access-log entries, through read routes
only: nothing is written. The gateway you use sees this session ask about each of your
per-hospital addresses in turn; the ledger gains nothing that links them.`,
  examples: ['medprov patient overview --phrase-file ~/medprov/phrase.txt', `${PHRASE_ENV}="…12 words…" medprov patient overview --json`],
  options: { 'phrase-file': { type: 'string', value: 'file', description: `a file holding your 12-word recovery phrase (or ${PHRASE_ENV})` } },
  usesGateway: 'as-patient',
  positionals: { min: 0, max: 0 },
  async run(ctx) {
    const file = str(ctx.args, 'phrase-file');
    const raw = file !== undefined ? await readFile(file, 'utf8').catch(() => undefined) : ctx.env[PHRASE_ENV];
    if (raw === undefined) throw new UsageError(`give your recovery phrase: --phrase-file <file> or ${PHRASE_ENV}.`);
    let mnemonic: Mnemonic;
    try {
      mnemonic = Mnemonic.fromPhrase(raw.trim().toLowerCase().split(/\s+/).join(' '));
    } catch {
      throw new UsageError('that is not a valid 12-word recovery phrase.');
    }
    const client = new GatewayClient(gatewaySettings(ctx.args, ctx.env));
    const orgs = (await client.getOpen<{ organisations: { mspId: string; type: string }[] }>('/v1/organisations')).body.organisations;
    const hospitals = orgs.filter((o) => o.type === 'hospital').map((o) => o.mspId);
    const view = await patientOverview(
      async (method, path, body, headers) => {
        try {
          const answer = await client.request<unknown>(method, path, body, { auth: false, ...(headers ? { headers } : {}) });
          return { status: answer.status, body: answer.body };
        } catch (err) {
          // Not registered at this hospital: a row of the view, not a failure.
          if (err instanceof CliError && err.code === 'PATIENT_NOT_REGISTERED') return { status: 404, body: {} };
          throw err;
        }
      },
      hospitals,
      (hospital) => HDNodeWallet.fromMnemonic(mnemonic, hospitalKeyPath(hospital)),
    );
    ctx.out.document({ hospitals: view });
    for (const h of view) printHospital(ctx, h);
    return EXIT.OK;
  },
};

function printHospital(ctx: Context, h: HospitalOverview): void {
  if (!h.registered) {
    ctx.out.line(`${h.hospital}: not registered (key ${h.address})`);
    return;
  }
  const count = (list: unknown[] | undefined, what: string) => `${list?.length ?? 0} ${what}`;
  ctx.out.line(`${h.hospital}: patientRef ${h.patientRef} — ${count(h.records, 'records')}, ${count(h.grants, 'grants')}, ${count(h.delegations, 'delegations')}, ${count(h.accessLog, 'access-log entries')}`);
  for (const g of (h.grants ?? []) as (ConsentGrant & { effectiveStatus?: string })[]) {
    ctx.out.line(`  grant ${g.grantId} ${g.effectiveStatus ?? g.status} to ${g.grantee} for ${g.purpose}${g.signedBy === 'guardian' ? ' (made by a guardian)' : ''}`);
  }
  for (const d of (h.delegations ?? []) as DelegationWithStatus[]) ctx.out.line(`  guardian ${d.guardian} ${d.effectiveStatus} (${d.basis})`);
}

export const GUARDIAN_COMMANDS: readonly Command[] = [
  guardianAppointCommand,
  guardianRevokeCommand,
  guardianListCommand,
  guardianRecordCommand,
  guardianEndCommand,
  guardianDelegationsCommand,
  guardianGrantCommand,
  guardianRevokeGrantCommand,
  patientOverviewCommand,
];

