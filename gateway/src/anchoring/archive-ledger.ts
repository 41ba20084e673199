/**
 * Archives on the ledger, in the gateway's terms: `Archives:anchorArchive` (one transaction per
 * archive, whatever its number of files) and `Archives:readArchive`. Node only (it calls the
 * ledger); the HTTP routes are in `http/archive-routes.ts`, the CLI in `cli/commands/archive.ts`.
 *
 * Synchronous, not through the acceptance journal: an archive is one transaction that its client
 * (the CLI, after hours of hashing) waits for, and re-sending the same archive is answered with
 * the anchor already on the ledger (`created: false`), so a client retries safely by itself.
 *
 * @module
 */
import type { ArchiveAnchor } from '../../../chaincode/src/lib/archive-model';
import { ApiError } from '../errors';
import type { Ledger } from '../fabric/client';
import { toApiError } from '../records/service';
import type { ArchiveLedgerAnchor } from './archive-receipt';

/** What a hospital sends to anchor an archive. */
export interface ArchiveRequest {
  readonly archiveId: string;
  /** RFC 6962 root over the archive's files, 64 lowercase hex. */
  readonly root: string;
  /** Number of files under the root. */
  readonly count: number;
  readonly category?: string;
}

/** The answer to an anchoring: the ledger's archive, whether this call wrote it, and its block. */
export interface AnchoredArchive {
  readonly archive: ArchiveAnchor;
  readonly created: boolean;
  /** The block of the anchoring transaction (decimal); absent when a re-send's block could not be found. */
  readonly blockNumber?: string;
}

const decoder = new TextDecoder();

/** The ledger side of archives for one organisation's gateway. */
export class ArchiveLedger {
  constructor(private readonly ledger: Ledger) {}

  /**
   * Anchors the archive (one transaction). A re-send of the same archive answers the stored one
   * with the block of its original transaction; another root under the same id is 409 ARCHIVE_EXISTS.
   */
  async anchor(request: ArchiveRequest): Promise<AnchoredArchive> {
    const body = { archiveId: request.archiveId, root: request.root, count: request.count, ...(request.category !== undefined ? { category: request.category } : {}) };
    try {
      const committed = await this.ledger.submit('Archives:anchorArchive', JSON.stringify(body));
      const out = JSON.parse(decoder.decode(committed.result)) as { archive: ArchiveAnchor; created: boolean };
      if (out.created) return { ...out, blockNumber: committed.blockNumber.toString() };
      // Anchored before: the block of the transaction that did it, not of this no-op one.
      const block = await this.ledger.blockOfTransaction?.(out.archive.txId).catch(() => undefined);
      return { ...out, ...(block !== undefined ? { blockNumber: block.toString() } : {}) };
    } catch (err) {
      throw toApiError(err);
    }
  }

  /** The archive `archiveId` of `issuer` as the ledger holds it. @throws ApiError 404 ARCHIVE_NOT_FOUND */
  async read(issuer: string, archiveId: string): Promise<ArchiveAnchor> {
    let archive: ArchiveAnchor | null;
    try {
      archive = JSON.parse(decoder.decode(await this.ledger.evaluate('Archives:readArchive', issuer, archiveId))) as ArchiveAnchor | null;
    } catch (err) {
      throw toApiError(err);
    }
    if (!archive) throw new ApiError(404, 'ARCHIVE_NOT_FOUND', `${issuer} has anchored no archive ${archiveId}.`);
    return archive;
  }
}

/** Where an anchored archive is, as its receipts name it. */
export function ledgerAnchorOf(anchored: AnchoredArchive): ArchiveLedgerAnchor {
  const { archive, blockNumber } = anchored;
  if (blockNumber === undefined) throw new ApiError(502, 'LEDGER_ERROR', `The block of transaction ${archive.txId} could not be found.`);
  return { issuer: archive.issuer, archiveId: archive.archiveId, txId: archive.txId, blockNumber, anchoredAt: archive.anchoredAt };
}
