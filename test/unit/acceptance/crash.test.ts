import { expect } from 'chai';
import { promises as fs, rmSync } from 'node:fs';
import * as path from 'node:path';
import {
  AcceptanceJournal,
  JOURNAL_FILE,
  Submitter,
  orderingKeysOf,
  prepareAmendRecord,
  prepareAnchorBatch,
  prepareAnchorRecord,
  type AcceptedEntry,
  type LedgerRequest,
} from '../../../gateway/src/acceptance';
import { HOSPITAL } from '../chaincode/fixtures';
import { ChaincodeLedger } from '../support/chaincode-ledger';
import { CrashableDisk, FaultyLedger, anchoredHashes, consortium, docHash, indexWrites, patientRefs, recordingSleep, seeded, tempDir, until, versionsWithHash } from './support';

const CATEGORY = 'loinc:18842-5';
const anchor = (key: string): Promise<LedgerRequest> => prepareAnchorRecord({ recordId: `rec-${key}`, docHash: docHash(key), patientId: `patient-${key}`, category: CATEGORY }, patientRefs);
const hashesOf = (entry: Pick<AcceptedEntry, 'kind' | 'transaction' | 'args'>): string[] =>
  orderingKeysOf(entry).filter((k) => k.startsWith('hash:')).map((k) => k.slice(5));
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * "Nothing accepted is ever lost": a gateway process dies in the middle of a stream of
 * requests (its disk and its ledger connection stop at one instant, while a journal write is
 * half done), and a new process picks up from the file alone.
 */
describe('acceptance: crash and restart (real chaincode on the in-memory stub)', function () {
  this.timeout(120_000);
  let dir: string;
  let disk: CrashableDisk;
  beforeEach(() => {
    dir = tempDir();
    disk = new CrashableDisk();
  });
  afterEach(async () => {
    await disk.cleanUp();
    rmSync(dir, { recursive: true, force: true });
  });

  /** What the dead process leaves: its lock file names a process that is gone. */
  const lockOfDeadProcess = () => fs.rm(path.join(dir, `${JOURNAL_FILE}.lock`), { force: true });

  it('500 concurrent accepts with transient failures and lost replies, a crash mid-stream during a write: every acknowledged request ends committed exactly once', async () => {
    const ledger = await consortium();
    const journal = await AcceptanceJournal.open({ dir, openFile: disk.open });
    const before = new FaultyLedger(new ChaincodeLedger(ledger, HOSPITAL), { before: 0.15, after: 0.15, rng: seeded(11) });
    const first = new Submitter({ journal, ledger: before, concurrency: 8, sleep: recordingSleep().sleep, random: seeded(2) });
    first.start();

    // 500 accepts from concurrent clients: 400 anchors, 50 of them followed by an amendment
    // of the same record, and 50 batches of two records. Spread over ~300 ms, so that the submitter is well under way when the crash comes.
    const acked = new Map<string, string>();
    let crashed = false;
    const rng = seeded(99);
    const crashAfter = 200;
    const ack = (id: string, what: string) => {
      acked.set(id, what);
      if (acked.size >= crashAfter && !crashed) {
        crashed = true;
        // The process dies: the next journal write lands only half, the ledger connection is gone.
        disk.crashDuringAppend(1, (length) => Math.floor(length / 2));
        before.freeze();
      }
    };
    const clients: Promise<void>[] = [];
    for (let i = 0; i < 400; i++) {
      clients.push(
        (async () => {
          await pause(rng() * 300);
          const a = await journal.accept(await anchor(`a${i}`), { user: 'officer', idempotencyKey: `anchor-${i}` });
          ack(a.id, `anchor a${i}`);
          if (i % 8 === 0) {
            const b = await journal.accept(prepareAmendRecord(HOSPITAL, `rec-a${i}`, { docHash: docHash(`a${i}-v2`) }));
            ack(b.id, `amend a${i}`);
          }
        })(),
      );
    }
    for (let i = 0; i < 50; i++) {
      clients.push(
        (async () => {
          await pause(rng() * 300);
          const records = [0, 1].map((j) => ({ recordId: `rec-b${i}-${j}`, docHash: docHash(`b${i}-${j}`), patientId: `p-b${i}-${j}`, category: CATEGORY }));
          const c = await journal.accept(await prepareAnchorBatch(records, patientRefs));
          ack(c.id, `batch b${i}`);
        })(),
      );
    }
    void clients; // the clients still waiting when the process "died" never hear back, as in a real crash
    await until(() => disk.crashed, 10_000_000);
    const acknowledged = new Map(acked);
    const committedBeforeCrash = first.counts().committed;
    const onLedgerAtCrash = anchoredHashes(ledger);

    // A new process: reopen the journal from the file alone and start a new submitter.
    await lockOfDeadProcess();
    const reopened = await AcceptanceJournal.open({ dir });
    const after = new FaultyLedger(new ChaincodeLedger(ledger, HOSPITAL), { before: 0.1, after: 0.1, rng: seeded(12) });
    const second = new Submitter({ journal: reopened, ledger: after, concurrency: 8, sleep: recordingSleep().sleep, random: seeded(3) });
    // Requests whose transaction had committed when the process died, but whose outcome had not been recorded.
    const committedUnrecorded = reopened.unfinished().filter((e) => e.kind === 'anchorRecord' && hashesOf(e).every((h) => onLedgerAtCrash.has(h)));
    second.start();
    await second.idle();
    for (const entry of committedUnrecorded) {
      const status = second.status(entry.id);
      expect(status?.state === 'committed' && (status.result as { created: boolean }).created, 're-sent after the crash, the chaincode answers with the existing anchor').to.equal(false);
    }

    // Every acknowledged request is known, and committed.
    for (const [id, what] of acknowledged) {
      expect(reopened.get(id), `${what} (${id}) was acknowledged but is lost`).to.not.equal(undefined);
      expect(second.status(id)?.state, what).to.equal('committed');
    }
    // Everything the journal knows is committed, and the ledger holds exactly the journal's
    // documents, each written once: nothing reached the ledger before it was durable, nothing twice.
    const entries = reopened.list();
    expect(entries.every((e) => e.outcome?.status === 'committed')).to.equal(true);
    const journalHashes = new Set(entries.flatMap(hashesOf));
    const ledgerHashes = anchoredHashes(ledger);
    expect([...ledgerHashes].sort()).to.deep.equal([...journalHashes].sort());
    for (const h of journalHashes) {
      expect(indexWrites(ledger, h), `document ${h} written more than once`).to.equal(1);
      expect(versionsWithHash(ledger, h)).to.equal(1);
    }
    const stats = reopened.stats();
    const lostReplies = before.submits.filter((s) => s.fault === 'after').length + after.submits.filter((s) => s.fault === 'after').length;
    console.log(
      `      crash after ${acknowledged.size} acknowledged accepts (of 500 sent); ${committedBeforeCrash} had committed before the crash;\n` +
        `      reopen cut ${reopened.openReport.truncatedBytes} torn bytes and resumed ${reopened.openReport.unfinished} requests, ${committedUnrecorded.length} of them anchors already on the ledger;\n` +
        `      ${stats.entries} requests in the journal (${stats.entries - acknowledged.size} durable but never acknowledged), all committed;\n` +
        `      ledger calls: ${before.submits.length + after.submits.length}, of which ${lostReplies} lost replies re-sent; ${ledgerHashes.size} documents anchored, each once`,
    );
    expect(reopened.openReport.truncatedBytes).to.be.greaterThan(0);
    expect(lostReplies).to.be.greaterThan(0);
    await second.stop();
    await reopened.close();
  });

  describe('a torn last record', () => {
    it('is cut on reopen; its requests had not been acknowledged, and every acknowledged one is still there', async () => {
      const ledger = await consortium();
      const journal = await AcceptanceJournal.open({ dir, openFile: disk.open });
      const acked: string[] = [];
      for (let i = 0; i < 5; i++) acked.push((await journal.accept(await anchor(`t${i}`))).id);
      const sizeBefore = (await fs.stat(path.join(dir, JOURNAL_FILE))).size;
      disk.crashDuringAppend(1, (length) => length - 10);
      const requests = await Promise.all([anchor('t5'), anchor('t6')]);
      let returned = 0;
      for (const r of requests) void journal.accept(r).then(() => (returned += 1));
      await until(() => disk.crashed, 10_000_000);
      await pause(20);
      expect(returned, 'accept must not return before its record is durable').to.equal(0);
      expect((await fs.stat(path.join(dir, JOURNAL_FILE))).size).to.be.greaterThan(sizeBefore);

      await lockOfDeadProcess();
      const reopened = await AcceptanceJournal.open({ dir });
      expect(reopened.openReport.truncatedBytes).to.be.greaterThan(0);
      expect((await fs.stat(path.join(dir, JOURNAL_FILE))).size).to.equal(sizeBefore);
      expect(reopened.unfinished().map((e) => e.id)).to.deep.equal(acked);
      const s = new Submitter({ journal: reopened, ledger: new ChaincodeLedger(ledger, HOSPITAL), sleep: recordingSleep().sleep });
      s.start();
      await s.idle();
      for (const id of acked) expect(s.status(id)?.state).to.equal('committed');
      expect(anchoredHashes(ledger)).to.deep.equal(new Set([0, 1, 2, 3, 4].map((i) => docHash(`t${i}`))));
      await s.stop();
      await reopened.close();
    });

    it('a record written whole but not yet fsynced survives if the disk kept it; the client retry with its Idempotency-Key finds it, and it is applied once', async () => {
      const ledger = await consortium();
      const journal = await AcceptanceJournal.open({ dir, openFile: disk.open });
      disk.crashDuringAppend(1, (length) => length); // every byte written, then death before fsync returns
      const request = await anchor('w');
      void journal.accept(request, { user: 'officer', idempotencyKey: 'client-retry-1' });
      await until(() => disk.crashed, 10_000_000);

      await lockOfDeadProcess();
      const reopened = await AcceptanceJournal.open({ dir });
      expect(reopened.openReport).to.include({ truncatedBytes: 0, unfinished: 1 });
      // The client never got its 202 and sends the same request again with the same key.
      const retry = await reopened.accept(await anchor('w'), { user: 'officer', idempotencyKey: 'client-retry-1' });
      expect(retry.created).to.equal(false);
      expect(reopened.stats().entries).to.equal(1);
      const s = new Submitter({ journal: reopened, ledger: new ChaincodeLedger(ledger, HOSPITAL), sleep: recordingSleep().sleep });
      s.start();
      await s.idle();
      expect(s.status(retry.id)?.state).to.equal('committed');
      expect(indexWrites(ledger, docHash('w'))).to.equal(1);
      await s.stop();
      await reopened.close();
    });
  });
});
