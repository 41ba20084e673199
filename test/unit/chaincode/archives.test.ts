import { expect } from 'chai';
import { ArchivesContract, IdentityContract } from '../../../chaincode/src';
import { ARCHIVES_EVENT } from '../../../chaincode/src/contracts/archives';
import { FakeLedger } from './fake-ledger';
import { CONSORTIUM, HOSPITAL, HOSPITAL2, INSURER, SPONSOR, expectCode } from './fixtures';

const ROOT = 'ab'.repeat(32);
const OTHER_ROOT = 'cd'.repeat(32);
const archiveJson = (over: Record<string, unknown> = {}): string => JSON.stringify({ archiveId: 'scans-2019', root: ROOT, count: 1_000_000, ...over });

/** Issue 14: a folder anchored as one Merkle root, one transaction, no patientRef. */
describe('chaincode: Archives (one transaction per archive)', () => {
  const archives = new ArchivesContract();
  let ledger: FakeLedger;

  beforeEach(async () => {
    ledger = new FakeLedger();
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
  });

  it('anchors an archive: one key under the hospital’s own endorsement policy, one event, the transaction’s time and id', async () => {
    const out = JSON.parse(await ledger.invoke(HOSPITAL, archives, 'anchorArchive', archiveJson({ category: 'scans.radiology' })));
    const tx = ledger.committed[ledger.committed.length - 1]!;
    const archive = {
      archiveId: 'scans-2019',
      issuer: HOSPITAL,
      root: ROOT,
      count: 1_000_000,
      category: 'scans.radiology',
      anchoredAt: new Date(ledger.now * 1000 + 500).toISOString(),
      txId: tx.txId,
    };
    expect(out).to.deep.equal({ archive, created: true });
    const key = `\u0000medprov.archive\u0000${HOSPITAL}\u0000scans-2019\u0000`;
    expect([...tx.writes.keys()]).to.deep.equal([key]);
    expect(tx.validationParameters.has(key)).to.equal(true);
    expect(ledger.lastEvent()).to.deep.equal({ name: ARCHIVES_EVENT, payload: archive });
    // Stored with sorted keys, nothing but the anchor.
    const stored = Buffer.from(tx.writes.get(key)!).toString('utf8');
    expect(stored).to.equal(JSON.stringify(Object.fromEntries(Object.entries(archive).sort(([a], [b]) => (a < b ? -1 : 1)))));
  });

  it('is idempotent: the same archive again returns the stored one, writes nothing and emits nothing', async () => {
    const first = JSON.parse(await ledger.invoke(HOSPITAL, archives, 'anchorArchive', archiveJson()));
    const writes = ledger.writeCount;
    ledger.advance(3600);
    const again = JSON.parse(await ledger.invoke(HOSPITAL, archives, 'anchorArchive', archiveJson()));
    expect(again).to.deep.equal({ archive: first.archive, created: false });
    expect(ledger.writeCount).to.equal(writes);
    expect(ledger.lastEvent()).to.equal(undefined);
  });

  it('refuses another root, count or category under the same id with ARCHIVE_EXISTS, leaving the archive as it was', async () => {
    const first = JSON.parse(await ledger.invoke(HOSPITAL, archives, 'anchorArchive', archiveJson()));
    await expectCode(ledger.invoke(HOSPITAL, archives, 'anchorArchive', archiveJson({ root: OTHER_ROOT })), 'ARCHIVE_EXISTS', 'another root');
    await expectCode(ledger.invoke(HOSPITAL, archives, 'anchorArchive', archiveJson({ count: 999_999 })), 'ARCHIVE_EXISTS', 'another count');
    await expectCode(ledger.invoke(HOSPITAL, archives, 'anchorArchive', archiveJson({ category: 'x' })), 'ARCHIVE_EXISTS', 'another category');
    expect(JSON.parse(await ledger.query(INSURER, archives, 'readArchive', HOSPITAL, 'scans-2019'))).to.deep.equal(first.archive);
    expect(ledger.committed.map((t) => t.fcn)).to.deep.equal(['Identity:initConsortium', 'Archives:anchorArchive']);
  });

  it('keeps archive ids per hospital: another hospital may use the same id (and the same root)', async () => {
    await ledger.invoke(HOSPITAL, archives, 'anchorArchive', archiveJson());
    const other = JSON.parse(await ledger.invoke(HOSPITAL2, archives, 'anchorArchive', archiveJson()));
    expect(other.created).to.equal(true);
    expect(other.archive.issuer).to.equal(HOSPITAL2);
    expect(JSON.parse(await ledger.query(SPONSOR, archives, 'readArchive', HOSPITAL2, 'scans-2019')).txId).to.equal(other.archive.txId);
  });

  it('only hospitals anchor archives; insurers, sponsors and outsiders are refused and nothing is written', async () => {
    for (const org of [INSURER, SPONSOR]) await expectCode(ledger.invoke(org, archives, 'anchorArchive', archiveJson()), 'FORBIDDEN_ORG_TYPE');
    await expectCode(ledger.invoke('StrangerMSP', archives, 'anchorArchive', archiveJson()), 'ORG_NOT_IN_CONSORTIUM');
    await expectCode(ledger.query('StrangerMSP', archives, 'readArchive', HOSPITAL, 'scans-2019'), 'ORG_NOT_IN_CONSORTIUM');
    expect(ledger.committed.map((t) => t.fcn)).to.deep.equal(['Identity:initConsortium']);
  });

  it('refuses malformed archives with codes and writes nothing', async () => {
    const cases: [string, string][] = [
      ['', 'INVALID_ARGUMENT'],
      ['{', 'INVALID_JSON'],
      ['[]', 'INVALID_ARGUMENT'],
      [archiveJson({ patientRef: 'ab'.repeat(32) }), 'UNKNOWN_FIELD'],
      [archiveJson({ archiveId: '' }), 'INVALID_ARGUMENT'],
      [archiveJson({ archiveId: 'has space' }), 'INVALID_ARGUMENT'],
      [archiveJson({ archiveId: 'a\u0000b' }), 'INVALID_ARGUMENT'],
      [archiveJson({ archiveId: 'x'.repeat(121) }), 'INVALID_ARGUMENT'],
      [archiveJson({ root: ROOT.toUpperCase() }), 'INVALID_ARGUMENT'],
      [archiveJson({ root: ROOT.slice(2) }), 'INVALID_ARGUMENT'],
      [archiveJson({ count: 0 }), 'INVALID_ARGUMENT'],
      [archiveJson({ count: 1.5 }), 'INVALID_ARGUMENT'],
      [archiveJson({ count: '10' }), 'INVALID_ARGUMENT'],
      [archiveJson({ count: 2 ** 30 + 1 }), 'INVALID_ARGUMENT'],
      [archiveJson({ category: 'has space' }), 'INVALID_ARGUMENT'],
      [archiveJson({ category: null }), 'INVALID_ARGUMENT'],
      [JSON.stringify({ root: ROOT, count: 1 }), 'INVALID_ARGUMENT'],
    ];
    for (const [json, code] of cases) await expectCode(ledger.invoke(HOSPITAL, archives, 'anchorArchive', json), code);
    expect(ledger.committed).to.have.length(1);
    // The longest id and the largest archive the gateway's tree holds are accepted.
    expect(JSON.parse(await ledger.invoke(HOSPITAL, archives, 'anchorArchive', archiveJson({ archiveId: 'x'.repeat(120) }))).created).to.equal(true);
    expect(JSON.parse(await ledger.invoke(HOSPITAL, archives, 'anchorArchive', archiveJson({ count: 2 ** 30 }))).created).to.equal(true);
  });

  it('any member reads an archive by issuer and id; an unknown one is null; bad arguments are refused', async () => {
    const { archive } = JSON.parse(await ledger.invoke(HOSPITAL, archives, 'anchorArchive', archiveJson()));
    for (const org of [HOSPITAL, HOSPITAL2, INSURER, SPONSOR]) {
      expect(JSON.parse(await ledger.query(org, archives, 'readArchive', HOSPITAL, 'scans-2019'))).to.deep.equal(archive);
      expect(JSON.parse(await ledger.query(org, archives, 'readArchive', HOSPITAL, 'scans-2020'))).to.equal(null);
      expect(JSON.parse(await ledger.query(org, archives, 'readArchive', HOSPITAL2, 'scans-2019'))).to.equal(null);
    }
    await expectCode(ledger.query(INSURER, archives, 'readArchive', 'not an msp', 'scans-2019'), 'INVALID_ARGUMENT');
    await expectCode(ledger.query(INSURER, archives, 'readArchive', HOSPITAL, ''), 'INVALID_ARGUMENT');
  });
});
