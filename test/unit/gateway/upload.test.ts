import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiError } from '../../../gateway/src/errors';
import { hashMultipartUpload } from '../../../gateway/src/documents/upload';

const LIMITS = { maxBytes: 1 << 20, fieldName: 'document', maxFields: 4, maxFieldBytes: 256 };

/** A bare HTTP server around the upload hasher: what the route will do, minus Express. */
function startServer(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    hashMultipartUpload(req.headers, req, LIMITS).then(
      (out) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(out));
      },
      (err: ApiError) => {
        res.writeHead(err.status ?? 500, { 'content-type': 'application/json', connection: 'close' });
        res.end(JSON.stringify(err.toJSON ? err.toJSON() : { error: { code: 'INTERNAL', message: String(err) } }));
      },
    );
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ url: `http://127.0.0.1:${port}/`, close: () => new Promise((r) => { server.close(() => r()); server.closeAllConnections(); }) });
    });
  });
}

async function post(url: string, form: FormData): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { method: 'POST', body: form });
  return { status: res.status, body: await res.json() };
}

function rawPost(url: string, headers: Record<string, string>, body: string, end = true): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.write(body);
    if (end) req.end();
    else setTimeout(() => req.end(), 50);
  });
}

describe('gateway: streamed upload hashing', () => {
  let server: { url: string; close: () => Promise<void> };
  before(async () => (server = await startServer()));
  after(async () => server.close());

  it('hashes the document with SHA-256 and returns the plain fields beside it', async () => {
    const doc = randomBytes(300_000);
    const form = new FormData();
    form.append('recordId', 'r-1');
    form.append('document', new Blob([doc]), 'discharge.pdf');
    const { status, body } = await post(server.url, form);
    expect(status).to.equal(200);
    expect(body).to.deep.equal({ docHash: createHash('sha256').update(doc).digest('hex'), bytes: doc.length, fields: { recordId: 'r-1' } });
  });

  it('hashes an empty document', async () => {
    const form = new FormData();
    form.append('document', new Blob([]), 'empty.txt');
    const { body } = await post(server.url, form);
    expect(body.docHash).to.equal(createHash('sha256').digest('hex'));
  });

  const refusals: [string, () => FormData, number, string][] = [
    ['a document over the size limit', () => withFile(randomBytes(LIMITS.maxBytes + 1)), 413, 'DOCUMENT_TOO_LARGE'],
    ['no file', () => { const f = new FormData(); f.append('recordId', 'x'); return f; }, 400, 'DOCUMENT_MISSING'],
    ['two files', () => { const f = withFile(Buffer.from('a')); f.append('document', new Blob(['b']), 'b'); return f; }, 400, 'UNEXPECTED_FILE'],
    ['a file in another field', () => { const f = new FormData(); f.append('attachment', new Blob(['a']), 'a'); return f; }, 400, 'UNEXPECTED_FILE'],
    ['an oversized field', () => { const f = withFile(Buffer.from('a')); f.append('note', 'x'.repeat(300)); return f; }, 400, 'FIELD_TOO_LARGE'],
    ['a repeated field', () => { const f = withFile(Buffer.from('a')); f.append('recordId', '1'); f.append('recordId', '2'); return f; }, 400, 'DUPLICATE_FIELD'],
    ['too many fields', () => { const f = withFile(Buffer.from('a')); for (let i = 0; i < 6; i++) f.append(`f${i}`, 'x'); return f; }, 400, 'TOO_MANY_PARTS'],
  ];
  for (const [name, form, status, code] of refusals) {
    it(`refuses ${name} with ${status} ${code}`, async () => {
      const res = await post(server.url, form());
      expect(res.status).to.equal(status);
      expect(res.body.error.code).to.equal(code);
      expect(res.body.error.message).to.be.a('string').and.match(/\.$/);
    });
  }

  it('refuses a truncated multipart body', async () => {
    const body = '--XYZ\r\nContent-Disposition: form-data; name="document"; filename="a"\r\n\r\nhalf a docu';
    const res = await rawPost(server.url, { 'content-type': 'multipart/form-data; boundary=XYZ' }, body);
    expect(res.status).to.equal(400);
    expect(res.body.error.code).to.equal('MALFORMED_MULTIPART');
  });

  it('refuses a body that is not multipart', async () => {
    const res = await rawPost(server.url, { 'content-type': 'application/json' }, '{"docHash":"00"}');
    expect(res.status).to.equal(415);
    expect(res.body.error.code).to.equal('UNSUPPORTED_MEDIA_TYPE');
  });

  it('keeps serving after refusals', async () => {
    const { status } = await post(server.url, withFile(Buffer.from('still here')));
    expect(status).to.equal(200);
  });
});

function withFile(doc: Buffer): FormData {
  const form = new FormData();
  form.append('document', new Blob([doc]), 'doc.bin');
  return form;
}
