/**
 * The patient's one view: with one recovery phrase, everything about the patient at every
 * hospital of the consortium — records, grants, delegations (guardians) and access-log entries
 * — grouped by hospital, through read routes only. Shared by the Patient page and the `medprov`
 * CLI; like patient-client.ts it imports nothing from Node or Fabric, so the browser bundles it.
 *
 * How: for each hospital the caller derives the key for that hospital (hospitalKeyPath), answers
 * a challenge with it and asks GET /v1/patients/me/registration which patientRef the key is bound
 * to (404: not registered there); then lists with challenges naming that binding. Nothing is
 * written, and nothing joining two hospitals' pseudonyms goes to the ledger: each binding is
 * proven with its own key. The serving gateway does see one session ask for every one of these
 * addresses in turn (see README, "Guardians and the one patient view").
 */
import type { TypedDataDomain, TypedDataField } from 'ethers';
import { PATIENT_CHALLENGE_TYPES } from './typed-data';
import { challengeToSign, patientAuthorization, UNKNOWN_PATIENT_REF, type ChallengeToSign } from './patient-client';

/** A key that can sign typed data (an ethers Wallet / HDNodeWallet). */
export interface OverviewSigner {
  readonly address: string;
  signTypedData(domain: TypedDataDomain, types: Record<string, TypedDataField[]>, message: Record<string, unknown>): Promise<string>;
}

/** One HTTP call to the serving gateway: status and parsed JSON body. */
export type OverviewRequest = (method: 'GET' | 'POST', path: string, body?: unknown, headers?: Record<string, string>) => Promise<{ status: number; body: unknown }>;

/** What the one view found at one hospital. */
export interface HospitalOverview {
  hospital: string;
  /** The address of the patient's key for this hospital. */
  address: string;
  registered: boolean;
  patientRef?: string;
  records?: unknown[];
  grants?: unknown[];
  delegations?: unknown[];
  accessLog?: unknown[];
}

/** A refusal of the serving gateway while building the view. */
export class OverviewError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function authorised(request: OverviewRequest, signer: OverviewSigner, hospital: string, patientRef: string): Promise<string> {
  const challenge = await request('POST', '/v1/patients/challenges', { address: signer.address });
  if (challenge.status !== 201) throw refusal(challenge);
  const toSign = challengeToSign(challenge.body as ChallengeToSign, { hospital, patientRef });
  if ('problem' in toSign) throw new OverviewError(0, 'CHALLENGE_NOT_SIGNABLE', `the gateway's challenge cannot be signed: ${toSign.problem}`);
  const signature = await signer.signTypedData(toSign.domain, PATIENT_CHALLENGE_TYPES, toSign.message as unknown as Record<string, unknown>);
  return patientAuthorization(toSign.message, signature);
}

function refusal(answer: { status: number; body: unknown }): OverviewError {
  const error = (answer.body as { error?: { code?: string; message?: string } } | undefined)?.error;
  return new OverviewError(answer.status, error?.code ?? `HTTP_${answer.status}`, error?.message ?? `HTTP ${answer.status}`);
}

async function listing<T>(request: OverviewRequest, signer: OverviewSigner, hospital: string, patientRef: string, path: string, field: string): Promise<T[]> {
  const answer = await request('GET', path, undefined, { authorization: await authorised(request, signer, hospital, patientRef) });
  if (answer.status !== 200) throw refusal(answer);
  return ((answer.body as Record<string, unknown>)[field] ?? []) as T[];
}

/**
 * The one view over `hospitals` (MSP IDs, e.g. the hospitals of GET /v1/organisations), in
 * their order, with `keyFor(hospital)` the patient's key for each. A hospital where the key is
 * not registered comes back `registered: false`; any other refusal throws.
 */
export async function patientOverview(request: OverviewRequest, hospitals: readonly string[], keyFor: (hospital: string) => OverviewSigner): Promise<HospitalOverview[]> {
  const out: HospitalOverview[] = [];
  for (const hospital of hospitals) {
    const signer = keyFor(hospital);
    const reg = await request('GET', '/v1/patients/me/registration', undefined, { authorization: await authorised(request, signer, hospital, UNKNOWN_PATIENT_REF) });
    if (reg.status === 404) {
      out.push({ hospital, address: signer.address, registered: false });
      continue;
    }
    if (reg.status !== 200) throw refusal(reg);
    const binding = reg.body as { hospital: string; patientRef: string };
    // The key's binding is at the hospital it was derived for, or the phrase is not this patient's layout.
    if (binding.hospital !== hospital) throw new OverviewError(0, 'KEY_OF_ANOTHER_HOSPITAL', `the key derived for ${hospital} is bound at ${binding.hospital}.`);
    const { patientRef } = binding;
    out.push({
      hospital,
      address: signer.address,
      registered: true,
      patientRef,
      records: await listing(request, signer, hospital, patientRef, '/v1/patients/me/records', 'records'),
      grants: await listing(request, signer, hospital, patientRef, '/v1/patients/me/grants', 'grants'),
      delegations: await listing(request, signer, hospital, patientRef, '/v1/patients/me/delegations', 'delegations'),
      accessLog: await listing(request, signer, hospital, patientRef, '/v1/patients/me/access-log', 'entries'),
    });
  }
  return out;
}
