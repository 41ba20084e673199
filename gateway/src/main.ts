import * as http from 'node:http';
import * as path from 'node:path';
import pino from 'pino';
import { loadGatewayConfig, loadUsers } from './config';
import { ConsentFeed } from './consent/feed';
import { ConsentService } from './consent/service';
import { ledgerDeadlinesFromEnv } from './fabric/client';
import { FailoverLedger } from './fabric/failover';
import { ledgerIdentities, withCallerContext } from './fabric/identities';
import { LedgerProbe } from './fabric/probe';
import { AcceptanceJournal, AcceptanceService, fromPino, Submitter, submitterOptionsFromEnv } from './acceptance';
import { startAnchoring } from './anchoring/setup';
import { createGatewayApp } from './http/app';
import { answerClientErrors } from './http/client-errors';
import { masterKeysFromEnv, MasterKeyRotation, NEXT_MASTER_KEY_FILE_ENV, nextMasterKeyFromFile, PatientKeyStore } from './privacy';
import { ErasureService } from './erasure/service';
import { AnchorIndex } from './records/anchor-index';
import { BreakGlassAccess } from './records/break-glass';
import { ArchiveLedger } from './anchoring/archive-ledger';
import { AccessReceiptIssuer } from './anchoring/access-receipt-issuer';
import { RecordsService } from './records/service';
import { linkagePartyOf } from './linkage/setup';
import { releaseOptionsFromEnv } from './research/release';
import { gatewayBinding, GatewayBackups } from './recovery/gateway-backup';

/**
 * Starts one organisation's gateway: its Fabric identity, its patient-key store and its HTTP
 * API. Stops cleanly on SIGINT/SIGTERM, finishing requests in flight.
 */
async function main(): Promise<void> {
  const config = loadGatewayConfig(process.env, path.resolve(__dirname, '../..'));
  const logger = pino({ level: config.logLevel, base: { org: config.org.mspId }, redact: ['req.headers.authorization'] });
  const { masterKey, previousMasterKeys } = masterKeysFromEnv(process.env);
  const keys = await PatientKeyStore.open({ stateDir: config.keyStoreDir, masterKey, previousMasterKeys, ifMissing: process.env.MEDPROV_CREATE_KEY_STORE === '1' ? 'create' : 'fail' });
  if (keys.status().entriesAwaitingRotation > 0) await keys.resumeRotation();
  // Every peer of the org, in order: when the one in use stops answering, the next (logged, shown at /healthz as `peer`).
  const ledger = await FailoverLedger.connect(config.fabric, ledgerDeadlinesFromEnv(process.env), { logger: fromPino(logger.child({ component: 'ledger' })) });
  // Ready once a real write went through: /healthz says so (`ledger.ready`), and `npm run up` waits for it.
  const probe = new LedgerProbe(ledger, {
    onReady: (s) => logger.info({ txId: s.transactionId, block: s.blockNumber, attempts: s.attempts }, 'ledger ready: a probe transaction committed'),
    onRetry: (s) => (s.attempts % 10 === 1 ? logger.warn({ attempts: s.attempts, err: s.lastError }, 'ledger not ready yet; retrying the probe transaction') : undefined),
  });
  probe.start();
  // Verifications are answered from a local index of anchors fed by the ledger's events (resumed
  // from its snapshot's checkpoint); it sees this gateway's own commits through `tracked`.
  const anchorIndex = await AnchorIndex.open({
    file: path.join(config.dir, 'anchor-index', 'anchor-index.bin'),
    events: ledger,
    ledger,
    logger: fromPino(logger.child({ component: 'anchor-index' })),
  });
  anchorIndex.start();
  const tracked = anchorIndex.observe(ledger);
  // The consent domain's salt is the channel name: it must be the channel the ledger client uses.
  const consent = new ConsentService(ledger, {
    org: config.org,
    channel: config.fabric.channel,
    patientRefs: config.org.type === 'hospital' ? keys : undefined,
    logger: logger.child({ component: 'consent' }),
  });
  // Writes are journalled before they are acknowledged, then submitted with retries.
  const acceptanceLog = fromPino(logger.child({ component: 'acceptance' }));
  const journal = await AcceptanceJournal.open({ dir: path.join(config.dir, 'acceptance'), logger: acceptanceLog });
  // Single anchors ready together go as one Records:anchorEach transaction (MEDPROV_ANCHOR_MAX_BATCH=1: each alone).
  const submitter = new Submitter({ journal, ledger: tracked, logger: acceptanceLog, ...submitterOptionsFromEnv(process.env) });
  submitter.start();
  const compactor = setInterval(() => void journal.compact().catch((err: unknown) => logger.error({ err }, 'journal compaction failed')), 3_600_000);
  compactor.unref();
  const acceptance = new AcceptanceService(journal, submitter, keys);
  // The grants and revocations that concern this org, followed from the ledger into a local file for GET /v1/consents/events.
  const feed = await ConsentFeed.open({
    file: path.join(config.dir, 'consent-feed', 'consent-feed.ndjson'),
    ledger,
    org: config.org,
    logger: logger.child({ component: 'consent-feed' }),
  });
  feed.start();
  // Public anchoring: an anchor log that follows the ledger, checkpointed on the EVM chain by the
  // configured writer, for receipts anyone can check. Off (and said so) when no chain is set up.
  const anchoring = await startAnchoring({
    env: process.env,
    stateDir: config.stateDir,
    logDir: path.join(config.dir, 'anchor-log'),
    mspId: config.org.mspId,
    ledger,
    logger: fromPino(logger.child({ component: 'anchoring' })),
  });
  // Research linkage (issue 19), when the consortium has a linkage institution: this org's part, from its linkage.json.
  const linkage = linkagePartyOf({ org: config.org, settings: config.linkage, ledger, dir: config.dir, patientRef: (id) => keys.patientRef(id) });
  const { app } = createGatewayApp({
    org: config.org,
    ...(config.organisations ? { organisations: config.organisations } : {}),
    users: loadUsers(config.usersFile),
    records: new RecordsService(tracked, keys, anchorIndex, fromPino(logger.child({ component: 'records' }))),
    anchorIndex,
    ledgerProbe: probe,
    ledgerPeer: ledger,
    // Who each API key's writes go as: its role's enrolled identity (Fabric CA), else the org's one identity.
    ledgerIdentity: ledgerIdentities(config.fabric),
    anchoring: anchoring.service ? { service: anchoring.service } : { off: anchoring.off },
    consent,
    consentEvents: { feed },
    acceptance,
    // The DPO's erasures: the ledger record goes through the journal, so it is retried until it commits.
    erasure: new ErasureService(keys, tracked, { acceptance, logger: fromPino(logger.child({ component: 'erasure' })) }),
    // The admin's rotation reads the new key from the file named in the environment, re-read on each request.
    rotation: new MasterKeyRotation(keys, nextMasterKeyFromFile(process.env[NEXT_MASTER_KEY_FILE_ENV])),
    // The admin's backups: journal, key store and users, copied while serving, encrypted to the operator's key.
    backups: new GatewayBackups({ dir: config.dir, binding: await gatewayBinding(config.fabric), journal, keys }),
    // Research releases: minimum k, suppression limit and release profiles (MEDPROV_RELEASE_*).
    research: releaseOptionsFromEnv(process.env),
    // Per API key (MEDPROV_RATE_LIMIT_PER_SECOND / _BURST; 200/s, burst 400 unless set), and per
    // client IP on the patients' routes (MEDPROV_PATIENT_RATE_LIMIT_PER_SECOND / _BURST; 5/s, burst 30).
    limits: { ...config.rateLimit, patientPerSecond: config.patientRateLimit.perSecond, patientBurst: config.patientRateLimit.burst, uploads: config.http },
    // Archives: a folder's root in one ledger transaction (POST /v1/archives), read back by anyone.
    archives: new ArchiveLedger(tracked),
    ...(linkage ? { linkage } : {}),
    // Break-glass (hospitals): a clinician's emergency access without consent, and the audit report.
    breakGlass: new BreakGlassAccess(ledger, config.org.mspId),
    // Consent-bound receipts of accesses: the consented access from the ledger, its leaf's receipt from the anchor log.
    accessReceipts: anchoring.service ? new AccessReceiptIssuer(tracked, anchoring.service) : { off: anchoring.off },
    logger,
  });
  // Each request in a caller context: its API key's role chooses the enrolled identity it submits as (fabric/identities.ts).
  const server = http.createServer((req, res) => withCallerContext(() => app(req, res)));
  // Slow clients: a deadline for a request's head and for the whole request (MEDPROV_HTTP_*_TIMEOUT_MS);
  // an upload's body also has an idle deadline and uploads in progress are capped (see ./http/upload-gate.ts).
  server.headersTimeout = config.http.headersTimeoutMs;
  server.requestTimeout = config.http.requestTimeoutMs;
  // What Node's parser refuses (a head over 16 KB, not HTTP, too slow) gets the error envelope too.
  answerClientErrors(server);
  await new Promise<void>((resolve) => server.listen(config.port, config.host, resolve));
  logger.info({ url: `http://${config.host}:${config.port}`, peer: ledger.status().endpoint, peers: ledger.status().peers }, 'gateway listening');

  let stopping = false;
  let feedClosed: Promise<void> = Promise.resolve();
  const stop = (signal: string): void => {
    // A second signal (SIGINT, then SIGTERM) would run the shutdown again at once: server.close
    // calls back with ERR_SERVER_NOT_RUNNING without waiting for the requests in flight.
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    server.close(async () => {
      let code = 0;
      try {
        clearInterval(compactor);
        probe.stop();
        await submitter.stop();
        await journal.close();
        await anchorIndex.stop();
        await anchoring.service?.stop();
        ledger.close();
        await keys.close();
        // Its file and lock, before the process goes.
        await feedClosed;
      } catch (err) {
        logger.error({ err }, 'stopping failed');
        code = 1;
      }
      process.exit(code);
    });
    server.closeIdleConnections();
    // Event streams never go idle by themselves: closing the feed ends them.
    feedClosed = feed.close().then(
      () => server.closeIdleConnections(),
      (err: unknown) => logger.error({ err }, 'closing the consent feed failed'),
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: Error & { code?: string }) => {
  const hint = err.code === 'STORE_NOT_FOUND' ? '\nOn the first start of this gateway, set MEDPROV_CREATE_KEY_STORE=1 once.' : '';
  process.stderr.write(`medprov gateway: ${err.message}${hint}\n`);
  process.exit(1);
});
