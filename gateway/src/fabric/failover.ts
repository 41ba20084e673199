/**
 * Peer failover: a gateway given every peer of its organisation (in order) talks to one of them
 * and moves to the next when that one stops answering.
 *
 * - **When it moves**: a ledger call failed with `LEDGER_UNAVAILABLE` or `LEDGER_TIMEOUT` (the
 *   gRPC connection refused or dropped, a deadline passed, or the peer reported that something
 *   behind it did not answer). Those codes do not say whose fault it was, so the gateway then
 *   asks its peer something cheap (qscc `GetChainInfo`); only when that check also gets no
 *   answer (unreachable, or past its deadline) does it move on. A peer that answers keeps its
 *   place: an orderer outage or a chaincode restart is not cured by another peer of the same org.
 * - **Where to**: the next peer in the configured order, wrapping around; when every peer is
 *   down it keeps going round, at most one check per `minCheckIntervalMs`.
 * - **Going back**: it stays where it is. The peers of an organisation are equals (each pulls
 *   every block from the orderers, each endorses); moving back would reopen every event stream
 *   for nothing, and a restarted peer is still catching up.
 * - **What it reopens**: each peer has its own gRPC connection, kept open. Event streams are
 *   opened on the current peer; on a move, streams still open on the old one end with
 *   `LEDGER_UNAVAILABLE`, so their readers (anchor index, consent feed, anchor log) resume from
 *   their checkpoints on the new peer. Calls in flight on the old peer fail by themselves; the
 *   acceptance journal sends its requests again (the chaincode answers a repeat with what the
 *   first committed: `created: false`).
 *
 * The decision ({@link PeerFailover}) is kept apart from the I/O ({@link FailoverLedger}) so
 * that it can be tested without a network.
 *
 * @module
 */
import type { Committed, EventCheckpoint, Ledger, LedgerDeadlines, LedgerEvent, LedgerEvents, LedgerEventsOptions, OrgConnection } from './client';
import { LedgerClient } from './client';
import { RoleRoutedPeer } from './identities';
import { LedgerError, toLedgerError } from './errors';

/** One peer the gateway may use: where its gateway service listens and the name its TLS certificate was issued for. */
export interface PeerAddress {
  readonly endpoint: string;
  readonly hostAlias: string;
}

/** Every peer of the connection's organisation, in order: `connection.peers`, else its one peer. */
export function peersOfConnection(connection: OrgConnection): PeerAddress[] {
  const listed = connection.peers && connection.peers.length > 0 ? connection.peers : [{ endpoint: connection.peerEndpoint, hostAlias: connection.peerHostAlias }];
  // The same peer twice would only make a move land where it started.
  return listed.filter((p, i) => listed.findIndex((q) => q.endpoint === p.endpoint) === i);
}

/** True when a failure may mean the gateway's own peer is gone: worth checking the peer. */
export function mayBePeerFailure(err: unknown): boolean {
  const code = toLedgerError(err).code;
  return code === 'LEDGER_UNAVAILABLE' || code === 'LEDGER_TIMEOUT';
}

/** A move from one peer to another, as {@link PeerFailover} decided it. */
export interface PeerSwitch {
  readonly from: number;
  readonly to: number;
  /** The generation the move starts: calls and streams of earlier ones belong to the old peer. */
  readonly generation: number;
}

/** Options of {@link PeerFailover}. */
export interface PeerFailoverOptions {
  /** At most one check of the current peer per this long (default 1 s): a burst of failures costs one check. */
  readonly minCheckIntervalMs?: number;
}

/**
 * The failover decision, without I/O: which peer is current, whether a failure is worth checking
 * the peer for, and where to go when the check finds it gone. Every move starts a new
 * generation; a failure of a call made in an earlier generation was the old peer's and is
 * ignored (one dead peer makes many calls fail, and must cause one move, not many).
 */
export class PeerFailover {
  private currentIndex = 0;
  private gen = 0;
  private checking = false;
  private lastCheckAt = Number.NEGATIVE_INFINITY;
  private readonly minCheckIntervalMs: number;

  constructor(
    readonly peerCount: number,
    options: PeerFailoverOptions = {},
  ) {
    if (!Number.isInteger(peerCount) || peerCount < 1) throw new Error(`a gateway needs at least one peer (got ${peerCount})`);
    this.minCheckIntervalMs = options.minCheckIntervalMs ?? 1_000;
  }

  /** The peer in use (an index into the configured order). */
  get current(): number {
    return this.currentIndex;
  }

  /** Starts at 0; one more at every move. */
  get generation(): number {
    return this.gen;
  }

  /**
   * A call made in `generation` failed (`peerSuspect`: with a code that may mean the peer is
   * gone, see {@link mayBePeerFailure}). True when the caller should now check the current peer,
   * and then report with {@link checked}. False with a single peer (nowhere to go), for another
   * kind of failure, for a failure of an old generation, while a check runs, or within
   * `minCheckIntervalMs` of the last check.
   */
  shouldCheck(peerSuspect: boolean, generation: number, now: number): boolean {
    if (this.peerCount < 2 || !peerSuspect || generation !== this.gen || this.checking) return false;
    if (now - this.lastCheckAt < this.minCheckIntervalMs) return false;
    this.checking = true;
    this.lastCheckAt = now;
    return true;
  }

  /** The check {@link shouldCheck} asked for ended: the peer answered, or not. Returns the move, if one is due. */
  checked(answered: boolean): PeerSwitch | undefined {
    this.checking = false;
    if (answered) return undefined;
    const from = this.currentIndex;
    this.currentIndex = (from + 1) % this.peerCount;
    this.gen += 1;
    return { from, to: this.currentIndex, generation: this.gen };
  }
}

/** How the gateway's peer stands, for `/healthz` (`peer`) and `/metrics`. */
export interface LedgerPeerStatus {
  /** host:port of the peer in use. */
  readonly endpoint: string;
  /** Its place in the configured order (0: the first). */
  readonly index: number;
  /** Every configured peer, in order. */
  readonly peers: readonly string[];
  /** Moves since the gateway started. */
  readonly switches: number;
  /** The last move, if any. */
  readonly lastSwitch?: { readonly at: string; readonly from: string; readonly to: string; readonly reason: string };
}

/** What the failover ledger logs: each move, and each check that found the peer answering. */
export interface FailoverLogger {
  info(message: string, fields?: Readonly<Record<string, unknown>>): void;
  warn(message: string, fields?: Readonly<Record<string, unknown>>): void;
}

/** One peer's ledger client, as {@link FailoverLedger} needs it. */
export type PeerLedger = Ledger & LedgerEvents & { height(): Promise<bigint>; close(): void };

/** Options of {@link FailoverLedger}. */
export interface FailoverLedgerOptions extends PeerFailoverOptions {
  readonly logger?: FailoverLogger;
  /** How long the check of a peer may take (default 5 s). */
  readonly checkTimeoutMs?: number;
  /** Milliseconds since the epoch (default `Date.now`). */
  readonly now?: () => number;
}

/**
 * Every method of the {@link Ledger} seam and how a failover treats it: a `read` that met a peer
 * the gateway then left is asked again of the new one, a `write` never. Not a wrapper of one
 * ledger (so not a DelegatingLedger): the compiler refuses this list when a method is added to
 * the seam and not routed here.
 */
const ROUTED = { evaluate: 'read', submit: 'write', blockOfTransaction: 'read', height: 'read' } as const satisfies Record<keyof Ledger, 'read' | 'write'>;

const silent: FailoverLogger = { info: () => undefined, warn: () => undefined };

/** A failure in a log line: its code and the transport's own words (`14 UNAVAILABLE: … ECONNREFUSED …`), not only the gateway's sentence. */
function described(err: unknown): string {
  const e = toLedgerError(err);
  const own = e.cause instanceof Error && e.cause.message ? e.cause.message : e.message;
  return `${e.code}: ${own.slice(0, 200)}`;
}

/**
 * The org's ledger through whichever of its peers answers: the same {@link Ledger} and
 * {@link LedgerEvents} as one {@link LedgerClient}, over one client per peer.
 */
export class FailoverLedger implements Ledger, LedgerEvents {
  private readonly decision: PeerFailover;
  private readonly logger: FailoverLogger;
  private readonly checkTimeoutMs: number;
  private readonly now: () => number;
  /** Streams open now, with the generation they were opened in. */
  private readonly streams = new Set<{ generation: number; end: (reason?: string) => void }>();
  private switches = 0;
  private lastSwitch: LedgerPeerStatus['lastSwitch'];
  private readonly switchListeners = new Set<(status: LedgerPeerStatus) => void>();

  constructor(
    private readonly peers: readonly PeerAddress[],
    private readonly clients: readonly PeerLedger[],
    options: FailoverLedgerOptions = {},
  ) {
    if (peers.length !== clients.length) throw new Error('one ledger client per peer');
    this.decision = new PeerFailover(clients.length, options);
    this.logger = options.logger ?? silent;
    this.checkTimeoutMs = options.checkTimeoutMs ?? 5_000;
    this.now = options.now ?? Date.now;
  }

  /** One {@link LedgerClient} per peer of the connection (see {@link peersOfConnection}); none connects before it is used. */
  static async connect(connection: OrgConnection, deadlines: Partial<LedgerDeadlines> = {}, options: FailoverLedgerOptions = {}): Promise<FailoverLedger> {
    const peers = peersOfConnection(connection);
    const clients = await Promise.all(
      peers.map(async (p) => {
        const peerConnection = { ...connection, peerEndpoint: p.endpoint, peerHostAlias: p.hostAlias };
        const client = await LedgerClient.connect(peerConnection, deadlines);
        // Fabric CA identities: submits as the enrolled user of the caller's role, one client per role used (./identities.ts).
        return connection.roleIdentities ? new RoleRoutedPeer(client, peerConnection, connection.roleIdentities, deadlines) : client;
      }),
    );
    return new FailoverLedger(peers, clients, options);
  }

  status(): LedgerPeerStatus {
    const index = this.decision.current;
    return { endpoint: this.peers[index].endpoint, index, peers: this.peers.map((p) => p.endpoint), switches: this.switches, ...(this.lastSwitch ? { lastSwitch: this.lastSwitch } : {}) };
  }

  /** Calls `listener` after each move; returns the function that stops it. */
  onSwitch(listener: (status: LedgerPeerStatus) => void): () => void {
    this.switchListeners.add(listener);
    return () => this.switchListeners.delete(listener);
  }

  evaluate(name: string, ...args: string[]): Promise<Uint8Array> {
    return this.call((c) => c.evaluate(name, ...args), ROUTED.evaluate);
  }

  /** Never sent twice here: whoever submits decides (the acceptance journal sends again; the chaincode answers a repeat with the first). */
  submit(name: string, ...args: string[]): Promise<Committed> {
    return this.call((c) => c.submit(name, ...args), ROUTED.submit);
  }

  blockOfTransaction(transactionId: string): Promise<bigint | undefined> {
    return this.call((c) => (c.blockOfTransaction ? c.blockOfTransaction(transactionId) : Promise.resolve(undefined)), ROUTED.blockOfTransaction);
  }

  height(): Promise<bigint> {
    return this.call((c) => c.height(), ROUTED.height);
  }

  /**
   * The chaincode's events from the current peer. A stream whose peer the gateway moved away
   * from ends with `LEDGER_UNAVAILABLE`, as a broken one does: its reader resumes from its
   * checkpoint, on the new peer.
   */
  async *events(options: LedgerEventsOptions = {}): AsyncGenerator<LedgerEvent> {
    const { signal } = options;
    if (signal?.aborted) return;
    const generation = this.decision.generation;
    const client = this.clients[this.decision.current];
    const ending = new AbortController();
    const abortWithCaller = (): void => ending.abort();
    signal?.addEventListener('abort', abortWithCaller, { once: true });
    // Set when the gateway moved away from this stream's peer (the stream then fails), or closes (it then ends).
    let endedBecause: string | undefined;
    let closing = false;
    const entry = {
      generation,
      end: (reason?: string) => {
        if (reason === undefined) closing = true;
        else endedBecause = reason;
        ending.abort();
      },
    };
    this.streams.add(entry);
    try {
      const { after, fromBlock } = options;
      const resume: { after?: EventCheckpoint; fromBlock?: bigint } = { ...(after ? { after } : {}), ...(fromBlock !== undefined ? { fromBlock } : {}) };
      try {
        yield* client.events({ ...resume, signal: ending.signal });
      } catch (err) {
        if (endedBecause === undefined && !closing && !signal?.aborted) await this.failed(err, generation);
        throw err;
      }
      if (endedBecause !== undefined && !closing && !signal?.aborted) {
        throw new LedgerError('LEDGER_UNAVAILABLE', `The event stream's peer stopped answering (${endedBecause}); resume on the current peer.`);
      }
    } finally {
      this.streams.delete(entry);
      signal?.removeEventListener('abort', abortWithCaller);
    }
  }

  close(): void {
    for (const stream of this.streams) stream.end();
    for (const client of this.clients) client.close();
  }

  /**
   * Runs `op` on the current peer; a failure that may be the peer's leads to a check (and maybe a
   * move) before it is rethrown. A read that failed on a peer the gateway has since left is asked
   * again, once, of the peer it moved to: the caller sees the move, not the dead peer.
   */
  private async call<T>(op: (client: PeerLedger) => Promise<T>, kind: 'read' | 'write' | 'read-again'): Promise<T> {
    const generation = this.decision.generation;
    try {
      return await op(this.clients[this.decision.current]);
    } catch (err) {
      await this.failed(err, generation);
      if (kind === 'read' && this.decision.generation !== generation) return this.call(op, 'read-again');
      throw err;
    }
  }

  private async failed(err: unknown, generation: number): Promise<void> {
    if (!this.decision.shouldCheck(mayBePeerFailure(err), generation, this.now())) return;
    const index = this.decision.current;
    const check = await this.check(this.clients[index]);
    const move = this.decision.checked(check.answered);
    const peer = this.peers[index].endpoint;
    if (!move) {
      this.logger.info('ledger call failed but the peer answers: staying on it', { peer, failure: described(err) });
      return;
    }
    const reason = `${described(err)}; check: ${check.reason}`;
    this.switches += 1;
    this.lastSwitch = { at: new Date(this.now()).toISOString(), from: peer, to: this.peers[move.to].endpoint, reason };
    this.logger.warn('peer does not answer: switching to the next peer of the organisation', { from: peer, to: this.peers[move.to].endpoint, generation: move.generation, reason });
    for (const stream of this.streams) if (stream.generation < move.generation) stream.end(`moved from ${peer} to ${this.peers[move.to].endpoint}`);
    const status = this.status();
    for (const listener of this.switchListeners) listener(status);
  }

  /** Does the peer answer a cheap query in time? Any answer, even a refusal, counts. */
  private async check(client: PeerLedger): Promise<{ answered: boolean; reason: string }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<{ answered: boolean; reason: string }>((resolve) => {
      timer = setTimeout(() => resolve({ answered: false, reason: `no answer within ${this.checkTimeoutMs} ms` }), this.checkTimeoutMs);
    });
    const asked = client.height().then(
      () => ({ answered: true, reason: 'answered' }),
      (err: unknown) => (mayBePeerFailure(err) ? { answered: false, reason: described(err) } : { answered: true, reason: `answered with ${toLedgerError(err).code}` }),
    );
    try {
      return await Promise.race([asked, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
