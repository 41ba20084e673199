/**
 * Archive receipts, version 1, and their offline verifier. Browser-safe.
 *
 * Archive mode anchors a whole folder as one Merkle root (see `archive.ts`). Each file is one leaf
 * of the archive tree; the root goes to the ledger in one transaction of its own
 * (`Archives:anchorArchive`, one key, whatever the number of files), which the receipt names in
 * `anchor`. An archive receipt therefore chains file → archive root → that Fabric transaction,
 * and, once an anchor-log receipt of the root is attached, → log root → EVM:
 *
 * ```json
 * { "version": 1, "kind": "archive-file",
 *   "file": { "path": "2019/scan-0001.pdf", "docHash": "64 hex" },
 *   "leafIndex": 0, "treeSize": 100000, "inclusionProof": ["64 hex", …],
 *   "archiveRoot": "64 hex",
 *   "anchor": { "issuer": "HospitalMSP", "archiveId": "scans-2019", "txId": "64 hex",
 *               "blockNumber": "42", "anchoredAt": "2026-01-31T09:30:00.000Z" },
 *   "logReceipt": { …a receipt of the anchor log whose leaf.docHash is archiveRoot… } }
 * ```
 *
 * `anchor` is checked for its form offline; that the ledger holds it is one query away
 * (`Archives:readArchive(issuer, archiveId)`, or `GET /v1/archives/{issuer}/{archiveId}` at any
 * member's gateway), compared by {@link archiveAnchorReasons}.
 *
 * Archive leaf data = canonical JSON `{"docHash":"…","path":"…"}` (sorted keys, no whitespace,
 * UTF-8): the path is part of the leaf so a receipt proves *which* file of the archive the
 * document was, not just that some file had these bytes; it is relative to the archived folder
 * and `/`-separated on every platform, so the same folder gives the same root anywhere. The
 * document itself is only represented by its SHA-256, like every anchor.
 *
 * `logReceipt` is absent until the archive root's anchor is covered by an on-chain checkpoint;
 * without it a receipt only proves membership in the archive, which on its own says nothing
 * about who anchored it or when (`anchored: false` in the result).
 *
 * @module
 */
import { ARCHIVE_LEAF_PREFIX } from '../../../chaincode/src/lib/archive-model';
import { AnchoringError } from './errors';
import {
  documentHashHex,
  hasherFor,
  inclusionReasons,
  malformed,
  parseReceipt,
  receiptValue,
  requireCount,
  requireHashHex,
  requireProof,
  requireShape,
  verifyReceipt,
  type Receipt,
  type VerificationResult,
  type VerifyOptions,
} from './receipt';

/** The archive receipt format version. */
export const ARCHIVE_RECEIPT_VERSION = 1;

/** The `kind` that tells an archive receipt from a log receipt. */
export const ARCHIVE_RECEIPT_KIND = 'archive-file';

/** Longest relative path accepted (characters). */
export const MAX_ARCHIVE_PATH = 4096;

/** One file of an archive: its path inside the archived folder and its SHA-256. */
export interface ArchiveFileLeaf {
  /** Relative, `/`-separated path. */
  readonly path: string;
  /** SHA-256 of the file's bytes, 64 lowercase hex. */
  readonly docHash: string;
}

/** A receipt for one file of an archive (see the module comment). */
export interface ArchiveReceipt {
  readonly version: 1;
  readonly kind: typeof ARCHIVE_RECEIPT_KIND;
  readonly file: ArchiveFileLeaf;
  readonly leafIndex: number;
  readonly treeSize: number;
  /** Sibling hashes in the archive tree, leaf side first, 64 lowercase hex each. */
  readonly inclusionProof: readonly string[];
  /** Root of the archive tree, 64 lowercase hex: what the archive's ledger transaction anchored. */
  readonly archiveRoot: string;
  /** The ledger transaction that anchored `archiveRoot` (absent until the archive is anchored). */
  readonly anchor?: ArchiveLedgerAnchor;
  /** The anchor log's receipt of the archive's record anchor, once checkpointed. */
  readonly logReceipt?: Receipt;
}

/** Where an archive's root is on the ledger: the `Archives:anchorArchive` transaction. */
export interface ArchiveLedgerAnchor {
  /** MSP ID of the hospital that anchored the archive. */
  readonly issuer: string;
  /** The hospital's id of the archive (`Archives:readArchive(issuer, archiveId)`). */
  readonly archiveId: string;
  /** Fabric transaction id, 64 lowercase hex. */
  readonly txId: string;
  /** The block the transaction committed in, decimal. */
  readonly blockNumber: string;
  /** The transaction's timestamp, ISO-8601 UTC with milliseconds. */
  readonly anchoredAt: string;
}

/** Result of {@link verifyArchiveReceipt}. */
export interface ArchiveVerificationResult extends VerificationResult {
  /**
   * True when the receipt carries a log receipt and it verified: the chain reaches an on-chain
   * checkpoint (check that with `verifyReceiptOnChain(receipt.logReceipt, provider)`).
   */
  readonly anchored: boolean;
}

const encoder = new TextEncoder();
const LONE_SURROGATE = /\p{Cs}/u;
const RECEIPT_KEYS = ['version', 'kind', 'file', 'leafIndex', 'treeSize', 'inclusionProof', 'archiveRoot', 'anchor', 'logReceipt'] as const;
const ANCHOR_KEYS = ['issuer', 'archiveId', 'txId', 'blockNumber', 'anchoredAt'] as const;
// The chaincode's forms (chaincode/src/lib/validate.ts), repeated: the verifier runs in browsers too.
const MSP_ID = /^[A-Za-z0-9.-]{1,64}$/;
const OPAQUE_ID = /^[\p{L}\p{N}._:/#@+-]{1,120}$/u;
const DECIMAL = /^(0|[1-9][0-9]{0,19})$/;
const ISO_MILLIS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const RECEIPT_REQUIRED = ['version', 'kind', 'file', 'leafIndex', 'treeSize', 'inclusionProof', 'archiveRoot'] as const;

/**
 * Checks a relative archive path: `/`-separated, no empty, `.` or `..` segment, no NUL, no
 * U+FFFD (what a file name that is not valid UTF-8 decodes to) or lone surrogate: a path must
 * name exactly one file, and the same one for every reader.
 *
 * @throws AnchoringError ARCHIVE_PATH_INVALID
 */
export function validateArchivePath(path: string): string {
  const bad = (why: string): never => {
    throw new AnchoringError('ARCHIVE_PATH_INVALID', `The archive path ${JSON.stringify(path)} ${why}`);
  };
  if (typeof path !== 'string' || path.length === 0) bad('is empty.');
  if (path.length > MAX_ARCHIVE_PATH) bad(`is longer than ${MAX_ARCHIVE_PATH} characters.`);
  if (path.includes('\u0000')) bad('contains NUL.');
  if (path.includes('\uFFFD') || LONE_SURROGATE.test(path)) bad('is not valid Unicode (a file name that is not UTF-8?).');
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') bad('must be relative, /-separated, without empty, "." or ".." segments.');
  }
  return path;
}

/**
 * The archive leaf bytes of a file: canonical JSON `{"docHash":…,"path":…}` in UTF-8.
 *
 * @throws AnchoringError ARCHIVE_PATH_INVALID, LEAF_INVALID (docHash not 64 lowercase hex)
 */
export function encodeArchiveLeaf(file: ArchiveFileLeaf): Uint8Array {
  if (typeof file.docHash !== 'string' || !/^[0-9a-f]{64}$/.test(file.docHash)) {
    throw new AnchoringError('LEAF_INVALID', 'An archive leaf docHash must be 64 lowercase hexadecimal characters.', { details: { field: 'docHash' } });
  }
  validateArchivePath(file.path);
  return encoder.encode(`{"docHash":"${file.docHash}","path":${JSON.stringify(file.path)}}`);
}

/**
 * Checks an archive receipt's structure (and its log receipt's, when present).
 *
 * @throws AnchoringError RECEIPT_MALFORMED, RECEIPT_UNSUPPORTED_VERSION
 */
export function parseArchiveReceipt(input: unknown): ArchiveReceipt {
  const obj = requireShape('archiveReceipt', receiptValue(input, 'archiveReceipt'), RECEIPT_KEYS, RECEIPT_REQUIRED);
  if (obj.version !== ARCHIVE_RECEIPT_VERSION) {
    throw new AnchoringError(
      'RECEIPT_UNSUPPORTED_VERSION',
      `This verifier reads archive receipt version ${ARCHIVE_RECEIPT_VERSION}, not ${JSON.stringify(obj.version)}.`,
      { details: { version: obj.version } },
    );
  }
  if (obj.kind !== ARCHIVE_RECEIPT_KIND) throw malformed('archiveReceipt.kind', `must be "${ARCHIVE_RECEIPT_KIND}".`);
  const file = requireShape('archiveReceipt.file', obj.file, ['path', 'docHash']);
  if (typeof file.path !== 'string') throw malformed('archiveReceipt.file.path', 'must be a string.');
  try {
    validateArchivePath(file.path);
  } catch (err) {
    throw malformed('archiveReceipt.file.path', (err as Error).message, err);
  }
  let logReceipt: Receipt | undefined;
  if (obj.logReceipt !== undefined) {
    try {
      logReceipt = parseReceipt(obj.logReceipt);
    } catch (err) {
      if (err instanceof AnchoringError && err.code === 'RECEIPT_MALFORMED') {
        throw malformed(`archiveReceipt.logReceipt (${String(err.details?.field)})`, err.message, err);
      }
      throw err;
    }
  }
  return {
    version: ARCHIVE_RECEIPT_VERSION,
    kind: ARCHIVE_RECEIPT_KIND,
    file: { path: file.path, docHash: requireHashHex('archiveReceipt.file.docHash', file.docHash) },
    leafIndex: requireCount('archiveReceipt.leafIndex', obj.leafIndex),
    treeSize: requireCount('archiveReceipt.treeSize', obj.treeSize),
    inclusionProof: requireProof('archiveReceipt.inclusionProof', obj.inclusionProof),
    archiveRoot: requireHashHex('archiveReceipt.archiveRoot', obj.archiveRoot),
    ...(obj.anchor !== undefined ? { anchor: parseArchiveLedgerAnchor('archiveReceipt.anchor', obj.anchor) } : {}),
    ...(logReceipt ? { logReceipt } : {}),
  };
}

/**
 * Checks the form of an archive's ledger anchor (see {@link ArchiveLedgerAnchor}).
 *
 * @throws AnchoringError RECEIPT_MALFORMED
 */
export function parseArchiveLedgerAnchor(field: string, value: unknown): ArchiveLedgerAnchor {
  const a = requireShape(field, value, ANCHOR_KEYS);
  const text = (key: (typeof ANCHOR_KEYS)[number], form: RegExp, sentence: string): string => {
    const v = a[key];
    if (typeof v !== 'string' || !form.test(v)) throw malformed(`${field}.${key}`, sentence);
    return v;
  };
  return {
    issuer: text('issuer', MSP_ID, 'must be an MSP ID of 1 to 64 letters, digits, dots or hyphens.'),
    archiveId: text('archiveId', OPAQUE_ID, 'must be 1 to 120 letters, digits or . _ : / # @ + -.'),
    txId: requireHashHex(`${field}.txId`, a.txId),
    blockNumber: text('blockNumber', DECIMAL, 'must be a block number in decimal.'),
    anchoredAt: text('anchoredAt', ISO_MILLIS, 'must be an ISO-8601 UTC timestamp with milliseconds.'),
  };
}

/** The ledger's record of an archive, as `Archives:readArchive` returns it. */
export interface LedgerArchive {
  readonly archiveId: string;
  readonly issuer: string;
  readonly root: string;
  readonly count: number;
  readonly anchoredAt: string;
  readonly txId: string;
  readonly category?: string;
}

/**
 * Compares an archive receipt with what the ledger holds for the archive it names (`null` when
 * the ledger has none): the same root and file count, anchored by the same transaction. An empty
 * list means they agree; a receipt without `anchor` cannot be compared and says so.
 */
export function archiveAnchorReasons(receipt: ArchiveReceipt, ledger: LedgerArchive | null): string[] {
  const anchor = receipt.anchor;
  if (!anchor) return ['The receipt names no ledger transaction (its archive was not anchored when it was written).'];
  if (!ledger) return [`The ledger has no archive ${anchor.archiveId} of ${anchor.issuer}.`];
  const reasons: string[] = [];
  if (ledger.issuer !== anchor.issuer || ledger.archiveId !== anchor.archiveId) reasons.push('The ledger answered for another archive.');
  if (ledger.root !== receipt.archiveRoot) reasons.push('The ledger anchored another root under this archive id.');
  if (ledger.count !== receipt.treeSize) reasons.push(`The ledger's archive holds ${ledger.count} files, the receipt's tree ${receipt.treeSize}.`);
  if (ledger.txId !== anchor.txId) reasons.push('The ledger says another transaction anchored this archive.');
  if (ledger.anchoredAt !== anchor.anchoredAt) reasons.push('The ledger gives the archive another anchoring time.');
  return reasons;
}

/**
 * Verifies an archive receipt offline against the file's bytes: the file hashes to
 * `file.docHash`; the archive leaf of (path, docHash) is at `leafIndex` of the archive tree whose
 * root is `archiveRoot`; and, when the log receipt is present, it verifies ({@link verifyReceipt}),
 * its leaf's `docHash` is `archiveRoot` and, with `anchor`, its leaf names the same transaction
 * (issuer, `archive:<archiveId>`, time, block).
 *
 * @param receipt - the archive receipt object or its JSON text
 * @param fileBytes - the file's bytes
 * @throws AnchoringError RECEIPT_MALFORMED / RECEIPT_UNSUPPORTED_VERSION for receipts that are not
 *   well-formed (a well-formed receipt that does not verify gives `valid: false` instead)
 */
export function verifyArchiveReceipt(receipt: unknown, fileBytes: Uint8Array, options?: VerifyOptions): ArchiveVerificationResult {
  const r = parseArchiveReceipt(receipt);
  const hasher = hasherFor(options);
  const reasons: string[] = [];
  if (documentHashHex(fileBytes, options) !== r.file.docHash) {
    reasons.push('The file does not match the receipt: its SHA-256 differs from file.docHash.');
  }
  const leafHash = hasher.hashLeaf(encodeArchiveLeaf(r.file));
  reasons.push(...inclusionReasons('The file is not in the archive', leafHash, r.leafIndex, r.treeSize, r.inclusionProof, r.archiveRoot, hasher));
  let anchored = false;
  if (r.logReceipt) {
    const log = verifyReceipt(r.logReceipt, undefined, options);
    const chain: string[] = log.reasons.map((reason) => `Log receipt: ${reason}`);
    if (r.logReceipt.leaf.docHash !== r.archiveRoot) {
      chain.push('The log receipt anchors another document: its leaf.docHash is not the archive root.');
    }
    // The log names the archive's transaction as it names any anchor (ledger-source.ts): both must agree.
    const leaf = r.logReceipt.leaf;
    const a = r.anchor;
    if (a && (leaf.txId !== a.txId || leaf.issuer !== a.issuer || leaf.recordId !== `${ARCHIVE_LEAF_PREFIX}${a.archiveId}` || leaf.anchoredAt !== a.anchoredAt || String(leaf.blockNumber) !== a.blockNumber)) {
      chain.push("The log receipt's leaf names another transaction, issuer, archive, time or block than the receipt's anchor.");
    }
    reasons.push(...chain);
    anchored = chain.length === 0;
  }
  return { valid: reasons.length === 0, reasons, anchored };
}
