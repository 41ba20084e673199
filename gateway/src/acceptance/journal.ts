/**
 * The acceptance journal: an append-only file in the gateway's state folder that makes an
 * anchor request durable before the gateway acknowledges it (HTTP 202), and records its final
 * outcome once the ledger has answered. After a crash the journal is replayed and every
 * request without an outcome is submitted again (see {@link Submitter}).
 *
 * ## File format (version 1)
 *
 * One *frame* per line: `<crc32 of the JSON, 8 hex digits> <JSON>\n`, where the JSON is
 * `{ "seq": n, "records": [...] }` and frame 0 also names the format and version. A record is
 * either `{ type: 'accept', id, kind, transaction, args, acceptedAt, idempotencyKey?, user? }`
 * or `{ type: 'outcome', id, status: 'committed', transactionId, blockNumber, result, at }` /
 * `{ type: 'outcome', id, status: 'rejected', code, message, at }`.
 *
 * ## Group commit
 *
 * All records queued while one `write + fsync` is under way go into the next frame, which is
 * written with one `write` and made durable with one `fsync`: concurrent accepts share the
 * fsync, and there is no added delay when the gateway is idle (a lone accept is written at
 * once). One frame is written at a time, and the next only after the previous one's fsync has
 * returned.
 *
 * ## Why one frame per group, and what a crash can leave
 *
 * Because frame n+1 is written only after frame n is durable, a crash can damage at most the
 * *last* frame (partly written, or pages persisted out of order, or zeros where the file grew
 * but the data never landed), and nothing in that frame was acknowledged: accept() returns
 * only after its frame's fsync. So on open a bad last frame (and any trailing zeros) is
 * truncated away, whereas a bad frame followed by a good one cannot come from a crash and is
 * refused as JOURNAL_CORRUPT (bit rot, a copied file, a second writer): an operator must look.
 * Frames carry consecutive sequence numbers, so a missing whole frame is caught as well.
 *
 * ## What is in it
 *
 * Only what goes to the ledger (document hashes, opaque record ids, codes, the patient's HMAC
 * commitment), the API user's id, and a SHA-256 digest of (user, Idempotency-Key) — never the
 * key itself, which a client could have made up from anything.
 *
 * @module
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { crc32 } from 'node:zlib';
import { AcceptanceError, isStorageFull, storageFullError } from './errors';
import { acquireLock, syncDirectory, type FileLock } from '../storage/durable-file';
import { openNodeJournalFile, type JournalFile, type OpenJournalFile } from './file';
import { silentLogger, type AcceptanceLogger } from './logger';
import { fingerprintOf, isRequestKind, TRANSACTION_OF_KIND, type LedgerRequest, type RequestKind } from './requests';

/** The `format` named in frame 0. */
export const JOURNAL_FORMAT = 'medprov.acceptance-journal';
/** The file format version this code writes and reads. */
export const JOURNAL_VERSION = 1;
/** The journal's file name in its folder. */
export const JOURNAL_FILE = 'acceptance.journal';

/** The ledger's final answer to an accepted request, as the submitter reports it. */
export type Outcome =
  | {
      status: 'committed';
      /** The transaction whose reply the gateway received (after a lost reply, the re-submission's). */
      transactionId: string;
      /** Its block number, as a decimal string. */
      blockNumber: string;
      /** The chaincode's result, parsed from JSON (e.g. `{ anchor, created }`). */
      result: unknown;
    }
  | {
      status: 'rejected';
      /** The ledger's code, e.g. DOC_HASH_CLAIMED or FORBIDDEN_NOT_ISSUER. */
      code: string;
      message: string;
    };

/** An {@link Outcome} as recorded, with the time it was recorded (ISO 8601). */
export type RecordedOutcome = Outcome & { readonly at: string };

/** One accepted request as the journal knows it. */
export interface AcceptedEntry extends LedgerRequest {
  /** The request id: what `Location: /v1/requests/{id}` names. */
  readonly id: string;
  /** When the gateway accepted it (ISO 8601). */
  readonly acceptedAt: string;
  /** SHA-256 (hex) of the API user and the Idempotency-Key, when one was sent. */
  readonly idempotencyKey?: string;
  /** The API user who sent it. */
  readonly user?: string;
  /** Set once the ledger has answered for good; absent while the request is pending. */
  readonly outcome?: RecordedOutcome;
}

/** Who sent a request, and its idempotency key if any. */
export interface AcceptOptions {
  /** The API user's id: idempotency keys are scoped to it. */
  user?: string;
  /** The client's Idempotency-Key header, as sent. Printable ASCII, 1 to 255 characters. */
  idempotencyKey?: string;
}

/** What {@link AcceptanceJournal.accept} returns once the request is durable. */
export interface AcceptResult {
  id: string;
  /** False when an earlier request with the same idempotency key and body was found instead. */
  created: boolean;
  entry: AcceptedEntry;
}

/** Options of {@link AcceptanceJournal.open}. */
export interface JournalOptions {
  /** The folder holding the journal, e.g. `state/gateways/<org>/acceptance`; created if missing. */
  dir: string;
  /** Default {@link JOURNAL_FILE}. */
  fileName?: string;
  /** Share one fsync among all records queued meanwhile (default true). False: one fsync per record, for comparison. */
  groupCommit?: boolean;
  /** Most records in one frame (default 4,096), so that a burst never builds an unbounded line. */
  maxFrameRecords?: number;
  /** About the most bytes of records in one frame (default 4 MiB, counted as JSON characters); a larger record gets a frame of its own. */
  maxFrameBytes?: number;
  /** Milliseconds since the epoch (default `Date.now`). */
  now?: () => number;
  logger?: AcceptanceLogger;
  /** The file seam (default: a real append-only file); tests inject one that can "crash". */
  openFile?: OpenJournalFile;
  /** New request ids (default `randomUUID`). */
  newId?: () => string;
}

/** What {@link AcceptanceJournal.open} found. */
export interface OpenReport {
  file: string;
  /** Whole frames replayed, including frame 0. */
  frames: number;
  /** Requests known (finished or not). */
  entries: number;
  /** Requests without an outcome: the submitter resumes these. */
  unfinished: number;
  /** Bytes cut from the end: a frame the last process was writing when it stopped (never acknowledged). */
  truncatedBytes: number;
  /** Why those bytes were cut. */
  truncatedReason?: string;
}

/** Counters of the journal, for metrics and benchmarks. */
export interface JournalStats {
  /** Frames written by this object (each is one write and one fsync). */
  frames: number;
  fsyncs: number;
  /** Records written (accepts and outcomes). */
  records: number;
  bytes: number;
  /** The most records one frame carried. */
  largestFrame: number;
  /** Time spent in write + fsync, milliseconds. */
  writeMs: number;
  /** Requests known, and how they stand. */
  entries: number;
  unfinished: number;
  committed: number;
  rejected: number;
  /** True once a write failed: nothing more is accepted until the journal is reopened. */
  failed: boolean;
}

/** What {@link AcceptanceJournal.compact} did. */
export interface CompactionReport {
  /** Finished requests dropped (older than the retention). */
  dropped: number;
  /** Requests kept. */
  kept: number;
  bytesBefore: number;
  bytesAfter: number;
}

type AcceptRecord = {
  type: 'accept';
  id: string;
  kind: RequestKind;
  transaction: string;
  args: string[];
  acceptedAt: string;
  idempotencyKey?: string;
  user?: string;
};
type OutcomeRecord = { type: 'outcome'; id: string } & RecordedOutcome;
type JournalRecord = AcceptRecord | OutcomeRecord;

/** An accepted request in memory: its accept record, plus what replay and the writers track. */
interface Entry extends Omit<AcceptRecord, 'type'> {
  outcome?: RecordedOutcome;
  /** Internal: the request's fingerprint for idempotency. */
  fingerprint: string;
  /** Internal: its accept record has been fsynced. */
  durable: boolean;
  /** Internal: settles when the accept record is durable (or its write failed). */
  written: Promise<void>;
  /** Internal: an outcome record is on its way to disk. */
  outcomeWrite?: Promise<void>;
}

interface QueuedRecord {
  op: 'record';
  /** The record as JSON, serialised when queued (so a bad value fails its caller, not the writer). */
  json: string;
  /** Runs once the record is durable, before the waiting caller resumes. */
  onDurable: () => void;
  resolve: () => void;
  reject: (err: unknown) => void;
}
/** A copy of the journal taken between two frames (for a backup). */
interface QueuedSnapshot {
  op: 'snapshot';
  resolve: (bytes: Buffer) => void;
  reject: (err: unknown) => void;
}
interface QueuedCompaction {
  op: 'compact';
  retainFinishedMs: number;
  resolve: (report: CompactionReport) => void;
  reject: (err: unknown) => void;
}

const NEWLINE = 0x0a;
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
const ID = /^[\w.:-]{1,128}$/;
const HEX64 = /^[0-9a-f]{64}$/;

/**
 * The durable, append-only journal of accepted requests. One per gateway process (a lock
 * file keeps a second process out).
 */
export class AcceptanceJournal {
  private readonly entries = new Map<string, Entry>();
  private readonly byIdempotencyKey = new Map<string, string>();
  private readonly listeners = new Set<(entry: AcceptedEntry) => void>();
  private readonly queue: (QueuedRecord | QueuedCompaction | QueuedSnapshot)[] = [];
  private flushing: Promise<void> | undefined;
  private failure: AcceptanceError | undefined;
  private closed = false;
  /** When the last "disk full" warning was logged (one every 10 s is enough). */
  private lastFullWarning: number | undefined;
  private counts = { unfinished: 0, committed: 0, rejected: 0 };
  private readonly io = { frames: 0, fsyncs: 0, records: 0, bytes: 0, largestFrame: 0, writeMs: 0 };
  private readonly groupCommit: boolean;
  private readonly maxFrameRecords: number;
  private readonly maxFrameBytes: number;
  private readonly now: () => number;
  private readonly logger: AcceptanceLogger;
  private readonly openFile: OpenJournalFile;
  private readonly newId: () => string;

  private constructor(
    readonly file: string,
    private handle: JournalFile,
    private readonly lock: FileLock,
    private nextSeq: number,
    private fileBytes: number,
    options: JournalOptions,
    /** What opening found: frames replayed, requests pending, bytes truncated. */
    readonly openReport: OpenReport,
  ) {
    this.groupCommit = options.groupCommit ?? true;
    this.maxFrameRecords = options.maxFrameRecords ?? 4096;
    this.maxFrameBytes = options.maxFrameBytes ?? 4 * 2 ** 20;
    this.now = options.now ?? Date.now;
    this.logger = options.logger ?? silentLogger;
    this.openFile = options.openFile ?? openNodeJournalFile;
    this.newId = options.newId ?? randomUUID;
  }

  /**
   * Opens (or creates) the journal in `options.dir` and replays it: a torn last frame is
   * truncated, a corrupt earlier one refused.
   *
   * @throws AcceptanceError JOURNAL_CORRUPT, JOURNAL_UNSUPPORTED, JOURNAL_LOCKED, INVALID_ARGUMENT
   */
  static async open(options: JournalOptions): Promise<AcceptanceJournal> {
    for (const [name, value] of [['maxFrameRecords', options.maxFrameRecords], ['maxFrameBytes', options.maxFrameBytes]] as const) {
      if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) throw new AcceptanceError('INVALID_ARGUMENT', `${name} must be a whole number of at least 1.`);
    }
    const logger = options.logger ?? silentLogger;
    const fileName = options.fileName ?? JOURNAL_FILE;
    await fs.mkdir(options.dir, { recursive: true, mode: 0o700 });
    const file = path.join(options.dir, fileName);
    // Two writers appending to one journal would interleave their records, and the second one's
    // replay would not know the first one's acceptances.
    const lock = await acquireLock(`${file}.lock`, (holder) =>
      holder === undefined
        ? new AcceptanceError('JOURNAL_LOCKED', 'The acceptance journal could not be locked: another process keeps taking the lock.')
        : new AcceptanceError(
            'JOURNAL_LOCKED',
            `The acceptance journal is in use by process ${holder}${holder === process.pid ? ' (this process: it is already open)' : ''}; only one gateway process may hold it.`,
            { details: { pid: holder } },
          ),
    );
    let handle: JournalFile | undefined;
    try {
      // A compaction that died before its rename leaves a temporary file: the journal itself is intact.
      for (const name of await fs.readdir(options.dir)) {
        if (name.startsWith(`.${fileName}.compact-`)) await fs.rm(path.join(options.dir, name), { force: true });
      }
      const bytes = await fs.readFile(file).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return Buffer.alloc(0);
        throw err;
      });
      const scan = scanFrames(bytes, file);
      if (scan.validBytes < bytes.length) {
        await truncateFile(file, scan.validBytes);
        logger.warn('acceptance journal: cut a torn final record (the previous process stopped while writing it; it was never acknowledged)', {
          file,
          truncatedBytes: bytes.length - scan.validBytes,
          reason: scan.tornReason,
        });
      }
      const openFile = options.openFile ?? openNodeJournalFile;
      handle = await openFile(file);
      let fileBytes = scan.validBytes;
      if (scan.frames.length === 0) {
        // New (or only a torn header): write frame 0 and make the file's name durable too.
        const header = encodeFrame({ seq: 0, format: JOURNAL_FORMAT, version: JOURNAL_VERSION, records: [] });
        await handle.append(header);
        await handle.sync();
        await syncDirectory(options.dir);
        fileBytes = header.length;
      }
      const journal = new AcceptanceJournal(file, handle, lock, Math.max(scan.frames.length, 1), fileBytes, options, {
        file,
        frames: Math.max(scan.frames.length, 1),
        entries: 0,
        unfinished: 0,
        truncatedBytes: bytes.length - scan.validBytes,
        ...(scan.tornReason ? { truncatedReason: scan.tornReason } : {}),
      });
      journal.replay(scan.frames.flatMap((f) => f.records));
      journal.openReport.entries = journal.entries.size;
      journal.openReport.unfinished = journal.counts.unfinished;
      logger.info('acceptance journal opened', { ...journal.openReport });
      return journal;
    } catch (err) {
      await handle?.close().catch(() => undefined);
      await lock.release().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Makes `request` durable and returns its id. Resolves only after the record is fsynced,
   * so a caller that got an id may acknowledge the request: it survives any crash from then on.
   *
   * With an idempotency key: the same key from the same user for the same request returns the
   * earlier id (`created: false`) and appends nothing; for a different request it is refused.
   *
   * @throws AcceptanceError IDEMPOTENCY_KEY_REUSED (409), IDEMPOTENCY_KEY_INVALID (400),
   *   INVALID_ARGUMENT, STORAGE_FULL (503: the disk is full; accepted again once there is space), JOURNAL_WRITE_FAILED (503), JOURNAL_CLOSED (503)
   */
  async accept(request: LedgerRequest, options: AcceptOptions = {}): Promise<AcceptResult> {
    this.assertWritable();
    const args = checkRequest(request);
    const fingerprint = fingerprintOf(request);
    let keyDigest: string | undefined;
    if (options.idempotencyKey !== undefined) {
      if (!IDEMPOTENCY_KEY.test(options.idempotencyKey)) {
        throw new AcceptanceError('IDEMPOTENCY_KEY_INVALID', 'The Idempotency-Key must be 1 to 255 printable ASCII characters without spaces (a UUID is a good choice).');
      }
      keyDigest = idempotencyDigest(options.user ?? '', options.idempotencyKey);
      const existingId = this.byIdempotencyKey.get(keyDigest);
      const existing = existingId === undefined ? undefined : this.entries.get(existingId);
      if (existing) {
        if (existing.fingerprint !== fingerprint) {
          throw new AcceptanceError(
            'IDEMPOTENCY_KEY_REUSED',
            'This Idempotency-Key was already used for a different request; send a new key with a new request.',
            { details: { acceptedRequestId: existing.id } },
          );
        }
        // Same request again (a client retry): wait until the first one is durable, never append twice.
        await existing.written;
        return { id: existing.id, created: false, entry: existing };
      }
    }
    const id = this.newId();
    if (!ID.test(id) || this.entries.has(id)) throw new AcceptanceError('INVALID_ARGUMENT', 'newId returned an invalid or already used request id.');
    const entry: Entry = {
      id,
      kind: request.kind,
      transaction: request.transaction,
      args,
      acceptedAt: new Date(this.now()).toISOString(),
      ...(keyDigest ? { idempotencyKey: keyDigest } : {}),
      ...(options.user !== undefined ? { user: options.user } : {}),
      fingerprint,
      durable: false,
      written: Promise.resolve(),
    };
    // Registered before the write, so that a concurrent retry with the same key finds it and waits.
    this.entries.set(id, entry);
    if (keyDigest) this.byIdempotencyKey.set(keyDigest, id);
    entry.written = this.enqueueRecord(acceptRecordOf(entry), () => {
      entry.durable = true;
      this.counts.unfinished += 1;
      this.notify(entry);
    });
    try {
      await entry.written;
    } catch (err) {
      // Never acknowledged: forget it (if its bytes did reach the disk, a restart resubmits it, harmlessly).
      this.entries.delete(id);
      if (keyDigest) this.byIdempotencyKey.delete(keyDigest);
      throw err;
    }
    return { id, created: true, entry };
  }

  /**
   * Records the final outcome of request `id`, durably. The first outcome wins: a second call
   * for the same request waits for the first and changes nothing.
   *
   * @throws AcceptanceError INVALID_ARGUMENT (unknown or not yet durable id, malformed outcome),
   *   STORAGE_FULL, JOURNAL_WRITE_FAILED, JOURNAL_CLOSED
   */
  async recordOutcome(id: string, outcome: Outcome): Promise<void> {
    this.assertWritable();
    const entry = this.entries.get(id);
    if (!entry || !entry.durable) throw new AcceptanceError('INVALID_ARGUMENT', `There is no accepted request ${String(id).slice(0, 128)} to record an outcome for.`);
    if (entry.outcome) return;
    if (entry.outcomeWrite) return entry.outcomeWrite;
    const recorded = checkOutcome(outcome, new Date(this.now()).toISOString());
    entry.outcomeWrite = this.enqueueRecord({ type: 'outcome', id, ...recorded }, () => this.finish(entry, recorded));
    try {
      await entry.outcomeWrite;
    } finally {
      entry.outcomeWrite = undefined;
    }
  }

  /** The request with this id, or undefined. Requests are known once durable. */
  get(id: string): AcceptedEntry | undefined {
    const entry = this.entries.get(id);
    return entry?.durable ? entry : undefined;
  }

  /** Every durable request without an outcome, oldest first: what a submitter must finish. */
  unfinished(): AcceptedEntry[] {
    const out: AcceptedEntry[] = [];
    for (const entry of this.entries.values()) if (entry.durable && !entry.outcome) out.push(entry);
    return out;
  }

  /** Every durable request the journal holds (finished or not), oldest first. */
  list(): AcceptedEntry[] {
    const out: AcceptedEntry[] = [];
    for (const entry of this.entries.values()) if (entry.durable) out.push(entry);
    return out;
  }

  /**
   * Calls `listener` with every request that becomes durable from now on, in acceptance order,
   * before its accept() resolves. Returns the function that unsubscribes.
   */
  subscribe(listener: (entry: AcceptedEntry) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Counters for metrics: I/O of this object, and how the known requests stand. */
  stats(): JournalStats {
    return { ...this.io, entries: this.entries.size, ...this.counts, failed: this.failure !== undefined };
  }

  /**
   * Rewrites the journal with only the requests still needed: every unfinished one, and the
   * finished ones younger than `retainFinishedMs` (default 24 h, which is also how long an
   * Idempotency-Key and a status URL keep working). Atomic: a new file is written, fsynced and
   * renamed over the old one. Runs between two frames; accepts wait meanwhile.
   */
  async compact(options: { retainFinishedMs?: number } = {}): Promise<CompactionReport> {
    this.assertWritable();
    const retainFinishedMs = options.retainFinishedMs ?? 24 * 3600 * 1000;
    if (!Number.isFinite(retainFinishedMs) || retainFinishedMs < 0) {
      throw new AcceptanceError('INVALID_ARGUMENT', 'retainFinishedMs must be a number of milliseconds, 0 or more.');
    }
    return new Promise<CompactionReport>((resolve, reject) => {
      this.queue.push({ op: 'compact', retainFinishedMs, resolve, reject });
      this.kick();
    });
  }

  /**
   * The journal's bytes as they stand between two frames: every frame written so far, whole, and
   * nothing half-written (a backup copies this while requests keep coming). Taken in the writer's
   * turn, like a compaction, so it sees exactly the requests acknowledged before it; accepts wait
   * for the read. The copy opens like the journal itself (its requests without an outcome resume).
   */
  async snapshot(): Promise<Buffer> {
    this.assertWritable();
    return new Promise<Buffer>((resolve, reject) => {
      this.queue.push({ op: 'snapshot', resolve, reject });
      this.kick();
    });
  }

  /** Writes what is queued, then closes the file and releases the lock. Accepts after this are refused. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.flushing) await this.flushing;
    await this.handle.close().catch(() => undefined);
    await this.lock.release();
  }

  private assertWritable(): void {
    if (this.failure) throw this.failure;
    if (this.closed) throw new AcceptanceError('JOURNAL_CLOSED', 'The gateway is stopping and accepts no more requests; retry in a moment.');
  }

  private enqueueRecord(record: JournalRecord, onDurable: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ op: 'record', json: JSON.stringify(record), onDurable, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.flushing) return;
    this.flushing = this.flushLoop()
      .catch((err: unknown) => {
        // Not expected (every write error is caught in the loop); if it happens, stop safely.
        if (!this.failure) this.fail(err);
        for (const q of this.queue.splice(0)) q.reject(this.failure);
      })
      .finally(() => {
        this.flushing = undefined;
        // Something may have been queued after the loop's last look; start again if so.
        if (this.queue.length > 0 && !this.failure) this.kick();
      });
  }

  /** Writes queued records, one frame (one write, one fsync) per round; runs compactions in turn. */
  private async flushLoop(): Promise<void> {
    while (this.queue.length > 0 && !this.failure) {
      const head = this.queue[0];
      if (head.op === 'compact') {
        this.queue.shift();
        await this.runCompaction(head);
        continue;
      }
      if (head.op === 'snapshot') {
        this.queue.shift();
        await this.copyFrames(head);
        continue;
      }
      const limit = this.groupCommit ? this.maxFrameRecords : 1;
      let n = 0;
      let bytes = 0;
      for (; n < this.queue.length && n < limit; n++) {
        const item = this.queue[n];
        if (item.op !== 'record' || (n > 0 && bytes + item.json.length > this.maxFrameBytes)) break;
        bytes += item.json.length;
      }
      const batch = this.queue.splice(0, n) as QueuedRecord[];
      const frame = encodeRecordFrame(this.nextSeq, batch.map((b) => b.json));
      const started = performance.now();
      try {
        await this.handle.append(frame);
        await this.handle.sync();
      } catch (err) {
        // A full disk refuses this frame only: cut what of it reached the file, and the journal
        // goes on (these records were never acknowledged; the next frame may find space again).
        if (isStorageFull(err) && (await this.cutTornFrame(err))) {
          const full = storageFullError(err);
          for (const b of batch) b.reject(full);
          continue;
        }
        this.fail(err);
        for (const b of batch) b.reject(this.failure);
        break;
      }
      this.nextSeq += 1;
      this.fileBytes += frame.length;
      this.io.writeMs += performance.now() - started;
      this.io.frames += 1;
      this.io.fsyncs += 1;
      this.io.records += batch.length;
      this.io.bytes += frame.length;
      this.io.largestFrame = Math.max(this.io.largestFrame, batch.length);
      for (const b of batch) {
        try {
          b.onDurable();
        } catch (err) {
          this.logger.error('acceptance journal: a durability callback threw', { error: String(err) });
        }
        b.resolve();
      }
    }
    if (this.failure) for (const q of this.queue.splice(0)) q.reject(this.failure);
  }

  /**
   * After an append or fsync refused for lack of space: truncates the file back to the end of
   * the last whole frame (every byte before it was fsynced earlier and stays), durably. True when
   * that worked; false when the file could not be cut (then the journal must stop).
   */
  private async cutTornFrame(err: unknown): Promise<boolean> {
    try {
      await this.handle.truncate(this.fileBytes);
    } catch (cutErr) {
      this.logger.error('acceptance journal: the disk is full and the partly written record could not be cut off', { file: this.file, error: (cutErr as Error)?.message ?? String(cutErr) });
      return false;
    }
    const now = this.now();
    if (this.lastFullWarning === undefined || now - this.lastFullWarning > 10_000) {
      this.lastFullWarning = now;
      this.logger.warn('acceptance journal: the disk is full; requests are refused (503 STORAGE_FULL) until there is space again', {
        file: this.file,
        error: (err as Error)?.message ?? String(err),
      });
    }
    return true;
  }

  /**
   * After a failed write or fsync the file's state is unknown (the kernel may have dropped
   * the dirty pages and cleared the error), so no later write may be trusted: the journal
   * stops, and reopening it (a gateway restart) replays what the disk really holds.
   */
  private fail(err: unknown): void {
    this.failure = new AcceptanceError(
      'JOURNAL_WRITE_FAILED',
      'The gateway could not write its request journal; it accepts nothing more until it is restarted. Requests already acknowledged are safe.',
      { cause: err },
    );
    this.logger.error('acceptance journal: write failed; no more requests are accepted until restart', {
      file: this.file,
      error: (err as Error)?.message ?? String(err),
    });
  }

  private finish(entry: Entry, outcome: RecordedOutcome): void {
    if (entry.outcome) return;
    entry.outcome = outcome;
    this.counts.unfinished -= 1;
    if (outcome.status === 'committed') this.counts.committed += 1;
    else this.counts.rejected += 1;
  }

  private notify(entry: Entry): void {
    for (const listener of this.listeners) {
      try {
        listener(entry);
      } catch (err) {
        this.logger.error('acceptance journal: a subscriber threw', { id: entry.id, error: String(err) });
      }
    }
  }

  /** Rebuilds the in-memory state from replayed records (file order = acceptance order). */
  private replay(records: JournalRecord[]): void {
    for (const record of records) {
      if (record.type === 'accept') {
        if (this.entries.has(record.id)) throw corrupt(this.file, `request ${record.id} is accepted twice`);
        const entry: Entry = {
          id: record.id,
          kind: record.kind,
          transaction: record.transaction,
          args: record.args,
          acceptedAt: record.acceptedAt,
          ...(record.idempotencyKey ? { idempotencyKey: record.idempotencyKey } : {}),
          ...(record.user !== undefined ? { user: record.user } : {}),
          fingerprint: fingerprintOf(record),
          durable: true,
          written: Promise.resolve(),
        };
        this.entries.set(entry.id, entry);
        if (entry.idempotencyKey) this.byIdempotencyKey.set(entry.idempotencyKey, entry.id);
        this.counts.unfinished += 1;
      } else {
        const entry = this.entries.get(record.id);
        if (!entry) throw corrupt(this.file, `an outcome names request ${record.id}, which was never accepted`);
        if (entry.outcome) {
          this.logger.warn('acceptance journal: a second outcome for one request was ignored (the first one stands)', { id: record.id });
          continue;
        }
        const { type: _type, id: _id, ...outcome } = record;
        this.finish(entry, outcome as RecordedOutcome);
      }
    }
  }

  private async copyFrames(op: QueuedSnapshot): Promise<void> {
    try {
      const handle = await fs.open(this.file, 'r');
      try {
        const bytes = Buffer.alloc(this.fileBytes);
        let at = 0;
        while (at < bytes.length) {
          const { bytesRead } = await handle.read(bytes, at, bytes.length - at, at);
          if (bytesRead === 0) throw new Error(`the journal file is shorter (${at} bytes) than what was written (${bytes.length})`);
          at += bytesRead;
        }
        op.resolve(bytes);
      } finally {
        await handle.close();
      }
    } catch (err) {
      op.reject(new AcceptanceError('JOURNAL_WRITE_FAILED', 'Copying the request journal for a backup failed; the journal is unchanged.', { cause: err }));
    }
  }

  private async runCompaction(op: QueuedCompaction): Promise<void> {
    const cutoff = this.now() - op.retainFinishedMs;
    const keep: Entry[] = [];
    const drop: Entry[] = [];
    for (const entry of this.entries.values()) {
      // Entries not yet durable have their accept record queued after this compaction: they
      // are appended to the new file in their turn, so they are not part of the snapshot.
      if (!entry.durable) continue;
      if (entry.outcome && Date.parse(entry.outcome.at) < cutoff) drop.push(entry);
      else keep.push(entry);
    }
    const frames: Buffer[] = [encodeFrame({ seq: 0, format: JOURNAL_FORMAT, version: JOURNAL_VERSION, records: [] })];
    let pending: string[] = [];
    let pendingBytes = 0;
    const add = (record: JournalRecord): void => {
      const json = JSON.stringify(record);
      if (pending.length > 0 && (pending.length >= this.maxFrameRecords || pendingBytes + json.length > this.maxFrameBytes)) {
        frames.push(encodeRecordFrame(frames.length, pending));
        pending = [];
        pendingBytes = 0;
      }
      pending.push(json);
      pendingBytes += json.length;
    };
    for (const entry of keep) {
      add(acceptRecordOf(entry));
      if (entry.outcome) add({ type: 'outcome', id: entry.id, ...entry.outcome });
    }
    if (pending.length > 0) frames.push(encodeRecordFrame(frames.length, pending));
    const content = Buffer.concat(frames);
    const dir = path.dirname(this.file);
    const tmp = path.join(dir, `.${path.basename(this.file)}.compact-${randomBytes(6).toString('hex')}.tmp`);
    try {
      const out = await fs.open(tmp, 'wx', 0o600);
      try {
        await out.writeFile(content);
        await out.sync();
      } finally {
        await out.close();
      }
    } catch (err) {
      // The journal itself is untouched: report the failure and carry on with the old file.
      await fs.rm(tmp, { force: true }).catch(() => undefined);
      op.reject(new AcceptanceError('JOURNAL_WRITE_FAILED', 'Compacting the request journal failed; the journal is unchanged.', { cause: err }));
      return;
    }
    try {
      await fs.rename(tmp, this.file);
      await syncDirectory(dir);
      const previous = this.handle;
      this.handle = await this.openFile(this.file);
      await previous.close().catch(() => undefined);
    } catch (err) {
      // The rename may or may not have happened: only a reopen can tell which file is current.
      this.fail(err);
      op.reject(this.failure);
      return;
    }
    const bytesBefore = this.fileBytes;
    this.nextSeq = frames.length;
    this.fileBytes = content.length;
    for (const entry of drop) {
      this.entries.delete(entry.id);
      if (entry.idempotencyKey && this.byIdempotencyKey.get(entry.idempotencyKey) === entry.id) this.byIdempotencyKey.delete(entry.idempotencyKey);
      if (entry.outcome?.status === 'committed') this.counts.committed -= 1;
      else this.counts.rejected -= 1;
    }
    this.logger.info('acceptance journal compacted', { dropped: drop.length, kept: keep.length, bytesBefore, bytesAfter: content.length });
    op.resolve({ dropped: drop.length, kept: keep.length, bytesBefore, bytesAfter: content.length });
  }
}

/** SHA-256 (hex) of an API user and an Idempotency-Key: what the journal stores instead of the key. */
export function idempotencyDigest(user: string, key: string): string {
  return createHash('sha256').update(`${user}\u0000${key}`).digest('hex');
}

/** One frame as bytes: `crc32hex JSON\n`. Exported for tests that craft damaged files. */
export function encodeFrame(frame: { seq: number; records: readonly JournalRecord[]; format?: string; version?: number }): Buffer {
  return frameBytes(JSON.stringify(frame));
}

/** A frame of records already serialised: the same JSON as {@link encodeFrame} gives, without re-serialising them. */
function encodeRecordFrame(seq: number, jsons: readonly string[]): Buffer {
  return frameBytes(`{"seq":${seq},"records":[${jsons.join(',')}]}`);
}

function frameBytes(json: string): Buffer {
  const body = Buffer.from(json, 'utf8');
  return Buffer.concat([Buffer.from(`${crc32(body).toString(16).padStart(8, '0')} `, 'latin1'), body, Buffer.of(NEWLINE)]);
}

interface Frame {
  seq: number;
  records: JournalRecord[];
}

/**
 * Splits the file into frames and checks each one. A damaged last frame (and trailing zeros)
 * is reported as torn: `validBytes` is where the file must be cut. A damaged frame with a good
 * frame after it throws JOURNAL_CORRUPT.
 */
function scanFrames(bytes: Buffer, file: string): { frames: Frame[]; validBytes: number; tornReason?: string } {
  const frames: Frame[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const end = bytes.indexOf(NEWLINE, pos);
    if (end === -1) {
      return { frames, validBytes: pos, tornReason: isZeros(bytes, pos, bytes.length) ? 'zero bytes after the last record' : 'the last record is incomplete' };
    }
    const parsed = parseFrame(bytes.subarray(pos, end));
    if (typeof parsed === 'string') {
      if (isZeros(bytes, end + 1, bytes.length)) return { frames, validBytes: pos, tornReason: `the last record is damaged (${parsed})` };
      throw corrupt(file, `record ${frames.length} (at byte ${pos}) is damaged (${parsed}) and records follow it; this is not a crash in mid-write`, { offset: pos, frame: frames.length });
    }
    if (parsed.seq !== frames.length) {
      throw corrupt(file, `record ${frames.length} (at byte ${pos}) carries sequence number ${parsed.seq}: records are missing or repeated`, { offset: pos, frame: frames.length });
    }
    if (frames.length === 0) checkHeader(parsed as Frame & { format?: unknown; version?: unknown }, file);
    else if ('format' in parsed) throw corrupt(file, `record ${frames.length} (at byte ${pos}) is a second header`, { offset: pos });
    frames.push(parsed);
    pos = end + 1;
  }
  return { frames, validBytes: pos };
}

/** A frame, or why it is not one. */
function parseFrame(line: Buffer): Frame | string {
  if (line.length < 10 || line[8] !== 0x20) return 'no checksum';
  const crcText = line.toString('latin1', 0, 8);
  if (!/^[0-9a-f]{8}$/.test(crcText)) return 'no checksum';
  const body = line.subarray(9);
  if (crc32(body) !== parseInt(crcText, 16)) return 'checksum mismatch';
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return 'not JSON';
  }
  const frame = value as { seq?: unknown; records?: unknown };
  if (value === null || typeof value !== 'object' || !Number.isSafeInteger(frame.seq) || !Array.isArray(frame.records)) return 'not a frame';
  for (const record of frame.records) {
    const problem = checkRecord(record);
    if (problem) return problem;
  }
  return value as Frame;
}

function checkHeader(frame: { format?: unknown; version?: unknown; records: unknown[] }, file: string): void {
  if (frame.format !== JOURNAL_FORMAT) {
    throw new AcceptanceError('JOURNAL_UNSUPPORTED', `${file} is not a medprov acceptance journal.`, { details: { format: String(frame.format).slice(0, 64) } });
  }
  if (frame.version !== JOURNAL_VERSION) {
    throw new AcceptanceError('JOURNAL_UNSUPPORTED', `${file} is journal format version ${String(frame.version)}; this gateway reads version ${JOURNAL_VERSION}. Run the gateway version that wrote it until its requests are finished.`);
  }
}

/** Why a checksummed record has the wrong shape (a bug or tampering, never a crash), or undefined. */
function checkRecord(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object') return 'a record is not an object';
  const r = value as Record<string, unknown>;
  if (typeof r.id !== 'string' || !ID.test(r.id)) return 'a record has no valid id';
  if (r.type === 'accept') {
    if (!isRequestKind(r.kind) || r.transaction !== TRANSACTION_OF_KIND[r.kind]) return `request ${r.id} has an unknown kind or transaction`;
    if (!Array.isArray(r.args) || !r.args.every((a) => typeof a === 'string')) return `request ${r.id} has malformed arguments`;
    if (typeof r.acceptedAt !== 'string' || Number.isNaN(Date.parse(r.acceptedAt))) return `request ${r.id} has no acceptance time`;
    if (r.idempotencyKey !== undefined && (typeof r.idempotencyKey !== 'string' || !HEX64.test(r.idempotencyKey))) return `request ${r.id} has a malformed idempotency key digest`;
    if (r.user !== undefined && typeof r.user !== 'string') return `request ${r.id} has a malformed user`;
    return undefined;
  }
  if (r.type === 'outcome') {
    if (typeof r.at !== 'string' || Number.isNaN(Date.parse(r.at))) return `the outcome of ${r.id} has no time`;
    if (r.status === 'committed') {
      return typeof r.transactionId === 'string' && typeof r.blockNumber === 'string' && /^\d+$/.test(r.blockNumber) && 'result' in r
        ? undefined
        : `the outcome of ${r.id} is malformed`;
    }
    if (r.status === 'rejected') return typeof r.code === 'string' && typeof r.message === 'string' ? undefined : `the outcome of ${r.id} is malformed`;
    return `the outcome of ${r.id} has an unknown status`;
  }
  return 'a record has an unknown type';
}

function checkRequest(request: LedgerRequest): string[] {
  if (!request || !isRequestKind(request.kind) || request.transaction !== TRANSACTION_OF_KIND[request.kind]) {
    throw new AcceptanceError('INVALID_ARGUMENT', 'The request names an unknown kind, or a transaction that does not belong to its kind.');
  }
  if (!Array.isArray(request.args) || !request.args.every((a) => typeof a === 'string')) {
    throw new AcceptanceError('INVALID_ARGUMENT', 'The request arguments must be a list of strings.');
  }
  return [...request.args];
}

function checkOutcome(outcome: Outcome, at: string): RecordedOutcome {
  if (outcome?.status === 'committed') {
    if (typeof outcome.transactionId !== 'string' || typeof outcome.blockNumber !== 'string' || !/^\d+$/.test(outcome.blockNumber)) {
      throw new AcceptanceError('INVALID_ARGUMENT', 'A committed outcome needs a transactionId and a decimal blockNumber.');
    }
    // The result goes into a JSON line: it must survive JSON (no bigint, no cycles).
    let result: unknown;
    try {
      result = JSON.parse(JSON.stringify(outcome.result ?? null));
    } catch {
      throw new AcceptanceError('INVALID_ARGUMENT', 'A committed outcome result must be JSON.');
    }
    return { status: 'committed', transactionId: outcome.transactionId, blockNumber: outcome.blockNumber, result, at };
  }
  if (outcome?.status === 'rejected') {
    if (typeof outcome.code !== 'string' || typeof outcome.message !== 'string') throw new AcceptanceError('INVALID_ARGUMENT', 'A rejected outcome needs a code and a message.');
    return { status: 'rejected', code: outcome.code, message: outcome.message, at };
  }
  throw new AcceptanceError('INVALID_ARGUMENT', "An outcome's status is 'committed' or 'rejected'.");
}

function acceptRecordOf(entry: Entry): AcceptRecord {
  return {
    type: 'accept',
    id: entry.id,
    kind: entry.kind,
    transaction: entry.transaction,
    args: entry.args,
    acceptedAt: entry.acceptedAt,
    ...(entry.idempotencyKey ? { idempotencyKey: entry.idempotencyKey } : {}),
    ...(entry.user !== undefined ? { user: entry.user } : {}),
  };
}

function isZeros(bytes: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i] !== 0) return false;
  return true;
}

async function truncateFile(file: string, length: number): Promise<void> {
  const handle = await fs.open(file, 'r+');
  try {
    await handle.truncate(length);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function corrupt(file: string, what: string, details?: Record<string, unknown>): AcceptanceError {
  return new AcceptanceError(
    'JOURNAL_CORRUPT',
    `The request journal ${file} is damaged: ${what}. The gateway will not start on it; keep a copy of the file and restore it from a backup, or remove the damaged part by hand.`,
    details ? { details } : undefined,
  );
}
