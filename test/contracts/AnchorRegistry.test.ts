import { expect } from 'chai';
import { ethers } from 'hardhat';
import { loadFixture } from '@nomicfoundation/hardhat-network-helpers';
import type { HardhatEthersSigner } from '@nomicfoundation/hardhat-ethers/signers';
import type {
  AddressLike,
  BaseContract,
  BaseContractMethod,
  BigNumberish,
  BytesLike,
  ContractRunner,
  ContractTransactionReceipt,
  ContractTransactionResponse,
} from 'ethers';
// tsconfig does not include hardhat.config.ts, so the plugins' type augmentations
// (hre.ethers, chai's emit/revertedWithCustomError) must be pulled in explicitly.
import type {} from '@nomicfoundation/hardhat-chai-matchers';

const CHANNEL = 'medprov';

/** A checkpoint as decoded by ethers (a Result with named members). */
interface CheckpointResult {
  readonly treeSize: bigint;
  readonly fabricBlockHeight: bigint;
  readonly timestamp: bigint;
  readonly root: string;
}

/** Minimal typed view of the AnchorRegistry ABI (typechain is not installed). */
interface AnchorRegistry extends BaseContract {
  connect(runner: ContractRunner | null): AnchorRegistry;
  channel: BaseContractMethod<[], string, string>;
  owner: BaseContractMethod<[], string, string>;
  pendingOwner: BaseContractMethod<[], string, string>;
  transferOwnership: BaseContractMethod<[newOwner: AddressLike], void, ContractTransactionResponse>;
  acceptOwnership: BaseContractMethod<[], void, ContractTransactionResponse>;
  addAnchorer: BaseContractMethod<[account: AddressLike], void, ContractTransactionResponse>;
  removeAnchorer: BaseContractMethod<[account: AddressLike], void, ContractTransactionResponse>;
  isAnchorer: BaseContractMethod<[account: AddressLike], boolean, boolean>;
  checkpoint: BaseContractMethod<
    [treeSize: BigNumberish, root: BytesLike, fabricBlockHeight: BigNumberish],
    bigint,
    ContractTransactionResponse
  >;
  checkpointCount: BaseContractMethod<[], bigint, bigint>;
  checkpointAt: BaseContractMethod<[index: BigNumberish], CheckpointResult, CheckpointResult>;
  latestCheckpoint: BaseContractMethod<[], CheckpointResult, CheckpointResult>;
  checkpointIndexForSize: BaseContractMethod<[treeSize: BigNumberish], bigint, bigint>;
  firstCheckpointCovering: BaseContractMethod<[treeSize: BigNumberish], bigint, bigint>;
}

interface ExpectedCheckpoint {
  treeSize: bigint;
  fabricBlockHeight: bigint;
  timestamp: bigint;
  root: string;
}

/** Deterministic, distinct, non-zero stand-ins for RFC 6962 tree hashes. */
function rootFor(treeSize: bigint): string {
  return ethers.id(`medprov-tree-head-${treeSize}`);
}

function plain(cp: CheckpointResult): ExpectedCheckpoint {
  return {
    treeSize: cp.treeSize,
    fabricBlockHeight: cp.fabricBlockHeight,
    timestamp: cp.timestamp,
    root: cp.root,
  };
}

async function mined(tx: Promise<ContractTransactionResponse>): Promise<ContractTransactionReceipt> {
  const receipt = await (await tx).wait();
  if (receipt === null) {
    throw new Error('transaction was not mined');
  }
  return receipt;
}

async function blockTimestamp(receipt: ContractTransactionReceipt): Promise<bigint> {
  const block = await ethers.provider.getBlock(receipt.blockNumber);
  if (block === null) {
    throw new Error(`block ${receipt.blockNumber} not found`);
  }
  return BigInt(block.timestamp);
}

async function deployRegistry(deployer: HardhatEthersSigner, channel: string): Promise<AnchorRegistry> {
  const factory = await ethers.getContractFactory('AnchorRegistry', deployer);
  const deployed = await factory.deploy(channel);
  await deployed.waitForDeployment();
  return deployed as unknown as AnchorRegistry;
}

async function deployEmptyFixture() {
  const [owner, anchorer, other, secondAnchorer] = await ethers.getSigners();
  const registry = await deployRegistry(owner, CHANNEL);
  return { registry, owner, anchorer, other, secondAnchorer };
}

async function deployWithAnchorerFixture() {
  const base = await deployEmptyFixture();
  await mined(base.registry.connect(base.owner).addAnchorer(base.anchorer.address));
  return base;
}

// Sizes are deliberately irregular (not powers of two) and the heights repeat once,
// to exercise the lookups' boundaries and the non-decreasing height rule.
const SEEDED: ReadonlyArray<{ treeSize: bigint; fabricBlockHeight: bigint }> = [
  { treeSize: 4n, fabricBlockHeight: 10n },
  { treeSize: 9n, fabricBlockHeight: 12n },
  { treeSize: 16n, fabricBlockHeight: 12n },
  { treeSize: 100n, fabricBlockHeight: 20n },
];

async function seededFixture() {
  const base = await deployWithAnchorerFixture();
  const expected: ExpectedCheckpoint[] = [];
  for (const { treeSize, fabricBlockHeight } of SEEDED) {
    const root = rootFor(treeSize);
    const receipt = await mined(
      base.registry.connect(base.anchorer).checkpoint(treeSize, root, fabricBlockHeight),
    );
    expected.push({ treeSize, fabricBlockHeight, timestamp: await blockTimestamp(receipt), root });
  }
  return { ...base, expected };
}

describe('AnchorRegistry', function () {
  describe('deployment', function () {
    it('records the channel and makes the deployer owner', async function () {
      const { registry, owner } = await loadFixture(deployEmptyFixture);
      expect(await registry.channel()).to.equal(CHANNEL);
      expect(await registry.owner()).to.equal(owner.address);
      expect(await registry.pendingOwner()).to.equal(ethers.ZeroAddress);
    });

    it('emits OwnershipTransferred from the zero address', async function () {
      const { registry, owner } = await loadFixture(deployEmptyFixture);
      const deployment = registry.deploymentTransaction();
      if (deployment === null) {
        throw new Error('registry has no deployment transaction');
      }
      await expect(deployment)
        .to.emit(registry, 'OwnershipTransferred')
        .withArgs(ethers.ZeroAddress, owner.address);
    });

    it('does not make the deployer an anchorer', async function () {
      const { registry, owner } = await loadFixture(deployEmptyFixture);
      expect(await registry.isAnchorer(owner.address)).to.equal(false);
    });

    it('starts with no checkpoints', async function () {
      const { registry } = await loadFixture(deployEmptyFixture);
      expect(await registry.checkpointCount()).to.equal(0n);
      await expect(registry.latestCheckpoint()).to.be.revertedWithCustomError(
        registry,
        'AnchorRegistryNoCheckpoints',
      );
      await expect(registry.checkpointAt(0))
        .to.be.revertedWithCustomError(registry, 'AnchorRegistryCheckpointNotFound')
        .withArgs(0n);
    });

    it('refuses an empty channel name', async function () {
      const [owner] = await ethers.getSigners();
      const factory = await ethers.getContractFactory('AnchorRegistry', owner);
      await expect(factory.deploy('')).to.be.revertedWithCustomError(factory, 'AnchorRegistryEmptyChannel');
    });
  });

  describe('anchorer management', function () {
    it('lets the owner add an anchorer', async function () {
      const { registry, owner, other } = await loadFixture(deployEmptyFixture);
      await expect(registry.connect(owner).addAnchorer(other.address))
        .to.emit(registry, 'AnchorerAdded')
        .withArgs(other.address, owner.address);
      expect(await registry.isAnchorer(other.address)).to.equal(true);
    });

    it('treats re-adding an anchorer as a silent no-op', async function () {
      const { registry, owner, anchorer } = await loadFixture(deployWithAnchorerFixture);
      await expect(registry.connect(owner).addAnchorer(anchorer.address)).not.to.emit(registry, 'AnchorerAdded');
      expect(await registry.isAnchorer(anchorer.address)).to.equal(true);
    });

    it('refuses the zero address as anchorer', async function () {
      const { registry, owner } = await loadFixture(deployEmptyFixture);
      await expect(registry.connect(owner).addAnchorer(ethers.ZeroAddress)).to.be.revertedWithCustomError(
        registry,
        'AnchorRegistryZeroAddress',
      );
    });

    it('lets the owner remove an anchorer', async function () {
      const { registry, owner, anchorer } = await loadFixture(deployWithAnchorerFixture);
      await expect(registry.connect(owner).removeAnchorer(anchorer.address))
        .to.emit(registry, 'AnchorerRemoved')
        .withArgs(anchorer.address, owner.address);
      expect(await registry.isAnchorer(anchorer.address)).to.equal(false);
    });

    it('treats removing a non-anchorer as a silent no-op', async function () {
      const { registry, owner, other } = await loadFixture(deployWithAnchorerFixture);
      await expect(registry.connect(owner).removeAnchorer(other.address)).not.to.emit(registry, 'AnchorerRemoved');
      expect(await registry.isAnchorer(other.address)).to.equal(false);
    });

    it('refuses addAnchorer from a non-owner, including an anchorer', async function () {
      const { registry, anchorer, other } = await loadFixture(deployWithAnchorerFixture);
      await expect(registry.connect(other).addAnchorer(other.address))
        .to.be.revertedWithCustomError(registry, 'AnchorRegistryUnauthorizedOwner')
        .withArgs(other.address);
      await expect(registry.connect(anchorer).addAnchorer(other.address))
        .to.be.revertedWithCustomError(registry, 'AnchorRegistryUnauthorizedOwner')
        .withArgs(anchorer.address);
      expect(await registry.isAnchorer(other.address)).to.equal(false);
    });

    it('refuses removeAnchorer from a non-owner, including the anchorer itself', async function () {
      const { registry, anchorer, other } = await loadFixture(deployWithAnchorerFixture);
      await expect(registry.connect(other).removeAnchorer(anchorer.address))
        .to.be.revertedWithCustomError(registry, 'AnchorRegistryUnauthorizedOwner')
        .withArgs(other.address);
      await expect(registry.connect(anchorer).removeAnchorer(anchorer.address))
        .to.be.revertedWithCustomError(registry, 'AnchorRegistryUnauthorizedOwner')
        .withArgs(anchorer.address);
      expect(await registry.isAnchorer(anchorer.address)).to.equal(true);
    });
  });

  describe('ownership', function () {
    it('refuses transferOwnership from a non-owner', async function () {
      const { registry, other } = await loadFixture(deployEmptyFixture);
      await expect(registry.connect(other).transferOwnership(other.address))
        .to.be.revertedWithCustomError(registry, 'AnchorRegistryUnauthorizedOwner')
        .withArgs(other.address);
    });

    it('transfers ownership only once the nominee accepts', async function () {
      const { registry, owner, anchorer, other } = await loadFixture(deployEmptyFixture);

      await expect(registry.connect(owner).transferOwnership(other.address))
        .to.emit(registry, 'OwnershipTransferStarted')
        .withArgs(owner.address, other.address);
      expect(await registry.owner()).to.equal(owner.address);
      expect(await registry.pendingOwner()).to.equal(other.address);

      await expect(registry.connect(anchorer).acceptOwnership())
        .to.be.revertedWithCustomError(registry, 'AnchorRegistryUnauthorizedPendingOwner')
        .withArgs(anchorer.address);

      await expect(registry.connect(other).acceptOwnership())
        .to.emit(registry, 'OwnershipTransferred')
        .withArgs(owner.address, other.address);
      expect(await registry.owner()).to.equal(other.address);
      expect(await registry.pendingOwner()).to.equal(ethers.ZeroAddress);

      await expect(registry.connect(owner).addAnchorer(anchorer.address))
        .to.be.revertedWithCustomError(registry, 'AnchorRegistryUnauthorizedOwner')
        .withArgs(owner.address);
      await expect(registry.connect(other).addAnchorer(anchorer.address))
        .to.emit(registry, 'AnchorerAdded')
        .withArgs(anchorer.address, other.address);
    });

    it('lets the owner cancel a nomination by nominating the zero address', async function () {
      const { registry, owner, other } = await loadFixture(deployEmptyFixture);
      await mined(registry.connect(owner).transferOwnership(other.address));
      await expect(registry.connect(owner).transferOwnership(ethers.ZeroAddress))
        .to.emit(registry, 'OwnershipTransferStarted')
        .withArgs(owner.address, ethers.ZeroAddress);
      await expect(registry.connect(other).acceptOwnership())
        .to.be.revertedWithCustomError(registry, 'AnchorRegistryUnauthorizedPendingOwner')
        .withArgs(other.address);
      expect(await registry.owner()).to.equal(owner.address);
    });
  });

  describe('checkpoint', function () {
    it('records the first checkpoint', async function () {
      const { registry, anchorer } = await loadFixture(deployWithAnchorerFixture);
      const root = rootFor(4n);

      expect(await registry.connect(anchorer).checkpoint.staticCall(4n, root, 10n)).to.equal(0n);
      const tx = registry.connect(anchorer).checkpoint(4n, root, 10n);
      await expect(tx)
        .to.emit(registry, 'CheckpointRecorded')
        .withArgs(0n, 4n, root, 10n, anchorer.address);

      const timestamp = await blockTimestamp(await mined(tx));
      const expected: ExpectedCheckpoint = { treeSize: 4n, fabricBlockHeight: 10n, timestamp, root };
      expect(await registry.checkpointCount()).to.equal(1n);
      expect(plain(await registry.checkpointAt(0))).to.deep.equal(expected);
      expect(plain(await registry.latestCheckpoint())).to.deep.equal(expected);
    });

    it('appends successive checkpoints with increasing indices', async function () {
      const { registry, anchorer } = await loadFixture(deployWithAnchorerFixture);
      for (const [index, { treeSize, fabricBlockHeight }] of SEEDED.entries()) {
        await expect(registry.connect(anchorer).checkpoint(treeSize, rootFor(treeSize), fabricBlockHeight))
          .to.emit(registry, 'CheckpointRecorded')
          .withArgs(BigInt(index), treeSize, rootFor(treeSize), fabricBlockHeight, anchorer.address);
      }
      expect(await registry.checkpointCount()).to.equal(BigInt(SEEDED.length));
    });

    it('accepts a checkpoint at the same Fabric block height as the latest', async function () {
      const { registry, anchorer } = await loadFixture(deployWithAnchorerFixture);
      await mined(registry.connect(anchorer).checkpoint(4n, rootFor(4n), 10n));
      await expect(registry.connect(anchorer).checkpoint(5n, rootFor(5n), 10n))
        .to.emit(registry, 'CheckpointRecorded')
        .withArgs(1n, 5n, rootFor(5n), 10n, anchorer.address);
    });

    it('shares one log between anchorers', async function () {
      const { registry, owner, anchorer, secondAnchorer } = await loadFixture(deployWithAnchorerFixture);
      await mined(registry.connect(owner).addAnchorer(secondAnchorer.address));
      await mined(registry.connect(anchorer).checkpoint(4n, rootFor(4n), 10n));

      await expect(registry.connect(secondAnchorer).checkpoint(4n, rootFor(4n), 10n))
        .to.be.revertedWithCustomError(registry, 'AnchorRegistryTreeSizeNotIncreasing')
        .withArgs(4n, 4n);
      await expect(registry.connect(secondAnchorer).checkpoint(8n, rootFor(8n), 11n))
        .to.emit(registry, 'CheckpointRecorded')
        .withArgs(1n, 8n, rootFor(8n), 11n, secondAnchorer.address);
    });

    it('refuses a caller that is not an anchorer, including the owner', async function () {
      const { registry, owner, other } = await loadFixture(deployWithAnchorerFixture);
      await expect(registry.connect(other).checkpoint(4n, rootFor(4n), 10n))
        .to.be.revertedWithCustomError(registry, 'AnchorRegistryUnauthorizedAnchorer')
        .withArgs(other.address);
      await expect(registry.connect(owner).checkpoint(4n, rootFor(4n), 10n))
        .to.be.revertedWithCustomError(registry, 'AnchorRegistryUnauthorizedAnchorer')
        .withArgs(owner.address);
      expect(await registry.checkpointCount()).to.equal(0n);
    });

    it('refuses a removed anchorer but keeps its earlier checkpoints', async function () {
      const { registry, owner, anchorer } = await loadFixture(deployWithAnchorerFixture);
      await mined(registry.connect(anchorer).checkpoint(4n, rootFor(4n), 10n));
      await mined(registry.connect(owner).removeAnchorer(anchorer.address));

      await expect(registry.connect(anchorer).checkpoint(8n, rootFor(8n), 11n))
        .to.be.revertedWithCustomError(registry, 'AnchorRegistryUnauthorizedAnchorer')
        .withArgs(anchorer.address);
      expect(await registry.checkpointCount()).to.equal(1n);
      expect((await registry.checkpointAt(0)).root).to.equal(rootFor(4n));
    });

    it('refuses a zero tree size as the first checkpoint', async function () {
      const { registry, anchorer } = await loadFixture(deployWithAnchorerFixture);
      await expect(registry.connect(anchorer).checkpoint(0n, rootFor(0n), 10n))
        .to.be.revertedWithCustomError(registry, 'AnchorRegistryTreeSizeNotIncreasing')
        .withArgs(0n, 0n);
    });

    it('refuses a tree size equal to the latest', async function () {
      const { registry, anchorer } = await loadFixture(seededFixture);
      await expect(registry.connect(anchorer).checkpoint(100n, rootFor(101n), 20n))
        .to.be.revertedWithCustomError(registry, 'AnchorRegistryTreeSizeNotIncreasing')
        .withArgs(100n, 100n);
      expect(await registry.checkpointCount()).to.equal(BigInt(SEEDED.length));
    });

    it('refuses a tree size smaller than the latest', async function () {
      const { registry, anchorer } = await loadFixture(seededFixture);
      await expect(registry.connect(anchorer).checkpoint(99n, rootFor(99n), 20n))
        .to.be.revertedWithCustomError(registry, 'AnchorRegistryTreeSizeNotIncreasing')
        .withArgs(100n, 99n);
      expect(await registry.checkpointCount()).to.equal(BigInt(SEEDED.length));
    });

    it('refuses a zero root', async function () {
      const { registry, anchorer } = await loadFixture(deployWithAnchorerFixture);
      await expect(registry.connect(anchorer).checkpoint(4n, ethers.ZeroHash, 10n)).to.be.revertedWithCustomError(
        registry,
        'AnchorRegistryZeroRoot',
      );
      expect(await registry.checkpointCount()).to.equal(0n);
    });

    it('refuses a decreasing Fabric block height', async function () {
      const { registry, anchorer } = await loadFixture(seededFixture);
      await expect(registry.connect(anchorer).checkpoint(101n, rootFor(101n), 19n))
        .to.be.revertedWithCustomError(registry, 'AnchorRegistryBlockHeightDecreasing')
        .withArgs(20n, 19n);
      expect(await registry.checkpointCount()).to.equal(BigInt(SEEDED.length));
    });

    it('reports gas per checkpoint', async function () {
      const { registry, anchorer } = await loadFixture(deployWithAnchorerFixture);
      const used: bigint[] = [];
      for (const { treeSize, fabricBlockHeight } of SEEDED) {
        const receipt = await mined(
          registry.connect(anchorer).checkpoint(treeSize, rootFor(treeSize), fabricBlockHeight),
        );
        used.push(receipt.gasUsed);
      }
      const [first, ...rest] = used.map((gas) => gas.toLocaleString('en-US'));
      console.log(`      gas per checkpoint: first ${first}, subsequent ${rest.join(' / ')}`);
    });
  });

  describe('views and lookups', function () {
    it('returns every checkpoint by index', async function () {
      const { registry, expected } = await loadFixture(seededFixture);
      expect(await registry.checkpointCount()).to.equal(BigInt(expected.length));
      for (const [index, checkpoint] of expected.entries()) {
        expect(plain(await registry.checkpointAt(index))).to.deep.equal(checkpoint);
      }
    });

    it('refuses an index past the end', async function () {
      const { registry } = await loadFixture(seededFixture);
      await expect(registry.checkpointAt(SEEDED.length))
        .to.be.revertedWithCustomError(registry, 'AnchorRegistryCheckpointNotFound')
        .withArgs(BigInt(SEEDED.length));
      await expect(registry.checkpointAt(ethers.MaxUint256))
        .to.be.revertedWithCustomError(registry, 'AnchorRegistryCheckpointNotFound')
        .withArgs(ethers.MaxUint256);
    });

    it('returns the latest checkpoint', async function () {
      const { registry, expected } = await loadFixture(seededFixture);
      expect(plain(await registry.latestCheckpoint())).to.deep.equal(expected[expected.length - 1]);
    });

    it('finds each checkpoint by its exact tree size', async function () {
      const { registry } = await loadFixture(seededFixture);
      for (const [index, { treeSize }] of SEEDED.entries()) {
        expect(await registry.checkpointIndexForSize(treeSize)).to.equal(BigInt(index));
      }
    });

    it('refuses exact lookups for sizes that were never checkpointed', async function () {
      const { registry } = await loadFixture(seededFixture);
      for (const treeSize of [0n, 1n, 5n, 15n, 17n, 101n]) {
        await expect(registry.checkpointIndexForSize(treeSize))
          .to.be.revertedWithCustomError(registry, 'AnchorRegistryTreeSizeNotFound')
          .withArgs(treeSize);
      }
    });

    it('finds the earliest checkpoint covering a tree size', async function () {
      const { registry } = await loadFixture(seededFixture);
      const cases: ReadonlyArray<[treeSize: bigint, index: bigint]> = [
        [0n, 0n],
        [1n, 0n],
        [4n, 0n],
        [5n, 1n],
        [9n, 1n],
        [10n, 2n],
        [16n, 2n],
        [17n, 3n],
        [100n, 3n],
      ];
      for (const [treeSize, index] of cases) {
        expect(await registry.firstCheckpointCovering(treeSize)).to.equal(index, `treeSize ${treeSize}`);
      }
    });

    it('refuses covering lookups beyond the latest tree size', async function () {
      const { registry } = await loadFixture(seededFixture);
      await expect(registry.firstCheckpointCovering(101n))
        .to.be.revertedWithCustomError(registry, 'AnchorRegistryTreeSizeNotFound')
        .withArgs(101n);
    });

    it('refuses every lookup on an empty registry', async function () {
      const { registry } = await loadFixture(deployEmptyFixture);
      await expect(registry.checkpointIndexForSize(1n))
        .to.be.revertedWithCustomError(registry, 'AnchorRegistryTreeSizeNotFound')
        .withArgs(1n);
      await expect(registry.firstCheckpointCovering(0n))
        .to.be.revertedWithCustomError(registry, 'AnchorRegistryTreeSizeNotFound')
        .withArgs(0n);
    });
  });
});
