/**
 * Issue 20: backups of a gateway's state and their restore (unit level, real files):
 * - a backup taken while requests are being accepted holds whole journal frames only, every
 *   request acknowledged before it, and every key those requests name;
 * - restore refuses a tampered backup (BACKUP_TAMPERED), one encrypted to another key
 *   (BACKUP_WRONG_KEY), one of another organisation, channel or consortium (BACKUP_FOREIGN), a
 *   running gateway (GATEWAY_RUNNING) and present state (RESTORE_WOULD_OVERWRITE, unless replace,
 *   which moves it aside);
 * - the restored folder opens as the gateway opens it: the same keys and the same journal.
 */
import { expect } from 'chai';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { AcceptanceJournal } from '../../../gateway/src/acceptance';
import { MasterKey, PatientKeyStore } from '../../../gateway/src/privacy';
import { checkBinding, openBackup, readBackupHeader, sealBackup, type BackupBinding } from '../../../gateway/src/recovery/backup-format';
import { isRecoveryError } from '../../../gateway/src/recovery/errors';
import { BACKUP_PATHS, GatewayBackups } from '../../../gateway/src/recovery/gateway-backup';
import { createOperatorKey, openOperatorKey, operatorPublicKey } from '../../../gateway/src/recovery/operator-key';
import { publicKeyFromRaw } from '../../../gateway/src/recovery/backup-format';
import { restoreGatewayState } from '../../../gateway/src/recovery/restore';
import { anchor } from '../acceptance/support';

const BINDING: BackupBinding = { mspId: 'HospitalMSP', channel: 'medprov', consortium: 'a'.repeat(64) };

async function rejects(work: Promise<unknown> | (() => unknown), code: string): Promise<void> {
  try {
    await (typeof work === 'function' ? work() : work);
  } catch (err) {
    expect(isRecoveryError(err), String(err)).to.equal(true);
    expect((err as { code: string }).code, String(err)).to.equal(code);
    return;
  }
  expect.fail(`expected ${code}`);
}

/** A gateway's folder as main.ts lays it out, with its key store and journal open. */
async function gatewayFolder(dir: string, masterKey: MasterKey) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'users.json'), JSON.stringify([{ id: 'hospital-admin', role: 'admin', apiKeySha256: 'b'.repeat(64) }]));
  const keys = await PatientKeyStore.open({ stateDir: path.join(dir, 'patient-keys'), masterKey, ifMissing: 'create' });
  const journal = await AcceptanceJournal.open({ dir: path.join(dir, 'acceptance') });
  return { keys, journal };
}

describe('gateway backups and restores (issue 20)', function () {
  this.timeout(60_000);
  let root: string;
  const operator = createOperatorKey('correct horse battery staple');
  const operatorKey = openOperatorKey(operator.keyFile, 'correct horse battery staple');
  const recipient = publicKeyFromRaw(operator.publicKey);

  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'medprov-backup-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('the operator key file opens with its passphrase only, and names its public key without it', async () => {
    expect(operatorPublicKey(operator.keyFile)).to.equal(operator.publicKey);
    await rejects(() => openOperatorKey(operator.keyFile, 'wrong passphrase here'), 'BACKUP_KEY_INVALID');
    await rejects(() => createOperatorKey('short'), 'BACKUP_KEY_INVALID');
    await rejects(() => openOperatorKey('{"format":"something else"}', 'x'), 'BACKUP_KEY_INVALID');
  });

  it('taken while requests are accepted: whole frames only, every acknowledged request, every key they name; restored, it opens the same', async () => {
    const masterKey = MasterKey.generate();
    const live = path.join(root, 'live');
    const { keys, journal } = await gatewayFolder(live, masterKey);
    const backups = new GatewayBackups({ dir: live, binding: BINDING, journal, keys });
    // Traffic: each request registers its patient's key, then is journalled, as the gateway does.
    const acknowledged: string[] = [];
    let stop = false;
    const traffic = (async () => {
      for (let i = 0; !stop; i++) {
        const patientId = `MRN-${i}`;
        await keys.ensurePatientRef(patientId);
        const request = await anchor(i);
        const { id } = await journal.accept(request);
        acknowledged.push(id);
      }
    })();
    while (acknowledged.length < 10) await new Promise((r) => setTimeout(r, 20));
    const before = new Set(acknowledged);
    const { bytes, header } = await backups.take(recipient);
    const patientsAtBackup = header.summary.activePatients ?? 0;
    await new Promise((r) => setTimeout(r, 100));
    stop = true;
    await traffic;
    expect(before.size).to.be.greaterThan(5);
    expect(header.mspId).to.equal('HospitalMSP');
    expect(header.files.map((f) => f.path).sort()).to.deep.equal([BACKUP_PATHS.journal, BACKUP_PATHS.keyStore, BACKUP_PATHS.users].sort());

    const contents = openBackup(bytes, operatorKey, BINDING);
    const target = path.join(root, 'restored');
    const report = await restoreGatewayState({ dir: target, contents });
    expect(report.files).to.have.length(3);
    // Opens as the gateway opens it: no torn frame to cut, every request acknowledged before the backup is there.
    const restoredJournal = await AcceptanceJournal.open({ dir: path.join(target, 'acceptance') });
    expect(restoredJournal.openReport.truncatedBytes).to.equal(0);
    const restoredIds = new Set(restoredJournal.list().map((e) => e.id));
    for (const id of before) expect(restoredIds.has(id), `request ${id} acknowledged before the backup`).to.equal(true);
    const restoredKeys = await PatientKeyStore.open({ stateDir: path.join(target, 'patient-keys'), masterKey, ifMissing: 'fail' });
    expect(restoredKeys.status().activePatients).to.be.at.least(patientsAtBackup);
    // Every journalled request's patient has its key, the same one: the same patientRef.
    for (const entry of restoredJournal.list()) {
      const i = Number(/rec-(\d+)/.exec(entry.args.join(' '))?.[1]);
      expect(restoredKeys.patientStatus(`MRN-${i}`), `MRN-${i}`).to.equal('active');
      expect(await restoredKeys.ensurePatientRef(`MRN-${i}`)).to.equal(await keys.ensurePatientRef(`MRN-${i}`));
    }
    expect(readFileSync(path.join(target, 'users.json'), 'utf8')).to.equal(readFileSync(path.join(live, 'users.json'), 'utf8'));
    await Promise.all([restoredJournal.close(), restoredKeys.close(), journal.close(), keys.close()]);
  });

  it('refuses a tampered backup: any flipped byte of header or content is BACKUP_TAMPERED (or unreadable), never restored', async () => {
    const bytes = await sealBackup(BINDING, [{ path: 'users.json', data: Buffer.from('[]') }], recipient);
    const { prefixLength } = readBackupHeader(bytes);
    const headerStart = Buffer.from('MEDPROV-GATEWAY-BACKUP 1\n').length;
    for (const at of [headerStart + 20, prefixLength - 3, prefixLength + 1, bytes.length - 1, Math.floor((prefixLength + bytes.length) / 2)]) {
      const copy = Buffer.from(bytes);
      copy[at] ^= 0x01;
      let code: string | undefined;
      try {
        openBackup(copy, operatorKey, BINDING);
      } catch (err) {
        code = (err as { code?: string }).code;
      }
      expect(['BACKUP_TAMPERED', 'BACKUP_UNREADABLE', 'BACKUP_WRONG_KEY'], `byte ${at}`).to.include(code);
    }
    // The header's binding changed to look like another org's (the JSON stays valid): authentication fails.
    const forged = Buffer.from(bytes.toString('latin1').replace('"medprov"', '"medprox"'), 'latin1');
    expect(() => openBackup(forged, operatorKey, { ...BINDING, channel: 'medprox' })).to.throw(/BACKUP_TAMPERED/);
    expect(() => openBackup(bytes.subarray(0, bytes.length - 40), operatorKey, BINDING)).to.throw(/BACKUP_TAMPERED/);
    expect(() => openBackup(Buffer.from('hello'), operatorKey, BINDING)).to.throw(/BACKUP_UNREADABLE/);
  });

  it('refuses a backup encrypted to another operator key (BACKUP_WRONG_KEY) and a foreign one (BACKUP_FOREIGN)', async () => {
    const bytes = await sealBackup(BINDING, [{ path: 'users.json', data: Buffer.from('[]') }], recipient);
    await rejects(() => openBackup(bytes, generateKeyPairSync('x25519').privateKey, BINDING), 'BACKUP_WRONG_KEY');
    await rejects(() => openBackup(bytes, operatorKey, { ...BINDING, mspId: 'InsurerMSP' }), 'BACKUP_FOREIGN');
    await rejects(() => openBackup(bytes, operatorKey, { ...BINDING, channel: 'other' }), 'BACKUP_FOREIGN');
    await rejects(() => openBackup(bytes, operatorKey, { ...BINDING, consortium: 'c'.repeat(64) }), 'BACKUP_FOREIGN');
    expect(() => checkBinding(BINDING, BINDING)).to.not.throw();
    expect(openBackup(bytes, operatorKey, BINDING).files[0]!.data.toString()).to.equal('[]');
  });

  it('refuses to restore over a running gateway (GATEWAY_RUNNING) or present state (RESTORE_WOULD_OVERWRITE); --replace moves it aside', async () => {
    const masterKey = MasterKey.generate();
    const live = path.join(root, 'live');
    const { keys, journal } = await gatewayFolder(live, masterKey);
    const { bytes } = await new GatewayBackups({ dir: live, binding: BINDING, journal, keys }).take(recipient);
    const contents = openBackup(bytes, operatorKey, BINDING);
    // Running: its locks are held.
    await rejects(restoreGatewayState({ dir: live, contents }), 'GATEWAY_RUNNING');
    await Promise.all([journal.close(), keys.close()]);
    // Stopped, state there: refused, nothing touched.
    const storeBefore = readFileSync(path.join(live, BACKUP_PATHS.keyStore));
    await rejects(restoreGatewayState({ dir: live, contents }), 'RESTORE_WOULD_OVERWRITE');
    expect(readFileSync(path.join(live, BACKUP_PATHS.keyStore)).equals(storeBefore)).to.equal(true);
    // Replace: the files that were there are moved aside, not deleted.
    const report = await restoreGatewayState({ dir: live, contents, replace: true });
    expect(report.movedAside).to.be.a('string');
    expect(existsSync(path.join(report.movedAside!, BACKUP_PATHS.keyStore))).to.equal(true);
    expect(readdirSync(live)).to.include(path.basename(report.movedAside!));
    const reopened = await PatientKeyStore.open({ stateDir: path.join(live, 'patient-keys'), masterKey, ifMissing: 'fail' });
    await reopened.close();
  });

  it('refuses a backup whose files would land outside the gateway folder', async () => {
    const bytes = await sealBackup(BINDING, [{ path: '../escape.json', data: Buffer.from('{}') }], recipient);
    await rejects(() => openBackup(bytes, operatorKey, BINDING), 'BACKUP_TAMPERED');
  });
});
