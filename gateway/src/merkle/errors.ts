/**
 * Typed error of the Merkle verifier.
 *
 * @module
 */

/**
 * Stable machine-readable reasons carried by {@link MerkleProofError}.
 *
 * - `INVALID_ARGUMENT`: an index or size is not a non-negative safe integer, or the proof is
 *   neither an array nor a `Uint8Array`.
 * - `INVALID_HASH`: a leaf hash or root is not a 32-byte `Uint8Array`.
 * - `INDEX_OUT_OF_RANGE`: leaf index ≥ tree size (this includes tree size 0).
 * - `SIZES_OUT_OF_ORDER`: consistency check with `size1 > size2`.
 * - `PROOF_MALFORMED`: a proof element is not 32 bytes, a flat proof is not a multiple of 32 bytes,
 *   or the number of elements is not exactly what RFC 9162 prescribes for the given index/sizes
 *   (truncated, extended, empty when it must not be, non-empty when it must be empty).
 */
export type MerkleProofErrorCode =
  | 'INVALID_ARGUMENT'
  | 'INVALID_HASH'
  | 'INDEX_OUT_OF_RANGE'
  | 'SIZES_OUT_OF_ORDER'
  | 'PROOF_MALFORMED';

/**
 * Thrown by the verifier for structurally invalid input: anything decidable from the shape of the
 * input (types, byte lengths, index/size relation, number of proof elements) without hashing.
 * A well-formed proof whose hashes do not reproduce the claimed root is NOT an error: the
 * `verify*` functions return `false` for it.
 */
export class MerkleProofError extends Error {
  /** Stable reason code; safe to switch on. Messages may change, codes will not. */
  readonly code: MerkleProofErrorCode;

  /**
   * @param code - stable reason code.
   * @param message - human-readable detail.
   */
  constructor(code: MerkleProofErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.name = 'MerkleProofError';
    this.code = code;
  }
}

/**
 * Type guard for {@link MerkleProofError}; also accepts errors from another copy of this module
 * (checks `name` and `code` rather than relying on `instanceof` only).
 */
export function isMerkleProofError(e: unknown): e is MerkleProofError {
  return (
    e instanceof MerkleProofError ||
    (e instanceof Error && e.name === 'MerkleProofError' && typeof (e as { code?: unknown }).code === 'string')
  );
}
