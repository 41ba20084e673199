/**
 * The `medprov` CLI on the real network (issue 13): every command as a child process against the
 * running gateways of the shared test network (test-network.ts) — status, hash, anchor (a file,
 * a folder in batches, a folder with a manifest, a batch the real chaincode refuses part-way),
 * verify (with blocks, --salt, every verdict), history, receipt and verify-receipt (offline and on
 * the local EVM chain), and the patient's key create, patient register, consent grant / list /
 * revoke and access-log, with the Insurer's consent-checked access in between.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { SALT_NOTE } from '../../../gateway/src/records/service';
import { runCli, type CliRun } from '../../unit/support/cli-process';
import { BlockReader, call, localChain, receiptOf, sha256, uploadForm, verifyUntil, write, type Gw } from './flows';
import { stopTestNetwork, testNetwork, type TestNetwork } from './test-network';

// The network is shared by every real-network spec file of the mocha run: stopped once, at the end.
after(async () => {
  await stopTestNetwork();
});

const DISCHARGE = 'loinc:18842-5';
const LAB = 'loinc:11502-2';
const PASSWORD = 'correct horse battery staple';

describe('real network: the medprov CLI (child processes) against the gateways', function () {
  this.timeout(900_000);
  const run = randomBytes(4).toString('hex');
  let net: TestNetwork;
  let dir: string;
  let home: string;
  let reader: BlockReader;
  let hospital: Gw;
  let insurer: Gw;
  let asOfficer: string[];
  let asClaims: string[];
  const single = { file: '', recordId: `cli-adm-${run}`, txId: '', blockNumber: '' };
  const patientId = `MRN-CLI-${run}`;
  let keyFile: string;
  let grantId: string;

  const cli = (args: string[], env: Record<string, string> = {}): Promise<CliRun> => runCli(args, { home, env });
  const json = (r: CliRun): any => {
    expect(r.code, r.stderr).to.equal(0);
    return JSON.parse(r.stdout);
  };
  const asPatient = (args: string[]): Promise<CliRun> => cli([...args, '--gateway', hospital.url, '--key', keyFile], { MEDPROV_KEY_PASSWORD: PASSWORD });
  const insurerAccess = async (recordId: string): Promise<{ decision: string; reason?: string }> => {
    const res = await call(insurer, 'POST', '/v1/access', { issuer: 'HospitalMSP', recordId, purpose: 'claims' });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    return res.body;
  };

  before(async () => {
    net = await testNetwork();
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-net-cli-'));
    home = path.join(dir, 'home');
    mkdirSync(home);
    hospital = net.gateway('Hospital', 'records-officer');
    insurer = net.gateway('Insurer', 'claims-officer');
    asOfficer = ['--gateway', hospital.url, '--api-key', hospital.key];
    asClaims = ['--gateway', insurer.url, '--api-key', insurer.key];
    reader = await BlockReader.connect(net.network.gatewaySettings('Insurer').fabric);
    keyFile = path.join(dir, 'patient.key.json');
  });

  after(() => {
    reader?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('status: each gateway is ok and knows whose key it is (flags, or the environment)', async () => {
    for (const [org, role] of [
      ['Hospital', 'records-officer'],
      ['Insurer', 'claims-officer'],
      ['Sponsor', 'research-officer'],
    ] as const) {
      const gw = net.gateway(org, role);
      const out = json(await cli(['status', '--json'], { MEDPROV_GATEWAY_URL: gw.url, MEDPROV_API_KEY: gw.key }));
      expect(out.health).to.include({ status: 'ok', org: `${org}MSP` });
      expect(out.health.ledger.ready).to.equal(true);
      expect(out.whoami.user.role).to.equal(role);
    }
    const text = await cli(['status', ...asOfficer]);
    expect(text.code, text.stderr).to.equal(0);
    expect(text.stdout).to.include('HospitalMSP (hospital)').and.include('(records-officer)');
  });

  it('anchor a file: created with its block (the block holds the transaction); again: already anchored; hash prints the same SHA-256', async () => {
    single.file = path.join(dir, 'admission-note.pdf');
    writeFileSync(single.file, `%PDF-1.7 admission note ${run}\n${randomBytes(64).toString('hex')}`);
    const out = json(await cli(['anchor', single.file, '--record-id', single.recordId, '--patient-id', patientId, '--category', DISCHARGE, '--json', ...asOfficer]));
    expect(out.created).to.equal(true);
    expect(out.anchor).to.include({ recordId: single.recordId, issuer: 'HospitalMSP', version: 1, docHash: sha256(readFileSync(single.file)) });
    single.txId = out.anchor.txId;
    single.blockNumber = out.blockNumber;
    expect((await reader.blockOfTx(single.txId)).toString()).to.equal(single.blockNumber);
    const again = await cli(['anchor', single.file, '--record-id', single.recordId, '--patient-id', patientId, '--category', DISCHARGE, ...asOfficer]);
    expect(again.code, again.stderr).to.equal(0);
    expect(again.stdout).to.match(/^already anchored /);
    const hash = await cli(['hash', single.file]);
    expect(hash.stdout).to.equal(`${sha256(readFileSync(single.file))}  ${single.file}\n`);
  });

  it('verify a file at the Insurer: ORIGINAL with its block (exit 0); a changed byte: UNKNOWN with the note (exit 1)', async () => {
    await verifyUntil(insurer, { docHash: sha256(readFileSync(single.file)) }, 'ORIGINAL');
    const ok = await cli(['verify', single.file, ...asClaims]);
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.stdout).to.match(/^ORIGINAL /).and.include('HospitalMSP').and.include(single.recordId);
    expect(ok.stdout).to.match(new RegExp(`^\\s+txId\\s+${single.txId}$`, 'm')).and.match(new RegExp(`^\\s+block\\s+${single.blockNumber}$`, 'm'));
    const changed = path.join(dir, 'admission-note-edited.pdf');
    const bytes = readFileSync(single.file);
    bytes[10]! ^= 0x01;
    writeFileSync(changed, bytes);
    const bad = await cli(['verify', changed, '--json', ...asClaims]);
    expect(bad.code).to.equal(1);
    expect(JSON.parse(bad.stdout)).to.deep.equal({ file: changed, verdict: 'UNKNOWN', docHash: sha256(bytes), note: SALT_NOTE });
  });

  it('anchor a folder in batches (one ledger transaction each) and with a CSV manifest; verify the folder at the Insurer: every file ORIGINAL in the block of its batch', async () => {
    const folder = path.join(dir, 'exports');
    for (let i = 0; i < 120; i++) {
      const sub = path.join(folder, `part-${i % 3}`);
      mkdirSync(sub, { recursive: true });
      writeFileSync(path.join(sub, `doc-${String(i).padStart(3, '0')}.txt`), `discharge summary ${run} ${i}\n`);
    }
    const out = json(await cli(['anchor', folder, '--patient-id', patientId, '--category', DISCHARGE, '--record-prefix', `exp-${run}/`, '--batch-size', '50', '--json', ...asOfficer]));
    expect(out).to.include({ files: 120, batches: 3, anchored: 120, existing: 0 });
    expect(out.records[0]).to.include({ file: 'part-0/doc-000.txt', recordId: `exp-${run}/part-0/doc-000.txt`, issuer: 'HospitalMSP', version: 1, status: 'active' });
    const txIds = [...new Set(out.records.map((r: { txId: string }) => r.txId))] as string[];
    expect(txIds).to.have.length(3);

    // The Insurer's index follows the events: once the last file is ORIGINAL there, the folder is checked in one run.
    await verifyUntil(insurer, { docHash: out.records[119].docHash }, 'ORIGINAL');
    const verdicts = json(await cli(['verify', folder, '--json', ...asClaims]));
    expect(verdicts).to.deep.include({ ok: true, files: 120, verdicts: { ORIGINAL: 120 } });
    const blockOf = new Map<string, string>();
    for (const txId of txIds) blockOf.set(txId, (await reader.blockOfTx(txId)).toString());
    for (const r of verdicts.results) {
      expect(r.issuer).to.equal('HospitalMSP');
      expect(r.blockNumber, r.file).to.equal(blockOf.get(r.txId));
    }

    // A manifest: only the files it lists, with their own patient ids, record ids and categories.
    const scans = path.join(dir, 'scans');
    mkdirSync(path.join(scans, 'ward 3'), { recursive: true });
    writeFileSync(path.join(scans, 'a.pdf'), `scan a ${run}`);
    writeFileSync(path.join(scans, 'ward 3', 'b.pdf'), `scan b ${run}`);
    writeFileSync(path.join(scans, 'not-listed.pdf'), `scan c ${run}`);
    const manifest = path.join(dir, 'scans.csv');
    writeFileSync(manifest, `path,patientId,recordId,category\na.pdf,${patientId},,\n"ward 3/b.pdf","${patientId}-2",ward3-b-${run},${LAB}\n`);
    const scanned = json(await cli(['anchor', scans, '--manifest', manifest, '--category', DISCHARGE, '--json', ...asOfficer]));
    expect(scanned).to.include({ files: 2, batches: 1, anchored: 2, existing: 0 });
    expect(scanned.records.map((r: { recordId: string; docHash: string }) => [r.recordId, r.docHash])).to.deep.equal([
      ['a.pdf', sha256(`scan a ${run}`)],
      [`ward3-b-${run}`, sha256(`scan b ${run}`)],
    ]);
    const history = json(await cli(['history', 'HospitalMSP', `ward3-b-${run}`, '--json', ...asOfficer]));
    expect(history.versions).to.have.length(1);
    expect(history.versions[0]).to.include({ category: LAB, version: 1, status: 'active' });
    const unlisted = await cli(['verify', path.join(scans, 'not-listed.pdf'), ...asClaims]);
    expect(unlisted.code).to.equal(1);
    expect(unlisted.stdout).to.match(/^UNKNOWN /);
  });

  it('a batch the chaincode refuses part-way exits 4 with its code and says what was anchored before it', async () => {
    const folder = path.join(dir, 'refused');
    mkdirSync(folder);
    for (let i = 0; i < 30; i++) writeFileSync(path.join(folder, `f-${String(i).padStart(2, '0')}.txt`), `refused batch ${run} ${i}`);
    // The record that f-15.txt would become already holds another document: the chaincode refuses the whole second batch.
    const other = path.join(dir, 'other-f-15.txt');
    writeFileSync(other, `another document ${run}`);
    const first = await cli(['anchor', other, '--record-id', `ref-${run}/f-15.txt`, '--patient-id', patientId, '--category', DISCHARGE, ...asOfficer]);
    expect(first.code, first.stderr).to.equal(0);
    const r = await cli(['anchor', folder, '--patient-id', patientId, '--category', DISCHARGE, '--record-prefix', `ref-${run}/`, '--batch-size', '10', ...asOfficer]);
    expect(r.code, r.stdout + r.stderr).to.equal(4);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.include('Batch 2 of 3 (f-10.txt … f-19.txt)').and.include('the 10 records before it are anchored').and.include('RECORD_EXISTS').and.include(`record ref-${run}/f-15.txt already exists`);
    await verifyUntil(insurer, { docHash: sha256(`refused batch ${run} 9`) }, 'ORIGINAL');
    const verify = await cli(['verify', path.join(folder, 'f-09.txt'), path.join(folder, 'f-10.txt'), '--json', ...asClaims]);
    expect(verify.code).to.equal(1);
    expect(JSON.parse(verify.stdout).verdicts).to.deep.equal({ ORIGINAL: 1, UNKNOWN: 1 });
  });

  it('refusals by the gateway exit 4 with the code: anchoring at the Insurer, a research officer anchoring at the Hospital, an unknown key', async () => {
    const file = path.join(dir, 'claim.pdf');
    writeFileSync(file, `claim attachment ${run}`);
    const insurerAdmin = net.gateway('Insurer', 'admin');
    const atInsurer = await cli(['anchor', file, '--patient-id', 'P-1', '--category', DISCHARGE, '--gateway', insurer.url, '--api-key', insurerAdmin.key]);
    expect(atInsurer.code).to.equal(4);
    expect(atInsurer.stderr).to.match(/FORBIDDEN_(ORG_TYPE|ROLE)/);
    const research = net.gateway('Hospital', 'research-officer');
    const wrongRole = await cli(['anchor', file, '--patient-id', 'P-1', '--category', DISCHARGE, '--gateway', hospital.url, '--api-key', research.key]);
    expect(wrongRole.code).to.equal(4);
    expect(wrongRole.stderr).to.include('FORBIDDEN_ROLE');
    const unknown = await cli(['status', '--gateway', hospital.url, '--api-key', 'not-a-key-of-anyone-here']);
    expect(unknown.code).to.equal(4);
  });

  it('verify --salt: a salted record (uploaded to the Hospital) is UNKNOWN at the Insurer without its salt, ORIGINAL with it; history and verify follow an amendment and a retraction', async () => {
    const lab = Buffer.from(JSON.stringify({ resourceType: 'Observation', code: 'Hct', unit: '%', value: '41.0', run }));
    const labFile = path.join(dir, 'lab-result.json');
    writeFileSync(labFile, lab);
    const anchored = await write(hospital, 'POST', '/v1/records', uploadForm(lab, { recordId: `cli-lab-${run}`, patientId, category: LAB }, 'lab.json'));
    expect(anchored.status, JSON.stringify(anchored.body)).to.equal(201);
    expect(anchored.body.commitment).to.equal('salted');
    const salt = anchored.body.salt as string;
    await verifyUntil(insurer, { docHash: sha256(lab), salt }, 'ORIGINAL');
    const noSalt = await cli(['verify', labFile, ...asClaims]);
    expect(noSalt.code).to.equal(1);
    expect(noSalt.stdout).to.match(/^UNKNOWN /).and.include(SALT_NOTE);
    const withSalt = json(await cli(['verify', labFile, '--salt', salt, '--json', ...asClaims]));
    expect(withSalt).to.deep.include({ verdict: 'ORIGINAL', docHash: sha256(lab), commitment: 'salted', anchoredHash: anchored.body.anchor.docHash, blockNumber: anchored.body.blockNumber });

    // Amend the single file's record (a new document), then retract it: history as the Hospital, verdicts at the Insurer.
    const v2 = path.join(dir, 'admission-note-v2.pdf');
    writeFileSync(v2, `%PDF-1.7 admission note v2 ${run}`);
    const amended = await write(hospital, 'POST', `/v1/records/HospitalMSP/${single.recordId}/versions`, { docHash: sha256(readFileSync(v2)), category: DISCHARGE });
    expect(amended.status, JSON.stringify(amended.body)).to.equal(201);
    await verifyUntil(insurer, { docHash: sha256(readFileSync(single.file)) }, 'SUPERSEDED');
    const old = await cli(['verify', single.file, ...asClaims]);
    expect(old.code).to.equal(1);
    expect(old.stdout).to.match(/^SUPERSEDED /).and.match(new RegExp(`^\\s+block\\s+${single.blockNumber}$`, 'm'));
    const history = await cli(['history', 'HospitalMSP', single.recordId, ...asOfficer]);
    expect(history.code, history.stderr).to.equal(0);
    expect(history.stdout).to.include('2 versions').and.match(/v1\s+superseded/).and.match(/v2\s+active/);

    const retracted = await write(hospital, 'PUT', `/v1/records/HospitalMSP/${single.recordId}/retraction`, { reason: 'entered-in-error' });
    expect(retracted.status, JSON.stringify(retracted.body)).to.equal(200);
    await verifyUntil(insurer, { docHash: sha256(readFileSync(v2)) }, 'RETRACTED');
    const gone = await cli(['verify', v2, '--json', ...asClaims]);
    expect(gone.code).to.equal(1);
    expect(JSON.parse(gone.stdout)).to.deep.include({ verdict: 'RETRACTED', recordId: single.recordId, version: 2 });
    const after = json(await cli(['history', 'HospitalMSP', single.recordId, '--json', ...asOfficer]));
    expect(after.versions.map((v: { status: string }) => v.status)).to.deep.equal(['superseded', 'retracted']);
    expect(after.versions[1].retraction).to.include({ reason: 'entered-in-error' });
  });

  it('key create, patient register at the Hospital, consent grant: consent list shows it active and the Insurer is PERMITted', async () => {
    const created = json(await cli(['key', 'create', keyFile, '--json'], { MEDPROV_KEY_PASSWORD: PASSWORD }));
    expect(created.address).to.match(/^0x[0-9a-fA-F]{40}$/);
    expect(statSync(keyFile).mode & 0o777).to.equal(0o600);

    const registered = json(await cli(['patient', 'register', '--patient-id', patientId, '--key', keyFile, '--gateway', hospital.url, '--json'], { MEDPROV_API_KEY: hospital.key, MEDPROV_KEY_PASSWORD: PASSWORD }));
    expect(registered.created).to.equal(true);
    expect(registered.binding).to.include({ hospital: 'HospitalMSP', patient: created.address });
    expect(registered.binding.txId).to.match(/^[0-9a-f]{64}$/);
    expect(JSON.parse(readFileSync(keyFile, 'utf8')).medprov).to.include({ hospital: 'HospitalMSP', patientRef: registered.binding.patientRef });
    // The records anchored by the CLI for this patient id carry the same patientRef.
    const record = await call(hospital, 'GET', `/v1/records/HospitalMSP/${encodeURIComponent(`exp-${run}/part-0/doc-000.txt`)}`);
    expect(record.body.patientRef).to.equal(registered.binding.patientRef);

    const grant = json(await asPatient(['consent', 'grant', '--to', 'InsurerMSP', '--purpose', 'claims', '--category', DISCHARGE, '--days', '30', '--json']));
    expect(grant.created).to.equal(true);
    expect(grant.grant).to.include({ grantee: 'InsurerMSP', purpose: 'claims', status: 'active', patient: created.address, hospital: 'HospitalMSP' });
    grantId = grant.grant.grantId;
    const list = await asPatient(['consent', 'list']);
    expect(list.code, list.stderr).to.equal(0);
    expect(list.stdout).to.include('1 grant, 1 active').and.match(new RegExp(`${grantId}\\s+active\\s+InsurerMSP\\s+claims\\s+category ${DISCHARGE}`));
    const permitted = await insurerAccess(`exp-${run}/part-1/doc-001.txt`);
    expect(permitted).to.include({ decision: 'PERMIT' });
  });

  it('consent revoke: consent list shows it revoked, the Insurer is DENYed, and access-log shows both decisions', async () => {
    const revoked = await asPatient(['consent', 'revoke', grantId]);
    expect(revoked.code, revoked.stderr).to.equal(0);
    expect(revoked.stdout).to.include(`revoked ${grantId}`);
    const list = json(await asPatient(['consent', 'list', '--json']));
    expect(list.grants).to.have.length(1);
    expect(list.grants[0]).to.include({ grantId, status: 'revoked', effectiveStatus: 'revoked' });
    expect(await insurerAccess(`exp-${run}/part-1/doc-001.txt`)).to.include({ decision: 'DENY', reason: 'REVOKED' });

    const log = json(await asPatient(['access-log', '--json']));
    expect(log.entries.map((e: { decision: string; reason?: string }) => [e.decision, e.reason])).to.deep.equal([
      ['PERMIT', undefined],
      ['DENY', 'REVOKED'],
    ]);
    expect(log.entries[0]).to.include({ accessor: 'InsurerMSP', issuer: 'HospitalMSP', recordId: `exp-${run}/part-1/doc-001.txt`, purpose: 'claims' });
    const text = await asPatient(['access-log']);
    expect(text.code, text.stderr).to.equal(0);
    expect(text.stdout).to.include('2 access-log entries').and.match(/claims\s+PERMIT/).and.match(/claims\s+DENY \(revoked\)/);
  });

  it('receipt saves a checked receipt once a checkpoint covers the anchor; verify-receipt accepts it offline and on the EVM chain, and refuses a changed document or receipt (exit 1)', async () => {
    const rpc = localChain(net.network).rpcUrl;
    // The receipt exists once the Hospital's checkpointer has written a checkpoint covering the anchor (at most ~60 s).
    await receiptOf(insurer, sha256(readFileSync(single.file)));
    const fetched = await cli(['receipt', single.file, ...asClaims]);
    expect(fetched.code, fetched.stderr).to.equal(0);
    expect(fetched.stdout).to.include('verifies');
    const receiptFile = `${single.file}.receipt.json`;
    const saved = JSON.parse(readFileSync(receiptFile, 'utf8'));
    expect(saved.leaf).to.include({ docHash: sha256(readFileSync(single.file)), txId: single.txId, blockNumber: Number(single.blockNumber), version: 1 });
    expect((await cli(['receipt', single.file, ...asClaims])).code, 'never over an existing receipt').to.equal(2);

    const offline = json(await cli(['verify-receipt', receiptFile, single.file, '--json']));
    expect(offline).to.deep.include({ valid: true, reasons: [], checkedOnChain: false });
    const onChain = await cli(['verify-receipt', receiptFile, single.file, '--rpc', rpc]);
    expect(onChain.code, onChain.stdout + onChain.stderr).to.equal(0);
    expect(onChain.stdout).to.match(/^VALID /).and.include('checkpoint recorded on chain');
    // The receipt still proves the anchoring of v1, superseded and retracted since: the log is append-only.
    const changedDoc = path.join(dir, 'changed.pdf');
    writeFileSync(changedDoc, Buffer.concat([readFileSync(single.file), Buffer.from(' ')]));
    expect((await cli(['verify-receipt', receiptFile, changedDoc])).code).to.equal(1);
    const changedReceipt = path.join(dir, 'changed.receipt.json');
    const root: string = saved.checkpoint.root;
    writeFileSync(changedReceipt, JSON.stringify({ ...saved, checkpoint: { ...saved.checkpoint, root: (root[0] === 'a' ? 'b' : 'a') + root.slice(1) } }));
    expect((await cli(['verify-receipt', changedReceipt, single.file])).code).to.equal(1);
    const changedOnChain = await cli(['verify-receipt', changedReceipt, '--rpc', rpc, '--json']);
    expect(changedOnChain.code).to.equal(1);
    expect(JSON.parse(changedOnChain.stdout).valid).to.equal(false);
  });

  it('receipt of a salted record: at the Hospital it carries the salt and verifies on chain; the Insurer has no leaf for the document hash (exit 4)', async () => {
    const labFile = path.join(dir, 'lab-result.json');
    await receiptOf(hospital, sha256(readFileSync(labFile)));
    const out = path.join(dir, 'lab.receipt.json');
    const fetched = await cli(['receipt', labFile, '--out', out, ...asOfficer]);
    expect(fetched.code, fetched.stderr).to.equal(0);
    const saved = JSON.parse(readFileSync(out, 'utf8'));
    expect(saved.salt).to.match(/^[0-9a-f]{64}$/);
    const checked = await cli(['verify-receipt', out, labFile, '--rpc', localChain(net.network).rpcUrl]);
    expect(checked.code, checked.stdout + checked.stderr).to.equal(0);
    expect(checked.stdout).to.include(saved.salt);
    const atInsurer = await cli(['receipt', labFile, '--out', path.join(dir, 'insurer.receipt.json'), ...asClaims]);
    expect(atInsurer.code).to.equal(4);
    expect(atInsurer.stderr).to.include('NOT_IN_ANCHOR_LOG');
  });
});
