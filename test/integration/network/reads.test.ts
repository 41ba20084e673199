/**
 * Issue 13 on the real network: the gateway's read routes are no way around consent. The
 * Insurer's claims officer reads a Hospital record, its history or a version's provenance only
 * through the chaincode's consent-checked access (a transaction that logs every attempt in the
 * patient's access log): refused without a purpose and without consent, permitted with a grant
 * in force, and every such read is in the access log the patient lists. Verification stays open.
 * No timing is asserted: every wait is a bounded poll for an eventual result.
 *
 * @module
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { Wallet, hexlify } from 'ethers';
import { CONSENT_GRANT_TYPES, type ConsentGrantMessage } from '../../../chaincode/src/lib/eip712';
import { call, sleep, write, type Answer, type GatewayAccess } from './support/gateway-http';
import { stopTestNetwork, testNetwork, type TestNetwork } from './test-network';

type Gw = GatewayAccess;

const sha256 = (data: string): string => createHash('sha256').update(data).digest('hex');

// The network is shared by every real-network spec file of the mocha run: stopped once, at the end.
after(async () => {
  await stopTestNetwork();
});

describe("real network: another organisation reads a Hospital record only under the patient's consent, logged (issue 13)", function () {
  this.timeout(600_000);
  const HOSPITAL = 'HospitalMSP';
  const INSURER = 'InsurerMSP';
  const CATEGORY = 'loinc:18842-5';
  const run = randomBytes(4).toString('hex');
  const recordId = `reads-${run}`;
  const v1 = sha256(`discharge summary ${run} v1`);
  const v2 = sha256(`discharge summary ${run} v2`);
  const patient = Wallet.createRandom();
  let net: TestNetwork;
  let hospitalOfficer: Gw;
  let claims: Gw;
  let patientRef: string;
  let domain: Record<string, unknown>;

  const paths = {
    latest: (query = '') => `/v1/records/${HOSPITAL}/${encodeURIComponent(recordId)}${query}`,
    history: (query = '') => `/v1/records/${HOSPITAL}/${encodeURIComponent(recordId)}/history${query}`,
    provenance: (version: number, query = '') => `/v1/records/${HOSPITAL}/${encodeURIComponent(recordId)}/versions/${version}/provenance${query}`,
  };

  /** The patient's own access-log listing at the Hospital's gateway, answering a fresh challenge with their key. */
  async function patientAccessLog(): Promise<any[]> {
    const hospital = { url: net.gateway('Hospital', 'records-officer').url };
    const challenge = await call(hospital, 'POST', '/v1/patients/challenges', { address: patient.address });
    expect(challenge.status, challenge.text).to.equal(201);
    const message = { ...challenge.body.message, hospital: HOSPITAL, patientRef };
    const signature = await patient.signTypedData(challenge.body.domain, challenge.body.types, message);
    const credential = Buffer.from(JSON.stringify({ message, signature })).toString('base64url');
    const log = await call(hospital, 'GET', '/v1/patients/me/access-log', undefined, { authorization: `Patient ${credential}` });
    expect(log.status, log.text).to.equal(200);
    return (log.body.entries as any[]).filter((e) => e.recordId === recordId);
  }

  /** Sends a read and expects a refusal that shows nothing of the record. */
  async function refused(path: string, status: number, code: string): Promise<Answer> {
    const res = await call(claims, 'GET', path);
    expect(res.status, `${path}: ${res.text}`).to.equal(status);
    expect(res.body.error.code).to.equal(code);
    expect(res.body.error.message).to.match(/[.!]$/);
    expect(res.text).to.not.include(v1).and.not.include(v2).and.not.include(patientRef);
    return res;
  }

  before(async () => {
    net = await testNetwork();
    hospitalOfficer = net.gateway('Hospital', 'records-officer');
    claims = net.gateway('Insurer', 'claims-officer');
    const anchored = await write(hospitalOfficer, 'POST', '/v1/records', { recordId, docHash: v1, patientId: `MRN-READS-${run}`, category: CATEGORY });
    expect(anchored.status, anchored.text).to.equal(201);
    patientRef = anchored.body.anchor.patientRef;
    const amended = await write(hospitalOfficer, 'POST', `/v1/records/${HOSPITAL}/${encodeURIComponent(recordId)}/versions`, { docHash: v2 });
    expect(amended.status, amended.text).to.equal(201);

    // The patient's key, bound at the Hospital's desk.
    const request = await call(hospitalOfficer, 'POST', '/v1/patients/registration-requests', { patientId: `MRN-READS-${run}` });
    expect(request.status, request.text).to.equal(201);
    expect(request.body.message.patientRef).to.equal(patientRef);
    domain = request.body.domain;
    const signature = await patient.signTypedData(request.body.domain, request.body.types, request.body.message);
    const registered = await write(hospitalOfficer, 'POST', '/v1/patients', { message: request.body.message, patient: patient.address, signature });
    expect(registered.status, registered.text).to.equal(201);
  });

  it("the Hospital's records officer reads its own record and history as before, and nothing is logged", async () => {
    const latest = await call(hospitalOfficer, 'GET', paths.latest());
    expect(latest.status, latest.text).to.equal(200);
    expect(latest.body).to.include({ recordId, version: 2, docHash: v2, issuer: HOSPITAL });
    const history = await call(hospitalOfficer, 'GET', paths.history());
    expect(history.body.versions.map((v: { docHash: string }) => v.docHash)).to.deep.equal([v1, v2]);
    expect(latest.headers.get('medprov-access-transaction')).to.equal(null);
    expect(await patientAccessLog()).to.deep.equal([]);
  });

  it("the Insurer's claims officer cannot read the record, its history or a version's provenance without consent: refused, nothing readable", async () => {
    // No purpose: refused at the gateway before the ledger is asked; nothing logged.
    for (const path of [paths.latest(), paths.history(), paths.provenance(1)]) {
      const res = await refused(path, 403, 'CONSENT_REQUIRED');
      expect(res.body.error.message).to.include('POST /v1/access');
    }
    expect(await patientAccessLog(), 'a refused read without a purpose logs nothing').to.deep.equal([]);
    // A purpose but no grant: the chaincode decides NO_CONSENT and logs the attempt; the answer shows nothing of the record.
    const denied = await refused(paths.history('?purpose=claims'), 403, 'CONSENT_DENIED');
    expect(denied.body.error.details).to.include({ decision: 'NO_CONSENT', purpose: 'claims' });
    const log = await patientAccessLog();
    expect(log.map((e) => [e.accessor, e.decision, e.purpose, e.txId])).to.deep.equal([[INSURER, 'NO_CONSENT', 'claims', denied.body.error.details.transactionId]]);
    // Verification stays open (it answers for a document the caller holds, with provenance fields only) and logs nothing.
    const verdict = await call(claims, 'POST', '/v1/verifications', { docHash: v1 });
    expect(verdict.status, verdict.text).to.equal(200);
    expect(verdict.text).to.not.include(patientRef);
  });

  it('with a grant in force, the read is permitted, and every read is a PERMIT in the access log the patient lists', async () => {
    const now = Math.floor(Date.now() / 1000);
    const message: ConsentGrantMessage = {
      hospital: HOSPITAL,
      patientRef,
      grantee: INSURER,
      purpose: 'claims',
      categories: [CATEGORY],
      recordIds: [],
      validFrom: now - 60,
      validUntil: now + 86_400,
      nonce: hexlify(randomBytes(32)),
    };
    const granted = await call({ url: hospitalOfficer.url }, 'POST', '/v1/consents', { message, signature: await patient.signTypedData(domain, CONSENT_GRANT_TYPES, message) });
    expect(granted.status, granted.text).to.equal(201);
    const grantId: string = granted.body.grant.grantId;

    // Every peer has the grant before the read is endorsed: the check (a query, logged nowhere) says PERMIT at every org.
    const check = `/v1/consents/check?${new URLSearchParams({ hospital: HOSPITAL, patientRef, grantee: INSURER, purpose: 'claims', category: CATEGORY })}`;
    for (const gw of [claims, net.gateway('Hospital', 'dpo'), net.gateway('Sponsor', 'admin')]) {
      let decision: string | undefined;
      for (let i = 0; i < 240 && decision !== 'PERMIT'; i++) {
        if (i > 0) await sleep(250);
        decision = (await call(gw, 'GET', check)).body?.decision;
      }
      expect(decision, `the check at ${gw.url}`).to.equal('PERMIT');
    }

    const latest = await call(claims, 'GET', paths.latest('?purpose=claims'));
    expect(latest.status, latest.text).to.equal(200);
    expect(latest.body).to.include({ recordId, version: 2, docHash: v2, issuer: HOSPITAL });
    expect(latest.headers.get('medprov-access-grant')).to.equal(grantId);
    const history = await call(claims, 'GET', paths.history('?purpose=claims'));
    expect(history.status, history.text).to.equal(200);
    expect(history.body.versions.map((v: { docHash: string }) => v.docHash)).to.deep.equal([v1, v2]);
    expect(history.body.access).to.include({ purpose: 'claims', grantId });
    expect(history.body.access.blockNumber).to.match(/^\d+$/);
    const provenance = await call(claims, 'GET', paths.provenance(1, '?purpose=claims'));
    expect(provenance.status, provenance.text).to.equal(200);
    expect(provenance.headers.get('content-type')).to.match(/^application\/fhir\+json/);
    expect(provenance.text).to.include(v1);

    const log = await patientAccessLog();
    expect(log.map((e) => [e.accessor, e.decision, e.purpose, e.grantId ?? null])).to.deep.equal([
      [INSURER, 'NO_CONSENT', 'claims', null],
      [INSURER, 'PERMIT', 'claims', grantId],
      [INSURER, 'PERMIT', 'claims', grantId],
      [INSURER, 'PERMIT', 'claims', grantId],
    ]);
    expect(log.slice(1).map((e) => e.txId)).to.deep.equal([latest, history, provenance].map((r) => r.headers.get('medprov-access-transaction')));
  });
});
