/**
 * The checkpointer's {@link AnchorSource} on the real ledger: the chaincode's
 * `medprov.RecordsChanged` events, in commit order, through the gateway's {@link LedgerEvents}
 * seam. The event of a valid transaction carries every field a leaf holds (the chaincode takes
 * them from the anchor it stores), so nothing is read back: one evaluate per anchor made every
 * peer do a second transaction's work for each record, and the log lag far behind batches.
 *
 * Positions. Fabric's chaincode events carry a block number and a transaction id, not the
 * transaction's index in its block; so `txIndex` here is the ordinal of the event among this
 * chaincode's events in that block (0, 1, …). That order is fixed by the block, so it is the same
 * on every read and every peer, and it orders anchors exactly as the transactions do. A log
 * written by this source must keep being fed by it (or by one that numbers the same way).
 * `anchorIndex` is the change's index among the anchored/amended changes of its transaction.
 *
 * Archives (`Archives:anchorArchive`, event `medprov.ArchiveAnchored`) are anchors too: the root
 * is the leaf's docHash, the archive is named `archive:<archiveId>` as its recordId, version 1, so
 * the archive's receipts can chain through the log to the EVM checkpoints (archive-receipt.ts).
 *
 * A consented access (`Access:accessRecord` permitted by a grant; event `medprov.RecordAccessed`
 * with `consentedAccess`) is a leaf too: the SHA-256 of its canonical JSON as docHash, the
 * recipient as issuer, `access:<txId>` as recordId, version 1 (access-receipt.ts). Accesses that
 * consent did not permit, and disclosures, are not leaves.
 *
 * Resuming after a position re-reads its whole block (events carry no index to start from) and
 * skips what is at or before it. Retractions are not yielded (see {@link AnchorSource}).
 *
 * The source is live: after catching up it waits for new blocks until its signal aborts, so it
 * suits {@link Checkpointer.start}. With `untilHeight` (and a ledger that tells its height) each
 * call reads the channel's height first and ends once it has yielded the anchors of the blocks
 * below it, so `runOnce` can catch up and checkpoint once (an operator's command, a test).
 * Events only come for blocks holding an event of this chaincode, so the end is known for sure
 * when an event of a block at or beyond the height arrives (it is not yielded: a later call reads
 * it); when none does (the last blocks hold no event of this chaincode, or nothing was committed
 * since), the call ends after `quietMs` without an event. That may end early during a pause in a
 * long backlog; it only leaves anchors to the next call.
 *
 * @module
 */
import { RECORDS_EVENT } from '../../../chaincode/src/lib/record-model';
import { ARCHIVE_LEAF_PREFIX, ARCHIVES_EVENT, type ArchiveAnchor } from '../../../chaincode/src/lib/archive-model';
import { ACCESS_EVENT } from '../../../chaincode/src/lib/consent-model';
import { consentedAccessLeafFields, parseConsentedAccess } from './access-receipt';
import type { Ledger, LedgerEvent, LedgerEvents } from '../fabric/client';
import { AnchoringError } from './errors';
import { comparePositions, type AnchorsAfterOptions, type AnchorSource, type AnchoredFields, type LedgerPosition, type SourcedAnchor } from './source';

/** What this source reads of a change in the chaincode's record-change event. */
interface RecordChange extends AnchoredFields {
  kind: 'anchored' | 'amended' | 'retracted';
}

/** Options of {@link LedgerAnchorSource}. */
export interface LedgerAnchorSourceOptions {
  /** End each call at the channel's height read when it starts (see the module's notes); the ledger must have `height`. */
  readonly untilHeight?: boolean;
  /** With `untilHeight`: end after this long without an event (default 2 s). */
  readonly quietMs?: number;
}

const decoder = new TextDecoder();

/** Record anchors from the ledger's events. */
export class LedgerAnchorSource implements AnchorSource {
  constructor(
    private readonly events: LedgerEvents,
    private readonly ledger: Pick<Ledger, 'evaluate' | 'height'>,
    private readonly options: LedgerAnchorSourceOptions = {},
  ) {}

  async *anchorsAfter(after: LedgerPosition | undefined, options: AnchorsAfterOptions = {}): AsyncGenerator<SourcedAnchor> {
    const { signal } = options;
    const fromBlock = after?.blockNumber ?? 0n;
    if (!this.options.untilHeight) {
      yield* this.anchorsOf(this.events.events({ fromBlock, signal }), after);
      return;
    }
    if (!this.ledger.height) throw new AnchoringError('INVALID_ARGUMENT', 'untilHeight needs a ledger that tells its height.');
    const height = await this.ledger.height();
    // Ends the subscription on the caller's abort, or when the stream stays quiet.
    const ending = new AbortController();
    const abortWithCaller = (): void => ending.abort();
    signal?.addEventListener('abort', abortWithCaller, { once: true });
    const quietMs = this.options.quietMs ?? 2_000;
    let quiet: NodeJS.Timeout | undefined;
    const belowHeight = async function* (events: AsyncIterable<LedgerEvent>): AsyncGenerator<LedgerEvent> {
      quiet = setTimeout(abortWithCaller, quietMs);
      for await (const event of events) {
        clearTimeout(quiet);
        if (event.blockNumber >= height) return;
        yield event;
        quiet = setTimeout(abortWithCaller, quietMs);
      }
    };
    try {
      if (!signal?.aborted) yield* this.anchorsOf(belowHeight(this.events.events({ fromBlock, signal: ending.signal })), after);
    } finally {
      clearTimeout(quiet);
      signal?.removeEventListener('abort', abortWithCaller);
      ending.abort();
    }
  }

  /** The anchors announced by `events`, after `after`. */
  private async *anchorsOf(events: AsyncIterable<LedgerEvent>, after: LedgerPosition | undefined): AsyncGenerator<SourcedAnchor> {
    let block = -1n;
    let ordinal = 0;
    for await (const event of events) {
      if (event.blockNumber !== block) {
        block = event.blockNumber;
        ordinal = 0;
      } else {
        ordinal += 1;
      }
      if (event.eventName === ARCHIVES_EVENT) {
        const position: LedgerPosition = { blockNumber: event.blockNumber, txIndex: ordinal, anchorIndex: 0 };
        if (after && comparePositions(position, after) <= 0) continue;
        yield { position, anchor: archiveAnchorOf(event.payload, event.transactionId), blockNumber: event.blockNumber };
        continue;
      }
      if (event.eventName === ACCESS_EVENT) {
        const access = consentedAccessOf(event.payload, event.transactionId);
        if (!access) continue;
        const position: LedgerPosition = { blockNumber: event.blockNumber, txIndex: ordinal, anchorIndex: 0 };
        if (after && comparePositions(position, after) <= 0) continue;
        yield { position, anchor: access, blockNumber: event.blockNumber };
        continue;
      }
      if (event.eventName !== RECORDS_EVENT) continue;
      const changes = parseChanges(event.payload, event.transactionId);
      let anchorIndex = 0;
      for (const change of changes) {
        if (change.kind === 'retracted') continue;
        const position: LedgerPosition = { blockNumber: event.blockNumber, txIndex: ordinal, anchorIndex };
        anchorIndex += 1;
        if (after && comparePositions(position, after) <= 0) continue;
        if (change.txId !== event.transactionId) {
          throw new AnchoringError(
            'SOURCE_INCONSISTENT',
            `record ${change.issuer}/${change.recordId} v${change.version} was announced by transaction ${event.transactionId} but its change names ${change.txId}.`,
          );
        }
        const { docHash, issuer, recordId, version, anchoredAt, txId } = change;
        yield { position, anchor: { docHash, issuer, recordId, version, anchoredAt, txId }, blockNumber: event.blockNumber };
      }
    }
  }
}

/** An archive's anchor as the log records it: root as docHash, `archive:<archiveId>` as recordId, version 1. */
function archiveAnchorOf(payload: Uint8Array, transactionId: string): AnchoredFields {
  let archive: Partial<ArchiveAnchor> | undefined;
  try {
    archive = JSON.parse(decoder.decode(payload)) as Partial<ArchiveAnchor>;
  } catch {
    archive = undefined;
  }
  if (!archive || typeof archive.root !== 'string' || typeof archive.archiveId !== 'string' || archive.txId !== transactionId) {
    throw new AnchoringError('SOURCE_INCONSISTENT', `the ${ARCHIVES_EVENT} event of transaction ${transactionId} is not the archive that transaction anchored.`);
  }
  return { docHash: archive.root, issuer: String(archive.issuer), recordId: `${ARCHIVE_LEAF_PREFIX}${archive.archiveId}`, version: 1, anchoredAt: String(archive.anchoredAt), txId: archive.txId };
}

/**
 * The leaf fields of the consented access an access event announces (access-receipt.ts), or
 * undefined for an access consent did not permit, and for disclosures.
 */
function consentedAccessOf(payload: Uint8Array, transactionId: string): AnchoredFields | undefined {
  let body: { consentedAccess?: unknown } | undefined;
  try {
    body = JSON.parse(decoder.decode(payload)) as { consentedAccess?: unknown };
  } catch {
    body = undefined;
  }
  if (!body || typeof body !== 'object' || body.consentedAccess === undefined) return undefined;
  let fields: AnchoredFields;
  try {
    fields = consentedAccessLeafFields(parseConsentedAccess('consentedAccess', body.consentedAccess));
  } catch (err) {
    throw new AnchoringError('SOURCE_INCONSISTENT', `the ${ACCESS_EVENT} event of transaction ${transactionId} carries a consented access that is not well-formed: ${(err as Error).message}`);
  }
  if (fields.txId !== transactionId) {
    throw new AnchoringError('SOURCE_INCONSISTENT', `the ${ACCESS_EVENT} event of transaction ${transactionId} names the consented access of ${fields.txId}.`);
  }
  return fields;
}

function parseChanges(payload: Uint8Array, transactionId: string): RecordChange[] {
  let body: unknown;
  try {
    body = JSON.parse(decoder.decode(payload));
  } catch {
    body = undefined;
  }
  const changes = (body as { changes?: unknown } | undefined)?.changes;
  if (!Array.isArray(changes)) {
    throw new AnchoringError('SOURCE_INCONSISTENT', `the ${RECORDS_EVENT} event of transaction ${transactionId} has no list of changes.`);
  }
  return changes as RecordChange[];
}
