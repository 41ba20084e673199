import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { IdentityContract } from '../../../chaincode/src';
import { openNodeJournalFile, prepareAnchorRecord, type JournalFile, type LedgerRequest, type OpenJournalFile } from '../../../gateway/src/acceptance';
import type { Committed, Ledger } from '../../../gateway/src/fabric/client';
import { DelegatingLedger, delegatingLedger } from '../../../gateway/src/fabric/delegating-ledger';
import { LedgerError } from '../../../gateway/src/fabric/errors';
import type { PatientRefs } from '../../../gateway/src/records/service';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL } from '../chaincode/fixtures';

/** Test support for the acceptance layer: fault injection around the ledger and the disk. */

export const sha = (text: string): string => createHash('sha256').update(text).digest('hex');
export const docHash = (i: number | string): string => sha(`document ${i}`);
export const CATEGORY = 'loinc:18842-5';

/** The prepared anchor of record `recordId` (default rec-i) with document `hash` (default document i). */
export const anchor = (i: number | string, recordId = `rec-${i}`, hash = docHash(i)): Promise<LedgerRequest> =>
  prepareAnchorRecord({ recordId, docHash: hash, patientId: `patient-${i}`, category: CATEGORY }, patientRefs);

/** A fresh folder under the OS temp folder. */
export function tempDir(prefix = 'medprov-accept-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

/** The consortium, configured, as in records-flow.test.ts. */
export async function consortium(): Promise<FakeLedger> {
  const ledger = new FakeLedger();
  await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
  return ledger;
}

/** Stands in for the patient key store: a fixed-key HMAC-like commitment (the ledger wants 64 hex). */
export const patientRefs: PatientRefs = { ensurePatientRef: async (patientId) => sha(`test-key\u0000${patientId}`) };

const never = <T>(): Promise<T> => new Promise<T>(() => undefined);

/** A deterministic [0, 1) generator (mulberry32), so a failing run can be replayed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Fault = 'before' | 'after' | 'unknown';

/**
 * A `Ledger` that fails on purpose, around a real one:
 * - `before`: the call never reaches the chaincode (LEDGER_UNAVAILABLE, transient);
 * - `after`: the chaincode ran and the transaction committed, but the reply is lost
 *   (LEDGER_TIMEOUT, transient) — the case that needs the chaincode's idempotency;
 * - `unknown`: a failure the gateway cannot classify (LEDGER_ERROR), before the chaincode.
 * Planned faults are used first, then random ones with the given probabilities.
 * `freeze()` makes every later call hang for ever: the process "died".
 */
export class FaultyLedger extends DelegatingLedger {
  readonly submits: { name: string; args: string[]; fault?: Fault }[] = [];
  private planned: Fault[] = [];
  private frozen = false;
  inFlight = 0;
  maxInFlight = 0;

  constructor(
    override readonly inner: Ledger,
    private readonly random: { before?: number; after?: number; rng?: () => number } = {},
  ) {
    super(inner);
  }

  /** The next `n` submits fail with `fault`. */
  plan(fault: Fault, n = 1): this {
    for (let i = 0; i < n; i++) this.planned.push(fault);
    return this;
  }

  freeze(): void {
    this.frozen = true;
  }

  override async evaluate(name: string, ...args: string[]): Promise<Uint8Array> {
    if (this.frozen) return never();
    return this.inner.evaluate(name, ...args);
  }

  override async submit(name: string, ...args: string[]): Promise<Committed> {
    if (this.frozen) return never();
    const fault = this.nextFault();
    this.submits.push({ name, args, ...(fault ? { fault } : {}) });
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      // A real call takes a while: let other work interleave, as it would on a network.
      await new Promise((r) => setImmediate(r));
      if (this.frozen) return never();
      if (fault === 'before') throw new LedgerError('LEDGER_UNAVAILABLE', 'injected: no peer answered', undefined);
      if (fault === 'unknown') throw new LedgerError('LEDGER_ERROR', 'injected: something odd', undefined);
      const committed = await this.inner.submit(name, ...args);
      if (fault === 'after') throw new LedgerError('LEDGER_TIMEOUT', 'injected: committed, but the reply was lost', committed.transactionId);
      await new Promise((r) => setImmediate(r));
      if (this.frozen) return never();
      return committed;
    } finally {
      this.inFlight -= 1;
    }
  }

  /** Submits that reached the chaincode (not `before`/`unknown` faults). */
  get reachedChaincode(): number {
    return this.submits.filter((s) => s.fault !== 'before' && s.fault !== 'unknown').length;
  }

  private nextFault(): Fault | undefined {
    const planned = this.planned.shift();
    if (planned) return planned;
    const rng = this.random.rng ?? Math.random;
    const r = rng();
    if (r < (this.random.before ?? 0)) return 'before';
    if (r < (this.random.before ?? 0) + (this.random.after ?? 0)) return 'after';
    return undefined;
  }
}

/**
 * The journal's disk, with a crash switch: from the crash on, no byte reaches the file and
 * every call hangs (the process is gone). `crashDuringAppend(n, keep)` lets the n-th append
 * (1-based, counted from now) write only its first `keep(len)` bytes before "dying": a torn record.
 */
export class CrashableDisk {
  appends = 0;
  syncs = 0;
  crashed = false;
  /** Set to make the next sync throw (then cleared). */
  failNextSync: Error | undefined;
  /**
   * While set, the disk is full: each append writes only its first `keep(length)` bytes (what
   * fitted), then fails with ENOSPC, as write(2) does. Clear it to "free space".
   */
  full: { keep: (length: number) => number } | undefined;
  /** Truncations asked for (lengths). */
  readonly truncations: number[] = [];
  private tearAt: { append: number; keep: (length: number) => number } | undefined;
  private readonly handles: JournalFile[] = [];

  readonly open: OpenJournalFile = async (file) => {
    const inner = await openNodeJournalFile(file);
    this.handles.push(inner);
    const disk = this;
    const handle: JournalFile = {
      async append(data) {
        if (disk.crashed) return never();
        disk.appends += 1;
        if (disk.tearAt && disk.appends === disk.tearAt.append) {
          await inner.append(data.subarray(0, disk.tearAt.keep(data.length)));
          disk.crashed = true;
          return never();
        }
        if (disk.full) {
          await inner.append(data.subarray(0, disk.full.keep(data.length)));
          throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
        }
        return inner.append(data);
      },
      async truncate(length) {
        if (disk.crashed) return never();
        disk.truncations.push(length);
        return inner.truncate(length);
      },
      async sync() {
        if (disk.crashed) return never();
        disk.syncs += 1;
        const failure = disk.failNextSync;
        if (failure) {
          disk.failNextSync = undefined;
          throw failure;
        }
        return inner.sync();
      },
      async close() {
        if (disk.crashed) return;
        return inner.close();
      },
    };
    return handle;
  };

  crashNow(): void {
    this.crashed = true;
  }

  /** After the test: close the file descriptors the "dead" process left open. */
  async cleanUp(): Promise<void> {
    await Promise.all(this.handles.splice(0).map((h) => h.close().catch(() => undefined)));
  }

  crashDuringAppend(afterAppends: number, keep: (length: number) => number): void {
    this.tearAt = { append: this.appends + afterAppends, keep };
  }
}

/** Immediate "sleep" that records the delays asked for; rejects at once if aborted. */
export function recordingSleep(): { sleep: (ms: number, signal: AbortSignal) => Promise<void>; delays: number[] } {
  const delays: number[] = [];
  return {
    delays,
    sleep: (ms, signal) =>
      new Promise<void>((resolve, reject) => {
        delays.push(ms);
        if (signal.aborted) return reject(new Error('aborted'));
        setImmediate(() => (signal.aborted ? reject(new Error('aborted')) : resolve()));
      }),
  };
}

const DOC_HASH_KEY = (h: string) => `\u0000medprov.docHash\u0000${h}\u0000`;

/** How many committed transactions wrote the hash index of `hash`: 1 = anchored exactly once. */
export function indexWrites(ledger: FakeLedger, hash: string): number {
  const key = DOC_HASH_KEY(hash);
  return ledger.committed.filter((tx) => tx.writes.has(key)).length;
}

/** Record versions in world state that carry `hash`. */
export function versionsWithHash(ledger: FakeLedger, hash: string): number {
  let n = 0;
  for (const [key, value] of ledger.state) {
    if (!key.startsWith('\u0000medprov.record\u0000')) continue;
    if ((JSON.parse(Buffer.from(value).toString('utf8')) as { docHash: string }).docHash === hash) n += 1;
  }
  return n;
}

/** Every docHash anchored in world state. */
export function anchoredHashes(ledger: FakeLedger): Set<string> {
  const out = new Set<string>();
  for (const key of ledger.state.keys()) {
    if (key.startsWith('\u0000medprov.docHash\u0000')) out.add(key.split('\u0000')[2]);
  }
  return out;
}

/** Resolves when `predicate` holds, checking after every macrotask; fails after `limit` turns. */
export async function until(predicate: () => boolean, limit = 100_000): Promise<void> {
  for (let i = 0; i < limit; i++) {
    if (predicate()) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error('condition not reached');
}

/** The records each ledger call carried, by the keys the chaincode checks for repeats. */
export function recordsOf(call: { name: string; args: string[] }): { recordId: string; docHash: string }[] {
  const parsed = JSON.parse(call.args[0]!) as unknown;
  return (Array.isArray(parsed) ? parsed : [parsed]) as { recordId: string; docHash: string }[];
}

/** A ledger that holds every submit until `release()`, counting what is in flight. */
export function gated(inner: Ledger): { ledger: Ledger; release(): void; inFlight(): number; maxInFlight(): number; calls: { name: string; args: string[] }[] } {
  let open = false;
  let inFlight = 0;
  let max = 0;
  const calls: { name: string; args: string[] }[] = [];
  const ledger = delegatingLedger(inner, {
    submit: async (name, ...args): Promise<Committed> => {
      calls.push({ name, args });
      inFlight += 1;
      max = Math.max(max, inFlight);
      try {
        await until(() => open);
        return await inner.submit(name, ...args);
      } finally {
        inFlight -= 1;
      }
    },
  });
  return { ledger, release: () => (open = true), inFlight: () => inFlight, maxInFlight: () => max, calls };
}
