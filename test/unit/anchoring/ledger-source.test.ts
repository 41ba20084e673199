import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { IdentityContract, RecordsContract } from '../../../chaincode/src';
import { AnchorLog, Checkpointer, LedgerAnchorSource } from '../../../gateway/src/anchoring/node';
import type { OnChainCheckpoint } from '../../../gateway/src/anchoring/registry-abi';
import type { RegistryWriter } from '../../../gateway/src/anchoring/registry';
import { comparePositions, type LedgerPosition, type SourcedAnchor } from '../../../gateway/src/anchoring/source';
import type { Ledger, LedgerEvent, LedgerEvents } from '../../../gateway/src/fabric/client';
import { delegatingLedger } from '../../../gateway/src/fabric/delegating-ledger';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL, HOSPITAL2 } from '../chaincode/fixtures';
import { ChaincodeLedger } from '../support/chaincode-ledger';
import { codeOf, tempDir } from './fixtures';

/**
 * The checkpointer's ledger source, on the real chaincode's events (in-memory stub): every
 * anchor and amendment once, in commit order, retractions and other events left out, and a
 * resume from any position yields exactly what follows it.
 */
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const record = (recordId: string, doc = recordId) => ({ recordId, docHash: sha(doc), patientRef: sha(`ref ${recordId}`), category: 'loinc:11506-3' });

/** Reads what the source yields until `count` items arrived (the source is live, so it never ends on its own). */
async function take(source: LedgerAnchorSource, after: LedgerPosition | undefined, count: number): Promise<SourcedAnchor[]> {
  const abort = new AbortController();
  const out: SourcedAnchor[] = [];
  if (count === 0) return out;
  for await (const item of source.anchorsAfter(after, { signal: abort.signal })) {
    out.push(item);
    if (out.length === count) abort.abort();
  }
  return out;
}

describe('anchoring: the ledger source (chaincode events on the in-memory stub)', () => {
  let ledger: FakeLedger;
  let source: LedgerAnchorSource;
  const records = new RecordsContract();

  beforeEach(async () => {
    ledger = new FakeLedger();
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    const view = new ChaincodeLedger(ledger, HOSPITAL);
    source = new LedgerAnchorSource(view, view);
    await ledger.invoke(HOSPITAL, records, 'anchorRecord', JSON.stringify(record('r-1')));
    await ledger.invoke(HOSPITAL, records, 'anchorRecords', JSON.stringify([record('r-2'), record('r-3'), record('r-4')]));
    await ledger.invoke(HOSPITAL2, records, 'anchorRecord', JSON.stringify(record('h2-1')));
    await ledger.invoke(HOSPITAL, records, 'amendRecord', JSON.stringify({ issuer: HOSPITAL, recordId: 'r-1', docHash: sha('r-1 v2'), category: 'loinc:11506-3' }));
    await ledger.invoke(HOSPITAL, records, 'retractRecord', HOSPITAL, 'r-3', 'duplicate');
    // Anchoring the same document again is idempotent: no change, no event, no second leaf.
    await ledger.invoke(HOSPITAL, records, 'anchorRecord', JSON.stringify(record('r-2')));
  });

  it('yields every anchor and amendment once, in commit order, from the events alone', async () => {
    const calls = ledger.committed.length;
    const items = await take(source, undefined, 6);
    expect(ledger.committed.length, 'no read-back call').to.equal(calls);
    expect(items.map((i) => `${i.anchor.recordId}@${i.anchor.version}`)).to.deep.equal(['r-1@1', 'r-2@1', 'r-3@1', 'r-4@1', 'h2-1@1', 'r-1@2']);
    for (let i = 1; i < items.length; i++) expect(comparePositions(items[i - 1].position, items[i].position)).to.be.lessThan(0);
    // The batch is one transaction: one block, three anchors numbered within it.
    expect(items.slice(1, 4).map((i) => i.position.anchorIndex)).to.deep.equal([0, 1, 2]);
    expect(new Set(items.slice(1, 4).map((i) => i.blockNumber)).size).to.equal(1);
    for (const item of items) {
      expect(item.position.blockNumber).to.equal(item.blockNumber);
      const tx = ledger.committed[Number(item.blockNumber) - 1];
      expect(item.anchor.txId).to.equal(tx.txId);
    }
    // As announced by the anchoring transaction: what a leaf holds, nothing read back.
    expect(Object.keys(items[0].anchor).sort()).to.deep.equal(['anchoredAt', 'docHash', 'issuer', 'recordId', 'txId', 'version']);
  });

  it('resumes after any position with exactly the anchors that follow it', async () => {
    const all = await take(source, undefined, 6);
    for (let k = 0; k < all.length; k++) {
      const rest = await take(source, all[k].position, all.length - 1 - k);
      expect(rest.map((i) => i.anchor.docHash)).to.deep.equal(all.slice(k + 1).map((i) => i.anchor.docHash));
    }
  });

  it('waits for new blocks and yields what commits after it caught up', async () => {
    const pending = take(source, undefined, 7);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await ledger.invoke(HOSPITAL, records, 'anchorRecord', JSON.stringify(record('late')));
    const items = await pending;
    expect(items[6].anchor.recordId).to.equal('late');
  });

  it('feeds the anchor log: leaves are valid and a second pass appends nothing', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const log = await AnchorLog.open(dir);
      for (const item of await take(source, undefined, 6)) expect((await log.append(item)).appended).to.equal(true);
      for (const item of await take(source, undefined, 6)) expect((await log.append(item)).appended).to.equal(false);
      expect(log.size).to.equal(6);
      await log.close();
    } finally {
      cleanup();
    }
  });

  it('refuses, with SOURCE_INCONSISTENT, an event whose anchor the ledger does not have', async () => {
    const forged: LedgerEvents = {
      async *events(): AsyncGenerator<LedgerEvent> {
        const changes = [{ kind: 'anchored', docHash: sha('never anchored'), issuer: HOSPITAL, recordId: 'ghost', version: 1, status: 'active' }];
        yield { blockNumber: 9n, transactionId: 'f'.repeat(64), eventName: 'medprov.RecordsChanged', payload: new TextEncoder().encode(JSON.stringify({ changes })) };
      },
    };
    const view: Ledger = new ChaincodeLedger(ledger, HOSPITAL);
    expect(await codeOf(() => take(new LedgerAnchorSource(forged, view), undefined, 1))).to.equal('SOURCE_INCONSISTENT');
  });

  describe('untilHeight: ends at the height read when a call starts', () => {
    const all = async (source: LedgerAnchorSource, after?: LedgerPosition): Promise<SourcedAnchor[]> => {
      const out: SourcedAnchor[] = [];
      for await (const item of source.anchorsAfter(after)) out.push(item);
      return out;
    };
    /** The hospital's view of a busy channel: right after each read of the height, another record (later-0, later-1, …) is anchored. */
    const busyLedger = (): Ledger => {
      const view = new ChaincodeLedger(ledger, HOSPITAL);
      let later = 0;
      return delegatingLedger(view, {
        height: async () => {
          const height = await view.height();
          await ledger.invoke(HOSPITAL, records, 'anchorRecord', JSON.stringify(record(`later-${later++}`)));
          return height;
        },
      });
    };

    it('ends at the first event at or beyond the height, without yielding it (no quiet period needed)', async () => {
      const busy = busyLedger();
      const items = await all(new LedgerAnchorSource(new ChaincodeLedger(ledger, HOSPITAL), busy, { untilHeight: true, quietMs: 60_000 }));
      expect(items.map((i) => `${i.anchor.recordId}@${i.anchor.version}`)).to.deep.equal(['r-1@1', 'r-2@1', 'r-3@1', 'r-4@1', 'h2-1@1', 'r-1@2']);
      // The next call reads it.
      const next = await all(new LedgerAnchorSource(new ChaincodeLedger(ledger, HOSPITAL), busy, { untilHeight: true, quietMs: 60_000 }), items[5].position);
      expect(next.map((i) => i.anchor.recordId)).to.deep.equal(['later-0']);
    });

    it('ends after a quiet period when the blocks below the height hold no further event; refuses a ledger without height', async () => {
      const view = new ChaincodeLedger(ledger, HOSPITAL);
      expect(await all(new LedgerAnchorSource(view, view, { untilHeight: true, quietMs: 20 }))).to.have.length(6);
      const heightless = delegatingLedger(view, { height: undefined });
      expect(await codeOf(() => all(new LedgerAnchorSource(view, heightless, { untilHeight: true })))).to.equal('INVALID_ARGUMENT');
    });

    it("lets the checkpointer's runOnce catch up and checkpoint once (real anchor log, in-memory registry)", async () => {
      const { dir, cleanup } = tempDir();
      try {
        const log = await AnchorLog.open(dir);
        const registry = new MemoryRegistry();
        const busy = busyLedger();
        const checkpointer = new Checkpointer({ log, registry, source: new LedgerAnchorSource(new ChaincodeLedger(ledger, HOSPITAL), busy, { untilHeight: true, quietMs: 60_000 }) });
        const first = await checkpointer.runOnce();
        expect(first).to.include({ kind: 'written', treeSize: 6, previousTreeSize: 0 });
        // Every anchor up to the amendment in block 5; the one committed after the height was read waits for the next run.
        expect(registry.checkpoints.map((c) => [c.treeSize, c.fabricBlockHeight])).to.deep.equal([[6n, 6n]]);
        expect(await checkpointer.runOnce()).to.include({ kind: 'written', treeSize: 7, previousTreeSize: 6 });
        expect(log.size).to.equal(7);
        await log.close();
      } finally {
        cleanup();
      }
    });
  });
});

/** For these tests: an AnchorRegistry in memory, recording every checkpoint written. */
class MemoryRegistry implements RegistryWriter {
  readonly address = '0x' + '0'.repeat(40);
  readonly chainId = 31337n;
  readonly checkpoints: OnChainCheckpoint[] = [];

  async latestCheckpoint(): Promise<OnChainCheckpoint | undefined> {
    return this.checkpoints[this.checkpoints.length - 1];
  }

  async checkpointAt(index: bigint): Promise<OnChainCheckpoint> {
    return this.checkpoints[Number(index)];
  }

  async firstCheckpointCovering(treeSize: bigint): Promise<OnChainCheckpoint | undefined> {
    return this.checkpoints.find((c) => c.treeSize >= treeSize);
  }

  async checkpointTransaction(): Promise<undefined> {
    return undefined;
  }

  async writeCheckpoint(treeSize: bigint, root: Uint8Array, fabricBlockHeight: bigint) {
    const index = BigInt(this.checkpoints.length);
    this.checkpoints.push({ index, treeSize, fabricBlockHeight, timestamp: BigInt(this.checkpoints.length), root });
    return { index, txHash: '0x' + index.toString(16).padStart(64, '0'), blockNumber: this.checkpoints.length, gasUsed: 0n };
  }
}
