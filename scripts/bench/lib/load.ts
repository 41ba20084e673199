/**
 * The HTTP load generator of the gateway benchmarks: `runLoad` sends a list of requests to a
 * gateway with bounded concurrency from a worker thread of this process, over keep-alive
 * connections (./http-client.ts for http:, node:https's Agent for https:), and returns
 * per-request latencies, failures by kind and, for writes the gateway accepted with 202, how long
 * until every one of them was committed.
 *
 * The worker keeps the client off the thread that runs the in-process gateways, so that on a
 * two-core machine client and server are not queued behind each other on one event loop.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { RawHttpClient } from './http-client';
import { type Failures, type RunOutcome, failureCount, progressLine, runConcurrent } from './report';

export interface LoadRequest {
  method: 'GET' | 'POST';
  path: string;
  /** A JSON body. */
  json?: string;
  /** A multipart body with `documents[upload]` as the `document` file part. */
  upload?: number;
  headers?: Record<string, string>;
}

export interface LoadSpec {
  /** Named in the progress line. */
  label: string;
  baseUrl: string;
  apiKey: string;
  /**
   * More API keys (of the same role): request i is sent with `apiKeys[i % length]`, as many staff
   * of one organisation would, each under the gateway's per-key rate limit. `apiKey` when absent.
   */
  apiKeys?: string[];
  concurrency: number;
  requests: LoadRequest[];
  documents?: Uint8Array[];
  /** A 2xx answer must have this top-level field with one of these values, else it is a failure. */
  expect?: { field: string; values: string[] };
  /**
   * After the run, polls GET <Location> of every 202 answer (in order, every `pollMs`) until it is
   * committed or rejected, and reports when the last one was committed.
   */
  awaitCommitted?: { pollMs: number; timeoutMs: number };
}

export interface LoadResult extends RunOutcome {
  /** Status codes of the answers (first answers, not the polls). */
  statuses: Record<string, number>;
  /** With `awaitCommitted` and 202 answers: seconds from the start of the run until the last was committed. */
  committed?: { count: number; seconds: number; polls: number; failures: Failures };
}

export const CLIENT_DESCRIPTION = 'a lean HTTP/1.1 keep-alive client (one connection per client, scripts/bench/lib/http-client.ts; node:https for https:), in a worker thread of this process';

const BOUNDARY = '----medprov-bench-7d1f0c2a9b';

/** Runs `spec` in a worker thread; progress goes to stderr when wanted. */
export function runLoad(spec: LoadSpec): Promise<LoadResult> {
  // Under tsx, the worker needs tsx's loader to read this .ts file; compiled, it needs nothing.
  const execArgv = __filename.endsWith('.ts') ? ['--require', require.resolve('tsx/cjs')] : [];
  const worker = new Worker(__filename, { workerData: spec, execArgv });
  const progress = progressLine(spec.label, spec.requests.length);
  return new Promise<LoadResult>((resolve, reject) => {
    let result: LoadResult | undefined;
    worker.on('message', (message: { progress?: number; result?: LoadResult }) => {
      if (message.progress !== undefined) progress.update(message.progress);
      if (message.result) result = message.result;
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      progress.end();
      if (result) resolve(result);
      else reject(new Error(`the load worker stopped (exit code ${code}) without a result`));
    });
  });
}

interface Answer {
  status: number;
  location: string | undefined;
  body: string;
}

function client(spec: LoadSpec) {
  const base = new URL(spec.baseUrl);
  const transport = base.protocol === 'https:' ? https : http;
  const agent = new transport.Agent({ keepAlive: true, maxSockets: spec.concurrency });
  // Plain http: the lean client (./http-client.ts); https: node's.
  const raw = base.protocol === 'http:' ? new RawHttpClient(spec.baseUrl) : undefined;
  const keys = spec.apiKeys && spec.apiKeys.length > 0 ? spec.apiKeys : [spec.apiKey];
  const send = (request: LoadRequest, i = 0): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = { authorization: `Bearer ${keys[i % keys.length]}`, ...request.headers };
      let parts: (string | Uint8Array)[] = [];
      if (request.json !== undefined) {
        headers['content-type'] = 'application/json';
        parts = [request.json];
      } else if (request.upload !== undefined) {
        const doc = spec.documents?.[request.upload];
        if (!doc) throw new Error(`no document ${request.upload}`);
        headers['content-type'] = `multipart/form-data; boundary=${BOUNDARY}`;
        parts = [`--${BOUNDARY}\r\ncontent-disposition: form-data; name="document"; filename="document.bin"\r\ncontent-type: application/octet-stream\r\n\r\n`, doc, `\r\n--${BOUNDARY}--\r\n`];
      }
      headers['content-length'] = parts.reduce((n, p) => n + (typeof p === 'string' ? Buffer.byteLength(p) : p.byteLength), 0);
      if (raw) {
        raw.request(request.method, request.path, headers, parts).then(
          (answer) => resolve({ status: answer.status, location: answer.headers.location, body: answer.body.toString('utf8') }),
          reject,
        );
        return;
      }
      const req = transport.request(new URL(request.path, base), { method: request.method, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      for (const part of parts) req.write(part);
      req.end();
    });
  return {
    send,
    close: () => {
      raw?.close();
      agent.destroy();
    },
  };
}

/** `409 DOC_HASH_CLAIMED`, `200 verdict=UNKNOWN`, or undefined when the answer is what was expected. */
function failureOf(answer: Answer, expect: LoadSpec['expect']): string | undefined {
  let body: Record<string, unknown> | undefined;
  try {
    body = JSON.parse(answer.body) as Record<string, unknown>;
  } catch {
    body = undefined;
  }
  if (answer.status < 200 || answer.status > 299) {
    const code = (body?.error as { code?: string } | undefined)?.code;
    return `${answer.status}${code ? ` ${code}` : ''}`;
  }
  if (expect && answer.status !== 202 && !expect.values.includes(String(body?.[expect.field]))) return `${answer.status} ${expect.field}=${String(body?.[expect.field])}`;
  return undefined;
}

async function workerMain(spec: LoadSpec): Promise<LoadResult> {
  const { send, close } = client(spec);
  const statuses: Record<string, number> = {};
  const locations: (string | undefined)[] = [];
  let sampleFailure: string | undefined;
  let lastProgress = 0;
  const start = performance.now();
  const outcome = await runConcurrent(
    spec.requests,
    spec.concurrency,
    async (request, i) => {
      let answer: Answer;
      try {
        answer = await send(request, i);
      } catch (err) {
        sampleFailure ??= (err as Error).message;
        return `network ${(err as NodeJS.ErrnoException).code ?? (err as Error).name}`;
      }
      statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
      if (answer.status === 202) locations[i] = answer.location;
      const failure = failureOf(answer, spec.expect);
      if (failure) sampleFailure ??= answer.body;
      return failure;
    },
    (done) => {
      const now = performance.now();
      if (now - lastProgress > 200 || done === spec.requests.length) {
        lastProgress = now;
        parentPort?.postMessage({ progress: done });
      }
    },
  );
  const result: LoadResult = { ...outcome, statuses, ...(sampleFailure !== undefined ? { sampleFailure } : {}) };
  // Each with the index of its request: a request's status is shown only to the key that sent it.
  const pending = locations.flatMap((location, i) => (location === undefined ? [] : [{ location, i }]));
  if (spec.awaitCommitted && pending.length > 0) {
    const { pollMs, timeoutMs } = spec.awaitCommitted;
    const failures: Failures = {};
    let polls = 0;
    let lastCommitted = start;
    for (const { location, i } of pending) {
      for (;;) {
        polls += 1;
        const answer = await send({ method: 'GET', path: location }, i).catch((err: Error) => ({ status: 0, location: undefined, body: JSON.stringify({ state: `network ${err.message}` }) }));
        const state = answer.status === 200 ? (JSON.parse(answer.body) as { state: string; code?: string }) : undefined;
        if (state?.state === 'committed') {
          lastCommitted = performance.now();
          break;
        }
        const failure = state === undefined ? `poll ${answer.status}` : state.state === 'rejected' ? `rejected ${state.code ?? ''}`.trim() : undefined;
        const timedOut = performance.now() - start > timeoutMs;
        if (failure || timedOut) {
          const kind = failure ?? `not committed after ${timeoutMs / 1000} s`;
          failures[kind] = (failures[kind] ?? 0) + 1;
          break;
        }
        await new Promise((r) => setTimeout(r, pollMs));
      }
    }
    result.committed = { count: pending.length - failureCount(failures), seconds: (lastCommitted - start) / 1000, polls, failures };
  }
  close();
  return result;
}

if (!isMainThread && (workerData as LoadSpec | undefined)?.requests) {
  workerMain(workerData as LoadSpec).then(
    (result) => parentPort?.postMessage({ result }, [result.latenciesMs.buffer as ArrayBuffer]),
    (err: unknown) => {
      throw err;
    },
  );
}
