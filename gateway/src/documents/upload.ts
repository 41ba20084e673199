import busboy from 'busboy';
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { ApiError } from '../errors';
import { tooLarge, type DocumentDigest } from './hash';

export interface UploadLimits {
  /** Largest document accepted, in bytes. */
  maxBytes: number;
  /** The multipart field that carries the document. */
  fieldName: string;
  /** Largest number of plain (non-file) fields, and their largest size. */
  maxFields: number;
  maxFieldBytes: number;
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
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers,
        limits: { files: 1, fileSize: limits.maxBytes, fields: limits.maxFields, fieldSize: limits.maxFieldBytes, parts: limits.maxFields + 1 },
      });
    } catch {
      reject(new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the document as multipart/form-data with a boundary.'));
      return;
    }

    const fields: Record<string, string> = {};
    let digest: DocumentDigest | undefined;
    let failure: ApiError | undefined;
    let fileSeen = false;
    const fail = (err: ApiError): void => {
      failure ??= err;
      body.unpipe(parser);
      body.resume(); // drain the rest so the client sees the answer instead of a reset
      reject(failure);
    };

    parser.on('file', (name, file) => {
      if (name !== limits.fieldName || fileSeen) {
        file.resume();
        fail(new ApiError(400, 'UNEXPECTED_FILE', `Send exactly one file, in the field "${limits.fieldName}".`));
        return;
      }
      fileSeen = true;
      const hash = createHash('sha256');
      let bytes = 0;
      file.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        hash.update(chunk);
      });
      file.on('limit', () => fail(tooLarge(limits.maxBytes)));
      // A truncated body ends the file stream with an error too; the parser reports it.
      file.on('error', () => undefined);
      file.on('end', () => {
        if (!failure) digest = { docHash: hash.digest('hex'), bytes };
      });
    });
    parser.on('field', (name, value, info) => {
      if (info.valueTruncated) {
        fail(new ApiError(400, 'FIELD_TOO_LARGE', `The form field "${name.slice(0, 64)}" is longer than ${limits.maxFieldBytes} bytes.`));
        return;
      }
      if (Object.prototype.hasOwnProperty.call(fields, name)) {
        fail(new ApiError(400, 'DUPLICATE_FIELD', `The form field "${name.slice(0, 64)}" is sent twice.`));
        return;
      }
      fields[name] = value;
    });
    parser.on('filesLimit', () => fail(new ApiError(400, 'UNEXPECTED_FILE', `Send exactly one file, in the field "${limits.fieldName}".`)));
    for (const event of ['partsLimit', 'fieldsLimit'] as const) {
      parser.on(event, () => fail(new ApiError(400, 'TOO_MANY_PARTS', `Send one file and at most ${limits.maxFields} fields.`)));
    }
    parser.on('error', (err: Error) => {
      fail(new ApiError(400, 'MALFORMED_MULTIPART', `The upload is not valid multipart/form-data (${err.message}).`));
    });
    parser.on('close', () => {
      if (failure) return;
      if (!digest) {
        reject(new ApiError(400, 'DOCUMENT_MISSING', `The upload has no file in the field "${limits.fieldName}".`));
        return;
      }
      resolve({ ...digest, fields });
    });
    body.on('error', () => fail(new ApiError(400, 'UPLOAD_INTERRUPTED', 'The upload stopped before it was complete.')));
    body.pipe(parser);
  });
}
