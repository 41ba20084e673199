/**
 * Checks a receipt against the EVM chain: the checkpoint it names must be recorded in the
 * registry it names, on the chain it names, with the same root. Browser-safe (ethers and the
 * in-code view ABI; no Node built-ins), so the web page and the CLI share it.
 *
 * @module
 */
import { Contract, Interface, isError, type Provider } from 'ethers';
import { bytesToHex, hexToBytes } from '../merkle';
import { AnchoringError } from './errors';
import { parseReceipt, verifyReceipt, type VerificationResult, type VerifyOptions } from './receipt';
import { ANCHOR_REGISTRY_VIEW_ABI, type OnChainCheckpoint } from './registry-abi';

/** Result of {@link verifyReceiptOnChain}: the offline checks and the chain's, together. */
export interface OnChainVerificationResult extends VerificationResult {
  /** The registry's checkpoint of the receipt's tree size, when there is one. */
  readonly onChain?: OnChainCheckpoint;
}

const viewInterface = new Interface(ANCHOR_REGISTRY_VIEW_ABI as string[]);

/**
 * Verifies a receipt offline ({@link verifyReceipt}, without the document) and against the chain:
 * the provider's chain id is the receipt's, a contract exists at `checkpoint.contract`, its
 * checkpoint of exactly `checkpoint.treeSize` leaves has the receipt's root and Fabric block
 * height, and, when the receipt names the EVM transaction, that transaction recorded this very
 * checkpoint in this contract.
 *
 * @param receipt - the receipt object or its JSON text
 * @param provider - any ethers provider of the chain (JSON-RPC in Node, a browser wallet's in a page)
 * @throws AnchoringError RECEIPT_MALFORMED / RECEIPT_UNSUPPORTED_VERSION for receipts that are
 *   not well-formed, REGISTRY_UNAVAILABLE when the chain cannot be asked
 */
export async function verifyReceiptOnChain(receipt: unknown, provider: Provider, options?: VerifyOptions): Promise<OnChainVerificationResult> {
  const r = parseReceipt(receipt);
  const reasons = [...verifyReceipt(r, undefined, options).reasons];
  const cp = r.checkpoint;
  try {
    const network = await provider.getNetwork();
    if (network.chainId !== BigInt(cp.chainId)) {
      reasons.push(`The receipt names chain ${cp.chainId} but the provider is on chain ${network.chainId}.`);
      return { valid: false, reasons };
    }
    if ((await provider.getCode(cp.contract)) === '0x') {
      reasons.push(`There is no contract at ${cp.contract} on chain ${cp.chainId}.`);
      return { valid: false, reasons };
    }
    const registry = new Contract(cp.contract, viewInterface, provider);
    let index: bigint;
    try {
      index = (await registry.getFunction('checkpointIndexForSize').staticCall(cp.treeSize)) as bigint;
    } catch (err) {
      if (isError(err, 'CALL_EXCEPTION') && err.revert?.name === 'AnchorRegistryTreeSizeNotFound') {
        reasons.push(`The registry has no checkpoint of ${cp.treeSize} leaves.`);
        return { valid: false, reasons };
      }
      throw err;
    }
    const raw = (await registry.getFunction('checkpointAt').staticCall(index)) as readonly [bigint, bigint, bigint, string];
    const onChain: OnChainCheckpoint = {
      index,
      treeSize: raw[0],
      fabricBlockHeight: raw[1],
      timestamp: raw[2],
      root: hexToBytes(raw[3]),
    };
    if (bytesToHex(onChain.root) !== cp.root) reasons.push('The registry\'s root for this tree size differs from the receipt\'s root.');
    if (onChain.fabricBlockHeight !== BigInt(cp.fabricBlockHeight)) {
      reasons.push(`The registry records Fabric block height ${onChain.fabricBlockHeight} for this checkpoint, the receipt ${cp.fabricBlockHeight}.`);
    }
    if (cp.evmTxHash !== undefined) reasons.push(...(await transactionReasons(provider, cp.evmTxHash, cp.evmBlockNumber, cp.contract, cp.treeSize, cp.root)));
    return { valid: reasons.length === 0, reasons, onChain };
  } catch (err) {
    if (err instanceof AnchoringError) throw err;
    throw new AnchoringError('REGISTRY_UNAVAILABLE', 'The EVM chain could not be asked about the receipt\'s checkpoint.', { cause: err });
  }
}

/** Reasons the named EVM transaction is not the one that recorded this checkpoint (empty if it is). */
async function transactionReasons(
  provider: Provider,
  txHash: string,
  blockNumber: number | undefined,
  contract: string,
  treeSize: number,
  rootHex: string,
): Promise<string[]> {
  const receipt = await provider.getTransactionReceipt(txHash);
  if (!receipt) return [`The EVM transaction ${txHash} is not on chain.`];
  const reasons: string[] = [];
  if (blockNumber !== undefined && receipt.blockNumber !== blockNumber) {
    reasons.push(`The EVM transaction is in block ${receipt.blockNumber}, not ${blockNumber} as the receipt says.`);
  }
  const recorded = receipt.logs.some((log) => {
    if (log.address.toLowerCase() !== contract) return false;
    const parsed = viewInterface.parseLog(log);
    return (
      parsed?.name === 'CheckpointRecorded' &&
      (parsed.args[1] as bigint) === BigInt(treeSize) &&
      (parsed.args[2] as string).toLowerCase() === `0x${rootHex}`
    );
  });
  if (!recorded) reasons.push(`The EVM transaction ${txHash} did not record this checkpoint in ${contract}.`);
  return reasons;
}
