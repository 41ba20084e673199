import type { Committed, Ledger } from '../../../gateway/src/fabric/client';

/** For unit tests only: how many queries and submits a gateway made, to prove a refusal never reached the ledger. */
export interface LedgerCalls {
  evaluate: number;
  submit: number;
}

/** Wraps a gateway's ledger and counts into `calls` what it asks of it. */
export class CountingLedger implements Ledger {
  constructor(
    private readonly inner: Ledger,
    private readonly calls: LedgerCalls,
  ) {}

  async evaluate(name: string, ...args: string[]): Promise<Uint8Array> {
    this.calls.evaluate += 1;
    return this.inner.evaluate(name, ...args);
  }

  async submit(name: string, ...args: string[]): Promise<Committed> {
    this.calls.submit += 1;
    return this.inner.submit(name, ...args);
  }

  blockOfTransaction(transactionId: string): Promise<bigint | undefined> {
    return this.inner.blockOfTransaction?.(transactionId) ?? Promise.resolve(undefined);
  }
}
