/**
 * Public, browser-safe surface of the anchoring layer: leaf encoding, receipt formats and their
 * verifiers (offline, and against the chain with any ethers provider), and the error type.
 * Nothing here imports a Node built-in, so the web page and the CLI share one verifier.
 *
 * The Node-only parts (anchor log, checkpointer, registry client, receipt issuer, archive mode)
 * are exported from `./node`, like the Merkle module's `node-hasher`.
 *
 * @example
 * ```ts
 * import { verifyReceipt, verifyReceiptOnChain } from './anchoring';
 * const offline = verifyReceipt(receiptJson, documentBytes);
 * const onChain = await verifyReceiptOnChain(receiptJson, new JsonRpcProvider(rpcUrl));
 * ```
 *
 * @module
 */
export { ANCHORING_ERROR_CODES, AnchoringError, isAnchoringError, type AnchoringErrorCode } from './errors';
export { canonicalLeafJson, encodeLeaf, LEAF_FIELDS, leafFromAnchor, leafHash, parseLeaf, validateLeaf, type AnchorLeaf } from './leaf';
export {
  documentMismatch,
  expectedLeafDocHash,
  parseReceipt,
  RECEIPT_VERSION,
  verifyReceipt,
  type Receipt,
  type ReceiptCheckpoint,
  type VerificationResult,
  type VerifyOptions,
} from './receipt';
export { verifyReceiptOnChain, type OnChainVerificationResult } from './receipt-onchain';
export {
  ARCHIVE_RECEIPT_KIND,
  ARCHIVE_RECEIPT_VERSION,
  archiveAnchorReasons,
  encodeArchiveLeaf,
  MAX_ARCHIVE_PATH,
  parseArchiveLedgerAnchor,
  parseArchiveReceipt,
  validateArchivePath,
  verifyArchiveReceipt,
  type ArchiveFileLeaf,
  type ArchiveLedgerAnchor,
  type ArchiveReceipt,
  type LedgerArchive,
  type ArchiveVerificationResult,
} from './archive-receipt';
export { ANCHOR_REGISTRY_VIEW_ABI, type OnChainCheckpoint } from './registry-abi';
export {
  comparePositions,
  positionFromJson,
  positionToJson,
  type AnchorSource,
  type AnchorsAfterOptions,
  type LedgerPosition,
  type LedgerPositionJson,
  type SourcedAnchor,
} from './source';
export { silentLogger, type AnchoringLogger, type LogFields } from './logger';
