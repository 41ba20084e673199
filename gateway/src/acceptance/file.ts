/**
 * The journal's file seam (Node only): an append-only handle behind a tiny interface, so tests
 * can simulate a crash between two bytes. Folder fsync and the lock are in storage/durable-file.
 *
 * @module
 */
import { promises as fs } from 'node:fs';

/**
 * An open journal file, written only at its end. The journal calls `append` then `sync` for
 * each group of records and acknowledges nothing before `sync` has returned.
 */
export interface JournalFile {
  /** Writes all of `data` at the end of the file (O_APPEND). */
  append(data: Uint8Array): Promise<void>;
  /** Makes everything appended so far durable (fsync). */
  sync(): Promise<void>;
  /**
   * Cuts the file to `length` bytes and makes that durable: after a failed append (a full disk)
   * the journal removes the part of a frame that did reach the file, so the next frame starts
   * where the last whole one ended.
   */
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

/** Opens `file` for appending; the default of {@link JournalOptions.openFile}. */
export type OpenJournalFile = (file: string) => Promise<JournalFile>;

/** The real thing: `fs.open(file, 'a')`, a write loop, `fsync`, `ftruncate`. */
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
    async truncate(length) {
      // Freeing blocks needs none: this works on a full disk.
      await handle.truncate(length);
      await handle.sync();
    },
    close: () => handle.close(),
  };
};
