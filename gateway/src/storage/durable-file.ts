/**
 * Durable file primitives shared by the gateway's state (the patient key store, the anchor
 * log, archive receipts): atomic replacement of a file, fsync of a folder, and a single-writer
 * lock. Node only.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

/**
 * Replaces `file` with `data` so that a crash leaves either the old or the new content, never
 * a mix: write a temporary file in the same folder, fsync it, rename it over the target
 * (atomic on POSIX), then fsync the folder so the rename itself is durable.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const tmp = await writeTempBeside(file, data, mode);
  try {
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
  await syncDirectory(path.dirname(file));
}

/** A unique name beside `file` (same folder, so a rename or link to `file` stays on its filesystem). */
function besideName(file: string, suffix: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.${suffix}`);
}

/** Writes `data` to a new temporary file beside `file` and fsyncs it; returns its path. */
async function writeTempBeside(file: string, data: string | Uint8Array, mode: number): Promise<string> {
  const tmp = besideName(file, 'tmp');
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(tmp, 'wx', mode);
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    return tmp;
  } catch (err) {
    await handle?.close().catch(() => undefined);
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}

/** The bytes of `file`, or undefined when there is no such file (any other error is thrown). */
export async function readFileIfExists(file: string): Promise<Buffer | undefined> {
  try {
    return await fs.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** fsyncs a folder so that creations and renames in it are durable. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } catch (err) {
    // Some filesystems refuse fsync on a folder; the rename has happened all the same.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EPERM') throw err;
  } finally {
    await handle.close();
  }
}

/** A held single-writer lock; {@link FileLock.release} gives it up. */
export interface FileLock {
  release(): Promise<void>;
}

/**
 * How long a lock file without a readable pid (empty or partial JSON) is taken for one still
 * being written, and so held: younger than this it is refused like a live holder's; older, it is
 * stale. This module creates lock files complete in one step, so such a file comes from a writer
 * that died between creating and writing it (or from an older version of this code).
 */
export const UNREADABLE_LOCK_GRACE_MS = 10_000;

/** Test seams of {@link acquireLock}. */
export interface LockHooks {
  /** Called once a lock has been judged stale, before taking it over: lets a test interleave two acquirers. */
  beforeTakeover?: () => Promise<void>;
}

/**
 * Takes `lockFile` exclusively, recording this process's pid and a token. The lock is created
 * complete in one step: its body is written and fsynced to a temporary file beside it, which is
 * then hard-linked to the lock's name (link fails if the name is taken), so no other process
 * can read a lock that is there but empty. A lock left by a process that no longer exists on
 * this host is taken over; one held by a live process (this one included, through another
 * object), or one without a readable pid younger than {@link UNREADABLE_LOCK_GRACE_MS}, is
 * refused with the error `refuse` builds, so each caller keeps its own error type and sentence.
 *
 * A stale lock is taken over by renaming it to a unique name and checking that what was moved
 * is the stale lock that was read; when it is not (another process took the lock over first
 * and its fresh lock was moved), it is put back and the lock read again. So of two processes
 * taking over the same stale lock at once, one gets it and the other is refused.
 */
export async function acquireLock(lockFile: string, refuse: (holderPid: number | undefined) => Error, hooks: LockHooks = {}): Promise<FileLock> {
  const body = JSON.stringify({ pid: process.pid, token: randomBytes(12).toString('hex') });
  const key = path.resolve(lockFile);
  for (let attempt = 0; attempt < 3; attempt++) {
    if (await createLockFile(lockFile, body)) {
      heldLocks.add(key);
      return {
        release: async () => {
          const current = await fs.readFile(lockFile, 'utf8').catch(() => '');
          if (current === body) await fs.rm(lockFile, { force: true });
          heldLocks.delete(key);
        },
      };
    }
    const seen = await readLock(lockFile);
    if (seen === undefined) continue; // let go in the meantime
    const holder = seen.pid;
    if (holder === undefined) {
      if (Date.now() - seen.modifiedMs < UNREADABLE_LOCK_GRACE_MS) throw refuse(undefined);
    } else if (holder === process.pid ? heldLocks.has(key) : isAlive(holder)) {
      // Our own pid on a lock this process does not hold: left by an earlier process that had the
      // same pid (a container's entrypoint is pid 1 on every start), so stale.
      throw refuse(holder);
    }
    await hooks.beforeTakeover?.();
    await removeStaleLock(lockFile, seen.text);
  }
  throw refuse(undefined);
}

/** Creates `lockFile` with `body` in one step; false when it exists already. */
async function createLockFile(lockFile: string, body: string): Promise<boolean> {
  const tmp = await writeTempBeside(lockFile, body, 0o600);
  try {
    await fs.link(tmp, lockFile);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

/**
 * Removes the stale lock whose content is `staleText`, and only that one: the lock is renamed
 * aside (atomic, so one process alone moves it) and, when what was moved is another lock (a
 * fresh one taken since), it is linked back. Either way the caller reads the lock again.
 */
async function removeStaleLock(lockFile: string, staleText: string): Promise<void> {
  const aside = besideName(lockFile, 'stale');
  try {
    await fs.rename(lockFile, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // taken away by another process
    throw err;
  }
  try {
    const moved = await fs.readFile(aside, 'utf8');
    if (moved !== staleText) {
      // Someone else's lock: put it back. When the name was taken again meanwhile, that lock
      // stands and the caller is refused by it.
      await fs.link(aside, lockFile).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
    }
  } finally {
    await fs.rm(aside, { force: true });
  }
}

/** What a lock file holds: its text, the pid it names (if readable) and when it was last written; undefined when it is gone. */
async function readLock(lockFile: string): Promise<{ text: string; pid: number | undefined; modifiedMs: number } | undefined> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(lockFile, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const text = await handle.readFile('utf8');
    const modifiedMs = (await handle.stat()).mtimeMs;
    return { text, pid: pidOf(text), modifiedMs };
  } finally {
    await handle.close();
  }
}

function pidOf(text: string): number | undefined {
  try {
    const parsed = JSON.parse(text) as { pid?: unknown };
    return typeof parsed.pid === 'number' && Number.isSafeInteger(parsed.pid) && parsed.pid > 0 ? parsed.pid : undefined;
  } catch {
    return undefined;
  }
}

/** The lock files this process holds (resolved paths). */
const heldLocks = new Set<string>();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
