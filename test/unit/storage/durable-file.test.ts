import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { acquireLock, UNREADABLE_LOCK_GRACE_MS, type FileLock } from '../../../gateway/src/storage/durable-file';

/**
 * The single-writer lock: a lock being written is not stolen, and of two acquirers taking over
 * the same stale lock at once only one gets it.
 */
class Refused extends Error {
  constructor(readonly holder: number | undefined) {
    super(`refused (holder ${holder ?? 'unknown'})`);
  }
}
const refuse = (holder: number | undefined) => new Refused(holder);

async function refusal(attempt: Promise<FileLock>): Promise<Refused> {
  const outcome = await attempt.then(
    (lock) => lock,
    (err: unknown) => err,
  );
  expect(outcome).to.be.instanceOf(Refused);
  return outcome as Refused;
}

describe('durable-file acquireLock', () => {
  let dir: string;
  let lockFile: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-lock-'));
    lockFile = path.join(dir, 'state.lock');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('creates the lock complete, with its pid, and leaves no temporary file beside it', async () => {
    const lock = await acquireLock(lockFile, refuse);
    expect(JSON.parse(await fs.readFile(lockFile, 'utf8'))).to.include({ pid: process.pid });
    expect(await fs.readdir(dir)).to.deep.equal(['state.lock']);
    expect((await refusal(acquireLock(lockFile, refuse))).holder).to.equal(process.pid);
    await lock.release();
    expect(await fs.readdir(dir)).to.deep.equal([]);
  });

  it('an empty or partial lock file younger than the grace period is one being written: refused, left in place', async () => {
    for (const partial of ['', '{"pid":']) {
      await fs.writeFile(lockFile, partial);
      expect((await refusal(acquireLock(lockFile, refuse))).holder).to.equal(undefined);
      expect(await fs.readFile(lockFile, 'utf8')).to.equal(partial);
    }
  });

  it('an empty lock file older than the grace period was left by a writer that died: taken over', async () => {
    await fs.writeFile(lockFile, '');
    const old = new Date(Date.now() - 2 * UNREADABLE_LOCK_GRACE_MS);
    await fs.utimes(lockFile, old, old);
    const lock = await acquireLock(lockFile, refuse);
    expect(JSON.parse(await fs.readFile(lockFile, 'utf8'))).to.include({ pid: process.pid });
    await lock.release();
  });

  it('of two acquirers taking over the same stale lock at once, one gets it and the other is refused', async () => {
    // This process's pid on a lock it does not hold: stale (left by an earlier process with the same pid).
    const stale = JSON.stringify({ pid: process.pid, token: 'left-by-a-crashed-process' });
    await fs.writeFile(lockFile, stale);
    // Both acquirers judge the lock stale before either takes it over; then A goes, then B.
    let judged = 0;
    let bothJudged!: () => void;
    const together = new Promise<void>((resolve) => (bothJudged = resolve));
    let aDone!: () => void;
    const aTookOver = new Promise<void>((resolve) => (aDone = resolve));
    const a = acquireLock(lockFile, refuse, {
      beforeTakeover: async () => {
        if (++judged === 2) bothJudged();
        await together;
      },
    });
    const b = acquireLock(lockFile, refuse, {
      beforeTakeover: async () => {
        if (++judged === 2) bothJudged();
        await together;
        await aTookOver;
      },
    });
    const lockA = await a;
    aDone();
    expect((await refusal(b)).holder).to.equal(process.pid);
    // A's fresh lock is still in place (put back by B), and A lets it go.
    const held = await fs.readFile(lockFile, 'utf8');
    expect(held).to.not.equal(stale);
    expect(JSON.parse(held)).to.include({ pid: process.pid });
    expect(await fs.readdir(dir)).to.deep.equal(['state.lock']);
    await lockA.release();
    expect(await fs.readdir(dir)).to.deep.equal([]);
  });
});
