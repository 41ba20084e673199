/**
 * Research linkage on the ledger (issue 19): what `Linkage:*` (contracts/linkage.ts) stores,
 * answers and emits, and the consent decision of a linkage. Plain types, constants and pure
 * functions only: the gateway imports this without loading the contract runtime.
 *
 * A sponsor requests a linkage of a research project across listed hospitals, naming the
 * linkage institution; each hospital contributes its cohort candidates' pseudonyms
 * (patientRefs) and the chaincode keeps only those whose research consent for the project is in
 * force, logging every candidate in the patient's access log; the institution records what it
 * linked (counts and hashes, never a token or a pseudonym). Nothing here is PHI: MSP IDs, codes,
 * counts, SHA-256 digests; the request's record holds no patientRef at all.
 */
import type { AccessLogEntry, ConsentGrant, Decision, DenyReason } from './consent-model';

/** Composite-key types (prefixed like every medprov key, see KEY_TYPES in keys.ts). */
export const LINKAGE_KEY_TYPES = {
  /** requestId → the sponsor's request (key-level policy: the sponsor). */
  request: 'medprov.linkage',
  /** requestId, hospital → that hospital's contribution: counts only (key-level policy: the hospital). */
  contribution: 'medprov.linkageContribution',
  /** requestId → what the institution recorded it linked (key-level policy: the institution). */
  result: 'medprov.linkageResult',
} as const;

/** Events (Fabric keeps one per transaction); payloads are the stored values, canonical JSON. */
export const LINKAGE_REQUESTED_EVENT = 'medprov.LinkageRequested';
export const LINKAGE_CONTRIBUTED_EVENT = 'medprov.LinkageContributed';
export const LINKAGE_RECORDED_EVENT = 'medprov.LinkageRecorded';

/** Most hospitals one request may list. */
export const MAX_LINKAGE_HOSPITALS = 16;
/** Most candidates one hospital may contribute (one transaction: a binding read, a grant scan and a log write each). */
export const MAX_LINKAGE_CANDIDATES = 500;
/** Most quasi-identifier names a request may list. */
export const MAX_QUASI_IDENTIFIERS = 16;
/** Largest k a request may ask for. */
export const MAX_LINKAGE_K = 1000;
/** Longest request id. */
export const MAX_LINKAGE_REQUEST_ID = 64;
/** A project id: what follows `research:` in a purpose (see requirePurpose in validate.ts). */
export const PROJECT_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** The purpose a linkage of `projectId` is consented and logged under. */
export function linkagePurpose(projectId: string): string {
  return `research:${projectId}`;
}

/** What the sponsor asks for (`Linkage:requestLinkage`'s argument). */
export interface LinkageRequestInput {
  requestId: string;
  projectId: string;
  /** MSP IDs of the hospitals asked to contribute: at least 2, each of type hospital. */
  hospitals: string[];
  /** MSP ID of the linkage institution (type linkage) that runs the linkage. */
  institution: string;
  /** Names of the quasi-identifiers the release's k-anonymity check runs on. */
  quasiIdentifiers: string[];
  /** The release's minimum equivalence-class size, at least 2. */
  k: number;
}

/** The request as stored (never changes after it is written). */
export interface LinkageRequest extends LinkageRequestInput {
  /** `research:<projectId>`: the purpose of every consent check and log entry of this linkage. */
  purpose: string;
  /** MSP ID of the sponsor that requested it (the caller). */
  sponsor: string;
  requestedAt: string;
  txId: string;
}

/** One hospital's contribution as stored: counts, no patientRef. */
export interface LinkageContribution {
  requestId: string;
  hospital: string;
  /** Candidates the hospital sent. */
  candidates: number;
  /** Of those, the ones whose research consent for the project was in force (the rest were excluded). */
  included: number;
  at: string;
  txId: string;
}

/** Why a candidate was left out of a linkage. */
export type LinkageExclusionReason = 'PATIENT_NOT_REGISTERED' | 'NO_CONSENT' | DenyReason;

/** What `Linkage:contribute` answers (to the contributing hospital only: it names its own pseudonyms). */
export interface ContributionOutcome {
  contribution: LinkageContribution;
  /** The candidates the hospital may go on to contribute to the institution, in the order sent. */
  included: string[];
  excluded: { patientRef: string; reason: LinkageExclusionReason }[];
}

/** Per hospital: how many tokens the institution received and the SHA-256 over their sorted set. */
export interface LinkageHospitalSummary {
  count: number;
  tokenSetHash: string;
}

/** What the release check refused, when it refused. */
export interface LinkageRefusal {
  /** The check's code, e.g. K_ANONYMITY_NOT_MET. */
  code: string;
  k: number;
  /** Size of the smallest equivalence class found (below k). */
  smallestClass: number;
}

export type LinkageResultStatus = 'released' | 'refused';

/** What the institution records once every listed hospital contributed (`Linkage:recordLinkage`). */
export interface LinkageResult {
  requestId: string;
  institution: string;
  perHospital: Record<string, LinkageHospitalSummary>;
  /** Subjects matched across hospitals and given a linked pseudonym. */
  linkedSubjects: number;
  /** SHA-256 of the release the sponsor receives (or of the refusal report). */
  releaseHash: string;
  status: LinkageResultStatus;
  refusal?: LinkageRefusal;
  recordedAt: string;
  txId: string;
}

export type LinkageStatus = 'open' | LinkageResultStatus;

/** A linkage as `readLinkage` and `listLinkages` answer it. */
export interface LinkageView {
  request: LinkageRequest;
  status: LinkageStatus;
  /** One per hospital that contributed, in the order the request lists the hospitals. */
  contributions: LinkageContribution[];
  /** Listed hospitals that have not contributed yet. */
  awaiting: string[];
  result?: LinkageResult;
}

/**
 * One candidate of a contribution in the patient's access log (the same log `Access:listAccessLog`
 * lists, under the hospital and the patientRef): kind `linkage`, the sponsor as the party the
 * data would go to (`accessor`, whose consent was checked), the hospital as `disclosedBy`. There
 * is no record: `recordId` is `linkage:<requestId>` and `version` 0, so that readers of the log
 * that expect a record still show something true.
 */
export interface LinkageLogEntry extends AccessLogEntry {
  kind: 'linkage';
  disclosedBy: string;
  requestId: string;
  version: 0;
  decision: Decision;
  /** Why it was denied when a grant for the project exists (absent with NO_CONSENT: no grant, or not registered). */
  reason?: DenyReason;
}

/** The prefix of a linkage entry's recordId in the access log. */
export const LINKAGE_RECORD_PREFIX = 'linkage:';

/**
 * Whether a candidate's research consent for the project is in force for the sponsor at `now`
 * (Unix seconds). Only grants to this sponsor for this purpose count; their scope (categories,
 * record ids) says which records may be released, not whether the patient takes part, so it is
 * not checked here. A grant in force permits; otherwise the most telling reason of the grants
 * for this sponsor and purpose (not yet valid, else revoked or expired, the latest first); with
 * no such grant, NO_CONSENT.
 */
export function decideLinkageConsent(
  grants: readonly ConsentGrant[],
  query: { sponsor: string; purpose: string },
  now: number,
): { decision: Decision; reason?: DenyReason; grantId?: string } {
  const relevant = grants.filter((g) => g.grantee === query.sponsor && g.purpose === query.purpose);
  if (relevant.length === 0) return { decision: 'NO_CONSENT' };
  const outcome = (g: ConsentGrant): 'PERMIT' | 'NOT_YET_VALID' | 'REVOKED' | 'EXPIRED' =>
    g.status === 'revoked' ? 'REVOKED' : now < g.validFrom ? 'NOT_YET_VALID' : now >= g.validUntil ? 'EXPIRED' : 'PERMIT';
  const rank = { PERMIT: 0, NOT_YET_VALID: 1, REVOKED: 2, EXPIRED: 2 } as const;
  let best: { outcome: ReturnType<typeof outcome>; grant: ConsentGrant } | undefined;
  for (const grant of relevant) {
    const o = outcome(grant);
    if (
      !best ||
      rank[o] < rank[best.outcome] ||
      (rank[o] === rank[best.outcome] && (grant.grantedAt > best.grant.grantedAt || (grant.grantedAt === best.grant.grantedAt && grant.grantId > best.grant.grantId)))
    ) {
      best = { outcome: o, grant };
    }
  }
  const { outcome: o, grant } = best as { outcome: ReturnType<typeof outcome>; grant: ConsentGrant };
  return o === 'PERMIT' ? { decision: 'PERMIT', grantId: grant.grantId } : { decision: 'DENY', reason: o, grantId: grant.grantId };
}
