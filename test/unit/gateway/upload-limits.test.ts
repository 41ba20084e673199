import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { IdentityContract } from '../../../chaincode/src';
import { DEFAULT_HTTP_LIMITS, httpLimitsFromEnv, UploadGate } from '../../../gateway/src/http/upload-gate';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL } from '../chaincode/fixtures';
import { ROLE_KEYS, startOrgGateway, type OrgGateway } from '../support/org-gateways';

/** An upload whose head and first bytes are sent, then nothing: the client holds it open. */
function slowUpload(port: number, key: string): { answer: Promise<{ status: number; body: string; closed: Promise<void> }>; request: http.ClientRequest } {
  const boundary = '----slow';
  const request = http.request({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: '/v1/documents/hash',
    agent: false,
    headers: { authorization: `Bearer ${key}`, 'content-type': `multipart/form-data; boundary=${boundary}`, 'transfer-encoding': 'chunked' },
  });
  request.write(`--${boundary}\r\nContent-Disposition: form-data; name="document"; filename="d.txt"\r\nContent-Type: text/plain\r\n\r\nthe first bytes`);
  const answer = new Promise<{ status: number; body: string; closed: Promise<void> }>((resolve, reject) => {
    request.on('response', (res) => {
      const closed = new Promise<void>((r) => res.socket.once('close', () => r()));
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, closed }));
    });
    request.on('error', reject);
  });
  return { answer, request };
}

/** Uploads until the answer has `status` (the slow uploads before it may still be on their way in). */
async function uploadUntil(url: string, key: string, status: number): Promise<Response> {
  for (let i = 0; ; i++) {
    const res = await upload(url, key);
    if (res.status === status || i >= 200) return res;
    await new Promise((r) => setTimeout(r, 10));
  }
}

const upload = (url: string, key: string) => {
  const form = new FormData();
  form.append('document', new Blob(['a whole document']), 'd.txt');
  return fetch(`${url}/v1/documents/hash`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form });
};

describe('gateway: slow clients — upload caps and deadlines (issue 15)', function () {
  this.timeout(60_000);

  it('reads MEDPROV_HTTP_*_TIMEOUT_MS, MEDPROV_UPLOAD_IDLE_TIMEOUT_MS and MEDPROV_MAX_UPLOADS(_PER_KEY), refusing nonsense by name', () => {
    expect(httpLimitsFromEnv({})).to.deep.equal(DEFAULT_HTTP_LIMITS);
    expect(DEFAULT_HTTP_LIMITS).to.deep.equal({ headersTimeoutMs: 20_000, requestTimeoutMs: 120_000, uploadIdleTimeoutMs: 30_000, maxUploads: 256, maxUploadsPerUser: 32 });
    expect(
      httpLimitsFromEnv({ MEDPROV_HTTP_HEADERS_TIMEOUT_MS: '5000', MEDPROV_HTTP_REQUEST_TIMEOUT_MS: '60000', MEDPROV_UPLOAD_IDLE_TIMEOUT_MS: '1000', MEDPROV_MAX_UPLOADS: '10', MEDPROV_MAX_UPLOADS_PER_KEY: '2' }),
    ).to.deep.equal({ headersTimeoutMs: 5000, requestTimeoutMs: 60_000, uploadIdleTimeoutMs: 1000, maxUploads: 10, maxUploadsPerUser: 2 });
    for (const bad of ['0', '-1', '1.5', 'off', '1e400']) expect(() => httpLimitsFromEnv({ MEDPROV_MAX_UPLOADS: bad }), bad).to.throw(/MEDPROV_MAX_UPLOADS must be a positive whole number/);
    expect(() => httpLimitsFromEnv({ MEDPROV_HTTP_HEADERS_TIMEOUT_MS: '200000' })).to.throw(/must not exceed MEDPROV_HTTP_REQUEST_TIMEOUT_MS/);
  });

  it('the gate: per user, then in all; a slot given back twice counts once', () => {
    const gate = new UploadGate({ maxUploads: 3, maxUploadsPerUser: 2 });
    const a1 = gate.enter('a');
    gate.enter('a');
    expect(() => gate.enter('a')).to.throw(/uploads in progress/).with.property('code', 'TOO_MANY_UPLOADS');
    gate.enter('b');
    expect(() => gate.enter('c')).to.throw().with.property('code', 'UPLOADS_BUSY');
    a1();
    a1();
    expect(gate.inProgress()).to.equal(2);
    gate.enter('c');
    expect(() => gate.enter('c')).to.throw().with.property('status', 503);
  });

  describe('at a gateway', () => {
    const ledger = new FakeLedger();
    let dir: string;
    let gw: OrgGateway;
    const held: http.ClientRequest[] = [];
    before(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'medprov-slow-'));
      await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
      gw = await startOrgGateway({ ledger, mspId: HOSPITAL, type: 'hospital', dir, limits: { uploads: { maxUploads: 4, maxUploadsPerUser: 2, uploadIdleTimeoutMs: 3_000 } } });
    });
    after(async () => {
      for (const r of held) r.destroy();
      await gw.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it("a user's uploads beyond its cap get 429 TOO_MANY_UPLOADS at once, beyond the gateway's 503 UPLOADS_BUSY; others are served; a silent upload gets 408 UPLOAD_TIMEOUT and its connection closed", async () => {
      const slow = [slowUpload(gw.port, ROLE_KEYS.dpo), slowUpload(gw.port, ROLE_KEYS.dpo)];
      held.push(...slow.map((s) => s.request));
      const third = await uploadUntil(gw.url, ROLE_KEYS.dpo, 429);
      expect(third.status).to.equal(429);
      expect(((await third.json()) as { error: { code: string } }).error.code).to.equal('TOO_MANY_UPLOADS');
      expect(third.headers.get('retry-after')).to.equal('1');
      // another user is served meanwhile
      const other = await upload(gw.url, ROLE_KEYS.admin);
      expect(other.status, await other.clone().text()).to.equal(200);
      // two more slow ones from other users fill the gateway's 4 slots
      const more = [slowUpload(gw.port, ROLE_KEYS.admin), slowUpload(gw.port, ROLE_KEYS['records-officer'])];
      held.push(...more.map((s) => s.request));
      const busy = await uploadUntil(gw.url, ROLE_KEYS['research-officer'], 503);
      expect(busy.status).to.equal(503);
      expect(((await busy.json()) as { error: { code: string; message: string } }).error).to.include({ code: 'UPLOADS_BUSY' });
      // JSON verifications do not wait for upload slots
      const verify = await fetch(`${gw.url}/v1/verifications`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ROLE_KEYS['research-officer']}`, 'content-type': 'application/json' },
        body: JSON.stringify({ docHash: 'a'.repeat(64) }),
      });
      expect(verify.status).to.equal(200);
      // the silent uploads are answered 408 with the envelope, and their connections closed
      for (const s of [...slow, ...more]) {
        const a = await s.answer;
        expect(a.status).to.equal(408);
        expect(JSON.parse(a.body).error.code).to.equal('UPLOAD_TIMEOUT');
        await a.closed;
      }
      // and their slots are free again
      const later = await upload(gw.url, ROLE_KEYS.dpo);
      expect(later.status, await later.clone().text()).to.equal(200);
    });
  });
});
