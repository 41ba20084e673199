/**
 * Durable file primitives shared by the anchor log and the archive writer (Node only, internal).
 *
 * The privacy layer has the same two primitives in `gateway/src/privacy/state-file.ts`, which is
 * internal to that package; once both settle they belong in one shared module.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { AnchoringError } from './errors';

/**
 * Replaces `file` with `data` so that a crash leaves the old or the new content, never a mix:
 * temporary file in the same folder, fsync, rename over the target, fsync the folder.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(tmp, 'wx', 0o644);
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

/** A held single-writer lock. */
export interface FileLock {
  release(): Promise<void>;
}

/**
 * Takes `lockFile` exclusively (O_EXCL create), recording this process's pid and a token. A lock
 * left by a process that no longer exists on this host is taken over; one held by a live process
 * (including this one, through another object) is refused.
 *
 * @throws AnchoringError LOG_LOCKED
 */
export async function acquireLock(lockFile: string, what: string): Promise<FileLock> {
  const token = randomBytes(12).toString('hex');
  const body = JSON.stringify({ pid: process.pid, token });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fs.writeFile(lockFile, body, { flag: 'wx', mode: 0o644 });
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
        throw new AnchoringError('LOG_LOCKED', `${what} is in use by process ${holder}; only one writer may hold it.`, {
          details: { pid: holder },
        });
      }
      // Stale lock of a process that died: remove it and try once more.
      await fs.rm(lockFile, { force: true });
    }
  }
  throw new AnchoringError('LOG_LOCKED', `${what} could not be locked (another process keeps taking the lock).`);
}

async function readLockPid(lockFile: string): Promise<number | undefined> {
  try {
    const parsed = JSON.parse(await fs.readFile(lockFile, 'utf8')) as { pid?: unknown };
    return typeof parsed.pid === 'number' && Number.isSafeInteger(parsed.pid) ? parsed.pid : undefined;
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
