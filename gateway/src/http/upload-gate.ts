/**
 * What keeps slow clients from holding the gateway: the HTTP server's deadlines for a request's
 * head and whole body, an idle deadline for an upload's body, and a cap on the uploads in progress
 * (in all, and per API user), so that a client trickling many uploads a few bytes at a time gets
 * refused quickly while everyone else is served.
 *
 * @module
 */
import { ApiError } from '../errors';

/** The HTTP and upload limits of one gateway process. */
export interface HttpLimits {
  /** Time to receive a request's head (MEDPROV_HTTP_HEADERS_TIMEOUT_MS, default 20 s). */
  headersTimeoutMs: number;
  /** Time to receive a whole request, body included (MEDPROV_HTTP_REQUEST_TIMEOUT_MS, default 120 s). */
  requestTimeoutMs: number;
  /** Longest silence inside an upload's body before it is refused, 408 UPLOAD_TIMEOUT (MEDPROV_UPLOAD_IDLE_TIMEOUT_MS, default 30 s). */
  uploadIdleTimeoutMs: number;
  /** Uploads in progress at once, in all (MEDPROV_MAX_UPLOADS, default 256): beyond, 503 UPLOADS_BUSY. */
  maxUploads: number;
  /** Uploads in progress at once per API user (MEDPROV_MAX_UPLOADS_PER_KEY, default 32): beyond, 429 TOO_MANY_UPLOADS. */
  maxUploadsPerUser: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = { headersTimeoutMs: 20_000, requestTimeoutMs: 120_000, uploadIdleTimeoutMs: 30_000, maxUploads: 256, maxUploadsPerUser: 32 };

/**
 * The limits from the environment; a value that is not a positive whole number stops the
 * gateway at start, naming the variable (a typing mistake never turns a limit off).
 */
export function httpLimitsFromEnv(env: NodeJS.ProcessEnv): HttpLimits {
  const read = (name: string, fallback: number): number => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return fallback;
    const value = Number(raw);
    if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`${name} must be a positive whole number (got "${raw}").`);
    return value;
  };
  const limits: HttpLimits = {
    headersTimeoutMs: read('MEDPROV_HTTP_HEADERS_TIMEOUT_MS', DEFAULT_HTTP_LIMITS.headersTimeoutMs),
    requestTimeoutMs: read('MEDPROV_HTTP_REQUEST_TIMEOUT_MS', DEFAULT_HTTP_LIMITS.requestTimeoutMs),
    uploadIdleTimeoutMs: read('MEDPROV_UPLOAD_IDLE_TIMEOUT_MS', DEFAULT_HTTP_LIMITS.uploadIdleTimeoutMs),
    maxUploads: read('MEDPROV_MAX_UPLOADS', DEFAULT_HTTP_LIMITS.maxUploads),
    maxUploadsPerUser: read('MEDPROV_MAX_UPLOADS_PER_KEY', DEFAULT_HTTP_LIMITS.maxUploadsPerUser),
  };
  // Node refuses a head deadline longer than the whole request's.
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    throw new Error(`MEDPROV_HTTP_HEADERS_TIMEOUT_MS (${limits.headersTimeoutMs}) must not exceed MEDPROV_HTTP_REQUEST_TIMEOUT_MS (${limits.requestTimeoutMs}).`);
  }
  return limits;
}

/** Counts the uploads in progress, in all and per user, and refuses one over either cap. */
export class UploadGate {
  private total = 0;
  private readonly perUser = new Map<string, number>();

  constructor(private readonly limits: Pick<HttpLimits, 'maxUploads' | 'maxUploadsPerUser'>) {}

  /**
   * Takes a slot for an upload by `userId`; returns the function that gives it back (once).
   * @throws ApiError 429 TOO_MANY_UPLOADS (this user's cap), 503 UPLOADS_BUSY (the gateway's)
   */
  enter(userId: string): () => void {
    const mine = this.perUser.get(userId) ?? 0;
    if (mine >= this.limits.maxUploadsPerUser) {
      throw new ApiError(429, 'TOO_MANY_UPLOADS', `You have ${mine} uploads in progress, the most one user may have at once; send the next when one has finished.`, { retryAfterSeconds: 1 });
    }
    if (this.total >= this.limits.maxUploads) {
      throw new ApiError(503, 'UPLOADS_BUSY', 'The gateway is receiving as many uploads as it takes at once; try again in a moment.', { retryAfterSeconds: 1 });
    }
    this.total += 1;
    this.perUser.set(userId, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total -= 1;
      const left = (this.perUser.get(userId) ?? 1) - 1;
      if (left > 0) this.perUser.set(userId, left);
      else this.perUser.delete(userId);
    };
  }

  /** Uploads in progress now (for metrics and tests). */
  inProgress(): number {
    return this.total;
  }
}
