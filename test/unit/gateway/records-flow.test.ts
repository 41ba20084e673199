import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { IdentityContract } from '../../../chaincode/src';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL, HOSPITAL2, INSURER } from '../chaincode/fixtures';
import { sendTo } from '../support/http';
import { ROLE_KEYS, startOrgGateway, type OrgGateway } from '../support/org-gateways';
import { SALT_NOTE } from '../../../gateway/src/records/service';

/**
 * The record-provenance flow through three organisations' gateways, at unit level: real
 * gateways and real chaincode, on the in-memory chaincode stub instead of a Fabric network.
 */
const OFFICER_KEY = ROLE_KEYS['records-officer'];
const CLAIMS_KEY = ROLE_KEYS['claims-officer'];
const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

const send = sendTo;

function upload(doc: Buffer): FormData {
  const form = new FormData();
  form.append('document', new Blob([doc]), 'claim.pdf');
  return form;
}

describe('gateway flow: anchor → verify → amend → retract (unit level, real chaincode on the in-memory stub)', function () {
  this.timeout(20_000);
  const ledger = new FakeLedger();
  let dir: string;
  let hospital: OrgGateway;
  let hospital2: OrgGateway;
  let insurer: OrgGateway;

  const v1 = Buffer.from('%PDF-1.7 discharge summary, version 1');
  const v2 = Buffer.from('%PDF-1.7 discharge summary, version 2 (corrected)');
  /** The blocks that anchored v1 and v2, as the write answers and the ledger's height say. */
  const anchoredIn: { v1?: string; v2?: string } = {};
  const height = () => ledger.committed.length.toString();

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-flow-'));
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    hospital = await startOrgGateway({ ledger, mspId: HOSPITAL, type: 'hospital', dir });
    hospital2 = await startOrgGateway({ ledger, mspId: HOSPITAL2, type: 'hospital', dir });
    insurer = await startOrgGateway({ ledger, mspId: INSURER, type: 'insurer', dir });
  });
  after(async () => {
    await Promise.all([hospital.stop(), hospital2.stop(), insurer.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('the hospital anchors a document by uploading it; the ledger holds its hash and a commitment only', async () => {
    const form = upload(v1);
    form.append('recordId', 'adm-2026-0001');
    form.append('patientId', '900101-1234567');
    form.append('category', 'loinc:18842-5');
    // Plain on purpose (a small upload is salted by default): this flow is about the bare hash.
    form.append('commitment', 'plain');
    const res = await send(hospital, 'POST', '/v1/records', OFFICER_KEY, form);
    expect(res.status).to.equal(201);
    expect(res.body.anchor).to.include({ docHash: sha(v1), recordId: 'adm-2026-0001', version: 1, issuer: HOSPITAL, status: 'active' });
    expect(res.body.blockNumber).to.equal(height());
    anchoredIn.v1 = res.body.blockNumber;
    const everything = [...ledger.state.values()].map((v) => Buffer.from(v).toString('utf8')).join('\n');
    expect(everything).to.not.include('900101');
    expect(everything).to.not.include(sha('900101-1234567'));
  });

  it('the insurer verifies the uploaded document as ORIGINAL, and a one-byte change as UNKNOWN', async () => {
    const original = await send(insurer, 'POST', '/v1/verifications', CLAIMS_KEY, upload(v1));
    // No anchor index at this gateway: the peer answers, and the ledger finds the block of the anchor's transaction.
    expect(original.body).to.include({ verdict: 'ORIGINAL', issuer: HOSPITAL, version: 1, blockNumber: anchoredIn.v1 });
    expect(original.body.txId).to.be.a('string');
    const changed = Buffer.from(v1);
    changed[changed.length - 1] ^= 0x01;
    const unknown = await send(insurer, 'POST', '/v1/verifications', CLAIMS_KEY, upload(changed));
    expect(unknown.body).to.deep.equal({ verdict: 'UNKNOWN', docHash: sha(changed), note: SALT_NOTE });
  });

  it('the insurer may not anchor, and another hospital may not amend; nothing is written', async () => {
    const writes = ledger.writeCount;
    const anchor = await send(insurer, 'POST', '/v1/records', OFFICER_KEY, { recordId: 'x', docHash: sha('x'), patientId: 'p', category: 'c' });
    expect(anchor.status).to.equal(403);
    expect(anchor.body.error.code).to.equal('FORBIDDEN_ORG_TYPE');
    const amend = await send(hospital2, 'POST', `/v1/records/${HOSPITAL}/adm-2026-0001/versions`, OFFICER_KEY, { docHash: sha('forged') });
    expect(amend.status).to.equal(403);
    expect(amend.body.error.code).to.equal('FORBIDDEN_NOT_ISSUER');
    expect(ledger.writeCount).to.equal(writes);
  });

  it('after an amendment the old version verifies SUPERSEDED and the new one ORIGINAL', async () => {
    const amend = await send(hospital, 'POST', `/v1/records/${HOSPITAL}/adm-2026-0001/versions`, OFFICER_KEY, { docHash: sha(v2) });
    expect(amend.status).to.equal(201);
    expect(amend.body.anchor).to.include({ version: 2, supersedes: sha(v1) });
    anchoredIn.v2 = height();
    expect((await send(insurer, 'POST', '/v1/verifications', CLAIMS_KEY, { docHash: sha(v1) })).body).to.include({ verdict: 'SUPERSEDED', supersededBy: sha(v2), blockNumber: anchoredIn.v1 });
    expect((await send(insurer, 'POST', '/v1/verifications', CLAIMS_KEY, upload(v2))).body).to.include({ verdict: 'ORIGINAL', version: 2, blockNumber: anchoredIn.v2 });
  });

  it('after a retraction the document verifies RETRACTED, and the history shows it all in order', async () => {
    const retract = await send(hospital, 'PUT', `/v1/records/${HOSPITAL}/adm-2026-0001/retraction`, OFFICER_KEY, { reason: 'entered-in-error' });
    expect(retract.status).to.equal(200);
    // The anchoring block, not the retraction's.
    expect((await send(insurer, 'POST', '/v1/verifications', CLAIMS_KEY, upload(v2))).body).to.include({ verdict: 'RETRACTED', blockNumber: anchoredIn.v2 });
    expect(anchoredIn.v2).to.not.equal(height());
    const history = await send(hospital, 'GET', `/v1/records/${HOSPITAL}/adm-2026-0001/history`, CLAIMS_KEY);
    expect(history.body.versions.map((v: { version: number; status: string }) => `${v.version}:${v.status}`)).to.deep.equal(['1:superseded', '2:retracted']);
  });

  it("maps the chaincode's refusals to HTTP with their codes", async () => {
    const again = await send(hospital2, 'POST', '/v1/records', OFFICER_KEY, { recordId: 'other', docHash: sha(v1), patientId: 'p-2', category: 'loinc:18842-5' });
    expect(again.status).to.equal(409);
    expect(again.body.error.code).to.equal('DOC_HASH_CLAIMED');
    const missing = await send(hospital, 'GET', `/v1/records/${HOSPITAL}/no-such-record`, CLAIMS_KEY);
    expect(missing.status).to.equal(404);
    expect(missing.body.error.code).to.equal('RECORD_NOT_FOUND');
  });
});
