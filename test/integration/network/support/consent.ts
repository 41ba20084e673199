/**
 * Helpers for the consent flows on the real network: HTTP calls to the gateways (with an API
 * key, or as a patient without one), a patient with a real secp256k1 key who registers, signs
 * grants and revocations and answers challenges as the patient's app does
 * (gateway/src/consent/patient-client.ts), a small Server-Sent Events reader, and the gateway's
 * Prometheus counters.
 *
 * @module
 */
import { expect } from 'chai';
import * as http from 'node:http';
import { Wallet } from 'ethers';
import { CONSENT_GRANT_TYPES, CONSENT_REVOKE_TYPES, consentDomain, type ConsentGrantMessage } from '../../../../chaincode/src/lib/eip712';
import { challengeToSign, DAY_SECONDS, grantMessage, patientAuthorization, revokeMessage, type GrantChoice } from '../../../../gateway/src/consent/patient-client';
import { call, sleep, type Answer, type GatewayAccess } from './gateway-http';

/** A gateway's base URL and, for staff, an API key. */
export type Endpoint = GatewayAccess;
export type { Answer } from './gateway-http';
export { call, write as journalled } from './gateway-http';

/** Polls `probe` until it returns a value (not undefined); fails with the last thing seen. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, tries = 240, everyMs = 250): Promise<T> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await sleep(everyMs);
  }
  throw new Error(`${what} never happened${last ? `: ${(last as Error).message}` : ''}`);
}

/** A patient at one hospital: one key (the patient's app derives one per hospital), the registration once made. */
export class Patient {
  readonly wallet = Wallet.createRandom();
  patientRef = '';

  constructor(
    readonly patientId: string,
    readonly hospital: string,
    readonly channel: string,
  ) {}

  get address(): string {
    return this.wallet.address;
  }

  /** The registration request at the hospital's desk, signed on the patient's device, submitted by the records officer. */
  async register(desk: Endpoint): Promise<Answer> {
    const request = await call(desk, 'POST', '/v1/patients/registration-requests', { patientId: this.patientId });
    expect(request.status, request.text).to.equal(201);
    expect(request.body.domain).to.deep.equal(consentDomain(this.channel));
    expect(request.body.message.hospital).to.equal(this.hospital);
    this.patientRef = request.body.message.patientRef;
    const signature = await this.wallet.signTypedData(request.body.domain, request.body.types, request.body.message);
    return call(desk, 'POST', '/v1/patients', { message: request.body.message, patient: this.address, signature });
  }

  /** A grant signed by the patient (valid from a little before now, 30 days unless chosen). */
  async signGrant(choice: Partial<GrantChoice> & Pick<GrantChoice, 'grantee' | 'purpose'>): Promise<{ message: ConsentGrantMessage; signature: string }> {
    const now = Math.floor(Date.now() / 1000);
    const message = grantMessage(
      { hospital: this.hospital, patientRef: this.patientRef },
      { categories: [], recordIds: [], validUntil: now + 30 * DAY_SECONDS, ...choice },
      now,
    );
    return { message, signature: await this.wallet.signTypedData(consentDomain(this.channel), CONSENT_GRANT_TYPES, message) };
  }

  /** POST /v1/consents at any gateway, without an API key. */
  async grant(gw: Endpoint, choice: Partial<GrantChoice> & Pick<GrantChoice, 'grantee' | 'purpose'>): Promise<Answer> {
    return call({ url: gw.url }, 'POST', '/v1/consents', await this.signGrant(choice));
  }

  /** A revocation of one of this patient's grants, signed by the patient. */
  async signRevocation(grantId: string): Promise<{ message: ReturnType<typeof revokeMessage>; signature: string }> {
    const message = revokeMessage({ hospital: this.hospital, patientRef: this.patientRef }, grantId);
    return { message, signature: await this.wallet.signTypedData(consentDomain(this.channel), CONSENT_REVOKE_TYPES, message) };
  }

  /** POST /v1/consents/revocations at any gateway, without an API key. */
  async revoke(gw: Endpoint, grantId: string): Promise<Answer> {
    return call({ url: gw.url }, 'POST', '/v1/consents/revocations', await this.signRevocation(grantId));
  }

  /** A GET as the patient: a fresh challenge from that gateway, signed, sent as `Authorization: Patient …`. */
  async get(gw: Endpoint, path: string): Promise<Answer> {
    const anonymous = { url: gw.url };
    const challenge = await call(anonymous, 'POST', '/v1/patients/challenges', { address: this.address });
    expect(challenge.status, challenge.text).to.equal(201);
    const toSign = challengeToSign(challenge.body, { hospital: this.hospital, patientRef: this.patientRef });
    if ('problem' in toSign) throw new Error(`the gateway's challenge cannot be signed: ${toSign.problem}`);
    const signature = await this.wallet.signTypedData(toSign.domain, challenge.body.types, toSign.message);
    return call(anonymous, 'GET', path, undefined, { authorization: patientAuthorization(toSign.message, signature) });
  }
}

export interface SseEvent {
  id?: string;
  event?: string;
  data: string;
}

/** A Server-Sent Events reader over node:http, per the HTML spec's line format. */
export class SseClient {
  readonly events: SseEvent[] = [];
  private buffer = '';
  private readonly wakers = new Set<() => void>();
  ended = false;

  private constructor(
    readonly status: number,
    private readonly req: http.ClientRequest,
    res: http.IncomingMessage,
  ) {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => this.feed(chunk));
    res.on('close', () => this.end());
    res.on('error', () => this.end());
  }

  static connect(url: string, headers: Record<string, string>): Promise<SseClient> {
    return new Promise((resolve, reject) => {
      const req = http.get(url, { headers: { accept: 'text/event-stream', ...headers } });
      req.on('response', (res) => resolve(new SseClient(res.statusCode ?? 0, req, res)));
      req.on('error', reject);
    });
  }

  /** Waits (bounded) until `condition` holds or the stream ends; returns whether it holds. */
  async until(condition: () => boolean, ms = 120_000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!condition() && !this.ended && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 500);
        this.wakers.add(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return condition();
  }

  close(): void {
    this.req.destroy();
  }

  private end(): void {
    this.ended = true;
    this.wake();
  }

  private feed(chunk: string): void {
    this.buffer = (this.buffer + chunk).replace(/\r\n?/g, '\n');
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const event: SseEvent = { data: '' };
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
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

/** A Prometheus metric's samples at a gateway: labels and value. */
export async function samples(gw: Endpoint, name: string): Promise<{ labels: Record<string, string>; value: number }[]> {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  const out: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? ([0-9.eE+-]+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    out.push({ labels: Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]])), value: Number(m[3]) });
  }
  return out;
}

/** The sum of a Prometheus counter's samples at a gateway whose labels include `labels` (0 when absent). */
export async function counter(gw: Endpoint, name: string, labels: Record<string, string> = {}): Promise<number> {
  return (await samples(gw, name)).filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0);
}
