import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { IdentityContract } from '../../../chaincode/src';
import { archiveAnchorReasons, verifyArchiveReceipt } from '../../../gateway/src/anchoring';
import { readArchiveManifest, readArchiveReceipt } from '../../../gateway/src/anchoring/node';
import { hashApiKey } from '../../../gateway/src/http/auth';
import { nativeSha256 } from '../../../gateway/src/merkle/node-hasher';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL, INSURER } from '../chaincode/fixtures';
import { runCli, type CliRun } from '../support/cli-process';
import { sendTo } from '../support/http';
import { ROLE_KEYS, startOrgGateway, type OrgGateway } from '../support/org-gateways';

const sha = (b: string): string => createHash('sha256').update(b).digest('hex');
const OFFICER = ROLE_KEYS['records-officer'];
const CLAIMS = ROLE_KEYS['claims-officer'];

/**
 * Issue 14, archives through a gateway (unit level: real gateways, real chaincode on the
 * in-memory stub): POST /v1/archives is one Archives:anchorArchive transaction; `medprov archive
 * create` builds the tree and receipts and anchors the root through it; receipts name the
 * transaction, verify offline and match the ledger's record.
 */
describe('archives through the gateway and the CLI', function () {
  this.timeout(60_000);
  const ledger = new FakeLedger();
  let dir: string;
  let home: string;
  let hospital: OrgGateway;
  let insurer: OrgGateway;
  const cli = (args: string[]): Promise<CliRun> => runCli(args, { home, env: {} });
  const ledgerTxs = () => ledger.committed.map((t) => t.fcn);

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-archive-flow-'));
    home = path.join(dir, 'home');
    mkdirSync(home);
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    const users = [
      { id: 'officer', role: 'records-officer' as const, apiKeySha256: hashApiKey(OFFICER) },
      { id: 'claims', role: 'claims-officer' as const, apiKeySha256: hashApiKey(CLAIMS) },
    ];
    hospital = await startOrgGateway({ ledger, mspId: HOSPITAL, type: 'hospital', dir, users });
    insurer = await startOrgGateway({ ledger, mspId: INSURER, type: 'insurer', dir, users });
  });
  after(async () => {
    await Promise.all([hospital.stop(), insurer.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('POST /v1/archives: one transaction (201), the same again 200 with the first block, another root 409 ARCHIVE_EXISTS', async () => {
    const before = ledger.committed.length;
    const body = { archiveId: 'api-1', root: sha('root 1'), count: 1000 };
    const first = await sendTo(hospital, 'POST', '/v1/archives', OFFICER, body);
    expect(first.status, JSON.stringify(first.body)).to.equal(201);
    expect(first.location).to.equal(`/v1/archives/${HOSPITAL}/api-1`);
    expect(first.body.created).to.equal(true);
    expect(first.body.archive).to.deep.include({ ...body, issuer: HOSPITAL });
    expect(first.body.blockNumber).to.equal(String(ledger.committed.length));
    expect(ledger.committed.length).to.equal(before + 1);
    const again = await sendTo(hospital, 'POST', '/v1/archives', OFFICER, body);
    expect(again.status).to.equal(200);
    expect(again.body).to.deep.equal({ ...first.body, created: false });
    const other = await sendTo(hospital, 'POST', '/v1/archives', OFFICER, { ...body, root: sha('root 2') });
    expect(other.status).to.equal(409);
    expect(other.body.error.code).to.equal('ARCHIVE_EXISTS');
    // Anyone with a key, at any member's gateway, reads the ledger's record.
    const read = await sendTo(insurer, 'GET', `/v1/archives/${HOSPITAL}/api-1`, CLAIMS);
    expect(read.status).to.equal(200);
    expect(read.body).to.deep.equal(first.body.archive);
    const missing = await sendTo(insurer, 'GET', `/v1/archives/${HOSPITAL}/api-2`, CLAIMS);
    expect(missing.status).to.equal(404);
    expect(missing.body.error.code).to.equal('ARCHIVE_NOT_FOUND');
  });

  it('refuses bad input with 4xx and a stable code, writing nothing; only a hospital\'s records officer anchors', async () => {
    const before = ledger.committed.length;
    const good = { archiveId: 'api-bad', root: sha('bad'), count: 3 };
    const cases: [unknown, number, string][] = [
      [{ ...good, root: sha('x').toUpperCase() }, 400, 'INVALID_REQUEST'],
      [{ ...good, count: 0 }, 400, 'INVALID_REQUEST'],
      [{ ...good, count: 2 ** 30 + 1 }, 400, 'INVALID_REQUEST'],
      [{ ...good, count: '3' }, 400, 'INVALID_REQUEST'],
      [{ ...good, archiveId: 'has space' }, 400, 'INVALID_REQUEST'],
      [{ ...good, patientId: 'MRN-1' }, 400, 'UNKNOWN_FIELD'],
      [{ root: good.root, count: 3 }, 400, 'INVALID_REQUEST'],
    ];
    for (const [body, status, code] of cases) {
      const res = await sendTo(hospital, 'POST', '/v1/archives', OFFICER, body);
      expect(res.status, JSON.stringify(body)).to.equal(status);
      expect(res.body.error.code).to.equal(code);
    }
    const notJson = await fetch(`${hospital.url}/v1/archives`, { method: 'POST', headers: { authorization: `Bearer ${OFFICER}`, 'content-type': 'text/plain' }, body: 'x' });
    expect(notJson.status).to.equal(415);
    expect((await sendTo(hospital, 'POST', '/v1/archives', CLAIMS, good)).body.error.code).to.equal('FORBIDDEN_ROLE');
    expect((await sendTo(insurer, 'POST', '/v1/archives', OFFICER, good)).body.error.code).to.equal('FORBIDDEN_ORG_TYPE');
    expect((await sendTo(insurer, 'GET', `/v1/archives/not%20msp/x`, CLAIMS)).status).to.equal(400);
    expect(ledger.committed.length).to.equal(before);
  });

  it('medprov archive create: tree, receipts and one transaction; receipts verify offline and against the ledger; a changed file fails', async () => {
    const folder = path.join(dir, 'scans');
    for (let i = 0; i < 300; i++) {
      mkdirSync(path.join(folder, `batch-${i % 3}`), { recursive: true });
      writeFileSync(path.join(folder, `batch-${i % 3}`, `scan-${i}.txt`), `scan ${i}\n`);
    }
    const out = path.join(dir, 'scans.receipts');
    const txBefore = ledger.committed.length;
    const run = await cli(['archive', 'create', folder, '--out', out, '--id', 'scans-2019', '--category', 'scans', '--json', '--gateway', hospital.url, '--api-key', OFFICER]);
    expect(run.code, run.stderr).to.equal(0);
    const summary = JSON.parse(run.stdout);
    expect(summary).to.deep.include({ fileCount: 300, skipped: 0 });
    // Exactly one ledger transaction for the 300 files.
    expect(ledgerTxs().slice(txBefore)).to.deep.equal(['Archives:anchorArchive']);
    const tx = ledger.committed[ledger.committed.length - 1]!;
    expect(summary.anchor).to.deep.include({ issuer: HOSPITAL, archiveId: 'scans-2019', txId: tx.txId, blockNumber: String(ledger.committed.length) });
    expect((await readArchiveManifest(out)).anchor).to.deep.equal(summary.anchor);
    const onLedger = (await sendTo(insurer, 'GET', `/v1/archives/${HOSPITAL}/scans-2019`, CLAIMS)).body;
    expect(onLedger).to.deep.include({ root: summary.root, count: 300, category: 'scans', txId: tx.txId });

    // A receipt, read back by the CLI, checked offline and against the ledger.
    const receiptFile = path.join(dir, 'scan-42.receipt.json');
    const got = await cli(['archive', 'receipt', out, 'batch-0/scan-42.txt', '--out', receiptFile]);
    expect(got.code, got.stderr).to.equal(0);
    const receipt = JSON.parse(readFileSync(receiptFile, 'utf8'));
    expect(receipt).to.deep.include({ archiveRoot: summary.root, treeSize: 300, anchor: summary.anchor });
    expect(verifyArchiveReceipt(receipt, Buffer.from('scan 42\n'), { sha256: nativeSha256 }).valid).to.equal(true);
    expect(archiveAnchorReasons(receipt, onLedger)).to.deep.equal([]);
    const file = path.join(folder, 'batch-0', 'scan-42.txt');
    const verified = await cli(['archive', 'verify', receiptFile, file, '--ledger', '--json', '--gateway', insurer.url, '--api-key', CLAIMS]);
    expect(verified.code, verified.stdout + verified.stderr).to.equal(0);
    expect(JSON.parse(verified.stdout)).to.deep.include({ valid: true, reasons: [] });

    writeFileSync(file, 'scan 42, altered\n');
    const altered = await cli(['archive', 'verify', receiptFile, file, '--json']);
    expect(altered.code).to.equal(1);
    expect(JSON.parse(altered.stdout).reasons[0]).to.match(/SHA-256 differs/);
    // The receipt of a neighbour still verifies.
    const neighbour = await readArchiveReceipt(out, { path: 'batch-0/scan-45.txt' });
    expect(verifyArchiveReceipt(neighbour, readFileSync(path.join(folder, 'batch-0', 'scan-45.txt'))).valid).to.equal(true);

    // The same folder again under the same id: a new receipts folder, the same root, no new transaction.
    writeFileSync(file, 'scan 42\n');
    const txs = ledger.committed.length;
    const again = await cli(['archive', 'create', folder, '--out', path.join(dir, 'again'), '--id', 'scans-2019', '--category', 'scans', '--json', '--gateway', hospital.url, '--api-key', OFFICER]);
    expect(again.code, again.stderr).to.equal(0);
    expect(JSON.parse(again.stdout).anchor).to.deep.equal(summary.anchor);
    expect(ledger.committed.length).to.equal(txs + 1); // the no-op re-send commits, writing nothing
    expect(ledger.committed[ledger.committed.length - 1]!.writes.size).to.equal(0);

    // Other content under the same id: refused (exit 4, ARCHIVE_EXISTS), the receipts kept for another id.
    writeFileSync(path.join(folder, 'batch-1', 'new.txt'), 'one more\n');
    const refused = await cli(['archive', 'create', folder, '--out', path.join(dir, 'refused'), '--id', 'scans-2019', '--gateway', hospital.url, '--api-key', OFFICER]);
    expect(refused.code).to.equal(4);
    expect(refused.stderr).to.match(/ARCHIVE_EXISTS/);
    const anchored = await cli(['archive', 'anchor', path.join(dir, 'refused'), '--id', 'scans-2019b', '--json', '--gateway', hospital.url, '--api-key', OFFICER]);
    expect(anchored.code, anchored.stderr).to.equal(0);
    expect(JSON.parse(anchored.stdout)).to.include({ archiveId: 'scans-2019b', issuer: HOSPITAL });
    expect((await readArchiveReceipt(path.join(dir, 'refused'), { index: 0 })).anchor?.archiveId).to.equal('scans-2019b');
  });
});
