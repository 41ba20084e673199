/**
 * For the bad-input and resource-limit tests on the real network: a gateway restarted by the
 * network layer with settings of the test's choosing (the network passes every `MEDPROV_*`
 * variable of its own environment on to the gateways it starts), what the peers' ledgers and the
 * Hospital's acceptance journal hold, read from outside the gateway, and waiting until the
 * network is quiet before measuring.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { channelHeight } from '../../../network/src/channel';
import { gatewayName, startGateway } from '../../../network/src/gateways';
import type { Network } from '../../../network/src/network';
import { runningPid, stopDaemon } from '../../../network/src/processes';

/**
 * Stops the named organisations' gateways (SIGTERM: they finish what they hold) and starts them
 * again through the network layer with `env` added to what it passes on; resolves once each has
 * committed its probe transaction. `undefined` in `env` removes a variable.
 */
export async function restartGatewaysWith(network: Network, orgNames: readonly string[], env: Record<string, string | undefined>): Promise<void> {
  const orgs = orgNames.map((name) => network.organisation(name));
  await Promise.all(orgs.map((org) => stopDaemon(network.pidFile(gatewayName(org)))));
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  const started: Promise<unknown>[] = [];
  try {
    setEnv(env);
    // startGateway builds the gateway's environment before its first await.
    for (const org of orgs) started.push(startGateway(network, org));
  } finally {
    setEnv(saved);
  }
  await Promise.all(started);
}

function setEnv(env: Record<string, string | undefined>): void {
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

/** The pid of each organisation's gateway (to tell that none restarted or died). */
export function gatewayPids(network: Network): Record<string, number | undefined> {
  return Object.fromEntries(network.definition.organisations.map((org) => [org.name, runningPid(network.pidFile(gatewayName(org)))]));
}

/** The channel's height on every peer, through Fabric's own `peer channel getinfo`. */
export async function peerHeights(network: Network): Promise<Record<string, number>> {
  const heights = await Promise.all(network.peers.map(async (peer) => [peer.name, await channelHeight(network, peer)] as const));
  return Object.fromEntries(heights);
}

/** One record of an acceptance journal frame (`accept` with its kind and arguments, or `outcome`). */
export interface JournalRecord {
  readonly type: string;
  readonly id: string;
  readonly kind?: string;
  readonly args?: string[];
}

/** Every record of an organisation's acceptance journal file, read from outside the gateway (none before it exists). */
export function journalRecords(network: Network, orgName: string): JournalRecord[] {
  const file = path.join(network.gatewayDir(network.organisation(orgName)), 'acceptance', 'acceptance.journal');
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const records: JournalRecord[] = [];
  for (const line of text.split('\n')) {
    // `<crc32 hex> <JSON>`; a line being written as we read is incomplete: skipped
    let frame: { records?: JournalRecord[] };
    try {
      frame = JSON.parse(line.slice(9)) as typeof frame;
    } catch {
      continue;
    }
    records.push(...(frame.records ?? []));
  }
  return records;
}

/** What an organisation's acceptance journal file holds: the ids of accepted requests, and of those with an outcome. */
export function journalContents(network: Network, orgName: string): { accepted: Set<string>; finished: Set<string> } {
  const accepted = new Set<string>();
  const finished = new Set<string>();
  for (const r of journalRecords(network, orgName)) (r.type === 'accept' ? accepted : finished).add(r.id);
  return { accepted, finished };
}

/**
 * Waits until nothing is being written: every peer at the same height for three readings in a
 * row, and no request of the Hospital's journal without an outcome (a request another test left
 * would commit in the middle of a measurement). Returns the heights.
 */
export async function quietLedger(network: Network, withinMs = 180_000): Promise<Record<string, number>> {
  const deadline = Date.now() + withinMs;
  let last = '';
  let same = 0;
  for (;;) {
    const heights = await peerHeights(network);
    const journal = journalContents(network, 'Hospital');
    const pending = [...journal.accepted].filter((id) => !journal.finished.has(id)).length;
    const values = Object.values(heights);
    const key = JSON.stringify(heights);
    same = key === last && values.every((h) => h === values[0]) && pending === 0 ? same + 1 : 0;
    last = key;
    if (same >= 2) return heights;
    if (Date.now() > deadline) throw new Error(`the ledger did not become quiet within ${withinMs / 1000} s: heights ${key}, ${pending} requests of the Hospital's journal unfinished`);
    await new Promise((r) => setTimeout(r, 1_500));
  }
}
