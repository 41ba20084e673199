/**
 * NODE-ONLY RFC 6962 hasher backed by `node:crypto` (OpenSSL, SHA-NI where available).
 * Do not import this file from browser code; it is deliberately not re-exported by `index.ts`.
 *
 * Which SHA-256 call: measured on the project's 2-core box (Node 20.20, one 65-byte interior-node
 * message, per hash): `createHash('sha256').update(x).digest()` ≈ 1.9–2.3 µs,
 * `crypto.hash('sha256', x, 'buffer')` ≈ 1.3–1.6 µs, `crypto.hash('sha256', x, 'binary')` ≈ 0.5 µs
 * (+ ≈ 0.1 µs to copy the 32 latin1 chars into the output); noble (pure JS) ≈ 3 µs. The cost of the
 * native calls is dominated by allocating the result `Buffer`, so the hot path asks for a latin1
 * string and copies it into the flat level. Messages are assembled in a reusable word-aligned
 * scratch buffer (`0x01`, then 16 copied words). Falls back to `createHash` where `crypto.hash`
 * (Node ≥ 20.12) is missing.
 *
 * Optional parallelism: `createNodeHasher({ workers: 1 })` splits large `hashChildrenBulk` calls
 * (≥ `parallelThreshold` pairs) between the calling thread and worker threads, synchronously
 * (the caller blocks in `Atomics.wait` for the workers' share). Workers are `unref`'d, created on
 * first use, and a worker that fails or stalls is dropped and its share recomputed on the caller.
 *
 * @module
 */
import { createHash, hash as cryptoHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { MerkleHasher } from './hasher';

// Local copies of the constants in ./hasher: hot loops must not read imported bindings, which
// some CommonJS transpilers (tsx/esbuild) turn into getter calls.
const HASH_SIZE = 32;
const LEAF_PREFIX = 0x00;

/** SHA-256 by `node:crypto`, in the shape the receipt verifiers' `sha256` option takes. */
export const nativeSha256 = (message: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(message).digest());
const NODE_PREFIX = 0x01;

const hasOneShot = typeof cryptoHash === 'function';

/** One-shot SHA-256 of `msg` into a fresh `Uint8Array` (not a `Buffer`). */
function sha256(msg: Uint8Array): Uint8Array {
  const out = new Uint8Array(HASH_SIZE);
  if (hasOneShot) {
    const s = cryptoHash('sha256', msg, 'binary');
    for (let i = 0; i < HASH_SIZE; i++) out[i] = s.charCodeAt(i);
  } else {
    out.set(createHash('sha256').update(msg).digest());
  }
  return out;
}

/** Options of {@link createNodeHasher}. */
export interface NodeHasherOptions {
  /**
   * Worker threads that share large bulk-hashing calls with the calling thread (default 0: none).
   * On a 2-core machine `1` roughly halves tree-building time when the machine is otherwise idle.
   */
  readonly workers?: number;
  /** Minimum number of pairs in one bulk call before it is split across threads (default 16384). */
  readonly parallelThreshold?: number;
  /** How long the caller waits for a worker's share before recomputing it itself (default 60 s). */
  readonly workerTimeoutMs?: number;
}

/** A `node:crypto` {@link MerkleHasher} that may own worker threads. */
export interface NodeMerkleHasher extends MerkleHasher {
  /** Number of live worker threads (0 when single-threaded or after a worker failure/close). */
  readonly activeWorkers: number;
  /** Terminates the worker threads (if any). The hasher keeps working single-threaded. */
  close(): Promise<void>;
}

/**
 * Worker program (plain CommonJS, evaluated as a string so no transpiler is involved).
 * Job: hash `count` pairs from `src` (SharedArrayBuffer, 64 bytes per pair) into `dst` (32 bytes
 * per pair), then set `ctl[0]` to 1 (done) or 2 (failed) and notify.
 */
const WORKER_SOURCE = `
'use strict';
const { parentPort } = require('node:worker_threads');
const crypto = require('node:crypto');
const oneShot = typeof crypto.hash === 'function';
const scratch = new Uint8Array(68);
const scratchWords = new Uint32Array(scratch.buffer);
scratch[3] = 1;
const msg = scratch.subarray(3, 68);
parentPort.on('message', (job) => {
  const ctl = new Int32Array(job.ctl);
  try {
    const src = new Uint32Array(job.src, 0, job.count * 16);
    const dst = new Uint8Array(job.dst, 0, job.count * 32);
    for (let i = 0, w = 0, d = 0; i < job.count; i++, d += 32) {
      for (let j = 1; j <= 16; j++, w++) scratchWords[j] = src[w];
      if (oneShot) {
        const h = crypto.hash('sha256', msg, 'binary');
        for (let j = 0; j < 32; j++) dst[d + j] = h.charCodeAt(j);
      } else {
        dst.set(crypto.createHash('sha256').update(msg).digest(), d);
      }
    }
    Atomics.store(ctl, 0, 1);
  } catch (e) {
    Atomics.store(ctl, 0, 2);
  }
  Atomics.notify(ctl, 0);
});
`;

/** One worker thread with its shared buffers. */
interface PoolWorker {
  worker: Worker;
  ctl: Int32Array;
  src: SharedArrayBuffer;
  dst: SharedArrayBuffer;
  alive: boolean;
}

/**
 * Builds a `node:crypto`-backed {@link MerkleHasher}. Each instance owns its scratch buffers (and
 * workers, if requested); the shared single-threaded {@link nodeHasher} suits most uses.
 *
 * @param options - see {@link NodeHasherOptions}.
 */
export function createNodeHasher(options: NodeHasherOptions = {}): NodeMerkleHasher {
  const workerCount = Math.max(0, Math.floor(options.workers ?? 0));
  const threshold = Math.max(1, options.parallelThreshold ?? 16384);
  const timeoutMs = options.workerTimeoutMs ?? 60_000;

  // Scratch layout: bytes 0..2 unused, byte 3 = 0x01, bytes 4..67 = left ‖ right (words 1..16).
  const scratch = new Uint8Array(68);
  const scratchWords = new Uint32Array(scratch.buffer);
  scratch[3] = NODE_PREFIX;
  const nodeMessage = scratch.subarray(3, 68);

  const hashLeaf = (data: Uint8Array): Uint8Array => {
    const buf = new Uint8Array(1 + data.length);
    buf[0] = LEAF_PREFIX;
    buf.set(data, 1);
    return sha256(buf);
  };

  const hashChildren = (left: Uint8Array, right: Uint8Array): Uint8Array => {
    if (left.length === HASH_SIZE && right.length === HASH_SIZE) {
      scratch.set(left, 4);
      scratch.set(right, 4 + HASH_SIZE);
      return sha256(nodeMessage);
    }
    const buf = new Uint8Array(1 + left.length + right.length);
    buf[0] = NODE_PREFIX;
    buf.set(left, 1);
    buf.set(right, 1 + left.length);
    return sha256(buf);
  };

  /** Hashes the 65-byte message in `scratch[3..68)` into `dst[d..d+32)`. */
  const hashScratchInto: (dst: Uint8Array, d: number) => void = hasOneShot
    ? (dst, d) => {
        const h = cryptoHash('sha256', nodeMessage, 'binary');
        for (let j = 0; j < HASH_SIZE; j++) dst[d + j] = h.charCodeAt(j);
      }
    : (dst, d) => {
        dst.set(createHash('sha256').update(nodeMessage).digest(), d);
      };

  /** Single-threaded bulk hashing. */
  const hashSerial = (src: Uint8Array, srcOffset: number, dst: Uint8Array, dstOffset: number, count: number): void => {
    const srcAbs = src.byteOffset + srcOffset;
    if ((srcAbs & 3) === 0) {
      // Aligned source: copy 16 words per pair into the scratch message.
      const srcWords = new Uint32Array(src.buffer, srcAbs, count * 16);
      for (let i = 0, w = 0, d = dstOffset; i < count; i++, d += HASH_SIZE) {
        for (let j = 1; j <= 16; j++, w++) scratchWords[j] = srcWords[w]!;
        hashScratchInto(dst, d);
      }
    } else {
      for (let i = 0, s = srcOffset, d = dstOffset; i < count; i++, s += 2 * HASH_SIZE, d += HASH_SIZE) {
        scratch.set(src.subarray(s, s + 2 * HASH_SIZE), 4);
        hashScratchInto(dst, d);
      }
    }
  };

  const pool: PoolWorker[] = [];
  const startPool = (): void => {
    for (let i = 0; i < workerCount; i++) {
      const worker = new Worker(WORKER_SOURCE, { eval: true });
      worker.unref();
      const entry: PoolWorker = {
        worker,
        ctl: new Int32Array(new SharedArrayBuffer(4)),
        src: new SharedArrayBuffer(0),
        dst: new SharedArrayBuffer(0),
        alive: true,
      };
      const drop = (): void => {
        entry.alive = false;
      };
      worker.on('error', drop);
      worker.on('exit', drop);
      pool.push(entry);
    }
  };

  const hashParallel = (src: Uint8Array, srcOffset: number, dst: Uint8Array, dstOffset: number, count: number): void => {
    if (pool.length === 0) startPool();
    const live = pool.filter((p) => p.alive);
    const share = Math.floor(count / (live.length + 1));
    if (share === 0) return hashSerial(src, srcOffset, dst, dstOffset, count);
    const mine = count - share * live.length;
    // Hand out the tail shares first, so the workers run while this thread does its own share.
    live.forEach((p, w) => {
      const first = mine + w * share;
      if (p.src.byteLength < share * 64) p.src = new SharedArrayBuffer(share * 64);
      if (p.dst.byteLength < share * 32) p.dst = new SharedArrayBuffer(share * 32);
      new Uint8Array(p.src, 0, share * 64).set(src.subarray(srcOffset + first * 64, srcOffset + (first + share) * 64));
      Atomics.store(p.ctl, 0, 0);
      p.worker.postMessage({ src: p.src, dst: p.dst, ctl: p.ctl.buffer, count: share });
    });
    hashSerial(src, srcOffset, dst, dstOffset, mine);
    live.forEach((p, w) => {
      const first = mine + w * share;
      const deadline = Date.now() + timeoutMs;
      while (Atomics.load(p.ctl, 0) === 0 && Date.now() < deadline) Atomics.wait(p.ctl, 0, 0, 50);
      if (Atomics.load(p.ctl, 0) === 1) {
        dst.set(new Uint8Array(p.dst, 0, share * 32), dstOffset + first * HASH_SIZE);
      } else {
        // Failed or stalled: stop using this worker and do its share here.
        p.alive = false;
        void p.worker.terminate();
        hashSerial(src, srcOffset + first * 64, dst, dstOffset + first * HASH_SIZE, share);
      }
    });
  };

  const hashChildrenBulk = (src: Uint8Array, srcOffset: number, dst: Uint8Array, dstOffset: number, count: number): void => {
    if (workerCount > 0 && count >= threshold && (pool.length === 0 || pool.some((p) => p.alive))) {
      hashParallel(src, srcOffset, dst, dstOffset, count);
    } else {
      hashSerial(src, srcOffset, dst, dstOffset, count);
    }
  };

  let empty: Uint8Array | undefined;
  const emptyRoot = (): Uint8Array => {
    empty ??= sha256(new Uint8Array(0));
    return empty.slice();
  };

  const close = async (): Promise<void> => {
    const running = pool.filter((p) => p.alive);
    for (const p of running) p.alive = false;
    await Promise.all(running.map((p) => p.worker.terminate()));
  };

  return Object.freeze({
    name: workerCount > 0 ? `node-crypto-sha256 x${workerCount + 1} threads` : 'node-crypto-sha256',
    hashLeaf,
    hashChildren,
    hashChildrenBulk,
    emptyRoot,
    close,
    get activeWorkers(): number {
      return pool.filter((p) => p.alive).length;
    },
  });
}

/** Shared single-threaded `node:crypto` hasher (Node only). Pass it to `MerkleTree` for bulk building. */
export const nodeHasher: NodeMerkleHasher = createNodeHasher();
