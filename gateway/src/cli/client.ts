/**
 * The gateway's HTTP API as the CLI uses it. Failures become CliErrors with the exit code that
 * says what happened: cannot reach (3), refused with the gateway's code and sentence (4), gateway
 * failure or not-the-API answer (5). A 429 is waited out (Retry-After) and retried; a write the
 * gateway accepted durably (202 + Location) is followed until it commits or is rejected.
 *
 * @module
 */
import type { GatewaySettings } from './config';
import { CliError, EXIT, UsageError } from './errors';

export interface GatewayResponse<T> {
  status: number;
  body: T;
}

const MAX_RATE_LIMIT_RETRIES = 30;
/** How long an accepted write may take to commit before the CLI gives up waiting. */
const ACCEPTED_WRITE_WAIT_MS = 120_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class GatewayClient {
  constructor(readonly settings: GatewaySettings) {}

  /** GET without authentication (e.g. /healthz). */
  async getOpen<T>(path: string): Promise<GatewayResponse<T>> {
    return this.request<T>('GET', path, undefined, { auth: false });
  }

  /** POST a JSON body without an API key (the patient's routes: the body is signed). */
  async postOpen<T>(path: string, body: unknown): Promise<GatewayResponse<T>> {
    return this.request<T>('POST', path, body, { auth: false });
  }

  async get<T>(path: string): Promise<GatewayResponse<T>> {
    return this.request<T>('GET', path);
  }

  /**
   * POST a JSON body. Writes ask for the final answer (`Prefer: wait=…`); when the gateway
   * still answers 202 the request is polled at its Location until it commits.
   */
  async post<T>(path: string, body: unknown, headers: Record<string, string> = {}): Promise<GatewayResponse<T>> {
    const res = await this.request<T>('POST', path, body, { headers: { prefer: 'wait=10', ...headers } });
    if (res.status === 202 && res.location) return this.followAccepted<T>(res.location, res.body);
    return res;
  }

  private async followAccepted<T>(location: string, first: unknown): Promise<GatewayResponse<T>> {
    const deadline = Date.now() + ACCEPTED_WRITE_WAIT_MS;
    let status = first as { state?: string; result?: unknown; blockNumber?: string; code?: string; message?: string; id?: string };
    for (;;) {
      if (status.state === 'committed') {
        return { status: 200, body: { ...(status.result as object), blockNumber: status.blockNumber } as T };
      }
      if (status.state === 'rejected') {
        throw new CliError(EXIT.REFUSED, `${status.code}: ${status.message}`, status.code);
      }
      if (Date.now() > deadline) {
        throw new CliError(EXIT.GATEWAY_ERROR, `The gateway accepted the write (request ${status.id ?? location}) but it has not committed yet; check later with GET ${location}.`);
      }
      await sleep(500);
      status = (await this.request<typeof status>('GET', location)).body;
    }
  }

  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    options: { auth?: boolean; headers?: Record<string, string> } = {},
  ): Promise<GatewayResponse<T> & { location?: string }> {
    const url = this.settings.url + path;
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (options.auth !== false) {
      if (!this.settings.apiKey) throw new UsageError('no API key: pass --api-key, set MEDPROV_API_KEY, or put "apiKey" in the config file.');
      headers.authorization = `Bearer ${this.settings.apiKey}`;
    }
    if (body !== undefined) headers['content-type'] = 'application/json';
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await fetch(url, {
          method,
          headers,
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
          signal: AbortSignal.timeout(this.settings.timeoutMs),
        });
      } catch (err) {
        throw unreachable(this.settings, err);
      }
      let text: string;
      try {
        text = await res.text();
      } catch (err) {
        throw unreachable(this.settings, err);
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw new CliError(EXIT.GATEWAY_ERROR, `${this.settings.url} answered ${method} ${path} with HTTP ${res.status} and no JSON: is it a medprov gateway?`);
      }
      // A quota of the day (break-glass) is no request rate: waiting it out would take hours.
      const quota = (json as { error?: { code?: unknown } }).error?.code === 'BREAK_GLASS_RATE_EXCEEDED';
      if (res.status === 429 && !quota && attempt < MAX_RATE_LIMIT_RETRIES) {
        const seconds = Number(res.headers.get('retry-after'));
        await sleep(Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, 30) * 1000 : 1000);
        continue;
      }
      if (res.status >= 400) {
        const error = (json as { error?: { code?: unknown; message?: unknown } }).error;
        const code = typeof error?.code === 'string' ? error.code : `HTTP_${res.status}`;
        const message = typeof error?.message === 'string' ? error.message : `HTTP ${res.status}`;
        throw new CliError(res.status < 500 ? EXIT.REFUSED : EXIT.GATEWAY_ERROR, `${code}: ${message}`, code);
      }
      const location = res.headers.get('location');
      return { status: res.status, body: json as T, ...(location ? { location } : {}) };
    }
  }
}

/** The one sentence for a request that never got an answer. */
function unreachable(settings: GatewaySettings, err: unknown): CliError {
  const e = err as { name?: string; cause?: { code?: string; name?: string; message?: string; errors?: { code?: string }[] } };
  const code = e.cause?.code ?? e.cause?.errors?.find((x) => x.code)?.code;
  let why: string;
  if (e.name === 'TimeoutError' || e.name === 'AbortError' || e.cause?.name === 'TimeoutError') why = `it did not answer within ${settings.timeoutMs / 1000} s`;
  else if (code === 'ECONNREFUSED') why = 'the connection was refused';
  else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') why = 'its host name could not be resolved';
  else if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') why = 'the connection was closed';
  else if (code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') why = 'the connection timed out';
  else if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') why = 'the network cannot reach it';
  else if ((code !== undefined && code.startsWith('ERR_TLS')) || code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || code === 'CERT_HAS_EXPIRED') why = `its TLS certificate was not accepted (${code})`;
  else why = code ? `the request failed (${code})` : e.cause?.message ? `the request failed (${e.cause.message})` : 'the request failed';
  return new CliError(EXIT.UNREACHABLE, `Cannot reach the gateway at ${settings.url}: ${why}.`, undefined, { cause: err });
}

/** A path segment, percent-encoded (record ids may hold `/`, `#`, `@`, `+`). */
export const segment = (s: string): string => encodeURIComponent(s);
