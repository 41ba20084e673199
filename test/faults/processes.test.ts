/**
 * Real faults (issue 15): the network's real processes are SIGKILLed under a stream of anchors
 * (single and batched), amendments, consent grants and revocations, and verifications from
 * concurrent clients, then started again by the network layer's own code. After each fault:
 * every request a gateway acknowledged is on the ledger exactly once (read through the `peer`
 * CLI), nothing it did not acknowledge is, every peer and orderer has the same chain, and the
 * gateways' anchor index, anchor log and consent feed have caught up and agree with the ledger.
 *
 * The network is the mocha run's shared one (test/integration/network/test-network.ts): Fabric
 * 3.1.5, 3 Raft orderers, a peer per org, the chaincode as a service, a gateway per org.
 * The figures per fault are printed at the end (the closing note quotes them).
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { silentProgress } from '../../network/src/progress';
import { up } from '../../network/src/system';
import { Patient } from '../integration/network/support/consent';
import type { GatewayAccess } from '../integration/network/support/gateway-http';
import { stopTestNetwork, TEST_UP_OPTIONS, testNetwork, type TestNetwork } from '../integration/network/test-network';
import { auditEventFed, auditLedger, journalAcceptances, ordererBlockHashes, samePeerChains, settle, type AuditReport } from './support/audit';
import { allProcesses, awaitLeader, chaincodeServerPid, kill, killPid, raftLeader, restart, restartGateway } from './support/faults';
import { Workload } from './support/workload';

after(async () => {
  await stopTestNetwork();
});

const HOSPITAL = 'HospitalMSP';
const INSURER = 'InsurerMSP';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Figures extends AuditReport {
  readonly fault: string;
  /** From the kill until a fresh anchor sent then commits (ms). */
  readonly recoveryMs: number;
  /** From the kill until the fault's processes were started again and answered (ms): the outage the test made. */
  readonly downMs: number;
  readonly retried: number;
}

describe('real faults: processes SIGKILLed under load lose nothing acknowledged and apply nothing twice', function () {
  this.timeout(900_000);
  const run = randomBytes(3).toString('hex');
  let net: TestNetwork;
  let hospital: GatewayAccess;
  let insurer: GatewayAccess;
  const figures: Figures[] = [];

  before(async () => {
    net = await testNetwork();
    hospital = net.gateway('Hospital', 'records-officer');
    insurer = net.gateway('Insurer', 'claims-officer');
  });

  /** Three patients registered at the Hospital, new for each fault (the audit counts their grants). */
  async function newPatients(tag: string): Promise<Patient[]> {
    const patients: Patient[] = [];
    for (const name of ['A', 'B', 'C']) {
      const p = new Patient(`MRN-FAULT-${tag}-${name}`, HOSPITAL, net.network.channel);
      const registered = await p.register(hospital);
      expect(registered.status, registered.text).to.equal(201);
      patients.push(p);
    }
    return patients;
  }

  after(() => {
    if (figures.length === 0) return;
    console.log('\n  fault figures (requests: acknowledged / committed / duplicated / lost; unacknowledged and how many of them on the ledger; in doubt; clients that retried; outage; first commit after the kill):');
    for (const f of figures) {
      console.log(
        `    ${f.fault.padEnd(34)} ${String(f.acknowledged).padStart(5)} / ${String(f.committed).padStart(5)} / ${f.duplicated} / ${f.lost}` +
          `   unack ${f.unacknowledged} (present ${f.unacknowledgedPresent})   in doubt ${f.inDoubt}   retried ${f.retried}` +
          `   down ${(f.downMs / 1000).toFixed(1)} s, writes again ${(f.recoveryMs / 1000).toFixed(1)} s after the kill`,
      );
    }
  });

  /** A fresh anchor with `Prefer: wait`, sent until it commits: the moment the system writes again. */
  async function firstCommitAfter(tag: string, withinMs = 300_000): Promise<number> {
    const deadline = Date.now() + withinMs;
    for (let i = 0; ; i++) {
      try {
        const res = await fetch(`${hospital.url}/v1/records`, {
          method: 'POST',
          headers: { authorization: `Bearer ${hospital.key}`, 'content-type': 'application/json', prefer: 'wait=5', 'idempotency-key': `${tag}-probe-${i}` },
          body: JSON.stringify({ recordId: `${tag}-probe-${i}`, docHash: randomBytes(32).toString('hex'), patientId: `MRN-PROBE-${tag}`, category: 'loinc:18842-5', commitment: 'plain' }),
          signal: AbortSignal.timeout(30_000),
        });
        await res.arrayBuffer();
        if (res.status === 201) return Date.now();
      } catch {
        // the gateway is not back yet
      }
      if (Date.now() > deadline) throw new Error(`nothing committed within ${withinMs / 1000} s of the fault`);
      await sleep(250);
    }
  }

  /**
   * Runs the workload, applies `fault` once some requests have been acknowledged, keeps the load
   * on until the system commits again and more requests are acknowledged, then stops it and
   * audits everything. `fault` calls `killed()` right after its kill (recovery is timed from
   * there) and resolves when its processes are started again.
   */
  async function underLoad(name: string, fault: (killed: () => void) => Promise<void>): Promise<Figures> {
    const tag = `${run}-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`;
    const patients = await newPatients(tag);
    const workload = new Workload({ tag, hospital, insurer, patients, insurerMsp: INSURER });
    workload.start();
    let recoveryMs = 0;
    let downMs = 0;
    try {
      await workload.acknowledgedAtLeast(40);
      let killedAt = 0;
      let recovered: Promise<number> | undefined;
      await fault(() => {
        killedAt = Date.now();
        recovered = firstCommitAfter(tag);
      });
      if (!recovered) throw new Error(`the fault "${name}" never said when it killed`);
      downMs = Date.now() - killedAt;
      recoveryMs = (await recovered) - killedAt;
      const before = workload.counts().acknowledged;
      await workload.acknowledgedAtLeast(before + 40);
    } finally {
      await workload.stop();
    }
    const rejected = await settle(workload, hospital);
    const height = await samePeerChains(net.network);
    const hashes = await ordererBlockHashes(net.network, height - 1);
    const report = await auditLedger(net.network, workload, HOSPITAL, rejected);
    const eventFed = await auditEventFed(workload, { hospital, insurer, claims: insurer }, height);
    const accepted = journalAcceptances(net.network, 'Hospital', tag);
    const twice = [...accepted].filter(([, n]) => n > 1);
    const f: Figures = { fault: name, ...report, recoveryMs, downMs, retried: workload.counts().retried };
    figures.push(f);
    expect(workload.clientErrors, 'the workload itself failed').to.deep.equal([]);
    expect(report.problems, 'the ledger against what the clients were told').to.deep.equal([]);
    expect(eventFed, "the gateways' event-fed state against the ledger").to.deep.equal([]);
    expect(accepted.size, "the workload's records in the Hospital journal").to.be.greaterThan(0);
    expect(twice, 'requests the Hospital journal accepted twice (a retry after a crash must find its first acceptance)').to.deep.equal([]);
    expect(new Set(Object.values(hashes)).size, `every orderer's block ${height - 1}: ${JSON.stringify(hashes)}`).to.equal(1);
    expect(report.lost + report.duplicated + report.unacknowledgedPresent + report.rejected).to.equal(0);
    expect(report.committed).to.be.greaterThan(0);
    return f;
  }

  it('one orderer (a follower): the others keep ordering; restarted, it catches up with the same chain', async () => {
    await underLoad('one orderer (follower)', async (killed) => {
      const leader = await awaitLeader(net.network);
      const follower = net.network.orderers.find((o) => o.name !== leader.name)!;
      await kill(net.network, follower.name);
      killed();
      await sleep(5_000);
      await restart(net.network, follower);
    });
  });

  it('the Raft leader: a new leader is elected and ordering goes on; the old leader rejoins', async () => {
    await underLoad('the Raft leader', async (killed) => {
      const leader = await awaitLeader(net.network);
      await kill(net.network, leader.name);
      killed();
      const next = await awaitLeader(net.network);
      expect(next.name).to.not.equal(leader.name);
      await sleep(3_000);
      await restart(net.network, leader);
    });
  });

  it('two of three orderers: no quorum, so writes wait in the journal (202) and a synchronous write is refused with a code; all commit once quorum returns', async () => {
    let duringOutage: { anchor?: number; grant?: { status: number; code?: string } } = {};
    await underLoad('two of three orderers', async (killed) => {
      // A patient of its own, outside the workload (whose grants the audit counts).
      const patient = new Patient(`MRN-FAULT-${run}-NOQUORUM`, HOSPITAL, net.network.channel);
      expect((await patient.register(hospital)).status).to.equal(201);
      const leader = await awaitLeader(net.network);
      const other = net.network.orderers.find((o) => o.name !== leader.name)!;
      await kill(net.network, leader.name);
      await kill(net.network, other.name);
      killed();
      // While there is no quorum: an anchor is accepted into the journal (202, not committed), a grant answers 5xx with a code.
      await sleep(2_000);
      const anchor = await fetch(`${hospital.url}/v1/records`, {
        method: 'POST',
        headers: { authorization: `Bearer ${hospital.key}`, 'content-type': 'application/json', prefer: 'wait=2' },
        body: JSON.stringify({ recordId: `${run}-noquorum`, docHash: randomBytes(32).toString('hex'), patientId: 'MRN-NOQUORUM', category: 'loinc:18842-5', commitment: 'plain' }),
      });
      await anchor.arrayBuffer();
      const signed = await patient.signGrant({ grantee: INSURER, purpose: 'claims', categories: ['loinc:18842-5'] });
      const grant = await fetch(`${hospital.url}/v1/consents`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(signed) });
      const grantBody = (await grant.json()) as { error?: { code?: string; message?: string } };
      duringOutage = { anchor: anchor.status, grant: { status: grant.status, code: grantBody.error?.code } };
      await sleep(3_000);
      await Promise.all([restart(net.network, leader), restart(net.network, other)]);
      // The grant refused during the outage, sent again as a client does (until it is not a 5xx): taken once the new leader orders.
      let again = { status: 0, text: '' };
      for (let i = 0; i < 120 && (again.status === 0 || again.status >= 500); i++) {
        if (i > 0) await sleep(500);
        const res = await fetch(`${hospital.url}/v1/consents`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(signed) });
        again = { status: res.status, text: await res.text() };
      }
      expect([200, 201], `the grant refused without quorum, sent again after: ${again.text}`).to.include(again.status);
    });
    expect(duringOutage.anchor, 'an anchor without quorum is accepted into the journal').to.equal(202);
    expect(duringOutage.grant?.status, JSON.stringify(duringOutage.grant)).to.be.oneOf([503, 504]);
    expect(duringOutage.grant?.code).to.match(/^LEDGER_[A-Z_]+$/);
  });

  it('the chaincode server: the supervisor starts it again and writes go through', async () => {
    await underLoad('the chaincode server', async (killed) => {
      const pid = chaincodeServerPid(net.network);
      if (pid === undefined) throw new Error('the chaincode server is not running');
      await killPid(pid);
      killed();
      // The supervisor's job: a new server, on the same address.
      for (let i = 0; i < 120 && (chaincodeServerPid(net.network) === undefined || chaincodeServerPid(net.network) === pid); i++) await sleep(250);
      expect(chaincodeServerPid(net.network), 'a new chaincode server').to.not.equal(undefined).and.to.not.equal(pid);
    });
  });

  it('the Hospital gateway, mid-acceptance: restarted, it answers retried requests with their first acceptance and submits what its journal holds', async () => {
    await underLoad('the Hospital gateway', async (killed) => {
      await kill(net.network, 'gateway-hospital');
      killed();
      await sleep(1_000);
      await restartGateway(net.network, 'Hospital');
    });
  });

  it('everything at once (a power cut), then up: every process comes back and nothing acknowledged is lost', async () => {
    await underLoad('power cut (all processes)', async (killed) => {
      // The EVM chain stands for a public chain: it does not lose power with the consortium.
      const victims = allProcesses(net.network).filter((p) => p.name !== 'evm');
      await Promise.all(victims.map((p) => killPid(p.pid)));
      killed();
      expect(allProcesses(net.network).map((p) => p.name)).to.deep.equal(['evm']);
      await sleep(1_000);
      await up(net.network, silentProgress, TEST_UP_OPTIONS);
    });
    expect(await raftLeader(net.network)).to.not.equal(undefined);
  });
});
