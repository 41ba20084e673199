/**
 * Receipts of the anchor log, version 1, and their offline verifier. Browser-safe: `@noble/hashes`
 * through the Merkle module, no Node built-ins, no ethers.
 *
 * A receipt proves, without access to the consortium, that a document was anchored by an issuer
 * at a time: document → `leaf.docHash` → leaf hash → inclusion proof → `checkpoint.root`, and the
 * checkpoint names the EVM chain, contract and transaction where that root is public
 * ({@link verifyReceiptOnChain} in `receipt-onchain.ts` checks that part).
 *
 * ```json
 * { "version": 1,
 *   "leaf": { "anchoredAt": "…", "blockNumber": 7, "docHash": "…", "issuer": "HospitalMSP",
 *             "recordId": "…", "txId": "…", "version": 1 },
 *   "leafIndex": 41, "treeSize": 1000,
 *   "inclusionProof": ["64 hex", …],
 *   "checkpoint": { "treeSize": 1000, "root": "64 hex", "fabricBlockHeight": 12, "chainId": 31337,
 *                   "contract": "0x…", "evmTxHash": "0x…", "evmBlockNumber": 5 },
 *   "salt": "64 hex" }
 * ```
 *
 * `salt` is present for a record anchored as a salted commitment (documents/commitment.ts): the
 * leaf's `docHash` is then `commitment(salt, SHA-256(document))`, not the document's SHA-256, and
 * the receipt is what carries the salt to whoever checks the document. The leaf and the proof do
 * not change; the salt is outside them.
 *
 * The inclusion proof is for the checkpoint's own tree size (`treeSize === checkpoint.treeSize`):
 * receipts are issued once a checkpoint covers the leaf (before that the gateway answers
 * "pending"), so no consistency proof between sizes is needed.
 *
 * Hashes are lowercase hex without `0x` (like `docHash`); EVM values (contract, transaction hash)
 * are `0x`-prefixed lowercase hex. Unknown fields are refused: a verifier must never accept a
 * receipt whose meaning it does not fully know.
 *
 * @module
 */
import {
  createMerkleHasher,
  hexToBytes,
  bytesToHex,
  bytesEqual,
  isMerkleProofError,
  nobleHasher,
  rootFromInclusionProof,
  type MerkleHasher,
  type Sha256Fn,
} from '../merkle';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { documentCommitment } from '../documents/commitment';
import { AnchoringError } from './errors';
import { encodeLeaf, validateLeaf, type AnchorLeaf } from './leaf';

/** The receipt format version this module writes and reads. */
export const RECEIPT_VERSION = 1;

/** The on-chain checkpoint a receipt's proof leads to. */
export interface ReceiptCheckpoint {
  /** Tree size of the checkpoint. */
  readonly treeSize: number;
  /** The checkpoint's Merkle root, 64 lowercase hex. */
  readonly root: string;
  /** Fabric block height the checkpoint was taken at. */
  readonly fabricBlockHeight: number;
  /** EVM chain id of the registry. */
  readonly chainId: number;
  /** AnchorRegistry address, 0x + 40 lowercase hex. */
  readonly contract: string;
  /** EVM transaction that recorded the checkpoint, 0x + 64 lowercase hex. */
  readonly evmTxHash?: string;
  /** EVM block of that transaction. */
  readonly evmBlockNumber?: number;
}

/** A receipt of the anchor log, version 1 (see the module comment). */
export interface Receipt {
  readonly version: 1;
  readonly leaf: AnchorLeaf;
  readonly leafIndex: number;
  readonly treeSize: number;
  /** Sibling hashes, leaf side first (RFC 9162 order), 64 lowercase hex each. */
  readonly inclusionProof: readonly string[];
  readonly checkpoint: ReceiptCheckpoint;
  /** The salt of a salted record (64 lowercase hex): `leaf.docHash` is the commitment under it. */
  readonly salt?: string;
}

/** What a verification found: `valid` only when every check passed; `reasons` says which failed. */
export interface VerificationResult {
  readonly valid: boolean;
  readonly reasons: readonly string[];
}

/** Options of the offline verifiers. */
export interface VerifyOptions {
  /**
   * SHA-256 to use instead of `@noble/hashes` (e.g. a native one for bulk verification). The
   * algorithm is the same; only speed differs.
   */
  readonly sha256?: Sha256Fn;
}

const HASH_HEX = /^[0-9a-f]{64}$/;
const ADDRESS_HEX = /^0x[0-9a-f]{40}$/;
const TX_HASH_HEX = /^0x[0-9a-f]{64}$/;
const RECEIPT_KEYS = ['version', 'leaf', 'leafIndex', 'treeSize', 'inclusionProof', 'checkpoint', 'salt'] as const;
const RECEIPT_REQUIRED = ['version', 'leaf', 'leafIndex', 'treeSize', 'inclusionProof', 'checkpoint'] as const;
const CHECKPOINT_KEYS = ['treeSize', 'root', 'fabricBlockHeight', 'chainId', 'contract', 'evmTxHash', 'evmBlockNumber'] as const;
const CHECKPOINT_REQUIRED = ['treeSize', 'root', 'fabricBlockHeight', 'chainId', 'contract'] as const;
/** No RFC 9162 inclusion proof of a tree below 2^64 leaves is longer. */
const MAX_PROOF = 64;

/** Thrown for receipts that are not well-formed; `field` names the offending part. */
export function malformed(field: string, sentence: string, cause?: unknown): AnchoringError {
  return new AnchoringError('RECEIPT_MALFORMED', `${field}: ${sentence}`, { details: { field }, ...(cause ? { cause } : {}) });
}

/** Parses JSON text, or passes through an already parsed value. */
export function receiptValue(input: unknown, what: string): unknown {
  if (typeof input !== 'string') return input;
  try {
    return JSON.parse(input) as unknown;
  } catch (err) {
    throw malformed(what, 'is not valid JSON.', err);
  }
}

/** The value as a plain object with only `allowed` keys and all `required` ones. */
export function requireShape(
  field: string,
  value: unknown,
  allowed: readonly string[],
  required: readonly string[] = allowed,
): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw malformed(field, 'must be a JSON object.');
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) throw malformed(`${field}.${key}`, 'is not a field of this receipt version.');
  }
  for (const key of required) {
    if (!(key in obj) || obj[key] === undefined) throw malformed(`${field}.${key}`, 'is missing.');
  }
  return obj;
}

/** A non-negative safe integer. */
export function requireCount(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw malformed(field, 'must be a non-negative integer.');
  }
  return value;
}

/** 64 lowercase hex characters. */
export function requireHashHex(field: string, value: unknown): string {
  if (typeof value !== 'string' || !HASH_HEX.test(value)) throw malformed(field, 'must be 64 lowercase hexadecimal characters.');
  return value;
}

/** A list of hashes (an inclusion proof). */
export function requireProof(field: string, value: unknown): string[] {
  if (!Array.isArray(value)) throw malformed(field, 'must be a list of hashes.');
  if (value.length > MAX_PROOF) throw malformed(field, `must not have more than ${MAX_PROOF} hashes.`);
  return value.map((h, i) => requireHashHex(`${field}[${i}]`, h));
}

/**
 * Checks a receipt's structure and returns it typed. Accepts the parsed object or JSON text.
 * Whether the receipt *proves* anything is {@link verifyReceipt}'s business.
 *
 * @throws AnchoringError RECEIPT_MALFORMED (with `details.field`), RECEIPT_UNSUPPORTED_VERSION
 */
export function parseReceipt(input: unknown): Receipt {
  const obj = requireShape('receipt', receiptValue(input, 'receipt'), RECEIPT_KEYS, RECEIPT_REQUIRED);
  if (obj.version !== RECEIPT_VERSION) {
    throw new AnchoringError('RECEIPT_UNSUPPORTED_VERSION', `This verifier reads receipt version ${RECEIPT_VERSION}, not ${JSON.stringify(obj.version)}.`, {
      details: { version: obj.version },
    });
  }
  let leaf: AnchorLeaf;
  try {
    leaf = validateLeaf(obj.leaf);
  } catch (err) {
    const field = (err as AnchoringError).details?.field;
    throw malformed(typeof field === 'string' ? `receipt.leaf.${field}` : 'receipt.leaf', (err as Error).message, err);
  }
  const cp = requireShape('receipt.checkpoint', obj.checkpoint, CHECKPOINT_KEYS, CHECKPOINT_REQUIRED);
  const checkpoint: ReceiptCheckpoint = {
    treeSize: requireCount('receipt.checkpoint.treeSize', cp.treeSize),
    root: requireHashHex('receipt.checkpoint.root', cp.root),
    fabricBlockHeight: requireCount('receipt.checkpoint.fabricBlockHeight', cp.fabricBlockHeight),
    chainId: requireCount('receipt.checkpoint.chainId', cp.chainId),
    contract: requireMatch('receipt.checkpoint.contract', cp.contract, ADDRESS_HEX, 'must be 0x followed by 40 lowercase hexadecimal characters.'),
    ...(cp.evmTxHash !== undefined
      ? { evmTxHash: requireMatch('receipt.checkpoint.evmTxHash', cp.evmTxHash, TX_HASH_HEX, 'must be 0x followed by 64 lowercase hexadecimal characters.') }
      : {}),
    ...(cp.evmBlockNumber !== undefined ? { evmBlockNumber: requireCount('receipt.checkpoint.evmBlockNumber', cp.evmBlockNumber) } : {}),
  };
  return {
    version: RECEIPT_VERSION,
    leaf,
    leafIndex: requireCount('receipt.leafIndex', obj.leafIndex),
    treeSize: requireCount('receipt.treeSize', obj.treeSize),
    inclusionProof: requireProof('receipt.inclusionProof', obj.inclusionProof),
    checkpoint,
    ...(obj.salt !== undefined ? { salt: requireHashHex('receipt.salt', obj.salt) } : {}),
  };
}

function requireMatch(field: string, value: unknown, pattern: RegExp, sentence: string): string {
  if (typeof value !== 'string' || !pattern.test(value)) throw malformed(field, sentence);
  return value;
}

const hashers = new WeakMap<Sha256Fn, MerkleHasher>();

/** The Merkle hasher for the options' SHA-256 (noble by default), cached per function. */
export function hasherFor(options: VerifyOptions | undefined): MerkleHasher {
  const sha256 = options?.sha256;
  if (!sha256) return nobleHasher;
  let hasher = hashers.get(sha256);
  if (!hasher) {
    hasher = createMerkleHasher(sha256, 'injected-sha256');
    hashers.set(sha256, hasher);
  }
  return hasher;
}

/** SHA-256 of the document as lowercase hex, with the options' SHA-256 (noble by default). */
export function documentHashHex(document: Uint8Array, options: VerifyOptions | undefined): string {
  return bytesToHex((options?.sha256 ?? nobleSha256)(document));
}

/**
 * What `leaf.docHash` must be for a document with SHA-256 `docHash` (64 lowercase hex): the hash
 * itself, or its commitment under the receipt's salt. The Verify page uses this with the hash it
 * computed incrementally; {@link verifyReceipt} with the document's bytes.
 */
export function expectedLeafDocHash(receipt: Pick<Receipt, 'salt'>, docHash: string): string {
  return receipt.salt === undefined ? docHash : documentCommitment(receipt.salt, docHash);
}

/** The reason a document with SHA-256 `docHash` does not match the receipt, or undefined when it does. */
export function documentMismatch(receipt: Receipt, docHash: string): string | undefined {
  if (expectedLeafDocHash(receipt, docHash) === receipt.leaf.docHash) return undefined;
  return receipt.salt === undefined
    ? 'The document does not match the receipt: its SHA-256 differs from leaf.docHash.'
    : "The document does not match the receipt: the salted commitment of its SHA-256 differs from leaf.docHash (the document was changed, or the receipt's salt is not this record's).";
}

/**
 * Checks an inclusion proof given as hex and returns the reasons it fails (empty when it holds).
 * Proof-shape problems that depend on index and size (wrong number of hashes, index past the end)
 * are reasons, not errors: they are what a tampered index or size looks like.
 */
export function inclusionReasons(
  what: string,
  leafHash: Uint8Array,
  leafIndex: number,
  treeSize: number,
  proofHex: readonly string[],
  rootHex: string,
  hasher: MerkleHasher,
): string[] {
  try {
    const implied = rootFromInclusionProof(leafHash, leafIndex, treeSize, proofHex.map(hexToBytes), hasher);
    return bytesEqual(implied, hexToBytes(rootHex)) ? [] : [`${what}: the inclusion proof does not lead to the root.`];
  } catch (err) {
    if (isMerkleProofError(err)) return [`${what}: the inclusion proof does not fit leaf ${leafIndex} of a tree of ${treeSize} (${err.code}).`];
    throw err;
  }
}

/**
 * Verifies a receipt offline: the document (when given) hashes to `leaf.docHash` (for a salted
 * record: its SHA-256's commitment under the receipt's `salt` is `leaf.docHash`), the leaf's
 * canonical bytes hash to a leaf that the inclusion proof places at `leafIndex` of a tree of
 * `treeSize` leaves whose root is the checkpoint's root, and the proof is for the checkpoint's
 * size. It does not contact the chain: {@link verifyReceiptOnChain} checks that the checkpoint
 * is really recorded there.
 *
 * @param receipt - the receipt object or its JSON text
 * @param document - the document's bytes; omit to check the proof chain only
 * @throws AnchoringError RECEIPT_MALFORMED / RECEIPT_UNSUPPORTED_VERSION for receipts that are not
 *   well-formed (a well-formed receipt that does not verify gives `valid: false` instead)
 *
 * @example
 * ```ts
 * const { valid, reasons } = verifyReceipt(JSON.parse(text), pdfBytes);
 * ```
 */
export function verifyReceipt(receipt: unknown, document?: Uint8Array, options?: VerifyOptions): VerificationResult {
  const r = parseReceipt(receipt);
  const hasher = hasherFor(options);
  const reasons: string[] = [];
  const mismatch = document === undefined ? undefined : documentMismatch(r, documentHashHex(document, options));
  if (mismatch) reasons.push(mismatch);
  if (r.treeSize !== r.checkpoint.treeSize) {
    reasons.push(`The proof is for a tree of ${r.treeSize} leaves but the checkpoint is for ${r.checkpoint.treeSize}.`);
  }
  const leafHash = hasher.hashLeaf(encodeLeaf(r.leaf));
  reasons.push(...inclusionReasons('The leaf is not in the checkpointed tree', leafHash, r.leafIndex, r.treeSize, r.inclusionProof, r.checkpoint.root, hasher));
  return { valid: reasons.length === 0, reasons };
}
