/**
 * The consent and access-log data model shared by the chaincode and its clients, and the
 * consent decision itself. Plain types, constants and pure functions only: the gateway and
 * the browser import this without loading the contract runtime.
 */

/** Most categories, and most record ids, one grant may name. */
export const MAX_SCOPE_ITEMS = 64;

/** The chaincode event of every registration, grant and revocation; its payload is a {@link ConsentChange}. */
export const CONSENT_EVENT = 'medprov.ConsentChanged';

/**
 * The binding of a hospital's patientRef to the address of the patient's key for that
 * hospital. The patient derives one key per organisation (HD derivation, one path per org,
 * client side), so no address appears under two organisations and the ledger offers no
 * join key; the chaincode enforces "one binding per address" (PATIENT_KEY_IN_USE).
 */
export interface PatientBinding {
  hospital: string;
  patientRef: string;
  /** EIP-55 checksummed address. */
  patient: string;
  nonce: string;
  signature: string;
  registeredAt: string;
  txId: string;
}

export type GrantStatus = 'active' | 'revoked';

export interface ConsentGrant {
  /** EIP-712 digest of the signed ConsentGrant message (0x + 64 hex). */
  grantId: string;
  hospital: string;
  patientRef: string;
  /** The address that signed: the binding's address at the time, or the guardian's for a grant made by a guardian. */
  patient: string;
  grantee: string;
  purpose: string;
  categories: string[];
  recordIds: string[];
  validFrom: number;
  validUntil: number;
  nonce: string;
  signature: string;
  status: GrantStatus;
  grantedAt: string;
  txId: string;
  /** MSP whose gateway submitted it (any member may; the signature is what counts). */
  submittedBy: string;
  /** Present when a guardian signed it, under the delegation named (see delegation-model.ts). */
  signedBy?: 'guardian';
  delegationId?: string;
  revocation?: { at: string; txId: string; nonce: string; signature: string; submittedBy: string; signedBy?: 'guardian'; delegationId?: string };
}

/**
 * What the consent event announces (canonical JSON, no PHI): `registered` carries the binding's
 * hospital and patientRef only; `granted` and `revoked` name the grant, its grantee and purpose,
 * and the status after the change. Sponsors follow `revoked` for their grants.
 */
export interface ConsentChange {
  kind: 'registered' | 'granted' | 'revoked';
  hospital: string;
  patientRef: string;
  grantId?: string;
  grantee?: string;
  purpose?: string;
  status?: GrantStatus;
}

export type DenyReason = 'REVOKED' | 'EXPIRED' | 'NOT_YET_VALID' | 'OUT_OF_SCOPE' | 'WRONG_PURPOSE' | 'WRONG_GRANTEE';
export type Decision = 'PERMIT' | 'DENY' | 'NO_CONSENT';

export interface ConsentQuery {
  hospital: string;
  patientRef: string;
  grantee: string;
  purpose: string;
  category?: string;
  recordId?: string;
}

export interface ConsentDecision {
  decision: Decision;
  reason?: DenyReason;
  /** The grant that permits, or that this grantee and purpose had but cannot use now. */
  grantId?: string;
  evaluatedAt: string;
}

/**
 * Per grant, the first test it fails; across grants, the lowest rank wins. A grant that
 * matches grantee, purpose and scope says the most: PERMIT, else a grant that is yet to
 * start, else why the latest such grant no longer works (revoked or expired).
 */
const RANK: Record<DenyReason | 'PERMIT', number> = {
  PERMIT: 0,
  NOT_YET_VALID: 1,
  REVOKED: 2,
  EXPIRED: 2,
  OUT_OF_SCOPE: 3,
  WRONG_PURPOSE: 4,
  WRONG_GRANTEE: 5,
};

function judge(grant: ConsentGrant, query: ConsentQuery, now: number): DenyReason | 'PERMIT' {
  if (grant.grantee !== query.grantee) return 'WRONG_GRANTEE';
  if (grant.purpose !== query.purpose) return 'WRONG_PURPOSE';
  const inScope =
    (query.category !== undefined && grant.categories.includes(query.category)) ||
    (query.recordId !== undefined && grant.recordIds.includes(query.recordId));
  if (!inScope) return 'OUT_OF_SCOPE';
  if (grant.status === 'revoked') return 'REVOKED';
  if (now < grant.validFrom) return 'NOT_YET_VALID';
  if (now >= grant.validUntil) return 'EXPIRED';
  return 'PERMIT';
}

/**
 * The consent decision for one query over a patient's grants at time `now` (Unix seconds).
 * Pure: the same grants and time give the same answer on every endorser. Ties within a
 * rank go to the most recently granted (then the larger grant id).
 */
export function decideConsent(grants: readonly ConsentGrant[], query: ConsentQuery, now: number): Omit<ConsentDecision, 'evaluatedAt'> {
  if (grants.length === 0) return { decision: 'NO_CONSENT' };
  let best: { outcome: DenyReason | 'PERMIT'; grant: ConsentGrant } | undefined;
  for (const grant of grants) {
    const outcome = judge(grant, query, now);
    if (
      !best ||
      RANK[outcome] < RANK[best.outcome] ||
      (RANK[outcome] === RANK[best.outcome] &&
        (grant.grantedAt > best.grant.grantedAt || (grant.grantedAt === best.grant.grantedAt && grant.grantId > best.grant.grantId)))
    ) {
      best = { outcome, grant };
    }
  }
  const { outcome, grant } = best as { outcome: DenyReason | 'PERMIT'; grant: ConsentGrant };
  if (outcome === 'PERMIT') return { decision: 'PERMIT', grantId: grant.grantId };
  // Another org's or another purpose's grant is none of this grantee's business.
  if (outcome === 'WRONG_GRANTEE' || outcome === 'WRONG_PURPOSE') return { decision: 'DENY', reason: outcome };
  return { decision: 'DENY', reason: outcome, grantId: grant.grantId };
}

/**
 * The chaincode event of every consent-checked access and disclosure. Its payload is the
 * {@link AccessLogEntry} for `Access:accessRecord`, and `{ entries: AccessLogEntry[] }` for
 * `Access:discloseRecords` (Fabric keeps one event per transaction); see {@link AccessEvent}.
 */
export const ACCESS_EVENT = 'medprov.RecordAccessed';

/**
 * One consent-checked access or disclosure, permitted or not. No PHI: MSP IDs, codes,
 * pseudonyms. An access (`kind` absent or `access`): `accessor` asked the ledger for the
 * record itself. A disclosure (`kind: 'disclosure'`): the issuing hospital `disclosedBy` handed
 * the record to `accessor`, the party the record went to, whose consent was checked.
 */
export interface AccessLogEntry {
  /** Who the record went to: the caller for an access, the grantee for a disclosure. */
  accessor: string;
  /** The caller's role attribute (the accessor's for an access, the discloser's for a disclosure). */
  role?: string;
  /**
   * Absent on entries written before disclosures existed, and on every access. `break-glass`: an
   * emergency access without consent. `linkage`: the hospital `disclosedBy` offered the patient
   * for research linkage request `requestId` (no record: recordId `linkage:<requestId>`, version 0;
   * see linkage-model.ts).
   */
  kind?: 'access' | 'disclosure' | 'break-glass' | 'linkage';
  /** A disclosure or a linkage: the hospital that disclosed (always the record's issuer). */
  disclosedBy?: string;
  /** A linkage: the sponsor's linkage request the patient was offered for. */
  requestId?: string;
  /** A disclosure: the discloser's id of the disclosure, shared by every entry of it. */
  disclosureId?: string;
  issuer: string;
  recordId: string;
  version: number;
  patientRef: string;
  purpose: string;
  /** `BREAK_GLASS` only on a break-glass entry: opened without consent, for an emergency. */
  decision: Decision | 'BREAK_GLASS';
  reason?: DenyReason;
  /** A break-glass entry: why consent could not be obtained (one of BREAK_GLASS_REASONS in break-glass.ts). */
  breakGlassReason?: string;
  grantId?: string;
  at: string;
  txId: string;
}

/** An {@link ACCESS_EVENT} payload: one access's entry, or the entries of one disclosure. */
export type AccessEvent = AccessLogEntry | { entries: AccessLogEntry[] };

/** The entries an {@link ACCESS_EVENT} payload carries, whichever transaction emitted it. */
export function accessEventEntries(payload: AccessEvent): AccessLogEntry[] {
  return 'entries' in payload ? payload.entries : [payload];
}

/** One record of a disclosure, as `Access:discloseRecords` answers and stores it. */
export interface DisclosedRecord {
  recordId: string;
  version: number;
  decision: Decision;
  reason?: DenyReason;
  grantId?: string;
}

/**
 * What `Access:discloseRecords` records (under the discloser and the disclosure id, so a
 * re-sent transaction returns it instead of logging twice): who disclosed what to whom, for
 * which purpose, and the consent decision of each record at the transaction's time.
 */
export interface DisclosureRecord {
  disclosureId: string;
  /** The disclosing hospital: the issuer of every record and the caller. */
  issuer: string;
  grantee: string;
  purpose: string;
  records: DisclosedRecord[];
  at: string;
  txId: string;
}

export function effectiveStatus(grant: ConsentGrant, now: number): 'active' | 'revoked' | 'expired' | 'pending' {
  if (grant.status === 'revoked') return 'revoked';
  if (now < grant.validFrom) return 'pending';
  if (now >= grant.validUntil) return 'expired';
  return 'active';
}
