/**
 * What the deployment suites share: which addresses each process listens on.
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** Every listening TCP socket by pid (`ss -ltnpH`): pid → local addresses. */
export async function listeningByPid(): Promise<Map<number, string[]>> {
  const { stdout } = await exec('ss', ['-ltnpH']);
  const out = new Map<number, string[]>();
  for (const line of stdout.split('\n')) {
    const local = line.trim().split(/\s+/)[3];
    for (const m of line.matchAll(/pid=(\d+),/g)) out.set(Number(m[1]), [...(out.get(Number(m[1])) ?? []), local]);
  }
  return out;
}

/** The host part of `host:port` (IPv4 here). */
export function hostOfAddress(address: string): string {
  return address.slice(0, address.lastIndexOf(':'));
}
