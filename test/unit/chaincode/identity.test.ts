import 'reflect-metadata';
import { expect } from 'chai';
import { contracts, IdentityContract } from '../../../chaincode/src';
import { parseChaincodeError } from '../../../chaincode/src/lib/errors';
import { TRANSACTION_RULES } from '../../../chaincode/src/lib/policy';
import { FakeLedger } from './fake-ledger';

const CONSORTIUM = {
  organisations: [
    { mspId: 'HospitalMSP', type: 'hospital' },
    { mspId: 'InsurerMSP', type: 'insurer' },
    { mspId: 'SponsorMSP', type: 'sponsor' },
  ],
};

async function failure(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected the call to fail');
}

describe('chaincode: identity and consortium', () => {
  const identity = new IdentityContract();

  it("whoAmI returns the caller's MSP ID and the transaction timestamp, before any set-up", async () => {
    const ledger = new FakeLedger();
    for (const msp of ['HospitalMSP', 'InsurerMSP', 'SponsorMSP']) {
      const out = JSON.parse(await ledger.invoke(msp, identity, 'whoAmI'));
      expect(out.mspId).to.equal(msp);
      expect(out.txTimestamp).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }
  });

  it('writes the consortium definition once and never replaces it', async () => {
    const ledger = new FakeLedger();
    await ledger.invoke('InsurerMSP', identity, 'initConsortium', JSON.stringify(CONSORTIUM));
    expect(JSON.parse(await ledger.invoke('SponsorMSP', identity, 'readConsortium'))).to.deep.equal(CONSORTIUM);
    const takeover = { organisations: [{ mspId: 'InsurerMSP', type: 'hospital' }] };
    expect(await failure(ledger.invoke('InsurerMSP', identity, 'initConsortium', JSON.stringify(takeover)))).to.match(/^CONSORTIUM_ALREADY_CONFIGURED: /);
  });

  it('refuses a definition that does not list the caller, repeats an org or names an unknown type', async () => {
    const ledger = new FakeLedger();
    const bad = [
      [{ organisations: [{ mspId: 'HospitalMSP', type: 'hospital' }] }, 'ORG_NOT_IN_CONSORTIUM'],
      [{ organisations: [{ mspId: 'InsurerMSP', type: 'insurer' }, { mspId: 'InsurerMSP', type: 'sponsor' }] }, 'INVALID_ARGUMENT'],
      [{ organisations: [{ mspId: 'InsurerMSP', type: 'bank' }] }, 'INVALID_ARGUMENT'],
      [{ organisations: [] }, 'INVALID_ARGUMENT'],
      [{ organisations: [{ mspId: 'InsurerMSP', type: 'insurer', note: 'x' }] }, 'UNKNOWN_FIELD'],
    ] as const;
    for (const [definition, code] of bad) {
      expect(await failure(ledger.invoke('InsurerMSP', identity, 'initConsortium', JSON.stringify(definition)))).to.match(new RegExp(`^${code}: `));
    }
    expect(ledger.writeCount).to.equal(0);
  });

  it('has an authorisation rule for every transaction of every contract', () => {
    expect(contracts.map((C) => new C().getName())).to.deep.equal(['Identity', 'Records', 'Consent', 'Access', 'Privacy']);
    for (const contract of contracts.map((C) => new C())) {
      // The contract-api's own metadata lists the transactions; private helpers are not among them.
      const transactions = (Reflect.getMetadata('fabric:transactions', Object.getPrototypeOf(contract)) as { name: string }[]).map((t) => t.name);
      expect(transactions.length).to.be.greaterThan(1);
      for (const name of transactions) {
        expect(TRANSACTION_RULES, `${contract.getName()}:${name}`).to.have.property(`${contract.getName()}:${name}`);
      }
    }
  });

  it('refuses a transaction that has no rule', async () => {
    const ledger = new FakeLedger();
    const message = await failure(ledger.invoke('HospitalMSP', identity, 'deleteEverything'));
    expect(parseChaincodeError(message)?.code).to.equal('UNKNOWN_TRANSACTION');
  });

  it('parses a coded message even when Fabric wraps it', () => {
    const wrapped = 'ABORTED: failed to endorse transaction, see attached details: chaincode response 500, DOC_HASH_CLAIMED: this document is already anchored by HospitalMSP.';
    expect(parseChaincodeError(wrapped)).to.deep.equal({ code: 'DOC_HASH_CLAIMED', message: 'this document is already anchored by HospitalMSP.' });
  });
});
