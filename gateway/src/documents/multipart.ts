import { ApiError } from '../errors';

/**
 * A streaming multipart/form-data reader built for one job: hash a single file part as it
 * arrives, at close to the speed of SHA-256 itself. It finds boundaries with `Buffer.indexOf`
 * (native code) instead of a byte-by-byte JavaScript search, which is what limited the
 * general-purpose parser we measured before (see `npm run bench:hash`).
 *
 * It understands what browsers, curl and fetch send: CRLF line ends, a Content-Disposition
 * header with `name` and optionally `filename`, any other part headers (ignored). Everything
 * else is refused with a coded {@link ApiError}.
 */
export interface PartHandler {
  /** A part begins. Throw an ApiError to refuse it; the reader stops there. */
  onPartStart(part: { name: string; isFile: boolean }): void;
  onPartData(data: Buffer): void;
  onPartEnd(): void;
}

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');
const MAX_HEADER_BYTES = 8 * 1024;
const BOUNDARY = /^[0-9A-Za-z'()+_,\-./:=? ]{1,70}$/;

type State = 'preamble' | 'afterDelimiter' | 'headers' | 'body' | 'done';

/** Reads the boundary out of a Content-Type header, or refuses the request as 415. */
export function boundaryOf(contentType: string | undefined): string {
  const match = /^\s*multipart\/form-data\s*;(.*)$/i.exec(contentType ?? '');
  const param = match && /(?:^|;)\s*boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))/i.exec(match[1]);
  const boundary = param ? (param[1] ?? param[2]) : undefined;
  if (!boundary || !BOUNDARY.test(boundary)) {
    throw new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the document as multipart/form-data with a boundary.');
  }
  return boundary;
}

export class MultipartReader {
  private readonly delimiter: Buffer;
  private state: State = 'preamble';
  private pending: Buffer = Buffer.alloc(0);
  private inPart = false;

  constructor(
    boundary: string,
    private readonly handler: PartHandler,
  ) {
    // Every delimiter but the very first is preceded by CRLF; write() pretends the body
    // starts with one so that a single search pattern serves throughout.
    this.delimiter = Buffer.from(`\r\n--${boundary}`);
    this.pending = Buffer.from(CRLF);
  }

  /** Feeds the next chunk of the body. Throws ApiError on malformed input. */
  write(chunk: Buffer): void {
    if (this.state === 'done') return; // epilogue: ignored, as RFC 2046 says
    let buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = Buffer.alloc(0);
    for (;;) {
      switch (this.state) {
        case 'preamble':
        case 'body': {
          const at = buf.indexOf(this.delimiter);
          if (at === -1) {
            // Keep a tail that could be the start of a delimiter split across chunks.
            const keep = Math.min(buf.length, this.delimiter.length - 1);
            if (this.state === 'body' && buf.length > keep) this.handler.onPartData(buf.subarray(0, buf.length - keep));
            this.pending = Buffer.from(buf.subarray(buf.length - keep));
            return;
          }
          if (this.state === 'body') {
            if (at > 0) this.handler.onPartData(buf.subarray(0, at));
            this.handler.onPartEnd();
            this.inPart = false;
          }
          buf = buf.subarray(at + this.delimiter.length);
          this.state = 'afterDelimiter';
          break;
        }
        case 'afterDelimiter': {
          if (buf.length < 2) {
            this.pending = Buffer.from(buf);
            return;
          }
          if (buf[0] === 0x2d && buf[1] === 0x2d) {
            this.state = 'done';
            return;
          }
          // Transport padding (spaces, tabs) may follow a delimiter before its CRLF.
          const eol = buf.indexOf(CRLF);
          if (eol === -1) {
            if (buf.length > 256) throw malformed('a boundary line is not followed by a line end');
            this.pending = Buffer.from(buf);
            return;
          }
          if (!/^[ \t]*$/.test(buf.subarray(0, eol).toString('latin1'))) throw malformed('a boundary is followed by unexpected characters');
          buf = buf.subarray(eol + 2);
          this.state = 'headers';
          break;
        }
        case 'headers': {
          const end = buf.indexOf(HEADER_END);
          const headerBlock = end === -1 ? undefined : buf.subarray(0, end);
          if (!headerBlock) {
            // A part with no headers at all ends them immediately with a blank line.
            if (buf.length >= 2 && buf[0] === 0x0d && buf[1] === 0x0a) throw malformed('a part has no Content-Disposition header');
            if (buf.length > MAX_HEADER_BYTES) throw malformed(`a part's headers are longer than ${MAX_HEADER_BYTES} bytes`);
            this.pending = Buffer.from(buf);
            return;
          }
          if (headerBlock.length > MAX_HEADER_BYTES) throw malformed(`a part's headers are longer than ${MAX_HEADER_BYTES} bytes`);
          this.handler.onPartStart(parsePartHeaders(headerBlock.toString('utf8')));
          this.inPart = true;
          // The part's body starts after the blank line; its end is CRLF + delimiter.
          buf = buf.subarray(end + 4);
          this.state = 'body';
          break;
        }
        default:
          return;
      }
    }
  }

  /** The body ended; throws if it ended before the closing delimiter. */
  end(): void {
    if (this.state !== 'done') {
      throw malformed(this.inPart || this.state !== 'preamble' ? 'the body ends before its closing boundary' : 'no boundary was found in the body');
    }
  }
}

function parsePartHeaders(block: string): { name: string; isFile: boolean } {
  for (const line of block.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw malformed('a part header line has no name');
    if (line.slice(0, colon).trim().toLowerCase() !== 'content-disposition') continue;
    const value = line.slice(colon + 1);
    if (!/^\s*form-data\s*(;|$)/i.test(value)) throw malformed('a part is not form-data');
    const name = paramOf(value, 'name');
    if (name === undefined) throw malformed('a part has no name');
    return { name, isFile: paramOf(value, 'filename') !== undefined || /;\s*filename\*\s*=/i.test(value) };
  }
  throw malformed('a part has no Content-Disposition header');
}

function paramOf(value: string, key: string): string | undefined {
  const match = new RegExp(`;\\s*${key}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]*))`, 'i').exec(value);
  if (!match) return undefined;
  return match[1] !== undefined ? match[1].replace(/\\(.)/g, '$1') : match[2];
}

function malformed(reason: string): ApiError {
  return new ApiError(400, 'MALFORMED_MULTIPART', `The upload is not valid multipart/form-data: ${reason}.`);
}
