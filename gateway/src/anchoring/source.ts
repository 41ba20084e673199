/**
 * Where the checkpointer reads record anchors from: the ledger, in commit order.
 *
 * Only the interface lives here. The ledger's implementation is {@link LedgerAnchorSource} in
 * `ledger-source.ts` (Node only): the chaincode's `medprov.RecordsChanged` events through the
 * gateway's `LedgerEvents` seam, each anchored or amended record read back by key. Retractions
 * are not yielded: they change an anchor's status, not the set of anchors.
 *
 * @module
 */
import type { RecordAnchor } from '../../../chaincode/src/contracts/records';
import { AnchoringError } from './errors';

/**
 * A point in the ledger's total order of anchors: block, transaction within the block, and
 * anchor within the transaction (one `anchorRecords` transaction anchors many records).
 * Ordered lexicographically by (blockNumber, txIndex, anchorIndex).
 */
export interface LedgerPosition {
  /** Fabric block number. */
  readonly blockNumber: bigint;
  /** Index of the transaction within its block. */
  readonly txIndex: number;
  /** Index of the anchor among the ones its transaction created. */
  readonly anchorIndex: number;
}

/** One anchor as the ledger committed it. */
/** The fields of a record anchor that the anchor log's leaf holds. */
export type AnchoredFields = Pick<RecordAnchor, 'docHash' | 'issuer' | 'recordId' | 'version' | 'anchoredAt' | 'txId'>;

export interface SourcedAnchor {
  /** Where it sits in commit order; strictly increasing along a source's output. */
  readonly position: LedgerPosition;
  /** What a leaf holds of the anchor, as the ledger stored it (a full RecordAnchor will do). */
  readonly anchor: AnchoredFields;
  /** The block the anchoring transaction committed in (equal to `position.blockNumber`). */
  readonly blockNumber: bigint;
}

/** Options of {@link AnchorSource.anchorsAfter}. */
export interface AnchorsAfterOptions {
  /** Aborts a live subscription; the iterable then ends (or throws an AbortError). */
  readonly signal?: AbortSignal;
}

/**
 * The ledger's record anchors in commit order.
 *
 * Contract for implementations:
 * - yield every anchor with a position strictly after `after` (all anchors when `after` is
 *   `undefined`), in strictly increasing position order, each exactly once per call;
 * - only anchors of valid, committed transactions;
 * - the iterable may end when it has caught up with the ledger (the checkpointer's `runOnce`
 *   relies on that) or keep waiting for new blocks (`start` handles both: it calls again
 *   after an end, from the last position it consumed).
 */
export interface AnchorSource {
  /** Anchors committed after `after`, in commit order. */
  anchorsAfter(after: LedgerPosition | undefined, options?: AnchorsAfterOptions): AsyncIterable<SourcedAnchor>;
}

/** Negative, zero or positive as `a` is before, at or after `b` in commit order. */
export function comparePositions(a: LedgerPosition, b: LedgerPosition): number {
  if (a.blockNumber !== b.blockNumber) return a.blockNumber < b.blockNumber ? -1 : 1;
  if (a.txIndex !== b.txIndex) return a.txIndex - b.txIndex;
  return a.anchorIndex - b.anchorIndex;
}

/**
 * Checks a position's shape (as read from a file or handed in by a source).
 *
 * @throws AnchoringError INVALID_ARGUMENT
 */
export function checkPosition(position: LedgerPosition, what = 'position'): LedgerPosition {
  const ok =
    position !== null &&
    typeof position === 'object' &&
    typeof position.blockNumber === 'bigint' &&
    position.blockNumber >= 0n &&
    Number.isSafeInteger(position.txIndex) &&
    position.txIndex >= 0 &&
    Number.isSafeInteger(position.anchorIndex) &&
    position.anchorIndex >= 0;
  if (!ok) {
    throw new AnchoringError(
      'INVALID_ARGUMENT',
      `${what} must have a non-negative bigint blockNumber and non-negative integer txIndex and anchorIndex.`,
    );
  }
  return position;
}

/** A position as JSON-safe data (block number as a decimal string). */
export interface LedgerPositionJson {
  readonly blockNumber: string;
  readonly txIndex: number;
  readonly anchorIndex: number;
}

/** Converts a position to JSON-safe data. */
export function positionToJson(p: LedgerPosition): LedgerPositionJson {
  return { blockNumber: p.blockNumber.toString(), txIndex: p.txIndex, anchorIndex: p.anchorIndex };
}

/**
 * Reads a position back from {@link positionToJson} output.
 *
 * @throws AnchoringError INVALID_ARGUMENT
 */
export function positionFromJson(value: unknown, what = 'position'): LedgerPosition {
  const v = value as Partial<LedgerPositionJson> | null;
  if (v === null || typeof v !== 'object' || typeof v.blockNumber !== 'string' || !/^(0|[1-9][0-9]*)$/.test(v.blockNumber)) {
    throw new AnchoringError('INVALID_ARGUMENT', `${what} must have a decimal blockNumber string.`);
  }
  return checkPosition({ blockNumber: BigInt(v.blockNumber), txIndex: v.txIndex as number, anchorIndex: v.anchorIndex as number }, what);
}
