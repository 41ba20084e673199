import { expect } from 'chai';
import { createHmac, randomBytes } from 'node:crypto';
import {
  MAX_IDENTIFIER_LENGTH,
  assertNoDirectIdentifier,
  canonicalPatientId,
  derivePatientRef,
  findDirectIdentifiers,
  looksLikeDirectIdentifier,
} from '../../../gateway/src/privacy';
import { expectCode, syntheticRrn } from './helpers';

describe('privacy: identifiers and patientRef', () => {
  describe('canonicalPatientId', () => {
    it('trims and composes (NFC), so one identifier has one form', () => {
      const decomposed = '\u1112\u1161\u11AB-00123'; // 한 as conjoining jamo
      expect(canonicalPatientId(`  ${decomposed}\u0020`)).to.equal('\uD55C-00123');
      expect(canonicalPatientId('MRN 0042')).to.equal('MRN 0042');
    });

    it('does not fold compatibility forms: distinct identifiers never merge', () => {
      expect(canonicalPatientId('１２３')).not.to.equal(canonicalPatientId('123'));
    });

    it('accepts up to 128 characters, counted in code points', () => {
      expect(canonicalPatientId('환'.repeat(MAX_IDENTIFIER_LENGTH))).to.have.length(MAX_IDENTIFIER_LENGTH);
      expect(canonicalPatientId('😀'.repeat(MAX_IDENTIFIER_LENGTH))).to.have.length(2 * MAX_IDENTIFIER_LENGTH);
    });

    const bad: [string, string][] = [
      ['empty', ''],
      ['whitespace only', ' \t '],
      ['too long', 'x'.repeat(MAX_IDENTIFIER_LENGTH + 1)],
      ['NUL', 'H\u00000001'],
      ['newline', 'H\n0001'],
      ['tab inside', 'H\t0001'],
      ['DEL', 'H\u007f0001'],
      ['C1 control', 'H\u00850001'],
      ['zero-width space', 'H\u200B0001'],
      ['right-to-left override', 'H\u202E0001'],
      ['byte order mark inside', 'H\uFEFF0001'],
      ['no-break space', 'H\u00A00001'],
      ['ideographic space', 'H\u30000001'],
      ['line separator', 'H\u20280001'],
      ['lone surrogate', 'H\uD8000001'],
      ['U+10FFFF', 'H\u{10FFFF}0001'],
      ['U+FFFF', 'H\uFFFF0001'],
      ['private use', 'H\uE0000001'],
    ];
    for (const [name, value] of bad) {
      it(`rejects an identifier with ${name}, without repeating it`, async () => {
        const err = await expectCode(() => canonicalPatientId(value), 'INVALID_IDENTIFIER');
        if (value.trim() !== '') expect(err.message).not.to.include(value.trim());
      });
    }

    it('rejects non-strings', async () => {
      await expectCode(() => canonicalPatientId(42 as unknown as string), 'INVALID_IDENTIFIER', 'number');
      await expectCode(() => canonicalPatientId(null as unknown as string), 'INVALID_IDENTIFIER', 'null');
    });
  });

  describe('derivePatientRef', () => {
    const key = randomBytes(32);

    it('is HMAC-SHA256(patientKey, canonical id) in lower-case hex', () => {
      const expected = createHmac('sha256', key).update('900101-1234567', 'utf8').digest('hex');
      expect(derivePatientRef(key, ' 900101-1234567 ')).to.equal(expected);
      expect(expected).to.match(/^[0-9a-f]{64}$/);
    });

    it('differs between keys and between identifiers', () => {
      expect(derivePatientRef(key, 'A')).not.to.equal(derivePatientRef(randomBytes(32), 'A'));
      expect(derivePatientRef(key, 'A')).not.to.equal(derivePatientRef(key, 'B'));
    });

    it('refuses a key that is not 32 bytes', async () => {
      await expectCode(() => derivePatientRef(randomBytes(16), 'A'), 'INVALID_ARGUMENT', '32 bytes');
    });
  });

  describe('looksLikeDirectIdentifier', () => {
    const positives: [string, string][] = [
      ['RRN with hyphen', '900101-1234567'],
      ['RRN without hyphen', '9001011234567'],
      ['RRN of someone born after 2000', '050315-4123456'],
      ['foreign registration number', '851120-5123456'],
      ['masked RRN (still date of birth and sex)', '900101-1******'],
      ['RRN in Korean text', '환자 주민번호:900101-2234567 확인'],
      ['RRN in full-width digits', '９００１０１－１２３４５６７'],
      ['RRN with an en dash', '900101–1234567'],
      ['synthetic RRN', syntheticRrn(123456)],
      ['mobile number', '010-1234-5678'],
      ['mobile number without separators', '01012345678'],
      ['mobile number with dots', '010.1234.5678'],
      ['mobile number, international', '+82 10-1234-5678'],
      ['mobile number, international with (0)', '+82 (0)10 1234 5678'],
      ['Seoul landline', '02-123-4567'],
      ['Seoul landline in brackets', '(02) 1234-5678'],
      ['regional landline', '031-123-4567'],
      ['internet phone', '070-1234-5678'],
      ['e-mail', 'kim.minji@example.co.kr'],
      ['e-mail in a sentence', 'contact: patient+test@hospital.kr.'],
    ];
    for (const [name, value] of positives) {
      it(`flags a ${name}`, () => expect(looksLikeDirectIdentifier(value), value).to.equal(true));
    }

    const negatives: [string, string][] = [
      ['SHA-256 hex digest', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
      ['digit run inside a hex hash', 'ab01012345678cd9001011234567ef'],
      ['UUID', '3f2b8c1e-9d4a-4b7e-8f00-1a2b3c4d5e6f'],
      ['LOINC code', '11506-3'],
      ['ISO timestamp', '2024-03-01T10:15:30.000Z'],
      ['record id', 'REC-2024-000123'],
      ['MSP id', 'HospitalMSP'],
      ['impossible month', '901301-1234567'],
      ['impossible day', '900132-1234567'],
      ['13 digits in a longer number', '12345678901234567'],
      ['short number', '1234-5678'],
      ['purpose', 'research:TRIAL-2024-07'],
      ['at sign without a domain', 'user@localhost'],
    ];
    for (const [name, value] of negatives) {
      it(`does not flag a ${name}`, () => expect(looksLikeDirectIdentifier(value), value).to.equal(false));
    }

    it('reports kinds, never the matched text', () => {
      expect(findDirectIdentifiers('900101-1234567 / 010-1234-5678 / a@b.kr')).to.deep.equal([
        'resident-registration-number',
        'phone-number',
        'email',
      ]);
    });

    it('assertNoDirectIdentifier names the field and the kind, not the value', async () => {
      const err = await expectCode(() => assertNoDirectIdentifier('recordId', 'RX-010-9876-5432'), 'DIRECT_IDENTIFIER', 'recordId');
      expect(err.message).to.include('a phone number');
      expect(err.message).not.to.include('9876');
      assertNoDirectIdentifier('recordId', 'REC-2024-000123');
    });
  });
});
