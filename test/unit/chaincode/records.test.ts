import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { KeyEndorsementPolicy } from 'fabric-shim';
import { IdentityContract, RecordsContract } from '../../../chaincode/src';
import { MAX_BATCH, RECORDS_EVENT, expandAnchorResults, type RecordAnchor } from '../../../chaincode/src/contracts/records';
import { FakeLedger } from './fake-ledger';
import { CONSORTIUM, HOSPITAL, HOSPITAL2, INSURER, SPONSOR, expectCode } from './fixtures';


const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const record = (recordId: string, doc = `document ${recordId}`) => ({
  recordId,
  docHash: sha(doc),
  patientRef: sha(`patient-ref ${recordId}`),
  category: 'loinc:11506-3',
});


describe('chaincode: records', () => {
  let ledger: FakeLedger;
  const identity = new IdentityContract();
  const records = new RecordsContract();
  const anchor = (msp: string, r: object) => ledger.invoke(msp, records, 'anchorRecord', JSON.stringify(r));

  beforeEach(async () => {
    ledger = new FakeLedger();
    await ledger.invoke(HOSPITAL, identity, 'initConsortium', CONSORTIUM);
  });

  describe('anchorRecord', () => {
    it('anchors version 1 with issuer, time and transaction id taken from the transaction', async () => {
      const out = JSON.parse(await anchor(HOSPITAL, record('r-1')));
      expect(out.created).to.equal(true);
      const a: RecordAnchor = out.anchor;
      expect(a).to.include({ recordId: 'r-1', version: 1, issuer: HOSPITAL, status: 'active', category: 'loinc:11506-3' });
      expect(a.docHash).to.equal(sha('document r-1'));
      expect(a.anchoredAt).to.match(/^2026-01-01T00:00:\d\d\.500Z$/);
      expect(a.txId).to.equal(ledger.committed[ledger.committed.length - 1].txId);
    });

    it('emits one event naming the change, with the anchoring time and transaction of the anchor', async () => {
      const a: RecordAnchor = JSON.parse(await anchor(HOSPITAL, record('r-1'))).anchor;
      const event = ledger.lastEvent();
      expect(event?.name).to.equal(RECORDS_EVENT);
      expect(event?.payload).to.deep.equal({
        changes: [
          { kind: 'anchored', docHash: sha('document r-1'), issuer: HOSPITAL, recordId: 'r-1', version: 1, status: 'active', anchoredAt: a.anchoredAt, txId: a.txId },
        ],
      });
    });

    it('protects every key it writes with a key-level endorsement policy of the issuing org', async () => {
      await anchor(HOSPITAL, record('r-1'));
      const tx = ledger.committed[ledger.committed.length - 1];
      expect(tx.writes.size).to.equal(2); // the version and the hash entry
      for (const key of tx.writes.keys()) {
        const ep = tx.validationParameters.get(key);
        expect(ep, `policy for ${JSON.stringify(key)}`).to.not.equal(undefined);
        expect(new KeyEndorsementPolicy(ep).listOrgs()).to.deep.equal([HOSPITAL]);
      }
    });

    it('writes JSON with sorted keys, so every endorser writes the same bytes', async () => {
      await anchor(HOSPITAL, record('r-1'));
      for (const value of ledger.state.values()) {
        const text = Buffer.from(value).toString('utf8');
        const keys = Object.keys(JSON.parse(text));
        expect(keys).to.deep.equal([...keys].sort());
      }
    });

    it('is idempotent: the same document by the same issuer returns the existing anchor and writes nothing', async () => {
      const first = JSON.parse(await anchor(HOSPITAL, record('r-1')));
      const writes = ledger.writeCount;
      const again = JSON.parse(await anchor(HOSPITAL, record('r-1')));
      expect(again).to.deep.equal({ anchor: first.anchor, created: false });
      expect(ledger.writeCount).to.equal(writes);
    });

    it('refuses the same document from another issuer', async () => {
      await anchor(HOSPITAL, record('r-1'));
      await expectCode(anchor(HOSPITAL2, record('other-id', 'document r-1')), 'DOC_HASH_CLAIMED', HOSPITAL);
    });

    it('refuses a second document under an existing record id (amend instead)', async () => {
      await anchor(HOSPITAL, record('r-1'));
      await expectCode(anchor(HOSPITAL, record('r-1', 'a different document')), 'RECORD_EXISTS', 'amend');
    });

    it('lets two hospitals use the same record id independently', async () => {
      await anchor(HOSPITAL, record('shared-id', 'doc A'));
      const b = JSON.parse(await anchor(HOSPITAL2, record('shared-id', 'doc B')));
      expect(b.anchor.issuer).to.equal(HOSPITAL2);
    });

    for (const msp of [INSURER, SPONSOR]) {
      it(`refuses ${msp}: only hospitals anchor, and nothing is written`, async () => {
        const writes = ledger.writeCount;
        await expectCode(anchor(msp, record('r-1')), 'FORBIDDEN_ORG_TYPE', 'hospital');
        expect(ledger.writeCount).to.equal(writes);
      });
    }

    it('refuses an organisation that is not in the consortium', async () => {
      await expectCode(anchor('StrangerMSP', record('r-1')), 'ORG_NOT_IN_CONSORTIUM');
    });

    it('refuses everything until the consortium is defined', async () => {
      const fresh = new FakeLedger();
      await expectCode(fresh.invoke(HOSPITAL, records, 'anchorRecord', JSON.stringify(record('r-1'))), 'CONSORTIUM_NOT_CONFIGURED');
    });
  });

  describe('input validation', () => {
    const good = record('r-1');
    const cases: [string, unknown, string][] = [
      ['bad JSON', '{"recordId": ', 'INVALID_JSON'],
      ['empty argument', '', 'INVALID_ARGUMENT'],
      ['an array instead of an object', [good], 'INVALID_ARGUMENT'],
      ['an unknown field', { ...good, patientName: 'Hong Gildong' }, 'UNKNOWN_FIELD'],
      ['a missing field', { recordId: 'r-1', docHash: good.docHash, category: good.category }, 'INVALID_ARGUMENT'],
      ['an empty record id', { ...good, recordId: '' }, 'INVALID_ARGUMENT'],
      ['an oversized record id', { ...good, recordId: 'x'.repeat(129) }, 'INVALID_ARGUMENT'],
      ['a record id with U+0000', { ...good, recordId: 'a\u0000b' }, 'INVALID_ARGUMENT'],
      ['a record id with U+10FFFF', { ...good, recordId: 'a\u{10FFFF}' }, 'INVALID_ARGUMENT'],
      ['a record id with a control character', { ...good, recordId: 'a\u0007b' }, 'INVALID_ARGUMENT'],
      ['a record id with a space', { ...good, recordId: 'a b' }, 'INVALID_ARGUMENT'],
      ['a numeric record id', { ...good, recordId: 42 }, 'INVALID_ARGUMENT'],
      ['a short hash', { ...good, docHash: good.docHash.slice(2) }, 'INVALID_ARGUMENT'],
      ['an uppercase hash', { ...good, docHash: good.docHash.toUpperCase() }, 'INVALID_ARGUMENT'],
      ['a non-hex hash', { ...good, docHash: 'g'.repeat(64) }, 'INVALID_ARGUMENT'],
      ['a patient identifier instead of a commitment', { ...good, patientRef: '900101-1234567' }, 'INVALID_ARGUMENT'],
      ['a category with spaces', { ...good, category: 'discharge summary' }, 'INVALID_ARGUMENT'],
      ['an oversized category', { ...good, category: 'c'.repeat(65) }, 'INVALID_ARGUMENT'],
    ];
    for (const [name, body, code] of cases) {
      it(`refuses ${name} with ${code} and writes nothing`, async () => {
        const writes = ledger.writeCount;
        const arg = typeof body === 'string' ? body : JSON.stringify(body);
        await expectCode(ledger.invoke(HOSPITAL, records, 'anchorRecord', arg), code);
        expect(ledger.writeCount).to.equal(writes);
      });
    }

    it('accepts record ids in any script (Hangul included)', async () => {
      const out = JSON.parse(await anchor(HOSPITAL, record('진료기록-2026-001')));
      expect(out.anchor.recordId).to.equal('진료기록-2026-001');
    });

    it('refuses an oversized argument before parsing it', async () => {
      await expectCode(ledger.invoke(HOSPITAL, records, 'anchorRecord', ' '.repeat(1_048_577)), 'INVALID_ARGUMENT', 'at most');
    });
  });

  describe('anchorRecords (batch)', () => {
    const batch = (n: number, prefix = 'b') => Array.from({ length: n }, (_, i) => record(`${prefix}-${i}`));

    it('anchors many records in one transaction with one event', async () => {
      const out = JSON.parse(await ledger.invoke(HOSPITAL, records, 'anchorRecords', JSON.stringify(batch(50))));
      expect(out).to.include({ anchored: 50, existing: 0, issuer: HOSPITAL });
      expect(out.results).to.have.length(50);
      expect(out.results.every((r: { status: string }) => r.status === 'created')).to.equal(true);
      expect(ledger.committed).to.have.length(2);
      expect((ledger.lastEvent()?.payload as { changes: unknown[] }).changes).to.have.length(50);
      // The compact answer and what was sent give back every anchor as stored.
      const expanded = expandAnchorResults(batch(50), out);
      const stored = JSON.parse(await ledger.invoke(INSURER, records, 'readRecord', HOSPITAL, 'b-7', ''));
      expect(expanded[7]).to.deep.equal({ anchor: stored, created: true });
    });

    it('fails as a whole on the first invalid record and names it; nothing is written', async () => {
      const list: unknown[] = batch(10);
      list[6] = { ...record('b-6'), docHash: 'nope' };
      list[8] = { ...record('b-8'), category: 'bad category' };
      const writes = ledger.writeCount;
      await expectCode(ledger.invoke(HOSPITAL, records, 'anchorRecords', JSON.stringify(list)), 'INVALID_ARGUMENT', 'records[6] (recordId b-6).docHash');
      expect(ledger.writeCount).to.equal(writes);
    });

    it('names a record whose document another hospital already anchored', async () => {
      await anchor(HOSPITAL2, record('h2', 'document b-3'));
      await expectCode(ledger.invoke(HOSPITAL, records, 'anchorRecords', JSON.stringify(batch(5))), 'DOC_HASH_CLAIMED', 'records[3] (recordId b-3)');
    });

    it('refuses a batch that repeats a document or a record id', async () => {
      await expectCode(
        ledger.invoke(HOSPITAL, records, 'anchorRecords', JSON.stringify([record('x'), record('y', 'document x')])),
        'BATCH_INVALID',
        'repeats the docHash of records[0]',
      );
      await expectCode(
        ledger.invoke(HOSPITAL, records, 'anchorRecords', JSON.stringify([record('x'), record('x', 'other')])),
        'BATCH_INVALID',
        'repeats the recordId of records[0]',
      );
    });

    it('refuses an empty batch and one over the limit', async () => {
      await expectCode(ledger.invoke(HOSPITAL, records, 'anchorRecords', '[]'), 'INVALID_ARGUMENT');
      await expectCode(ledger.invoke(HOSPITAL, records, 'anchorRecords', JSON.stringify(batch(MAX_BATCH + 1))), 'INVALID_ARGUMENT', String(MAX_BATCH));
    });

    it('is idempotent when a batch is retried', async () => {
      const list = JSON.stringify(batch(5));
      await ledger.invoke(HOSPITAL, records, 'anchorRecords', list);
      const writes = ledger.writeCount;
      const again = JSON.parse(await ledger.invoke(HOSPITAL, records, 'anchorRecords', list));
      expect(again).to.include({ anchored: 0, existing: 5 });
      expect(ledger.writeCount).to.equal(writes);
    });
  });

  describe('anchorEach (each record on its own)', () => {
    const each = (list: unknown[]) => ledger.invoke(HOSPITAL, records, 'anchorEach', JSON.stringify(list));

    it('anchors the good records and refuses each bad one with its own code, in one transaction', async () => {
      await anchor(HOSPITAL2, record('theirs', 'document e-claimed'));
      await anchor(HOSPITAL, record('e-old'));
      await anchor(HOSPITAL, record('e-taken'));
      const list: unknown[] = [
        record('e-0'),
        { ...record('e-1'), docHash: 'nope' },
        record('e-2', 'document e-claimed'),
        record('e-old'),
        record('e-0', 'another document'),
        record('e-new-id', 'document e-0'),
        record('e-taken', 'a fresh document'),
        record('e-6'),
      ];
      const writes = ledger.writeCount;
      const out = JSON.parse(await each(list));
      expect(out).to.include({ anchored: 2, existing: 1, refused: 5 });
      const codes = out.results.map((r: { status: string; code?: string }) => r.code ?? r.status);
      expect(codes).to.deep.equal(['created', 'INVALID_ARGUMENT', 'DOC_HASH_CLAIMED', 'existing', 'BATCH_INVALID', 'BATCH_INVALID', 'RECORD_EXISTS', 'created']);
      expect(out.results[1].message).to.include('records[1] (recordId e-1).docHash');
      expect(ledger.writeCount - writes).to.equal(4); // two records: version and hash keys
      expect((ledger.lastEvent()?.payload as { changes: { recordId: string }[] }).changes.map((c) => c.recordId)).to.deep.equal(['e-0', 'e-6']);
    });

    it('fails only on a list that is not a list of 1 to MAX_BATCH records', async () => {
      await expectCode(each([]), 'INVALID_ARGUMENT');
      await expectCode(ledger.invoke(HOSPITAL, records, 'anchorEach', '{"a":1}'), 'INVALID_ARGUMENT');
    });

    it('is open to hospitals only', async () => {
      await expectCode(ledger.invoke(INSURER, records, 'anchorEach', JSON.stringify([record('i-1')])), 'FORBIDDEN_ORG_TYPE');
    });
  });

  describe('amend, retract, read, history', () => {
    const amend = (msp: string, body: object) => ledger.invoke(msp, records, 'amendRecord', JSON.stringify(body));
    const lookup = async (doc: string) => JSON.parse(await ledger.invoke(INSURER, records, 'lookupByHash', sha(doc)));

    beforeEach(async () => {
      await anchor(HOSPITAL, record('r-1', 'v1'));
    });

    it('amends: a new version supersedes the previous one, which stays readable', async () => {
      const out = JSON.parse(await amend(HOSPITAL, { issuer: HOSPITAL, recordId: 'r-1', docHash: sha('v2') }));
      expect(out.anchor).to.include({ version: 2, supersedes: sha('v1'), status: 'active', patientRef: sha('patient-ref r-1') });
      expect(await lookup('v1')).to.include({ version: 1, status: 'superseded', supersededBy: sha('v2') });
      expect(await lookup('v2')).to.include({ version: 2, status: 'active' });
      const v1 = JSON.parse(await ledger.invoke(INSURER, records, 'readRecord', HOSPITAL, 'r-1', '1'));
      expect(v1.status).to.equal('superseded');
      const latest = JSON.parse(await ledger.invoke(INSURER, records, 'readRecord', HOSPITAL, 'r-1', ''));
      expect(latest.version).to.equal(2);
    });

    it('announces an amendment with the hash it supersedes, and a retraction with its reason, time and transaction', async () => {
      const v1: RecordAnchor = (await lookup('v1')) as RecordAnchor;
      const v2: RecordAnchor = JSON.parse(await amend(HOSPITAL, { issuer: HOSPITAL, recordId: 'r-1', docHash: sha('v2') })).anchor;
      expect(ledger.lastEvent()?.payload).to.deep.equal({
        changes: [
          { kind: 'amended', docHash: sha('v2'), issuer: HOSPITAL, recordId: 'r-1', version: 2, status: 'active', anchoredAt: v2.anchoredAt, txId: v2.txId, supersedes: sha('v1') },
        ],
      });
      expect(v2.txId).to.not.equal(v1.txId);
      const retracted: RecordAnchor = JSON.parse(await ledger.invoke(HOSPITAL, records, 'retractRecord', HOSPITAL, 'r-1', 'duplicate')).anchor;
      expect(retracted.retraction?.txId).to.equal(ledger.committed[ledger.committed.length - 1].txId);
      expect(ledger.lastEvent()?.payload).to.deep.equal({
        changes: [
          {
            kind: 'retracted',
            docHash: sha('v2'),
            issuer: HOSPITAL,
            recordId: 'r-1',
            version: 2,
            status: 'retracted',
            anchoredAt: v2.anchoredAt,
            txId: v2.txId,
            retraction: retracted.retraction,
          },
        ],
      });
    });

    it('re-sending the same amendment returns the latest version and writes nothing', async () => {
      await amend(HOSPITAL, { issuer: HOSPITAL, recordId: 'r-1', docHash: sha('v2') });
      const writes = ledger.writeCount;
      const again = JSON.parse(await amend(HOSPITAL, { issuer: HOSPITAL, recordId: 'r-1', docHash: sha('v2') }));
      expect(again.created).to.equal(false);
      expect(ledger.writeCount).to.equal(writes);
    });

    it('refuses another hospital amending or retracting the record, and writes nothing', async () => {
      const writes = ledger.writeCount;
      await expectCode(amend(HOSPITAL2, { issuer: HOSPITAL, recordId: 'r-1', docHash: sha('forged') }), 'FORBIDDEN_NOT_ISSUER');
      await expectCode(ledger.invoke(HOSPITAL2, records, 'retractRecord', HOSPITAL, 'r-1', 'entered-in-error'), 'FORBIDDEN_NOT_ISSUER');
      await expectCode(amend(INSURER, { issuer: HOSPITAL, recordId: 'r-1', docHash: sha('forged') }), 'FORBIDDEN_ORG_TYPE');
      expect(ledger.writeCount).to.equal(writes);
    });

    it('refuses amending a record that does not exist, or to a document already anchored', async () => {
      await expectCode(amend(HOSPITAL, { issuer: HOSPITAL, recordId: 'nope', docHash: sha('v2') }), 'RECORD_NOT_FOUND');
      await anchor(HOSPITAL, record('r-2', 'other'));
      await expectCode(amend(HOSPITAL, { issuer: HOSPITAL, recordId: 'r-1', docHash: sha('other') }), 'DOC_HASH_CLAIMED', 'record r-2');
    });

    it('retracts with a reason code; retrying is harmless; amending afterwards is refused', async () => {
      const out = JSON.parse(await ledger.invoke(HOSPITAL, records, 'retractRecord', HOSPITAL, 'r-1', 'wrong-patient'));
      expect(out.anchor.status).to.equal('retracted');
      expect(out.anchor.retraction.reason).to.equal('wrong-patient');
      expect(await lookup('v1')).to.include({ status: 'retracted' });
      const again = JSON.parse(await ledger.invoke(HOSPITAL, records, 'retractRecord', HOSPITAL, 'r-1', 'wrong-patient'));
      expect(again.created).to.equal(false);
      await expectCode(ledger.invoke(HOSPITAL, records, 'retractRecord', HOSPITAL, 'r-1', 'duplicate'), 'RECORD_RETRACTED');
      await expectCode(amend(HOSPITAL, { issuer: HOSPITAL, recordId: 'r-1', docHash: sha('v2') }), 'RECORD_RETRACTED');
    });

    it('refuses an unknown retraction reason', async () => {
      await expectCode(ledger.invoke(HOSPITAL, records, 'retractRecord', HOSPITAL, 'r-1', 'because'), 'INVALID_ARGUMENT', 'entered-in-error');
    });

    it('lists the history in version order, including versions past 9', async () => {
      for (let v = 2; v <= 12; v++) await amend(HOSPITAL, { issuer: HOSPITAL, recordId: 'r-1', docHash: sha(`v${v}`) });
      await ledger.invoke(HOSPITAL, records, 'retractRecord', HOSPITAL, 'r-1', 'entered-in-error');
      const history: RecordAnchor[] = JSON.parse(await ledger.invoke(SPONSOR, records, 'recordHistory', HOSPITAL, 'r-1'));
      expect(history.map((a) => a.version)).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
      expect(history.slice(0, 11).every((a) => a.status === 'superseded')).to.equal(true);
      expect(history[11].status).to.equal('retracted');
      for (let i = 1; i < history.length; i++) expect(history[i].supersedes).to.equal(history[i - 1].docHash);
    });

    it('gives the histories of many records in one query: an unknown record has an empty history; a bad list is INVALID_ARGUMENT', async () => {
      await amend(HOSPITAL, { issuer: HOSPITAL, recordId: 'r-1', docHash: sha('v2') });
      await ledger.invoke(HOSPITAL, records, 'anchorRecord', JSON.stringify(record('r-2')));
      const histories: Record<string, RecordAnchor[]> = JSON.parse(await ledger.invoke(INSURER, records, 'recordHistories', HOSPITAL, JSON.stringify(['r-1', 'r-2', 'nope'])));
      expect(Object.keys(histories).sort()).to.deep.equal(['nope', 'r-1', 'r-2']);
      expect(histories['r-1'].map((a) => a.version)).to.deep.equal([1, 2]);
      expect(histories['r-2'].map((a) => a.version)).to.deep.equal([1]);
      expect(histories.nope).to.deep.equal([]);
      await expectCode(ledger.invoke(INSURER, records, 'recordHistories', HOSPITAL, '[]'), 'INVALID_ARGUMENT');
      await expectCode(ledger.invoke(INSURER, records, 'recordHistories', HOSPITAL, JSON.stringify(Array.from({ length: MAX_BATCH + 1 }, (_, i) => `r-${i}`))), 'INVALID_ARGUMENT');
      await expectCode(ledger.invoke(INSURER, records, 'recordHistories', HOSPITAL, JSON.stringify(['has space'])), 'INVALID_ARGUMENT');
    });

    it('answers null for a document nobody anchored, and RECORD_NOT_FOUND for an unknown record', async () => {
      expect(await lookup('never anchored')).to.equal(null);
      await expectCode(ledger.invoke(INSURER, records, 'recordHistory', HOSPITAL, 'nope'), 'RECORD_NOT_FOUND');
      await expectCode(ledger.invoke(INSURER, records, 'readRecord', HOSPITAL, 'r-1', '7'), 'RECORD_NOT_FOUND');
      await expectCode(ledger.invoke(INSURER, records, 'readRecord', HOSPITAL, 'r-1', '-1'), 'INVALID_ARGUMENT');
    });
  });
});
