import { expect } from 'chai';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Ledger } from '../../../gateway/src/fabric/client';
import { delegatingLedger, DelegatingLedger, LEDGER_METHODS } from '../../../gateway/src/fabric/delegating-ledger';
import { AnchorIndex } from '../../../gateway/src/records/anchor-index';
import { FaultyLedger } from '../acceptance/support';
import { CountingLedger } from '../support/counting-ledger';

/**
 * Optional methods of the ledger seam (blockOfTransaction, height) are lost by a wrapper that
 * forwards only what it knew of when it was written. Every wrapper goes through
 * DelegatingLedger; these tests fail when one does not forward a method, or when a wrapper is
 * written by hand again.
 */
const ROOT = path.resolve(__dirname, '../../..');
const NAMES = Object.keys(LEDGER_METHODS) as (keyof Ledger)[];
const OPTIONAL = NAMES.filter((name) => LEDGER_METHODS[name] === 'optional');

/** A ledger with every method of the seam, each answering with its own name and remembering its calls. */
function fullLedger(calls: string[]): Ledger {
  const ledger: Record<string, (...args: string[]) => Promise<unknown>> = {};
  for (const name of NAMES) {
    ledger[name] = async (...args: string[]) => (calls.push(`${name}(${args.join(',')})`), { answeredBy: name });
  }
  return ledger as unknown as Ledger;
}

describe('ledger wrappers forward every method of the seam, optional ones included', () => {
  let dir: string;
  let index: AnchorIndex;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-delegating-'));
    index = await AnchorIndex.open({ file: path.join(dir, 'anchor-index.bin'), events: { events: async function* () {} } });
  });
  after(async () => {
    await index.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Every wrapper of the product and of the test support, around `inner`. */
  const wrappers = (inner: Ledger): [string, Ledger][] => [
    ['AnchorIndex.observe', index.observe(inner)],
    ['DelegatingLedger', new DelegatingLedger(inner)],
    ['delegatingLedger without overrides', delegatingLedger(inner, {})],
    ['CountingLedger', new CountingLedger(inner, { evaluate: 0, submit: 0 })],
    ['FaultyLedger', new FaultyLedger(inner)],
  ];

  it('forwards each method, with its arguments, to the inner ledger', async () => {
    for (const name of NAMES) {
      const calls: string[] = [];
      for (const [label, wrapped] of wrappers(fullLedger(calls))) {
        calls.splice(0);
        const method = wrapped[name] as ((...args: string[]) => Promise<unknown>) | undefined;
        expect(method, `${label} has no ${name}`).to.be.a('function');
        expect(await method!.call(wrapped, 'x', 'y'), `${label}.${name}`).to.deep.equal({ answeredBy: name });
        expect(calls, `${label}.${name}`).to.deep.equal([`${name}(x,y)`]);
      }
    }
  });

  it('keeps an optional method absent when the inner ledger lacks it', () => {
    const bare: Ledger = { evaluate: async () => new Uint8Array(), submit: async () => ({ result: new Uint8Array(), transactionId: 't', blockNumber: 1n }) };
    for (const [label, wrapper] of wrappers(bare)) {
      for (const name of OPTIONAL) expect(wrapper[name], `${label}.${name}`).to.equal(undefined);
    }
  });

  it('lets an override replace or hide a method, leaving the others forwarded', async () => {
    const calls: string[] = [];
    const inner = fullLedger(calls);
    const ledger = delegatingLedger(inner, { height: async () => 7n, blockOfTransaction: undefined });
    expect(await ledger.height!()).to.equal(7n);
    expect(ledger.blockOfTransaction).to.equal(undefined);
    expect(await ledger.evaluate('q')).to.deep.equal({ answeredBy: 'evaluate' });
    expect(calls).to.deep.equal(['evaluate(q)']);
  });

  it('no ledger wrapper is written by hand: a class forwarding to an inner Ledger extends DelegatingLedger, an object literal uses delegatingLedger', () => {
    const offenders: string[] = [];
    for (const file of sourceFiles(['gateway/src', 'test', 'scripts'])) {
      if (file.endsWith(path.join('fabric', 'delegating-ledger.ts'))) continue;
      const text = readFileSync(file, 'utf8');
      const where = path.relative(ROOT, file);
      // A Ledger class holding another ledger.
      for (const match of text.matchAll(/class (\w+) implements [^{]*\bLedger\b[^{]*\{([\s\S]*?)\n\}/g)) {
        if (/\binner\b|: Ledger\b/.test(match[2])) offenders.push(`${where}: class ${match[1]}`);
      }
      // An object literal passing calls on to another ledger by hand.
      for (const match of text.matchAll(/\b(evaluate|submit): *(?:\([^)]*\) *=> *|)([\w.]+)\.\1\b/g)) offenders.push(`${where}: ${match[1]} forwarded to ${match[2]}`);
    }
    expect(offenders).to.deep.equal([]);
  });
});

function sourceFiles(dirs: string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === 'node_modules') continue;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts')) out.push(full);
    }
  };
  for (const dir of dirs) walk(path.join(ROOT, dir));
  return out;
}
