import { writeFile } from 'node:fs/promises';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import pino from 'pino';
import { AnchoringError } from '../../../gateway/src/anchoring/errors';
import { AnchoringService } from '../../../gateway/src/anchoring/service';
import { AcceptanceJournal, AcceptanceService, Submitter, fromPino } from '../../../gateway/src/acceptance';
import { ConsentFeed } from '../../../gateway/src/consent/feed';
import { ConsentService } from '../../../gateway/src/consent/service';
import type { Ledger, LedgerEvents } from '../../../gateway/src/fabric/client';
import { createGatewayApp, type GatewayOptions } from '../../../gateway/src/http/app';
import { hashApiKey } from '../../../gateway/src/http/auth';
import type { Role } from '../../../gateway/src/http/roles';
import { MasterKey, MasterKeyRotation, PatientKeyStore, nextMasterKeyFromFile } from '../../../gateway/src/privacy';
import { ErasureService, type ErasableKeys } from '../../../gateway/src/erasure/service';
import { AnchorIndex } from '../../../gateway/src/records/anchor-index';
import { RecordsService } from '../../../gateway/src/records/service';
import { ArchiveLedger } from '../../../gateway/src/anchoring/archive-ledger';
import { BreakGlassAccess } from '../../../gateway/src/records/break-glass';
import type { BackupBinding } from '../../../gateway/src/recovery/backup-format';
import { GatewayBackups } from '../../../gateway/src/recovery/gateway-backup';
import type { FakeLedger } from '../chaincode/fake-ledger';
import { ChaincodeLedger } from './chaincode-ledger';

/** For unit tests only: one API key per role, the same at every gateway (keys are per gateway in real life). */
export const ROLE_KEYS: Record<Role, string> = {
  'records-officer': 'records-officer-key-0123456789',
  'claims-officer': 'claims-officer-key-0123456789ab',
  'research-officer': 'research-officer-key-012345678',
  dpo: 'dpo-key-0123456789abcdef0123',
  admin: 'admin-key-0123456789abcdef012',
  clinician: 'clinician-key-0123456789abcdef0',
  'linkage-officer': 'linkage-officer-key-0123456789',
  'linkage-partner': 'linkage-partner-key-0123456789',
};
export const ROLE_USERS = (Object.keys(ROLE_KEYS) as Role[]).map((role) => ({ id: `${role}-1`, role, apiKeySha256: hashApiKey(ROLE_KEYS[role]) }));

export type OrgType = 'hospital' | 'insurer' | 'sponsor';

/**
 * Public anchoring that has anchored nothing yet: every receipt is NOT_IN_ANCHOR_LOG (404). For
 * tests of the routes' authorisation and input handling, which need no EVM chain.
 */
export const NOTHING_ANCHORED = async (): Promise<NonNullable<GatewayOptions['anchoring']>> => ({
  service: {
    receipt: async () => {
      throw new AnchoringError('LEAF_NOT_FOUND', 'No anchor of this document hash is in the log (yet).');
    },
    status: () => ({ writesCheckpoints: false, checkpointer: { state: 'idle', logSize: 0, committedSize: 0, anchorsSinceCheckpoint: 0 } as never }),
  },
});

export interface OrgGateway {
  mspId: string;
  type: OrgType;
  url: string;
  port: number;
  /** The acceptance journal, when the gateway has one: what it accepted is in `journal.list()`. */
  journal?: AcceptanceJournal;
  /** The consent feed, when the gateway was started with `consentFeed`. */
  feed?: ConsentFeed;
  /** The anchor index verifications use, when the gateway was started with `anchorIndex`. */
  anchorIndex?: AnchorIndex;
  /** The org's patient key store. */
  keys: PatientKeyStore;
  /** The gateway's erasure service (re-registration after erasure has no route). */
  erasures: ErasureService;
  /** Where POST /v1/admin/master-key/rotation reads the next master key (absent until a test writes it). */
  nextMasterKeyFile: string;
  stop: () => Promise<void>;
}

/**
 * A real gateway (records, consent and, optionally, durable acceptance) over HTTP on an
 * ephemeral port, as `mspId`, on the shared in-memory ledger with the real chaincode.
 */
export async function startOrgGateway(options: {
  ledger: FakeLedger;
  mspId: string;
  type: OrgType;
  dir: string;
  channel?: string;
  acceptance?: boolean;
  limits?: GatewayOptions['limits'];
  /** Who may call it; ROLE_USERS unless given. */
  users?: GatewayOptions['users'];
  /** Wraps the gateway's ledger (to count or record what it asks of the chaincode). */
  wrapLedger?: (ledger: Ledger) => Ledger;
  /** Where it logs (the journal and submitter too); silent unless given. */
  logger?: pino.Logger;
  /**
   * Follows the ledger's consent events into a feed file in `dir` and offers GET /v1/consents/events.
   * Give the same `dir` to a restarted gateway to resume the feed (the keys and journal live under
   * the other `dir`, which a restart with a new master key cannot reuse).
   */
  consentFeed?: { dir: string; heartbeatMs?: number };
  /**
   * Keeps a local anchor index (snapshot in `dir`) that answers verifications it can without a
   * peer look-up. The same `dir` for a restarted gateway resumes it from its checkpoint.
   */
  anchorIndex?: { dir: string; settleMs?: number; wrapEvents?: (events: LedgerEvents) => LedgerEvents };
  /** Public anchoring, started on this gateway's view of the ledger (e.g. an AnchoringService on a real EVM node). */
  anchoring?: (ledger: ChaincodeLedger) => Promise<NonNullable<GatewayOptions['anchoring']>>;
  /** The research release policy (minimum k, suppression limit, profiles); the gateway's defaults unless given. */
  research?: GatewayOptions['research'];
  /** Entries re-encrypted per write while rotating the master key (the store's default unless given). */
  rotationBatchSize?: number;
  /** Wraps the key store as erasure sees it (to inject a failure after the store write). */
  wrapErasureKeys?: (keys: ErasableKeys) => ErasableKeys;
  /** Offers POST /v1/admin/backups (needs `acceptance`): the users are written to a file for it. */
  backups?: { binding: BackupBinding };
  /** The consortium's organisations with display names (GET /v1/organisations, the pages). */
  organisations?: GatewayOptions['organisations'];
  /** Registration links' lifetime. */
  registrationLinks?: GatewayOptions['registrationLinks'];
  /** The org's peer in use and its moves (shown at /healthz and /metrics). */
  ledgerPeer?: GatewayOptions['ledgerPeer'];
}): Promise<OrgGateway> {
  const { ledger, mspId, type, dir } = options;
  const keys = await PatientKeyStore.open({
    stateDir: path.join(dir, mspId, 'keys'),
    masterKey: MasterKey.generate(),
    ifMissing: 'create',
    ...(options.rotationBatchSize ? { rotationBatchSize: options.rotationBatchSize } : {}),
  });
  const nextMasterKeyFile = path.join(dir, mspId, 'next-master-key');
  const chaincode = new ChaincodeLedger(ledger, mspId);
  const wrapped = options.wrapLedger ? options.wrapLedger(chaincode) : chaincode;
  const anchorIndex = options.anchorIndex
    ? await AnchorIndex.open({
        file: path.join(options.anchorIndex.dir, 'anchor-index.bin'),
        events: options.anchorIndex.wrapEvents ? options.anchorIndex.wrapEvents(chaincode) : chaincode,
        ledger: wrapped,
        settleMs: options.anchorIndex.settleMs ?? 20,
      })
    : undefined;
  anchorIndex?.start();
  // The index learns of this gateway's own commits, so it never answers ORIGINAL for what it just amended or retracted.
  const chain = anchorIndex ? anchorIndex.observe(wrapped) : wrapped;
  const consent = new ConsentService(chain, {
    org: { mspId, type },
    channel: options.channel ?? ledger.channel,
    patientRefs: type === 'hospital' ? keys : undefined,
    clock: () => ledger.now * 1000,
  });
  let journal: AcceptanceJournal | undefined;
  let submitter: Submitter | undefined;
  let acceptance: AcceptanceService | undefined;
  if (options.acceptance) {
    const logger = options.logger ? { logger: fromPino(options.logger) } : {};
    journal = await AcceptanceJournal.open({ dir: path.join(dir, mspId, 'acceptance'), ...logger });
    submitter = new Submitter({ journal, ledger: chain, ...logger });
    submitter.start();
    acceptance = new AcceptanceService(journal, submitter, keys);
  }
  let feed: ConsentFeed | undefined;
  if (options.consentFeed) {
    feed = await ConsentFeed.open({
      file: path.join(options.consentFeed.dir, 'consent-feed.ndjson'),
      ledger: chaincode,
      org: { mspId, type },
      ...(options.logger ? { logger: options.logger.child({ org: mspId, component: 'consent-feed' }) } : {}),
    });
    feed.start();
  }
  const anchoring = options.anchoring ? await options.anchoring(chaincode) : undefined;
  const erasures = new ErasureService(options.wrapErasureKeys ? options.wrapErasureKeys(keys) : keys, chain, {
    ...(acceptance ? { acceptance } : {}),
    ...(options.logger ? { logger: fromPino(options.logger.child({ org: mspId, component: 'erasure' })) } : {}),
  });
  let backups: GatewayBackups | undefined;
  if (options.backups && journal) {
    const usersFile = path.join(dir, mspId, 'users.json');
    await writeFile(usersFile, JSON.stringify(options.users ?? ROLE_USERS));
    backups = new GatewayBackups({ dir: path.join(dir, mspId), files: { keyStore: path.join(dir, mspId, 'keys', 'patient-keys.json'), users: usersFile }, binding: options.backups.binding, journal, keys });
  }
  const { app } = createGatewayApp({
    org: { mspId, name: mspId, type },
    ...(backups ? { backups } : {}),
    ...(anchoring ? { anchoring } : {}),
    users: options.users ?? ROLE_USERS,
    records: new RecordsService(chain, keys, anchorIndex, options.logger ? fromPino(options.logger.child({ org: mspId, component: 'records' })) : undefined),
    ...(anchorIndex ? { anchorIndex } : {}),
    consent,
    ...(feed ? { consentEvents: { feed, ...(options.consentFeed?.heartbeatMs ? { heartbeatMs: options.consentFeed.heartbeatMs } : {}) } } : {}),
    ...(acceptance ? { acceptance } : {}),
    erasure: erasures,
    rotation: new MasterKeyRotation(keys, nextMasterKeyFromFile(nextMasterKeyFile)),
    archives: new ArchiveLedger(chain),
    breakGlass: new BreakGlassAccess(chain, mspId, () => ledger.now * 1000),
    logger: options.logger?.child({ org: mspId }) ?? pino({ level: 'silent' }),
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.research ? { research: options.research } : {}),
    ...(options.organisations ? { organisations: options.organisations } : {}),
    ...(options.registrationLinks ? { registrationLinks: options.registrationLinks } : {}),
    ...(options.ledgerPeer ? { ledgerPeer: options.ledgerPeer } : {}),
  });
  const server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    mspId,
    type,
    url: `http://127.0.0.1:${port}`,
    port,
    ...(journal ? { journal } : {}),
    ...(feed ? { feed } : {}),
    ...(anchorIndex ? { anchorIndex } : {}),
    keys,
    erasures,
    nextMasterKeyFile,
    stop: async () => {
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
      if (submitter) await submitter.stop();
      if (journal) await journal.close();
      if (feed) await feed.close();
      if (anchorIndex) await anchorIndex.stop();
      if (anchoring && 'service' in anchoring && anchoring.service instanceof AnchoringService) await anchoring.service.stop();
      await keys.close();
    },
  };
}
