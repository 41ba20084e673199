import type { Contract } from 'fabric-contract-api';
import { contracts } from '../../../chaincode/src';
import type { Committed, Ledger, LedgerEvent, LedgerEvents, LedgerEventsOptions } from '../../../gateway/src/fabric/client';
import { toLedgerError } from '../../../gateway/src/fabric/errors';
import { FakeLedger } from '../chaincode/fake-ledger';

/**
 * For unit tests only: the real chaincode contracts running on the in-memory stub, behind the
 * gateway's `Ledger` interface, as one organisation. It lets the gateway's flows be tested
 * at unit level; the real network's integration tests are what prove them against Fabric.
 * Every committed transaction gets the next block number (block n holds committed[n - 1]; block 0
 * stands for the channel's genesis block, which holds no transaction); a query commits nothing. Events follow Fabric's resume rule: from the checkpoint's block,
 * after its transaction.
 */
export class ChaincodeLedger implements Ledger, LedgerEvents {
  private static readonly instances = new Map<string, Contract>(
    contracts.map((C) => {
      const instance = new C() as Contract;
      return [instance.getName(), instance];
    }),
  );

  constructor(
    readonly state: FakeLedger,
    readonly mspId: string,
  ) {}

  async evaluate(name: string, ...args: string[]): Promise<Uint8Array> {
    return this.run(false, name, args);
  }

  async submit(name: string, ...args: string[]): Promise<Committed> {
    const result = await this.run(true, name, args);
    const tx = this.state.committed[this.state.committed.length - 1];
    return { result, transactionId: tx.txId, blockNumber: BigInt(this.state.committed.length) };
  }

  /** Block n holds committed[n - 1]; a query or a transaction that never committed has no block. */
  async blockOfTransaction(transactionId: string): Promise<bigint | undefined> {
    const index = this.state.committed.findIndex((tx) => tx.txId === transactionId);
    return index < 0 ? undefined : BigInt(index + 1);
  }

  /** Blocks 0 (genesis) to committed.length: the number the next committed transaction gets, as Fabric's height. */
  async height(): Promise<bigint> {
    return BigInt(this.state.committed.length + 1);
  }

  async *events(options: LedgerEventsOptions = {}): AsyncGenerator<LedgerEvent> {
    const { after, fromBlock, signal } = options;
    const start = after?.blockNumber ?? fromBlock ?? 0n;
    let index = Math.max(0, Number(start) - 1);
    let skipping = after !== undefined;
    while (!signal?.aborted) {
      if (index >= this.state.committed.length) {
        await this.state.nextCommit(signal);
        continue;
      }
      const tx = this.state.committed[index];
      const blockNumber = BigInt(index + 1);
      index += 1;
      if (skipping) {
        if (blockNumber === after?.blockNumber && tx.txId !== after.transactionId) continue;
        skipping = false;
        if (blockNumber === after?.blockNumber) continue;
      }
      if (tx.event) yield { blockNumber, transactionId: tx.txId, eventName: tx.event.name, payload: tx.event.payload };
    }
  }

  private async run(commit: boolean, name: string, args: string[]): Promise<Uint8Array> {
    const [contractName, method] = name.split(':');
    const contract = ChaincodeLedger.instances.get(contractName);
    if (!contract || !method) throw toLedgerError(new Error(`UNKNOWN_TRANSACTION: ${name} is not a transaction of this chaincode.`));
    try {
      const text = commit ? await this.state.invoke(this.mspId, contract, method, ...args) : await this.state.query(this.mspId, contract, method, ...args);
      return new TextEncoder().encode(text);
    } catch (err) {
      throw toLedgerError(err);
    }
  }
}
