/**
 * A real Hardhat EVM node as a child process, for the anchoring integration tests. The node runs
 * in its own process group so that stopping it leaves no process behind.
 */
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { chainIdAt, compileContracts, devAccount, ROOT, signalGroup, spawnHardhatNode, waitForNode } from '../../../scripts/evm/hardhat-node';

export { compileContracts, ROOT };

/** Hardhat's well-known development accounts 0–3 (they hold test ether on local nodes only). */
const DEV = [0, 1, 2, 3].map(devAccount);
export const DEV_KEYS = DEV.map((a) => a.privateKey) as [string, string, string, string];
export const DEV_ADDRESSES = DEV.map((a) => a.address) as [string, string, string, string];

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
  const child: ChildProcess = spawnHardhatNode(port, 'pipe');
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
    if (!signalGroup(child.pid!, 'SIGTERM')) return;
    const timer = setTimeout(() => signalGroup(child.pid!, 'SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await waitForNode(url, () => child.exitCode !== null, () => `:\n${tail}`);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, port, output: () => tail, stop };
}

/** Whether anything still answers JSON-RPC at `url`. */
export async function answers(url: string): Promise<boolean> {
  return (await chainIdAt(url)) !== undefined;
}
