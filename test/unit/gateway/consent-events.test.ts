import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import express from 'express';
import * as http from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Wallet, id } from 'ethers';
import { IdentityContract } from '../../../chaincode/src';
import { CONSENT_GRANT_TYPES, CONSENT_REVOKE_TYPES, consentDomain, type ConsentGrantMessage } from '../../../chaincode/src/lib/eip712';
import { CONSENT_EVENT } from '../../../chaincode/src/lib/consent-model';
import type { LedgerEvent, LedgerEvents, LedgerEventsOptions } from '../../../gateway/src/fabric/client';
import { ConsentFeed, type ConsentFeedEntry } from '../../../gateway/src/consent/feed';
import { streamConsentEvents } from '../../../gateway/src/http/consent-events';
import type { Role } from '../../../gateway/src/http/roles';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL, INSURER, SPONSOR } from '../chaincode/fixtures';
import { ChaincodeLedger } from '../support/chaincode-ledger';
import { ROLE_KEYS, startOrgGateway, type OrgGateway } from '../support/org-gateways';

/**
 * Issue 4, "Revocation reaches sponsors": the sponsor's gateway streams the consent changes
 * that concern it as Server-Sent Events, and a client that reconnects with its Last-Event-ID
 * gets what it missed, also when the gateway was down when the patient revoked. Real gateways
 * over HTTP, the real chaincode on the in-memory ledger, a real secp256k1 patient key.
 */
const DAY = 86_400;
const LAB = 'loinc:11502-2';

interface SseEvent {
  id?: string;
  event?: string;
  data: string;
}

/** A small SSE reader: events and comments as they arrive, per the HTML spec's line format. */
class SseClient {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  private buffer = '';
  private readonly wakers = new Set<() => void>();
  ended = false;

  private constructor(
    readonly status: number,
    readonly contentType: string,
    private readonly req: http.ClientRequest,
    res: http.IncomingMessage,
  ) {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => this.feed(chunk));
    res.on('close', () => {
      this.ended = true;
      this.wake();
    });
  }

  static connect(url: string, headers: Record<string, string>): Promise<SseClient> {
    return new Promise((resolve, reject) => {
      const req = http.get(url, { headers: { accept: 'text/event-stream', ...headers } });
      req.on('response', (res) => resolve(new SseClient(res.statusCode ?? 0, String(res.headers['content-type'] ?? ''), req, res)));
      req.on('error', reject);
    });
  }

  /** The whole body of a refused (non-stream) answer, parsed. */
  async json(): Promise<any> {
    await this.until(() => this.ended);
    return JSON.parse(this.buffer);
  }

  /** Waits for the n-th event (0-based) of this connection. */
  async event(n: number): Promise<SseEvent> {
    await this.until(() => this.events.length > n || this.ended);
    if (this.events.length <= n) throw new Error(`the stream ended after ${this.events.length} events`);
    return this.events[n];
  }

  async until(condition: () => boolean): Promise<void> {
    while (!condition()) await new Promise<void>((resolve) => this.wakers.add(resolve));
  }

  close(): void {
    this.req.destroy();
  }

  private feed(chunk: string): void {
    this.buffer += chunk;
    if (!this.contentType.startsWith('text/event-stream')) return;
    this.buffer = this.buffer.replace(/\r\n?/g, '\n');
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const event: SseEvent = { data: '' };
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) {
          this.comments.push(line.slice(1).trim());
          continue;
        }
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'id') event.id = value;
        else if (field === 'event') event.event = value;
        else if (field === 'data') data.push(value);
      }
      if (data.length > 0) this.events.push({ ...event, data: data.join('\n') });
    }
    this.wake();
  }

  private wake(): void {
    for (const w of [...this.wakers]) w();
    this.wakers.clear();
  }
}

const entryOf = (e: SseEvent): ConsentFeedEntry => JSON.parse(e.data) as ConsentFeedEntry;

async function send(gw: OrgGateway, method: string, p: string, opts: { role?: Role; json?: unknown } = {}): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = {};
  if (opts.role) headers.authorization = `Bearer ${ROLE_KEYS[opts.role]}`;
  if (opts.json !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(gw.url + p, { method, headers, ...(opts.json !== undefined ? { body: JSON.stringify(opts.json) } : {}) });
  return { status: res.status, body: await res.json() };
}

describe('consent events: revocation reaches the sponsor, across its gateway restarting (issue 4)', function () {
  this.timeout(30_000);
  const ledger = new FakeLedger();
  const patient = new Wallet(id('consent events patient key'));
  let root: string;
  let sponsorFeedDir: string;
  let hospital: OrgGateway;
  let insurer: OrgGateway;
  let sponsor: OrgGateway;
  let patientRef: string;
  let researchGrant: string;
  let nonce = 0;
  const clients: SseClient[] = [];

  const sponsorEvents = async (headers: Record<string, string> = {}, query = '', role: Role = 'research-officer'): Promise<SseClient> => {
    const client = await SseClient.connect(`${sponsor.url}/v1/consents/events${query}`, { authorization: `Bearer ${ROLE_KEYS[role]}`, ...headers });
    clients.push(client);
    return client;
  };

  const startSponsor = async (run: string, heartbeatMs?: number): Promise<OrgGateway> =>
    startOrgGateway({
      ledger,
      mspId: SPONSOR,
      type: 'sponsor',
      // keys and journal are per run (a new master key each time); the feed's folder is the same
      dir: path.join(root, run),
      consentFeed: { dir: sponsorFeedDir, ...(heartbeatMs ? { heartbeatMs } : {}) },
    });

  /** The patient signs a grant and sends it through the hospital's gateway, without an API key. */
  async function grant(grantee: string, purpose: string): Promise<string> {
    const message: ConsentGrantMessage = {
      hospital: HOSPITAL,
      patientRef,
      grantee,
      purpose,
      categories: [LAB],
      recordIds: [],
      validFrom: ledger.now,
      validUntil: ledger.now + 30 * DAY,
      nonce: id(`events grant nonce ${++nonce}`),
    };
    const signature = await patient.signTypedData(consentDomain(ledger.channel), CONSENT_GRANT_TYPES, message);
    const res = await send(hospital, 'POST', '/v1/consents', { json: { message, signature } });
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    return res.body.grant.grantId as string;
  }

  async function revoke(grantId: string): Promise<void> {
    const message = { hospital: HOSPITAL, patientRef, grantId, nonce: id(`events revoke nonce ${++nonce}`) };
    const signature = await patient.signTypedData(consentDomain(ledger.channel), CONSENT_REVOKE_TYPES, message);
    const res = await send(hospital, 'POST', '/v1/consents/revocations', { json: { message, signature } });
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
  }

  before(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'medprov-consent-events-'));
    sponsorFeedDir = path.join(root, 'sponsor-feed');
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    hospital = await startOrgGateway({ ledger, mspId: HOSPITAL, type: 'hospital', dir: root, limits: { patientPerSecond: 1000, patientBurst: 1000 } });
    insurer = await startOrgGateway({ ledger, mspId: INSURER, type: 'insurer', dir: root, consentFeed: { dir: path.join(root, 'insurer-feed') } });
    sponsor = await startSponsor('run-1');

    const request = await send(hospital, 'POST', '/v1/patients/registration-requests', { role: 'records-officer', json: { patientId: 'MRN-4004' } });
    expect(request.status, JSON.stringify(request.body)).to.equal(201);
    patientRef = request.body.message.patientRef;
    const signature = await patient.signTypedData(request.body.domain, request.body.types, request.body.message);
    const registered = await send(hospital, 'POST', '/v1/patients', { role: 'records-officer', json: { message: request.body.message, patient: patient.address, signature } });
    expect(registered.status, JSON.stringify(registered.body)).to.equal(201);
  });
  after(async () => {
    for (const c of clients) c.close();
    await Promise.all([hospital.stop(), insurer.stop(), sponsor.stop()]);
    rmSync(root, { recursive: true, force: true });
  });

  it("the sponsor's research officer subscribes; the patient grants the insurer, then the sponsor: only the sponsor's grant arrives, as consent.granted with id 1", async () => {
    const live = await sponsorEvents();
    expect(live.status).to.equal(200);
    expect(live.contentType).to.match(/^text\/event-stream/);

    const insurerGrant = await grant(INSURER, 'claims');
    researchGrant = await grant(SPONSOR, 'research:TRIAL-4');

    const first = await live.event(0);
    expect(first.id).to.equal('1');
    expect(first.event).to.equal('consent.granted');
    const entry = entryOf(first);
    expect(entry.seq).to.equal(1);
    expect(entry.change).to.deep.include({ kind: 'granted', grantId: researchGrant, grantee: SPONSOR, hospital: HOSPITAL, patientRef, purpose: 'research:TRIAL-4', status: 'active' });
    expect(entry.blockNumber).to.match(/^\d+$/);
    expect(entry.transactionId).to.be.a('string').and.not.equal('');
    expect(JSON.stringify(live.events)).to.not.include(insurerGrant);

    // The insurer's own stream has its grant and not the sponsor's.
    const insurerStream = await SseClient.connect(`${insurer.url}/v1/consents/events`, { authorization: `Bearer ${ROLE_KEYS['claims-officer']}` });
    clients.push(insurerStream);
    expect(entryOf(await insurerStream.event(0)).change).to.include({ grantId: insurerGrant, grantee: INSURER });
    expect(JSON.stringify(insurerStream.events)).to.not.include(researchGrant);
  });

  it("the sponsor's gateway stops; the patient revokes (and changes the insurer's consent) while it is down", async () => {
    await sponsor.stop();
    // the live stream ends with the gateway, having had the grant only
    await clients[0].until(() => clients[0].ended);
    expect(clients[0].events).to.have.length(1);
    await revoke(researchGrant);
    await revoke(await grant(INSURER, 'claims'));
  });

  it('restarted on the same state, a client reconnecting with Last-Event-ID: 1 receives the revocation exactly once, then what comes next', async () => {
    sponsor = await startSponsor('run-2', 50);
    const resumed = await sponsorEvents({ 'last-event-id': '1' });
    expect(resumed.status).to.equal(200);

    const revoked = await resumed.event(0);
    expect(revoked.id).to.equal('2');
    expect(revoked.event).to.equal('consent.revoked');
    expect(entryOf(revoked).change).to.deep.include({ kind: 'revoked', grantId: researchGrant, grantee: SPONSOR, status: 'revoked' });

    // a sentinel: once it arrives, everything committed before it has been through the feed
    const next = await grant(SPONSOR, 'research:TRIAL-5');
    const sentinel = await resumed.event(1);
    expect(sentinel).to.include({ id: '3', event: 'consent.granted' });
    expect(entryOf(sentinel).change.grantId).to.equal(next);
    expect(resumed.events.map((e) => e.id)).to.deep.equal(['2', '3']);
    expect(resumed.events.filter((e) => entryOf(e).change.grantId === researchGrant)).to.have.length(1);
    expect(resumed.events.every((e) => entryOf(e).change.grantee === SPONSOR)).to.equal(true);

    // heartbeats are comments, not events
    await resumed.until(() => resumed.comments.includes('heartbeat'));
    expect(resumed.events).to.have.length(2);
  });

  it('a fresh client replays the whole stream in order; Last-Event-ID wins over ?after=; ?after=2 starts after 2', async () => {
    const all = await sponsorEvents();
    await all.event(2);
    expect(all.events.map((e) => [e.id, e.event])).to.deep.equal([
      ['1', 'consent.granted'],
      ['2', 'consent.revoked'],
      ['3', 'consent.granted'],
    ]);
    const both = await sponsorEvents({ 'last-event-id': '2' }, '?after=0');
    expect((await both.event(0)).id).to.equal('3');
    const after = await sponsorEvents({}, '?after=2', 'admin');
    expect((await after.event(0)).id).to.equal('3');
    const claims = await sponsorEvents({ 'last-event-id': '3' }, '', 'claims-officer');
    expect(claims.status).to.equal(200);
  });

  it('closing a client lets go of its subscription', async () => {
    const feed = sponsor.feed!;
    expect(feed.subscribers).to.be.greaterThan(0);
    for (const c of clients) c.close();
    while (feed.subscribers > 0) await new Promise((r) => setTimeout(r, 5));
    expect(feed.subscribers).to.equal(0);
  });

  it('a malformed Last-Event-ID or after is refused with 400 and the error envelope; other roles and no key are refused', async () => {
    for (const [headers, query, code] of [
      [{ 'last-event-id': 'abc' }, '', 'INVALID_EVENT_ID'],
      [{ 'last-event-id': '-1' }, '', 'INVALID_EVENT_ID'],
      [{ 'last-event-id': '0099' }, '', 'INVALID_EVENT_ID'],
      [{ 'last-event-id': '1234567890123456' }, '', 'INVALID_EVENT_ID'],
      [{}, '?after=1.5', 'INVALID_REQUEST'],
      [{}, '?after=1&after=2', 'INVALID_REQUEST'],
      [{}, '?from=1', 'UNKNOWN_FIELD'],
    ] as const) {
      const res = await sponsorEvents(headers, query);
      expect(res.status, `${JSON.stringify(headers)} ${query}`).to.equal(400);
      expect(res.contentType).to.match(/^application\/json/);
      const body = await res.json();
      expect(body.error.code).to.equal(code);
      expect(body.error.message).to.match(/[.!]$/);
      expect(body.error.requestId).to.be.a('string');
    }
    for (const role of ['dpo', 'records-officer'] as const) {
      const res = await sponsorEvents({}, '', role);
      expect(res.status).to.equal(403);
      expect((await res.json()).error.code).to.equal('FORBIDDEN_ROLE');
    }
    const anonymous = await SseClient.connect(`${sponsor.url}/v1/consents/events`, {});
    expect(anonymous.status).to.equal(401);
    expect((await anonymous.json()).error.code).to.equal('AUTH_REQUIRED');
  });

  it('the OpenAPI document describes the stream as text/event-stream where the gateway offers it', async () => {
    const spec = (await send(sponsor, 'GET', '/v1/openapi.json')).body;
    const op = spec.paths['/v1/consents/events'].get;
    expect(Object.keys(op.responses['200'].content)).to.deep.equal(['text/event-stream']);
    expect(op.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`)).to.deep.equal(['header:Last-Event-ID', 'query:after']);
    expect(spec.components.schemas.ConsentEvent.required).to.deep.equal(['seq', 'blockNumber', 'transactionId', 'change']);
    expect((await send(hospital, 'GET', '/v1/openapi.json')).body.paths).to.not.have.property('/v1/consents/events');
    expect((await send(hospital, 'GET', '/v1/consents/events', { role: 'admin' })).status).to.equal(404);
  });

  it("at a hospital, a claims officer's stream has only claims changes and a research officer's only research ones, with the feed's ids; an admin's has all", async () => {
    // A second gateway of the hospital, with a consent feed: it keeps every change about its patients.
    const withFeed = await startOrgGateway({ ledger, mspId: HOSPITAL, type: 'hospital', dir: path.join(root, 'hospital-feed-run'), consentFeed: { dir: path.join(root, 'hospital-feed') } });
    try {
      const stream = async (role: Role, headers: Record<string, string> = {}): Promise<SseClient> => {
        const client = await SseClient.connect(`${withFeed.url}/v1/consents/events`, { authorization: `Bearer ${ROLE_KEYS[role]}`, ...headers });
        clients.push(client);
        expect(client.status).to.equal(200);
        return client;
      };
      const untilId = (client: SseClient, id: string) => client.until(() => client.events.some((e) => e.id === id) || client.ended);
      const ids = (client: SseClient) => client.events.map((e) => e.id);
      // So far: 1 insurer claims granted, 2 sponsor research:TRIAL-4 granted, 3 revoked, 4 insurer claims granted,
      // 5 revoked, 6 sponsor research:TRIAL-5 granted. Sentinels: 7 for claims, 8 for research.
      await grant(INSURER, 'claims');
      await grant(SPONSOR, 'research:TRIAL-6');
      const admin = await stream('admin');
      const claims = await stream('claims-officer');
      const research = await stream('research-officer');
      const claimsResumed = await stream('claims-officer', { 'last-event-id': '4' });
      await Promise.all([untilId(admin, '8'), untilId(claims, '7'), untilId(research, '8'), untilId(claimsResumed, '7')]);
      expect(ids(admin)).to.deep.equal(['1', '2', '3', '4', '5', '6', '7', '8']);
      expect(ids(claims)).to.deep.equal(['1', '4', '5', '7']);
      expect(claims.events.every((e) => entryOf(e).change.purpose === 'claims')).to.equal(true);
      expect(ids(research)).to.deep.equal(['2', '3', '6', '8']);
      expect(research.events.every((e) => entryOf(e).change.purpose?.startsWith('research:'))).to.equal(true);
      expect(ids(claimsResumed)).to.deep.equal(['5', '7']);
      // Each event is the feed's entry of that seq, whoever receives it.
      for (const e of [...claims.events, ...research.events]) expect(e.data).to.equal(admin.events.find((a) => a.id === e.id)?.data);
    } finally {
      await withFeed.stop();
    }
  });
});

describe('the consent event stream and a client that is already gone', () => {
  it('a client that left before the stream began leaves no subscription behind', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'medprov-sse-gone-'));
    const feed = await ConsentFeed.open({ file: path.join(dir, 'feed.ndjson'), ledger: new ChaincodeLedger(new FakeLedger(), SPONSOR), org: { mspId: SPONSOR, type: 'sponsor' } });
    let streamed: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (streamed = resolve));
    const app = express();
    app.get('/events', (req, res) => {
      // The handler runs only once the client has hung up (as after reading a request body).
      req.socket.once('close', () => {
        streamConsentEvents(req, res, { feed });
        streamed();
      });
    });
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1', () => socket.end('GET /events HTTP/1.1\r\nHost: x\r\n\r\n'));
      socket.on('data', () => undefined);
      socket.on('error', () => undefined);
      setTimeout(() => socket.destroy(), 50);
      await done;
      expect(feed.subscribers).to.equal(0);
    } finally {
      await feed.close();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * A ledger event source that hands out only what the test releases: a feed that is behind the
 * ledger (a second gateway of the org, or a feed rebuilding from the ledger) for as long as the
 * test wants, with no timing involved.
 */
class HeldBackEvents implements LedgerEvents {
  private readonly released: LedgerEvent[] = [];
  private wake: (() => void) | undefined;

  /** Lets the next `count` consent changes of the sponsor through. */
  release(count: number): void {
    for (let i = 0; i < count; i++) {
      const n = this.released.length + 1;
      const change = { kind: 'granted', hospital: HOSPITAL, patientRef: 'ab'.repeat(32), grantId: id(`held back grant ${n}`), grantee: SPONSOR, purpose: 'research:TRIAL-9', status: 'active' };
      this.released.push({ blockNumber: BigInt(n), transactionId: `tx-${n}`, eventName: CONSENT_EVENT, payload: Buffer.from(JSON.stringify(change)) });
    }
    this.wake?.();
  }

  async *events(options: LedgerEventsOptions = {}): AsyncGenerator<LedgerEvent> {
    let next = 0;
    while (!options.signal?.aborted) {
      if (next < this.released.length) {
        yield this.released[next++];
        continue;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        options.signal?.addEventListener('abort', () => resolve(), { once: true });
      });
    }
  }
}

describe('the consent event stream and a resume id its feed has not reached yet', function () {
  this.timeout(30_000);
  let dir: string;
  let feed: ConsentFeed;
  let server: http.Server;
  let url: string;
  const source = new HeldBackEvents();
  const clients: SseClient[] = [];

  const connect = async (headers: Record<string, string>, query = ''): Promise<SseClient> => {
    const client = await SseClient.connect(`${url}/events${query}`, headers);
    clients.push(client);
    return client;
  };
  /** Resolves once the feed holds `seq` entries (it fsyncs each one before announcing it). */
  const feedHolds = (seq: number): Promise<void> =>
    new Promise((resolve) => {
      if (feed.lastSeq >= seq) return resolve();
      const unsubscribe = feed.subscribe({
        entry: (e) => {
          if (e.seq < seq) return;
          unsubscribe();
          resolve();
        },
        closed: () => resolve(),
      });
    });

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-sse-behind-'));
    feed = await ConsentFeed.open({ file: path.join(dir, 'feed.ndjson'), ledger: source, org: { mspId: SPONSOR, type: 'sponsor' } });
    feed.start();
    const app = express();
    app.get('/events', (req, res) => streamConsentEvents(req, res, { feed }));
    server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    source.release(1);
    await feedHolds(1);
  });
  after(async () => {
    for (const c of clients) c.close();
    await feed.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('opens the stream (200, not 400), says the feed is behind, and sends only what follows the id once the feed gets there', async () => {
    expect(feed.lastSeq).to.equal(1);
    const resumed = await connect({ 'last-event-id': '3' });
    const byQuery = await connect({}, '?after=4');
    for (const client of [resumed, byQuery]) {
      expect(client.status).to.equal(200);
      expect(client.contentType).to.match(/^text\/event-stream/);
    }
    await resumed.until(() => resumed.comments.some((c) => c.startsWith('resuming after event 3;')));
    expect(resumed.comments.find((c) => c.startsWith('resuming'))).to.include('reached event 1');
    await byQuery.until(() => byQuery.comments.some((c) => c.startsWith('resuming after event 4;')));
    expect(resumed.events, 'nothing the client already has').to.deep.equal([]);

    // The feed catches up: 2 and 3 are skipped (the client had them), 4 and 5 are sent.
    source.release(4);
    expect((await resumed.event(0)).id).to.equal('4');
    expect((await resumed.event(1)).id).to.equal('5');
    expect((await byQuery.event(0)).id).to.equal('5');
    expect(resumed.events.map((e) => e.id)).to.deep.equal(['4', '5']);
    expect(byQuery.events.map((e) => e.id)).to.deep.equal(['5']);
    expect(entryOf(resumed.events[0])).to.deep.equal(feed.entriesAfter(3)[0]);
  });

  it('an id the feed holds replays at once, with no such comment', async () => {
    const client = await connect({ 'last-event-id': '2' });
    expect(client.status).to.equal(200);
    await client.event(2);
    expect(client.events.map((e) => e.id)).to.deep.equal(['3', '4', '5']);
    expect(client.comments.some((c) => c.startsWith('resuming'))).to.equal(false);
  });
});
