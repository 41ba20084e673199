import { ApiError } from '../errors';

/**
 * A token bucket per user: bursts up to `burst`, then `perSecond` sustained. One user's flood
 * gets 429s while everyone else is served.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
    /** Buckets kept before idle ones are dropped: keys by client IP come from anyone. */
    private readonly maxKeys = 50_000,
  ) {}

  take(userId: string): void {
    const t = this.now();
    if (this.buckets.size >= this.maxKeys && !this.buckets.has(userId)) this.forgetIdle(t);
    const bucket = this.buckets.get(userId) ?? { tokens: this.burst, at: t };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((t - bucket.at) / 1000) * this.perSecond);
    bucket.at = t;
    if (bucket.tokens < 1) {
      this.buckets.set(userId, bucket);
      const waitSeconds = Math.ceil((1 - bucket.tokens) / this.perSecond);
      throw new ApiError(429, 'RATE_LIMITED', `Too many requests; try again in ${waitSeconds} s.`, { retryAfterSeconds: waitSeconds });
    }
    bucket.tokens -= 1;
    this.buckets.set(userId, bucket);
  }

  /** Drops buckets that have refilled: forgetting them changes nothing for their owners. */
  private forgetIdle(t: number): void {
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + ((t - bucket.at) / 1000) * this.perSecond >= this.burst) this.buckets.delete(key);
    }
  }
}
