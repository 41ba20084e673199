/**
 * Fabric's command-line tools (`peer`, `osnadmin`, `configtxgen`, `cryptogen`), called in one
 * place: with a clean environment (nothing of the caller's `CORE_PEER_*` leaks in), the
 * identity and peer each call names, and errors that carry the tool's own words.
 *
 * @module
 */
import { execFile } from 'node:child_process';
import type { PeerOrganisation } from './consortium';
import type { Network, OrdererNode, PeerNode } from './network';
import type { Progress } from './progress';

/** A Fabric tool exited non-zero: the command and what it printed last. */
export class FabricToolError extends Error {
  constructor(
    readonly tool: string,
    readonly args: readonly string[],
    readonly output: string,
    readonly exitCode: number | null,
  ) {
    super(`${tool} ${args.slice(0, 3).join(' ')} failed (exit ${exitCode}): ${errorLines(output)}`);
    this.name = 'FabricToolError';
  }
}

/** The tool's own error lines (`Error: …`), else its last lines: usage text after an error says nothing. */
function errorLines(text: string): string {
  const lines = text.trim().split('\n');
  const errors = lines.filter((line) => /^Error:|\bERRO\b|panic:/.test(line));
  return (errors.length > 0 ? errors.slice(0, 3) : lines.slice(-6)).join(' | ');
}

/** The environment every Fabric tool and daemon starts from: nothing but a path and a home. */
export function baseEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', FABRIC_LOGGING_SPEC: 'warning' };
}

/** Runs one tool of the installed release; resolves to its stdout (stderr joined on failure). */
export function runTool(network: Network, tool: string, args: readonly string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(network.bin(tool), args, { env: { ...baseEnv(), ...env }, timeout: timeoutMs, maxBuffer: 64 * 2 ** 20 }, (err, stdout, stderr) => {
      if (err) {
        const code = typeof (err as NodeJS.ErrnoException).code === 'number' ? ((err as NodeJS.ErrnoException).code as unknown as number) : null;
        reject(new FabricToolError(tool, args, `${stdout}\n${stderr}\n${err.message}`, code));
      } else {
        resolve(stdout);
      }
    });
  });
}

/** The `peer` CLI as an organisation's admin, talking to one of its peers. */
export function adminEnv(network: Network, org: PeerOrganisation, peer: PeerNode = network.peersOf(org)[0]): NodeJS.ProcessEnv {
  return {
    FABRIC_CFG_PATH: network.peerConfigDir,
    CORE_PEER_LOCALMSPID: org.mspId,
    CORE_PEER_MSPCONFIGPATH: network.identity(org, 'Admin').mspDir,
    CORE_PEER_ADDRESS: peer.address,
    CORE_PEER_TLS_ENABLED: 'true',
    CORE_PEER_TLS_ROOTCERT_FILE: network.tlsCaOf(org),
  };
}

/** `-o … --tls --cafile …`: where the `peer` CLI sends transactions. */
export function ordererFlags(network: Network, orderer: OrdererNode = network.orderers[0]): string[] {
  return ['-o', orderer.address, '--tls', '--cafile', network.ordererTlsCa];
}

/** `--peerAddresses … --tlsRootCertFiles …` for the first peer of each organisation. */
export function endorserFlags(network: Network, orgs: readonly PeerOrganisation[] = network.definition.organisations): string[] {
  return orgs.flatMap((org) => ['--peerAddresses', network.peersOf(org)[0].address, '--tlsRootCertFiles', network.tlsCaOf(org)]);
}

/** `peer <args>` as `org`'s admin. */
export function peerAsAdmin(network: Network, org: PeerOrganisation, args: readonly string[], peer?: PeerNode, timeoutMs?: number): Promise<string> {
  return runTool(network, 'peer', args, adminEnv(network, org, peer), timeoutMs);
}

/** `osnadmin channel <args>` against one orderer's admin endpoint, as the orderer org's admin (mutual TLS). */
export function osnadmin(network: Network, orderer: OrdererNode, args: readonly string[]): Promise<string> {
  const admin = network.identity('orderer', 'Admin');
  return runTool(network, 'osnadmin', [
    'channel',
    ...args,
    '-o',
    `${orderer.host}:${orderer.adminPort}`,
    '--ca-file',
    network.ordererTlsCa,
    '--client-cert',
    admin.tlsCert,
    '--client-key',
    admin.tlsKey,
  ]);
}

export interface RetryOptions {
  /** What is being tried, for the progress line. */
  readonly what: string;
  readonly progress: Progress;
  /** Give up after this long (default 90 s). */
  readonly withinMs?: number;
  readonly firstDelayMs?: number;
  /** An error no retry can help: thrown at once. */
  readonly final?: (err: unknown) => boolean;
}

/**
 * Tries until it works or the time is up, backing off from 250 ms to 4 s. A fresh Raft channel
 * has no leader for a few seconds and a fresh peer has not met the others yet: lifecycle
 * commands fail for a while, then work.
 */
export async function retry<T>(attempt: () => Promise<T>, options: RetryOptions): Promise<T> {
  const start = Date.now();
  const deadline = start + (options.withinMs ?? 90_000);
  let delay = options.firstDelayMs ?? 250;
  let warned = 0;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (Date.now() + delay > deadline || options.final?.(err)) throw err;
      // A few seconds of "not yet" is normal after a start; say so only when it lasts.
      if (Date.now() - start > 10_000 * (warned + 1)) {
        warned++;
        options.progress.warn(`${options.what}: not yet after ${Math.round((Date.now() - start) / 1000)} s (${(err as Error).message.slice(0, 300)}); retrying`);
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 4_000);
    }
  }
}

/**
 * Runs `each` on every item at once and waits for all of them; then throws the first failure, if
 * any (like Promise.all, but none is left running behind a failure). Steps on different nodes or
 * organisations (joins, installs, approvals, starts) need not wait for each other.
 */
export async function eachInParallel<T>(items: readonly T[], each: (item: T) => Promise<unknown>): Promise<void> {
  const failed = (await Promise.allSettled(items.map(each))).find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
