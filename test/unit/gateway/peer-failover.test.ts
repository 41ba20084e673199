import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Committed, LedgerEvent, LedgerEventsOptions } from '../../../gateway/src/fabric/client';
import { LedgerError } from '../../../gateway/src/fabric/errors';
import { FailoverLedger, mayBePeerFailure, PeerFailover, peersOfConnection, type PeerLedger } from '../../../gateway/src/fabric/failover';
import { readConsortiumFile } from '../../../network/src/consortium';
import { definitionFileOf } from '../../../network/src/gateways';
import { Network, networkFromEnv } from '../../../network/src/network';

const ROOT = path.resolve(__dirname, '../../..');

/** What the gRPC client throws when nothing listens at the peer's address. */
const refused = () => Object.assign(new Error('14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:7100'), { code: 14 });
const deadline = () => Object.assign(new Error('4 DEADLINE_EXCEEDED: Deadline exceeded'), { code: 4 });
const chaincodeRefusal = () => new LedgerError('RECORD_EXISTS', 'record r-1 already exists');

describe('peer failover: the decision (no network)', () => {
  it('checks the peer only for failures that may be its own, once per burst, and only with somewhere to go', () => {
    const d = new PeerFailover(2, { minCheckIntervalMs: 1_000 });
    expect(d.shouldCheck(false, 0, 0), 'a chaincode refusal').to.equal(false);
    expect(d.shouldCheck(true, 0, 0), 'the first connection failure').to.equal(true);
    expect(d.shouldCheck(true, 0, 10), 'while the check runs').to.equal(false);
    expect(d.checked(true), 'the peer answered').to.equal(undefined);
    expect(d.current).to.equal(0);
    expect(d.shouldCheck(true, 0, 500), 'within the interval of the last check').to.equal(false);
    expect(d.shouldCheck(true, 0, 1_000), 'after the interval').to.equal(true);

    const single = new PeerFailover(1);
    expect(single.shouldCheck(true, 0, 0), 'one peer: nowhere to go').to.equal(false);
    expect(() => new PeerFailover(0)).to.throw(/at least one peer/);
  });

  it('moves to the next peer when the check gets no answer, wrapping round, one move per generation', () => {
    const d = new PeerFailover(3, { minCheckIntervalMs: 0 });
    expect(d.shouldCheck(true, 0, 0)).to.equal(true);
    expect(d.checked(false)).to.deep.equal({ from: 0, to: 1, generation: 1 });
    // The calls that were in flight on peer 0 fail too: they belong to the old generation.
    expect(d.shouldCheck(true, 0, 1), 'a late failure from the old peer').to.equal(false);
    expect(d.shouldCheck(true, 1, 2)).to.equal(true);
    expect(d.checked(false)).to.deep.equal({ from: 1, to: 2, generation: 2 });
    expect(d.shouldCheck(true, 2, 3)).to.equal(true);
    expect(d.checked(false), 'every peer down: round again').to.deep.equal({ from: 2, to: 0, generation: 3 });
    expect(d.current).to.equal(0);
  });

  it('stays on the peer it moved to while that one answers (no move back to the first)', () => {
    const d = new PeerFailover(2, { minCheckIntervalMs: 0 });
    d.shouldCheck(true, 0, 0);
    d.checked(false);
    for (let t = 1; t < 5; t++) {
      expect(d.shouldCheck(true, 1, t)).to.equal(true);
      expect(d.checked(true)).to.equal(undefined);
    }
    expect(d.current).to.equal(1);
  });

  it('suspects the peer for UNAVAILABLE and DEADLINE_EXCEEDED, not for the chaincode refusing', () => {
    expect(mayBePeerFailure(refused())).to.equal(true);
    expect(mayBePeerFailure(deadline())).to.equal(true);
    expect(mayBePeerFailure(new LedgerError('LEDGER_UNAVAILABLE', 'x'))).to.equal(true);
    expect(mayBePeerFailure(chaincodeRefusal())).to.equal(false);
    expect(mayBePeerFailure(new LedgerError('MVCC_CONFLICT', 'x'))).to.equal(false);
  });

  it("lists the connection's peers in order, once each, or its one peer", () => {
    const base = { mspId: 'M', peerEndpoint: 'a:1', peerHostAlias: 'a', tlsRootCertPath: '', certPath: '', keyPath: '', channel: 'c', chaincode: 'cc' };
    expect(peersOfConnection(base)).to.deep.equal([{ endpoint: 'a:1', hostAlias: 'a' }]);
    const peers = [
      { endpoint: 'a:1', hostAlias: 'a' },
      { endpoint: 'b:2', hostAlias: 'b' },
      { endpoint: 'a:1', hostAlias: 'a' },
    ];
    expect(peersOfConnection({ ...base, peers })).to.deep.equal(peers.slice(0, 2));
  });

  it('the network layer gives a gateway every peer of its org, first peer first, from the definition the network runs', () => {
    const definition = readConsortiumFile(path.join(ROOT, 'test', 'faults', 'support', 'consortium-two-peers.json'));
    const stateDir = mkdtempSync(path.join(tmpdir(), 'medprov-failover-'));
    const n = new Network(definition, { root: ROOT, stateDir, basePort: 7000 });
    // The gateway process derives its settings from MEDPROV_CONSORTIUM: the network's own definition, not network/consortium.json.
    const fromGatewayEnv = networkFromEnv({ MEDPROV_CONSORTIUM: definitionFileOf(n), MEDPROV_STATE_DIR: stateDir, MEDPROV_BASE_PORT: '7000' }, ROOT);
    rmSync(stateDir, { recursive: true, force: true });
    expect(fromGatewayEnv.gatewaySettings('Hospital')).to.deep.equal(n.gatewaySettings('Hospital'));
    const fabric = fromGatewayEnv.gatewaySettings('Hospital').fabric;
    expect(fabric.peerEndpoint).to.equal('127.0.0.1:7100');
    expect(fabric.peers).to.deep.equal([
      { endpoint: '127.0.0.1:7100', hostAlias: 'peer0.hospital.medprov.local' },
      { endpoint: '127.0.0.1:7110', hostAlias: 'peer1.hospital.medprov.local' },
    ]);
  });
});

/** A peer's client that answers, or fails every call as a dead peer does; its event stream can be fed and broken. */
class StubPeer implements PeerLedger {
  dead = false;
  calls: string[] = [];
  private feeders = new Set<{ push(e: LedgerEvent): void; fail(err: unknown): void }>();

  constructor(readonly name: string) {}

  private async answer<T>(what: string, value: T): Promise<T> {
    this.calls.push(what);
    if (this.dead) throw refused();
    return value;
  }
  evaluate(name: string): Promise<Uint8Array> {
    return this.answer(`evaluate ${name}`, new TextEncoder().encode(this.name));
  }
  submit(name: string): Promise<Committed> {
    return this.answer(`submit ${name}`, { result: new Uint8Array(), transactionId: `${this.name}-tx`, blockNumber: 5n });
  }
  height(): Promise<bigint> {
    return this.answer('height', 10n);
  }
  async *events(options: LedgerEventsOptions = {}): AsyncGenerator<LedgerEvent> {
    this.calls.push(`events after ${options.after?.transactionId ?? '-'}`);
    if (this.dead) throw new LedgerError('LEDGER_UNAVAILABLE', 'no connection', undefined, refused());
    const queue: LedgerEvent[] = [];
    let failure: unknown;
    let wake: (() => void) | undefined;
    const feeder = {
      push: (e: LedgerEvent) => (queue.push(e), wake?.()),
      fail: (err: unknown) => ((failure = err), wake?.()),
    };
    const onAbort = () => wake?.();
    options.signal?.addEventListener('abort', onAbort);
    this.feeders.add(feeder);
    try {
      for (;;) {
        if (options.signal?.aborted) return;
        if (failure) throw failure;
        const next = queue.shift();
        if (next) yield next;
        else await new Promise<void>((r) => (wake = r));
      }
    } finally {
      this.feeders.delete(feeder);
      options.signal?.removeEventListener('abort', onAbort);
    }
  }
  emit(e: LedgerEvent): void {
    for (const f of this.feeders) f.push(e);
  }
  /** The process dies: calls are refused, open streams break. */
  kill(): void {
    this.dead = true;
    for (const f of this.feeders) f.fail(new LedgerError('LEDGER_UNAVAILABLE', 'connection dropped', undefined, refused()));
  }
  close(): void {}
}

const event = (block: bigint, tx: string): LedgerEvent => ({ blockNumber: block, transactionId: tx, eventName: 'medprov.RecordsChanged', payload: new Uint8Array() });

describe('peer failover: the ledger over several peers (stand-in peers, no network)', () => {
  function setup(count = 2) {
    const peers = Array.from({ length: count }, (_, i) => new StubPeer(`peer${i}`));
    const logs: { message: string; fields?: Readonly<Record<string, unknown>> }[] = [];
    const logger = { info: (message: string, fields?: Readonly<Record<string, unknown>>) => logs.push({ message, fields }), warn: (message: string, fields?: Readonly<Record<string, unknown>>) => logs.push({ message, fields }) };
    let now = 0;
    const ledger = new FailoverLedger(
      peers.map((p, i) => ({ endpoint: `127.0.0.1:71${i}0`, hostAlias: p.name })),
      peers,
      { logger, minCheckIntervalMs: 1_000, now: () => (now += 2_000) },
    );
    return { peers, ledger, logs };
  }

  it('uses the first peer while it answers', async () => {
    const { peers, ledger } = setup();
    expect((await ledger.submit('Records:anchor')).transactionId).to.equal('peer0-tx');
    expect(peers[1].calls).to.deep.equal([]);
    expect(ledger.status()).to.deep.include({ endpoint: '127.0.0.1:7100', index: 0, switches: 0 });
  });

  it('a call that meets a dead peer fails (the journal sends it again); the next goes to the next peer, and the move is logged with its reason', async () => {
    const { peers, ledger, logs } = setup();
    peers[0].kill();
    let failure: unknown;
    await ledger.submit('Records:anchor').catch((err: unknown) => (failure = err));
    expect((failure as { code?: number }).code).to.equal(14);
    expect(ledger.status()).to.deep.include({ endpoint: '127.0.0.1:7110', index: 1, switches: 1 });
    expect(ledger.status().lastSwitch).to.include({ from: '127.0.0.1:7100', to: '127.0.0.1:7110' });
    expect(ledger.status().lastSwitch?.reason).to.match(/^LEDGER_UNAVAILABLE: 14 UNAVAILABLE: .*ECONNREFUSED.*; check: LEDGER_UNAVAILABLE: 14 UNAVAILABLE/);
    expect(logs.map((l) => l.message)).to.include('peer does not answer: switching to the next peer of the organisation');
    expect((await ledger.submit('Records:anchor')).transactionId).to.equal('peer1-tx');
  });

  it('a read that meets the dead peer is asked again of the peer the gateway moved to; a write is not sent twice', async () => {
    const { peers, ledger } = setup();
    peers[0].kill();
    expect(new TextDecoder().decode(await ledger.evaluate('Records:get', 'r-1'))).to.equal('peer1');
    expect(ledger.status().switches).to.equal(1);
    peers[1].kill();
    let failure: unknown;
    await ledger.submit('Records:anchor').catch((err: unknown) => (failure = err));
    expect((failure as { code?: number }).code).to.equal(14);
    expect(peers[1].calls.filter((c) => c.startsWith('submit'))).to.have.length(1);
    expect(peers[0].calls.filter((c) => c.startsWith('submit'))).to.have.length(0);
    expect(ledger.status().index, 'every peer down: round again').to.equal(0);
  });

  it('stays on a peer that answers its check (a refusal, an orderer outage behind it, a chaincode restart)', async () => {
    const { peers, ledger, logs } = setup();
    const orig = peers[0].submit.bind(peers[0]);
    peers[0].submit = async () => {
      throw new LedgerError('LEDGER_UNAVAILABLE', 'No peer or orderer of the consortium answered');
    };
    await ledger.submit('Records:anchor').catch(() => undefined);
    expect(ledger.status().index).to.equal(0);
    expect(logs.map((l) => l.message)).to.deep.equal(['ledger call failed but the peer answers: staying on it']);
    peers[0].submit = orig;
    await ledger.submit('Records:anchor').catch(() => undefined);
    await ledger.evaluate('Records:get').catch(() => undefined);
    expect(peers[0].calls.filter((c) => c === 'height')).to.have.length(1);
  });

  it('many calls failing at once on the dead peer make one move', async () => {
    const { peers, ledger } = setup(3);
    peers[0].kill();
    await Promise.allSettled(Array.from({ length: 20 }, () => ledger.submit('Records:anchor')));
    expect(ledger.status()).to.deep.include({ index: 1, switches: 1 });
  });

  it('an event stream on the dead peer fails; its reader resumes from its checkpoint on the next peer', async () => {
    const { peers, ledger } = setup();
    const seen: string[] = [];
    const read = async (after?: { blockNumber: bigint; transactionId: string }) => {
      for await (const e of ledger.events(after ? { after } : {})) {
        seen.push(`${e.transactionId}`);
        if (seen.length === 1) peers[0].kill();
      }
    };
    const first = read();
    await new Promise((r) => setImmediate(r));
    peers[0].emit(event(3n, 't3'));
    let failure: unknown;
    await first.catch((err: unknown) => (failure = err));
    expect(failure).to.be.instanceOf(LedgerError);
    expect(ledger.status().index).to.equal(1);
    const second = read({ blockNumber: 3n, transactionId: 't3' });
    await new Promise((r) => setImmediate(r));
    peers[1].emit(event(4n, 't4'));
    await new Promise((r) => setImmediate(r));
    expect(seen).to.deep.equal(['t3', 't4']);
    expect(peers[1].calls).to.include('events after t3');
    ledger.close();
    await second;
  });

  it("a stream still open on the old peer when a call moves the gateway ends with LEDGER_UNAVAILABLE, so its reader resubscribes on the new peer", async () => {
    const { peers, ledger } = setup();
    const stream = (async () => {
      for await (const _ of ledger.events()) void _;
    })();
    await new Promise((r) => setImmediate(r));
    // The peer stops answering calls but its stream stays silent (a hung peer): the move ends it.
    peers[0].dead = true;
    await ledger.evaluate('Records:get').catch(() => undefined);
    let failure: unknown;
    await stream.catch((err: unknown) => (failure = err));
    expect((failure as LedgerError).code).to.equal('LEDGER_UNAVAILABLE');
    expect((failure as LedgerError).message).to.match(/moved from 127\.0\.0\.1:7100 to 127\.0\.0\.1:7110/);
  });

  it("a reader's own abort ends its stream quietly, without a check", async () => {
    const { peers, ledger } = setup();
    const controller = new AbortController();
    const stream = (async () => {
      for await (const _ of ledger.events({ signal: controller.signal })) void _;
    })();
    await new Promise((r) => setImmediate(r));
    controller.abort();
    await stream;
    expect(peers[0].calls).to.deep.equal(['events after -']);
  });
});
