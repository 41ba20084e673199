import { expect } from 'chai';
import {
  ageBand,
  ageBandFromBirthDate,
  assertReleasable,
  birthYear,
  checkKAnonymity,
  equivalenceClasses,
  generalise,
  suppressBelowK,
  truncateCode,
} from '../../../gateway/src/privacy';
import { expectCode } from './helpers';

// 10 rows with known classes on (ageBand, sex, region):
//   30-39 F 11 ×4, 30-39 M 11 ×3, 40-49 F 26 ×2, 80-89 M 11 ×1   → k = 1
const rows = [
  ...Array.from({ length: 4 }, (_, i) => ({ patientRef: `p${i}`, age: 31 + i, ageBand: '30-39', sex: 'F', region: '11', category: 'loinc:11506-3' })),
  ...Array.from({ length: 3 }, (_, i) => ({ patientRef: `q${i}`, age: 35 + i, ageBand: '30-39', sex: 'M', region: '11', category: 'loinc:11506-3' })),
  ...Array.from({ length: 2 }, (_, i) => ({ patientRef: `r${i}`, age: 41 + i, ageBand: '40-49', sex: 'F', region: '26', category: 'loinc:18842-5' })),
  { patientRef: 's0', age: 86, ageBand: '80-89', sex: 'M', region: '11', category: 'loinc:11506-3' },
];
const QI = ['ageBand', 'sex', 'region'];

describe('privacy: k-anonymity release check', () => {
  it('computes the equivalence classes and k of a known dataset', () => {
    const classes = equivalenceClasses(rows, QI);
    expect(classes.map((c) => c.size).sort()).to.deep.equal([1, 2, 3, 4]);
    const report = checkKAnonymity(rows, QI, 3);
    expect(report).to.deep.include({ k: 1, rows: 10, classes: 4, rowsBelowK: 3, releasable: false, kMin: 3 });
    expect(report.classesBelowK.map((c) => c.values)).to.deep.equal([
      { ageBand: '80-89', sex: 'M', region: '11' },
      { ageBand: '40-49', sex: 'F', region: '26' },
    ]);
    expect(checkKAnonymity(rows, ['sex'], 2).k).to.equal(4); // F: 6, M: 4
    expect(checkKAnonymity(rows, ['category'], 2).k).to.equal(2);
  });

  it('refuses a release below k with counts, never the small groups’ values', async () => {
    const err = await expectCode(() => assertReleasable(rows, QI, 3), 'RELEASE_BELOW_K');
    expect(err.message).to.include('3 of 10 rows fall in 2 of 4 groups with fewer than k = 3 rows');
    expect(err.message).to.include('ageBand, sex, region');
    expect(err.message).to.include('the smallest group has 1');
    expect(err.message).not.to.match(/80-89|40-49|\b26\b/);
  });

  it('passes a release at or above k', () => {
    const twoClasses = rows.slice(0, 7);
    expect(assertReleasable(twoClasses, QI, 3)).to.deep.include({ k: 3, releasable: true });
    expect(checkKAnonymity(twoClasses, QI, 4).releasable).to.equal(false);
  });

  it('generalisation raises k: exact ages fail, 10-year bands still fail, top-coding at 30 passes', async () => {
    const raw = rows.map(({ patientRef, age, sex, region }) => ({ patientRef, age, sex, region }));
    expect(checkKAnonymity(raw, ['age', 'sex', 'region'], 2).k).to.equal(1);
    const banded = generalise(raw, { age: (v) => ageBand(v as number) });
    expect(checkKAnonymity(banded, ['age', 'sex', 'region'], 2).k).to.equal(1); // the 86-year-old is alone
    await expectCode(() => assertReleasable(banded, ['age', 'sex', 'region'], 2), 'RELEASE_BELOW_K');
    const coarser = generalise(raw, { age: (v) => ageBand(v as number, 10, 30) });
    const report = assertReleasable(coarser, ['age', 'sex', 'region'], 2);
    expect(report.k).to.equal(2);
    const noRegion = generalise(coarser, { region: () => null });
    expect(checkKAnonymity(noRegion, ['age', 'sex', 'region'], 2).k).to.equal(4);
    expect(raw[0]).to.have.property('age', 31); // originals untouched
  });

  it('suppression drops exactly the rows of small groups', () => {
    const { rows: kept, suppressed } = suppressBelowK(rows, QI, 3);
    expect(suppressed).to.equal(3);
    expect(kept).to.have.length(7);
    expect(checkKAnonymity(kept, QI, 3).k).to.equal(3);
  });

  it('counts people, not rows, when told which field names the subject', async () => {
    // One patient with five records looks like a class of 5 rows but is one person.
    const records = Array.from({ length: 5 }, (_, i) => ({ patientRef: 'x', ageBand: '50-59', sex: 'F', visit: i }));
    expect(checkKAnonymity(records, ['ageBand', 'sex'], 5).k).to.equal(5);
    const byPerson = checkKAnonymity(records, ['ageBand', 'sex'], 5, { subjectField: 'patientRef' });
    expect(byPerson).to.deep.include({ k: 1, rowsBelowK: 5, releasable: false });
    await expectCode(() => assertReleasable(records, ['ageBand', 'sex'], 2, { subjectField: 'patientRef' }), 'RELEASE_BELOW_K', 'fewer than k = 2 patients');
    await expectCode(() => checkKAnonymity([{ sex: 'F' }], ['sex'], 2, { subjectField: 'patientRef' }), 'INVALID_ARGUMENT', 'no patientRef');
  });

  it('treats missing values as a value of their own, and keeps 1 and "1" apart', () => {
    const data = [{ a: null }, { a: undefined }, {}, { a: 1 }, { a: '1' }];
    const sizes = equivalenceClasses(data, ['a']).map((c) => c.size);
    expect(sizes).to.deep.equal([3, 1, 1]);
  });

  it('refuses a release that carries direct identifiers in any field', async () => {
    const leaky = rows.map((r, i) => ({ ...r, note: i === 2 ? 'call 010-1234-5678' : 'ok' }));
    const err = await expectCode(() => assertReleasable(leaky, QI, 1 + 1), 'RELEASE_HAS_DIRECT_IDENTIFIER', 'note (1 rows, a phone number)');
    expect(err.message).not.to.include('5678');
  });

  it('has nothing to refuse in an empty release', () => {
    expect(assertReleasable([], QI, 5)).to.deep.include({ k: null, rows: 0, classes: 0, releasable: true });
  });

  it('rejects meaningless arguments', async () => {
    await expectCode(() => checkKAnonymity(rows, QI, 1), 'INVALID_ARGUMENT', 'at least 2');
    await expectCode(() => checkKAnonymity(rows, QI, 2.5), 'INVALID_ARGUMENT');
    await expectCode(() => checkKAnonymity(rows, [], 2), 'INVALID_ARGUMENT', 'at least one');
    await expectCode(() => checkKAnonymity(rows, ['sex', 'sex'], 2), 'INVALID_ARGUMENT', 'distinct');
    await expectCode(() => checkKAnonymity([{ sex: { code: 'F' } }], ['sex'], 2), 'INVALID_ARGUMENT', 'generalise it');
    await expectCode(() => checkKAnonymity([{ age: Number.NaN }], ['age'], 2), 'INVALID_ARGUMENT');
    await expectCode(() => checkKAnonymity(rows, ['patientRef'], 2, { subjectField: 'patientRef' }), 'INVALID_ARGUMENT', 'names the subject');
  });

  describe('generalisation helpers', () => {
    it('ageBand: 10-year bands, top-coded at 90+', () => {
      expect([0, 9, 10, 37, 89, 90, 104].map((a) => ageBand(a))).to.deep.equal(['0-9', '0-9', '10-19', '30-39', '80-89', '90+', '90+']);
      expect(ageBand(37.9)).to.equal('30-39');
      expect(ageBand(85, 20)).to.equal('80-89'); // the band stops below the top code
      expect(ageBand(65, 5, 65)).to.equal('65+');
    });

    it('ageBand rejects impossible ages and widths', async () => {
      await expectCode(() => ageBand(-1), 'INVALID_ARGUMENT');
      await expectCode(() => ageBand(Number.NaN), 'INVALID_ARGUMENT');
      await expectCode(() => ageBand(30, 0), 'INVALID_ARGUMENT');
    });

    it('birthYear and ageBandFromBirthDate (completed years)', async () => {
      expect(birthYear('1990-05-17')).to.equal('1990');
      expect(ageBandFromBirthDate('1990-05-17', '2030-05-16')).to.equal('30-39'); // 39 the day before
      expect(ageBandFromBirthDate('1990-05-17', '2030-05-17')).to.equal('40-49'); // 40 on the birthday
      expect(ageBandFromBirthDate('1930-01-01', '2025-06-01')).to.equal('90+');
      await expectCode(() => birthYear('1990-02-30'), 'INVALID_ARGUMENT', 'YYYY-MM-DD');
      await expectCode(() => birthYear('900101'), 'INVALID_ARGUMENT');
      await expectCode(() => ageBandFromBirthDate('2025-01-02', '2025-01-01'), 'INVALID_ARGUMENT', 'after the reference date');
    });

    it('truncateCode keeps a prefix of a hierarchical code', () => {
      expect(truncateCode('06236', 2)).to.equal('06***');
      expect(truncateCode('1168010100', 5, '')).to.equal('11680');
      expect(truncateCode('AB', 5)).to.equal('AB');
    });
  });
});
