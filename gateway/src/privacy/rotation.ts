/**
 * Master key rotation as an operator runs it on a live gateway: the new key is read from a file
 * named in the gateway's configuration, never received over HTTP, and the rotation runs in the
 * background while the store keeps serving reads and writes ({@link PatientKeyStore.rotateMasterKey}).
 *
 * Why a file and not the request body: a key in a request passes through the client's shell
 * history, TLS-terminating proxies, request logs and crash dumps; and whoever holds an admin API
 * key could then move the store to a key *they* know, after which a copy of the store file
 * opens for them. With the key in a file on the gateway's host (a secret mount, mode 0600), the
 * API can only start a rotation to a key the host's operator put there. The file is re-read on
 * every request, so replacing it needs no restart.
 *
 * @module
 */
import { constants as fsConstants, promises as fs } from 'node:fs';
import { PrivacyError, isPrivacyError, type PrivacyErrorCode } from './errors';
import { MASTER_KEY_ENV, MasterKey, PREVIOUS_MASTER_KEY_ENV } from './master-key';
import type { KeyStoreStatus, PatientKeyStore, RotationReport } from './patient-keys';

/** Environment variable naming the file that holds the next master key (64 hex digits or base64). */
export const NEXT_MASTER_KEY_FILE_ENV = 'MEDPROV_MASTER_KEY_NEXT_FILE';

/** Longest next master key file read: a key is 64 hex digits or 44 base64 characters, plus whitespace. */
const MAX_KEY_FILE_BYTES = 1024;
/**
 * Opens the path itself, never a symbolic link's target (O_NOFOLLOW where the platform has it),
 * and without blocking on a FIFO that has no writer (O_NONBLOCK), so that fstat can refuse it.
 */
const KEY_FILE_OPEN_FLAGS = fsConstants.O_RDONLY | (fsConstants.O_NOFOLLOW ?? 0) | (fsConstants.O_NONBLOCK ?? 0);

/** Where the new master key comes from: re-read at each rotation request. */
export type NextMasterKeySource = () => Promise<MasterKey>;

/** The last rotation this process ran (or resumed), and the store's state now. */
export interface RotationProgress {
  /** idle: none since start; running; finished; failed (the store keeps working; see `error`). */
  state: 'idle' | 'running' | 'finished' | 'failed';
  startedAt?: string;
  finishedAt?: string;
  /** Generations, and entries re-encrypted, once finished. */
  report?: RotationReport;
  /** Why it stopped, when it failed: a privacy error code and its sentence. */
  error?: { code: string; message: string };
  /** Counts and generations of the store; nothing patient-specific. */
  store: KeyStoreStatus;
  /** What the operator has to do next, in words. */
  nextStep?: string;
}

/**
 * Reads the next master key from `file`, refusing a file that other users of the host could
 * read (group or world permissions) and, like {@link MasterKey.parse}, a malformed or weak key.
 * The file is opened once and checked and read through that one handle, so what is checked is
 * what is read: a symbolic link, a FIFO, a device or a directory is refused, as is a file
 * longer than any key. Error sentences name the file, never its content.
 *
 * @param file - the configured path, or undefined when none is configured
 * @throws PrivacyError MASTER_KEY_MISSING, MASTER_KEY_FILE_UNSAFE, MASTER_KEY_MALFORMED, MASTER_KEY_WEAK
 */
export function nextMasterKeyFromFile(file: string | undefined): NextMasterKeySource {
  return async () => {
    if (file === undefined || file === '') {
      throw new PrivacyError('MASTER_KEY_MISSING', `No file for the next master key is configured: set ${NEXT_MASTER_KEY_FILE_ENV} to a file (mode 0600) holding 32 random bytes as 64 hex digits, then ask again.`);
    }
    const unreadable = (err: unknown): PrivacyError => {
      const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'cannot be read';
      return new PrivacyError('MASTER_KEY_MISSING', `The next master key file (${NEXT_MASTER_KEY_FILE_ENV}) ${reason}; put the new key there (mode 0600) and ask again.`, { cause: err });
    };
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(file, KEY_FILE_OPEN_FLAGS);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ELOOP') {
        throw new PrivacyError('MASTER_KEY_FILE_UNSAFE', `The next master key file (${NEXT_MASTER_KEY_FILE_ENV}) is a symbolic link; name the key file itself and ask again.`, { cause: err });
      }
      throw unreadable(err);
    }
    let text: string | undefined;
    try {
      const stat = await handle.stat().catch((err: unknown) => Promise.reject(unreadable(err)));
      if (!stat.isFile()) {
        throw new PrivacyError('MASTER_KEY_FILE_UNSAFE', `The next master key file (${NEXT_MASTER_KEY_FILE_ENV}) is not a regular file (a directory, FIFO or device); put the new key in a plain file (mode 0600) and ask again.`);
      }
      if ((stat.mode & 0o077) !== 0) {
        throw new PrivacyError('MASTER_KEY_FILE_UNSAFE', `The next master key file may be read by other users of this host (mode ${(stat.mode & 0o777).toString(8)}); make it 0600 (or 0400) and ask again.`);
      }
      text = await readKeyText(handle).catch((err: unknown) => Promise.reject(unreadable(err)));
    } finally {
      await handle.close().catch(() => undefined);
    }
    if (text === undefined) {
      throw new PrivacyError('MASTER_KEY_MALFORMED', `The next master key file (${NEXT_MASTER_KEY_FILE_ENV}) is longer than ${MAX_KEY_FILE_BYTES} bytes, so it does not hold just a key; write 32 random bytes as 64 hex digits and ask again.`);
    }
    return MasterKey.parse(text, `the next master key file (${NEXT_MASTER_KEY_FILE_ENV})`);
  };
}

/** The file's text, read through `handle`; undefined when it is longer than {@link MAX_KEY_FILE_BYTES}. */
async function readKeyText(handle: fs.FileHandle): Promise<string | undefined> {
  const buffer = Buffer.alloc(MAX_KEY_FILE_BYTES + 1);
  try {
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length === buffer.length) return undefined;
    }
    return buffer.toString('utf8', 0, length);
  } finally {
    buffer.fill(0);
  }
}

/** Codes that mean the rotation cannot start as configured now: the operator fixes them, then asks again. */
export const ROTATION_REFUSALS: ReadonlySet<PrivacyErrorCode> = new Set([
  'MASTER_KEY_MISSING',
  'MASTER_KEY_MALFORMED',
  'MASTER_KEY_WEAK',
  'MASTER_KEY_FILE_UNSAFE',
  'MASTER_KEY_REUSED',
  'ROTATION_IN_PROGRESS',
]);

/**
 * Starts and reports master key rotations of one gateway's store. One at a time; an interrupted
 * rotation (entries still under an older generation) is resumed instead of starting a new one.
 */
export class MasterKeyRotation {
  private last: Omit<RotationProgress, 'store' | 'nextStep'> = { state: 'idle' };
  private running: Promise<void> | undefined;
  /** Set while a start() reads the key file, before `running` exists: a second start() is refused, not run. */
  private starting = false;

  constructor(
    private readonly store: PatientKeyStore,
    private readonly nextKey: NextMasterKeySource,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * Starts the rotation to the configured next key (or resumes an unfinished one) and returns
   * as soon as it runs; it goes on in the background. The new key becomes the store's current
   * generation at once.
   *
   * @throws PrivacyError one of {@link ROTATION_REFUSALS} when it cannot start; STORE_CLOSED
   */
  async start(): Promise<RotationProgress> {
    if (this.running || this.starting) {
      throw new PrivacyError('ROTATION_IN_PROGRESS', 'A master key rotation is already running; follow it with GET /v1/admin/master-key/rotation.');
    }
    this.starting = true;
    let key: MasterKey | undefined;
    try {
      const resuming = this.store.status().entriesAwaitingRotation > 0;
      key = resuming ? undefined : await this.nextKey();
      // rotateMasterKey checks the key before its first await: a refusal is a rejected promise
      // by the time the call returns, and a rotation that started shows as running.
      const rotation = key ? this.store.rotateMasterKey(key) : this.store.resumeRotation();
      if (!this.store.status().rotationRunning) await rotation;
      this.last = { state: 'running', startedAt: this.now().toISOString() };
      this.running = rotation.then(
        (report) => {
          this.last = { ...this.last, state: 'finished', finishedAt: this.now().toISOString(), report };
        },
        (err: unknown) => {
          this.last = { ...this.last, state: 'failed', finishedAt: this.now().toISOString(), error: describeError(err) };
        },
      );
      void this.running.finally(() => {
        this.running = undefined;
      });
      return this.progress();
    } finally {
      this.starting = false;
      key?.destroy();
    }
  }

  /** Where the last rotation stands, and the store's counts; nothing patient-specific. */
  progress(): RotationProgress {
    const store = this.store.status();
    return { ...this.last, store, ...(nextStepOf(this.last.state, store) ? { nextStep: nextStepOf(this.last.state, store) } : {}) };
  }

  /** Resolves when the running rotation (if any) has finished or failed. */
  async settled(): Promise<RotationProgress> {
    await this.running;
    return this.progress();
  }
}

function describeError(err: unknown): { code: string; message: string } {
  if (isPrivacyError(err)) return { code: err.code, message: err.message.replace(/^[A-Z_]+: /, '') };
  return { code: 'INTERNAL', message: 'The rotation stopped on an unexpected error; the store keeps working. See the gateway log, then ask again to resume it.' };
}

function nextStepOf(state: RotationProgress['state'], store: KeyStoreStatus): string | undefined {
  if (state === 'running') {
    return `If the gateway restarts before this finishes, start it with the new key as ${MASTER_KEY_ENV} and the old one as ${PREVIOUS_MASTER_KEY_ENV}; the rotation resumes.`;
  }
  if (state === 'finished' && store.entriesAwaitingRotation === 0) {
    return `Configure the new key as ${MASTER_KEY_ENV} for the next start (the old key opens nothing any more and can be destroyed), and remove the next-key file.`;
  }
  if (state === 'failed') return 'Ask again (POST) to resume the rotation once the cause is fixed; reads and writes keep working meanwhile.';
  return undefined;
}
