import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { CONSENT_EVENT } from '../../../chaincode/src/lib/consent-model';
import {
  ConsentFeed,
  ConsentFeedError,
  parseEventId,
  type ConsentFeedEntry,
  type FeedLogger,
  type FeedOrg,
} from '../../../gateway/src/consent/feed';
import type { LedgerEvent, LedgerEvents, LedgerEventsOptions } from '../../../gateway/src/fabric/client';
import { FakeLedger } from '../chaincode/fake-ledger';
import { HOSPITAL, HOSPITAL2, INSURER, SPONSOR } from '../chaincode/fixtures';
import { ChaincodeLedger } from '../support/chaincode-ledger';
import { commitConsentChange, commitEvent } from '../support/test-events';

/**
 * The consent feed: which changes an organisation keeps, that each is on disk before anyone
 * hears of it, and that a restart (after a clean stop or a crash mid-line) resumes from the
 * ledger with nothing lost and nothing twice.
 */
const SPONSOR_ORG: FeedOrg = { mspId: SPONSOR, type: 'sponsor' };
const HOSPITAL_ORG: FeedOrg = { mspId: HOSPITAL, type: 'hospital' };

/** Resolves once the feed holds `seq` entries. */
function untilSeq(feed: ConsentFeed, seq: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (feed.lastSeq >= seq) return resolve();
    const unsubscribe = feed.subscribe({
      entry: (e) => {
        if (e.seq >= seq) {
          unsubscribe();
          resolve();
        }
      },
      closed: () => reject(new Error(`the feed closed at ${feed.lastSeq} entries, before ${seq}`)),
    });
  });
}

const fileLines = (file: string): ConsentFeedEntry[] =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as ConsentFeedEntry);

/** Records what the feed logs. */
function recorder(): FeedLogger & { lines: { level: string; message: string; fields: object }[] } {
  const lines: { level: string; message: string; fields: object }[] = [];
  return {
    lines,
    info: (fields, message) => lines.push({ level: 'info', message, fields }),
    warn: (fields, message) => lines.push({ level: 'warn', message, fields }),
    error: (fields, message) => lines.push({ level: 'error', message, fields }),
  };
}

/** Runs `attempt` (a promise, or a function that may throw) and expects a ConsentFeedError with `code`. */
async function expectFeedError(attempt: Promise<unknown> | (() => unknown), code: string): Promise<ConsentFeedError> {
  const outcome = await Promise.resolve()
    .then(() => (typeof attempt === 'function' ? attempt() : attempt))
    .then(
      () => undefined,
      (err: unknown) => err,
    );
  expect(outcome, `expected ${code}, but it succeeded`).to.be.instanceOf(ConsentFeedError);
  expect((outcome as ConsentFeedError).code).to.equal(code);
  return outcome as ConsentFeedError;
}

describe('consent feed: the changes that concern an org, durably, resumable', function () {
  this.timeout(20_000);
  let dir: string;
  let ledger: FakeLedger;
  let file: string;
  const open: ConsentFeed[] = [];

  const openFeed = async (org: FeedOrg = SPONSOR_ORG, extra: { ledger?: LedgerEvents; logger?: FeedLogger; file?: string } = {}): Promise<ConsentFeed> => {
    const feed = await ConsentFeed.open({
      file: extra.file ?? file,
      ledger: extra.ledger ?? new ChaincodeLedger(ledger, org.mspId),
      org,
      retry: { initialMs: 1, maxMs: 5 },
      ...(extra.logger ? { logger: extra.logger } : {}),
    });
    open.push(feed);
    return feed;
  };

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-feed-'));
    file = path.join(dir, 'feed', 'consent-feed.ndjson');
    ledger = new FakeLedger();
  });
  afterEach(async () => {
    for (const feed of open.splice(0)) await feed.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps a sponsor's grants and revocations only: not other grantees', not registrations, not other events, not malformed payloads", async () => {
    const mine = await commitConsentChange(ledger, { kind: 'granted', grantId: `0x${'1'.repeat(64)}` });
    await commitConsentChange(ledger, { kind: 'granted', grantee: INSURER, purpose: 'claims' });
    await commitConsentChange(ledger, { kind: 'registered' });
    await commitEvent(ledger, 'medprov.RecordsChanged', JSON.stringify({ changes: [] }));
    await commitEvent(ledger, CONSENT_EVENT, 'not json');
    await commitEvent(ledger, CONSENT_EVENT, JSON.stringify({ kind: 'granted', grantee: SPONSOR }));
    await commitConsentChange(ledger, { kind: 'revoked', grantee: HOSPITAL2, hospital: HOSPITAL2 });
    const revoked = await commitConsentChange(ledger, { kind: 'revoked', grantId: `0x${'1'.repeat(64)}` });
    const logger = recorder();
    const feed = await openFeed(SPONSOR_ORG, { logger });
    feed.start();
    await untilSeq(feed, 2);
    // a sentinel: once it is in, everything committed before it has been looked at
    const sentinel = await commitConsentChange(ledger, { kind: 'granted' });
    await untilSeq(feed, 3);
    expect(feed.entriesAfter(0).map((e) => [e.seq, e.transactionId, e.change.kind])).to.deep.equal([
      [1, mine, 'granted'],
      [2, revoked, 'revoked'],
      [3, sentinel, 'granted'],
    ]);
    expect(feed.entriesAfter(0)[1].change).to.deep.equal({
      kind: 'revoked',
      hospital: HOSPITAL,
      patientRef: 'a'.repeat(64),
      grantId: `0x${'1'.repeat(64)}`,
      grantee: SPONSOR,
      purpose: 'research:trial-1',
      status: 'revoked',
    });
    expect(feed.entriesAfter(0)[1].blockNumber).to.equal(String(ledger.committed.findIndex((t) => t.txId === revoked) + 1));
    expect(logger.lines.filter((l) => l.level === 'error').map((l) => l.message)).to.have.length(2);
  });

  it("a hospital keeps the changes about its own patients whoever the grantee, and grants to itself, and no other hospital's", async () => {
    const toInsurer = await commitConsentChange(ledger, { kind: 'granted', grantee: INSURER, purpose: 'claims' });
    await commitConsentChange(ledger, { kind: 'granted', hospital: HOSPITAL2, grantee: INSURER });
    const toItself = await commitConsentChange(ledger, { kind: 'granted', hospital: HOSPITAL2, grantee: HOSPITAL, purpose: 'treatment' });
    await commitConsentChange(ledger, { kind: 'registered' });
    const sentinel = await commitConsentChange(ledger, { kind: 'revoked', grantee: SPONSOR });
    const feed = await openFeed(HOSPITAL_ORG);
    feed.start();
    await untilSeq(feed, 3);
    expect(feed.entriesAfter(0).map((e) => e.transactionId)).to.deep.equal([toInsurer, toItself, sentinel]);
  });

  it('an entry is in the file, whole, when subscribers hear of it; seq and checkpoint are in every line', async () => {
    const feed = await openFeed();
    const seenOnDisk: boolean[] = [];
    feed.subscribe({
      entry: (entry) => {
        // read synchronously, in the announcement itself
        const lines = fileLines(file);
        seenOnDisk.push(JSON.stringify(lines[entry.seq - 1]) === JSON.stringify(entry));
      },
      closed: () => undefined,
    });
    feed.start();
    for (let i = 0; i < 5; i++) await commitConsentChange(ledger, { kind: i % 2 ? 'revoked' : 'granted' });
    await untilSeq(feed, 5);
    expect(seenOnDisk).to.deep.equal([true, true, true, true, true]);
    expect(fileLines(file).map((l) => Object.keys(l))).to.deep.equal(Array(5).fill(['seq', 'blockNumber', 'transactionId', 'change']));
    expect(fileLines(file).map((l) => l.seq)).to.deep.equal([1, 2, 3, 4, 5]);
  });

  it('after a restart it resumes after the last entry: what was committed while it was down comes, nothing twice', async () => {
    let feed = await openFeed();
    feed.start();
    await commitConsentChange(ledger, { kind: 'granted' });
    await commitConsentChange(ledger, { kind: 'granted' });
    await untilSeq(feed, 2);
    await feed.close();
    const before = readFileSync(file, 'utf8');

    // while it is down: one change that concerns it, one that does not
    const whileDown = await commitConsentChange(ledger, { kind: 'revoked' });
    await commitConsentChange(ledger, { kind: 'revoked', grantee: INSURER });

    feed = await openFeed();
    expect(feed.lastSeq).to.equal(2);
    expect(feed.checkpoint?.transactionId).to.equal(fileLines(file)[1].transactionId);
    feed.start();
    await untilSeq(feed, 3);
    const sentinel = await commitConsentChange(ledger, { kind: 'granted' });
    await untilSeq(feed, 4);
    expect(feed.entriesAfter(2).map((e) => [e.seq, e.transactionId])).to.deep.equal([
      [3, whileDown],
      [4, sentinel],
    ]);
    expect(readFileSync(file, 'utf8').startsWith(before)).to.equal(true);

    // and once more with nothing new: no entry is added
    await feed.close();
    feed = await openFeed();
    feed.start();
    const last = await commitConsentChange(ledger, { kind: 'revoked' });
    await untilSeq(feed, 5);
    expect(fileLines(file).map((l) => l.transactionId)).to.deep.equal([...fileLines(file).slice(0, 4).map((l) => l.transactionId), last]);
    expect(new Set(fileLines(file).map((l) => l.transactionId)).size).to.equal(5);
  });

  for (const [tear, how] of [
    ['half of the last line', (bytes: Buffer, lastStart: number) => bytes.subarray(0, lastStart + Math.floor((bytes.length - lastStart) / 2))],
    ['the last line without its newline', (bytes: Buffer) => bytes.subarray(0, bytes.length - 1)],
    ['zero bytes after the last whole line', (bytes: Buffer, lastStart: number) => Buffer.concat([bytes.subarray(0, lastStart), Buffer.alloc(37)])],
    ['zero bytes and a newline instead of the last line', (bytes: Buffer, lastStart: number) => Buffer.concat([bytes.subarray(0, lastStart), Buffer.alloc(20), Buffer.from('\n')])],
  ] as const) {
    it(`a torn last line (${tear}) is cut on open and read again from the ledger: the file ends as it would have`, async () => {
      let feed = await openFeed();
      feed.start();
      for (let i = 0; i < 3; i++) await commitConsentChange(ledger, { kind: 'granted' });
      await untilSeq(feed, 3);
      await feed.close();
      const whole = await fs.readFile(file);
      const lastStart = whole.subarray(0, whole.length - 1).lastIndexOf(0x0a) + 1;
      await fs.writeFile(file, how(whole, lastStart));

      const logger = recorder();
      feed = await openFeed(SPONSOR_ORG, { logger });
      expect(feed.lastSeq).to.equal(2);
      expect(logger.lines.map((l) => l.message).join('\n')).to.match(/cut a torn last line/);
      expect(await fs.readFile(file)).to.deep.equal(whole.subarray(0, lastStart));
      feed.start();
      await untilSeq(feed, 3);
      expect(await fs.readFile(file)).to.deep.equal(whole);
    });
  }

  it('a damaged line with whole lines after it is refused: FEED_CORRUPT, and the lock is let go', async () => {
    const feed = await openFeed();
    feed.start();
    for (let i = 0; i < 3; i++) await commitConsentChange(ledger, { kind: 'granted' });
    await untilSeq(feed, 3);
    await feed.close();
    const lines = readFileSync(file, 'utf8').split('\n');
    lines[1] = lines[1].replace('"seq":2', '"seq":7');
    await fs.writeFile(file, lines.join('\n'));
    const err = await expectFeedError(openFeed(), 'FEED_CORRUPT');
    expect(err.message).to.match(/Line 2 /);
    // fixed by hand, it opens again
    await fs.writeFile(file, lines.join('\n').replace('"seq":7', '"seq":2'));
    expect((await openFeed()).lastSeq).to.equal(3);
  });

  it('two feeds cannot share a file: FEED_LOCKED', async () => {
    await openFeed();
    await expectFeedError(openFeed(), 'FEED_LOCKED');
  });

  it("a lock left with this process's own pid by an earlier process (a container's pid 1 after a crash) is stale, not FEED_LOCKED", async () => {
    const feed = await openFeed();
    await feed.close();
    await fs.writeFile(`${file}.lock`, JSON.stringify({ pid: process.pid, token: 'left-by-a-crashed-process' }));
    const reopened = await openFeed();
    await expectFeedError(openFeed(), 'FEED_LOCKED');
    await reopened.close();
    expect(await fs.stat(`${file}.lock`).catch(() => undefined)).to.equal(undefined);
  });

  it('when the event stream fails it reconnects with backoff from where it was, and logs it', async () => {
    const inner = new ChaincodeLedger(ledger, SPONSOR);
    let failuresLeft = 3;
    const afters: (string | undefined)[] = [];
    // Fails after one event, three times over, then works.
    const flaky: LedgerEvents = {
      async *events(options: LedgerEventsOptions = {}): AsyncGenerator<LedgerEvent> {
        afters.push(options.after?.transactionId);
        let n = 0;
        for await (const event of inner.events(options)) {
          yield event;
          n += 1;
          if (n === 1 && failuresLeft > 0) {
            failuresLeft -= 1;
            throw new Error('UNAVAILABLE: connection dropped');
          }
        }
      },
    };
    const txs: string[] = [];
    for (let i = 0; i < 6; i++) txs.push(await commitConsentChange(ledger, { kind: 'granted' }));
    const logger = recorder();
    const feed = await openFeed(SPONSOR_ORG, { ledger: flaky, logger });
    feed.start();
    await untilSeq(feed, 6);
    expect(feed.entriesAfter(0).map((e) => e.transactionId)).to.deep.equal(txs);
    expect(afters).to.deep.equal([undefined, txs[0], txs[1], txs[2]]);
    const warnings = logger.lines.filter((l) => l.level === 'warn');
    expect(warnings.map((w) => w.message)).to.deep.equal(Array(3).fill('consent feed: the ledger event stream failed; reconnecting'));
    expect(warnings.map((w) => (w.fields as { attempt: number }).attempt)).to.deep.equal([1, 1, 1]);
  });

  it('a stream that ends by itself is reconnected too', async () => {
    const inner = new ChaincodeLedger(ledger, SPONSOR);
    let ends = 2;
    const ending: LedgerEvents = {
      async *events(options: LedgerEventsOptions = {}): AsyncGenerator<LedgerEvent> {
        for await (const event of inner.events(options)) {
          yield event;
          if (ends > 0) {
            ends -= 1;
            return;
          }
        }
      },
    };
    for (let i = 0; i < 4; i++) await commitConsentChange(ledger, { kind: 'revoked' });
    const feed = await openFeed(SPONSOR_ORG, { ledger: ending });
    feed.start();
    await untilSeq(feed, 4);
    expect(new Set(feed.entriesAfter(0).map((e) => e.transactionId)).size).to.equal(4);
  });

  it('close() ends subscriptions and the follower; event ids are checked', async () => {
    const feed = await openFeed();
    feed.start();
    await commitConsentChange(ledger, { kind: 'granted' });
    await untilSeq(feed, 1);
    let closed = 0;
    feed.subscribe({ entry: () => undefined, closed: () => (closed += 1) });
    expect(feed.subscribers).to.equal(1);
    expect(feed.entriesAfter(1)).to.deep.equal([]);
    expect(feed.entriesAfter(0)).to.have.length(1);
    await expectFeedError(() => feed.entriesAfter(2), 'INVALID_EVENT_ID');
    await feed.close();
    expect(closed).to.equal(1);
    expect(feed.subscribers).to.equal(0);

    expect(parseEventId('0', 'x')).to.equal(0);
    expect(parseEventId('42', 'x')).to.equal(42);
    for (const bad of ['', '-1', '01', '1.5', '1e3', ' 1', 'abc', '9'.repeat(16), '0x10']) {
      await expectFeedError(() => parseEventId(bad, 'The id'), 'INVALID_EVENT_ID');
    }
  });
});
