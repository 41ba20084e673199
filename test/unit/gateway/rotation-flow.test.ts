/**
 * Issue 8, master key rotation without downtime, through the gateway over HTTP (unit level):
 * the admin triggers it, the new key comes from the file the gateway's configuration names (it
 * never travels over HTTP), and anchors, verifications and registrations keep working while a
 * store with many entries is re-encrypted in small batches.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { IdentityContract } from '../../../chaincode/src';
import { MasterKey, PatientKeyStore } from '../../../gateway/src/privacy';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL, INSURER } from '../chaincode/fixtures';
import { sendTo } from '../support/http';
import { ROLE_KEYS, startOrgGateway, type OrgGateway } from '../support/org-gateways';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const ADMIN = ROLE_KEYS.admin;
const OFFICER = ROLE_KEYS['records-officer'];
const CLAIMS = ROLE_KEYS['claims-officer'];
const ROTATION = '/v1/admin/master-key/rotation';

const send = sendTo;

describe('master key rotation through the gateway (issue 8): admin-triggered, key from configuration, no downtime', function () {
  this.timeout(120_000);
  const ledger = new FakeLedger();
  let dir: string;
  let hospital: OrgGateway;
  let insurer: OrgGateway;
  const PATIENTS = Array.from({ length: 1_000 }, (_, i) => `MRN-${String(i).padStart(5, '0')}`);
  const refs = new Map<string, string>();
  const newKeyHex = randomBytes(32).toString('hex');

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-rotation-'));
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    // Small batches: the rotation takes many committed writes, between which the traffic below runs.
    hospital = await startOrgGateway({ ledger, mspId: HOSPITAL, type: 'hospital', dir, acceptance: true, rotationBatchSize: 4, limits: { perSecond: 1e6, burst: 1e6 } });
    insurer = await startOrgGateway({ ledger, mspId: INSURER, type: 'insurer', dir });
    const registered = await Promise.all(PATIENTS.map((id) => hospital.keys.ensurePatientRef(id)));
    PATIENTS.forEach((id, i) => refs.set(id, registered[i]));
  });
  after(async () => {
    await Promise.all([hospital?.stop(), insurer?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('only the admin may rotate or see the rotation', async () => {
    for (const key of [OFFICER, CLAIMS, ROLE_KEYS.dpo]) {
      for (const method of ['POST', 'GET']) {
        const res = await send(hospital, method, ROTATION, key);
        expect(res.status).to.equal(403);
        expect(res.body.error.code).to.equal('FORBIDDEN_ROLE');
      }
    }
    const idle = await send(hospital, 'GET', ROTATION, ADMIN);
    expect(idle.status).to.equal(200);
    expect(idle.body).to.deep.include({ state: 'idle' });
    expect(idle.body.store).to.include({ currentGeneration: 1, activePatients: PATIENTS.length, entriesAwaitingRotation: 0, rotationRunning: false });
  });

  it('refuses (409) while the next key is missing, readable by others, malformed or weak; the store stays on its key', async () => {
    const file = hospital.nextMasterKeyFile;
    const attempt = async (expected: string) => {
      const res = await send(hospital, 'POST', ROTATION, ADMIN);
      expect(res.status, JSON.stringify(res.body)).to.equal(409);
      expect(res.body.error.code).to.equal(expected);
      expect(JSON.stringify(res.body)).to.not.include(newKeyHex);
    };
    await attempt('MASTER_KEY_MISSING');
    writeFileSync(file, `${newKeyHex}\n`, { mode: 0o644 });
    chmodSync(file, 0o644);
    await attempt('MASTER_KEY_FILE_UNSAFE');
    chmodSync(file, 0o600);
    writeFileSync(file, 'not a key\n');
    await attempt('MASTER_KEY_MALFORMED');
    writeFileSync(file, `${'ab'.repeat(32)}\n`);
    await attempt('MASTER_KEY_WEAK');
    expect(hospital.keys.status().currentGeneration).to.equal(1);
  });

  /** Puts something at the key file's path, asks for a rotation, expects 409 UNSAFE with `sentence`; removes it again. */
  const refused = async (make: (file: string) => void, sentence: RegExp): Promise<void> => {
    const file = hospital.nextMasterKeyFile;
    rmSync(file, { force: true });
    make(file);
    try {
      const res = await send(hospital, 'POST', ROTATION, ADMIN);
      expect(res.status, JSON.stringify(res.body)).to.equal(409);
      expect(res.body.error.code).to.equal('MASTER_KEY_FILE_UNSAFE');
      expect(res.body.error.message).to.match(sentence);
      expect(JSON.stringify(res.body)).to.not.include(newKeyHex);
      expect(hospital.keys.status().currentGeneration).to.equal(1);
    } finally {
      rmSync(file, { recursive: true, force: true });
    }
  };

  it('the key file is opened once and checked through that handle: a symbolic link, even to a private file holding a good key', async () => {
    const target = path.join(dir, 'linked-key');
    writeFileSync(target, `${newKeyHex}\n`, { mode: 0o600 });
    await refused((file) => symlinkSync(target, file), /is a symbolic link; name the key file itself/);
    rmSync(target);
  });

  it('… a FIFO (it would block a plain read, and could feed anything)', async function () {
    if (spawnSync('mkfifo', ['--version'], { stdio: 'ignore' }).error) {
      console.log('      (skipped: this host has no mkfifo command to make a FIFO with)');
      this.skip();
    }
    await refused((file) => {
      const made = spawnSync('mkfifo', ['-m', '600', file]);
      expect(made.status, String(made.stderr)).to.equal(0);
    }, /is not a regular file/);
  });

  it('… a world-readable file', async () => {
    await refused((file) => {
      writeFileSync(file, `${newKeyHex}\n`, { mode: 0o600 });
      chmodSync(file, 0o604);
    }, /may be read by other users of this host \(mode 604\)/);
  });

  it('… a directory (anything but a private regular file is refused)', async () => {
    await refused((file) => mkdirSync(file, { mode: 0o700 }), /is not a regular file/);
  });

  it('rotates while anchors, verifications and registrations go on: every request succeeds, every ref stays the same', async () => {
    writeFileSync(hospital.nextMasterKeyFile, `${newKeyHex}\n`, { mode: 0o600 });
    const started = await send(hospital, 'POST', ROTATION, ADMIN);
    expect(started.status, JSON.stringify(started.body)).to.equal(202);
    expect(started.body.state).to.equal('running');
    expect(started.body.store.rotationRunning).to.equal(true);
    expect(JSON.stringify(started.body)).to.not.include(newKeyHex);
    const twice = await send(hospital, 'POST', ROTATION, ADMIN);
    expect(twice.status).to.equal(409);
    expect(twice.body.error.code).to.equal('ROTATION_IN_PROGRESS');

    const failures: string[] = [];
    let duringRotation = 0;
    const observe = async (what: string, request: Promise<{ status: number; body: any }>, ok: (r: { status: number; body: any }) => boolean) => {
      const res = await request;
      if (!ok(res)) failures.push(`${what}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
      if (hospital.keys.status().entriesAwaitingRotation > 0) duringRotation += 1;
    };
    const traffic: Promise<void>[] = [];
    for (let i = 0; i < 60; i++) {
      // existing patients (their refs are read during the rotation) and newcomers (written under the new key)
      const patientId = i % 2 === 0 ? PATIENTS[i * 7] : `NEW-${i}`;
      const docHash = sha(`rotation doc ${i}`);
      traffic.push(
        observe(`anchor ${i}`, send(hospital, 'POST', '/v1/records', OFFICER, { recordId: `rot-${i}`, docHash, patientId, category: 'loinc:18842-5' }, { prefer: 'wait=20' }), (r) => r.status === 201),
        observe(`registration ${i}`, send(hospital, 'POST', '/v1/patients/registration-requests', OFFICER, { patientId: PATIENTS[i * 11] }), (r) => r.status === 201 && r.body.message?.patientRef === refs.get(PATIENTS[i * 11])),
      );
      if (i > 0) traffic.push(observe(`verification ${i}`, send(insurer, 'POST', '/v1/verifications', CLAIMS, { docHash: sha(`rotation doc ${i - 1}`) }), (r) => r.status === 200));
    }
    const progress: string[] = [];
    traffic.push(
      (async () => {
        for (;;) {
          const res = await send(hospital, 'GET', ROTATION, ADMIN);
          progress.push(res.body.state);
          if (res.body.state !== 'running') return;
          await new Promise((r) => setTimeout(r, 10));
        }
      })(),
    );
    await Promise.all(traffic);
    console.log(`      rotation: ${PATIENTS.length} entries in batches of 4; ${duringRotation} requests answered while entries still awaited re-encryption; ${progress.length} progress reads`);
    expect(failures).to.deep.equal([]);
    // The traffic overlapped the rotation (250 committed batches): requests were answered mid-way.
    expect(duringRotation).to.be.greaterThan(0);

    const done = (await send(hospital, 'GET', ROTATION, ADMIN)).body;
    expect(done.state).to.equal('finished');
    expect(done.report).to.deep.include({ fromGenerations: [1], toGeneration: 2 });
    expect(done.report.reEncrypted).to.be.at.least(PATIENTS.length);
    expect(done.store).to.include({ currentGeneration: 2, entriesAwaitingRotation: 0, rotationRunning: false });
    expect(done.store.liveGenerations).to.deep.equal([2]);
    expect(done.store.retiredGenerations).to.deep.equal([1]);
    expect(done.nextStep).to.include('MEDPROV_MASTER_KEY');
    for (const id of PATIENTS) expect(hospital.keys.patientRef(id), id).to.equal(refs.get(id));
    for (let i = 0; i < 60; i++) {
      const res = await send(insurer, 'POST', '/v1/verifications', CLAIMS, { docHash: sha(`rotation doc ${i}`) });
      expect(res.body.verdict, `doc ${i}`).to.equal('ORIGINAL');
    }
  });

  it('the same key again is refused MASTER_KEY_REUSED; after a restart only the new key opens the store', async () => {
    const again = await send(hospital, 'POST', ROTATION, ADMIN);
    expect(again.status).to.equal(409);
    expect(again.body.error.code).to.equal('MASTER_KEY_REUSED');
    await hospital.stop();
    const stateDir = path.join(dir, HOSPITAL, 'keys');
    let refused: unknown;
    try {
      await PatientKeyStore.open({ stateDir, masterKey: MasterKey.generate() });
    } catch (err) {
      refused = err;
    }
    expect(String(refused)).to.match(/MASTER_KEY_INVALID/);
    const reopened = await PatientKeyStore.open({ stateDir, masterKey: MasterKey.parse(newKeyHex) });
    try {
      expect(reopened.patientRef(PATIENTS[123])).to.equal(refs.get(PATIENTS[123]));
    } finally {
      await reopened.close();
    }
    hospital = undefined as unknown as OrgGateway;
  });
});
