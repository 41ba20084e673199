import { createHash } from 'node:crypto';
import { Context } from 'fabric-contract-api';
import type { Contract } from 'fabric-contract-api';
import type { PeerClock } from '../../../chaincode/src/lib/tx-time';

/**
 * An in-memory stand-in for the chaincode stub, for unit tests only. It keeps Fabric's
 * semantics that the rules depend on: a transaction does not read its own writes, and a
 * transaction that throws writes nothing.
 */
const SEP = '\u0000';
const MAX_RUNE = '\u{10FFFF}';

/**
 * Who calls: an organisation's admin (the deploy step's identity, and what a bare MSP ID means)
 * or a client (a gateway's identity). Fabric's NodeOUs tell them apart by the certificate's OU.
 */
export interface FakeCaller {
  mspId: string;
  role: 'admin' | 'client';
}

// Self-signed P-256 certificates whose subjects carry NodeOUs' OU=admin and OU=client (openssl
// req -x509, 100 years): the chaincode reads the role from the certificate, as on a real peer.
const CERTIFICATES: Record<FakeCaller['role'], string> = {
  admin: `-----BEGIN CERTIFICATE-----
MIICNjCCAd2gAwIBAgIUaDK3DgWDirw+40M5wB5Vqw4UudkwCgYIKoZIzj0EAwIw
cDELMAkGA1UEBhMCVVMxEzARBgNVBAgMCkNhbGlmb3JuaWExFjAUBgNVBAcMDVNh
biBGcmFuY2lzY28xDjAMBgNVBAsMBWFkbWluMSQwIgYDVQQDDBthZG1pbkBleGFt
cGxlLm1lZHByb3YubG9jYWwwIBcNMjYxMjA1MTA0MDMxWhgPMjEyNjExMTExMDQw
MzFaMHAxCzAJBgNVBAYTAlVTMRMwEQYDVQQIDApDYWxpZm9ybmlhMRYwFAYDVQQH
DA1TYW4gRnJhbmNpc2NvMQ4wDAYDVQQLDAVhZG1pbjEkMCIGA1UEAwwbYWRtaW5A
ZXhhbXBsZS5tZWRwcm92LmxvY2FsMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE
9MQIPn3oDY0pqCJCBKI5FmsvEVv/WOR8BItbk0YbL/ciESSBGtwx540eC4Kq4f6d
FqNoubiS5gKGTQ6eH2k5jaNTMFEwHQYDVR0OBBYEFGUNi3TCzRsPNRd6RqCz/G/5
tqWXMB8GA1UdIwQYMBaAFGUNi3TCzRsPNRd6RqCz/G/5tqWXMA8GA1UdEwEB/wQF
MAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgCGhkZ6hfD4g7KbPiFNLzD0HNSftxRWcX
nnLEPHKFqUcCIBiZUrOBBm/Ua3/Vc/vWnHaVF8aC7G+PJtdoyfDkMvt8
-----END CERTIFICATE-----
`,
  client: `-----BEGIN CERTIFICATE-----
MIICPDCCAeGgAwIBAgIUapus02zEkHq13uwXdPU3G2wmJhIwCgYIKoZIzj0EAwIw
cjELMAkGA1UEBhMCVVMxEzARBgNVBAgMCkNhbGlmb3JuaWExFjAUBgNVBAcMDVNh
biBGcmFuY2lzY28xDzANBgNVBAsMBmNsaWVudDElMCMGA1UEAwwcY2xpZW50QGV4
YW1wbGUubWVkcHJvdi5sb2NhbDAgFw0yNjEyMDUxMDQwMzFaGA8yMTI2MTExMTEw
NDAzMVowcjELMAkGA1UEBhMCVVMxEzARBgNVBAgMCkNhbGlmb3JuaWExFjAUBgNV
BAcMDVNhbiBGcmFuY2lzY28xDzANBgNVBAsMBmNsaWVudDElMCMGA1UEAwwcY2xp
ZW50QGV4YW1wbGUubWVkcHJvdi5sb2NhbDBZMBMGByqGSM49AgEGCCqGSM49AwEH
A0IABPHsr7Pt1GxSawmt1xVpYyLT8aobYfFlAHyFrWsaVon5xeGjWbsJVIUvfChl
vrjt8+p9ii1UfJ1tJPoTYOoey6CjUzBRMB0GA1UdDgQWBBR2tkQ+p7F2hb6YUchJ
XrHLgMnQzTAfBgNVHSMEGDAWgBR2tkQ+p7F2hb6YUchJXrHLgMnQzTAPBgNVHRMB
Af8EBTADAQH/MAoGCCqGSM49BAMCA0kAMEYCIQCCqbN8npPQ101FK8Ye0m6ozmWw
H/TD4bO3R98NIzgJtAIhANSpeJHWvvGOf/bY5VYF2eI/yr5o/8npfM2b8ABYRvEf
-----END CERTIFICATE-----
`,
};

interface Committed {
  txId: string;
  fcn: string;
  mspId: string;
  writes: Map<string, Uint8Array | null>;
  validationParameters: Map<string, Uint8Array>;
  event?: { name: string; payload: Uint8Array };
}

export class FakeLedger {
  readonly state = new Map<string, Uint8Array>();
  readonly validationParameters = new Map<string, Uint8Array>();
  readonly committed: Committed[] = [];
  private seconds = 1_767_225_600; // 2026-01-01T00:00:00Z
  private txCounter = 0;
  /**
   * How far (seconds) the submitting client's clock is ahead of the peers' (negative: behind):
   * transactions carry `now + 1 + clientClockSkew` as their timestamp while the endorsing peer's
   * clock reads `now + 1`. 0 by default: client and peers agree.
   */
  clientClockSkew = 0;
  /** The Fabric channel the stub reports; another value simulates another channel. */
  readonly channel: string;

  constructor(options: { channel?: string } = {}) {
    this.channel = options.channel ?? 'medprov';
  }

  /**
   * The peers' clock: every transaction runs one second after the previous one. `now` is the
   * time of the last transaction; the next one runs at `now + 1` (its timestamp is that, moved
   * by {@link clientClockSkew}).
   */
  get now(): number {
    return this.seconds;
  }

  /** Moves the clock forward, e.g. past a consent's validUntil. */
  advance(seconds: number): void {
    if (!Number.isInteger(seconds) || seconds < 0) throw new Error('the clock only moves forward by whole seconds');
    this.seconds += seconds;
  }

  /**
   * Runs one transaction, as the contract-api dispatcher would, and commits it. A bare MSP ID
   * calls as that organisation's admin; `{ mspId, role: 'client' }` as a gateway's identity.
   */
  async invoke<T extends Contract>(caller: string | FakeCaller, contract: T, method: string, ...args: string[]): Promise<string> {
    return this.execute(true, caller, contract, method, args);
  }

  /** Runs a transaction and discards its writes, as a Fabric evaluate (query) does. */
  async query<T extends Contract>(caller: string | FakeCaller, contract: T, method: string, ...args: string[]): Promise<string> {
    return this.execute(false, caller, contract, method, args);
  }

  private async execute<T extends Contract>(commit: boolean, caller: string | FakeCaller, contract: T, method: string, args: string[]): Promise<string> {
    const { mspId, role } = typeof caller === 'string' ? { mspId: caller, role: 'admin' as const } : caller;
    this.txCounter += 1;
    this.seconds += 1;
    // Fabric's transaction ids are 64 hex characters (a SHA-256 over nonce and creator).
    const txId = createHash('sha256').update(`tx${this.txCounter}`).digest('hex');
    const fcn = `${contract.getName()}:${method}`;
    const stub = new FakeStub(this, txId, this.seconds + this.clientClockSkew, fcn, args, this.channel);
    const ctx = new Context();
    (ctx as { stub: unknown }).stub = stub;
    (ctx as { clientIdentity: unknown }).clientIdentity = {
      getMSPID: () => mspId,
      getID: () => `x509::/OU=${role}/CN=${role}@${mspId}::/CN=ca.${mspId}`,
      getIDBytes: () => Buffer.from(CERTIFICATES[role]),
      getAttributeValue: () => null,
      assertAttributeValue: () => false,
    };
    // The endorsing peer's clock, at the same half second the timestamp's nanos carry.
    const peerMillis = this.seconds * 1000 + 500;
    (ctx as PeerClock).peerClock = () => peerMillis;
    await contract.beforeTransaction(ctx);
    const fn = (contract as unknown as Record<string, (ctx: Context, ...a: string[]) => Promise<string>>)[method];
    if (typeof fn !== 'function') {
      await contract.unknownTransaction(ctx);
      throw new Error(`unknown transaction ${fcn}`);
    }
    const result = await fn.call(contract, ctx, ...args);
    if (!commit) return result;
    for (const [key, value] of stub.writes) {
      if (value === null) this.state.delete(key);
      else this.state.set(key, value);
    }
    for (const [key, ep] of stub.validationParameters) this.validationParameters.set(key, ep);
    this.committed.push({ txId, fcn, mspId, writes: stub.writes, validationParameters: stub.validationParameters, event: stub.event });
    for (const wake of this.commitWaiters.splice(0)) wake();
    return result;
  }

  private readonly commitWaiters: Array<() => void> = [];

  /** Resolves at the next commit (or at once when `signal` aborts). */
  nextCommit(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      this.commitWaiters.push(resolve);
      signal?.addEventListener('abort', () => resolve(), { once: true });
    });
  }

  /** Number of keys written by all committed transactions. */
  get writeCount(): number {
    return this.committed.reduce((n, tx) => n + tx.writes.size, 0);
  }

  lastEvent(): { name: string; payload: unknown } | undefined {
    const event = this.committed[this.committed.length - 1]?.event;
    return event && { name: event.name, payload: JSON.parse(Buffer.from(event.payload).toString('utf8')) };
  }
}

class FakeStub {
  readonly writes = new Map<string, Uint8Array | null>();
  readonly validationParameters = new Map<string, Uint8Array>();
  event?: { name: string; payload: Uint8Array };

  constructor(
    private readonly ledger: FakeLedger,
    private readonly txId: string,
    private readonly seconds: number,
    private readonly fcn: string,
    private readonly params: string[],
    private readonly channel: string,
  ) {}

  getTxID(): string {
    return this.txId;
  }

  getChannelID(): string {
    return this.channel;
  }

  getTxTimestamp(): { seconds: { toNumber(): number }; nanos: number } {
    const seconds = this.seconds;
    return { seconds: { toNumber: () => seconds }, nanos: 500_000_000 };
  }

  getFunctionAndParameters(): { fcn: string; params: string[] } {
    return { fcn: this.fcn, params: this.params };
  }

  // Reads see committed state only, like a Fabric simulation.
  async getState(key: string): Promise<Uint8Array> {
    return this.ledger.state.get(key) ?? new Uint8Array(0);
  }

  async putState(key: string, value: Uint8Array): Promise<void> {
    if (typeof key !== 'string' || key.length === 0) throw new Error('key must not be empty');
    this.writes.set(key, Buffer.from(value));
  }

  async deleteState(key: string): Promise<void> {
    this.writes.set(key, null);
  }

  async setStateValidationParameter(key: string, ep: Uint8Array): Promise<void> {
    this.validationParameters.set(key, ep);
  }

  setEvent(name: string, payload: Uint8Array): void {
    this.event = { name, payload };
  }

  createCompositeKey(objectType: string, attributes: string[]): string {
    return SEP + objectType + SEP + attributes.map((a) => a + SEP).join('');
  }

  splitCompositeKey(key: string): { objectType: string; attributes: string[] } {
    const parts = key.split(SEP).slice(1, -1);
    return { objectType: parts[0] ?? '', attributes: parts.slice(1) };
  }

  getStateByPartialCompositeKey(objectType: string, attributes: string[]): AsyncIterable<{ key: string; value: Uint8Array }> {
    const start = this.createCompositeKey(objectType, attributes);
    const end = start + MAX_RUNE;
    const keys = [...this.ledger.state.keys()].filter((k) => k >= start && k < end).sort();
    const state = this.ledger.state;
    return {
      async *[Symbol.asyncIterator]() {
        for (const key of keys) yield { key, value: state.get(key) as Uint8Array };
      },
    };
  }
}
