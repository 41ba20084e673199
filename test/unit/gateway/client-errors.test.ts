import { expect } from 'chai';
import * as http from 'node:http';
import { connect } from 'node:net';
import { answerClientErrors } from '../../../gateway/src/http/client-errors';

/** Sends raw bytes and reads everything the server answers until it closes. */
function raw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let out = '';
    socket.on('data', (d: Buffer) => (out += d.toString('utf8')));
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
    socket.write(bytes);
  });
}

function get(port: number, path: string): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path, agent: false });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    req.end();
  });
}

describe("gateway: what Node's HTTP parser refuses gets the error envelope (issue 15)", () => {
  let server: http.Server;
  let port: number;
  before(async () => {
    server = http.createServer((_req, res) => res.end('ok'));
    answerClientErrors(server, 1_000);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('a head over 16 KB: 431 HEADERS_TOO_LARGE with a sentence, and the client reads it (no reset), every time', async () => {
    const answers = await Promise.all(Array.from({ length: 40 }, () => get(port, `/v1/x?purpose=${'x'.repeat(100_000)}`)));
    const wrong = answers.filter((a) => 'error' in a || a.status !== 431);
    expect(wrong, 'answers other than 431').to.deep.equal([]);
    const body = JSON.parse((answers[0] as { body: string }).body) as { error: { code: string; message: string; requestId: string } };
    expect(body.error.code).to.equal('HEADERS_TOO_LARGE');
    expect(body.error.message).to.match(/^\S.*\s.*\.$/);
    expect(body.error.requestId).to.be.a('string');
  });

  it('bytes that are not HTTP: 400 MALFORMED_REQUEST', async () => {
    const out = await raw(port, 'HELLO THERE\r\n\r\n');
    expect(out).to.match(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(JSON.parse(out.slice(out.indexOf('\r\n\r\n') + 4)).error.code).to.equal('MALFORMED_REQUEST');
  });

  it('still serves a normal request', async () => {
    expect(await get(port, '/')).to.deep.equal({ status: 200, body: 'ok' });
  });
});
