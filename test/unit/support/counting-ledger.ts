import type { Committed, Ledger } from '../../../gateway/src/fabric/client';
import { DelegatingLedger } from '../../../gateway/src/fabric/delegating-ledger';

/** For unit tests only: how many queries and submits a gateway made, to prove a refusal never reached the ledger. */
export interface LedgerCalls {
  evaluate: number;
  submit: number;
}

/** Wraps a gateway's ledger and counts into `calls` what it asks of it; everything else is forwarded. */
export class CountingLedger extends DelegatingLedger {
  constructor(
    inner: Ledger,
    private readonly calls: LedgerCalls,
  ) {
    super(inner);
  }

  override async evaluate(name: string, ...args: string[]): Promise<Uint8Array> {
    this.calls.evaluate += 1;
    return this.inner.evaluate(name, ...args);
  }

  override async submit(name: string, ...args: string[]): Promise<Committed> {
    this.calls.submit += 1;
    return this.inner.submit(name, ...args);
  }
}
