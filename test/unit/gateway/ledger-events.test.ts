import { expect } from 'chai';
import { LedgerClient, type LedgerEvent, type LedgerEventsOptions, type OrgConnection } from '../../../gateway/src/fabric/client';
import { FakeLedger } from '../chaincode/fake-ledger';
import { ChaincodeLedger } from '../support/chaincode-ledger';
import { commitEvent } from '../support/test-events';

/**
 * The unit-test ledger's events follow Fabric's rules, which the consent feed relies on: one
 * block per committed transaction, events in commit order, transactions without an event
 * skipped, and a resume from a checkpoint starts in its block, after its transaction.
 */
const text = (e: LedgerEvent): string => Buffer.from(e.payload).toString('utf8');

/** Reads `count` events, then stops the subscription. */
async function take(events: ChaincodeLedger, count: number, options: Omit<LedgerEventsOptions, 'signal'> = {}): Promise<LedgerEvent[]> {
  const controller = new AbortController();
  const out: LedgerEvent[] = [];
  if (count === 0) return out;
  for await (const event of events.events({ ...options, signal: controller.signal })) {
    out.push(event);
    if (out.length === count) controller.abort();
  }
  return out;
}

describe('ChaincodeLedger events: commit order and the resume rule', () => {
  const ledger = new FakeLedger();
  const events = new ChaincodeLedger(ledger, 'SponsorMSP');
  const txIds: string[] = [];

  before(async () => {
    // blocks 1..6: events in 1, 2, 4, 6; none in 3 and 5
    for (const [name, payload] of [
      ['e.one', '1'],
      ['e.two', '2'],
      ['', ''],
      ['e.four', '4'],
      ['', ''],
      ['e.six', '6'],
    ]) {
      txIds.push(await commitEvent(ledger, name, payload));
    }
  });

  it('from the first block: every event, in commit order, with its block and transaction; blocks without an event are skipped', async () => {
    const got = await take(events, 4);
    expect(got.map((e) => [e.blockNumber, e.transactionId, e.eventName, text(e)])).to.deep.equal([
      [1n, txIds[0], 'e.one', '1'],
      [2n, txIds[1], 'e.two', '2'],
      [4n, txIds[3], 'e.four', '4'],
      [6n, txIds[5], 'e.six', '6'],
    ]);
  });

  it('resuming after each event gives exactly the events after it, never the checkpoint itself', async () => {
    const all = await take(events, 4);
    for (let i = 0; i < all.length - 1; i++) {
      const after = { blockNumber: all[i].blockNumber, transactionId: all[i].transactionId };
      const rest = await take(events, all.length - 1 - i, { after });
      expect(rest.map((e) => e.transactionId), `after ${after.blockNumber}/${after.transactionId}`).to.deep.equal(all.slice(i + 1).map((e) => e.transactionId));
    }
  });

  it('resuming after a block without an event starts with the next block that has one', async () => {
    const [next] = await take(events, 1, { after: { blockNumber: 3n, transactionId: txIds[2] } });
    expect(next.blockNumber).to.equal(4n);
  });

  it('is live: after the last event it waits, and yields what commits next', async () => {
    const controller = new AbortController();
    const after = { blockNumber: 6n, transactionId: txIds[5] };
    const iterator = events.events({ after, signal: controller.signal })[Symbol.asyncIterator]();
    const pending = iterator.next();
    const txId = await commitEvent(ledger, 'e.live', 'live');
    const { value } = await pending;
    expect(value).to.include({ blockNumber: 7n, transactionId: txId, eventName: 'e.live' });
    controller.abort();
    expect((await iterator.next()).done).to.equal(true);
  });

  it('an aborted signal ends a waiting subscription without an error', async () => {
    const controller = new AbortController();
    const head = BigInt(ledger.committed.length);
    const iterator = events.events({ after: { blockNumber: head, transactionId: ledger.committed[ledger.committed.length - 1].txId }, signal: controller.signal })[Symbol.asyncIterator]();
    const pending = iterator.next();
    controller.abort();
    expect((await pending).done).to.equal(true);
  });
});

describe('LedgerClient.events: stopping (no network: a stand-in for the Fabric gateway)', () => {
  /** A Fabric chaincode-event stream that yields nothing and ends only when closed, as a live one does. */
  function liveStream(): { closed: boolean; close(): void; [Symbol.asyncIterator](): AsyncIterator<never> } {
    let wake: (() => void) | undefined;
    const stream = {
      closed: false,
      close() {
        stream.closed = true;
        wake?.();
      },
      [Symbol.asyncIterator]: (): AsyncIterator<never> => ({
        next: () => (stream.closed ? Promise.resolve({ done: true, value: undefined }) : new Promise((resolve) => (wake = () => resolve({ done: true, value: undefined })))),
      }),
    };
    return stream;
  }

  it('ends when the signal aborts while the subscription is being set up (the request is signed asynchronously)', async () => {
    const controller = new AbortController();
    const stream = liveStream();
    const gateway = {
      getNetwork: () => ({
        getChaincodeEvents: async () => {
          // The abort lands while the client is still signing its request.
          controller.abort();
          return stream;
        },
      }),
    };
    const Client = LedgerClient as unknown as new (grpcClient: unknown, gateway: unknown, connection: OrgConnection) => LedgerClient;
    const client = new Client(undefined, gateway, { channel: 'medprov', chaincode: 'medprov' } as OrgConnection);
    const got: LedgerEvent[] = [];
    for await (const event of client.events({ signal: controller.signal })) got.push(event);
    expect(got).to.deep.equal([]);
    expect(stream.closed).to.equal(true);
  });
});
