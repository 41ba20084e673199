/**
 * Archives on the real network (issue 14): a folder anchored through the Hospital's gateway by
 * `medprov archive create` is ONE Archives:anchorArchive transaction, valid on every org's peer
 * (qscc, Fabric's own peer CLI) and readable as the ledger's record by every org; receipts of a few
 * files, read back from the receipts folder, verify offline and against that record, a changed
 * file fails; re-sending the archive writes nothing, another root under the same id is refused
 * (ARCHIVE_EXISTS) and bad input gets a 4xx with a code and writes nothing; the chaincode itself
 * refuses an insurer's archive (FORBIDDEN_ORG_TYPE), with no gateway in between; the anchor log
 * follows the archive's transaction, so once a checkpoint covers the root (`medprov archive
 * checkpoint`) every file's receipt chains to the AnchorRegistry on the local EVM chain.
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { invokeChaincode, queryChaincode } from '../../../network/src/chaincode';
import { archiveAnchorReasons, verifyArchiveReceipt, type LedgerArchive } from '../../../gateway/src/anchoring';
import { readArchiveManifest, readArchiveReceipt } from '../../../gateway/src/anchoring/node';
import { nativeSha256 } from '../../../gateway/src/merkle/node-hasher';
import { runCli, type CliRun } from '../../unit/support/cli-process';
import { localChain, receiptOf } from './flows';
import { call } from './support/gateway-http';
import { ledgerTransaction, refusalOf } from './support/peer-cli';
import { stopTestNetwork, testNetwork, type TestNetwork } from './test-network';

// The network is shared by every real-network spec file of the mocha run: stopped once, at the end.
after(async () => {
  await stopTestNetwork();
});

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

describe('real network: an archive is one transaction, with receipts that verify offline', function () {
  this.timeout(600_000);
  const run = randomBytes(4).toString('hex');
  const archiveId = `net-archive-${run}`;
  let net: TestNetwork;
  let dir: string;
  let home: string;
  let folder: string;
  let out: string;
  let summary: { root: string; fileCount: number; anchor: { issuer: string; archiveId: string; txId: string; blockNumber: string; anchoredAt: string } };
  const FILES = 2000;

  const cli = (args: string[]): Promise<CliRun> => runCli(args, { home, env: {} });
  const orgNames = (): string[] => net.network.definition.organisations.map((o) => o.name);

  before(async () => {
    net = await testNetwork();
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-net-archive-'));
    home = path.join(dir, 'home');
    mkdirSync(home);
    folder = path.join(dir, `scans-${run}`);
    for (let i = 0; i < FILES; i++) {
      const sub = path.join(folder, `batch-${String(i % 7).padStart(2, '0')}`);
      mkdirSync(sub, { recursive: true });
      writeFileSync(path.join(sub, `scan-${String(i).padStart(5, '0')}.bin`), `scan ${i} of run ${run}\n`);
    }
    out = path.join(dir, 'receipts');
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('medprov archive create anchors the folder through the Hospital gateway: one transaction, valid on every peer, the same record at every org', async () => {
    const hospital = net.gateway('Hospital', 'records-officer');
    const created = await cli(['archive', 'create', folder, '--out', out, '--id', archiveId, '--category', 'scans', '--json', '--gateway', hospital.url, '--api-key', hospital.key]);
    expect(created.code, created.stderr).to.equal(0);
    summary = JSON.parse(created.stdout);
    expect(summary.fileCount).to.equal(FILES);
    expect(summary.anchor).to.include({ issuer: 'HospitalMSP', archiveId });
    expect((await readArchiveManifest(out)).anchor).to.deep.equal(summary.anchor);

    // Fabric's own CLI, as each org's admin: the transaction is valid, in the block the receipts name.
    for (const org of orgNames()) {
      const tx = await ledgerTransaction(net.network, org, summary.anchor.txId);
      expect(tx, org).to.deep.equal({ validation: 'VALID', blockNumber: BigInt(summary.anchor.blockNumber) });
      const record = JSON.parse(await queryChaincode(net.network, org, 'Archives:readArchive', ['HospitalMSP', archiveId])) as LedgerArchive;
      expect(record, org).to.deep.equal({ archiveId, issuer: 'HospitalMSP', root: summary.root, count: FILES, category: 'scans', anchoredAt: summary.anchor.anchoredAt, txId: summary.anchor.txId });
    }

    // Any member's gateway answers the same record.
    for (const [org, role] of [['Insurer', 'claims-officer'], ['Sponsor', 'research-officer']] as const) {
      const res = await call(net.gateway(org, role), 'GET', `/v1/archives/HospitalMSP/${archiveId}`);
      expect(res.status, `${org}: ${JSON.stringify(res.body)}`).to.equal(200);
      expect(res.body).to.include({ root: summary.root, count: FILES, txId: summary.anchor.txId });
    }
  });

  it('receipts of a few files verify offline and against the ledger; a changed file fails', async () => {
    const insurer = net.gateway('Insurer', 'claims-officer');
    const record = (await call(insurer, 'GET', `/v1/archives/HospitalMSP/${archiveId}`)).body as LedgerArchive;
    const picks = [0, 1, 999, 1337, FILES - 1];
    for (const i of picks) {
      const rel = `batch-${String(i % 7).padStart(2, '0')}/scan-${String(i).padStart(5, '0')}.bin`;
      const receipt = await readArchiveReceipt(out, { path: rel });
      expect(receipt.anchor).to.deep.equal(summary.anchor);
      const bytes = readFileSync(path.join(folder, ...rel.split('/')));
      expect(verifyArchiveReceipt(receipt, bytes, { sha256: nativeSha256 }), rel).to.deep.equal({ valid: true, reasons: [], anchored: false });
      expect(archiveAnchorReasons(receipt, record), rel).to.deep.equal([]);
      // The CLI, from the receipt file alone, with the ledger through the Insurer's gateway.
      const receiptFile = path.join(dir, `r-${i}.json`);
      writeFileSync(receiptFile, JSON.stringify(receipt));
      const verified = await cli(['archive', 'verify', receiptFile, path.join(folder, ...rel.split('/')), '--ledger', '--json', '--gateway', insurer.url, '--api-key', insurer.key]);
      expect(verified.code, verified.stdout + verified.stderr).to.equal(0);
    }
    const rel = 'batch-01/scan-00001.bin';
    const file = path.join(folder, ...rel.split('/'));
    const original = readFileSync(file);
    const changed = Buffer.from(original);
    changed[0]! ^= 0x01;
    writeFileSync(file, changed);
    try {
      const receipt = await readArchiveReceipt(out, { path: rel });
      const result = verifyArchiveReceipt(receipt, changed, { sha256: nativeSha256 });
      expect(result.valid).to.equal(false);
      expect(result.reasons[0]).to.match(/SHA-256 differs/);
      const receiptFile = path.join(dir, 'changed.json');
      writeFileSync(receiptFile, JSON.stringify(receipt));
      const refused = await cli(['archive', 'verify', receiptFile, file, '--json']);
      expect(refused.code).to.equal(1);
    } finally {
      writeFileSync(file, original);
    }
  });

  it('re-sending the archive writes nothing; another root under its id is ARCHIVE_EXISTS; bad input is a 4xx with a code, nothing written', async () => {
    const hospital = net.gateway('Hospital', 'records-officer');
    const again = await call(hospital, 'POST', '/v1/archives', { archiveId, root: summary.root, count: FILES, category: 'scans' });
    expect(again.status, JSON.stringify(again.body)).to.equal(200);
    expect(again.body).to.deep.include({ created: false, blockNumber: summary.anchor.blockNumber });
    expect(again.body.archive.txId).to.equal(summary.anchor.txId);

    const other = await call(hospital, 'POST', '/v1/archives', { archiveId, root: sha256(`other ${run}`), count: FILES, category: 'scans' });
    expect(other.status).to.equal(409);
    expect(other.body.error.code).to.equal('ARCHIVE_EXISTS');

    const bad: [unknown, string][] = [
      [{ archiveId: `bad-${run}`, root: 'XYZ', count: 3 }, 'INVALID_REQUEST'],
      [{ archiveId: `bad-${run}`, root: sha256('x'), count: 0 }, 'INVALID_REQUEST'],
      [{ archiveId: `bad ${run}`, root: sha256('x'), count: 3 }, 'INVALID_REQUEST'],
      [{ archiveId: `bad-${run}`, root: sha256('x'), count: 3, patientRef: sha256('p') }, 'UNKNOWN_FIELD'],
    ];
    for (const [body, code] of bad) {
      const res = await call(hospital, 'POST', '/v1/archives', body);
      expect(res.status, JSON.stringify(body)).to.equal(400);
      expect(res.body.error.code).to.equal(code);
    }
    const insurerOfficer = await call(net.gateway('Insurer', 'claims-officer'), 'POST', '/v1/archives', { archiveId: `bad-${run}`, root: sha256('x'), count: 3 });
    expect(insurerOfficer.status).to.equal(403);
    // Nothing of those is on the ledger.
    expect((await queryChaincode(net.network, 'Insurer', 'Archives:readArchive', ['HospitalMSP', `bad-${run}`])).trim()).to.equal('null');
    expect(JSON.parse(await queryChaincode(net.network, 'Insurer', 'Archives:readArchive', ['HospitalMSP', archiveId])).root).to.equal(summary.root);
  });

  it("the chaincode itself refuses an insurer's archive (peer CLI as the Insurer's admin): FORBIDDEN_ORG_TYPE, nothing written", async () => {
    const refusal = await refusalOf(invokeChaincode(net.network, 'Insurer', 'Archives:anchorArchive', [JSON.stringify({ archiveId: `ins-${run}`, root: sha256('ins'), count: 1 })]));
    expect(refusal).to.include({ code: 'FORBIDDEN_ORG_TYPE', stage: 'endorsement' });
    expect((await queryChaincode(net.network, 'Hospital', 'Archives:readArchive', ['InsurerMSP', `ins-${run}`])).trim()).to.equal('null');
  });

  it('the anchor log follows the archive: after a checkpoint, every receipt chains to the AnchorRegistry on the EVM chain', async () => {
    const hospital = net.gateway('Hospital', 'records-officer');
    // The Hospital's log holds the root as the leaf of the archive's transaction (archive:<id>, version 1).
    const logReceipt = await receiptOf(hospital, summary.root);
    expect(logReceipt.leaf).to.include({ docHash: summary.root, issuer: 'HospitalMSP', recordId: `archive:${archiveId}`, version: 1, txId: summary.anchor.txId, blockNumber: Number(summary.anchor.blockNumber) });
    const attached = await cli(['archive', 'checkpoint', out, '--json', '--gateway', hospital.url, '--api-key', hospital.key]);
    expect(attached.code, attached.stderr).to.equal(0);
    const rel = 'batch-03/scan-00010.bin';
    const receipt = await readArchiveReceipt(out, { path: rel });
    const bytes = readFileSync(path.join(folder, ...rel.split('/')));
    expect(verifyArchiveReceipt(receipt, bytes, { sha256: nativeSha256 })).to.deep.equal({ valid: true, reasons: [], anchored: true });
    const receiptFile = path.join(dir, 'checkpointed.json');
    writeFileSync(receiptFile, JSON.stringify(receipt));
    const onChain = await cli(['archive', 'verify', receiptFile, path.join(folder, ...rel.split('/')), '--rpc', localChain(net.network).rpcUrl, '--json']);
    expect(onChain.code, onChain.stdout + onChain.stderr).to.equal(0);
    expect(JSON.parse(onChain.stdout)).to.include({ valid: true, anchored: true });
  });
});
