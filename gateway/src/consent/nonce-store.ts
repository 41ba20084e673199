/**
 * Nonces this gateway has handed out, each with a value and an expiry, kept in memory only.
 *
 * Memory is bounded: at most `capacity` entries, and a nonce is forgotten one TTL after it
 * expired (until then it is kept, so that a late or replayed use is told "expired" or "used"
 * rather than "unknown"). A restart forgets every nonce, which only costs the holder a new one.
 */
export type NonceLookup<T> =
  | { status: 'ok'; value: T; expiresAt: number }
  | { status: 'unknown' }
  | { status: 'expired'; value: T; expiresAt: number }
  | { status: 'used'; value: T; expiresAt: number };

interface Entry<T> {
  value: T;
  expiresAt: number;
  used: boolean;
}

export class NonceStore<T> {
  private readonly entries = new Map<string, Entry<T>>();

  /**
   * @param ttlMs how long a nonce may be used after it is issued
   * @param capacity most nonces kept at once (live, used and recently expired together)
   * @param clock wall-clock milliseconds
   */
  constructor(
    private readonly ttlMs: number,
    private readonly capacity: number,
    private readonly clock: () => number,
  ) {
    if (!(ttlMs > 0) || !Number.isInteger(capacity) || capacity < 1) throw new Error('NonceStore needs a positive TTL and capacity');
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * Stores a fresh nonce (the caller makes it random) and returns its expiry, or `undefined`
   * when the store is full even after forgetting stale entries: the caller refuses then,
   * rather than evicting live nonces someone is about to use.
   */
  add(nonce: string, value: T): { expiresAt: number } | undefined {
    this.sweep();
    if (this.entries.size >= this.capacity) return undefined;
    const expiresAt = this.clock() + this.ttlMs;
    this.entries.set(nonce, { value, expiresAt, used: false });
    return { expiresAt };
  }

  /** What is known of a nonce, without using it up. */
  lookup(nonce: string): NonceLookup<T> {
    const entry = this.entries.get(nonce);
    if (!entry) return { status: 'unknown' };
    const { value, expiresAt } = entry;
    if (entry.used) return { status: 'used', value, expiresAt };
    if (this.clock() >= expiresAt) return { status: 'expired', value, expiresAt };
    return { status: 'ok', value, expiresAt };
  }

  /**
   * Uses a nonce up: the first call for a live nonce answers `ok`, every later one `used`.
   * It is marked before anything else is checked, so a failed attempt also spends it and a
   * guessed signature cannot be retried against the same nonce.
   */
  consume(nonce: string): NonceLookup<T> {
    const found = this.lookup(nonce);
    if (found.status === 'ok') (this.entries.get(nonce) as Entry<T>).used = true;
    return found;
  }

  /**
   * Forgets entries that expired more than one TTL ago. With a fixed TTL the map's insertion
   * order is expiry order, so only stale entries at the head are visited.
   */
  private sweep(): void {
    const horizon = this.clock() - this.ttlMs;
    for (const [nonce, entry] of this.entries) {
      if (entry.expiresAt > horizon) break;
      this.entries.delete(nonce);
    }
  }
}
