import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import * as path from 'node:path';

const ANCHORING = path.resolve(__dirname, '../../../gateway/src/anchoring');

/** Runtime imports of a TypeScript file (`import type` / `export type` are erased, so skipped). */
function runtimeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  const re = /^\s*(?:import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/gm;
  for (let m = re.exec(text); m; m = re.exec(text)) if (!m[1]) out.push(m[2]!);
  return out;
}

function resolveLocal(from: string, spec: string): string {
  const base = path.resolve(path.dirname(from), spec);
  for (const candidate of [`${base}.ts`, path.join(base, 'index.ts')]) if (existsSync(candidate)) return candidate;
  throw new Error(`cannot resolve ${spec} from ${from}`);
}

/** Every file and package reachable from `entry` through runtime imports. */
function importGraph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string): void => {
    if (files.has(file)) return;
    files.add(file);
    for (const spec of runtimeImports(file)) {
      if (spec.startsWith('.')) visit(resolveLocal(file, spec));
      else packages.add(spec);
    }
  };
  visit(entry);
  return { files, packages };
}

const isNodeBuiltin = (spec: string): boolean => spec.startsWith('node:') || builtinModules.includes(spec.split('/')[0]!);

describe('anchoring: the verifier side is browser-safe', () => {
  const graph = importGraph(path.join(ANCHORING, 'index.ts'));

  it('index.ts reaches no Node built-in and no Node-only module', () => {
    const builtins = [...graph.packages].filter(isNodeBuiltin);
    expect(builtins, `Node built-ins reachable from anchoring/index.ts`).to.deep.equal([]);
    const names = [...graph.files].map((f) => path.relative(ANCHORING, f));
    for (const nodeOnly of ['log.ts', 'checkpointer.ts', 'registry.ts', 'archive.ts', 'receipt-issuer.ts', '../storage/durable-file.ts', 'file-hash-pool.ts', '../merkle/node-hasher.ts']) {
      expect(names, nodeOnly).not.to.include(nodeOnly);
    }
  });

  it('uses only noble and ethers from npm', () => {
    expect([...graph.packages].sort()).to.deep.equal(['@noble/hashes/hmac.js', '@noble/hashes/sha2.js', 'ethers']);
  });

  it('the receipt and archive verifiers themselves do not need ethers', () => {
    // receipt.ts also reaches documents/commitment.ts (HMAC) for receipts of salted records.
    for (const entry of ['receipt.ts', 'archive-receipt.ts', 'leaf.ts']) {
      expect([...importGraph(path.join(ANCHORING, entry)).packages].sort(), entry).to.deep.equal(entry === 'leaf.ts' ? ['@noble/hashes/sha2.js'] : ['@noble/hashes/hmac.js', '@noble/hashes/sha2.js']);
    }
  });

  it('the import scanner sees Node-only imports where they are', () => {
    expect([...importGraph(path.join(ANCHORING, 'log.ts')).packages].filter(isNodeBuiltin)).to.include('node:fs');
  });
});
