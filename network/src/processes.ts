/**
 * Long-running processes (orderers, peers, the chaincode supervisor, gateways, the EVM node):
 * started detached with a clean environment, their output appended to a log file, their own
 * pid recorded in a pid file; stopped by that pid, and only if the pid is still the process we
 * started (its command line says so), never by name.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import * as path from 'node:path';

export interface DaemonSpec {
  /** Unique name: the pid file and log file are named after it. */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** A string the process's command line contains while it is ours (default: `command`). */
  readonly marker?: string;
}

export interface DaemonFiles {
  readonly pidFile: string;
  readonly logFile: string;
}

interface PidRecord {
  pid: number;
  marker: string;
}

/** Starts the process detached (its own process group) and records its pid; returns the pid. */
export function startDaemon(spec: DaemonSpec, files: DaemonFiles): number {
  mkdirSync(path.dirname(files.logFile), { recursive: true });
  mkdirSync(path.dirname(files.pidFile), { recursive: true });
  const out = openSync(files.logFile, 'a');
  try {
    const child = spawn(spec.command, spec.args, { cwd: spec.cwd, env: spec.env, detached: true, stdio: ['ignore', out, out] });
    if (child.pid === undefined) throw new Error(`could not start ${spec.name} (${spec.command})`);
    child.unref();
    const record: PidRecord = { pid: child.pid, marker: spec.marker ?? spec.command };
    writeFileSync(files.pidFile, `${JSON.stringify(record)}\n`);
    return child.pid;
  } finally {
    closeSync(out);
  }
}

/** The pid of the process the pid file names, if it still runs and is still ours. */
export function runningPid(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  let record: PidRecord;
  try {
    const text = readFileSync(pidFile, 'utf8').trim();
    // A bare pid (written by another tool, e.g. the EVM node's): alive is all that can be checked.
    record = /^\d+$/.test(text) ? { pid: Number(text), marker: '' } : (JSON.parse(text) as PidRecord);
  } catch {
    return undefined;
  }
  if (!Number.isSafeInteger(record.pid) || record.pid <= 1) return undefined;
  if (!alive(record.pid)) return undefined;
  return isOurs(record.pid, record.marker) ? record.pid : undefined;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie has exited; only its parent has not reaped it yet.
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

/** Is `pid` still the process that was started (a reused pid runs something else)? Without /proc: yes. */
function isOurs(pid: number, marker: string): boolean {
  if (!existsSync('/proc/self/cmdline')) return true;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').some((arg) => arg.includes(marker));
  } catch {
    return false;
  }
}

/**
 * Stops the process: SIGTERM, then SIGKILL after `graceMs`; waits until it is gone and removes
 * the pid file. Returns the pid it stopped, or undefined when nothing of ours was running.
 */
export async function stopDaemon(pidFile: string, graceMs = 10_000): Promise<number | undefined> {
  const pid = runningPid(pidFile);
  if (pid !== undefined) {
    signal(pid, 'SIGTERM');
    if (!(await waitUntil(() => !alive(pid), graceMs))) {
      signal(pid, 'SIGKILL');
      await waitUntil(() => !alive(pid), 5_000);
    }
  }
  rmSync(pidFile, { force: true });
  return pid;
}

export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

export async function waitUntil(check: () => boolean | Promise<boolean>, ms: number, everyMs = 100): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Does anything accept TCP connections at host:port? */
export function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.setTimeout(1_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The last lines of a log file, for an error message that says why a process died. */
export function logTail(logFile: string, lines = 15): string {
  try {
    return readFileSync(logFile, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
