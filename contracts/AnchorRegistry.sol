// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/**
 * @title AnchorRegistry
 * @notice Append-only registry of checkpoints of the medprov ledger's anchor log, a
 * Certificate-Transparency-style (RFC 6962) Merkle tree maintained on a Hyperledger
 * Fabric channel. Each checkpoint commits to the tree head (size and root) observed at
 * a given Fabric block height, so that a receipt verifier can later prove inclusion or
 * consistency against a root that the ledger operators can no longer rewrite.
 * @dev Checkpoints are strictly ordered by tree size, which makes the log monotonic and
 * lets size lookups use binary search instead of a separate size-to-index mapping (one
 * fewer storage write per checkpoint). Access control is deliberately minimal and
 * self-contained: one owner (with a two-step handover) curates the set of anchorers.
 */
contract AnchorRegistry {
    /**
     * @notice A recorded Merkle tree head.
     * @dev Field order is chosen for storage packing: the three uint64 fields share one
     * slot and the root takes a second, so each checkpoint costs two fresh slots.
     * @param treeSize Number of leaves in the tree the root commits to.
     * @param fabricBlockHeight Fabric channel block height at which the tree head was taken.
     * @param timestamp `block.timestamp` of the transaction that recorded the checkpoint.
     * @param root RFC 6962 Merkle tree hash of the first `treeSize` leaves.
     */
    struct Checkpoint {
        uint64 treeSize;
        uint64 fabricBlockHeight;
        uint64 timestamp;
        bytes32 root;
    }

    /**
     * @notice Caller is not an authorised anchorer.
     * @param account The caller that was refused.
     */
    error AnchorRegistryUnauthorizedAnchorer(address account);

    /**
     * @notice Caller is not the owner.
     * @param account The caller that was refused.
     */
    error AnchorRegistryUnauthorizedOwner(address account);

    /**
     * @notice Caller is not the pending owner and therefore cannot accept ownership.
     * @param account The caller that was refused.
     */
    error AnchorRegistryUnauthorizedPendingOwner(address account);

    /**
     * @notice Proposed tree size does not exceed the latest checkpoint's tree size.
     * @param latest Tree size of the latest checkpoint (0 when there is none).
     * @param proposed Tree size that was refused.
     */
    error AnchorRegistryTreeSizeNotIncreasing(uint64 latest, uint64 proposed);

    /**
     * @notice Proposed Fabric block height is lower than the latest checkpoint's.
     * @param latest Fabric block height of the latest checkpoint.
     * @param proposed Fabric block height that was refused.
     */
    error AnchorRegistryBlockHeightDecreasing(uint64 latest, uint64 proposed);

    /**
     * @notice A zero Merkle root was supplied.
     * @dev No RFC 6962 tree hash is zero, so a zero root can only be a caller bug.
     */
    error AnchorRegistryZeroRoot();

    /**
     * @notice The zero address was supplied where a real account is required.
     */
    error AnchorRegistryZeroAddress();

    /**
     * @notice An empty channel name was supplied at construction.
     */
    error AnchorRegistryEmptyChannel();

    /**
     * @notice No checkpoint exists at the requested index.
     * @param index The requested checkpoint index.
     */
    error AnchorRegistryCheckpointNotFound(uint256 index);

    /**
     * @notice No checkpoint has been recorded yet.
     */
    error AnchorRegistryNoCheckpoints();

    /**
     * @notice No checkpoint matches the requested tree size.
     * @param treeSize The requested tree size.
     */
    error AnchorRegistryTreeSizeNotFound(uint64 treeSize);

    /**
     * @notice Emitted when ownership moves to a new account (including at deployment).
     * @param previousOwner The former owner, or the zero address at deployment.
     * @param newOwner The new owner.
     */
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    /**
     * @notice Emitted when the owner nominates a new owner, who must still accept.
     * @param previousOwner The current owner.
     * @param newOwner The nominated owner, or the zero address to cancel a nomination.
     */
    event OwnershipTransferStarted(address indexed previousOwner, address indexed newOwner);

    /**
     * @notice Emitted when an account becomes an authorised anchorer.
     * @param account The account that was authorised.
     * @param sender The owner that authorised it.
     */
    event AnchorerAdded(address indexed account, address indexed sender);

    /**
     * @notice Emitted when an account stops being an authorised anchorer.
     * @param account The account whose authorisation was revoked.
     * @param sender The owner that revoked it.
     */
    event AnchorerRemoved(address indexed account, address indexed sender);

    /**
     * @notice Emitted when a checkpoint is appended.
     * @param index Position of the checkpoint in the registry.
     * @param treeSize Number of leaves the root commits to.
     * @param root RFC 6962 Merkle tree hash.
     * @param fabricBlockHeight Fabric block height at which the tree head was taken.
     * @param anchorer The authorised anchorer that recorded it.
     */
    event CheckpointRecorded(
        uint256 indexed index,
        uint64 indexed treeSize,
        bytes32 root,
        uint64 fabricBlockHeight,
        address indexed anchorer
    );

    string private _channel;
    address private _owner;
    address private _pendingOwner;
    mapping(address account => bool) private _anchorers;
    Checkpoint[] private _checkpoints;

    /**
     * @notice Restricts a function to the owner.
     */
    modifier onlyOwner() {
        if (msg.sender != _owner) {
            revert AnchorRegistryUnauthorizedOwner(msg.sender);
        }
        _;
    }

    /**
     * @notice Restricts a function to authorised anchorers.
     */
    modifier onlyAnchorer() {
        if (!_anchorers[msg.sender]) {
            revert AnchorRegistryUnauthorizedAnchorer(msg.sender);
        }
        _;
    }

    /**
     * @notice Deploys a registry for one Fabric channel, owned by the deployer.
     * @dev The deployer is not made an anchorer implicitly: keeping the owner key and the
     * hot anchoring key separate is the intended deployment shape.
     * @param channel_ Name of the Fabric channel whose anchor log is checkpointed.
     */
    constructor(string memory channel_) {
        if (bytes(channel_).length == 0) {
            revert AnchorRegistryEmptyChannel();
        }
        _channel = channel_;
        _owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
    }

    /**
     * @notice Name of the Fabric channel this registry checkpoints.
     * @return The channel name fixed at construction.
     */
    function channel() external view returns (string memory) {
        return _channel;
    }

    /**
     * @notice Current owner.
     * @return The owner's address.
     */
    function owner() external view returns (address) {
        return _owner;
    }

    /**
     * @notice Account nominated to become owner, if any.
     * @return The pending owner's address, or the zero address when there is none.
     */
    function pendingOwner() external view returns (address) {
        return _pendingOwner;
    }

    /**
     * @notice Nominates a new owner; the nominee must call {acceptOwnership}.
     * @dev Two steps so that a mistyped address cannot strand the registry without an
     * owner. Nominating the zero address cancels a pending nomination.
     * @param newOwner The account to nominate.
     */
    function transferOwnership(address newOwner) external onlyOwner {
        _pendingOwner = newOwner;
        emit OwnershipTransferStarted(_owner, newOwner);
    }

    /**
     * @notice Completes an ownership transfer; callable only by the pending owner.
     */
    function acceptOwnership() external {
        if (msg.sender != _pendingOwner) {
            revert AnchorRegistryUnauthorizedPendingOwner(msg.sender);
        }
        address previousOwner = _owner;
        _owner = msg.sender;
        delete _pendingOwner;
        emit OwnershipTransferred(previousOwner, msg.sender);
    }

    /**
     * @notice Authorises an account to record checkpoints.
     * @dev Idempotent: re-adding an existing anchorer changes nothing and emits nothing,
     * so an operator script can be re-run safely.
     * @param account The account to authorise.
     */
    function addAnchorer(address account) external onlyOwner {
        if (account == address(0)) {
            revert AnchorRegistryZeroAddress();
        }
        if (!_anchorers[account]) {
            _anchorers[account] = true;
            emit AnchorerAdded(account, msg.sender);
        }
    }

    /**
     * @notice Revokes an account's authorisation to record checkpoints.
     * @dev Idempotent, like {addAnchorer}. Checkpoints already recorded by the account
     * remain: the log is append-only.
     * @param account The account to revoke.
     */
    function removeAnchorer(address account) external onlyOwner {
        if (_anchorers[account]) {
            _anchorers[account] = false;
            emit AnchorerRemoved(account, msg.sender);
        }
    }

    /**
     * @notice Whether an account is an authorised anchorer.
     * @param account The account to check.
     * @return True when `account` may call {checkpoint}.
     */
    function isAnchorer(address account) external view returns (bool) {
        return _anchorers[account];
    }

    /**
     * @notice Appends a checkpoint of the anchor log's Merkle tree head.
     * @dev Tree size must strictly increase so that every checkpoint extends its
     * predecessor (the CT append-only property is then checkable with consistency proofs)
     * and so that tree sizes identify checkpoints uniquely. The block height may repeat
     * because several tree heads can be taken within one Fabric block.
     * @param treeSize Number of leaves the root commits to; must exceed the latest's.
     * @param root RFC 6962 Merkle tree hash; must not be zero.
     * @param fabricBlockHeight Fabric block height of the tree head; must not decrease.
     * @return index Position of the new checkpoint.
     */
    function checkpoint(
        uint64 treeSize,
        bytes32 root,
        uint64 fabricBlockHeight
    ) external onlyAnchorer returns (uint256 index) {
        if (root == bytes32(0)) {
            revert AnchorRegistryZeroRoot();
        }
        index = _checkpoints.length;
        if (index == 0) {
            if (treeSize == 0) {
                revert AnchorRegistryTreeSizeNotIncreasing(0, treeSize);
            }
        } else {
            Checkpoint storage latest = _checkpoints[index - 1];
            if (treeSize <= latest.treeSize) {
                revert AnchorRegistryTreeSizeNotIncreasing(latest.treeSize, treeSize);
            }
            if (fabricBlockHeight < latest.fabricBlockHeight) {
                revert AnchorRegistryBlockHeightDecreasing(latest.fabricBlockHeight, fabricBlockHeight);
            }
        }
        _checkpoints.push(
            Checkpoint({
                treeSize: treeSize,
                fabricBlockHeight: fabricBlockHeight,
                // uint64 seconds cannot overflow for billions of years.
                timestamp: uint64(block.timestamp),
                root: root
            })
        );
        emit CheckpointRecorded(index, treeSize, root, fabricBlockHeight, msg.sender);
    }

    /**
     * @notice Number of checkpoints recorded so far.
     * @return The checkpoint count.
     */
    function checkpointCount() external view returns (uint256) {
        return _checkpoints.length;
    }

    /**
     * @notice Checkpoint at a given position.
     * @param index Position of the checkpoint, starting at 0.
     * @return The checkpoint.
     */
    function checkpointAt(uint256 index) external view returns (Checkpoint memory) {
        if (index >= _checkpoints.length) {
            revert AnchorRegistryCheckpointNotFound(index);
        }
        return _checkpoints[index];
    }

    /**
     * @notice Most recent checkpoint.
     * @return The latest checkpoint.
     */
    function latestCheckpoint() external view returns (Checkpoint memory) {
        uint256 count = _checkpoints.length;
        if (count == 0) {
            revert AnchorRegistryNoCheckpoints();
        }
        return _checkpoints[count - 1];
    }

    /**
     * @notice Position of the checkpoint whose tree size is exactly `treeSize`.
     * @dev For a receipt whose root was taken at a checkpointed size: the receipt's root
     * can then be compared with the on-chain one directly.
     * @param treeSize The tree size to look up.
     * @return The index of the matching checkpoint.
     */
    function checkpointIndexForSize(uint64 treeSize) external view returns (uint256) {
        uint256 index = _lowerBound(treeSize);
        if (index == _checkpoints.length || _checkpoints[index].treeSize != treeSize) {
            revert AnchorRegistryTreeSizeNotFound(treeSize);
        }
        return index;
    }

    /**
     * @notice Position of the earliest checkpoint whose tree size is at least `treeSize`.
     * @dev For a receipt taken between checkpoints: its tree is a prefix of this
     * checkpoint's tree, so a consistency proof from the receipt's size to this
     * checkpoint's size ties the receipt to an on-chain root.
     * @param treeSize The minimum tree size the checkpoint must cover.
     * @return The index of the earliest covering checkpoint.
     */
    function firstCheckpointCovering(uint64 treeSize) external view returns (uint256) {
        uint256 index = _lowerBound(treeSize);
        if (index == _checkpoints.length) {
            revert AnchorRegistryTreeSizeNotFound(treeSize);
        }
        return index;
    }

    /**
     * @notice Index of the first checkpoint with tree size >= `treeSize`, or the
     * checkpoint count when there is none.
     * @dev Binary search is valid because {checkpoint} keeps tree sizes strictly increasing.
     * @param treeSize The tree size to search for.
     * @return low The lower-bound index.
     */
    function _lowerBound(uint64 treeSize) private view returns (uint256 low) {
        uint256 high = _checkpoints.length;
        while (low < high) {
            uint256 mid = (low + high) / 2;
            if (_checkpoints[mid].treeSize < treeSize) {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
    }
}
