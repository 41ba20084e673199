/**
 * The hospitals' and the sponsor's way to the linkage institution's gateway: HTTP with the API
 * key the institution issued to this organisation. Its refusals keep their code and sentence
 * (with the status the institution gave); an institution that cannot be reached is a 502.
 *
 * @module
 */
import { ApiError } from '../errors';
import type { ContributionEntry, LinkageRelease } from './institution';

/** What a hospital and a sponsor need of the linkage institution. */
export interface InstitutionPort {
  evaluate(requestId: string, blinded: readonly Uint8Array[]): Promise<Uint8Array[]>;
  contribute(requestId: string, entries: readonly ContributionEntry[]): Promise<{ received: number; waitingFor: string[]; linked?: unknown }>;
  release(requestId: string): Promise<LinkageRelease>;
}

export class HttpInstitutionClient implements InstitutionPort {
  constructor(private readonly settings: { url: string; apiKey: string; mspId: string; timeoutMs?: number }) {}

  async evaluate(requestId: string, blinded: readonly Uint8Array[]): Promise<Uint8Array[]> {
    const out = await this.call<{ evaluated: string[] }>('POST', '/v1/linkage/evaluate', { requestId, blinded: blinded.map((b) => Buffer.from(b).toString('base64url')) });
    if (!Array.isArray(out.evaluated) || out.evaluated.length !== blinded.length || out.evaluated.some((e) => typeof e !== 'string')) {
      throw new ApiError(502, 'LINKAGE_INSTITUTION_ERROR', `The linkage institution ${this.settings.mspId} answered the evaluation with something else than one element per blinded element.`);
    }
    return out.evaluated.map((e) => new Uint8Array(Buffer.from(e, 'base64url')));
  }

  async contribute(requestId: string, entries: readonly ContributionEntry[]): Promise<{ received: number; waitingFor: string[]; linked?: unknown }> {
    return this.call('POST', `/v1/linkage/requests/${encodeURIComponent(requestId)}/contributions`, { entries });
  }

  async release(requestId: string): Promise<LinkageRelease> {
    return this.call('GET', `/v1/linkage/requests/${encodeURIComponent(requestId)}/release`);
  }

  private async call<T>(method: string, route: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.settings.url}${route}`, {
        method,
        headers: { authorization: `Bearer ${this.settings.apiKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.settings.timeoutMs ?? 120_000),
      });
    } catch (err) {
      throw new ApiError(502, 'LINKAGE_INSTITUTION_UNREACHABLE', `The linkage institution ${this.settings.mspId} could not be reached (${(err as Error).message}); nothing was sent to it.`);
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ApiError(502, 'LINKAGE_INSTITUTION_ERROR', `The linkage institution ${this.settings.mspId} answered ${res.status} without JSON.`);
    }
    if (!res.ok) {
      const error = (parsed as { error?: { code?: string; message?: string } }).error;
      const status = res.status >= 400 && res.status < 500 ? res.status : 502;
      throw new ApiError(status, error?.code ?? 'LINKAGE_INSTITUTION_ERROR', `The linkage institution ${this.settings.mspId}: ${error?.message ?? `HTTP ${res.status}`}`);
    }
    return parsed as T;
  }
}
