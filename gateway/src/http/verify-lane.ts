/**
 * The verification lane: `POST /v1/verifications` with a small JSON body, answered without
 * Express. A verification by hash is the gateway's hot read (an insurer checks every claim
 * document; the anchor index answers it from memory), and on such a request Express's own
 * per-request work (re-prototyping the request and response, the router walking every route,
 * body-parser, type-is, the ETag) cost about three times what the verification itself does.
 *
 * The lane takes only the plain case: exactly that method and path (no query string), a JSON
 * content type in UTF-8, no content encoding, and a declared length up to {@link LANE_MAX_BODY_BYTES}.
 * Everything else (uploads, other spellings, chunked or compressed bodies) goes to the Express
 * route, which answers it as before. What the lane does is the route's own steps, with the same
 * functions: the same request id, log line and metrics ({@link VerifyLaneDeps.begin}), the same
 * authentication, rate limit and role check ({@link VerifyLaneDeps.admit}), body-parser's strict
 * JSON rules (an empty body is `{}`; a body not starting with `{` or `[` is INVALID_JSON), the
 * same schema check and verification ({@link VerifyLaneDeps.verify}), and the same error
 * envelope ({@link VerifyLaneDeps.sendError}). Its answers carry no ETag (a POST answer is not
 * cached), which is the one difference from Express's.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError } from '../errors';
import type { User } from './auth';
import type { Operation } from './roles';

/** What the request log keeps of a request; the Express path keeps the same fields in `res.locals`. */
export interface RequestFields {
  requestId?: string;
  operation?: string;
  userId?: string;
  errorCode?: string;
}

export interface VerifyLaneDeps {
  /** Sets the request id (and its header), and logs and counts the request when it finishes. */
  begin(req: IncomingMessage, res: ServerResponse, fields: RequestFields): void;
  /** Authentication, rate limit, role and org type, as every API-key route checks them; notes the user in `fields`. */
  admit(operation: Operation, authorization: string | undefined, fields: RequestFields): User;
  /** Checks the body against the VerifyRequest schema and answers the verdict. */
  verify(body: unknown): Promise<unknown>;
  /** Any error as the JSON envelope (and its log line), as the Express error handler sends it. */
  sendError(err: unknown, req: IncomingMessage, res: ServerResponse, fields: RequestFields): void;
}

/** The largest declared body the lane reads; a verification's JSON is about 100 bytes. */
export const LANE_MAX_BODY_BYTES = 16 * 1024;

const PATH = '/v1/verifications';
const JSON_TYPES = new Set(['application/json', 'application/json; charset=utf-8', 'application/json;charset=utf-8']);
const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/**
 * Returns the lane: a function that answers `req` and returns true when the request is one it
 * takes, or returns false at once (having touched nothing) so that Express answers it.
 */
export function verifyLane(deps: VerifyLaneDeps): (req: IncomingMessage, res: ServerResponse) => boolean {
  const decoder = new TextDecoder('utf-8');
  return (req, res) => {
    if (req.method !== 'POST' || req.url !== PATH) return false;
    const { headers } = req;
    const type = headers['content-type'];
    if (type === undefined || !JSON_TYPES.has(type.toLowerCase())) return false;
    if (headers['transfer-encoding'] !== undefined || (headers['content-encoding'] !== undefined && headers['content-encoding'].toLowerCase() !== 'identity')) return false;
    const declared = headers['content-length'];
    if (declared === undefined || !/^\d{1,5}$/.test(declared) || Number(declared) > LANE_MAX_BODY_BYTES) return false;

    const fields: RequestFields = { operation: 'verifyDocument' };
    deps.begin(req, res, fields);
    const fail = (err: unknown) => deps.sendError(err, req, res, fields);
    try {
      deps.admit('verifyDocument', headers.authorization, fields);
    } catch (err) {
      fail(err);
      return true;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('error', fail);
    req.on('end', () => {
      let body: unknown;
      try {
        body = parseStrictJson(decoder.decode(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
      } catch (err) {
        fail(err);
        return;
      }
      deps.verify(body).then((verdict) => {
        const text = JSON.stringify(verdict);
        res.writeHead(200, { 'content-type': JSON_CONTENT_TYPE, 'content-length': Buffer.byteLength(text) });
        res.end(text);
      }, fail);
    });
    return true;
  };
}

/**
 * JSON as body-parser's strict parser reads it: an empty body is `{}`, a body whose first
 * non-whitespace character is not `{` or `[` is refused, and so is anything JSON.parse refuses.
 */
export function parseStrictJson(text: string): unknown {
  if (text.length === 0) return {};
  const first = /^[\x20\x09\x0a\x0d]*(.)/s.exec(text)?.[1];
  if (first !== '{' && first !== '[') throw invalidJson();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw invalidJson();
  }
}

const invalidJson = () => new ApiError(400, 'INVALID_JSON', 'The request body is not valid JSON.');
