/**
 * Linkage tokens: t = HMAC-SHA256(K_H(p), OPRF(k_LI(p), linkageId)).
 *
 * K_H(p) is derived from the hospitals' shared linkage secret, which the linkage institution
 * and the sponsor never hold; k_LI(p) is the institution's OPRF key ({@link deriveProjectKey}),
 * which no hospital holds. Neither alone can compute a token of a guessed identifier: the
 * institution lacks K_H, a hospital needs the institution's online (counted, request-bound)
 * evaluation. Both keys are per project, so tokens of two projects do not match.
 *
 * @module
 */
import { createHash, createHmac, hkdfSync } from 'node:crypto';
import { ApiError } from '../errors';

/** A token as sent to the institution: 64 lowercase hex digits. */
export const TOKEN_PATTERN = /^[0-9a-f]{64}$/;

/** K_H(p) = HKDF-SHA256(hospital linkage secret, salt = none, info = "medprov-linkage:" + p), 32 bytes. */
export function hospitalProjectKey(hospitalSecret: Uint8Array, projectId: string): Buffer {
  if (hospitalSecret.length < 32) throw new Error(`The hospitals' linkage secret must be at least 32 bytes; got ${hospitalSecret.length}.`);
  return Buffer.from(hkdfSync('sha256', hospitalSecret, Buffer.alloc(0), Buffer.from(`medprov-linkage:${projectId}`, 'utf8'), 32));
}

/** The token of one finalised OPRF output under K_H(p). */
export function linkageToken(projectKey: Uint8Array, oprfOutput: Uint8Array): string {
  return createHmac('sha256', projectKey).update(oprfOutput).digest('hex');
}

/**
 * The OPRF input of a linkage identifier: Unicode NFC, surrounding white space and the hyphens
 * and spaces people write inside numbers removed ("900101-1234567" and "9001011234567" are one
 * person), UTF-8.
 *
 * @throws ApiError 400 LINKAGE_INVALID_IDENTIFIER for an empty identifier
 */
export function linkageInput(linkageId: string): Uint8Array {
  const canonical = linkageId.normalize('NFC').trim().replace(/[\s-]+/g, '');
  if (canonical === '') throw new ApiError(400, 'LINKAGE_INVALID_IDENTIFIER', 'Every cohort entry needs a linkage identifier (the identifier common to all hospitals).');
  return Buffer.from(canonical, 'utf8');
}

/** SHA-256 over a hospital's tokens, sorted, one per line: what the ledger records of them. */
export function tokenSetHash(tokens: readonly string[]): string {
  return createHash('sha256').update([...tokens].sort().join('\n'), 'utf8').digest('hex');
}

/** Checks a list of tokens: each 64 lowercase hex digits, no two alike. @throws ApiError 400 LINKAGE_INVALID_TOKEN */
export function checkTokens(tokens: readonly unknown[]): asserts tokens is string[] {
  const seen = new Set<string>();
  for (const t of tokens) {
    if (typeof t !== 'string' || !TOKEN_PATTERN.test(t)) throw new ApiError(400, 'LINKAGE_INVALID_TOKEN', 'Every token must be 64 lowercase hex digits (HMAC-SHA256).');
    if (seen.has(t)) throw new ApiError(400, 'LINKAGE_INVALID_TOKEN', 'A token appears twice in one contribution: one entry per patient.');
    seen.add(t);
  }
}
