import { readFile } from 'node:fs/promises';
import { JsonRpcProvider } from 'ethers';
import { str, type Command } from '../command';
import { CliError, EXIT, UsageError } from '../errors';
import { fields, type Output } from '../output';
import { isAnchoringError, parseReceipt, verifyReceipt, verifyReceiptOnChain, type OnChainVerificationResult, type Receipt, type VerificationResult } from '../../anchoring';
import { nativeSha256 } from '../../merkle/node-hasher';


/** `medprov verify-receipt <receipt.json> [<file>]`: offline (and optionally on-chain) receipt check. */
export const verifyReceiptCommand: Command = {
  name: 'verify-receipt',
  summary: 'check a receipt offline against its document, and optionally on the EVM chain',
  usage: 'verify-receipt <receipt.json> [<file>] [--rpc <url>] [--json]',
  description: `
Checks a receipt without asking any gateway: the document (when given) hashes to the receipt's
docHash (for a salted record: the commitment of its SHA-256 under the receipt's salt is that
docHash), and the receipt's inclusion proof places its leaf in the Merkle tree whose root is the
checkpoint's root. With --rpc it also asks the EVM chain that the checkpoint is recorded in the
AnchorRegistry the receipt names, with that root (and, when named, by that transaction).
Exit status 0 when it verifies, 1 when it does not (or the receipt is malformed), 3 when the
EVM node cannot be reached.`,
  examples: [
    'medprov verify-receipt discharge.receipt.json discharge.pdf',
    'medprov verify-receipt discharge.receipt.json discharge.pdf --rpc https://rpc.example.org --json',
  ],
  options: {
    rpc: { type: 'string', value: 'url', description: 'JSON-RPC URL of the EVM chain: also check the checkpoint on chain' },
  },
  usesGateway: false,
  positionals: { min: 1, max: 2 },
  async run({ args, out }) {
    const [receiptFile, documentFile] = args.positionals as [string, string | undefined];
    const receiptText = await readInput(receiptFile);
    const document = documentFile !== undefined ? await readInput(documentFile) : undefined;
    const rpc = str(args, 'rpc');
    let receiptJson: unknown;
    try {
      receiptJson = JSON.parse(receiptText.toString('utf8'));
    } catch {
      return report(out, receiptFile, documentFile, { valid: false, reasons: [`${receiptFile} is not JSON, so it is not a receipt.`] }, undefined);
    }
    let offline: VerificationResult;
    try {
      offline = verifyReceipt(receiptJson, document, { sha256: nativeSha256 });
    } catch (err) {
      if (!isAnchoringError(err)) throw err;
      return report(out, receiptFile, documentFile, { valid: false, reasons: [`The receipt is malformed: ${err.message}`] }, undefined);
    }
    const onChain = rpc !== undefined ? await checkpointOnChain(receiptJson, rpc) : undefined;
    const reasons = [...new Set([...offline.reasons, ...(onChain?.reasons ?? [])])];
    return report(out, receiptFile, documentFile, { valid: reasons.length === 0, reasons }, onChain, parseReceipt(receiptJson));
  },
};

/**
 * Asks the EVM chain at `rpc` whether a log receipt's checkpoint is recorded (verify-receipt
 * --rpc, access-receipt verify --rpc).
 *
 * @throws UsageError for an `rpc` that is not an http(s)/ws(s) URL; CliError UNREACHABLE when the node cannot be asked
 */
export async function checkpointOnChain(receipt: unknown, rpc: string): Promise<OnChainVerificationResult> {
  if (!/^(https?|wss?):\/\//.test(rpc)) throw new UsageError(`--rpc '${rpc}' must be an http(s) or ws(s) URL.`);
  const provider = new JsonRpcProvider(rpc, undefined, { staticNetwork: true });
  try {
    return await verifyReceiptOnChain(receipt, provider, { sha256: nativeSha256 });
  } catch (err) {
    if (isAnchoringError(err) && err.code === 'REGISTRY_UNAVAILABLE') {
      throw new CliError(EXIT.UNREACHABLE, `Cannot ask the EVM chain at ${rpc} about the receipt's checkpoint.`, err.code, { cause: err });
    }
    throw err;
  } finally {
    provider.destroy();
  }
}

/** A file's bytes, or a usage error saying why it cannot be read. */
export async function readInput(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read ${file}: ${code === 'ENOENT' ? 'there is no such file' : code === 'EISDIR' ? 'it is a folder' : (code ?? 'read error')}.`);
  }
}

function report(
  out: Output,
  receipt: string,
  document: string | undefined,
  result: VerificationResult,
  onChain: OnChainVerificationResult | undefined,
  parsed?: Receipt,
): number {
  const chain = onChain?.onChain
    ? {
        index: onChain.onChain.index.toString(),
        treeSize: onChain.onChain.treeSize.toString(),
        fabricBlockHeight: onChain.onChain.fabricBlockHeight.toString(),
        timestamp: new Date(Number(onChain.onChain.timestamp) * 1000).toISOString(),
      }
    : undefined;
  out.document({
    valid: result.valid,
    reasons: result.reasons,
    receipt,
    ...(document !== undefined ? { document } : {}),
    checkedOnChain: onChain !== undefined,
    ...(parsed
      ? {
          leaf: parsed.leaf,
          leafIndex: parsed.leafIndex,
          checkpoint: parsed.checkpoint,
        }
      : {}),
    ...(chain ? { onChain: chain } : {}),
  });
  const what = `${receipt}${document !== undefined ? ` for ${document}` : ' (proof only: no document given)'}`;
  out.line(`${result.valid ? 'VALID' : 'INVALID'}  ${what}${onChain ? (result.valid ? ', checkpoint recorded on chain' : '') : ', offline'}`);
  for (const r of result.reasons) out.line(`  - ${r}`);
  if (parsed) {
    const { leaf, checkpoint: cp } = parsed;
    for (const l of fields([
      [parsed.salt !== undefined ? 'commitment' : 'docHash', leaf.docHash],
      ['salt', parsed.salt !== undefined ? `${parsed.salt} (a salted record: the ledger holds the commitment of the document's SHA-256 under this salt)` : undefined],
      ['issuer', leaf.issuer],
      ['record', `${leaf.recordId} version ${leaf.version}`],
      ['anchored', `${leaf.anchoredAt}, tx ${leaf.txId}, block ${leaf.blockNumber}`],
      ['leaf', `${parsed.leafIndex} of ${parsed.treeSize}`],
      ['checkpoint', `root ${cp.root}, chain ${cp.chainId}, registry ${cp.contract}, Fabric block ${cp.fabricBlockHeight}`],
      ['evm tx', cp.evmTxHash],
    ])) out.line(l);
  }
  if (chain) out.line(`  on chain: checkpoint ${chain.index}, ${chain.treeSize} leaves, Fabric block ${chain.fabricBlockHeight}, ${chain.timestamp}`);
  return result.valid ? EXIT.OK : EXIT.FAILED;
}
