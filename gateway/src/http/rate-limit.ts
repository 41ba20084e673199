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
  ) {}

  take(userId: string): void {
    const t = this.now();
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
}
