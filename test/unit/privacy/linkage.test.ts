import { expect } from 'chai';
import { createHash, createHmac, hash, hkdfSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_STORE_FILE, MasterKey, type PatientKeyStore } from '../../../gateway/src/privacy';
import { containsAnyEncoding, encodings, openStore, recordingRandom, syntheticRrn, tempStateDir } from './helpers';

const PATIENTS = 1000;
const CANDIDATES = 1_000_000;
// Patients are spread through the candidate space: the attacker's dictionary contains every
// real identifier, the worst case for the defender.
const patientIds = Array.from({ length: PATIENTS }, (_, i) => syntheticRrn(i * (CANDIDATES / PATIENTS) + 7));

async function registerAll(store: PatientKeyStore): Promise<string[]> {
  const registrations = await Promise.all(patientIds.map((id) => store.registerPatient(id)));
  return registrations.map((r) => r.patientRef);
}

describe('privacy: linkage resistance', function () {
  this.timeout(60_000);

  const hospitalA = tempStateDir();
  const hospitalB = tempStateDir();
  let storeA: PatientKeyStore;
  let storeB: PatientKeyStore;
  let refsA: string[];
  let refsB: string[];
  const recorder = recordingRandom();

  before(async () => {
    storeA = await openStore(hospitalA.dir, MasterKey.generate(), { randomBytes: recorder.random });
    storeB = await openStore(hospitalB.dir, MasterKey.generate());
    refsA = await registerAll(storeA);
    refsB = await registerAll(storeB);
  });

  after(async () => {
    await storeA?.close();
    await storeB?.close();
    hospitalA.remove();
    hospitalB.remove();
  });

  it('gives every patient a distinct, stable ref in hex', () => {
    expect(new Set(refsA).size).to.equal(PATIENTS);
    for (const ref of refsA) expect(ref).to.match(/^[0-9a-f]{64}$/);
    patientIds.forEach((id, i) => expect(storeA.patientRef(id)).to.equal(refsA[i]));
  });

  it('join: two orgs’ refs for the same 1,000 patients have 0 matches', () => {
    const setA = new Set(refsA);
    expect(refsB.filter((ref) => setA.has(ref))).to.have.length(0);
  });

  it('join: still 0 matches when two orgs were wrongly given the same master key', async () => {
    const shared = MasterKey.generate();
    const dirs = [tempStateDir(), tempStateDir()];
    const stores = [await openStore(dirs[0].dir, shared), await openStore(dirs[1].dir, shared)];
    try {
      const [x, y] = await Promise.all(stores.map((s) => Promise.all(patientIds.slice(0, 200).map((id) => s.ensurePatientRef(id)))));
      const setX = new Set(x);
      expect(y.filter((ref) => setX.has(ref))).to.have.length(0);
    } finally {
      for (const s of stores) await s.close();
      for (const d of dirs) d.remove();
    }
  });

  it('dictionary: 10^6 candidate identifiers, hashed bare and under a guessed key, match none of 1,000 refs', () => {
    const fileText = readFileSync(path.join(hospitalA.dir, DEFAULT_STORE_FILE), 'utf8');
    const parsed = JSON.parse(fileText) as { entries: Record<string, unknown>; erased: string[] };
    // Targets: what a ledger reader sees (refs) and what a thief of the store file sees (indexes).
    const targets = new Set<string>([...refsA, ...refsB]);
    for (const index of Object.keys(parsed.entries)) targets.add(Buffer.from(index, 'base64url').toString('hex'));
    expect(targets.size).to.equal(3 * PATIENTS);

    const guessedKey = Buffer.alloc(32); // an attacker's guess; they do not hold any real key
    let matches = 0;
    let sawRealIdentifier = 0;
    const real = new Set(patientIds);
    for (let i = 0; i < CANDIDATES; i++) {
      const candidate = syntheticRrn(i);
      if (real.has(candidate)) sawRealIdentifier++;
      if (targets.has(hash('sha256', candidate, 'hex'))) matches++;
      if (targets.has(createHmac('sha256', guessedKey).update(candidate).digest('hex'))) matches++;
    }
    expect(sawRealIdentifier, 'the dictionary covers every real identifier').to.equal(PATIENTS);
    expect(matches).to.equal(0);
  });

  it('dictionary: a thief of the master key alone (without the store file) still cannot compute refs', async () => {
    // Refs are under per-patient random keys and the index key under a random seed, both
    // only inside the store file: the master key by itself gives nothing to hash with.
    const raw = randomBytes(32);
    const dir = tempStateDir();
    const store = await openStore(dir.dir, MasterKey.fromBytes(raw));
    try {
      const ids = patientIds.slice(0, 100);
      const refs = new Set(await Promise.all(ids.map((id) => store.ensurePatientRef(id))));
      const derived = [raw, createHash('sha256').update(raw).digest(), Buffer.from(hkdfSync('sha256', raw, Buffer.alloc(0), '', 32))];
      for (const id of ids) {
        for (const key of derived) expect(refs.has(createHmac('sha256', key).update(id).digest('hex'))).to.equal(false);
      }
    } finally {
      await store.close();
      dir.remove();
    }
  });

  it('no bare hashing: the store file holds no identifier, no SHA-256 of one, and no plaintext key', () => {
    const file = readFileSync(path.join(hospitalA.dir, DEFAULT_STORE_FILE));
    const text = file.toString('utf8');
    // 1,000 patient keys plus the index seed were drawn as 32-byte values.
    expect(recorder.keys.length).to.equal(PATIENTS + 1);
    for (const id of patientIds) {
      expect(text.includes(id), 'identifier').to.equal(false);
      expect(text.includes(id.replace('-', '')), 'identifier without hyphen').to.equal(false);
      for (const variant of [id, id.replace('-', '')]) {
        const digest = createHash('sha256').update(variant, 'utf8').digest();
        for (const form of encodings(digest)) expect(text.includes(form), `SHA-256 (${form.slice(0, 8)}…)`).to.equal(false);
      }
    }
    for (const key of recorder.keys) expect(containsAnyEncoding(file, key), 'plaintext key material').to.equal(false);
    for (const ref of refsA) expect(text.includes(ref), 'patientRef').to.equal(false);
  });

  it('the store file is readable by its owner only', async () => {
    const { statSync } = await import('node:fs');
    expect(statSync(path.join(hospitalA.dir, DEFAULT_STORE_FILE)).mode & 0o077).to.equal(0);
  });
});
