/**
 * TEST ONLY — runs the patched chaincode (`./patched-chaincode`: the real contracts with the
 * issuer check skipped) as a chaincode server of its own, the way a dishonest organisation
 * would serve it to its own peers: `fabric-chaincode-node server` on a port of its own, for the
 * package id of its own ccaas package. Started and stopped by the test, by its child's pid.
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { createServer } from 'node:net';
import * as path from 'node:path';
import { baseEnv } from '../../../../network/src/fabric-cli';
import type { Network } from '../../../../network/src/network';
import { listening, logTail, waitUntil } from '../../../../network/src/processes';
import { ROOT } from '../../../../network/src/system';

/** The patched module's folder, relative to the repository (fabric-chaincode-node's --module-path). */
export const PATCHED_MODULE = path.relative(ROOT, path.join(__dirname, 'patched-chaincode'));

/**
 * Where the patched server listens: base port + 905, inside the test network's own block of
 * ports (which the layout leaves unused between the chaincode server at +900 and the EVM node
 * at +950, and which lies below the ephemeral range, so no client socket takes it meanwhile);
 * any free port if another process holds that one.
 */
export async function patchedServerAddress(network: Network): Promise<string> {
  const preferred = network.basePort + 905;
  const port = (await listening(network.host, preferred)) ? await freePort(network.host) : preferred;
  return `${network.host}:${port}`;
}

/** A TCP port the system had free a moment ago, on `host`. */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port was assigned'))));
    });
  });
}

/** A running patched chaincode server. */
export interface PatchedServer {
  readonly address: string;
  readonly pid: number;
  readonly logFile: string;
  /** Stops the server (SIGTERM, then SIGKILL after 10 s); resolves once it has exited. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts the patched chaincode server at `address` for `packageId` and waits until it listens
 * (its log goes to `<network logs>/patched-chaincode.log`).
 */
export async function startPatchedServer(network: Network, address: string, packageId: string): Promise<PatchedServer> {
  const [host, port] = address.split(':');
  if (await listening(host, Number(port))) throw new Error(`port ${port} is taken: the patched chaincode server needs a port of its own`);
  const logFile = network.logFile('patched-chaincode');
  const log = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(
      process.execPath,
      ['--require', 'tsx/cjs', path.join(ROOT, 'node_modules/fabric-shim/cli.js'), 'server', `--chaincode-address=${address}`, `--chaincode-id=${packageId}`, `--module-path=${PATCHED_MODULE}`],
      { cwd: ROOT, env: { ...baseEnv(), CORE_CHAINCODE_LOGGING_LEVEL: 'warning' }, stdio: ['ignore', log, log] },
    );
  } finally {
    closeSync(log);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`the patched chaincode server did not start; ${logFile}:\n${logTail(logFile)}`);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
  };
  // A server that dies at start (a broken module) is reported at once, not after the wait.
  if (!(await Promise.race([waitUntil(() => listening(host, Number(port)), 60_000, 200), exited.then(() => false)]))) {
    await stop();
    throw new Error(`the patched chaincode server did not listen on ${address}; ${logFile}:\n${logTail(logFile)}`);
  }
  return { address, pid, logFile, stop };
}
