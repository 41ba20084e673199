/**
 * Thin ethers v6 client of the EVM AnchorRegistry contract (`contracts/AnchorRegistry.sol`). Node
 * only: the ABI is read from the Hardhat artifact at run time, so the client always speaks the
 * contract that was compiled from this repository.
 *
 * Configuration (see {@link registryConfigFromEnv}): RPC URL, contract address and, for writing,
 * the anchorer's private key. The chain id is read from the node, never configured, so a receipt
 * always names the chain that actually holds the checkpoint.
 *
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  Contract,
  ContractFactory,
  FetchRequest,
  getAddress,
  Interface,
  isAddress,
  isError,
  JsonRpcProvider,
  Network,
  Wallet,
  type EventLog,
  type InterfaceAbi,
  type Result,
  type TransactionReceipt,
} from 'ethers';
import { bytesToHex, hexToBytes } from '../merkle';
import { AnchoringError, type AnchoringErrorCode } from './errors';
import type { OnChainCheckpoint } from './registry-abi';

export type { OnChainCheckpoint } from './registry-abi';

/** Environment variables read by {@link registryConfigFromEnv}. */
export const REGISTRY_ENV = Object.freeze({
  rpcUrl: 'MEDPROV_EVM_RPC_URL',
  address: 'MEDPROV_ANCHOR_REGISTRY_ADDRESS',
  privateKey: 'MEDPROV_EVM_ANCHORER_KEY',
  artifact: 'MEDPROV_ANCHOR_REGISTRY_ARTIFACT',
  fromBlock: 'MEDPROV_ANCHOR_REGISTRY_FROM_BLOCK',
});

/** Where and as whom to reach the registry. */
export interface RegistryConfig {
  /** JSON-RPC endpoint of the EVM node, e.g. `http://127.0.0.1:8545`. */
  readonly rpcUrl: string;
  /** Address of the deployed AnchorRegistry. */
  readonly address: string;
  /** The anchorer's private key (0x + 64 hex); without it the client can only read. */
  readonly privateKey?: string;
  /** Path of the Hardhat artifact JSON; default: found by walking up to `artifacts/`. */
  readonly artifactPath?: string;
  /** Block the registry was deployed in: event look-ups start there (default 0). */
  readonly fromBlock?: number;
  /** Confirmations to wait for after a checkpoint transaction (default 1). */
  readonly confirmations?: number;
  /** How often ethers polls for receipts, in ms (default 1000). */
  readonly pollingIntervalMs?: number;
  /** Timeout of the first chain-id request, in ms (default 10 000). */
  readonly connectTimeoutMs?: number;
}

/** The artifact's path relative to the repository root. */
const ARTIFACT_RELATIVE = path.join('artifacts', 'contracts', 'AnchorRegistry.sol', 'AnchorRegistry.json');

/** The compiled contract: ABI for calls, bytecode for deployment. */
export interface RegistryArtifact {
  readonly abi: InterfaceAbi;
  readonly bytecode: string;
}

/**
 * Reads the AnchorRegistry Hardhat artifact.
 *
 * @param artifactPath - explicit path; default: the first `artifacts/…/AnchorRegistry.json` found
 *   walking up from this file (works from `gateway/src` and from a compiled `dist/`)
 * @throws AnchoringError REGISTRY_ARTIFACT_MISSING with the command that produces it
 */
export function loadRegistryArtifact(artifactPath?: string): RegistryArtifact {
  const file = artifactPath ?? findArtifact();
  if (file === undefined || !existsSync(file)) {
    throw new AnchoringError(
      'REGISTRY_ARTIFACT_MISSING',
      `The AnchorRegistry artifact (${artifactPath ?? ARTIFACT_RELATIVE}) was not found; compile the contracts with \`npx hardhat compile\`.`,
    );
  }
  let parsed: { abi?: unknown; bytecode?: unknown };
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as { abi?: unknown; bytecode?: unknown };
  } catch (err) {
    throw new AnchoringError('REGISTRY_ARTIFACT_MISSING', `The AnchorRegistry artifact ${file} is not valid JSON; recompile the contracts.`, {
      cause: err,
    });
  }
  if (!Array.isArray(parsed.abi) || typeof parsed.bytecode !== 'string') {
    throw new AnchoringError('REGISTRY_ARTIFACT_MISSING', `The file ${file} is not a Hardhat contract artifact (no abi or bytecode).`);
  }
  return { abi: parsed.abi as InterfaceAbi, bytecode: parsed.bytecode };
}

function findArtifact(): string | undefined {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, ARTIFACT_RELATIVE);
    if (existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) return undefined;
  }
}

/**
 * Registry configuration from the environment ({@link REGISTRY_ENV}).
 *
 * @throws AnchoringError REGISTRY_CONFIG_INVALID naming the missing or malformed variable
 */
export function registryConfigFromEnv(env: NodeJS.ProcessEnv = process.env): RegistryConfig {
  const rpcUrl = env[REGISTRY_ENV.rpcUrl];
  const address = env[REGISTRY_ENV.address];
  if (!rpcUrl) throw configError(`${REGISTRY_ENV.rpcUrl} is not set; it must be the EVM node's JSON-RPC URL.`);
  if (!address) throw configError(`${REGISTRY_ENV.address} is not set; it must be the AnchorRegistry's address.`);
  const fromBlockText = env[REGISTRY_ENV.fromBlock];
  const fromBlock = fromBlockText === undefined ? undefined : Number(fromBlockText);
  if (fromBlock !== undefined && (!Number.isSafeInteger(fromBlock) || fromBlock < 0)) {
    throw configError(`${REGISTRY_ENV.fromBlock} must be a block number.`);
  }
  return checkConfig({
    rpcUrl,
    address,
    ...(env[REGISTRY_ENV.privateKey] ? { privateKey: env[REGISTRY_ENV.privateKey] } : {}),
    ...(env[REGISTRY_ENV.artifact] ? { artifactPath: env[REGISTRY_ENV.artifact] } : {}),
    ...(fromBlock !== undefined ? { fromBlock } : {}),
  });
}

function configError(sentence: string): AnchoringError {
  return new AnchoringError('REGISTRY_CONFIG_INVALID', sentence);
}

function checkConfig(config: RegistryConfig): RegistryConfig {
  let url: URL;
  try {
    url = new URL(config.rpcUrl);
  } catch {
    throw configError('The EVM RPC URL is not a URL.');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw configError('The EVM RPC URL must be http or https.');
  if (!isAddress(config.address)) throw configError('The AnchorRegistry address is not an EVM address (0x + 40 hex).');
  // Never echo the key: the sentence only says what is wrong with it.
  if (config.privateKey !== undefined && !/^0x[0-9a-fA-F]{64}$/.test(config.privateKey)) {
    throw configError('The anchorer private key must be 0x followed by 64 hex digits.');
  }
  if (config.confirmations !== undefined && (!Number.isSafeInteger(config.confirmations) || config.confirmations < 0)) {
    throw configError('confirmations must be a non-negative integer.');
  }
  return config;
}

/** The outcome of a recorded checkpoint. */
export interface WrittenCheckpoint {
  /** Position of the new checkpoint in the registry. */
  readonly index: bigint;
  /** Hash of the EVM transaction that recorded it (0x…). */
  readonly txHash: string;
  /** EVM block the transaction was mined in. */
  readonly blockNumber: number;
  /** Gas the transaction used. */
  readonly gasUsed: bigint;
}

/** Where a checkpoint was recorded on the EVM chain. */
export interface CheckpointTransaction {
  readonly txHash: string;
  readonly blockNumber: number;
  /** The anchorer account that recorded it. */
  readonly anchorer: string;
}

/** What the checkpointer and the receipt issuer need from the registry. */
export interface RegistryReader {
  /** Registry address, checksummed. */
  readonly address: string;
  /** Chain id reported by the node. */
  readonly chainId: bigint;
  /** The latest checkpoint, or `undefined` when none was recorded yet. */
  latestCheckpoint(): Promise<OnChainCheckpoint | undefined>;
  /** The checkpoint at `index`. */
  checkpointAt(index: bigint): Promise<OnChainCheckpoint>;
  /** The earliest checkpoint whose tree has at least `treeSize` leaves, if any. */
  firstCheckpointCovering(treeSize: bigint): Promise<OnChainCheckpoint | undefined>;
  /** The EVM transaction that recorded the checkpoint of exactly `treeSize` leaves, if any. */
  checkpointTransaction(treeSize: bigint): Promise<CheckpointTransaction | undefined>;
}

/** {@link RegistryReader} plus writing. */
export interface RegistryWriter extends RegistryReader {
  /** Records a checkpoint as this client's anchorer account. */
  writeCheckpoint(treeSize: bigint, root: Uint8Array, fabricBlockHeight: bigint): Promise<WrittenCheckpoint>;
}

/**
 * ethers client of one deployed AnchorRegistry.
 *
 * @example
 * ```ts
 * const registry = await AnchorRegistryClient.connect(registryConfigFromEnv());
 * const latest = await registry.latestCheckpoint();
 * ```
 */
export class AnchorRegistryClient implements RegistryWriter {
  readonly address: string;
  readonly chainId: bigint;
  /** The anchorer account, when the client was given a key. */
  readonly account: string | undefined;
  /** The underlying provider (for callers that need blocks or receipts). */
  readonly provider: JsonRpcProvider;

  readonly #contract: Contract;
  readonly #confirmations: number;
  readonly #fromBlock: number;

  private constructor(provider: JsonRpcProvider, contract: Contract, chainId: bigint, account: string | undefined, config: RegistryConfig) {
    this.provider = provider;
    this.#contract = contract;
    this.address = getAddress(config.address);
    this.chainId = chainId;
    this.account = account;
    this.#confirmations = config.confirmations ?? 1;
    this.#fromBlock = config.fromBlock ?? 0;
  }

  /**
   * Connects: reads the chain id from the node, checks that a contract is deployed at the
   * address, and binds the anchorer key if one is configured.
   *
   * @throws AnchoringError REGISTRY_CONFIG_INVALID, REGISTRY_ARTIFACT_MISSING,
   *   REGISTRY_UNAVAILABLE (node unreachable), REGISTRY_NOT_FOUND (no code at the address)
   */
  static async connect(config: RegistryConfig): Promise<AnchorRegistryClient> {
    checkConfig(config);
    const artifact = loadRegistryArtifact(config.artifactPath);
    const chainId = await probeChainId(config.rpcUrl, config.connectTimeoutMs ?? 10_000);
    // A static network: ethers then never re-detects (and never prints its retry banner). No
    // request cache: ethers would otherwise answer a second eth_getTransactionCount within 250 ms
    // from cache, and two quick checkpoints would reuse a nonce.
    const provider = new JsonRpcProvider(config.rpcUrl, Network.from(chainId), {
      staticNetwork: true,
      pollingInterval: config.pollingIntervalMs ?? 1000,
      cacheTimeout: -1,
    });
    try {
      const code = await provider.getCode(config.address);
      if (code === '0x') {
        throw new AnchoringError('REGISTRY_NOT_FOUND', `No contract is deployed at ${config.address} on chain ${chainId}.`, {
          details: { address: config.address, chainId: chainId.toString() },
        });
      }
      const wallet = config.privateKey ? new Wallet(config.privateKey, provider) : undefined;
      const contract = new Contract(config.address, artifact.abi, wallet ?? provider);
      return new AnchorRegistryClient(provider, contract, chainId, wallet?.address, config);
    } catch (err) {
      provider.destroy();
      throw toRegistryError(err, 'connecting to the registry');
    }
  }

  /** The Fabric channel the registry checkpoints. */
  async channel(): Promise<string> {
    return this.#call('channel', []) as Promise<string>;
  }

  /** Whether `account` may record checkpoints. */
  async isAnchorer(account: string): Promise<boolean> {
    return this.#call('isAnchorer', [account]) as Promise<boolean>;
  }

  /** Number of checkpoints recorded. */
  async checkpointCount(): Promise<bigint> {
    return this.#call('checkpointCount', []) as Promise<bigint>;
  }

  async latestCheckpoint(): Promise<OnChainCheckpoint | undefined> {
    const count = await this.checkpointCount();
    return count === 0n ? undefined : this.checkpointAt(count - 1n);
  }

  async checkpointAt(index: bigint): Promise<OnChainCheckpoint> {
    return toCheckpoint(index, (await this.#call('checkpointAt', [index])) as Result);
  }

  /** The checkpoint of exactly `treeSize` leaves, if any. */
  async checkpointForSize(treeSize: bigint): Promise<OnChainCheckpoint | undefined> {
    const index = await this.#optionalIndex('checkpointIndexForSize', treeSize);
    return index === undefined ? undefined : this.checkpointAt(index);
  }

  async firstCheckpointCovering(treeSize: bigint): Promise<OnChainCheckpoint | undefined> {
    const index = await this.#optionalIndex('firstCheckpointCovering', treeSize);
    return index === undefined ? undefined : this.checkpointAt(index);
  }

  async checkpointTransaction(treeSize: bigint): Promise<CheckpointTransaction | undefined> {
    try {
      const filter = this.#contract.filters.CheckpointRecorded!(null, treeSize);
      const logs = await retryOnReset(() => this.#contract.queryFilter(filter, this.#fromBlock, 'latest'));
      const log = logs[0] as EventLog | undefined;
      if (!log) return undefined;
      return { txHash: log.transactionHash, blockNumber: log.blockNumber, anchorer: getAddress(String(log.args[4])) };
    } catch (err) {
      throw toRegistryError(err, 'reading CheckpointRecorded events');
    }
  }

  /**
   * Records a checkpoint and waits for the configured confirmations.
   *
   * @throws AnchoringError REGISTRY_UNAUTHORIZED (key is not an anchorer),
   *   REGISTRY_SIZE_NOT_INCREASING (someone checkpointed this size or more already),
   *   REGISTRY_REJECTED (other revert; `details.revert` names the custom error),
   *   REGISTRY_CONFIG_INVALID (no key), REGISTRY_UNAVAILABLE
   */
  async writeCheckpoint(treeSize: bigint, root: Uint8Array, fabricBlockHeight: bigint): Promise<WrittenCheckpoint> {
    if (this.account === undefined) throw configError('This registry client has no anchorer key; it can only read.');
    if (root.length !== 32) throw new AnchoringError('INVALID_ARGUMENT', 'a checkpoint root must be 32 bytes.');
    let receipt: TransactionReceipt | null;
    try {
      const tx = await this.#contract.getFunction('checkpoint').send(treeSize, `0x${bytesToHex(root)}`, fabricBlockHeight);
      receipt = await tx.wait(this.#confirmations);
    } catch (err) {
      throw toRegistryError(err, 'recording a checkpoint', this.#contract.interface);
    }
    if (!receipt) throw new AnchoringError('REGISTRY_UNAVAILABLE', 'The checkpoint transaction was not mined (no receipt).');
    for (const log of receipt.logs) {
      const parsed = this.#contract.interface.parseLog(log);
      if (parsed?.name === 'CheckpointRecorded') {
        return { index: parsed.args[0] as bigint, txHash: receipt.hash, blockNumber: receipt.blockNumber, gasUsed: receipt.gasUsed };
      }
    }
    throw new AnchoringError('REGISTRY_REJECTED', 'The checkpoint transaction was mined without a CheckpointRecorded event.', {
      details: { txHash: receipt.hash },
    });
  }

  /** Stops the provider's timers and connections. */
  close(): void {
    this.provider.destroy();
  }

  async #call(name: string, args: unknown[]): Promise<unknown> {
    try {
      return await retryOnReset(() => this.#contract.getFunction(name).staticCall(...args));
    } catch (err) {
      throw toRegistryError(err, `calling ${name}`);
    }
  }

  /** An index view that reverts with AnchorRegistryTreeSizeNotFound when there is no match. */
  async #optionalIndex(name: string, treeSize: bigint): Promise<bigint | undefined> {
    try {
      return (await retryOnReset(() => this.#contract.getFunction(name).staticCall(treeSize))) as bigint;
    } catch (err) {
      if (isError(err, 'CALL_EXCEPTION') && err.revert?.name === 'AnchorRegistryTreeSizeNotFound') return undefined;
      throw toRegistryError(err, `calling ${name}`);
    }
  }
}

function toCheckpoint(index: bigint, r: Result): OnChainCheckpoint {
  return {
    index,
    treeSize: r[0] as bigint,
    fabricBlockHeight: r[1] as bigint,
    timestamp: r[2] as bigint,
    root: hexToBytes(r[3] as string),
  };
}

/**
 * Runs an idempotent read, once more if the connection was reset. Node keeps HTTP connections
 * alive; when the node closes an idle one while this process is busy, the next request on it
 * fails with ECONNRESET ("socket hang up") without having reached the node. Writes are not
 * retried this way: whether a reset transaction was received is unknown (the checkpointer's next
 * round decides again from the chain's state).
 */
async function retryOnReset<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (!isConnectionReset(err)) throw err;
    return read();
  }
}

function isConnectionReset(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (code === 'ECONNRESET' || (typeof message === 'string' && message.includes('socket hang up'))) return true;
    e = (e as { cause?: unknown; error?: unknown }).cause ?? (e as { error?: unknown }).error;
  }
  return false;
}

/** Reads `eth_chainId` with a timeout, without letting ethers print its retry banner. */
async function probeChainId(rpcUrl: string, timeoutMs: number): Promise<bigint> {
  return retryOnReset(() => probeChainIdOnce(rpcUrl, timeoutMs));
}

async function probeChainIdOnce(rpcUrl: string, timeoutMs: number): Promise<bigint> {
  const request = new FetchRequest(rpcUrl);
  request.timeout = timeoutMs;
  request.body = { jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] };
  request.setHeader('content-type', 'application/json');
  try {
    const response = await request.send();
    response.assertOk();
    const result = (response.bodyJson as { result?: unknown }).result;
    if (typeof result !== 'string' || !/^0x[0-9a-fA-F]+$/.test(result)) throw new Error('eth_chainId returned no chain id');
    return BigInt(result);
  } catch (err) {
    throw new AnchoringError('REGISTRY_UNAVAILABLE', `The EVM node at ${new URL(rpcUrl).origin} did not answer eth_chainId.`, { cause: err });
  }
}

const REVERT_CODES: Readonly<Record<string, AnchoringErrorCode>> = {
  AnchorRegistryUnauthorizedAnchorer: 'REGISTRY_UNAUTHORIZED',
  AnchorRegistryUnauthorizedOwner: 'REGISTRY_UNAUTHORIZED',
  AnchorRegistryTreeSizeNotIncreasing: 'REGISTRY_SIZE_NOT_INCREASING',
};

const REVERT_SENTENCES: Readonly<Record<string, string>> = {
  AnchorRegistryUnauthorizedAnchorer: 'The registry refused the checkpoint: this key is not an authorised anchorer.',
  AnchorRegistryUnauthorizedOwner: 'The registry refused the call: this key is not the registry owner.',
  AnchorRegistryTreeSizeNotIncreasing: 'The registry refused the checkpoint: its tree size does not exceed the latest checkpoint\'s.',
  AnchorRegistryBlockHeightDecreasing: 'The registry refused the checkpoint: its Fabric block height is below the latest checkpoint\'s.',
  AnchorRegistryZeroRoot: 'The registry refused the checkpoint: the root is zero.',
};

/**
 * Maps an ethers error to an AnchoringError: reverts by custom error name, the rest as unavailable.
 * ethers decodes custom errors of calls, not of transactions (a transaction's revert surfaces from
 * gas estimation as raw data), hence `abi` to decode those.
 */
export function toRegistryError(err: unknown, doing: string, abi?: Interface): AnchoringError {
  if (err instanceof AnchoringError) return err;
  if (isError(err, 'CALL_EXCEPTION')) {
    let decoded: { name: string; args: readonly unknown[] } | undefined = err.revert ?? undefined;
    if (!decoded && abi && typeof err.data === 'string' && err.data.length >= 10) {
      const parsed = abi.parseError(err.data);
      if (parsed) decoded = { name: parsed.name, args: [...parsed.args] };
    }
    const revert = decoded?.name;
    if (revert) {
      const args = decoded!.args.map((a) => (typeof a === 'bigint' ? a.toString() : String(a)));
      return new AnchoringError(
        REVERT_CODES[revert] ?? 'REGISTRY_REJECTED',
        REVERT_SENTENCES[revert] ?? `The registry refused the call while ${doing}: ${revert}.`,
        { details: { revert, args }, cause: err },
      );
    }
    return new AnchoringError('REGISTRY_REJECTED', `The registry call reverted without a known reason while ${doing}.`, { cause: err });
  }
  return new AnchoringError('REGISTRY_UNAVAILABLE', `The EVM node failed while ${doing}.`, { cause: err });
}

/** What {@link deployAnchorRegistry} needs. */
export interface DeployRegistryOptions {
  readonly rpcUrl: string;
  /** The owner's key; the owner curates anchorers and is deliberately not one itself. */
  readonly ownerKey: string;
  /** Fabric channel name the registry checkpoints. */
  readonly channel: string;
  /** Accounts to authorise as anchorers right after deployment. */
  readonly anchorers?: readonly string[];
  readonly artifactPath?: string;
}

/**
 * Deploys an AnchorRegistry (operator tooling and tests; the gateway only connects to one).
 *
 * @returns the contract address and the block it was deployed in (use it as `fromBlock`)
 */
export async function deployAnchorRegistry(options: DeployRegistryOptions): Promise<{ address: string; blockNumber: number }> {
  const artifact = loadRegistryArtifact(options.artifactPath);
  const chainId = await probeChainId(options.rpcUrl, 10_000);
  const provider = new JsonRpcProvider(options.rpcUrl, Network.from(chainId), { staticNetwork: true, pollingInterval: 250, cacheTimeout: -1 });
  try {
    const owner = new Wallet(options.ownerKey, provider);
    const factory = new ContractFactory(artifact.abi, artifact.bytecode, owner);
    const contract = await factory.deploy(options.channel);
    const deployment = await contract.deploymentTransaction()!.wait();
    const address = await contract.getAddress();
    for (const account of options.anchorers ?? []) {
      const tx = await contract.getFunction('addAnchorer').send(account);
      await tx.wait();
    }
    return { address, blockNumber: deployment!.blockNumber };
  } catch (err) {
    throw toRegistryError(err, 'deploying the registry');
  } finally {
    provider.destroy();
  }
}
