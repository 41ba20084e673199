/**
 * The consent feed of one organisation: the grants and revocations that concern it, followed
 * from the ledger's `medprov.ConsentChanged` events and kept in a local append-only file, so
 * that the gateway's event stream can replay them to a client that reconnects and carry on
 * where it stopped after the gateway restarts.
 *
 * The file is NDJSON, one {@link ConsentFeedEntry} a line, each line fsync'ed before it is
 * announced. On open, a last line that is incomplete or unreadable (the previous process
 * stopped while writing it, so it was never announced) is cut off; the follower then resumes
 * reading the ledger after the last entry's checkpoint, so what was committed while the
 * gateway was down is delivered too, and nothing twice. A damaged line followed by a good one
 * cannot come from a crash and is refused (FEED_CORRUPT): an operator must look.
 *
 * @module
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { CONSENT_EVENT, type ConsentChange } from '../../../chaincode/src/lib/consent-model';
import { ApiError } from '../errors';
import type { EventCheckpoint, LedgerEvent, LedgerEvents } from '../fabric/client';
import { acquireLock, readFileIfExists, syncDirectory, type FileLock } from '../storage/durable-file';

/** Every code {@link ConsentFeedError} can carry, with its HTTP status. Codes are stable; sentences may change. */
export const CONSENT_FEED_ERROR_STATUS = {
  /** A Last-Event-ID or `after` that is not an event id of this feed. */
  INVALID_EVENT_ID: 400,
  /** A line in the middle of the feed file is damaged, or the sequence is broken. */
  FEED_CORRUPT: 500,
  /** Another live process (or another object of this one) holds the feed file. */
  FEED_LOCKED: 500,
  /** Appending to the feed file or syncing it failed; the follower retries. */
  FEED_WRITE_FAILED: 503,
} as const;

/** A stable machine-readable code of {@link ConsentFeedError}. */
export type ConsentFeedErrorCode = keyof typeof CONSENT_FEED_ERROR_STATUS;

/** The error of the consent feed: an {@link ApiError}, so a route that lets it escape answers with the envelope. */
export class ConsentFeedError extends ApiError {
  declare readonly code: ConsentFeedErrorCode;

  /** The HTTP status follows from `code`; `details` are for machines, `cause` is the underlying error. */
  constructor(code: ConsentFeedErrorCode, sentence: string, details?: Record<string, unknown>, cause?: unknown) {
    super(CONSENT_FEED_ERROR_STATUS[code], code, sentence, details);
    this.name = 'ConsentFeedError';
    if (cause !== undefined) Object.defineProperty(this, 'cause', { value: cause, enumerable: false });
  }
}

/** A grant or revocation, the only consent changes a feed keeps. */
export type FeedChange = ConsentChange & { kind: 'granted' | 'revoked'; grantId: string; grantee: string };

/** One line of the feed file, and the `data` of one event of the stream. */
export interface ConsentFeedEntry {
  /** 1, 2, 3, … in file order: the event stream's `id`. */
  readonly seq: number;
  /** The block of the transaction that made the change (a decimal string: block numbers are 64-bit). */
  readonly blockNumber: string;
  readonly transactionId: string;
  readonly change: FeedChange;
}

/** The organisation a feed follows the ledger for. */
export interface FeedOrg {
  readonly mspId: string;
  readonly type: 'hospital' | 'insurer' | 'sponsor' | 'linkage';
}

/** The part of the gateway's pino logger the feed uses (fields first, as pino takes them). */
export interface FeedLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

const silent: FeedLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

export interface ConsentFeedOptions {
  /** The feed file; its folder is created if missing, and `<file>.lock` is held while open. */
  readonly file: string;
  readonly ledger: LedgerEvents;
  readonly org: FeedOrg;
  readonly logger?: FeedLogger;
  /** Backoff after the ledger's event stream fails: first delay and cap in ms (500 and 30,000). */
  readonly retry?: { readonly initialMs?: number; readonly maxMs?: number };
}

/** Announcements of a feed: each entry once it is durable, and the feed closing. */
export interface FeedListener {
  entry(entry: ConsentFeedEntry): void;
  closed(): void;
}

/** Does this change concern `org`: it is the grantee, or (a hospital) the grant is about one of its patients. */
export function concernsOrg(change: ConsentChange, org: FeedOrg): change is FeedChange {
  if (change.kind !== 'granted' && change.kind !== 'revoked') return false;
  if (typeof change.grantId !== 'string' || typeof change.grantee !== 'string') return false;
  return change.grantee === org.mspId || (org.type === 'hospital' && change.hospital === org.mspId);
}

/** A Last-Event-ID / `after` value: 0 (from the start) or a positive integer of at most 15 digits. */
const EVENT_ID = /^(?:0|[1-9][0-9]{0,14})$/;

/**
 * Reads an event id sent by a client.
 *
 * @throws ConsentFeedError INVALID_EVENT_ID when it is not a decimal event id
 */
export function parseEventId(value: string, where: string): number {
  if (!EVENT_ID.test(value)) {
    throw new ConsentFeedError('INVALID_EVENT_ID', `${where} must be an event id of this stream (0 or a positive whole number); got ${JSON.stringify(value.slice(0, 40))}.`);
  }
  return Number(value);
}

/** The follower and its file; {@link ConsentFeed.open} loads it, {@link ConsentFeed.start} follows the ledger. */
export class ConsentFeed {
  private readonly listeners = new Set<FeedListener>();
  private readonly logger: FeedLogger;
  /** The last ledger event handled (kept or not): where a reconnect resumes. */
  private position: EventCheckpoint | undefined;
  private controller: AbortController | undefined;
  private following: Promise<void> | undefined;
  private closed = false;

  private constructor(
    private readonly options: ConsentFeedOptions,
    private readonly handle: fs.FileHandle,
    private readonly lock: FileLock,
    private readonly entries: ConsentFeedEntry[],
    private size: number,
  ) {
    this.logger = options.logger ?? silent;
    this.position = this.checkpoint;
  }

  /**
   * Opens (or creates) the feed file, cuts a torn last line, and loads the entries. Nothing is
   * read from the ledger until {@link start}.
   *
   * @throws ConsentFeedError FEED_LOCKED, FEED_CORRUPT
   */
  static async open(options: ConsentFeedOptions): Promise<ConsentFeed> {
    const file = path.resolve(options.file);
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    const lock = await acquireLock(`${file}.lock`, (holder) =>
      new ConsentFeedError(
        'FEED_LOCKED',
        holder === undefined
          ? 'The consent feed lock could not be taken; another process keeps recreating it.'
          : `The consent feed ${file} is in use by process ${holder}${holder === process.pid ? ' (this process: it is already open)' : ''}; two gateways cannot share one feed.`,
      ),
    );
    try {
      const bytes = await readFileIfExists(file);
      const scan = scanFeed(bytes ?? Buffer.alloc(0), file);
      const handle = await fs.open(file, 'a', 0o600);
      try {
        if (bytes === undefined) {
          await syncDirectory(path.dirname(file));
        } else if (scan.validBytes < bytes.length) {
          await handle.truncate(scan.validBytes);
          await handle.sync();
          options.logger?.warn(
            { file, droppedBytes: bytes.length - scan.validBytes, entries: scan.entries.length },
            'consent feed: cut a torn last line (the previous process stopped while writing it; it is read again from the ledger)',
          );
        }
      } catch (err) {
        await handle.close();
        throw err;
      }
      return new ConsentFeed({ ...options, file }, handle, lock, scan.entries, scan.validBytes);
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  /** The seq of the last durable entry; 0 when there is none. */
  get lastSeq(): number {
    return this.entries.length;
  }

  /** The ledger checkpoint of the last durable entry: where a restarted feed resumes reading. */
  get checkpoint(): EventCheckpoint | undefined {
    const last = this.entries[this.entries.length - 1];
    return last && { blockNumber: BigInt(last.blockNumber), transactionId: last.transactionId };
  }

  /**
   * The entries after `seq`, oldest first.
   *
   * @throws ConsentFeedError INVALID_EVENT_ID when `seq` is beyond the last entry (an id this feed never issued)
   */
  entriesAfter(seq: number): readonly ConsentFeedEntry[] {
    if (!Number.isSafeInteger(seq) || seq < 0 || seq > this.lastSeq) {
      throw new ConsentFeedError('INVALID_EVENT_ID', `Event ${seq} is not in this stream, whose last event is ${this.lastSeq}; reconnect without Last-Event-ID (or with after=0) to read it from the start.`, {
        lastEventId: String(this.lastSeq),
      });
    }
    // seq n is entries[n - 1]: the array is the file, in order, without gaps.
    return this.entries.slice(seq);
  }

  /**
   * Calls `listener.entry` for every entry appended from now on, after it is durable, and
   * `listener.closed` when the feed closes. Returns the unsubscribe function.
   */
  subscribe(listener: FeedListener): () => void {
    if (this.closed) {
      listener.closed();
      return () => undefined;
    }
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** How many listeners are subscribed (open event streams). */
  get subscribers(): number {
    return this.listeners.size;
  }

  /** Starts following the ledger after the last entry's checkpoint; reconnects with backoff when the stream fails. */
  start(): void {
    if (this.following || this.closed) return;
    this.controller = new AbortController();
    this.logger.info({ entries: this.lastSeq, after: describeCheckpoint(this.position) }, 'consent feed: following the ledger');
    this.following = this.follow(this.controller.signal);
  }

  /** Stops following, tells subscribers, closes the file and gives up the lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.controller?.abort();
    await this.following;
    for (const listener of [...this.listeners]) listener.closed();
    this.listeners.clear();
    await this.handle.close();
    await this.lock.release();
  }

  private async follow(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      let failure: unknown;
      try {
        for await (const event of this.options.ledger.events({ ...(this.position ? { after: this.position } : {}), signal })) {
          if (signal.aborted) break;
          await this.handleEvent(event);
          failures = 0;
        }
      } catch (err) {
        failure = err;
      }
      if (signal.aborted) break;
      // A live stream ends only when asked to: an end without the signal is a failure too.
      failures += 1;
      const delay = backoff(failures, this.options.retry);
      this.logger.warn(
        { err: failure, attempt: failures, retryInMs: delay, after: describeCheckpoint(this.position) },
        failure === undefined ? 'consent feed: the ledger event stream ended; reconnecting' : 'consent feed: the ledger event stream failed; reconnecting',
      );
      await sleep(delay, signal);
    }
  }

  private async handleEvent(event: LedgerEvent): Promise<void> {
    // The resume rule makes the ledger skip what the feed has; this only guards against a source that does not.
    if (this.position && (event.blockNumber < this.position.blockNumber || (event.blockNumber === this.position.blockNumber && event.transactionId === this.position.transactionId))) {
      return;
    }
    if (event.eventName === CONSENT_EVENT) {
      const change = readChange(event.payload);
      if (!change) {
        this.logger.error({ blockNumber: String(event.blockNumber), transactionId: event.transactionId }, 'consent feed: skipped a consent event whose payload is not a consent change');
      } else if (concernsOrg(change, this.options.org)) {
        await this.append(event, change);
      }
    }
    this.position = { blockNumber: event.blockNumber, transactionId: event.transactionId };
  }

  private async append(event: LedgerEvent, change: FeedChange): Promise<void> {
    const entry: ConsentFeedEntry = { seq: this.lastSeq + 1, blockNumber: event.blockNumber.toString(), transactionId: event.transactionId, change: pickChange(change) };
    const line = Buffer.from(`${JSON.stringify(entry)}\n`, 'utf8');
    try {
      await this.handle.write(line);
      await this.handle.sync();
    } catch (err) {
      // Leave no half line behind for the next attempt to follow.
      await this.handle.truncate(this.size).catch(() => undefined);
      throw new ConsentFeedError('FEED_WRITE_FAILED', `Appending to the consent feed ${this.options.file} failed: ${(err as Error).message.replace(/\.$/, '')}.`, undefined, err);
    }
    this.size += line.length;
    this.entries.push(entry);
    this.logger.info({ seq: entry.seq, kind: change.kind, grantId: change.grantId, blockNumber: entry.blockNumber, transactionId: entry.transactionId }, 'consent feed: change recorded');
    for (const listener of [...this.listeners]) {
      try {
        listener.entry(entry);
      } catch (err) {
        this.logger.error({ err, seq: entry.seq }, 'consent feed: a subscriber failed');
      }
    }
  }
}

/** The fields of a change the feed keeps, in a fixed order (the chaincode's payload may grow). */
function pickChange(change: FeedChange): FeedChange {
  const { kind, hospital, patientRef, grantId, grantee, purpose, status } = change;
  return { kind, hospital, patientRef, grantId, grantee, ...(purpose !== undefined ? { purpose } : {}), ...(status !== undefined ? { status } : {}) };
}

function readChange(payload: Uint8Array): ConsentChange | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(payload).toString('utf8')) as ConsentChange;
    return isChangeShape(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function isChangeShape(value: unknown): value is ConsentChange {
  const v = value as Record<string, unknown> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    (v.kind === 'registered' || v.kind === 'granted' || v.kind === 'revoked') &&
    typeof v.hospital === 'string' &&
    typeof v.patientRef === 'string'
  );
}

/** Parses the file: its entries, and how many bytes of it are whole lines that read (the rest is a torn tail). */
function scanFeed(bytes: Buffer, file: string): { entries: ConsentFeedEntry[]; validBytes: number } {
  const entries: ConsentFeedEntry[] = [];
  let start = 0;
  while (start < bytes.length) {
    const end = bytes.indexOf(0x0a, start);
    const entry = end < 0 ? undefined : readEntry(bytes.subarray(start, end), entries.length + 1);
    if (!entry) {
      // Unreadable: torn when only zero bytes (or nothing) follow it, damage otherwise.
      if (end >= 0 && bytes.subarray(end + 1).some((b) => b !== 0)) {
        throw new ConsentFeedError('FEED_CORRUPT', `Line ${entries.length + 1} of the consent feed ${file} is damaged and more lines follow it; it cannot come from a crash. Move the file aside to rebuild the feed from the ledger.`, {
          line: entries.length + 1,
          offset: start,
        });
      }
      break;
    }
    entries.push(entry);
    start = end + 1;
  }
  return { entries, validBytes: start };
}

function readEntry(line: Buffer, expectedSeq: number): ConsentFeedEntry | undefined {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(line.toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const ok =
    typeof parsed === 'object' &&
    parsed !== null &&
    parsed.seq === expectedSeq &&
    typeof parsed.blockNumber === 'string' &&
    /^\d{1,20}$/.test(parsed.blockNumber) &&
    typeof parsed.transactionId === 'string' &&
    parsed.transactionId.length > 0 &&
    isChangeShape(parsed.change) &&
    parsed.change.kind !== 'registered';
  return ok ? (parsed as unknown as ConsentFeedEntry) : undefined;
}

function describeCheckpoint(checkpoint: EventCheckpoint | undefined): string {
  return checkpoint ? `${checkpoint.blockNumber}/${checkpoint.transactionId}` : 'the first block';
}

/** Exponential backoff with jitter: initial × 2^(n-1), capped, times a random factor in [0.5, 1). */
function backoff(failures: number, retry: ConsentFeedOptions['retry']): number {
  const initial = retry?.initialMs ?? 500;
  const max = retry?.maxMs ?? 30_000;
  return Math.round(Math.min(max, initial * 2 ** Math.min(failures - 1, 30)) * (0.5 + Math.random() / 2));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
