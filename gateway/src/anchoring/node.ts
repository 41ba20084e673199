/**
 * NODE-ONLY surface of the anchoring layer: the anchor log, the checkpointer, the registry
 * client, the receipt issuer and archive mode. Do not import this from browser code; the
 * browser-safe verifiers are in `./index`.
 *
 * @module
 */
export * from './index';
export { LedgerAnchorSource } from './ledger-source';
export { AnchoringService, type AnchoringServiceOptions, type AnchoringStatus } from './service';
export { ANCHOR_LOG_FILES, AnchorLog, type AnchorLogOptions, type AppendResult, type LogRecovery } from './log';
export {
  Checkpointer,
  type CheckpointerEvents,
  type CheckpointerOptions,
  type CheckpointerStatus,
  type CheckpointOutcome,
  type StatusProblem,
  type WrittenCheckpointOutcome,
} from './checkpointer';
export {
  AnchorRegistryClient,
  deployAnchorRegistry,
  loadRegistryArtifact,
  REGISTRY_ENV,
  registryConfigFromEnv,
  type CheckpointTransaction,
  type DeployRegistryOptions,
  type RegistryArtifact,
  type RegistryConfig,
  type RegistryReader,
  type RegistryWriter,
  type WrittenCheckpoint,
} from './registry';
export { buildReceipt, ReceiptIssuer, type BuildReceiptInput } from './receipt-issuer';
export {
  anchorArchiveStore,
  ARCHIVE_FILES,
  archiveFolder,
  attachLogReceipt,
  compareWalkOrder,
  readArchiveManifest,
  readArchiveReceipt,
  verifyArchiveFolder,
  type AnchorRootFn,
  type ArchiveAnchorMeta,
  type ArchiveFolderCheck,
  type ArchiveManifest,
  type ArchiveOptions,
  type ArchiveProgress,
  type ArchiveSummary,
  type ArchiveTimings,
} from './archive';
export { ArchiveStore, loadArchiveStore, setArchiveAnchor, writeArchiveStore, type ArchiveEntryKey, type LoadedArchive } from './archive-store';
export { buildArchive, encodePaths, receiptJsonFromBuild, type BuiltArchive, type FileContents } from './archive-build';
