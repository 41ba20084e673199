import { expect } from 'chai';
import { createHash } from 'node:crypto';
import type { Role } from '../../gateway/src/http/roles';
import type { PeerOrganisation } from '../../network/src/consortium';
import { abuseSettingsFromEnv, caseSeed, printTally, runCases, type KeyRing, type Org } from '../support/abuse-cases';
import { askCell, authorizationOf, CALLERS, expectedOf, MATRIX, ORGS, validRequest, type Caller } from '../support/authorisation-matrix';
import { call, write } from '../integration/network/support/gateway-http';
import { stopTestNetwork, testNetwork, type TestNetwork } from '../integration/network/test-network';
import { gatewayPids, journalContents, peerHeights, quietLedger, restartGatewaysWith } from './support/gateway-env';

/**
 * Issue 15, bad input against the running system: the 10,000 generated malformed requests of the
 * stub run (test/unit/gateway/abuse.test.ts; the same seeded generator, test/support/abuse-cases.ts)
 * and the role × org type × endpoint matrix (test/support/authorisation-matrix.ts), sent to the
 * real consortium's three gateway processes on Fabric. Every malformed request gets a 4xx with the
 * error envelope, no 5xx; no denied cell of the matrix gets through; and nothing reaches the
 * ledger: the channel height on every peer (Fabric's own `peer channel getinfo`) and the
 * Hospital's acceptance journal file are the same before and after. The gateways keep their pids.
 *
 * The gateways run with the network's keys; for the run their rate limits are raised through the
 * network layer (it passes MEDPROV_RATE_LIMIT_* and MEDPROV_PATIENT_RATE_LIMIT_* on to the
 * gateways it starts), so that each case is judged on its own answer, never a 429; the gateways
 * are started again with the usual limits afterwards. Replay a run with MEDPROV_ABUSE_SEED, one
 * case with MEDPROV_ABUSE_CASE_SEED (as in the stub run).
 */
const { cases: CASES, baseSeed: BASE_SEED, onlyCase: ONLY_CASE } = abuseSettingsFromEnv();
const CONCURRENCY = 16;
const RAISED = { MEDPROV_RATE_LIMIT_PER_SECOND: '1000000', MEDPROV_RATE_LIMIT_BURST: '1000000', MEDPROV_PATIENT_RATE_LIMIT_PER_SECOND: '1000000', MEDPROV_PATIENT_RATE_LIMIT_BURST: '1000000' };
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('real network: bad input — 10,000 malformed requests and the authorisation matrix at the three gateways (issue 15)', function () {
  this.timeout(1_200_000);
  let net: TestNetwork;
  const orgOf = (type: Org): PeerOrganisation => net.network.definition.organisations.find((o) => o.type === type)!;
  /** The keys the network gave this org's users; a role it has no user for authenticates as its admin (the request is malformed anyway). */
  const keysOf = (type: Org): KeyRing => {
    const keys = net.keys.orgs[orgOf(type).name].keys;
    return Object.fromEntries((['records-officer', 'claims-officer', 'research-officer', 'dpo', 'admin'] as Role[]).map((r) => [r, keys[r] ?? keys.admin])) as KeyRing;
  };
  const urlOf = (type: Org): string => net.keys.orgs[orgOf(type).name].url;
  const tally = { requests: 0, c4xx: 0, c5xx: 0, ledgerWrites: 0, journalEntries: 0, cells: 0, unauthorised: 0 };
  let baseline: { heights: Record<string, number>; journal: Set<string>; pids: Record<string, number | undefined> };

  before(async () => {
    net = await testNetwork();
    await restartGatewaysWith(net.network, ['Hospital', 'Insurer', 'Sponsor'], RAISED);
    // The record the matrix's reads, access and release cells name (the stub run has it too).
    const hospitalRo = { url: urlOf('hospital'), key: net.keys.orgs[orgOf('hospital').name].keys['records-officer'] };
    const anchored = await write(hospitalRo, 'POST', '/v1/records', { recordId: 'matrix-rec-1', docHash: sha('matrix record'), patientId: 'MRN-matrix', category: 'loinc:11506-3' });
    expect([200, 201], anchored.text).to.include(anchored.status);
    baseline = { heights: await quietLedger(net.network), journal: journalContents(net.network, 'Hospital').accepted, pids: gatewayPids(net.network) };
    console.log(`      abuse (real network): heights before ${JSON.stringify(baseline.heights)}`);
  });

  after(async () => {
    if (net) {
      console.log(
        `      abuse (real network): ${tally.requests} requests, ${tally.c4xx} 4xx, ${tally.c5xx} 5xx, ${tally.ledgerWrites} ledger writes, ${tally.journalEntries} journal entries; ` +
          `matrix: ${tally.cells} cells, ${tally.unauthorised} unauthorised successes`,
      );
      // The gateways as the network runs them: the usual limits again.
      const usual = Object.fromEntries(Object.keys(RAISED).map((k) => [k, process.env[k]]));
      await restartGatewaysWith(net.network, ['Hospital', 'Insurer', 'Sponsor'], usual);
    }
    await stopTestNetwork();
  });

  it(`${ONLY_CASE !== undefined ? 'replays one case' : `answers ${CASES} malformed requests`} with a 4xx envelope, no 5xx`, async () => {
    const seeds = ONLY_CASE !== undefined ? [ONLY_CASE] : Array.from({ length: CASES }, (_, i) => caseSeed(BASE_SEED, i));
    console.log(`      abuse (real network): base seed ${BASE_SEED} (MEDPROV_ABUSE_SEED=${BASE_SEED} replays the run)`);
    const t = await runCases({
      seeds,
      concurrency: CONCURRENCY,
      keysOf,
      targetOf: (org) => {
        const url = new URL(urlOf(org));
        return { host: url.hostname, port: Number(url.port) };
      },
    });
    tally.requests += t.tried;
    tally.c4xx += t.c4xx;
    tally.c5xx += t.c5xx;
    console.log(`      abuse (real network): ${t.tried} requests in ${t.seconds.toFixed(1)} s / ${t.c4xx} 4xx / ${t.c5xx} 5xx / ${t.rateLimited} 429 / ${t.aborted} aborted by the client / ${t.headTooLarge} heads over 16 KB refused by Node (431)`);
    printTally('abuse (real network)', t);
    expect(t.failures.slice(0, 10), `${t.failures.length} failing cases; base seed ${BASE_SEED}`).to.deep.equal([]);
    if (ONLY_CASE === undefined) expect(t.tried).to.be.at.least(10_000);
    expect(t.c5xx, '5xx').to.equal(0);
    expect(t.rateLimited, '429 (the limits are raised for the run)').to.equal(0);
  });

  it('the authorisation matrix: every denied cell is denied with its code, at the three gateways', async () => {
    let cells = 0;
    let notApplicable = 0;
    let unauthorised = 0;
    const wrong: string[] = [];
    for (const row of MATRIX) {
      for (const org of ORGS) {
        const keys = net.keys.orgs[orgOf(org).name].keys;
        const mspId = orgOf(org).mspId;
        // Only the denied cells here: the allowed ones write (anchors, registrations), in the next test.
        for (const caller of CALLERS) {
          if (expectedOf(row, org, caller) !== 'denied') continue;
          if (caller !== 'no key' && caller !== 'bad key' && keys[caller] === undefined) {
            notApplicable += 1; // the network has no user of this role at this org
            continue;
          }
          const cell = await askCell(urlOf(org), row, org, caller, validRequest(row.endpoint, caller, mspId, authorizationOf(caller, (r) => keys[r])));
          cells += 1;
          if (cell.unauthorisedSuccess) unauthorised += 1;
          wrong.push(...cell.wrong);
        }
        // A key another gateway issued: unknown here.
        const other = ORGS.find((o) => o !== org)!;
        const foreign = net.keys.orgs[orgOf(other).name].keys.admin;
        const cell = await askCell(urlOf(org), row, org, 'bad key', validRequest(row.endpoint, 'admin', mspId, `Bearer ${foreign}`), 'denied', ['AUTH_INVALID']);
        cells += 1;
        if (cell.unauthorisedSuccess) unauthorised += 1;
        wrong.push(...cell.wrong.map((w) => `${w} (${other}'s admin key)`));
      }
    }
    tally.cells += cells;
    tally.unauthorised += unauthorised;
    console.log(`      authorisation matrix (real network): ${cells} denied cells tried (and another org's key at each endpoint), ${notApplicable} cells name a role the org has no user for, ${unauthorised} unauthorised successes, ${wrong.length} wrong`);
    expect(wrong).to.deep.equal([]);
    expect(unauthorised).to.equal(0);
  });

  it('wrote nothing: the same height on every peer, no new entry in the Hospital journal, the same gateway processes', async () => {
    // anything accepted after all would be submitted within moments: give it time to show
    await new Promise((r) => setTimeout(r, 5_000));
    const heights = await peerHeights(net.network);
    const journal = journalContents(net.network, 'Hospital').accepted;
    const gained = [...journal].filter((id) => !baseline.journal.has(id));
    tally.ledgerWrites = Math.max(...Object.entries(heights).map(([peer, h]) => h - baseline.heights[peer]));
    tally.journalEntries = gained.length;
    console.log(`      abuse (real network): heights after ${JSON.stringify(heights)}`);
    expect(heights, 'channel height on every peer').to.deep.equal(baseline.heights);
    expect(gained, 'requests accepted into the Hospital journal').to.deep.equal([]);
    expect(gatewayPids(net.network), 'gateway pids').to.deep.equal(baseline.pids);
  });

  it("the allowed cells of the matrix are allowed (never 401/403, never 5xx), and the gateways still serve", async () => {
    const wrong: string[] = [];
    let cells = 0;
    for (const row of MATRIX) {
      for (const org of ORGS) {
        const keys = net.keys.orgs[orgOf(org).name].keys;
        for (const caller of CALLERS) {
          if (expectedOf(row, org, caller) !== 'allowed' || keys[caller as Role] === undefined) continue;
          const cell = await askCell(urlOf(org), row, org, caller, validRequest(row.endpoint, caller as Caller, orgOf(org).mspId, authorizationOf(caller, (r) => keys[r])));
          cells += 1;
          wrong.push(...cell.wrong);
        }
      }
    }
    tally.cells += cells;
    console.log(`      authorisation matrix (real network): ${cells} allowed cells tried, ${wrong.length} wrong`);
    expect(wrong).to.deep.equal([]);
    for (const org of ORGS) {
      const verify = await call({ url: urlOf(org), key: net.keys.orgs[orgOf(org).name].keys.admin }, 'POST', '/v1/verifications', { docHash: sha('matrix record') });
      expect(verify.status, verify.text).to.equal(200);
    }
  });
});
