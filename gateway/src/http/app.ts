import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ConsentCheckQuery, ConsentService, SignedChallenge, SignedGrant, SignedRegistration, SignedRevocation } from '../consent/service';
import { hashMultipartUpload, type UploadLimits } from '../documents/upload';
import { AcceptanceService, type Acknowledgement, type RequestContext } from '../acceptance/service';
import { isStorageFull, storageFullError } from '../acceptance/errors';
import { registerLedgerWriteMetrics } from '../acceptance/metrics';
import type { RequestStatus } from '../acceptance/submitter';
import { ApiError } from '../errors';
import { FHIR_JSON, accessLogToAuditEventBundle, anchorToProvenanceBundle, grantToConsent, grantsToConsentBundle } from '../fhir';
import { isPrivacyError } from '../privacy';
import type { AmendmentRequest, RecordsService, NewRecordRequest } from '../records/service';
import { RecordReads, type AccessReceipt } from '../records/reads';
import type { CommitmentKind } from '../documents/commitment';
import type { AnchorIndexStatus } from '../records/anchor-index';
import type { AnchoringStatus } from '../anchoring/service';
import type { Receipt } from '../anchoring/receipt';
import { isAnchoringError } from '../anchoring/errors';
import type { RetractionReason } from '../../../chaincode/src/lib/record-model';
import { ApiKeyAuthenticator, type User, type UserConfig } from './auth';
import { streamConsentEvents, type ConsentEventsOptions } from './consent-events';
import { mountApiDocs } from './docs-page';
import { openApiDocument } from './openapi';
import { mountPages } from './pages';
import { mountOrganisationRoute, mountRegistrationLinkRoutes } from './page-routes';
import { RegistrationLinks } from '../consent/registration-links';
import type { OrganisationEntry } from '../../../network/src/network';
import { DEFAULT_PATIENT_RATE_LIMIT, DEFAULT_RATE_LIMIT, RateLimiter } from './rate-limit';
import { DEFAULT_HTTP_LIMITS, UploadGate, type HttpLimits } from './upload-gate';
import { ACCESS_PURPOSES, HOSPITAL_ONLY, OPERATION_ROLES, type Operation, type PatientOperation } from './roles';
import { validateBody } from './validation';
import { verifyLane, type RequestFields } from './verify-lane';
import { mountErasureRoutes, mountRotationRoutes } from './privacy-routes';
import { mountBackupRoutes } from './backup-routes';
import type { GatewayBackups } from '../recovery/gateway-backup';
import type { ErasureService } from '../erasure/service';
import type { MasterKeyRotation } from '../privacy';
import { ResearchReleases, type ReleaseOptions } from '../research/release';
import { LedgerDisclosures } from '../research/disclosure';
import { mountResearchRoutes } from './research-routes';
import type { LedgerProbeStatus } from '../fabric/probe';
import type { LedgerPeerStatus } from '../fabric/failover';
import type { LedgerIdentity } from '../fabric/identities';
import type { ArchiveLedger } from '../anchoring/archive-ledger';
import { mountArchiveRoutes } from './archive-routes';
import { mountLinkageRoutes, type LinkageParty } from './linkage-routes';
import { mountGuardianRoutes } from './guardian-routes';
import { mountBreakGlassRoutes } from './break-glass-routes';
import type { BreakGlassAccess } from '../records/break-glass';
import type { AccessReceiptIssuer } from '../anchoring/access-receipt-issuer';
import { accessReceiptPath, mountAccessReceiptRoutes } from './access-receipt-routes';

export interface GatewayOptions {
  org: { mspId: string; name: string; type: 'hospital' | 'insurer' | 'sponsor' | 'linkage' };
  /** The consortium's organisations with their display names (GET /v1/organisations, the pages); this org by its name unless given. */
  organisations?: readonly OrganisationEntry[];
  /** Registration links' lifetime (default 15 min, never beyond the request's). */
  registrationLinks?: { ttlSeconds?: number };
  users: readonly UserConfig[];
  records: RecordsService;
  /** Patient consent and consent-checked access; without it those routes are not offered. */
  consent?: ConsentService;
  /** The consent feed: with it, GET /v1/consents/events streams the grants and revocations that concern this org. */
  consentEvents?: ConsentEventsOptions;
  /**
   * Durable acceptance of writes: with it, the write routes answer 202 once the request is on
   * disk and GET /v1/requests/{id} tells how it stands; without it they submit synchronously.
   */
  acceptance?: AcceptanceService;
  /**
   * Public anchoring: with `service`, GET /v1/receipts/{docHash} issues receipts that verify
   * offline and against the EVM chain; with `off`, that route says why there are none.
   */
  anchoring?: { service: { receipt(docHash: string): Promise<Receipt>; status(): AnchoringStatus } } | { off: string };
  /** The local anchor index verifications use: its state is shown at /healthz and /metrics. */
  anchorIndex?: { status(): AnchorIndexStatus };
  /** Whether a real write has gone through the ledger since start: shown at /healthz as `ledger`. */
  ledgerProbe?: { status(): LedgerProbeStatus };
  /** The org's peer in use and its moves (failover): shown at /healthz as `peer`, at /metrics as medprov_ledger_peer*. */
  ledgerPeer?: { status(): LedgerPeerStatus };
  /** The Fabric identity a role's transactions are submitted as (GET /v1/whoami `ledgerIdentity`; fabric/identities.ts). */
  ledgerIdentity?: (role: string) => LedgerIdentity;
  /** Erasure for the DPO (POST /v1/erasures, …); without it those routes are not offered. */
  erasure?: ErasureService;
  /** Master key rotation for the admin (/v1/admin/master-key/rotation); without it not offered. */
  rotation?: MasterKeyRotation;
  /** Backups of the gateway's state for the admin (POST /v1/admin/backups); without it not offered. */
  backups?: GatewayBackups;
  /**
   * The research release policy (minimum k, suppression limit, release profiles); the release
   * routes come with `consent`, at the defaults unless given (k = 5, 10% suppression).
   */
  research?: ReleaseOptions;
  /** Archives (POST /v1/archives, GET /v1/archives/{issuer}/{archiveId}); without it not offered. */
  archives?: ArchiveLedger;
  /** Research linkage: this gateway's part (hospital, sponsor or linkage institution); without it the /v1/linkage routes are not offered. */
  linkage?: LinkageParty;
  /** Break-glass, hospitals only (POST /v1/break-glass, GET /v1/audit/break-glass); without it not offered. */
  breakGlass?: BreakGlassAccess;
  /** Consent-bound receipts of accesses (GET /v1/access-receipts/{txId}); `off` says why there are none; without it not offered. */
  accessReceipts?: AccessReceiptIssuer | { off: string };
  logger: Logger;
  /**
   * perSecond/burst: per API-key user (default {@link DEFAULT_RATE_LIMIT}; the gateway process
   * reads them from MEDPROV_RATE_LIMIT_PER_SECOND / _BURST). patientPerSecond/patientBurst: per client IP on the
   * routes patients use without an API key (behind a reverse proxy, set Express's
   * "trust proxy" so that the IP is the client's, not the proxy's).
   */
  limits?: Partial<{
    jsonBytes: string;
    upload: UploadLimits;
    /** Uploads in progress at once (in all, per user) and an upload body's idle deadline (default {@link DEFAULT_HTTP_LIMITS}; the process reads MEDPROV_MAX_UPLOADS, …). */
    uploads: Partial<Pick<HttpLimits, 'maxUploads' | 'maxUploadsPerUser' | 'uploadIdleTimeoutMs'>>;
    perSecond: number;
    burst: number;
    patientPerSecond: number;
    patientBurst: number;
    saltedUploadMaxBytes: number;
  }>;
}

type Handler = (req: Request, res: Response, user: User) => Promise<void>;
type PatientHandler = (req: Request, res: Response) => Promise<void>;

const DEFAULT_UPLOAD: UploadLimits = { maxBytes: 64 * 2 ** 20, fieldName: 'document', maxFields: 8, maxFieldBytes: 1024 };
/**
 * Uploads up to this size are anchored as salted commitments unless the request says otherwise
 * (`limits.saltedUploadMaxBytes`): short structured documents are the ones whose bare hash can be
 * confirmed by guessing.
 */
export const DEFAULT_SALTED_UPLOAD_MAX_BYTES = 64 * 1024;

/**
 * One organisation's HTTP gateway. Routes are thin: authenticate, authorise, validate against
 * the OpenAPI schemas, call the records service, shape the answer. Every error leaves as the
 * JSON envelope `{ error: { code, message, requestId } }`.
 */
export function createGatewayApp(options: GatewayOptions): { app: express.Express; metrics: Registry } {
  const { org, records, consent, logger } = options;
  const uploadLimits: UploadLimits = { ...(options.limits?.upload ?? DEFAULT_UPLOAD), idleTimeoutMs: options.limits?.uploads?.uploadIdleTimeoutMs ?? DEFAULT_HTTP_LIMITS.uploadIdleTimeoutMs };
  const uploadGate = new UploadGate({ ...DEFAULT_HTTP_LIMITS, ...options.limits?.uploads });
  /** One multipart upload hashed as it streams in, holding one of the gateway's (and the user's) upload slots meanwhile. */
  const hashUpload = async (req: Request, res: Response, user: User) => {
    // Refused before its body is read (Node drains the body after the answer, so the client, still
    // sending, reads the answer rather than a reset; its connection holds no upload slot).
    const release = uploadGate.enter(user.id);
    try {
      return await hashMultipartUpload(req.headers, req, uploadLimits);
    } catch (err) {
      // A client gone silent gets its answer, then the connection is closed (not drained).
      if (err instanceof ApiError && err.code === 'UPLOAD_TIMEOUT') res.setHeader('connection', 'close');
      throw err;
    } finally {
      release();
    }
  };
  const saltedUploadMaxBytes = options.limits?.saltedUploadMaxBytes ?? DEFAULT_SALTED_UPLOAD_MAX_BYTES;
  const auth = new ApiKeyAuthenticator(options.users);
  const limiter = new RateLimiter(options.limits?.perSecond ?? DEFAULT_RATE_LIMIT.perSecond, options.limits?.burst ?? DEFAULT_RATE_LIMIT.burst);
  // Patients have no API key: their flood is counted per client IP, apart from staff traffic.
  const patientLimiter = new RateLimiter(options.limits?.patientPerSecond ?? DEFAULT_PATIENT_RATE_LIMIT.perSecond, options.limits?.patientBurst ?? DEFAULT_PATIENT_RATE_LIMIT.burst);
  const spec = openApiDocument(org, {
    consent: consent !== undefined,
    consentEvents: options.consentEvents !== undefined,
    erasure: options.erasure !== undefined,
    rotation: options.rotation !== undefined,
    backups: options.backups !== undefined,
    archives: options.archives !== undefined,
    ...(options.linkage ? { linkage: options.linkage.type } : {}),
    breakGlass: options.breakGlass !== undefined,
    registrationLinks: consent !== undefined && org.type === 'hospital',
    accessReceipts: options.accessReceipts !== undefined,
  });

  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics });
  const requests = new Counter({ name: 'medprov_http_requests_total', help: 'HTTP requests by operation and status', labelNames: ['operation', 'status'], registers: [metrics] });
  const latency = new Histogram({
    name: 'medprov_http_request_seconds',
    help: 'HTTP request duration by operation',
    labelNames: ['operation'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [metrics],
  });
  // Each label set's child, found once: prom-client hashes the labels object on every inc/observe otherwise.
  const requestCounts = new Map<string, { inc(): void }>();
  const latencies = new Map<string, { observe(seconds: number): void }>();
  if (options.anchorIndex) registerAnchorIndexMetrics(metrics, options.anchorIndex);
  if (options.anchoring && 'service' in options.anchoring) registerAnchoringMetrics(metrics, options.anchoring.service);
  const consentDecisions = new Counter({
    name: 'medprov_consent_decisions_total',
    help: 'Consent decisions this gateway answered, by kind (check: a query, nothing logged; access: a consent-checked access, logged on the ledger), decision and deny reason',
    labelNames: ['kind', 'decision', 'reason'],
    registers: [metrics],
  });
  const countDecision = (kind: 'check' | 'access', d: { decision: string; reason?: string }) => consentDecisions.inc({ kind, decision: d.decision, reason: d.reason ?? '' });
  if (consent) registerLedgerConflictMetrics(metrics, consent);
  if (options.ledgerPeer) registerLedgerPeerMetrics(metrics, options.ledgerPeer);
  registerLedgerWriteMetrics(metrics, { records, ...(options.acceptance ? { acceptance: options.acceptance } : {}) });

  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');

  /**
   * Gives the request its id (and the header), and when it finishes counts it, times it and logs
   * it with what the route put in `fields` (Express's `res.locals`, or the verification lane's own).
   */
  const begin = (req: IncomingMessage, res: ServerResponse, fields: RequestFields): void => {
    // The client's X-Request-Id is logged, so only an opaque one is kept (a UUID, or 32 hex
    // digits as proxies make them); anything else (a date, a phone or registration number
    // someone chose as a "request id") is replaced, never written to the log.
    const given = req.headers['x-request-id'];
    const requestId = typeof given === 'string' && OPAQUE_REQUEST_ID.test(given) ? given : randomUUID();
    fields.requestId = requestId;
    const start = process.hrtime.bigint();
    res.setHeader('x-request-id', requestId);
    res.on('finish', () => {
      const operation = String(fields.operation ?? 'other');
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const counted = `${operation} ${res.statusCode}`;
      let count = requestCounts.get(counted);
      if (!count) requestCounts.set(counted, (count = requests.labels(operation, String(res.statusCode))));
      count.inc();
      let timer = latencies.get(operation);
      if (!timer) latencies.set(operation, (timer = latency.labels(operation)));
      timer.observe(seconds);
      logger.info({ requestId, operation, method: req.method, status: res.statusCode, ms: Math.round(seconds * 1000), user: fields.userId, code: fields.errorCode }, 'request');
    });
  };
  app.use((req, res, next) => {
    begin(req, res, res.locals as RequestFields);
    next();
  });

  app.get('/healthz', (_req, res) => {
    res.json({
      status: 'ok',
      org: org.mspId,
      ...(options.ledgerProbe ? { ledger: options.ledgerProbe.status() } : {}),
      ...(options.ledgerPeer ? { peer: options.ledgerPeer.status() } : {}),
      ...(options.anchorIndex ? { anchorIndex: options.anchorIndex.status() } : {}),
      ...(options.anchoring ? { anchoring: 'off' in options.anchoring ? { off: options.anchoring.off } : options.anchoring.service.status() } : {}),
    });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.contentType).send(await metrics.metrics());
  });
  app.get('/v1/openapi.json', (_req, res) => {
    res.json(spec);
  });
  mountPages(app, { org });
  mountApiDocs(app, { org });
  mountOrganisationRoute(app, options.organisations ?? [{ ...org, displayName: { ko: org.name, en: org.name } }]);

  const jsonBody = express.json({ limit: options.limits?.jsonBytes ?? '1mb', strict: true, type: 'application/json' });

  /** Who is calling (by API key), within their rate limit, and may they do `operation` here? */
  const admit = (operation: Operation, authorization: string | undefined, fields?: RequestFields): User => {
    const user = auth.authenticate(authorization);
    if (fields) fields.userId = user.id;
    limiter.take(user.id);
    if (!(OPERATION_ROLES[operation] as readonly string[]).includes(user.role)) {
      throw new ApiError(403, 'FORBIDDEN_ROLE', `Your role (${user.role}) may not ${describe(operation)}.`);
    }
    if (HOSPITAL_ONLY.includes(operation) && org.type !== 'hospital') {
      throw new ApiError(403, 'FORBIDDEN_ORG_TYPE', `${org.mspId} is a ${org.type}; only hospitals ${describe(operation)}.`);
    }
    return user;
  };

  /** Wraps a route: who is calling, may they, and what the body says. */
  const route = (operation: Operation, handler: Handler) => [
    (req: Request, res: Response, next: NextFunction) => {
      res.locals.operation = operation;
      try {
        res.locals.user = admit(operation, req.headers.authorization, res.locals as RequestFields);
        next();
      } catch (err) {
        next(err);
      }
    },
    (req: Request, res: Response, next: NextFunction) => (req.is('multipart/form-data') ? next() : jsonBody(req, res, next)),
    async (req: Request, res: Response) => handler(req, res, res.locals.user as User),
  ];

  /** Wraps a patient route: no API key (the signature inside is checked later), a per-IP limit, a JSON body. */
  const patientRoute = (operation: PatientOperation, handler: PatientHandler) => [
    (req: Request, res: Response, next: NextFunction) => {
      res.locals.operation = operation;
      // Never the address or the IP in the request log: "patient" says enough.
      res.locals.userId = 'patient';
      try {
        patientLimiter.take(`ip:${req.ip ?? req.socket.remoteAddress ?? 'unknown'}`);
        next();
      } catch (err) {
        next(err);
      }
    },
    jsonBody,
    async (req: Request, res: Response) => handler(req, res),
  ];

  const recordPath = (req: Request) => validateBody<{ issuer: string; recordId: string }>('RecordPath', { issuer: req.params.issuer, recordId: req.params.recordId });

  /**
   * A write: through the acceptance journal when there is one (202 + Location, or the final
   * answer when the client sends `Prefer: wait=N` and it comes in time), otherwise synchronous.
   * `extra` goes into every answer (how the document was committed to, and its salt).
   */
  const write = async (
    req: Request,
    res: Response,
    user: User,
    accept: (acceptance: AcceptanceService, context: RequestContext) => Promise<Acknowledgement>,
    synchronous: () => Promise<{ status: number; body: unknown }>,
    committed: (result: unknown, blockNumber: string) => { status: number; body: unknown },
    extra: object = {},
  ): Promise<void> => {
    const acceptance = options.acceptance;
    if (!acceptance) {
      const out = await synchronous();
      res.status(out.status).json({ ...(out.body as object), ...extra });
      return;
    }
    const idempotencyKey = req.get('idempotency-key');
    const ack = await accept(acceptance, { user: user.id, ...(idempotencyKey !== undefined ? { idempotencyKey } : {}) });
    res.location(ack.location);
    if (ack.replayed) res.setHeader('idempotent-replayed', 'true');
    const wait = preferredWaitSeconds(req.get('prefer'));
    const settled: RequestStatus | undefined = wait > 0 ? await acceptance.waitFor(ack.id, wait * 1000) : undefined;
    if (settled?.state === 'rejected') throw AcceptanceService.rejectionError(settled);
    if (settled?.state === 'committed') {
      const out = committed(settled.result, settled.blockNumber);
      res.status(out.status).json({ ...(out.body as object), ...extra });
      return;
    }
    res.status(202).setHeader('retry-after', '1');
    res.json({ ...(settled ?? ack.status), ...extra });
  };

  /** What an anchor's answer says of its commitment: the form, and the salt of a salted one. */
  const commitmentFields = (docHash: string, kind: CommitmentKind | undefined): { commitment: CommitmentKind; salt?: string } => {
    const { commitment, salt } = records.commitmentOf(docHash, kind);
    return { commitment, ...(salt !== undefined ? { salt } : {}) };
  };

  app.get('/v1/whoami', ...route('whoami', async (_req, res, user) => {
    res.json({ user, org, ...(options.ledgerIdentity ? { ledgerIdentity: options.ledgerIdentity(user.role) } : {}) });
  }));

  app.post('/v1/documents/hash', ...route('hashDocument', async (req, res, user) => {
    requireMultipart(req);
    const { docHash, bytes } = await hashUpload(req, res, user);
    res.json({ docHash, bytes });
  }));

  app.post('/v1/records', ...route('anchorRecord', async (req, res, user) => {
    let body: NewRecordRequest;
    if (req.is('multipart/form-data')) {
      const upload = await hashUpload(req, res, user);
      body = validateBody<NewRecordRequest>('AnchorRequest', { ...upload.fields, docHash: upload.docHash });
      // A small document is salted unless the request says otherwise: its bare hash could be guessed.
      if (body.commitment === undefined && upload.bytes <= saltedUploadMaxBytes) body = { ...body, commitment: 'salted' };
    } else {
      body = validateBody<NewRecordRequest>('AnchorRequest', requireJson(req));
    }
    const extra = commitmentFields(body.docHash, body.commitment);
    await write(
      req,
      res,
      user,
      (a, ctx) => a.anchorRecord(body, ctx),
      async () => {
        const out = await records.anchorRecord(body);
        return { status: out.created ? 201 : 200, body: out };
      },
      (result, blockNumber) => ({ status: (result as { created: boolean }).created ? 201 : 200, body: { ...(result as object), blockNumber } }),
      extra,
    );
  }));

  app.post('/v1/records/batch', ...route('anchorBatch', async (req, res, user) => {
    const body = validateBody<{ records: NewRecordRequest[] }>('AnchorBatchRequest', requireJson(req));
    // The salts of the salted records, by record id (there are none unless a record asks).
    const salts: Record<string, string> = {};
    for (const r of body.records) {
      const { salt } = commitmentFields(r.docHash, r.commitment);
      if (salt !== undefined) salts[r.recordId] = salt;
    }
    await write(
      req,
      res,
      user,
      (a, ctx) => a.anchorBatch(body.records, ctx),
      async () => {
        const out = await records.anchorBatch(body.records);
        return { status: out.anchored > 0 ? 201 : 200, body: out };
      },
      (result, blockNumber) => ({ status: (result as { anchored: number }).anchored > 0 ? 201 : 200, body: { ...(result as object), blockNumber } }),
      Object.keys(salts).length > 0 ? { salts } : {},
    );
  }));

  // Reads: this org's own records directly; another org's only through the consent-checked, logged access (records/reads.ts).
  const reads = new RecordReads(org, records, consent);
  const reader = (user: User) => ({ role: user.role, purposes: ACCESS_PURPOSES[user.role] });
  /** The `purpose` a read of another org's record is made for (a plain copy: the query parser's object has no prototype). */
  const readPurpose = (req: Request) => validateBody<{ purpose?: string }>('RecordReadQuery', { ...(req.query as Record<string, unknown>) }).purpose;
  /** A read that went through consent says so: the grant, and the transaction of the access-log entry. */
  const accessHeaders = (res: Response, access: AccessReceipt | undefined) => {
    if (!access) return;
    res.setHeader('medprov-access-transaction', access.transactionId);
    if (access.grantId !== undefined) res.setHeader('medprov-access-grant', access.grantId);
  };

  app.get('/v1/records/:issuer/:recordId', ...route('readRecord', async (req, res, user) => {
    const { issuer, recordId } = recordPath(req);
    const read = await reads.latest(reader(user), issuer, recordId, readPurpose(req));
    accessHeaders(res, read.access);
    res.json(read.value);
  }));

  app.get('/v1/records/:issuer/:recordId/history', ...route('readRecord', async (req, res, user) => {
    const { issuer, recordId } = recordPath(req);
    const read = await reads.history(reader(user), issuer, recordId, readPurpose(req));
    accessHeaders(res, read.access);
    res.json({ versions: read.value, ...(read.access ? { access: read.access } : {}) });
  }));

  app.get('/v1/records/:issuer/:recordId/versions/:version/provenance', ...route('exportProvenance', async (req, res, user) => {
    const { issuer, recordId, version } = validateBody<{ issuer: string; recordId: string; version: string }>('RecordVersionPath', {
      issuer: req.params.issuer,
      recordId: req.params.recordId,
      version: req.params.version,
    });
    const read = await reads.version(reader(user), issuer, recordId, Number(version), readPurpose(req));
    accessHeaders(res, read.access);
    sendFhir(res, anchorToProvenanceBundle(read.value));
  }));

  app.post('/v1/records/:issuer/:recordId/versions', ...route('amendRecord', async (req, res, user) => {
    const { issuer, recordId } = recordPath(req);
    if (issuer !== org.mspId) throw new ApiError(403, 'FORBIDDEN_NOT_ISSUER', `${org.mspId} cannot change a record issued by ${issuer}.`);
    const body = validateBody<AmendmentRequest>('AmendRequest', requireJson(req));
    await write(
      req,
      res,
      user,
      (a, ctx) => a.amendRecord(issuer, recordId, body, ctx),
      async () => {
        const out = await records.amendRecord(issuer, recordId, body);
        return { status: out.created ? 201 : 200, body: out };
      },
      (result, blockNumber) => ({ status: (result as { created: boolean }).created ? 201 : 200, body: { ...(result as object), blockNumber } }),
      commitmentFields(body.docHash, body.commitment),
    );
  }));

  app.put('/v1/records/:issuer/:recordId/retraction', ...route('retractRecord', async (req, res, user) => {
    const { issuer, recordId } = recordPath(req);
    if (issuer !== org.mspId) throw new ApiError(403, 'FORBIDDEN_NOT_ISSUER', `${org.mspId} cannot change a record issued by ${issuer}.`);
    const body = validateBody<{ reason: RetractionReason }>('RetractRequest', requireJson(req));
    await write(
      req,
      res,
      user,
      (a, ctx) => a.retractRecord(issuer, recordId, body.reason, ctx),
      async () => ({ status: 200, body: await records.retractRecord(issuer, recordId, body.reason) }),
      (result, blockNumber) => ({ status: 200, body: { ...(result as object), blockNumber } }),
    );
  }));

  if (options.acceptance) {
    const acceptance = options.acceptance;
    app.get('/v1/requests/:id', ...route('requestStatus', async (req, res, user) => {
      const status = acceptance.status(String(req.params.id), user.id, user.role === 'admin');
      if (status.state === 'accepted' || status.state === 'submitting') res.setHeader('retry-after', '1');
      res.json(status);
    }));
  }

  app.get('/v1/receipts/:docHash', ...route('issueReceipt', async (req, res) => {
    const { docHash } = validateBody<{ docHash: string }>('DocHashPath', { docHash: req.params.docHash });
    const anchoring = options.anchoring;
    if (!anchoring || 'off' in anchoring) {
      throw new ApiError(503, 'ANCHORING_OFF', `This gateway issues no receipts: ${anchoring?.off ?? 'public anchoring is not configured.'}`);
    }
    try {
      res.json(await anchoring.service.receipt(docHash));
    } catch (err) {
      // At the issuing hospital, a document it anchored salted: its leaf holds the commitment,
      // and the receipt carries the salt so that the document can be checked against it.
      if (!(org.type === 'hospital' && isAnchoringError(err) && err.code === 'LEAF_NOT_FOUND')) throw receiptError(err);
      const { ledgerHash, salt } = records.commitmentOf(docHash, 'salted');
      try {
        res.json({ ...(await anchoring.service.receipt(ledgerHash)), salt });
      } catch (saltedErr) {
        throw receiptError(saltedErr);
      }
    }
  }));

  /** A verification request's body, checked against its schema → the verdict. */
  const verify = async (unchecked: unknown) => {
    const body = validateBody<{ docHash: string; salt?: string }>('VerifyRequest', unchecked);
    // Without a salt, a hospital also tries its own: it finds its own salted records (no one else can).
    return records.verifyDocument(body.docHash, body.salt !== undefined ? { salt: body.salt } : { ownSalt: org.type === 'hospital' });
  };

  // Uploads, and JSON the verification lane (./verify-lane.ts) leaves to Express.
  app.post('/v1/verifications', ...route('verifyDocument', async (req, res, user) => {
    if (req.is('multipart/form-data')) {
      const upload = await hashUpload(req, res, user);
      res.json(await verify({ ...upload.fields, docHash: upload.docHash }));
    } else {
      res.json(await verify(requireJson(req)));
    }
  }));

  if (consent) mountConsentRoutes(consent);
  if (consent) mountGuardianRoutes(app, consent.guardians, consent, { route, patientRoute, requireJson, patientCredential });
  if (consent && org.type === 'hospital') {
    const links = new RegistrationLinks(consent, { clock: () => consent.now(), ...(options.registrationLinks?.ttlSeconds ? { ttlSeconds: options.registrationLinks.ttlSeconds } : {}) });
    mountRegistrationLinkRoutes(app, links, { route, patientRoute, requireJson });
  }
  // Built here even at a sponsor or insurer (the routes answer FORBIDDEN_ORG_TYPE there), so a bad policy fails at start.
  if (consent) {
    // A release records its disclosure on the ledger: through the journal when there is one.
    const disclosures = new LedgerDisclosures(consent, options.acceptance ? { acceptance: options.acceptance } : {});
    mountResearchRoutes(app, new ResearchReleases({ org, records, consent, disclosures }, options.research), { route, requireJson });
  }

  const privacyKit = { route, requireJson, preferredWaitSeconds };
  if (options.erasure) mountErasureRoutes(app, options.erasure, privacyKit);
  if (options.rotation) mountRotationRoutes(app, options.rotation, privacyKit);
  if (options.backups) mountBackupRoutes(app, options.backups, privacyKit);
  if (options.archives) mountArchiveRoutes(app, options.archives, { route, requireJson });
  if (options.linkage) mountLinkageRoutes(app, options.linkage, { route, requireJson });
  // At every org (an insurer's or sponsor's caller is refused FORBIDDEN_ORG_TYPE, as the ledger would).
  if (options.breakGlass) mountBreakGlassRoutes(app, options.breakGlass, { route, requireJson });
  if (options.accessReceipts) mountAccessReceiptRoutes(app, options.accessReceipts, { route, receiptError });

  if (options.consentEvents) {
    const consentEvents = options.consentEvents;
    app.get('/v1/consents/events', ...route('watchConsentEvents', async (req, res, user) => {
      // Claims and research officers follow the changes of their own purpose only, as in exportConsent.
      streamConsentEvents(req, res, consentEvents, ACCESS_PURPOSES[user.role]);
    }));
  }

  /** Consent: registration at the hospital, the patient's grants and revocations, checks, access, the patient's listings. */
  function mountConsentRoutes(consent: ConsentService): void {
    app.post('/v1/patients/registration-requests', ...route('requestRegistration', async (req, res) => {
      const { patientId } = validateBody<{ patientId: string }>('RegistrationRequestBody', requireJson(req));
      res.status(201).json(await consent.registrationRequest(patientId));
    }));

    app.post('/v1/patients', ...route('registerPatient', async (req, res) => {
      const out = await consent.registerPatient(validateBody<SignedRegistration>('RegistrationBody', requireJson(req)));
      res.status(out.created ? 201 : 200).json(out);
    }));

    app.post('/v1/consents', ...patientRoute('grantConsent', async (req, res) => {
      const out = await consent.grantConsent(validateBody<SignedGrant>('ConsentGrantBody', requireJson(req)));
      res.status(out.created ? 201 : 200).json(out);
    }));

    app.post('/v1/consents/revocations', ...patientRoute('revokeConsent', async (req, res) => {
      const out = await consent.revokeConsent(validateBody<SignedRevocation>('ConsentRevokeBody', requireJson(req)));
      res.status(out.created ? 201 : 200).json(out);
    }));

    app.get('/v1/consents/check', ...route('checkConsent', async (req, res) => {
      // A plain copy: the query parser's object has no prototype.
      const decided = await consent.checkConsent(validateBody<ConsentCheckQuery>('ConsentCheckQuery', { ...(req.query as Record<string, unknown>) }));
      countDecision('check', decided);
      res.json(decided);
    }));

    app.get('/v1/consents/:hospital/:patientRef/:grantId', ...route('exportConsent', async (req, res, user) => {
      const { hospital, patientRef, grantId } = validateBody<{ hospital: string; patientRef: string; grantId: string }>('GrantPath', {
        hospital: req.params.hospital,
        patientRef: req.params.patientRef,
        grantId: req.params.grantId,
      });
      const grant = await consent.readGrant(hospital, patientRef, grantId);
      // Claims and research officers see the grants of their own purpose only, as in /v1/access.
      const purposes = ACCESS_PURPOSES[user.role];
      if (purposes && !purposes.test(grant.purpose)) {
        throw new ApiError(403, 'FORBIDDEN_PURPOSE', `Your role (${user.role}) may not read grants for the purpose ${grant.purpose}.`);
      }
      sendFhir(res, grantToConsent(grant, consent.nowSeconds()));
    }));

    app.post('/v1/access', ...route('accessRecord', async (req, res, user) => {
      const body = validateBody<{ issuer: string; recordId: string; purpose: string }>('AccessRequest', requireJson(req));
      if (!ACCESS_PURPOSES[user.role]?.test(body.purpose)) {
        throw new ApiError(403, 'FORBIDDEN_PURPOSE', `Your role (${user.role}) may not access records for the purpose ${body.purpose}.`);
      }
      // 200 whatever the decision: a DENY is logged on the ledger, an outcome rather than an error.
      const accessed = await consent.accessRecord(body.issuer, body.recordId, body.purpose);
      countDecision('access', accessed);
      const receipts = options.accessReceipts && !('off' in options.accessReceipts);
      res.json(receipts && accessed.decision === 'PERMIT' ? { ...accessed, receipt: accessReceiptPath(accessed.accessLog.txId) } : accessed);
    }));

    app.post('/v1/patients/challenges', ...patientRoute('requestChallenge', async (req, res) => {
      const { address } = validateBody<{ address: string }>('ChallengeRequest', requireJson(req));
      res.status(201).json(consent.issueChallenge(address));
    }));

    app.get('/v1/patients/me/grants', ...patientRoute('listMyGrants', async (req, res) => {
      const binding = await consent.authenticatePatient(patientCredential(req.headers.authorization));
      res.json({ hospital: binding.hospital, patientRef: binding.patientRef, patient: binding.patient, grants: await consent.listGrants(binding) });
    }));

    app.get('/v1/patients/me/access-log', ...patientRoute('listMyAccessLog', async (req, res) => {
      // ?format=fhir: the same entries as a FHIR R4 Bundle of AuditEvent, for a hospital's audit system.
      const format = req.query.format ?? 'json';
      if (format !== 'json' && format !== 'fhir') {
        throw new ApiError(400, 'INVALID_FORMAT', 'The query parameter "format" must be json (the default) or fhir (a FHIR R4 Bundle of AuditEvent).');
      }
      const binding = await consent.authenticatePatient(patientCredential(req.headers.authorization));
      const entries = await consent.listAccessLog(binding);
      if (format === 'fhir') {
        sendFhir(res, accessLogToAuditEventBundle(entries, consent.nowSeconds()));
        return;
      }
      res.json({ hospital: binding.hospital, patientRef: binding.patientRef, patient: binding.patient, entries });
    }));

    app.get('/v1/patients/me/consents', ...patientRoute('exportMyConsents', async (req, res) => {
      const binding = await consent.authenticatePatient(patientCredential(req.headers.authorization));
      sendFhir(res, grantsToConsentBundle(await consent.listGrants(binding), consent.nowSeconds()));
    }));
  }

  app.use((req, _res, next) => next(new ApiError(404, 'ROUTE_NOT_FOUND', `There is no ${req.method} ${req.path.slice(0, 200)} here; see /v1/openapi.json.`)));

  /** Any error as the envelope `{ error: { code, message, requestId } }`; a 5xx is logged with its cause. */
  const sendError = (err: unknown, req: IncomingMessage, res: ServerResponse, fields: RequestFields): void => {
    const apiError = toEnvelope(err);
    if (apiError.status >= 500) logger.error({ err, requestId: fields.requestId }, 'request failed');
    fields.errorCode = apiError.code;
    if (apiError.code === 'RATE_LIMITED' || typeof apiError.details?.retryAfterSeconds === 'number') {
      res.setHeader('retry-after', String(apiError.details?.retryAfterSeconds ?? 1));
    }
    // An unread upload body is dropped with the connection rather than read to the end.
    if (!req.complete) res.setHeader('connection', 'close');
    const text = JSON.stringify({ error: { ...apiError.toJSON().error, requestId: fields.requestId } });
    res.writeHead(apiError.status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => sendError(err, req, res, res.locals as RequestFields));

  // Plain JSON verifications skip Express altogether (see ./verify-lane.ts); `app` stays the
  // one request handler, so every server and test built on it gets the lane. Express's `app`
  // function calls `app.handle` for each request.
  const lane = verifyLane({ begin, admit, verify, sendError });
  const expressHandle = (app as unknown as ExpressHandle).handle.bind(app);
  (app as unknown as ExpressHandle).handle = (req, res, next) => {
    if (!lane(req, res)) expressHandle(req, res, next);
  };

  return { app, metrics };
}

/** Express's own entry point for each request (not in its type definitions). */
interface ExpressHandle {
  handle(req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void;
}

/** A client X-Request-Id the gateway keeps: a UUID (any version) or 32 hex digits. */
const OPAQUE_REQUEST_ID = /^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{32})$/;

/** `Prefer: wait=N` (RFC 7240): how long the client will wait for the final answer, capped at 30 s. */
function preferredWaitSeconds(prefer: string | undefined): number {
  const match = /(?:^|[,;\s])wait\s*=\s*(\d{1,4})/i.exec(prefer ?? '');
  return match ? Math.min(30, Number(match[1])) : 0;
}

/** A FHIR R4 resource, as application/fhir+json (errors stay in the JSON envelope). */
function sendFhir(res: Response, resource: object): void {
  res.status(200).type(FHIR_JSON).send(JSON.stringify(resource));
}

function requireJson(req: Request): unknown {
  if (!req.is('application/json')) throw new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the request body as application/json.');
  return req.body;
}

function requireMultipart(req: Request): void {
  if (!req.is('multipart/form-data')) throw new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the document as multipart/form-data.');
}

/**
 * The patient's answer to a challenge: `Authorization: Patient <base64url(JSON {message, signature})>`.
 * The Authorization header, because proxies and loggers already treat it as a secret.
 */
function patientCredential(authorization: string | undefined): SignedChallenge {
  const match = /^Patient ([A-Za-z0-9_-]{16,4096}={0,2})$/.exec(authorization ?? '');
  if (!match) {
    throw new ApiError(401, 'PATIENT_AUTH_REQUIRED', 'Send "Authorization: Patient <base64url(JSON {message, signature})>" answering a challenge from POST /v1/patients/challenges.');
  }
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(match[1], 'base64url').toString('utf8'));
  } catch {
    throw new ApiError(401, 'PATIENT_AUTH_INVALID', 'The Patient credential is not base64url-encoded JSON.');
  }
  try {
    return validateBody<SignedChallenge>('PatientCredential', decoded);
  } catch (err) {
    throw new ApiError(401, 'PATIENT_AUTH_INVALID', `The Patient credential is not valid: ${(err as Error).message}`);
  }
}

function describe(operation: Operation): string {
  const words: Record<Operation, string> = {
    whoami: 'see who you are',
    hashDocument: 'hash documents',
    anchorRecord: 'anchor records',
    anchorBatch: 'anchor records',
    requestStatus: 'see accepted requests',
    amendRecord: 'amend records',
    retractRecord: 'retract records',
    readRecord: 'read records',
    exportProvenance: 'read records',
    verifyDocument: 'verify documents',
    requestRegistration: 'register patients',
    registerPatient: 'register patients',
    createRegistrationLink: 'register patients',
    checkConsent: 'check consent',
    accessRecord: 'access records under consent',
    exportConsent: 'read consent grants',
    watchConsentEvents: 'follow consent changes',
    issueReceipt: 'get receipts',
    recordGuardian: 'record guardians on a legal basis',
    revokeRecordedGuardian: 'revoke guardians recorded on a legal basis',
    erasePatient: 'erase patients',
    recordErasure: 'record erasures',
    readErasure: 'read erasure records',
    rotateMasterKey: 'rotate the master key',
    rotationStatus: 'see the master key rotation',
    backupGateway: 'back up the gateway',
    previewResearchRelease: 'preview research releases',
    prepareResearchRelease: 'prepare research releases',
    anchorArchive: 'anchor archives',
    readArchive: 'read archives',
    requestLinkage: 'request research linkages',
    readLinkage: 'read research linkages',
    contributeLinkage: 'contribute to research linkages',
    evaluateLinkage: 'evaluate linkage tokens',
    fetchLinkageRelease: 'fetch linkage releases',
    getAccessReceipt: 'get access receipts',
    breakGlassAccess: 'break the glass (emergency access without consent)',
    auditBreakGlass: 'read the break-glass audit report',
  };
  return words[operation];
}

const CLIENT_PRIVACY_CODES = new Set<string>(['INVALID_IDENTIFIER', 'DIRECT_IDENTIFIER', 'PATIENT_KEY_ERASED']);

/** Any error becomes the envelope; anything unexpected is a 500 that says only that. */
/** The anchoring layer's refusals in the API's terms; anything else stays a 500. */
function receiptError(err: unknown): unknown {
  if (!isAnchoringError(err)) return err;
  switch (err.code) {
    case 'LEAF_NOT_FOUND':
      return new ApiError(404, 'NOT_IN_ANCHOR_LOG', 'No anchor of this document hash is in the anchor log: it is not anchored, or it was anchored moments ago and the log has not caught up yet.');
    case 'RECEIPT_PENDING':
      return new ApiError(409, 'RECEIPT_PENDING', 'The anchor is in the log but no checkpoint on the EVM chain covers it yet; ask again after the next checkpoint.', {
        retryAfterSeconds: 30,
      });
    case 'REGISTRY_UNAVAILABLE':
      return new ApiError(503, 'REGISTRY_UNAVAILABLE', 'The EVM chain holding the checkpoints cannot be reached right now; try again later.');
    case 'CHECKPOINT_FORK':
    case 'CHECKPOINTER_HALTED':
      return new ApiError(503, err.code, 'The checkpoints on the EVM chain disagree with this gateway\'s anchor log; receipts are withheld until an operator has looked.');
    default:
      return err;
  }
}

function toEnvelope(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const e = err as { type?: string; status?: number };
  if (e?.type === 'entity.parse.failed') return new ApiError(400, 'INVALID_JSON', 'The request body is not valid JSON.');
  // The router could not percent-decode a path parameter (e.g. %FF, %E0%A4%A, an encoded lone surrogate).
  if (err instanceof URIError && e.status === 400) return new ApiError(400, 'INVALID_PATH', 'The request path is not valid percent-encoded UTF-8.');
  // The privacy layer refusing the caller's input (a patientId that is blank, has a lone
  // surrogate, U+0000, …): reached on the acceptance path, which does not map it as the
  // synchronous RecordsService does. Key-store failures stay 500.
  if (isPrivacyError(err) && CLIENT_PRIVACY_CODES.has(err.code)) return new ApiError(400, err.code, err.message.replace(/^[A-Z_]+: /, ''));
  if (e?.type === 'entity.too.large') return new ApiError(413, 'BODY_TOO_LARGE', 'The request body is larger than this gateway accepts.');
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported') {
    return new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the request body as UTF-8 JSON.');
  }
  // A write the request needed (a patient's key, the journal, …) met a full disk: 503 with a code.
  if (isStorageFull(err)) return storageFullError(err);
  return new ApiError(500, 'INTERNAL', 'Something went wrong in the gateway; the request was not completed. Try again, and report the request id if it persists.');
}

/** Conflicts the consent service's submits met (MVCC / phantom reads, peers a block apart), retried or given up, by transaction. */
function registerLedgerConflictMetrics(metrics: Registry, consent: Pick<ConsentService, 'ledgerConflicts'>): void {
  new Counter({
    name: 'medprov_ledger_conflicts_total',
    help: 'Submits the peers turned down for a conflict with concurrent writes, by transaction, code and outcome (retried, or gave_up after the last attempt)',
    labelNames: ['transaction', 'code', 'outcome'],
    registers: [metrics],
    collect() {
      this.reset();
      for (const c of consent.ledgerConflicts()) this.inc({ transaction: c.transaction, code: c.code, outcome: c.outcome }, c.count);
    },
  });
}

/** The peer in use (1 for it, 0 for the org's others) and the moves between them, read when /metrics is scraped. */
function registerLedgerPeerMetrics(metrics: Registry, peer: { status(): LedgerPeerStatus }): void {
  new Gauge({
    name: 'medprov_ledger_peer',
    help: "1 for the organisation's peer the gateway uses now, 0 for its other peers, by endpoint",
    labelNames: ['endpoint'],
    registers: [metrics],
    collect() {
      const s = peer.status();
      for (const endpoint of s.peers) this.set({ endpoint }, endpoint === s.endpoint ? 1 : 0);
    },
  });
  new Gauge({
    name: 'medprov_ledger_peer_switches',
    help: 'Times the gateway moved to another peer of its organisation because its peer stopped answering, since start',
    registers: [metrics],
    collect() {
      this.set(peer.status().switches);
    },
  });
}

/** Gauges read from the public anchoring (anchor log and EVM checkpoints) when /metrics is scraped. */
function registerAnchoringMetrics(metrics: Registry, service: { status(): AnchoringStatus }): void {
  const gauge = (name: string, help: string, read: (s: AnchoringStatus) => number) =>
    new Gauge({
      name,
      help,
      registers: [metrics],
      collect() {
        this.set(read(service.status()));
      },
    });
  gauge('medprov_anchoring_log_size', 'Leaves (anchored record versions) in the public anchoring log', (s) => s.checkpointer.logSize);
  gauge('medprov_anchoring_anchors_since_checkpoint', 'Leaves not yet covered by the last EVM checkpoint seen on chain', (s) => s.checkpointer.anchorsSinceCheckpoint);
  gauge('medprov_anchoring_checkpoint_tree_size', 'Tree size of the latest EVM checkpoint seen or written', (s) => s.checkpointer.lastCheckpoint?.treeSize ?? 0);
  gauge('medprov_anchoring_halted', '1 when the checkpointer halted (a fork or a tampered log): no further checkpoints', (s) => (s.checkpointer.halted ? 1 : 0));
}

/** Gauges read from the anchor index when /metrics is scraped: how far it has read, how far behind it is, who answered. */
function registerAnchorIndexMetrics(metrics: Registry, index: { status(): AnchorIndexStatus }): void {
  const gauge = (name: string, help: string, read: (status: AnchorIndexStatus, set: (value: number, labels?: Record<string, string>) => void) => void, labelNames: string[] = []) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [metrics],
      collect() {
        read(index.status(), (value, labels) => (labels ? this.set(labels, value) : this.set(value)));
      },
    });
  gauge('medprov_anchor_index_block', 'Block of the last ledger event the anchor index holds', (s, set) => set(Number(s.checkpoint?.blockNumber ?? 0)));
  gauge('medprov_anchor_index_lag_blocks', 'Blocks this gateway knows were committed beyond what the anchor index holds', (s, set) => set(s.lagBlocks));
  gauge('medprov_anchor_index_entries', 'Document hashes in the anchor index', (s, set) => set(s.entries));
  gauge('medprov_anchor_index_ready', '1 when the anchor index is caught up and may answer ORIGINAL', (s, set) => set(s.ready ? 1 : 0));
  gauge(
    'medprov_verifications_answered',
    'Verifications answered by the anchor index or left to the peer, since start',
    (s, set) => {
      set(s.answered.index, { source: 'index' });
      set(s.answered.peer, { source: 'peer' });
    },
    ['source'],
  );
}
