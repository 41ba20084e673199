/**
 * Fault: the gateway's own peer dies (`SIGKILL`) under load — anchors single and batched,
 * amendments, grants and revocations, verifications at the Insurer (test/faults/support/workload.ts).
 *
 * - One peer per organisation (the shared test network): the Hospital gateway has nowhere to go.
 *   Its writes stay accepted in its journal (a caller waiting with `Prefer: wait=N` gets the 202
 *   with the last error's code), its peer reads answer 503 with a code; the peer is started again
 *   through the network layer, the journal commits everything, and the restarted peer's chain
 *   equals the others'.
 * - Two peers per organisation (a network of its own, test/faults/support/consortium-two-peers.json):
 *   the gateway moves to its org's other peer and keeps committing; the killed peer, started
 *   again, catches up.
 *
 * After each: every acknowledged request is on the ledger exactly once (read through the `peer`
 * CLI), nothing unacknowledged is, and the gateways' event-fed state agrees (test/faults/support/audit.ts).
 * The figures (acknowledged / committed / duplicated / lost, time to recover) are printed.
 *
 * @module
 */
import { expect } from 'chai';
import { randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readConsortiumFile } from '../../network/src/consortium';
import { peerAsAdmin } from '../../network/src/fabric-cli';
import { readApiKeys } from '../../network/src/gateways';
import { Network, type PeerNode } from '../../network/src/network';
import { runningPid } from '../../network/src/processes';
import { consoleProgress } from '../../network/src/progress';
import { down, installFabric, portsTakenByOthers, ROOT, up } from '../../network/src/system';
import { Patient, samples } from '../integration/network/support/consent';
import type { GatewayAccess } from '../integration/network/support/gateway-http';
import { freeBasePort, stopTestNetwork, testNetwork, TEST_UP_OPTIONS } from '../integration/network/test-network';
import { auditEventFed, auditLedger, healthOf, samePeerChains, settle, type AuditReport } from './support/audit';
import { kill, restart } from './support/faults';
import { DISCHARGE, Workload } from './support/workload';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

interface Gateways {
  readonly officer: GatewayAccess;
  readonly claims: GatewayAccess;
}

/** The org's peer the gateway says it uses now (its /healthz `peer`). */
async function gatewayPeer(network: Network, gw: GatewayAccess, org: string): Promise<PeerNode> {
  const health = await healthOf(gw);
  const endpoint: string | undefined = health?.peer?.endpoint;
  const peer = network.peersOf(network.organisation(org)).find((p) => p.address === endpoint);
  if (!peer) throw new Error(`the ${org} gateway names no peer of its org in /healthz: ${JSON.stringify(health?.peer)}`);
  return peer;
}

/** What a caller who waits (`Prefer: wait=N`) was answered while the peer was down, and when the first write went through again. */
class Canary {
  /** Each write: when it was sent, when it was answered, and with what. */
  readonly answers: { sentAt: number; at: number; status: number; code?: string; state?: string; lastError?: string; requestId?: string }[] = [];
  readonly acknowledged: { recordId: string; docHash: string }[] = [];
  private running = true;
  private readonly loop: Promise<void>;

  constructor(
    private readonly gw: GatewayAccess,
    private readonly tag: string,
    private readonly waitSeconds = 5,
  ) {
    this.loop = this.run();
  }

  /**
   * When the first of the writes sent at or after `since` committed: answered 201, or answered
   * 202 and committed later (its journal status's `finishedAt`); undefined while none has.
   */
  async committedSince(since: number): Promise<number | undefined> {
    const times: number[] = [];
    for (const a of this.answers.filter((x) => x.sentAt >= since)) {
      if (a.status === 201) times.push(a.at);
      else if (a.status === 202 && a.requestId) {
        const res = await fetch(`${this.gw.url}/v1/requests/${encodeURIComponent(a.requestId)}`, { headers: { authorization: `Bearer ${this.gw.key}` } }).catch(() => undefined);
        const body = (await res?.json().catch(() => undefined)) as { state?: string; finishedAt?: string } | undefined;
        if (body?.state === 'committed' && body.finishedAt) times.push(Date.parse(body.finishedAt));
      }
    }
    return times.length > 0 ? Math.min(...times) : undefined;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async run(): Promise<void> {
    for (let n = 0; this.running; n++) {
      const r = { recordId: `${this.tag}-${n}`, docHash: randomBytes(32).toString('hex') };
      const started = Date.now();
      try {
        const res = await fetch(`${this.gw.url}/v1/records`, {
          method: 'POST',
          headers: { authorization: `Bearer ${this.gw.key}`, 'content-type': 'application/json', prefer: `wait=${this.waitSeconds}`, 'idempotency-key': randomUUID() },
          body: JSON.stringify({ ...r, patientId: `MRN-C-${r.recordId}`, category: DISCHARGE, commitment: 'plain' }),
          signal: AbortSignal.timeout(60_000),
        });
        const body = (await res.json().catch(() => ({}))) as { id?: string; state?: string; lastError?: { code?: string }; error?: { code?: string } };
        this.answers.push({ sentAt: started, at: Date.now(), status: res.status, code: body.error?.code, state: body.state, lastError: body.lastError?.code, requestId: body.id });
        if (res.status < 300) this.acknowledged.push(r);
      } catch (err) {
        this.answers.push({ sentAt: started, at: Date.now(), status: 0, code: (err as Error).message.slice(0, 80) });
      }
      await sleep(Math.max(0, 1_000 - (Date.now() - started)));
    }
  }

  /** The answers in numbers: `201`, `202 submitting LEDGER_UNAVAILABLE`, `503 LEDGER_UNAVAILABLE`, … */
  tally(from: number, to: number): Record<string, number> {
    const out: Record<string, number> = {};
    for (const a of this.answers.filter((x) => x.sentAt >= from && x.sentAt <= to)) {
      const key = [a.status, a.code, a.state, a.lastError].filter((x) => x !== undefined).join(' ');
      out[key] = (out[key] ?? 0) + 1;
    }
    return out;
  }
}

/** Every acknowledged canary anchor is on the ledger once (one version, its document), through the `peer` CLI. */
async function auditCanary(network: Network, canary: Canary, issuer: string): Promise<string[]> {
  const problems: string[] = [];
  const ids = canary.acknowledged.map((r) => r.recordId);
  if (ids.length === 0) return problems;
  const out = await peerAsAdmin(network, network.organisation('Insurer'), ['chaincode', 'query', '-C', network.channel, '-n', network.chaincodeName, '-c', JSON.stringify({ Args: ['Records:recordHistories', issuer, JSON.stringify(ids)] })]);
  const histories = JSON.parse(out) as Record<string, { docHash: string }[]>;
  for (const r of canary.acknowledged) {
    const versions = histories[r.recordId] ?? [];
    if (versions.length !== 1 || versions[0].docHash !== r.docHash) problems.push(`canary ${r.recordId}: the ledger holds ${versions.length} versions (${versions.map((v) => v.docHash.slice(0, 8)).join(', ')})`);
  }
  return problems;
}

/** A peer read the gateway cannot answer from its own state (a record's history): its status and code while the peer is down. */
async function peerRead(gw: GatewayAccess, issuer: string, recordId: string): Promise<string> {
  try {
    const res = await fetch(`${gw.url}/v1/records/${encodeURIComponent(issuer)}/${encodeURIComponent(recordId)}/history`, { headers: { authorization: `Bearer ${gw.key}` }, signal: AbortSignal.timeout(60_000) });
    const body = (await res.json().catch(() => ({}))) as { error?: { code?: string } };
    return `${res.status}${body.error?.code ? ` ${body.error.code}` : ''}`;
  } catch (err) {
    return `no answer (${(err as Error).message.slice(0, 60)})`;
  }
}

/** The Hospital journal's ledger transactions by outcome (`committed`, or the failure code each attempt met): the submissions the dead peer cut short, then sent again. */
async function journalOutcomes(gw: GatewayAccess): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const s of await samples(gw, 'medprov_ledger_transactions_total')) {
    if (s.labels.path !== 'journal') continue;
    out[s.labels.outcome] = (out[s.labels.outcome] ?? 0) + s.value;
  }
  return out;
}

function printFigures(title: string, report: AuditReport, extra: Record<string, string>): void {
  const lines = [
    `  ${title}`,
    `    requests acknowledged ${report.acknowledged} / committed ${report.committed} / duplicated ${report.duplicated} / lost ${report.lost}` +
      ` (unacknowledged ${report.unacknowledged}, of them on the ledger ${report.unacknowledgedPresent}; in doubt ${report.inDoubt}; rejected ${report.rejected})`,
    ...Object.entries(extra).map(([k, v]) => `    ${k}: ${v}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function registeredPatients(network: Network, officer: GatewayAccess, tag: string, count = 2): Promise<Patient[]> {
  const hospital = network.organisation('Hospital').mspId;
  const patients = Array.from({ length: count }, (_, i) => new Patient(`MRN-${tag}-${i}`, hospital, network.channel));
  for (const p of patients) {
    const answer = await p.register(officer);
    expect(answer.status, answer.text).to.equal(201);
  }
  return patients;
}

/** The audit after the fault: settles the journal, holds the ledger and the event-fed state to what the clients were told. */
async function auditAfter(network: Network, gws: Gateways, workload: Workload, canary: Canary): Promise<{ report: AuditReport; height: number; problems: string[] }> {
  const issuer = network.organisation('Hospital').mspId;
  const rejected = await settle(workload, gws.officer, 600_000);
  const report = await auditLedger(network, workload, issuer, rejected);
  const height = await samePeerChains(network, 300_000);
  const eventFed = await auditEventFed(workload, { hospital: gws.officer, insurer: gws.claims, claims: gws.claims }, height, 300_000);
  return { report, height, problems: [...report.problems, ...eventFed, ...(await auditCanary(network, canary, issuer))] };
}

/** The load of this file: the fault workload from patients of its own, and a canary that waits for its writes. */
interface Load {
  readonly tag: string;
  readonly workload: Workload;
  readonly canary: Canary;
}

/** Runs `body` under load at the Hospital (started once 20 requests were acknowledged); stops the load whatever happens. */
async function underLoad(network: Network, gws: Gateways, prefix: string, body: (load: Load) => Promise<void>): Promise<void> {
  const tag = `${prefix}-${randomBytes(3).toString('hex')}`;
  const patients = await registeredPatients(network, gws.officer, tag);
  const workload = new Workload({ tag, hospital: gws.officer, insurer: gws.claims, patients, insurerMsp: network.organisation('Insurer').mspId, batchSize: 10 });
  workload.start();
  const canary = new Canary(gws.officer, `${tag}-canary`);
  try {
    await workload.acknowledgedAtLeast(20);
    await body({ tag, workload, canary });
  } finally {
    await workload.stop(1_000).catch(() => undefined);
    await canary.stop();
  }
}

/** When the first canary write sent after `since` committed; fails the test when none has within 15 minutes (never recovered). */
async function firstCommitSince(canary: Canary, since: number, what: string): Promise<number> {
  const deadline = Date.now() + 900_000;
  for (;;) {
    const at = await canary.committedSince(since);
    if (at !== undefined) return at;
    if (Date.now() > deadline) throw new Error(`no write sent ${what} committed within 15 minutes`);
    await sleep(250);
  }
}

/** The Hospital journal's committed transactions so far (its /metrics). */
async function journalCommits(gw: GatewayAccess): Promise<number> {
  return (await journalOutcomes(gw)).committed ?? 0;
}

/** When the journal committed its first transaction after `since` (its /metrics, polled), given how many it had then. */
async function firstJournalCommitAfter(gw: GatewayAccess, committedBefore: number): Promise<number> {
  const deadline = Date.now() + 900_000;
  while ((await journalCommits(gw).catch(() => committedBefore)) <= committedBefore) {
    if (Date.now() > deadline) throw new Error('the journal committed nothing within 15 minutes');
    await sleep(250);
  }
  return Date.now();
}

/** What the workload's clients were answered before they sent a request again (`503 LEDGER_UNAVAILABLE`, `no answer`, …), in numbers. */
function retriedAnswers(workload: Workload): Record<string, number> {
  const out: Record<string, number> = {};
  for (const answer of workload.sent.flatMap((s) => s.retriedOn)) out[answer] = (out[answer] ?? 0) + 1;
  return out;
}

/**
 * Every acknowledged request once on the ledger, nothing else, the event-fed state in agreement;
 * and nothing failed uncleanly on the way: a client that was not answered 2xx or 4xx got a 503 or
 * 504 with a code (or a 429), never a 500/502 or no answer.
 */
function expectExactlyOnce(report: AuditReport, problems: readonly string[], minAcknowledged: number, workload: Workload): void {
  expect(Object.keys(retriedAnswers(workload)).filter((a) => !/^(429|503|504) [A-Z][A-Z0-9_]+$/.test(a)), 'answers other than 429/503/504 with a code').to.deep.equal([]);
  expect(problems).to.deep.equal([]);
  expect(report.lost).to.equal(0);
  expect(report.duplicated).to.equal(0);
  expect(report.unacknowledgedPresent).to.equal(0);
  expect(report.rejected).to.equal(0);
  expect(report.acknowledged).to.be.greaterThan(minAcknowledged);
}

describe('faults: the gateway’s own peer dies under load', function () {
  this.timeout(1_800_000);

  describe('one peer per organisation: the Hospital gateway waits for its peer to come back', () => {
    let network: Network;
    let gws: Gateways;
    let killed: PeerNode | undefined;

    before(async () => {
      const net = await testNetwork();
      network = net.network;
      gws = { officer: net.gateway('Hospital', 'records-officer'), claims: net.gateway('Insurer', 'claims-officer') };
    });

    after(async () => {
      // Whatever happened, the shared network gets its peer back.
      if (killed && runningPid(network.pidFile(killed.name)) === undefined) await restart(network, killed);
      await stopTestNetwork();
    });

    it('SIGKILL of its peer: writes stay accepted (503 with a code for peer reads), the restarted peer catches up, every acknowledged request commits exactly once', async () => {
      await underLoad(network, gws, 'pf1', async ({ tag, workload, canary }) => {
        killed = await gatewayPeer(network, gws.officer, 'Hospital');
        const firstRecord = canary.acknowledged[0]?.recordId ?? `${tag}-1`;
        const killedAt = Date.now();
        await kill(network, killed.name);
        // The outage: long enough for every kind of request to meet the dead peer.
        await sleep(15_000);
        const readDuringOutage = await peerRead(gws.officer, network.organisation('Hospital').mspId, firstRecord);
        const outageHealth = await healthOf(gws.officer);
        const journalBefore = await journalCommits(gws.officer);
        const restartedAt = Date.now();
        await restart(network, killed);
        const upAt = Date.now();
        const journalAt = await firstJournalCommitAfter(gws.officer, journalBefore);
        const committedAt = await firstCommitSince(canary, upAt, 'after the peer came back');
        await workload.acknowledgedAtLeast(workload.counts().acknowledged + 10);
        await workload.stop();
        await canary.stop();

        const { report, height, problems } = await auditAfter(network, gws, workload, canary);
        printFigures('fault: SIGKILL of the Hospital gateway’s only peer (1 peer per org), restarted after 15 s', report, {
          'what a waiting caller (Prefer: wait=5) was answered, sent during the outage': JSON.stringify(canary.tally(killedAt, restartedAt)),
          'a peer read (record history) during the outage': readDuringOutage,
          'the gateway’s ledger status during the outage': JSON.stringify({ ready: outageHealth?.ledger?.ready, peer: outageHealth?.peer?.endpoint }),
          'peer start (startNode, until its health check answers)': seconds(upAt - restartedAt),
          'time to recover: from the restart to the journal’s first commit': seconds(journalAt - restartedAt),
          'from the restart to the commit of the first write sent after it (behind the outage’s backlog)': seconds(committedAt - restartedAt),
          'time to recover: from the kill to the journal’s first commit': seconds(journalAt - killedAt),
          'canary writes acknowledged': String(canary.acknowledged.length),
          'what the workload’s clients were answered before sending again': JSON.stringify(retriedAnswers(workload)),
          'the Hospital journal’s transactions by outcome (failed attempts were sent again)': JSON.stringify(await journalOutcomes(gws.officer)),
          'every peer at height, same last block': String(height),
        });
        expectExactlyOnce(report, problems, 20, workload);
        // Nothing but a clean answer while the peer was down: 202 (held by the journal) or 503 with a code.
        for (const a of canary.answers.filter((x) => x.sentAt >= killedAt && x.sentAt <= restartedAt)) {
          expect([201, 202, 503], JSON.stringify(a)).to.include(a.status);
          if (a.status === 503) expect(a.code, JSON.stringify(a)).to.match(/^[A-Z][A-Z0-9_]+$/);
        }
        expect(readDuringOutage).to.match(/^(200|503 [A-Z_]+)$/);
      });
    });
  });

  describe('two peers per organisation: the gateway fails over to its org’s other peer', () => {
    let network: Network;
    let stateDir: string;
    let gws: Gateways;
    let killed: PeerNode | undefined;

    before(async () => {
      stateDir = mkdtempSync(path.join(os.tmpdir(), 'medprov-2peers-'));
      const fabricHome = installFabric(consoleProgress('two-peers', createWriteStream(path.join(stateDir, 'install.log'))));
      const definition = readConsortiumFile(path.join(ROOT, 'test', 'faults', 'support', 'consortium-two-peers.json'));
      const basePort = await freeBasePort(stateDir, fabricHome);
      network = new Network(definition, { root: ROOT, stateDir, basePort, fabricHome });
      const taken = await portsTakenByOthers(network, TEST_UP_OPTIONS);
      if (taken.length > 0) throw new Error(`the two-peers network's ports ${taken.join(', ')} are taken (base port ${basePort})`);
      const progress = consoleProgress('two-peers', createWriteStream(path.join(stateDir, 'up.log')));
      await up(network, progress, TEST_UP_OPTIONS);
      const keys = readApiKeys(network);
      if (!keys) throw new Error('up wrote no API keys');
      gws = {
        officer: { url: keys.orgs.Hospital.url, key: keys.orgs.Hospital.keys['records-officer'] },
        claims: { url: keys.orgs.Insurer.url, key: keys.orgs.Insurer.keys['claims-officer'] },
      };
    });

    after(async () => {
      if (network) await down(network, consoleProgress('two-peers', createWriteStream(path.join(stateDir, 'down.log'))));
      if (stateDir && !process.env.MEDPROV_TEST_KEEP_STATE) rmSync(stateDir, { recursive: true, force: true });
    });

    it('SIGKILL of the gateway’s current peer: it moves to the other, keeps committing, loses nothing; the peer, restarted, catches up; then the other dies and it moves back', async () => {
      await underLoad(network, gws, 'pf2', async ({ workload, canary }) => {
        killed = await gatewayPeer(network, gws.officer, 'Hospital');
        const before = (await healthOf(gws.officer))?.peer;
        expect(before?.peers, 'the gateway is given both peers of its org').to.deep.equal(network.peersOf(network.organisation('Hospital')).map((p) => p.address));
        const killedAt = Date.now();
        await kill(network, killed.name);
        const committedAt = await firstCommitSince(canary, killedAt, 'through the other peer');
        const after = (await healthOf(gws.officer))?.peer;
        expect(after?.endpoint).to.not.equal(killed.address);
        expect(after?.switches).to.be.greaterThan(before?.switches ?? 0);
        expect(after?.lastSwitch?.from).to.equal(killed.address);
        const metrics = await (await fetch(`${gws.officer.url}/metrics`)).text();
        expect(metrics).to.include(`medprov_ledger_peer{endpoint="${after?.endpoint}"} 1`);
        expect(metrics).to.include(`medprov_ledger_peer{endpoint="${killed.address}"} 0`);
        // Committing through the other peer, under load, for a while.
        const ackedAtFailover = workload.counts().acknowledged;
        await workload.acknowledgedAtLeast(ackedAtFailover + 20);
        const restartedAt = Date.now();
        await restart(network, killed);
        const upAt = Date.now();
        await workload.acknowledgedAtLeast(workload.counts().acknowledged + 10);
        // It stayed on the other peer; once the first has caught up, that one dies too: the gateway moves back.
        expect((await healthOf(gws.officer))?.peer?.endpoint).to.equal(after?.endpoint);
        await samePeerChains(network, 300_000);
        const second = await gatewayPeer(network, gws.officer, 'Hospital');
        const secondKilledAt = Date.now();
        await kill(network, second.name);
        const secondCommittedAt = await firstCommitSince(canary, secondKilledAt, 'through the first peer again');
        const back = (await healthOf(gws.officer))?.peer;
        expect(back?.endpoint).to.equal(killed.address);
        await workload.acknowledgedAtLeast(workload.counts().acknowledged + 20);
        await restart(network, second);
        await workload.acknowledgedAtLeast(workload.counts().acknowledged + 10);
        await workload.stop();
        await canary.stop();

        const { report, height, problems } = await auditAfter(network, gws, workload, canary);
        const final = (await healthOf(gws.officer))?.peer;
        printFigures('fault: SIGKILL of the Hospital gateway’s current peer (2 peers per org), restarted after the failover', report, {
          'what a waiting caller (Prefer: wait=5) was answered, sent from the kill to the first commit': JSON.stringify(canary.tally(killedAt, committedAt)),
          'time to recover (failover): from the kill to the first write (sent after it) committed': seconds(committedAt - killedAt),
          'the move': `${after?.lastSwitch?.from} → ${after?.lastSwitch?.to} (${after?.lastSwitch?.reason})`,
          'peer start (startNode, until its health check answers)': seconds(upAt - restartedAt),
          'requests acknowledged between failover and restart': String(workload.counts().acknowledged - ackedAtFailover),
          'second kill (the peer it had moved to): from the kill to the first write committed through the first peer again': seconds(secondCommittedAt - secondKilledAt),
          'the gateway’s peer at the end': `${final?.endpoint} after ${final?.switches} move(s)`,
          'what the workload’s clients were answered before sending again': JSON.stringify(retriedAnswers(workload)),
          'the Hospital journal’s transactions by outcome (failed attempts were sent again)': JSON.stringify(await journalOutcomes(gws.officer)),
          'every peer (6) at height, same last block': String(height),
        });
        expectExactlyOnce(report, problems, 60, workload);
        expect(final?.switches).to.equal(2);
      });
    });
  });
});
