import { expect } from 'chai';
import type { RecordAnchor } from '../../../chaincode/src/lib/record-model';
import type { LedgerRequest } from '../../../gateway/src/acceptance';
import { ANCHOR_EACH, LedgerWriter, NotSentError, splitAnchorEach, type CallReport, type LedgerAnswer } from '../../../gateway/src/acceptance/coalescer';
import type { Ledger } from '../../../gateway/src/fabric/client';
import { LedgerError } from '../../../gateway/src/fabric/errors';
import { RecordsService } from '../../../gateway/src/records/service';
import type { FakeLedger } from '../chaincode/fake-ledger';
import { HOSPITAL, HOSPITAL2, INSURER } from '../chaincode/fixtures';
import { ChaincodeLedger } from '../support/chaincode-ledger';
import { recorder } from '../support/recording-logger';
import { CATEGORY, FaultyLedger, anchor, consortium, docHash, gated, indexWrites, patientRefs, recordsOf, until, versionsWithHash } from './support';


describe('ledger writer: concurrent single anchors share Records:anchorEach transactions (real chaincode on the in-memory stub)', function () {
  this.timeout(30_000);
  let ledger: FakeLedger;
  const writers: LedgerWriter[] = [];
  const writer = (l: Ledger, options: Partial<ConstructorParameters<typeof LedgerWriter>[0]> = {}): LedgerWriter => {
    const w = new LedgerWriter({ ledger: l, ...options });
    writers.push(w);
    return w;
  };

  beforeEach(async () => {
    ledger = await consortium();
  });
  afterEach(async () => {
    for (const w of writers.splice(0)) await w.stop();
  });

  it('a lone anchor goes at once as Records:anchorRecord; a burst goes together, and each request gets its own anchor', async () => {
    const faulty = new FaultyLedger(new ChaincodeLedger(ledger, HOSPITAL));
    const w = writer(faulty);
    const lone = await w.submit(await anchor('lone'));
    expect(faulty.submits.map((s) => s.name)).to.deep.equal(['Records:anchorRecord']);
    expect(lone.result).to.deep.include({ created: true });

    const requests = await Promise.all(Array.from({ length: 50 }, (_, i) => anchor(i)));
    const answers = await Promise.all(requests.map((r) => w.submit(r)));
    const batches = faulty.submits.slice(1);
    expect(batches.every((s) => s.name === ANCHOR_EACH)).to.equal(true);
    expect(batches.length).to.equal(1); // asked for in the same turn: one transaction
    expect(batches.reduce((n, s) => n + recordsOf(s).length, 0)).to.equal(50);
    answers.forEach((answer, i) => {
      const { anchor: a, created } = answer.result as { anchor: RecordAnchor; created: boolean };
      expect(created).to.equal(true);
      expect(a).to.include({ recordId: `rec-${i}`, docHash: docHash(i), version: 1, issuer: HOSPITAL, status: 'active', category: CATEGORY, txId: answer.transactionId });
      expect(a.patientRef).to.equal((JSON.parse(requests[i]!.args[0]!) as { patientRef: string }).patientRef);
      expect(indexWrites(ledger, docHash(i))).to.equal(1);
    });
    // What the writer answers is what the ledger holds.
    const reader = new ChaincodeLedger(ledger, HOSPITAL);
    const stored = JSON.parse(Buffer.from(await reader.evaluate('Records:readRecord', HOSPITAL, 'rec-7', '')).toString()) as RecordAnchor;
    expect(stored).to.deep.equal((answers[7]!.result as { anchor: RecordAnchor }).anchor);
    expect(w.counts()).to.include({ queued: 0, inFlight: 0, transactions: 1 + batches.length, coalescedTransactions: batches.length, coalescedRequests: 50 });
  });

  it('one refused record among good ones fails only itself, with its own code and a sentence about it alone', async () => {
    // Another hospital holds document 3; record id rec-5 is taken with another document.
    await new ChaincodeLedger(ledger, HOSPITAL2).submit('Records:anchorRecord', JSON.stringify(JSON.parse((await anchor(3, 'theirs-3')).args[0]!)));
    await new ChaincodeLedger(ledger, HOSPITAL).submit('Records:anchorRecord', (await anchor('other', 'rec-5')).args[0]!);
    const faulty = new FaultyLedger(new ChaincodeLedger(ledger, HOSPITAL));
    const w = writer(faulty, { concurrency: 1 });
    const requests = await Promise.all(Array.from({ length: 10 }, (_, i) => anchor(i)));
    const settled = await Promise.allSettled(requests.map((r) => w.submit(r)));
    expect(faulty.submits.map((s) => s.name)).to.deep.equal([ANCHOR_EACH]);
    settled.forEach((s, i) => {
      if (i === 3 || i === 5) {
        expect(s.status, `record ${i}`).to.equal('rejected');
        const err = (s as PromiseRejectedResult).reason as LedgerError;
        expect(err).to.be.instanceOf(LedgerError);
        expect(err.code).to.equal(i === 3 ? 'DOC_HASH_CLAIMED' : 'RECORD_EXISTS');
        expect(err.message).to.match(new RegExp(`^record \\(recordId rec-${i}\\)`));
        expect(err.message).to.not.include('records[');
      } else {
        expect(s.status, `record ${i}`).to.equal('fulfilled');
        expect(((s as PromiseFulfilledResult<LedgerAnswer>).value.result as { created: boolean }).created).to.equal(true);
      }
    });
    expect(versionsWithHash(ledger, docHash(3))).to.equal(1); // still only the other hospital's
  });

  it('a batch refused as a whole for a reason that is not transient is re-sent one record per transaction, each answering for itself', async () => {
    const log = recorder();
    const faulty = new FaultyLedger(new ChaincodeLedger(ledger, INSURER)); // insurers may not anchor
    const w = writer(faulty, { concurrency: 1, logger: log });
    const settled = await Promise.allSettled((await Promise.all([1, 2, 3, 4].map((i) => anchor(i)))).map((r) => w.submit(r)));
    expect(settled.map((s) => s.status)).to.deep.equal(['rejected', 'rejected', 'rejected', 'rejected']);
    expect(settled.map((s) => ((s as PromiseRejectedResult).reason as LedgerError).code)).to.deep.equal(Array(4).fill('FORBIDDEN_ORG_TYPE'));
    expect(faulty.submits.map((s) => s.name)).to.deep.equal([ANCHOR_EACH, ...Array(4).fill('Records:anchorRecord')]);
    expect(w.counts()).to.include({ soloFallbacks: 1 });
    const warning = log.lines.find((l) => l.level === 'warn');
    expect(warning?.fields).to.include({ code: 'FORBIDDEN_ORG_TYPE', requests: 4 });
    expect(String(warning?.fields?.message)).to.include('hospital');
  });

  describe('never puts two requests on the same record id or document in one transaction, nor in two at once', () => {
    const repeats = async (): Promise<LedgerRequest[]> => [
      await anchor('a', 'same-id'),
      await anchor('b', 'same-id'), // same record id, another document
      await anchor('c', 'c-1'),
      await anchor('c', 'c-2'), // same document, another record id
      await anchor('d'),
      await anchor('e'),
    ];
    const outcomes = (results: PromiseSettledResult<LedgerAnswer>[]) =>
      results.map((r) => (r.status === 'fulfilled' ? 'ok' : ((r as PromiseRejectedResult).reason as LedgerError).code));

    for (const concurrency of [1, 8]) {
      it(`concurrency ${concurrency}`, async () => {
        const g = gated(new ChaincodeLedger(ledger, HOSPITAL));
        const w = writer(g.ledger, { concurrency });
        const settled = Promise.allSettled((await repeats()).map((r) => w.submit(r)));
        await until(() => g.calls.length > 0);
        for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
        // While the first transaction is held, the repeats wait, even with free slots.
        expect(g.calls.map((c) => recordsOf(c).map((r) => r.recordId))).to.deep.equal([['same-id', 'c-1', 'rec-d', 'rec-e']]);
        g.release();
        const results = await settled;
        for (const call of g.calls) {
          const records = recordsOf(call);
          expect(new Set(records.map((r) => r.recordId)).size, call.name).to.equal(records.length);
          expect(new Set(records.map((r) => r.docHash)).size, call.name).to.equal(records.length);
        }
        // The repeats came after, and the chaincode answered them as it answers repeats.
        expect(outcomes(results)).to.deep.equal(['ok', 'RECORD_EXISTS', 'ok', 'ok', 'ok', 'ok']);
        const c2 = (results[3] as PromiseFulfilledResult<LedgerAnswer>).value.result as { anchor: RecordAnchor; created: boolean };
        expect(c2).to.deep.include({ created: false }); // the document was anchored already, as c-1
        expect(c2.anchor.recordId).to.equal('c-1');
      });
    }
  });

  it('keeps at most `concurrency` transactions and `maxRecordsInFlight` records in flight; a queue larger than a batch fills the next free slots', async () => {
    const g = gated(new ChaincodeLedger(ledger, HOSPITAL));
    const w = writer(g.ledger, { concurrency: 4, maxBatch: 30, maxRecordsInFlight: 50 });
    const requests = await Promise.all(Array.from({ length: 100 }, (_, i) => anchor(i)));
    const done = Promise.all(requests.map((r) => w.submit(r)));
    await until(() => g.calls.length >= 2);
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    // 100 queued: a first batch of 30 (maxBatch), then the 20 the budget of 50 records leaves.
    expect(g.calls.map((c) => recordsOf(c).length)).to.deep.equal([30, 20]);
    expect(w.counts()).to.include({ inFlight: 2, recordsInFlight: 50, queued: 50 });
    g.release();
    await done;
    expect(g.maxInFlight()).to.be.at.most(4);
    expect(Math.max(...g.calls.map((c) => recordsOf(c).length))).to.be.at.most(30);
    for (let i = 0; i < 100; i++) expect(indexWrites(ledger, docHash(i))).to.equal(1);
  });

  it('maxBatch 1 sends every anchor alone', async () => {
    const faulty = new FaultyLedger(new ChaincodeLedger(ledger, HOSPITAL));
    const w = writer(faulty, { maxBatch: 1 });
    await Promise.all((await Promise.all([1, 2, 3].map((i) => anchor(i)))).map((r) => w.submit(r)));
    expect(faulty.submits.map((s) => s.name)).to.deep.equal(Array(3).fill('Records:anchorRecord'));
  });

  it('with transientAttempts, a batch whose answer was lost is re-sent and its committed records come back `existing`: a success', async () => {
    const faulty = new FaultyLedger(new ChaincodeLedger(ledger, HOSPITAL)).plan('after').plan('before');
    const log = recorder();
    const w = writer(faulty, { transientAttempts: 3, retryDelayMs: 1, logger: log, concurrency: 1 });
    const answers = await Promise.all((await Promise.all(Array.from({ length: 12 }, (_, i) => anchor(i)))).map((r) => w.submit(r)));
    expect(faulty.submits.map((s) => `${s.name}${s.fault ? ` (${s.fault})` : ''}`)).to.deep.equal([`${ANCHOR_EACH} (after)`, `${ANCHOR_EACH} (before)`, ANCHOR_EACH]);
    for (const [i, answer] of answers.entries()) {
      const { anchor: a, created } = answer.result as { anchor: RecordAnchor; created: boolean };
      expect(created).to.equal(false);
      expect(a.docHash).to.equal(docHash(i));
      expect(a.txId).to.equal(ledger.committed[1]!.txId); // the transaction whose answer was lost (0 set up the consortium)
      expect(indexWrites(ledger, docHash(i))).to.equal(1);
    }
    // Each failure logged once, for the batch, with its message.
    const warnings = log.lines.filter((l) => l.level === 'warn');
    expect(warnings.map((l) => l.fields?.code)).to.deep.equal(['LEDGER_TIMEOUT', 'LEDGER_UNAVAILABLE']);
    expect(warnings[0]!.fields).to.include({ requests: 12, message: 'injected: committed, but the reply was lost' });
  });

  it('without transientAttempts a transient failure goes to every caller of the batch, the same error; a lone request gets what the ledger threw', async () => {
    const faulty = new FaultyLedger(new ChaincodeLedger(ledger, HOSPITAL)).plan('before', 2);
    const w = writer(faulty, { concurrency: 1 });
    const batch = await Promise.allSettled((await Promise.all([1, 2, 3].map((i) => anchor(i)))).map((r) => w.submit(r)));
    const reasons = batch.map((s) => (s as PromiseRejectedResult).reason as LedgerError);
    expect(reasons.map((r) => r.code)).to.deep.equal(Array(3).fill('LEDGER_UNAVAILABLE'));
    expect(reasons[1]).to.equal(reasons[0]);
    const lone = await w.submit(await anchor(9)).catch((err: unknown) => err);
    expect(lone).to.be.instanceOf(LedgerError);
    expect((lone as LedgerError).message).to.equal('injected: no peer answered');
  });

  it('stop(): what was not sent rejects with NotSentError; the transactions in flight finish', async () => {
    const g = gated(new ChaincodeLedger(ledger, HOSPITAL));
    const w = writer(g.ledger, { concurrency: 1, maxBatch: 2 });
    const all = (await Promise.all([1, 2, 3, 4].map((i) => anchor(i)))).map((r) => w.submit(r).then(() => 'committed', (err: unknown) => (err instanceof NotSentError ? 'not sent' : String(err))));
    await until(() => g.calls.length === 1);
    const stopped = w.stop();
    g.release();
    await stopped;
    expect(await Promise.all(all)).to.deep.equal(['committed', 'committed', 'not sent', 'not sent']);
    expect(await w.submit(await anchor(5)).catch((err: unknown) => err)).to.be.instanceOf(NotSentError);
  });

  it('reports each transaction (requests, records, outcome) to observers, for metrics', async () => {
    const reports: CallReport[] = [];
    const w = writer(new ChaincodeLedger(ledger, HOSPITAL), { concurrency: 1 });
    const off = w.observe((r) => reports.push(r));
    await w.submit(await anchor(0));
    await Promise.all((await Promise.all([1, 2, 3].map((i) => anchor(i)))).map((r) => w.submit(r)));
    await until(() => reports.length === 2); // reported once the transaction's slot is free, just after its answers
    off();
    await w.submit(await anchor(4));
    expect(reports.map(({ transaction, requests, records, outcome }) => ({ transaction, requests, records, outcome }))).to.deep.equal([
      { transaction: 'Records:anchorRecord', requests: 1, records: 1, outcome: 'committed' },
      { transaction: ANCHOR_EACH, requests: 3, records: 3, outcome: 'committed' },
    ]);
  });

  it('splitAnchorEach refuses an answer that does not fit the records sent', () => {
    const sent = [{ recordId: 'a', docHash: docHash('a'), patientRef: docHash('p'), category: CATEGORY }];
    expect(() => splitAnchorEach(sent, { results: [] })).to.throw(LedgerError, /not a list of 1 results/);
    expect(() => splitAnchorEach(sent, 'text')).to.throw(LedgerError);
  });
});

describe('synchronous anchors (RecordsService, no journal): concurrent calls share transactions, each with its own answer or error', function () {
  this.timeout(30_000);

  it('201-style answers with their own anchor and block; one claimed document is a 409 for its caller only', async () => {
    const ledger = await consortium();
    await new ChaincodeLedger(ledger, HOSPITAL2).submit('Records:anchorRecord', JSON.parse(JSON.stringify((await anchor(4, 'theirs')).args[0])) as string);
    const faulty = new FaultyLedger(new ChaincodeLedger(ledger, HOSPITAL));
    const records = new RecordsService(faulty, patientRefs, undefined, undefined, { concurrency: 2 });
    const reports: CallReport[] = [];
    records.observeAnchorCalls((r) => reports.push(r));
    const settled = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) => records.anchorRecord({ recordId: `rec-${i}`, docHash: docHash(i), patientId: `patient-${i}`, category: CATEGORY })),
    );
    settled.forEach((s, i) => {
      if (i === 4) {
        expect(s.status).to.equal('rejected');
        expect((s as PromiseRejectedResult).reason).to.include({ status: 409, code: 'DOC_HASH_CLAIMED' });
        return;
      }
      expect(s.status, `record ${i}`).to.equal('fulfilled');
      const out = (s as PromiseFulfilledResult<{ anchor: RecordAnchor; created: boolean; blockNumber: string }>).value;
      expect(out.created).to.equal(true);
      expect(out.anchor).to.include({ recordId: `rec-${i}`, docHash: docHash(i) });
      expect(out.blockNumber).to.match(/^\d+$/);
    });
    expect(faulty.submits.length).to.be.lessThan(30);
    expect(reports.some((r) => r.transaction === ANCHOR_EACH && r.requests > 1)).to.equal(true);
  });

  it('retries a transient failure of the shared transaction (up to 3 attempts) before answering', async () => {
    const ledger = await consortium();
    const faulty = new FaultyLedger(new ChaincodeLedger(ledger, HOSPITAL)).plan('before').plan('after');
    const records = new RecordsService(faulty, patientRefs, undefined, undefined, { concurrency: 1, retryDelayMs: 1 });
    const outs = await Promise.all([1, 2].map((i) => records.anchorRecord({ recordId: `rec-${i}`, docHash: docHash(i), patientId: `p-${i}`, category: CATEGORY })));
    expect(outs.map((o) => o.created)).to.deep.equal([false, false]); // the lost answer's commit, found again
    expect(faulty.submits).to.have.length(3);
  });
});
