import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { IdentityContract } from '../../../chaincode/src';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL, HOSPITAL2, INSURER, SPONSOR } from '../chaincode/fixtures';
import { NOTHING_ANCHORED, ROLE_KEYS, startOrgGateway, type OrgGateway } from '../support/org-gateways';
import { abuseSettingsFromEnv, caseSeed, hex64, OPEN_PATHS, printTally, ROUTES, runCases, type Org } from '../../support/abuse-cases';

/**
 * Issue 7, abuse: at least 10,000 generated malformed requests against every route of the
 * OpenAPI document, on real hospital (with the acceptance journal), insurer and sponsor
 * gateways sharing one in-memory ledger with the real chaincode. Every answer must be a 4xx
 * with the error envelope, nothing may reach the ledger or the journal, and the gateways must
 * still serve afterwards. The generator (test/support/abuse-cases.ts, shared with the
 * real-network run in test/faults/abuse.test.ts) is a seeded xorshift PRNG: every failing case
 * names its seed; replay one with MEDPROV_ABUSE_CASE_SEED=<seed>, a whole run with MEDPROV_ABUSE_SEED.
 */
const { cases: CASES, baseSeed: BASE_SEED, onlyCase: ONLY_CASE } = abuseSettingsFromEnv();
const CONCURRENCY = 16;

// ─────────────────────────────── the tests ───────────────────────────────

describe('gateway abuse: generated malformed requests against every route (issue 7)', function () {
  this.timeout(180_000);
  const ledger = new FakeLedger();
  let dir: string;
  const gws: Record<Org, OrgGateway> = {} as Record<Org, OrgGateway>;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };
  const high = { perSecond: 1e6, burst: 1e6, patientPerSecond: 1e6, patientBurst: 1e6 };

  before(async () => {
    process.on('unhandledRejection', onUnhandled);
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-abuse-'));
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    const consentFeed = (org: Org) => ({ dir: path.join(dir, `${org}-feed`) });
    gws.hospital = await startOrgGateway({ ledger, mspId: HOSPITAL, type: 'hospital', dir, acceptance: true, limits: high, consentFeed: consentFeed('hospital'), anchoring: NOTHING_ANCHORED });
    gws.insurer = await startOrgGateway({ ledger, mspId: INSURER, type: 'insurer', dir, limits: { ...high, jsonBytes: '4mb' }, consentFeed: consentFeed('insurer'), anchoring: NOTHING_ANCHORED });
    gws.sponsor = await startOrgGateway({ ledger, mspId: SPONSOR, type: 'sponsor', dir, limits: high, consentFeed: consentFeed('sponsor'), anchoring: NOTHING_ANCHORED });
  });
  after(async () => {
    for (const gw of Object.values(gws)) await gw.stop();
    rmSync(dir, { recursive: true, force: true });
    process.off('unhandledRejection', onUnhandled);
  });

  it('the generator covers every route of the OpenAPI document', async () => {
    for (const org of ['hospital', 'insurer', 'sponsor'] as const) {
      const spec = (await (await fetch(`${gws[org].url}/v1/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
      // A path item's own `parameters` (its path variables) are no operation.
      const documented = Object.entries(spec.paths).flatMap(([p, ops]) => Object.keys(ops).filter((m) => m !== 'parameters').map((m) => `${m.toUpperCase()} ${p}`));
      const covered = new Set([...ROUTES.map((r) => `${r.method} ${r.path}`), ...OPEN_PATHS.map((p) => `GET ${p}`)]);
      expect(documented.filter((d) => !covered.has(d)), `${org}: routes the generator does not know`).to.deep.equal([]);
    }
  });

  it(`${ONLY_CASE !== undefined ? 'replays one case' : `answers ${CASES} malformed requests`} with a 4xx envelope, writes nothing and stays up`, async () => {
    const writesBefore = ledger.writeCount;
    const txBefore = ledger.committed.length;
    const journalBefore = gws.hospital.journal!.list().length;
    const seeds = ONLY_CASE !== undefined ? [ONLY_CASE] : Array.from({ length: CASES }, (_, i) => caseSeed(BASE_SEED, i));
    console.log(`      abuse: base seed ${BASE_SEED} (MEDPROV_ABUSE_SEED=${BASE_SEED} replays the run)`);

    const t = await runCases({ seeds, concurrency: CONCURRENCY, keysOf: () => ROLE_KEYS, targetOf: (org) => ({ host: '127.0.0.1', port: gws[org].port }) });
    // let the submitter run, in case anything was accepted after all
    await new Promise((r) => setTimeout(r, 200));

    const writes = ledger.writeCount - writesBefore;
    const accepted = gws.hospital.journal!.list().length - journalBefore;
    console.log(
      `      abuse: ${t.tried} requests tried in ${t.seconds.toFixed(1)} s / ${t.c4xx} 4xx / ${t.c5xx} 5xx / ${t.aborted} aborted by the client / ${t.headTooLarge} heads over 16 KB refused by Node (431) / ` +
        `${writes} ledger writes (${ledger.committed.length - txBefore} transactions) / ${accepted} journal entries`,
    );
    printTally('abuse', t);
    const { failures, tried, c5xx } = t;
    expect(failures.slice(0, 10), `${failures.length} failing cases; base seed ${BASE_SEED}`).to.deep.equal([]);
    if (ONLY_CASE === undefined) expect(tried).to.be.at.least(10_000);
    expect(c5xx).to.equal(0);
    expect(writes, 'ledger writes').to.equal(0);
    expect(ledger.committed.length - txBefore, 'transactions').to.equal(0);
    expect(accepted, 'journal entries').to.equal(0);
    expect(unhandled, 'unhandled rejections').to.deep.equal([]);
  });

  it('the gateways still answer /healthz and a valid request afterwards', async () => {
    for (const org of ['hospital', 'insurer', 'sponsor'] as const) {
      const health = await fetch(`${gws[org].url}/healthz`);
      expect(health.status).to.equal(200);
      const verify = await fetch(`${gws[org].url}/v1/verifications`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ROLE_KEYS['claims-officer']}`, 'content-type': 'application/json' },
        body: JSON.stringify({ docHash: hex64('never anchored') }),
      });
      expect(verify.status).to.equal(200);
      expect(((await verify.json()) as { verdict: string }).verdict).to.equal('UNKNOWN');
    }
    const anchored = await fetch(`${gws.hospital.url}/v1/records`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ROLE_KEYS['records-officer']}`, 'content-type': 'application/json', prefer: 'wait=10' },
      body: JSON.stringify({ recordId: 'after-abuse-1', docHash: hex64('after abuse'), patientId: 'MRN-after', category: 'loinc:11506-3' }),
    });
    expect(anchored.status, await anchored.clone().text()).to.equal(201);
    expect(ledger.writeCount).to.be.greaterThan(0);
    expect(unhandled, 'unhandled rejections').to.deep.equal([]);
  });

  it('rate limits: one user flooding gets 429 while another user is still served; a patient flood is limited per IP', async () => {
    const gw = await startOrgGateway({ ledger, mspId: HOSPITAL2, type: 'hospital', dir, limits: { perSecond: 1, burst: 5, patientPerSecond: 1, patientBurst: 3 } });
    try {
      const call = async (role: keyof typeof ROLE_KEYS) => fetch(`${gw.url}/v1/whoami`, { headers: { authorization: `Bearer ${ROLE_KEYS[role]}` } });
      const flood = await Promise.all(Array.from({ length: 30 }, () => call('claims-officer')));
      const statuses = flood.map((r) => r.status);
      const limited = flood.filter((r) => r.status === 429);
      console.log(`      rate limit: flooding user ${statuses.filter((s) => s === 200).length}×200, ${limited.length}×429`);
      expect(limited.length).to.be.at.least(20);
      const body = (await limited[0].json()) as { error: { code: string; message: string } };
      expect(body.error.code).to.equal('RATE_LIMITED');
      expect(limited[0].headers.get('retry-after')).to.match(/^\d+$/);
      const other = await call('records-officer');
      expect(other.status, 'another user is still served').to.equal(200);
      const patients = await Promise.all(
        Array.from({ length: 10 }, () => fetch(`${gw.url}/v1/patients/challenges`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"address":"nope"}' })),
      );
      const pStatuses = patients.map((r) => r.status);
      expect(pStatuses.filter((s) => s === 429).length).to.be.at.least(6);
      expect(pStatuses.filter((s) => s === 400).length).to.be.at.most(4);
      expect((await call('dpo')).status, 'staff are not limited by the patients flood').to.equal(200);
    } finally {
      await gw.stop();
    }
  });
});
