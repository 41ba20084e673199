/**
 * HTTP calls to a test network's gateways — the one helper every real-network suite uses: an
 * API key when the caller has one (patients have none), rate limits waited out as a client
 * would, and writes waited for through the gateway's journal (`Prefer: wait`, then its
 * `Location` polled until committed or rejected).
 *
 * @module
 */

/** A gateway's base URL and, for staff, one role's API key, as `testNetwork().gateway(org, role)` gives them. */
export interface GatewayAccess {
  readonly url: string;
  readonly key?: string;
}

/** A gateway's answer: status, body (parsed JSON, else the text), the raw text, Location and headers. */
export interface Answer {
  readonly status: number;
  // The API's bodies are checked field by field by the tests.
  readonly body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  readonly text: string;
  readonly location: string | null;
  readonly headers: Headers;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * One request: a JSON body, or a FormData as it is. A 429 (the per-key limit, or the per-IP
 * patient limit: every test request comes from 127.0.0.1) is retried after its Retry-After. A
 * kept-alive connection the gateway closed just as it was reused ("other side closed") is retried
 * once for a GET; a write never is (it might have been taken).
 */
export async function call(gw: GatewayAccess, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const h: Record<string, string> = { ...(gw.key ? { authorization: `Bearer ${gw.key}` } : {}), ...headers };
  const init: RequestInit = { method, headers: h };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    h['content-type'] = 'application/json';
  }
  let resent = false;
  for (let attempt = 0; ; attempt++) {
    let res: Response;
    try {
      res = await fetch(gw.url + path, init);
    } catch (err) {
      if (method !== 'GET' || resent) throw err;
      resent = true;
      continue;
    }
    const text = await res.text();
    if (res.status === 429 && attempt < 60) {
      await sleep(Math.min(Number(res.headers.get('retry-after')) || 1, 5) * 1000);
      continue;
    }
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON (a page): the text
    }
    return { status: res.status, body: parsed, text, location: res.headers.get('location'), headers: res.headers };
  }
}

/**
 * A write through the gateway's journal, waited for: the final answer (201, or 200 when nothing
 * was created: the chaincode's result with the block number, and the salts the 202 carried), or
 * the refusal (409 with the rejection's code). Polls the request's Location for up to 5 minutes:
 * a 1,000-record batch on a busy machine may be retried by the submitter.
 */
export async function write(gw: GatewayAccess, method: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const answer = await call(gw, method, path, body, { prefer: 'wait=20', ...headers });
  if (answer.status !== 202 || !answer.location) return answer;
  const extra = { ...(answer.body?.salt ? { salt: answer.body.salt, commitment: answer.body.commitment } : {}), ...(answer.body?.salts ? { salts: answer.body.salts } : {}) };
  for (let i = 0; i < 600; i++) {
    await sleep(500);
    const polled = await call(gw, 'GET', new URL(answer.location, gw.url).pathname);
    if (polled.body?.state === 'committed') {
      const result = polled.body.result ?? {};
      const created = result.created ?? (typeof result.anchored === 'number' ? result.anchored > 0 : true);
      return { ...answer, status: created ? 201 : 200, body: { ...result, ...extra, blockNumber: polled.body.blockNumber } };
    }
    if (polled.body?.state === 'rejected') return { ...answer, status: 409, body: { error: { code: polled.body.code, message: polled.body.message } } };
  }
  throw new Error(`${method} ${path} was accepted but neither committed nor rejected within 5 minutes`);
}
