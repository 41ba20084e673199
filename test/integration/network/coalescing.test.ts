/**
 * Coalescing on the real network (issue 14): single-record anchors sent to the Hospital's gateway
 * at the same time go to the ledger together, as Records:anchorEach transactions, and each request
 * still gets its own answer — its own anchor, transaction and block, or its own refusal.
 *
 * Real: Fabric 3.1.5 (3 Raft orderers, a peer per org, the chaincode as a service) and the gateway
 * processes with their acceptance journals (the default: 202 + Location, `Prefer: wait`). The
 * network is the mocha run's shared one (test-network.ts); this only adds records.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { RECORDS_EVENT } from '../../../chaincode/src/lib/record-model';
import { BlockReader, call, sha256, verifyUntil, write, type Answer, type Gw } from './flows';
import { stopTestNetwork, testNetwork } from './test-network';

// The network is shared by every real-network spec file of the mocha run: stopped once, at the end.
after(async () => {
  await stopTestNetwork();
});

const DISCHARGE = 'loinc:18842-5';

describe('real network: concurrent single anchors are coalesced into shared transactions, each request with its own answer', function () {
  this.timeout(600_000);
  let hospital: Gw;
  let insurer: Gw;
  let reader: BlockReader;
  const run = randomBytes(4).toString('hex');
  const doc = (name: string): string => sha256(`coalescing ${run} ${name}`);
  const anchorBody = (recordId: string, docHash: string) => ({ recordId: `${run}-${recordId}`, docHash, patientId: `MRN-C-${recordId}`, category: DISCHARGE, commitment: 'plain' });

  before(async () => {
    const net = await testNetwork();
    hospital = net.gateway('Hospital', 'records-officer');
    insurer = net.gateway('Insurer', 'claims-officer');
    reader = await BlockReader.connect(net.network.gatewaySettings('Insurer').fabric);
  });
  after(() => reader?.close());

  it('100 anchors at once: each 201 with its own anchor and block; a taken record id is 409 for its request alone; a repeat is 200; shared transactions are VALID and hold exactly their records', async () => {
    // Before the burst: record "taken" anchored with one document, "again" with another.
    expect((await write(hospital, 'POST', '/v1/records', anchorBody('taken', doc('taken')))).status).to.equal(201);
    expect((await write(hospital, 'POST', '/v1/records', anchorBody('again', doc('again')))).status).to.equal(201);

    const good = Array.from({ length: 96 }, (_, i) => anchorBody(`r${i}`, doc(`r${i}`)));
    const bodies = [
      ...good.slice(0, 40),
      anchorBody('taken', doc('another document')), // RECORD_EXISTS: the id is taken by another document
      anchorBody('again', doc('again')), // the same anchor again: 200, created false
      ...good.slice(40, 70),
      anchorBody('same-doc-copy', doc('r5')), // the document of r5 under another id: never in r5's transaction
      ...good.slice(70),
    ];
    const answers: Answer[] = await Promise.all(bodies.map((body) => write(hospital, 'POST', '/v1/records', body)));

    const byRecord = new Map(bodies.map((b, i) => [b.recordId, answers[i]!]));
    const taken = byRecord.get(`${run}-taken`)!;
    expect(taken.status, JSON.stringify(taken.body)).to.equal(409);
    expect(taken.body.error.code).to.equal('RECORD_EXISTS');
    expect(taken.body.error.message).to.include(`${run}-taken`);
    const again = byRecord.get(`${run}-again`)!;
    expect(again.status).to.equal(200);
    expect(again.body).to.deep.include({ created: false });
    const copy = byRecord.get(`${run}-same-doc-copy`)!;
    const r5 = byRecord.get(`${run}-r5`)!;

    // Every good request: 201 with its own anchor, in the transaction and block it names.
    const txOf = new Map<string, { blockNumber: string; recordIds: string[] }>();
    for (const body of good) {
      const a = byRecord.get(body.recordId)!;
      expect(a.status, `${body.recordId}: ${JSON.stringify(a.body)}`).to.equal(201);
      expect(a.body.anchor).to.include({ recordId: body.recordId, docHash: body.docHash, version: 1, issuer: 'HospitalMSP', status: 'active' });
      expect(a.body.blockNumber).to.match(/^\d+$/);
      const entry = txOf.get(a.body.anchor.txId) ?? { blockNumber: String(a.body.blockNumber), recordIds: [] as string[] };
      expect(entry.blockNumber, 'one transaction, one block').to.equal(a.body.blockNumber);
      entry.recordIds.push(body.recordId);
      txOf.set(a.body.anchor.txId, entry);
    }
    // r5's document is anchored once: the copy is answered with r5's anchor (existing), or refused
    // if it had reached the ledger first (it never can: it waits for r5's outcome, accepted before it).
    expect(copy.status, JSON.stringify(copy.body)).to.equal(200);
    expect(copy.body.anchor).to.include({ recordId: `${run}-r5`, txId: r5.body.anchor.txId });

    const shared = [...txOf.values()].filter((t) => t.recordIds.length > 1);
    expect(shared.length, 'at least one transaction carried several requests').to.be.greaterThan(0);
    expect(txOf.size, 'fewer transactions than requests').to.be.lessThan(good.length);

    // From the blocks themselves: each transaction is VALID where its answers say, and its one
    // event names exactly the records those answers were for.
    for (const [txId, { blockNumber, recordIds }] of txOf) {
      const block = await reader.block(BigInt(blockNumber));
      const tx = block.txs.find((t) => t.txId === txId);
      expect(tx, `transaction ${txId} valid in block ${blockNumber}`).to.not.equal(undefined);
      expect(tx!.event?.name).to.equal(RECORDS_EVENT);
      const { changes } = JSON.parse(Buffer.from(tx!.event!.payload).toString('utf8')) as { changes: { kind: string; recordId: string }[] };
      expect(changes.map((c) => c.recordId).sort()).to.deep.equal([...recordIds].sort());
      expect(changes.every((c) => c.kind === 'anchored')).to.equal(true);
    }

    // Another org sees every one of them, each ORIGINAL in the block its anchoring request named.
    for (const body of [good[0]!, good[47]!, good[95]!]) {
      const a = byRecord.get(body.recordId)!;
      expect(await verifyUntil(insurer, { docHash: body.docHash }, 'ORIGINAL')).to.include({ recordId: body.recordId, txId: a.body.anchor.txId, blockNumber: a.body.blockNumber });
    }

    // The gateway's metrics count the coalesced transactions and the requests they carried.
    const metrics = await call(hospital, 'GET', '/metrics');
    const count = /medprov_ledger_transaction_requests_count\{path="journal",transaction="Records:anchorEach"\} (\d+)/.exec(metrics.text);
    expect(Number(count?.[1] ?? 0)).to.be.greaterThan(0);
  });

  it('the status of each accepted request names its own outcome (GET /v1/requests/{id})', async () => {
    const bodies = Array.from({ length: 30 }, (_, i) => anchorBody(`s${i}`, doc(`s${i}`)));
    const accepted = await Promise.all(bodies.map((body) => call(hospital, 'POST', '/v1/records', body)));
    for (const a of accepted) expect(a.status).to.equal(202);
    for (const [i, a] of accepted.entries()) {
      let status: Answer | undefined;
      for (let n = 0; n < 240; n++) {
        status = await call(hospital, 'GET', new URL(a.location!, hospital.url).pathname);
        if (status.body.state === 'committed' || status.body.state === 'rejected') break;
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(status!.body).to.include({ state: 'committed', kind: 'anchorRecord' });
      expect(status!.body.result.anchor).to.include({ recordId: bodies[i]!.recordId, docHash: bodies[i]!.docHash, txId: status!.body.transactionId });
      expect(status!.body.result.created).to.equal(true);
    }
  });
});
