/**
 * Research linkage end to end on the real network (issue 19): two hospitals, a sponsor and a
 * linkage institution on Fabric 3.1.5 with one gateway each (test/integration/linkage/consortium.json,
 * one network per run: ./linkage-network.ts). Everything goes through the gateways' HTTP API as
 * each organisation's staff would use it: the records offices register patients (real secp256k1
 * keys) and anchor their records, patients grant and revoke research consent, the sponsor requests
 * linkages, the hospitals' research offices contribute their cohorts (patient id, the common
 * linkage identifier, quasi-identifiers, data), the institution links, the sponsor fetches the
 * release.
 *
 * Shown: one linked pseudonymous record set per consenting patient across both hospitals;
 * non-consenting patients absent; every candidate in the patient's access log; each step on the
 * ledger; a withdrawal excludes the patient from the project's next linkage and reaches the
 * sponsor's consent feed; a second project's tokens (recomputed from the keys `up` generated,
 * checked against the token-set hashes the institution recorded) do not match the first's; a
 * release below k refused with a report; no identifier, hospital patient id or patientRef in the
 * institution's or the sponsor's gateway folders and logs, and no identifier in the blocks.
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CANARIES, describeHits, scanBytes } from '../../support/canaries';
import { call, journalled, Patient, SseClient } from '../network/support/consent';
import { runCli } from '../../unit/support/cli-process';
import { blindInput, deriveProjectKey, evaluateBlinded, finalizeOutput } from '../../../gateway/src/linkage/oprf';
import { hospitalProjectKey, linkageInput, linkageToken, tokenSetHash } from '../../../gateway/src/linkage/tokens';
import { linkageNetwork, stopLinkageNetwork, type LinkageNetwork } from './linkage-network';

after(async () => {
  await stopLinkageNetwork();
});

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** Every file under a folder (recursively), if it exists. */
function filesUnder(dir: string): string[] {
  try {
    return readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .map((f) => path.join(dir, f))
      .filter((f) => statSync(f).isFile());
  } catch {
    return [];
  }
}

describe('real network: research linkage across two hospitals (OPRF tokens, consent on the ledger, k-anonymous release)', function () {
  this.timeout(900_000);
  const run = randomBytes(3).toString('hex');
  const PROJECT = `trial-${run}`;
  const PROJECT2 = `cohort2-${run}`;
  const QI = ['ageBand', 'sex'];
  const CATEGORY = 'loinc:4548-4';
  let net: LinkageNetwork;
  let H1: string;
  let H2: string;
  let SP: string;
  let LI: string;

  /**
   * Eight people. Person i has one common linkage identifier (person 0's is the RRN canary);
   * Hospital holds persons 0–5, Hospital2 persons 2–7 (2–5 at both), each under its own patient id.
   */
  const PEOPLE = 8;
  const linkageId = (i: number) => (i === 0 ? CANARIES.RRN : `8${String(i).padStart(5, '0')}-${run}${i}`);
  const atHospital1 = [0, 1, 2, 3, 4, 5];
  const atHospital2 = [2, 3, 4, 5, 6, 7];
  const patients: Record<string, Record<number, Patient>> = {};
  const grants: Record<string, Record<number, string>> = {};
  const cohortEntry = (org: string, i: number) => ({
    patientId: patients[org][i].patientId,
    linkageId: linkageId(i),
    quasiIdentifiers: { ageBand: '40-49', sex: 'F' },
    data: { hba1c: 5 + i / 10, site: org, recordId: `LNK-REC-${run}-${org}-${i}` },
  });

  const staff = (org: string, role: string) => net.gateway(org, role);
  const contribute = (org: string, requestId: string, people: number[]) =>
    call(staff(org, 'research-officer'), 'POST', `/v1/linkage/requests/${requestId}/contributions`, { cohort: people.map((i) => cohortEntry(org, i)) });
  const request = (requestId: string, projectId: string, k = 2) =>
    call(staff('Sponsor', 'research-officer'), 'POST', '/v1/linkage/requests', { requestId, projectId, hospitals: [H1, H2], quasiIdentifiers: QI, k });
  /** The sponsor's release (its peer may be a block behind the institution's record for a moment). */
  const release = async (requestId: string) => {
    for (let i = 0; ; i++) {
      const res = await call(staff('Sponsor', 'research-officer'), 'GET', `/v1/linkage/requests/${requestId}/release`);
      if (res.body?.error?.code !== 'LINKAGE_INCOMPLETE' || i > 60) return res;
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  /** The ledger's view of a request at an org's gateway, once `check` holds. */
  const ledgerView = async (org: string, role: string, requestId: string, check: (body: any) => boolean) => {
    for (let i = 0; ; i++) {
      const res = await call(staff(org, role), 'GET', `/v1/linkage/requests/${requestId}`);
      if ((res.status === 200 && check(res.body)) || i > 120) return res;
      await new Promise((r) => setTimeout(r, 500));
    }
  };

  before(async () => {
    net = await linkageNetwork();
    [H1, H2, SP, LI] = ['Hospital', 'Hospital2', 'Sponsor', 'Linkage'].map((o) => net.mspId(o));
  });

  it('the records offices register the patients and anchor a record of each; patients grant research consent to the sponsor (some not)', async () => {
    for (const [org, mspId, people] of [['Hospital', H1, atHospital1], ['Hospital2', H2, atHospital2]] as const) {
      patients[org] = {};
      grants[org] = {};
      const desk = staff(org, 'records-officer');
      for (const i of people) {
        const p = new Patient(`LNK-MRN-${run}-${org}-${i}`, mspId, net.network.channel);
        const registered = await p.register(desk);
        expect(registered.status, registered.text).to.equal(201);
        patients[org][i] = p;
        const anchored = await journalled(desk, 'POST', '/v1/records', { recordId: `LNK-REC-${run}-${org}-${i}`, docHash: sha256(`lab ${run} ${org} ${i}`), patientId: p.patientId, category: CATEGORY });
        expect(anchored.status, anchored.text).to.be.oneOf([200, 201]);
      }
    }
    // No consent: person 1 at Hospital, person 7 at Hospital2. Person 3 consents now and withdraws later.
    for (const [org, people] of [['Hospital', [0, 2, 3, 4, 5]], ['Hospital2', [2, 3, 4, 5, 6]]] as const) {
      for (const i of people) {
        const granted = await patients[org][i].grant(staff(org, 'records-officer'), { grantee: SP, purpose: `research:${PROJECT}`, categories: [CATEGORY] });
        expect(granted.status, granted.text).to.equal(201);
        grants[org][i] = granted.body.grant.grantId;
      }
    }
    // The second project: persons 2, 4, 5 at both hospitals.
    for (const org of ['Hospital', 'Hospital2']) {
      for (const i of [2, 4, 5]) expect((await patients[org][i].grant(staff(org, 'records-officer'), { grantee: SP, purpose: `research:${PROJECT2}`, categories: [CATEGORY] })).status).to.equal(201);
    }
  });

  it('a linkage request yields one linked pseudonymous record set per consenting patient across both hospitals; non-consenting patients are absent', async () => {
    const requested = await request(`LR1-${run}`, PROJECT);
    expect(requested.status, requested.text).to.equal(201);
    expect(requested.body.request).to.include({ requestId: `LR1-${run}`, projectId: PROJECT, sponsor: SP, institution: LI, status: 'open' });

    const one = await contribute('Hospital', `LR1-${run}`, atHospital1);
    expect(one.status, one.text).to.equal(200);
    expect(one.body).to.include({ candidates: 6, included: 5 });
    expect(one.body.excluded).to.deep.equal([{ patientId: patients.Hospital[1].patientId, patientRef: patients.Hospital[1].patientRef, reason: 'NO_CONSENT' }]);
    expect(one.body.institution.waitingFor).to.deep.equal([H2]);
    const two = await contribute('Hospital2', `LR1-${run}`, atHospital2);
    expect(two.status, two.text).to.equal(200);
    expect(two.body).to.include({ candidates: 6, included: 5 });
    expect(two.body.institution.linked).to.include({ status: 'released', subjects: 6, linkedAcrossHospitals: 4 });

    const res = await release(`LR1-${run}`);
    expect(res.status, res.text).to.equal(200);
    expect(res.body).to.include({ status: 'released', projectId: PROJECT, purpose: `research:${PROJECT}`, subjects: 6, linkedAcrossHospitals: 4 });
    // Persons 0, 2, 3, 4, 5, 6: 2–5 linked across both hospitals, 0 at Hospital only, 6 at Hospital2 only.
    const bySite = res.body.release.map((s: { records: { hospital: string; data: { recordId: string } }[] }) => s.records.map((r) => r.data.recordId.replace(`LNK-REC-${run}-`, '')).sort().join(' ')).sort();
    expect(bySite).to.deep.equal(['Hospital-0', 'Hospital-2 Hospital2-2', 'Hospital-3 Hospital2-3', 'Hospital-4 Hospital2-4', 'Hospital-5 Hospital2-5', 'Hospital2-6']);
    for (const s of res.body.release) {
      expect(s.linkedId).to.match(/^L-[0-9a-f]{32}$/);
      expect(s.quasiIdentifiers).to.deep.equal({ ageBand: '40-49', sex: 'F' });
    }
    // The sponsor keeps it: asked again, the same release.
    expect((await release(`LR1-${run}`)).body.releaseHash).to.equal(res.body.releaseHash);
  });

  it('each step is on the ledger (counts and hashes) and every candidate is in the patient’s access log', async () => {
    const view = await ledgerView('Sponsor', 'research-officer', `LR1-${run}`, (b) => b.status === 'released');
    expect(view.status, view.text).to.equal(200);
    expect(view.body).to.include({ status: 'released', purpose: `research:${PROJECT}` });
    expect(view.body.contributions[H1]).to.deep.equal({ candidates: 6, included: 5 });
    expect(view.body.contributions[H2]).to.deep.equal({ candidates: 6, included: 5 });
    expect(view.body.result).to.deep.include({ status: 'released', linkedSubjects: 4 });
    expect(view.body.result.perHospital[H1].count).to.equal(5);
    const release1 = await release(`LR1-${run}`);
    expect(view.body.result.releaseHash).to.equal(release1.body.releaseHash);
    // The institution's officer sees the same, and its own counts.
    const atLi = await ledgerView('Linkage', 'linkage-officer', `LR1-${run}`, (b) => b.status === 'released');
    expect(atLi.body.atInstitution.released).to.include({ status: 'released', subjects: 6 });

    for (const [org, i, decision] of [['Hospital', 0, 'PERMIT'], ['Hospital', 1, 'NO_CONSENT'], ['Hospital2', 6, 'PERMIT'], ['Hospital2', 7, 'NO_CONSENT']] as const) {
      const log = await patients[org][i].get(staff(org, 'records-officer'), '/v1/patients/me/access-log');
      expect(log.status, log.text).to.equal(200);
      const entries = log.body.entries.filter((e: { kind?: string; requestId?: string }) => e.kind === 'linkage' && e.requestId === `LR1-${run}`);
      expect(entries, `${org} person ${i}`).to.have.length(1);
      expect(entries[0]).to.include({ accessor: SP, purpose: `research:${PROJECT}`, decision });
    }
  });

  it('a patient who withdraws is excluded from the project’s next linkage, and the sponsor’s consent feed shows the revocation', async () => {
    const research = staff('Sponsor', 'research-officer');
    const feed = await SseClient.connect(`${research.url}/v1/consents/events`, { authorization: `Bearer ${research.key}` });
    try {
      expect(feed.status).to.equal(200);
      for (const org of ['Hospital', 'Hospital2']) {
        const revoked = await patients[org][3].revoke(staff(org, 'records-officer'), grants[org][3]);
        expect(revoked.status, revoked.text).to.equal(201);
        expect(revoked.body.grant.status).to.equal('revoked');
      }
      const seen = await feed.until(() => ['Hospital', 'Hospital2'].every((org) => feed.events.some((e) => e.event === 'consent.revoked' && e.data.includes(grants[org][3]))));
      expect(seen, JSON.stringify(feed.events.map((e) => e.event))).to.equal(true);
    } finally {
      feed.close();
    }

    expect((await request(`LR2-${run}`, PROJECT)).status).to.equal(201);
    const one = await contribute('Hospital', `LR2-${run}`, atHospital1);
    expect(one.status, one.text).to.equal(200);
    expect(one.body.included).to.equal(4);
    expect(one.body.excluded.map((e: { patientId: string; reason: string }) => [e.patientId, e.reason]).sort()).to.deep.equal(
      [[patients.Hospital[1].patientId, 'NO_CONSENT'], [patients.Hospital[3].patientId, 'REVOKED']].sort(),
    );
    const two = await contribute('Hospital2', `LR2-${run}`, atHospital2);
    expect(two.body.included).to.equal(4);
    const res = await release(`LR2-${run}`);
    expect(res.status, res.text).to.equal(200);
    expect(res.body).to.include({ subjects: 5, linkedAcrossHospitals: 3 });
    const sites = res.body.release.flatMap((s: { records: { data: { recordId: string } }[] }) => s.records.map((r) => r.data.recordId));
    expect(sites.some((r: string) => r.endsWith('-3'))).to.equal(false);
  });

  it("a second project's tokens do not match the first's; its release below k is refused with a report", async () => {
    expect((await request(`LR3-${run}`, PROJECT2, 5)).status).to.equal(201);
    expect((await contribute('Hospital', `LR3-${run}`, atHospital1)).body.included).to.equal(3);
    const two = await contribute('Hospital2', `LR3-${run}`, atHospital2);
    expect(two.body.institution.linked).to.include({ status: 'refused', subjects: 3 });

    const refused = await release(`LR3-${run}`);
    expect(refused.status, refused.text).to.equal(409);
    expect(refused.body.error.code).to.equal('LINKAGE_RELEASE_REFUSED');
    expect(refused.body.error.details.refusal).to.include({ code: 'RELEASE_BELOW_K', k: 5, smallestClass: 3, subjects: 3, classes: 1, classesBelowK: 1 });
    expect(refused.body.error.message).to.match(/fewer than k = 5/);
    const view = await ledgerView('Sponsor', 'research-officer', `LR3-${run}`, (b) => b.status === 'refused');
    expect(view.body.result).to.deep.include({ status: 'refused', refusal: { code: 'RELEASE_BELOW_K', k: 5, smallestClass: 3 } });

    // The tokens themselves never leave the institution; recompute them from the keys `up` generated
    // (the test holds both, no party does) and check them against the token-set hashes on the ledger.
    const seed = Buffer.from(net.linkageSettings('Linkage')!.oprfSeed!, 'hex');
    const secret = Buffer.from(net.linkageSettings('Hospital')!.hospitalSecret!, 'hex');
    const tokensOf = (projectId: string, people: number[]) =>
      people.map((i) => {
        const input = linkageInput(linkageId(i));
        const b = blindInput(input);
        return linkageToken(hospitalProjectKey(secret, projectId), finalizeOutput(input, b.blind, evaluateBlinded(deriveProjectKey(seed, projectId), b.blinded)));
      });
    const first = await ledgerView('Sponsor', 'research-officer', `LR1-${run}`, (b) => b.status === 'released');
    const p1 = tokensOf(PROJECT, [0, 2, 3, 4, 5]);
    const p2 = tokensOf(PROJECT2, [2, 4, 5]);
    expect(first.body.result.perHospital[H1].tokenSetHash).to.equal(tokenSetHash(p1));
    expect(view.body.result.perHospital[H1].tokenSetHash).to.equal(tokenSetHash(p2));
    expect(p2.filter((t) => p1.includes(t))).to.deep.equal([]);
  });

  it("the hospitals' secret and the institution's OPRF seed are never held by one party; the institution evaluates only for an open request's listed hospitals", async () => {
    expect(net.linkageSettings('Linkage')).to.not.have.property('hospitalSecret');
    expect(net.linkageSettings('Sponsor')).to.not.have.property('hospitalSecret');
    expect(net.linkageSettings('Sponsor')).to.not.have.property('oprfSeed');
    for (const org of ['Hospital', 'Hospital2']) expect(net.linkageSettings(org)).to.not.have.property('oprfSeed');
    // A hospital's key at the institution, used to test a guess in a request it already contributed to: refused.
    const guess = Buffer.from(blindInput(linkageInput(linkageId(1))).blinded).toString('base64url');
    const asHospital = net.partnerKey('Hospital');
    const again = await call(asHospital, 'POST', '/v1/linkage/evaluate', { requestId: `LR1-${run}`, blinded: [guess] });
    expect(again.status, again.text).to.equal(409);
    expect(again.body.error.code).to.equal('LINKAGE_CLOSED');
    const sponsorAsPartner = await call(net.partnerKey('Sponsor'), 'POST', '/v1/linkage/evaluate', { requestId: `LR1-${run}`, blinded: [guess] });
    expect(sponsorAsPartner.status).to.equal(403);
    expect(sponsorAsPartner.body.error.code).to.equal('LINKAGE_NOT_PARTY');
    // The sponsor's research officer cannot contribute, a hospital cannot request.
    expect((await call(staff('Hospital', 'research-officer'), 'POST', '/v1/linkage/requests', { projectId: PROJECT, hospitals: [H1, H2], quasiIdentifiers: QI, k: 2 })).status).to.equal(404);
    const bad = await request(`LR9-${run}`, PROJECT, 1);
    expect(bad.status).to.equal(400);
  });

  it('the command line: a sponsor requests, each hospital contributes a cohort file, the sponsor reads the status and writes the release; a hospital cannot evaluate beyond what it included', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'medprov-linkage-cli-'));
    try {
      const cli = (org: string, args: string[]) => {
        const gw = staff(org, 'research-officer');
        return runCli([...args, '--gateway', gw.url], { home, env: { MEDPROV_API_KEY: gw.key } });
      };
      const requested = await cli('Sponsor', ['linkage', 'request', '--project', PROJECT, '--hospitals', `${H1},${H2}`, '--quasi', QI.join(','), '--k', '2', '--id', `LR5-${run}`]);
      expect(requested.code, requested.stderr).to.equal(0);
      expect(requested.stdout).to.include(`requested LR5-${run} (research:${PROJECT})`);
      for (const [org, people] of [['Hospital', atHospital1], ['Hospital2', atHospital2]] as const) {
        const file = path.join(home, `${org}-cohort.json`);
        writeFileSync(file, JSON.stringify(people.map((i) => cohortEntry(org, i))), { mode: 0o600 });
        const contributed = await cli(org, ['linkage', 'contribute', `LR5-${run}`, file, '--json']);
        expect(contributed.code, contributed.stderr).to.equal(0);
        expect(JSON.parse(contributed.stdout)).to.include({ candidates: 6, included: 4 });
        if (org === 'Hospital') {
          // Its four evaluations are used: one more (a guess) is refused.
          const guess = Buffer.from(blindInput(linkageInput(linkageId(1))).blinded).toString('base64url');
          const more = await call(net.partnerKey('Hospital'), 'POST', '/v1/linkage/evaluate', { requestId: `LR5-${run}`, blinded: [guess] });
          expect(more.status, more.text).to.equal(403);
          expect(more.body.error.code).to.equal('LINKAGE_EVALUATIONS_EXCEEDED');
        }
      }
      let status = await cli('Sponsor', ['linkage', 'status', `LR5-${run}`]);
      for (let i = 0; i < 60 && !status.stdout.includes('released'); i++) {
        await new Promise((r) => setTimeout(r, 500));
        status = await cli('Sponsor', ['linkage', 'status', `LR5-${run}`]);
      }
      expect(status.code, status.stderr).to.equal(0);
      expect(status.stdout).to.match(/status\s+released/);
      const out = path.join(home, 'release.json');
      const released = await cli('Sponsor', ['linkage', 'release', `LR5-${run}`, '--out', out]);
      expect(released.code, released.stderr).to.equal(0);
      expect(released.stdout).to.include('5 patients, 3 linked across hospitals');
      expect(JSON.parse(readFileSync(out, 'utf8')).release).to.have.length(5);
      const refused = await cli('Sponsor', ['linkage', 'release', `LR3-${run}`]);
      expect(refused.code).to.equal(4);
      expect(refused.stderr).to.include('LINKAGE_RELEASE_REFUSED');
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it("canaries: no identifier, hospital patient id or patientRef in the institution's or the sponsor's gateway folders and logs; no identifier in the blocks", async () => {
    const planted: Record<string, string> = {};
    for (let i = 0; i < PEOPLE; i++) planted[`linkageId ${i}`] = linkageId(i);
    planted['RRN canary (digits)'] = CANARIES['RRN (digits)'];
    for (const org of ['Hospital', 'Hospital2']) {
      for (const [i, p] of Object.entries(patients[org])) {
        planted[`${org} patientId ${i}`] = p.patientId;
        planted[`${org} patientRef ${i}`] = p.patientRef;
      }
    }
    const identifiersAndIds = Object.fromEntries(Object.entries(planted).filter(([name]) => !name.includes('patientRef')));
    const read = (files: string[]) => files.filter((f) => statSync(f, { throwIfNoEntry: false })?.isFile()).map((f) => readFileSync(f));
    for (const org of ['Linkage', 'Sponsor']) {
      const dir = net.network.gatewaySettings(org).dir;
      const log = net.network.logFile(`gateway-${org.toLowerCase()}`);
      // Its linkage folder (releases, pending contributions) and its log: nothing of any patient.
      const linkageFiles = read([...filesUnder(path.join(dir, 'linkage')), log]);
      expect(linkageFiles.length, `${org} files`).to.be.greaterThan(1);
      const hits = scanBytes(linkageFiles, planted);
      expect(hits.total, `${org}: ${describeHits(hits)}`).to.equal(0);
      // Its whole folder: no identifier, no hospital patient id. (The sponsor's consent feed names the
      // patientRef of each grant made to it, as before linkage; the release never does.)
      const everything = scanBytes(read(filesUnder(dir)), identifiersAndIds);
      expect(everything.total, `${org}: ${describeHits(everything)}`).to.equal(0);
    }
    // The blocks: the patientRefs are there by design (the contributions name them, as the access log must); identifiers never.
    const identifiers: Record<string, string> = {};
    for (let i = 0; i < PEOPLE; i++) identifiers[`linkageId ${i}`] = linkageId(i);
    identifiers['RRN canary (digits)'] = CANARIES['RRN (digits)'];
    for (const org of ['Hospital', 'Hospital2']) for (const [i, p] of Object.entries(patients[org])) identifiers[`${org} patientId ${i}`] = p.patientId;
    const blockFiles = net.network.peers.flatMap((p) => filesUnder(p.dataDir)).filter((f) => /blockfile_\d+$/.test(f));
    expect(blockFiles.length).to.be.greaterThan(0);
    const inBlocks = scanBytes(blockFiles.map((f) => readFileSync(f)), identifiers);
    expect(inBlocks.total, describeHits(inBlocks)).to.equal(0);
  });
});
