/**
 * A real Hardhat EVM node as a child process, for the anchoring integration tests. The node runs
 * in its own process group so that stopping it leaves no process behind.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '../../..');

/**
 * Hardhat's well-known development accounts (printed by every `hardhat node`; they hold test
 * ether on local nodes only).
 */
export const DEV_KEYS = [
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
  '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
  '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a',
  '0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6',
] as const;

export const DEV_ADDRESSES = [
  '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266',
  '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
  '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC',
  '0x90F79bf6EB2c4f870365E785982E1f101E93b906',
] as const;

/** Compiles the contracts so `artifacts/` (git-ignored) holds the AnchorRegistry artifact. */
export function compileContracts(): void {
  execFileSync('npx', ['hardhat', 'compile', '--quiet'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
}

/** A TCP port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function chainIdAt(url: string): Promise<string | undefined> {
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

/** A running `hardhat node`. */
export interface EvmNode {
  readonly url: string;
  readonly port: number;
  /** Recent output, for failure messages. */
  output(): string;
  /** Stops the node's whole process group and waits until it is gone. */
  stop(): Promise<void>;
}

/** Starts `hardhat node` on a free port and waits until it answers eth_chainId. */
export async function startEvmNode(): Promise<EvmNode> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    process.execPath,
    [path.join(ROOT, 'node_modules/hardhat/internal/cli/bootstrap.js'), 'node', '--port', String(port), '--hostname', '127.0.0.1'],
    { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HARDHAT_DISABLE_TELEMETRY_PROMPT: 'true' } },
  );
  // The node logs every RPC call: keep reading (a full pipe would stall it) but keep only the tail.
  let tail = '';
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-8000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, 5000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`hardhat node exited early:\n${tail}`);
    if ((await chainIdAt(url)) !== undefined) return { url, port, output: () => tail, stop };
    await new Promise((r) => setTimeout(r, 200));
  }
  await stop();
  throw new Error(`hardhat node did not answer eth_chainId within 60 s:\n${tail}`);
}

/** Whether anything still answers JSON-RPC at `url`. */
export async function answers(url: string): Promise<boolean> {
  return (await chainIdAt(url)) !== undefined;
}
