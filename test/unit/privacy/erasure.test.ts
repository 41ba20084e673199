import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_STORE_FILE, MasterKey, PatientKeyStore, type PrivacyError } from '../../../gateway/src/privacy';
import { masterKeyBytes } from '../../../gateway/src/privacy/master-key';
import { deriveKeyring, hmacSha256 } from '../../../gateway/src/privacy/sealing';
import { parseStore, serializeWithMac } from '../../../gateway/src/privacy/store-format';
import { containsAnyEncoding, encodings, expectCode, openStore, recordingRandom, tempStateDir } from './helpers';

interface FileShape {
  entries: Record<string, { g: number; key: string }>;
  erased: (string | { index: string; erasureId: string })[];
}

describe('privacy: erasure by crypto-shredding', () => {
  const state = tempStateDir();
  const file = path.join(state.dir, DEFAULT_STORE_FILE);
  const master = MasterKey.generate();
  const recorder = recordingRandom();
  const ids = ['H-000101', 'H-000102', '홍길동-19800101', '900101-1234567', 'H-000105'];
  const target = '900101-1234567';
  let store: PatientKeyStore;
  const refs = new Map<string, string>();
  const keys = new Map<string, Buffer>();
  /** The target's erasure: its random id and its tombstone's index. */
  let targetErasure: { index: string; erasureId: string };

  before(async () => {
    store = await openStore(state.dir, master, { randomBytes: recorder.random, now: () => new Date('2025-01-02T03:04:05.678Z') });
    for (const id of ids) {
      // One at a time, so the key drawn last is this patient's.
      refs.set(id, (await store.registerPatient(id)).patientRef);
      keys.set(id, recorder.keys[recorder.keys.length - 1]);
    }
  });

  after(async () => {
    await store.close();
    state.remove();
  });

  it('destroys the key, rewrites the file, and leaves other patients untouched', async () => {
    const before = readFileSync(file);
    const beforeDoc = JSON.parse(before.toString()) as FileShape;
    expect(Object.keys(beforeDoc.entries)).to.have.length(ids.length);

    const record = await store.erasePatient(target);

    const after = readFileSync(file);
    const afterDoc = JSON.parse(after.toString()) as FileShape;
    const removed = Object.keys(beforeDoc.entries).filter((i) => !(i in afterDoc.entries));
    expect(removed).to.have.length(1);
    expect(Object.keys(afterDoc.entries)).to.have.length(ids.length - 1);
    // the tombstone is the index and the erasure's random id, nothing more
    targetErasure = { index: removed[0], erasureId: record.erasureId };
    expect(afterDoc.erased).to.deep.equal([targetErasure]);
    const sealedKey = beforeDoc.entries[removed[0]].key;
    expect(after.toString().includes(sealedKey), 'the sealed key is gone from the file').to.equal(false);
    expect(containsAnyEncoding(after, keys.get(target)!), 'no plaintext key').to.equal(false);

    for (const id of ids.filter((x) => x !== target)) expect(store.patientRef(id)).to.equal(refs.get(id));
    expect(record.keysDestroyed).to.equal(1);
    expect(record.erasedAt).to.equal('2025-01-02T03:04:05.678Z');
  });

  it('then refuses to derive the ref, to re-register silently, or to erase twice', async () => {
    await expectCode(() => store.patientRef(target), 'PATIENT_KEY_ERASED', 'register them again explicitly');
    await expectCode(() => store.patientRef(` ${target} `), 'PATIENT_KEY_ERASED'); // same canonical id
    await expectCode(() => store.ensurePatientRef(target), 'PATIENT_KEY_ERASED');
    await expectCode(() => store.registerPatient(target), 'PATIENT_KEY_ERASED');
    await expectCode(() => store.erasePatient(target), 'PATIENT_KEY_ERASED', 'already been erased');
    expect(store.patientStatus(target)).to.equal('erased');
    expect(store.status()).to.include({ activePatients: ids.length - 1, erasedPatients: 1 });
  });

  it('the erasure record identifies the erasure, not the patient', async () => {
    const other = 'H-000105';
    const ref = refs.get(other)!;
    const before = JSON.parse(readFileSync(file, 'utf8')) as FileShape;
    const record = await store.erasePatient(other);
    expect(Object.keys(record).sort()).to.deep.equal(['erasedAt', 'erasureId', 'keysDestroyed']);
    expect(record.erasureId).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const text = JSON.stringify(record);
    const forbidden = [other, ref, ...Object.keys(before.entries), ...Object.values(before.entries).map((e) => e.key)];
    for (const value of [other, ref]) {
      for (const digest of [createHash('sha256').update(value).digest(), Buffer.from(ref, 'hex')]) forbidden.push(...encodings(digest));
    }
    for (const value of forbidden) expect(text.includes(value), `record must not contain ${value.slice(0, 10)}…`).to.equal(false);
    for (const key of keys.values()) expect(containsAnyEncoding(Buffer.from(text), key)).to.equal(false);
    const second = await store.erasePatient('H-000101');
    expect(second.erasureId).not.to.equal(record.erasureId);
  });

  it('stays erased across a restart, and the others keep their refs; erasing again names the earlier erasure', async () => {
    await store.close();
    store = await PatientKeyStore.open({ stateDir: state.dir, masterKey: master });
    await expectCode(() => store.patientRef(target), 'PATIENT_KEY_ERASED');
    const again = (await expectCode(() => store.erasePatient(target), 'PATIENT_KEY_ERASED')) as PrivacyError;
    expect(again.erasureId).to.equal(targetErasure.erasureId);
    expect(store.patientRef('H-000102')).to.equal(refs.get('H-000102'));
    expect(store.patientRef('홍길동-19800101')).to.equal(refs.get('홍길동-19800101'));
  });

  it('re-registration after erasure must be explicit, first confirms the erasure\'s ledger record, and yields a new, unrelated ref', async () => {
    const fileBefore = readFileSync(file);
    // Without a confirmation, or when it fails, the tombstone (and its erasure id) stays.
    await expectCode(() => store.registerPatient(target, { afterErasure: true }), 'PATIENT_KEY_ERASED', 'ledger record');
    const down = new Error('the ledger cannot confirm it');
    const refused = await store.registerPatient(target, { afterErasure: true, confirmErasureRecorded: async () => Promise.reject(down) }).catch((err: unknown) => err);
    expect(refused).to.equal(down);
    expect(store.patientStatus(target)).to.equal('erased');
    expect(readFileSync(file).equals(fileBefore)).to.equal(true);

    const confirmed: string[] = [];
    const again = await store.registerPatient(target, { afterErasure: true, confirmErasureRecorded: async (erasureId) => void confirmed.push(erasureId) });
    expect(confirmed).to.deep.equal([targetErasure.erasureId]);
    expect(again.created).to.equal(true);
    expect(again.patientRef).not.to.equal(refs.get(target));
    expect(store.patientRef(target)).to.equal(again.patientRef);
    expect(store.patientStatus(target)).to.equal('active');
    // ... and it can be erased again.
    await store.erasePatient(target);
    await expectCode(() => store.patientRef(target), 'PATIENT_KEY_ERASED');
  });

  it('refuses to erase a patient this org never registered', async () => {
    await expectCode(() => store.erasePatient('H-999999'), 'PATIENT_NOT_REGISTERED', 'nothing to erase');
    expect(store.patientStatus('H-999999')).to.equal('unknown');
    await expectCode(() => store.patientRef('H-999999'), 'PATIENT_NOT_REGISTERED');
  });

  it('reads fail from the moment erasure is requested, before the write completes', async () => {
    const id = 'H-000200';
    await store.registerPatient(id);
    const pending = store.erasePatient(id);
    await expectCode(() => store.patientRef(id), 'PATIENT_KEY_ERASED');
    await pending;
  });

  it('if the write fails, the erasure is not made and the key keeps working', async () => {
    const id = 'H-000300';
    const ref = (await store.registerPatient(id)).patientRef;
    const { renameSync } = await import('node:fs');
    const moved = `${state.dir}.away`;
    renameSync(state.dir, moved); // the state folder vanishes: the atomic write cannot happen
    try {
      await expectCode(() => store.erasePatient(id), 'STORE_WRITE_FAILED', 'the change was not made');
      await expectCode(() => store.registerPatient('H-000301'), 'STORE_WRITE_FAILED');
    } finally {
      renameSync(moved, state.dir);
    }
    expect(store.patientRef(id)).to.equal(ref);
    expect(store.patientStatus('H-000301')).to.equal('unknown');
    await store.erasePatient(id);
    await expectCode(() => store.patientRef(id), 'PATIENT_KEY_ERASED');
  });

  it('stores written before erasure ids were kept (bare-index tombstones) parse in their one byte form; a malformed id is refused', () => {
    const text = readFileSync(file, 'utf8');
    const { index, erasureId } = (JSON.parse(text) as FileShape).erased.find((t) => typeof t !== 'string') as { index: string; erasureId: string };
    const tombstone = `{"index":"${index}","erasureId":"${erasureId}"}`;
    expect(text).to.include(tombstone);
    const legacy = text.replace(tombstone, `"${index}"`);
    const parsed = parseStore(Buffer.from(legacy));
    expect(parsed.doc.erased.get(index)).to.equal(null);
    // The body (the MAC input) is byte for byte what the old gateway wrote, so its MAC still verifies.
    expect(serializeWithMac(parsed.body, parsed.macGeneration, parsed.mac)).to.equal(legacy);
    expect(() => parseStore(Buffer.from(text.replace(erasureId, erasureId.toUpperCase())))).to.throw(/^STORE_CORRUPT: .*erasureId/);
  });

  it('a tombstone from before ids were kept names no erasure to confirm: afterErasure re-registers as before', async () => {
    await store.close();
    const text = readFileSync(file, 'utf8');
    const legacy = text.replace(/\{"index":"([^"]+)","erasureId":"[^"]+"\}/g, '"$1"');
    expect(legacy).to.not.include('erasureId');
    const parsed = parseStore(Buffer.from(legacy));
    const ring = deriveKeyring(masterKeyBytes(master), parsed.doc.storeId, parsed.macGeneration);
    writeFileSync(file, serializeWithMac(parsed.body, parsed.macGeneration, hmacSha256(ring.macKey, parsed.body)));
    store = await PatientKeyStore.open({ stateDir: state.dir, masterKey: master });
    expect(store.patientStatus(target)).to.equal('erased');
    const again = await store.registerPatient(target, { afterErasure: true });
    expect(again.created).to.equal(true);
    expect(store.patientStatus(target)).to.equal('active');
  });
});
