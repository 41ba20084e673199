/**
 * HTTP calls to a test network's gateways with an API key, and writes waited for through the
 * gateway's journal (`Prefer: wait`, then its `Location` polled until committed or rejected).
 *
 * @module
 */

/** A gateway's base URL and one role's API key, as `testNetwork().gateway(org, role)` gives them. */
export interface GatewayAccess {
  readonly url: string;
  readonly key: string;
}

/** A gateway's answer: status, JSON body, Location header. */
export interface Answer {
  readonly status: number;
  // The API's bodies are checked field by field by the tests.
  readonly body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  readonly location: string | null;
}

/** One request with the role's API key; a JSON body unless it is FormData. */
export async function call(gw: GatewayAccess, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const init: RequestInit = { method, headers: { authorization: `Bearer ${gw.key}`, ...headers } };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
  }
  const res = await fetch(gw.url + path, init);
  return { status: res.status, location: res.headers.get('location'), body: await res.json() };
}

/**
 * A journalled write, waited for: the committed answer (the chaincode's result with the block
 * number the gateway reports, status 201, or 200 when nothing was created), the refusal (409
 * with the rejection's code), or the last 202 if it never settled within about two minutes.
 */
export async function write(gw: GatewayAccess, method: string, path: string, body: unknown): Promise<Answer> {
  let answer = await call(gw, method, path, body, { prefer: 'wait=20' });
  for (let i = 0; answer.status === 202 && answer.location && i < 240; i++) {
    await new Promise((r) => setTimeout(r, 500));
    const polled = await call(gw, 'GET', new URL(answer.location, gw.url).pathname);
    if (polled.body.state === 'committed') {
      const created = polled.body.result?.created ?? (polled.body.result?.anchored ?? 1) > 0;
      answer = { status: created ? 201 : 200, body: { ...polled.body.result, blockNumber: polled.body.blockNumber }, location: null };
    } else if (polled.body.state === 'rejected') {
      answer = { status: 409, body: { error: { code: polled.body.code, message: polled.body.message } }, location: null };
    }
  }
  return answer;
}
