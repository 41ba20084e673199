/**
 * The checkpointer: follows the ledger's anchors into the anchor log and periodically writes the
 * log's tree head to the EVM AnchorRegistry. Node only.
 *
 * Before every write it checks that the chain's latest checkpoint (m, r_m) is a prefix of its own
 * log: its root at size m must equal r_m, otherwise the chain and this log have diverged — a fork,
 * reported as CHECKPOINT_FORK and the event `fork-detected`, and nothing is written. Then, belt and
 * braces, it re-reads the leaves it is about to checkpoint for the first time from disk (a log
 * rewritten under the running process is LOG_TAMPERED) and checks the RFC 9162 consistency proof
 * m → n with the independent verifier against r_m and its new root (CHECKPOINT_INCONSISTENT).
 * After a fork, tampering or inconsistency the checkpointer halts: it keeps following the ledger
 * but never writes again until an operator has looked (a new instance must be started).
 *
 * When the chain is ahead of the log (another replica checkpointed more than this log holds yet)
 * it writes nothing and reports `behind`; when nothing is new it reports `up-to-date`.
 *
 * @module
 */
import { EventEmitter } from 'node:events';
import { bytesEqual, bytesToHex, verifyConsistency } from '../merkle';
import { AnchoringError, isAnchoringError } from './errors';
import type { AnchorLog } from './log';
import { silentLogger, type AnchoringLogger } from './logger';
import type { OnChainCheckpoint, RegistryWriter } from './registry';
import { positionToJson, type AnchorSource, type LedgerPositionJson } from './source';

/** Options of {@link Checkpointer}. */
export interface CheckpointerOptions {
  /** The log anchors are appended to (the caller opens and closes it). */
  readonly log: AnchorLog;
  /** The ledger's anchors in commit order. */
  readonly source: AnchorSource;
  /** The registry checkpoints are written to, as an authorised anchorer. */
  readonly registry: RegistryWriter;
  /** While running: checkpoint once this many anchors arrived since the last checkpoint (default 1000). */
  readonly everyAnchors?: number;
  /** While running: checkpoint at this interval when anything is new (default 60 s). */
  readonly everySeconds?: number;
  /** While running: wait between reads of the source after it ended or failed (default 2 s). */
  readonly pollDelayMs?: number;
  /** Where progress and problems are reported (default: silent). */
  readonly logger?: AnchoringLogger;
}

/** A checkpoint this checkpointer wrote. */
export interface WrittenCheckpointOutcome {
  readonly kind: 'written';
  readonly treeSize: number;
  /** Root of the new checkpoint, 64 lowercase hex. */
  readonly root: string;
  readonly fabricBlockHeight: bigint;
  /** Tree size of the on-chain checkpoint it extends (0 for the first). */
  readonly previousTreeSize: number;
  readonly index: bigint;
  readonly txHash: string;
  readonly evmBlockNumber: number;
  readonly gasUsed: bigint;
}

/** What one checkpoint round did. */
export type CheckpointOutcome =
  | WrittenCheckpointOutcome
  /** The chain's latest checkpoint already has this log's size (and root): nothing to write. */
  | { readonly kind: 'up-to-date'; readonly treeSize: number }
  /** The chain holds a checkpoint larger than this log; this log must catch up first. */
  | { readonly kind: 'behind'; readonly logSize: number; readonly onChainTreeSize: bigint }
  /** The log is empty: there is nothing to checkpoint. */
  | { readonly kind: 'empty' };

/** A problem as the status reports it. */
export interface StatusProblem {
  readonly code: string;
  readonly message: string;
  /** ISO-8601 time it happened. */
  readonly at: string;
}

/** A snapshot of the checkpointer, for the gateway's health and metrics endpoints. */
export interface CheckpointerStatus {
  /** `halted` after a fork or tampering: no further writes. */
  readonly state: 'idle' | 'running' | 'stopping' | 'halted';
  /** Leaves in the log (flushed or not). */
  readonly logSize: number;
  /** Leaves durably in the log. */
  readonly committedSize: number;
  /** Last ledger position consumed. */
  readonly position: LedgerPositionJson | undefined;
  /** Leaves not covered by the last checkpoint seen on chain. */
  readonly anchorsSinceCheckpoint: number;
  /** The latest on-chain checkpoint seen or written. */
  readonly lastCheckpoint:
    | { readonly treeSize: number; readonly root: string; readonly fabricBlockHeight: string; readonly txHash?: string; readonly at: string }
    | undefined;
  /** Outcome of the last checkpoint round. */
  readonly lastOutcome: CheckpointOutcome['kind'] | undefined;
  /** The last error of any kind (cleared by nothing: compare `at`). */
  readonly lastError: StatusProblem | undefined;
  /** Why the checkpointer halted, when it did. */
  readonly halted: StatusProblem | undefined;
}

/** Events of {@link Checkpointer}. No `error` event: failures are reported, never thrown at the emitter. */
export interface CheckpointerEvents {
  'checkpoint-written': [WrittenCheckpointOutcome];
  'fork-detected': [AnchoringError];
  'log-tampered': [AnchoringError];
  'checkpoint-failed': [AnchoringError];
  'sync-failed': [Error];
}

/**
 * Follows the ledger into the anchor log and checkpoints the log on chain (see the module comment).
 *
 * @example
 * ```ts
 * const checkpointer = new Checkpointer({ log, source, registry, everyAnchors: 1000, everySeconds: 60 });
 * checkpointer.on('fork-detected', (err) => alert(err));
 * checkpointer.start();
 * // …
 * await checkpointer.stop();
 * ```
 */
export class Checkpointer extends EventEmitter<CheckpointerEvents> {
  readonly #log: AnchorLog;
  readonly #source: AnchorSource;
  readonly #registry: RegistryWriter;
  readonly #everyAnchors: number;
  readonly #everyMs: number;
  readonly #pollDelayMs: number;
  readonly #logger: AnchoringLogger;

  #state: 'idle' | 'running' | 'stopping' = 'idle';
  #halted: AnchoringError | undefined;
  #haltedAt: string | undefined;
  #lastCheckpoint: CheckpointerStatus['lastCheckpoint'];
  #lastOutcome: CheckpointOutcome['kind'] | undefined;
  #lastError: StatusProblem | undefined;
  #inFlight: Promise<CheckpointOutcome> | undefined;
  #abort: AbortController | undefined;
  #loop: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: CheckpointerOptions) {
    super();
    this.#log = options.log;
    this.#source = options.source;
    this.#registry = options.registry;
    this.#everyAnchors = positiveInt(options.everyAnchors ?? 1000, 'everyAnchors');
    this.#everyMs = positiveNumber(options.everySeconds ?? 60, 'everySeconds') * 1000;
    this.#pollDelayMs = positiveNumber(options.pollDelayMs ?? 2000, 'pollDelayMs');
    this.#logger = options.logger ?? silentLogger;
  }

  /** A snapshot of the checkpointer's state. */
  status(): CheckpointerStatus {
    const position = this.#log.position;
    return {
      state: this.#halted ? 'halted' : this.#state,
      logSize: this.#log.size,
      committedSize: this.#log.committedSize,
      position: position ? positionToJson(position) : undefined,
      anchorsSinceCheckpoint: this.#log.size - (this.#lastCheckpoint?.treeSize ?? 0),
      lastCheckpoint: this.#lastCheckpoint,
      lastOutcome: this.#lastOutcome,
      lastError: this.#lastError,
      halted: this.#halted ? { code: this.#halted.code, message: this.#halted.message, at: this.#haltedAt! } : undefined,
    };
  }

  /**
   * Reads the source from the log's last position until the source ends, appending every anchor
   * (replays are skipped by the log), then flushes the log.
   *
   * @returns the number of anchors appended
   */
  async sync(signal?: AbortSignal): Promise<number> {
    let appended = 0;
    const iterable = this.#source.anchorsAfter(this.#log.position, signal ? { signal } : undefined);
    for await (const item of iterable) {
      if ((await this.#log.append(item)).appended) appended++;
      if (this.#state === 'running' && !this.#halted && this.#log.size - (this.#lastCheckpoint?.treeSize ?? 0) >= this.#everyAnchors) {
        await this.#checkpointQuietly();
      }
      if (signal?.aborted) break;
    }
    await this.#log.flush();
    return appended;
  }

  /**
   * One round for tests and the CLI: {@link sync} (the source must end when caught up), then
   * {@link checkpoint}.
   *
   * @throws as {@link checkpoint}
   */
  async runOnce(): Promise<CheckpointOutcome> {
    await this.sync();
    return this.checkpoint();
  }

  /**
   * One checkpoint round: flush the log, compare with the chain's latest checkpoint, verify, and
   * write the log's tree head when it is new. Concurrent calls share one round.
   *
   * @throws AnchoringError CHECKPOINT_FORK, LOG_TAMPERED, CHECKPOINT_INCONSISTENT (all three also
   *   halt the checkpointer), CHECKPOINTER_HALTED, REGISTRY_* (writing failed; the next round retries)
   */
  checkpoint(): Promise<CheckpointOutcome> {
    if (!this.#inFlight) {
      this.#inFlight = this.#checkpointRound().finally(() => {
        this.#inFlight = undefined;
      });
    }
    return this.#inFlight;
  }

  /**
   * Starts following the source in the background, checkpointing every `everyAnchors` anchors and
   * every `everySeconds`. Errors are reported through the status, the logger and events.
   */
  start(): void {
    if (this.#state !== 'idle') throw new AnchoringError('INVALID_ARGUMENT', 'the checkpointer is already running.');
    this.#state = 'running';
    const abort = new AbortController();
    this.#abort = abort;
    this.#timer = setInterval(() => {
      if (!this.#halted && this.#log.size > (this.#lastCheckpoint?.treeSize ?? 0)) void this.#checkpointQuietly();
    }, this.#everyMs);
    this.#loop = this.#follow(abort.signal);
  }

  /** Stops following, waits for a running round to end, and flushes the log (which stays open). */
  async stop(): Promise<void> {
    if (this.#state !== 'running') return;
    this.#state = 'stopping';
    clearInterval(this.#timer);
    this.#abort?.abort();
    await this.#loop;
    await this.#inFlight?.catch(() => undefined);
    await this.#log.flush();
    this.#state = 'idle';
  }

  async #follow(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.sync(signal);
      } catch (err) {
        if (signal.aborted) break;
        const error = err instanceof Error ? err : new Error(String(err));
        this.#recordError(error);
        this.#logger.error('checkpointer: reading the ledger failed; retrying', { error: error.message });
        this.emit('sync-failed', error);
      }
      await sleep(this.#pollDelayMs, signal);
    }
  }

  /** A checkpoint round whose failure is reported, not thrown (timer and every-N triggers). */
  async #checkpointQuietly(): Promise<void> {
    try {
      await this.checkpoint();
    } catch {
      // Already recorded, logged and emitted by the round itself.
    }
  }

  async #checkpointRound(): Promise<CheckpointOutcome> {
    try {
      const outcome = await this.#checkpointChecked();
      this.#lastOutcome = outcome.kind;
      return outcome;
    } catch (err) {
      const error = isAnchoringError(err)
        ? err
        : new AnchoringError('REGISTRY_UNAVAILABLE', 'A checkpoint round failed unexpectedly.', { cause: err });
      this.#recordError(error);
      if (error.code !== 'CHECKPOINTER_HALTED') {
        this.#logger.error('checkpointer: checkpoint round failed', { code: error.code, error: error.message, ...error.details });
        this.emit('checkpoint-failed', error);
      }
      throw error;
    }
  }

  async #checkpointChecked(): Promise<CheckpointOutcome> {
    if (this.#halted) {
      throw new AnchoringError('CHECKPOINTER_HALTED', `The checkpointer halted (${this.#halted.code}) and writes no more checkpoints; an operator must investigate.`, {
        cause: this.#halted,
      });
    }
    await this.#log.flush();
    // Size and position are read together, right after the flush, so the block height matches n.
    const n = this.#log.committedSize;
    const position = this.#log.committedPosition;
    const tree = await this.#log.tree();
    const latest = await this.#registry.latestCheckpoint();
    if (latest) this.#seen(latest);
    const m = latest?.treeSize ?? 0n;
    if (n === 0 && m === 0n) return { kind: 'empty' };
    if (m > BigInt(n)) {
      this.#logger.warn('checkpointer: the chain has a larger checkpoint than this log; waiting to catch up', {
        logSize: n,
        onChainTreeSize: m.toString(),
      });
      return { kind: 'behind', logSize: n, onChainTreeSize: m };
    }
    const oldSize = Number(m);
    if (latest) {
      const localRoot = tree.rootAt(oldSize);
      if (!bytesEqual(localRoot, latest.root)) {
        const tx = await this.#registry.checkpointTransaction(m).catch(() => undefined);
        throw this.#halt(
          'fork-detected',
          new AnchoringError(
            'CHECKPOINT_FORK',
            `The on-chain checkpoint of ${oldSize} leaves has a different root than this log at the same size; nothing was written.`,
            {
              details: {
                treeSize: oldSize,
                onChainRoot: bytesToHex(latest.root),
                localRoot: bytesToHex(localRoot),
                checkpointIndex: latest.index.toString(),
                ...(tx ? { anchorer: tx.anchorer, evmTxHash: tx.txHash } : {}),
              },
            },
          ),
        );
      }
    }
    if (oldSize === n) return { kind: 'up-to-date', treeSize: n };

    // Leaves below m are covered by the root comparison above; the new ones are re-read from disk.
    try {
      await this.#log.verify(oldSize, n);
    } catch (err) {
      if (isAnchoringError(err) && (err.code === 'LOG_TAMPERED' || err.code === 'LOG_CORRUPT')) throw this.#halt('log-tampered', err);
      throw err;
    }
    const root = tree.rootAt(n);
    if (latest) {
      const proof = tree.consistencyProofFlat(oldSize, n);
      let consistent: boolean;
      try {
        consistent = verifyConsistency(oldSize, n, proof, latest.root, root);
      } catch {
        consistent = false;
      }
      if (!consistent) {
        throw this.#halt(
          undefined,
          new AnchoringError('CHECKPOINT_INCONSISTENT', `The consistency proof from the on-chain checkpoint of ${oldSize} leaves to ${n} leaves does not verify; nothing was written.`, {
            details: { oldSize, newSize: n, onChainRoot: bytesToHex(latest.root), newRoot: bytesToHex(root) },
          }),
        );
      }
    }
    // Height = last anchor's block + 1: the tree holds every anchor up to that block (RFC-style "height").
    const fabricBlockHeight = position!.blockNumber + 1n;
    const written = await this.#registry.writeCheckpoint(BigInt(n), root, fabricBlockHeight);
    const outcome: WrittenCheckpointOutcome = {
      kind: 'written',
      treeSize: n,
      root: bytesToHex(root),
      fabricBlockHeight,
      previousTreeSize: oldSize,
      index: written.index,
      txHash: written.txHash,
      evmBlockNumber: written.blockNumber,
      gasUsed: written.gasUsed,
    };
    this.#lastCheckpoint = {
      treeSize: n,
      root: outcome.root,
      fabricBlockHeight: fabricBlockHeight.toString(),
      txHash: written.txHash,
      at: new Date().toISOString(),
    };
    this.#logger.info('checkpointer: checkpoint written', {
      treeSize: n,
      previousTreeSize: oldSize,
      root: outcome.root,
      txHash: written.txHash,
      gasUsed: written.gasUsed.toString(),
    });
    this.emit('checkpoint-written', outcome);
    return outcome;
  }

  /** Remembers the latest on-chain checkpoint for the status (keeps a known tx hash of the same size). */
  #seen(cp: OnChainCheckpoint): void {
    const treeSize = Number(cp.treeSize);
    if (this.#lastCheckpoint?.treeSize === treeSize) return;
    this.#lastCheckpoint = {
      treeSize,
      root: bytesToHex(cp.root),
      fabricBlockHeight: cp.fabricBlockHeight.toString(),
      at: new Date(Number(cp.timestamp) * 1000).toISOString(),
    };
  }

  /** Halts for good; `event` is the specific event to emit besides the round's `checkpoint-failed`. */
  #halt(event: 'fork-detected' | 'log-tampered' | undefined, error: AnchoringError): AnchoringError {
    this.#halted = error;
    this.#haltedAt = new Date().toISOString();
    this.#logger.error('checkpointer: halted, no further checkpoints will be written', { code: error.code, ...error.details });
    if (event) this.emit(event, error);
    return error;
  }

  #recordError(error: Error): void {
    this.#lastError = {
      code: isAnchoringError(error) ? error.code : 'UNEXPECTED',
      message: error.message,
      at: new Date().toISOString(),
    };
  }
}

function positiveInt(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new AnchoringError('INVALID_ARGUMENT', `${name} must be a positive integer.`);
  return value;
}

function positiveNumber(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new AnchoringError('INVALID_ARGUMENT', `${name} must be a positive number.`);
  return value;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
