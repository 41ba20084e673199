import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { IdentityContract } from '../../../chaincode/src';
import type { RecordChange } from '../../../chaincode/src/contracts/records';
import type { LedgerEvents } from '../../../gateway/src/fabric/client';
import { delegatingLedger } from '../../../gateway/src/fabric/delegating-ledger';
import { AnchorIndex, AnchorIndexError, type AnchorIndexOptions } from '../../../gateway/src/records/anchor-index';
import { AnchorTable, SnapshotFormatError } from '../../../gateway/src/records/anchor-table';
import { verdictOf, type VerificationResult } from '../../../gateway/src/records/service';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL, HOSPITAL2 } from '../chaincode/fixtures';
import { ChaincodeLedger } from '../support/chaincode-ledger';
import { RecordingEvents } from '../support/recording-events';
import { commitEvent } from '../support/test-events';
import { recorder } from '../support/recording-logger';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const record = (recordId: string, doc = `document ${recordId}`) => ({ recordId, docHash: sha(doc), patientRef: sha(`ref ${recordId}`), category: 'loinc:11506-3' });

describe('anchor index: the gateway-local docHash → verdict index fed by ledger events', function () {
  this.timeout(20_000);
  let dir: string;
  let ledger: FakeLedger;
  let hospital: ChaincodeLedger;
  let events: RecordingEvents;
  const open: AnchorIndex[] = [];

  const openIndex = async (extra: Partial<AnchorIndexOptions> = {}): Promise<AnchorIndex> => {
    const index = await AnchorIndex.open({ file: path.join(dir, 'anchor-index.bin'), events, settleMs: 5, retryMs: { first: 5, max: 20 }, ...extra });
    open.push(index);
    return index;
  };
  const stop = async (index: AnchorIndex) => {
    open.splice(open.indexOf(index), 1);
    await index.stop();
  };
  const submit = (name: string, ...args: string[]) => hospital.submit(name, ...args);
  /** What the peer path answers: the anchor by hash, then the block of its transaction. */
  const peerVerdict = async (docHash: string): Promise<VerificationResult> => {
    const verdict = verdictOf(docHash, JSON.parse(Buffer.from(await hospital.evaluate('Records:lookupByHash', docHash)).toString('utf8')));
    const block = verdict.txId === undefined ? undefined : await hospital.blockOfTransaction(verdict.txId);
    return block === undefined ? verdict : { ...verdict, blockNumber: block.toString() };
  };
  const height = () => BigInt(ledger.committed.length);
  /** Anchors r-1 and amends it (then does `more`) under an index that indexes it all and stops: the snapshot's path. */
  const snapshotOfAmendedRecord = async (more: () => Promise<unknown> = async () => undefined): Promise<string> => {
    const first = await openIndex();
    first.start();
    await submit('Records:anchorRecord', JSON.stringify(record('r-1')));
    await submit('Records:amendRecord', JSON.stringify({ issuer: HOSPITAL, recordId: 'r-1', docHash: sha('r-1 v2') }));
    await more();
    await first.whenIndexed(height());
    await stop(first);
    return path.join(dir, 'anchor-index.bin');
  };

  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-index-'));
    ledger = new FakeLedger();
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    hospital = new ChaincodeLedger(ledger, HOSPITAL);
    events = new RecordingEvents(hospital);
  });
  afterEach(async () => {
    for (const index of open.splice(0)) await index.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('applies anchored (single and batch), amended and retracted changes to the right docHash, exactly as the peer answers', async () => {
    const index = await openIndex();
    index.start();
    await submit('Records:anchorRecord', JSON.stringify(record('r-1', 'v1')));
    await submit('Records:anchorRecords', JSON.stringify([record('b-1'), record('b-2'), record('b-3')]));
    await submit('Records:amendRecord', JSON.stringify({ issuer: HOSPITAL, recordId: 'r-1', docHash: sha('v2') }));
    await submit('Records:amendRecord', JSON.stringify({ issuer: HOSPITAL, recordId: 'r-1', docHash: sha('v3') }));
    await submit('Records:retractRecord', HOSPITAL, 'r-1', 'wrong-patient');
    await index.whenIndexed(height());
    await index.whenIndexed();

    const hashes = ['v1', 'v2', 'v3', 'document b-1', 'document b-2', 'document b-3'].map(sha);
    for (const docHash of hashes) expect(index.verdictOf(docHash)).to.deep.equal(await peerVerdict(docHash));
    expect(index.verdictOf(sha('v1'))).to.include({ verdict: 'SUPERSEDED', version: 1, supersededBy: sha('v2') });
    expect(index.verdictOf(sha('v2'))).to.include({ verdict: 'SUPERSEDED', version: 2, supersededBy: sha('v3') });
    expect(index.verdictOf(sha('v3'))).to.include({ verdict: 'RETRACTED', version: 3 });
    expect(index.verdictOf(sha('v3'))?.retraction).to.include({ reason: 'wrong-patient' });
    expect(index.verdictOf(sha('document b-2'))).to.include({ verdict: 'ORIGINAL', recordId: 'b-2', issuer: HOSPITAL });
    expect(index.verdictOf(sha('never anchored'))).to.equal(undefined);
    expect(index.status()).to.include({ state: 'live', ready: true, entries: 6, lagBlocks: 0 });
    expect(index.status().answered).to.deep.equal({ index: 11, peer: 1 });
    // Each version carries the block of its own anchoring transaction (blocks 2…5 here), not that of a later change.
    expect(['v1', 'document b-2', 'v2', 'v3'].map((doc) => index.verdictOf(sha(doc))?.blockNumber)).to.deep.equal(['2', '3', '4', '5']);
  });

  it('answers ORIGINAL only when ready: not before it has caught up, nor before an amendment this gateway committed is indexed', async () => {
    await submit('Records:anchorRecord', JSON.stringify(record('r-1', 'v1')));
    const index = await openIndex({ settleMs: 60_000 });
    index.start();
    await index.whenIndexed(height());
    // Caught up with every block so far, but it cannot know that yet: the peer answers.
    expect(index.status()).to.include({ state: 'catching-up', ready: false });
    expect(index.verdictOf(sha('v1'))).to.equal(undefined);
    await stop(index);

    const live = await openIndex();
    live.start();
    await live.whenIndexed();
    expect(live.verdictOf(sha('v1'))).to.include({ verdict: 'ORIGINAL' });
    // This gateway commits an amendment; its event is not indexed yet: the peer answers ORIGINAL questions.
    const next = height() + 1n;
    const committedBy = (created: boolean, blockNumber: bigint) =>
      live.observe(delegatingLedger(hospital, { submit: async () => ({ result: Buffer.from(JSON.stringify({ created })), transactionId: 'f'.repeat(64), blockNumber }) }));
    await committedBy(true, next).submit('Records:amendRecord', '{}');
    expect(live.status()).to.include({ ready: false, lagBlocks: 1 });
    expect(live.verdictOf(sha('v1'))).to.equal(undefined);
    await submit('Records:amendRecord', JSON.stringify({ issuer: HOSPITAL, recordId: 'r-1', docHash: sha('v2') }));
    await live.whenIndexed();
    expect(live.status()).to.include({ ready: true, lagBlocks: 0 });
    // A re-sent retraction that changed nothing emits no event and holds nothing back.
    await committedBy(false, next + 1n).submit('Records:retractRecord', HOSPITAL, 'r-1', 'duplicate');
    expect(live.ready()).to.equal(true);
    expect(live.verdictOf(sha('v1'))).to.include({ verdict: 'SUPERSEDED', supersededBy: sha('v2') });
  });

  it('stop() answers every pending whenIndexed wait with INDEX_STOPPED, and any wait after it for a block it does not hold', async () => {
    await submit('Records:anchorRecord', JSON.stringify(record('r-1', 'v1')));
    const index = await openIndex({ settleMs: 60_000 });
    index.start();
    await index.whenIndexed(height());
    const codeOf = (wait: Promise<void>) => wait.then(() => 'resolved', (err: unknown) => (err instanceof AnchorIndexError ? err.code : String(err)));
    // Neither can come: the index is not ready for a minute, and no block beyond the height is committed.
    const waits = [codeOf(index.whenIndexed()), codeOf(index.whenIndexed(height() + 5n))];
    await stop(index);
    expect(await Promise.all(waits)).to.deep.equal(['INDEX_STOPPED', 'INDEX_STOPPED']);
    expect(await codeOf(index.whenIndexed(height() + 1n))).to.equal('INDEX_STOPPED');
    // What it did hold still resolves.
    expect(await codeOf(index.whenIndexed(height()))).to.equal('resolved');
  });

  it('persists to a snapshot and resumes after its checkpoint, without reading from block 0 again', async () => {
    const first = await openIndex();
    first.start();
    for (let i = 0; i < 5; i++) await submit('Records:anchorRecord', JSON.stringify(record(`r-${i}`)));
    await first.whenIndexed(height());
    const checkpoint = first.status().checkpoint;
    await stop(first);
    expect(events.delivered).to.have.length(5);

    await submit('Records:retractRecord', HOSPITAL, 'r-0', 'duplicate');
    await submit('Records:anchorRecord', JSON.stringify(record('r-5')));
    const second = await openIndex();
    expect(second.status()).to.include({ entries: 5 });
    expect(second.status().checkpoint).to.deep.equal(checkpoint);
    second.start();
    await second.whenIndexed(height());
    await second.whenIndexed();
    expect(events.subscriptions[1]).to.deep.equal({ blockNumber: BigInt(checkpoint!.blockNumber), transactionId: checkpoint!.transactionId });
    expect(events.delivered).to.have.length(7);
    expect(events.delivered.slice(5).every((e) => e.blockNumber > BigInt(checkpoint!.blockNumber))).to.equal(true);
    expect(second.verdictOf(sha('document r-0'))).to.include({ verdict: 'RETRACTED' });
    expect(second.verdictOf(sha('document r-5'))).to.deep.equal(await peerVerdict(sha('document r-5')));
    expect(second.status().entries).to.equal(6);
  });

  it('moves a corrupt or torn snapshot aside and rebuilds from block 0; with onCorrupt "fail" it refuses with a clear error', async () => {
    const file = await snapshotOfAmendedRecord();
    const good = readFileSync(file);

    const flipped = Buffer.from(good);
    flipped[flipped.length >> 1] ^= 0x40;
    writeFileSync(file, flipped);
    const refused = await AnchorIndex.open({ file, events, onCorrupt: 'fail' }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).to.be.instanceOf(AnchorIndexError);
    expect((refused as AnchorIndexError).code).to.equal('INDEX_CORRUPT');
    expect((refused as Error).message).to.match(/checksum does not match.*Remove it to rebuild/);

    for (const damaged of [flipped, good.subarray(0, good.length - 7), Buffer.alloc(0)]) {
      writeFileSync(file, damaged);
      const rebuilt = await openIndex();
      expect(rebuilt.status().rebuilt).to.be.a('string');
      expect(rebuilt.status().entries).to.equal(0);
      rebuilt.start();
      await rebuilt.whenIndexed(height());
      expect(events.subscriptions[events.subscriptions.length - 1]).to.equal(undefined);
      expect(rebuilt.verdictOf(sha('document r-1'))).to.include({ verdict: 'SUPERSEDED', supersededBy: sha('r-1 v2') });
      await stop(rebuilt);
    }
    expect(readdirSync(dir).filter((f) => f.includes('.corrupt-'))).to.have.length(3);
    expect(existsSync(file)).to.equal(true);
  });

  it('never reads a snapshot of format 1 (no block numbers): says so and rebuilds from block 0, whatever onCorrupt says', async () => {
    const file = await snapshotOfAmendedRecord(() => submit('Records:retractRecord', HOSPITAL, 'r-1', 'duplicate'));
    const old = asFormat1(readFileSync(file));
    writeFileSync(file, old);
    expect(() => AnchorTable.decode(old)).to.throw(SnapshotFormatError, /format 1; this gateway reads format 2/);

    const log = recorder();
    const upgraded = await openIndex({ onCorrupt: 'fail', logger: log });
    expect(log.lines).to.have.length(1);
    expect(log.lines[0]).to.deep.include({ level: 'warn', message: 'anchor index snapshot is of format 1, without the block numbers of anchors; rebuilding from block 0' });
    expect(upgraded.status().rebuilt).to.match(/format 1/);
    expect(upgraded.status()).to.include({ entries: 0, checkpoint: null });
    upgraded.start();
    await upgraded.whenIndexed(height());
    await upgraded.whenIndexed();
    expect(events.subscriptions[events.subscriptions.length - 1]).to.equal(undefined);
    for (const doc of ['document r-1', 'r-1 v2']) expect(upgraded.verdictOf(sha(doc))).to.deep.equal(await peerVerdict(sha(doc))).and.have.property('blockNumber');
    await stop(upgraded);
    // Not moved aside as corrupt: replaced by a snapshot of the current format.
    expect(readdirSync(dir).filter((f) => f.includes('.corrupt-'))).to.deep.equal([]);
    expect(AnchorTable.decode(readFileSync(file)).table.get(sha('r-1 v2'))).to.include({ status: 'retracted', blockNumber: '3' });
  });

  it('re-subscribes from its checkpoint when the event stream breaks, losing and repeating nothing', async () => {
    const index = await openIndex();
    index.start();
    await submit('Records:anchorRecord', JSON.stringify(record('r-1')));
    await index.whenIndexed(height());
    // The subscription delivers r-2, then breaks on r-3.
    events.breakAfter = 1;
    await submit('Records:anchorRecord', JSON.stringify(record('r-2')));
    await submit('Records:anchorRecord', JSON.stringify(record('r-3')));
    await index.whenIndexed(height());
    expect(events.subscriptions.length).to.be.greaterThan(1);
    expect(events.delivered.map((e) => e.transactionId)).to.deep.equal(ledger.committed.slice(1).map((tx) => tx.txId));
    await index.whenIndexed();
    expect(index.verdictOf(sha('document r-3'))).to.include({ verdict: 'ORIGINAL' });
  });

  describe("with the ledger's height", () => {
    /** An index without the height, on the same events: it goes live after `settleMs` of quiet, whatever it holds. */
    const quietRuleIndex = async (): Promise<AnchorIndex> => {
      const quiet = await openIndex({ file: path.join(dir, 'quiet-rule.bin') });
      quiet.start();
      // Its settle timer was armed after every timer of the index under test (same settleMs), so theirs have fired.
      await quiet.whenIndexed();
      return quiet;
    };

    it('is not ready while behind a long backlog, even when its events pause; ready once it has read up to the height', async () => {
      for (let i = 0; i < 40; i++) await submit('Records:anchorRecord', JSON.stringify(record(`r-${i}`)));
      const lastBlock = height();
      events.pauseAfter = 10;
      const index = await openIndex({ ledger: hospital });
      index.start();
      await index.whenIndexed(11n);
      const quiet = await quietRuleIndex();
      // The quiet-period rule is fooled by the pause: live, holding nothing.
      expect(quiet.status()).to.include({ state: 'live', ready: true, entries: 0 });
      expect(index.status()).to.include({ state: 'catching-up', ready: false, entries: 10, headBlock: lastBlock.toString(), lagBlocks: 30 });
      expect(index.verdictOf(sha('document r-0'))).to.equal(undefined);

      events.resume();
      await index.whenIndexed();
      expect(index.status()).to.include({ state: 'live', ready: true, entries: 40, lagBlocks: 0 });
      expect(index.verdictOf(sha('document r-0'))).to.deep.equal(await peerVerdict(sha('document r-0')));
    });

    it('is ready as soon as it holds the last block, with no quiet period; a restart at the height is ready at once', async () => {
      for (let i = 0; i < 3; i++) await submit('Records:anchorRecord', JSON.stringify(record(`r-${i}`)));
      const first = await openIndex({ ledger: hospital, settleMs: 60_000 });
      first.start();
      await first.whenIndexed();
      expect(first.status()).to.include({ state: 'live', ready: true, lagBlocks: 0 });
      await stop(first);

      const second = await openIndex({ ledger: hospital, settleMs: 60_000 });
      second.start();
      await second.whenIndexed();
      expect(events.delivered).to.have.length(3);
      expect(second.verdictOf(sha('document r-2'))).to.include({ verdict: 'ORIGINAL' });
    });

    it('takes a short tail of blocks without events for caught up after a quiet period, a longer one only at the next event; the lag counts them', async () => {
      await submit('Records:anchorRecord', JSON.stringify(record('r-1')));
      for (let i = 0; i < 3; i++) await commitEvent(ledger, '');
      const short = await openIndex({ ledger: hospital, quietTailBlocks: 3 });
      short.start();
      await short.whenIndexed();
      expect(short.status()).to.include({ state: 'live', ready: true, headBlock: height().toString(), lagBlocks: 3 });
      await stop(short);

      await commitEvent(ledger, '');
      const long = await openIndex({ ledger: hospital, quietTailBlocks: 3 });
      long.start();
      await long.whenIndexed(2n);
      await quietRuleIndex();
      expect(long.status()).to.include({ state: 'catching-up', ready: false, lagBlocks: 4 });
      await submit('Records:anchorRecord', JSON.stringify(record('r-2')));
      await long.whenIndexed();
      expect(long.status()).to.include({ state: 'live', ready: true, lagBlocks: 0 });
    });

    it('is not ready while the height cannot be read, and reads it again until it can', async () => {
      await submit('Records:anchorRecord', JSON.stringify(record('r-1')));
      let attempts = 0;
      let readable = false;
      let thirdAttempt!: () => void;
      const triedThrice = new Promise<void>((resolve) => (thirdAttempt = resolve));
      const flaky = {
        height: async () => {
          if (++attempts === 3) thirdAttempt();
          if (!readable) throw new Error('LEDGER_UNAVAILABLE: no peer answered');
          return hospital.height();
        },
      };
      const log = recorder();
      const index = await openIndex({ ledger: flaky, logger: log, heightEveryMs: 5 });
      index.start();
      await index.whenIndexed(2n);
      await quietRuleIndex();
      await triedThrice;
      expect(index.status()).to.include({ state: 'catching-up', ready: false, entries: 1 });
      readable = true;
      await index.whenIndexed();
      expect(index.status()).to.include({ state: 'live', ready: true });
      // One warning for the whole run of failures.
      expect(log.lines.filter((line) => line.level === 'warn')).to.have.length(1);
    });
  });

  it('stops following on a malformed event and then leaves ORIGINAL to the peer', async () => {
    const bad: LedgerEvents = {
      async *events() {
        yield { blockNumber: 1n, transactionId: 'a'.repeat(64), eventName: 'medprov.RecordsChanged', payload: Buffer.from('{"changes":[{"kind":"anchored"}]}') };
      },
    };
    const index = await AnchorIndex.open({ file: path.join(dir, 'bad.bin'), events: bad, settleMs: 5 });
    open.push(index);
    index.start();
    await index.whenIndexed();
    expect(index.status()).to.include({ state: 'failed', ready: false });
    expect(index.status().error).to.match(/^INDEX_BAD_EVENT: /);
  });

  it('refuses a second index on the same file while the first holds it', async () => {
    await openIndex();
    const second = await openIndex().catch((err: unknown) => err);
    expect((second as AnchorIndexError).code).to.equal('INDEX_LOCKED');
  });

  it('keeps other issuers apart and shows supersededBy only for superseded versions', async () => {
    const index = await openIndex();
    index.start();
    await submit('Records:anchorRecord', JSON.stringify(record('x')));
    await new ChaincodeLedger(ledger, HOSPITAL2).submit('Records:anchorRecord', JSON.stringify(record('x', 'other hospital doc')));
    await index.whenIndexed(height());
    await index.whenIndexed();
    expect(index.verdictOf(sha('other hospital doc'))).to.deep.equal(await peerVerdict(sha('other hospital doc')));
    expect(index.verdictOf(sha('other hospital doc'))).to.include({ issuer: HOSPITAL2 }).and.not.have.property('supersededBy');
  });
});

describe('anchor table: compact columns and their snapshot', () => {
  const change = (i: number, extra: Partial<RecordChange> = {}): RecordChange => ({
    kind: 'anchored',
    docHash: sha(`doc ${i}`),
    issuer: i % 3 === 0 ? 'HospitalMSP' : 'Hospital2MSP',
    recordId: `rec-${i}`,
    version: 1,
    status: 'active',
    anchoredAt: new Date(1_767_225_600_000 + i * 1001).toISOString(),
    txId: i % 7 === 0 ? `not-hex-${i}` : randomBytes(32).toString('hex'),
    ...extra,
  });

  it('grows past its first capacity, finds every entry, and reads back what it wrote byte for byte', () => {
    const table = new AnchorTable(16);
    const all = Array.from({ length: 5_000 }, (_, i) => change(i));
    for (const c of all) table.apply(c);
    table.apply(change(5_000, { kind: 'amended', version: 2, recordId: 'rec-5', supersedes: all[5].docHash }));
    table.apply(change(5_000, { kind: 'retracted', version: 2, recordId: 'rec-5', status: 'retracted', retraction: { reason: 'duplicate', at: all[9].anchoredAt, txId: all[9].txId } }));
    expect(table.size).to.equal(5_001);
    const { table: copy, meta } = AnchorTable.decode(table.encode({ checkpoint: 'x' }));
    expect(meta).to.deep.equal({ checkpoint: 'x' });
    for (const c of [...all, change(5_000)]) expect(copy.get(c.docHash)).to.deep.equal(table.get(c.docHash));
    expect(copy.get(all[7].docHash)).to.include({ txId: 'not-hex-7', recordId: 'rec-7', anchoredAt: all[7].anchoredAt });
    expect(copy.get(all[5].docHash)).to.include({ status: 'superseded', supersededBy: sha('doc 5000') });
    expect(copy.get(sha('doc 5000'))).to.include({ status: 'retracted', version: 2 }).and.have.nested.property('retraction.reason', 'duplicate');
    expect(copy.get(sha('absent'))).to.equal(undefined);
    expect(copy.get('not a hash')).to.equal(undefined);
  });

  it("keeps the block of each entry's anchoring transaction, also beyond 32 bits, and only from that transaction's event", () => {
    const table = new AnchorTable();
    const at = (c: RecordChange, blockNumber: bigint, transactionId = c.txId) => table.apply(c, { blockNumber, transactionId });
    const anchored = change(1);
    at(anchored, 7n);
    const wide = change(2);
    at(wide, 2n ** 40n + 3n);
    const edge = change(3);
    at(edge, 0xffffffffn);
    // A retraction's event is another transaction: it neither changes a known block nor invents one.
    const retraction = { reason: 'duplicate' as const, at: anchored.anchoredAt, txId: 'r'.repeat(64) };
    at({ ...anchored, kind: 'retracted', status: 'retracted', retraction }, 9n, retraction.txId);
    const unseen = change(4, { kind: 'retracted', status: 'retracted', retraction });
    at(unseen, 9n, retraction.txId);
    table.apply(change(5));
    const { table: copy } = AnchorTable.decode(table.encode(null));
    for (const t of [table, copy]) {
      expect(t.get(anchored.docHash)).to.include({ status: 'retracted', blockNumber: '7' });
      expect(t.get(wide.docHash)).to.include({ blockNumber: (2n ** 40n + 3n).toString() });
      expect(t.get(edge.docHash)).to.include({ blockNumber: '4294967295' });
      expect(t.get(unseen.docHash)).to.not.have.property('blockNumber');
      expect(t.get(sha('doc 5'))).to.not.have.property('blockNumber');
    }
    // Seen again from the anchoring transaction's own event (a replay), an unknown block is filled in.
    at(change(5, { txId: table.get(sha('doc 5'))!.txId }), 11n);
    expect(table.get(sha('doc 5'))).to.include({ blockNumber: '11' });
  });

  it('never moves a status backwards when a change is applied again', () => {
    const table = new AnchorTable();
    table.apply(change(1));
    table.apply(change(2, { kind: 'amended', version: 2, supersedes: sha('doc 1') }));
    table.apply(change(1));
    expect(table.get(sha('doc 1'))).to.include({ status: 'superseded', supersededBy: sha('doc 2') });
  });
});

/**
 * A snapshot as a gateway before block numbers wrote it: format 1, without the blocks column
 * (after the hashes, transaction ids, times and versions), checksummed again. Both formats start
 * with the same magic, a little-endian header length and a JSON header.
 */
function asFormat1(snapshot: Buffer): Buffer {
  const magic = 8;
  const headerLength = snapshot.readUInt32LE(magic);
  const headerStart = magic + 4;
  const { wideBlocks: _wide, ...header } = JSON.parse(snapshot.subarray(headerStart, headerStart + headerLength).toString('utf8')) as { count: number; wideBlocks: unknown };
  const columns = snapshot.subarray(headerStart + headerLength, snapshot.length - 32);
  const blocksAt = header.count * (32 + 32 + 8 + 4);
  const headerBytes = Buffer.from(JSON.stringify({ ...header, format: 1 }), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(headerBytes.length, 0);
  const body = Buffer.concat([snapshot.subarray(0, magic), length, headerBytes, columns.subarray(0, blocksAt), columns.subarray(blocksAt + header.count * 4)]);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}
