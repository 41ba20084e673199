/**
 * Test fixtures of the ledger's OUTPUT (record anchors as the chaincode stores them, with their
 * ledger positions) and a source that replays them. The EVM side of the tests is real; only the
 * Fabric network, which cannot run here, is stood in for by its output.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { RecordAnchor } from '../../../chaincode/src/contracts/records';
import type { AnchorsAfterOptions, AnchorSource, LedgerPosition, SourcedAnchor } from '../../../gateway/src/anchoring';
import { comparePositions } from '../../../gateway/src/anchoring';

export const sha256Hex = (text: string | Uint8Array): string => createHash('sha256').update(text).digest('hex');

/** The document bytes whose SHA-256 is anchor `i`'s docHash. */
export function documentOf(i: number, tag = 'doc'): Buffer {
  return Buffer.from(`${tag}-${i}: discharge summary, version 1`, 'utf8');
}

/** Anchor `i` as the records chaincode would store it (fields in no particular order). */
export function makeAnchor(i: number, tag = 'doc', overrides: Partial<RecordAnchor> = {}): RecordAnchor {
  return {
    status: 'active',
    txId: sha256Hex(`tx-${tag}-${i}`),
    docHash: sha256Hex(documentOf(i, tag)),
    recordId: `rec-${tag}-${i}`,
    version: 1,
    issuer: i % 3 === 0 ? 'InsurerMSP' : 'HospitalMSP',
    patientRef: sha256Hex(`patient-${i % 17}`),
    category: 'LOINC:18842-5',
    anchoredAt: new Date(Date.UTC(2025, 0, 1) + i * 1000).toISOString(),
    ...overrides,
  };
}

/**
 * Anchors `from..to-1` placed on the ledger: `perBlock` transactions per block, `perTx` anchors
 * per transaction (batch anchoring), starting at block `firstBlock`.
 */
export function makeSourced(from: number, to: number, options: { perBlock?: number; perTx?: number; tag?: string; firstBlock?: bigint } = {}): SourcedAnchor[] {
  const perBlock = options.perBlock ?? 5;
  const perTx = options.perTx ?? 2;
  const first = options.firstBlock ?? 1n;
  const out: SourcedAnchor[] = [];
  for (let i = from; i < to; i++) {
    const tx = Math.floor(i / perTx);
    const blockNumber = first + BigInt(Math.floor(tx / perBlock));
    const position: LedgerPosition = { blockNumber, txIndex: tx % perBlock, anchorIndex: i % perTx };
    out.push({ position, anchor: makeAnchor(i, options.tag), blockNumber });
  }
  return out;
}

/** A source over an array that can grow: ends when it has yielded everything it holds. */
export class ArraySource implements AnchorSource {
  readonly items: SourcedAnchor[];
  /** Positions asked for, to check that followers resume where they stopped. */
  readonly calls: (LedgerPosition | undefined)[] = [];

  constructor(items: SourcedAnchor[] = []) {
    this.items = [...items];
  }

  push(...items: SourcedAnchor[]): void {
    this.items.push(...items);
  }

  async *anchorsAfter(after: LedgerPosition | undefined, options?: AnchorsAfterOptions): AsyncIterable<SourcedAnchor> {
    this.calls.push(after);
    for (const item of this.items) {
      if (options?.signal?.aborted) return;
      if (after === undefined || comparePositions(item.position, after) > 0) yield item;
    }
  }
}

/** A fresh temporary folder and a function that removes it. */
export function tempDir(prefix = 'medprov-anchoring-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A logger that records lines, for asserting on warnings. */
export function recordingLogger(): { lines: { level: string; message: string; fields?: Record<string, unknown> }[]; info: (m: string, f?: Record<string, unknown>) => void; warn: (m: string, f?: Record<string, unknown>) => void; error: (m: string, f?: Record<string, unknown>) => void } {
  const lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => void lines.push({ level, message, ...(fields ? { fields } : {}) });
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}

/** Runs `fn` and returns the AnchoringError code it throws (fails when it does not throw). */
export async function codeOf(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (err) {
    return (err as { code?: string }).code ?? `not coded: ${(err as Error).message}`;
  }
  throw new Error('expected an error, none was thrown');
}
