/**
 * Issues receipts of the anchor log (Node: reads the log and asks the registry). The format and
 * the verifier are in the browser-safe `receipt.ts`.
 *
 * A receipt is issued against the earliest on-chain checkpoint that covers the leaf, so the
 * receipt of a leaf never changes once issued and its proof is as short as it gets. Before any
 * checkpoint covers the leaf the issuer refuses with RECEIPT_PENDING (the gateway answers
 * "pending"). It never issues a receipt that would not verify: the log's root at the
 * checkpoint's size must equal the on-chain root, or the issuer refuses with CHECKPOINT_FORK.
 *
 * @module
 */
import { bytesEqual, bytesToHex, type MerkleTree } from '../merkle';
import { AnchoringError } from './errors';
import { parseLeaf } from './leaf';
import type { AnchorLog } from './log';
import { RECEIPT_VERSION, type Receipt, type ReceiptCheckpoint } from './receipt';
import type { CheckpointTransaction, RegistryReader } from './registry';

const HASH_SIZE = 32;

/** What {@link buildReceipt} needs: the leaf, the log's tree, and the checkpoint to prove against. */
export interface BuildReceiptInput {
  /** Canonical leaf bytes of the leaf (line `leafIndex` of the log's data file). */
  readonly leafBytes: Uint8Array;
  readonly leafIndex: number;
  /** The log's tree; must hold at least `checkpoint.treeSize` leaves. */
  readonly tree: MerkleTree;
  /** The checkpoint the proof leads to (its `root` must be the tree's root at its size). */
  readonly checkpoint: ReceiptCheckpoint;
}

/**
 * Builds a receipt from local data (no I/O): the inclusion proof of `leafIndex` at the
 * checkpoint's tree size. Used by {@link ReceiptIssuer}, and directly where the checkpoint is
 * already known.
 *
 * @throws AnchoringError CHECKPOINT_FORK (tree root at that size differs from the checkpoint's),
 *   INVALID_ARGUMENT (leaf or size out of range), LEAF_INVALID, LOG_CORRUPT (leaf bytes do not
 *   hash to the tree's leaf)
 */
export function buildReceipt(input: BuildReceiptInput): Receipt {
  const { tree, leafIndex, checkpoint } = input;
  const size = checkpoint.treeSize;
  if (!Number.isSafeInteger(size) || size < 1 || size > tree.size) {
    throw new AnchoringError('INVALID_ARGUMENT', `the checkpoint's tree size ${size} is not within the log's ${tree.size} leaves.`);
  }
  if (!Number.isSafeInteger(leafIndex) || leafIndex < 0 || leafIndex >= size) {
    throw new AnchoringError('INVALID_ARGUMENT', `leaf ${leafIndex} is not covered by the checkpoint of ${size} leaves.`);
  }
  const root = tree.rootAt(size);
  if (bytesToHex(root) !== checkpoint.root) {
    throw new AnchoringError('CHECKPOINT_FORK', `The log's root at size ${size} differs from the checkpoint's root; no receipt is issued.`, {
      details: { treeSize: size, localRoot: bytesToHex(root), checkpointRoot: checkpoint.root },
    });
  }
  const leaf = parseLeaf(input.leafBytes);
  if (!bytesEqual(tree.hasher.hashLeaf(input.leafBytes), tree.leafHash(leafIndex))) {
    throw new AnchoringError('LOG_CORRUPT', `The data of leaf ${leafIndex} does not hash to the tree's leaf ${leafIndex}.`, {
      details: { leafIndex },
    });
  }
  const flat = tree.inclusionProofFlat(leafIndex, size);
  const inclusionProof: string[] = [];
  for (let o = 0; o < flat.length; o += HASH_SIZE) inclusionProof.push(bytesToHex(flat.subarray(o, o + HASH_SIZE)));
  return { version: RECEIPT_VERSION, leaf, leafIndex, treeSize: size, inclusionProof, checkpoint };
}

/** Converts an on-chain integer to a JSON number, refusing values a receipt cannot carry exactly. */
function safeNumber(value: bigint, what: string): number {
  if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new AnchoringError('INVALID_ARGUMENT', `${what} ${value} does not fit in a receipt (above 2^53).`);
  }
  return Number(value);
}

/**
 * Issues receipts for leaves of a log, proving them against checkpoints read from the registry.
 *
 * @example
 * ```ts
 * const issuer = new ReceiptIssuer(log, registry);
 * const receipt = await issuer.issue(leafIndex); // throws RECEIPT_PENDING until checkpointed
 * ```
 */
export class ReceiptIssuer {
  readonly #log: AnchorLog;
  readonly #registry: RegistryReader;
  /** Checkpoints never change once recorded, so where they were recorded is cached by size. */
  readonly #transactions = new Map<bigint, CheckpointTransaction | undefined>();

  constructor(log: AnchorLog, registry: RegistryReader) {
    this.#log = log;
    this.#registry = registry;
  }

  /**
   * The receipt of leaf `leafIndex`, against the earliest checkpoint covering it.
   *
   * @throws AnchoringError RECEIPT_PENDING (no checkpoint covers it yet, or this log has not yet
   *   caught up with the checkpoint), CHECKPOINT_FORK, INVALID_ARGUMENT, REGISTRY_UNAVAILABLE
   */
  async issue(leafIndex: number): Promise<Receipt> {
    if (!Number.isSafeInteger(leafIndex) || leafIndex < 0 || leafIndex >= this.#log.size) {
      throw new AnchoringError('INVALID_ARGUMENT', `leaf index ${leafIndex} is not below the log size ${this.#log.size}.`);
    }
    const onChain = await this.#registry.firstCheckpointCovering(BigInt(leafIndex + 1));
    if (!onChain) {
      throw new AnchoringError('RECEIPT_PENDING', `No checkpoint covers leaf ${leafIndex} yet; the receipt will be available after the next checkpoint.`, {
        details: { leafIndex },
      });
    }
    const treeSize = safeNumber(onChain.treeSize, 'the checkpoint tree size');
    if (treeSize > this.#log.size) {
      throw new AnchoringError('RECEIPT_PENDING', `The covering checkpoint has ${treeSize} leaves but this log holds ${this.#log.size} so far.`, {
        details: { leafIndex, treeSize, logSize: this.#log.size },
      });
    }
    let tx = this.#transactions.get(onChain.treeSize);
    if (!this.#transactions.has(onChain.treeSize)) {
      tx = await this.#registry.checkpointTransaction(onChain.treeSize);
      this.#transactions.set(onChain.treeSize, tx);
    }
    const checkpoint: ReceiptCheckpoint = {
      treeSize,
      root: bytesToHex(onChain.root),
      fabricBlockHeight: safeNumber(onChain.fabricBlockHeight, 'the Fabric block height'),
      chainId: safeNumber(this.#registry.chainId, 'the chain id'),
      contract: this.#registry.address.toLowerCase(),
      ...(tx ? { evmTxHash: tx.txHash.toLowerCase(), evmBlockNumber: tx.blockNumber } : {}),
    };
    const [tree, leafBytes] = await Promise.all([this.#log.tree(), this.#log.leafBytes(leafIndex)]);
    return buildReceipt({ leafBytes, leafIndex, tree, checkpoint });
  }

  /**
   * The receipt of the leaf anchoring `docHash` (scans the log: see {@link AnchorLog.findByDocHash}).
   *
   * @throws AnchoringError LEAF_NOT_FOUND, and as {@link issue}
   */
  async issueForDocHash(docHash: string): Promise<Receipt> {
    const index = await this.#log.findByDocHash(docHash);
    if (index === undefined) {
      throw new AnchoringError('LEAF_NOT_FOUND', 'No anchor of this document hash is in the log (yet).', { details: { docHash } });
    }
    return this.issue(index);
  }
}
