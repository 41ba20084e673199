import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { type HDNodeWallet } from 'ethers';
import { CONSENT_GRANT_TYPES, CONSENT_REVOKE_TYPES, GUARDIAN_APPOINTMENT_TYPES, GUARDIAN_REVOKE_TYPES, consentDomain } from '../../../chaincode/src/lib/eip712';
import {
  DAY_SECONDS,
  appointmentMessage,
  challengeToSign,
  grantMessage,
  guardianRevokeMessage,
  patientAuthorization,
  revokeMessage,
  UNKNOWN_PATIENT_REF,
  type GrantChoice,
} from '../../../gateway/src/consent/patient-client';
import { patientOverview, type OverviewRequest } from '../../../gateway/src/consent/patient-overview';
import { channelHeight } from '../../../network/src/channel';
import { call, write, type Answer, type GatewayAccess } from '../network/support/gateway-http';
import { runCli } from '../../unit/support/cli-process';
import { Person, startViewNetwork, type ViewNetwork } from './support';

/**
 * Issue 16 on a real Fabric network with two hospitals (Hospital, Clinic), an insurer and a
 * sponsor: guardians and delegates (patient → guardian → grant, checked by the chaincode,
 * refusals with nothing written) and the patient's one view across both hospitals from one
 * recovery phrase, through read routes only.
 */
const HOSPITAL = 'HospitalMSP';
const CLINIC = 'ClinicMSP';
const INSURER = 'InsurerMSP';
const DISCHARGE = 'loinc:18842-5';
const LAB = 'loinc:11502-2';
const run = Date.now().toString(36);
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('guardians and the one patient view, on a real network with two hospitals (issue 16)', function () {
  this.timeout(20 * 60_000);
  let net: ViewNetwork;
  let channel: string;
  let officer: GatewayAccess; // Hospital's records office
  let clinicOfficer: GatewayAccess;
  let claims: GatewayAccess; // Insurer's claims office
  let hospital: GatewayAccess; // anonymous, as a patient or guardian reaches it
  let insurer: GatewayAccess;
  let sponsor: GatewayAccess;
  const patient = new Person();
  const guardian = new Person();
  const patientId = `MRN-PV-${run}-1`;
  const clinicPatientId = `CL-PV-${run}-1`;
  const childId = `CL-PV-${run}-child`;
  const refs: Record<string, string> = {};
  let delegationId = '';
  let guardianGrantId = '';

  const now = (): number => Math.floor(Date.now() / 1000);
  const sign = (wallet: HDNodeWallet, types: Parameters<HDNodeWallet['signTypedData']>[1], message: Record<string, unknown>) => wallet.signTypedData(consentDomain(channel), types, message);

  async function register(desk: GatewayAccess, id: string, wallet: HDNodeWallet): Promise<string> {
    const request = await call(desk, 'POST', '/v1/patients/registration-requests', { patientId: id });
    expect(request.status, request.text).to.equal(201);
    const signature = await wallet.signTypedData(request.body.domain, request.body.types, request.body.message);
    const done = await call(desk, 'POST', '/v1/patients', { message: request.body.message, patient: wallet.address, signature });
    expect(done.status, done.text).to.equal(201);
    return request.body.message.patientRef;
  }

  /** A GET answering a fresh challenge with `wallet`, naming `hospital` and `patientRef`. */
  async function getAs(gw: GatewayAccess, wallet: HDNodeWallet, hospitalMsp: string, patientRef: string, path: string): Promise<Answer> {
    const challenge = await call({ url: gw.url }, 'POST', '/v1/patients/challenges', { address: wallet.address });
    const toSign = challengeToSign(challenge.body, { hospital: hospitalMsp, patientRef });
    if ('problem' in toSign) throw new Error(toSign.problem);
    const signature = await wallet.signTypedData(toSign.domain, challenge.body.types, toSign.message);
    return call({ url: gw.url }, 'GET', path, undefined, { authorization: patientAuthorization(toSign.message, signature) });
  }

  async function guardianGrant(gw: GatewayAccess, wallet: HDNodeWallet, id: string, choice: Partial<GrantChoice>, patientRef = refs[HOSPITAL]!, hospitalMsp = HOSPITAL): Promise<Answer> {
    const message = grantMessage({ hospital: hospitalMsp, patientRef }, { grantee: INSURER, purpose: 'claims', categories: [DISCHARGE], recordIds: [], validUntil: now() + 30 * DAY_SECONDS, ...choice }, now());
    return call({ url: gw.url }, 'POST', '/v1/guardians/consents', { message, signature: await sign(wallet, CONSENT_GRANT_TYPES, message as never), delegationId: id });
  }

  /** Runs a refused request and checks the ledger did not grow on any peer (nothing written). */
  async function refusedWithNothingWritten(status: number, code: string, send: () => Promise<Answer>): Promise<void> {
    const before = await Promise.all(net.network.peers.map((p) => channelHeight(net.network, p)));
    const answer = await send();
    expect(answer.status, answer.text).to.equal(status);
    expect(answer.body.error.code).to.equal(code);
    const after = await Promise.all(net.network.peers.map((p) => channelHeight(net.network, p)));
    expect(after, 'nothing written: every peer at the same height').to.deep.equal(before);
  }

  before(async () => {
    net = await startViewNetwork();
    channel = net.network.channel;
    officer = net.gateway('Hospital', 'records-officer');
    clinicOfficer = net.gateway('Clinic', 'records-officer');
    claims = net.gateway('Insurer', 'claims-officer');
    hospital = { url: officer.url };
    insurer = { url: claims.url };
    sponsor = { url: net.gateway('Sponsor').url };
    // One record of the patient at each hospital (one at the Clinic for the child too).
    const a = await write(officer, 'POST', '/v1/records/batch', { records: [{ recordId: `pv-${run}-h1`, docHash: sha(`h1 ${run}`), patientId, category: DISCHARGE }] });
    expect(a.status, a.text).to.equal(201);
    const b = await write(clinicOfficer, 'POST', '/v1/records/batch', {
      records: [
        { recordId: `pv-${run}-c1`, docHash: sha(`c1 ${run}`), patientId: clinicPatientId, category: LAB },
        { recordId: `pv-${run}-k1`, docHash: sha(`k1 ${run}`), patientId: childId, category: DISCHARGE },
      ],
    });
    expect(b.status, b.text).to.equal(201);
  });

  after(async () => {
    if (net) await net.stop();
  });

  it('one phrase, one key per hospital: the patient registers at both hospitals under unrelated addresses and refs', async () => {
    refs[HOSPITAL] = await register(officer, patientId, patient.keyAt(HOSPITAL));
    refs[CLINIC] = await register(clinicOfficer, clinicPatientId, patient.keyAt(CLINIC));
    expect(patient.keyAt(HOSPITAL).address).to.not.equal(patient.keyAt(CLINIC).address);
    expect(refs[HOSPITAL]).to.not.equal(refs[CLINIC]);
  });

  it('the patient names a guardian by signature, at another org’s gateway; the guardian (key for that hospital) grants within scope; the grant says a guardian made it', async () => {
    const message = appointmentMessage({ hospital: HOSPITAL, patientRef: refs[HOSPITAL]! }, { guardian: guardian.keyAt(HOSPITAL).address, purposes: ['claims'], categories: [DISCHARGE], validUntil: now() + 90 * DAY_SECONDS }, now());
    const appointed = await call(insurer, 'POST', '/v1/delegations', { message, signature: await sign(patient.keyAt(HOSPITAL), GUARDIAN_APPOINTMENT_TYPES, message as never) });
    expect(appointed.status, appointed.text).to.equal(201);
    expect(appointed.body.delegation).to.include({ basis: 'patient', appointedBy: 'patient', guardian: guardian.keyAt(HOSPITAL).address, status: 'active', submittedBy: INSURER });
    delegationId = appointed.body.delegation.delegationId;

    const granted = await guardianGrant(sponsor, guardian.keyAt(HOSPITAL), delegationId, {});
    expect(granted.status, granted.text).to.equal(201);
    expect(granted.body.grant).to.include({ signedBy: 'guardian', delegationId, grantee: INSURER, purpose: 'claims', status: 'active' });
    guardianGrantId = granted.body.grant.grantId;

    // The grant works: the insurer's consent-checked access is permitted, and logged.
    const access = await call(claims, 'POST', '/v1/access', { issuer: HOSPITAL, recordId: `pv-${run}-h1`, purpose: 'claims' });
    expect(access.status, access.text).to.equal(200);
    expect(access.body).to.include({ decision: 'PERMIT', grantId: guardianGrantId });
  });

  it('exports the guardian’s grant as FHIR Consent with the guardian as performer and in verification', async () => {
    const c = await call(claims, 'GET', `/v1/consents/${HOSPITAL}/${refs[HOSPITAL]}/${guardianGrantId}`);
    expect(c.status, c.text).to.equal(200);
    const guardianRef = { type: 'RelatedPerson', identifier: { system: 'urn:medprov:delegation', value: delegationId } };
    expect(c.body.performer).to.deep.equal([guardianRef]);
    expect(c.body.verification[0]).to.deep.include({ verified: true, verifiedWith: guardianRef });
    expect(c.text).to.not.include(guardian.keyAt(HOSPITAL).address);
  });

  it('refusals, each with nothing written: out of scope and outliving the delegation (chaincode), not the guardian, an unknown delegation (gateway)', async () => {
    const g = guardian.keyAt(HOSPITAL);
    await refusedWithNothingWritten(403, 'DELEGATION_OUT_OF_SCOPE', () => guardianGrant(sponsor, g, delegationId, { categories: [LAB] }));
    await refusedWithNothingWritten(403, 'DELEGATION_OUT_OF_SCOPE', () => guardianGrant(sponsor, g, delegationId, { purpose: 'research:PV-1', grantee: 'SponsorMSP' }));
    await refusedWithNothingWritten(403, 'DELEGATION_OUT_OF_SCOPE', () => guardianGrant(sponsor, g, delegationId, { validUntil: now() + 365 * DAY_SECONDS }));
    await refusedWithNothingWritten(403, 'SIGNER_NOT_GUARDIAN', () => guardianGrant(sponsor, new Person().keyAt(HOSPITAL), delegationId, {}));
    await refusedWithNothingWritten(404, 'DELEGATION_NOT_FOUND', () => guardianGrant(sponsor, g, `0x${sha('no such delegation')}`, {}));
    // Without the delegation, the guardian's key is simply not the patient's.
    const message = grantMessage({ hospital: HOSPITAL, patientRef: refs[HOSPITAL]! }, { grantee: INSURER, purpose: 'claims', categories: [DISCHARGE], recordIds: [], validUntil: now() + DAY_SECONDS }, now());
    await refusedWithNothingWritten(403, 'SIGNER_NOT_PATIENT', async () => call(sponsor, 'POST', '/v1/consents', { message, signature: await sign(g, CONSENT_GRANT_TYPES, message as never) }));
  });

  it('the hospital records a guardian for a child without a key (legal basis minor); the guardian’s key for the other hospital is refused there (GUARDIAN_KEY_IN_USE, chaincode)', async () => {
    const keyInUse = await call(clinicOfficer, 'POST', '/v1/delegations/legal-basis', { patientId: childId, guardian: guardian.keyAt(HOSPITAL).address, basis: 'minor', validUntil: now() + 365 * DAY_SECONDS });
    expect(keyInUse.status, keyInUse.text).to.equal(409);
    expect(keyInUse.body.error.code).to.equal('GUARDIAN_KEY_IN_USE');
    const badBasis = await call(clinicOfficer, 'POST', '/v1/delegations/legal-basis', { patientId: childId, guardian: guardian.keyAt(CLINIC).address, basis: 'neighbour', validUntil: now() + DAY_SECONDS });
    expect(badBasis.status, badBasis.text).to.equal(400);
    const notHospital = await call(claims, 'POST', '/v1/delegations/legal-basis', { patientId: childId, guardian: guardian.keyAt(CLINIC).address, basis: 'minor', validUntil: now() + DAY_SECONDS });
    expect(notHospital.status, notHospital.text).to.equal(403);

    const recorded = await call(clinicOfficer, 'POST', '/v1/delegations/legal-basis', { patientId: childId, guardian: guardian.keyAt(CLINIC).address, basis: 'minor', validUntil: now() + 365 * DAY_SECONDS });
    expect(recorded.status, recorded.text).to.equal(201);
    expect(recorded.body.delegation).to.include({ basis: 'minor', appointedBy: CLINIC, guardian: guardian.keyAt(CLINIC).address });
    const childRef = recorded.body.delegation.patientRef;
    const childDelegation = recorded.body.delegation.delegationId;

    const granted = await guardianGrant(insurer, guardian.keyAt(CLINIC), childDelegation, {}, childRef, CLINIC);
    expect(granted.status, granted.text).to.equal(201);
    const access = await call(claims, 'POST', '/v1/access', { issuer: CLINIC, recordId: `pv-${run}-k1`, purpose: 'claims' });
    expect(access.body).to.include({ decision: 'PERMIT' });

    // The guardian lists its delegations, per key: one hospital each.
    const atClinic = await getAs(hospital, guardian.keyAt(CLINIC), CLINIC, UNKNOWN_PATIENT_REF, '/v1/guardians/me/delegations');
    expect(atClinic.status, atClinic.text).to.equal(200);
    expect(atClinic.body.delegations.map((d: { delegationId: string }) => d.delegationId)).to.deep.equal([childDelegation]);
    const atHospital = await getAs(hospital, guardian.keyAt(HOSPITAL), HOSPITAL, UNKNOWN_PATIENT_REF, '/v1/guardians/me/delegations');
    expect(atHospital.body.delegations.map((d: { delegationId: string }) => d.delegationId)).to.deep.equal([delegationId]);

    // Only the recording hospital ends it.
    const elsewhere = await call(officer, 'POST', '/v1/delegations/legal-basis/revocations', { patientId: childId, delegationId: childDelegation });
    expect(elsewhere.status, elsewhere.text).to.equal(404);
    const ended = await call(clinicOfficer, 'POST', '/v1/delegations/legal-basis/revocations', { patientId: childId, delegationId: childDelegation });
    expect(ended.status, ended.text).to.equal(201);
    expect(ended.body.delegation.revocation).to.include({ by: CLINIC });
    await refusedWithNothingWritten(409, 'DELEGATION_REVOKED', () => guardianGrant(insurer, guardian.keyAt(CLINIC), childDelegation, {}, childRef, CLINIC));
  });

  it('the patient’s one view: every hospital from one phrase — records, grants (the guardian’s marked), delegations, access log — with nothing written', async () => {
    const orgs = await call(hospital, 'GET', '/v1/organisations');
    const hospitals = (orgs.body.organisations as { mspId: string; type: string }[]).filter((o) => o.type === 'hospital').map((o) => o.mspId);
    expect(hospitals).to.have.members([HOSPITAL, CLINIC]);
    const request: OverviewRequest = async (method, path, body, headers) => {
      const answer = await call(hospital, method, path, body, headers);
      return { status: answer.status, body: answer.body };
    };
    const before = await Promise.all(net.network.peers.map((p) => channelHeight(net.network, p)));
    const started = Date.now();
    const view = await patientOverview(request, hospitals, (h) => patient.keyAt(h));
    const tookMs = Date.now() - started;
    const after = await Promise.all(net.network.peers.map((p) => channelHeight(net.network, p)));
    expect(after, 'the one view writes nothing').to.deep.equal(before);
    console.log(`      one view over ${hospitals.length} hospitals through one gateway: ${tookMs} ms (${hospitals.length * 5} challenges)`);

    const at = (h: string) => view.find((v) => v.hospital === h)!;
    expect(at(HOSPITAL)).to.include({ registered: true, patientRef: refs[HOSPITAL], address: patient.keyAt(HOSPITAL).address });
    expect(at(CLINIC)).to.include({ registered: true, patientRef: refs[CLINIC], address: patient.keyAt(CLINIC).address });
    expect((at(HOSPITAL).records as { recordId: string }[]).map((r) => r.recordId)).to.deep.equal([`pv-${run}-h1`]);
    expect((at(CLINIC).records as { recordId: string }[]).map((r) => r.recordId)).to.deep.equal([`pv-${run}-c1`]);
    expect(at(HOSPITAL).grants).to.have.length(1);
    expect(at(HOSPITAL).grants![0]).to.include({ grantId: guardianGrantId, signedBy: 'guardian', delegationId });
    expect((at(HOSPITAL).delegations as { delegationId: string }[]).map((d) => d.delegationId)).to.deep.equal([delegationId]);
    expect((at(HOSPITAL).accessLog as { decision: string }[]).map((e) => e.decision)).to.deep.equal(['PERMIT']);
    expect(at(CLINIC).grants).to.deep.equal([]);
    expect(at(CLINIC).accessLog).to.deep.equal([]);
    // Nothing in one hospital's answer names the other hospital's pseudonym or address.
    expect(JSON.stringify(at(HOSPITAL))).to.not.include(refs[CLINIC]!).and.not.include(patient.keyAt(CLINIC).address);
    expect(JSON.stringify(at(CLINIC))).to.not.include(refs[HOSPITAL]!).and.not.include(patient.keyAt(HOSPITAL).address);

    // A phrase registered nowhere: every hospital answers "not registered".
    const stranger = await patientOverview(request, hospitals, (h) => new Person().keyAt(h));
    expect(stranger.map((v) => v.registered)).to.deep.equal([false, false]);
  });

  it('the CLI: `medprov patient overview` from the phrase gives the same view; `medprov guardian record` records a guardian on a legal basis', async () => {
    const home = mkdtempSync(path.join(tmpdir(), 'medprov-pv-cli-'));
    try {
      const overview = await runCli(['patient', 'overview', '--gateway', hospital.url, '--json'], { home, env: { MEDPROV_RECOVERY_PHRASE: patient.mnemonic.phrase } });
      expect(overview.code, overview.stderr).to.equal(0);
      const view = JSON.parse(overview.stdout).hospitals as { hospital: string; registered: boolean; patientRef: string; grants: { grantId: string; signedBy?: string }[] }[];
      expect(view.map((v) => [v.hospital, v.registered, v.patientRef]).sort()).to.deep.equal([
        [CLINIC, true, refs[CLINIC]],
        [HOSPITAL, true, refs[HOSPITAL]],
      ]);
      expect(view.find((v) => v.hospital === HOSPITAL)!.grants[0]).to.include({ grantId: guardianGrantId, signedBy: 'guardian' });
      const text = await runCli(['patient', 'overview', '--gateway', hospital.url], { home, env: { MEDPROV_RECOVERY_PHRASE: patient.mnemonic.phrase } });
      expect(text.stdout).to.include('(made by a guardian)');

      const recorded = await runCli(
        ['guardian', 'record', '--patient-id', `CL-PV-${run}-adult`, '--guardian', guardian.keyAt(CLINIC).address, '--basis', 'incapacity', '--purpose', 'treatment', '--days', '30', '--gateway', clinicOfficer.url, '--api-key', clinicOfficer.key!, '--json'],
        { home },
      );
      expect(recorded.code, recorded.stderr).to.equal(0);
      expect(JSON.parse(recorded.stdout).delegation).to.include({ basis: 'incapacity', appointedBy: CLINIC, status: 'active' });
      const refused = await runCli(['guardian', 'record', '--patient-id', 'x', '--guardian', guardian.keyAt(CLINIC).address, '--basis', 'neighbour', '--days', '30', '--gateway', clinicOfficer.url, '--api-key', clinicOfficer.key!], { home });
      expect(refused.code).to.not.equal(0);
      expect(refused.stderr).to.include('--basis');
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('the patient revokes the delegation; the guardian can no longer grant (DELEGATION_REVOKED, chaincode) nor revoke; the hospital cannot revoke what the patient signed', async () => {
    const notRevocable = await call(officer, 'POST', '/v1/delegations/legal-basis/revocations', { patientId, delegationId });
    expect(notRevocable.status, notRevocable.text).to.equal(403);
    expect(notRevocable.body.error.code).to.equal('DELEGATION_NOT_REVOCABLE');
    const forged = guardianRevokeMessage({ hospital: HOSPITAL, patientRef: refs[HOSPITAL]! }, delegationId);
    await refusedWithNothingWritten(403, 'SIGNER_NOT_PATIENT', async () =>
      call(sponsor, 'POST', '/v1/delegations/revocations', { message: forged, signature: await sign(guardian.keyAt(HOSPITAL), GUARDIAN_REVOKE_TYPES, forged as never) }),
    );
    const message = guardianRevokeMessage({ hospital: HOSPITAL, patientRef: refs[HOSPITAL]! }, delegationId);
    const revoked = await call(sponsor, 'POST', '/v1/delegations/revocations', { message, signature: await sign(patient.keyAt(HOSPITAL), GUARDIAN_REVOKE_TYPES, message as never) });
    expect(revoked.status, revoked.text).to.equal(201);
    expect(revoked.body.delegation).to.include({ status: 'revoked' });
    await refusedWithNothingWritten(409, 'DELEGATION_REVOKED', () => guardianGrant(sponsor, guardian.keyAt(HOSPITAL), delegationId, {}));
    const rm = revokeMessage({ hospital: HOSPITAL, patientRef: refs[HOSPITAL]! }, guardianGrantId);
    await refusedWithNothingWritten(409, 'DELEGATION_REVOKED', async () =>
      call(sponsor, 'POST', '/v1/guardians/consents/revocations', { message: rm, signature: await sign(guardian.keyAt(HOSPITAL), CONSENT_REVOKE_TYPES, rm as never), delegationId }),
    );
    // The grant the guardian made stays; the patient lists the delegation as revoked.
    const mine = await getAs(hospital, patient.keyAt(HOSPITAL), HOSPITAL, refs[HOSPITAL]!, '/v1/patients/me/delegations');
    expect(mine.body.delegations[0]).to.include({ delegationId, status: 'revoked', effectiveStatus: 'revoked' });
  });
});
