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
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(tmp, 'wx', mode);
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fs.rename(tmp, file);
  } catch (err) {
    await handle?.close().catch(() => undefined);
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
  await syncDirectory(dir);
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
 * Takes `lockFile` exclusively (O_EXCL create), recording this process's pid and a token. A
 * lock left by a process that no longer exists on this host is taken over; one held by a live
 * process (this one included, through another object) is refused with the error `refuse`
 * builds, so each caller keeps its own error type and sentence.
 */
export async function acquireLock(lockFile: string, refuse: (holderPid: number | undefined) => Error): Promise<FileLock> {
  const body = JSON.stringify({ pid: process.pid, token: randomBytes(12).toString('hex') });
  const key = path.resolve(lockFile);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fs.writeFile(lockFile, body, { flag: 'wx', mode: 0o600 });
      heldLocks.add(key);
      return {
        release: async () => {
          const current = await fs.readFile(lockFile, 'utf8').catch(() => '');
          if (current === body) await fs.rm(lockFile, { force: true });
          heldLocks.delete(key);
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = await readLockPid(lockFile);
      // Our own pid on a lock this process does not hold: left by an earlier process that had the
      // same pid (a container's entrypoint is pid 1 on every start), so stale.
      if (holder !== undefined && (holder === process.pid ? heldLocks.has(key) : isAlive(holder))) throw refuse(holder);
      // Stale lock of a process that died: remove it and try once more.
      await fs.rm(lockFile, { force: true });
    }
  }
  throw refuse(undefined);
}

async function readLockPid(lockFile: string): Promise<number | undefined> {
  try {
    const parsed = JSON.parse(await fs.readFile(lockFile, 'utf8')) as { pid?: unknown };
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
