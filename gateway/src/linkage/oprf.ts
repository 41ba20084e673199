/**
 * The oblivious PRF behind linkage tokens: RFC 9497 in its base mode (OPRF, mode 0x00) over
 * ristretto255 with SHA-512, from `@noble/curves`. The linkage institution holds one key per
 * research project and evaluates blinded elements; a hospital blinds an identifier, sends the
 * blinded element, and unblinds and finalises the answer. The institution never sees the
 * identifier nor the output; the hospital never sees the key.
 *
 * The base mode is not verifiable: a hospital cannot tell whether the institution used the
 * project's key. A wrong key yields tokens that match nothing, which shows up as a linkage
 * without matches (counts on the ledger), not as a leak.
 *
 * @module
 */
import { ristretto255_oprf } from '@noble/curves/ed25519.js';
import { ApiError } from '../errors';

/** The RFC 9497 ciphersuite identifier. */
export const OPRF_SUITE = 'ristretto255-SHA512';
/** Bytes of a serialised group element (blinded or evaluated) and of a scalar. */
export const ELEMENT_BYTES = 32;
/** Bytes of a finalised OPRF output (SHA-512). */
export const OUTPUT_BYTES = 64;

const oprf = ristretto255_oprf.oprf;

/** A blinded input: `blind` stays with the hospital, `blinded` goes to the institution. */
export interface BlindedInput {
  blind: Uint8Array;
  blinded: Uint8Array;
}

/**
 * The institution's secret OPRF key of one project: RFC 9497 DeriveKeyPair from its master
 * seed with the project id as key info, so each project has its own key and none is stored.
 *
 * @param seed - the institution's master OPRF seed, 32 bytes
 */
export function deriveProjectKey(seed: Uint8Array, projectId: string): Uint8Array {
  if (seed.length !== 32) throw new Error(`The linkage institution's OPRF seed must be 32 bytes; got ${seed.length}.`);
  return oprf.deriveKeyPair(seed, new TextEncoder().encode(projectId)).secretKey;
}

/**
 * Blinds an input (the hospital's step). `rng` is for test vectors only; by default the blind
 * is a fresh random non-zero scalar.
 */
export function blindInput(input: Uint8Array, rng?: (bytes?: number) => Uint8Array): BlindedInput {
  const { blind, blinded } = rng ? oprf.blind(input, rng as Parameters<typeof oprf.blind>[1]) : oprf.blind(input);
  return { blind, blinded };
}

/**
 * Evaluates a blinded element with the project's key (the institution's step).
 *
 * @throws ApiError 400 LINKAGE_INVALID_ELEMENT when the bytes are not a valid, non-identity
 *   ristretto255 element
 */
export function evaluateBlinded(secretKey: Uint8Array, blinded: Uint8Array): Uint8Array {
  if (blinded.length !== ELEMENT_BYTES) throw invalidElement();
  try {
    return oprf.blindEvaluate(secretKey, blinded);
  } catch {
    throw invalidElement();
  }
}

/**
 * Unblinds the institution's answer and finalises the OPRF output (the hospital's step):
 * SHA-512 over the input and k·H(input).
 *
 * @throws ApiError 502 LINKAGE_INVALID_EVALUATION when the institution's answer is not a valid element
 */
export function finalizeOutput(input: Uint8Array, blind: Uint8Array, evaluated: Uint8Array): Uint8Array {
  try {
    if (evaluated.length !== ELEMENT_BYTES) throw new Error('length');
    return oprf.finalize(input, blind, evaluated);
  } catch {
    throw new ApiError(502, 'LINKAGE_INVALID_EVALUATION', "The linkage institution's answer is not a valid evaluated element; nothing was sent to it.");
  }
}

function invalidElement(): ApiError {
  return new ApiError(400, 'LINKAGE_INVALID_ELEMENT', `Every blinded element must be a valid ristretto255 element of ${ELEMENT_BYTES} bytes, base64url-encoded.`);
}
