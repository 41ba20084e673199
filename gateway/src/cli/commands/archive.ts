import { readFile, writeFile } from 'node:fs/promises';
import { JsonRpcProvider } from 'ethers';
import { archiveAnchorReasons, isAnchoringError, parseArchiveReceipt, verifyArchiveReceipt, verifyReceiptOnChain, type ArchiveLedgerAnchor, type ArchiveReceipt, type LedgerArchive } from '../../anchoring';
import type { AnchoredArchive } from '../../anchoring/archive-ledger';
import { anchorArchiveStore, archiveFolder, attachLogReceipt, readArchiveManifest, readArchiveReceipt, type AnchorRootFn } from '../../anchoring/node';
import type { Receipt } from '../../anchoring/receipt';
import { nativeSha256 } from '../../merkle/node-hasher';
import { intOption, str, type Command, type Parsed } from '../command';
import { gatewaySettings } from '../config';
import { GatewayClient, segment } from '../client';
import { CliError, EXIT, UsageError } from '../errors';
import { fields, type Output } from '../output';

const ARCHIVE_ID = /^[\p{L}\p{N}._:/#@+-]{1,120}$/u;
const CATEGORY = /^[A-Za-z0-9._:-]{1,64}$/;

/** --id and --category, checked as the gateway would. */
function archiveIdentity(args: Parsed): { archiveId: string; category?: string } {
  const archiveId = str(args, 'id');
  if (archiveId === undefined) throw new UsageError('--id <archiveId> is required: the id the ledger keeps the archive under.');
  if (!ARCHIVE_ID.test(archiveId)) throw new UsageError('--id must be 1 to 120 letters, digits or . _ : / # @ + - (no spaces).');
  const category = str(args, 'category');
  if (category !== undefined && !CATEGORY.test(category)) throw new UsageError('--category must be a code of letters, digits and . _ : - (at most 64).');
  return { archiveId, ...(category !== undefined ? { category } : {}) };
}

/** Anchors a root through the gateway's POST /v1/archives; the answer as the receipts name it. */
function gatewayAnchor(client: GatewayClient, identity: { archiveId: string; category?: string }): AnchorRootFn {
  return async (root, meta) => {
    const { body } = await client.request<AnchoredArchive>('POST', '/v1/archives', { ...identity, root, count: meta.fileCount });
    const { archive, blockNumber } = body;
    if (blockNumber === undefined) throw new CliError(EXIT.GATEWAY_ERROR, `The gateway anchored the archive (transaction ${archive.txId}) but could not tell its block; run 'medprov archive anchor' again.`);
    return { issuer: archive.issuer, archiveId: archive.archiveId, txId: archive.txId, blockNumber, anchoredAt: archive.anchoredAt };
  };
}

/** Re-throws the gateway's refusal of the anchoring as it is (its code, exit 4), anything else unchanged. */
function unwrapAnchorFailure(err: unknown): never {
  if (isAnchoringError(err) && err.code === 'ARCHIVE_ANCHOR_FAILED' && err.cause instanceof CliError) {
    const cause = err.cause;
    throw new CliError(cause.exitCode, `${cause.message} The receipts are written; anchor them with 'medprov archive anchor <out> --id <archiveId>'.`, cause.code, { cause });
  }
  throw err;
}

function printAnchor(out: Output, anchor: ArchiveLedgerAnchor): void {
  for (const l of fields([
    ['archive', `${anchor.issuer} / ${anchor.archiveId}`],
    ['transaction', anchor.txId],
    ['block', anchor.blockNumber],
    ['anchored at', anchor.anchoredAt],
  ])) out.line(l);
}

/** `medprov archive create <folder> --out <dir> --id <archiveId>`: a folder as one root, one transaction, a receipt per file. */
export const archiveCreateCommand: Command = {
  name: 'archive create',
  summary: 'anchor a whole folder as one Merkle root in one ledger transaction, with a receipt for every file',
  usage: 'archive create <folder> --out <receipts-folder> --id <archiveId> [--category <code>] [--threads <n>] [--gateway <url>] [--api-key <key>] [--json]',
  description: `
Hashes every regular file under <folder> here (nothing but the root leaves this machine), builds
the archive's Merkle tree (RFC 6962; a leaf is a file's path and SHA-256), writes the receipts
folder <receipts-folder> (the tree's levels, each file's SHA-256 and path: any file's receipt is
read back from it) and anchors the root through the gateway in one ledger transaction
(POST /v1/archives, Archives:anchorArchive), whatever the number of files. Records officers of a
hospital. Every receipt then names that transaction.

The order is fixed (folder by folder, names sorted), so the same content gives the same root
anywhere. Symbolic links, sockets and devices are skipped and counted. <receipts-folder> must be
new or empty and outside <folder>. When the gateway refuses or cannot be reached the receipts
are kept: anchor them later with 'medprov archive anchor'.`,
  examples: [
    'medprov archive create /data/scans-2019 --out /data/receipts/scans-2019 --id scans-2019',
    'medprov archive create ./exports --out ./exports.receipts --id exports-2026-01 --category scans --json',
  ],
  options: {
    out: { type: 'string', value: 'folder', description: 'where to write the receipts (new or empty, outside <folder>)' },
    id: { type: 'string', value: 'archiveId', description: 'the id the ledger keeps the archive under (unique per hospital)' },
    category: { type: 'string', value: 'code', description: 'an optional code of what the archive holds' },
    threads: { type: 'string', value: 'n', description: 'hashing threads (default: cores, at most 4)' },
  },
  usesGateway: true,
  positionals: { min: 1, max: 1 },
  async run({ args, out, env }) {
    const folder = args.positionals[0]!;
    const target = str(args, 'out');
    if (target === undefined) throw new UsageError('--out <receipts-folder> is required.');
    const identity = archiveIdentity(args);
    const threads = args.values.threads === undefined ? undefined : intOption(args, 'threads', 1, 1, 64);
    const client = new GatewayClient(gatewaySettings(args, env));
    let bar: ReturnType<Output['bar']> | undefined;
    let ticked = 0;
    const summary = await archiveFolder(folder, {
      out: target,
      ...(threads !== undefined ? { threads } : {}),
      anchorRoot: gatewayAnchor(client, identity),
      onProgress: (p) => {
        if (p.phase === 'hashing' && !bar && p.filesTotal !== undefined) bar = out.bar('hashing', p.filesTotal, 'files');
        if (bar && p.phase === 'hashing') {
          bar.tick(p.filesHashed - ticked);
          ticked = p.filesHashed;
        }
        if (p.phase !== 'hashing' && bar) {
          bar.finish();
          bar = undefined;
        }
      },
    }).catch(unwrapAnchorFailure);
    out.document(summary);
    out.line(`archived ${summary.fileCount} files (${summary.totalBytes} bytes${summary.skipped ? `, ${summary.skipped} entries skipped` : ''}) as one root`);
    for (const l of fields([
      ['root', summary.root],
      ['receipts', `${summary.out} (${(summary.receiptBytes / 2 ** 20).toFixed(1)} MiB)`],
      ['time', `${(summary.timings.totalMs / 1000).toFixed(1)} s`],
    ])) out.line(l);
    if (summary.anchor) printAnchor(out, summary.anchor);
    return EXIT.OK;
  },
};

/** `medprov archive anchor <receipts-folder> --id <archiveId>`: anchor (again) an archive whose anchoring failed. */
export const archiveAnchorCommand: Command = {
  name: 'archive anchor',
  summary: "anchor an archive's root whose anchoring failed or was left for later (safe to repeat)",
  usage: 'archive anchor <receipts-folder> --id <archiveId> [--category <code>] [--gateway <url>] [--api-key <key>] [--json]',
  description: `
Sends the root of the archive in <receipts-folder> to the gateway (POST /v1/archives) and records
the ledger transaction in the receipts folder, so that every receipt names it. The same archive
sent again is answered with the transaction that anchored it first; another root under the same
id is refused (ARCHIVE_EXISTS, exit 4).`,
  examples: ['medprov archive anchor /data/receipts/scans-2019 --id scans-2019'],
  options: {
    id: { type: 'string', value: 'archiveId', description: 'the id the ledger keeps the archive under' },
    category: { type: 'string', value: 'code', description: 'an optional code of what the archive holds' },
  },
  usesGateway: true,
  positionals: { min: 1, max: 1 },
  async run({ args, out, env }) {
    const folder = args.positionals[0]!;
    const identity = archiveIdentity(args);
    const client = new GatewayClient(gatewaySettings(args, env));
    const anchor = await anchorArchiveStore(folder, gatewayAnchor(client, identity)).catch(unwrapAnchorFailure);
    out.document(anchor);
    out.line(`anchored the root of ${folder}`);
    printAnchor(out, anchor);
    return EXIT.OK;
  },
};

/** `medprov archive checkpoint <receipts-folder>`: the anchor log's receipt of the root, added to every file's receipt. */
export const archiveCheckpointCommand: Command = {
  name: 'archive checkpoint',
  summary: "add the EVM checkpoint of the archive's root to every file's receipt, once there is one",
  usage: 'archive checkpoint <receipts-folder> [--gateway <url>] [--api-key <key>] [--json]',
  description: `
Asks the gateway for the anchor log's receipt of the archive's root (GET /v1/receipts/{root}: the
log follows Archives:anchorArchive like record anchors) and, once it verifies and names the
archive's transaction, keeps it in <receipts-folder>: every file's receipt read afterwards chains
file → archive root → log root → the AnchorRegistry checkpoint on the EVM chain. Until a
checkpoint covers the root (every 1,000 anchors or 60 s) the gateway answers RECEIPT_PENDING
(exit 4): ask again a little later.`,
  examples: ['medprov archive checkpoint /data/receipts/scans-2019'],
  options: {},
  usesGateway: true,
  positionals: { min: 1, max: 1 },
  async run({ args, out, env }) {
    const folder = args.positionals[0]!;
    const manifest = await readArchiveManifest(folder).catch((err: unknown) => {
      throw new UsageError(`${folder} is not an archive's receipts folder (${(err as Error).message}).`);
    });
    if (!manifest.anchor) throw new UsageError(`the archive in ${folder} is not anchored yet: run 'medprov archive anchor' first.`);
    const client = new GatewayClient(gatewaySettings(args, env));
    const { body: logReceipt } = await client.request<Receipt>('GET', `/v1/receipts/${manifest.root}`);
    try {
      await attachLogReceipt(folder, logReceipt);
    } catch (err) {
      if (isAnchoringError(err)) throw new CliError(EXIT.FAILED, `The gateway's log receipt of the root was not kept: ${err.message}`, err.code, { cause: err });
      throw err;
    }
    // The chain as a verifier will see it: one file's receipt, the log's leaf naming the archive's transaction.
    const check = await readArchiveReceipt(folder, { index: 0 });
    const leaf = check.logReceipt!.leaf;
    if (leaf.txId !== manifest.anchor.txId) throw new CliError(EXIT.FAILED, `The log's receipt names transaction ${leaf.txId}, not the archive's ${manifest.anchor.txId}.`);
    out.document({ root: manifest.root, logReceipt });
    out.line(`every receipt in ${folder} now chains to the EVM checkpoint`);
    for (const l of fields([
      ['log leaf', `${logReceipt.leafIndex} of ${logReceipt.treeSize}`],
      ['checkpoint', `chain ${logReceipt.checkpoint.chainId}, contract ${logReceipt.checkpoint.contract}`],
      ['EVM tx', logReceipt.checkpoint.evmTxHash],
    ])) out.line(l);
    return EXIT.OK;
  },
};

/** `medprov archive receipt <receipts-folder> <path>`: one file's self-contained receipt. */
export const archiveReceiptCommand: Command = {
  name: 'archive receipt',
  summary: "one archived file's receipt, self-contained (checkable offline by anyone)",
  usage: 'archive receipt <receipts-folder> <path> [--out <receipt.json>] [--json]',
  description: `
Reads the receipt of the file <path> (relative to the archived folder, / between folders; or its
leaf index with --index) from <receipts-folder>: the file's path and SHA-256, its place in the
archive's tree and the proof to the root, and the ledger transaction that anchored the root.
Written to --out, or printed. Check it with 'medprov archive verify <receipt.json> <file>'.`,
  examples: ['medprov archive receipt /data/receipts/scans-2019 2019/03/scan-0042.pdf --out scan-0042.receipt.json', 'medprov archive receipt ./exports.receipts 17 --index'],
  options: {
    out: { type: 'string', value: 'file', description: 'write the receipt here (never over an existing file)' },
    index: { type: 'boolean', description: '<path> is a leaf index' },
  },
  usesGateway: false,
  positionals: { min: 2, max: 2 },
  async run({ args, out }) {
    const [folder, which] = args.positionals as [string, string];
    let key: { index: number } | { path: string } = { path: which };
    if (args.values.index) {
      if (!/^\d{1,10}$/.test(which)) throw new UsageError('with --index, give a leaf index (a whole number).');
      key = { index: Number(which) };
    }
    await readArchiveManifest(folder).catch((err: unknown) => {
      throw new UsageError(`${folder} is not an archive's receipts folder (${(err as Error).message}).`);
    });
    let receipt: ArchiveReceipt;
    try {
      receipt = await readArchiveReceipt(folder, key);
    } catch (err) {
      if (isAnchoringError(err) && err.code === 'ARCHIVE_ENTRY_NOT_FOUND') throw new CliError(EXIT.FAILED, `No file ${JSON.stringify(which)} is in the archive.`, err.code);
      throw err;
    }
    const target = str(args, 'out');
    const text = `${JSON.stringify(receipt, null, 2)}\n`;
    if (target !== undefined) {
      try {
        await writeFile(target, text, { flag: 'wx' });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new UsageError(`${target} already exists; choose another --out.`);
        throw err;
      }
      out.line(`receipt of ${receipt.file.path} (leaf ${receipt.leafIndex} of ${receipt.treeSize}): ${target}`);
    } else if (!out.json) {
      out.stdout.write(text);
    }
    out.document(receipt);
    return EXIT.OK;
  },
};

/** `medprov archive verify <receipt.json> <file> [--ledger]`: check an archive receipt offline (and against the ledger). */
export const archiveVerifyCommand: Command = {
  name: 'archive verify',
  summary: "check an archived file's receipt offline, and with --ledger against the ledger, with --rpc on the EVM chain",
  usage: 'archive verify <receipt.json> <file> [--ledger] [--rpc <url>] [--gateway <url>] [--api-key <key>] [--json]',
  description: `
Checks without any gateway that <file> hashes to the receipt's SHA-256 and that the receipt's
proof leads from its leaf (path and SHA-256) to the archive's root. With --ledger it also asks a
gateway what the ledger holds for the archive the receipt names (GET /v1/archives/{issuer}/{id},
any member's gateway) and checks the same root, file count and transaction. A receipt that
carries the anchor log's receipt of the root ('medprov archive checkpoint') is checked to its
checkpoint offline too, and with --rpc on the EVM chain (the AnchorRegistry it names).
Exit status 0 when everything checked holds, 1 when not, 3 when the EVM node cannot be reached.`,
  examples: ['medprov archive verify scan-0042.receipt.json scan-0042.pdf', 'medprov archive verify scan-0042.receipt.json scan-0042.pdf --ledger --json'],
  options: {
    ledger: { type: 'boolean', description: 'also compare with the ledger, through the gateway' },
    rpc: { type: 'string', value: 'url', description: "JSON-RPC URL of the EVM chain: also check the root's checkpoint on chain" },
  },
  usesGateway: true,
  positionals: { min: 2, max: 2 },
  async run({ args, out, env }) {
    const [receiptFile, file] = args.positionals as [string, string];
    const read = async (f: string): Promise<Buffer> =>
      readFile(f).catch((err: NodeJS.ErrnoException) => {
        throw new UsageError(`cannot read ${f}: ${err.code === 'ENOENT' ? 'there is no such file' : (err.code ?? 'read error')}.`);
      });
    const [receiptText, bytes] = await Promise.all([read(receiptFile), read(file)]);
    let receipt: ArchiveReceipt;
    try {
      receipt = parseArchiveReceipt(receiptText.toString('utf8'));
    } catch (err) {
      if (!isAnchoringError(err)) throw err;
      out.document({ valid: false, reasons: [err.message] });
      out.line(`NOT VALID: ${receiptFile} is not an archive receipt: ${err.message}`);
      return EXIT.FAILED;
    }
    const offline = verifyArchiveReceipt(receipt, bytes, { sha256: nativeSha256 });
    const reasons = [...offline.reasons];
    let ledger: LedgerArchive | null | undefined;
    if (args.values.ledger) {
      if (!receipt.anchor) {
        reasons.push('The receipt names no ledger transaction to compare with.');
      } else {
        const client = new GatewayClient(gatewaySettings(args, env));
        try {
          ledger = (await client.request<LedgerArchive>('GET', `/v1/archives/${segment(receipt.anchor.issuer)}/${segment(receipt.anchor.archiveId)}`)).body;
        } catch (err) {
          if (!(err instanceof CliError && err.code === 'ARCHIVE_NOT_FOUND')) throw err;
          ledger = null;
        }
        reasons.push(...archiveAnchorReasons(receipt, ledger));
      }
    }
    const rpc = str(args, 'rpc');
    if (rpc !== undefined) {
      if (!/^(https?|wss?):\/\//.test(rpc)) throw new UsageError(`--rpc '${rpc}' must be an http(s) or ws(s) URL.`);
      if (!receipt.logReceipt) {
        reasons.push("The receipt carries no checkpoint to check on chain (run 'medprov archive checkpoint' on its receipts folder).");
      } else {
        const provider = new JsonRpcProvider(rpc, undefined, { staticNetwork: true });
        try {
          reasons.push(...(await verifyReceiptOnChain(receipt.logReceipt, provider, { sha256: nativeSha256 })).reasons.map((r) => `On chain: ${r}`));
        } catch (err) {
          if (isAnchoringError(err) && err.code === 'REGISTRY_UNAVAILABLE') throw new CliError(EXIT.UNREACHABLE, `Cannot ask the EVM chain at ${rpc} about the checkpoint.`, err.code, { cause: err });
          throw err;
        } finally {
          provider.destroy();
        }
      }
    }
    const valid = reasons.length === 0;
    out.document({ valid, reasons, anchored: offline.anchored, file: receipt.file, leafIndex: receipt.leafIndex, treeSize: receipt.treeSize, archiveRoot: receipt.archiveRoot, anchor: receipt.anchor ?? null, ...(ledger !== undefined ? { ledger } : {}) });
    out.line(valid ? `VALID: ${file} is ${receipt.file.path} of the archive with root ${receipt.archiveRoot}${ledger ? ', as the ledger holds it' : ''}${offline.anchored ? `, checkpointed on chain ${receipt.logReceipt!.checkpoint.chainId}${rpc ? ' (checked there)' : ''}` : ''}` : `NOT VALID: ${file}`);
    for (const reason of reasons) out.line(`  ${reason}`);
    if (valid && receipt.anchor) printAnchor(out, receipt.anchor);
    return valid ? EXIT.OK : EXIT.FAILED;
  },
};

/** The archive commands, in the order `medprov archive --help` lists them. */
export const ARCHIVE_COMMANDS: readonly Command[] = [archiveCreateCommand, archiveAnchorCommand, archiveCheckpointCommand, archiveReceiptCommand, archiveVerifyCommand];
