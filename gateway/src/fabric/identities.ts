/**
 * One enrolled identity per role (issue 17): with Fabric CA identities each organisation enrols
 * one gateway user per role, whose certificate carries the role as the X.509 attribute
 * `medprov.role`; the gateway submits under the user matching the API key's role, and the
 * chaincode checks that attribute where a role matters (chaincode/src/lib/certified-roles.ts).
 *
 * - The API request's role is carried in an AsyncLocalStorage: {@link withCallerContext} around
 *   each HTTP request, {@link setCallerRole} when its API key is authenticated.
 * - {@link submitRole} picks the identity of a submit: the request's role when the transaction
 *   admits it (or needs no role); else — no request behind it (the acceptance journal's
 *   submitter, a registration link), or a role the transaction does not admit — the role the
 *   transaction needs, since the gateway's own role table (http/roles.ts) already decided that the
 *   request may cause it. Queries and event streams use the default identity.
 * - {@link RoleRoutedPeer}: one peer's client per identity, each connected on first use and kept.
 *
 * Without role identities (cryptogen) everything goes as the one default identity, as before.
 *
 * @module
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CA_ENROLLMENT_ATTRIBUTE, CERTIFIED_ROLES, ROLE_ATTRIBUTE } from '../../../chaincode/src/lib/certified-roles';
import { LedgerClient, type Committed, type LedgerDeadlines, type LedgerEvent, type LedgerEventsOptions, type OrgConnection } from './client';

/** An enrolled identity's certificate and key (the key file, or a keystore folder holding one). */
export interface RoleIdentity {
  readonly certPath: string;
  readonly keyPath: string;
}

const caller = new AsyncLocalStorage<{ role?: string }>();

/** Runs `fn` (an HTTP request's handling) with a caller context its authentication fills in. */
export function withCallerContext<T>(fn: () => T): T {
  return caller.run({}, fn);
}

/** The authenticated API user's role, for the ledger calls of this request. */
export function setCallerRole(role: string): void {
  const store = caller.getStore();
  if (store) store.role = role;
}

/** Runs `fn` as `role` (tests; work on behalf of a known role outside a request). */
export function runAsRole<T>(role: string, fn: () => T): T {
  return caller.run({ role }, fn);
}

export function currentCallerRole(): string | undefined {
  return caller.getStore()?.role;
}

/** The role a transaction is submitted as (see the module's description); undefined: the default identity. */
export function submitRole(transaction: string, requestRole: string | undefined): string | undefined {
  const needed = CERTIFIED_ROLES[transaction];
  if (!needed) return requestRole;
  return requestRole !== undefined && needed.includes(requestRole) ? requestRole : needed[0];
}

type PeerClient = Pick<LedgerClient, 'evaluate' | 'submit' | 'blockOfTransaction' | 'height' | 'events' | 'close'>;

/**
 * One peer's ledger client that submits under the identity of the caller's role: the default
 * identity's client for everything else, one more client per role used, connected lazily.
 */
export class RoleRoutedPeer {
  private readonly byRole = new Map<string, Promise<PeerClient>>();
  private readonly opened: PeerClient[] = [];

  constructor(
    private readonly base: PeerClient,
    private readonly connection: OrgConnection,
    private readonly identities: Readonly<Record<string, RoleIdentity>>,
    private readonly deadlines: Partial<LedgerDeadlines>,
    private readonly connect: (c: OrgConnection, d: Partial<LedgerDeadlines>) => Promise<PeerClient> = (c, d) => LedgerClient.connect(c, d),
  ) {}

  /** The roles this peer's clients are connected as now (lazily: only those used). */
  get connectedRoles(): string[] {
    return [...this.byRole.keys()];
  }

  private clientFor(role: string | undefined): Promise<PeerClient> {
    const identity = role === undefined ? undefined : this.identities[role];
    if (!role || !identity) return Promise.resolve(this.base);
    let client = this.byRole.get(role);
    if (!client) {
      client = this.connect({ ...this.connection, certPath: identity.certPath, keyPath: identity.keyPath }, this.deadlines).then(
        (c) => {
          this.opened.push(c);
          return c;
        },
        (err: unknown) => {
          this.byRole.delete(role);
          throw err;
        },
      );
      this.byRole.set(role, client);
    }
    return client;
  }

  evaluate(name: string, ...args: string[]): Promise<Uint8Array> {
    return this.base.evaluate(name, ...args);
  }

  async submit(name: string, ...args: string[]): Promise<Committed> {
    const client = await this.clientFor(submitRole(name, currentCallerRole()));
    return client.submit(name, ...args);
  }

  blockOfTransaction(transactionId: string): Promise<bigint | undefined> {
    return this.base.blockOfTransaction(transactionId);
  }

  height(): Promise<bigint> {
    return this.base.height();
  }

  events(options?: LedgerEventsOptions): AsyncIterable<LedgerEvent> {
    return this.base.events(options);
  }

  close(): void {
    this.base.close();
    for (const c of this.opened) c.close();
  }
}

/** The Fabric identity an API key's transactions are submitted as (GET /v1/whoami `ledgerIdentity`). */
export interface LedgerIdentity {
  readonly mspId: string;
  /** The certificate's common name (`gw-records-officer`, `User1@hospital.medprov.local`). */
  readonly name: string;
  /** `medprov.role` in the certificate (Fabric CA identities), or null: the MSP-only rule (cryptogen). */
  readonly certifiedRole: string | null;
  /** Where the certificate comes from: the organisation's Fabric CA, or cryptogen. */
  readonly source: 'fabric-ca' | 'cryptogen';
}

/** Fabric CA's attributes in a certificate (extension 1.2.3.4.5.6.7.8.1, `{"attrs":{…}}`), or {} without any. */
export function certificateAttributes(pem: string | Buffer): Record<string, string> {
  const der = new X509Certificate(pem).raw.toString('latin1');
  const start = der.indexOf('{"attrs":');
  if (start < 0) return {};
  let depth = 0;
  for (let i = start; i < der.length; i++) {
    if (der[i] === '{') depth++;
    else if (der[i] === '}' && --depth === 0) return (JSON.parse(der.slice(start, i + 1)) as { attrs: Record<string, string> }).attrs;
  }
  return {};
}

/** What {@link LedgerIdentity} each role's writes go as, read once from the certificates. */
export function ledgerIdentities(connection: OrgConnection): (role: string) => LedgerIdentity {
  const cache = new Map<string, LedgerIdentity>();
  const describe = (certPath: string): LedgerIdentity => {
    const pem = readFileSync(certPath);
    const attrs = certificateAttributes(pem);
    const name = /CN=([^\n,]+)/.exec(new X509Certificate(pem).subject)?.[1] ?? '';
    return { mspId: connection.mspId, name, certifiedRole: attrs[ROLE_ATTRIBUTE] ?? null, source: attrs[CA_ENROLLMENT_ATTRIBUTE] !== undefined ? 'fabric-ca' : 'cryptogen' };
  };
  return (role) => {
    const certPath = connection.roleIdentities?.[role]?.certPath ?? connection.certPath;
    let found = cache.get(certPath);
    if (!found) cache.set(certPath, (found = describe(certPath)));
    return found;
  };
}
