import { expect } from 'chai';
import { createHash, createHmac } from 'node:crypto';
import {
  COMMITMENT_LABEL,
  SALT_LABEL,
  commitTo,
  commitmentMatches,
  documentCommitment,
  documentSalt,
} from '../../../gateway/src/documents/commitment';

const sha = (b: string | Buffer): string => createHash('sha256').update(b).digest('hex');
/** The documented byte encoding, written again with node:crypto: label ‖ 0x00 ‖ raw digest. */
const hmacHex = (key: Buffer, label: string, docHash: string): string =>
  createHmac('sha256', key).update(Buffer.concat([Buffer.from(label, 'ascii'), Buffer.from([0]), Buffer.from(docHash, 'hex')])).digest('hex');

const K1 = Buffer.from(Array.from({ length: 32 }, (_, i) => i)); // 00 01 02 … 1f
const K2 = Buffer.alloc(32, 0xab);
const LAB = '{"test":"HbA1c","value":"5.4%"}';

/**
 * Fixed vectors for other verifiers: K_org, the document, its SHA-256, the salt and the
 * commitment (all hex). Reproduce with the encoding in gateway/src/documents/commitment.ts.
 */
const VECTORS = [
  {
    key: K1,
    document: '',
    docHash: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    salt: '43b1f017506d707b53195cf23b3d0460e8924b46d66862feddd871565a4ec932',
    commitment: '6ad5f5d5a501ef21b783dda1c426775a22b4202d735deae2f7f1a8fb88d2fec1',
  },
  {
    key: K1,
    document: LAB,
    docHash: 'c1f0320afe5adb3cb33b14b569f53d364c269d4f59617d017f3b5b5d98c80c33',
    salt: '571c7f410a4d0cb4345923b6d363981e9c455b169e33bfec6646ab5006b01f9c',
    commitment: 'ab2df06ab91bbf9470eb8b46e94a2703ecd1a9f09bdf0d7dac0693264bbdc06a',
  },
  {
    key: K2,
    document: '',
    docHash: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    salt: 'e4fc976d112700d10eeb4a51bda12291b3744cf80d835f52cf6ba3cf87ba674e',
    commitment: '270c7e442cc4003820de3b069db07f78bd7aebc7df6552013ec23e73f2e4b7c2',
  },
  {
    key: K2,
    document: LAB,
    docHash: 'c1f0320afe5adb3cb33b14b569f53d364c269d4f59617d017f3b5b5d98c80c33',
    salt: 'f508a2828365221ecad6cae7879b49315b6456326d69e9ca1b34fd890055efc8',
    commitment: '8ad84a759b14ac1b59a33244f8048bd3449c8d1821e7ae4d27f26ae9b51b6aa9',
  },
];

describe('documents: salted record commitments (byte encoding and vectors)', () => {
  it('matches the fixed vectors', () => {
    for (const v of VECTORS) {
      expect(sha(v.document)).to.equal(v.docHash);
      expect(documentSalt(v.key, v.docHash)).to.equal(v.salt);
      expect(documentCommitment(v.salt, v.docHash)).to.equal(v.commitment);
      expect(commitmentMatches(v.commitment, v.salt, v.docHash)).to.equal(true);
    }
  });

  it('is exactly HMAC-SHA256 over label ‖ 0x00 ‖ the raw digest (checked against node:crypto on random inputs)', () => {
    for (let i = 0; i < 200; i++) {
      const key = createHash('sha256').update(`key-${i}`).digest();
      const docHash = sha(`document ${i}`);
      const salt = documentSalt(key, docHash);
      expect(salt).to.equal(hmacHex(key, SALT_LABEL, docHash));
      expect(documentCommitment(salt, docHash)).to.equal(hmacHex(Buffer.from(salt, 'hex'), COMMITMENT_LABEL, docHash));
    }
  });

  it('separates the two uses: the salt and the commitment differ, and neither is the hash', () => {
    const d = sha(LAB);
    const salt = documentSalt(K1, d);
    expect(new Set([d, salt, documentCommitment(salt, d), documentCommitment(d, d)]).size).to.equal(4);
    // A different key, a different document or a different salt: a different commitment.
    expect(documentSalt(K2, d)).to.not.equal(salt);
    expect(commitmentMatches(documentCommitment(salt, d), documentSalt(K2, d), d)).to.equal(false);
    expect(commitmentMatches(documentCommitment(salt, d), salt, sha(`${LAB} `))).to.equal(false);
  });

  it('refuses malformed inputs instead of hashing them', () => {
    const d = sha(LAB);
    expect(() => documentSalt(K1.subarray(0, 31), d)).to.throw(TypeError);
    expect(() => documentSalt(K1, d.toUpperCase())).to.throw(TypeError);
    expect(() => documentCommitment('00', d)).to.throw(TypeError);
    expect(() => documentCommitment(d, `0x${d}`)).to.throw(TypeError);
    expect(commitmentMatches('not hex', d, d)).to.equal(false);
  });

  it('commitTo: plain keeps the hash and has no salt; salted uses the organisation\'s salt', () => {
    const d = sha(LAB);
    const salts = { documentSalt: (h: string) => documentSalt(K1, h) };
    expect(commitTo(d, 'plain', salts)).to.deep.equal({ ledgerHash: d, commitment: 'plain' });
    expect(commitTo(d, 'salted', salts)).to.deep.equal({ ledgerHash: VECTORS[1]!.commitment, commitment: 'salted', salt: VECTORS[1]!.salt });
  });
});
