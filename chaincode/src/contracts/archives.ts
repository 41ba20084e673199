import { Context, Info, Returns, Transaction } from 'fabric-contract-api';
import { ChaincodeError } from '../lib/errors';
import { canonicalJson, fromBytes, toBytes } from '../lib/canonical-json';
import { restrictToOrg } from '../lib/keys';
import { MedprovContract } from '../lib/policy';
import { txTimeIso } from '../lib/tx-time';
import { parseJsonArgument, requireCode, requireMspId, requireObject, requireOpaqueId, requirePositiveInt, requireSha256Hex } from '../lib/validate';

import { ARCHIVE_KEY_TYPE, ARCHIVES_EVENT, MAX_ARCHIVE_FILES, MAX_ARCHIVE_ID, type ArchiveAnchor } from '../lib/archive-model';

export { ARCHIVE_KEY_TYPE, ARCHIVES_EVENT, MAX_ARCHIVE_FILES, MAX_ARCHIVE_ID, type ArchiveAnchor } from '../lib/archive-model';

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
    archiveId: requireOpaqueId('archive.archiveId', body.archiveId, MAX_ARCHIVE_ID),
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
    const archiveId = requireOpaqueId('archiveId', archiveIdArg, MAX_ARCHIVE_ID);
    const bytes = await ctx.stub.getState(archiveKey(ctx, issuer, archiveId));
    return canonicalJson(bytes.length > 0 ? fromBytes<ArchiveAnchor>(bytes) : null);
  }
}
