import { expect } from 'chai';
import { rmSync } from 'node:fs';
import {
  AcceptanceJournal,
  Submitter,
  LAG_CONFIRMATIONS,
  backoffDelay,
  classifyFailure,
  prepareAmendRecord,
  prepareAnchorBatch,
  prepareRetractRecord,
  type LedgerRequest,
  type SubmitterOptions,
} from '../../../gateway/src/acceptance';
import { delegatingLedger } from '../../../gateway/src/fabric/delegating-ledger';
import { LedgerError } from '../../../gateway/src/fabric/errors';
import type { RecordAnchor } from '../../../chaincode/src/lib/record-model';
import { ANCHOR_EACH } from '../../../gateway/src/acceptance/coalescer';
import type { Ledger } from '../../../gateway/src/fabric/client';
import type { FakeLedger } from '../chaincode/fake-ledger';
import { HOSPITAL, HOSPITAL2, INSURER } from '../chaincode/fixtures';
import { ChaincodeLedger } from '../support/chaincode-ledger';
import { recorder } from '../support/recording-logger';
import { CATEGORY, FaultyLedger, anchor, consortium, docHash, gated, indexWrites, patientRefs, recordingSleep, recordsOf, seeded, tempDir, until, versionsWithHash } from './support';


describe('acceptance submitter (real chaincode on the in-memory stub)', function () {
  this.timeout(30_000);
  let dir: string;
  let ledger: FakeLedger;
  let journal: AcceptanceJournal;
  const running: Submitter[] = [];

  beforeEach(async () => {
    dir = tempDir();
    ledger = await consortium();
    journal = await AcceptanceJournal.open({ dir });
  });
  afterEach(async () => {
    for (const s of running.splice(0)) await s.stop();
    await journal.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A submitter on `faulty`, started unless `start` is false (to accept requests first, so that they are all ready at once). */
  function submitter(faulty: Ledger, options: Partial<SubmitterOptions> = {}, start = true): Submitter {
    const s = new Submitter({ journal, ledger: faulty, sleep: recordingSleep().sleep, random: seeded(1), ...options });
    running.push(s);
    if (start) s.start();
    return s;
  }

  it('takes an accepted anchor to the ledger once and reports it committed, with the chaincode result', async () => {
    const faulty = new FaultyLedger(new ChaincodeLedger(ledger, HOSPITAL));
    const s = submitter(faulty);
    const { id } = await journal.accept(await anchor(1));
    expect(s.status(id)?.state).to.be.oneOf(['accepted', 'submitting']);
    await s.idle();
    const status = s.status(id);
    expect(status).to.include({ state: 'committed', kind: 'anchorRecord' });
    if (status?.state !== 'committed') throw new Error('unreachable');
    expect(status.result).to.deep.include({ created: true });
    expect((status.result as { anchor: { docHash: string } }).anchor.docHash).to.equal(docHash(1));
    expect(status.transactionId).to.match(/^[0-9a-f]{64}$/);
    expect(indexWrites(ledger, docHash(1))).to.equal(1);
    expect(s.counts()).to.include({ committed: 1, attempts: 1, retries: 0, accepted: 0, submitting: 0 });
    expect(journal.get(id)?.outcome?.status).to.equal('committed');
  });

  it('retries transient failures with exponential backoff and jitter, then commits once', async () => {
    const faulty = new FaultyLedger(new ChaincodeLedger(ledger, HOSPITAL)).plan('before', 5);
    const { sleep, delays } = recordingSleep();
    const log = recorder();
    let id = '';
    let mid: unknown;
    // Look at the status while the second retry is being waited for.
    const observed = (ms: number, signal: AbortSignal) => {
      if (delays.length === 1) mid = s.status(id);
      return sleep(ms, signal);
    };
    const s = submitter(faulty, { sleep: observed, retry: { baseDelayMs: 100, maxDelayMs: 1000 }, random: () => 0.999, logger: log, now: () => Date.parse('2026-05-01T00:00:00Z') });
    id = (await journal.accept(await anchor(1))).id;
    await s.idle();
    expect(mid).to.deep.equal({
      id,
      kind: 'anchorRecord',
      state: 'submitting',
      acceptedAt: journal.get(id)?.acceptedAt,
      attempts: 2,
      lastError: { code: 'LEDGER_UNAVAILABLE', message: 'injected: no peer answered', at: '2026-05-01T00:00:00.000Z' },
      nextAttemptAt: '2026-05-01T00:00:00.200Z',
    });
    expect(s.status(id)?.state).to.equal('committed');
    // ceiling 100·2^(n−1) capped at 1000; equal jitter keeps each delay in [ceiling/2, ceiling].
    expect(delays).to.deep.equal([100, 200, 400, 800, 1000]);
    expect(s.counts()).to.include({ attempts: 6, retries: 5, transientFailures: 5, committed: 1 });
    expect(faulty.reachedChaincode).to.equal(1);
    expect(indexWrites(ledger, docHash(1))).to.equal(1);
    expect(log.lines.filter((l) => l.level === 'warn')).to.have.length(5);
    expect(log.lines[0].fields).to.include({ id, code: 'LEDGER_UNAVAILABLE', attempts: 1 });
  });

  it('backoff: each delay lies in [ceiling/2, ceiling], the ceiling doubling up to the cap', () => {
    const rng = seeded(7);
    for (let attempt = 1; attempt <= 12; attempt++) {
      const ceiling = Math.min(30_000, 200 * 2 ** (attempt - 1));
      for (let i = 0; i < 50; i++) {
        const d = backoffDelay(attempt, { baseDelayMs: 200, maxDelayMs: 30_000 }, rng);
        expect(d).to.be.within(Math.floor(ceiling / 2), ceiling);
      }
    }
  });

  describe('a transaction that committed but whose reply was lost is re-sent, and the chaincode answers with what it already did', () => {
    it('anchorRecord and anchorRecords (batch)', async () => {
      const faulty = new FaultyLedger(new ChaincodeLedger(ledger, HOSPITAL)).plan('after');
      const s = submitter(faulty);
      const one = await journal.accept(await anchor(1));
      await s.idle();
      faulty.plan('after');
      const batch = await journal.accept(
        await prepareAnchorBatch(
          [2, 3, 4].map((i) => ({ recordId: `rec-${i}`, docHash: docHash(i), patientId: `p-${i}`, category: CATEGORY })),
          patientRefs,
        ),
      );
      await s.idle();
      const first = s.status(one.id);
      const second = s.status(batch.id);
      if (first?.state !== 'committed' || second?.state !== 'committed') throw new Error(`not committed: ${first?.state}, ${second?.state}`);
      expect(first.result).to.deep.include({ created: false });
      expect(second.result).to.deep.include({ anchored: 0, existing: 3 });
      for (const i of [1, 2, 3, 4]) {
        expect(indexWrites(ledger, docHash(i)), `document ${i}`).to.equal(1);
        expect(versionsWithHash(ledger, docHash(i))).to.equal(1);
      }
      expect(faulty.reachedChaincode).to.equal(4); // each ran twice on the chaincode, wrote once
    });

    it('amendRecord and retractRecord', async () => {
      const faulty = new FaultyLedger(new ChaincodeLedger(ledger, HOSPITAL));
      const s = submitter(faulty);
      await journal.accept(await anchor(1));
      await s.idle();
      faulty.plan('after');
      const amend = await journal.accept(prepareAmendRecord(HOSPITAL, 'rec-1', { docHash: docHash('1-v2') }));
      await s.idle();
      faulty.plan('after');
      const retract = await journal.accept(prepareRetractRecord(HOSPITAL, 'rec-1', 'entered-in-error'));
      await s.idle();
      const amended = s.status(amend.id);
      const retracted = s.status(retract.id);
      if (amended?.state !== 'committed' || retracted?.state !== 'committed') throw new Error('not committed');
      expect(amended.result).to.deep.include({ created: false });
      expect((amended.result as { anchor: { version: number } }).anchor.version).to.equal(2);
      expect(retracted.result).to.deep.include({ created: false });
      expect(indexWrites(ledger, docHash('1-v2'))).to.equal(1);
      expect(faulty.submits.map((c) => `${c.name}${c.fault ? ` (${c.fault})` : ''}`)).to.deep.equal([
        'Records:anchorRecord',
        'Records:amendRecord (after)',
        'Records:amendRecord',
        'Records:retractRecord (after)',
        'Records:retractRecord',
      ]);
      const history = JSON.parse(Buffer.from(await new ChaincodeLedger(ledger, HOSPITAL).evaluate('Records:recordHistory', HOSPITAL, 'rec-1')).toString()) as { version: number; status: string }[];
      expect(history.map((v) => `${v.version}:${v.status}`)).to.deep.equal(['1:superseded', '2:retracted']);
    });
  });

  it("non-transient refusals end rejected with the chaincode's code after one attempt; one that names state as missing only once it persists (a peer may be a block behind)", async () => {
    await (async () => {
      const own = submitter(new FaultyLedger(new ChaincodeLedger(ledger, HOSPITAL)));
      await journal.accept(await anchor(1));
      await own.idle();
      await own.stop();
    })();
    const cases: [string, FaultyLedger, LedgerRequest, string][] = [
      ['another hospital anchors the same document', new FaultyLedger(new ChaincodeLedger(ledger, HOSPITAL2)), await anchor(1, 'theirs-1'), 'DOC_HASH_CLAIMED'],
      ['an insurer anchors', new FaultyLedger(new ChaincodeLedger(ledger, INSURER)), await anchor(2), 'FORBIDDEN_ORG_TYPE'],
      ['another hospital amends our record', new FaultyLedger(new ChaincodeLedger(ledger, HOSPITAL2)), prepareAmendRecord(HOSPITAL, 'rec-1', { docHash: docHash('x') }), 'FORBIDDEN_NOT_ISSUER'],
      ['an amendment of a record that does not exist', new FaultyLedger(new ChaincodeLedger(ledger, HOSPITAL)), prepareAmendRecord(HOSPITAL, 'nope', { docHash: docHash('y') }), 'RECORD_NOT_FOUND'],
    ];
    for (const [what, faulty, request, code] of cases) {
      const s = submitter(faulty);
      const { id } = await journal.accept(request);
      await s.idle();
      const status = s.status(id);
      const attempts = code === 'RECORD_NOT_FOUND' ? LAG_CONFIRMATIONS : 1;
      expect(status, what).to.include({ state: 'rejected', code });
      expect(faulty.submits, what).to.have.length(attempts);
      expect(s.counts(), what).to.include({ attempts, retries: attempts - 1, rejected: 1 });
      expect(journal.get(id)?.outcome, what).to.include({ status: 'rejected', code });
      await s.stop();
    }
  });

  it('an amendment refused RECORD_NOT_FOUND by a peer a block behind its committed anchor is asked again, and commits', async () => {
    const real = new ChaincodeLedger(ledger, HOSPITAL);
    let lagging = 2;
    const behind = delegatingLedger(real, {
      submit: async (name, ...args) => {
        if (name === 'Records:amendRecord' && lagging-- > 0) throw new LedgerError('RECORD_NOT_FOUND', 'record rec-1 of HospitalMSP is not anchored.', undefined);
        return real.submit(name, ...args);
      },
    });
    const s = submitter(behind);
    const anchored = await journal.accept(await anchor(1));
    const amended = await journal.accept(prepareAmendRecord(HOSPITAL, 'rec-1', { docHash: docHash('v2') }));
    await s.idle();
    expect(s.status(anchored.id)).to.include({ state: 'committed' });
    expect(s.status(amended.id)).to.include({ state: 'committed' });
    expect(s.counts()).to.include({ rejected: 0 });
  });

  it('keeps retrying failures it cannot classify (never rejects on a guess), logs them as errors and counts them as stuck', async () => {
    const faulty = new FaultyLedger(new ChaincodeLedger(ledger, HOSPITAL)).plan('unknown', 4);
    const log = recorder();
    const { sleep, delays } = recordingSleep();
    let stuck = 0;
    let mid: unknown;
    const observed = (ms: number, signal: AbortSignal) => {
      if (delays.length === 2) {
        stuck = s.counts().stuck; // three attempts have failed
        mid = s.status(id)?.state;
      }
      return sleep(ms, signal);
    };
    const s = submitter(faulty, { stuckAfterAttempts: 3, logger: log, sleep: observed });
    const { id } = await journal.accept(await anchor(1));
    await s.idle();
    expect(stuck).to.equal(1);
    expect(mid).to.equal('submitting');
    expect(s.status(id)?.state).to.equal('committed');
    expect(s.counts()).to.include({ unknownFailures: 4, stuck: 0, committed: 1 });
    expect(log.lines.filter((l) => l.level === 'error')).to.have.length(4);
    expect(classifyFailure(new LedgerError('ENDORSEMENT_POLICY_FAILURE', 'x'))).to.equal('unknown');
    expect(classifyFailure(new LedgerError('CONSORTIUM_NOT_CONFIGURED', 'x'))).to.equal('unknown');
    expect(classifyFailure(new LedgerError('MVCC_CONFLICT', 'x'))).to.equal('transient');
    expect(classifyFailure(new LedgerError('DOC_HASH_CLAIMED', 'x'))).to.equal('final');
    expect(classifyFailure(new Error('socket hang up'))).to.equal('unknown');
  });

  it('submits changes to one record in acceptance order, even with failures and many in flight', async () => {
    const faulty = new FaultyLedger(new ChaincodeLedger(ledger, HOSPITAL), { before: 0.3, after: 0.3, rng: seeded(42) });
    const s = new Submitter({ journal, ledger: faulty, sleep: recordingSleep().sleep, random: seeded(3), concurrency: 16 });
    running.push(s);
    // Accepted before the submitter starts, so that all of them are ready at once.
    const ids: string[] = [];
    for (let r = 0; r < 10; r++) {
      ids.push((await journal.accept(await anchor(`r${r}`, `rec-${r}`))).id);
      for (let v = 2; v <= 4; v++) ids.push((await journal.accept(prepareAmendRecord(HOSPITAL, `rec-${r}`, { docHash: docHash(`r${r}-v${v}`) }))).id);
      ids.push((await journal.accept(prepareRetractRecord(HOSPITAL, `rec-${r}`, 'duplicate'))).id);
    }
    s.start();
    expect(s.status(ids[1])).to.deep.include({ state: 'accepted', waitingFor: ids[0] });
    await s.idle();
    expect(ids.map((id) => s.status(id)?.state)).to.deep.equal(ids.map(() => 'committed'));
    const reader = new ChaincodeLedger(ledger, HOSPITAL);
    for (let r = 0; r < 10; r++) {
      const history = JSON.parse(Buffer.from(await reader.evaluate('Records:recordHistory', HOSPITAL, `rec-${r}`)).toString()) as { version: number; status: string; docHash: string }[];
      expect(history.map((v) => `${v.version}:${v.status}`)).to.deep.equal(['1:superseded', '2:superseded', '3:superseded', '4:retracted']);
      expect(history.map((v) => v.docHash)).to.deep.equal([docHash(`r${r}`), docHash(`r${r}-v2`), docHash(`r${r}-v3`), docHash(`r${r}-v4`)]);
    }
    expect(faulty.maxInFlight).to.be.greaterThan(1); // different records did go in parallel
  });

  it('never has more ledger calls in flight than its concurrency', async () => {
    const faulty = new FaultyLedger(new ChaincodeLedger(ledger, HOSPITAL), { before: 0.2, rng: seeded(5) });
    // One request per transaction (coalescing would put all 60 in one), so that 60 ready requests could fill any number of slots.
    const s = new Submitter({ journal, ledger: faulty, concurrency: 3, maxBatch: 1, sleep: recordingSleep().sleep, random: seeded(1) });
    running.push(s);
    // All accepted first, so that 60 are ready at once and only the bound holds them back.
    await Promise.all(Array.from({ length: 60 }, async (_, i) => journal.accept(await anchor(i))));
    s.start();
    await s.idle();
    expect(faulty.maxInFlight).to.equal(3);
    expect(s.counts().committed).to.equal(60);
  });

  it('after a clean stop, the next submitter resumes whatever was left, from the journal', async () => {
    const gate = { open: false };
    const slow = new FaultyLedger(new ChaincodeLedger(ledger, HOSPITAL));
    const blocked = delegatingLedger(slow, { submit: async (name, ...args) => (await until(() => gate.open), slow.submit(name, ...args)) });
    // One request per transaction here, so that exactly the two in flight commit before the stop.
    const first = new Submitter({ journal, ledger: blocked, concurrency: 2, maxBatch: 1 });
    first.start();
    const ids = await Promise.all(Array.from({ length: 10 }, async (_, i) => (await journal.accept(await anchor(i))).id));
    await until(() => first.counts().inFlight === 2);
    const stopped = first.stop();
    gate.open = true;
    await stopped;
    expect(first.counts()).to.include({ committed: 2, inFlight: 0 });
    expect(journal.unfinished()).to.have.length(8);
    await journal.close();

    journal = await AcceptanceJournal.open({ dir });
    expect(journal.openReport.unfinished).to.equal(8);
    const second = submitter(new FaultyLedger(new ChaincodeLedger(ledger, HOSPITAL)));
    await second.idle();
    expect(ids.map((id) => second.status(id)?.state)).to.deep.equal(ids.map(() => 'committed'));
    for (let i = 0; i < 10; i++) expect(indexWrites(ledger, docHash(i))).to.equal(1);
  });

  describe('single anchors ready together go to the ledger as one Records:anchorEach transaction', () => {
    it('each journal entry gets its own outcome: committed with its own anchor, txId and block, or rejected with its own code', async () => {
      await new ChaincodeLedger(ledger, HOSPITAL2).submit('Records:anchorRecord', (await anchor(7, 'theirs-7')).args[0]!);
      const faulty = new FaultyLedger(new ChaincodeLedger(ledger, HOSPITAL));
      const s = submitter(faulty, {}, false);
      const ids: string[] = [];
      for (let i = 0; i < 40; i++) ids.push((await journal.accept(await anchor(i))).id);
      s.start();
      await s.idle();
      expect(faulty.submits.every((c) => c.name === ANCHOR_EACH)).to.equal(true);
      expect(faulty.submits.length).to.equal(1);
      ids.forEach((id, i) => {
        const status = s.status(id);
        if (i === 7) {
          expect(status).to.include({ state: 'rejected', code: 'DOC_HASH_CLAIMED' });
          expect(journal.get(id)?.outcome).to.include({ status: 'rejected', code: 'DOC_HASH_CLAIMED' });
          return;
        }
        if (status?.state !== 'committed') throw new Error(`entry ${i}: ${status?.state}`);
        const { anchor: a, created } = status.result as { anchor: RecordAnchor; created: boolean };
        expect(created).to.equal(true);
        expect(a).to.include({ recordId: `rec-${i}`, docHash: docHash(i), txId: status.transactionId });
        expect(status.blockNumber).to.match(/^\d+$/);
      });
      expect(s.counts()).to.include({ committed: 39, rejected: 1, attempts: 40, retries: 0 });
      expect(s.counts().ledger).to.include({ coalescedTransactions: faulty.submits.length, coalescedRequests: 40 });
    });

    it('a batch whose answer was lost is retried; its records come back `existing`, committed, each anchored once', async () => {
      const faulty = new FaultyLedger(new ChaincodeLedger(ledger, HOSPITAL)).plan('after');
      const log = recorder();
      const s = submitter(faulty, { concurrency: 1, logger: log }, false);
      const ids: string[] = [];
      for (let i = 0; i < 25; i++) ids.push((await journal.accept(await anchor(i))).id);
      s.start();
      await s.idle();
      expect(faulty.submits.map((c) => `${c.name}${c.fault ? ` (${c.fault})` : ''}`)).to.deep.equal([`${ANCHOR_EACH} (after)`, ANCHOR_EACH]);
      for (const [i, id] of ids.entries()) {
        const status = s.status(id);
        if (status?.state !== 'committed') throw new Error(`entry ${i}: ${status?.state}`);
        expect(status.result).to.deep.include({ created: false });
        expect(indexWrites(ledger, docHash(i))).to.equal(1);
      }
      expect(s.counts()).to.include({ committed: 25, retries: 25, transientFailures: 25 });
      // One line for the batch from the writer, one from the submitter, not one per request.
      const warnings = log.lines.filter((l) => l.level === 'warn');
      expect(warnings).to.have.length(2);
      expect(warnings[1]!.fields).to.include({ code: 'LEDGER_TIMEOUT', message: 'injected: committed, but the reply was lost' });
    });

    it('an anchor and a later amendment of the same record never share a transaction, and go in acceptance order', async () => {
      const faulty = new FaultyLedger(new ChaincodeLedger(ledger, HOSPITAL));
      const s = submitter(faulty, {}, false);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await journal.accept(await anchor(i))).id);
      ids.push((await journal.accept(prepareAmendRecord(HOSPITAL, 'rec-2', { docHash: docHash('2-v2') }))).id);
      ids.push((await journal.accept(await anchor('again', 'rec-2-copy', docHash('2-v2')))).id); // the amendment's document again
      s.start();
      await s.idle();
      expect(faulty.submits.map((c) => c.name)).to.deep.equal([ANCHOR_EACH, 'Records:amendRecord', 'Records:anchorRecord']);
      expect(ids.map((id) => s.status(id)?.state)).to.deep.equal([...Array(6).fill('committed'), 'committed']);
      // The same document, after the amendment anchored it: the chaincode answers with that version.
      const last = s.status(ids[6]!);
      if (last?.state !== 'committed') throw new Error('not committed');
      expect(last.result).to.deep.include({ created: false });
      expect((last.result as { anchor: RecordAnchor }).anchor).to.include({ recordId: 'rec-2', version: 2 });
    });

    it('maxRecordsInFlight bounds journalled requests by their records: a batch larger than the budget goes alone, anchors wait for room', async () => {
      const g = gated(new ChaincodeLedger(ledger, HOSPITAL));
      const s = submitter(g.ledger, { concurrency: 8, maxRecordsInFlight: 100 }, false);
      const batch = Array.from({ length: 150 }, (_, i) => ({ recordId: `b-${i}`, docHash: docHash(`b-${i}`), patientId: `p-${i}`, category: CATEGORY }));
      await journal.accept(await prepareAnchorBatch(batch, patientRefs));
      for (let i = 0; i < 300; i++) await journal.accept(await anchor(i));
      s.start();
      await until(() => g.calls.length > 0);
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      expect(g.calls.map((c) => c.name)).to.deep.equal(['Records:anchorRecords']);
      g.release();
      await until(() => g.calls.length > 1);
      await s.idle();
      expect(s.counts()).to.include({ committed: 301 });
      // After the batch, never more than 100 anchors in flight at once.
      expect(Math.max(...g.calls.slice(1).map((c) => recordsOf(c).length))).to.be.at.most(100);
    });
  });
});
