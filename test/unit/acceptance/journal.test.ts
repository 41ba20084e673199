import { expect } from 'chai';
import { promises as fs, rmSync } from 'node:fs';
import * as path from 'node:path';
import {
  AcceptanceError,
  AcceptanceJournal,
  JOURNAL_FILE,
  prepareAmendRecord,
  prepareAnchorRecord,
  prepareRetractRecord,
  type LedgerRequest,
} from '../../../gateway/src/acceptance';
import { encodeFrame } from '../../../gateway/src/acceptance/journal';
import { HOSPITAL } from '../chaincode/fixtures';
import { CrashableDisk, docHash, patientRefs, tempDir } from './support';

const anchor = (i: number, patientId = `patient-${i}`): Promise<LedgerRequest> =>
  prepareAnchorRecord({ recordId: `rec-${i}`, docHash: docHash(i), patientId, category: 'loinc:18842-5' }, patientRefs);

async function expectCode(promise: Promise<unknown>, code: string): Promise<AcceptanceError> {
  try {
    await promise;
  } catch (err) {
    expect(err).to.be.instanceOf(AcceptanceError);
    expect((err as AcceptanceError).code).to.equal(code);
    return err as AcceptanceError;
  }
  throw new Error(`expected ${code}, but it resolved`);
}

describe('acceptance journal', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = tempDir();
    file = path.join(dir, JOURNAL_FILE);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('holds what goes to the ledger (never the patientId) and replays requests and outcomes after reopening', async () => {
    const journal = await AcceptanceJournal.open({ dir });
    const a = await journal.accept(await anchor(1, '900101-1234567'), { user: 'officer' });
    const b = await journal.accept(prepareAmendRecord(HOSPITAL, 'rec-1', { docHash: docHash('1b') }));
    const c = await journal.accept(prepareRetractRecord(HOSPITAL, 'rec-1', 'duplicate'));
    await journal.recordOutcome(a.id, { status: 'committed', transactionId: 'tx1', blockNumber: '7', result: { created: true } });
    await journal.recordOutcome(b.id, { status: 'rejected', code: 'DOC_HASH_CLAIMED', message: 'already anchored' });
    expect(journal.stats()).to.include({ entries: 3, unfinished: 1, committed: 1, rejected: 1 });
    await journal.close();

    const text = await fs.readFile(file, 'utf8');
    expect(text).to.not.include('900101');
    expect(text).to.include(docHash(1));

    const reopened = await AcceptanceJournal.open({ dir });
    expect(reopened.openReport).to.include({ entries: 3, unfinished: 1, truncatedBytes: 0 });
    expect(reopened.get(a.id)?.outcome).to.include({ status: 'committed', transactionId: 'tx1', blockNumber: '7' });
    expect(reopened.get(b.id)?.outcome).to.include({ status: 'rejected', code: 'DOC_HASH_CLAIMED' });
    expect(reopened.unfinished().map((e) => e.id)).to.deep.equal([c.id]);
    expect(reopened.get(a.id)).to.include({ kind: 'anchorRecord', transaction: 'Records:anchorRecord', user: 'officer' });
    await reopened.close();
  });

  it('group commit: concurrent accepts share fsyncs; without it every accept pays its own', async () => {
    const requests = await Promise.all(Array.from({ length: 300 }, (_, i) => anchor(i)));
    const figures: string[] = [];
    for (const groupCommit of [true, false]) {
      const sub = path.join(dir, String(groupCommit));
      const journal = await AcceptanceJournal.open({ dir: sub, groupCommit });
      const started = process.hrtime.bigint();
      const results = await Promise.all(requests.map((r) => journal.accept(r)));
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const stats = journal.stats();
      expect(new Set(results.map((r) => r.id)).size).to.equal(300);
      expect(stats.records).to.equal(300);
      if (groupCommit) expect(stats.fsyncs).to.be.lessThan(300);
      else expect(stats.fsyncs).to.equal(300);
      figures.push(`${groupCommit ? 'group commit ' : 'fsync each  '}: ${Math.round(300 / seconds)} accepts/s, ${stats.fsyncs} fsyncs, ${(300 / stats.fsyncs).toFixed(1)} accepts per fsync`);
      await journal.close();
      const reopened = await AcceptanceJournal.open({ dir: sub });
      expect(reopened.openReport.unfinished).to.equal(300);
      await reopened.close();
    }
    console.log(`      300 concurrent accepts on this disk:\n        ${figures.join('\n        ')}`);
  });

  it('caps a frame by records and by size, so that a burst never builds one huge line', async () => {
    const requests = await Promise.all(Array.from({ length: 100 }, (_, i) => anchor(i)));
    const byCount = await AcceptanceJournal.open({ dir: path.join(dir, 'count'), maxFrameRecords: 10 });
    await Promise.all(requests.map((r) => byCount.accept(r)));
    expect(byCount.stats().largestFrame).to.equal(10);
    expect(byCount.stats().frames).to.be.at.least(10);
    await byCount.close();

    const bySize = await AcceptanceJournal.open({ dir: path.join(dir, 'size'), maxFrameBytes: 1000 });
    await Promise.all(requests.map((r) => bySize.accept(r)));
    const big = await bySize.accept({ ...requests[0], args: [JSON.stringify({ note: 'x'.repeat(5000) })] });
    await bySize.close();
    const lines = (await fs.readFile(path.join(dir, 'size', JOURNAL_FILE), 'utf8')).split('\n').filter(Boolean);
    const frames = lines.slice(1).map((l) => JSON.parse(l.slice(9)) as { records: { id: string }[] });
    // The cap counts the records themselves; the list adds brackets and commas.
    expect(frames.slice(0, -1).every((f) => JSON.stringify(f.records).length <= 1000 + f.records.length + 1)).to.equal(true);
    expect(frames[frames.length - 1].records.map((r) => r.id)).to.deep.equal([big.id]);
    const reopened = await AcceptanceJournal.open({ dir: path.join(dir, 'size') });
    expect(reopened.openReport.unfinished).to.equal(101);
    await reopened.close();
  });

  describe('a crash while writing', () => {
    async function journalWithThreeFrames(): Promise<{ ids: string[]; sizes: number[] }> {
      const journal = await AcceptanceJournal.open({ dir });
      const ids: string[] = [];
      const sizes: number[] = [];
      for (let i = 0; i < 3; i++) {
        ids.push((await journal.accept(await anchor(i))).id);
        sizes.push((await fs.stat(file)).size);
      }
      await journal.close();
      return { ids, sizes };
    }

    it('cuts a last record that was only partly written; the records before it are kept, and the journal works on', async () => {
      const { ids, sizes } = await journalWithThreeFrames();
      await fs.truncate(file, sizes[1] + Math.floor((sizes[2] - sizes[1]) / 2));
      const journal = await AcceptanceJournal.open({ dir });
      expect(journal.openReport.truncatedBytes).to.equal(Math.floor((sizes[2] - sizes[1]) / 2));
      expect(journal.openReport.truncatedReason).to.match(/incomplete/);
      expect(journal.unfinished().map((e) => e.id)).to.deep.equal(ids.slice(0, 2));
      expect((await fs.stat(file)).size).to.equal(sizes[1]);
      const next = await journal.accept(await anchor(9));
      await journal.close();
      const again = await AcceptanceJournal.open({ dir });
      expect(again.openReport.truncatedBytes).to.equal(0);
      expect(again.unfinished().map((e) => e.id)).to.deep.equal([...ids.slice(0, 2), next.id]);
      await again.close();
    });

    it('cuts a last record whose pages landed out of order (bad checksum) and zeros where the file grew', async () => {
      const { ids, sizes } = await journalWithThreeFrames();
      const bytes = await fs.readFile(file);
      bytes[sizes[1] + 20] ^= 0xff; // inside the last frame, which still ends with its newline
      await fs.writeFile(file, Buffer.concat([bytes, Buffer.alloc(4096)]));
      const journal = await AcceptanceJournal.open({ dir });
      expect(journal.openReport.truncatedReason).to.match(/damaged/);
      expect(journal.unfinished().map((e) => e.id)).to.deep.equal(ids.slice(0, 2));
      expect((await fs.stat(file)).size).to.equal(sizes[1]);
      await journal.close();
    });

    it('cuts trailing zeros alone (the file grew, the data never landed)', async () => {
      const { ids, sizes } = await journalWithThreeFrames();
      await fs.appendFile(file, Buffer.alloc(512));
      const journal = await AcceptanceJournal.open({ dir });
      expect(journal.openReport).to.include({ truncatedBytes: 512 });
      expect(journal.unfinished()).to.have.length(3);
      expect((await fs.stat(file)).size).to.equal(sizes[2]);
      expect(ids).to.have.length(3);
      await journal.close();
    });

    it('recovers a journal whose header itself was torn', async () => {
      await fs.writeFile(file, '1234abcd {"seq":0,"form');
      const journal = await AcceptanceJournal.open({ dir });
      expect(journal.openReport.frames).to.equal(1);
      await journal.accept(await anchor(1));
      await journal.close();
      expect((await AcceptanceJournal.open({ dir }).then(async (j) => (await j.close(), j))).openReport.unfinished).to.equal(1);
    });
  });

  describe('damage a crash cannot cause is refused, and the file is left as it is', () => {
    it('a damaged record with records after it: JOURNAL_CORRUPT, naming where', async () => {
      const journal = await AcceptanceJournal.open({ dir });
      for (let i = 0; i < 3; i++) await journal.accept(await anchor(i));
      await journal.close();
      const bytes = await fs.readFile(file);
      const secondFrame = bytes.indexOf(0x0a) + 1;
      bytes[secondFrame + 30] ^= 0x01;
      await fs.writeFile(file, bytes);
      const err = await expectCode(AcceptanceJournal.open({ dir }), 'JOURNAL_CORRUPT');
      expect(err.status).to.equal(500);
      expect(err.details).to.include({ frame: 1, offset: secondFrame });
      expect((await fs.readFile(file)).equals(bytes)).to.equal(true);
      // The lock was released: after a repair the journal opens.
      await fs.rm(file);
      await (await AcceptanceJournal.open({ dir })).close();
    });

    it('a whole record missing from the middle (sequence gap): JOURNAL_CORRUPT', async () => {
      const journal = await AcceptanceJournal.open({ dir });
      for (let i = 0; i < 3; i++) await journal.accept(await anchor(i));
      await journal.close();
      const lines = (await fs.readFile(file, 'utf8')).split('\n');
      await fs.writeFile(file, [lines[0], lines[1], lines[3], ''].join('\n'));
      const err = await expectCode(AcceptanceJournal.open({ dir }), 'JOURNAL_CORRUPT');
      expect(err.message).to.match(/sequence number 3/);
    });

    it('a well-checksummed record of the wrong shape, or an outcome of an unknown request: JOURNAL_CORRUPT', async () => {
      const header = encodeFrame({ seq: 0, format: 'medprov.acceptance-journal', version: 1, records: [] });
      const bad = encodeFrame({ seq: 1, records: [{ type: 'outcome', id: 'nobody', status: 'rejected', code: 'X', message: 'y', at: new Date().toISOString() }] });
      await fs.writeFile(file, Buffer.concat([header, bad]));
      await expectCode(AcceptanceJournal.open({ dir }), 'JOURNAL_CORRUPT');
    });

    it('another format or a later version: JOURNAL_UNSUPPORTED', async () => {
      await fs.writeFile(file, encodeFrame({ seq: 0, format: 'medprov.acceptance-journal', version: 2, records: [] }));
      await expectCode(AcceptanceJournal.open({ dir }), 'JOURNAL_UNSUPPORTED');
      await fs.writeFile(file, encodeFrame({ seq: 0, format: 'something-else', version: 1, records: [] }));
      await expectCode(AcceptanceJournal.open({ dir }), 'JOURNAL_UNSUPPORTED');
    });
  });

  it('one writer only: a second open is refused while the first holds the journal', async () => {
    const journal = await AcceptanceJournal.open({ dir });
    await expectCode(AcceptanceJournal.open({ dir }), 'JOURNAL_LOCKED');
    await journal.close();
    await (await AcceptanceJournal.open({ dir })).close();
  });

  it('a failed fsync refuses the requests of that write and everything after it, until a reopen', async () => {
    const disk = new CrashableDisk();
    const journal = await AcceptanceJournal.open({ dir, openFile: disk.open });
    const kept = await journal.accept(await anchor(1));
    disk.failNextSync = Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
    const err = await expectCode(journal.accept(await anchor(2)), 'JOURNAL_WRITE_FAILED');
    expect(err.status).to.equal(503);
    await expectCode(journal.accept(await anchor(3)), 'JOURNAL_WRITE_FAILED');
    expect(journal.stats().failed).to.equal(true);
    await journal.close();
    const reopened = await AcceptanceJournal.open({ dir });
    expect(reopened.get(kept.id)).to.not.equal(undefined);
    await reopened.close();
  });

  describe('idempotency keys', () => {
    it('the same key and request from the same user return the same id and append nothing', async () => {
      const journal = await AcceptanceJournal.open({ dir });
      const request = await anchor(1);
      const first = await journal.accept(request, { user: 'officer', idempotencyKey: 'k-1' });
      const records = journal.stats().records;
      const again = await journal.accept(await anchor(1), { user: 'officer', idempotencyKey: 'k-1' });
      expect(again).to.include({ id: first.id, created: false });
      expect(journal.stats().records).to.equal(records);
      await journal.close();
      // The key itself is not in the file (a client may build keys from anything), only a digest.
      expect(await fs.readFile(file, 'utf8')).to.not.include('k-1');
    });

    it('concurrent retries with one key wait for the one write', async () => {
      const journal = await AcceptanceJournal.open({ dir });
      const request = await anchor(1);
      const results = await Promise.all(Array.from({ length: 20 }, () => journal.accept(request, { user: 'officer', idempotencyKey: 'k-2' })));
      expect(new Set(results.map((r) => r.id)).size).to.equal(1);
      expect(results.filter((r) => r.created)).to.have.length(1);
      expect(journal.stats()).to.include({ records: 1, entries: 1 });
      await journal.close();
    });

    it('the same key with another request is refused with 409 IDEMPOTENCY_KEY_REUSED, also after a reopen', async () => {
      const journal = await AcceptanceJournal.open({ dir });
      const first = await journal.accept(await anchor(1), { user: 'officer', idempotencyKey: 'k-3' });
      const other = await anchor(1, 'another-patient'); // same record and document, another patient
      const err = await expectCode(journal.accept(other, { user: 'officer', idempotencyKey: 'k-3' }), 'IDEMPOTENCY_KEY_REUSED');
      expect(err.status).to.equal(409);
      expect(err.details).to.deep.equal({ acceptedRequestId: first.id });
      await journal.close();
      const reopened = await AcceptanceJournal.open({ dir });
      await expectCode(reopened.accept(other, { user: 'officer', idempotencyKey: 'k-3' }), 'IDEMPOTENCY_KEY_REUSED');
      expect(await reopened.accept(await anchor(1), { user: 'officer', idempotencyKey: 'k-3' })).to.include({ id: first.id, created: false });
      await reopened.close();
    });

    it('keys are per user; a malformed key is refused with 400', async () => {
      const journal = await AcceptanceJournal.open({ dir });
      const request = await anchor(1);
      const a = await journal.accept(request, { user: 'alice', idempotencyKey: 'same' });
      const b = await journal.accept(request, { user: 'bob', idempotencyKey: 'same' });
      expect(a.id).to.not.equal(b.id);
      for (const bad of ['', 'has space', 'x'.repeat(256), 'naïve']) {
        expect((await expectCode(journal.accept(request, { user: 'alice', idempotencyKey: bad }), 'IDEMPOTENCY_KEY_INVALID')).status).to.equal(400);
      }
      await journal.close();
    });
  });

  it('the first outcome of a request stands', async () => {
    const journal = await AcceptanceJournal.open({ dir });
    const { id } = await journal.accept(await anchor(1));
    await Promise.all([
      journal.recordOutcome(id, { status: 'committed', transactionId: 't1', blockNumber: '1', result: null }),
      journal.recordOutcome(id, { status: 'rejected', code: 'X', message: 'second' }),
    ]);
    await journal.recordOutcome(id, { status: 'rejected', code: 'Y', message: 'third' });
    expect(journal.get(id)?.outcome).to.include({ status: 'committed', transactionId: 't1' });
    expect(journal.stats().records).to.equal(2);
    await expectCode(journal.recordOutcome('unknown', { status: 'rejected', code: 'X', message: 'y' }), 'INVALID_ARGUMENT');
    await journal.close();
  });

  it('compaction drops finished requests older than the retention, keeps the rest, and loses nothing accepted meanwhile', async () => {
    let now = Date.parse('2026-03-01T00:00:00Z');
    const journal = await AcceptanceJournal.open({ dir, now: () => now });
    const old = await journal.accept(await anchor(1), { user: 'u', idempotencyKey: 'old' });
    await journal.recordOutcome(old.id, { status: 'committed', transactionId: 't', blockNumber: '1', result: {} });
    const pending = await journal.accept(await anchor(2));
    now += 25 * 3600 * 1000;
    const recent = await journal.accept(await anchor(3));
    await journal.recordOutcome(recent.id, { status: 'rejected', code: 'DOC_HASH_CLAIMED', message: 'm' });
    const before = (await fs.stat(file)).size;

    const during = Promise.all([4, 5, 6].map(async (i) => journal.accept(await anchor(i))));
    const report = await journal.compact();
    const accepted = await during;
    expect(report).to.include({ dropped: 1, kept: 2 });
    expect(report.bytesAfter).to.be.lessThan(before);
    expect(journal.get(old.id)).to.equal(undefined);
    expect(journal.stats()).to.include({ entries: 5, committed: 0, rejected: 1, unfinished: 4 });
    // Forgotten with its request: the old idempotency key now starts a new request.
    expect(await journal.accept(await anchor(1), { user: 'u', idempotencyKey: 'old' })).to.include({ created: true });
    await journal.close();

    const reopened = await AcceptanceJournal.open({ dir, now: () => now });
    expect(reopened.openReport.truncatedBytes).to.equal(0);
    expect(reopened.get(recent.id)?.outcome?.status).to.equal('rejected');
    expect(reopened.unfinished().map((e) => e.id)).to.include.members([pending.id, ...accepted.map((a) => a.id)]);
    expect(reopened.stats().entries).to.equal(6);
    await reopened.close();
    expect((await fs.readdir(dir)).filter((n) => n.endsWith('.tmp'))).to.deep.equal([]);
  });
});
