import 'reflect-metadata';
import { expect } from 'chai';
import { common, msp } from '@hyperledger/fabric-protos';
import { createHash } from 'node:crypto';
import { contracts, IdentityContract } from '../../../chaincode/src';
import { approvalsNeeded, CONSORTIUM_KEY, type ConsortiumDefinition } from '../../../chaincode/src/lib/consortium';
import { parseChaincodeError } from '../../../chaincode/src/lib/errors';
import { TRANSACTION_RULES } from '../../../chaincode/src/lib/policy';
import { FakeLedger } from './fake-ledger';
import { expectCode } from './fixtures';

const CONSORTIUM: ConsortiumDefinition = {
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

  it("writes the first definition as revision 1, once, as an admin of a listed org; the key then needs a majority of its members' peers", async () => {
    const ledger = new FakeLedger();
    const written = JSON.parse(await ledger.invoke('InsurerMSP', identity, 'initConsortium', JSON.stringify(CONSORTIUM)));
    expect(written).to.include({ revision: 1, txId: ledger.committed[0].txId });
    expect(written.approvedBy).to.deep.equal(['InsurerMSP']);
    const stored = JSON.parse(await ledger.invoke('SponsorMSP', identity, 'readConsortium'));
    expect(stored.organisations).to.deep.equal(CONSORTIUM.organisations);
    expect(stored).to.include({ revision: 1, changedAt: '2026-01-01T00:00:01.500Z' });
    expect(keyPolicy(ledger)).to.deep.equal({ n: 2, peersOf: ['HospitalMSP', 'InsurerMSP', 'SponsorMSP'] });
    const takeover = { organisations: [{ mspId: 'InsurerMSP', type: 'hospital' }] };
    await expectCode(ledger.invoke('InsurerMSP', identity, 'initConsortium', JSON.stringify(takeover)), 'CONSORTIUM_ALREADY_CONFIGURED', 'Identity:approveConsortiumChange');
  });

  it("refuses the first definition from a gateway's (client) identity, and writes nothing", async () => {
    const ledger = new FakeLedger();
    await expectCode(ledger.invoke({ mspId: 'HospitalMSP', role: 'client' }, identity, 'initConsortium', JSON.stringify(CONSORTIUM)), 'FORBIDDEN_NOT_ADMIN', 'admin of HospitalMSP');
    expect(ledger.writeCount).to.equal(0);
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

  describe('changing the definition: a majority of the members\' admins', () => {
    let ledger: FakeLedger;
    /** The same members, the Sponsor typed an insurer: a change. */
    const SPONSOR_AS_INSURER = withType(CONSORTIUM, 'SponsorMSP', 'insurer');
    const approve = (caller: string | { mspId: string; role: 'admin' | 'client' }, definition: ConsortiumDefinition) =>
      ledger.invoke(caller, identity, 'approveConsortiumChange', JSON.stringify(definition)).then((out) => JSON.parse(out));
    const inForce = async () => JSON.parse(await ledger.query('HospitalMSP', identity, 'readConsortium'));

    beforeEach(async () => {
      ledger = new FakeLedger();
      await ledger.invoke('HospitalMSP', identity, 'initConsortium', JSON.stringify(CONSORTIUM));
    });

    it("one member's admin alone changes nothing: the approval is recorded, the definition in force stays; approving again writes nothing", async () => {
      const first = await approve('HospitalMSP', SPONSOR_AS_INSURER);
      expect(first).to.include({ inForce: false, created: true });
      expect(first.stillNeeded).to.deep.equal({ members: 1, joining: [] });
      expect(first.change).to.include({ baseRevision: 1, status: 'open' });
      expect(first.change.approvals.map((a: { mspId: string }) => a.mspId)).to.deep.equal(['HospitalMSP']);
      // The admin's identity, hashed: no person's name on the ledger.
      expect(first.change.approvals[0].adminId).to.equal(createHash('sha256').update('x509::/OU=admin/CN=admin@HospitalMSP::/CN=ca.HospitalMSP').digest('hex'));
      expect(await inForce()).to.include({ revision: 1 });
      expect((await inForce()).organisations).to.deep.equal(CONSORTIUM.organisations);

      const writes = ledger.writeCount;
      expect(await approve('HospitalMSP', SPONSOR_AS_INSURER)).to.include({ inForce: false, created: false });
      expect(ledger.writeCount).to.equal(writes);
      const seen = JSON.parse(await ledger.query('SponsorMSP', identity, 'readConsortiumChange', JSON.stringify(SPONSOR_AS_INSURER)));
      expect(seen.stillNeeded).to.deep.equal({ members: 1, joining: [] });
      expect(JSON.parse(await ledger.query('SponsorMSP', identity, 'readConsortiumChange', JSON.stringify(CONSORTIUM)))).to.equal(null);
    });

    it("the approval completing a majority puts it in force as revision 2, moves the key's policy to the new members, and earlier approvals do not carry over", async () => {
      const other = withType(CONSORTIUM, 'InsurerMSP', 'sponsor');
      await approve('SponsorMSP', other); // left open at revision 1
      await approve('HospitalMSP', SPONSOR_AS_INSURER);
      const done = await approve('InsurerMSP', SPONSOR_AS_INSURER);
      expect(done).to.include({ inForce: true, created: true });
      expect(done.change).to.include({ status: 'in-force', revision: 2 });
      const now = await inForce();
      expect(now).to.include({ revision: 2, txId: ledger.committed[ledger.committed.length - 1].txId });
      expect(now.organisations).to.deep.equal(SPONSOR_AS_INSURER.organisations);
      expect(now.approvedBy).to.deep.equal(['HospitalMSP', 'InsurerMSP']);
      expect(keyPolicy(ledger)).to.deep.equal({ n: 2, peersOf: ['HospitalMSP', 'InsurerMSP', 'SponsorMSP'] });
      // The Sponsor's approval was of revision 1: against revision 2 it counts for nothing.
      expect((await approve('HospitalMSP', other)).stillNeeded).to.deep.equal({ members: 1, joining: [] });
      // And back again, by a majority: the definition as it was, as revision 3.
      await approve('SponsorMSP', CONSORTIUM);
      expect((await approve('InsurerMSP', CONSORTIUM)).inForce).to.equal(true);
      expect(await inForce()).to.deep.include({ revision: 3, organisations: CONSORTIUM.organisations });
    });

    it("a reordered list is a change too (compared as written), so a test can change the definition without changing anyone's type", async () => {
      const reordered = { organisations: [...CONSORTIUM.organisations].reverse() };
      await approve('SponsorMSP', reordered);
      expect((await approve('HospitalMSP', reordered)).inForce).to.equal(true);
      expect(await inForce()).to.deep.include({ revision: 2, organisations: reordered.organisations });
    });

    it('adding an organisation needs its own admin as well as a majority of the members; it then counts in the majority', async () => {
      const withHospital3 = { organisations: [...CONSORTIUM.organisations, { mspId: 'Hospital3MSP', type: 'hospital' as const }] };
      await approve('HospitalMSP', withHospital3);
      const majority = await approve('InsurerMSP', withHospital3);
      expect(majority).to.include({ inForce: false });
      expect(majority.stillNeeded).to.deep.equal({ members: 0, joining: ['Hospital3MSP'] });
      const joined = await approve('Hospital3MSP', withHospital3);
      expect(joined).to.include({ inForce: true });
      expect(await inForce()).to.deep.include({ revision: 2, organisations: withHospital3.organisations });
      expect(keyPolicy(ledger)).to.deep.equal({ n: 3, peersOf: ['Hospital3MSP', 'HospitalMSP', 'InsurerMSP', 'SponsorMSP'] });
    });

    it('an organisation that joins on its own changes nothing', async () => {
      const withHospital3 = { organisations: [...CONSORTIUM.organisations, { mspId: 'Hospital3MSP', type: 'hospital' as const }] };
      const alone = await approve('Hospital3MSP', withHospital3);
      expect(alone).to.include({ inForce: false });
      expect(alone.stillNeeded).to.deep.equal({ members: 2, joining: [] });
    });

    it('removing a member needs a majority of the current members, the one removed counted among them', async () => {
      const withoutSponsor = { organisations: CONSORTIUM.organisations.filter((o) => o.mspId !== 'SponsorMSP') };
      expect((await approve('HospitalMSP', withoutSponsor)).inForce).to.equal(false);
      expect((await approve('InsurerMSP', withoutSponsor)).inForce).to.equal(true);
      expect(keyPolicy(ledger)).to.deep.equal({ n: 2, peersOf: ['HospitalMSP', 'InsurerMSP'] });
      await expectCode(ledger.query('SponsorMSP', identity, 'readConsortium'), 'ORG_NOT_IN_CONSORTIUM');
    });

    it("refuses, writing nothing: a gateway's identity, an org the change neither has nor adds, the definition already in force, a malformed one", async () => {
      const writes = ledger.writeCount;
      await expectCode(approve({ mspId: 'HospitalMSP', role: 'client' }, SPONSOR_AS_INSURER), 'FORBIDDEN_NOT_ADMIN');
      await expectCode(approve('OutsiderMSP', SPONSOR_AS_INSURER), 'ORG_NOT_IN_CONSORTIUM', 'neither a member');
      await expectCode(approve('HospitalMSP', CONSORTIUM), 'INVALID_ARGUMENT', 'already in force (revision 1)');
      await expectCode(approve('HospitalMSP', { organisations: [{ mspId: 'HospitalMSP', type: 'bank' as never }] }), 'INVALID_ARGUMENT');
      await expectCode(ledger.invoke('HospitalMSP', identity, 'approveConsortiumChange', '{"organisations":[],"note":1}'), 'UNKNOWN_FIELD');
      expect(ledger.writeCount).to.equal(writes);
    });

    it('before a first definition there is nothing to change', async () => {
      await expectCode(new FakeLedger().invoke('HospitalMSP', identity, 'approveConsortiumChange', JSON.stringify(CONSORTIUM)), 'CONSORTIUM_NOT_CONFIGURED', 'Identity:initConsortium');
    });

    it('counts a strict majority of the current members, whatever their number', () => {
      const members = (n: number): ConsortiumDefinition => ({ organisations: Array.from({ length: n }, (_, i) => ({ mspId: `Org${i}MSP`, type: 'hospital' as const })) });
      const needed = [1, 2, 3, 4, 5, 6].map((n) => approvalsNeeded(members(n), members(n + 1), []));
      expect(needed.map((x) => x.members)).to.deep.equal([1, 2, 2, 3, 3, 4]);
      expect(needed.map((x) => x.joining)).to.deep.equal([1, 2, 3, 4, 5, 6].map((n) => [`Org${n}MSP`]));
      expect(approvalsNeeded(members(4), members(3), ['Org0MSP', 'Org3MSP', 'OutsiderMSP'])).to.deep.equal({ members: 1, joining: [] });
    });
  });

  it('has an authorisation rule for every transaction of every contract', () => {
    expect(contracts.map((C) => new C().getName())).to.deep.equal(['Identity', 'Records', 'Consent', 'Access', 'Privacy', 'Probe', 'Archives', 'Guardians', 'Linkage']);
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

function withType(definition: ConsortiumDefinition, mspId: string, type: ConsortiumDefinition['organisations'][number]['type']): ConsortiumDefinition {
  return { organisations: definition.organisations.map((o) => (o.mspId === mspId ? { ...o, type } : o)) };
}

/** The consortium key's endorsement policy, read back from its bytes: n out of the peers of these orgs. */
function keyPolicy(ledger: FakeLedger): { n: number; peersOf: string[] } {
  const bytes = ledger.validationParameters.get(CONSORTIUM_KEY);
  if (!bytes) throw new Error('the consortium key has no endorsement policy');
  const envelope = common.SignaturePolicyEnvelope.deserializeBinary(bytes);
  const rule = envelope.getRule()?.getNOutOf();
  if (!rule) throw new Error('not an n-out-of policy');
  const peersOf = envelope.getIdentitiesList().map((principal) => {
    const role = msp.MSPRole.deserializeBinary(principal.getPrincipal_asU8());
    expect(role.getRole()).to.equal(msp.MSPRole.MSPRoleType.PEER);
    return role.getMspIdentifier();
  });
  expect(rule.getRulesList().map((r) => r.getSignedBy())).to.deep.equal(peersOf.map((_, i) => i));
  return { n: rule.getN(), peersOf };
}
