/**
 * bench:hash — how fast the gateway hashes an uploaded document, beside raw node:crypto
 * SHA-256 over the same bytes, in the same run. Prints figures; asserts nothing.
 *
 * The upload goes through a real HTTP server on 127.0.0.1 and the multipart parser the
 * gateway uses; curl sends it from its own process, so client and server do not share a
 * thread. Sizes: MEDPROV_BENCH_MIB (default 256) for the large document, plus 1 MiB documents.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import busboy from 'busboy';
import { Readable } from 'node:stream';
import { hashMultipartUpload } from '../../gateway/src/documents/upload';

const run = promisify(execFile);
const LARGE_MIB = Number(process.env.MEDPROV_BENCH_MIB ?? 256);
const SMALL_COUNT = 200;
const REPEAT = 3;

function rawHashMBps(data: Buffer, chunk = 64 * 1024): number {
  const start = process.hrtime.bigint();
  const hash = createHash('sha256');
  for (let off = 0; off < data.length; off += chunk) hash.update(data.subarray(off, off + chunk));
  hash.digest();
  return data.length / 1e6 / (Number(process.hrtime.bigint() - start) / 1e9);
}

const BOUNDARY = '------------------------medprovbench0123';

/** The same document as one multipart body, in 64 KiB chunks as a socket delivers it. */
function multipartChunks(data: Buffer): Buffer[] {
  const chunks: Buffer[] = [Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="document"; filename="d"\r\n\r\n`)];
  for (let off = 0; off < data.length; off += 65536) chunks.push(data.subarray(off, off + 65536));
  chunks.push(Buffer.from(`\r\n--${BOUNDARY}--\r\n`));
  return chunks;
}

/** Parse + hash with no HTTP in between: the gateway's own cost per byte. */
async function inMemoryMBps(data: Buffer, parser: 'medprov' | 'busboy'): Promise<number> {
  const headers = { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` };
  const start = process.hrtime.bigint();
  if (parser === 'medprov') {
    await hashMultipartUpload(headers, Readable.from(multipartChunks(data)), { maxBytes: 2 ** 40, fieldName: 'document', maxFields: 4, maxFieldBytes: 1024 });
  } else {
    await new Promise<void>((resolve, reject) => {
      const bb = busboy({ headers });
      bb.on('file', (_name, file) => {
        const hash = createHash('sha256');
        file.on('data', (c: Buffer) => hash.update(c));
        file.on('end', () => hash.digest());
      });
      bb.on('close', resolve);
      bb.on('error', reject);
      Readable.from(multipartChunks(data)).pipe(bb);
    });
  }
  return data.length / 1e6 / (Number(process.hrtime.bigint() - start) / 1e9);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'medprov-bench-hash-'));
  const server = http.createServer((req, res) => {
    hashMultipartUpload(req.headers, req, { maxBytes: 2 ** 40, fieldName: 'document', maxFields: 4, maxFieldBytes: 1024 }).then(
      (out) => res.end(JSON.stringify(out)),
      (err: Error) => {
        res.statusCode = 400;
        res.end(String(err));
      },
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;

  try {
    const large = randomBytes(LARGE_MIB * 2 ** 20);
    const largeFile = path.join(dir, 'large.bin');
    writeFileSync(largeFile, large);
    const small = randomBytes(2 ** 20);
    const smallFile = path.join(dir, 'small.bin');
    writeFileSync(smallFile, small);
    const expected = createHash('sha256').update(large).digest('hex');

    // One curl process sends the same document `times` times over a kept-alive connection.
    const upload = async (file: string, times = 1): Promise<{ docHash: string }[]> => {
      const urls = Array.from({ length: times }, (_, i) => `${url}?n=${i}`);
      const { stdout } = await run('curl', ['-sS', '--fail', '-w', '\\n', '-F', `document=@${file}`, ...urls], { maxBuffer: 1 << 24 });
      return stdout.trim().split('\n').map((line) => JSON.parse(line) as { docHash: string });
    };

    const rawLarge: number[] = [];
    const upLarge: number[] = [];
    for (let i = 0; i < REPEAT; i++) {
      rawLarge.push(rawHashMBps(large));
      const t0 = process.hrtime.bigint();
      const [out] = await upload(largeFile);
      upLarge.push(large.length / 1e6 / (Number(process.hrtime.bigint() - t0) / 1e9));
      if (out.docHash !== expected) throw new Error('upload hash differs from node:crypto hash');
      process.stderr.write(`  large ${i + 1}/${REPEAT}\r`);
    }

    const rawSmall = rawHashMBps(Buffer.concat(Array.from({ length: 16 }, () => small)));
    const t0 = process.hrtime.bigint();
    const smallOut = await upload(smallFile, SMALL_COUNT);
    if (smallOut.length !== SMALL_COUNT) throw new Error(`expected ${SMALL_COUNT} answers, got ${smallOut.length}`);
    const smallSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const upSmall = (SMALL_COUNT * small.length) / 1e6 / smallSeconds;

    const readerMem: number[] = [];
    const busboyMem: number[] = [];
    const rawMem: number[] = [];
    for (let i = 0; i < REPEAT; i++) {
      rawMem.push(rawHashMBps(large));
      readerMem.push(await inMemoryMBps(large, 'medprov'));
      busboyMem.push(await inMemoryMBps(large, 'busboy'));
    }

    const rows: [string, string, string, string][] = [
      ['case', 'raw node:crypto MB/s', 'upload MB/s', 'upload / raw'],
      [`${LARGE_MIB} MiB, parser + hash in memory (no HTTP)`, median(rawMem).toFixed(0), median(readerMem).toFixed(0), (median(readerMem) / median(rawMem)).toFixed(2)],
      [`  baseline: busboy + hash in memory`, median(rawMem).toFixed(0), median(busboyMem).toFixed(0), (median(busboyMem) / median(rawMem)).toFixed(2)],
      [`${LARGE_MIB} MiB upload over HTTP from curl (median of ${REPEAT})`, median(rawLarge).toFixed(0), median(upLarge).toFixed(0), (median(upLarge) / median(rawLarge)).toFixed(2)],
      [`1 MiB uploads x ${SMALL_COUNT} over HTTP (one connection)`, rawSmall.toFixed(0), upSmall.toFixed(0), (upSmall / rawSmall).toFixed(2)],
    ];
    const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
    console.log(`\nbench:hash — SHA-256 of uploads through the gateway's multipart hasher vs raw node:crypto (${process.version})`);
    for (const r of rows) console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
    console.log(`1 MiB uploads: ${(SMALL_COUNT / smallSeconds).toFixed(0)} uploads/s over one kept-alive connection`);
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
