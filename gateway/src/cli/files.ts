/**
 * Local files: streamed SHA-256 (node:crypto; a file is never held in memory), folder walks in a
 * stable order, and a small concurrency pool.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { UsageError } from './errors';

export interface FileHash {
  docHash: string;
  bytes: number;
}

/** SHA-256 of a file, streamed; a usage error (exit 2) when the file cannot be read. */
export async function hashFile(file: string): Promise<FileHash> {
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), async function* (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        bytes += chunk.length;
        hash.update(chunk);
      }
    });
  } catch (err) {
    throw unreadable(file, err);
  }
  return { docHash: hash.digest('hex'), bytes };
}

function unreadable(file: string, err: unknown): UsageError {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === 'ENOENT' ? 'there is no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a folder' : (code ?? 'read error');
  return new UsageError(`cannot read ${file}: ${why}.`);
}

/** 'file' or 'dir'; usage error when the path does not exist. */
export async function kindOf(p: string): Promise<'file' | 'dir'> {
  try {
    const s = await stat(p);
    if (s.isDirectory()) return 'dir';
    if (s.isFile()) return 'file';
    throw new UsageError(`${p} is neither a file nor a folder.`);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw unreadable(p, err);
  }
}

/**
 * Every regular file under `dir`, as paths relative to it with `/` separators, sorted by code
 * unit. Names starting with `.` (files and folders) are skipped; symbolic links are not followed.
 */
export async function walkFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(rel: string): Promise<void> {
    let entries;
    try {
      entries = await readdir(path.join(dir, rel), { withFileTypes: true });
    } catch (err) {
      throw unreadable(path.join(dir, rel), err);
    }
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) await walk(child);
      else if (entry.isFile()) out.push(child);
    }
  }
  await walk('');
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Runs `fn` over `items` with at most `concurrency` at a time; results in input order. */
export async function mapPool<T, R>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}

/** A file named on the command line or found under a folder named there. */
export interface InputFile {
  /** As shown to the user: the argument, or folder/relative path. */
  display: string;
  /** Path to open. */
  file: string;
}

/** Expands file and folder arguments to files (folders walked as {@link walkFiles}). */
export async function expandInputs(args: readonly string[]): Promise<{ files: InputFile[]; single: boolean }> {
  const files: InputFile[] = [];
  let sawDir = false;
  for (const arg of args) {
    if ((await kindOf(arg)) === 'file') {
      files.push({ display: arg, file: arg });
    } else {
      sawDir = true;
      for (const rel of await walkFiles(arg)) files.push({ display: path.join(arg, rel), file: path.join(arg, rel) });
    }
  }
  return { files, single: args.length === 1 && !sawDir };
}
