import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { IdentityContract, PrivacyContract } from '../../../chaincode/src';
import { FakeLedger } from './fake-ledger';
import { CONSORTIUM, HOSPITAL, HOSPITAL2, INSURER, SPONSOR, expectCode } from './fixtures';

/** Issue 8: the ledger records an erasure without identifying the patient. */
describe('chaincode: Privacy (erasure records)', () => {
  const privacy = new PrivacyContract();
  let ledger: FakeLedger;

  beforeEach(async () => {
    ledger = new FakeLedger();
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
  });

  it('records a hospital’s erasure: its id, the hospital, the transaction time and id — nothing else', async () => {
    const erasureId = randomUUID();
    const out = JSON.parse(await ledger.invoke(HOSPITAL, privacy, 'recordErasure', erasureId));
    const tx = ledger.committed[ledger.committed.length - 1];
    expect(out).to.deep.equal({
      created: true,
      erasure: { erasureId, hospital: HOSPITAL, recordedAt: new Date(ledger.now * 1000 + 500).toISOString(), txId: tx.txId },
    });
    // one key, derived from the erasure id alone, protected by the hospital's own endorsement
    expect([...tx.writes.keys()]).to.deep.equal([`\u0000medprov.erasure\u0000${erasureId}\u0000`]);
    expect(tx.validationParameters.has(`\u0000medprov.erasure\u0000${erasureId}\u0000`)).to.equal(true);
    expect(tx.event).to.equal(undefined);
    const stored = JSON.parse(Buffer.from(tx.writes.values().next().value as Uint8Array).toString('utf8'));
    expect(Object.keys(stored).sort()).to.deep.equal(['erasureId', 'hospital', 'recordedAt', 'txId']);
  });

  it('is idempotent: the same id again returns the existing record and writes nothing', async () => {
    const erasureId = randomUUID();
    const first = JSON.parse(await ledger.invoke(HOSPITAL, privacy, 'recordErasure', erasureId));
    const writes = ledger.writeCount;
    const again = JSON.parse(await ledger.invoke(HOSPITAL, privacy, 'recordErasure', erasureId));
    expect(again).to.deep.equal({ created: false, erasure: first.erasure });
    expect(ledger.writeCount).to.equal(writes);
  });

  it('refuses another organisation’s erasure id (FORBIDDEN_OTHER_ORG), leaving the record as it was', async () => {
    const erasureId = randomUUID();
    const first = JSON.parse(await ledger.invoke(HOSPITAL, privacy, 'recordErasure', erasureId));
    await expectCode(ledger.invoke(HOSPITAL2, privacy, 'recordErasure', erasureId), 'FORBIDDEN_OTHER_ORG');
    expect(JSON.parse(await ledger.query(INSURER, privacy, 'readErasure', erasureId))).to.deep.equal(first.erasure);
  });

  it('only hospitals record erasures; insurers and sponsors are refused, outsiders too', async () => {
    for (const org of [INSURER, SPONSOR]) await expectCode(ledger.invoke(org, privacy, 'recordErasure', randomUUID()), 'FORBIDDEN_ORG_TYPE');
    await expectCode(ledger.invoke('StrangerMSP', privacy, 'recordErasure', randomUUID()), 'ORG_NOT_IN_CONSORTIUM');
    expect(ledger.committed.map((t) => t.fcn)).to.deep.equal(['Identity:initConsortium']);
  });

  it('refuses malformed erasure ids: not a lowercase version-4 UUID', async () => {
    const id = randomUUID();
    const bad = ['', id.toUpperCase(), id.replace(/-/g, ''), `${id}\u0000`, `${id}x`, ` ${id}`, '00000000-0000-1000-8000-000000000000', id.replace(/^(.{19})./, '$1c'), '900101-1234567', 'a'.repeat(5000)];
    for (const value of bad) {
      const err = await expectCode(ledger.invoke(HOSPITAL, privacy, 'recordErasure', value), 'INVALID_ARGUMENT');
      if (value.length > 0) expect(err.message).to.not.include(value.trim().slice(0, 12));
      await expectCode(ledger.query(HOSPITAL, privacy, 'readErasure', value), 'INVALID_ARGUMENT');
    }
    expect(ledger.committed).to.have.length(1);
  });

  it('any member reads a record by id; an unknown id is null', async () => {
    const erasureId = randomUUID();
    const { erasure } = JSON.parse(await ledger.invoke(HOSPITAL2, privacy, 'recordErasure', erasureId));
    for (const org of [HOSPITAL, HOSPITAL2, INSURER, SPONSOR]) {
      expect(JSON.parse(await ledger.query(org, privacy, 'readErasure', erasureId))).to.deep.equal(erasure);
      expect(JSON.parse(await ledger.query(org, privacy, 'readErasure', randomUUID()))).to.equal(null);
    }
    await expectCode(ledger.query('StrangerMSP', privacy, 'readErasure', erasureId), 'ORG_NOT_IN_CONSORTIUM');
  });
});
