/**
 * The one way to wrap a {@link Ledger}: everything is forwarded to the inner ledger unless the
 * wrapper says otherwise, optional methods included, so that a wrapper written before a method
 * was added to the seam does not silently hide it (a verdict without its block number, an anchor
 * index that never learns the channel's height).
 *
 * An optional method stays absent when the inner ledger lacks it: absence means "this ledger
 * cannot tell", and readers fall back on it.
 *
 * @module
 */
import type { Committed, Ledger } from './client';

/**
 * Every method of {@link Ledger}, and whether a ledger must have it. The compiler refuses this
 * list when a method is added to the interface and not here, so nothing can be left unforwarded.
 */
export const LEDGER_METHODS = {
  evaluate: 'required',
  submit: 'required',
  blockOfTransaction: 'optional',
  height: 'optional',
} as const satisfies Record<keyof Ledger, 'required' | 'optional'>;

type OptionalMethod = { [K in keyof typeof LEDGER_METHODS]: (typeof LEDGER_METHODS)[K] extends 'optional' ? K : never }[keyof typeof LEDGER_METHODS];
const OPTIONAL_METHODS = (Object.keys(LEDGER_METHODS) as (keyof Ledger)[]).filter((name): name is OptionalMethod => LEDGER_METHODS[name] === 'optional');

/**
 * Base of a ledger wrapper: forwards every call to `inner`. A subclass overrides `evaluate` or
 * `submit` as methods. The optional methods are own properties, set only when `inner` has them;
 * a subclass that changes one assigns it in its constructor (the compiler refuses a method there).
 */
export class DelegatingLedger implements Ledger {
  declare blockOfTransaction?: (transactionId: string) => Promise<bigint | undefined>;
  declare height?: () => Promise<bigint>;

  constructor(protected readonly inner: Ledger) {
    for (const name of OPTIONAL_METHODS) {
      const method = inner[name] as ((...args: never[]) => unknown) | undefined;
      if (method) Object.defineProperty(this, name, { value: method.bind(inner), writable: true, configurable: true, enumerable: true });
    }
  }

  evaluate(name: string, ...args: string[]): Promise<Uint8Array> {
    return this.inner.evaluate(name, ...args);
  }

  submit(name: string, ...args: string[]): Promise<Committed> {
    return this.inner.submit(name, ...args);
  }
}

/** What a wrapper changes: a method to use instead of the inner one, or `undefined` to hide an optional one. */
export type LedgerOverrides = Partial<Pick<Ledger, 'evaluate' | 'submit'>> & { [K in OptionalMethod]?: Ledger[K] | undefined };

/**
 * `inner` with some methods replaced (or optional ones hidden, given as `undefined`), all the
 * others forwarded: the short form of a {@link DelegatingLedger} for wrappers without state.
 */
export function delegatingLedger(inner: Ledger, overrides: LedgerOverrides): Ledger {
  const ledger = new DelegatingLedger(inner);
  for (const name of Object.keys(overrides) as (keyof LedgerOverrides)[]) {
    const method = overrides[name];
    if (method) Object.defineProperty(ledger, name, { value: method, writable: true, configurable: true, enumerable: true });
    else if (LEDGER_METHODS[name] === 'optional') delete (ledger as Partial<Ledger>)[name];
  }
  return ledger;
}
