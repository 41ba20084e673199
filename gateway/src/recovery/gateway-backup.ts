/**
 * A backup of a running gateway: what it holds that the ledger cannot give back, copied while it
 * serves, each piece whole, and encrypted to the operator's key ({@link sealBackup}).
 *
 * What goes in, and in which order (the order is what makes the copy consistent):
 * 1. the acceptance journal, copied in the journal writer's turn ({@link AcceptanceJournal.snapshot}):
 *    every request acknowledged before that moment, whole frames only;
 * 2. then the patient key store file, which is only ever replaced whole (atomic rename) and holds
 *    every key that was handed out before it was written: a patientRef in a journalled request
 *    was derived from a key made durable before the request was accepted, so the store copied
 *    after the journal holds every key the journal's requests name;
 * 3. the API users (`users.json`, written once by the operator).
 *
 * Not in it: the master key (the officers hold it, split: {@link ./master-key-shares}); what is
 * rebuilt from the ledger on start (anchor index, consent feed, anchor log).
 *
 * @module
 */
import { createHash, type KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { sealBackup, type BackupBinding, type BackupFile, type BackupHeader, readBackupHeader } from './backup-format';

/** The files of a gateway's folder a backup holds, by their place in it. */
export const BACKUP_PATHS = Object.freeze({
  journal: path.posix.join('acceptance', 'acceptance.journal'),
  keyStore: path.posix.join('patient-keys', 'patient-keys.json'),
  users: 'users.json',
});

/** What a backup is taken from: the running gateway's pieces. */
export interface BackupSources {
  /** The gateway's folder (the paths above are relative to it). */
  readonly dir: string;
  /** Where the key store and the users are when not at their places in `dir` (tests). Restored to their places. */
  readonly files?: { readonly keyStore?: string; readonly users?: string };
  readonly binding: BackupBinding;
  readonly journal: { snapshot(): Promise<Buffer>; stats(): { entries: number; unfinished: number } };
  readonly keys: { status(): { activePatients: number; erasedPatients: number } };
}

/** The binding of a gateway: its MSP ID, channel, and the SHA-256 of its peer's TLS root certificate. */
export async function gatewayBinding(fabric: { mspId: string; channel: string; tlsRootCertPath: string }): Promise<BackupBinding> {
  const root = await fs.readFile(fabric.tlsRootCertPath);
  return { mspId: fabric.mspId, channel: fabric.channel, consortium: createHash('sha256').update(root).digest('hex') };
}

/** Takes backups of one gateway, one at a time. */
export class GatewayBackups {
  private running: Promise<unknown> = Promise.resolve();

  constructor(private readonly sources: BackupSources) {}

  /** A backup now, encrypted to `recipient`; concurrent calls run one after the other. */
  take(recipient: KeyObject): Promise<{ bytes: Buffer; header: BackupHeader }> {
    const next = this.running.then(() => this.takeNow(recipient));
    this.running = next.catch(() => undefined);
    return next;
  }

  private async takeNow(recipient: KeyObject): Promise<{ bytes: Buffer; header: BackupHeader }> {
    const { dir, journal, keys } = this.sources;
    // The journal first, then the key store (see the module's notes).
    const journalBytes = await journal.snapshot();
    const journalStats = journal.stats();
    const status = keys.status();
    const keyStore = await fs.readFile(this.sources.files?.keyStore ?? path.join(dir, BACKUP_PATHS.keyStore));
    const users = await fs.readFile(this.sources.files?.users ?? path.join(dir, BACKUP_PATHS.users));
    const files: BackupFile[] = [
      { path: BACKUP_PATHS.keyStore, data: keyStore },
      { path: BACKUP_PATHS.journal, data: journalBytes },
      { path: BACKUP_PATHS.users, data: users },
    ];
    const bytes = await sealBackup(this.sources.binding, files, recipient, {
      summary: {
        // Counts of the store as read just before its file: at most a few writes apart.
        activePatients: status.activePatients,
        erasedPatients: status.erasedPatients,
        journalRequests: journalStats.entries,
        journalUnfinished: journalStats.unfinished,
        users: (JSON.parse(users.toString('utf8')) as unknown[]).length,
      },
    });
    return { bytes, header: readBackupHeader(bytes).header };
  }
}
