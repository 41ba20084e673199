/**
 * The manifest of `medprov anchor <dir> --manifest <file>`: which files of the folder to anchor,
 * for which patient, under which record id and category.
 *
 * CSV: a header row naming the columns `path` and `patientId` (required) and `recordId`,
 * `category` (optional), comma-separated, fields optionally in double quotes ("" for a quote).
 * JSON: an array of `{ "path", "patientId", "recordId"?, "category"? }`.
 * `path` is relative to the folder, with `/` separators.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { UsageError } from './errors';

export interface ManifestRow {
  path: string;
  patientId: string;
  recordId?: string;
  category?: string;
}

const COLUMNS = ['path', 'patientId', 'recordId', 'category'] as const;

export function readManifest(file: string): ManifestRow[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read the manifest ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'}).`);
  }
  const rows = /\.json$/i.test(file) ? fromJson(file, text) : fromCsv(file, text);
  if (rows.length === 0) throw new UsageError(`the manifest ${file} lists no files.`);
  const seen = new Set<string>();
  for (const row of rows) {
    const p = row.path.replace(/^\.\//, '');
    if (p.startsWith('/') || p.split('/').includes('..')) throw new UsageError(`manifest path '${row.path}' must be relative to the folder, without '..'.`);
    if (seen.has(p)) throw new UsageError(`the manifest lists '${p}' twice.`);
    seen.add(p);
    row.path = p;
  }
  return rows;
}

function fromJson(file: string, text: string): ManifestRow[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UsageError(`the manifest ${file} is not valid JSON.`);
  }
  if (!Array.isArray(json)) throw new UsageError(`the manifest ${file} must be a JSON array of { path, patientId, recordId?, category? }.`);
  return json.map((item, i) => {
    if (typeof item !== 'object' || item === null) throw new UsageError(`manifest entry ${i + 1} is not an object.`);
    const o = item as Record<string, unknown>;
    for (const key of Object.keys(o)) {
      if (!(COLUMNS as readonly string[]).includes(key)) throw new UsageError(`manifest entry ${i + 1} has an unknown field '${key}'.`);
    }
    return rowOf(o, `manifest entry ${i + 1}`);
  });
}

function rowOf(o: Record<string, unknown>, where: string): ManifestRow {
  for (const key of COLUMNS) {
    if (o[key] !== undefined && typeof o[key] !== 'string') throw new UsageError(`${where}: '${key}' must be a string.`);
  }
  if (!o.path) throw new UsageError(`${where} has no path.`);
  if (!o.patientId) throw new UsageError(`${where} has no patientId.`);
  return {
    path: o.path as string,
    patientId: o.patientId as string,
    ...(o.recordId ? { recordId: o.recordId as string } : {}),
    ...(o.category ? { category: o.category as string } : {}),
  };
}

function fromCsv(file: string, text: string): ManifestRow[] {
  const lines = parseCsv(text).filter((r) => !(r.length === 1 && r[0] === ''));
  if (lines.length === 0) throw new UsageError(`the manifest ${file} is empty.`);
  const header = lines[0]!.map((h) => h.trim());
  for (const h of header) {
    if (!(COLUMNS as readonly string[]).includes(h)) throw new UsageError(`the manifest's header names an unknown column '${h}' (known: ${COLUMNS.join(', ')}).`);
  }
  if (!header.includes('path') || !header.includes('patientId')) throw new UsageError('the manifest\'s header must name the columns path and patientId.');
  return lines.slice(1).map((cells, i) => {
    if (cells.length !== header.length) throw new UsageError(`manifest line ${i + 2} has ${cells.length} fields, the header ${header.length}.`);
    return rowOf(Object.fromEntries(header.map((h, j) => [h, cells[j]])), `manifest line ${i + 2}`);
  });
}

/** RFC 4180 CSV (quotes, "" escapes, CRLF or LF). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"' && cell === '') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else cell += c;
  }
  if (cell !== '' || row.length > 0) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}
