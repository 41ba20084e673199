/**
 * The org's patient key store: one random 32-byte HMAC key per patient, held only by this
 * org, from which every patientRef on the ledger is derived ({@link derivePatientRef}).
 *
 * What the store file holds, and what it does not:
 *  - entries are indexed by HMAC(orgIndexKey, canonical id), never by the identifier or a
 *    bare hash of it (an RRN's hash is reversed by enumerating ~10^10 candidates);
 *  - patient keys are sealed with AES-256-GCM under a DEK derived from the master key
 *    generation recorded in each entry, with the entry's index as associated data (a
 *    ciphertext moved to another patient's entry fails to open);
 *  - the whole file carries an HMAC under the current generation, and has one byte form.
 *
 * Erasure is crypto-shredding: destroying a patient's key makes every commitment on the
 * ledger unlinkable to them, with no ledger change. Master key rotation re-encrypts every
 * entry while reads continue.
 *
 * Concurrency model: one process owns the store (a lock file enforces it). Reads are
 * synchronous and see only durable state. Writes are queued and group-committed: every
 * write replaces the whole file atomically, and a call resolves only after its change is on
 * disk, so no patientRef is handed out whose key could still be lost in a crash.
 *
 * Scale: the whole store is one JSON file rewritten per commit (~145 bytes per patient), fit
 * for up to roughly 10^5 patients per org. Beyond that, put an embedded database behind the
 * same class; the format and the cryptography stay.
 */
import { randomBytes as systemRandomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { PrivacyError } from './errors';
import { MasterKey, masterKeyBytes } from './master-key';
import { PATIENT_KEY_BYTES, canonicalPatientId, derivePatientRef } from './pseudonym';
import {
  STORE_FORMAT,
  type Keyring,
  deriveCommitmentKey,
  deriveIndexKey,
  deriveKeyring,
  destroyKeyring,
  hmacSha256,
  keyCheckOf,
  seal,
  toB64u,
  unseal,
} from './sealing';
import { acquireLock, writeFileAtomic, type FileLock } from '../storage/durable-file';
import { documentSalt, type DocumentSalts } from '../documents/commitment';
import {
  STORE_ID_BYTES,
  type EntryRecord,
  type RetiredRecord,
  type StoreDocument,
  parseStore,
  serializeBody,
  serializeWithMac,
} from './store-format';

/** File name of the store inside its state folder, unless configured otherwise. */
export const DEFAULT_STORE_FILE = 'patient-keys.json';
/** Entries re-encrypted per committed write during rotation. */
export const DEFAULT_ROTATION_BATCH = 256;

/** How to open a {@link PatientKeyStore}. */
export interface PatientKeyStoreOptions {
  /** Folder holding the store file and its lock (created 0700 when `ifMissing` is 'create'). */
  stateDir: string;
  /** The current master key. It must be the store's current key generation. */
  masterKey: MasterKey;
  /** Earlier master keys; needed only to finish an interrupted rotation. */
  previousMasterKeys?: readonly MasterKey[];
  /** File name inside `stateDir`; default {@link DEFAULT_STORE_FILE}. */
  fileName?: string;
  /**
   * What to do when the file does not exist. Default 'fail': silently starting an empty
   * store (after a wrong path or a lost volume) would give every patient a new key, and
   * their new refs would no longer match anything already on the ledger.
   */
  ifMissing?: 'fail' | 'create';
  /** Entries re-encrypted per write while rotating; default {@link DEFAULT_ROTATION_BATCH}. */
  rotationBatchSize?: number;
  /** Clock for erasure records; default the system clock. */
  now?: () => Date;
  /** Randomness source (keys, IVs, ids); default `crypto.randomBytes`. For tests. */
  randomBytes?: (size: number) => Buffer;
}

/** Whether this org holds a key for an identifier. */
export type PatientStatus = 'active' | 'erased' | 'unknown';

/** Options of {@link PatientKeyStore.registerPatient}. */
export interface RegistrationOptions {
  /** Register a patient whose key was erased again, with a new, unrelated key. */
  afterErasure?: boolean;
  /**
   * With `afterErasure`: makes sure the ledger holds the record of erasure `erasureId` (recording
   * it if it is missing) and throws when that cannot be confirmed. Called, outside the write
   * queue, before a tombstone that keeps its erasure's id is removed: once it is gone, nothing
   * names that erasure any more, so an erasure never recorded would stay unrecorded for good.
   * Without it such a tombstone is kept (PATIENT_KEY_ERASED). Tombstones from before ids were
   * kept have nothing to confirm and are removed as before.
   */
  confirmErasureRecorded?: (erasureId: string) => Promise<void>;
}

/** Result of {@link PatientKeyStore.registerPatient}. */
export interface Registration {
  /** The patient's ref under this org (HMAC-SHA256, hex). */
  patientRef: string;
  /** False when the patient already had a key (the same ref is returned). */
  created: boolean;
}

/**
 * Proof that a patient's key was destroyed, safe to keep and to hand to the patient.
 *
 * It deliberately carries nothing derived from the patient: not the identifier, not the
 * patientRef, not the store index, not a hash of any of them. Kept next to the erasure
 * request (which names the patient), a ref would re-create exactly the link between the
 * person and their ledger entries that erasure exists to cut. Nor does it count the
 * patient's ledger records: a record count is itself a quasi-identifier, and the key store
 * does not know it. The patient's request and this record are tied together by the random
 * `erasureId`, which only the org's request log and the patient's receipt hold.
 */
export interface ErasureRecord {
  /** Random UUID naming this erasure. */
  erasureId: string;
  /** When the key was destroyed (ISO 8601, UTC). */
  erasedAt: string;
  /** Keys destroyed: always 1 (one key per patient; it determines the one patientRef). */
  keysDestroyed: number;
}

/** Result of a master key rotation. */
export interface RotationReport {
  /** Generations the entries were moved off. */
  fromGenerations: number[];
  /** The generation every entry is now encrypted under. */
  toGeneration: number;
  /** Entries re-encrypted by this call. */
  reEncrypted: number;
}

/** A snapshot of the store's state, without anything patient-specific. */
export interface KeyStoreStatus {
  currentGeneration: number;
  /** Generations with a key held (current, plus older ones until a rotation finishes). */
  liveGenerations: number[];
  /** Generations rotated away; their keys are refused from now on. */
  retiredGenerations: number[];
  activePatients: number;
  erasedPatients: number;
  /** Entries still under an older generation (a rotation is running or was interrupted). */
  entriesAwaitingRotation: number;
  rotationRunning: boolean;
}

interface Generation {
  g: number;
  check: Buffer;
  /** The index seed sealed under this generation (kept so the file can be rewritten). */
  seed: Buffer;
  /** Absent for a generation whose key was not supplied (allowed when nothing uses it). */
  keyring?: Keyring;
}

/** Changes staged by queued operations, written together, then adopted. */
interface Draft {
  entries: Map<string, EntryRecord | null>;
  /** Tombstones added: index → the erasure's random id. */
  erasedAdd: Map<string, string>;
  erasedRemove: Set<string>;
  newGeneration?: Generation;
}

interface Prepared<T> {
  result: T;
}

interface QueuedOp {
  prepare(draft: Draft): void;
  commit(): void;
  fail(err: unknown): void;
}

/** Durable state as held in memory; replaced wholesale after each write. */
interface State {
  current: number;
  generations: Map<number, Generation>;
  retired: RetiredRecord[];
  entries: Map<string, EntryRecord>;
  /** Tombstones: index → the erasure's random id (`null`: erased before ids were kept). */
  erased: Map<string, string | null>;
}

/**
 * The per-org patient key store. Create with {@link PatientKeyStore.open}.
 *
 * It also holds the org's record-commitment key `K_org` ({@link documentSalt}): derived from the
 * store's sealed index seed, so it is encrypted under the master key, re-wrapped by every
 * rotation, and never touched by a patient's erasure.
 */
export class PatientKeyStore implements DocumentSalts {
  private state: State;
  /** `K_org` of documents/commitment.ts; wiped on close. */
  private readonly commitmentKey: Buffer;
  private readonly erasing = new Map<string, number>();
  private queue: QueuedOp[] = [];
  /** Set and cleared synchronously with the queue check, so no queued call is ever stranded. */
  private writing = false;
  private idleWaiters: (() => void)[] = [];
  private rotation: Promise<RotationReport> | undefined;
  private closing = false;
  private closed = false;
  private readonly storeIdText: string;

  private constructor(
    private readonly file: string,
    private readonly lock: FileLock,
    private readonly storeId: Buffer,
    private readonly indexSeed: Buffer,
    private readonly indexKey: Buffer,
    state: State,
    private readonly random: (size: number) => Buffer,
    private readonly now: () => Date,
    private readonly batchSize: number,
  ) {
    this.state = state;
    this.storeIdText = toB64u(storeId);
    this.commitmentKey = deriveCommitmentKey(indexSeed, storeId);
  }

  /**
   * Opens (or, with `ifMissing: 'create'`, creates) the store in `stateDir`, verifying the
   * master key, the file's MAC and the wrapped index key. Holds the store's lock until
   * {@link close}.
   *
   * @throws PrivacyError STORE_NOT_FOUND, STORE_LOCKED, STORE_CORRUPT, STORE_TAMPERED,
   *   MASTER_KEY_INVALID, ROTATION_INCOMPLETE, STORE_WRITE_FAILED
   */
  static async open(options: PatientKeyStoreOptions): Promise<PatientKeyStore> {
    const stateDir = path.resolve(options.stateDir);
    const file = path.join(stateDir, options.fileName ?? DEFAULT_STORE_FILE);
    const ifMissing = options.ifMissing ?? 'fail';
    const random = options.randomBytes ?? systemRandomBytes;
    const now = options.now ?? (() => new Date());
    const batchSize = options.rotationBatchSize ?? DEFAULT_ROTATION_BATCH;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new PrivacyError('INVALID_ARGUMENT', `The rotation batch size must be a positive integer; got ${batchSize}.`);
    }
    if (ifMissing === 'create') {
      await fs.mkdir(stateDir, { recursive: true, mode: 0o700 });
    } else if (!(await exists(stateDir))) {
      throw notFound(file);
    }
    // One writer only: each store process keeps the whole store in memory and rewrites the file,
    // so a second writer would drop the first one's keys and leave those patients' refs unusable.
    const lock = await acquireLock(`${file}.lock`, (holder) =>
      holder === undefined
        ? new PrivacyError('STORE_LOCKED', 'The patient key store lock could not be taken; another process keeps recreating it.')
        : new PrivacyError(
            'STORE_LOCKED',
            `The patient key store is in use by process ${holder}${holder === process.pid ? ' (this process: it is already open)' : ''}; only one process may hold it. Stop the other gateway or close the store first.`,
          ),
    );
    try {
      let bytes: Buffer | undefined;
      try {
        bytes = await fs.readFile(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      if (bytes === undefined) {
        if (ifMissing !== 'create') throw notFound(file);
        const store = PatientKeyStore.createNew(file, lock, options.masterKey, random, now, batchSize);
        await store.enqueue(() => ({ result: undefined }));
        return store;
      }
      return PatientKeyStore.fromFile(bytes, file, lock, options, random, now, batchSize);
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  private static createNew(
    file: string,
    lock: FileLock,
    masterKey: MasterKey,
    random: (size: number) => Buffer,
    now: () => Date,
    batchSize: number,
  ): PatientKeyStore {
    const storeId = random(STORE_ID_BYTES);
    const indexSeed = random(32);
    const keyring = deriveKeyring(masterKeyBytes(masterKey), storeId, 1);
    const seed = seal(keyring.dek, indexSeed, seedAad(toB64u(storeId), 1), random);
    const state: State = {
      current: 1,
      generations: new Map([[1, { g: 1, check: keyring.keyCheck, seed, keyring }]]),
      retired: [],
      entries: new Map(),
      erased: new Map(),
    };
    return new PatientKeyStore(file, lock, storeId, indexSeed, deriveIndexKey(indexSeed, storeId), state, random, now, batchSize);
  }

  private static fromFile(
    bytes: Buffer,
    file: string,
    lock: FileLock,
    options: PatientKeyStoreOptions,
    random: (size: number) => Buffer,
    now: () => Date,
    batchSize: number,
  ): PatientKeyStore {
    const { doc, body, macGeneration, mac } = parseStore(bytes);
    const storeIdText = toB64u(doc.storeId);
    const supplied = [options.masterKey, ...(options.previousMasterKeys ?? [])].map((key) => ({
      key,
      check: keyCheckOf(masterKeyBytes(key)),
    }));
    const current = doc.generations.find((r) => r.g === doc.current)!;
    if (!timingSafeEqual(supplied[0].check, current.check)) throw wrongKey(doc, options.masterKey, supplied[0].check);

    const generations = new Map<number, Generation>();
    for (const record of doc.generations) {
      const match = supplied.find((s) => timingSafeEqual(s.check, record.check));
      generations.set(record.g, {
        ...record,
        keyring: match ? deriveKeyring(masterKeyBytes(match.key), doc.storeId, record.g) : undefined,
      });
    }
    const currentRing = generations.get(doc.current)!.keyring!;
    if (macGeneration !== doc.current || !timingSafeEqual(hmacSha256(currentRing.macKey, body), mac)) {
      throw new PrivacyError(
        'STORE_TAMPERED',
        'The patient key store failed its integrity check: the file MAC does not match its contents. It was modified outside medprov; restore it from a backup.',
      );
    }
    const waiting = new Map<number, number>();
    for (const entry of doc.entries.values()) {
      if (!generations.get(entry.g)!.keyring) waiting.set(entry.g, (waiting.get(entry.g) ?? 0) + 1);
    }
    for (const [g, count] of waiting) {
      throw new PrivacyError(
        'ROTATION_INCOMPLETE',
        `${count} patient key(s) are still encrypted under master key generation ${g}, whose key was not supplied: a rotation was interrupted. Supply that key as a previous master key (MEDPROV_MASTER_KEY_PREVIOUS) and resume the rotation.`,
      );
    }
    let indexSeed: Buffer | undefined;
    for (const gen of generations.values()) {
      if (!gen.keyring) continue;
      const seed = unseal(gen.keyring.dek, gen.seed, seedAad(storeIdText, gen.g), `the index key of generation ${gen.g}`);
      if (indexSeed && !timingSafeEqual(indexSeed, seed)) {
        throw new PrivacyError('STORE_TAMPERED', 'The patient key store failed its integrity check: its key generations disagree about the index key.');
      }
      indexSeed = seed;
    }
    const state: State = {
      current: doc.current,
      generations,
      retired: doc.retired,
      entries: doc.entries,
      erased: doc.erased,
    };
    return new PatientKeyStore(file, lock, doc.storeId, indexSeed!, deriveIndexKey(indexSeed!, doc.storeId), state, random, now, batchSize);
  }

  // ───────────────────────────── reads ─────────────────────────────

  /**
   * The patient's ref under this org. Synchronous: needs no I/O, and sees only state that
   * is already on disk.
   *
   * @throws PrivacyError INVALID_IDENTIFIER, PATIENT_NOT_REGISTERED, PATIENT_KEY_ERASED,
   *   STORE_TAMPERED, STORE_CLOSED
   */
  patientRef(orgPatientId: string): string {
    this.assertOpen();
    const id = canonicalPatientId(orgPatientId);
    const index = this.indexOf(id);
    if (this.erasing.has(index) || this.state.erased.has(index)) throw erasedError();
    const entry = this.state.entries.get(index);
    if (!entry) {
      throw new PrivacyError(
        'PATIENT_NOT_REGISTERED',
        'This org holds no key for that patient identifier; register the patient before anchoring their records.',
      );
    }
    return this.refFromEntry(entry, index, id);
  }

  /**
   * The salt of a record commitment under this org's `K_org` (documents/commitment.ts):
   * deterministic, so the same document always gets the same salt, across restarts, master
   * key rotations and erasures.
   *
   * @param docHash - the document's SHA-256, 64 lowercase hex
   * @throws PrivacyError STORE_CLOSED; TypeError for a malformed docHash
   */
  documentSalt(docHash: string): string {
    this.assertOpen();
    return documentSalt(this.commitmentKey, docHash);
  }

  /** Whether this org holds a key for the identifier, destroyed one, or never had one. */
  patientStatus(orgPatientId: string): PatientStatus {
    this.assertOpen();
    const index = this.indexOf(canonicalPatientId(orgPatientId));
    if (this.erasing.has(index) || this.state.erased.has(index)) return 'erased';
    return this.state.entries.has(index) ? 'active' : 'unknown';
  }

  /** Counts and key generations; nothing patient-specific. */
  status(): KeyStoreStatus {
    const { state } = this;
    return {
      currentGeneration: state.current,
      liveGenerations: [...state.generations.keys()].sort((a, b) => a - b),
      retiredGenerations: state.retired.map((r) => r.g).sort((a, b) => a - b),
      activePatients: state.entries.size,
      erasedPatients: state.erased.size,
      entriesAwaitingRotation: this.awaitingRotation().length,
      rotationRunning: this.rotation !== undefined,
    };
  }

  // ───────────────────────────── writes ─────────────────────────────

  /**
   * Gives a patient a fresh random key, or returns the existing ref if they have one.
   * Resolves only once the key is durably stored.
   *
   * A patient whose key was erased is refused unless `afterErasure` is set: registering
   * them again mints a new, unrelated key (their old ledger entries stay unlinkable), and
   * that must be a deliberate decision — e.g. the person returns as a new patient — never a
   * side effect of anchoring a record. The tombstone is removed only once
   * `confirmErasureRecorded` has confirmed the ledger record of the erasure it names
   * ({@link RegistrationOptions}); a tombstone from before ids were kept is removed without.
   *
   * @throws PrivacyError INVALID_IDENTIFIER, PATIENT_KEY_ERASED, STORE_WRITE_FAILED, STORE_CLOSED;
   *   whatever `confirmErasureRecorded` throws (nothing is written then)
   */
  async registerPatient(orgPatientId: string, options: RegistrationOptions = {}): Promise<Registration> {
    this.assertOpen();
    const id = canonicalPatientId(orgPatientId);
    const index = this.indexOf(id);
    const known = this.state.entries.get(index);
    if (known && !this.erasing.has(index)) return { patientRef: this.refFromEntry(known, index, id), created: false };
    const tombstone = options.afterErasure ? this.state.erased.get(index) : undefined;
    if (typeof tombstone === 'string') {
      if (!options.confirmErasureRecorded) throw erasedError(unconfirmedErasure);
      await options.confirmErasureRecorded(tombstone);
      this.assertOpen();
    }
    return this.enqueue<Registration>((draft) => {
      const existing = this.entryIn(draft, index);
      if (existing) return { result: { patientRef: this.refFromEntry(existing, index, id), created: false } };
      const wasErased = this.erasedIn(draft, index);
      if (wasErased && !options.afterErasure) throw erasedError();
      // The tombstone must still name the erasure just confirmed (not one made meanwhile).
      const erasureId = draft.erasedAdd.get(index) ?? this.state.erased.get(index);
      if (wasErased && typeof erasureId === 'string' && erasureId !== tombstone) throw erasedError(unconfirmedErasure);
      const current = this.currentGeneration(draft);
      const patientKey = this.random(PATIENT_KEY_BYTES);
      try {
        const key = seal(current.keyring!.dek, patientKey, this.entryAad(current.g, index), this.random);
        draft.entries.set(index, { g: current.g, key });
        if (wasErased) {
          draft.erasedAdd.delete(index);
          draft.erasedRemove.add(index);
        }
        return { result: { patientRef: derivePatientRef(patientKey, id), created: true } };
      } finally {
        patientKey.fill(0);
      }
    });
  }

  /**
   * The patient's ref, registering them first if this org has never seen them. Never
   * re-registers an erased patient (see {@link registerPatient}).
   *
   * @throws PrivacyError INVALID_IDENTIFIER, PATIENT_KEY_ERASED, STORE_WRITE_FAILED, STORE_CLOSED
   */
  async ensurePatientRef(orgPatientId: string): Promise<string> {
    return (await this.registerPatient(orgPatientId)).patientRef;
  }

  /**
   * Crypto-shreds one patient: overwrites the sealed key in memory, removes it from the
   * store, rewrites the file and leaves a tombstone, so that no one — this org included —
   * can derive the patient's ref again, and their ledger entries become unlinkable. Reads
   * for the patient fail from the moment this is called.
   *
   * The tombstone is the entry's index (an HMAC under the org's secret index key) and the
   * erasure's random id, nothing else: no key, no time, no ref. It is what lets later calls
   * answer PATIENT_KEY_ERASED instead of silently minting a new key, and lets a repeated
   * erasure name the earlier one, so that its ledger record can still be made if the first
   * answer was lost (a crash before the recording was journalled). The id is random, derived
   * from nothing about the patient, and the ledger's erasure record holds it anyway. Only a
   * holder of the master key can test an identifier against the tombstone, and the org's own
   * records (which law requires it to keep) say as much already.
   *
   * Old copies of the file (backups, freed disk blocks) still hold the sealed key: rotate
   * the master key and destroy the old one to make those copies unreadable as well.
   *
   * @returns an {@link ErasureRecord} that identifies the erasure, not the patient
   * @throws PrivacyError INVALID_IDENTIFIER, PATIENT_NOT_REGISTERED, STORE_WRITE_FAILED,
   *   STORE_CLOSED, PATIENT_KEY_ERASED (with the earlier erasure's `erasureId` when that
   *   erasure is on disk and its id was kept; never one still being written, which may fail)
   */
  async erasePatient(orgPatientId: string): Promise<ErasureRecord> {
    this.assertOpen();
    const index = this.indexOf(canonicalPatientId(orgPatientId));
    this.erasing.set(index, (this.erasing.get(index) ?? 0) + 1);
    try {
      return await this.enqueue((draft) => {
        if (this.erasedIn(draft, index)) {
          const durable = draft.erasedAdd.has(index) ? undefined : this.state.erased.get(index);
          throw erasedError('That patient has already been erased.', durable ?? undefined);
        }
        const existing = this.entryIn(draft, index);
        if (!existing) {
          throw new PrivacyError('PATIENT_NOT_REGISTERED', 'This org holds no key for that patient identifier, so there is nothing to erase.');
        }
        draft.entries.set(index, null);
        const erasureId = randomUuid(this.random);
        draft.erasedRemove.delete(index);
        draft.erasedAdd.set(index, erasureId);
        return { result: { erasureId, erasedAt: this.now().toISOString(), keysDestroyed: 1 } };
      });
    } finally {
      const left = this.erasing.get(index)! - 1;
      if (left === 0) this.erasing.delete(index);
      else this.erasing.set(index, left);
    }
  }

  /**
   * Moves the store to a new master key without stopping reads or writes. The new key
   * becomes the current generation at once (new registrations use it); existing entries
   * are re-encrypted in batches, each committed atomically, while both keys are held. Reads
   * keep working throughout because every entry names its own generation. When the last
   * entry has moved, the old generation is retired: its keys are wiped from memory, its
   * wrapped index key is dropped from the file, and the old master key is needed no more
   * (and is refused if offered again).
   *
   * If the process stops mid-way, reopen with the new key as master key and the old one as
   * a previous key, then call {@link resumeRotation}.
   *
   * @throws PrivacyError MASTER_KEY_REUSED, ROTATION_IN_PROGRESS, STORE_TAMPERED,
   *   STORE_WRITE_FAILED, STORE_CLOSED
   */
  async rotateMasterKey(newKey: MasterKey): Promise<RotationReport> {
    this.assertOpen();
    if (this.rotation) throw new PrivacyError('ROTATION_IN_PROGRESS', 'A master key rotation is already running; wait for it to finish before starting another.');
    const pending = this.awaitingRotation().length;
    if (pending > 0) {
      throw new PrivacyError(
        'ROTATION_IN_PROGRESS',
        `A previous rotation to generation ${this.state.current} is unfinished (${pending} keys remain); call resumeRotation() and let it finish first.`,
      );
    }
    const bytes = masterKeyBytes(newKey);
    const check = keyCheckOf(bytes);
    for (const gen of this.state.generations.values()) {
      if (timingSafeEqual(gen.check, check)) {
        throw new PrivacyError('MASTER_KEY_REUSED', `The new master key is the one this store already uses (generation ${gen.g}); generate a new key.`);
      }
    }
    for (const old of this.state.retired) {
      if (timingSafeEqual(old.check, check)) {
        throw new PrivacyError(
          'MASTER_KEY_REUSED',
          `The new master key was used before (generation ${old.g}) and retired; reusing it would make backups taken under it readable again. Generate a new key.`,
        );
      }
    }
    const g = Math.max(...this.state.generations.keys(), ...this.state.retired.map((r) => r.g)) + 1;
    const keyring = deriveKeyring(bytes, this.storeId, g);
    const generation: Generation = { g, check: keyring.keyCheck, seed: seal(keyring.dek, this.indexSeed, seedAad(this.storeIdText, g), this.random), keyring };
    const from = [...this.state.generations.keys()];
    return this.track(async () => {
      await this.enqueue((draft) => {
        draft.newGeneration = generation;
        return { result: undefined };
      });
      const reEncrypted = await this.reEncryptAll();
      return { fromGenerations: from, toGeneration: g, reEncrypted };
    });
  }

  /**
   * Finishes an interrupted rotation (entries still under an older generation). Returns at
   * once with nothing re-encrypted when there is nothing to do; joins a running rotation.
   *
   * @throws PrivacyError STORE_TAMPERED, STORE_WRITE_FAILED, STORE_CLOSED
   */
  async resumeRotation(): Promise<RotationReport> {
    this.assertOpen();
    if (this.rotation) return this.rotation;
    const from = [...this.state.generations.keys()].filter((g) => g !== this.state.current);
    return this.track(async () => ({ fromGenerations: from, toGeneration: this.state.current, reEncrypted: await this.reEncryptAll() }));
  }

  /**
   * Waits for queued writes and any running rotation (which stops after its current batch
   * and can be resumed later), releases the lock and wipes keys from memory.
   */
  async close(): Promise<void> {
    if (this.closed || this.closing) return;
    this.closing = true;
    await this.rotation?.catch(() => undefined);
    if (this.writing) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    this.closed = true;
    for (const gen of this.state.generations.values()) if (gen.keyring) destroyKeyring(gen.keyring);
    for (const entry of this.state.entries.values()) entry.key.fill(0);
    this.indexSeed.fill(0);
    this.indexKey.fill(0);
    this.commitmentKey.fill(0);
    await this.lock.release();
  }

  // ───────────────────────────── internals ─────────────────────────────

  private assertOpen(): void {
    if (this.closed || this.closing) throw new PrivacyError('STORE_CLOSED', 'The patient key store has been closed; open it again to use it.');
  }

  private indexOf(canonicalId: string): string {
    return toB64u(hmacSha256(this.indexKey, canonicalId));
  }

  private entryAad(g: number, index: string): string {
    return `${STORE_FORMAT}\0entry\0${this.storeIdText}\0${g}\0${index}`;
  }

  private keyringOf(g: number, draft?: Draft): Keyring {
    const gen = this.state.generations.get(g) ?? (draft?.newGeneration?.g === g ? draft.newGeneration : undefined);
    if (!gen?.keyring) throw new PrivacyError('ROTATION_INCOMPLETE', `The key of master key generation ${g} is not loaded.`);
    return gen.keyring;
  }

  private refFromEntry(entry: EntryRecord, index: string, canonicalId: string): string {
    const patientKey = unseal(this.keyringOf(entry.g).dek, entry.key, this.entryAad(entry.g, index), "a patient's key");
    try {
      return derivePatientRef(patientKey, canonicalId);
    } finally {
      patientKey.fill(0);
    }
  }

  private entryIn(draft: Draft, index: string): EntryRecord | undefined {
    return draft.entries.has(index) ? (draft.entries.get(index) ?? undefined) : this.state.entries.get(index);
  }

  private erasedIn(draft: Draft, index: string): boolean {
    return draft.erasedAdd.has(index) || (this.state.erased.has(index) && !draft.erasedRemove.has(index));
  }

  private currentGeneration(draft: Draft): Generation {
    return draft.newGeneration ?? this.state.generations.get(this.state.current)!;
  }

  private awaitingRotation(): string[] {
    const out: string[] = [];
    for (const [index, entry] of this.state.entries) if (entry.g !== this.state.current) out.push(index);
    return out;
  }

  private track(run: () => Promise<RotationReport>): Promise<RotationReport> {
    const rotation = run().finally(() => {
      this.rotation = undefined;
    });
    this.rotation = rotation;
    return rotation;
  }

  /** Re-encrypts, batch by batch, every entry not under the current generation. */
  private async reEncryptAll(): Promise<number> {
    let moved = 0;
    for (let todo = this.awaitingRotation(); todo.length > 0; todo = this.awaitingRotation()) {
      for (let start = 0; start < todo.length; start += this.batchSize) {
        if (this.closed || this.closing) {
          throw new PrivacyError(
            'STORE_CLOSED',
            `The store was closed during rotation; ${this.awaitingRotation().length} keys remain under the old generation. Reopen with both keys and call resumeRotation().`,
          );
        }
        const batch = todo.slice(start, start + this.batchSize);
        moved += await this.enqueue((draft) => this.reEncryptBatch(draft, batch), true);
        // Give queued reads and writes their turn between batches.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
    return moved;
  }

  private reEncryptBatch(draft: Draft, batch: string[]): Prepared<number> {
    const target = this.currentGeneration(draft);
    const staged: [string, EntryRecord][] = [];
    for (const index of batch) {
      const entry = this.entryIn(draft, index);
      if (!entry || entry.g === target.g) continue; // erased or already moved meanwhile
      const patientKey = unseal(this.keyringOf(entry.g, draft).dek, entry.key, this.entryAad(entry.g, index), "a patient's key");
      try {
        staged.push([index, { g: target.g, key: seal(target.keyring!.dek, patientKey, this.entryAad(target.g, index), this.random) }]);
      } finally {
        patientKey.fill(0);
      }
    }
    // Staged first, applied only when the whole batch opened: a failure leaves the draft as it was.
    for (const [index, entry] of staged) draft.entries.set(index, entry);
    return { result: staged.length };
  }

  /**
   * Queues a change. `prepare` stages it in the shared draft (throwing rejects this call
   * only); the draft is written once for every call in it, and each call resolves after.
   */
  private enqueue<T>(prepare: (draft: Draft) => Prepared<T>, internal = false): Promise<T> {
    if (!internal) this.assertOpen();
    return new Promise<T>((resolve, reject) => {
      let prepared: Prepared<T> | undefined;
      this.queue.push({
        prepare: (draft) => {
          prepared = prepare(draft);
        },
        commit: () => resolve(prepared!.result),
        fail: reject,
      });
      if (!this.writing) {
        this.writing = true;
        void this.drain();
      }
    });
  }

  /** The single writer: runs until the queue is empty. Never rejects. */
  private async drain(): Promise<void> {
    for (;;) {
      if (this.queue.length === 0) {
        this.writing = false;
        for (const wake of this.idleWaiters.splice(0)) wake();
        return;
      }
      const batch = this.queue;
      this.queue = [];
      const draft: Draft = { entries: new Map(), erasedAdd: new Map(), erasedRemove: new Set() };
      const accepted: QueuedOp[] = [];
      for (const op of batch) {
        // A failing prepare must not leave partial changes behind: every prepare in this class
        // validates first and touches the draft only once it cannot fail.
        try {
          op.prepare(draft);
          accepted.push(op);
        } catch (err) {
          op.fail(err);
        }
      }
      if (accepted.length === 0) continue;
      let next: State;
      try {
        next = await this.persist(draft);
      } catch (cause) {
        if (draft.newGeneration?.keyring) destroyKeyring(draft.newGeneration.keyring);
        const err = new PrivacyError(
          'STORE_WRITE_FAILED',
          `Writing the patient key store failed (${(cause as NodeJS.ErrnoException).code ?? 'I/O error'}); the change was not made. Check the state folder's free space and permissions, then retry.`,
          { cause },
        );
        for (const op of accepted) op.fail(err);
        continue;
      }
      this.adopt(draft, next);
      for (const op of accepted) op.commit();
    }
  }

  /** Writes the durable state plus `draft`; returns that state without adopting it. */
  private async persist(draft: Draft): Promise<State> {
    const { state } = this;
    const entries = new Map(state.entries);
    for (const [index, entry] of draft.entries) {
      if (entry) entries.set(index, entry);
      else entries.delete(index);
    }
    const erased = new Map(state.erased);
    for (const [index, erasureId] of draft.erasedAdd) erased.set(index, erasureId);
    for (const index of draft.erasedRemove) erased.delete(index);
    const allGenerations = new Map(state.generations);
    if (draft.newGeneration) allGenerations.set(draft.newGeneration.g, draft.newGeneration);
    const current = draft.newGeneration?.g ?? state.current;
    const used = new Set<number>([current]);
    for (const entry of entries.values()) used.add(entry.g);
    // A generation nothing uses any more is retired in this same write: its wrapped index
    // key leaves the file, and only its check value stays, to refuse the key in future.
    const generations = new Map<number, Generation>();
    const retired = [...state.retired];
    for (const gen of allGenerations.values()) {
      if (used.has(gen.g)) generations.set(gen.g, gen);
      else retired.push({ g: gen.g, check: gen.check });
    }
    const doc: StoreDocument = {
      storeId: this.storeId,
      current,
      generations: [...generations.values()].map(({ g, check, seed }) => ({ g, check, seed })),
      retired,
      entries,
      erased,
    };
    const body = serializeBody(doc);
    const mac = hmacSha256(generations.get(current)!.keyring!.macKey, body);
    await writeFileAtomic(this.file, serializeWithMac(body, current, mac));
    return { current, generations, retired, entries, erased };
  }

  /** Makes a written state the live one and wipes what it no longer holds. */
  private adopt(draft: Draft, next: State): void {
    const previous = this.state;
    this.state = next;
    for (const [index, entry] of draft.entries) {
      const old = previous.entries.get(index);
      if (old && old !== entry) old.key.fill(0); // overwrite the destroyed or superseded ciphertext
    }
    for (const gen of previous.generations.values()) {
      if (!next.generations.has(gen.g) && gen.keyring) destroyKeyring(gen.keyring);
    }
  }
}

function seedAad(storeIdText: string, g: number): string {
  return `${STORE_FORMAT}\0index-seed\0${storeIdText}\0${g}`;
}

const unconfirmedErasure =
  "That patient's key was destroyed on an erasure request whose ledger record has not been confirmed; it must be before the patient is registered again (ErasureService.reRegister does both).";

function erasedError(sentence = "That patient's key was destroyed on an erasure request, so their ref can no longer be derived.", erasureId?: string): PrivacyError {
  return new PrivacyError(
    'PATIENT_KEY_ERASED',
    `${sentence} If the person returns as a new patient, register them again explicitly (registerPatient with afterErasure); they will get a new, unrelated ref.`,
    erasureId === undefined ? undefined : { erasureId },
  );
}

function notFound(file: string): PrivacyError {
  return new PrivacyError(
    'STORE_NOT_FOUND',
    `No patient key store exists at ${file}. If this is the first start of this org's gateway, create it explicitly (ifMissing: 'create'); otherwise check the state folder path, because a new store would give every patient new refs.`,
  );
}

function wrongKey(doc: StoreDocument, key: MasterKey, check: Buffer): PrivacyError {
  const live = doc.generations.find((r) => timingSafeEqual(r.check, check));
  if (live) {
    return new PrivacyError(
      'MASTER_KEY_INVALID',
      `The configured master key is key generation ${live.g} of this store, but the store has moved on to generation ${doc.current}. Configure the newer key as MEDPROV_MASTER_KEY and this one as MEDPROV_MASTER_KEY_PREVIOUS until the rotation finishes.`,
    );
  }
  const retired = doc.retired.find((r) => timingSafeEqual(r.check, check));
  if (retired) {
    return new PrivacyError(
      'MASTER_KEY_INVALID',
      `The configured master key is generation ${retired.g} of this store, which was rotated away; the store now uses generation ${doc.current}. Configure the current key.`,
    );
  }
  // If the key opens a generation's wrapped index key, it is a key of this store and what
  // failed to match is the stored check value: the file was altered, not misconfigured.
  for (const gen of doc.generations) {
    const ring = deriveKeyring(masterKeyBytes(key), doc.storeId, gen.g);
    try {
      unseal(ring.dek, gen.seed, seedAad(toB64u(doc.storeId), gen.g), 'the index key').fill(0);
      return new PrivacyError(
        'STORE_TAMPERED',
        "The patient key store failed its integrity check: a key generation's check value was altered. Restore the file from a backup.",
      );
    } catch {
      // not this generation's key: keep looking
    } finally {
      destroyKeyring(ring);
    }
  }
  return new PrivacyError(
    'MASTER_KEY_INVALID',
    "The configured master key does not open this patient key store (it matches none of the store's key generations). Check that MEDPROV_MASTER_KEY is this organisation's key for this state folder.",
  );
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.stat(p);
    return true;
  } catch {
    return false;
  }
}

/** A version-4 UUID from the store's randomness source. */
function randomUuid(random: (size: number) => Buffer): string {
  if (random === systemRandomBytes) return randomUUID();
  const b = random(16);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
