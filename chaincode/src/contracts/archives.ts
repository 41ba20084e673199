import { Context, Info, Returns, Transaction } from 'fabric-contract-api';
import { ChaincodeError } from '../lib/errors';
import { canonicalJson, fromBytes, toBytes } from '../lib/canonical-json';
import { restrictToOrg } from '../lib/keys';
import { MedprovContract } from '../lib/policy';
import { txTimeIso } from '../lib/tx-time';
import { parseJsonArgument, requireCode, requireMspId, requireObject, requireOpaqueId, requirePositiveInt, requireSha256Hex } from '../lib/validate';

/**
 * Composite-key type of an archive anchor: issuer, archiveId. Prefixed like every medprov key
 * (see KEY_TYPES in lib/keys.ts), kept here because no other contract reads it.
 */
export const ARCHIVE_KEY_TYPE = 'medprov.archive';

/** The one event an archive anchor emits (Fabric keeps one event per transaction). */
export const ARCHIVES_EVENT = 'medprov.ArchiveAnchored';

/** Largest archive: the gateway's Merkle tree holds at most 2^30 leaves. */
export const MAX_ARCHIVE_FILES = 2 ** 30;

/**
 * A folder anchored as one Merkle root: what the ledger keeps of an archive. No file names, no
 * folder name, no patient: the root commits to every file's path and SHA-256, and the per-file
 * receipts (kept by the hospital, handed to whoever needs one) prove a file's place in it.
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

/** What `anchorArchive` takes. */
interface NewArchive {
  archiveId: string;
  root: string;
  count: number;
  category?: string;
}

function archiveKey(ctx: Context, issuer: string, archiveId: string): string {
  return ctx.stub.createCompositeKey(ARCHIVE_KEY_TYPE, [issuer, archiveId]);
}

function parseNewArchive(value: unknown): NewArchive {
  const body = requireObject('archive', value, ['archiveId', 'root', 'count', 'category']);
  return {
    archiveId: requireOpaqueId('archive.archiveId', body.archiveId),
    root: requireSha256Hex('archive.root', body.root),
    count: requirePositiveInt('archive.count', body.count, MAX_ARCHIVE_FILES),
    ...(body.category === undefined ? {} : { category: requireCode('archive.category', body.category) }),
  };
}

/**
 * Archives: a hospital anchors a whole folder (a million scans, a year of reports) with one
 * transaction that writes one key, however many files it holds. An archive is not a record: it
 * has no patientRef (it may hold many patients' documents, or none), no versions, no
 * retraction. Hospitals only, like records: the archive is the hospital's own documents.
 */
@Info({ title: 'Archives', description: 'A folder of files anchored as one Merkle root, one transaction per archive' })
export class ArchivesContract extends MedprovContract {
  constructor() {
    super('Archives');
  }

  /**
   * Anchors `{ archiveId, root, count, category? }` for the caller. Sending the same archive
   * again returns the stored one (`created: false`) and writes nothing, so a retried request
   * never fails; a different root, count or category under the same id is ARCHIVE_EXISTS. The
   * key carries a key-level endorsement policy of the hospital. Emits {@link ARCHIVES_EVENT}
   * with the stored anchor when it writes.
   */
  @Transaction()
  @Returns('string')
  async anchorArchive(ctx: Context, archiveJson: string): Promise<string> {
    const input = parseNewArchive(parseJsonArgument('archive', archiveJson));
    const issuer = ctx.clientIdentity.getMSPID();
    const key = archiveKey(ctx, issuer, input.archiveId);
    const existing = await ctx.stub.getState(key);
    if (existing.length > 0) {
      const archive = fromBytes<ArchiveAnchor>(existing);
      if (archive.root === input.root && archive.count === input.count && archive.category === input.category) {
        return canonicalJson({ archive, created: false });
      }
      throw new ChaincodeError(
        'ARCHIVE_EXISTS',
        `archive ${input.archiveId} of ${issuer} is already anchored with another ${archive.root !== input.root ? 'root' : archive.count !== input.count ? 'count' : 'category'}; an archive never changes, anchor the new content under a new archiveId.`,
      );
    }
    const archive: ArchiveAnchor = { ...input, issuer, anchoredAt: txTimeIso(ctx), txId: ctx.stub.getTxID() };
    await ctx.stub.putState(key, toBytes(archive));
    await restrictToOrg(ctx, key, issuer);
    ctx.stub.setEvent(ARCHIVES_EVENT, toBytes(archive));
    return canonicalJson({ archive, created: true });
  }

  /** The archive `archiveId` of `issuer`, or `null`. */
  @Transaction(false)
  @Returns('string')
  async readArchive(ctx: Context, issuerArg: string, archiveIdArg: string): Promise<string> {
    const issuer = requireMspId('issuer', issuerArg);
    const archiveId = requireOpaqueId('archiveId', archiveIdArg);
    const bytes = await ctx.stub.getState(archiveKey(ctx, issuer, archiveId));
    return canonicalJson(bytes.length > 0 ? fromBytes<ArchiveAnchor>(bytes) : null);
  }
}
