/**
 * `medprov access-receipt get|verify`: consent-bound provenance receipts of accesses
 * (gateway/src/anchoring/access-receipt.ts). `get` fetches the receipt of an access transaction
 * and keeps it only when it verifies; `verify` checks one offline, against the document when
 * given, and against the EVM chain with --rpc.
 *
 * @module
 */
import { isAnchoringError, type OnChainVerificationResult } from '../../anchoring';
import { parseAccessReceipt, verifyAccessReceipt, type AccessReceipt } from '../../anchoring/access-receipt';
import type { VerificationResult } from '../../anchoring/receipt';
import { nativeSha256 } from '../../merkle/node-hasher';
import { str, type Command } from '../command';
import { gatewaySettings } from '../config';
import { GatewayClient } from '../client';
import { EXIT, UsageError } from '../errors';
import { fields, type Output } from '../output';
import { writeNewReceipt } from './receipt';
import { checkpointOnChain, readInput } from './verify-receipt';

const TX_ID = /^[0-9a-f]{64}$/;

/** `medprov access-receipt get <txId>`. */
export const accessReceiptGetCommand: Command = {
  name: 'access-receipt get',
  summary: 'fetch the consent-bound receipt of an access (checked, then saved)',
  usage: 'access-receipt get <txId> [--out <receipt.json>] [--gateway <url>] [--api-key <key>] [--json]',
  description: `
Asks the gateway for the receipt of the access transaction <txId> (GET /v1/access-receipts/{txId};
POST /v1/access names it as "receipt" when consent permitted the access). The receipt binds the
document's hash, its issuer, the grant in force (its id, the EIP-712 message and the patient's
signature), the purpose, the recipient, the transaction and its time, and proves that access in
the anchor log up to a checkpoint on the EVM chain. It is checked offline before it is written,
so a receipt this command keeps is one that verifies.

Without --out it is written as access-<txId>.receipt.json (never over an existing file). Only the
recipient's and the record issuer's gateways answer. An access of a moment ago has no receipt
until the next checkpoint: the gateway answers RECEIPT_PENDING (exit 4); ask again later. A denied
or break-glass access has none (ACCESS_RECEIPT_NOT_FOUND).`,
  examples: ['medprov access-receipt get 3f1c…e2 --out claim-4711.access.json'],
  options: {
    out: { type: 'string', value: 'file', description: 'where to write the receipt (default: access-<txId>.receipt.json; with --json: stdout only)' },
  },
  usesGateway: true,
  positionals: { min: 1, max: 1 },
  async run({ args, out, env }) {
    const txId = args.positionals[0]!;
    if (!TX_ID.test(txId)) throw new UsageError(`'${txId}' is not a transaction id (64 lowercase hexadecimal characters).`);
    const client = new GatewayClient(gatewaySettings(args, env));
    const { body: receipt } = await client.request<AccessReceipt>('GET', `/v1/access-receipts/${txId}`);
    const check = verifyAccessReceipt(receipt, undefined, { sha256: nativeSha256 });
    if (!check.valid) {
      out.document({ ok: false, txId, reasons: check.reasons });
      for (const reason of check.reasons) out.line(`receipt rejected: ${reason}`);
      return EXIT.FAILED;
    }
    const target = typeof args.values.out === 'string' ? args.values.out : args.values.json ? undefined : `access-${txId}.receipt.json`;
    if (target !== undefined) await writeNewReceipt(target, receipt);
    out.document(receipt);
    out.line(`receipt of access ${txId} verifies${target ? `: ${target}` : ''}`);
    describe(out, receipt);
    return EXIT.OK;
  },
};

/** `medprov access-receipt verify <receipt.json> [<file>]`. */
export const accessReceiptVerifyCommand: Command = {
  name: 'access-receipt verify',
  summary: 'check a consent-bound access receipt offline, against the document, and on the EVM chain with --rpc',
  usage: 'access-receipt verify <receipt.json> [<file>] [--rpc <url>] [--json]',
  description: `
Checks, without asking any gateway, that "this recipient read this exact document, under this
consent, at this time": the access's fields hash to the anchor log's leaf, whose inclusion proof
leads to the checkpoint's root; the grant message hashes (EIP-712) to the grant id and the
patient's signature over it recovers the patient's address; the grant is for the record's issuer,
names the recipient as grantee and the purpose, covers the record and was valid at the access's
time; the document (when given) hashes to the access's docHash. With --rpc it also asks the EVM
chain that the checkpoint is recorded in the AnchorRegistry the receipt names. Any changed field
fails, and each reason names what failed. Exit status 0 when it verifies, 1 when it does not (or
the receipt is malformed), 3 when the EVM node cannot be reached.`,
  examples: ['medprov access-receipt verify claim-4711.access.json discharge.pdf --rpc https://rpc.example.org'],
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
    let receipt: AccessReceipt;
    let offline: VerificationResult;
    try {
      receipt = parseAccessReceipt(receiptText.toString('utf8'));
      offline = verifyAccessReceipt(receipt, document, { sha256: nativeSha256 });
    } catch (err) {
      if (!isAnchoringError(err)) throw err;
      return report(out, receiptFile, documentFile, { valid: false, reasons: [`The receipt is malformed: ${err.message}`] }, undefined);
    }
    const onChain = rpc !== undefined ? await checkpointOnChain(receipt.logReceipt, rpc) : undefined;
    const reasons = [...new Set([...offline.reasons, ...(onChain?.reasons ?? []).map((r) => `Log receipt on chain: ${r}`)])];
    return report(out, receiptFile, documentFile, { valid: reasons.length === 0, reasons }, onChain, receipt);
  },
};

export const ACCESS_RECEIPT_COMMANDS: readonly Command[] = [accessReceiptGetCommand, accessReceiptVerifyCommand];

function describe(out: Output, receipt: AccessReceipt): void {
  const { access: a, grant: g, logReceipt: log } = receipt;
  for (const l of fields([
    ['recipient', a.recipient],
    ['document', `${a.docHash} (${a.issuer} ${a.recordId} version ${a.version}, ${a.category})`],
    ['purpose', a.purpose],
    ['grant', `${a.grantId}, signed by ${a.signedBy === 'guardian' ? `the guardian ${a.patient} (delegation ${a.delegationId})` : `the patient ${a.patient}`}, valid ${new Date(g.validFrom * 1000).toISOString()} to ${new Date(g.validUntil * 1000).toISOString()}`],
    ['accessed', `${a.at}, tx ${a.txId}, block ${log.leaf.blockNumber}`],
    ['leaf', `${log.leafIndex} of ${log.treeSize}`],
    ['checkpoint', `root ${log.checkpoint.root}, chain ${log.checkpoint.chainId}, registry ${log.checkpoint.contract}`],
    ['evm tx', log.checkpoint.evmTxHash],
  ])) out.line(l);
}

function report(out: Output, receiptFile: string, documentFile: string | undefined, result: VerificationResult, onChain: OnChainVerificationResult | undefined, receipt?: AccessReceipt): number {
  out.document({
    valid: result.valid,
    reasons: result.reasons,
    receipt: receiptFile,
    ...(documentFile !== undefined ? { document: documentFile } : {}),
    checkedOnChain: onChain !== undefined,
    ...(receipt ? { access: receipt.access, leafIndex: receipt.logReceipt.leafIndex, checkpoint: receipt.logReceipt.checkpoint } : {}),
  });
  const what = `${receiptFile}${documentFile !== undefined ? ` for ${documentFile}` : ' (no document given)'}`;
  out.line(`${result.valid ? 'VALID' : 'INVALID'}  ${what}${onChain ? (result.valid ? ', checkpoint recorded on chain' : '') : ', offline'}`);
  for (const r of result.reasons) out.line(`  - ${r}`);
  if (receipt) describe(out, receipt);
  return result.valid ? EXIT.OK : EXIT.FAILED;
}
