/**
 * Durable, atomic replacement of a small state file, and a single-writer lock.
 * Internal to the privacy package.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { PrivacyError } from './errors';

/**
 * Replaces `file` with `data` so that a crash leaves either the old or the new content,
 * never a mix: write a temporary file in the same directory, fsync it, rename it over the
 * target (atomic on POSIX), then fsync the directory so the rename itself is durable.
 * The file is created owner-read/write only.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(tmp, 'wx', 0o600);
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

async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } catch (err) {
    // Some filesystems refuse fsync on a directory; the rename has still happened.
    if ((err as NodeJS.ErrnoException).code !== 'EINVAL' && (err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
  } finally {
    await handle.close();
  }
}

/** A held single-writer lock; {@link release} gives it up. */
export interface FileLock {
  release(): Promise<void>;
}

/**
 * Takes `lockFile` exclusively (O_EXCL create), recording this process's pid and a token.
 * A lock left by a process that no longer exists on this host is taken over.
 *
 * Why a lock: each store process keeps the whole store in memory and rewrites the file, so
 * a second writer would silently drop the first one's registrations, and a dropped patient
 * key leaves that patient's on-ledger refs unusable for ever.
 *
 * @throws PrivacyError STORE_LOCKED when a live process holds it
 */
export async function acquireLock(lockFile: string): Promise<FileLock> {
  const token = randomBytes(16).toString('hex');
  const content = JSON.stringify({ pid: process.pid, token });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fs.writeFile(lockFile, content, { flag: 'wx', mode: 0o600 });
      return {
        async release() {
          const held = await fs.readFile(lockFile, 'utf8').catch(() => '');
          if (held === content) await fs.rm(lockFile, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = await readLockHolder(lockFile);
      if (holder !== undefined && isAlive(holder)) {
        throw new PrivacyError(
          'STORE_LOCKED',
          `The patient key store is in use by process ${holder}${holder === process.pid ? ' (this process: it is already open)' : ''}; only one process may hold it. Stop the other gateway or close the store first.`,
        );
      }
      await fs.rm(lockFile, { force: true });
    }
  }
  throw new PrivacyError('STORE_LOCKED', 'The patient key store lock could not be taken; another process keeps recreating it.');
}

async function readLockHolder(lockFile: string): Promise<number | undefined> {
  try {
    const parsed = JSON.parse(await fs.readFile(lockFile, 'utf8')) as { pid?: unknown };
    return typeof parsed.pid === 'number' && Number.isInteger(parsed.pid) && parsed.pid > 0 ? parsed.pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
