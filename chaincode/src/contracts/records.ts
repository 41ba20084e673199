import { Context, Info, Returns, Transaction } from 'fabric-contract-api';
import { ChaincodeError } from '../lib/errors';
import { canonicalJson, fromBytes, toBytes } from '../lib/canonical-json';
import { docHashKey, KEY_TYPES, recordHeadKey, recordVersionKey, restrictToOrg } from '../lib/keys';
import { MedprovContract } from '../lib/policy';
import { txTimeIso } from '../lib/tx-time';
import {
  parseJsonArgument,
  requireCode,
  requireMspId,
  requireObject,
  requireOneOf,
  requireOpaqueId,
  requirePositiveInt,
  requireSha256Hex,
} from '../lib/validate';

import { MAX_BATCH, RECORDS_EVENT, RETRACTION_REASONS, type RecordAnchor, type RecordStatus } from '../lib/record-model';

export { MAX_BATCH, RETRACTION_REASONS, type RecordAnchor, type RecordStatus, type RetractionReason } from '../lib/record-model';

interface NewRecord {
  recordId: string;
  docHash: string;
  patientRef: string;
  category: string;
}

/** What the hash index holds: where the exact document is anchored. */
interface HashEntry {
  issuer: string;
  recordId: string;
  version: number;
}

/** Pointer to a record's latest version, so amend and retract are single-key reads. */
interface RecordHead {
  version: number;
}

/**
 * The change an event announces; the gateway's index and checkpointer follow these. It carries
 * what a verification shows (anchoring time and transaction, the superseded version's hash, the
 * retraction), all taken from the stored anchor, so a follower needs no read of its own.
 */
export interface RecordChange {
  kind: 'anchored' | 'amended' | 'retracted';
  docHash: string;
  issuer: string;
  recordId: string;
  version: number;
  status: RecordStatus;
  anchoredAt: string;
  txId: string;
  /** amended: the previous version's docHash, now superseded by this one. */
  supersedes?: string;
  /** retracted: the retraction as stored. */
  retraction?: RecordAnchor['retraction'];
}

/** The one event name of record changes; the gateway's index and checkpointer follow it. */
export { RECORDS_EVENT };

function parseNewRecord(field: string, value: unknown): NewRecord {
  const body = requireObject(field, value, ['recordId', 'docHash', 'patientRef', 'category']);
  return {
    recordId: requireOpaqueId(`${field}.recordId`, body.recordId),
    docHash: requireSha256Hex(`${field}.docHash`, body.docHash),
    patientRef: requireSha256Hex(`${field}.patientRef`, body.patientRef),
    category: requireCode(`${field}.category`, body.category),
  };
}

/**
 * Record provenance: hospitals anchor the hash of every record version they issue, amend
 * and retract them; every member reads them and checks documents against them.
 */
@Info({ title: 'Records', description: 'Record provenance: anchor, amend, retract, read, history, look-up by hash' })
export class RecordsContract extends MedprovContract {
  constructor() {
    super('Records');
  }

  /**
   * Anchors version 1 of a new record. Anchoring the same document again by the same issuer
   * returns the existing anchor, so a retried request never creates a second one.
   */
  @Transaction()
  @Returns('string')
  async anchorRecord(ctx: Context, recordJson: string): Promise<string> {
    const input = parseNewRecord('record', parseJsonArgument('record', recordJson));
    const outcome = await this.anchorOne(ctx, input, 'record');
    this.emit(ctx, outcome.created ? [changeOf('anchored', outcome.anchor)] : []);
    return canonicalJson(outcome);
  }

  /**
   * Anchors many new records in one transaction. Each is validated on its own; the first
   * invalid one fails the whole transaction with a message that names it.
   */
  @Transaction()
  @Returns('string')
  async anchorRecords(ctx: Context, recordsJson: string): Promise<string> {
    const list = parseJsonArgument('records', recordsJson);
    if (!Array.isArray(list) || list.length === 0 || list.length > MAX_BATCH) {
      throw new ChaincodeError('INVALID_ARGUMENT', `records must be a list of 1 to ${MAX_BATCH} records.`);
    }
    // A transaction does not read its own writes, so duplicates inside the batch are caught here.
    const seenHashes = new Map<string, number>();
    const seenIds = new Map<string, number>();
    const outcomes: { anchor: RecordAnchor; created: boolean }[] = [];
    for (let i = 0; i < list.length; i++) {
      const field = `records[${i}]`;
      const input = withBatchContext(field, list[i], () => parseNewRecord(field, list[i]));
      const hashAt = seenHashes.get(input.docHash);
      if (hashAt !== undefined) {
        throw new ChaincodeError('BATCH_INVALID', `${field} (recordId ${input.recordId}) repeats the docHash of records[${hashAt}].`);
      }
      const idAt = seenIds.get(input.recordId);
      if (idAt !== undefined) {
        throw new ChaincodeError('BATCH_INVALID', `${field} (recordId ${input.recordId}) repeats the recordId of records[${idAt}].`);
      }
      seenHashes.set(input.docHash, i);
      seenIds.set(input.recordId, i);
      outcomes.push(await withBatchContextAsync(field, input.recordId, () => this.anchorOne(ctx, input, field)));
    }
    this.emit(ctx, outcomes.filter((o) => o.created).map((o) => changeOf('anchored', o.anchor)));
    return canonicalJson({
      anchored: outcomes.filter((o) => o.created).length,
      existing: outcomes.filter((o) => !o.created).length,
      anchors: outcomes.map((o) => o.anchor),
    });
  }

  /**
   * Issues a new version of the caller's record; the previous version stays readable,
   * marked superseded. Re-sending the amendment that produced the latest version returns it.
   */
  @Transaction()
  @Returns('string')
  async amendRecord(ctx: Context, amendmentJson: string): Promise<string> {
    const body = requireObject('amendment', parseJsonArgument('amendment', amendmentJson), ['issuer', 'recordId', 'docHash', 'category']);
    const issuer = this.requireOwnRecord(ctx, body.issuer);
    const recordId = requireOpaqueId('amendment.recordId', body.recordId);
    const docHash = requireSha256Hex('amendment.docHash', body.docHash);
    const category = body.category === undefined ? undefined : requireCode('amendment.category', body.category);

    const previous = await this.latest(ctx, issuer, recordId);
    if (previous.docHash === docHash) return canonicalJson({ anchor: previous, created: false });
    if (previous.status === 'retracted') {
      throw new ChaincodeError('RECORD_RETRACTED', `record ${recordId} of ${issuer} is retracted and cannot be amended.`);
    }
    await this.refuseClaimedHash(ctx, docHash, issuer);

    const anchor: RecordAnchor = {
      docHash,
      recordId,
      version: previous.version + 1,
      supersedes: previous.docHash,
      issuer,
      patientRef: previous.patientRef,
      category: category ?? previous.category,
      status: 'active',
      anchoredAt: txTimeIso(ctx),
      txId: ctx.stub.getTxID(),
    };
    const superseded: RecordAnchor = { ...previous, status: 'superseded', supersededBy: docHash };
    await this.store(ctx, superseded);
    await this.store(ctx, anchor);
    await this.index(ctx, anchor);
    this.emit(ctx, [changeOf('amended', anchor)]);
    return canonicalJson({ anchor, created: true });
  }

  /** Retracts the caller's record (its latest version) with a reason code. */
  @Transaction()
  @Returns('string')
  async retractRecord(ctx: Context, issuerArg: string, recordIdArg: string, reasonArg: string): Promise<string> {
    const issuer = this.requireOwnRecord(ctx, issuerArg);
    const recordId = requireOpaqueId('recordId', recordIdArg);
    const reason = requireOneOf('reason', reasonArg, RETRACTION_REASONS);
    const current = await this.latest(ctx, issuer, recordId);
    if (current.status === 'retracted') {
      if (current.retraction?.reason === reason) return canonicalJson({ anchor: current, created: false });
      throw new ChaincodeError('RECORD_RETRACTED', `record ${recordId} of ${issuer} is already retracted (${current.retraction?.reason}).`);
    }
    const retracted: RecordAnchor = {
      ...current,
      status: 'retracted',
      retraction: { reason, at: txTimeIso(ctx), txId: ctx.stub.getTxID() },
    };
    await this.store(ctx, retracted);
    this.emit(ctx, [changeOf('retracted', retracted)]);
    return canonicalJson({ anchor: retracted, created: true });
  }

  /** One version of a record; the latest when version is empty. */
  @Transaction(false)
  @Returns('string')
  async readRecord(ctx: Context, issuerArg: string, recordIdArg: string, versionArg: string): Promise<string> {
    const issuer = requireMspId('issuer', issuerArg);
    const recordId = requireOpaqueId('recordId', recordIdArg);
    if (versionArg === undefined || versionArg === '') return canonicalJson(await this.latest(ctx, issuer, recordId));
    const version = requirePositiveInt('version', /^\d{1,10}$/.test(versionArg) ? Number(versionArg) : NaN);
    const anchor = await this.readAnchor(ctx, issuer, recordId, version);
    if (!anchor) throw new ChaincodeError('RECORD_NOT_FOUND', `record ${recordId} of ${issuer} has no version ${version}.`);
    return canonicalJson(anchor);
  }

  /** Every version of a record, oldest first. */
  @Transaction(false)
  @Returns('string')
  async recordHistory(ctx: Context, issuerArg: string, recordIdArg: string): Promise<string> {
    const issuer = requireMspId('issuer', issuerArg);
    const recordId = requireOpaqueId('recordId', recordIdArg);
    const versions = await readRecordVersions(ctx, issuer, recordId);
    if (versions.length === 0) throw new ChaincodeError('RECORD_NOT_FOUND', `record ${recordId} of ${issuer} is not anchored.`);
    return canonicalJson(versions);
  }

  /** Is this exact document anchored, and by whom? One key read, then the anchor. */
  @Transaction(false)
  @Returns('string')
  async lookupByHash(ctx: Context, docHashArg: string): Promise<string> {
    const docHash = requireSha256Hex('docHash', docHashArg);
    return canonicalJson((await this.anchorOfHash(ctx, docHash)) ?? null);
  }

  private async anchorOne(ctx: Context, input: NewRecord, field: string): Promise<{ anchor: RecordAnchor; created: boolean }> {
    const issuer = ctx.clientIdentity.getMSPID();
    const existing = await this.anchorOfHash(ctx, input.docHash);
    if (existing) {
      if (existing.issuer !== issuer) {
        throw new ChaincodeError('DOC_HASH_CLAIMED', `${field}: this document is already anchored by ${existing.issuer}.`);
      }
      return { anchor: existing, created: false };
    }
    if ((await ctx.stub.getState(recordHeadKey(ctx, issuer, input.recordId))).length > 0) {
      throw new ChaincodeError('RECORD_EXISTS', `${field}: record ${input.recordId} already exists; amend it to issue a new version.`);
    }
    const anchor: RecordAnchor = {
      ...input,
      version: 1,
      issuer,
      status: 'active',
      anchoredAt: txTimeIso(ctx),
      txId: ctx.stub.getTxID(),
    };
    await this.store(ctx, anchor);
    await this.index(ctx, anchor);
    return { anchor, created: true };
  }

  /** Only the issuing organisation changes a record; the issuer named must be the caller. */
  private requireOwnRecord(ctx: Context, issuerArg: unknown): string {
    const issuer = requireMspId('issuer', issuerArg);
    const caller = ctx.clientIdentity.getMSPID();
    if (issuer !== caller) {
      throw new ChaincodeError('FORBIDDEN_NOT_ISSUER', `${caller} cannot change a record issued by ${issuer}.`);
    }
    return issuer;
  }

  private async refuseClaimedHash(ctx: Context, docHash: string, issuer: string): Promise<void> {
    const existing = await this.anchorOfHash(ctx, docHash);
    if (!existing) return;
    throw new ChaincodeError(
      'DOC_HASH_CLAIMED',
      existing.issuer === issuer
        ? `this document is already anchored as version ${existing.version} of record ${existing.recordId}.`
        : `this document is already anchored by ${existing.issuer}.`,
    );
  }

  private async latest(ctx: Context, issuer: string, recordId: string): Promise<RecordAnchor> {
    return readLatestAnchor(ctx, issuer, recordId);
  }

  private async readAnchor(ctx: Context, issuer: string, recordId: string, version: number): Promise<RecordAnchor | undefined> {
    return readAnchorVersion(ctx, issuer, recordId, version);
  }

  private async anchorOfHash(ctx: Context, docHash: string): Promise<RecordAnchor | undefined> {
    const bytes = await ctx.stub.getState(docHashKey(ctx, docHash));
    if (bytes.length === 0) return undefined;
    const entry = fromBytes<HashEntry>(bytes);
    return this.readAnchor(ctx, entry.issuer, entry.recordId, entry.version);
  }

  /** Writes a version and, if it is the newest, the head pointer; both owned by the issuer. */
  private async store(ctx: Context, anchor: RecordAnchor): Promise<void> {
    const versionKey = recordVersionKey(ctx, anchor.issuer, anchor.recordId, anchor.version);
    await ctx.stub.putState(versionKey, toBytes(anchor));
    await restrictToOrg(ctx, versionKey, anchor.issuer);
    if (anchor.status !== 'superseded') {
      const headKey = recordHeadKey(ctx, anchor.issuer, anchor.recordId);
      await ctx.stub.putState(headKey, toBytes({ version: anchor.version } satisfies RecordHead));
      await restrictToOrg(ctx, headKey, anchor.issuer);
    }
  }

  private async index(ctx: Context, anchor: RecordAnchor): Promise<void> {
    const key = docHashKey(ctx, anchor.docHash);
    const entry: HashEntry = { issuer: anchor.issuer, recordId: anchor.recordId, version: anchor.version };
    await ctx.stub.putState(key, toBytes(entry));
    await restrictToOrg(ctx, key, anchor.issuer);
  }

  /** Fabric keeps one event per transaction, so a batch announces all its changes together. */
  private emit(ctx: Context, changes: RecordChange[]): void {
    if (changes.length > 0) ctx.stub.setEvent(RECORDS_EVENT, toBytes({ changes }));
  }
}

/** One version of a record, or undefined. Shared with the Access contract. */
export async function readAnchorVersion(ctx: Context, issuer: string, recordId: string, version: number): Promise<RecordAnchor | undefined> {
  const bytes = await ctx.stub.getState(recordVersionKey(ctx, issuer, recordId, version));
  return bytes.length > 0 ? fromBytes<RecordAnchor>(bytes) : undefined;
}

/** The latest version of a record (via its head pointer), or RECORD_NOT_FOUND. */
export async function readLatestAnchor(ctx: Context, issuer: string, recordId: string): Promise<RecordAnchor> {
  const headBytes = await ctx.stub.getState(recordHeadKey(ctx, issuer, recordId));
  if (headBytes.length === 0) throw new ChaincodeError('RECORD_NOT_FOUND', `record ${recordId} of ${issuer} is not anchored.`);
  const head = fromBytes<RecordHead>(headBytes);
  const anchor = await readAnchorVersion(ctx, issuer, recordId, head.version);
  if (!anchor) throw new ChaincodeError('RECORD_NOT_FOUND', `record ${recordId} of ${issuer} has no version ${head.version}.`);
  return anchor;
}

/** Every version of a record, oldest first (empty when the record is not anchored). */
export async function readRecordVersions(ctx: Context, issuer: string, recordId: string): Promise<RecordAnchor[]> {
  const versions: RecordAnchor[] = [];
  for await (const kv of ctx.stub.getStateByPartialCompositeKey(KEY_TYPES.recordVersion, [issuer, recordId])) {
    versions.push(fromBytes<RecordAnchor>(kv.value));
  }
  return versions;
}

function changeOf(kind: RecordChange['kind'], anchor: RecordAnchor): RecordChange {
  const { docHash, issuer, recordId, version, status, anchoredAt, txId, supersedes, retraction } = anchor;
  return {
    kind,
    docHash,
    issuer,
    recordId,
    version,
    status,
    anchoredAt,
    txId,
    ...(kind === 'amended' && supersedes !== undefined ? { supersedes } : {}),
    ...(kind === 'retracted' && retraction !== undefined ? { retraction } : {}),
  };
}

/** Runs `fn` on batch element `field`; a ChaincodeError it throws names the element. Shared with the Access contract. */
export function withBatchContext<T>(field: string, raw: unknown, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw inBatch(err, field, raw);
  }
}

/** As {@link withBatchContext}, for an element already known by its record id. */
export async function withBatchContextAsync<T>(field: string, recordId: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw inBatch(err, field, { recordId });
  }
}

/** Names the failing element of a batch, keeping the original code. */
function inBatch(err: unknown, field: string, raw: unknown): unknown {
  if (!(err instanceof ChaincodeError)) return err;
  const recordId = raw !== null && typeof raw === 'object' && typeof (raw as { recordId?: unknown }).recordId === 'string'
    ? String((raw as { recordId: string }).recordId).slice(0, 128)
    : undefined;
  const sentence = err.message.slice(err.code.length + 2);
  const prefix = recordId ? `${field} (recordId ${recordId})` : field;
  return sentence.startsWith(field) ? new ChaincodeError(err.code, sentence.replace(field, prefix)) : new ChaincodeError(err.code, `${prefix}: ${sentence}`);
}
