/**
 * The file primitives of the acceptance journal (Node only): an append-only handle behind a
 * tiny interface (so tests can simulate a crash between two bytes), a folder fsync and a
 * single-writer lock.
 *
 * The privacy and anchoring layers have the same lock and folder sync in their own internal
 * modules; once all three settle they belong in one shared module.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { AcceptanceError } from './errors';

/**
 * An open journal file, written only at its end. The journal calls `append` then `sync` for
 * each group of records and acknowledges nothing before `sync` has returned.
 */
export interface JournalFile {
  /** Writes all of `data` at the end of the file (O_APPEND). */
  append(data: Uint8Array): Promise<void>;
  /** Makes everything appended so far durable (fsync). */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** Opens `file` for appending; the default of {@link JournalOptions.openFile}. */
export type OpenJournalFile = (file: string) => Promise<JournalFile>;

/** The real thing: `fs.open(file, 'a')`, a write loop, `fsync`. */
export const openNodeJournalFile: OpenJournalFile = async (file) => {
  const handle = await fs.open(file, 'a', 0o600);
  return {
    async append(data) {
      // A regular-file write may be short (signal, quota); loop until every byte is written.
      let offset = 0;
      while (offset < data.length) {
        const { bytesWritten } = await handle.write(data, offset, data.length - offset);
        offset += bytesWritten;
      }
    },
    sync: () => handle.sync(),
    close: () => handle.close(),
  };
};

/** fsyncs a folder so that a file created or renamed in it survives a crash. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } catch (err) {
    // Some filesystems refuse fsync on a folder; the creation or rename has happened all the same.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EPERM') throw err;
  } finally {
    await handle.close();
  }
}

/** A held single-writer lock. */
export interface FileLock {
  release(): Promise<void>;
}

/**
 * Takes `lockFile` exclusively (O_EXCL create), recording this process's pid. A lock left by a
 * process that no longer exists on this host is taken over; one held by a live process,
 * including this one through another journal object, is refused.
 *
 * Why: two writers appending to one journal would interleave their records, and the second
 * writer's replay would not know the first one's acceptances.
 *
 * @throws AcceptanceError JOURNAL_LOCKED
 */
export async function acquireLock(lockFile: string): Promise<FileLock> {
  const body = JSON.stringify({ pid: process.pid, token: randomBytes(12).toString('hex') });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fs.writeFile(lockFile, body, { flag: 'wx', mode: 0o600 });
      return {
        release: async () => {
          const current = await fs.readFile(lockFile, 'utf8').catch(() => '');
          if (current === body) await fs.rm(lockFile, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = await readLockPid(lockFile);
      if (holder !== undefined && isAlive(holder)) {
        throw new AcceptanceError(
          'JOURNAL_LOCKED',
          `The acceptance journal is in use by process ${holder}${holder === process.pid ? ' (this process: it is already open)' : ''}; only one gateway process may hold it.`,
          { details: { pid: holder } },
        );
      }
      // The holder died without releasing it: take the stale lock over.
      await fs.rm(lockFile, { force: true });
    }
  }
  throw new AcceptanceError('JOURNAL_LOCKED', 'The acceptance journal could not be locked: another process keeps taking the lock.');
}

async function readLockPid(lockFile: string): Promise<number | undefined> {
  try {
    const parsed = JSON.parse(await fs.readFile(lockFile, 'utf8')) as { pid?: unknown };
    return typeof parsed.pid === 'number' && Number.isSafeInteger(parsed.pid) && parsed.pid > 0 ? parsed.pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
