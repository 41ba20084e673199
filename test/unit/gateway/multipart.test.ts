import { expect } from 'chai';
import busboy from 'busboy';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { hashMultipartUpload, type HashedUpload } from '../../../gateway/src/documents/upload';
import { boundaryOf, MultipartReader } from '../../../gateway/src/documents/multipart';
import { ApiError } from '../../../gateway/src/errors';

const LIMITS = { maxBytes: 1 << 22, fieldName: 'document', maxFields: 8, maxFieldBytes: 4096 };

/** A deterministic pseudo-random source, so a failing case can be replayed from its seed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** Document bytes made to look like boundaries: the hard cases for a boundary search. */
function trickyBytes(rand: () => number, boundary: string, n: number): Buffer {
  const pieces = ['\r\n', '--', `--${boundary}`, `\r\n--${boundary.slice(0, -1)}`, `\r\n-${boundary}`, '\r', '\n', '-'];
  const out: Buffer[] = [];
  let len = 0;
  while (len < n) {
    const b = rand() < 0.3 ? Buffer.from(pieces[Math.floor(rand() * pieces.length)]) : randomBytes(1 + Math.floor(rand() * 64));
    out.push(b);
    len += b.length;
  }
  // RFC 2046: the delimiter never occurs inside a part, so break any whole one we made.
  const data = Buffer.from(Buffer.concat(out).subarray(0, n));
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  for (let at = data.indexOf(delimiter); at !== -1; at = data.indexOf(delimiter, at)) data[at + 2] = 0x2b;
  // Nor at the very start of a part, where the header block's last CRLF would complete one.
  if (data.subarray(0, delimiter.length - 2).equals(delimiter.subarray(2))) data[0] = 0x2b;
  return data;
}

function multipartBody(boundary: string, parts: { name: string; filename?: string; data: Buffer }[], preamble = ''): Buffer {
  const chunks: Buffer[] = [Buffer.from(preamble)];
  for (const p of parts) {
    const disposition = `form-data; name="${p.name}"${p.filename !== undefined ? `; filename="${p.filename}"` : ''}`;
    // Browsers send plain fields without a Content-Type and files with one.
    const type = p.filename !== undefined ? 'Content-Type: application/octet-stream\r\n' : '';
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n${type}\r\n`), p.data, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

function split(rand: () => number, body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < body.length; ) {
    const size = rand() < 0.3 ? 1 + Math.floor(rand() * 3) : 1 + Math.floor(rand() * 5000);
    out.push(body.subarray(off, off + size));
    off += size;
  }
  return out;
}

/** busboy, the general-purpose parser, as the reference the fast reader must agree with. */
function busboyReference(boundary: string, body: Buffer): Promise<HashedUpload> {
  return new Promise((resolve, reject) => {
    const bb = busboy({ headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } });
    const fields: Record<string, string> = {};
    let digest: { docHash: string; bytes: number } | undefined;
    bb.on('file', (_name, file) => {
      const h = createHash('sha256');
      let bytes = 0;
      file.on('data', (c: Buffer) => {
        bytes += c.length;
        h.update(c);
      });
      file.on('end', () => (digest = { docHash: h.digest('hex'), bytes }));
    });
    bb.on('field', (name, value) => (fields[name] = value));
    bb.on('close', () => (digest ? resolve({ ...digest, fields }) : reject(new Error('no file'))));
    bb.on('error', reject);
    bb.end(body);
  });
}

describe('gateway: multipart reader', () => {
  it('agrees with busboy on 300 random bodies split into random chunks (boundary look-alikes in the data)', async () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rand = rng(seed);
      const boundary = `----medprov${Math.floor(rand() * 1e9)}`;
      const parts: { name: string; filename?: string; data: Buffer }[] = [];
      const fieldCount = Math.floor(rand() * 3);
      for (let i = 0; i < fieldCount; i++) parts.push({ name: `f${i}`, data: Buffer.from(`value ${i} ${'é'.repeat(Math.floor(rand() * 5))}`) });
      parts.splice(Math.floor(rand() * (parts.length + 1)), 0, { name: 'document', filename: 'doc.bin', data: trickyBytes(rand, boundary, Math.floor(rand() * 20_000)) });
      const body = multipartBody(boundary, parts, rand() < 0.2 ? 'preamble to ignore\r\n' : '');
      const expected = await busboyReference(boundary, body).catch((e: Error) => { throw new Error(`seed ${seed}: busboy: ${e.message}; boundary ${boundary}; fields ${fieldCount}`); });
      const actual = await hashMultipartUpload({ 'content-type': `multipart/form-data; boundary=${boundary}` }, Readable.from(split(rand, body)), LIMITS);
      expect(actual, `seed ${seed}`).to.deep.equal(expected);
    }
  });

  it('reads a quoted boundary and ignores an epilogue', async () => {
    const body = Buffer.concat([multipartBody('a b', [{ name: 'document', filename: 'x', data: Buffer.from('hello') }]), Buffer.from('epilogue')]);
    const out = await hashMultipartUpload({ 'content-type': 'multipart/form-data; boundary="a b"' }, Readable.from([body]), LIMITS);
    expect(out.docHash).to.equal(createHash('sha256').update('hello').digest('hex'));
  });

  const malformed: [string, string][] = [
    ['a body with no boundary at all', 'just some bytes'],
    ['a body cut inside the document', '--B\r\nContent-Disposition: form-data; name="document"; filename="a"\r\n\r\nhalf'],
    ['a body cut inside the headers', '--B\r\nContent-Disposition: form-da'],
    ['a part without Content-Disposition', '--B\r\nContent-Type: text/plain\r\n\r\nx\r\n--B--'],
    ['a part that is not form-data', '--B\r\nContent-Disposition: attachment; name="document"\r\n\r\nx\r\n--B--'],
    ['a part without a name', '--B\r\nContent-Disposition: form-data; filename="a"\r\n\r\nx\r\n--B--'],
    ['garbage after a boundary', '--B garbage\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--B--'],
    ['a header line without a colon', '--B\r\nContent-Disposition form-data\r\n\r\nx\r\n--B--'],
    ['headers over 8 KiB', `--B\r\nContent-Disposition: form-data; name="a"\r\nX-Pad: ${'p'.repeat(9000)}\r\n\r\nx\r\n--B--`],
  ];
  for (const [name, text] of malformed) {
    it(`refuses ${name} as MALFORMED_MULTIPART`, async () => {
      const err = await hashMultipartUpload({ 'content-type': 'multipart/form-data; boundary=B' }, Readable.from([Buffer.from(text)]), LIMITS).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(ApiError);
      expect((err as ApiError).code).to.equal('MALFORMED_MULTIPART');
      expect((err as ApiError).status).to.equal(400);
    });
  }

  it('refuses content types that are not multipart/form-data with a usable boundary', () => {
    for (const ct of [undefined, 'application/json', 'multipart/form-data', 'multipart/mixed; boundary=B', `multipart/form-data; boundary=${'x'.repeat(71)}`]) {
      expect(() => boundaryOf(ct), String(ct)).to.throw(ApiError).with.property('code', 'UNSUPPORTED_MEDIA_TYPE');
    }
  });

  it('hands the document to the handler in order, never more than once', () => {
    const data = trickyBytes(rng(7), 'B', 50_000);
    const seen: Buffer[] = [];
    const reader = new MultipartReader('B', {
      onPartStart: () => undefined,
      onPartData: (d) => seen.push(Buffer.from(d)),
      onPartEnd: () => undefined,
    });
    for (const chunk of split(rng(8), multipartBody('B', [{ name: 'document', filename: 'a', data }]))) reader.write(chunk);
    reader.end();
    expect(Buffer.concat(seen).equals(data)).to.equal(true);
  });
});
