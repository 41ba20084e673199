import type { Ledger } from './client';
import { toLedgerError } from './errors';

/** What {@link LedgerProbe} found: `ready` once one probe transaction committed valid. */
export interface LedgerProbeStatus {
  readonly ready: boolean;
  readonly attempts: number;
  /** The committed probe transaction. */
  readonly transactionId?: string;
  readonly blockNumber?: string;
  /** Why the last attempt failed, while not ready. */
  readonly lastError?: string;
}

/**
 * Readiness by doing the real thing: submits one harmless transaction (`Identity:whoAmI`, which
 * writes nothing) and waits for it to commit, retrying with backoff until it does. A query that
 * succeeds says nothing about whether a write will: right after a start or a restart the Raft
 * orderers may have no leader yet, or the peers may not have met the other organisations.
 */
export class LedgerProbe {
  private state: LedgerProbeStatus = { ready: false, attempts: 0 };
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ledger: Ledger,
    private readonly options: { maxDelayMs?: number; onReady?: (status: LedgerProbeStatus) => void; onRetry?: (status: LedgerProbeStatus) => void } = {},
  ) {}

  status(): LedgerProbeStatus {
    return this.state;
  }

  start(): void {
    void this.attempt(250);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private async attempt(delay: number): Promise<void> {
    if (this.stopped) return;
    const attempts = this.state.attempts + 1;
    try {
      const committed = await this.ledger.submit('Identity:whoAmI');
      this.state = { ready: true, attempts, transactionId: committed.transactionId, blockNumber: committed.blockNumber.toString() };
      this.options.onReady?.(this.state);
    } catch (err) {
      const e = toLedgerError(err);
      this.state = { ready: false, attempts, lastError: `${e.code}: ${e.message.slice(0, 300)}` };
      this.options.onRetry?.(this.state);
      if (this.stopped) return;
      this.timer = setTimeout(() => void this.attempt(Math.min(delay * 2, this.options.maxDelayMs ?? 5_000)), delay);
      this.timer.unref();
    }
  }
}
