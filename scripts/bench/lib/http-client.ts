/**
 * A lean HTTP/1.1 keep-alive client for the load generator (./load.ts): one plain TCP connection
 * per request in flight, each request written as one buffer, each answer read by its
 * Content-Length. node:http's Agent and ClientRequest cost about as much CPU per request as the
 * gateway's verification itself, and on a two-core machine the client's CPU is taken from the
 * server being measured.
 *
 * Enough HTTP for the gateway's answers and no more: a status line, headers, and a body of
 * Content-Length bytes (or none for 204/304); `Transfer-Encoding: chunked` is decoded too. An
 * answer with `Connection: close` closes its connection; a request that meets a connection the
 * server had already closed while it was idle is sent again once on a new one.
 *
 * @module
 */
import * as net from 'node:net';

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

/** One connection: at most one request at a time. */
class Connection {
  readonly socket: net.Socket;
  private buffered: Buffer = Buffer.alloc(0);
  private pending: { resolve(answer: RawAnswer): void; reject(err: Error): void; received: boolean } | undefined;
  closed = false;
  /** Answers already read on this connection: a failure on a reused one may be a close while it was idle. */
  served = 0;

  constructor(host: string, port: number, onClose: (c: Connection) => void) {
    this.socket = net.connect({ host, port, noDelay: true });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    const fail = (err: Error) => {
      this.closed = true;
      const pending = this.pending;
      this.pending = undefined;
      if (pending) pending.reject(Object.assign(err, { idleClose: !pending.received && this.served > 0 }));
      onClose(this);
    };
    this.socket.on('error', fail);
    this.socket.on('close', () => fail(Object.assign(new Error('the server closed the connection'), { code: 'ECONNRESET' })));
  }

  send(request: (string | Uint8Array)[]): Promise<RawAnswer> {
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject, received: false };
      if (request.length === 1) this.socket.write(request[0]);
      else {
        this.socket.cork();
        for (const part of request) this.socket.write(part);
        this.socket.uncork();
      }
    });
  }

  private onData(chunk: Buffer): void {
    if (this.pending) this.pending.received = true;
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    let answer: RawAnswer | undefined;
    try {
      answer = this.parse();
    } catch (err) {
      this.socket.destroy(err as Error);
      return;
    }
    if (!answer) return;
    this.served += 1;
    const pending = this.pending;
    this.pending = undefined;
    if (answer.headers.connection?.toLowerCase() === 'close') {
      this.closed = true;
      this.socket.destroy();
    }
    pending?.resolve(answer);
  }

  /** A complete answer taken off the buffer, or undefined while it is not all here. */
  private parse(): RawAnswer | undefined {
    const end = this.buffered.indexOf(CRLFCRLF);
    if (end < 0) return undefined;
    const lines = this.buffered.toString('latin1', 0, end).split('\r\n');
    const status = Number(lines[0].slice(9, 12));
    const headers: Record<string, string> = {};
    for (let i = 1; i < lines.length; i++) {
      const colon = lines[i].indexOf(':');
      if (colon > 0) headers[lines[i].slice(0, colon).toLowerCase()] = lines[i].slice(colon + 1).trim();
    }
    const start = end + 4;
    if (headers['transfer-encoding']?.toLowerCase() === 'chunked') return this.parseChunked(status, headers, start);
    const length = status === 204 || status === 304 ? 0 : Number(headers['content-length'] ?? NaN);
    if (!Number.isSafeInteger(length)) throw new Error(`an answer without Content-Length (status ${status})`);
    if (this.buffered.length < start + length) return undefined;
    const body = this.buffered.subarray(start, start + length);
    this.buffered = this.buffered.subarray(start + length);
    return { status, headers, body };
  }

  private parseChunked(status: number, headers: Record<string, string>, start: number): RawAnswer | undefined {
    const parts: Buffer[] = [];
    let at = start;
    for (;;) {
      const lineEnd = this.buffered.indexOf('\r\n', at);
      if (lineEnd < 0) return undefined;
      const size = parseInt(this.buffered.toString('latin1', at, lineEnd), 16);
      if (size === 0) {
        // No trailers from the gateway: the last chunk is followed by an empty line.
        if (this.buffered.length < lineEnd + 4) return undefined;
        this.buffered = this.buffered.subarray(lineEnd + 4);
        return { status, headers, body: Buffer.concat(parts) };
      }
      if (this.buffered.length < lineEnd + 2 + size + 2) return undefined;
      parts.push(this.buffered.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
  }
}

/** A keep-alive client of one `http:` origin; `close` ends every connection. */
export class RawHttpClient {
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();
  private readonly host: string;
  private readonly port: number;
  private readonly hostHeader: string;

  constructor(baseUrl: string) {
    const url = new URL(baseUrl);
    if (url.protocol !== 'http:') throw new Error(`RawHttpClient speaks http: only, not ${url.protocol}`);
    this.host = url.hostname;
    this.port = Number(url.port || 80);
    this.hostHeader = url.host;
  }

  /** Sends one request; `body` parts are written as they are (strings as UTF-8). */
  async request(method: string, path: string, headers: Record<string, string | number>, body: (string | Uint8Array)[] = []): Promise<RawAnswer> {
    let head = `${method} ${path} HTTP/1.1\r\nhost: ${this.hostHeader}\r\n`;
    for (const name in headers) head += `${name}: ${headers[name]}\r\n`;
    head += '\r\n';
    // A small body goes out with its head in one write.
    const parts = body.length === 1 && typeof body[0] === 'string' ? [head + body[0]] : [head, ...body];
    for (let attempt = 0; ; attempt++) {
      const connection = this.take();
      try {
        const answer = await connection.send(parts);
        if (!connection.closed) this.idle.push(connection);
        return answer;
      } catch (err) {
        // An idle connection the server had closed: once more on a new one.
        if (attempt > 0 || (err as { idleClose?: boolean }).idleClose !== true) throw err;
      }
    }
  }

  close(): void {
    for (const c of this.all) c.socket.destroy();
    this.all.clear();
    this.idle.length = 0;
  }

  private take(): Connection {
    for (;;) {
      const c = this.idle.pop();
      if (!c) break;
      if (!c.closed) return c;
    }
    const c = new Connection(this.host, this.port, (gone) => {
      this.all.delete(gone);
      const i = this.idle.indexOf(gone);
      if (i >= 0) this.idle.splice(i, 1);
    });
    this.all.add(c);
    return c;
  }
}
