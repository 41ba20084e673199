import { Context, Info, Returns, Transaction } from 'fabric-contract-api';
import { ChaincodeError } from '../lib/errors';
import { canonicalJson, fromBytes, toBytes } from '../lib/canonical-json';
import { readConsortium, type OrgType } from '../lib/consortium';
import { accessLogKey, restrictToOrg } from '../lib/keys';
import { MedprovContract } from '../lib/policy';
import { txTimeIso, txTimeSeconds } from '../lib/tx-time';
import {
  parseJsonArgument,
  requireCode,
  requireDistinctList,
  requireMspId,
  requireObject,
  requireOneOf,
  requireOpaqueId,
  requireSha256Hex,
  requireString,
} from '../lib/validate';
import {
  decideLinkageConsent,
  LINKAGE_CONTRIBUTED_EVENT,
  LINKAGE_KEY_TYPES,
  LINKAGE_RECORD_PREFIX,
  LINKAGE_RECORDED_EVENT,
  LINKAGE_REQUESTED_EVENT,
  linkagePurpose,
  MAX_LINKAGE_CANDIDATES,
  MAX_LINKAGE_HOSPITALS,
  MAX_LINKAGE_K,
  MAX_LINKAGE_REQUEST_ID,
  MAX_QUASI_IDENTIFIERS,
  PROJECT_ID,
  type ContributionOutcome,
  type LinkageContribution,
  type LinkageExclusionReason,
  type LinkageHospitalSummary,
  type LinkageLogEntry,
  type LinkageRequest,
  type LinkageRequestInput,
  type LinkageResult,
  type LinkageView,
} from '../lib/linkage-model';
import { readBinding, readGrants } from './consent';
import type { Decision } from '../lib/consent-model';
import { callerRole } from './access';

export * from '../lib/linkage-model';

const requestKey = (ctx: Context, requestId: string): string => ctx.stub.createCompositeKey(LINKAGE_KEY_TYPES.request, [requestId]);
const contributionKey = (ctx: Context, requestId: string, hospital: string): string =>
  ctx.stub.createCompositeKey(LINKAGE_KEY_TYPES.contribution, [requestId, hospital]);
const resultKey = (ctx: Context, requestId: string): string => ctx.stub.createCompositeKey(LINKAGE_KEY_TYPES.result, [requestId]);

function requireInt(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ChaincodeError('INVALID_ARGUMENT', `${field} must be a whole number from ${min} to ${max}.`);
  }
  return value;
}

function requireProjectId(field: string, value: unknown): string {
  const s = requireString(field, value, 64);
  if (!PROJECT_ID.test(s)) throw new ChaincodeError('INVALID_ARGUMENT', `${field} must be 1 to 64 letters, digits, . _ - (it names the purpose research:<projectId>).`);
  return s;
}

function parseRequest(raw: string): LinkageRequestInput {
  const body = requireObject('request', parseJsonArgument('request', raw), ['requestId', 'projectId', 'hospitals', 'institution', 'quasiIdentifiers', 'k']);
  const hospitals = requireDistinctList('request.hospitals', body.hospitals, MAX_LINKAGE_HOSPITALS, requireMspId);
  if (hospitals.length < 2) throw new ChaincodeError('INVALID_ARGUMENT', 'request.hospitals must list at least 2 hospitals: a linkage joins records across hospitals.');
  const quasiIdentifiers = requireDistinctList('request.quasiIdentifiers', body.quasiIdentifiers, MAX_QUASI_IDENTIFIERS, (f, v) => requireCode(f, v));
  if (quasiIdentifiers.length === 0) throw new ChaincodeError('INVALID_ARGUMENT', 'request.quasiIdentifiers must name at least one quasi-identifier for the release check.');
  return {
    requestId: requireOpaqueId('request.requestId', body.requestId, MAX_LINKAGE_REQUEST_ID),
    projectId: requireProjectId('request.projectId', body.projectId),
    hospitals,
    institution: requireMspId('request.institution', body.institution),
    quasiIdentifiers,
    k: requireInt('request.k', body.k, 2, MAX_LINKAGE_K),
  };
}

async function readRequest(ctx: Context, requestId: string): Promise<LinkageRequest> {
  const bytes = await ctx.stub.getState(requestKey(ctx, requestId));
  if (bytes.length === 0) throw new ChaincodeError('LINKAGE_NOT_FOUND', `No linkage request ${requestId} is on the ledger.`);
  return fromBytes<LinkageRequest>(bytes);
}

async function readResult(ctx: Context, requestId: string): Promise<LinkageResult | undefined> {
  const bytes = await ctx.stub.getState(resultKey(ctx, requestId));
  return bytes.length > 0 ? fromBytes<LinkageResult>(bytes) : undefined;
}

async function readContribution(ctx: Context, requestId: string, hospital: string): Promise<LinkageContribution | undefined> {
  const bytes = await ctx.stub.getState(contributionKey(ctx, requestId, hospital));
  return bytes.length > 0 ? fromBytes<LinkageContribution>(bytes) : undefined;
}

async function viewOf(ctx: Context, request: LinkageRequest): Promise<LinkageView> {
  const contributions: LinkageContribution[] = [];
  const awaiting: string[] = [];
  for (const hospital of request.hospitals) {
    const c = await readContribution(ctx, request.requestId, hospital);
    if (c) contributions.push(c);
    else awaiting.push(hospital);
  }
  const result = await readResult(ctx, request.requestId);
  return { request, status: result ? result.status : 'open', contributions, awaiting, ...(result ? { result } : {}) };
}

/**
 * Research linkage across hospitals under the patients' consent (issue 19). A sponsor requests
 * it, each listed hospital contributes the candidates whose research consent for the project is
 * in force (every candidate logged in the patient's access log), and the named linkage
 * institution records what it linked: counts and hashes, never a token or a pseudonym. Each
 * party's key carries that party's own key-level endorsement policy.
 */
@Info({ title: 'Linkage', description: 'Consented research linkage across hospitals: requests, contributions, what the linkage institution linked' })
export class LinkageContract extends MedprovContract {
  constructor() {
    super('Linkage');
  }

  /**
   * A sponsor requests a linkage (`{ requestId, projectId, hospitals, institution,
   * quasiIdentifiers, k }`): the hospitals (at least 2) must be hospitals of the consortium and
   * the institution its linkage institution. Stored as `open` under the sponsor's key-level
   * policy; emits {@link LINKAGE_REQUESTED_EVENT}. The same request again returns the stored one
   * (`created: false`); another request under the same id is LINKAGE_EXISTS.
   */
  @Transaction()
  @Returns('string')
  async requestLinkage(ctx: Context, requestJson: string): Promise<string> {
    const input = parseRequest(requestJson);
    const sponsor = ctx.clientIdentity.getMSPID();
    const consortium = await readConsortium(ctx);
    const typeOf = (mspId: string): OrgType | undefined => consortium?.organisations.find((o) => o.mspId === mspId)?.type;
    for (const [i, hospital] of input.hospitals.entries()) {
      const type = typeOf(hospital);
      if (type === undefined) throw new ChaincodeError('ORG_NOT_IN_CONSORTIUM', `request.hospitals[${i}] ${hospital} is not a member of the consortium.`);
      if (type !== 'hospital') throw new ChaincodeError('INVALID_ARGUMENT', `request.hospitals[${i}] ${hospital} is a ${type}, not a hospital.`);
    }
    const institutionType = typeOf(input.institution);
    if (institutionType === undefined) throw new ChaincodeError('ORG_NOT_IN_CONSORTIUM', `request.institution ${input.institution} is not a member of the consortium.`);
    if (institutionType !== 'linkage') throw new ChaincodeError('INVALID_ARGUMENT', `request.institution ${input.institution} is a ${institutionType}, not a linkage institution.`);

    const key = requestKey(ctx, input.requestId);
    const existing = await ctx.stub.getState(key);
    if (existing.length > 0) {
      const stored = fromBytes<LinkageRequest>(existing);
      const same: LinkageRequestInput = {
        requestId: stored.requestId,
        projectId: stored.projectId,
        hospitals: stored.hospitals,
        institution: stored.institution,
        quasiIdentifiers: stored.quasiIdentifiers,
        k: stored.k,
      };
      if (stored.sponsor === sponsor && canonicalJson(same) === canonicalJson(input)) return canonicalJson({ request: stored, created: false });
      throw new ChaincodeError('LINKAGE_EXISTS', `A linkage request ${input.requestId} already exists${stored.sponsor === sponsor ? ' with other terms' : ''}; choose a new requestId.`);
    }
    const request: LinkageRequest = { ...input, purpose: linkagePurpose(input.projectId), sponsor, requestedAt: txTimeIso(ctx), txId: ctx.stub.getTxID() };
    await ctx.stub.putState(key, toBytes(request));
    await restrictToOrg(ctx, key, sponsor);
    ctx.stub.setEvent(LINKAGE_REQUESTED_EVENT, toBytes(request));
    return canonicalJson({ request, created: true });
  }

  /**
   * A listed hospital contributes its cohort candidates (`{ requestId, patientRefs }`, its own
   * pseudonyms, 1 to {@link MAX_LINKAGE_CANDIDATES}), once per request. Each candidate is
   * included only if it is registered at this hospital and a grant to the request's sponsor for
   * `research:<projectId>` is in force at the transaction's time; every candidate gets an entry
   * of kind `linkage` in the patient's access log, permitted or not. Stores the counts only
   * (under the hospital's key-level policy) and emits {@link LINKAGE_CONTRIBUTED_EVENT}; answers
   * which candidates are included and why the others are not.
   */
  @Transaction()
  @Returns('string')
  async contribute(ctx: Context, contributionJson: string): Promise<string> {
    const body = requireObject('contribution', parseJsonArgument('contribution', contributionJson), ['requestId', 'patientRefs']);
    const requestId = requireOpaqueId('contribution.requestId', body.requestId, MAX_LINKAGE_REQUEST_ID);
    const patientRefs = requireDistinctList('contribution.patientRefs', body.patientRefs, MAX_LINKAGE_CANDIDATES, requireSha256Hex);
    if (patientRefs.length === 0) throw new ChaincodeError('INVALID_ARGUMENT', 'contribution.patientRefs must list at least one candidate.');
    const request = await readRequest(ctx, requestId);
    const hospital = ctx.clientIdentity.getMSPID();
    if (!request.hospitals.includes(hospital)) {
      throw new ChaincodeError('LINKAGE_NOT_PARTY', `${hospital} is not one of the hospitals linkage request ${requestId} asks (${request.hospitals.join(', ')}).`);
    }
    const result = await readResult(ctx, requestId);
    if (result) throw new ChaincodeError('LINKAGE_CLOSED', `Linkage request ${requestId} is ${result.status}; it takes no more contributions.`);
    const key = contributionKey(ctx, requestId, hospital);
    if ((await ctx.stub.getState(key)).length > 0) {
      throw new ChaincodeError('LINKAGE_ALREADY_CONTRIBUTED', `${hospital} has already contributed to linkage request ${requestId}; a hospital contributes once per request.`);
    }

    const at = txTimeIso(ctx);
    const now = txTimeSeconds(ctx);
    const txId = ctx.stub.getTxID();
    const role = callerRole(ctx);
    const included: string[] = [];
    const excluded: { patientRef: string; reason: LinkageExclusionReason }[] = [];
    for (const patientRef of patientRefs) {
      const binding = await readBinding(ctx, hospital, patientRef);
      const decision: { decision: Decision; reason?: LinkageExclusionReason; grantId?: string } = binding
        ? decideLinkageConsent(await readGrants(ctx, hospital, patientRef), { sponsor: request.sponsor, purpose: request.purpose }, now)
        : { decision: 'NO_CONSENT' as const, reason: 'PATIENT_NOT_REGISTERED' as const };
      if (decision.decision === 'PERMIT') included.push(patientRef);
      else excluded.push({ patientRef, reason: decision.reason ?? 'NO_CONSENT' });
      const entry: LinkageLogEntry = {
        accessor: request.sponsor,
        ...(role !== undefined ? { role } : {}),
        kind: 'linkage',
        disclosedBy: hospital,
        requestId,
        issuer: hospital,
        recordId: `${LINKAGE_RECORD_PREFIX}${requestId}`,
        version: 0,
        patientRef,
        purpose: request.purpose,
        decision: decision.decision,
        // The log keeps the consent decision's reasons only; PATIENT_NOT_REGISTERED is the hospital's to know (the answer).
        ...(decision.reason !== undefined && decision.reason !== 'PATIENT_NOT_REGISTERED' && decision.reason !== 'NO_CONSENT' ? { reason: decision.reason } : {}),
        ...(decision.grantId !== undefined ? { grantId: decision.grantId } : {}),
        at,
        txId,
      };
      // No key-level policy, like every access-log entry: nobody may erase it.
      await ctx.stub.putState(accessLogKey(ctx, hospital, patientRef, at, txId), toBytes(entry));
    }
    const contribution: LinkageContribution = { requestId, hospital, candidates: patientRefs.length, included: included.length, at, txId };
    await ctx.stub.putState(key, toBytes(contribution));
    await restrictToOrg(ctx, key, hospital);
    ctx.stub.setEvent(LINKAGE_CONTRIBUTED_EVENT, toBytes(contribution));
    const outcome: ContributionOutcome = { contribution, included, excluded };
    return canonicalJson(outcome);
  }

  /**
   * The linkage institution named in the request records what it linked, once, after every
   * listed hospital contributed: `{ requestId, perHospital: { mspId: { count, tokenSetHash } },
   * linkedSubjects, releaseHash, status: released | refused, refusal?: { code, k, smallestClass } }`.
   * perHospital names exactly the listed hospitals, each count at most that hospital's included
   * candidates; linkedSubjects at most the smallest count. Stored under the institution's
   * key-level policy; emits {@link LINKAGE_RECORDED_EVENT}.
   *
   * LINKAGE_INCOMPLETE right after a hospital's contribution committed (the hospital says so over
   * HTTP) may only mean that the institution's own peer has not committed that block yet: ask
   * again a moment later (the same holds for a hospital's LINKAGE_NOT_FOUND right after the
   * sponsor's request). The real-network test waits for the institution's peer to see it.
   */
  @Transaction()
  @Returns('string')
  async recordLinkage(ctx: Context, resultJson: string): Promise<string> {
    const body = requireObject('result', parseJsonArgument('result', resultJson), ['requestId', 'perHospital', 'linkedSubjects', 'releaseHash', 'status', 'refusal']);
    const requestId = requireOpaqueId('result.requestId', body.requestId, MAX_LINKAGE_REQUEST_ID);
    const request = await readRequest(ctx, requestId);
    const institution = ctx.clientIdentity.getMSPID();
    if (institution !== request.institution) {
      throw new ChaincodeError('LINKAGE_NOT_PARTY', `${institution} is not the linkage institution of request ${requestId} (${request.institution} is).`);
    }
    const existing = await readResult(ctx, requestId);
    if (existing) throw new ChaincodeError('LINKAGE_CLOSED', `Linkage request ${requestId} is already ${existing.status}; its outcome is recorded once.`);
    const contributions = new Map<string, LinkageContribution>();
    for (const hospital of request.hospitals) {
      const c = await readContribution(ctx, requestId, hospital);
      if (c) contributions.set(hospital, c);
    }
    const awaiting = request.hospitals.filter((h) => !contributions.has(h));
    if (awaiting.length > 0) {
      throw new ChaincodeError('LINKAGE_INCOMPLETE', `Linkage request ${requestId} still awaits the contribution of ${awaiting.join(', ')}; record the linkage once every listed hospital has contributed.`);
    }

    const raw = body.perHospital;
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ChaincodeError('INVALID_ARGUMENT', 'result.perHospital must be an object { mspId: { count, tokenSetHash } }.');
    const named = Object.keys(raw).sort();
    const listed = [...request.hospitals].sort();
    if (canonicalJson(named) !== canonicalJson(listed)) {
      throw new ChaincodeError('INVALID_ARGUMENT', `result.perHospital must name exactly the request's hospitals (${listed.join(', ')}).`);
    }
    const perHospital: Record<string, LinkageHospitalSummary> = {};
    for (const hospital of request.hospitals) {
      const field = `result.perHospital.${hospital}`;
      const entry = requireObject(field, (raw as Record<string, unknown>)[hospital], ['count', 'tokenSetHash']);
      const included = (contributions.get(hospital) as LinkageContribution).included;
      perHospital[hospital] = { count: requireInt(`${field}.count`, entry.count, 0, included), tokenSetHash: requireSha256Hex(`${field}.tokenSetHash`, entry.tokenSetHash) };
    }
    const smallest = Math.min(...Object.values(perHospital).map((h) => h.count));
    const linkedSubjects = requireInt('result.linkedSubjects', body.linkedSubjects, 0, smallest);
    const releaseHash = requireSha256Hex('result.releaseHash', body.releaseHash);
    const status = requireOneOf('result.status', body.status, ['released', 'refused'] as const);
    let refusal: LinkageResult['refusal'];
    if (status === 'refused') {
      if (body.refusal === undefined) throw new ChaincodeError('INVALID_ARGUMENT', 'result.refusal { code, k, smallestClass } is required when result.status is refused.');
      const r = requireObject('result.refusal', body.refusal, ['code', 'k', 'smallestClass']);
      refusal = { code: requireCode('result.refusal.code', r.code), k: requireInt('result.refusal.k', r.k, 2, MAX_LINKAGE_K), smallestClass: requireInt('result.refusal.smallestClass', r.smallestClass, 0, 1_000_000_000) };
    } else if (body.refusal !== undefined) {
      throw new ChaincodeError('INVALID_ARGUMENT', 'result.refusal is given only when result.status is refused.');
    }

    const result: LinkageResult = {
      requestId,
      institution,
      perHospital,
      linkedSubjects,
      releaseHash,
      status,
      ...(refusal ? { refusal } : {}),
      recordedAt: txTimeIso(ctx),
      txId: ctx.stub.getTxID(),
    };
    const key = resultKey(ctx, requestId);
    await ctx.stub.putState(key, toBytes(result));
    await restrictToOrg(ctx, key, institution);
    ctx.stub.setEvent(LINKAGE_RECORDED_EVENT, toBytes(result));
    return canonicalJson(result);
  }

  /** The linkage `requestId`: the request, its status, the contributions (counts only), who is awaited, the result. */
  @Transaction(false)
  @Returns('string')
  async readLinkage(ctx: Context, requestIdArg: string): Promise<string> {
    const requestId = requireOpaqueId('requestId', requestIdArg, MAX_LINKAGE_REQUEST_ID);
    return canonicalJson(await viewOf(ctx, await readRequest(ctx, requestId)));
  }

  /** Every linkage of `projectId` (the empty string: of every project), in request-id order. */
  @Transaction(false)
  @Returns('string')
  async listLinkages(ctx: Context, projectIdArg: string): Promise<string> {
    const projectId = projectIdArg === '' ? undefined : requireProjectId('projectId', projectIdArg);
    const views: LinkageView[] = [];
    for await (const kv of ctx.stub.getStateByPartialCompositeKey(LINKAGE_KEY_TYPES.request, [])) {
      const request = fromBytes<LinkageRequest>(kv.value);
      if (projectId === undefined || request.projectId === projectId) views.push(await viewOf(ctx, request));
    }
    return canonicalJson(views);
  }
}
