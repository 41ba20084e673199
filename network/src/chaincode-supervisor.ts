/**
 * Keeps the chaincode server running: starts `fabric-chaincode-node server` for the package id
 * it is given and starts it again whenever it exits, backing off from 1 s to 10 s while it keeps
 * dying. SIGTERM stops the server, then the supervisor. Run by the network layer as a daemon:
 *
 *   node --require tsx/cjs network/src/chaincode-supervisor.ts <package-id> <host:port>
 *
 * The server's pid is kept in `<this file's pid file>.child` (fault tests kill it).
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

function log(message: string): void {
  process.stdout.write(`${new Date().toISOString()} chaincode-supervisor: ${message}\n`);
}

function main(): void {
  const [packageId, address] = process.argv.slice(2);
  const childPidFile = process.env.MEDPROV_CHAINCODE_CHILD_PID_FILE;
  if (!packageId || !address) {
    process.stderr.write('usage: chaincode-supervisor <package-id> <host:port>\n');
    process.exit(2);
  }
  let child: ChildProcess | undefined;
  let stopping = false;
  let delay = 1_000;
  let timer: NodeJS.Timeout | undefined;

  const start = (): void => {
    const startedAt = Date.now();
    child = spawn(
      process.execPath,
      [path.join(ROOT, 'node_modules/fabric-shim/cli.js'), 'server', `--chaincode-address=${address}`, `--chaincode-id=${packageId}`, '--module-path=chaincode'],
      { cwd: ROOT, env: process.env, stdio: ['ignore', 'inherit', 'inherit'] },
    );
    log(`chaincode server started (pid ${child.pid}) at ${address} for ${packageId}`);
    if (childPidFile && child.pid) writeFileSync(childPidFile, `${child.pid}\n`);
    child.once('exit', (code, sig) => {
      child = undefined;
      if (stopping) return;
      // A server that ran for a while before dying is restarted at once; one that keeps dying, more slowly.
      delay = Date.now() - startedAt > 30_000 ? 1_000 : Math.min(delay * 2, 10_000);
      log(`chaincode server exited (${sig ?? `code ${code}`}); restarting in ${delay / 1000} s`);
      timer = setTimeout(start, delay);
    });
  };

  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    if (timer) clearTimeout(timer);
    if (childPidFile) rmSync(childPidFile, { force: true });
    if (!child) process.exit(0);
    const killer = setTimeout(() => child?.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(killer);
      log('stopped');
      process.exit(0);
    });
    child.kill('SIGTERM');
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  start();
}

main();
