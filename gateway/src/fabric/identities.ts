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
import { CERTIFIED_ROLES } from '../../../chaincode/src/lib/certified-roles';
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
