import { Context, Info, Returns, Transaction } from 'fabric-contract-api';
import { ChaincodeError } from '../lib/errors';
import { canonicalJson, fromBytes, toBytes } from '../lib/canonical-json';
import { docHashKey, KEY_TYPES, orgPolicy, recordHeadKey, recordVersionKey, restrictToOrg } from '../lib/keys';
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

import { MAX_BATCH, RECORDS_EVENT, RETRACTION_REASONS, type AnchorBatchAnswer, type AnchorResult, type RecordAnchor, type RecordStatus } from '../lib/record-model';
import { getStates, StateWrites } from '../lib/state-batch';

export { MAX_BATCH, RETRACTION_REASONS, expandAnchorResults, type AnchorBatchAnswer, type AnchorResult, type RecordAnchor, type RecordStatus, type RetractionReason } from '../lib/record-model';

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

/** What anchoring one record came to, inside the chaincode. */
type Outcome = { status: 'created'; anchor: RecordAnchor } | { status: 'existing'; anchor: RecordAnchor } | { status: 'refused'; error: ChaincodeError };

/**
 * Pointer to a record's latest version, so amend and retract are single-key reads. Written from
 * the first amendment or retraction on; a record without one is at version 1.
 */
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
    const [outcome] = await this.anchorMany(ctx, [{ input, label: 'record' }], false);
    if (outcome!.status === 'refused') throw outcome!.error;
    const anchor = outcome!.anchor;
    this.emit(ctx, outcome!.status === 'created' ? [changeOf('anchored', anchor)] : []);
    return canonicalJson({ anchor, created: outcome!.status === 'created' });
  }

  /**
   * Anchors many new records in one transaction, all or none: the first invalid one fails the
   * whole transaction with a message that names it. The answer is compact (see
   * {@link AnchorBatchAnswer}): a created record's anchor is what was sent plus the answer's
   * issuer, anchoredAt and txId ({@link expandAnchorResults} rebuilds it).
   */
  @Transaction()
  @Returns('string')
  async anchorRecords(ctx: Context, recordsJson: string): Promise<string> {
    return this.anchorList(ctx, recordsJson, false);
  }

  /**
   * Anchors many new records in one transaction, each on its own: a record that is invalid,
   * repeats another of the list, or is refused (DOC_HASH_CLAIMED, RECORD_EXISTS) is answered
   * `refused` with its code and changes nothing, and the others are anchored. Only a list that
   * is not a list of 1 to MAX_BATCH elements fails the transaction. The gateway sends
   * concurrent single anchors together this way.
   */
  @Transaction()
  @Returns('string')
  async anchorEach(ctx: Context, recordsJson: string): Promise<string> {
    return this.anchorList(ctx, recordsJson, true);
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

  /**
   * Every version of each of up to MAX_BATCH records of one issuer, in one query: an auditor
   * (or an operator after a fault) checks many records at once, e.g. through the `peer` CLI.
   * A record that is not anchored answers an empty list.
   */
  @Transaction(false)
  @Returns('string')
  async recordHistories(ctx: Context, issuerArg: string, recordIdsJson: string): Promise<string> {
    const issuer = requireMspId('issuer', issuerArg);
    const list = parseJsonArgument('recordIds', recordIdsJson);
    if (!Array.isArray(list) || list.length === 0 || list.length > MAX_BATCH) {
      throw new ChaincodeError('INVALID_ARGUMENT', `recordIds must be a list of 1 to ${MAX_BATCH} record ids.`);
    }
    const recordIds = list.map((id, i) => requireOpaqueId(`recordIds[${i}]`, id));
    const histories: Record<string, RecordAnchor[]> = {};
    for (const recordId of recordIds) histories[recordId] = await readRecordVersions(ctx, issuer, recordId);
    return canonicalJson(histories);
  }

  /**
   * The latest version of every record of `hospital` anchored under `patientRef`, for the
   * patient's own view. A scan of the hospital's record versions (there is no index by
   * patientRef, so that anchoring stays as it is): fine for a demonstration, linear in the
   * hospital's records; a real deployment wants an index kept by the hospital's gateway.
   */
  @Transaction(false)
  @Returns('string')
  async listPatientRecords(ctx: Context, hospitalArg: string, patientRefArg: string): Promise<string> {
    const hospital = requireMspId('hospital', hospitalArg);
    const patientRef = requireSha256Hex('patientRef', patientRefArg);
    const latest = new Map<string, RecordAnchor>();
    for await (const kv of ctx.stub.getStateByPartialCompositeKey(KEY_TYPES.recordVersion, [hospital])) {
      const anchor = fromBytes<RecordAnchor>(kv.value);
      if (anchor.patientRef !== patientRef) continue;
      const seen = latest.get(anchor.recordId);
      if (!seen || seen.version < anchor.version) latest.set(anchor.recordId, anchor);
    }
    return canonicalJson([...latest.values()].sort((x, y) => (x.anchoredAt < y.anchoredAt ? -1 : x.anchoredAt > y.anchoredAt ? 1 : x.recordId < y.recordId ? -1 : 1)));
  }

  /** Is this exact document anchored, and by whom? One key read, then the anchor. */
  @Transaction(false)
  @Returns('string')
  async lookupByHash(ctx: Context, docHashArg: string): Promise<string> {
    const docHash = requireSha256Hex('docHash', docHashArg);
    return canonicalJson((await this.anchorOfHash(ctx, docHash)) ?? null);
  }

  private async anchorList(ctx: Context, recordsJson: string, each: boolean): Promise<string> {
    const list = parseJsonArgument('records', recordsJson);
    if (!Array.isArray(list) || list.length === 0 || list.length > MAX_BATCH) {
      throw new ChaincodeError('INVALID_ARGUMENT', `records must be a list of 1 to ${MAX_BATCH} records.`);
    }
    const items: ({ input: NewRecord; label: string } | ChaincodeError)[] = [];
    // A transaction does not read its own writes, so duplicates inside the batch are caught here.
    const seenHashes = new Map<string, number>();
    const seenIds = new Map<string, number>();
    for (let i = 0; i < list.length; i++) {
      const field = `records[${i}]`;
      try {
        const input = withBatchContext(field, list[i], () => parseNewRecord(field, list[i]));
        const label = `${field} (recordId ${input.recordId})`;
        const hashAt = seenHashes.get(input.docHash);
        if (hashAt !== undefined) throw new ChaincodeError('BATCH_INVALID', `${label} repeats the docHash of records[${hashAt}].`);
        const idAt = seenIds.get(input.recordId);
        if (idAt !== undefined) throw new ChaincodeError('BATCH_INVALID', `${label} repeats the recordId of records[${idAt}].`);
        seenHashes.set(input.docHash, i);
        seenIds.set(input.recordId, i);
        items.push({ input, label });
      } catch (err) {
        if (!each || !(err instanceof ChaincodeError)) throw err;
        items.push(err);
      }
    }
    const outcomes = await this.anchorMany(ctx, items, each);
    this.emit(ctx, outcomes.flatMap((o) => (o.status === 'created' ? [changeOf('anchored', o.anchor)] : [])));
    const results: AnchorResult[] = outcomes.map((o) =>
      o.status === 'created' ? { status: 'created' } : o.status === 'existing' ? { status: 'existing', anchor: o.anchor } : { status: 'refused', code: o.error.code, message: o.error.message.slice(o.error.code.length + 2) },
    );
    const count = (status: AnchorResult['status']) => results.filter((r) => r.status === status).length;
    const answer: AnchorBatchAnswer = {
      issuer: ctx.clientIdentity.getMSPID(),
      anchoredAt: txTimeIso(ctx),
      txId: ctx.stub.getTxID(),
      anchored: count('created'),
      existing: count('existing'),
      ...(each ? { refused: count('refused') } : {}),
      results,
    };
    return canonicalJson(answer);
  }

  /**
   * Anchors version 1 of each new record: two keys per record (the version and the hash entry),
   * all read in one message to the peer, all written in one (lib/state-batch). An item that is
   * already an error stays refused. Not `each`: the first refusal is thrown. A document the same
   * issuer already anchored is `existing`, with its anchor.
   */
  private async anchorMany(ctx: Context, items: readonly ({ input: NewRecord; label: string } | ChaincodeError)[], each: boolean): Promise<Outcome[]> {
    const issuer = ctx.clientIdentity.getMSPID();
    const outcomes: (Outcome | { status: 'pending' })[] = items.map((item) => (item instanceof ChaincodeError ? { status: 'refused', error: item } : { status: 'pending' }));
    const refuse = (i: number, error: ChaincodeError) => {
      if (!each) throw error;
      outcomes[i] = { status: 'refused', error };
    };
    const itemAt = (i: number) => items[i] as { input: NewRecord; label: string };

    // One read of every document's hash entry and every record's first version.
    const live = outcomes.flatMap((o, i) => (o.status === 'pending' ? [i] : []));
    const found = await getStates(ctx, [
      ...live.map((i) => docHashKey(ctx, itemAt(i).input.docHash)),
      ...live.map((i) => recordVersionKey(ctx, issuer, itemAt(i).input.recordId, 1)),
    ]);
    const entries = live.map((_, n) => (found[n]!.length > 0 ? fromBytes<HashEntry>(found[n]!) : undefined));
    const taken = live.map((_, n) => found[live.length + n]!.length > 0);

    // Documents already anchored: the same issuer's are answered as they are, another's refused.
    const known = live.flatMap((i, n) => (entries[n] ? [{ i, entry: entries[n]! }] : []));
    const anchors = await getStates(ctx, known.map(({ entry }) => recordVersionKey(ctx, entry.issuer, entry.recordId, entry.version)));
    known.forEach(({ i }, n) => {
      const existing = fromBytes<RecordAnchor>(anchors[n]!);
      if (existing.issuer !== issuer) refuse(i, new ChaincodeError('DOC_HASH_CLAIMED', `${itemAt(i).label}: this document is already anchored by ${existing.issuer}.`));
      else outcomes[i] = { status: 'existing', anchor: existing };
    });

    // New documents: refused when the issuer already has the record id, else version 1 and the
    // hash entry are written (no head pointer: a record without one is at version 1).
    const anchoredAt = txTimeIso(ctx);
    const txId = ctx.stub.getTxID();
    const policy = orgPolicy(issuer);
    const writes = new StateWrites();
    live.forEach((i, n) => {
      if (outcomes[i]!.status !== 'pending') return;
      const { input, label } = itemAt(i);
      if (taken[n]) {
        refuse(i, new ChaincodeError('RECORD_EXISTS', `${label}: record ${input.recordId} already exists; amend it to issue a new version.`));
        return;
      }
      const anchor: RecordAnchor = { ...input, version: 1, issuer, status: 'active', anchoredAt, txId };
      writes.put(recordVersionKey(ctx, issuer, input.recordId, 1), toBytes(anchor), policy);
      writes.put(docHashKey(ctx, input.docHash), toBytes({ issuer, recordId: input.recordId, version: 1 } satisfies HashEntry), policy);
      outcomes[i] = { status: 'created', anchor };
    });
    await writes.flush(ctx);
    return outcomes as Outcome[];
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
  // No head pointer: the record is at version 1, or not anchored at all.
  const version = headBytes.length > 0 ? fromBytes<RecordHead>(headBytes).version : 1;
  const anchor = await readAnchorVersion(ctx, issuer, recordId, version);
  if (!anchor) {
    throw new ChaincodeError('RECORD_NOT_FOUND', headBytes.length > 0 ? `record ${recordId} of ${issuer} has no version ${version}.` : `record ${recordId} of ${issuer} is not anchored.`);
  }
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
