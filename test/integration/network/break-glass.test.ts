/**
 * Break-glass emergency access on the real network (issue 16): a Hospital clinician opens a record
 * without consent through the gateway with a reason; the ledger holds a `break-glass` entry in the
 * patient's access log and in the Hospital's audit (read through Fabric's own peer CLI and through
 * the DPO's audit route and CLI); the transaction is valid on every org's peer. Refused, writing
 * nothing: a missing or unknown reason and other roles (at the gateway, and by the chaincode itself
 * when the Hospital's own identity submits directly with no gateway in between), an insurer (its
 * admin through the peer CLI: FORBIDDEN_ORG_TYPE), and any access beyond the per-organisation
 * daily rate, which the test sets low through the consortium's majority change flow (two admins
 * approve) and puts back after.
 *
 * @module
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { LedgerClient } from '../../../gateway/src/fabric/client';
import { LedgerError } from '../../../gateway/src/fabric/errors';
import { invokeChaincode, queryChaincode } from '../../../network/src/chaincode';
import { runCli, type CliRun } from '../../unit/support/cli-process';
import { call, write } from './support/gateway-http';
import { ledgerTransaction, refusalOf } from './support/peer-cli';
import { stopTestNetwork, testNetwork, type TestNetwork } from './test-network';

// The network is shared by every real-network spec file of the mocha run: stopped once, at the end.
after(async () => {
  await stopTestNetwork();
});

const sha256 = (data: string): string => createHash('sha256').update(data).digest('hex');
const HOSPITAL = 'HospitalMSP';

interface Entry {
  accessor: string;
  kind?: string;
  decision: string;
  breakGlassReason?: string;
  purpose: string;
  recordId: string;
  txId: string;
  role?: string;
}

describe('real network: break-glass emergency access (issue 16)', function () {
  this.timeout(600_000);
  const run = randomBytes(4).toString('hex');
  const recordId = `bg-${run}`;
  let net: TestNetwork;
  let patientRef: string;
  let original: { organisations: { mspId: string; type: string }[]; breakGlass?: { perOrgPerDay: number }; revision: number };
  let home: string;
  let direct: LedgerClient;

  const clinician = () => net.gateway('Hospital', 'clinician');
  const accessLog = async (): Promise<Entry[]> => JSON.parse(await queryChaincode(net.network, 'Sponsor', 'Access:listAccessLog', [HOSPITAL, patientRef]));
  const today = () => new Date().toISOString().slice(0, 10);
  const auditByHospital = async (): Promise<Entry[]> => JSON.parse(await queryChaincode(net.network, 'Insurer', 'Access:listBreakGlassAccesses', ['by', HOSPITAL, today(), today()])).entries;
  const readConsortium = async () => JSON.parse(await queryChaincode(net.network, 'Hospital', 'Identity:readConsortium'));
  /** A majority of the three members' admins (Hospital, Insurer) approve a definition through Fabric's own CLI. */
  const approveByMajority = async (definition: object) => {
    for (const org of ['Hospital', 'Insurer']) await invokeChaincode(net.network, org, 'Identity:approveConsortiumChange', [JSON.stringify(definition)]);
  };
  const cli = (key: string, args: string[]): Promise<CliRun> => runCli([...args, '--gateway', clinician().url, '--api-key', key], { home, env: {} });

  /** The call is refused with `code` and neither the patient's log nor the audit changes. */
  async function writesNothing(refuse: () => Promise<string>, code: string): Promise<void> {
    const [log, audit] = [await accessLog(), await auditByHospital()];
    expect(await refuse()).to.equal(code);
    expect(await accessLog()).to.deep.equal(log);
    expect(await auditByHospital()).to.deep.equal(audit);
  }
  const atGateway = (key: string, body: object) => async () => {
    const res = await call({ url: clinician().url, key }, 'POST', '/v1/break-glass', body);
    expect(res.status, res.text).to.be.within(400, 499);
    expect(res.body.error.message).to.be.a('string').and.not.equal('');
    return res.body.error.code as string;
  };
  const directly = (argument: object) => async () => {
    const err = await direct.submit('Access:breakGlassAccess', JSON.stringify(argument)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(LedgerError);
    return (err as LedgerError).code;
  };

  before(async () => {
    net = await testNetwork();
    home = mkdtempSync(path.join(tmpdir(), 'medprov-bg-home-'));
    const anchored = await write(net.gateway('Hospital', 'records-officer'), 'POST', '/v1/records', { recordId, docHash: sha256(`break-glass ${run}`), patientId: `MRN-BG-${run}`, category: 'loinc:18842-5' });
    expect(anchored.status, anchored.text).to.equal(201);
    patientRef = anchored.body.anchor.patientRef;
    original = await readConsortium();
    direct = await LedgerClient.connect(net.network.gatewaySettings('Hospital').fabric);
  });

  after(async () => {
    direct?.close();
    rmSync(home, { recursive: true, force: true });
    // Put the consortium's definition back as it was (without a rate), for the suites after this one.
    const now = net && original ? await readConsortium() : undefined;
    if (now && JSON.stringify(now.breakGlass) !== JSON.stringify(original.breakGlass)) {
      await approveByMajority({ organisations: original.organisations, ...(original.breakGlass ? { breakGlass: original.breakGlass } : {}) });
    }
  });

  it("a clinician opens the record with a reason: 201, the provenance, a break-glass entry in the patient's log and the audit, valid on every peer", async () => {
    const started = process.hrtime.bigint();
    const res = await call(clinician(), 'POST', '/v1/break-glass', { issuer: HOSPITAL, recordId, reason: 'unconscious-patient' });
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    expect(res.status, res.text).to.equal(201);
    console.log(`      one break-glass through the Hospital's gateway, answered once committed: ${ms.toFixed(0)} ms`);
    expect(res.body.provenance.map((v: { recordId: string }) => v.recordId)).to.deep.equal([recordId]);
    const entry: Entry = res.body.accessLog;
    expect(entry).to.include({ accessor: HOSPITAL, role: 'clinician', kind: 'break-glass', decision: 'BREAK_GLASS', breakGlassReason: 'unconscious-patient', purpose: 'ETREAT', recordId });
    expect(res.body.transactionId).to.equal(entry.txId);

    const log = await accessLog();
    expect(log.find((e) => e.txId === entry.txId)).to.deep.equal(entry);
    expect((await auditByHospital()).map((e) => e.txId)).to.include(entry.txId);
    for (const org of ['Hospital', 'Insurer', 'Sponsor']) {
      const tx = await ledgerTransaction(net.network, org, entry.txId);
      expect(tx.validation, org).to.equal('VALID');
      expect(tx.blockNumber.toString()).to.equal(res.body.blockNumber);
    }
    // The DPO's audit report (route) names it, and so does the issuing side (the same hospital here).
    const audit = await call(net.gateway('Hospital', 'dpo'), 'GET', `/v1/audit/break-glass?from=${today()}&to=${today()}`);
    expect(audit.status, audit.text).to.equal(200);
    expect(audit.body.entries.map((e: Entry) => e.txId)).to.include(entry.txId);
    const of = await call(net.gateway('Hospital', 'admin'), 'GET', '/v1/audit/break-glass?side=of');
    expect(of.body.entries.map((e: Entry) => e.txId)).to.include(entry.txId);
  });

  it('the CLI: medprov break-glass (clinician) and medprov audit break-glass (DPO)', async () => {
    const opened = await cli(clinician().key, ['break-glass', HOSPITAL, recordId, '--reason', 'life-threatening', '--json']);
    expect(opened.code, opened.stderr).to.equal(0);
    const txId = JSON.parse(opened.stdout).accessLog.txId as string;
    const report = await cli(net.gateway('Hospital', 'dpo').key, ['audit', 'break-glass']);
    expect(report.code, report.stderr).to.equal(0);
    expect(report.stdout).to.match(/break-glass access(es)? by HospitalMSP/);
    expect(report.stdout).to.include(txId).and.include('life-threatening');
  });

  it('the gateway refuses a missing or unknown reason and every other role, and nothing is written', async () => {
    const body = { issuer: HOSPITAL, recordId, reason: 'life-threatening' };
    await writesNothing(atGateway(clinician().key, { issuer: HOSPITAL, recordId }), 'BREAK_GLASS_REASON_REQUIRED');
    await writesNothing(atGateway(clinician().key, { ...body, reason: 'curiosity' }), 'BREAK_GLASS_REASON_UNKNOWN');
    for (const role of ['records-officer', 'research-officer', 'dpo', 'admin']) {
      await writesNothing(atGateway(net.gateway('Hospital', role).key, body), 'FORBIDDEN_ROLE');
    }
    await writesNothing(async () => {
      const res = await call(net.gateway('Insurer', 'claims-officer'), 'POST', '/v1/break-glass', body);
      expect(res.status).to.equal(403);
      return res.body.error.code;
    }, 'FORBIDDEN_ROLE');
  });

  it('the chaincode refuses by itself (no gateway in between): other roles, no or unknown reason, an insurer; nothing is written', async () => {
    const body = { issuer: HOSPITAL, recordId, reason: 'life-threatening', role: 'clinician' };
    await writesNothing(directly({ ...body, role: 'records-officer' }), 'FORBIDDEN_ROLE');
    await writesNothing(directly({ issuer: HOSPITAL, recordId, role: 'clinician' }), 'BREAK_GLASS_REASON_REQUIRED');
    await writesNothing(directly({ ...body, reason: 'curiosity' }), 'BREAK_GLASS_REASON_UNKNOWN');
    await writesNothing(async () => (await refusalOf(invokeChaincode(net.network, 'Insurer', 'Access:breakGlassAccess', [JSON.stringify(body)]))).code, 'FORBIDDEN_ORG_TYPE');
    await writesNothing(async () => (await refusalOf(invokeChaincode(net.network, 'Sponsor', 'Access:breakGlassAccess', [JSON.stringify(body)]))).code, 'FORBIDDEN_ORG_TYPE');
  });

  it("beyond the consortium's daily rate (set low by a majority of admins): 429 BREAK_GLASS_RATE_EXCEEDED at the gateway and from the chaincode, nothing written", async () => {
    const used = (await auditByHospital()).length;
    await approveByMajority({ organisations: original.organisations, breakGlass: { perOrgPerDay: used + 1 } });
    const changed = await readConsortium();
    expect(changed.breakGlass).to.deep.equal({ perOrgPerDay: used + 1 });
    expect(changed.revision).to.be.greaterThan(original.revision);

    const last = await call(clinician(), 'POST', '/v1/break-glass', { issuer: HOSPITAL, recordId, reason: 'mass-casualty' });
    expect(last.status, last.text).to.equal(201);
    expect(last.body.limit).to.deep.equal({ perOrgPerDay: used + 1, usedToday: used + 1 });

    // A raw request: the test helper would wait a 429 out as a client should.
    await writesNothing(async () => {
      const res = await fetch(`${clinician().url}/v1/break-glass`, {
        method: 'POST',
        headers: { authorization: `Bearer ${clinician().key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ issuer: HOSPITAL, recordId, reason: 'life-threatening' }),
      });
      expect(res.status).to.equal(429);
      expect(Number(res.headers.get('retry-after'))).to.be.within(1, 86_400);
      return ((await res.json()) as { error: { code: string } }).error.code;
    }, 'BREAK_GLASS_RATE_EXCEEDED');
    await writesNothing(directly({ issuer: HOSPITAL, recordId, reason: 'life-threatening', role: 'clinician' }), 'BREAK_GLASS_RATE_EXCEEDED');
    const refused = await cli(clinician().key, ['break-glass', HOSPITAL, recordId, '--reason', 'life-threatening']);
    expect(refused.code).to.equal(4);
    expect(refused.stderr).to.include('BREAK_GLASS_RATE_EXCEEDED');
  });
});
