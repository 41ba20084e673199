/**
 * The linkage institution's side: it evaluates hospitals' blinded identifiers with the
 * project's OPRF key, collects each hospital's tokens, matches them once every listed hospital
 * has contributed, gives each person a fresh pseudonym of this request, drops the tokens, runs
 * the k-anonymity release check and records on the ledger what it linked (counts and hashes).
 * It keeps the release (no tokens) for the request's sponsor.
 *
 * What it learns: how many patients each hospital contributed and how many are common, and the
 * quasi-identifiers and data the hospitals chose to send. It never sees an identifier or a
 * hospital's patientRef, and without the hospitals' K_H it cannot test a guessed identifier
 * against the tokens.
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { ApiError } from '../errors';
import { assertReleasable, checkKAnonymity, isPrivacyError } from '../privacy';
import { canonicalJson } from '../../../chaincode/src/lib/canonical-json';
import { deriveProjectKey, evaluateBlinded } from './oprf';
import { checkTokens, tokenSetHash } from './tokens';
import type { LinkageLedgerPort, LinkageRefusal, LinkageRequestState } from './ledger';
import { LinkageFiles, checkRequestId } from './store';

/** One patient as a hospital sends it: a token, the quasi-identifiers, the data. No patientRef, no identifier. */
export interface ContributionEntry {
  token: string;
  quasiIdentifiers: Record<string, string | number | boolean | null>;
  data: unknown;
}

/** One linked person in a release. */
export interface ReleasedSubject {
  /** A fresh random pseudonym of this request only. */
  linkedId: string;
  quasiIdentifiers: Record<string, string | number | boolean | null>;
  /** What each hospital sent about this person, in the request's order of hospitals. */
  records: { hospital: string; data: unknown }[];
}

/** The release check's outcome when it refused: counts only, never a class's values. */
export interface RefusalReport extends LinkageRefusal {
  message: string;
  quasiIdentifiers: string[];
  subjects: number;
  classes: number;
  classesBelowK: number;
  subjectsBelowK: number;
}

/** What the sponsor receives: the linked, pseudonymous release, or why it was refused. */
export interface LinkageRelease {
  requestId: string;
  projectId: string;
  purpose: string;
  status: 'released' | 'refused';
  releaseHash: string;
  linkedAt: string;
  /** Per hospital: patients contributed. */
  perHospital: Record<string, number>;
  /** People in the release; of them, found at two or more hospitals. */
  subjects: number;
  linkedAcrossHospitals: number;
  quasiIdentifiers: string[];
  k: number;
  release?: ReleasedSubject[];
  refusal?: RefusalReport;
  ledgerTransactionId: string;
}

/** A caller at the institution: one of its partner organisations. */
export interface Partner {
  mspId: string;
  type: 'hospital' | 'sponsor';
}

interface PendingRequest {
  /** Evaluations per hospital (blinded elements evaluated, in all). */
  evaluations: Record<string, number>;
  contributions: Record<string, ContributionEntry[]>;
}

export interface InstitutionOptions {
  mspId: string;
  /** The master OPRF seed (32 bytes). */
  oprfSeed: Uint8Array;
  ledger: LinkageLedgerPort;
  /** The institution's linkage folder (pending contributions, releases). */
  dir: string;
  /** How long to wait for the ledger to show a hospital's contribution (its peer may be a block behind). Default 15 s. */
  ledgerWaitMs?: number;
  clock?: () => Date;
}

const MAX_ENTRIES = 100_000;

export class LinkageInstitutionService {
  private readonly files: LinkageFiles;

  constructor(private readonly options: InstitutionOptions) {
    this.files = new LinkageFiles(options.dir);
  }

  /**
   * Evaluates a hospital's blinded elements with the project's key: only for a hospital listed
   * in an open request of this institution, after its contribution is on the ledger, and never
   * more elements in all than the patients the ledger let it include.
   *
   * @throws ApiError LINKAGE_NOT_FOUND, LINKAGE_NOT_PARTY, LINKAGE_CLOSED, LINKAGE_NOT_CONTRIBUTED,
   *   LINKAGE_EVALUATIONS_EXCEEDED, LINKAGE_INVALID_ELEMENT
   */
  async evaluate(caller: Partner, requestId: string, blinded: readonly Uint8Array[]): Promise<Uint8Array[]> {
    checkRequestId(requestId);
    if (blinded.length === 0 || blinded.length > MAX_ENTRIES) throw new ApiError(400, 'LINKAGE_INVALID_REQUEST', `Send 1 to ${MAX_ENTRIES} blinded elements.`);
    return this.files.exclusive(requestId, async () => {
      const { request, included } = await this.hospitalOfOpenRequest(caller, requestId);
      const pending = (await this.files.read<PendingRequest>('pending', requestId)) ?? { evaluations: {}, contributions: {} };
      const key = deriveProjectKey(this.options.oprfSeed, request.projectId);
      // Every element checked (evaluated) first, so a malformed one is named as such.
      const evaluated = blinded.map((b) => evaluateBlinded(key, b));
      const used = pending.evaluations[caller.mspId] ?? 0;
      if (used + blinded.length > included) {
        throw new ApiError(
          403,
          'LINKAGE_EVALUATIONS_EXCEEDED',
          `The ledger lets ${caller.mspId} include ${included} patients in ${requestId}; ${used} evaluations were made already, ${blinded.length} more would exceed that.`,
        );
      }
      pending.evaluations[caller.mspId] = used + blinded.length;
      await this.files.write('pending', requestId, pending);
      return evaluated;
    });
  }

  /**
   * Takes a hospital's tokens (once per hospital per request, exactly as many as the ledger let it
   * include). When it is the last listed hospital's, links at once.
   *
   * @returns whether the request is now linked, and how
   * @throws ApiError as {@link evaluate}, and LINKAGE_ALREADY_CONTRIBUTED, LINKAGE_COUNT_MISMATCH, LINKAGE_INVALID_TOKEN, LINKAGE_INVALID_ENTRY
   */
  async contribute(caller: Partner, requestId: string, entries: readonly ContributionEntry[]): Promise<{ requestId: string; received: number; waitingFor: string[]; linked?: Pick<LinkageRelease, 'status' | 'subjects' | 'linkedAcrossHospitals' | 'releaseHash'> }> {
    checkRequestId(requestId);
    return this.files.exclusive(requestId, async () => {
      const { request, included } = await this.hospitalOfOpenRequest(caller, requestId);
      checkTokens(entries.map((e) => e?.token));
      for (const e of entries) checkEntry(e, request.quasiIdentifiers);
      if (entries.length !== included) {
        throw new ApiError(409, 'LINKAGE_COUNT_MISMATCH', `The ledger lets ${caller.mspId} include ${included} patients in ${requestId}; ${entries.length} entries were sent.`);
      }
      const pending = (await this.files.read<PendingRequest>('pending', requestId)) ?? { evaluations: {}, contributions: {} };
      if (pending.contributions[caller.mspId]) throw new ApiError(409, 'LINKAGE_ALREADY_CONTRIBUTED', `${caller.mspId} has already sent its tokens for ${requestId}.`);
      pending.contributions[caller.mspId] = entries.map((e) => ({ token: e.token, quasiIdentifiers: e.quasiIdentifiers, data: e.data }));
      await this.files.write('pending', requestId, pending);
      const waitingFor = request.hospitals.filter((h) => !pending.contributions[h]);
      if (waitingFor.length > 0) return { requestId, received: entries.length, waitingFor };
      const release = await this.link(request, pending);
      return { requestId, received: entries.length, waitingFor, linked: { status: release.status, subjects: release.subjects, linkedAcrossHospitals: release.linkedAcrossHospitals, releaseHash: release.releaseHash } };
    });
  }

  /**
   * The release for the request's sponsor: the linked records, or the refusal report.
   *
   * @throws ApiError LINKAGE_NOT_FOUND, LINKAGE_NOT_PARTY, LINKAGE_INCOMPLETE (not linked yet)
   */
  async release(caller: Partner, requestId: string): Promise<LinkageRelease> {
    checkRequestId(requestId);
    const request = await this.options.ledger.readLinkage(requestId);
    if (!request || request.institution !== this.options.mspId) throw notFound(requestId);
    if (caller.type !== 'sponsor' || caller.mspId !== request.sponsor) throw new ApiError(403, 'LINKAGE_NOT_PARTY', `Only the sponsor of ${requestId} receives its release.`);
    const release = await this.files.read<LinkageRelease>('releases', requestId);
    if (!release) {
      const pending = await this.files.read<PendingRequest>('pending', requestId);
      const waiting = request.hospitals.filter((h) => !pending?.contributions[h]);
      throw new ApiError(409, 'LINKAGE_INCOMPLETE', `${requestId} is not linked yet: waiting for ${waiting.join(', ') || 'the ledger'}.`, { waitingFor: waiting });
    }
    return release;
  }

  /** What the institution holds of a request, for its officer: counts only. */
  async status(requestId: string): Promise<{ requestId: string; evaluations: Record<string, number>; contributed: Record<string, number>; released?: { status: string; subjects: number; releaseHash: string } }> {
    checkRequestId(requestId);
    const pending = await this.files.read<PendingRequest>('pending', requestId);
    const release = await this.files.read<LinkageRelease>('releases', requestId);
    return {
      requestId,
      evaluations: pending?.evaluations ?? {},
      contributed: release ? release.perHospital : Object.fromEntries(Object.entries(pending?.contributions ?? {}).map(([h, e]) => [h, e.length])),
      ...(release ? { released: { status: release.status, subjects: release.subjects, releaseHash: release.releaseHash } } : {}),
    };
  }

  private async link(request: LinkageRequestState, pending: PendingRequest): Promise<LinkageRelease> {
    const bySubject = new Map<string, { quasiIdentifiers: ContributionEntry['quasiIdentifiers']; records: { hospital: string; data: unknown }[] }>();
    const perHospital: Record<string, { count: number; tokenSetHash: string }> = {};
    for (const hospital of request.hospitals) {
      const entries = pending.contributions[hospital] ?? [];
      perHospital[hospital] = { count: entries.length, tokenSetHash: tokenSetHash(entries.map((e) => e.token)) };
      for (const e of entries) {
        const subject = bySubject.get(e.token) ?? { quasiIdentifiers: e.quasiIdentifiers, records: [] };
        subject.records.push({ hospital, data: e.data });
        bySubject.set(e.token, subject);
      }
    }
    // The tokens end here: the release is keyed by fresh pseudonyms, in random order.
    const subjects: ReleasedSubject[] = [...bySubject.values()]
      .map((s) => ({ linkedId: `L-${randomBytes(16).toString('hex')}`, quasiIdentifiers: s.quasiIdentifiers, records: s.records }))
      .sort((a, b) => (a.linkedId < b.linkedId ? -1 : 1));
    const linkedAcrossHospitals = subjects.filter((s) => s.records.length > 1).length;
    const refusal = releaseCheck(subjects, request.quasiIdentifiers, request.k);
    const linkedAt = (this.options.clock?.() ?? new Date()).toISOString();
    const body = refusal ? { refusal } : { release: subjects };
    const releaseHash = createHash('sha256').update(canonicalJson({ requestId: request.requestId, ...body })).digest('hex');
    const recorded = await this.options.ledger.recordLinkage({
      requestId: request.requestId,
      perHospital,
      // Linked: found at every listed hospital (the release also holds those only some hospitals had).
      linkedSubjects: subjects.filter((s) => s.records.length === request.hospitals.length).length,
      releaseHash,
      status: refusal ? 'refused' : 'released',
      ...(refusal ? { refusal: { code: refusal.code, k: refusal.k, smallestClass: refusal.smallestClass } } : {}),
    });
    const release: LinkageRelease = {
      requestId: request.requestId,
      projectId: request.projectId,
      purpose: `research:${request.projectId}`,
      status: refusal ? 'refused' : 'released',
      releaseHash,
      linkedAt,
      perHospital: Object.fromEntries(Object.entries(perHospital).map(([h, v]) => [h, v.count])),
      subjects: subjects.length,
      linkedAcrossHospitals,
      quasiIdentifiers: [...request.quasiIdentifiers],
      k: request.k,
      ...body,
      ledgerTransactionId: recorded.transactionId,
    };
    await this.files.write('releases', request.requestId, release);
    await this.files.remove('pending', request.requestId);
    return release;
  }

  /** The open request of this institution listing `caller` as a hospital, and how many patients the ledger let it include. */
  private async hospitalOfOpenRequest(caller: Partner, requestId: string): Promise<{ request: LinkageRequestState; included: number }> {
    const deadline = Date.now() + (this.options.ledgerWaitMs ?? 15_000);
    for (;;) {
      const request = await this.options.ledger.readLinkage(requestId);
      if (!request || request.institution !== this.options.mspId) throw notFound(requestId);
      if (caller.type !== 'hospital' || !request.hospitals.includes(caller.mspId)) {
        throw new ApiError(403, 'LINKAGE_NOT_PARTY', `${caller.mspId} is not a hospital of linkage request ${requestId}.`);
      }
      if (request.status !== 'open') throw new ApiError(409, 'LINKAGE_CLOSED', `Linkage request ${requestId} is ${request.status}; it takes no more contributions.`);
      const contribution = request.contributions?.[caller.mspId];
      if (contribution) return { request, included: contribution.included };
      // The hospital's peer committed its contribution; this institution's peer may be a block behind.
      if (Date.now() >= deadline) {
        throw new ApiError(409, 'LINKAGE_NOT_CONTRIBUTED', `${caller.mspId} has not contributed to ${requestId} on the ledger: the consent-checked contribution comes first.`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

function notFound(requestId: string): ApiError {
  return new ApiError(404, 'LINKAGE_NOT_FOUND', `No linkage request ${requestId} of this institution is on the ledger.`);
}

function checkEntry(entry: ContributionEntry, quasiIdentifiers: readonly string[]): void {
  const qi = entry.quasiIdentifiers as unknown;
  if (typeof qi !== 'object' || qi === null || Array.isArray(qi)) throw new ApiError(400, 'LINKAGE_INVALID_ENTRY', 'Every entry needs its quasiIdentifiers as an object.');
  const keys = Object.keys(qi);
  const missing = quasiIdentifiers.filter((q) => !keys.includes(q));
  const extra = keys.filter((k) => !quasiIdentifiers.includes(k));
  if (missing.length + extra.length > 0) {
    throw new ApiError(400, 'LINKAGE_INVALID_ENTRY', `Every entry carries exactly the request's quasi-identifiers (${quasiIdentifiers.join(', ')}).`);
  }
  for (const v of Object.values(qi as Record<string, unknown>)) {
    if (!(v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v)))) {
      throw new ApiError(400, 'LINKAGE_INVALID_ENTRY', 'Quasi-identifier values are strings, finite numbers, booleans or null.');
    }
  }
}

/** The existing release check on the linked subjects: k-anonymity on the quasi-identifiers, and no direct identifier in any value. */
function releaseCheck(subjects: readonly ReleasedSubject[], quasiIdentifiers: readonly string[], k: number): RefusalReport | undefined {
  const rows = subjects.map((s) => ({ ...s.quasiIdentifiers, linkedId: s.linkedId, records: JSON.stringify(s.records) }));
  const report = checkKAnonymity(rows, quasiIdentifiers, k, { subjectField: 'linkedId' });
  const counts = {
    quasiIdentifiers: [...quasiIdentifiers],
    subjects: rows.length,
    classes: report.classes,
    classesBelowK: report.classesBelowK.length,
    subjectsBelowK: report.classesBelowK.reduce((n, c) => n + c.size, 0),
  };
  try {
    assertReleasable(rows, quasiIdentifiers, k, { subjectField: 'linkedId' });
    return undefined;
  } catch (err) {
    if (!isPrivacyError(err)) throw err;
    return { code: err.code, k, smallestClass: report.k ?? 0, message: err.message.replace(/^[A-Z_]+: /, ''), ...counts };
  }
}
