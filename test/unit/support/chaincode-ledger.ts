import type { Contract } from 'fabric-contract-api';
import { contracts } from '../../../chaincode/src';
import type { Committed, Ledger } from '../../../gateway/src/fabric/client';
import { toLedgerError } from '../../../gateway/src/fabric/errors';
import { FakeLedger } from '../chaincode/fake-ledger';

/**
 * For unit tests only: the real chaincode contracts running on the in-memory stub, behind the
 * gateway's `Ledger` interface, as one organisation. It lets the gateway's flows be tested
 * at unit level; the real network's integration tests are what prove them against Fabric.
 * Every committed transaction gets the next block number; a query commits nothing.
 */
export class ChaincodeLedger implements Ledger {
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
