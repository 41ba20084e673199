/**
 * Public anchoring as one gateway runs it: the anchor log fed from the ledger's record events,
 * the checkpointer writing the log's tree head to the EVM AnchorRegistry, and receipts for any
 * anchored document. Node only.
 *
 * Every gateway that runs this builds the same log (it follows the one ledger in its one order),
 * so any of them can issue receipts. Only a gateway configured with an authorised anchorer key
 * writes checkpoints; the others follow the ledger and read checkpoints from the chain.
 *
 * @module
 */
import * as path from 'node:path';
import type { Ledger, LedgerEvents } from '../fabric/client';
import { Checkpointer, sleep, type CheckpointerStatus } from './checkpointer';
import { AnchoringError } from './errors';
import { LedgerAnchorSource } from './ledger-source';
import { AnchorLog } from './log';
import { silentLogger, type AnchoringLogger } from './logger';
import { ReceiptIssuer } from './receipt-issuer';
import type { Receipt } from './receipt';
import type { RegistryWriter } from './registry';

/** Options of {@link AnchoringService.start}. */
export interface AnchoringServiceOptions {
  /** Folder of the anchor log (created when missing). */
  readonly dir: string;
  /** The ledger's events and queries, as the gateway's org. */
  readonly ledger: LedgerEvents & Pick<Ledger, 'evaluate'>;
  /** The AnchorRegistry; it writes checkpoints when `writes` is true. */
  readonly registry: RegistryWriter;
  /** Whether this gateway writes checkpoints (its key is an authorised anchorer). */
  readonly writes: boolean;
  /** Checkpoint every this many anchors (default 1000) … */
  readonly everyAnchors?: number;
  /** … and at this interval when anything is new (default 60 s). */
  readonly everySeconds?: number;
  /** Wait between reads of the ledger after a failure (default 2 s). */
  readonly pollDelayMs?: number;
  readonly logger?: AnchoringLogger;
  /** Called once the service has stopped (e.g. to close the registry client). */
  readonly onStop?: () => void;
}

/** What `/healthz` and the CLI's `status` show of anchoring. */
export interface AnchoringStatus {
  readonly writesCheckpoints: boolean;
  readonly checkpointer: CheckpointerStatus;
}

/** Anchor log, checkpointer and receipt issuer of one gateway. */
export class AnchoringService {
  private constructor(
    private readonly log: AnchorLog,
    private readonly checkpointer: Checkpointer,
    private readonly issuer: ReceiptIssuer,
    private readonly writes: boolean,
    private readonly follower: { stop(): Promise<void> },
    private readonly onStop: (() => void) | undefined,
  ) {}

  /** Opens the log and starts following the ledger (and checkpointing, when `writes`). */
  static async start(options: AnchoringServiceOptions): Promise<AnchoringService> {
    const logger = options.logger ?? silentLogger;
    const log = await AnchorLog.open(path.resolve(options.dir), { logger });
    const source = new LedgerAnchorSource(options.ledger, options.ledger);
    const checkpointer = new Checkpointer({
      log,
      source,
      registry: options.registry,
      ...(options.everyAnchors !== undefined ? { everyAnchors: options.everyAnchors } : {}),
      ...(options.everySeconds !== undefined ? { everySeconds: options.everySeconds } : {}),
      ...(options.pollDelayMs !== undefined ? { pollDelayMs: options.pollDelayMs } : {}),
      logger,
    });
    let follower: { stop(): Promise<void> };
    if (options.writes) {
      checkpointer.start();
      follower = checkpointer;
    } else {
      follower = followOnly(checkpointer, log, options.pollDelayMs ?? 2000, logger);
    }
    logger.info('anchoring: following the ledger', { logSize: log.size, writesCheckpoints: options.writes });
    return new AnchoringService(log, checkpointer, new ReceiptIssuer(log, options.registry), options.writes, follower, options.onStop);
  }

  /**
   * The receipt of the anchor of `docHash`, against the first checkpoint covering it.
   *
   * @throws AnchoringError LEAF_NOT_FOUND (not anchored, or the log has not caught up yet),
   *   RECEIPT_PENDING (anchored, not yet checkpointed), REGISTRY_UNAVAILABLE, CHECKPOINT_FORK
   */
  async receipt(docHash: string): Promise<Receipt> {
    return this.issuer.issueForDocHash(docHash);
  }

  /** Writes a checkpoint now if anything is new (an operator's or a test's nudge). */
  async checkpointNow(): Promise<void> {
    if (!this.writes) throw new AnchoringError('REGISTRY_UNAUTHORIZED', 'This gateway has no anchorer key; another organisation writes the checkpoints.');
    await this.checkpointer.checkpoint();
  }

  status(): AnchoringStatus {
    return { writesCheckpoints: this.writes, checkpointer: this.checkpointer.status() };
  }

  /** Stops following and closes the log. */
  async stop(): Promise<void> {
    await this.follower.stop();
    await this.log.close();
    this.onStop?.();
  }
}

/** Keeps the log in step with the ledger without ever writing to the registry. */
function followOnly(checkpointer: Checkpointer, log: AnchorLog, pollDelayMs: number, logger: AnchoringLogger): { stop(): Promise<void> } {
  const abort = new AbortController();
  const loop = (async () => {
    while (!abort.signal.aborted) {
      try {
        await checkpointer.sync(abort.signal);
      } catch (err) {
        if (abort.signal.aborted) break;
        logger.error('anchoring: reading the ledger failed; retrying', { error: (err as Error).message });
      }
      await sleep(pollDelayMs, abort.signal);
    }
  })();
  return {
    async stop() {
      abort.abort();
      await loop;
      await log.flush();
    },
  };
}
