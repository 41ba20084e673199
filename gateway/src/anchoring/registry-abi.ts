/**
 * The read-only slice of the AnchorRegistry ABI, in ethers' human-readable form. Browser-safe.
 *
 * Why a copy in code: a receipt verifier running in a browser (or anywhere without the repo's
 * Hardhat artifacts) still has to call the registry's views. The writing client in `registry.ts`
 * loads the full ABI from the compiled artifact instead, and a unit test checks that every line
 * here is in that artifact, so the two cannot drift apart.
 *
 * @module
 */

/** Views, the checkpoint event and the custom errors the views can raise. */
export const ANCHOR_REGISTRY_VIEW_ABI: readonly string[] = Object.freeze([
  'function channel() view returns (string)',
  'function checkpointCount() view returns (uint256)',
  'function checkpointAt(uint256 index) view returns ((uint64 treeSize, uint64 fabricBlockHeight, uint64 timestamp, bytes32 root))',
  'function latestCheckpoint() view returns ((uint64 treeSize, uint64 fabricBlockHeight, uint64 timestamp, bytes32 root))',
  'function checkpointIndexForSize(uint64 treeSize) view returns (uint256)',
  'function firstCheckpointCovering(uint64 treeSize) view returns (uint256)',
  'function isAnchorer(address account) view returns (bool)',
  'event CheckpointRecorded(uint256 indexed index, uint64 indexed treeSize, bytes32 root, uint64 fabricBlockHeight, address indexed anchorer)',
  'error AnchorRegistryCheckpointNotFound(uint256 index)',
  'error AnchorRegistryNoCheckpoints()',
  'error AnchorRegistryTreeSizeNotFound(uint64 treeSize)',
]);

/** A checkpoint as the registry stores it. */
export interface OnChainCheckpoint {
  /** Position of the checkpoint in the registry. */
  readonly index: bigint;
  /** Number of leaves the root commits to. */
  readonly treeSize: bigint;
  /** Fabric block height the tree head was taken at. */
  readonly fabricBlockHeight: bigint;
  /** `block.timestamp` of the recording transaction. */
  readonly timestamp: bigint;
  /** The RFC 6962 root (32 bytes). */
  readonly root: Uint8Array;
}
