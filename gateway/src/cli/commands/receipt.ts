import { readFile, writeFile } from 'node:fs/promises';
import { verifyReceipt, type Receipt } from '../../anchoring/receipt';
import { nativeSha256 } from '../../merkle/node-hasher';
import type { Command } from '../command';
import { gatewaySettings } from '../config';
import { GatewayClient } from '../client';
import { EXIT, UsageError } from '../errors';
import { hashFile } from '../files';
import { fields } from '../output';

/** `medprov receipt <file>`: fetch the receipt of an anchored document, checked before it is kept. */
export const receiptCommand: Command = {
  name: 'receipt',
  summary: "fetch an anchored document's receipt (checkable offline and on the EVM chain)",
  usage: 'receipt <file> [--out <receipt.json>] [--gateway <url>] [--api-key <key>] [--json]',
  description: `
Hashes the file locally (only its SHA-256 is sent) and asks the gateway for its receipt
(GET /v1/receipts/{docHash}): the anchor's leaf, its Merkle inclusion proof and the checkpoint
on the EVM chain that covers it. The receipt is checked against the file before it is written,
so a receipt this command keeps is one that verifies. Anyone can check it later, without the
consortium: medprov verify-receipt <receipt.json> <file> [--rpc <url>].

Without --out the receipt is written next to the file as <file>.receipt.json (never over an
existing file). A document anchored moments ago has no receipt until the next checkpoint: the
gateway then answers RECEIPT_PENDING (exit 4); ask again a little later.`,
  examples: ['medprov receipt discharge-summary.pdf', 'medprov receipt scan.pdf --out /evidence/scan.receipt.json', 'medprov receipt scan.pdf --json > scan.receipt.json'],
  options: {
    out: { type: 'string', value: 'file', description: 'where to write the receipt (default: <file>.receipt.json; with --json: stdout only)' },
  },
  usesGateway: true,
  positionals: { min: 1, max: 1 },
  async run({ args, out, env }) {
    const file = args.positionals[0]!;
    const client = new GatewayClient(gatewaySettings(args, env));
    const { docHash, bytes } = await hashFile(file);
    const { body: receipt } = await client.request<Receipt>('GET', `/v1/receipts/${docHash}`);
    // The same offline check as verify-receipt: proof, checkpoint, and this very file.
    const check = verifyReceipt(receipt, await readFile(file), { sha256: nativeSha256 });
    if (!check.valid) {
      // The gateway answered with a receipt that does not prove this file: keep nothing.
      out.document({ ok: false, file, docHash, reasons: check.reasons });
      for (const reason of check.reasons) out.line(`receipt rejected: ${reason}`);
      return EXIT.FAILED;
    }
    const target = typeof args.values.out === 'string' ? args.values.out : args.values.json ? undefined : `${file}.receipt.json`;
    if (target !== undefined) await writeNewReceipt(target, receipt);
    out.document(receipt);
    out.line(`receipt of ${file} (${bytes} bytes) verifies${target ? `: ${target}` : ''}`);
    for (const l of fields([
      ['docHash', docHash],
      ['leaf', `${receipt.leafIndex} of ${receipt.treeSize}`],
      ['checkpoint', `chain ${receipt.checkpoint.chainId}, contract ${receipt.checkpoint.contract}`],
      ['EVM tx', receipt.checkpoint.evmTxHash],
    ])) out.line(l);
    return EXIT.OK;
  },
};

/** Writes a receipt as indented JSON to a new file; a usage error when `target` exists (never written over). */
export async function writeNewReceipt(target: string, receipt: unknown): Promise<void> {
  try {
    await writeFile(target, `${JSON.stringify(receipt, null, 2)}\n`, { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new UsageError(`${target} already exists; choose another --out.`);
    throw err;
  }
}
