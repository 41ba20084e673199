/**
 * Restoring a gateway's folder from an opened backup, with the gateway stopped.
 *
 * - The gateway must not run: the restore takes the key store's and the journal's locks (the
 *   ones a gateway holds while it runs) for as long as it writes, so it is refused while a gateway
 *   holds them (GATEWAY_RUNNING), and a gateway started meanwhile waits for nothing half-written.
 * - It never overwrites by accident: if any file it would write is there, it refuses
 *   (RESTORE_WOULD_OVERWRITE) unless `replace` is given, and then the files that were there are
 *   moved aside into `replaced-<time>/` in the same folder, not deleted.
 * - Each file is written atomically (temporary file, fsync, rename, fsync of the folder).
 *
 * What the ledger gives back (anchor index, consent feed, anchor log) is rebuilt by the gateway
 * on its next start.
 *
 * @module
 */
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { acquireLock, syncDirectory, writeFileAtomic, type FileLock } from '../storage/durable-file';
import { isSafeRelativePath, type BackupContents } from './backup-format';
import { RecoveryError } from './errors';
import { BACKUP_PATHS } from './gateway-backup';

export interface RestoreOptions {
  /** The gateway's folder (`state/gateways/<org>`, or `dir` of its configuration). */
  readonly dir: string;
  readonly contents: BackupContents;
  /** Move state that is there aside (into `replaced-<time>/`) instead of refusing. */
  readonly replace?: boolean;
  readonly now?: () => Date;
  /** Called after each file is written (for progress). */
  readonly onFile?: (file: string, bytes: number) => void;
}

export interface RestoreReport {
  readonly files: readonly { path: string; bytes: number }[];
  /** Where the files that were there went, when `replace` moved any. */
  readonly movedAside?: string;
}

/**
 * Writes the backup's files into the gateway's folder.
 *
 * @throws RecoveryError GATEWAY_RUNNING, RESTORE_WOULD_OVERWRITE
 */
export async function restoreGatewayState(options: RestoreOptions): Promise<RestoreReport> {
  const { dir, contents } = options;
  for (const f of contents.files) if (!isSafeRelativePath(f.path)) throw new RecoveryError('BACKUP_TAMPERED', `The backup names a file outside the gateway's folder (${f.path}).`);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const locks: FileLock[] = [];
  try {
    for (const file of [BACKUP_PATHS.keyStore, BACKUP_PATHS.journal]) {
      const target = path.join(dir, file);
      await fs.mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
      locks.push(
        await acquireLock(`${target}.lock`, (holder) =>
          new RecoveryError('GATEWAY_RUNNING', `The gateway's ${file} is held by process ${holder ?? '(unknown)'}: stop the gateway before restoring.`, { details: { pid: holder } }),
        ),
      );
    }
    const present = contents.files.filter((f) => existsSync(path.join(dir, f.path))).map((f) => f.path);
    let movedAside: string | undefined;
    if (present.length > 0) {
      if (!options.replace) {
        throw new RecoveryError(
          'RESTORE_WOULD_OVERWRITE',
          `${dir} already holds ${present.join(', ')}: a restore never overwrites a gateway's state by accident. If this state is to be replaced, run again with --replace (it is moved aside, not deleted).`,
          { details: { present } },
        );
      }
      movedAside = path.join(dir, `replaced-${(options.now ?? (() => new Date()))().toISOString().replace(/[:.]/g, '-')}`);
      for (const rel of present) {
        const to = path.join(movedAside, rel);
        await fs.mkdir(path.dirname(to), { recursive: true, mode: 0o700 });
        await fs.rename(path.join(dir, rel), to);
        await syncDirectory(path.dirname(path.join(dir, rel)));
      }
    }
    const written: { path: string; bytes: number }[] = [];
    for (const f of contents.files) {
      const target = path.join(dir, f.path);
      await fs.mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
      await writeFileAtomic(target, f.data, 0o600);
      written.push({ path: f.path, bytes: f.data.length });
      options.onFile?.(f.path, f.data.length);
    }
    return { files: written, ...(movedAside ? { movedAside } : {}) };
  } finally {
    for (const lock of locks.reverse()) await lock.release().catch(() => undefined);
  }
}
