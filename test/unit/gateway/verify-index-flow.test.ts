import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { IdentityContract } from '../../../chaincode/src';
import type { Ledger } from '../../../gateway/src/fabric/client';
import { delegatingLedger } from '../../../gateway/src/fabric/delegating-ledger';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL, INSURER } from '../chaincode/fixtures';
import { ROLE_KEYS, startOrgGateway, type OrgGateway } from '../support/org-gateways';
import { RecordingEvents } from '../support/recording-events';
import { SALT_NOTE } from '../../../gateway/src/records/service';

/**
 * Verification through real gateways answered from the local anchor index: which answers come
 * from the index and which from the peer is told by counting the gateway's peer look-ups.
 */
const OFFICER_KEY = ROLE_KEYS['records-officer'];
const CLAIMS_KEY = ROLE_KEYS['claims-officer'];
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

async function send(gw: OrgGateway, method: string, p: string, key: string, body?: unknown) {
  const res = await fetch(gw.url + p, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as any };
}

/** Counts the peer look-ups by hash and the block look-ups by transaction id a gateway makes. */
function countLookups(counter: { lookups: number; blocks: number }) {
  return (ledger: Ledger): Ledger => delegatingLedger(ledger, {
    evaluate: (name, ...args) => {
      if (name === 'Records:lookupByHash') counter.lookups += 1;
      return ledger.evaluate(name, ...args);
    },
    blockOfTransaction: async (transactionId) => {
      counter.blocks += 1;
      return ledger.blockOfTransaction?.(transactionId);
    },
  });
}

describe('gateway flow: verifications answered by the local anchor index (unit level, real chaincode on the in-memory stub)', function () {
  this.timeout(20_000);
  const ledger = new FakeLedger();
  const height = () => BigInt(ledger.committed.length);
  let dir: string;
  let hospital: OrgGateway;
  let insurer: OrgGateway;
  /** A gateway without an index: what the peer path answers. */
  let reference: OrgGateway;
  const hospitalPeer = { lookups: 0, blocks: 0 };
  const insurerPeer = { lookups: 0, blocks: 0 };
  /** The block holding a transaction on the shared ledger (block n holds committed[n - 1]), in decimal. */
  const blockOf = (txId: string): string => String(ledger.committed.findIndex((tx) => tx.txId === txId) + 1);
  let hospitalEvents: RecordingEvents;
  let insurerEvents: RecordingEvents;

  const startInsurer = async (keysDir: string) => {
    insurer = await startOrgGateway({
      ledger,
      mspId: INSURER,
      type: 'insurer',
      dir: keysDir,
      wrapLedger: countLookups(insurerPeer),
      anchorIndex: { dir: path.join(dir, 'insurer-index'), settleMs: 5, wrapEvents: (events) => (insurerEvents = new RecordingEvents(events)) },
    });
  };
  const verify = async (gw: OrgGateway, docHash: string) => {
    const res = await send(gw, 'POST', '/v1/verifications', CLAIMS_KEY, { docHash });
    expect(res.status).to.equal(200);
    return res.body;
  };
  /** The verdict from the index (block number included: no look-up at all), checked against the peer path's answer. */
  const verifyFromIndex = async (docHash: string) => {
    const before = { ...insurerPeer };
    const body = await verify(insurer, docHash);
    expect(insurerPeer, 'peer look-ups').to.deep.equal(before);
    expect(body).to.deep.equal(await verify(reference, docHash));
    return body;
  };
  const anchor = (recordId: string, doc: string) =>
    send(hospital, 'POST', '/v1/records', OFFICER_KEY, { recordId, docHash: sha(doc), patientId: `patient ${recordId}`, category: 'loinc:18842-5' });

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-verify-index-'));
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    hospital = await startOrgGateway({
      ledger,
      mspId: HOSPITAL,
      type: 'hospital',
      dir: path.join(dir, 'h'),
      wrapLedger: countLookups(hospitalPeer),
      anchorIndex: { dir: path.join(dir, 'hospital-index'), settleMs: 5, wrapEvents: (events) => (hospitalEvents = new RecordingEvents(events)) },
    });
    reference = await startOrgGateway({ ledger, mspId: INSURER, type: 'insurer', dir: path.join(dir, 'ref') });
    await startInsurer(path.join(dir, 'i1'));
  });
  after(async () => {
    hospitalEvents.resume();
    insurerEvents.resume();
    await Promise.all([hospital.stop(), insurer.stop(), reference.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers ORIGINAL from the index once it holds the anchor, identical to the peer path', async () => {
    expect((await anchor('r-1', 'v1')).status).to.equal(201);
    await insurer.anchorIndex!.whenIndexed(height());
    await insurer.anchorIndex!.whenIndexed();
    const body = await verifyFromIndex(sha('v1'));
    expect(body).to.include({ verdict: 'ORIGINAL', issuer: HOSPITAL, recordId: 'r-1', version: 1, blockNumber: height().toString() });
  });

  it('answers SUPERSEDED for the amended version and ORIGINAL for the new one from the index', async () => {
    expect((await send(hospital, 'POST', `/v1/records/${HOSPITAL}/r-1/versions`, OFFICER_KEY, { docHash: sha('v2') })).status).to.equal(201);
    await insurer.anchorIndex!.whenIndexed(height());
    const superseded = await verifyFromIndex(sha('v1'));
    expect(superseded).to.include({ verdict: 'SUPERSEDED', supersededBy: sha('v2'), blockNumber: blockOf(superseded.txId) });
    expect(Number(superseded.blockNumber)).to.be.lessThan(Number(height()));
    expect(await verifyFromIndex(sha('v2'))).to.include({ verdict: 'ORIGINAL', version: 2, blockNumber: height().toString() });
  });

  it('answers RETRACTED from the index after a retraction', async () => {
    expect((await send(hospital, 'PUT', `/v1/records/${HOSPITAL}/r-1/retraction`, OFFICER_KEY, { reason: 'entered-in-error' })).status).to.equal(200);
    await insurer.anchorIndex!.whenIndexed(height());
    const body = await verifyFromIndex(sha('v2'));
    // The block is the anchoring transaction's, not the retraction's (the last one).
    expect(body).to.include({ verdict: 'RETRACTED', blockNumber: blockOf(body.txId) });
    expect(body.blockNumber).to.equal((height() - 1n).toString());
    expect(body.retraction).to.include({ reason: 'entered-in-error' });
  });

  it('falls back to the peer for a hash the index does not hold yet, and for UNKNOWN', async () => {
    insurerEvents.pause();
    expect((await anchor('r-2', 'r-2 v1')).status).to.equal(201);
    const before = insurerPeer.lookups;
    expect(await verify(insurer, sha('r-2 v1')))
      .to.deep.equal(await verify(reference, sha('r-2 v1')))
      .and.include({ verdict: 'ORIGINAL', blockNumber: height().toString() });
    expect(await verify(insurer, sha('nobody anchored this'))).to.deep.equal({ verdict: 'UNKNOWN', docHash: sha('nobody anchored this'), note: SALT_NOTE });
    expect(insurerPeer.lookups).to.equal(before + 2);
    // While behind, what the index holds as SUPERSEDED is still final and answered locally.
    await verifyFromIndex(sha('v1'));
    insurerEvents.resume();
    await insurer.anchorIndex!.whenIndexed(height());
    await verifyFromIndex(sha('r-2 v1'));
  });

  it("never answers ORIGINAL from the index for a version this gateway just amended, before the amendment's event is indexed", async () => {
    await hospital.anchorIndex!.whenIndexed(height());
    await hospital.anchorIndex!.whenIndexed();
    hospitalEvents.pause();
    expect((await send(hospital, 'POST', `/v1/records/${HOSPITAL}/r-2/versions`, OFFICER_KEY, { docHash: sha('r-2 v2') })).status).to.equal(201);
    const before = hospitalPeer.lookups;
    expect(await verify(hospital, sha('r-2 v1'))).to.include({ verdict: 'SUPERSEDED', supersededBy: sha('r-2 v2') });
    expect(hospitalPeer.lookups).to.equal(before + 1);
    hospitalEvents.resume();
    await hospital.anchorIndex!.whenIndexed();
    expect(await verify(hospital, sha('r-2 v1'))).to.include({ verdict: 'SUPERSEDED' });
    expect(hospitalPeer.lookups).to.equal(before + 1);
  });

  it('shows how far the index has read at /healthz and /metrics', async () => {
    await insurer.anchorIndex!.whenIndexed(height());
    const health = await send(insurer, 'GET', '/healthz', CLAIMS_KEY);
    expect(health.body.anchorIndex).to.include({ state: 'live', ready: true, lagBlocks: 0 });
    expect(health.body.anchorIndex.checkpoint.blockNumber).to.equal(height().toString());
    const metrics = await (await fetch(`${insurer.url}/metrics`)).text();
    expect(metrics).to.match(new RegExp(`^medprov_anchor_index_block ${height()}$`, 'm'));
    expect(metrics).to.match(/^medprov_anchor_index_lag_blocks 0$/m);
    expect(metrics).to.match(/^medprov_verifications_answered\{source="index"\} [1-9]\d*$/m);
  });

  it('resumes from its checkpoint after a restart, without reading the ledger from block 0', async () => {
    const checkpoint = insurer.anchorIndex!.status().checkpoint!;
    await insurer.stop();
    expect((await anchor('r-3', 'r-3 v1')).status).to.equal(201);
    await startInsurer(path.join(dir, 'i2'));
    await insurer.anchorIndex!.whenIndexed(height());
    await insurer.anchorIndex!.whenIndexed();
    // The four anchors of the snapshot, and the one event read after its checkpoint.
    expect(insurer.anchorIndex!.status().entries).to.equal(5);
    expect(insurerEvents.subscriptions[0]).to.deep.equal({ blockNumber: BigInt(checkpoint.blockNumber), transactionId: checkpoint.transactionId });
    expect(insurerEvents.delivered.map((e) => e.blockNumber)).to.deep.equal([height()]);
    expect(await verifyFromIndex(sha('r-3 v1'))).to.include({ verdict: 'ORIGINAL' });
    expect(await verifyFromIndex(sha('v2'))).to.include({ verdict: 'RETRACTED' });
  });
});
