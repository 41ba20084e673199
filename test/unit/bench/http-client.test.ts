import { expect } from 'chai';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { RawHttpClient } from '../../../scripts/bench/lib/http-client';

/**
 * The benchmarks' lean HTTP client (scripts/bench/lib/http-client.ts) against node's own server:
 * what it sends arrives as sent, and it reads every kind of answer the gateway gives.
 */
describe('bench: the lean HTTP client', () => {
  let server: http.Server;
  let base: string;
  const connections = new Set<unknown>();
  const seen: { method?: string; url?: string; headers: http.IncomingHttpHeaders; body: string }[] = [];

  before(async () => {
    server = http.createServer((req, res) => {
      connections.add(req.socket);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        seen.push({ method: req.method, url: req.url, headers: req.headers, body });
        switch (req.url) {
          case '/chunked':
            res.write('{"part":');
            res.end('"two"}');
            return;
          case '/empty':
            res.writeHead(204).end();
            return;
          case '/close':
            res.setHeader('connection', 'close');
            res.end('{"closing":true}');
            return;
          case '/location':
            res.writeHead(202, { location: '/v1/requests/abc', 'content-type': 'application/json' }).end('{}');
            return;
          default:
            res.setHeader('content-type', 'application/json');
            res.end(JSON.stringify({ echo: body, é: 'ü' }));
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('sends method, path, headers and body as given; reads a Content-Length answer (UTF-8)', async () => {
    const client = new RawHttpClient(base);
    try {
      const answer = await client.request('POST', '/x?y=1', { authorization: 'Bearer k', 'content-type': 'application/json', 'content-length': Buffer.byteLength('{"a":"ä"}') }, ['{"a":"ä"}']);
      expect(answer.status).to.equal(200);
      expect(JSON.parse(answer.body.toString('utf8'))).to.deep.equal({ echo: '{"a":"ä"}', é: 'ü' });
      const last = seen[seen.length - 1];
      expect(last).to.deep.include({ method: 'POST', url: '/x?y=1', body: '{"a":"ä"}' });
      expect(last.headers.authorization).to.equal('Bearer k');
    } finally {
      client.close();
    }
  });

  it('sends a body in parts (an upload) and reads chunked, empty and 202 answers', async () => {
    const client = new RawHttpClient(base);
    try {
      const doc = new Uint8Array(300_000).fill(7);
      const parts = ['--b\r\n', doc, '\r\n--b--\r\n'];
      const length = 5 + doc.length + 9;
      const upload = await client.request('POST', '/upload', { 'content-length': length }, parts);
      expect(upload.status).to.equal(200);
      expect(seen[seen.length - 1].body.length).to.equal(length);
      expect(JSON.parse((await client.request('GET', '/chunked', {})).body.toString())).to.deep.equal({ part: 'two' });
      const empty = await client.request('GET', '/empty', {});
      expect([empty.status, empty.body.length]).to.deep.equal([204, 0]);
      const accepted = await client.request('POST', '/location', { 'content-length': 0 });
      expect([accepted.status, accepted.headers.location]).to.deep.equal([202, '/v1/requests/abc']);
    } finally {
      client.close();
    }
  });

  it('keeps connections alive: 200 requests from 4 at a time over 4 connections', async () => {
    const client = new RawHttpClient(base);
    connections.clear();
    try {
      for (let round = 0; round < 50; round++) {
        const answers = await Promise.all([0, 1, 2, 3].map((i) => client.request('GET', `/r${i}`, {})));
        expect(answers.every((a) => a.status === 200)).to.equal(true);
      }
      expect(connections.size).to.equal(4);
    } finally {
      client.close();
    }
  });

  it('opens a new connection after Connection: close, and after the server closed an idle one', async () => {
    const client = new RawHttpClient(base);
    connections.clear();
    try {
      expect((await client.request('GET', '/close', {})).status).to.equal(200);
      expect((await client.request('GET', '/after-close', {})).status).to.equal(200);
      // The server closes the idle connection (as at its keep-alive timeout); the next request still goes through.
      for (const socket of connections) (socket as { destroy(): void }).destroy();
      await new Promise((r) => setTimeout(r, 50));
      expect((await client.request('GET', '/after-idle', {})).status).to.equal(200);
      expect(connections.size).to.equal(3);
    } finally {
      client.close();
    }
  });

  it('fails a request when nothing listens', async () => {
    const client = new RawHttpClient('http://127.0.0.1:1');
    try {
      await client.request('GET', '/', {}).then(
        () => expect.fail('should have failed'),
        (err: NodeJS.ErrnoException) => expect(err.code).to.equal('ECONNREFUSED'),
      );
    } finally {
      client.close();
    }
  });
});
