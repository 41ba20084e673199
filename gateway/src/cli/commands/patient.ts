import { writeFile } from 'node:fs/promises';
import { getAddress } from 'ethers';
import { REGISTER_PATIENT_TYPES, type RegisterPatientMessage } from '../../../../chaincode/src/lib/eip712';
import type { PatientBinding } from '../../../../chaincode/src/lib/consent-model';
import { consentDomainOf, sameTypes } from '../../consent/patient-client';
import { qrCodeSvg, qrCodeText } from '../../consent/qr-code';
import type { RegistrationLink } from '../../consent/registration-links';
import type { RegistrationRequest } from '../../consent/service';
import { str, type Command, type Context } from '../command';
import { gatewaySettings } from '../config';
import { GatewayClient } from '../client';
import { CliError, EXIT, UsageError } from '../errors';
import { fields } from '../output';
import { KEY_OPTION, keyFilePath, readKeyFile, saveRegistration, unlockKey } from '../patient';

const PATIENT_ID_OPTION = { 'patient-id': { type: 'string', value: 'id', description: "the hospital's patient id (never leaves the gateway)" } } as const;

/** The patient id and a client with the records officer's API key; `act` names what needs it, for the usage error. */
function recordsOfficer(ctx: Context, act: string): { patientId: string; client: GatewayClient } {
  const patientId = str(ctx.args, 'patient-id');
  if (!patientId) throw new UsageError("--patient-id is required: the hospital's id of the patient.");
  const client = new GatewayClient(gatewaySettings(ctx.args, ctx.env));
  if (!client.settings.apiKey) throw new UsageError(`no API key: ${act} is the records officer's act (pass --api-key, set MEDPROV_API_KEY, or put "apiKey" in the config file).`);
  return { patientId, client };
}

/**
 * `medprov patient register`: the hospital binds a patient's key to the patient's patientRef,
 * at the desk: the records officer's API key asks for the registration request, the patient's
 * key file signs it (the patient types the password), the officer's key submits it.
 */
export const patientRegisterCommand: Command = {
  name: 'patient register',
  summary: "bind a patient's key file to the patient at this hospital (records officers, with the patient)",
  usage: 'patient register --patient-id <id> --key <file> [--gateway <url>] [--api-key <key>] [--json]',
  description: `
Registers the patient's key at this hospital, the three steps of the API in one go:
  1. the records officer asks for a registration request for the hospital's patient id
     (POST /v1/patients/registration-requests; the id never leaves the gateway, the ledger
     gets the patient's patientRef);
  2. the patient's key file signs it (EIP-712 RegisterPatient; the patient gives the password);
  3. the records officer submits the signed registration (POST /v1/patients).
The registration (hospital, patientRef) is then kept in the key file, so the patient's
'consent' and 'access-log' commands need nothing else. Registering the same key again is
harmless. A key is registered at one hospital only: use one key file per hospital.`,
  examples: [
    'medprov patient register --patient-id MRN-1001 --key /media/usb/hospital.key.json',
    'MEDPROV_API_KEY=… medprov patient register --patient-id MRN-1001 --key patient.key.json --json',
  ],
  options: {
    ...PATIENT_ID_OPTION,
    ...KEY_OPTION,
  },
  usesGateway: true,
  positionals: { min: 0, max: 0 },
  async run(ctx) {
    const { out, env } = ctx;
    const { patientId, client } = recordsOfficer(ctx, 'registering');
    const key = await readKeyFile(keyFilePath(ctx));
    const wallet = await unlockKey(key, env);

    const request = (await client.post<RegistrationRequest>('/v1/patients/registration-requests', { patientId })).body;
    const domain = consentDomainOf(request.domain);
    const m = request.message as Partial<RegisterPatientMessage> | undefined;
    if (!domain || request.primaryType !== 'RegisterPatient' || !sameTypes(request.types, REGISTER_PATIENT_TYPES) || typeof m?.hospital !== 'string' || typeof m.patientRef !== 'string' || typeof m.nonce !== 'string') {
      throw new CliError(EXIT.GATEWAY_ERROR, 'the gateway sent a registration request that is not medprov RegisterPatient typed data; nothing was signed.');
    }
    const message: RegisterPatientMessage = { hospital: m.hospital, patientRef: m.patientRef, nonce: m.nonce };
    const held = key.registration;
    if (held && (held.hospital !== message.hospital || held.patientRef !== message.patientRef)) {
      throw new UsageError(`the key file ${key.file} is already registered (at ${held.hospital}, for another patientRef); use one new key file per hospital ('medprov key create').`);
    }
    const signature = await wallet.signTypedData(domain, REGISTER_PATIENT_TYPES, message);
    const { body } = await client.post<{ binding: PatientBinding; created: boolean; blockNumber: string }>('/v1/patients', { message, patient: getAddress(wallet.address), signature });
    await saveRegistration(key, { hospital: message.hospital, patientRef: message.patientRef, salt: domain.salt });
    out.document({ ...body, keyFile: key.file });
    out.line(body.created ? `registered ${body.binding.patient} at ${body.binding.hospital}` : `${body.binding.patient} was already registered at ${body.binding.hospital}; nothing changed`);
    for (const l of fields([
      ['patientRef', body.binding.patientRef],
      ['registered', body.binding.registeredAt],
      ['txId', body.binding.txId],
      ['key file', `${key.file} (now holds this registration)`],
    ])) out.line(l);
    return EXIT.OK;
  },
};

/**
 * `medprov patient link`: the hospital's one-time registration link for a patient, and its QR
 * code. The patient opens it on their phone; the Patient page shows the hospital's request,
 * the patient signs it there and the page completes the registration: nothing to copy.
 */
export const patientLinkCommand: Command = {
  name: 'patient link',
  summary: 'a one-time registration link (and its QR code) that opens the Patient page with the request filled in (records officers)',
  usage: 'patient link --patient-id <id> [--public-url <url>] [--qr <file.svg>] [--gateway <url>] [--api-key <key>] [--json]',
  description: `
Asks the gateway for a registration link for the hospital's patient id
(POST /v1/patients/registration-links) and prints it with its QR code. The patient scans the
code (or opens the link); the Patient page shows the request from this hospital, the patient
creates or loads their key and signs, and the page completes the registration. The link
registers once and expires with its request (15 minutes); it lives in the gateway's memory.
--public-url is the address patients reach this gateway at, when it is not the one this
command uses (e.g. https://consent.hanbit-hospital.example behind a proxy). --qr writes the
QR code as an SVG file (to print, or show on the desk's screen).`,
  examples: [
    'medprov patient link --patient-id MRN-1001',
    'medprov patient link --patient-id MRN-1001 --public-url https://consent.hanbit-hospital.example --qr /tmp/mrn-1001.svg',
  ],
  options: {
    ...PATIENT_ID_OPTION,
    'public-url': { type: 'string', value: 'url', description: "the gateway's address as patients reach it (default: the address this command uses)" },
    qr: { type: 'string', value: 'file.svg', description: 'also write the QR code as an SVG file' },
  },
  usesGateway: true,
  positionals: { min: 0, max: 0 },
  async run(ctx) {
    const { args, out } = ctx;
    const publicUrl = str(args, 'public-url');
    let origin: string | undefined;
    if (publicUrl !== undefined) {
      try {
        const u = new URL(publicUrl);
        if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('scheme');
        origin = u.origin + u.pathname.replace(/\/+$/, '');
      } catch {
        throw new UsageError(`--public-url must be an http(s) address, e.g. https://consent.hospital.example (got ${JSON.stringify(publicUrl)}).`);
      }
    }
    const { patientId, client } = recordsOfficer(ctx, 'making a registration link');
    const { body } = await client.post<{ link: RegistrationLink & { url: string }; request: RegistrationRequest }>('/v1/patients/registration-links', { patientId });
    const url = origin ? origin + body.link.path : new URL(body.link.path, client.settings.url).toString();
    const qrFile = str(args, 'qr');
    if (qrFile) await writeFile(qrFile, qrCodeSvg(url, 'Registration link / 등록 링크') + '\n');
    out.document({ url, path: body.link.path, expiresAt: body.link.expiresAt, hospital: body.request.message.hospital, patientRef: body.request.message.patientRef, ...(qrFile ? { qrFile } : {}) });
    out.line(qrCodeText(url));
    out.line();
    for (const l of fields([
      ['link', url],
      ['expires', body.link.expiresAt],
      ['patientRef', body.request.message.patientRef],
      ...(qrFile ? ([['QR code', qrFile]] as [string, string][]) : []),
    ])) out.line(l);
    out.line('Open it once: the patient signs in the page; the link then stops working.');
    return EXIT.OK;
  },
};
