/**
 * bench:backup — a gateway backup and its restore at scale (issue 20): a Hospital's folder laid
 * out as the gateway lays it out, with 10^5 patients in its key store (MEDPROV_BENCH_PATIENTS)
 * and an acceptance journal of 10^4 requests, half of them finished (MEDPROV_BENCH_REQUESTS);
 * then, while anchors keep being accepted, one backup as `POST /v1/admin/backups` takes it
 * (journal copied in the writer's turn, key store, users; gzip; X25519 + AES-256-GCM to the
 * operator's key), and its restore (operator key opened with its passphrase, backup checked and
 * decrypted, files written atomically, the key store opened with the master key, as the gateway's
 * start opens it). Prints sizes and times; no thresholds.
 *
 * Run: `npm run bench:backup`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AcceptanceJournal, prepareAnchorRecord } from '../../gateway/src/acceptance';
import { MasterKey, PatientKeyStore } from '../../gateway/src/privacy';
import { openBackup, publicKeyFromRaw } from '../../gateway/src/recovery/backup-format';
import { BACKUP_PATHS, GatewayBackups } from '../../gateway/src/recovery/gateway-backup';
import { createOperatorKey, openOperatorKey } from '../../gateway/src/recovery/operator-key';
import { restoreGatewayState } from '../../gateway/src/recovery/restore';
import { benchCommand } from './lib/real-network';
import { envNumber, fmtInt, printHeader, printTable, runBench } from './lib/report';

const PATIENTS = envNumber('MEDPROV_BENCH_PATIENTS', 100_000);
const REQUESTS = envNumber('MEDPROV_BENCH_REQUESTS', 10_000);
const CHUNK = 5_000;
const PASSPHRASE = 'bench operator passphrase';
const seconds = (t0: number): number => (performance.now() - t0) / 1000;
const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

runBench(async (resources) => {
  printHeader('bench:backup — back up a gateway while it serves, and restore it', `${fmtInt(PATIENTS)} patients, ${fmtInt(REQUESTS)} journalled requests`);
  console.log(`command: ${benchCommand()}`);
  console.log(`date: ${new Date().toISOString()}`);
  const root = mkdtempSync(path.join(os.tmpdir(), 'medprov-bench-backup-'));
  resources.defer(() => rmSync(root, { recursive: true, force: true }));
  const live = path.join(root, 'live');
  const masterKey = MasterKey.generate();
  const t0 = performance.now();
  const keys = await PatientKeyStore.open({ stateDir: path.join(live, 'patient-keys'), masterKey, ifMissing: 'create' });
  resources.defer(() => keys.close().catch(() => undefined));
  for (let i = 0; i < PATIENTS; i += CHUNK) {
    await Promise.all(Array.from({ length: Math.min(CHUNK, PATIENTS - i) }, (_, j) => keys.ensurePatientRef(`MRN-${String(i + j).padStart(8, '0')}`)));
    process.stderr.write(`\r  registering patients: ${fmtInt(Math.min(i + CHUNK, PATIENTS))}`);
  }
  process.stderr.write('\n');
  writeFileSync(path.join(live, 'users.json'), JSON.stringify([{ id: 'hospital-admin', role: 'admin', apiKeySha256: 'a'.repeat(64) }]));
  const journal = await AcceptanceJournal.open({ dir: path.join(live, 'acceptance') });
  resources.defer(() => journal.close().catch(() => undefined));
  const anchorOf = (i: number) =>
    prepareAnchorRecord({ recordId: `rec-${i}`, docHash: i.toString(16).padStart(64, '0'), patientId: `MRN-${String(i % PATIENTS).padStart(8, '0')}`, category: 'loinc:18842-5' }, keys);
  for (let i = 0; i < REQUESTS; i += 1_000) {
    const accepted = await Promise.all(Array.from({ length: Math.min(1_000, REQUESTS - i) }, async (_, j) => journal.accept(await anchorOf(i + j))));
    // Half finished, as a day's journal holds them before compaction.
    await Promise.all(accepted.filter((_, j) => j % 2 === 0).map((a) => journal.recordOutcome(a.id, { status: 'committed', transactionId: 'f'.repeat(64), blockNumber: '1', result: { created: true } })));
  }
  console.log(`setup: ${fmtInt(PATIENTS)} patients and ${fmtInt(REQUESTS)} requests in ${seconds(t0).toFixed(1)} s`);

  const operator = createOperatorKey(PASSPHRASE);
  const backups = new GatewayBackups({ dir: live, binding: { mspId: 'HospitalMSP', channel: 'medprov', consortium: 'b'.repeat(64) }, journal, keys });
  // Anchors keep being accepted while the backup is taken: how long does an accept wait meanwhile?
  let stop = false;
  const acceptMs: number[] = [];
  const traffic = (async () => {
    for (let i = REQUESTS; !stop; i++) {
      const request = await anchorOf(i);
      const a0 = performance.now();
      await journal.accept(request);
      acceptMs.push(performance.now() - a0);
    }
  })();
  await new Promise((r) => setTimeout(r, 200));
  const b0 = performance.now();
  const { bytes, header } = await backups.take(publicKeyFromRaw(operator.publicKey));
  const backupSeconds = seconds(b0);
  stop = true;
  await traffic;
  const storeBytes = header.files.find((f) => f.path === BACKUP_PATHS.keyStore)!.bytes;
  const journalBytes = header.files.find((f) => f.path === BACKUP_PATHS.journal)!.bytes;

  const r0 = performance.now();
  const privateKey = openOperatorKey(operator.keyFile, PASSPHRASE);
  const keySeconds = seconds(r0);
  const d0 = performance.now();
  const contents = openBackup(bytes, privateKey, header);
  const decryptSeconds = seconds(d0);
  const w0 = performance.now();
  const target = path.join(root, 'restored');
  await restoreGatewayState({ dir: target, contents });
  const writeSeconds = seconds(w0);
  const o0 = performance.now();
  const reopened = await PatientKeyStore.open({ stateDir: path.join(target, 'patient-keys'), masterKey, ifMissing: 'fail' });
  const openSeconds = seconds(o0);
  const restoredPatients = reopened.status().activePatients;
  await reopened.close();
  const j0 = performance.now();
  const restoredJournal = await AcceptanceJournal.open({ dir: path.join(target, 'acceptance') });
  const journalSeconds = seconds(j0);
  const restoredRequests = restoredJournal.openReport.entries;
  await restoredJournal.close();

  console.log('');
  printTable(
    ['what', 'figure'],
    [
      ['key store file', `${mib(storeBytes)} (${fmtInt(storeBytes / PATIENTS)} B per patient)`],
      ['journal file', `${mib(journalBytes)} (${fmtInt(REQUESTS)} requests + those accepted meanwhile)`],
      ['backup file (gzip, encrypted)', `${mib(bytes.length)}`],
      ['backup: take (journal copy, key store read, gzip, encrypt)', `${backupSeconds.toFixed(2)} s`],
      ['accepts during the backup', `${fmtInt(acceptMs.length)}, slowest ${Math.max(...acceptMs).toFixed(0)} ms`],
      ['restore: open the operator key (scrypt N=2^15)', `${keySeconds.toFixed(2)} s`],
      ['restore: check and decrypt the backup', `${decryptSeconds.toFixed(2)} s`],
      ['restore: write the files (atomic, fsync)', `${writeSeconds.toFixed(2)} s`],
      ['restore: open the key store with the master key', `${openSeconds.toFixed(2)} s (${fmtInt(restoredPatients)} patients)`],
      ['restore: replay the journal', `${journalSeconds.toFixed(2)} s (${fmtInt(restoredRequests)} requests)`],
      ['restore total', `${(keySeconds + decryptSeconds + writeSeconds + openSeconds + journalSeconds).toFixed(2)} s`],
    ],
  );
});
