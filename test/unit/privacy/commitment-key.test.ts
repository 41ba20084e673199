import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { documentCommitment } from '../../../gateway/src/documents/commitment';
import { MasterKey, PatientKeyStore } from '../../../gateway/src/privacy';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('privacy: the record-commitment key K_org lives in the key store', function () {
  this.timeout(20_000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-korg-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('gives the same salt after master key rotation, restart and erasures; never writes K_org or a salt to the file', async () => {
    const docs = Array.from({ length: 20 }, (_, i) => sha(`{"test":"K","value":"${i}"}`));
    const first = MasterKey.generate();
    let store = await PatientKeyStore.open({ stateDir: dir, masterKey: first, ifMissing: 'create' });
    const before = docs.map((d) => store.documentSalt(d));
    for (let i = 0; i < 10; i++) await store.registerPatient(`MRN-${i}`);
    const second = MasterKey.generate();
    await store.rotateMasterKey(second);
    expect(docs.map((d) => store.documentSalt(d))).to.deep.equal(before);
    await store.erasePatient('MRN-3');
    expect(docs.map((d) => store.documentSalt(d))).to.deep.equal(before);
    await store.close();
    expect(() => store.documentSalt(docs[0]!)).to.throw(/closed/);

    store = await PatientKeyStore.open({ stateDir: dir, masterKey: second });
    try {
      expect(docs.map((d) => store.documentSalt(d))).to.deep.equal(before);
      const file = readFileSync(path.join(dir, 'patient-keys.json'), 'utf8');
      for (const [i, salt] of before.entries()) {
        expect(file).to.not.include(salt);
        expect(file).to.not.include(Buffer.from(salt, 'hex').toString('base64url'));
        expect(file).to.not.include(documentCommitment(salt, docs[i]!));
      }
    } finally {
      await store.close();
    }
  });

  it('differs between organisations (stores), even for the same document', async () => {
    const a = await PatientKeyStore.open({ stateDir: path.join(dir, 'a'), masterKey: MasterKey.generate(), ifMissing: 'create' });
    const b = await PatientKeyStore.open({ stateDir: path.join(dir, 'b'), masterKey: MasterKey.generate(), ifMissing: 'create' });
    try {
      const d = sha('{"test":"HbA1c","value":"5.4%"}');
      expect(a.documentSalt(d)).to.match(/^[0-9a-f]{64}$/);
      expect(a.documentSalt(d)).to.not.equal(b.documentSalt(d));
      expect(a.documentSalt(d)).to.equal(a.documentSalt(d));
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
