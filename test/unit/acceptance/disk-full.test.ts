import { expect } from 'chai';
import { promises as fs, rmSync } from 'node:fs';
import * as path from 'node:path';
import { AcceptanceJournal, JOURNAL_FILE, Submitter, isAcceptanceError } from '../../../gateway/src/acceptance';
import { HOSPITAL } from '../chaincode/fixtures';
import { ChaincodeLedger } from '../support/chaincode-ledger';
import { CrashableDisk, anchor, anchoredHashes, consortium, docHash, gated, tempDir, until, versionsWithHash } from './support';

async function refusedWith(promise: Promise<unknown>, code: string): Promise<Error & { status?: number; code?: string }> {
  try {
    await promise;
  } catch (err) {
    expect(isAcceptanceError(err), String(err)).to.equal(true);
    expect((err as { code: string }).code).to.equal(code);
    return err as Error;
  }
  throw new Error(`expected ${code}, but it succeeded`);
}

/**
 * Issue 15, resource limits: a full disk under the journal (ENOSPC from write(2), after part of
 * a frame got in) refuses the requests of that write with 503 STORAGE_FULL and a sentence, cuts
 * the partial frame off, and leaves the journal working: requests are accepted again as soon as
 * there is space, without a reopen, and the file reopens with exactly the acknowledged requests.
 */
describe('acceptance journal: a full disk (ENOSPC)', function () {
  this.timeout(60_000);
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
  const file = () => path.join(dir, JOURNAL_FILE);

  it('refuses with 503 STORAGE_FULL, cuts the partly written frame, and accepts again once there is space', async () => {
    const journal = await AcceptanceJournal.open({ dir, openFile: disk.open });
    const kept = await journal.accept(await anchor(1));
    const sizeBefore = (await fs.stat(file())).size;

    disk.full = { keep: (length) => Math.floor(length / 2) };
    const err = await refusedWith(journal.accept(await anchor(2)), 'STORAGE_FULL');
    expect(err.status).to.equal(503);
    expect(err.message).to.match(/disk is full.*not accepted.*\.$/);
    // concurrent accepts that share one frame are all refused; none is known afterwards
    const many = await Promise.allSettled([3, 4, 5].map(async (i) => journal.accept(await anchor(i))));
    expect(many.map((r) => r.status)).to.deep.equal(['rejected', 'rejected', 'rejected']);
    expect(many.every((r) => r.status === 'rejected' && isAcceptanceError(r.reason, 'STORAGE_FULL'))).to.equal(true);
    expect((await fs.stat(file())).size, 'the partial frames were cut off').to.equal(sizeBefore);
    expect(disk.truncations.every((n) => n === sizeBefore)).to.equal(true);
    expect(journal.stats().failed, 'the journal is not poisoned').to.equal(false);
    expect(journal.list().map((e) => e.id)).to.deep.equal([kept.id]);
    // an outcome is refused the same way, and stays unrecorded
    await refusedWith(journal.recordOutcome(kept.id, { status: 'rejected', code: 'X', message: 'x' }), 'STORAGE_FULL');
    expect(journal.get(kept.id)?.outcome).to.equal(undefined);

    disk.full = undefined; // space freed
    const after = await journal.accept(await anchor(6));
    await journal.recordOutcome(kept.id, { status: 'rejected', code: 'X', message: 'x' });
    expect(journal.list().map((e) => e.id)).to.deep.equal([kept.id, after.id]);
    await journal.close();

    const reopened = await AcceptanceJournal.open({ dir });
    expect(reopened.openReport.truncatedBytes, 'nothing torn was left in the file').to.equal(0);
    expect(reopened.list().map((e) => e.id)).to.deep.equal([kept.id, after.id]);
    expect(reopened.get(kept.id)?.outcome?.status).to.equal('rejected');
    await reopened.close();
  });

  it('a frame refused whole (nothing of it written) is refused the same way', async () => {
    const journal = await AcceptanceJournal.open({ dir, openFile: disk.open });
    disk.full = { keep: () => 0 };
    await refusedWith(journal.accept(await anchor(1)), 'STORAGE_FULL');
    disk.full = undefined;
    const ok = await journal.accept(await anchor(2));
    await journal.close();
    const reopened = await AcceptanceJournal.open({ dir });
    expect(reopened.list().map((e) => e.id)).to.deep.equal([ok.id]);
    await reopened.close();
  });

  it('other write errors still stop the journal until a reopen (JOURNAL_WRITE_FAILED)', async () => {
    const journal = await AcceptanceJournal.open({ dir, openFile: disk.open });
    disk.failNextSync = Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
    await refusedWith(journal.accept(await anchor(1)), 'JOURNAL_WRITE_FAILED');
    await refusedWith(journal.accept(await anchor(2)), 'JOURNAL_WRITE_FAILED');
    expect(journal.stats().failed).to.equal(true);
    await journal.close();
  });

  it('a request accepted before the disk filled still commits; its outcome is recorded once there is space', async () => {
    const ledger = await consortium();
    const journal = await AcceptanceJournal.open({ dir, openFile: disk.open });
    // the ledger answers only once the disk is full
    const held = gated(new ChaincodeLedger(ledger, HOSPITAL));
    const delays: number[] = [];
    const submitter = new Submitter({
      journal,
      ledger: held.ledger,
      sleep: async (ms) => {
        delays.push(ms);
        await new Promise((r) => setTimeout(r, 5));
      },
    });
    submitter.start();
    const accepted = await journal.accept(await anchor('before-full'));
    disk.full = { keep: (length) => length - 1 };
    held.release();
    // the ledger commits it; recording the outcome meets the full disk and is retried
    await until(() => delays.length >= 3, 10_000_000);
    expect(anchoredHashes(ledger).has(docHash('before-full'))).to.equal(true);
    expect(journal.get(accepted.id)?.outcome).to.equal(undefined);
    expect(submitter.counts().halted, 'the submitter does not halt on a full disk').to.equal(false);
    disk.full = undefined;
    await submitter.idle();
    expect(journal.get(accepted.id)?.outcome?.status).to.equal('committed');
    expect(versionsWithHash(ledger, docHash('before-full')), 'committed exactly once').to.equal(1);
    await submitter.stop();
    await journal.close();
    const reopened = await AcceptanceJournal.open({ dir });
    expect(reopened.get(accepted.id)?.outcome?.status).to.equal('committed');
    await reopened.close();
  });
});
