/**
 * The anchor index's memory: docHash → what a verification shows, kept in flat typed arrays
 * (one column per field, one open-addressing table of slot numbers) instead of one JS object and
 * one 64-character string key per anchor. An anchor costs 91 bytes of columns (4 of them the
 * number of the block that anchored it), its record id's bytes and 8–16 bytes of bucket table:
 * measured 120 bytes per anchor with 16-byte record ids, about 115 MiB per million
 * (`scripts/bench/verify-index.ts`), where a Map of objects keyed by hex strings takes several
 * hundred. Anchors are never removed (the ledger removes none), so the table only appends and
 * updates in place.
 *
 * The snapshot codec is here too, next to the columns it writes. Its format number changes with
 * the columns: format 1 (before block numbers) is refused with {@link SnapshotFormatError}, so
 * the index rebuilds from the ledger instead of reading it wrongly.
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { endianness } from 'node:os';
import type { RecordChange } from '../../../chaincode/src/contracts/records';
import type { RecordAnchor, RecordStatus } from '../../../chaincode/src/lib/record-model';

/** The fields of an anchor a verification shows ({@link verdictOf} in ./service). */
export type IndexedAnchor = Pick<RecordAnchor, 'docHash' | 'issuer' | 'recordId' | 'version' | 'status' | 'anchoredAt' | 'txId' | 'supersededBy' | 'retraction'> & {
  /** The block of the anchoring transaction (`txId`), in decimal, when known. */
  blockNumber?: string;
};

/** Where a change was read: the block and transaction of its event. */
export interface ChangeOrigin {
  blockNumber: bigint;
  transactionId: string;
}

type Retraction = NonNullable<RecordAnchor['retraction']>;

/** Status codes in the order a version's status can move: active → superseded, or active → retracted. */
const STATUSES: readonly RecordStatus[] = ['active', 'superseded', 'retracted'];
const HASH_BYTES = 32;
const MAGIC = Buffer.from('MPVIDX\u0000\u0001', 'latin1');
/** 2: with the anchoring block of each entry. */
const FORMAT = 2;
/** Blocks column: 0 for "not known" (block 0 is the channel's genesis block, which anchors nothing), else the number up to this. */
const MAX_COLUMN_BLOCK = 0xffffffffn;

/** Why a snapshot could not be read; the index rebuilds from the ledger or refuses to start. */
export class SnapshotError extends Error {}

/** A sound snapshot of a format this gateway does not read: older ones lack columns it needs. */
export class SnapshotFormatError extends SnapshotError {
  constructor(readonly format: unknown) {
    super(`it has format ${String(format)}; this gateway reads format ${FORMAT}.`);
  }

  /** Written by an earlier gateway: rebuilding from the ledger upgrades it (nothing is wrong with it). */
  get older(): boolean {
    return typeof this.format === 'number' && this.format < FORMAT;
  }
}

/** Header of a snapshot file: the sizes of its columns and what does not fit in them. */
interface SnapshotHeader {
  format: number;
  littleEndian: boolean;
  count: number;
  recordBytes: number;
  issuers: string[];
  /** Transaction ids that are not 64 lowercase hex digits, by slot. */
  textTxIds: [number, string][];
  /** Anchoring blocks above the blocks column's range, in decimal, by slot. */
  wideBlocks: [number, string][];
  retractions: [number, Retraction][];
  /** The index's own fields (its checkpoint), opaque here. */
  meta: unknown;
}

export class AnchorTable {
  private count = 0;
  private capacity: number;
  private hashes: Uint8Array;
  private txIds: Uint8Array;
  private times: Float64Array;
  private versions: Uint32Array;
  /** Block of the anchoring transaction; 0 when not known, MAX_COLUMN_BLOCK when in `wideBlocks`. */
  private blocks: Uint32Array;
  private issuerOf: Uint16Array;
  private statuses: Uint8Array;
  /** Slot of the version that superseded this one, or -1. */
  private successors: Int32Array;
  /** The record id of slot i is recordBytes[recordEnds[i - 1] .. recordEnds[i]). */
  private recordEnds: Uint32Array;
  private recordBytes: Uint8Array;
  private recordUsed = 0;
  /** Open addressing: slot + 1, 0 when empty. Kept at most half full. */
  private buckets: Int32Array;
  private readonly issuers: string[] = [];
  private readonly issuerIds = new Map<string, number>();
  private readonly textTxIds = new Map<number, string>();
  private readonly wideBlocks = new Map<number, bigint>();
  private readonly retractions = new Map<number, Retraction>();
  /** Keyed bucket hash, so that chosen docHashes cannot pile up in one chain. */
  private readonly seed = randomBytes(4).readInt32LE(0);
  private readonly scratch = Buffer.alloc(HASH_BYTES);
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder();

  constructor(capacity = 1024) {
    this.capacity = Math.max(16, capacity);
    this.hashes = new Uint8Array(this.capacity * HASH_BYTES);
    this.txIds = new Uint8Array(this.capacity * HASH_BYTES);
    this.times = new Float64Array(this.capacity);
    this.versions = new Uint32Array(this.capacity);
    this.blocks = new Uint32Array(this.capacity);
    this.issuerOf = new Uint16Array(this.capacity);
    this.statuses = new Uint8Array(this.capacity);
    this.successors = new Int32Array(this.capacity);
    this.recordEnds = new Uint32Array(this.capacity);
    this.recordBytes = new Uint8Array(this.capacity * 16);
    this.buckets = new Int32Array(bucketCountFor(this.capacity));
  }

  get size(): number {
    return this.count;
  }

  /** Bytes held by the columns and the bucket table (allocated, not only used). */
  get allocatedBytes(): number {
    const columns = [this.hashes, this.txIds, this.times, this.versions, this.blocks, this.issuerOf, this.statuses, this.successors, this.recordEnds, this.recordBytes, this.buckets];
    return columns.reduce((sum, column) => sum + column.byteLength, 0);
  }

  /** The anchor of this exact document, as a verification shows it, or undefined. */
  get(docHash: string): IndexedAnchor | undefined {
    const slot = this.find(docHash);
    return slot < 0 ? undefined : this.anchorAt(slot);
  }

  /**
   * Applies one change of a `medprov.RecordsChanged` event read at `origin`. Statuses only move
   * forward (active → superseded or retracted), so applying a change twice is harmless. The
   * entry's block is the event's when the change is its own transaction's anchor (a retraction
   * names the anchoring transaction, not its own, and leaves the block as it was).
   */
  apply(change: RecordChange, origin?: ChangeOrigin): void {
    const slot = this.upsert(change);
    if (origin && origin.transactionId === change.txId && this.blockAt(slot) === undefined) this.setBlock(slot, origin.blockNumber);
    if (change.kind === 'amended' && change.supersedes !== undefined) {
      const previous = this.find(change.supersedes);
      if (previous >= 0) {
        this.raiseStatus(previous, 'superseded');
        this.successors[previous] = slot;
      }
    }
    if (change.kind === 'retracted' && change.retraction) this.retractions.set(slot, { ...change.retraction });
  }

  /** The whole table and `meta` as one buffer: header, columns, SHA-256 of all that. */
  encode(meta: unknown): Buffer {
    const n = this.count;
    const header: SnapshotHeader = {
      format: FORMAT,
      littleEndian: endianness() === 'LE',
      count: n,
      recordBytes: this.recordUsed,
      issuers: this.issuers,
      textTxIds: [...this.textTxIds],
      wideBlocks: [...this.wideBlocks].map(([slot, block]) => [slot, block.toString()]),
      retractions: [...this.retractions],
      meta,
    };
    const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32LE(headerBytes.length, 0);
    const parts: Uint8Array[] = [MAGIC, length, headerBytes, ...this.columnViews(n)];
    const hash = createHash('sha256');
    for (const part of parts) hash.update(part);
    parts.push(hash.digest());
    return Buffer.concat(parts);
  }

  /** Reads what {@link encode} wrote; throws {@link SnapshotError} for anything torn or altered. */
  static decode(file: Uint8Array): { table: AnchorTable; meta: unknown } {
    const bytes = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
    if (bytes.length < MAGIC.length + 4 + HASH_BYTES || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) {
      throw new SnapshotError('it is not an anchor-index snapshot (or it is cut short).');
    }
    const body = bytes.subarray(0, bytes.length - HASH_BYTES);
    if (!createHash('sha256').update(body).digest().equals(bytes.subarray(body.length))) {
      throw new SnapshotError('its checksum does not match its content (torn or altered).');
    }
    const headerLength = bytes.readUInt32LE(MAGIC.length);
    const headerStart = MAGIC.length + 4;
    let header: SnapshotHeader;
    try {
      header = JSON.parse(body.subarray(headerStart, headerStart + headerLength).toString('utf8')) as SnapshotHeader;
    } catch {
      throw new SnapshotError('its header is not JSON.');
    }
    if (header.format !== FORMAT) throw new SnapshotFormatError(header.format);
    if (header.littleEndian !== (endianness() === 'LE')) throw new SnapshotError('it was written on a machine of the other byte order.');
    if (
      !isCount(header.count) ||
      !isCount(header.recordBytes) ||
      !Array.isArray(header.issuers) ||
      !Array.isArray(header.textTxIds) ||
      !Array.isArray(header.wideBlocks) ||
      !Array.isArray(header.retractions)
    ) {
      throw new SnapshotError('its header lacks sizes or lists.');
    }
    const table = new AnchorTable(header.count);
    table.count = header.count;
    table.recordUsed = header.recordBytes;
    if (table.recordBytes.length < header.recordBytes) table.recordBytes = new Uint8Array(header.recordBytes);
    let offset = headerStart + headerLength;
    for (const view of table.columnViews(header.count)) {
      if (offset + view.byteLength > body.length) throw new SnapshotError('its columns are shorter than its header says.');
      view.set(body.subarray(offset, offset + view.byteLength));
      offset += view.byteLength;
    }
    if (offset !== body.length) throw new SnapshotError('it has bytes after its last column.');
    header.issuers.forEach((issuer, id) => table.issuerIds.set(issuer, id));
    table.issuers.push(...header.issuers);
    for (const [slot, txId] of header.textTxIds) table.textTxIds.set(slot, txId);
    for (const [slot, block] of header.wideBlocks) {
      if (!isCount(slot) || slot >= header.count || typeof block !== 'string' || !/^\d+$/.test(block) || BigInt(block) < MAX_COLUMN_BLOCK) {
        throw new SnapshotError(`its block number of entry ${String(slot)} is malformed.`);
      }
      table.wideBlocks.set(slot, BigInt(block));
    }
    for (const [slot, retraction] of header.retractions) table.retractions.set(slot, retraction);
    table.checkAndRehash();
    return { table, meta: header.meta };
  }

  /** Byte views of the first `n` entries of every column, in snapshot order. */
  private columnViews(n: number): Uint8Array[] {
    const bytesOf = (column: ArrayBufferView, length: number) => new Uint8Array(column.buffer, column.byteOffset, length);
    return [
      this.hashes.subarray(0, n * HASH_BYTES),
      this.txIds.subarray(0, n * HASH_BYTES),
      bytesOf(this.times, n * 8),
      bytesOf(this.versions, n * 4),
      bytesOf(this.blocks, n * 4),
      bytesOf(this.issuerOf, n * 2),
      this.statuses.subarray(0, n),
      bytesOf(this.successors, n * 4),
      bytesOf(this.recordEnds, n * 4),
      this.recordBytes.subarray(0, this.recordUsed),
    ];
  }

  /** After decoding: every field in range, no docHash twice; builds the bucket table. */
  private checkAndRehash(): void {
    let previousEnd = 0;
    for (let slot = 0; slot < this.count; slot++) {
      const end = this.recordEnds[slot];
      const successor = this.successors[slot];
      if (
        this.statuses[slot] >= STATUSES.length ||
        (this.blocks[slot] === Number(MAX_COLUMN_BLOCK)) !== this.wideBlocks.has(slot) ||
        this.issuerOf[slot] >= this.issuers.length ||
        successor < -1 ||
        successor >= this.count ||
        end < previousEnd ||
        end > this.recordUsed
      ) {
        throw new SnapshotError(`its entry ${slot} is out of range.`);
      }
      previousEnd = end;
      if (!this.insertBucket(slot)) throw new SnapshotError(`its entry ${slot} repeats a document hash.`);
    }
  }

  private anchorAt(slot: number): IndexedAnchor {
    const status = STATUSES[this.statuses[slot]];
    const successor = this.successors[slot];
    const retraction = this.retractions.get(slot);
    const block = this.blockAt(slot);
    return {
      docHash: hexAt(this.hashes, slot),
      issuer: this.issuers[this.issuerOf[slot]],
      recordId: this.decoder.decode(this.recordBytes.subarray(slot === 0 ? 0 : this.recordEnds[slot - 1], this.recordEnds[slot])),
      version: this.versions[slot],
      status,
      anchoredAt: new Date(this.times[slot]).toISOString(),
      txId: this.textTxIds.get(slot) ?? hexAt(this.txIds, slot),
      ...(block !== undefined ? { blockNumber: block.toString() } : {}),
      ...(successor >= 0 ? { supersededBy: hexAt(this.hashes, successor) } : {}),
      ...(retraction ? { retraction: { ...retraction } } : {}),
    };
  }

  /** The slot of a change's docHash, appended if new; its status only moves forward. */
  private upsert(change: RecordChange): number {
    const existing = this.find(change.docHash);
    if (existing >= 0) {
      this.raiseStatus(existing, change.status);
      return existing;
    }
    if (!isHex64(change.docHash)) throw new RangeError(`docHash ${JSON.stringify(change.docHash)} is not 64 lowercase hex digits.`);
    const time = Date.parse(change.anchoredAt);
    if (!Number.isFinite(time) || new Date(time).toISOString() !== change.anchoredAt) {
      throw new RangeError(`anchoredAt ${JSON.stringify(change.anchoredAt)} is not an ISO-8601 time with milliseconds.`);
    }
    const statusCode = STATUSES.indexOf(change.status);
    if (statusCode < 0) throw new RangeError(`status ${JSON.stringify(change.status)} is not a record status.`);
    if (!Number.isInteger(change.version) || change.version < 1 || change.version > 0xffffffff) throw new RangeError(`version ${change.version} is out of range.`);
    const recordId = this.encoder.encode(change.recordId);
    if (this.count === this.capacity) this.grow(this.capacity * 2);
    while (this.recordUsed + recordId.length > this.recordBytes.length) this.recordBytes = resized(this.recordBytes, this.recordBytes.length * 2);

    const slot = this.count;
    this.hashes.set(Buffer.from(change.docHash, 'hex'), slot * HASH_BYTES);
    if (isHex64(change.txId)) this.txIds.set(Buffer.from(change.txId, 'hex'), slot * HASH_BYTES);
    else this.textTxIds.set(slot, change.txId);
    this.times[slot] = time;
    this.versions[slot] = change.version;
    this.blocks[slot] = 0;
    this.issuerOf[slot] = this.issuerId(change.issuer);
    this.statuses[slot] = statusCode;
    this.successors[slot] = -1;
    this.recordBytes.set(recordId, this.recordUsed);
    this.recordUsed += recordId.length;
    this.recordEnds[slot] = this.recordUsed;
    this.count += 1;
    if (this.count * 2 > this.buckets.length) this.rehash(this.buckets.length * 2);
    else this.insertBucket(slot);
    return slot;
  }

  /** The anchoring block of a slot, or undefined when not known. */
  private blockAt(slot: number): bigint | undefined {
    const block = this.blocks[slot];
    if (block === 0) return undefined;
    return block === Number(MAX_COLUMN_BLOCK) ? this.wideBlocks.get(slot) : BigInt(block);
  }

  private setBlock(slot: number, block: bigint): void {
    if (block <= 0n) return;
    if (block < MAX_COLUMN_BLOCK) {
      this.blocks[slot] = Number(block);
    } else {
      this.blocks[slot] = Number(MAX_COLUMN_BLOCK);
      this.wideBlocks.set(slot, block);
    }
  }

  private raiseStatus(slot: number, status: RecordStatus): void {
    const code = STATUSES.indexOf(status);
    if (code > this.statuses[slot]) this.statuses[slot] = code;
  }

  private issuerId(issuer: string): number {
    let id = this.issuerIds.get(issuer);
    if (id === undefined) {
      if (this.issuers.length > 0xffff) throw new RangeError('more than 65,536 issuers.');
      id = this.issuers.push(issuer) - 1;
      this.issuerIds.set(issuer, id);
    }
    return id;
  }

  private find(docHash: string): number {
    if (!isHex64(docHash)) return -1;
    this.scratch.write(docHash, 'hex');
    const mask = this.buckets.length - 1;
    for (let b = this.bucketOf(this.scratch, 0) & mask; ; b = (b + 1) & mask) {
      const entry = this.buckets[b];
      if (entry === 0) return -1;
      if (this.sameHash(entry - 1, this.scratch)) return entry - 1;
    }
  }

  /** False when the slot's docHash is already in the table. */
  private insertBucket(slot: number): boolean {
    const mask = this.buckets.length - 1;
    for (let b = this.bucketOf(this.hashes, slot * HASH_BYTES) & mask; ; b = (b + 1) & mask) {
      const entry = this.buckets[b];
      if (entry === 0) {
        this.buckets[b] = slot + 1;
        return true;
      }
      if (this.sameHash(entry - 1, this.hashes.subarray(slot * HASH_BYTES, slot * HASH_BYTES + HASH_BYTES))) return false;
    }
  }

  private sameHash(slot: number, hash: Uint8Array): boolean {
    const base = slot * HASH_BYTES;
    for (let i = 0; i < HASH_BYTES; i++) if (this.hashes[base + i] !== hash[i]) return false;
    return true;
  }

  private bucketOf(bytes: Uint8Array, offset: number): number {
    let h = this.seed;
    for (let i = offset; i < offset + HASH_BYTES; i += 4) {
      const word = bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
      h = Math.imul(h ^ word, 0x85ebca6b);
      h ^= h >>> 13;
    }
    h = Math.imul(h ^ (h >>> 16), 0xc2b2ae35);
    return h ^ (h >>> 16);
  }

  private rehash(bucketCount: number): void {
    this.buckets = new Int32Array(bucketCount);
    for (let slot = 0; slot < this.count; slot++) this.insertBucket(slot);
  }

  private grow(capacity: number): void {
    this.capacity = capacity;
    this.hashes = resized(this.hashes, capacity * HASH_BYTES);
    this.txIds = resized(this.txIds, capacity * HASH_BYTES);
    this.times = resized(this.times, capacity);
    this.versions = resized(this.versions, capacity);
    this.blocks = resized(this.blocks, capacity);
    this.issuerOf = resized(this.issuerOf, capacity);
    this.statuses = resized(this.statuses, capacity);
    this.successors = resized(this.successors, capacity);
    this.recordEnds = resized(this.recordEnds, capacity);
  }
}

type Column = Uint8Array | Uint16Array | Uint32Array | Int32Array | Float64Array;

function resized<T extends Column>(column: T, length: number): T {
  const next = new (column.constructor as new (length: number) => T)(length);
  next.set(column as ArrayLike<number> & T);
  return next;
}

/** 64 lowercase hex digits (a loop: far cheaper than a regular expression on this hot path). */
function isHex64(s: string): boolean {
  if (s.length !== 64) return false;
  for (let i = 0; i < 64; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) < 2 ** 31;
}

function bucketCountFor(capacity: number): number {
  let n = 32;
  while (n < capacity * 2) n *= 2;
  return n;
}

function hexAt(column: Uint8Array, slot: number): string {
  return Buffer.from(column.buffer, column.byteOffset + slot * HASH_BYTES, HASH_BYTES).toString('hex');
}
