/**
 * Records and public anchoring on the real network (issue 13): single and batched anchors,
 * salted commitments, every verdict with its block number from the event-fed anchor index and
 * from the peer, amend, retract, history; blocks holding several transactions and the anchor
 * log's positions against the blocks themselves; checkpoints on the local EVM chain and receipts
 * that verify offline and on chain, and fail for one changed byte.
 *
 * Real: Fabric 3.1.5 (3 Raft orderers, a peer per org, the chaincode as a service), the three
 * gateway processes, the local Hardhat chain with the AnchorRegistry (the Hospital's gateway
 * writes checkpoints every 1,000 anchors or 60 s). The network is the mocha run's shared one
 * (test-network.ts); everything here only adds to the ledger, and the one gateway it restarts
 * comes back as it was (with an index rebuilt from the ledger).
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import * as path from 'node:path';
import { JsonRpcProvider } from 'ethers';
import { leafHash, LedgerAnchorSource, verifyReceipt, verifyReceiptOnChain, type AnchorLeaf, type Receipt } from '../../../gateway/src/anchoring/node';
import { bytesToHex, MerkleTree } from '../../../gateway/src/merkle';
import { documentCommitment } from '../../../gateway/src/documents/commitment';
import { LedgerClient } from '../../../gateway/src/fabric/client';
import { RecordsService, SALT_NOTE } from '../../../gateway/src/records/service';
import { gatewayName, startGateway } from '../../../network/src/gateways';
import { stopDaemon } from '../../../network/src/processes';
import {
  anchorsInBlocks,
  BlockReader,
  call,
  committedLeaves,
  health,
  localChain,
  receiptOf,
  sha256,
  uploadForm,
  verifyUntil,
  write,
  type Gw,
  type PlacedAnchor,
} from './flows';
import { stopTestNetwork, testNetwork, type TestNetwork } from './test-network';

// The network is shared by every real-network spec file of the mocha run: stopped once, at the end.
after(async () => {
  await stopTestNetwork();
});

const DISCHARGE = 'loinc:18842-5';
const LAB = 'loinc:4548-4';

/** What an anchoring through the gateway answered, kept for the later checks. */
interface Anchored {
  doc: Buffer;
  recordId: string;
  /** The ledger's value: the document's SHA-256, or its commitment when salted. */
  ledgerHash: string;
  txId: string;
  blockNumber: string;
  salt?: string;
}

describe('real network: records and public anchoring (anchor, verify, amend, retract, batches, blocks, anchor log, receipts)', function () {
  this.timeout(1_200_000);
  const run = randomBytes(4).toString('hex');
  let net: TestNetwork;
  let hospital: Gw;
  let insurer: Gw;
  let sponsor: Gw;
  let reader: BlockReader;
  let provider: JsonRpcProvider;

  let plain: Anchored;
  let salted: Anchored;
  const amended = { recordId: `amd-${run}`, v1: '', v2: '', v1Block: '', v2Block: '' };
  const concurrent: Anchored[] = [];
  let batchSmall: { blockNumber: string; records: { recordId: string; docHash: string }[]; salts: Record<string, string> };
  let batchLarge: { blockNumber: string; txId: string; records: { recordId: string; docHash: string }[] };
  /** The Insurer gateway's answers, by docHash (and salt), for the comparisons with the peer and after the restart. */
  const insurerAnswers = new Map<string, any>();

  const doc = (label: string, bytes = 256): Buffer => Buffer.concat([Buffer.from(`${label} ${run}\n`), randomBytes(bytes)]);

  before(async () => {
    net = await testNetwork();
    hospital = net.gateway('Hospital', 'records-officer');
    insurer = net.gateway('Insurer', 'claims-officer');
    sponsor = net.gateway('Sponsor', 'research-officer');
    reader = await BlockReader.connect(net.network.gatewaySettings('Insurer').fabric);
    provider = new JsonRpcProvider(localChain(net.network).rpcUrl, undefined, { staticNetwork: true, pollingInterval: 250 });
  });

  after(() => {
    reader?.close();
    provider?.destroy();
  });

  it('anchors an uploaded document of more than 64 KiB as plain (the default) at the Hospital; ORIGINAL at the Insurer and the Sponsor with the block that holds the transaction', async () => {
    const bytes = doc('discharge summary', 100 * 1024);
    const recordId = `dis-${run}`;
    const res = await write(hospital, 'POST', '/v1/records', uploadForm(bytes, { recordId, patientId: `MRN-${run}-1`, category: DISCHARGE }, 'discharge.pdf'));
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    expect(res.body.commitment).to.equal('plain');
    expect(res.body).to.not.have.property('salt');
    expect(res.body.anchor).to.include({ docHash: sha256(bytes), recordId, issuer: 'HospitalMSP', version: 1, status: 'active' });
    expect(res.body.blockNumber).to.match(/^\d+$/);
    plain = { doc: bytes, recordId, ledgerHash: sha256(bytes), txId: res.body.anchor.txId, blockNumber: res.body.blockNumber };
    // The block the gateway named holds the transaction (the peer's own block store).
    expect((await reader.blockOfTx(plain.txId)).toString()).to.equal(plain.blockNumber);
    expect((await reader.block(BigInt(plain.blockNumber))).txs.map((t) => t.txId)).to.include(plain.txId);

    for (const gw of [insurer, sponsor]) {
      const verdict = await verifyUntil(gw, { docHash: plain.ledgerHash }, 'ORIGINAL');
      expect(verdict).to.include({ issuer: 'HospitalMSP', recordId, version: 1, txId: plain.txId, blockNumber: plain.blockNumber, commitment: 'plain' });
    }
    // The upload route of verification hashes the same way.
    const uploaded = await call(insurer, 'POST', '/v1/verifications', uploadForm(bytes));
    expect(uploaded.body).to.include({ verdict: 'ORIGINAL', docHash: plain.ledgerHash, blockNumber: plain.blockNumber });
    // The same document again: the existing anchor (idempotent), nothing new on the ledger.
    const again = await write(hospital, 'POST', '/v1/records', uploadForm(bytes, { recordId, patientId: `MRN-${run}-1`, category: DISCHARGE }, 'discharge.pdf'));
    expect(again.status, JSON.stringify(again.body)).to.equal(200);
    expect(again.body.anchor.txId).to.equal(plain.txId);
  });

  it('anchors a small upload as a salted commitment by default: the salt verifies it anywhere; without it UNKNOWN with a note at other orgs, ORIGINAL at the issuing Hospital', async () => {
    const lab = Buffer.from(JSON.stringify({ resourceType: 'Observation', code: 'HbA1c', unit: '%', value: '5.4', run }));
    const recordId = `lab-${run}`;
    const res = await write(hospital, 'POST', '/v1/records', uploadForm(lab, { recordId, patientId: `MRN-${run}-2`, category: LAB }, 'lab.json'));
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    expect(res.body.commitment).to.equal('salted');
    expect(res.body.salt).to.match(/^[0-9a-f]{64}$/);
    const commitment = documentCommitment(res.body.salt, sha256(lab));
    expect(res.body.anchor.docHash).to.equal(commitment).and.not.equal(sha256(lab));
    salted = { doc: lab, recordId, ledgerHash: commitment, txId: res.body.anchor.txId, blockNumber: res.body.blockNumber, salt: res.body.salt };

    // With the salt: ORIGINAL at the Insurer (from its index, once it has the event) and the Sponsor (upload + salt field).
    const withSalt = await verifyUntil(insurer, { docHash: sha256(lab), salt: salted.salt }, 'ORIGINAL');
    expect(withSalt).to.include({ docHash: sha256(lab), commitment: 'salted', anchoredHash: commitment, recordId, txId: salted.txId, blockNumber: salted.blockNumber });
    await verifyUntil(sponsor, { docHash: sha256(lab), salt: salted.salt }, 'ORIGINAL');
    const form = uploadForm(lab, { salt: salted.salt! });
    const sponsorUpload = await call(sponsor, 'POST', '/v1/verifications', form);
    expect(sponsorUpload.body).to.include({ verdict: 'ORIGINAL', commitment: 'salted', blockNumber: salted.blockNumber });

    // Without it, the Insurer holds the record (see above) and still says UNKNOWN, with the note.
    const noSalt = await call(insurer, 'POST', '/v1/verifications', { docHash: sha256(lab) });
    expect(noSalt.body).to.deep.equal({ verdict: 'UNKNOWN', docHash: sha256(lab), note: SALT_NOTE });
    // A wrong salt: UNKNOWN, and no note (a salt was given).
    const wrong = await call(insurer, 'POST', '/v1/verifications', { docHash: sha256(lab), salt: sha256('not the salt') });
    expect(wrong.body).to.deep.equal({ verdict: 'UNKNOWN', docHash: sha256(lab) });
    // The issuing Hospital finds its own salted record without the salt.
    const atHospital = await call(hospital, 'POST', '/v1/verifications', { docHash: sha256(lab) });
    expect(atHospital.body).to.include({ verdict: 'ORIGINAL', commitment: 'salted', anchoredHash: commitment, blockNumber: salted.blockNumber });
  });

  it('amends and retracts at the Hospital: SUPERSEDED and RETRACTED at the Insurer with the blocks of the anchoring transactions; the history (as the Hospital) holds both versions', async () => {
    const v1 = doc('admission note v1');
    const v2 = doc('admission note v2');
    amended.v1 = sha256(v1);
    amended.v2 = sha256(v2);
    const first = await write(hospital, 'POST', '/v1/records', { recordId: amended.recordId, docHash: amended.v1, patientId: `MRN-${run}-3`, category: DISCHARGE });
    expect(first.status, JSON.stringify(first.body)).to.equal(201);
    amended.v1Block = first.body.blockNumber;
    await verifyUntil(insurer, { docHash: amended.v1 }, 'ORIGINAL');

    const second = await write(hospital, 'POST', `/v1/records/HospitalMSP/${amended.recordId}/versions`, { docHash: amended.v2, category: DISCHARGE });
    expect(second.status, JSON.stringify(second.body)).to.equal(201);
    expect(second.body.anchor).to.include({ docHash: amended.v2, version: 2, supersedes: amended.v1, status: 'active' });
    amended.v2Block = (await reader.blockOfTx(second.body.anchor.txId)).toString();

    const superseded = await verifyUntil(insurer, { docHash: amended.v1 }, 'SUPERSEDED');
    // The block that anchored v1, not the amendment's.
    expect(superseded).to.include({ recordId: amended.recordId, version: 1, blockNumber: amended.v1Block, supersededBy: amended.v2 });
    expect(await verifyUntil(insurer, { docHash: amended.v2 }, 'ORIGINAL')).to.include({ version: 2, blockNumber: amended.v2Block, txId: second.body.anchor.txId });

    const retracted = await write(hospital, 'PUT', `/v1/records/HospitalMSP/${amended.recordId}/retraction`, { reason: 'wrong-patient' });
    expect(retracted.status, JSON.stringify(retracted.body)).to.equal(200);
    expect(retracted.body.anchor).to.include({ status: 'retracted', version: 2 });
    const gone = await verifyUntil(insurer, { docHash: amended.v2 }, 'RETRACTED');
    expect(gone).to.include({ version: 2, blockNumber: amended.v2Block });
    expect(gone.retraction).to.include({ reason: 'wrong-patient' });
    // A retracted record is never amended again.
    const refused = await write(hospital, 'POST', `/v1/records/HospitalMSP/${amended.recordId}/versions`, { docHash: sha256(doc('v3')), category: DISCHARGE });
    expect(refused.status).to.equal(409);
    expect(refused.body.error.code).to.equal('RECORD_RETRACTED');

    const history = await call(hospital, 'GET', `/v1/records/HospitalMSP/${amended.recordId}/history`);
    expect(history.status, JSON.stringify(history.body)).to.equal(200);
    expect(history.body.versions.map((v: { version: number; status: string; docHash: string }) => [v.version, v.status, v.docHash])).to.deep.equal([
      [1, 'superseded', amended.v1],
      [2, 'retracted', amended.v2],
    ]);
    const latest = await call(hospital, 'GET', `/v1/records/HospitalMSP/${amended.recordId}`);
    expect(latest.body).to.include({ version: 2, status: 'retracted' });
  });

  it('anchors many documents concurrently: blocks hold several anchoring transactions, and every verdict names the block that holds its transaction', async () => {
    const perBlock = new Map<string, number>();
    // Until some block holds several of them (the gateway coalesces concurrent anchors into shared
    // transactions and the orderers cut a block every 100 ms): a bounded number of rounds, no timing asserted.
    for (let round = 0; round < 4 && ![...perBlock.values()].some((n) => n >= 3); round++) {
      const docs = Array.from({ length: 40 }, (_, i) => ({ bytes: doc(`concurrent ${round}-${i}`), recordId: `cc-${run}-${round}-${i}` }));
      const answers = await Promise.all(
        docs.map((d) => write(hospital, 'POST', '/v1/records', { recordId: d.recordId, docHash: sha256(d.bytes), patientId: `MRN-${run}-cc`, category: DISCHARGE, commitment: 'plain' })),
      );
      answers.forEach((a, i) => {
        expect(a.status, JSON.stringify(a.body)).to.equal(201);
        concurrent.push({ doc: docs[i]!.bytes, recordId: docs[i]!.recordId, ledgerHash: sha256(docs[i]!.bytes), txId: a.body.anchor.txId, blockNumber: a.body.blockNumber });
        perBlock.set(a.body.blockNumber, (perBlock.get(a.body.blockNumber) ?? 0) + 1);
      });
    }
    expect(Math.max(...perBlock.values()), `anchors per block: ${JSON.stringify([...perBlock])}`).to.be.at.least(3);

    // The blocks themselves: each transaction is in the block its answer named, and valid.
    const blocks = new Map<string, Set<string>>();
    for (const number of perBlock.keys()) blocks.set(number, new Set((await reader.block(BigInt(number))).txs.map((t) => t.txId)));
    for (const a of concurrent) expect(blocks.get(a.blockNumber)!.has(a.txId), `${a.txId} in block ${a.blockNumber}`).to.equal(true);
    // The Insurer's index (fed by the events) gives the same blocks.
    for (const a of concurrent) {
      const verdict = await verifyUntil(insurer, { docHash: a.ledgerHash }, 'ORIGINAL');
      expect(verdict).to.include({ txId: a.txId, blockNumber: a.blockNumber });
    }
  });

  it("the anchor source's positions are the blocks' own: block, ordinal among the chaincode's events in the block, index within the transaction", async () => {
    // The Insurer's peer, as the block reader reads it.
    const client = await LedgerClient.connect(net.network.gatewaySettings('Insurer').fabric);
    try {
      const blocks = concurrent.map((a) => BigInt(a.blockNumber));
      const first = blocks.reduce((m, b) => (b < m ? b : m));
      const height = await reader.height();
      const expected = (await anchorsInBlocks(reader, first, height)).anchors;
      // Resume as a checkpointer would after the last anchor of the block before.
      const after = { blockNumber: first - 1n, txIndex: Number.MAX_SAFE_INTEGER, anchorIndex: Number.MAX_SAFE_INTEGER };
      const source = new LedgerAnchorSource(client, client, { untilHeight: true });
      const got: { position: { blockNumber: bigint; txIndex: number; anchorIndex: number }; txId: string; docHash: string; version: number }[] = [];
      for await (const item of source.anchorsAfter(after)) {
        if (item.position.blockNumber >= height) break;
        got.push({ position: item.position, txId: item.anchor.txId, docHash: item.anchor.docHash, version: item.anchor.version });
      }
      const want = expected.map((e: PlacedAnchor) => ({ position: { blockNumber: e.blockNumber, txIndex: e.eventOrdinal, anchorIndex: e.anchorIndex }, txId: e.txId, docHash: e.docHash, version: e.version }));
      expect(got).to.deep.equal(want);
      // Several anchoring transactions share a block, in the block's order.
      const multi = expected.filter((e) => expected.some((o) => o.blockNumber === e.blockNumber && o.txId !== e.txId));
      expect(multi.length).to.be.greaterThan(2);
      for (const a of concurrent) expect(expected.some((e) => e.txId === a.txId && e.docHash === a.ledgerHash)).to.equal(true);
    } finally {
      client.close();
    }
  });

  it('anchors batches (POST /v1/records/batch): 10 records (two of them salted, with their salts) and 1,000 records in one transaction each; a re-sent batch finds them all existing', async () => {
    const small = Array.from({ length: 10 }, (_, i) => ({ recordId: `bs-${run}-${i}`, bytes: doc(`small batch ${i}`) }));
    const smallBody = {
      records: small.map((r, i) => ({ recordId: r.recordId, docHash: sha256(r.bytes), patientId: `MRN-${run}-b`, category: DISCHARGE, ...(i < 2 ? { commitment: 'salted' } : {}) })),
    };
    const res = await write(hospital, 'POST', '/v1/records/batch', smallBody);
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    expect(res.body).to.include({ anchored: 10, existing: 0 });
    expect(Object.keys(res.body.salts)).to.deep.equal([small[0]!.recordId, small[1]!.recordId]);
    batchSmall = { blockNumber: res.body.blockNumber, records: small.map((r) => ({ recordId: r.recordId, docHash: sha256(r.bytes) })), salts: res.body.salts };
    for (const [i, r] of small.entries()) {
      const salt = res.body.salts[r.recordId];
      const verdict = await verifyUntil(insurer, { docHash: sha256(r.bytes), ...(salt ? { salt } : {}) }, 'ORIGINAL');
      expect(verdict).to.include({ recordId: r.recordId, blockNumber: batchSmall.blockNumber, commitment: i < 2 ? 'salted' : 'plain' });
    }
    const resent = await write(hospital, 'POST', '/v1/records/batch', smallBody);
    expect(resent.status, JSON.stringify(resent.body)).to.equal(200);
    expect(resent.body).to.include({ anchored: 0, existing: 10 });

    const large = Array.from({ length: 1000 }, (_, i) => ({ recordId: `bl-${run}-${String(i).padStart(4, '0')}`, docHash: sha256(`large batch ${run} ${i}`) }));
    const big = await write(hospital, 'POST', '/v1/records/batch', { records: large.map((r, i) => ({ ...r, patientId: `MRN-${run}-${i % 7}`, category: DISCHARGE })) });
    expect(big.status, JSON.stringify(big.body).slice(0, 500)).to.equal(201);
    expect(big.body).to.include({ anchored: 1000, existing: 0 });
    expect(big.body.anchors).to.have.length(1000);
    const txIds = new Set(big.body.anchors.map((a: { txId: string }) => a.txId));
    expect(txIds.size, 'one transaction').to.equal(1);
    batchLarge = { blockNumber: big.body.blockNumber, txId: [...txIds][0] as string, records: large };
    // The block holds that one transaction with its 1,000 anchors, in the request's order.
    const { anchors } = await anchorsInBlocks(reader, BigInt(batchLarge.blockNumber), BigInt(batchLarge.blockNumber) + 1n);
    const ofBatch = anchors.filter((a) => a.txId === batchLarge.txId);
    expect(ofBatch.map((a) => a.docHash)).to.deep.equal(large.map((r) => r.docHash));
    for (const i of [0, 1, 499, 998, 999, ...Array.from({ length: 10 }, (_, k) => 37 + k * 97)]) {
      const verdict = await verifyUntil(insurer, { docHash: large[i]!.docHash }, 'ORIGINAL');
      expect(verdict).to.include({ recordId: large[i]!.recordId, txId: batchLarge.txId, blockNumber: batchLarge.blockNumber });
    }
  });

  it("the peer's answer (lookupByHash, the block by qscc GetBlockByTxID) equals the event-fed index's, verdict by verdict, block number included", async () => {
    const cases: { what: string; body: { docHash: string; salt?: string }; verdict: string }[] = [
      { what: 'plain', body: { docHash: plain.ledgerHash }, verdict: 'ORIGINAL' },
      { what: 'salted, with its salt', body: { docHash: sha256(salted.doc), salt: salted.salt! }, verdict: 'ORIGINAL' },
      { what: 'salted, without its salt', body: { docHash: sha256(salted.doc) }, verdict: 'UNKNOWN' },
      { what: 'amended v1', body: { docHash: amended.v1 }, verdict: 'SUPERSEDED' },
      { what: 'retracted v2', body: { docHash: amended.v2 }, verdict: 'RETRACTED' },
      { what: 'concurrent', body: { docHash: concurrent[concurrent.length - 1]!.ledgerHash }, verdict: 'ORIGINAL' },
      { what: 'batch of 1,000', body: { docHash: batchLarge.records[777]!.docHash }, verdict: 'ORIGINAL' },
      { what: 'never anchored', body: { docHash: sha256(`never anchored ${run}`) }, verdict: 'UNKNOWN' },
    ];
    // The records service with no index asks the peer for everything (the gateway's fallback path), as the Insurer.
    const client = await LedgerClient.connect(net.network.gatewaySettings('Insurer').fabric);
    try {
      const peerOnly = new RecordsService(client, { ensurePatientRef: () => Promise.reject(new Error('not used')) });
      for (const c of cases) {
        const before = (await health(insurer)).anchorIndex.answered;
        const viaGateway = await call(insurer, 'POST', '/v1/verifications', c.body);
        const after = (await health(insurer)).anchorIndex.answered;
        expect(viaGateway.body.verdict, c.what).to.equal(c.verdict);
        // Found hashes came from the index (caught up, so even ORIGINAL); unknown ones went to the peer.
        if (c.verdict !== 'UNKNOWN') expect(after.index - before.index, `${c.what}: answered by the index`).to.equal(1);
        else expect(after.peer - before.peer, `${c.what}: answered by the peer`).to.equal(1);
        const viaPeer = await peerOnly.verifyDocument(c.body.docHash, c.body.salt !== undefined ? { salt: c.body.salt } : {});
        expect(viaPeer, c.what).to.deep.equal(viaGateway.body);
        if (c.verdict !== 'UNKNOWN') expect(viaPeer.blockNumber, c.what).to.match(/^\d+$/);
        insurerAnswers.set(JSON.stringify(c.body), viaGateway.body);
      }
    } finally {
      client.close();
    }
  });

  /** Leaf i of a gateway's log against the ledger's i-th anchor: same document, record, version, transaction and block. */
  const leafMatches = (leaf: AnchorLeaf, e: PlacedAnchor, what: string): void => {
    expect({ docHash: leaf.docHash, issuer: leaf.issuer, recordId: leaf.recordId, version: leaf.version, txId: leaf.txId, blockNumber: leaf.blockNumber }, what).to.deep.equal({
      docHash: e.docHash,
      issuer: e.issuer,
      recordId: e.recordId,
      version: e.version,
      txId: e.txId,
      blockNumber: Number(e.blockNumber),
    });
  };

  /** A gateway's committed log (its files) is a prefix of the ledger's anchors, and its commit record names the last one's position. */
  const logOnDiskMatches = (org: string, expected: PlacedAnchor[]): number => {
    const { leaves, position } = committedLeaves(net.network.gatewayDir(net.network.organisation(org)));
    expect(leaves.length, `${org}: no more leaves than the ledger has anchors`).to.be.at.most(expected.length);
    leaves.forEach((leaf, i) => leafMatches(leaf, expected[i]!, `${org} leaf ${i}`));
    if (leaves.length > 0) {
      const e = expected[leaves.length - 1]!;
      expect(position, `${org}: the commit record's position`).to.deep.equal({ blockNumber: e.blockNumber.toString(), txIndex: e.eventOrdinal, anchorIndex: e.anchorIndex });
    }
    return leaves.length;
  };

  it("each gateway's anchor log is the ledger's anchors in commit order (the blocks read back, several transactions a block), checkpointed on the EVM chain by the Hospital", async () => {
    // A receipt of the last concurrent anchor: a checkpoint covers it (every 1,000 anchors or 60 s).
    const last = concurrent[concurrent.length - 1]!;
    const receipt = await receiptOf(hospital, last.ledgerHash);
    expect(receipt.leaf).to.include({ txId: last.txId, blockNumber: Number(last.blockNumber) });
    expect(receipt.leaf.blockNumber).to.be.below(receipt.checkpoint.fabricBlockHeight);
    expect(receipt.checkpoint).to.include({ chainId: localChain(net.network).chainId, contract: localChain(net.network).registry.address.toLowerCase() });
    expect((await health(hospital)).anchoring.writesCheckpoints).to.equal(true);
    for (const gw of [insurer, sponsor]) expect((await health(gw)).anchoring.writesCheckpoints).to.equal(false);

    const { anchors: expected } = await anchorsInBlocks(reader, 0n, await reader.height());
    // The checkpoint writer's log on disk (flushed by the checkpoint): exactly the ledger's anchors, in order.
    expect(logOnDiskMatches('Hospital', expected), 'the Hospital log holds what the checkpoint covers').to.be.at.least(receipt.treeSize);
    // The root on chain is the RFC 6962 root of those leaves, recomputed here from the log's own lines.
    const { leaves } = committedLeaves(net.network.gatewayDir(net.network.organisation('Hospital')));
    const tree = MerkleTree.fromLeafHashes(leaves.slice(0, receipt.treeSize).map((leaf) => leafHash(leaf)));
    expect(bytesToHex(tree.rootAt(receipt.treeSize))).to.equal(receipt.checkpoint.root);
    expect((await verifyReceiptOnChain(receipt, provider)).valid).to.equal(true);
    // The followers flush every 1,000 anchors: their receipts show where each anchor sits in their logs.
    const tracked = [plain.ledgerHash, salted.ledgerHash, amended.v1, amended.v2, ...concurrent.map((a) => a.ledgerHash), ...batchSmall.records.slice(2).map((r) => r.docHash)];
    for (const docHash of tracked) {
      const i = expected.findIndex((e) => e.docHash === docHash);
      expect(i, docHash).to.be.at.least(0).and.below(receipt.treeSize);
      for (const gw of [hospital, insurer, sponsor]) {
        const r = await receiptOf(gw, docHash);
        expect(r.leafIndex, `${gw.url}: leaf index of ${docHash}`).to.equal(i);
        leafMatches(r.leaf, expected[i]!, `${gw.url}: leaf ${i}`);
      }
    }
  });

  it('issues receipts that verify offline against the document and on the EVM chain, the same at every gateway; a salted one carries its salt at the Hospital only', async () => {
    const chain = localChain(net.network);
    const check = async (receipt: Receipt, document: Buffer): Promise<void> => {
      expect(verifyReceipt(receipt, document)).to.deep.equal({ valid: true, reasons: [] });
      const onChain = await verifyReceiptOnChain(receipt, provider);
      expect(onChain.reasons).to.deep.equal([]);
      expect(onChain.valid).to.equal(true);
    };
    const atHospital = await receiptOf(hospital, plain.ledgerHash);
    expect(atHospital.leaf).to.deep.equal({
      anchoredAt: atHospital.leaf.anchoredAt,
      blockNumber: Number(plain.blockNumber),
      docHash: plain.ledgerHash,
      issuer: 'HospitalMSP',
      recordId: plain.recordId,
      txId: plain.txId,
      version: 1,
    });
    expect(atHospital.checkpoint.chainId).to.equal(chain.chainId);
    // The leaf's time is the anchoring transaction's, as every verdict reports it.
    expect(atHospital.leaf.anchoredAt).to.equal((await call(insurer, 'POST', '/v1/verifications', { docHash: plain.ledgerHash })).body.anchoredAt);
    await check(atHospital, plain.doc);
    for (const gw of [insurer, sponsor]) {
      const other = await receiptOf(gw, plain.ledgerHash);
      expect(other.leaf).to.deep.equal(atHospital.leaf);
      expect(other.leafIndex).to.equal(atHospital.leafIndex);
      await check(other, plain.doc);
    }

    // Salted: the Hospital's receipt (asked by the document's hash) carries the salt; elsewhere only the commitment is known.
    const saltedReceipt = await receiptOf(hospital, sha256(salted.doc));
    expect(saltedReceipt.salt).to.equal(salted.salt);
    expect(saltedReceipt.leaf).to.include({ docHash: salted.ledgerHash, txId: salted.txId, blockNumber: Number(salted.blockNumber) });
    await check(saltedReceipt, salted.doc);
    const byDocHash = await call(insurer, 'GET', `/v1/receipts/${sha256(salted.doc)}`);
    expect(byDocHash.status).to.equal(404);
    expect(byDocHash.body.error.code).to.equal('NOT_IN_ANCHOR_LOG');
    const byCommitment = await receiptOf(insurer, salted.ledgerHash);
    expect(byCommitment.leaf).to.deep.equal(saltedReceipt.leaf);
    expect(byCommitment).to.not.have.property('salt');
    expect(verifyReceipt(byCommitment, salted.doc).valid, 'without the salt the document cannot be tied to the commitment').to.equal(false);
    expect(verifyReceipt({ ...byCommitment, salt: salted.salt }, salted.doc).valid).to.equal(true);

    // A record of the batch of 1,000 and an amendment (its leaf is version 2).
    const batched = await receiptOf(insurer, batchLarge.records[0]!.docHash);
    expect(batched.leaf).to.include({ txId: batchLarge.txId, blockNumber: Number(batchLarge.blockNumber) });
    expect(verifyReceipt(batched).valid).to.equal(true);
    expect((await verifyReceiptOnChain(batched, provider)).valid).to.equal(true);
    const amendment = await receiptOf(hospital, amended.v2);
    expect(amendment.leaf).to.include({ version: 2, blockNumber: Number(amended.v2Block) });

    const missing = await call(hospital, 'GET', `/v1/receipts/${sha256(`never anchored ${run}`)}`);
    expect(missing.status).to.equal(404);
    expect(missing.body.error.code).to.equal('NOT_IN_ANCHOR_LOG');
  });

  it('one changed byte of the document or of the receipt makes the receipt fail, offline and on chain', async () => {
    const receipt = await receiptOf(hospital, plain.ledgerHash);
    const changedDoc = Buffer.from(plain.doc);
    changedDoc[changedDoc.length >> 1]! ^= 0x01;
    expect(verifyReceipt(receipt, changedDoc).valid).to.equal(false);
    const salted2 = await receiptOf(hospital, sha256(salted.doc));
    const changedLab = Buffer.from(salted.doc);
    changedLab[3]! ^= 0x20;
    expect(verifyReceipt(salted2, changedLab).valid).to.equal(false);

    const flip = (hex: string, at = 0): string => hex.slice(0, at) + (hex[at] === '0' ? '1' : '0') + hex.slice(at + 1);
    const variants: [string, unknown][] = [
      ['leaf.txId', { ...receipt, leaf: { ...receipt.leaf, txId: flip(receipt.leaf.txId, 10) } }],
      ['leaf.blockNumber', { ...receipt, leaf: { ...receipt.leaf, blockNumber: receipt.leaf.blockNumber + 1 } }],
      ['leaf.docHash', { ...receipt, leaf: { ...receipt.leaf, docHash: flip(receipt.leaf.docHash, 63) } }],
      ['leafIndex', { ...receipt, leafIndex: receipt.leafIndex === 0 ? 1 : receipt.leafIndex - 1 }],
      ['inclusionProof[0]', { ...receipt, inclusionProof: [flip(receipt.inclusionProof[0]!, 5), ...receipt.inclusionProof.slice(1)] }],
      ['checkpoint.root', { ...receipt, checkpoint: { ...receipt.checkpoint, root: flip(receipt.checkpoint.root, 7) } }],
      ['salt', { ...salted2, salt: flip(salted2.salt!, 1) }],
    ];
    expect(receipt.inclusionProof.length).to.be.greaterThan(0);
    for (const [what, changed] of variants) {
      const doc = what === 'salt' ? salted.doc : what === 'leaf.docHash' ? undefined : plain.doc;
      let offline: boolean;
      try {
        offline = verifyReceipt(changed, doc).valid;
      } catch {
        offline = false;
      }
      expect(offline, `${what}: offline`).to.equal(false);
    }
    // On chain, a changed root or proof no longer matches the registry's checkpoint.
    for (const [what, changed] of variants.filter(([w]) => ['checkpoint.root', 'inclusionProof[0]', 'leaf.txId'].includes(w))) {
      expect((await verifyReceiptOnChain(changed, provider)).valid, `${what}: on chain`).to.equal(false);
    }
    const otherTree = { ...receipt, checkpoint: { ...receipt.checkpoint, treeSize: receipt.checkpoint.treeSize + 12_345 }, treeSize: receipt.treeSize + 12_345 };
    expect((await verifyReceiptOnChain(otherTree, provider)).valid).to.equal(false);
  });

  it('a gateway restarted with an empty anchor index rebuilds it from the ledger and answers every verdict as before, from the peer or the rebuilt index; its anchor log, flushed at the stop, is the ledger\'s anchors', async () => {
    const org = net.network.organisation('Insurer');
    expect(await stopDaemon(net.network.pidFile(gatewayName(org)), 30_000)).to.be.a('number');
    rmSync(path.join(net.network.gatewayDir(org), 'anchor-index'), { recursive: true, force: true });
    await startGateway(net.network, org);
    // Stopping flushed the Insurer's log: all of it is on disk now, and it is the ledger's anchors in order.
    const { anchors: expected } = await anchorsInBlocks(reader, 0n, await reader.height());
    expect(logOnDiskMatches('Insurer', expected)).to.be.at.least(1000 + concurrent.length);
    const answered = { index: 0, peer: 0 };
    // Ask again and again until each answer has come from the rebuilt index once; every answer is the same as before the restart.
    const pending = new Map(insurerAnswers);
    for (let round = 0; pending.size > 0 && round < 600; round++) {
      for (const [key, before] of [...pending]) {
        const h0 = (await health(insurer)).anchorIndex.answered;
        const now = await call(insurer, 'POST', '/v1/verifications', JSON.parse(key));
        const h1 = (await health(insurer)).anchorIndex.answered;
        expect(now.body, key).to.deep.equal(before);
        if (h1.index > h0.index) {
          answered.index += 1;
          pending.delete(key);
        } else {
          answered.peer += 1;
          if (before.verdict === 'UNKNOWN') pending.delete(key);
        }
      }
      if (pending.size > 0) await new Promise((r) => setTimeout(r, 250));
    }
    expect([...pending.keys()], 'answered by the rebuilt index').to.deep.equal([]);
    const index = (await health(insurer)).anchorIndex;
    expect(index).to.include({ state: 'live', ready: true });
    expect(index.entries).to.be.at.least(1000 + concurrent.length);
    expect(answered.index).to.be.greaterThan(0);
  });
});
