/**
 * A linkage party's files in its gateway folder: one JSON document per request, written whole
 * (temporary file, fsync, rename), owner-only. Request ids are checked before they name a file.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ApiError } from '../errors';

/** A request id as the ledger takes it and as it may name a file. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

/** @throws ApiError 400 LINKAGE_INVALID_REQUEST_ID */
export function checkRequestId(requestId: unknown): string {
  if (typeof requestId !== 'string' || !REQUEST_ID_PATTERN.test(requestId) || requestId.includes('..')) {
    throw new ApiError(400, 'LINKAGE_INVALID_REQUEST_ID', 'A linkage request id is 1 to 64 letters, digits and . _ : - (starting with a letter or digit).');
  }
  return requestId;
}

/** JSON documents under one folder, by request id. */
export class LinkageFiles {
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(private readonly dir: string) {}

  async read<T>(kind: string, requestId: string): Promise<T | undefined> {
    try {
      return JSON.parse(await fs.readFile(this.file(kind, requestId), 'utf8')) as T;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async write(kind: string, requestId: string, value: unknown): Promise<void> {
    const file = this.file(kind, requestId);
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    const handle = await fs.open(tmp, 'wx', 0o600);
    try {
      await handle.writeFile(JSON.stringify(value), 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
  }

  async remove(kind: string, requestId: string): Promise<void> {
    await fs.rm(this.file(kind, requestId), { force: true });
  }

  /** Runs `fn` alone for this request id (one linkage's steps never interleave). */
  async exclusive<T>(requestId: string, fn: () => Promise<T>): Promise<T> {
    const before = this.locks.get(requestId) ?? Promise.resolve();
    const run = before.then(fn, fn);
    const settled = run.catch(() => undefined);
    this.locks.set(requestId, settled);
    try {
      return await run;
    } finally {
      if (this.locks.get(requestId) === settled) this.locks.delete(requestId);
    }
  }

  private file(kind: string, requestId: string): string {
    return path.join(this.dir, kind, `${checkRequestId(requestId)}.json`);
  }
}
