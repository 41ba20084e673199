/**
 * Salted record commitments, version 1. Browser-safe: `@noble/hashes` only, no Node built-ins,
 * so the gateway, the CLI and the Verify page compute the same bytes with the same code.
 *
 * Why: a bare SHA-256 of a short structured document (a lab result, a vaccination record) can
 * be confirmed by anyone who reads the ledger and enumerates the few thousand plausible
 * documents. For such records the ledger's `docHash` field holds a commitment instead:
 *
 * ```text
 * d          = SHA-256(document)                                  32 bytes
 * salt       = HMAC-SHA256(K_org, "medprov.record-salt/v1" ‖ 0x00 ‖ d)        32 bytes
 * commitment = HMAC-SHA256(salt,  "medprov.record-commitment/v1" ‖ 0x00 ‖ d)  32 bytes
 * ```
 *
 * The labels are their ASCII bytes, `‖` is concatenation, `d` is the raw digest (not its hex).
 * On the wire `salt` and `commitment` are 64 lowercase hex characters, like `docHash`, so the
 * chaincode stores a commitment exactly where it stores a hash.
 *
 * - `K_org` is a 32-byte secret of the issuing organisation's gateway (derived in its key store,
 *   never on the ledger). Without it no salt can be computed, so a dictionary of candidate
 *   documents confirms nothing against the ledger.
 * - The salt is deterministic: the issuing gateway recomputes it from the document alone
 *   (verification without a salt, receipts, idempotent retries of the same anchor). It travels
 *   with the document or its receipt to whoever must verify; with it, anyone can check that one
 *   document against the ledger, and nothing else.
 * - The commitment is over `d`, not the document's bytes, so a verifier that has streamed the
 *   document into SHA-256 (the gateway's upload hashing, the page's incremental hash) needs
 *   nothing more.
 *
 * Test vectors: test/unit/documents/commitment.test.ts.
 *
 * @module
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesEqual, bytesToHex, concatBytes, hexToBytes } from '../merkle/bytes';

/** How a record is committed to on the ledger: its bare SHA-256, or a salted commitment. */
export type CommitmentKind = 'plain' | 'salted';
/** The values of {@link CommitmentKind}. */
export const COMMITMENT_KINDS: readonly CommitmentKind[] = ['plain', 'salted'];
/** Bytes of `K_org`, of a salt and of a commitment. */
export const COMMITMENT_BYTES = 32;
/** Domain label of the salt derivation. */
export const SALT_LABEL = 'medprov.record-salt/v1';
/** Domain label of the commitment. */
export const COMMITMENT_LABEL = 'medprov.record-commitment/v1';

const HASH_HEX = /^[0-9a-f]{64}$/;
const encoder = new TextEncoder();
const SALT_PREFIX = concatBytes(encoder.encode(SALT_LABEL), new Uint8Array([0]));
const COMMITMENT_PREFIX = concatBytes(encoder.encode(COMMITMENT_LABEL), new Uint8Array([0]));

/** True for 64 lowercase hex characters: a docHash, a salt or a commitment. */
export function isHash256Hex(value: unknown): value is string {
  return typeof value === 'string' && HASH_HEX.test(value);
}

function digestBytes(what: string, hex: string): Uint8Array {
  if (!isHash256Hex(hex)) throw new TypeError(`${what} must be 64 lowercase hexadecimal characters.`);
  return hexToBytes(hex);
}

/**
 * The salt of a document under the organisation's key: `HMAC-SHA256(K_org, SALT_LABEL ‖ 0x00 ‖ d)`.
 *
 * @param orgKey - `K_org`, exactly 32 bytes
 * @param docHash - SHA-256 of the document, 64 lowercase hex
 * @returns the salt, 64 lowercase hex
 * @throws TypeError for a key of another length or a malformed docHash
 */
export function documentSalt(orgKey: Uint8Array, docHash: string): string {
  if (!(orgKey instanceof Uint8Array) || orgKey.length !== COMMITMENT_BYTES) throw new TypeError(`The organisation's commitment key must be ${COMMITMENT_BYTES} bytes.`);
  return bytesToHex(hmac(sha256, orgKey, concatBytes(SALT_PREFIX, digestBytes('docHash', docHash))));
}

/**
 * The commitment to a document under a salt: `HMAC-SHA256(salt, COMMITMENT_LABEL ‖ 0x00 ‖ d)`.
 *
 * @param salt - 64 lowercase hex (from {@link documentSalt}, or from a receipt)
 * @param docHash - SHA-256 of the document, 64 lowercase hex
 * @returns the commitment, 64 lowercase hex: what the ledger's `docHash` field holds
 * @throws TypeError for a malformed salt or docHash
 */
export function documentCommitment(salt: string, docHash: string): string {
  return bytesToHex(hmac(sha256, digestBytes('salt', salt), concatBytes(COMMITMENT_PREFIX, digestBytes('docHash', docHash))));
}

/** True when `commitment` is the commitment to `docHash` under `salt` (all 64 lowercase hex). */
export function commitmentMatches(commitment: string, salt: string, docHash: string): boolean {
  return isHash256Hex(commitment) && bytesEqual(hexToBytes(commitment), hexToBytes(documentCommitment(salt, docHash)));
}

/**
 * The organisation's side of salting: the salt of a document under this org's `K_org`. Only the
 * issuing gateway has one ({@link PatientKeyStore} implements it); the key itself never leaves it.
 */
export interface DocumentSalts {
  /** {@link documentSalt} under this organisation's key. */
  documentSalt(docHash: string): string;
}

/** What a record's ledger `docHash` is, and the salt the caller hands on (salted records only). */
export interface LedgerCommitment {
  /** The value for the ledger's `docHash` field: the document's SHA-256, or its commitment. */
  ledgerHash: string;
  commitment: CommitmentKind;
  /** The salt (salted only): it goes with the document to whoever verifies it. */
  salt?: string;
}

/** The ledger value for a document hash under `kind`, using the organisation's salts. */
export function commitTo(docHash: string, kind: CommitmentKind, salts: DocumentSalts): LedgerCommitment {
  if (kind === 'plain') return { ledgerHash: docHash, commitment: 'plain' };
  const salt = salts.documentSalt(docHash);
  return { ledgerHash: documentCommitment(salt, docHash), commitment: 'salted', salt };
}
