import { expect } from 'chai';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { IdentityContract } from '../../../chaincode/src';
import type { Ledger } from '../../../gateway/src/fabric/client';
import { delegatingLedger } from '../../../gateway/src/fabric/delegating-ledger';
import { LedgerError } from '../../../gateway/src/fabric/errors';
import { LANE_MAX_BODY_BYTES, parseStrictJson, verifyLane } from '../../../gateway/src/http/verify-lane';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL, INSURER } from '../chaincode/fixtures';
import { ChaincodeLedger } from '../support/chaincode-ledger';
import { ROLE_KEYS, startOrgGateway, type OrgGateway } from '../support/org-gateways';

/**
 * The verification lane (gateway/src/http/verify-lane.ts) answers plain JSON verifications
 * without Express. Every answer it gives must be the one the Express route gives for the same
 * request: the same request sent with a query string goes to Express (the lane takes only the
 * bare path), so each case is sent both ways and the answers compared.
 */
const CLAIMS_KEY = ROLE_KEYS['claims-officer'];
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

interface Answer {
  status: number;
  body: any;
  headers: Headers;
}

async function post(url: string, body: string | Uint8Array, headers: Record<string, string>): Promise<Answer> {
  const res = await fetch(url, { method: 'POST', headers, body });
  const text = await res.text();
  return { status: res.status, body: text.length > 0 ? JSON.parse(text) : text, headers: res.headers };
}

/** The answer without what differs by nature between two requests (the request id). */
const comparable = (a: Answer) => ({
  status: a.status,
  body: a.body?.error ? { error: { ...a.body.error, requestId: typeof a.body.error.requestId } } : a.body,
  contentType: a.headers.get('content-type'),
  retryAfter: a.headers.get('retry-after'),
  requestIdHeader: typeof a.headers.get('x-request-id'),
});

describe('gateway: the verification lane answers as the Express route does', function () {
  this.timeout(20_000);
  const ledger = new FakeLedger();
  const logLines: any[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(JSON.parse(line)) });
  /** When set, the insurer's peer is down: look-ups the index cannot answer fail. */
  let peerDown = false;
  let dir: string;
  let insurer: OrgGateway;
  let limited: OrgGateway;
  const anchored = sha('the anchored document');

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-lane-'));
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    await new ChaincodeLedger(ledger, HOSPITAL).submit('Records:anchorRecord', JSON.stringify({ recordId: 'lane-1', docHash: anchored, patientRef: sha('p'), category: 'loinc:18842-5' }));
    const failing = (inner: Ledger): Ledger =>
      delegatingLedger(inner, {
        evaluate: async (name, ...args) => {
          if (peerDown) throw new LedgerError('LEDGER_UNAVAILABLE', 'No peer or orderer of the consortium answered; the request was not recorded.');
          return inner.evaluate(name, ...args);
        },
      });
    insurer = await startOrgGateway({ ledger, mspId: INSURER, type: 'insurer', dir: path.join(dir, 'a'), logger, wrapLedger: failing, anchorIndex: { dir: path.join(dir, 'a-index') } });
    await insurer.anchorIndex!.whenIndexed();
    limited = await startOrgGateway({ ledger, mspId: INSURER, type: 'insurer', dir: path.join(dir, 'b'), limits: { perSecond: 0.001, burst: 2 } });
  });
  after(async () => {
    await insurer.stop();
    await limited.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const json = { authorization: `Bearer ${CLAIMS_KEY}`, 'content-type': 'application/json' };
  const cases: [string, string | Uint8Array, Record<string, string>][] = [
    ['an anchored hash: ORIGINAL from the index', JSON.stringify({ docHash: anchored }), json],
    ['a hash nobody anchored: UNKNOWN from the peer', JSON.stringify({ docHash: sha('never anchored') }), json],
    ['with a salt', JSON.stringify({ docHash: anchored, salt: 'ab'.repeat(16) }), json],
    ['charset=utf-8, upper case', JSON.stringify({ docHash: anchored }), { ...json, 'content-type': 'Application/JSON; charset=UTF-8' }],
    ['a byte-order mark first', `\ufeff${JSON.stringify({ docHash: anchored })}`, json],
    ['leading whitespace', `\n\t ${JSON.stringify({ docHash: anchored })}`, json],
    ['an empty body (read as {})', '', json],
    ['whitespace only', '   ', json],
    ['a JSON string, not an object', '"abc"', json],
    ['a JSON array', '[1]', json],
    ['broken JSON', '{"docHash": ', json],
    ['an unknown field', JSON.stringify({ docHash: anchored, extra: 1 }), json],
    ['an upper-case hash', JSON.stringify({ docHash: anchored.toUpperCase() }), json],
    ['a hash that is a number', JSON.stringify({ docHash: 1 }), json],
    ['bytes that are not UTF-8', Buffer.concat([Buffer.from('{"docHash":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]), json],
    ['no API key', JSON.stringify({ docHash: anchored }), { 'content-type': 'application/json' }],
    ['an unknown API key', JSON.stringify({ docHash: anchored }), { ...json, authorization: `Bearer ${'x'.repeat(32)}` }],
    ['a malformed Authorization header', JSON.stringify({ docHash: anchored }), { ...json, authorization: 'Basic abc' }],
  ];
  for (const [name, body, headers] of cases) {
    it(name, async () => {
      const lane = await post(`${insurer.url}/v1/verifications`, body, headers);
      const express = await post(`${insurer.url}/v1/verifications?via=express`, body, headers);
      expect(comparable(lane)).to.deep.equal(comparable(express));
      expect(lane.headers.get('etag'), 'the lane sends no ETag').to.equal(null);
    });
  }

  it('refuses with the same envelope when the peer is down (a 5xx, logged with its cause)', async () => {
    peerDown = true;
    try {
      const body = JSON.stringify({ docHash: sha('not in the index') });
      const lane = await post(`${insurer.url}/v1/verifications`, body, json);
      const express = await post(`${insurer.url}/v1/verifications?via=express`, body, json);
      expect(lane.status).to.equal(503);
      expect(lane.body.error.code).to.equal('LEDGER_UNAVAILABLE');
      expect(comparable(lane)).to.deep.equal(comparable(express));
      const failed = logLines.filter((l) => l.msg === 'request failed' && l.requestId === lane.body.error.requestId);
      expect(failed).to.have.length(1);
    } finally {
      peerDown = false;
    }
  });

  it('rate-limits per API key with 429 RATE_LIMITED and retry-after, as every route does', async () => {
    const body = JSON.stringify({ docHash: anchored });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await post(`${limited.url}/v1/verifications`, body, json)).status);
    expect(statuses).to.deep.equal([200, 200, 429]);
    const lane = await post(`${limited.url}/v1/verifications`, body, json);
    const express = await post(`${limited.url}/v1/verifications?via=express`, body, json);
    expect(lane.body.error.code).to.equal('RATE_LIMITED');
    expect(lane.headers.get('retry-after')).to.match(/^\d+$/);
    expect(comparable(lane)).to.deep.equal(comparable(express));
  });

  it('keeps an opaque X-Request-Id, replaces any other, and logs each request as the Express path does', async () => {
    const given = randomUUID();
    const body = JSON.stringify({ docHash: anchored });
    const kept = await post(`${insurer.url}/v1/verifications`, body, { ...json, 'x-request-id': given });
    expect(kept.headers.get('x-request-id')).to.equal(given);
    const replaced = await post(`${insurer.url}/v1/verifications`, body, { ...json, 'x-request-id': 'MRN-000123' });
    expect(replaced.headers.get('x-request-id')).to.match(/^[0-9a-f-]{36}$/);
    const viaExpress = await post(`${insurer.url}/v1/verifications?via=express`, body, { ...json, 'x-request-id': randomUUID() });
    const refused = await post(`${insurer.url}/v1/verifications`, '{', { ...json, 'x-request-id': randomUUID() });
    const lineOf = (a: Answer) => logLines.find((l) => l.msg === 'request' && l.requestId === a.headers.get('x-request-id'));
    const shape = (l: any) => ({ operation: l.operation, method: l.method, status: l.status, user: l.user, code: l.code });
    expect(shape(lineOf(kept))).to.deep.equal({ operation: 'verifyDocument', method: 'POST', status: 200, user: 'claims-officer-1', code: undefined });
    expect(shape(lineOf(kept))).to.deep.equal(shape(lineOf(viaExpress)));
    expect(shape(lineOf(refused))).to.deep.equal({ operation: 'verifyDocument', method: 'POST', status: 400, user: 'claims-officer-1', code: 'INVALID_JSON' });
    expect(logLines.some((l) => JSON.stringify(l).includes('MRN-000123')), 'a non-opaque request id is never logged').to.equal(false);
  });

  it('counts its requests in the same metrics', async () => {
    const count = async () => {
      const text = await (await fetch(`${insurer.url}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith('medprov_http_requests_total{operation="verifyDocument",status="200"}'));
      return Number(line?.split(' ')[1] ?? 0);
    };
    const before = await count();
    await post(`${insurer.url}/v1/verifications`, JSON.stringify({ docHash: anchored }), json);
    await post(`${insurer.url}/v1/verifications?via=express`, JSON.stringify({ docHash: anchored }), json);
    expect((await count()) - before).to.equal(2);
  });

  it('answers many verifications on one keep-alive connection, in turn', async () => {
    const answers = await Promise.all(Array.from({ length: 50 }, () => post(`${insurer.url}/v1/verifications`, JSON.stringify({ docHash: anchored }), json)));
    expect(answers.every((a) => a.status === 200 && a.body.verdict === 'ORIGINAL')).to.equal(true);
  });
});

describe('gateway: which requests the verification lane takes', () => {
  const taken = (method: string, url: string, headers: Record<string, string>): boolean => {
    let admitted = false;
    const lane = verifyLane({
      begin: () => undefined,
      admit: () => {
        admitted = true;
        throw new Error('stop here');
      },
      verify: async () => ({}),
      sendError: () => undefined,
    });
    const req = { method, url, headers, complete: false, on: () => req } as unknown as IncomingMessage;
    const result = lane(req, {} as ServerResponse);
    expect(result, 'took it exactly when it began answering it').to.equal(admitted);
    return result;
  };
  const plain = { 'content-type': 'application/json', 'content-length': '80' };

  it('takes POST /v1/verifications with a small JSON body', () => {
    expect(taken('POST', '/v1/verifications', plain)).to.equal(true);
    expect(taken('POST', '/v1/verifications', { ...plain, 'content-type': 'application/json; charset=utf-8' })).to.equal(true);
    expect(taken('POST', '/v1/verifications', { ...plain, 'content-length': String(LANE_MAX_BODY_BYTES) })).to.equal(true);
  });

  it('leaves everything else to Express', () => {
    expect(taken('GET', '/v1/verifications', plain)).to.equal(false);
    expect(taken('POST', '/v1/verifications/', plain)).to.equal(false);
    expect(taken('POST', '/v1/verifications?x=1', plain)).to.equal(false);
    expect(taken('POST', '/v1/records', plain)).to.equal(false);
    expect(taken('POST', '/v1/verifications', { ...plain, 'content-type': 'multipart/form-data; boundary=x' })).to.equal(false);
    expect(taken('POST', '/v1/verifications', { ...plain, 'content-type': 'application/json; charset=latin1' })).to.equal(false);
    expect(taken('POST', '/v1/verifications', { 'content-length': '80' })).to.equal(false);
    expect(taken('POST', '/v1/verifications', { 'content-type': 'application/json' })).to.equal(false);
    expect(taken('POST', '/v1/verifications', { ...plain, 'transfer-encoding': 'chunked' })).to.equal(false);
    expect(taken('POST', '/v1/verifications', { ...plain, 'content-encoding': 'gzip' })).to.equal(false);
    expect(taken('POST', '/v1/verifications', { ...plain, 'content-length': String(LANE_MAX_BODY_BYTES + 1) })).to.equal(false);
    expect(taken('POST', '/v1/verifications', { ...plain, 'content-length': '-1' })).to.equal(false);
  });

  it('reads JSON as body-parser does in strict mode', () => {
    expect(parseStrictJson('')).to.deep.equal({});
    expect(parseStrictJson(' \n{"a":1}')).to.deep.equal({ a: 1 });
    expect(parseStrictJson('[1]')).to.deep.equal([1]);
    for (const bad of [' ', '"a"', '1', 'null', 'true', '{', '{"a":1}x']) {
      expect(() => parseStrictJson(bad), bad).to.throw(/not valid JSON/);
    }
  });
});
