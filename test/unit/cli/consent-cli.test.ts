import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { AccessContract, IdentityContract } from '../../../chaincode/src';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL, INSURER } from '../chaincode/fixtures';
import { closedPort, runCli, type CliRun } from '../support/cli-process';
import { ROLE_KEYS, startOrgGateway, type OrgGateway } from '../support/org-gateways';

/**
 * The patient's side of the `medprov` CLI as a child process against real hospital and insurer
 * gateways (real chaincode on the in-memory stub): key file, registration at the hospital,
 * grant → insurer access PERMIT → revoke → DENY, the patient's listings, and the errors that
 * must stop before the ledger.
 */
const DISCHARGE = 'loinc:18842-5';
const LAB = 'loinc:11502-2';
const PASSWORD = 'correct horse battery staple';
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('medprov consent, access-log, key and patient register (child process against real gateways)', function () {
  this.timeout(120_000);
  const ledger = new FakeLedger();
  let dir: string;
  let home: string;
  let hospital: OrgGateway;
  let insurer: OrgGateway;
  let keyFile: string;
  let address: string;
  let patientRef: string;
  let grantId: string;

  /** As the patient: the hospital's gateway, the key file and its password from the environment. */
  const asPatient = (args: string[], env: Record<string, string> = {}): Promise<CliRun> =>
    runCli([...args, '--gateway', hospital.url, '--key', keyFile], { home, env: { MEDPROV_KEY_PASSWORD: PASSWORD, ...env } });

  /** As the insurer's claims officer: `medprov history` of a hospital record, which needs the patient's consent (and is logged). */
  const insurerHistory = (recordId: string, extra: string[] = []): Promise<CliRun> =>
    runCli(['history', HOSPITAL, recordId, ...extra, '--gateway', insurer.url], { home, env: { MEDPROV_API_KEY: ROLE_KEYS['claims-officer'] } });

  /** Runs the CLI and expects exit 2 with `message` on stderr, no stack trace, and nothing written to the ledger. */
  async function usageError(run: () => Promise<CliRun>, message: string | RegExp): Promise<void> {
    const writes = ledger.writeCount;
    const r = await run();
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stdout).to.equal('');
    if (typeof message === 'string') expect(r.stderr).to.include(message);
    else expect(r.stderr).to.match(message);
    expect(r.stderr).to.not.match(/\n\s+at /);
    expect(ledger.writeCount, 'nothing written to the ledger').to.equal(writes);
  }

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-consent-cli-'));
    home = path.join(dir, 'home');
    mkdirSync(home);
    keyFile = path.join(dir, 'patient.key.json');
    // The CLI signs with this machine's clock, as a patient's computer would; the stub's clock is
    // brought to the same time (a real gateway's transaction time is its wall clock too).
    const wall = Math.floor(Date.now() / 1000);
    if (wall > ledger.now) ledger.advance(wall - ledger.now);
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    const limits = { patientPerSecond: 1000, patientBurst: 1000 };
    hospital = await startOrgGateway({ ledger, mspId: HOSPITAL, type: 'hospital', dir, limits });
    insurer = await startOrgGateway({ ledger, mspId: INSURER, type: 'insurer', dir, limits });
    for (const [recordId, category] of [
      ['adm-2026-0001', DISCHARGE],
      ['lab-2026-0001', LAB],
    ]) {
      const res = await fetch(`${hospital.url}/v1/records`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ROLE_KEYS['records-officer']}`, 'content-type': 'application/json' },
        body: JSON.stringify({ recordId, docHash: sha(`doc ${recordId}`), patientId: 'MRN-1001', category }),
      });
      expect(res.status).to.equal(201);
      patientRef = ((await res.json()) as { anchor: { patientRef: string } }).anchor.patientRef;
    }
  });
  after(async () => {
    await Promise.all([hospital?.stop(), insurer?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('key create writes an encrypted keystore (mode 0600), prints the address and never the key; it refuses to overwrite', async () => {
    const run = await runCli(['key', 'create', keyFile, '--json'], { home, env: { MEDPROV_KEY_PASSWORD: PASSWORD } });
    expect(run.code, run.stderr).to.equal(0);
    const out = JSON.parse(run.stdout);
    expect(out.file).to.equal(keyFile);
    expect(out.address).to.match(/^0x[0-9a-fA-F]{40}$/);
    address = out.address;
    expect(statSync(keyFile).mode & 0o777).to.equal(0o600);
    const stored = readFileSync(keyFile, 'utf8');
    const json = JSON.parse(stored);
    expect(json.version).to.equal(3);
    expect(`0x${json.address}`.toLowerCase()).to.equal(address.toLowerCase());
    expect(stored).to.not.match(/privateKey|mnemonic/i);
    expect(run.stdout + run.stderr).to.not.match(/0x[0-9a-f]{64}/i);

    await usageError(() => runCli(['key', 'create', keyFile], { home, env: { MEDPROV_KEY_PASSWORD: 'another password' } }), 'already exists');
    expect(readFileSync(keyFile, 'utf8')).to.equal(stored);
    await usageError(() => runCli(['key', 'create', path.join(dir, 'k2.json')], { home }), 'MEDPROV_KEY_PASSWORD');
  });

  it('patient register: the records officer binds the key file to the patient; the key file keeps the registration', async () => {
    const run = await runCli(['patient', 'register', '--patient-id', 'MRN-1001', '--key', keyFile, '--gateway', hospital.url, '--json'], {
      home,
      env: { MEDPROV_API_KEY: ROLE_KEYS['records-officer'], MEDPROV_KEY_PASSWORD: PASSWORD },
    });
    expect(run.code, run.stderr).to.equal(0);
    const out = JSON.parse(run.stdout);
    expect(out.created).to.equal(true);
    expect(out.binding).to.include({ hospital: HOSPITAL, patientRef, patient: address });
    expect(run.stdout).to.not.include('MRN-1001');
    expect(JSON.parse(readFileSync(keyFile, 'utf8')).medprov).to.include({ hospital: HOSPITAL, patientRef });
    expect(statSync(keyFile).mode & 0o777).to.equal(0o600);
  });

  it("the insurer's claims officer cannot list a hospital record's history without a purpose: exit 4, CONSENT_REQUIRED, nothing logged", async () => {
    const writes = ledger.writeCount;
    const bare = await insurerHistory('adm-2026-0001');
    expect(bare.code, bare.stderr).to.equal(4);
    expect(bare.stderr).to.include('CONSENT_REQUIRED').and.include('With this command: --purpose claims');
    expect(bare.stdout).to.equal('');
    expect(ledger.writeCount).to.equal(writes);
  });

  it('consent grant signs and submits; consent list shows it active; the insurer is PERMITted', async () => {
    const run = await asPatient(['consent', 'grant', '--to', INSURER, '--purpose', 'claims', '--category', DISCHARGE, '--days', '30', '--json']);
    expect(run.code, run.stderr).to.equal(0);
    const out = JSON.parse(run.stdout);
    expect(out.created).to.equal(true);
    expect(out.grant).to.include({ grantee: INSURER, purpose: 'claims', status: 'active', patient: address, hospital: HOSPITAL, patientRef });
    expect(out.grant.categories).to.deep.equal([DISCHARGE]);
    expect(out.grant.validUntil - out.grant.validFrom).to.be.within(30 * 86_400, 30 * 86_400 + 600);
    grantId = out.grant.grantId;

    const list = await asPatient(['consent', 'list']);
    expect(list.code, list.stderr).to.equal(0);
    expect(list.stdout).to.include('1 grant, 1 active');
    expect(list.stdout).to.match(new RegExp(`${grantId}\\s+active\\s+${INSURER}\\s+claims\\s+category ${DISCHARGE}`));

    // The insurer's claims officer reads the history under that consent (logged: see access-log below).
    const history = await insurerHistory('adm-2026-0001', ['--purpose', 'claims']);
    expect(history.code, history.stderr).to.equal(0);
    expect(history.stdout).to.include(`${HOSPITAL} adm-2026-0001: 1 version`).and.include(`read under the patient's consent of grant ${grantId} for claims; logged in transaction`);
    const json = await insurerHistory('adm-2026-0001', ['--purpose', 'claims', '--json']);
    expect(JSON.parse(json.stdout).access).to.include({ purpose: 'claims', grantId });
  });

  it('consent revoke withdraws it; consent list shows it revoked; the insurer is DENYed', async () => {
    const run = await asPatient(['consent', 'revoke', grantId]);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.include(`revoked ${grantId}`);

    const list = await asPatient(['consent', 'list', '--json']);
    expect(list.code, list.stderr).to.equal(0);
    const grants = JSON.parse(list.stdout).grants;
    expect(grants).to.have.length(1);
    expect(grants[0]).to.include({ grantId, status: 'revoked', effectiveStatus: 'revoked' });

    const denied = await insurerHistory('adm-2026-0001', ['--purpose', 'claims']);
    expect(denied.code).to.equal(4);
    expect(denied.stderr).to.include('CONSENT_DENIED').and.include('revoked');
    expect(denied.stdout).to.equal('');
    const again = await asPatient(['consent', 'revoke', grantId]);
    expect(again.code, again.stderr).to.equal(0);
    expect(again.stdout).to.include('already revoked');
  });

  it('access-log shows the insurer\'s reads: who, which record, purpose, decision, time (table and --json)', async () => {
    const json = await asPatient(['access-log', '--json']);
    expect(json.code, json.stderr).to.equal(0);
    const entries = JSON.parse(json.stdout).entries;
    // the two consented history reads, then the one after the revocation
    expect(entries.map((e: { decision: string; reason?: string }) => [e.decision, e.reason])).to.deep.equal([
      ['PERMIT', undefined],
      ['PERMIT', undefined],
      ['DENY', 'REVOKED'],
    ]);
    expect(entries[0]).to.include({ accessor: INSURER, issuer: HOSPITAL, recordId: 'adm-2026-0001', purpose: 'claims' });

    const text = await asPatient(['access-log']);
    expect(text.code, text.stderr).to.equal(0);
    expect(text.stdout).to.include('3 access-log entries').and.match(/WHEN\s+WHO\s+RECORD\s+PURPOSE\s+DECISION/);
    expect(text.stdout).to.match(new RegExp(`UTC\\s+${INSURER}.*${HOSPITAL} adm-2026-0001 v1\\s+claims\\s+PERMIT`));
    expect(text.stdout).to.match(/claims\s+DENY \(revoked\)/);
  });

  it('access-log shows a disclosure the hospital recorded as "Disclosed by <hospital> to <grantee>", with its decision', async () => {
    const disclosure = { disclosureId: 'cli-disclosure-1', issuer: HOSPITAL, grantee: INSURER, purpose: 'claims', recordIds: ['adm-2026-0001'] };
    await ledger.invoke(HOSPITAL, new AccessContract(), 'discloseRecords', JSON.stringify(disclosure));
    const json = await asPatient(['access-log', '--json']);
    expect(json.code, json.stderr).to.equal(0);
    const entries = JSON.parse(json.stdout).entries;
    expect(entries).to.have.length(4);
    expect(entries[3]).to.include({ kind: 'disclosure', accessor: INSURER, disclosedBy: HOSPITAL, disclosureId: 'cli-disclosure-1', decision: 'DENY', reason: 'REVOKED' });
    const text = await asPatient(['access-log']);
    expect(text.code, text.stderr).to.equal(0);
    expect(text.stdout).to.include('4 access-log entries');
    expect(text.stdout).to.match(new RegExp(`UTC\\s+Disclosed by ${HOSPITAL} to ${INSURER}\\s+${HOSPITAL} adm-2026-0001 v1\\s+claims\\s+DENY \\(revoked\\)`));
  });

  it('a grant with --until and record ids, for research; --until in the past and both --days and --until are usage errors', async () => {
    const run = await asPatient(['consent', 'grant', '--to', INSURER, '--purpose', 'research:TRIAL-1', '--record', 'lab-2026-0001,adm-2026-0001', '--until', '2099-12-31', '--json']);
    expect(run.code, run.stderr).to.equal(0);
    expect(JSON.parse(run.stdout).grant).to.deep.include({ recordIds: ['lab-2026-0001', 'adm-2026-0001'], categories: [], validUntil: Date.parse('2099-12-31') / 1000 });
    await usageError(() => asPatient(['consent', 'grant', '--to', INSURER, '--purpose', 'claims', '--category', DISCHARGE, '--until', '2001-01-01']), 'has already passed');
    await usageError(() => asPatient(['consent', 'grant', '--to', INSURER, '--purpose', 'claims', '--category', DISCHARGE, '--days', '3', '--until', '2099-01-01']), '--days <n> or --until <date>');
    await usageError(() => asPatient(['consent', 'grant', '--to', INSURER, '--purpose', 'claims', '--days', '3']), 'at least one --category or --record');
  });

  it('wrong password, missing key file, bad purpose, no password: one clear sentence, exit 2, nothing written', async () => {
    const grant = ['consent', 'grant', '--to', INSURER, '--purpose', 'claims', '--category', DISCHARGE, '--days', '30'];
    await usageError(() => asPatient(grant, { MEDPROV_KEY_PASSWORD: 'not the password' }), `the password does not open the key file ${keyFile}`);
    await usageError(
      () => runCli([...grant, '--gateway', hospital.url, '--key', path.join(dir, 'missing.json')], { home, env: { MEDPROV_KEY_PASSWORD: PASSWORD } }),
      /cannot read the key file .*missing\.json: there is no such file \(create one with 'medprov key create/,
    );
    await usageError(() => asPatient(['consent', 'grant', '--to', INSURER, '--purpose', 'marketing', '--category', DISCHARGE, '--days', '30']), '--purpose must be treatment, claims or research:<trialId>');
    await usageError(() => asPatient(['consent', 'revoke', 'not-a-grant-id']), 'the grant id must be 32 bytes');
    await usageError(() => asPatient(['access-log'], { MEDPROV_KEY_PASSWORD: '' }), 'no password: set MEDPROV_KEY_PASSWORD');
    await usageError(() => asPatient(['consent', 'list', '--api-key', 'x']), "unknown option '--api-key'");
  });

  it('a key the hospital never registered is refused by the gateway (exit 4, its code); a gateway that is down is exit 3', async () => {
    const stranger = path.join(dir, 'stranger.key.json');
    expect((await runCli(['key', 'create', stranger], { home, env: { MEDPROV_KEY_PASSWORD: PASSWORD } })).code).to.equal(0);
    const writes = ledger.writeCount;
    const forged = await runCli(
      ['consent', 'grant', '--to', INSURER, '--purpose', 'claims', '--category', DISCHARGE, '--days', '1', '--hospital', HOSPITAL, '--patient-ref', patientRef, '--gateway', hospital.url, '--key', stranger],
      { home, env: { MEDPROV_KEY_PASSWORD: PASSWORD } },
    );
    expect(forged.code, forged.stderr).to.equal(4);
    expect(forged.stderr).to.include('SIGNER_NOT_PATIENT');
    expect(ledger.writeCount).to.equal(writes);
    await usageError(() => runCli(['access-log', '--gateway', hospital.url, '--key', stranger], { home, env: { MEDPROV_KEY_PASSWORD: PASSWORD } }), 'holds no registration');

    const down = await runCli(['consent', 'list', '--gateway', `http://127.0.0.1:${await closedPort()}`, '--key', keyFile], { home, env: { MEDPROV_KEY_PASSWORD: PASSWORD } });
    expect(down.code).to.equal(3);
    expect(down.stderr.trim().split('\n')).to.have.length(1);
    expect(down.stderr).to.include('Cannot reach the gateway');
  });

  it('every new command has --help with examples; the group word lists its commands', async () => {
    for (const command of [['key', 'create'], ['patient', 'register'], ['consent', 'grant'], ['consent', 'revoke'], ['consent', 'list'], ['access-log']]) {
      const help = await runCli([...command, '--help'], { home });
      expect(help.code, command.join(' ')).to.equal(0);
      expect(help.stdout).to.include(`Usage: medprov ${command.join(' ')}`).and.include('Examples:').and.include(`  medprov ${command.join(' ')} `);
    }
    const group = await runCli(['consent', '--help'], { home });
    expect(group.code).to.equal(0);
    expect(group.stdout).to.include('consent grant').and.include('consent revoke').and.include('consent list');
    const unknown = await runCli(['consent', 'frobnicate'], { home });
    expect(unknown.code).to.equal(2);
    expect(unknown.stderr).to.include("unknown command 'frobnicate'");
  });
});
