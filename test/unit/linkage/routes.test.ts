import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { hashApiKey } from '../../../gateway/src/http/auth';
import { createGatewayApp } from '../../../gateway/src/http/app';
import type { LinkageParty } from '../../../gateway/src/http/linkage-routes';
import { LinkageInstitutionService, type Partner } from '../../../gateway/src/linkage/institution';
import { SponsorLinkageService } from '../../../gateway/src/linkage/sponsor';
import { blindInput } from '../../../gateway/src/linkage/oprf';
import { linkageInput } from '../../../gateway/src/linkage/tokens';
import { FakeLinkageLedger } from './fake-ledger';

const LI = 'LinkageMSP';
const SP = 'SponsorMSP';
const KEYS = { partnerH1: 'partner-h1-key-0123456789abcdef', partnerSp: 'partner-sp-key-0123456789abcdef', officer: 'linkage-officer-key-0123456789ab', research: 'research-officer-key-0123456789a', stranger: 'stranger-partner-key-0123456789a' };

/** The linkage routes of an institution's and a sponsor's gateway, in process, on an in-memory Linkage ledger. */
describe('linkage: the routes (error envelope, partners, roles)', function () {
  this.timeout(120_000);
  let dir: string;
  const servers: http.Server[] = [];
  const urls: Record<'li' | 'sponsor', string> = { li: '', sponsor: '' };
  const ledger = new FakeLinkageLedger(() => true);
  let institution: LinkageInstitutionService;

  const serve = async (org: { mspId: string; type: 'sponsor' | 'linkage' }, linkage: LinkageParty, users: { id: string; role: 'linkage-partner' | 'linkage-officer' | 'research-officer'; key: string }[]) => {
    const { app } = createGatewayApp({
      org: { ...org, name: org.mspId },
      users: users.map((u) => ({ id: u.id, role: u.role, apiKeySha256: hashApiKey(u.key) })),
      records: {} as never,
      linkage,
      logger: pino({ level: 'silent' }),
    });
    const server = http.createServer(app);
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const call = async (url: string, key: string, method: string, route: string, body?: unknown) => {
    const res = await fetch(url + route, { method, headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    return { status: res.status, body: (await res.json()) as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
  };

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-linkage-routes-'));
    institution = new LinkageInstitutionService({ mspId: LI, oprfSeed: Buffer.alloc(32, 1), ledger: ledger.as(LI), dir: path.join(dir, 'li'), ledgerWaitMs: 0 });
    urls.li = await serve({ mspId: LI, type: 'linkage' }, { type: 'linkage', ledger: ledger.as(LI), service: institution, partners: [{ userId: 'h1', mspId: 'Hospital1MSP', type: 'hospital' }, { userId: 'sp', mspId: SP, type: 'sponsor' }] }, [
      { id: 'h1', role: 'linkage-partner', key: KEYS.partnerH1 },
      { id: 'sp', role: 'linkage-partner', key: KEYS.partnerSp },
      { id: 'unlisted', role: 'linkage-partner', key: KEYS.stranger },
      { id: 'officer', role: 'linkage-officer', key: KEYS.officer },
    ]);
    const port = { evaluate: async (id: string, b: readonly Uint8Array[]) => institution.evaluate({ mspId: SP, type: 'sponsor' } as Partner, id, b), contribute: async () => ({ received: 0, waitingFor: [] }), release: (id: string) => institution.release({ mspId: SP, type: 'sponsor' }, id) };
    urls.sponsor = await serve({ mspId: SP, type: 'sponsor' }, { type: 'sponsor', ledger: ledger.as(SP), service: new SponsorLinkageService({ mspId: SP, ledger: ledger.as(SP), institution: { mspId: LI, port }, dir: path.join(dir, 'sp') }) }, [{ id: 'ro', role: 'research-officer', key: KEYS.research }]);
  });
  after(async () => {
    for (const s of servers) await new Promise((r) => s.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('the sponsor requests (201, Location) and reads the request; bad bodies are 400 with codes', async () => {
    const created = await call(urls.sponsor, KEYS.research, 'POST', '/v1/linkage/requests', { requestId: 'R1', projectId: 'P-1', hospitals: ['Hospital1MSP', 'Hospital2MSP'], quasiIdentifiers: ['sex'], k: 2 });
    expect(created.status).to.equal(201);
    expect(created.body.request).to.include({ requestId: 'R1', sponsor: SP, institution: LI, status: 'open' });
    const read = await call(urls.sponsor, KEYS.research, 'GET', '/v1/linkage/requests/R1');
    expect(read.body).to.include({ requestId: 'R1', projectId: 'P-1' });
    expect((await call(urls.sponsor, KEYS.research, 'GET', '/v1/linkage/requests/NOPE')).body.error.code).to.equal('LINKAGE_NOT_FOUND');
    const bad = await call(urls.sponsor, KEYS.research, 'POST', '/v1/linkage/requests', { projectId: 'P-1', hospitals: ['Hospital1MSP'], quasiIdentifiers: ['sex'], k: 2 });
    expect(bad).to.deep.include({ status: 400 });
    expect(bad.body.error.code).to.equal('INVALID_REQUEST');
    const list = await call(urls.sponsor, KEYS.research, 'GET', '/v1/linkage/requests?projectId=P-1');
    expect(list.body.linkages.map((l: { requestId: string }) => l.requestId)).to.deep.equal(['R1']);
  });

  it('the institution answers only its partners, as the organisation each key was issued to', async () => {
    const blinded = [Buffer.from(blindInput(linkageInput('900101-1234567')).blinded).toString('base64url')];
    // Not contributed on the ledger yet.
    expect((await call(urls.li, KEYS.partnerH1, 'POST', '/v1/linkage/evaluate', { requestId: 'R1', blinded })).body.error.code).to.equal('LINKAGE_NOT_CONTRIBUTED');
    await ledger.as('Hospital1MSP').contribute('R1', ['ref-a']);
    const evaluated = await call(urls.li, KEYS.partnerH1, 'POST', '/v1/linkage/evaluate', { requestId: 'R1', blinded });
    expect(evaluated.status).to.equal(200);
    expect(evaluated.body.evaluated).to.have.length(1).and.to.match(/^[A-Za-z0-9_-]{43}$/);
    expect((await call(urls.li, KEYS.partnerH1, 'POST', '/v1/linkage/evaluate', { requestId: 'R1', blinded })).body.error.code).to.equal('LINKAGE_EVALUATIONS_EXCEEDED');
    expect((await call(urls.li, KEYS.partnerSp, 'POST', '/v1/linkage/evaluate', { requestId: 'R1', blinded })).body.error.code).to.equal('LINKAGE_NOT_PARTY');
    expect((await call(urls.li, KEYS.stranger, 'POST', '/v1/linkage/evaluate', { requestId: 'R1', blinded })).body.error.code).to.equal('LINKAGE_NOT_PARTY');
    expect((await call(urls.li, KEYS.officer, 'POST', '/v1/linkage/evaluate', { requestId: 'R1', blinded })).body.error.code).to.equal('FORBIDDEN_ROLE');
    expect((await call(urls.li, KEYS.partnerH1, 'POST', '/v1/linkage/evaluate', { requestId: 'R1', blinded: ['A'.repeat(43)] })).body.error.code).to.equal('LINKAGE_INVALID_ELEMENT');
    const status = await call(urls.li, KEYS.officer, 'GET', '/v1/linkage/requests/R1');
    expect(status.body.atInstitution.evaluations).to.deep.equal({ Hospital1MSP: 1 });
  });

  it('the release: 409 LINKAGE_INCOMPLETE until linked; then refused below k, with the report in the envelope', async () => {
    expect((await call(urls.sponsor, KEYS.research, 'GET', '/v1/linkage/requests/R1/release')).body.error.code).to.equal('LINKAGE_INCOMPLETE');
    const token = 'b'.repeat(64);
    const sent = await call(urls.li, KEYS.partnerH1, 'POST', '/v1/linkage/requests/R1/contributions', { entries: [{ token, quasiIdentifiers: { sex: 'F' }, data: { x: 1 } }] });
    expect(sent.status).to.equal(200);
    expect(sent.body.waitingFor).to.deep.equal(['Hospital2MSP']);
    await ledger.as('Hospital2MSP').contribute('R1', ['ref-b']);
    await institution.contribute({ mspId: 'Hospital2MSP', type: 'hospital' }, 'R1', [{ token, quasiIdentifiers: { sex: 'F' }, data: { y: 2 } }]);
    const refused = await call(urls.sponsor, KEYS.research, 'GET', '/v1/linkage/requests/R1/release');
    expect(refused.status).to.equal(409);
    expect(refused.body.error.code).to.equal('LINKAGE_RELEASE_REFUSED');
    expect(refused.body.error.details.refusal).to.include({ code: 'RELEASE_BELOW_K', k: 2, smallestClass: 1 });
    expect(JSON.stringify(refused.body)).to.not.include(token);
    // Only the sponsor's partner key fetches it at the institution.
    expect((await call(urls.li, KEYS.partnerH1, 'GET', '/v1/linkage/requests/R1/release')).body.error.code).to.equal('LINKAGE_NOT_PARTY');
  });
});
