import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { IdentityContract } from '../../../chaincode/src';
import { AnchorLog, buildReceipt } from '../../../gateway/src/anchoring/node';
import { hashApiKey } from '../../../gateway/src/http/auth';
import { bytesToHex } from '../../../gateway/src/merkle';
import { documentOf, makeSourced } from '../anchoring/fixtures';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL, INSURER } from '../chaincode/fixtures';
import { ROOT, closedPort, runCli, type CliRun as Run } from '../support/cli-process';
import { sendTo, uploadForm } from '../support/http';
import { ROLE_KEYS, startOrgGateway, type OrgGateway } from '../support/org-gateways';
import { SALT_NOTE } from '../../../gateway/src/records/service';

/**
 * The `medprov` CLI as a real child process against real gateways (real chaincode on the
 * in-memory stub, as in records-flow.test.ts) listening on 127.0.0.1.
 */
const OFFICER_KEY = ROLE_KEYS['records-officer'];
const CLAIMS_KEY = ROLE_KEYS['claims-officer'];
const users = [
  { id: 'officer', role: 'records-officer' as const, apiKeySha256: hashApiKey(OFFICER_KEY) },
  { id: 'claims', role: 'claims-officer' as const, apiKeySha256: hashApiKey(CLAIMS_KEY) },
];
const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

let home: string;

const cli = (args: string[], env: Record<string, string> = {}): Promise<Run> => runCli(args, { home, env });

describe('medprov CLI (child process against real gateways on the in-memory chaincode stub)', function () {
  this.timeout(60_000);
  const ledger = new FakeLedger();
  let dir: string;
  let hospital: OrgGateway;
  let insurer: OrgGateway;
  let asOfficer: string[];
  let asClaims: string[];
  /** The block holding a transaction (block n holds committed[n - 1]), in decimal; '0' when none does. */
  const blockOf = (txId: string): string => String(ledger.committed.findIndex((tx) => tx.txId === txId) + 1);

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-cli-'));
    home = path.join(dir, 'home');
    mkdirSync(home);
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    hospital = await startOrgGateway({ ledger, mspId: HOSPITAL, type: 'hospital', dir, users });
    insurer = await startOrgGateway({ ledger, mspId: INSURER, type: 'insurer', dir, users });
    asOfficer = ['--gateway', hospital.url, '--api-key', OFFICER_KEY];
    asClaims = ['--gateway', insurer.url, '--api-key', CLAIMS_KEY];
  });
  after(async () => {
    await Promise.all([hospital.stop(), insurer.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('anchors a folder of 1,000 files in batches (--json), and the insurer then verifies every one ORIGINAL', async () => {
    const folder = path.join(dir, 'exports');
    for (let i = 0; i < 1000; i++) {
      const sub = path.join(folder, `part-${i % 4}`);
      mkdirSync(sub, { recursive: true });
      writeFileSync(path.join(sub, `doc-${String(i).padStart(4, '0')}.txt`), `discharge summary ${i}\n`);
    }
    const run = await cli(['anchor', folder, '--patient-id', 'P-000123', '--category', 'loinc:18842-5', '--record-prefix', 'exp/', '--batch-size', '300', '--json', ...asOfficer]);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stderr).to.equal('');
    const doc = JSON.parse(run.stdout);
    expect(doc).to.include({ files: 1000, batches: 4, anchored: 1000, existing: 0 });
    expect(doc.records).to.have.length(1000);
    expect(doc.records[0]).to.include({ file: 'part-0/doc-0000.txt', recordId: 'exp/part-0/doc-0000.txt', issuer: HOSPITAL, version: 1, status: 'active' });
    expect(doc.records[0].docHash).to.equal(sha('discharge summary 0\n'));

    const verify = await cli(['verify', folder, '--json', ...asClaims]);
    expect(verify.code, verify.stderr).to.equal(0);
    const verdicts = JSON.parse(verify.stdout);
    expect(verdicts).to.deep.include({ ok: true, files: 1000, verdicts: { ORIGINAL: 1000 } });
    expect(verdicts.results.every((r: { verdict: string; issuer: string }) => r.verdict === 'ORIGINAL' && r.issuer === HOSPITAL)).to.equal(true);
    // Each carries the block of its batch's transaction.
    expect(new Set(verdicts.results.map((r: { blockNumber: string }) => r.blockNumber)).size).to.equal(4);
    expect(verdicts.results.every((r: { txId: string; blockNumber: string }) => r.blockNumber === blockOf(r.txId))).to.equal(true);
  });

  it('shows progress lines with a rate on stderr with --progress; a second run finds them all existing', async () => {
    const folder = path.join(dir, 'exports');
    const run = await cli(['anchor', folder, '--patient-id', 'P-000123', '--category', 'loinc:18842-5', '--record-prefix', 'exp/', '--progress', ...asOfficer]);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stderr).to.match(/hashing\s+\[#+\] 1000\/1000 files 100% [\d.]+ files\/s/);
    expect(run.stderr).to.match(/anchoring \[#+\] 1000\/1000 records 100% [\d.]+ records\/s/);
    expect(run.stdout).to.include('1000 files in 2 batches: 0 anchored, 1000 already anchored.');
  });

  it('verify: the original file exits 0 with its provenance; a changed file is UNKNOWN and exits 1', async () => {
    const file = path.join(dir, 'exports', 'part-1', 'doc-0001.txt');
    const ok = await cli(['verify', file, ...asClaims]);
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.stdout).to.match(/^ORIGINAL /);
    expect(ok.stdout).to.include(HOSPITAL).and.include('exp/part-1/doc-0001.txt');
    const txId = /^\s+txId\s+([0-9a-f]{64})$/m.exec(ok.stdout)?.[1] ?? '';
    expect(ok.stdout).to.match(new RegExp(`^\\s+block\\s+${blockOf(txId)}$`, 'm'));
    const changed = path.join(dir, 'changed.txt');
    const bytes = readFileSync(file);
    bytes[0]! ^= 0x01;
    writeFileSync(changed, bytes);
    const bad = await cli(['verify', changed, '--json', ...asClaims]);
    expect(bad.code).to.equal(1);
    expect(JSON.parse(bad.stdout)).to.deep.equal({ file: changed, verdict: 'UNKNOWN', docHash: sha(bytes), note: SALT_NOTE });
  });

  it('verify --salt: a salted record is UNKNOWN at the insurer without its salt (with the note), ORIGINAL with it (0); a wrong salt is UNKNOWN (1), a malformed one a usage error (2)', async () => {
    const lab = Buffer.from('{"resourceType":"Observation","code":"HbA1c","unit":"%","value":"6.1"}');
    const anchored = await sendTo(hospital, 'POST', '/v1/records', OFFICER_KEY, uploadForm(lab, { recordId: 'lab-cli-1', patientId: 'P-77', category: 'loinc:4548-4' }));
    expect(anchored.status, JSON.stringify(anchored.body)).to.equal(201);
    expect(anchored.body.commitment).to.equal('salted');
    const salt = anchored.body.salt as string;
    const commitment = anchored.body.anchor.docHash as string;
    expect(salt).to.match(/^[0-9a-f]{64}$/);
    expect(commitment).to.not.equal(sha(lab));
    const file = path.join(dir, 'lab-result.json');
    writeFileSync(file, lab);

    const noSalt = await cli(['verify', file, ...asClaims]);
    expect(noSalt.code, noSalt.stderr).to.equal(1);
    expect(noSalt.stdout).to.match(/^UNKNOWN /).and.include(SALT_NOTE);

    const withSalt = await cli(['verify', file, '--salt', salt.toUpperCase(), ...asClaims]);
    expect(withSalt.code, withSalt.stderr).to.equal(0);
    expect(withSalt.stdout).to.match(/^ORIGINAL /).and.include(HOSPITAL).and.include('lab-cli-1');
    expect(withSalt.stdout).to.match(new RegExp(`^\\s+docHash\\s+${sha(lab)}$`, 'm'));
    expect(withSalt.stdout).to.match(new RegExp(`^\\s+commitment\\s+salted \\(the ledger holds ${commitment}\\)$`, 'm'));
    const json = await cli(['verify', file, '--salt', salt, '--json', ...asClaims]);
    expect(json.code, json.stderr).to.equal(0);
    expect(JSON.parse(json.stdout)).to.deep.include({ verdict: 'ORIGINAL', docHash: sha(lab), commitment: 'salted', anchoredHash: commitment });

    const wrong = await cli(['verify', file, '--salt', sha('not the salt'), '--json', ...asClaims]);
    expect(wrong.code, wrong.stderr).to.equal(1);
    expect(JSON.parse(wrong.stdout)).to.deep.equal({ file, verdict: 'UNKNOWN', docHash: sha(lab) });

    for (const bad of [salt.slice(1), `${salt.slice(1)}g`]) {
      const malformed = await cli(['verify', file, '--salt', bad, ...asClaims]);
      expect(malformed.code).to.equal(2);
      expect(malformed.stderr).to.include('--salt must be 64 hexadecimal characters');
      expect(malformed.stdout).to.equal('');
    }
  });

  it('anchor a single file, amend it over HTTP, and history shows both versions; the old one verifies SUPERSEDED (exit 1)', async () => {
    const v1 = path.join(dir, 'adm-v1.pdf');
    writeFileSync(v1, '%PDF-1.7 admission note v1');
    const anchored = await cli(['anchor', v1, '--record-id', 'adm-2026-0001', '--patient-id', 'P-9', '--category', 'loinc:11506-3', '--json', ...asOfficer]);
    expect(anchored.code, anchored.stderr).to.equal(0);
    expect(JSON.parse(anchored.stdout)).to.deep.include({ created: true });
    const res = await fetch(`${hospital.url}/v1/records/${HOSPITAL}/adm-2026-0001/versions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${OFFICER_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ docHash: sha('%PDF-1.7 admission note v2') }),
    });
    expect(res.status).to.equal(201);
    const history = await cli(['history', HOSPITAL, 'adm-2026-0001', ...asOfficer]);
    expect(history.code, history.stderr).to.equal(0);
    expect(history.stdout).to.include('2 versions');
    expect(history.stdout).to.match(/v1\s+superseded/).and.match(/v2\s+active/);
    const json = await cli(['history', HOSPITAL, 'exp/part-2/doc-0002.txt', '--json', ...asOfficer]);
    expect(json.code, json.stderr).to.equal(0);
    expect(JSON.parse(json.stdout).versions.map((v: { version: number }) => v.version)).to.deep.equal([1]);
    // At the insurer, the hospital's record is read only under the patient's consent (issue 13): refused without it.
    const elsewhere = await cli(['history', HOSPITAL, 'adm-2026-0001', ...asClaims]);
    expect(elsewhere.code).to.equal(4);
    expect(elsewhere.stderr).to.include('CONSENT_REQUIRED').and.include('--purpose claims');
    expect(elsewhere.stdout).to.equal('');
    const old = await cli(['verify', v1, ...asClaims]);
    expect(old.code).to.equal(1);
    expect(old.stdout).to.match(/^SUPERSEDED /);
    // The block that anchored v1, not the amendment's.
    expect(old.stdout).to.match(new RegExp(`^\\s+block\\s+${blockOf(JSON.parse(anchored.stdout).anchor.txId)}$`, 'm'));
  });

  it('status shows health and who the key is; flags win over the environment, which wins over the config file', async () => {
    const cfgDir = path.join(home, '.config', 'medprov');
    mkdirSync(cfgDir, { recursive: true });
    writeFileSync(path.join(cfgDir, 'config.json'), JSON.stringify({ gateway: `http://127.0.0.1:${await closedPort()}`, apiKey: 'wrong' }));
    const fromEnv = await cli(['status', '--json'], { MEDPROV_GATEWAY_URL: insurer.url, MEDPROV_API_KEY: CLAIMS_KEY });
    expect(fromEnv.code, fromEnv.stderr).to.equal(0);
    expect(JSON.parse(fromEnv.stdout)).to.deep.include({ health: { status: 'ok', org: INSURER } });
    expect(JSON.parse(fromEnv.stdout).whoami.user).to.deep.include({ id: 'claims', role: 'claims-officer' });
    const flags = await cli(['status', ...asOfficer], { MEDPROV_GATEWAY_URL: insurer.url, MEDPROV_API_KEY: CLAIMS_KEY });
    expect(flags.code, flags.stderr).to.equal(0);
    expect(flags.stdout).to.include(`${HOSPITAL} (hospital)`).and.include('officer (records-officer)');
    const fromFile = await cli(['status']);
    expect(fromFile.code).to.equal(3);
    rmSync(cfgDir, { recursive: true });
  });

  it('usage errors exit 2 with the usage line and a hint', async () => {
    const unknownFlag = await cli(['verify', 'x.pdf', '--frobnicate', ...asClaims]);
    expect(unknownFlag.code).to.equal(2);
    expect(unknownFlag.stderr).to.include("unknown option '--frobnicate'").and.include('Usage: medprov verify').and.include('--help');
    expect(unknownFlag.stderr).to.not.match(/\n\s+at /);
    expect((await cli(['frobnicate'])).code).to.equal(2);
    expect((await cli(['history', HOSPITAL, ...asClaims])).code).to.equal(2);
    expect((await cli(['verify', path.join(dir, 'no-such-file.pdf'), ...asClaims])).code).to.equal(2);
    const help = await cli(['anchor', '--help']);
    expect(help.code).to.equal(0);
    expect(help.stdout).to.include('Examples:').and.include('medprov anchor ');
  });

  it('the medprov.cjs executable (the package bin) runs the same CLI from any folder', () => {
    const file = path.join(dir, 'adm-v1.pdf');
    const out = execFileSync(process.execPath, [path.join(ROOT, 'gateway/src/cli/medprov.cjs'), 'hash', file], { cwd: home, env: { PATH: process.env.PATH ?? '', HOME: home } });
    expect(out.toString()).to.equal(`${sha(readFileSync(file))}  ${file}\n`);
  });

  it('a gateway that is down exits 3 with one sentence, no stack trace', async () => {
    const run = await cli(['verify', path.join(dir, 'adm-v1.pdf'), '--gateway', `http://127.0.0.1:${await closedPort()}`, '--api-key', CLAIMS_KEY]);
    expect(run.code).to.equal(3);
    expect(run.stderr.trim().split('\n')).to.have.length(1);
    expect(run.stderr).to.include('Cannot reach the gateway').and.include('refused');
  });

  it('a refusal by the gateway exits 4 with its code: an insurer anchoring, a claims officer anchoring', async () => {
    const file = path.join(dir, 'claim.pdf');
    writeFileSync(file, 'claim attachment');
    const insurerAnchor = await cli(['anchor', file, '--patient-id', 'P-1', '--category', 'loinc:11506-3', '--gateway', insurer.url, '--api-key', OFFICER_KEY]);
    expect(insurerAnchor.code).to.equal(4);
    expect(insurerAnchor.stderr).to.include('FORBIDDEN_ORG_TYPE');
    const wrongRole = await cli(['anchor', file, '--patient-id', 'P-1', '--category', 'loinc:11506-3', '--gateway', hospital.url, '--api-key', CLAIMS_KEY]);
    expect(wrongRole.code).to.equal(4);
    expect(wrongRole.stderr).to.include('FORBIDDEN_ROLE');
    const badKey = await cli(['status', '--gateway', hospital.url, '--api-key', 'not-a-key-of-anyone-here']);
    expect(badKey.code).to.equal(4);
  });

  it('verify-receipt: a receipt from the anchoring module verifies offline against its document (0); one flipped byte fails (1)', async () => {
    const logDir = path.join(dir, 'log');
    mkdirSync(logDir);
    const log = await AnchorLog.open(logDir);
    try {
      for (const item of makeSourced(0, 40)) await log.append(item);
      await log.flush();
      const tree = await log.tree();
      const receipt = buildReceipt({
        leafBytes: await log.leafBytes(17),
        leafIndex: 17,
        tree,
        checkpoint: { treeSize: 33, root: bytesToHex(tree.rootAt(33)), fabricBlockHeight: 9, chainId: 31337, contract: `0x${'5f'.repeat(20)}` },
      });
      const receiptFile = path.join(dir, 'doc-17.receipt.json');
      const docFile = path.join(dir, 'doc-17.pdf');
      writeFileSync(receiptFile, JSON.stringify(receipt));
      writeFileSync(docFile, documentOf(17));
      const ok = await cli(['verify-receipt', receiptFile, docFile, '--json']);
      expect(ok.code, ok.stderr).to.equal(0);
      expect(JSON.parse(ok.stdout)).to.deep.include({ valid: true, reasons: [], checkedOnChain: false });
      const noChain = await cli(['verify-receipt', receiptFile, docFile, '--rpc', `http://127.0.0.1:${await closedPort()}`]);
      expect(noChain.code).to.equal(3);
      expect(noChain.stderr).to.include('Cannot ask the EVM chain');
      const flipped = Buffer.from(documentOf(17));
      flipped[3]! ^= 0x01;
      writeFileSync(docFile, flipped);
      const bad = await cli(['verify-receipt', receiptFile, docFile]);
      expect(bad.code).to.equal(1);
      expect(bad.stdout).to.match(/^INVALID /).and.include('does not match the receipt');
      const garbage = path.join(dir, 'garbage.json');
      writeFileSync(garbage, '{"version":1}');
      expect((await cli(['verify-receipt', garbage])).code).to.equal(1);
    } finally {
      await log.close();
    }
  });
});
