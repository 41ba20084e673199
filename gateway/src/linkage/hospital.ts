/**
 * A hospital's part in a linkage: its research office sends the cohort; the gateway turns each
 * patient id into the hospital's patientRef, has the ledger check each patient's research
 * consent for the project (logged in every candidate's access log), blinds the linkage
 * identifiers of the included patients, has the institution evaluate them, unblinds and keys
 * them with K_H(p) into tokens, and sends the institution only tokens, quasi-identifiers and
 * data, in random order. Nothing of the cohort is stored here.
 *
 * @module
 */
import { randomInt } from 'node:crypto';
import { ApiError } from '../errors';
import { findDirectIdentifiers, isPrivacyError } from '../privacy';
import type { ContributionEntry } from './institution';
import type { InstitutionPort } from './institution-client';
import type { LinkageLedgerPort } from './ledger';
import { blindInput, finalizeOutput } from './oprf';
import { checkRequestId } from './store';
import { hospitalProjectKey, linkageInput, linkageToken } from './tokens';

/** One cohort candidate as the research office gives it. The linkage identifier is never stored. */
export interface CohortEntry {
  patientId: string;
  linkageId: string;
  quasiIdentifiers: Record<string, string | number | boolean | null>;
  data: unknown;
}

/** What the research office is told: the ledger's decisions on its own patients, and what the institution got. */
export interface ContributionSummary {
  requestId: string;
  projectId: string;
  candidates: number;
  included: number;
  excluded: { patientId: string; patientRef: string; reason: string }[];
  ledgerTransactionId: string;
  institution: { received: number; waitingFor: string[]; linked?: unknown };
}

export interface HospitalLinkageOptions {
  mspId: string;
  /** The hospitals' shared linkage secret (32 bytes). */
  hospitalSecret: Uint8Array;
  ledger: LinkageLedgerPort;
  institution: InstitutionPort;
  /** The hospital's patientRef of a patient id (its HMAC pseudonym); throws PATIENT_NOT_REGISTERED for an unknown one. */
  patientRef(patientId: string): string;
}

const MAX_COHORT = 10_000;

export class HospitalLinkageService {
  constructor(private readonly options: HospitalLinkageOptions) {}

  /**
   * @throws ApiError LINKAGE_NOT_FOUND, LINKAGE_NOT_PARTY, LINKAGE_CLOSED, LINKAGE_INVALID_COHORT,
   *   LINKAGE_DIRECT_IDENTIFIER, PATIENT_NOT_REGISTERED, the ledger's and the institution's refusals
   */
  async contribute(requestId: string, cohort: readonly CohortEntry[]): Promise<ContributionSummary> {
    checkRequestId(requestId);
    const { mspId } = this.options;
    const request = await this.options.ledger.readLinkage(requestId);
    if (!request) throw new ApiError(404, 'LINKAGE_NOT_FOUND', `No linkage request ${requestId} is on the ledger.`);
    if (!request.hospitals.includes(mspId)) throw new ApiError(403, 'LINKAGE_NOT_PARTY', `${mspId} is not a hospital of linkage request ${requestId}.`);
    if (request.status !== 'open') throw new ApiError(409, 'LINKAGE_CLOSED', `Linkage request ${requestId} is ${request.status}; it takes no more contributions.`);
    checkCohort(cohort, request.quasiIdentifiers);

    const byRef = new Map<string, CohortEntry>();
    for (const entry of cohort) {
      let ref: string;
      try {
        ref = this.options.patientRef(entry.patientId);
      } catch (err) {
        if (isPrivacyError(err)) throw new ApiError(err.code === 'PATIENT_NOT_REGISTERED' ? 404 : 400, err.code, `A cohort patient: ${err.message.replace(/^[A-Z_]+: /, '')}`);
        throw err;
      }
      if (byRef.has(ref)) throw new ApiError(400, 'LINKAGE_INVALID_COHORT', 'A patient appears twice in the cohort: one entry per patient.');
      byRef.set(ref, entry);
    }
    // The ledger decides on each candidate's consent and logs it in the patient's access log.
    const decided = await this.options.ledger.contribute(requestId, [...byRef.keys()]);
    const included = decided.included.map((ref) => {
      const entry = byRef.get(ref);
      if (!entry) throw new ApiError(502, 'LINKAGE_LEDGER_MISMATCH', 'The ledger included a patient the cohort did not name.');
      return entry;
    });
    const excluded = decided.excluded.map((e) => ({ patientId: byRef.get(e.patientRef)?.patientId ?? '', patientRef: e.patientRef, reason: e.reason }));

    // Sent even when empty: the institution links once every listed hospital has answered.
    const entries = await this.tokens(requestId, request.projectId, included);
    const institution = await this.options.institution.contribute(requestId, entries);
    return { requestId, projectId: request.projectId, candidates: cohort.length, included: included.length, excluded, ledgerTransactionId: decided.transactionId, institution };
  }

  /** Blind → institution evaluates → unblind, finalise → HMAC with K_H(p); shuffled, so order says nothing. */
  private async tokens(requestId: string, projectId: string, included: readonly CohortEntry[]): Promise<ContributionEntry[]> {
    if (included.length === 0) return [];
    const inputs = included.map((e) => linkageInput(e.linkageId));
    const blinded = inputs.map((input) => blindInput(input));
    const evaluated = await this.options.institution.evaluate(requestId, blinded.map((b) => b.blinded));
    const key = hospitalProjectKey(this.options.hospitalSecret, projectId);
    const entries = included.map((e, i) => ({ token: linkageToken(key, finalizeOutput(inputs[i], blinded[i].blind, evaluated[i])), quasiIdentifiers: e.quasiIdentifiers, data: e.data }));
    for (let i = entries.length - 1; i > 0; i--) {
      const j = randomInt(i + 1);
      [entries[i], entries[j]] = [entries[j], entries[i]];
    }
    return entries;
  }
}

function checkCohort(cohort: readonly CohortEntry[], quasiIdentifiers: readonly string[]): void {
  if (!Array.isArray(cohort) || cohort.length === 0 || cohort.length > MAX_COHORT) {
    throw new ApiError(400, 'LINKAGE_INVALID_COHORT', `Send the cohort as 1 to ${MAX_COHORT} entries { patientId, linkageId, quasiIdentifiers, data }.`);
  }
  for (const entry of cohort) {
    if (typeof entry?.patientId !== 'string' || typeof entry.linkageId !== 'string' || typeof entry.quasiIdentifiers !== 'object' || entry.quasiIdentifiers === null) {
      throw new ApiError(400, 'LINKAGE_INVALID_COHORT', 'Every cohort entry has patientId and linkageId (strings) and quasiIdentifiers (an object).');
    }
    const keys = Object.keys(entry.quasiIdentifiers);
    if (keys.length !== quasiIdentifiers.length || !quasiIdentifiers.every((q) => keys.includes(q))) {
      throw new ApiError(400, 'LINKAGE_INVALID_COHORT', `Every cohort entry carries exactly the request's quasi-identifiers (${quasiIdentifiers.join(', ')}).`);
    }
    // What leaves for the institution must not carry a direct identifier (the linkage id goes only as a token).
    const outgoing = JSON.stringify({ q: entry.quasiIdentifiers, d: entry.data ?? null });
    if (findDirectIdentifiers(outgoing).length > 0 || outgoing.includes(entry.linkageId.trim()) || outgoing.includes(entry.patientId)) {
      throw new ApiError(400, 'LINKAGE_DIRECT_IDENTIFIER', 'A cohort entry\'s quasi-identifiers or data contain what looks like a direct identifier (or the patient\'s own ids); remove it: only the linkage token identifies a patient to the institution.');
    }
  }
}
