import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { IdentityContract } from '../../../chaincode/src';
import { parseCsv } from '../../../gateway/src/cli/manifest';
import { Progress } from '../../../gateway/src/cli/progress';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL, HOSPITAL2 } from '../chaincode/fixtures';
import { runCli, type CliRun } from '../support/cli-process';
import { ROLE_KEYS, startOrgGateway, type OrgGateway } from '../support/org-gateways';

/**
 * `medprov anchor` against gateways that accept writes durably (journal, 202 + Location,
 * Prefer: wait): manifests, and a batch the chaincode refuses part-way through a folder.
 */
const KEY = ROLE_KEYS['records-officer'];
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

const cli = (args: string[], home: string): Promise<CliRun> => runCli(args, { home, env: { MEDPROV_API_KEY: KEY } });

describe('medprov anchor against gateways with durable acceptance (child process)', function () {
  this.timeout(30_000);
  const ledger = new FakeLedger();
  let dir: string;
  const gateways: OrgGateway[] = [];

  let hospital: string;
  let hospital2: string;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-cli-accept-'));
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    for (const mspId of [HOSPITAL, HOSPITAL2]) gateways.push(await startOrgGateway({ ledger, mspId, type: 'hospital', dir, acceptance: true }));
    [hospital, hospital2] = gateways.map((gw) => gw.url);
  });
  after(async () => {
    for (const gw of gateways) await gw.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('anchors the files a CSV manifest lists, with its patient ids, record ids and categories', async () => {
    const folder = path.join(dir, 'scans');
    mkdirSync(path.join(folder, 'ward 3'), { recursive: true });
    writeFileSync(path.join(folder, 'a.pdf'), 'scan a');
    writeFileSync(path.join(folder, 'ward 3', 'b.pdf'), 'scan b');
    writeFileSync(path.join(folder, 'not-listed.pdf'), 'scan c');
    const manifest = path.join(dir, 'scans.csv');
    writeFileSync(manifest, 'path,patientId,recordId,category\na.pdf,P-1,,\n"ward 3/b.pdf","P-2, jr",ward3-b,loinc:11506-3\n');
    const run = await cli(['anchor', folder, '--manifest', manifest, '--category', 'loinc:18842-5', '--gateway', hospital, '--json'], dir);
    expect(run.code, run.stderr).to.equal(0);
    const doc = JSON.parse(run.stdout);
    expect(doc).to.include({ files: 2, batches: 1, anchored: 2, existing: 0 });
    expect(doc.records.map((r: { recordId: string; docHash: string }) => [r.recordId, r.docHash])).to.deep.equal([
      ['a.pdf', sha('scan a')],
      ['ward3-b', sha('scan b')],
    ]);
    const history = await cli(['history', HOSPITAL, 'ward3-b', '--gateway', hospital, '--json'], dir);
    expect(JSON.parse(history.stdout).versions[0]).to.include({ category: 'loinc:11506-3', version: 1 });
  });

  it('a folder whose file names are not record ids is a usage error (2) that names the file and suggests a manifest', async () => {
    const run = await cli(['anchor', path.join(dir, 'scans'), '--patient-id', 'P-1', '--category', 'loinc:18842-5', '--gateway', hospital], dir);
    expect(run.code).to.equal(2);
    expect(run.stderr).to.include("'ward 3/b.pdf'").and.include('--manifest');
  });

  it('a batch refused part-way exits 4 with the chaincode code and says what was anchored before it', async () => {
    const folder = path.join(dir, 'batches');
    mkdirSync(folder);
    for (let i = 0; i < 30; i++) writeFileSync(path.join(folder, `f-${String(i).padStart(2, '0')}.txt`), i === 15 ? 'scan a' : `file ${i}`);
    const run = await cli(['anchor', folder, '--patient-id', 'P-7', '--category', 'loinc:18842-5', '--batch-size', '10', '--gateway', hospital2], dir);
    expect(run.code).to.equal(4);
    expect(run.stderr.trim().split('\n')).to.have.length(1);
    expect(run.stderr).to.include('Batch 2 of 3 (f-10.txt … f-19.txt)').and.include('the 10 records before it are anchored').and.include('DOC_HASH_CLAIMED');
    const verify = await cli(['verify', path.join(folder, 'f-09.txt'), path.join(folder, 'f-10.txt'), '--gateway', hospital2, '--json'], dir);
    expect(verify.code).to.equal(1);
    expect(JSON.parse(verify.stdout).verdicts).to.deep.equal({ ORIGINAL: 1, UNKNOWN: 1 });
  });
});

describe('medprov CLI helpers', () => {
  it('parses RFC 4180 CSV: quotes, doubled quotes, commas in quotes, CRLF', () => {
    expect(parseCsv('a,b\r\n"x, y","say ""hi"""\n,z')).to.deep.equal([
      ['a', 'b'],
      ['x, y', 'say "hi"'],
      ['', 'z'],
    ]);
  });

  it('renders a progress line with count, percentage, rate and ETA, fitted to the width', () => {
    const written: string[] = [];
    const stream = { isTTY: false, write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream;
    const bar = new Progress(stream, 'hashing', 200, 'files', true);
    bar.tick(50);
    const line = bar.render(80);
    expect(line).to.match(/^hashing \[#+\.+\] 50\/200 files 25% [\d.]+ files\/s ETA /);
    expect(line.length).to.be.at.most(80);
    expect(bar.render(30)).to.not.include('[');
    bar.tick(150);
    bar.finish();
    expect(written.at(-1)).to.match(/200\/200 files 100% .* in [\d.]+s\n$/);
  });
});
