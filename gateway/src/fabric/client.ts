import * as grpc from '@grpc/grpc-js';
import { connect, type Contract, type Gateway } from '@hyperledger/fabric-gateway';
import { fabricSigning } from './signer';
import { common } from '@hyperledger/fabric-protos';
import { createPrivateKey } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { errorTexts, refusedOnlyByLaggingPeers, toLedgerError } from './errors';

/** Where one organisation's Fabric identity and its peer's gateway service are. */
export interface OrgConnection {
  mspId: string;
  /** host:port of the peer's gateway service. */
  peerEndpoint: string;
  /** Name the peer's TLS certificate was issued for (cryptogen: peer0.hospital.medprov.local). */
  peerHostAlias: string;
  /**
   * Every peer of the organisation the gateway may use, in order of preference (the first is
   * `peerEndpoint`): the gateway moves to the next when its peer stops answering (./failover.ts).
   * Without it, the one peer above.
   */
  peers?: readonly { endpoint: string; hostAlias: string }[];
  tlsRootCertPath: string;
  certPath: string;
  /** The private key file, or the MSP keystore folder holding exactly one key. */
  keyPath: string;
  channel: string;
  chaincode: string;
  /**
   * Fabric CA identities (issue 17): one enrolled gateway user per role, its certificate carrying
   * the role as `medprov.role`. Submits go as the user of the API key's role (./identities.ts);
   * `certPath`/`keyPath` stay the default identity (queries, events, the readiness probe).
   */
  roleIdentities?: Readonly<Record<string, { certPath: string; keyPath: string }>>;
}

/**
 * How long the client waits at each step of a ledger call. The endorsement's deadline grows
 * with the size of the proposal's arguments (a 1,000-record batch runs far longer in the
 * chaincode than one record), up to a cap: the peers give up on a chaincode after 30 s
 * (`chaincode.executetimeout`, and the peer gateway's `endorsementTimeout`) anyway, and a client
 * that gives up earlier only makes the peers work twice when it retries.
 */
export interface LedgerDeadlines {
  /** A query (default 5 s). */
  evaluateMs: number;
  /** The endorsement of a small proposal (default 15 s). */
  endorseMs: number;
  /** Added per KiB of arguments (default 60 ms: about 12 s more for 1,000 records). */
  endorsePerKiBMs: number;
  /** The endorsement's deadline never exceeds this (default 35 s). */
  maxEndorseMs: number;
  /** Handing the endorsed transaction to the orderer (default 5 s, plus 10 ms per KiB). */
  submitMs: number;
  /** Waiting for the commit status (default 60 s). */
  commitStatusMs: number;
}

export const DEFAULT_DEADLINES: Readonly<LedgerDeadlines> = Object.freeze({
  evaluateMs: 5_000,
  endorseMs: 15_000,
  endorsePerKiBMs: 60,
  maxEndorseMs: 35_000,
  submitMs: 5_000,
  commitStatusMs: 60_000,
});

/** The endorsement and ordering deadlines (ms from now) of a call whose arguments take `argumentBytes`. */
export function callDeadlines(deadlines: LedgerDeadlines, argumentBytes: number): { endorseMs: number; submitMs: number } {
  const kib = argumentBytes / 1024;
  return {
    endorseMs: Math.round(Math.max(deadlines.endorseMs, Math.min(deadlines.maxEndorseMs, deadlines.endorseMs + deadlines.endorsePerKiBMs * kib))),
    submitMs: Math.round(deadlines.submitMs + 10 * kib),
  };
}

/**
 * Deadlines from the environment (milliseconds, whole numbers): MEDPROV_LEDGER_EVALUATE_TIMEOUT_MS,
 * MEDPROV_LEDGER_ENDORSE_TIMEOUT_MS, MEDPROV_LEDGER_ENDORSE_MS_PER_KIB,
 * MEDPROV_LEDGER_MAX_ENDORSE_TIMEOUT_MS, MEDPROV_LEDGER_SUBMIT_TIMEOUT_MS,
 * MEDPROV_LEDGER_COMMIT_TIMEOUT_MS. Unset means the default.
 *
 * @throws Error naming the variable when one is not a whole number
 */
export function ledgerDeadlinesFromEnv(env: NodeJS.ProcessEnv): Partial<LedgerDeadlines> {
  const names: Record<keyof LedgerDeadlines, string> = {
    evaluateMs: 'MEDPROV_LEDGER_EVALUATE_TIMEOUT_MS',
    endorseMs: 'MEDPROV_LEDGER_ENDORSE_TIMEOUT_MS',
    endorsePerKiBMs: 'MEDPROV_LEDGER_ENDORSE_MS_PER_KIB',
    maxEndorseMs: 'MEDPROV_LEDGER_MAX_ENDORSE_TIMEOUT_MS',
    submitMs: 'MEDPROV_LEDGER_SUBMIT_TIMEOUT_MS',
    commitStatusMs: 'MEDPROV_LEDGER_COMMIT_TIMEOUT_MS',
  };
  const out: Partial<LedgerDeadlines> = {};
  for (const [field, name] of Object.entries(names) as [keyof LedgerDeadlines, string][]) {
    const text = env[name];
    if (text === undefined || text === '') continue;
    if (!/^\d{1,9}$/.test(text)) throw new Error(`${name} must be a whole number of milliseconds, not ${JSON.stringify(text)}.`);
    out[field] = Number(text);
  }
  return out;
}

/** A committed transaction: its result and where it landed. */
export interface Committed {
  result: Uint8Array;
  transactionId: string;
  blockNumber: bigint;
}

/** What the rest of the gateway needs of the ledger; {@link LedgerClient} is the real one. */
export interface Ledger {
  evaluate(name: string, ...args: string[]): Promise<Uint8Array>;
  submit(name: string, ...args: string[]): Promise<Committed>;
  /**
   * The number of the block that holds this transaction, or undefined when the channel has no
   * such transaction. Optional: a ledger that cannot tell leaves block numbers out of answers.
   */
  blockOfTransaction?(transactionId: string): Promise<bigint | undefined>;
  /**
   * The channel's height: its number of blocks, i.e. the number the next block will get (block 0
   * is the genesis block, so a channel with one transaction block has height 2). Optional: a
   * reader that needs to know whether it has caught up falls back to a rule of thumb without it.
   * Wrap a ledger with {@link DelegatingLedger} (`delegating-ledger.ts`) so that optional methods
   * are not lost.
   */
  height?(): Promise<bigint>;
}

/** A chaincode event of a valid committed transaction (Fabric keeps at most one per transaction). */
export interface LedgerEvent {
  readonly blockNumber: bigint;
  readonly transactionId: string;
  /** e.g. `medprov.ConsentChanged`. */
  readonly eventName: string;
  readonly payload: Uint8Array;
}

/**
 * The last event a reader has fully handled: reading resumes in that block, after that
 * transaction. Fabric's own checkpoint has the same two fields.
 */
export interface EventCheckpoint {
  readonly blockNumber: bigint;
  readonly transactionId: string;
}

/** Options of {@link LedgerEvents.events}. */
export interface LedgerEventsOptions {
  /** Resume after this event; without it, read from `fromBlock`. */
  readonly after?: EventCheckpoint;
  /** Where to start when there is no `after`: this block, all of it (default: the channel's first block). */
  readonly fromBlock?: bigint;
  /** Ends the subscription: the iterable then finishes without an error. */
  readonly signal?: AbortSignal;
}

/**
 * The chaincode's events, in commit order, live: after catching up, the iterable waits for
 * new blocks until its signal aborts. A broken connection ends it with a {@link LedgerError};
 * the reader resumes from its last checkpoint.
 */
export interface LedgerEvents {
  events(options?: LedgerEventsOptions): AsyncIterable<LedgerEvent>;
}

/**
 * The one seam between medprov and Fabric: the gateway, the CLI and the integration tests
 * all reach the ledger through this, as one organisation's identity.
 */
export class LedgerClient implements Ledger, LedgerEvents {
  private constructor(
    private readonly grpcClient: grpc.Client,
    private readonly gateway: Gateway,
    readonly connection: OrgConnection,
    private readonly deadlines: LedgerDeadlines,
  ) {}

  /** @param deadlines - how long each step may take; {@link DEFAULT_DEADLINES} for what is not given */
  static async connect(connection: OrgConnection, deadlines: Partial<LedgerDeadlines> = {}): Promise<LedgerClient> {
    const d: LedgerDeadlines = { ...DEFAULT_DEADLINES, ...deadlines };
    const [tlsRoot, cert, keyPem] = await Promise.all([
      fs.readFile(connection.tlsRootCertPath),
      fs.readFile(connection.certPath),
      readKey(connection.keyPath),
    ]);
    const grpcClient = new grpc.Client(connection.peerEndpoint, grpc.credentials.createSsl(tlsRoot), {
      'grpc.ssl_target_name_override': connection.peerHostAlias,
      // A restarted peer is dialled again within 5 s (gRPC's own backoff grows to 2 minutes).
      'grpc.initial_reconnect_backoff_ms': 500,
      'grpc.max_reconnect_backoff_ms': 5_000,
    });
    const gateway = connect({
      client: grpcClient,
      identity: { mspId: connection.mspId, credentials: cert },
      // node:crypto ECDSA (with hash.none): fabric-gateway's own signer costs ~1.5 ms of CPU per signature (./signer.ts).
      ...fabricSigning(createPrivateKey(keyPem)),
      evaluateOptions: () => ({ deadline: Date.now() + d.evaluateMs }),
      endorseOptions: () => ({ deadline: Date.now() + d.endorseMs }),
      submitOptions: () => ({ deadline: Date.now() + d.submitMs }),
      commitStatusOptions: () => ({ deadline: Date.now() + d.commitStatusMs }),
    });
    return new LedgerClient(grpcClient, gateway, connection, d);
  }

  /** Runs a query on the org's peer; nothing is written. `name` is `Contract:transaction`. */
  async evaluate(name: string, ...args: string[]): Promise<Uint8Array> {
    try {
      return await this.contract().evaluateTransaction(name, ...args);
    } catch (err) {
      throw toLedgerError(err);
    }
  }

  /**
   * Endorses, orders and waits for the commit; throws if the transaction did not commit valid.
   * The endorsement may take longer the larger the arguments (see {@link LedgerDeadlines}).
   */
  async submit(name: string, ...args: string[]): Promise<Committed> {
    try {
      const { endorseMs, submitMs } = callDeadlines(this.deadlines, args.reduce((n, a) => n + Buffer.byteLength(a), 0));
      const endorsed = await this.endorse(name, args, endorseMs);
      const submitted = await endorsed.submit({ deadline: Date.now() + submitMs });
      const status = await submitted.getStatus();
      if (!status.successful) {
        throw Object.assign(new Error(`transaction ${status.transactionId} committed invalid: ${codeName(status.code)}`), {
          transactionId: status.transactionId,
        });
      }
      return { result: submitted.getResult(), transactionId: status.transactionId, blockNumber: status.blockNumber };
    } catch (err) {
      throw toLedgerError(err);
    }
  }

  /**
   * Endorses a new proposal. When only other organisations' peers refused it, with a code that
   * names state as missing, they are most likely a block behind this org's peer: the proposal is
   * endorsed again (a new transaction id; nothing was ordered) after 0.25, 0.5 and 1 s before the
   * refusal counts — e.g. a grant sent right after its patient's registration committed, endorsed
   * by another org's peer that has not committed that block yet (MAJORITY endorsement).
   */
  private async endorse(name: string, args: string[], endorseMs: number) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.contract().newProposal(name, { arguments: args }).endorse({ deadline: Date.now() + endorseMs });
      } catch (err) {
        if (attempt >= 3 || !refusedOnlyByLaggingPeers(err, this.connection.mspId)) throw err;
        await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
      }
    }
  }

  /**
   * Asks the peer's query system chaincode (qscc `GetBlockByTxID`) for the block holding the
   * transaction and reads its number from the block's header; undefined when the peer's
   * block index has no such transaction.
   */
  async blockOfTransaction(transactionId: string): Promise<bigint | undefined> {
    let bytes: Uint8Array;
    try {
      const network = this.gateway.getNetwork(this.connection.channel);
      bytes = await network.getContract('qscc').evaluateTransaction('GetBlockByTxID', this.connection.channel, transactionId);
    } catch (err) {
      if (errorTexts(err).some((text) => NOT_IN_BLOCK_INDEX.test(text))) return undefined;
      throw toLedgerError(err);
    }
    try {
      const header = common.Block.deserializeBinary(bytes).getHeader();
      if (!header) throw new Error('the block has no header');
      return BigInt(header.getNumber());
    } catch (err) {
      throw toLedgerError(new Error(`qscc GetBlockByTxID returned no readable block for ${transactionId}: ${(err as Error).message}`));
    }
  }

  /** Asks the peer's query system chaincode (qscc `GetChainInfo`) for the channel's height. */
  async height(): Promise<bigint> {
    let bytes: Uint8Array;
    try {
      const network = this.gateway.getNetwork(this.connection.channel);
      bytes = await network.getContract('qscc').evaluateTransaction('GetChainInfo', this.connection.channel);
    } catch (err) {
      throw toLedgerError(err);
    }
    let height: number;
    try {
      height = common.BlockchainInfo.deserializeBinary(bytes).getHeight();
    } catch (err) {
      throw toLedgerError(new Error(`qscc GetChainInfo returned no readable chain info: ${(err as Error).message}`));
    }
    // A channel always holds its genesis block; height 0 is what an empty or foreign answer decodes to.
    if (!Number.isSafeInteger(height) || height < 1) throw toLedgerError(new Error(`qscc GetChainInfo returned no readable chain info: height ${height}`));
    return BigInt(height);
  }

  /** Chaincode events from the org's peer, resuming after `after` (Fabric skips through its transaction). */
  async *events(options: LedgerEventsOptions = {}): AsyncGenerator<LedgerEvent> {
    const { after, fromBlock, signal } = options;
    if (signal?.aborted) return;
    const network = this.gateway.getNetwork(this.connection.channel);
    let stream: Awaited<ReturnType<typeof network.getChaincodeEvents>>;
    try {
      stream = await network.getChaincodeEvents(this.connection.chaincode, {
        startBlock: fromBlock ?? 0n,
        checkpoint: after && { getBlockNumber: () => after.blockNumber, getTransactionId: () => after.transactionId },
      });
    } catch (err) {
      throw toLedgerError(err);
    }
    // Aborted while the request was being signed: the listener below would never fire.
    if (signal?.aborted) {
      stream.close();
      return;
    }
    const close = (): void => stream.close();
    signal?.addEventListener('abort', close, { once: true });
    try {
      for await (const { blockNumber, transactionId, eventName, payload } of stream) {
        yield { blockNumber, transactionId, eventName, payload };
      }
    } catch (err) {
      if (!signal?.aborted) throw toLedgerError(err);
    } finally {
      signal?.removeEventListener('abort', close);
      stream.close();
    }
  }

  close(): void {
    this.gateway.close();
    this.grpcClient.close();
  }

  private contract(): Contract {
    return this.gateway.getNetwork(this.connection.channel).getContract(this.connection.chaincode);
  }
}

async function readKey(keyPath: string): Promise<Buffer> {
  const stat = await fs.stat(keyPath);
  if (!stat.isDirectory()) return fs.readFile(keyPath);
  const files = (await fs.readdir(keyPath)).filter((f) => !f.startsWith('.'));
  if (files.length !== 1) throw new Error(`expected exactly one private key in ${keyPath}, found ${files.length}`);
  return fs.readFile(path.join(keyPath, files[0]));
}

/** What the peer's block store says of a transaction id it never indexed (blkstorage ErrNotFoundInIndex). */
const NOT_IN_BLOCK_INDEX = /no such transaction ID/i;

// Fabric's TxValidationCode names, for the few a caller can act on.
function codeName(code: number): string {
  const names: Record<number, string> = { 10: 'ENDORSEMENT_POLICY_FAILURE', 11: 'MVCC_READ_CONFLICT', 12: 'PHANTOM_READ_CONFLICT' };
  return names[code] ?? `validation code ${code}`;
}
