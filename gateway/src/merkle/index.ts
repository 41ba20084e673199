/**
 * Public surface of the medprov Merkle module (RFC 6962 / RFC 9162 transparency log).
 *
 * Everything exported here is browser-safe (depends on `@noble/hashes` only). The faster
 * Node-only hasher is imported separately from `./node-hasher`.
 *
 * @example
 * ```ts
 * import { MerkleTree, hashLeaf, verifyInclusion } from './merkle';
 * import { nodeHasher } from './merkle/node-hasher'; // gateway only
 * const tree = MerkleTree.fromLeafHashes(leaves, nodeHasher);
 * const ok = verifyInclusion(leaves[3], 3, tree.size, tree.inclusionProof(3), tree.root());
 * ```
 *
 * @module
 */
export { bytesEqual, bytesToHex, concatBytes, hexToBytes, isBytes } from './bytes';
export { isMerkleProofError, MerkleProofError, type MerkleProofErrorCode } from './errors';
export {
  createMerkleHasher,
  emptyRoot,
  HASH_SIZE,
  hashChildren,
  hashLeaf,
  LEAF_PREFIX,
  NODE_PREFIX,
  nobleHasher,
  type MerkleHasher,
  type Sha256Fn,
} from './hasher';
export { batchProof, MAX_TREE_SIZE, MerkleTree, merkleRoot, type InclusionProofBatch } from './tree';
export {
  consistencyProofSize,
  flattenProof,
  inclusionProofSize,
  rootFromInclusionProof,
  toProofList,
  verifyConsistency,
  verifyInclusion,
  type Proof,
  type ProofInput,
  type VerifierHasher,
} from './verify';
