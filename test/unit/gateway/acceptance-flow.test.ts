import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { IdentityContract } from '../../../chaincode/src';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL, HOSPITAL2 } from '../chaincode/fixtures';
import { ROLE_KEYS, startOrgGateway, type OrgGateway } from '../support/org-gateways';

/** Writes through the acceptance journal, over HTTP, at unit level (real chaincode, in-memory stub). */
const KEY = ROLE_KEYS['records-officer'];
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('gateway flow: writes accepted durably (202, Location, Prefer: wait, Idempotency-Key)', function () {
  this.timeout(20_000);
  const ledger = new FakeLedger();
  let dir: string;
  const gateways: OrgGateway[] = [];

  async function post(base: string, p: string, body: unknown, headers: Record<string, string> = {}) {
    const res = await fetch(base + p, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    return { status: res.status, headers: res.headers, body: (await res.json()) as any };
  }

  let hospital: string;
  let hospital2: string;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-accept-'));
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    for (const mspId of [HOSPITAL, HOSPITAL2]) gateways.push(await startOrgGateway({ ledger, mspId, type: 'hospital', dir, acceptance: true }));
    [hospital, hospital2] = gateways.map((gw) => gw.url);
  });
  after(async () => {
    for (const gw of gateways) await gw.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const record = (id: string) => ({ recordId: id, docHash: sha(id), patientId: `MRN-${id}`, category: 'loinc:11506-3' });

  it('answers 202 with a Location, and the request is committed when polled', async () => {
    const res = await post(hospital, '/v1/records', record('r-202'));
    expect(res.status).to.equal(202);
    const location = res.headers.get('location') as string;
    expect(location).to.match(/^\/v1\/requests\/.+/);
    let status: any;
    for (let i = 0; i < 50; i++) {
      status = await (await fetch(hospital + location, { headers: { authorization: `Bearer ${KEY}` } })).json();
      if (status.state === 'committed') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(status.state).to.equal('committed');
    expect(status.result.anchor).to.include({ recordId: 'r-202', issuer: HOSPITAL, version: 1 });
  });

  it('with Prefer: wait, answers the final outcome: 201 for a new anchor, the chaincode code for a refusal', async () => {
    const created = await post(hospital, '/v1/records', record('r-wait'), { prefer: 'wait=10' });
    expect(created.status).to.equal(201);
    expect(created.body.anchor.recordId).to.equal('r-wait');
    expect(created.body.blockNumber).to.be.a('string');
    const claimed = await post(hospital2, '/v1/records', { ...record('other-id'), docHash: sha('r-wait') }, { prefer: 'wait=10' });
    expect(claimed.status).to.equal(409);
    expect(claimed.body.error.code).to.equal('DOC_HASH_CLAIMED');
  });

  it('an Idempotency-Key replays the same request instead of accepting it twice; a different body is refused', async () => {
    const first = await post(hospital, '/v1/records', record('r-idem'), { 'idempotency-key': 'batch-7-item-1' });
    const again = await post(hospital, '/v1/records', record('r-idem'), { 'idempotency-key': 'batch-7-item-1' });
    expect(again.headers.get('location')).to.equal(first.headers.get('location'));
    expect(again.headers.get('idempotent-replayed')).to.equal('true');
    const reused = await post(hospital, '/v1/records', record('r-other'), { 'idempotency-key': 'batch-7-item-1' });
    expect(reused.status).to.equal(409);
    expect(reused.body.error.code).to.equal('IDEMPOTENCY_KEY_REUSED');
  });
});
