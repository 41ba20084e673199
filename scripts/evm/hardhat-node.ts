/**
 * Running a local Hardhat EVM node: the pieces `scripts/evm/local-chain.ts` (the node `npm start`
 * runs as the default chain) and the anchoring integration tests share.
 *
 * @module
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { HDNodeWallet, Mnemonic } from 'ethers';

export const ROOT = path.resolve(__dirname, '../..');

/**
 * Hardhat's development accounts: derived from the mnemonic every `hardhat node` prints and
 * funds. Public knowledge, worth nothing outside a local node.
 */
export function devAccount(index: number): { address: string; privateKey: string } {
  const phrase = 'test test test test test test test test test test test junk';
  const wallet = HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(phrase), `m/44'/60'/0'/0/${index}`);
  return { address: wallet.address, privateKey: wallet.privateKey };
}

/** Compiles the contracts so `artifacts/` (git-ignored) holds the AnchorRegistry artifact. */
export function compileContracts(): void {
  execFileSync('npx', ['hardhat', 'compile', '--quiet'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
}

/**
 * Starts `hardhat node` on 127.0.0.1:`port` in its own process group (so stopping it leaves
 * nothing behind). `stdio` is where its output goes: pipes for a test, a log file for a daemon.
 */
export function spawnHardhatNode(port: number, stdio: 'pipe' | number): ChildProcess {
  return spawn(
    process.execPath,
    [path.join(ROOT, 'node_modules/hardhat/internal/cli/bootstrap.js'), 'node', '--port', String(port), '--hostname', '127.0.0.1'],
    { cwd: ROOT, detached: true, stdio: ['ignore', stdio, stdio], env: { ...process.env, HARDHAT_DISABLE_TELEMETRY_PROMPT: 'true' } },
  );
}

/** The chain id a JSON-RPC node at `url` answers with, or `undefined` when nothing answers. */
export async function chainIdAt(url: string): Promise<string | undefined> {
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
      signal: AbortSignal.timeout(1000),
    });
    const body = (await response.json()) as { result?: string };
    return body.result;
  } catch {
    return undefined;
  }
}

/**
 * Waits until the node answers, up to `timeoutMs`; `exited` says whether its process is gone.
 *
 * @throws Error when the process exits first or the time runs out (`describe` adds its output)
 */
export async function waitForNode(url: string, exited: () => boolean, describe: () => string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited()) throw new Error(`hardhat node exited early${describe()}`);
    if ((await chainIdAt(url)) !== undefined) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`hardhat node did not answer eth_chainId at ${url} within ${timeoutMs / 1000} s${describe()}`);
}

/** Sends `signal` to a process group (0: only asks whether it exists); false when it no longer exists. */
export function signalGroup(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}
