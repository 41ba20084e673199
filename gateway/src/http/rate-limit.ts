import { ApiError } from '../errors';

/** Requests per second and burst per API key unless configured (MEDPROV_RATE_LIMIT_PER_SECOND / _BURST). */
export const DEFAULT_RATE_LIMIT = { perSecond: 200, burst: 400 } as const;

/** Requests per second and burst per client IP on the patients' routes unless configured (MEDPROV_PATIENT_RATE_LIMIT_PER_SECOND / _BURST). */
export const DEFAULT_PATIENT_RATE_LIMIT = { perSecond: 5, burst: 30 } as const;

/**
 * The per-API-key rate limit from the environment: `MEDPROV_RATE_LIMIT_PER_SECOND` (sustained
 * requests per second per key, default 200) and `MEDPROV_RATE_LIMIT_BURST` (the bucket's size,
 * default twice the rate). A value that is not a positive number stops the gateway at start,
 * naming the variable: a typing mistake never turns the limit off or sets it to something unmeant.
 */
export function rateLimitFromEnv(env: NodeJS.ProcessEnv): { perSecond: number; burst: number } {
  return limitFromEnv(env, 'MEDPROV_RATE_LIMIT', 'per API key', DEFAULT_RATE_LIMIT);
}

/**
 * The per-client-IP limit of the routes patients use without an API key, read as
 * {@link rateLimitFromEnv} reads the staff one: `MEDPROV_PATIENT_RATE_LIMIT_PER_SECOND` (default 5)
 * and `MEDPROV_PATIENT_RATE_LIMIT_BURST` (default 30; twice the rate when only the rate is set).
 */
export function patientRateLimitFromEnv(env: NodeJS.ProcessEnv): { perSecond: number; burst: number } {
  return limitFromEnv(env, 'MEDPROV_PATIENT_RATE_LIMIT', 'per client IP', DEFAULT_PATIENT_RATE_LIMIT);
}

function limitFromEnv(env: NodeJS.ProcessEnv, prefix: string, per: string, defaults: { perSecond: number; burst: number }): { perSecond: number; burst: number } {
  const read = (name: string): number | undefined => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return undefined;
    const value = Number(raw);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number of requests ${per} (got "${raw}").`);
    return value;
  };
  const perSecond = read(`${prefix}_PER_SECOND`);
  const burst = read(`${prefix}_BURST`);
  if (burst !== undefined && burst < 1) throw new Error(`${prefix}_BURST must be at least 1 (got "${env[`${prefix}_BURST`]}").`);
  return {
    perSecond: perSecond ?? defaults.perSecond,
    burst: burst ?? (perSecond !== undefined ? 2 * perSecond : defaults.burst),
  };
}

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
