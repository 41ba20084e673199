/**
 * Requests Node's HTTP parser refuses before the gateway sees them (a head over its 16 KB limit,
 * bytes that are not HTTP, a head or body too slow for the server's deadlines): answered with the
 * gateway's error envelope, and the connection closed gracefully.
 *
 * Node's own answer writes a bare status line and destroys the socket at once: a client still
 * sending (a 100 KB URL) then gets a TCP reset instead of the answer. Here the socket is ended
 * (FIN after the answer) and what the client still sends is read and dropped, so it reads the
 * answer; a socket still open a few seconds later is destroyed.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';

const ANSWERS: Record<string, [number, string, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'HEADERS_TOO_LARGE', 'The request line and headers are larger than the 16 KB this gateway reads; send a shorter URL or fewer headers.'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'REQUEST_TIMEOUT', 'The request did not arrive in time; send it again.'],
  ERR_HTTP_HEADERS_TIMEOUT: [408, 'REQUEST_TIMEOUT', 'The request did not arrive in time; send it again.'],
};
const NOT_HTTP: [number, string, string] = [400, 'MALFORMED_REQUEST', 'The request is not valid HTTP/1.1.'];

/** Installs the handler on `server` (see the module comment). */
export function answerClientErrors(server: Server, lingerMs = 5_000): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex & { bytesWritten?: number }) => {
    // Nothing to answer on a connection that is gone, or that already carried part of an answer.
    if (err.code === 'ECONNRESET' || !socket.writable || (socket.bytesWritten ?? 0) > 0) {
      socket.destroy();
      return;
    }
    const [status, code, message] = ANSWERS[err.code ?? ''] ?? NOT_HTTP;
    const body = JSON.stringify({ error: { code, message, requestId: randomUUID() } });
    socket.on('error', () => socket.destroy());
    socket.resume();
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
    setTimeout(() => socket.destroy(), lingerMs).unref();
  });
}
