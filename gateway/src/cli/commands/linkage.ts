import { readFile, writeFile } from 'node:fs/promises';
import type { CohortEntry, ContributionSummary } from '../../linkage/hospital';
import type { LinkageRelease } from '../../linkage/institution';
import type { LinkageRequestState } from '../../linkage/ledger';
import { intOption, str, type Command } from '../command';
import { gatewaySettings } from '../config';
import { GatewayClient, segment } from '../client';
import { EXIT, UsageError } from '../errors';
import { fields, table } from '../output';

const list = (value: string | undefined, option: string): string[] => {
  const items = (value ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new UsageError(`--${option} is required: a comma-separated list.`);
  return items;
};

/** `medprov linkage request --project P --hospitals H1,H2 --quasi ageBand,sex --k 5`: a sponsor's linkage request. */
export const linkageRequestCommand: Command = {
  name: 'linkage request',
  summary: "request a consented research linkage across hospitals (sponsors' research officers)",
  usage: 'linkage request --project <projectId> --hospitals <msp,msp,…> --quasi <field,field,…> [--k <n>] [--id <requestId>] [--institution <msp>] [--gateway <url>] [--api-key <key>] [--json]',
  description: `
Writes a linkage request on the ledger (POST /v1/linkage/requests, Linkage:requestLinkage): the
project (purpose research:<projectId>), the hospitals asked to contribute (at least two), the
quasi-identifiers the release's k-anonymity check runs on and k (default 5). Each hospital then
includes only patients whose research consent for the project to your organisation is in force;
the linkage institution links them and keeps the release for you ('medprov linkage release').`,
  examples: ['medprov linkage request --project trial-42 --hospitals HospitalMSP,Hospital2MSP --quasi ageBand,sex,region --k 5'],
  options: {
    project: { type: 'string', value: 'projectId', description: 'the research project (letters, digits, . _ -)' },
    hospitals: { type: 'string', value: 'msp,msp,…', description: 'MSP IDs of the hospitals asked to contribute' },
    quasi: { type: 'string', value: 'field,…', description: 'the quasi-identifiers of the release check' },
    k: { type: 'string', value: 'n', description: "the release's minimum class size (default 5)" },
    id: { type: 'string', value: 'requestId', description: 'the request id (default: the gateway makes LR-<uuid>)' },
    institution: { type: 'string', value: 'msp', description: 'the linkage institution (default: the one your gateway has a key of)' },
  },
  usesGateway: true,
  positionals: { min: 0, max: 0 },
  async run({ args, out, env }) {
    const projectId = str(args, 'project');
    if (projectId === undefined) throw new UsageError('--project <projectId> is required.');
    const body = {
      projectId,
      hospitals: list(str(args, 'hospitals'), 'hospitals'),
      quasiIdentifiers: list(str(args, 'quasi'), 'quasi'),
      k: intOption(args, 'k', 5, 2, 1000),
      ...(str(args, 'id') !== undefined ? { requestId: str(args, 'id') } : {}),
      ...(str(args, 'institution') !== undefined ? { institution: str(args, 'institution') } : {}),
    };
    const client = new GatewayClient(gatewaySettings(args, env));
    const { body: answer } = await client.request<{ request: LinkageRequestState; transactionId: string }>('POST', '/v1/linkage/requests', body);
    out.document(answer);
    out.line(`requested ${answer.request.requestId} (${answer.request.purpose}) from ${answer.request.hospitals.join(', ')}, linked by ${answer.request.institution}, k = ${answer.request.k}`);
    out.line(`transaction ${answer.transactionId}`);
    return EXIT.OK;
  },
};

/** `medprov linkage contribute <requestId> <cohort.json>`: a hospital's cohort. */
export const linkageContributeCommand: Command = {
  name: 'linkage contribute',
  summary: "contribute the hospital's cohort to a linkage request (hospitals' research officers)",
  usage: 'linkage contribute <requestId> <cohort.json> [--gateway <url>] [--api-key <key>] [--json]',
  description: `
Sends the cohort in <cohort.json> (a JSON list of { patientId, linkageId, quasiIdentifiers, data })
to your hospital's gateway (POST /v1/linkage/requests/<requestId>/contributions). The ledger keeps
the patients whose research consent for the project is in force and logs every candidate in the
patient's access log; the gateway turns the included patients' linkage identifiers into tokens
with the linkage institution (an oblivious PRF: the institution never sees them) and sends the
institution tokens, quasi-identifiers and data only. Once per hospital per request. Prints who
was included and who was excluded, and why.`,
  examples: ['medprov linkage contribute LR-2f0c… cohort.json'],
  options: {},
  usesGateway: true,
  positionals: { min: 2, max: 2 },
  async run({ args, out, env }) {
    const [requestId, file] = args.positionals as [string, string];
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(file, 'utf8'));
    } catch (err) {
      throw new UsageError(`${file}: not a readable JSON file (${(err as Error).message}).`);
    }
    const cohort = (Array.isArray(parsed) ? parsed : (parsed as { cohort?: unknown })?.cohort) as CohortEntry[] | undefined;
    if (!Array.isArray(cohort)) throw new UsageError(`${file} must hold a JSON list of { patientId, linkageId, quasiIdentifiers, data } (or { "cohort": [...] }).`);
    const client = new GatewayClient(gatewaySettings(args, env));
    const { body } = await client.request<ContributionSummary>('POST', `/v1/linkage/requests/${segment(requestId)}/contributions`, { cohort });
    out.document(body);
    out.line(`${body.requestId} (research:${body.projectId}): ${body.included} of ${body.candidates} included; transaction ${body.ledgerTransactionId}`);
    if (body.excluded.length > 0) for (const line of table(['EXCLUDED', 'REASON'], body.excluded.map((e) => [e.patientId, e.reason]))) out.line(line);
    out.line(body.institution.waitingFor.length > 0 ? `the institution waits for ${body.institution.waitingFor.join(', ')}` : 'every hospital has contributed: linked');
    return EXIT.OK;
  },
};

/** `medprov linkage status [<requestId>] [--project P]`: requests as the ledger holds them. */
export const linkageStatusCommand: Command = {
  name: 'linkage status',
  summary: 'a linkage request as the ledger holds it, or the requests of a project',
  usage: 'linkage status [<requestId>] [--project <projectId>] [--gateway <url>] [--api-key <key>] [--json]',
  description: `
With <requestId>: its status (open, released, refused), each hospital's candidates and included
patients, and what the institution recorded (counts, the hashes of each hospital's token set and
of the release). Without: every request, of one project with --project. Counts and hashes only.`,
  examples: ['medprov linkage status LR-2f0c…', 'medprov linkage status --project trial-42'],
  options: { project: { type: 'string', value: 'projectId', description: 'only the requests of this project' } },
  usesGateway: true,
  positionals: { min: 0, max: 1 },
  async run({ args, out, env }) {
    const client = new GatewayClient(gatewaySettings(args, env));
    const [requestId] = args.positionals;
    if (requestId !== undefined) {
      const { body } = await client.get<LinkageRequestState>(`/v1/linkage/requests/${segment(requestId)}`);
      out.document(body);
      for (const line of fields([
        ['request', `${body.requestId} (${body.purpose}) by ${body.sponsor}`],
        ['status', body.status],
        ['institution', body.institution],
        ['k', `${body.k} on ${body.quasiIdentifiers.join(', ')}`],
        ['awaiting', body.awaiting.join(', ') || '-'],
        ...(body.result ? ([['linked', `${body.result.linkedSubjects} at every hospital; release ${body.result.releaseHash}`]] as [string, string][]) : []),
      ])) out.line(line);
      const rows = body.hospitals.map((h) => [h, String(body.contributions[h]?.candidates ?? '-'), String(body.contributions[h]?.included ?? '-'), body.result?.perHospital[h]?.tokenSetHash ?? '']);
      for (const line of table(['HOSPITAL', 'CANDIDATES', 'INCLUDED', 'TOKEN SET (SHA-256)'], rows)) out.line(line);
      return EXIT.OK;
    }
    const project = str(args, 'project');
    const { body } = await client.get<{ linkages: LinkageRequestState[] }>(`/v1/linkage/requests${project ? `?${new URLSearchParams({ projectId: project })}` : ''}`);
    out.document(body);
    for (const line of table(['REQUEST', 'PROJECT', 'STATUS', 'HOSPITALS', 'REQUESTED'], body.linkages.map((l) => [l.requestId, l.projectId, l.status, l.hospitals.join(','), l.requestedAt]))) out.line(line);
    return EXIT.OK;
  },
};

/** `medprov linkage release <requestId> [--out file]`: the sponsor's linked, pseudonymous release. */
export const linkageReleaseCommand: Command = {
  name: 'linkage release',
  summary: "fetch the linked, pseudonymous release of a linkage request (sponsors' research officers)",
  usage: 'linkage release <requestId> [--out <file>] [--gateway <url>] [--api-key <key>] [--json]',
  description: `
Fetches the release (GET /v1/linkage/requests/<requestId>/release): one entry per consenting
patient, under a pseudonym of this request only, with the quasi-identifiers and each hospital's
data; no token, no hospital pseudonym, no identifier. Your gateway checks it against the hash the
institution recorded on the ledger and keeps it. A release that failed the k-anonymity check is
refused (exit 4, LINKAGE_RELEASE_REFUSED) with the report. --out writes the release to a file.`,
  examples: ['medprov linkage release LR-2f0c… --out release.json'],
  options: { out: { type: 'string', value: 'file', description: 'write the release (JSON) to this file' } },
  usesGateway: true,
  positionals: { min: 1, max: 1 },
  async run({ args, out, env }) {
    const [requestId] = args.positionals as [string];
    const client = new GatewayClient(gatewaySettings(args, env));
    const { body } = await client.get<LinkageRelease>(`/v1/linkage/requests/${segment(requestId)}/release`);
    const file = str(args, 'out');
    if (file !== undefined) await writeFile(file, JSON.stringify(body, null, 2), { mode: 0o600 });
    out.document(body);
    out.line(`${body.requestId} (${body.purpose}): ${body.subjects} patients, ${body.linkedAcrossHospitals} linked across hospitals; release ${body.releaseHash}`);
    for (const line of table(['HOSPITAL', 'PATIENTS'], Object.entries(body.perHospital).map(([h, n]) => [h, String(n)]))) out.line(line);
    if (file !== undefined) out.line(`written to ${file}`);
    return EXIT.OK;
  },
};

export const LINKAGE_COMMANDS: readonly Command[] = [linkageRequestCommand, linkageContributeCommand, linkageStatusCommand, linkageReleaseCommand];
