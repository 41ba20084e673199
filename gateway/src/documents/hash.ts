import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { ApiError } from '../errors';

/** What the gateway keeps of a document: its digest and size, never its bytes. */
export interface DocumentDigest {
  docHash: string;
  bytes: number;
}

/**
 * Hashes a stream with `node:crypto` SHA-256 chunk by chunk, so a document of any size is
 * never held in memory whole. Refuses more than `maxBytes` with DOCUMENT_TOO_LARGE.
 */
export async function hashStream(stream: Readable, maxBytes: number): Promise<DocumentDigest> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    const buf = chunk as Buffer;
    bytes += buf.length;
    if (bytes > maxBytes) {
      stream.destroy();
      throw tooLarge(maxBytes);
    }
    hash.update(buf);
  }
  return { docHash: hash.digest('hex'), bytes };
}

export function tooLarge(maxBytes: number): ApiError {
  return new ApiError(413, 'DOCUMENT_TOO_LARGE', `The document is larger than the ${formatBytes(maxBytes)} this gateway accepts.`, { maxBytes });
}

function formatBytes(n: number): string {
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(n % (1 << 20) === 0 ? 0 : 1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(0)} KiB`;
  return `${n} bytes`;
}
