import { createHash, type Hash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { ApiError } from '../errors';
import { tooLarge, type DocumentDigest } from './hash';
import { boundaryOf, MultipartReader, type PartHandler } from './multipart';

export interface UploadLimits {
  /** Largest document accepted, in bytes. */
  maxBytes: number;
  /** The multipart field that carries the document. */
  fieldName: string;
  /** Largest number of plain (non-file) fields, and their largest size. */
  maxFields: number;
  maxFieldBytes: number;
  /** Longest silence inside the body before the upload is refused (408 UPLOAD_TIMEOUT); none when absent. */
  idleTimeoutMs?: number;
}

export interface HashedUpload extends DocumentDigest {
  /** Plain form fields sent beside the document (e.g. recordId, category). */
  fields: Record<string, string>;
}

/**
 * Hashes the single document of a multipart/form-data request as it streams in. The bytes go
 * into SHA-256 and nowhere else: nothing is buffered whole or written to disk.
 */
export function hashMultipartUpload(headers: IncomingHttpHeaders, body: Readable, limits: UploadLimits): Promise<HashedUpload> {
  return new Promise<HashedUpload>((resolve, reject) => {
    let reader: MultipartReader;
    const collector = new UploadCollector(limits);
    try {
      reader = new MultipartReader(boundaryOf(headers['content-type']), collector);
    } catch (err) {
      body.resume();
      reject(err);
      return;
    }
    let settled = false;
    // A client that goes silent in the middle of its body holds a connection and an upload slot: not for long.
    let idle: NodeJS.Timeout | undefined;
    const armIdle = (): void => {
      if (limits.idleTimeoutMs === undefined || settled) return;
      clearTimeout(idle);
      idle = setTimeout(() => fail(new ApiError(408, 'UPLOAD_TIMEOUT', `The upload stopped arriving (nothing for ${Math.round(limits.idleTimeoutMs! / 1000)} s); send it again.`)), limits.idleTimeoutMs);
      idle.unref();
    };
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(idle);
      body.off('data', onData);
      // Drain what the client is still sending so it reads our answer rather than a reset.
      body.resume();
      reject(err instanceof ApiError ? err : new ApiError(400, 'MALFORMED_MULTIPART', 'The upload is not valid multipart/form-data.'));
    };
    const onData = (chunk: Buffer): void => {
      armIdle();
      try {
        reader.write(chunk);
      } catch (err) {
        fail(err);
      }
    };
    body.on('data', onData);
    body.on('end', () => {
      if (settled) return;
      try {
        reader.end();
        const result = collector.result();
        settled = true;
        clearTimeout(idle);
        resolve(result);
      } catch (err) {
        fail(err);
      }
    });
    body.on('error', () => fail(new ApiError(400, 'UPLOAD_INTERRUPTED', 'The upload stopped before it was complete.')));
    body.on('aborted', () => fail(new ApiError(400, 'UPLOAD_INTERRUPTED', 'The upload stopped before it was complete.')));
    // The connection went (the client left, or the server's request deadline cut it) before the end.
    body.on('close', () => fail(new ApiError(400, 'UPLOAD_INTERRUPTED', 'The upload stopped before it was complete.')));
    armIdle();
  });
}

/** Applies the limits part by part and keeps the digest and the plain fields. */
class UploadCollector implements PartHandler {
  private readonly fields: Record<string, string> = {};
  private fieldCount = 0;
  private current: { kind: 'file'; hash: Hash; bytes: number } | { kind: 'field'; name: string; chunks: Buffer[]; bytes: number } | undefined;
  private digest: DocumentDigest | undefined;
  private fileSeen = false;

  constructor(private readonly limits: UploadLimits) {}

  onPartStart(part: { name: string; isFile: boolean }): void {
    if (part.isFile) {
      if (part.name !== this.limits.fieldName || this.fileSeen) {
        throw new ApiError(400, 'UNEXPECTED_FILE', `Send exactly one file, in the field "${this.limits.fieldName}".`);
      }
      this.fileSeen = true;
      this.current = { kind: 'file', hash: createHash('sha256'), bytes: 0 };
      return;
    }
    this.fieldCount += 1;
    if (this.fieldCount > this.limits.maxFields) {
      throw new ApiError(400, 'TOO_MANY_PARTS', `Send one file and at most ${this.limits.maxFields} fields.`);
    }
    if (Object.prototype.hasOwnProperty.call(this.fields, part.name)) {
      throw new ApiError(400, 'DUPLICATE_FIELD', `The form field "${part.name.slice(0, 64)}" is sent twice.`);
    }
    this.current = { kind: 'field', name: part.name, chunks: [], bytes: 0 };
  }

  onPartData(data: Buffer): void {
    const part = this.current;
    if (!part) return;
    part.bytes += data.length;
    if (part.kind === 'file') {
      if (part.bytes > this.limits.maxBytes) throw tooLarge(this.limits.maxBytes);
      part.hash.update(data);
      return;
    }
    if (part.bytes > this.limits.maxFieldBytes) {
      throw new ApiError(400, 'FIELD_TOO_LARGE', `The form field "${part.name.slice(0, 64)}" is longer than ${this.limits.maxFieldBytes} bytes.`);
    }
    part.chunks.push(Buffer.from(data));
  }

  onPartEnd(): void {
    const part = this.current;
    this.current = undefined;
    if (!part) return;
    if (part.kind === 'file') this.digest = { docHash: part.hash.digest('hex'), bytes: part.bytes };
    else this.fields[part.name] = Buffer.concat(part.chunks).toString('utf8');
  }

  result(): HashedUpload {
    if (!this.digest) throw new ApiError(400, 'DOCUMENT_MISSING', `The upload has no file in the field "${this.limits.fieldName}".`);
    return { ...this.digest, fields: this.fields };
  }
}
