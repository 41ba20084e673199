import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { intOption, str, type Command, type Context } from '../command';
import { gatewaySettings } from '../config';
import { GatewayClient } from '../client';
import { CliError, EXIT, UsageError } from '../errors';
import { hashFile, kindOf, mapPool, walkFiles } from '../files';
import { readManifest } from '../manifest';
import { fields } from '../output';

/** A record anchor as the gateway returns it. */
interface Anchor {
  docHash: string;
  recordId: string;
  version: number;
  issuer: string;
  status: string;
  anchoredAt: string;
  txId: string;
  category: string;
}

interface Planned {
  file: string;
  display: string;
  recordId: string;
  patientId: string;
  category: string;
}

/** The gateway's record-id rule (OpenAPI `recordId`). */
const RECORD_ID = /^[\p{L}\p{N}._:/#@+-]{1,128}$/u;
const MAX_BATCH = 1000;

function checkRecordId(recordId: string, from: string): void {
  if (!RECORD_ID.test(recordId)) {
    throw new UsageError(
      `the record id '${recordId}' (from ${from}) is not allowed: 1-128 letters, digits and . _ : / # @ + - only; rename the file or map it in a --manifest.`,
    );
  }
}

/** `medprov anchor <file|dir>`: anchor documents by hash (they never leave this machine). */
export const anchorCommand: Command = {
  name: 'anchor',
  summary: 'anchor a document, or a folder of documents in batches (records officers of hospitals)',
  usage: 'anchor <file|dir> --category <code> (--patient-id <id> | --manifest <csv|json>) [--record-id <id>] [options]',
  description: `
Hashes the documents locally and anchors their SHA-256 on the ledger; the documents never leave
this machine, and the patient id never leaves the gateway (the ledger gets a commitment).

A file: one record (POST /v1/records). Its record id is --record-id, or the file's name.

A folder: one record per file, in batches of --batch-size (POST /v1/records/batch, one ledger
transaction per batch; a refused batch stops the run and says which files were anchored).
Files are found recursively (names starting with "." are skipped) and sorted; each record id is
--record-prefix followed by the file's path relative to the folder with "/" separators
(e.g. "2026/03/adm-0001.pdf"). Every file gets --patient-id and --category, unless a manifest
maps them: --manifest names a CSV with a header row of the columns path,patientId and optionally
recordId,category (or a JSON array of { path, patientId, recordId?, category? }); then exactly
the files it lists are anchored, paths relative to the folder.

Anchoring the same document again is harmless: the gateway answers with the existing anchor
("existing" in the summary).`,
  examples: [
    'medprov anchor discharge.pdf --record-id adm-2026-0001 --patient-id P-000123 --category loinc:18842-5',
    'medprov anchor ./exports/2026-03 --patient-id P-000123 --category loinc:11506-3 --record-prefix 2026-03/',
    'medprov anchor ./exports --manifest exports.csv --category loinc:11506-3 --json > anchors.json',
  ],
  options: {
    'record-id': { type: 'string', value: 'id', description: 'record id of a single file (default: its file name)' },
    'patient-id': { type: 'string', value: 'id', description: "the hospital's patient id (never leaves the gateway)" },
    category: { type: 'string', value: 'code', description: 'document type code, e.g. loinc:18842-5 (a manifest column may override it)' },
    manifest: { type: 'string', value: 'file', description: 'folder only: CSV or JSON mapping path → patientId[, recordId, category]' },
    'record-prefix': { type: 'string', value: 'text', description: 'folder only: prefix of every derived record id' },
    'batch-size': { type: 'string', value: 'n', description: 'folder only: records per transaction, 1-1000 (default 500)' },
  },
  usesGateway: true,
  positionals: { min: 1, max: 1 },
  async run(ctx) {
    const target = ctx.args.positionals[0]!;
    const kind = await kindOf(target);
    const settings = gatewaySettings(ctx.args, ctx.env);
    const client = new GatewayClient(settings);
    return kind === 'file' ? anchorFile(ctx, client, target) : anchorFolder(ctx, client, target);
  },
};

async function anchorFile(ctx: Context, client: GatewayClient, file: string): Promise<number> {
  const { args, out } = ctx;
  for (const folderOnly of ['manifest', 'record-prefix', 'batch-size']) {
    if (str(args, folderOnly) !== undefined) throw new UsageError(`--${folderOnly} is for a folder; ${file} is a file.`);
  }
  const patientId = str(args, 'patient-id');
  const category = str(args, 'category');
  if (!patientId) throw new UsageError('--patient-id is required.');
  if (!category) throw new UsageError('--category is required.');
  const recordId = str(args, 'record-id') ?? path.basename(file);
  checkRecordId(recordId, str(args, 'record-id') !== undefined ? '--record-id' : `the file name of ${file}`);
  const { docHash } = await hashFile(file);
  const { body } = await client.post<{ anchor: Anchor; created: boolean; blockNumber?: string }>('/v1/records', { recordId, docHash, patientId, category });
  out.document({ file, created: body.created, anchor: body.anchor, ...(body.blockNumber ? { blockNumber: body.blockNumber } : {}) });
  out.line(`${body.created ? 'anchored' : 'already anchored'}  ${file}`);
  for (const l of fields([
    ['docHash', body.anchor.docHash],
    ['issuer', body.anchor.issuer],
    ['record', body.anchor.recordId],
    ['version', body.anchor.version],
    ['anchored', body.anchor.anchoredAt],
    ['txId', body.anchor.txId],
  ])) out.line(l);
  return EXIT.OK;
}

async function anchorFolder(ctx: Context, client: GatewayClient, dir: string): Promise<number> {
  const { args, out } = ctx;
  if (str(args, 'record-id') !== undefined) throw new UsageError('--record-id is for a single file; a folder\'s record ids come from the file paths or the manifest.');
  const batchSize = intOption(args, 'batch-size', 500, 1, MAX_BATCH);
  const prefix = str(args, 'record-prefix') ?? '';
  const category = str(args, 'category');
  const patientId = str(args, 'patient-id');
  const manifestFile = str(args, 'manifest');

  let planned: Planned[];
  if (manifestFile) {
    const rows = readManifest(manifestFile);
    planned = rows.map((row) => ({
      file: path.join(dir, row.path),
      display: row.path,
      recordId: row.recordId ?? prefix + row.path,
      patientId: row.patientId,
      category: row.category ?? category ?? '',
    }));
    const missingCategory = planned.find((p) => !p.category);
    if (missingCategory) throw new UsageError(`no category for ${missingCategory.display}: pass --category or add a category column.`);
  } else {
    if (!patientId) throw new UsageError('--patient-id (or a --manifest) is required for a folder.');
    if (!category) throw new UsageError('--category is required.');
    const rels = await walkFiles(dir);
    if (rels.length === 0) throw new UsageError(`${dir} holds no files.`);
    planned = rels.map((rel) => ({ file: path.join(dir, rel), display: rel, recordId: prefix + rel, patientId, category }));
  }
  const ids = new Map<string, string>();
  for (const p of planned) {
    checkRecordId(p.recordId, p.display);
    const other = ids.get(p.recordId);
    if (other !== undefined) throw new UsageError(`${other} and ${p.display} would both be record '${p.recordId}'.`);
    ids.set(p.recordId, p.display);
  }

  const hashing = out.bar('hashing  ', planned.length, 'files');
  const hashes = await mapPool(planned, 8, async (p) => {
    const h = await hashFile(p.file);
    hashing.tick();
    return h.docHash;
  });
  hashing.finish();
  const byHash = new Map<string, string>();
  hashes.forEach((h, i) => {
    const other = byHash.get(h);
    if (other !== undefined) throw new UsageError(`${other} and ${planned[i]!.display} are the same document (one SHA-256); a document is anchored once.`);
    byHash.set(h, planned[i]!.display);
  });

  const batches = Math.ceil(planned.length / batchSize);
  const sending = out.bar('anchoring', planned.length, 'records');
  const results: { file: string; recordId: string; docHash: string; version: number; issuer: string; status: string; txId: string; anchoredAt: string }[] = [];
  let anchored = 0;
  let existing = 0;
  for (let b = 0; b < batches; b++) {
    const slice = planned.slice(b * batchSize, (b + 1) * batchSize);
    const records = slice.map((p, j) => ({ recordId: p.recordId, docHash: hashes[b * batchSize + j]!, patientId: p.patientId, category: p.category }));
    const idempotencyKey = 'medprov-cli-' + createHash('sha256').update(JSON.stringify(records)).digest('hex');
    let body: { anchored: number; existing: number; anchors: Anchor[] };
    try {
      ({ body } = await client.post<typeof body>('/v1/records/batch', { records }, { 'idempotency-key': idempotencyKey }));
    } catch (err) {
      sending.finish();
      if (!(err instanceof CliError)) throw err;
      const done = b * batchSize;
      const first = slice[0]!.display;
      const last = slice[slice.length - 1]!.display;
      const before = done > 0 ? `the ${done} records before it are anchored` : 'nothing was anchored';
      throw new CliError(err.exitCode, `Batch ${b + 1} of ${batches} (${first} … ${last}) failed and ${before}: ${err.message}`, err.code, { cause: err });
    }
    anchored += body.anchored;
    existing += body.existing;
    const anchorOf = new Map(body.anchors.map((a) => [a.docHash, a]));
    for (const r of records) {
      const a = anchorOf.get(r.docHash);
      results.push({
        file: byHash.get(r.docHash)!,
        recordId: a?.recordId ?? r.recordId,
        docHash: r.docHash,
        version: a?.version ?? 0,
        issuer: a?.issuer ?? '',
        status: a?.status ?? 'unknown',
        txId: a?.txId ?? '',
        anchoredAt: a?.anchoredAt ?? '',
      });
    }
    sending.tick(slice.length);
  }
  sending.finish();
  out.document({ files: planned.length, batches, anchored, existing, records: results });
  out.line(`${planned.length} files in ${batches} batch${batches === 1 ? '' : 'es'}: ${anchored} anchored, ${existing} already anchored.`);
  return EXIT.OK;
}
