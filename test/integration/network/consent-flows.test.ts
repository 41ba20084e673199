import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { LedgerClient } from '../../../gateway/src/fabric/client';
import { gatewayName, startGateway } from '../../../network/src/gateways';
import { stopDaemon } from '../../../network/src/processes';
import { hl7Validate } from '../../unit/fhir/hl7-validator';
import { r4Errors } from '../../unit/fhir/r4';
import { call, counter, eventually, journalled, Patient, samples, SseClient, type Answer, type Endpoint, type SseEvent } from './support/consent';
import { stopTestNetwork, testNetwork, type TestNetwork } from './test-network';

/**
 * Issue 13, consent part: every consent flow on the real network — Fabric 3.1.5, real peers,
 * the real gateways over HTTP. Registration, signed grants and revocations, checks, consent-
 * checked access and the patient's access log, the FHIR R4 exports, the consent event stream
 * across a gateway restart, research releases and their disclosures, erasure, and concurrent
 * grants and accesses on one patient (MVCC / phantom-read conflicts on the peers).
 */
const HOSPITAL = 'HospitalMSP';
const INSURER = 'InsurerMSP';
const SPONSOR = 'SponsorMSP';
const DISCHARGE = 'loinc:18842-5';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

const entryOf = (e: SseEvent) => JSON.parse(e.data) as { seq: number; blockNumber: string; transactionId: string; change: { kind: string; grantId: string; grantee: string; hospital: string; patientRef: string; purpose: string; status: string } };

describe('real network: consent flows over HTTP through the real gateways (issue 13)', function () {
  this.timeout(600_000);
  const run = randomBytes(3).toString('hex');
  const TRIAL = `research:TRIAL-CF-${run}`;
  let net: TestNetwork;
  let officer: Endpoint; // Hospital records officer
  let hospital: Endpoint; // Hospital's gateway, no key (what a patient uses)
  let insurer: Endpoint;
  let sponsor: Endpoint;
  let claims: Endpoint; // Insurer claims officer
  const streams: SseClient[] = [];

  // The claims flow's patient and record; the concurrency patient and record; the erased patient.
  let alice: Patient;
  const aliceRecord = { recordId: `cf-${run}-adm-1`, docHash: sha(`discharge summary ${run} alice`) };
  let bob: Patient;
  const bobRecord = { recordId: `cf-${run}-adm-2`, docHash: sha(`discharge summary ${run} bob`) };
  const erasedPatientId = `MRN-CF-${run}-ERASE`;
  // Five patients of one class (women, 50–59, Seoul, admitted October 2025) for the research release.
  const cohort = [0, 1, 2, 3, 4].map((i) => ({
    patientId: `MRN-CF-${run}-R${i}`,
    recordId: `cf-${run}-res-${i}`,
    attributes: { sex: 'F', birthDate: `1975-0${i + 1}-1${i}`, regionCode: ['11110', '11440', '11650', '11680', '11710'][i], admissionDate: `2025-10-0${i + 3}`, diagnosisCode: ['E11.9', 'I10', 'J18.9', 'N18.3', 'K80.2'][i] },
  }));

  let grantId: string;
  const accesses: { permit?: Answer; deny?: Answer } = {};
  let insurerStream: SseClient;

  const insurerOrg = () => net.network.definition.organisations.find((o) => o.mspId === INSURER)!;

  /** The ledger's access log of a patient, read through the Insurer's own peer (no gateway in the path). */
  async function ledgerAccessLog(patientRef: string): Promise<any[]> {
    const client = await LedgerClient.connect(net.network.gatewaySettings('Insurer').fabric);
    try {
      return JSON.parse(Buffer.from(await client.evaluate('Access:listAccessLog', HOSPITAL, patientRef)).toString('utf8'));
    } finally {
      client.close();
    }
  }

  before(async () => {
    // The R4 schema validators compile on first use, blocking this process for seconds on a busy
    // machine: done here, not between two requests of a test.
    for (const resourceType of ['Consent', 'Provenance', 'Bundle']) r4Errors({ resourceType });
    net = await testNetwork();
    officer = net.gateway('Hospital', 'records-officer');
    hospital = { url: officer.url };
    insurer = { url: net.gateway('Insurer', 'admin').url };
    sponsor = { url: net.gateway('Sponsor', 'admin').url };
    claims = net.gateway('Insurer', 'claims-officer');
    alice = new Patient(`MRN-CF-${run}-A`, HOSPITAL, net.network.channel);
    bob = new Patient(`MRN-CF-${run}-B`, HOSPITAL, net.network.channel);
    // Every record of this file in one journalled batch (one transaction).
    const records = [
      { ...aliceRecord, patientId: alice.patientId, category: DISCHARGE },
      { ...bobRecord, patientId: bob.patientId, category: DISCHARGE },
      { recordId: `cf-${run}-erase-1`, docHash: sha(`lab ${run} erased`), patientId: erasedPatientId, category: DISCHARGE },
      ...cohort.map((p) => ({ recordId: p.recordId, docHash: sha(`discharge summary ${p.recordId}`), patientId: p.patientId, category: DISCHARGE })),
    ];
    const batch = await journalled(officer, 'POST', '/v1/records/batch', { records });
    expect(batch.status, batch.text).to.equal(201);
  });

  after(async () => {
    for (const s of streams) s.close();
    // Whatever happened, the shared network keeps its Insurer gateway.
    if (net) await startGateway(net.network, insurerOrg());
    await stopTestNetwork();
  });

  describe('register → grant → PERMIT → revoke → DENY → the patient sees both', () => {
    it("registers the patient: the Hospital's registration request, signed with the patient's key, submitted by the records officer (201; again 200)", async () => {
      const registered = await alice.register(officer);
      expect(registered.status, registered.text).to.equal(201);
      expect(registered.body.binding).to.include({ hospital: HOSPITAL, patientRef: alice.patientRef, patient: alice.address });
      expect(registered.body.blockNumber).to.match(/^\d+$/);
      const again = await alice.register(officer);
      expect(again.status, again.text).to.equal(200);
      expect(again.body).to.deep.include({ created: false, binding: registered.body.binding });
      // The Insurer's claims desk subscribes to its consent stream now, to see the grant and the revocation.
      insurerStream = await SseClient.connect(`${claims.url}/v1/consents/events`, { authorization: `Bearer ${claims.key}` });
      streams.push(insurerStream);
      expect(insurerStream.status).to.equal(200);
    });

    it('the patient grants the Insurer claims access through the Hospital gateway, without an API key; the check says PERMIT', async () => {
      const res = await alice.grant(hospital, { grantee: INSURER, purpose: 'claims', categories: [DISCHARGE] });
      expect(res.status, res.text).to.equal(201);
      expect(res.body.grant).to.include({ grantee: INSURER, purpose: 'claims', status: 'active', patient: alice.address, submittedBy: HOSPITAL, patientRef: alice.patientRef });
      expect(res.body.blockNumber).to.match(/^\d+$/);
      grantId = res.body.grant.grantId;

      const check = await call(claims, 'GET', `/v1/consents/check?${new URLSearchParams({ hospital: HOSPITAL, patientRef: alice.patientRef, purpose: 'claims', category: DISCHARGE })}`);
      expect(check.status, check.text).to.equal(200);
      expect(check.body).to.include({ decision: 'PERMIT', grantId });
      // At the Sponsor (another grantee): DENY for it.
      const other = await call(net.gateway('Sponsor', 'research-officer'), 'GET', `/v1/consents/check?${new URLSearchParams({ hospital: HOSPITAL, patientRef: alice.patientRef, purpose: TRIAL, category: DISCHARGE })}`);
      expect(other.status, other.text).to.equal(200);
      expect(other.body.decision).to.not.equal('PERMIT');
    });

    it("the Insurer's claims officer is PERMITted (POST /v1/access): provenance and a committed access-log entry", async () => {
      const res = await call(claims, 'POST', '/v1/access', { issuer: HOSPITAL, recordId: aliceRecord.recordId, purpose: 'claims' });
      expect(res.status, res.text).to.equal(200);
      expect(res.body).to.include({ decision: 'PERMIT', grantId });
      expect(res.body.provenance).to.have.length(1);
      expect(res.body.provenance[0]).to.include({ recordId: aliceRecord.recordId, docHash: aliceRecord.docHash, issuer: HOSPITAL, version: 1, patientRef: alice.patientRef });
      expect(res.body.accessLog).to.include({ accessor: INSURER, decision: 'PERMIT', recordId: aliceRecord.recordId, patientRef: alice.patientRef, purpose: 'claims', grantId });
      expect(res.body.blockNumber).to.match(/^\d+$/);
      accesses.permit = res;
    });

    it('exports the grant as a valid FHIR R4 Consent, active, at the Insurer and the Hospital (404 at the Sponsor); the patient gets a Bundle; the Hospital exports the record as Provenance', async () => {
      const path = `/v1/consents/${HOSPITAL}/${alice.patientRef}/${grantId}`;
      for (const gw of [claims, net.gateway('Hospital', 'dpo')]) {
        const res = await call(gw, 'GET', path);
        expect(res.status, res.text).to.equal(200);
        expect(res.headers.get('content-type')).to.match(/^application\/fhir\+json/);
        expect(res.body).to.include({ resourceType: 'Consent', status: 'active' });
        expect(res.body.identifier[0].value).to.equal(grantId);
        expect(r4Errors(res.body)).to.deep.equal([]);
      }
      const elsewhere = await call(net.gateway('Sponsor', 'admin'), 'GET', path);
      expect(elsewhere.status, elsewhere.text).to.equal(404);
      expect(elsewhere.body.error.code).to.equal('GRANT_NOT_FOUND');

      const mine = await alice.get(insurer, '/v1/patients/me/consents');
      expect(mine.status, mine.text).to.equal(200);
      expect(mine.body).to.include({ resourceType: 'Bundle', type: 'collection' });
      expect(mine.body.entry.map((e: any) => [e.resource.resourceType, e.resource.identifier[0].value, e.resource.status])).to.deep.equal([['Consent', grantId, 'active']]);
      expect(r4Errors(mine.body)).to.deep.equal([]);

      const provenance = await call(officer, 'GET', `/v1/records/${HOSPITAL}/${aliceRecord.recordId}/versions/1/provenance`);
      expect(provenance.status, provenance.text).to.equal(200);
      expect(provenance.body).to.include({ resourceType: 'Bundle' });
      expect(provenance.body.entry.map((e: any) => e.resource.resourceType)).to.deep.equal(['Provenance']);
      expect(JSON.stringify(provenance.body)).to.include(aliceRecord.docHash);
      expect(r4Errors(provenance.body)).to.deep.equal([]);
    });

    it("the patient revokes through the Sponsor's gateway; the check says DENY (REVOKED); the Insurer's access is DENY: 200, logged, no provenance", async () => {
      const revoked = await alice.revoke(sponsor, grantId);
      expect(revoked.status, revoked.text).to.equal(201);
      expect(revoked.body.grant).to.include({ grantId, status: 'revoked' });
      expect(revoked.body.grant.revocation).to.include({ submittedBy: SPONSOR });
      const again = await alice.revoke(insurer, grantId);
      expect(again.status, again.text).to.equal(200);
      expect(again.body.created).to.equal(false);

      const check = await call(claims, 'GET', `/v1/consents/check?${new URLSearchParams({ hospital: HOSPITAL, patientRef: alice.patientRef, purpose: 'claims', category: DISCHARGE })}`);
      expect(check.body).to.include({ decision: 'DENY', reason: 'REVOKED', grantId });

      const res = await call(claims, 'POST', '/v1/access', { issuer: HOSPITAL, recordId: aliceRecord.recordId, purpose: 'claims' });
      expect(res.status, res.text).to.equal(200);
      expect(res.body).to.include({ decision: 'DENY', reason: 'REVOKED', grantId });
      expect(res.body).to.not.have.property('provenance');
      expect(res.body.accessLog).to.include({ accessor: INSURER, decision: 'DENY', reason: 'REVOKED' });
      accesses.deny = res;
    });

    it('the FHIR exports now say inactive', async () => {
      const res = await call(claims, 'GET', `/v1/consents/${HOSPITAL}/${alice.patientRef}/${grantId}`);
      expect(res.status, res.text).to.equal(200);
      expect(res.body).to.include({ resourceType: 'Consent', status: 'inactive' });
      expect(r4Errors(res.body)).to.deep.equal([]);
      const mine = await alice.get(hospital, '/v1/patients/me/consents');
      expect(mine.body.entry.map((e: any) => e.resource.status)).to.deep.equal(['inactive']);
      expect(r4Errors(mine.body)).to.deep.equal([]);
    });

    it('the patient, answering a signed challenge, lists both accesses in the access log, as the ledger holds them; and the revoked grant', async () => {
      const log = await alice.get(insurer, '/v1/patients/me/access-log');
      expect(log.status, log.text).to.equal(200);
      expect(log.body).to.include({ hospital: HOSPITAL, patientRef: alice.patientRef, patient: alice.address });
      expect(log.body.entries.map((e: any) => [e.accessor, e.decision, e.reason ?? null, e.txId])).to.deep.equal([
        [INSURER, 'PERMIT', null, accesses.permit!.body.accessLog.txId],
        [INSURER, 'DENY', 'REVOKED', accesses.deny!.body.accessLog.txId],
      ]);
      expect(await ledgerAccessLog(alice.patientRef)).to.deep.equal(log.body.entries);

      // The same entries as FHIR R4 AuditEvents (a hospital's audit system imports these), valid
      // for the official HL7 validator as the ledger really wrote them.
      const audit = await alice.get(insurer, '/v1/patients/me/access-log?format=fhir');
      expect(audit.status, audit.text).to.equal(200);
      expect(audit.body.entry.map((e: any) => [e.resource.resourceType, e.resource.outcomeDesc, e.resource.extension[0].valueIdentifier.value])).to.deep.equal([
        ['AuditEvent', 'PERMIT', accesses.permit!.body.accessLog.txId],
        ['AuditEvent', 'DENY: REVOKED', accesses.deny!.body.accessLog.txId],
      ]);
      expect(r4Errors(audit.body)).to.deep.equal([]);
      const consents = await alice.get(hospital, '/v1/patients/me/consents');
      const hl7 = await hl7Validate([audit.body, consents.body]);
      expect(hl7.results.flatMap((r) => r.errors.map((e) => `${r.resourceType}: ${e.location}: ${e.message}`))).to.deep.equal([]);

      const grants = await alice.get(sponsor, '/v1/patients/me/grants');
      expect(grants.status, grants.text).to.equal(200);
      expect(grants.body.grants.map((g: any) => [g.grantId, g.status, g.effectiveStatus])).to.deep.equal([[grantId, 'revoked', 'revoked']]);
    });

    it("the Insurer's consent stream delivered the grant and then the revocation", async () => {
      const mine = () => insurerStream.events.filter((e) => entryOf(e).change.patientRef === alice.patientRef);
      expect(await insurerStream.until(() => mine().length >= 2), JSON.stringify(insurerStream.events)).to.equal(true);
      expect(mine().map((e) => [e.event, entryOf(e).change.grantId, entryOf(e).change.status])).to.deep.equal([
        ['consent.granted', grantId, 'active'],
        ['consent.revoked', grantId, 'revoked'],
      ]);
      for (const e of mine()) {
        expect(e.id).to.equal(String(entryOf(e).seq));
        expect(entryOf(e).blockNumber).to.match(/^\d+$/);
      }
    });
  });

  describe("the consent stream across a restart of the Insurer's gateway", () => {
    it('stopped by pid; a grant and its revocation meanwhile; started again; a client resuming with Last-Event-ID gets both once, then what follows', async () => {
      const lastId = insurerStream.events[insurerStream.events.length - 1].id!;
      const org = insurerOrg();
      await stopDaemon(net.network.pidFile(gatewayName(org)));
      expect(await insurerStream.until(() => insurerStream.ended), 'the live stream ends with the gateway').to.equal(true);

      let missed: string;
      try {
        const granted = await alice.grant(hospital, { grantee: INSURER, purpose: 'claims', categories: [DISCHARGE] });
        expect(granted.status, granted.text).to.equal(201);
        missed = granted.body.grant.grantId;
        const revoked = await alice.revoke(sponsor, missed);
        expect(revoked.status, revoked.text).to.equal(201);
      } finally {
        expect(await startGateway(net.network, org)).to.equal('started');
      }

      const resumed = await SseClient.connect(`${claims.url}/v1/consents/events`, { authorization: `Bearer ${claims.key}`, 'last-event-id': lastId });
      streams.push(resumed);
      expect(resumed.status).to.equal(200);
      // A sentinel granted after the restart: once it arrives, everything before it has been through the feed.
      const sentinel = await alice.grant(hospital, { grantee: INSURER, purpose: 'claims', recordIds: [aliceRecord.recordId] });
      expect(sentinel.status, sentinel.text).to.equal(201);
      const sentinelId = sentinel.body.grant.grantId;
      const seen = (id: string) => resumed.events.some((e) => entryOf(e).change.grantId === id && e.event === 'consent.granted');
      expect(await resumed.until(() => seen(sentinelId)), JSON.stringify(resumed.events)).to.equal(true);

      const ids = resumed.events.map((e) => Number(e.id));
      expect(ids.every((id) => id > Number(lastId)), `ids after ${lastId}: ${ids}`).to.equal(true);
      expect(new Set(ids).size, 'no event twice').to.equal(ids.length);
      expect([...ids].sort((a, b) => a - b)).to.deep.equal(ids);
      const mine = resumed.events.filter((e) => entryOf(e).change.patientRef === alice.patientRef).map((e) => [e.event, entryOf(e).change.grantId]);
      expect(mine).to.deep.equal([
        ['consent.granted', missed!],
        ['consent.revoked', missed!],
        ['consent.granted', sentinelId],
      ]);
      // The ledger agrees: the Insurer's gateway answers again, and the missed grant is revoked.
      const check = await call(claims, 'GET', `/v1/consents/${HOSPITAL}/${alice.patientRef}/${missed!}`);
      expect(check.body).to.include({ resourceType: 'Consent', status: 'inactive' });
    });
  });

  describe('research release with its disclosure on the ledger', () => {
    const patients: Patient[] = [];

    before(async () => {
      for (const c of cohort) patients.push(new Patient(c.patientId, HOSPITAL, net.network.channel));
      // Different patients touch different keys: registered and granting all at once.
      const registered = await Promise.all(patients.map((p) => p.register(officer)));
      for (const r of registered) expect(r.status, r.text).to.equal(201);
      const granted = await Promise.all(patients.map((p, i) => p.grant([hospital, insurer, sponsor][i % 3], { grantee: SPONSOR, purpose: TRIAL, categories: [DISCHARGE] })));
      for (const g of granted) expect(g.status, g.text).to.equal(201);
    });

    it("releases five consented records for the Sponsor at k = 5; the disclosure is one ledger transaction in each patient's access log", async () => {
      const res = await call(net.gateway('Hospital', 'research-officer'), 'POST', '/v1/research/releases', {
        grantee: SPONSOR,
        purpose: TRIAL,
        records: cohort.map((c) => ({ issuer: HOSPITAL, recordId: c.recordId, attributes: c.attributes })),
      });
      expect(res.status, res.text).to.equal(200);
      expect(res.body).to.include({ issuer: HOSPITAL, grantee: SPONSOR, purpose: TRIAL });
      expect(res.body.rows).to.have.length(5);
      expect(res.body.report).to.deep.include({ k: 5, kMin: 5, classes: 1, releasable: true });
      expect(res.body.report.records).to.include({ requested: 5, released: 5, withoutConsent: 0 });
      for (const row of res.body.rows) expect(row).to.include({ sex: 'F', ageBand: '50-59', region: '11***', admissionMonth: '2025-10' });
      const { disclosureId, transactionId, logged } = res.body.disclosure;
      expect(logged).to.equal(5);

      for (const p of patients) {
        // The patient's view through the Sponsor's gateway, and the ledger as read by the Insurer's peer.
        const log = await p.get(sponsor, '/v1/patients/me/access-log');
        expect(log.status, log.text).to.equal(200);
        expect(log.body.entries).to.have.length(1);
        expect(log.body.entries[0]).to.include({ kind: 'disclosure', accessor: SPONSOR, disclosedBy: HOSPITAL, disclosureId, txId: transactionId, decision: 'PERMIT', purpose: TRIAL });
        expect(await ledgerAccessLog(p.patientRef)).to.deep.equal(log.body.entries);
      }
    });

    it('a record without consent for that trial is refused by record id (RELEASE_NO_CONSENT), and the refusal is logged on the ledger', async () => {
      const res = await call(net.gateway('Hospital', 'research-officer'), 'POST', '/v1/research/releases', {
        grantee: SPONSOR,
        purpose: `${TRIAL}-OTHER`,
        records: cohort.map((c) => ({ issuer: HOSPITAL, recordId: c.recordId, attributes: c.attributes })),
      });
      expect(res.status, res.text).to.equal(422);
      expect(res.body.error.code).to.equal('RELEASE_NO_CONSENT');
      const entries = await ledgerAccessLog(patients[0].patientRef);
      expect(entries.map((e: any) => [e.kind, e.purpose, e.decision])).to.deep.equal([
        ['disclosure', TRIAL, 'PERMIT'],
        ['disclosure', `${TRIAL}-OTHER`, 'DENY'],
      ]);
    });
  });

  describe('erasure recorded on the ledger', () => {
    it("the DPO erases a patient (201, the ledger's record committed); GET /v1/erasures/{id} shows it; the Insurer's peer has the same record; again → 409", async () => {
      const dpo = net.gateway('Hospital', 'dpo');
      const erased = await call(dpo, 'POST', '/v1/erasures', { patientId: erasedPatientId }, { prefer: 'wait=25' });
      expect(erased.status, erased.text).to.equal(201);
      const { erasureId } = erased.body.erasure;
      expect(erasureId).to.be.a('string');
      expect(erased.headers.get('location')).to.equal(`/v1/erasures/${erasureId}`);
      expect(erased.body.ledger.state).to.be.oneOf(['committed', 'accepted', 'submitting']);

      // Committed (at once, or once the journal has it on the ledger).
      const record = await eventually('the erasure record', async () => {
        const r = await call(dpo, 'GET', `/v1/erasures/${erasureId}`);
        return r.status === 200 ? r.body : undefined;
      });
      expect(record).to.include({ erasureId, hospital: HOSPITAL });
      expect(record.txId).to.be.a('string');
      expect(Date.parse(record.recordedAt)).to.not.be.NaN;
      if (erased.body.ledger.state === 'committed') expect(erased.body.ledger.erasure).to.deep.equal(record);
      // Nothing about the patient in it: the id, the hospital, times, the transaction.
      expect(JSON.stringify(record)).to.not.include(erasedPatientId);

      const client = await LedgerClient.connect(net.network.gatewaySettings('Insurer').fabric);
      try {
        expect(JSON.parse(Buffer.from(await client.evaluate('Privacy:readErasure', erasureId)).toString('utf8'))).to.deep.equal(record);
      } finally {
        client.close();
      }
      const admin = await call(net.gateway('Hospital', 'admin'), 'GET', `/v1/erasures/${erasureId}`);
      expect(admin.body).to.deep.equal(record);

      const again = await call(dpo, 'POST', '/v1/erasures', { patientId: erasedPatientId });
      expect(again.status, again.text).to.equal(409);
      expect(again.body.error.code).to.equal('PATIENT_KEY_ERASED');
      expect(again.body.error.details).to.include({ erasureId, ledgerRecorded: true });
    });
  });

  describe('concurrent grants, revocations and accesses for one patient on the real peers', () => {
    before(async () => {
      const registered = await bob.register(officer);
      expect(registered.status, registered.text).to.equal(201);
    });

    it('every request ends 2xx (never 5xx), conflicts are retried by the gateway, and every access is on the ledger exactly once', async () => {
      const ACCESSES = 30;
      const active: string[] = [];
      for (const gw of [hospital, sponsor]) {
        const g = await bob.grant(gw, { grantee: INSURER, purpose: 'claims', categories: [DISCHARGE] });
        expect(g.status, g.text).to.equal(201);
        active.push(g.body.grant.grantId);
      }
      const conflictsOf = async () =>
        (await Promise.all([hospital, insurer, sponsor].map((gw) => counter(gw, 'medprov_ledger_conflicts_total', { outcome: 'retried' })))).reduce((a, b) => a + b, 0);
      const retriedBefore = await conflictsOf();

      const answers: { kind: 'access' | 'grant' | 'revoke'; res: Answer }[] = [];
      let rounds = 0;
      // Rounds until the peers have shown at least one conflict (bounded): each round 30 accesses,
      // 4 grants and 2 revocations of the same patient at once, through all three gateways.
      do {
        rounds += 1;
        const toRevoke = active.splice(0, 2);
        const jobs: Promise<{ kind: 'access' | 'grant' | 'revoke'; res: Answer }>[] = [];
        for (let i = 0; i < ACCESSES; i++) {
          jobs.push(call(claims, 'POST', '/v1/access', { issuer: HOSPITAL, recordId: bobRecord.recordId, purpose: 'claims' }).then((res) => ({ kind: 'access' as const, res })));
          if (i % 6 === 2) {
            const gw = [hospital, insurer, sponsor][i % 3];
            jobs.push(bob.grant(gw, { grantee: INSURER, purpose: 'claims', categories: [DISCHARGE] }).then((res) => ({ kind: 'grant' as const, res })));
          }
          if (i % 12 === 5 && toRevoke.length > 0) {
            const id = toRevoke.shift()!;
            jobs.push(bob.revoke([sponsor, hospital][i % 2], id).then((res) => ({ kind: 'revoke' as const, res })));
          }
        }
        const round = await Promise.all(jobs);
        answers.push(...round);
        for (const a of round) if (a.kind === 'grant' && a.res.status === 201) active.push(a.res.body.grant.grantId);
      } while ((await conflictsOf()) === retriedBefore && rounds < 5);

      const retried = (await conflictsOf()) - retriedBefore;
      // What the gateways' /metrics say, by gateway, transaction and code (since each gateway's start).
      const seen: string[] = [];
      for (const [name, gw] of [['Hospital', hospital], ['Insurer', insurer], ['Sponsor', sponsor]] as const) {
        for (const c of await samples(gw, 'medprov_ledger_conflicts_total')) seen.push(`${name} ${c.labels.transaction} ${c.labels.code} ${c.labels.outcome}: ${c.value}`);
      }
      const by = (kind: string) => answers.filter((a) => a.kind === kind);
      const summary = answers.map((a) => `${a.kind} ${a.res.status} ${a.res.body?.error?.code ?? a.res.body?.decision ?? ''}`);
      console.log(`      ${rounds} round(s): ${by('access').length} accesses, ${by('grant').length} grants, ${by('revoke').length} revocations; ${retried} ledger conflicts retried by the gateways`);
      for (const line of seen) console.log(`        ${line}`);

      expect(answers.filter((a) => a.res.status >= 500).map((a) => `${a.kind}: ${a.res.text}`), 'no 5xx').to.deep.equal([]);
      for (const a of by('access')) {
        expect(a.res.status, a.res.text).to.equal(200);
        expect(a.res.body.decision).to.be.oneOf(['PERMIT', 'DENY']);
      }
      for (const a of by('grant')) expect(a.res.status, a.res.text).to.equal(201);
      for (const a of by('revoke')) expect(a.res.status, a.res.text).to.equal(201);
      expect(retried, `conflicts seen in ${rounds} rounds: ${summary.join(', ')}`).to.be.greaterThan(0);

      // None lost, none twice: the ledger's access log of the patient holds exactly the accesses answered.
      const answered = by('access').map((a) => a.res.body.accessLog.txId as string);
      expect(new Set(answered).size).to.equal(answered.length);
      const ledger = (await ledgerAccessLog(bob.patientRef)).filter((e: any) => e.kind !== 'disclosure');
      expect(ledger).to.have.length(answered.length);
      expect(ledger.map((e: any) => e.txId).sort()).to.deep.equal([...answered].sort());
      // …and each entry is the decision the answer gave.
      const byTx = new Map(by('access').map((a) => [a.res.body.accessLog.txId, a.res.body.accessLog]));
      for (const e of ledger) expect(e).to.deep.equal(byTx.get(e.txId));
      // The patient sees the same count.
      const mine = await bob.get(hospital, '/v1/patients/me/access-log');
      expect(mine.body.entries).to.have.length(answered.length);
    });
  });
});
