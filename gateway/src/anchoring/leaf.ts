/**
 * What the anchor log records for one record anchor: the leaf data, and its one byte encoding.
 * Browser-safe (no Node built-ins): the receipt verifier re-encodes leaves with this module.
 *
 * Why these fields and no others: a receipt travels to third parties (an insurer, a court), so the
 * leaf holds only what proves *which document, issued by whom, when, where on the ledger*:
 * `docHash`, `issuer`, `recordId`, `version`, `anchoredAt`, `txId`, `blockNumber`. The anchor's
 * `patientRef` and `category` stay out: a patientRef is a per-org pseudonym, and putting it in
 * every receipt would let anyone holding two receipts of one patient link them; the category
 * (e.g. a LOINC document type) says something about the patient's health. Neither is needed to
 * check that a document is the one the issuer anchored. Status (superseded, retracted) is not in
 * the leaf either: it changes after the fact, and the log is append-only; a receipt proves that
 * the issuer anchored the document at `anchoredAt`, not that it is still current.
 *
 * Encoding: UTF-8 JSON of exactly these seven keys in sorted order, no whitespace; strings as
 * `JSON.stringify` writes them, `version` and `blockNumber` as integers. For these value types
 * this coincides with RFC 8785 (JCS), so verifiers in other languages can reproduce the bytes.
 * Exactly one encoding is accepted, so one anchor has exactly one leaf hash.
 *
 * @module
 */
import type { RecordAnchor } from '../../../chaincode/src/contracts/records';
import { hashLeaf as nobleHashLeaf } from '../merkle';
import { AnchoringError } from './errors';

/** The log's leaf data for one record anchor (see the module comment for why these fields). */
export interface AnchorLeaf {
  /** SHA-256 of the document, 64 lowercase hex characters. */
  readonly docHash: string;
  /** MSP ID of the issuing organisation. */
  readonly issuer: string;
  /** The issuer's opaque record id. */
  readonly recordId: string;
  /** Version of the record (1 for the first anchor, +1 per amendment). */
  readonly version: number;
  /** The anchoring transaction's timestamp, ISO-8601 UTC with milliseconds (`…T…Z`). */
  readonly anchoredAt: string;
  /** Fabric transaction id of the anchoring transaction, 64 lowercase hex characters. */
  readonly txId: string;
  /** Number of the Fabric block the transaction committed in. */
  readonly blockNumber: number;
}

/** The leaf's keys in encoding (sorted) order. */
export const LEAF_FIELDS = ['anchoredAt', 'blockNumber', 'docHash', 'issuer', 'recordId', 'txId', 'version'] as const;

// These mirror chaincode/src/lib/validate.ts (a separate deployable package, so not imported):
// whatever the chaincode accepted must be accepted here, and nothing looser.
const SHA256_HEX = /^[0-9a-f]{64}$/;
const MSP_ID = /^[A-Za-z0-9.-]{1,64}$/;
const OPAQUE_ID = /^[\p{L}\p{N}._:/#@+-]+$/u;
const MAX_RECORD_ID = 128;
const MAX_VERSION = 1_000_000_000;
// Fabric transaction ids are hex SHA-256 digests; the timestamp is what Date#toISOString writes.
const TX_ID = SHA256_HEX;
const ISO_MILLIS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function invalid(sentence: string, field?: string): never {
  throw new AnchoringError('LEAF_INVALID', sentence, field === undefined ? undefined : { details: { field } });
}

/**
 * Checks that `value` is exactly an {@link AnchorLeaf} (no missing or extra keys, every value
 * well-formed) and returns a fresh, frozen copy.
 *
 * @throws AnchoringError LEAF_INVALID naming the offending field
 */
export function validateLeaf(value: unknown): AnchorLeaf {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) invalid('leaf data must be a JSON object.');
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  for (const key of keys) {
    if (!(LEAF_FIELDS as readonly string[]).includes(key)) invalid(`leaf data has an unknown field "${key}".`, key);
  }
  for (const key of LEAF_FIELDS) {
    if (!keys.includes(key)) invalid(`leaf data is missing the field "${key}".`, key);
  }
  const { docHash, issuer, recordId, version, anchoredAt, txId, blockNumber } = obj;
  if (typeof docHash !== 'string' || !SHA256_HEX.test(docHash)) {
    invalid('leaf.docHash must be a SHA-256 digest: 64 lowercase hexadecimal characters.', 'docHash');
  }
  if (typeof issuer !== 'string' || !MSP_ID.test(issuer)) {
    invalid('leaf.issuer must be an MSP ID of 1 to 64 letters, digits, dots or hyphens.', 'issuer');
  }
  if (typeof recordId !== 'string' || !OPAQUE_ID.test(recordId) || [...recordId].length > MAX_RECORD_ID) {
    invalid(`leaf.recordId must be 1 to ${MAX_RECORD_ID} letters, digits or . _ : / # @ + -.`, 'recordId');
  }
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1 || version > MAX_VERSION) {
    invalid(`leaf.version must be an integer from 1 to ${MAX_VERSION}.`, 'version');
  }
  if (typeof anchoredAt !== 'string' || !ISO_MILLIS.test(anchoredAt) || !isRealInstant(anchoredAt)) {
    invalid('leaf.anchoredAt must be an ISO-8601 UTC timestamp with milliseconds, e.g. 2025-01-31T09:30:00.000Z.', 'anchoredAt');
  }
  if (typeof txId !== 'string' || !TX_ID.test(txId)) {
    invalid('leaf.txId must be a Fabric transaction id: 64 lowercase hexadecimal characters.', 'txId');
  }
  if (typeof blockNumber !== 'number' || !Number.isSafeInteger(blockNumber) || blockNumber < 0) {
    invalid('leaf.blockNumber must be a non-negative integer.', 'blockNumber');
  }
  return Object.freeze({ docHash, issuer, recordId, version, anchoredAt, txId, blockNumber });
}

/** Rejects well-shaped but impossible instants such as 2025-02-30T00:00:00.000Z. */
function isRealInstant(iso: string): boolean {
  const ms = Date.parse(iso);
  return Number.isFinite(ms) && new Date(ms).toISOString() === iso;
}

/**
 * The leaf's canonical JSON text (see the module comment). Validates first, so an invalid leaf
 * never gets a hash.
 *
 * @throws AnchoringError LEAF_INVALID
 */
export function canonicalLeafJson(leaf: AnchorLeaf): string {
  const v = validateLeaf(leaf);
  // Keys written by hand in LEAF_FIELDS order: the encoding must not depend on how the object was built.
  return (
    `{"anchoredAt":${JSON.stringify(v.anchoredAt)},"blockNumber":${v.blockNumber},` +
    `"docHash":${JSON.stringify(v.docHash)},"issuer":${JSON.stringify(v.issuer)},` +
    `"recordId":${JSON.stringify(v.recordId)},"txId":${JSON.stringify(v.txId)},"version":${v.version}}`
  );
}

/**
 * Encodes a leaf to the bytes the log hashes (`leaf hash = SHA-256(0x00 ‖ bytes)`).
 *
 * @throws AnchoringError LEAF_INVALID
 */
export function encodeLeaf(leaf: AnchorLeaf): Uint8Array {
  return encoder.encode(canonicalLeafJson(leaf));
}

/**
 * Parses and validates leaf bytes (or their text). Only the canonical encoding is accepted:
 * the same data with other key order, whitespace or number spelling is refused, because it
 * would hash differently.
 *
 * @throws AnchoringError LEAF_INVALID
 */
export function parseLeaf(bytes: Uint8Array | string): AnchorLeaf {
  let text: string;
  if (typeof bytes === 'string') {
    text = bytes;
  } else {
    try {
      text = decoder.decode(bytes);
    } catch {
      invalid('leaf data is not valid UTF-8.');
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    invalid('leaf data is not valid JSON.');
  }
  const leaf = validateLeaf(value);
  if (canonicalLeafJson(leaf) !== text) {
    invalid('leaf data is not in canonical form (sorted keys, no whitespace, integers as written by JSON.stringify).');
  }
  return leaf;
}

/**
 * The leaf for a record anchor read from the ledger, committed in block `blockNumber`.
 * Drops everything a receipt must not carry (patientRef, category, status, supersession).
 *
 * @throws AnchoringError LEAF_INVALID when the anchor's fields are malformed or the block
 *   number is beyond 2^53 (not reachable by a real channel)
 */
export function leafFromAnchor(anchor: Pick<RecordAnchor, 'docHash' | 'issuer' | 'recordId' | 'version' | 'anchoredAt' | 'txId'>, blockNumber: bigint): AnchorLeaf {
  if (typeof blockNumber !== 'bigint' || blockNumber < 0n || blockNumber > BigInt(Number.MAX_SAFE_INTEGER)) {
    invalid('the block number must be a non-negative integer below 2^53.', 'blockNumber');
  }
  return validateLeaf({
    docHash: anchor.docHash,
    issuer: anchor.issuer,
    recordId: anchor.recordId,
    version: anchor.version,
    anchoredAt: anchor.anchoredAt,
    txId: anchor.txId,
    blockNumber: Number(blockNumber),
  });
}

/**
 * The RFC 6962 leaf hash of a leaf, `SHA-256(0x00 ‖ encodeLeaf(leaf))`, with the browser-safe hasher.
 *
 * @throws AnchoringError LEAF_INVALID
 */
export function leafHash(leaf: AnchorLeaf): Uint8Array {
  return nobleHashLeaf(encodeLeaf(leaf));
}
