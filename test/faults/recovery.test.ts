/**
 * Disaster recovery on the real network (issue 20). The Hospital anchors records, a patient grants
 * the Insurer claims access and the Insurer reads under it, receipts are issued; the Hospital
 * gateway is backed up while it serves (`medprov admin backup`), again while its peer is down and
 * requests wait in its journal; its master key is split 2 of 3 among officers. Then the Hospital
 * loses its whole state — gateway folder and peer data — and comes back: master key from two
 * officers' shares, `medprov admin restore` (after refusing a foreign and a tampered backup), the
 * peer rejoining from the channel's blocks, the gateway started by the network layer. Afterwards
 * every earlier anchor verifies, every receipt still verifies (offline and on the EVM chain, and
 * the rebuilt anchor log gives the same ones), the patient's grants and access log are what they
 * were, the patient's key is the same, and every request acknowledged before the backup is
 * committed exactly once. Last, the peer rejoins from a ledger snapshot, then again from the
 * blocks, so the network is whole for the suites that follow.
 *
 * Uses the mocha run's shared network (test/integration/network/test-network.ts). Prints the
 * figures: backup size and time, restore time, rejoin time by blocks and by snapshot.
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { JsonRpcProvider } from 'ethers';
import { verifyReceipt, verifyReceiptOnChain, type Receipt } from '../../gateway/src/anchoring/node';
import { openBackup } from '../../gateway/src/recovery/backup-format';
import { BACKUP_PATHS } from '../../gateway/src/recovery/gateway-backup';
import { createOperatorKey, openOperatorKey } from '../../gateway/src/recovery/operator-key';
import { queryChaincode } from '../../network/src/chaincode';
import { channelHeight } from '../../network/src/channel';
import { peerAsAdmin } from '../../network/src/fabric-cli';
import { gatewayName, startGateway } from '../../network/src/gateways';
import type { PeerNode } from '../../network/src/network';
import { startNode } from '../../network/src/nodes';
import { runningPid, stopDaemon } from '../../network/src/processes';
import { rejoinPeer, wipePeer, type RejoinReport } from '../../network/src/rejoin';
import { localChain, receiptOf } from '../integration/network/flows';
import { eventually, Patient } from '../integration/network/support/consent';
import { call, write, type GatewayAccess } from '../integration/network/support/gateway-http';
import { stopTestNetwork, testNetwork, type TestNetwork } from '../integration/network/test-network';
import { runCli, type CliRun } from '../unit/support/cli-process';

after(async () => {
  await stopTestNetwork();
});

const HOSPITAL = 'HospitalMSP';
const INSURER = 'InsurerMSP';
const DISCHARGE = 'loinc:18842-5';
const PASSPHRASE = 'operators keep this apart';
const sha = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The request ids of a journal file (its frames' accept records) and which of them have an outcome. */
function journalIds(journal: Buffer): { accepted: Set<string>; finished: Set<string> } {
  const accepted = new Set<string>();
  const finished = new Set<string>();
  for (const line of journal.toString('utf8').split('\n')) {
    if (!line) continue;
    const frame = JSON.parse(line.slice(9)) as { records: { type: string; id: string }[] };
    for (const r of frame.records) (r.type === 'accept' ? accepted : finished).add(r.id);
  }
  return { accepted, finished };
}

describe('real network: disaster recovery — the Hospital loses its gateway folder and its peer, and comes back (issue 20)', function () {
  this.timeout(1_800_000);
  const run = randomBytes(3).toString('hex');
  let net: TestNetwork;
  let officer: GatewayAccess;
  let admin: GatewayAccess;
  let claims: GatewayAccess;
  let insurer: GatewayAccess;
  let hospitalPeer: PeerNode;
  let ops: string;
  let provider: JsonRpcProvider;
  const figures: Record<string, string> = {};
  const alice = (): Patient => patient!;
  let patient: Patient | undefined;
  /** Anchored before anything happened: document, hash, transaction and block. */
  const anchored: { recordId: string; docHash: string; txId: string; blockNumber: string }[] = [];
  const receipts: Receipt[] = [];
  let grantsBefore: unknown;
  let accessLogBefore: unknown;
  /** Requests acknowledged (202) before a backup began, by request id → record. */
  const acknowledged = new Map<string, { recordId: string; docHash: string }>();
  /** Acknowledged while the peer was down: in the second backup, not yet committed. */
  const pending = new Map<string, { recordId: string; docHash: string }>();

  const cli = (args: string[], env: Record<string, string> = {}): Promise<CliRun> =>
    runCli(args, {
      home: ops,
      env: {
        MEDPROV_STATE_DIR: net.network.stateDir,
        MEDPROV_BASE_PORT: String(net.network.basePort),
        MEDPROV_BACKUP_PASSPHRASE: PASSPHRASE,
        ...env,
      },
    });
  const hospitalOrg = () => net.network.organisation('Hospital');
  const gatewayDir = () => net.network.gatewayDir(hospitalOrg());

  /** Anchors a record by hash for the patient; `wait` false: the 202 only (request id from its Location). */
  async function anchorFor(recordId: string, wait: boolean): Promise<{ status: number; body: any; id?: string; docHash: string }> {
    const docHash = sha(`recovery ${run} ${recordId}`);
    const body = { recordId, docHash, patientId: alice().patientId, category: DISCHARGE };
    const res = wait ? await write(officer, 'POST', '/v1/records', body) : await call(officer, 'POST', '/v1/records', body);
    const id = res.location ? res.location.split('/').pop() : undefined;
    return { status: res.status, body: res.body, ...(id ? { id } : {}), docHash };
  }

  before(async () => {
    net = await testNetwork();
    officer = net.gateway('Hospital', 'records-officer');
    admin = net.gateway('Hospital', 'admin');
    claims = net.gateway('Insurer', 'claims-officer');
    insurer = net.gateway('Insurer', 'claims-officer');
    hospitalPeer = net.network.peersOf(hospitalOrg())[0]!;
    ops = mkdtempSync(path.join(os.tmpdir(), 'medprov-dr-'));
    const key = createOperatorKey(PASSPHRASE);
    writeFileSync(path.join(ops, 'operator.key'), key.keyFile, { mode: 0o600 });
    writeFileSync(path.join(ops, 'operator.key.pub'), `${key.publicKey}\n`);
    provider = new JsonRpcProvider(localChain(net.network).rpcUrl, undefined, { staticNetwork: true, pollingInterval: 250 });
    patient = new Patient(`MRN-DR-${run}`, HOSPITAL, net.network.channel);
  });

  after(async () => {
    provider?.destroy();
    // Whatever happened above, the shared network keeps a Hospital peer with its whole chain and a Hospital gateway.
    if (net) {
      const progress = net.progress;
      if (runningPid(net.network.pidFile(hospitalPeer.name)) === undefined) {
        if (existsSync(path.join(hospitalPeer.dataDir, 'ledgersData'))) await startNode(net.network, hospitalPeer);
        else await rejoinPeer(net.network, hospitalPeer, 'blocks', progress);
      }
      if (existsSync(path.join(gatewayDir(), 'master.key'))) await startGateway(net.network, hospitalOrg());
    }
    if (ops) rmSync(ops, { recursive: true, force: true });
    if (Object.keys(figures).length > 0) console.log(`      disaster recovery figures: ${JSON.stringify(figures, null, 2)}`);
  });

  it('before: the patient is registered and grants the Insurer claims access, the Insurer reads a record under it, records are anchored with receipts', async () => {
    const registered = await alice().register(officer);
    expect(registered.status, registered.text).to.equal(201);
    for (let i = 0; i < 4; i++) {
      const a = await anchorFor(`dr-${run}-before-${i}`, true);
      expect(a.status, JSON.stringify(a.body)).to.equal(201);
      anchored.push({ recordId: a.body.anchor.recordId, docHash: a.docHash, txId: a.body.anchor.txId, blockNumber: a.body.blockNumber });
      expect(a.body.anchor.patientRef).to.equal(alice().patientRef);
    }
    const grant = await alice().grant(officer, { grantee: INSURER, purpose: 'claims', categories: [DISCHARGE] });
    expect(grant.status, grant.text).to.equal(201);
    const access = await call(claims, 'POST', '/v1/access', { issuer: HOSPITAL, recordId: anchored[0]!.recordId, purpose: 'claims' });
    expect(access.status, access.text).to.equal(200);
    expect(access.body.decision).to.equal('PERMIT');
    for (const a of anchored.slice(0, 2)) {
      const receipt = await receiptOf(officer as { url: string; key: string }, a.docHash);
      expect(verifyReceipt(receipt).valid).to.equal(true);
      expect((await verifyReceiptOnChain(receipt, provider)).valid).to.equal(true);
      receipts.push(receipt);
    }
    const grants = await alice().get(officer, '/v1/patients/me/grants');
    const log = await alice().get(officer, '/v1/patients/me/access-log');
    expect(grants.status, grants.text).to.equal(200);
    expect(log.status, log.text).to.equal(200);
    expect(JSON.stringify(log.body)).to.include(anchored[0]!.recordId);
    grantsBefore = grants.body;
    accessLogBefore = log.body;
  });

  it('backs up the Hospital gateway while it serves anchors (medprov admin backup): every request acknowledged before it is in it, whole', async () => {
    let stop = false;
    let n = 0;
    const traffic = (async () => {
      while (!stop) {
        const recordId = `dr-${run}-during-${n++}`;
        const a = await anchorFor(recordId, false);
        if (a.status === 202 && a.id) acknowledged.set(a.id, { recordId, docHash: a.docHash });
      }
    })();
    await eventually('traffic', async () => (acknowledged.size >= 5 ? true : undefined));
    const before = new Set(acknowledged.keys());
    const t0 = Date.now();
    const backup = await cli(['admin', 'backup', '--gateway', admin.url, '--api-key', admin.key!, '--recipient', path.join(ops, 'operator.key.pub'), '--out', path.join(ops, 'during.mpbackup'), '--json']);
    const seconds = (Date.now() - t0) / 1000;
    stop = true;
    await traffic;
    expect(backup.code, backup.stderr).to.equal(0);
    const report = JSON.parse(backup.stdout);
    figures['backup while serving (CLI, small store)'] = `${report.bytes} B in ${seconds.toFixed(1)} s`;
    const contents = openBackup(readFileSync(path.join(ops, 'during.mpbackup')), openOperatorKey(readFileSync(path.join(ops, 'operator.key'), 'utf8'), PASSPHRASE));
    const journal = contents.files.find((f) => f.path === BACKUP_PATHS.journal)!.data;
    expect(journal.at(-1), 'the journal copy ends with a whole frame').to.equal(0x0a);
    const { accepted } = journalIds(journal);
    for (const id of before) expect(accepted.has(id), `request ${id}, acknowledged before the backup`).to.equal(true);
    for (const id of [...acknowledged.keys()].filter((i) => !before.has(i))) if (!accepted.has(id)) acknowledged.delete(id); // acknowledged after the copy: not in this backup
  });

  it('with the Hospital peer down, accepted requests wait in the journal; a second backup holds them unfinished; the master key is split 2 of 3', async () => {
    // Those of the traffic still in flight settle first: what remains unfinished is only what waits for the peer.
    for (const id of acknowledged.keys()) await eventually(`request ${id}`, async () => ((await call(officer, 'GET', `/v1/requests/${id}`)).body?.state === 'committed' ? true : undefined), 480);
    await stopDaemon(net.network.pidFile(hospitalPeer.name));
    for (let i = 0; i < 3; i++) {
      const recordId = `dr-${run}-pending-${i}`;
      const a = await anchorFor(recordId, false);
      expect(a.status, JSON.stringify(a.body)).to.equal(202);
      pending.set(a.id!, { recordId, docHash: a.docHash });
    }
    const backup = await cli(['admin', 'backup', '--gateway', admin.url, '--api-key', admin.key!, '--recipient', path.join(ops, 'operator.key.pub'), '--out', path.join(ops, 'hospital.mpbackup'), '--json']);
    expect(backup.code, backup.stderr).to.equal(0);
    const header = JSON.parse(backup.stdout).header;
    expect(header.summary.journalUnfinished).to.be.at.least(3);
    expect(header.summary.activePatients).to.be.at.least(1);
    const contents = openBackup(readFileSync(path.join(ops, 'hospital.mpbackup')), openOperatorKey(readFileSync(path.join(ops, 'operator.key'), 'utf8'), PASSPHRASE));
    const ids = journalIds(contents.files.find((f) => f.path === BACKUP_PATHS.journal)!.data);
    for (const id of pending.keys()) expect(ids.accepted.has(id) && !ids.finished.has(id), `pending request ${id}`).to.equal(true);
    for (const id of acknowledged.keys()) expect(ids.finished.has(id), `request ${id} committed before`).to.equal(true);

    const split = await cli(['admin', 'key-split', '--shares', '3', '--threshold', '2', '--out-dir', path.join(ops, 'shares'), '--master-key-file', path.join(gatewayDir(), 'master.key')]);
    expect(split.code, split.stderr).to.equal(0);
  });

  it('the disaster: the Hospital loses its gateway folder and its peer data', async () => {
    expect(await stopDaemon(net.network.pidFile(gatewayName(hospitalOrg())), 30_000)).to.be.a('number');
    await wipePeer(net.network, hospitalPeer, net.progress);
    rmSync(gatewayDir(), { recursive: true, force: true });
    expect(existsSync(gatewayDir())).to.equal(false);
    expect(existsSync(path.join(hospitalPeer.dataDir, 'ledgersData'))).to.equal(false);
  });

  let rejoinByBlocks: RejoinReport;

  it('restores: refuses a foreign and a tampered backup; the master key from 2 officers; the state from the backup (never over live state); the peer from the blocks; the gateway', async () => {
    const backupFile = path.join(ops, 'hospital.mpbackup');
    const key = path.join(ops, 'operator.key');
    const foreign = await cli(['admin', 'restore', backupFile, '--key', key, '--check'], { MEDPROV_ORG: 'Insurer' });
    expect(foreign.code, foreign.stderr).to.equal(1);
    expect(foreign.stderr).to.include('BACKUP_FOREIGN');
    const tampered = Buffer.from(readFileSync(backupFile));
    tampered[tampered.length - 100] ^= 0x20;
    writeFileSync(path.join(ops, 'tampered.mpbackup'), tampered);
    const refused = await cli(['admin', 'restore', path.join(ops, 'tampered.mpbackup'), '--key', key], { MEDPROV_ORG: 'Hospital' });
    expect(refused.code, refused.stderr).to.equal(1);
    expect(refused.stderr).to.include('BACKUP_TAMPERED');
    expect(existsSync(path.join(gatewayDir(), BACKUP_PATHS.keyStore))).to.equal(false);

    const combined = await cli(['admin', 'key-combine', path.join(ops, 'shares', 'share-1-of-3.txt'), path.join(ops, 'shares', 'share-3-of-3.txt'), '--out', path.join(gatewayDir(), 'master.key')]);
    expect(combined.code, combined.stderr).to.equal(0);
    const t0 = Date.now();
    const restored = await cli(['admin', 'restore', backupFile, '--key', key, '--master-key-file', path.join(gatewayDir(), 'master.key'), '--json'], { MEDPROV_ORG: 'Hospital' });
    figures['restore (CLI, incl. scrypt and key store check)'] = `${((Date.now() - t0) / 1000).toFixed(1)} s`;
    expect(restored.code, restored.stderr).to.equal(0);
    expect(JSON.parse(restored.stdout).masterKey.activePatients).to.be.at.least(1);
    const again = await cli(['admin', 'restore', backupFile, '--key', key], { MEDPROV_ORG: 'Hospital' });
    expect(again.code, again.stderr).to.equal(2);
    expect(again.stderr).to.include('RESTORE_WOULD_OVERWRITE');

    rejoinByBlocks = await rejoinPeer(net.network, hospitalPeer, 'blocks', net.progress);
    figures['peer rejoin by blocks'] = `${rejoinByBlocks.seconds.toFixed(1)} s to height ${rejoinByBlocks.height}`;
    expect(rejoinByBlocks.height).to.be.at.least(rejoinByBlocks.targetHeight);
    const t1 = Date.now();
    await startGateway(net.network, hospitalOrg());
    figures['gateway start after restore (probe committed)'] = `${((Date.now() - t1) / 1000).toFixed(1)} s`;
  });

  it('after: every earlier anchor verifies, every receipt still verifies, the patient’s grants and access log are what they were, every acknowledged request is committed exactly once', async () => {
    for (const a of anchored) {
      for (const gw of [officer, insurer]) {
        const v = await eventually(`verification of ${a.recordId}`, async () => {
          const res = await call(gw, 'POST', '/v1/verifications', { docHash: a.docHash });
          return res.status === 200 && res.body.verdict === 'ORIGINAL' ? res.body : undefined;
        });
        expect(v).to.include({ issuer: HOSPITAL, recordId: a.recordId, txId: a.txId, blockNumber: a.blockNumber });
      }
    }
    for (const receipt of receipts) {
      expect(verifyReceipt(receipt).valid).to.equal(true);
      expect((await verifyReceiptOnChain(receipt, provider)).valid).to.equal(true);
      // The anchor log rebuilt from the ledger puts the anchor at the same place: the same leaf.
      const again = await receiptOf(officer as { url: string; key: string }, receipt.leaf.docHash);
      expect(again.leafIndex).to.equal(receipt.leafIndex);
      expect(again.leaf).to.deep.equal(receipt.leaf);
      expect((await verifyReceiptOnChain(again, provider)).valid).to.equal(true);
    }
    const grants = await alice().get(officer, '/v1/patients/me/grants');
    const log = await alice().get(officer, '/v1/patients/me/access-log');
    expect(grants.body).to.deep.equal(grantsBefore);
    expect(log.body).to.deep.equal(accessLogBefore);

    // Every request acknowledged before the backup: committed (the pending ones by the restored journal), once.
    for (const [id, r] of [...acknowledged, ...pending]) {
      const state = await eventually(`request ${id}`, async () => {
        const res = await call(officer, 'GET', `/v1/requests/${id}`);
        return res.body?.state === 'committed' || res.body?.state === 'rejected' ? res.body : undefined;
      }, 720);
      expect(state.state, `${r.recordId}: ${JSON.stringify(state)}`).to.equal('committed');
      const history = await call(officer, 'GET', `/v1/records/${HOSPITAL}/${encodeURIComponent(r.recordId)}/history`);
      expect(history.status, history.text).to.equal(200);
      const versions = Array.isArray(history.body) ? history.body : history.body.versions ?? history.body.history;
      expect(versions, `${r.recordId}: ${history.text}`).to.have.length(1);
      expect(versions[0]).to.include({ docHash: r.docHash, patientRef: alice().patientRef });
    }
    // The same through Fabric's own CLI, as the Insurer's admin on the Insurer's peer: no medprov code and none of the Hospital's in the path.
    const all = [...acknowledged.values(), ...pending.values()];
    for (let i = 0; i < all.length; i += 500) {
      const chunk = all.slice(i, i + 500);
      const histories = JSON.parse(await queryChaincode(net.network, 'Insurer', 'Records:recordHistories', [HOSPITAL, JSON.stringify(chunk.map((r) => r.recordId))])) as Record<string, { docHash: string }[]>;
      for (const r of chunk) {
        expect(histories[r.recordId], r.recordId).to.have.length(1);
        expect(histories[r.recordId]![0]!.docHash).to.equal(r.docHash);
      }
    }
    figures['requests acknowledged before the backups, committed once after the restore'] = `${acknowledged.size + pending.size} (${pending.size} were waiting for the peer)`;
    // The patient's key is the one from before: the same patientRef for a new anchor.
    const after = await anchorFor(`dr-${run}-after`, true);
    expect(after.status, JSON.stringify(after.body)).to.equal(201);
    expect(after.body.anchor.patientRef).to.equal(alice().patientRef);
  });

  it('the peer rejoins from a ledger snapshot (peer snapshot submitrequest on another peer, joinbysnapshot), then from the blocks again for the suites that follow', async () => {
    await stopDaemon(net.network.pidFile(gatewayName(hospitalOrg())), 30_000);
    await wipePeer(net.network, hospitalPeer, net.progress);
    const bySnapshot = await rejoinPeer(net.network, hospitalPeer, 'snapshot', net.progress);
    figures['peer rejoin by snapshot'] = `${bySnapshot.seconds.toFixed(1)} s to height ${bySnapshot.height} (snapshot at block ${bySnapshot.snapshot!.blockNumber} written by ${bySnapshot.snapshot!.source} in ${bySnapshot.snapshot!.seconds.toFixed(1)} s)`;
    expect(bySnapshot.height).to.be.at.least(bySnapshot.targetHeight);
    expect(await channelHeight(net.network, hospitalPeer)).to.be.at.least(bySnapshot.targetHeight);
    // It endorses: the Hospital's admin's query runs the chaincode on it.
    const who = await peerAsAdmin(net.network, hospitalOrg(), ['chaincode', 'query', '-C', net.network.channel, '-n', net.network.chaincodeName, '-c', '{"Args":["Identity:whoAmI"]}'], hospitalPeer);
    expect(JSON.parse(who).mspId).to.equal(HOSPITAL);
    // Blocks before the snapshot are not on it: the full chain back for the other suites.
    await wipePeer(net.network, hospitalPeer, net.progress);
    const byBlocks = await rejoinPeer(net.network, hospitalPeer, 'blocks', net.progress);
    figures['peer rejoin by blocks (second time)'] = `${byBlocks.seconds.toFixed(1)} s to height ${byBlocks.height}`;
    await startGateway(net.network, hospitalOrg());
    await sleep(100);
  });
});
