/**
 * What the ledger keeps of an archive (`Archives:anchorArchive`, contracts/archives.ts) and the
 * event it emits: shared with the gateway, which follows the event into its anchor log, so no
 * Fabric contract code is loaded there.
 */

/** Composite-key type of an archive anchor: issuer, archiveId (prefixed like every medprov key, see KEY_TYPES in keys.ts). */
export const ARCHIVE_KEY_TYPE = 'medprov.archive';

/** The one event an archive anchor emits (Fabric keeps one event per transaction); its payload is the {@link ArchiveAnchor}. */
export const ARCHIVES_EVENT = 'medprov.ArchiveAnchored';

/** Largest archive: the gateway's Merkle tree holds at most 2^30 leaves. */
export const MAX_ARCHIVE_FILES = 2 ** 30;

/**
 * Longest archive id. 8 characters below a record id's 128, so that the anchor log can name an
 * archive `archive:<archiveId>` in a leaf's recordId (see gateway/src/anchoring/ledger-source.ts).
 */
export const MAX_ARCHIVE_ID = 120;

/** The prefix of an archive's name in the anchor log's leaves (recordId `archive:<archiveId>`, version 1). */
export const ARCHIVE_LEAF_PREFIX = 'archive:';

/**
 * A folder anchored as one Merkle root. No file names, no folder name, no patient: the root
 * commits to every file's path and SHA-256, and the per-file receipts (kept by the hospital,
 * handed to whoever needs one) prove a file's place in it.
 */
export interface ArchiveAnchor {
  /** The hospital's opaque id for the archive (unique per hospital). */
  archiveId: string;
  /** MSP ID of the anchoring hospital (the caller). */
  issuer: string;
  /** RFC 6962 Merkle root over the archive's files, 64 lowercase hex. */
  root: string;
  /** Number of files (leaves) under the root. */
  count: number;
  /** Optional code of what the archive holds (same form as a record's category). */
  category?: string;
  /** The transaction's timestamp. */
  anchoredAt: string;
  txId: string;
}
