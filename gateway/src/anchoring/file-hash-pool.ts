/**
 * SHA-256 of many files on worker threads (Node only, internal to archive mode).
 *
 * Why workers with synchronous reads: measured on the project's 2-core box over 100,000 files of
 * 64 bytes (page cache warm), `fs.promises` open/read/close at concurrency 8–64 took 6–9.5 s,
 * callback-style `fs` 2.5–6 s (libuv's 4-thread pool and the event loop fight over two cores),
 * one thread of `openSync`/`readSync`/`closeSync` 0.85 s, and two worker threads doing the same
 * 0.53–0.57 s. Small files are all syscall overhead, which synchronous calls in a worker pay
 * once; the gateway's event loop stays free. Concurrency is bounded by the pool: `workers`
 * threads, at most two batches queued per thread.
 *
 * Each thread also computes the file's archive leaf hash (SHA-256 of 0x00 ‖
 * `{"docHash":"…","path":…}`, `archive-build.ts`' {@link HASH_CODE}) while it holds the digest,
 * so the calling thread only collects.
 *
 * @module
 */
import { Worker } from 'node:worker_threads';
import { HASH_CODE } from './archive-build';
import { AnchoringError } from './errors';

/** Worker program (plain CommonJS, evaluated as a string so no transpiler is involved). */
const WORKER_SOURCE = `
'use strict';
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const crypto = require('node:crypto');
const path = require('node:path');
${HASH_CODE}
const hasher = makeArchiveHasher(crypto);
const buf = Buffer.allocUnsafe(1 << 20);
parentPort.on('message', ({ id, root, paths }) => {
  const hashes = new Uint8Array(paths.length * 32);
  const leaves = new Uint8Array(paths.length * 32);
  const sizes = new Float64Array(paths.length);
  for (let i = 0; i < paths.length; i++) {
    let fd;
    try {
      fd = fs.openSync(path.join(root, paths[i]), 'r');
      const h = crypto.createHash('sha256');
      let total = 0;
      for (;;) {
        const n = fs.readSync(fd, buf, 0, buf.length, null);
        if (n === 0) break;
        h.update(buf.subarray(0, n));
        total += n;
      }
      hashes.set(h.digest(), i * 32);
      hasher.leafInto(hashes, i * 32, Buffer.from(JSON.stringify(paths[i]), 'utf8'), leaves, i * 32);
      sizes[i] = total;
    } catch (err) {
      parentPort.postMessage({ id, error: { path: paths[i], code: err && err.code, message: String(err && err.message) } });
      return;
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
  }
  parentPort.postMessage({ id, hashes, leaves, sizes }, [hashes.buffer, leaves.buffer, sizes.buffer]);
});
`;

/** Digests of one batch, in the order of its paths. */
export interface HashedBatch {
  /** SHA-256 of each file, 32 bytes per file. */
  readonly hashes: Uint8Array;
  /** Archive leaf hash of each (path, SHA-256), 32 bytes per file. */
  readonly leaves: Uint8Array;
  /** Bytes read per file. */
  readonly sizes: Float64Array;
}

interface Job {
  readonly resolve: (batch: HashedBatch) => void;
  readonly reject: (err: Error) => void;
}

interface PoolWorker {
  readonly worker: Worker;
  readonly jobs: Map<number, Job>;
}

/** Batches a worker may hold at once (one running, one queued, so it never idles between batches). */
const PER_WORKER = 2;

/** A fixed pool of hashing threads. */
export class FileHashPool {
  readonly #workers: PoolWorker[];
  readonly #waiting: (() => void)[] = [];
  #nextId = 0;
  #closed = false;
  /** Set when a thread died: the pool then accepts no more work. */
  #broken = false;

  constructor(workers: number) {
    this.#workers = Array.from({ length: workers }, () => {
      const entry: PoolWorker = { worker: new Worker(WORKER_SOURCE, { eval: true }), jobs: new Map() };
      entry.worker.on('message', (msg: { id: number; hashes?: Uint8Array; leaves?: Uint8Array; sizes?: Float64Array; error?: { path: string; code?: string; message: string } }) => {
        const job = entry.jobs.get(msg.id);
        if (!job) return;
        entry.jobs.delete(msg.id);
        if (msg.error) {
          job.reject(
            new AnchoringError('ARCHIVE_READ_FAILED', `The file ${JSON.stringify(msg.error.path)} could not be read (${msg.error.code ?? msg.error.message}).`, {
              details: { path: msg.error.path, errno: msg.error.code },
            }),
          );
        } else {
          job.resolve({ hashes: msg.hashes!, leaves: msg.leaves!, sizes: msg.sizes! });
        }
        this.#waiting.shift()?.();
      });
      entry.worker.on('error', (err) => this.#fail(entry, err));
      entry.worker.on('exit', () => this.#fail(entry, new Error('hashing thread exited')));
      return entry;
    });
  }

  /** Resolves when a batch can be submitted without exceeding the pool's bound. */
  async ready(): Promise<void> {
    while (!this.#closed && !this.#broken && !this.#workers.some((w) => w.jobs.size < PER_WORKER)) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
  }

  /** Hashes `paths` (relative to `root`); call after {@link ready}. */
  hash(root: string, paths: readonly string[]): Promise<HashedBatch> {
    if (this.#closed || this.#broken) return Promise.reject(new AnchoringError('ARCHIVE_READ_FAILED', 'The hashing pool is closed.'));
    const target = this.#workers.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a));
    const id = this.#nextId++;
    return new Promise<HashedBatch>((resolve, reject) => {
      target.jobs.set(id, { resolve, reject });
      target.worker.postMessage({ id, root, paths });
    });
  }

  /** Terminates the threads; pending batches fail. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const wake of this.#waiting.splice(0)) wake();
    await Promise.all(this.#workers.map((w) => w.worker.terminate()));
  }

  #fail(entry: PoolWorker, err: Error): void {
    for (const job of entry.jobs.values()) {
      job.reject(new AnchoringError('ARCHIVE_READ_FAILED', 'A hashing thread stopped while reading files.', { cause: err }));
    }
    entry.jobs.clear();
    this.#broken = true;
    for (const wake of this.#waiting.splice(0)) wake();
  }
}
