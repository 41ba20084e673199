/**
 * The release check for research extracts, at the hospital's gateway: before a sponsor
 * receives record metadata, the rows are generalised by a release profile, every record's
 * consent for that sponsor and trial is checked on the ledger, and k-anonymity is measured
 * over exactly the quasi-identifier columns the sponsor would receive. Releases below the
 * configured k are refused, or their small classes suppressed when the request asks.
 *
 * Consent is checked twice. First with queries (nothing logged), to decide whether the release
 * can go at all; a preview stops there and writes nothing, and so does a release refused for
 * k with no record held back. Then a release records its disclosure on the ledger in one `Access:discloseRecords`
 * transaction ({@link Disclosures}): the records it would hand over and those it holds back
 * for lack of consent, each logged in the patient's access log with the chaincode's decision.
 * Those decisions are the check of record: a record the ledger does not permit is refused or
 * left out as `withoutConsent` says, and k is measured again. A refused release records only
 * its held-back records (every denied attempt is remembered; nothing was disclosed).
 *
 * No attribute value is ever sent to the ledger (record ids, MSP IDs and the purpose only),
 * nothing goes to disk but the journal's copy of that transaction, and the report never
 * carries the values of a class, only counts: it is what a refused requester sees.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ConsentDecision } from '../../../chaincode/src/lib/consent-model';
import { MAX_BATCH, type RecordAnchor } from '../../../chaincode/src/lib/record-model';
import type { RequestContext } from '../acceptance/service';
import type { Disclosures, RecordedDisclosure } from './disclosure';
import { ApiError } from '../errors';
import { checkKAnonymity, suppressBelowK, type QuasiValue } from '../privacy';
import { refuseDirectIdentifier } from '../acceptance/requests';
import {
  DEFAULT_RELEASE_PROFILE,
  checkRule,
  generaliseAttributes,
  refuseIdentifierField,
  releaseColumns,
  type AttributeValue,
  type ColumnRule,
  type ReleaseColumns,
  type ReleaseProfile,
} from './profile';

/** Most records in one release request (the schema says the same): one disclosure transaction's batch. */
export const MAX_RELEASE_RECORDS = MAX_BATCH;
/** The minimum k when the configuration names none. */
export const DEFAULT_RELEASE_K = 5;
/** The largest share of rows suppression may remove when the configuration names none. */
export const DEFAULT_MAX_SUPPRESSED_FRACTION = 0.1;

/** The gateway's release policy (GatewayOptions.research). */
export interface ReleaseOptions {
  /** k every release must reach, counted in distinct patients. Default 5; at least 2. */
  kMin?: number;
  /** Suppression may remove at most this share of the rows (0–1). Default 0.1. */
  maxSuppressedFraction?: number;
  /** Named profiles; `default` is used when a request names none. Default: { default: DEFAULT_RELEASE_PROFILE }. */
  profiles?: Readonly<Record<string, ReleaseProfile>>;
  /** Ledger queries in flight at once while checking consent. Default 8. */
  concurrency?: number;
}

/**
 * The release policy from the environment: MEDPROV_RELEASE_K_MIN (default 5),
 * MEDPROV_RELEASE_MAX_SUPPRESSED (a fraction, default 0.1) and MEDPROV_RELEASE_PROFILES (a JSON
 * file of named profiles; the built-in default profile otherwise).
 *
 * @throws Error naming the variable that is not valid
 */
export function releaseOptionsFromEnv(env: NodeJS.ProcessEnv): ReleaseOptions {
  const options: ReleaseOptions = {};
  if (env.MEDPROV_RELEASE_K_MIN !== undefined) {
    if (!/^\d{1,4}$/.test(env.MEDPROV_RELEASE_K_MIN)) throw new Error('MEDPROV_RELEASE_K_MIN must be a whole number (the minimum k, at least 2).');
    options.kMin = Number(env.MEDPROV_RELEASE_K_MIN);
  }
  if (env.MEDPROV_RELEASE_MAX_SUPPRESSED !== undefined) {
    if (!/^(0(\.\d+)?|1(\.0+)?)$/.test(env.MEDPROV_RELEASE_MAX_SUPPRESSED)) throw new Error('MEDPROV_RELEASE_MAX_SUPPRESSED must be a fraction from 0 to 1.');
    options.maxSuppressedFraction = Number(env.MEDPROV_RELEASE_MAX_SUPPRESSED);
  }
  if (env.MEDPROV_RELEASE_PROFILES !== undefined) {
    try {
      options.profiles = JSON.parse(readFileSync(env.MEDPROV_RELEASE_PROFILES, 'utf8')) as Record<string, ReleaseProfile>;
    } catch (err) {
      throw new Error(`MEDPROV_RELEASE_PROFILES: cannot read release profiles from ${env.MEDPROV_RELEASE_PROFILES}: ${(err as Error).message}`);
    }
  }
  return options;
}

/** One record of a release request. */
export interface ReleaseRecord {
  issuer: string;
  recordId: string;
  attributes: Record<string, AttributeValue>;
}

/** `POST /v1/research/releases` and its preview. */
export interface ReleaseRequest {
  /** The sponsor's MSP ID: the grantee every record's consent must name. */
  grantee: string;
  /** research:<trialId>. */
  purpose: string;
  profile?: string;
  /** Raises the gateway's minimum k for this release; never lowers it. */
  kMin?: number;
  records: ReleaseRecord[];
  /** Column → rule to add or redefine a column (then a quasi-identifier), or null to leave it out. */
  generalisation?: Record<string, ColumnRule | null>;
  /** Drop the rows of classes below k instead of refusing (within the gateway's limit). */
  suppressSmallClasses?: boolean;
  /** refuse (default): any record without consent refuses the release; omit: leaves them out. */
  withoutConsent?: 'refuse' | 'omit';
  /**
   * Put each row's recordId in the release (default false). Record ids lead to the ledger's
   * metadata of the record (category, anchoring time, patientRef), which k does not cover.
   */
  includeRecordIds?: boolean;
}

/** A record that cannot be released, by record id only. */
export interface HeldBack {
  recordId: string;
  decision: ConsentDecision['decision'];
  reason?: string;
}

/** What the release check found; safe to show the requester (counts and column names only). */
export interface ReleaseReport {
  profile: string;
  grantee: string;
  purpose: string;
  quasiIdentifiers: string[];
  sensitive: string[];
  kMin: number;
  /** k counts distinct patients, not rows: five records of one patient are one person. */
  unit: 'patients';
  /** The k of the rows released (after omission and suppression); null when none are. */
  k: number | null;
  records: { requested: number; withoutConsent: number; omitted: number; suppressed: number; released: number };
  /** Classes of the consented rows, before suppression. */
  classes: number;
  /** The classes below kMin before suppression: how many, their rows, and how many classes of each size. */
  belowK: { classes: number; rows: number; sizes: Record<string, number> };
  suppression?: { rows: number; fraction: number; maxFraction: number };
  /** Per sensitive column, the fewest distinct values in any released class (reported, not enforced). */
  lDiversity: Record<string, number>;
  includesRecordIds: boolean;
  releasable: boolean;
}

/** A refusal, as the preview reports it and the release throws it. */
export interface ReleaseRefusal {
  status: number;
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

/** The payload for the sponsor: generalised rows and nothing else. */
export interface Release {
  issuer: string;
  grantee: string;
  purpose: string;
  columns: string[];
  rows: Record<string, QuasiValue>[];
  report: ReleaseReport;
  /** The ledger's record of this release: its id, transaction, and how many records it logged. */
  disclosure: DisclosureSummary;
}

/** Where the ledger logged a release (or a refused one's denied records). */
export interface DisclosureSummary {
  disclosureId: string;
  transactionId: string;
  blockNumber: string;
  /** Records logged in the patients' access logs, permitted or not. */
  logged: number;
  requestId?: string;
}

/** What the release needs of the gateway: the record's anchor, a consent query, and the ledger record of a disclosure. */
export interface ReleaseDeps {
  org: { mspId: string };
  records: { readRecord(issuer: string, recordId: string): Promise<RecordAnchor> };
  consent: {
    checkConsent(query: { hospital: string; patientRef: string; grantee: string; purpose: string; category: string; recordId: string }): Promise<ConsentDecision>;
    nowSeconds(): number;
  };
  disclosures: Disclosures;
}

/** A record of the request with its anchor and consent decision (undefined: retracted). */
interface Decided {
  row: { recordId: string; values: Record<string, QuasiValue> };
  anchor: RecordAnchor;
  decision: ConsentDecision | undefined;
}

/** The request, checked and generalised, before anything is asked of the ledger. */
interface Prepared {
  profileName: string;
  kMin: number;
  columns: ReleaseColumns;
  generalised: Decided['row'][];
}

/** What the release check found for one set of consent decisions. */
interface Outcome {
  report: ReleaseReport;
  heldBack: HeldBack[];
  rows: Row[];
  columns: ReleaseColumns;
  refusal?: ReleaseRefusal;
}

interface Row {
  recordId: string;
  values: Record<string, QuasiValue>;
  patientRef: string;
}

/** Subject field of the rows k is measured on: not a valid column name, so it cannot collide with one. */
const SUBJECT = '_subject';
/** The row itself, carried through suppression; likewise no column's name. */
const ROW = '_row';

/**
 * Release checks for one hospital gateway. {@link preview} answers what a release would do;
 * {@link release} does it, or throws the refusal.
 */
export class ResearchReleases {
  private readonly kMin: number;
  private readonly maxSuppressedFraction: number;
  private readonly profiles: Readonly<Record<string, ReleaseProfile>>;
  private readonly concurrency: number;

  /** @throws Error when the configured policy or a profile is not valid */
  constructor(
    private readonly deps: ReleaseDeps,
    options: ReleaseOptions = {},
  ) {
    this.kMin = options.kMin ?? DEFAULT_RELEASE_K;
    this.maxSuppressedFraction = options.maxSuppressedFraction ?? DEFAULT_MAX_SUPPRESSED_FRACTION;
    this.profiles = options.profiles ?? { default: DEFAULT_RELEASE_PROFILE };
    this.concurrency = options.concurrency ?? 8;
    if (!Number.isInteger(this.kMin) || this.kMin < 2) throw new Error(`research release: kMin must be an integer of at least 2; got ${this.kMin}.`);
    if (!(this.maxSuppressedFraction >= 0 && this.maxSuppressedFraction <= 1)) throw new Error('research release: maxSuppressedFraction must be between 0 and 1.');
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1) throw new Error('research release: concurrency must be a positive integer.');
    for (const [name, profile] of Object.entries(this.profiles)) {
      try {
        releaseColumns(profile);
        for (const s of profile.sensitive ?? []) if (!(s in profile.columns)) throw new Error(`sensitive column ${s} is not one of its columns`);
      } catch (err) {
        throw new Error(`research release: profile ${name} is not valid: ${(err as Error).message}`);
      }
    }
  }

  /** The policy, for the report and the API description. */
  get policy(): { kMin: number; maxSuppressedFraction: number; profiles: string[] } {
    return { kMin: this.kMin, maxSuppressedFraction: this.maxSuppressedFraction, profiles: Object.keys(this.profiles) };
  }

  /**
   * What the release would do: the report and, when it would be refused, the refusal (as
   * data, with 200). Malformed requests are still refused (400/403). Consent is asked with
   * queries only: a preview writes nothing, on the ledger or anywhere.
   */
  async preview(request: ReleaseRequest): Promise<{ report: ReleaseReport; heldBack: HeldBack[]; refusal?: ReleaseRefusal }> {
    const prepared = this.prepare(request);
    const outcome = this.assess(request, prepared, await this.decide(request, prepared));
    return { report: outcome.report, heldBack: outcome.heldBack, ...(outcome.refusal ? { refusal: outcome.refusal } : {}) };
  }

  /**
   * The release payload for the sponsor, with its report, once the ledger has recorded the
   * disclosure (see the module's description): the ledger's consent decisions are the ones
   * that count. Handing the payload to the sponsor is the research office's step.
   *
   * @param context - the API user, for the acceptance journal
   * @throws ApiError 422 RELEASE_NO_CONSENT (its denied records logged on the ledger; details.disclosure),
   * RELEASE_BELOW_K, RELEASE_SUPPRESSION_TOO_LARGE, RELEASE_EMPTY, RELEASE_RECORD_RETRACTED; 503
   * RELEASE_NOT_CONFIRMED; the ledger's refusals; 400/403/404 as for a preview
   */
  async release(request: ReleaseRequest, context: RequestContext = {}): Promise<Release> {
    const prepared = this.prepare(request);
    const queried = await this.decide(request, prepared);
    const planned = this.assess(request, prepared, queried);
    // Every record held back for lack of consent is logged (a denied attempt is remembered), and
    // the records to hand over when the release goes. A release refused for k with none held back logs nothing.
    const attempted = [...(planned.refusal ? [] : planned.rows.map((r) => r.recordId)), ...planned.heldBack.map((h) => h.recordId)];
    if (attempted.length === 0) throw refusalError(planned);
    const recorded = await this.deps.disclosures.disclose(
      { disclosureId: randomUUID(), issuer: this.deps.org.mspId, grantee: request.grantee, purpose: request.purpose, recordIds: attempted },
      context,
    );
    const disclosure = summarise(recorded);
    if (planned.refusal) throw refusalError(planned, { disclosure });

    // The ledger's decisions are the check of record; the queries only planned the release.
    const ofRecord = new Map(recorded.disclosure.records.map((r) => [r.recordId, r]));
    const final = this.assess(
      request,
      prepared,
      queried.map((d) => {
        const r = ofRecord.get(d.row.recordId);
        if (!r || !d.decision) return d;
        return { ...d, decision: { decision: r.decision, ...(r.reason ? { reason: r.reason } : {}), ...(r.grantId ? { grantId: r.grantId } : {}), evaluatedAt: recorded.disclosure.at } };
      }),
    );
    if (final.refusal) throw refusalError(final, { disclosure });
    const columns = Object.keys(final.columns.rules);
    const rows = final.rows.map((row) => (request.includeRecordIds ? { recordId: row.recordId, ...row.values } : { ...row.values }));
    // Without record ids, the order of the request (often the order of admission) must not survive either.
    if (!request.includeRecordIds) rows.sort(compareRows(columns));
    return { issuer: this.deps.org.mspId, grantee: request.grantee, purpose: request.purpose, columns, rows, report: final.report, disclosure };
  }

  /** Everything about the request itself, checked before the ledger is asked anything. */
  private prepare(request: ReleaseRequest): Prepared {
    const profileName = request.profile ?? 'default';
    const profile = this.profiles[profileName];
    if (!profile) {
      throw new ApiError(400, 'UNKNOWN_PROFILE', `There is no release profile ${profileName} at this gateway; known: ${Object.keys(this.profiles).join(', ')}.`);
    }
    const kMin = request.kMin ?? this.kMin;
    if (kMin < this.kMin) throw new ApiError(400, 'INVALID_REQUEST', `kMin may raise this gateway's minimum k (${this.kMin}) for a release, not lower it.`);
    for (const [column, rule] of Object.entries(request.generalisation ?? {})) if (rule) checkRule(`generalisation.${column}`, rule);
    const columns = releaseColumns(profile, request.generalisation);

    const releaseDate = new Date(this.deps.consent.nowSeconds() * 1000).toISOString().slice(0, 10);
    const seen = new Set<string>();
    const generalised = request.records.map((record, i) => {
      const where = `records[${i}]`;
      if (record.issuer !== this.deps.org.mspId) {
        throw new ApiError(403, 'FORBIDDEN_NOT_ISSUER', `${where}: ${this.deps.org.mspId} releases only records it issued, not those of ${record.issuer}.`);
      }
      refuseDirectIdentifier(`${where}.recordId`, record.recordId);
      if (seen.has(record.recordId)) throw new ApiError(400, 'DUPLICATE_RECORD', `${where}: the record ${record.recordId} is already in this release.`);
      seen.add(record.recordId);
      for (const [name, value] of Object.entries(record.attributes)) {
        refuseIdentifierField(`${where}.attributes.${name}`, name, value);
        if (!columns.reads.has(name)) {
          throw new ApiError(400, 'UNKNOWN_ATTRIBUTE', `${where}.attributes.${name} is read by no column of the release; leave it out, or add a column for it under generalisation.`);
        }
      }
      return { recordId: record.recordId, values: generaliseAttributes(where, record.attributes, columns.rules, releaseDate) };
    });
    return { profileName, kMin, columns, generalised };
  }

  /** Each record's anchor and its consent for this grantee and purpose now: queries, nothing logged. */
  private async decide(request: ReleaseRequest, prepared: Prepared): Promise<Decided[]> {
    const decided = await mapLimit(prepared.generalised, this.concurrency, async (row): Promise<Decided> => {
      const anchor = await this.deps.records.readRecord(this.deps.org.mspId, row.recordId);
      if (anchor.status === 'retracted') return { row, anchor, decision: undefined };
      const decision = await this.deps.consent.checkConsent({
        hospital: anchor.issuer,
        patientRef: anchor.patientRef,
        grantee: request.grantee,
        purpose: request.purpose,
        category: anchor.category,
        recordId: anchor.recordId,
      });
      return { row, anchor, decision };
    });
    const retracted = decided.filter((d) => d.decision === undefined).map((d) => d.row.recordId);
    if (retracted.length > 0) {
      throw new ApiError(422, 'RELEASE_RECORD_RETRACTED', `${retracted.length} record(s) of the release are retracted and cannot be released; remove them.`, { recordIds: retracted });
    }
    return decided;
  }

  /** The release check for one set of consent decisions: held back, k, suppression, the report and the refusal. */
  private assess(request: ReleaseRequest, prepared: Prepared, decided: readonly Decided[]): Outcome {
    const { profileName, kMin, columns } = prepared;
    const heldBack: HeldBack[] = decided
      .filter((d) => d.decision?.decision !== 'PERMIT')
      .map((d) => ({ recordId: d.row.recordId, decision: d.decision!.decision, ...(d.decision!.reason ? { reason: d.decision!.reason } : {}) }));
    const permitted: Row[] = decided.filter((d) => d.decision?.decision === 'PERMIT').map((d) => ({ ...d.row, patientRef: d.anchor.patientRef }));

    // k over the quasi-identifiers of the consented rows, counted in patients.
    const subjectRows = (rows: Row[]) => rows.map((r) => ({ ...r.values, [SUBJECT]: r.patientRef, [ROW]: r }));
    const before = checkKAnonymity(subjectRows(permitted), columns.quasiIdentifiers, kMin, { subjectField: SUBJECT });
    let released = permitted;
    let suppression: ReleaseReport['suppression'];
    if (!before.releasable && request.suppressSmallClasses && permitted.length > 0) {
      const kept = suppressBelowK(subjectRows(permitted), columns.quasiIdentifiers, kMin, { subjectField: SUBJECT });
      released = kept.rows.map((r) => r[ROW]);
      suppression = { rows: kept.suppressed, fraction: kept.suppressed / permitted.length, maxFraction: this.maxSuppressedFraction };
    }
    const after = released === permitted ? before : checkKAnonymity(subjectRows(released), columns.quasiIdentifiers, kMin, { subjectField: SUBJECT });
    const omitted = request.withoutConsent === 'omit' ? heldBack.length : 0;

    const sizes: Record<string, number> = {};
    for (const c of before.classesBelowK) sizes[String(c.size)] = (sizes[String(c.size)] ?? 0) + 1;
    const report: ReleaseReport = {
      profile: profileName,
      grantee: request.grantee,
      purpose: request.purpose,
      quasiIdentifiers: columns.quasiIdentifiers,
      sensitive: columns.sensitive,
      kMin,
      unit: 'patients',
      k: after.k,
      records: { requested: request.records.length, withoutConsent: heldBack.length, omitted, suppressed: suppression?.rows ?? 0, released: released.length },
      classes: before.classes,
      belowK: { classes: before.classesBelowK.length, rows: before.rowsBelowK, sizes },
      ...(suppression ? { suppression } : {}),
      lDiversity: lDiversity(released, columns),
      includesRecordIds: request.includeRecordIds === true,
      releasable: false,
    };
    const refusal = this.refusal(request, report, heldBack, before.releasable, suppression);
    report.releasable = refusal === undefined;
    if (refusal) report.records.released = 0;
    return { report, heldBack, rows: refusal ? [] : released, columns, ...(refusal ? { refusal } : {}) };
  }

  /** The first reason the release cannot go, in the order a research officer would fix them. */
  private refusal(request: ReleaseRequest, report: ReleaseReport, heldBack: HeldBack[], kBefore: boolean, suppression: ReleaseReport['suppression']): ReleaseRefusal | undefined {
    if (heldBack.length > 0 && request.withoutConsent !== 'omit') {
      return {
        status: 422,
        code: 'RELEASE_NO_CONSENT',
        message: `${heldBack.length} of ${report.records.requested} records have no consent in force for ${request.grantee} and ${request.purpose}; remove them, or send withoutConsent "omit" to leave them out.`,
        details: { records: heldBack },
      };
    }
    const empty: ReleaseRefusal = { status: 422, code: 'RELEASE_EMPTY', message: 'No record of the release is left to release (none has consent in force, or every one was suppressed).' };
    if (report.records.released + report.records.suppressed === 0) return empty;
    const q = report.quasiIdentifiers.join(', ');
    if (!kBefore && !suppression) {
      return {
        status: 422,
        code: 'RELEASE_BELOW_K',
        message:
          `${report.belowK.rows} of ${report.records.released} rows fall in ${report.belowK.classes} of ${report.classes} groups with fewer than k = ${report.kMin} patients on ${q}; ` +
          'generalise further, or send suppressSmallClasses to leave those rows out.',
      };
    }
    if (suppression && suppression.fraction > suppression.maxFraction) {
      return {
        status: 422,
        code: 'RELEASE_SUPPRESSION_TOO_LARGE',
        message:
          `Reaching k = ${report.kMin} on ${q} would suppress ${suppression.rows} of ${report.records.released + suppression.rows} rows, more than this gateway allows ` +
          `(${Math.round(suppression.maxFraction * 100)}%); generalise further instead.`,
      };
    }
    return report.records.released === 0 ? empty : undefined;
  }
}

/** A refused release as the error it is thrown as, with its report (and the ledger record of what was logged). */
function refusalError(outcome: Outcome, extra: Record<string, unknown> = {}): ApiError {
  const r = outcome.refusal as ReleaseRefusal;
  return new ApiError(r.status, r.code, r.message, { ...r.details, report: outcome.report, ...extra });
}

function summarise(recorded: RecordedDisclosure): DisclosureSummary {
  return {
    disclosureId: recorded.disclosure.disclosureId,
    transactionId: recorded.transactionId,
    blockNumber: recorded.blockNumber,
    logged: recorded.disclosure.records.length,
    ...(recorded.requestId !== undefined ? { requestId: recorded.requestId } : {}),
  };
}

/** Per sensitive column, the fewest distinct values in a class of the released rows. */
function lDiversity(rows: Row[], columns: ReleaseColumns): Record<string, number> {
  const out: Record<string, number> = {};
  if (rows.length === 0) return out;
  for (const s of columns.sensitive) {
    const classes = new Map<string, Set<string>>();
    for (const r of rows) {
      const key = JSON.stringify(columns.quasiIdentifiers.map((q) => r.values[q]));
      const set = classes.get(key) ?? new Set<string>();
      set.add(JSON.stringify(r.values[s]));
      classes.set(key, set);
    }
    out[s] = Math.min(...[...classes.values()].map((v) => v.size));
  }
  return out;
}

function compareRows(columns: string[]): (a: Record<string, QuasiValue>, b: Record<string, QuasiValue>) => number {
  return (a, b) => {
    for (const c of columns) {
      const x = JSON.stringify(a[c]);
      const y = JSON.stringify(b[c]);
      if (x !== y) return x < y ? -1 : 1;
    }
    return 0;
  };
}

/** Maps with at most `limit` calls in flight, keeping the order; the first failure rejects. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
