import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { HDNodeWallet, Mnemonic, Signature, TypedDataEncoder, id } from 'ethers';
import pino from 'pino';
import { IdentityContract } from '../../../chaincode/src';
import {
  CONSENT_GRANT_TYPES,
  CONSENT_REVOKE_TYPES,
  REGISTER_PATIENT_TYPES,
  consentDomain,
  type ConsentGrantMessage,
  type ConsentRevokeMessage,
} from '../../../chaincode/src/lib/eip712';
import { PATIENT_CHALLENGE_TYPES } from '../../../gateway/src/consent/typed-data';
import { accessLogToAuditEventBundle } from '../../../gateway/src/fhir';
import { createGatewayApp } from '../../../gateway/src/http/app';
import type { Role } from '../../../gateway/src/http/roles';
import { MasterKey, PatientKeyStore } from '../../../gateway/src/privacy';
import { RecordsService } from '../../../gateway/src/records/service';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL, HOSPITAL2, INSURER, SPONSOR, DAY, DISCHARGE, claimsGrantMessage } from '../chaincode/fixtures';
import { ChaincodeLedger } from '../support/chaincode-ledger';
import { CountingLedger, type LedgerCalls } from '../support/counting-ledger';
import { ROLE_KEYS, ROLE_USERS, startOrgGateway } from '../support/org-gateways';

/**
 * Patient consent through three organisations' gateways, at unit level: real gateways over
 * HTTP, the real chaincode on one shared in-memory ledger, real secp256k1 wallets. The patient
 * has no API key: their EIP-712 signatures are their authentication.
 */
const CHANNEL = 'medprov';
const LAB = 'loinc:11502-2';

const KEYS = ROLE_KEYS;
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

// One seed per patient, one derived key per hospital (m/44'/60'/0'/0/<org index>), as the
// design asks: the patient's addresses at two hospitals do not link on the ledger.
const SEED = Mnemonic.fromPhrase('test test test test test test test test test test test junk');
const ORG_INDEX: Record<string, number> = { [HOSPITAL]: 0, [HOSPITAL2]: 1 };
const keyFor = (seed: Mnemonic, hospital: string): HDNodeWallet => HDNodeWallet.fromMnemonic(seed, `m/44'/60'/0'/0/${ORG_INDEX[hospital]}`);
const patient = keyFor(SEED, HOSPITAL);
const otherPatient = keyFor(Mnemonic.fromEntropy(id('second patient seed')), HOSPITAL);
const stranger = HDNodeWallet.fromMnemonic(Mnemonic.fromEntropy(id('stranger seed')));

let nonceCounter = 0;
const freshNonce = (): string => id(`flow nonce ${++nonceCounter}`);

/** Counts what the gateways ask of the ledger, to prove a refusal never reached it. */
const calls: LedgerCalls = { evaluate: 0, submit: 0 };

interface Gateway {
  mspId: string;
  url: string;
  stop: () => Promise<void>;
}

interface Res {
  status: number;
  body: any;
  headers: Headers;
}

function gateway(
  ledger: FakeLedger,
  mspId: string,
  type: 'hospital' | 'insurer' | 'sponsor',
  dir: string,
  limits: { patientPerSecond: number; patientBurst: number } = { patientPerSecond: 1000, patientBurst: 1000 },
): Promise<Gateway> {
  return startOrgGateway({ ledger, mspId, type, dir, limits, wrapLedger: (chaincode) => new CountingLedger(chaincode, calls) });
}

async function send(gw: Gateway, method: string, p: string, opts: { role?: Role; json?: unknown; headers?: Record<string, string> } = {}): Promise<Res> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.role) headers.authorization = `Bearer ${KEYS[opts.role]}`;
  let body: string | undefined;
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(gw.url + p, { method, headers, body });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

type Wallet = HDNodeWallet;

async function signGrant(wallet: Wallet, message: ConsentGrantMessage) {
  return { message, signature: await wallet.signTypedData(consentDomain(CHANNEL), CONSENT_GRANT_TYPES, message) };
}
async function signRevoke(wallet: Wallet, message: ConsentRevokeMessage) {
  return { message, signature: await wallet.signTypedData(consentDomain(CHANNEL), CONSENT_REVOKE_TYPES, message) };
}

/** The patient's app: asks for a challenge, completes it with its binding, signs, encodes. */
async function answerChallenge(gw: Gateway, wallet: Wallet, binding: { hospital: string; patientRef: string }, challengeFor = wallet.address) {
  const challenge = await send(gw, 'POST', '/v1/patients/challenges', { json: { address: challengeFor } });
  expect(challenge.status, JSON.stringify(challenge.body)).to.equal(201);
  const message = { ...challenge.body.message, hospital: binding.hospital, patientRef: binding.patientRef };
  const signature = await wallet.signTypedData(challenge.body.domain, challenge.body.types, message);
  return { challenge: challenge.body, message, signature, header: patientHeader({ message, signature }) };
}
const patientHeader = (credential: unknown): Record<string, string> => ({
  authorization: `Patient ${Buffer.from(JSON.stringify(credential)).toString('base64url')}`,
});

describe('gateway flow: patient consent through hospital, insurer and sponsor gateways (unit level, real chaincode on the in-memory stub)', function () {
  this.timeout(30_000);
  const ledger = new FakeLedger({ channel: CHANNEL });
  let dir: string;
  let hospital: Gateway;
  let insurer: Gateway;
  let sponsor: Gateway;
  let patientRef: string;
  let otherRef: string;
  let claimsGrant: { grantId: string; nonce: string };

  const grantMessage = (overrides: Partial<ConsentGrantMessage> = {}): ConsentGrantMessage =>
    claimsGrantMessage({ patientRef, now: ledger.now, nonce: freshNonce() }, overrides);
  const checkQuery = (q: Record<string, string>) => `/v1/consents/check?${new URLSearchParams({ hospital: HOSPITAL, patientRef, ...q })}`;

  /**
   * Sends the request and expects the status and code, with nothing written to the ledger;
   * `reach` says how far it may get: nowhere, queries only, or a submit the chaincode refuses.
   */
  async function refused(request: () => Promise<Res>, status: number, code: string, reach: 'none' | 'evaluate' | 'submit'): Promise<Res> {
    const writes = ledger.writeCount;
    const before = { ...calls };
    const res = await request();
    expect(res.status, JSON.stringify(res.body)).to.equal(status);
    expect(res.body.error.code).to.equal(code);
    expect(res.body.error.message).to.be.a('string').and.match(/[.!]$/);
    expect(ledger.writeCount, 'nothing written').to.equal(writes);
    if (reach !== 'submit') expect(calls.submit, 'nothing submitted').to.equal(before.submit);
    if (reach === 'none') expect(calls.evaluate, 'no ledger call at all').to.equal(before.evaluate);
    return res;
  }

  async function register(wallet: Wallet, patientId: string): Promise<Res> {
    const request = await send(hospital, 'POST', '/v1/patients/registration-requests', { role: 'records-officer', json: { patientId } });
    expect(request.status, JSON.stringify(request.body)).to.equal(201);
    const signature = await wallet.signTypedData(request.body.domain, request.body.types, request.body.message);
    return send(hospital, 'POST', '/v1/patients', { role: 'records-officer', json: { message: request.body.message, patient: wallet.address, signature } });
  }

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-consent-flow-'));
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    hospital = await gateway(ledger, HOSPITAL, 'hospital', dir);
    insurer = await gateway(ledger, INSURER, 'insurer', dir);
    sponsor = await gateway(ledger, SPONSOR, 'sponsor', dir);
    for (const [recordId, category, patientId] of [
      ['adm-1', DISCHARGE, 'MRN-1001'],
      ['lab-1', LAB, 'MRN-1001'],
      ['adm-9', DISCHARGE, 'MRN-1002'],
    ]) {
      const res = await send(hospital, 'POST', '/v1/records', { role: 'records-officer', json: { recordId, docHash: sha(`doc ${recordId}`), patientId, category } });
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      if (recordId === 'adm-1') patientRef = res.body.anchor.patientRef;
      if (recordId === 'adm-9') otherRef = res.body.anchor.patientRef;
    }
  });
  after(async () => {
    await Promise.all([hospital.stop(), insurer.stop(), sponsor.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  describe('register → grant → PERMIT (logged) → revoke → DENY (logged) → the patient lists it all', () => {
    it("the records officer gets the typed data to sign: this hospital, the patient's patientRef, a fresh nonce; nothing is written", async () => {
      const writes = ledger.writeCount;
      const a = await send(hospital, 'POST', '/v1/patients/registration-requests', { role: 'records-officer', json: { patientId: 'MRN-1001' } });
      const b = await send(hospital, 'POST', '/v1/patients/registration-requests', { role: 'records-officer', json: { patientId: 'MRN-1001' } });
      expect(a.status).to.equal(201);
      expect(a.body.domain).to.deep.equal(consentDomain(CHANNEL));
      expect(a.body.types).to.deep.equal(REGISTER_PATIENT_TYPES);
      expect(a.body.primaryType).to.equal('RegisterPatient');
      expect(a.body.message).to.include({ hospital: HOSPITAL, patientRef });
      expect(a.body.message.nonce).to.match(/^0x[0-9a-f]{64}$/);
      expect(b.body.message.nonce).to.not.equal(a.body.message.nonce);
      expect(Date.parse(a.body.expiresAt)).to.be.greaterThan(ledger.now * 1000);
      expect(ledger.writeCount).to.equal(writes);
    });

    it("the patient signs on their own device; the records officer binds the key (201), a retry returns the binding (200) and writes nothing; the patient id stays in the gateway", async () => {
      const res = await register(patient, 'MRN-1001');
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      expect(res.body.created).to.equal(true);
      expect(res.body.binding).to.include({ hospital: HOSPITAL, patientRef, patient: patient.address });

      const request = await send(hospital, 'POST', '/v1/patients/registration-requests', { role: 'records-officer', json: { patientId: 'MRN-1001' } });
      const signature = await patient.signTypedData(request.body.domain, request.body.types, request.body.message);
      const writes = ledger.writeCount;
      const retry = await send(hospital, 'POST', '/v1/patients', { role: 'records-officer', json: { message: request.body.message, patient: patient.address, signature } });
      expect(retry.status).to.equal(200);
      expect(retry.body).to.deep.include({ created: false, binding: res.body.binding });
      expect(ledger.writeCount).to.equal(writes);

      const everything = [...ledger.state.values()].map((v) => Buffer.from(v).toString('utf8')).join('\n');
      expect(everything).to.not.include('MRN-1001');
    });

    it("the patient grants the insurer claims access to discharge summaries for 30 days, through the hospital's gateway, with no API key", async () => {
      const signed = await signGrant(patient, grantMessage());
      const res = await send(hospital, 'POST', '/v1/consents', { json: signed });
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      expect(res.body.grant).to.include({ grantee: INSURER, purpose: 'claims', status: 'active', patient: patient.address, submittedBy: HOSPITAL });
      expect(res.body.grant.grantId).to.equal(TypedDataEncoder.hash(consentDomain(CHANNEL), CONSENT_GRANT_TYPES, signed.message));
      claimsGrant = { grantId: res.body.grant.grantId, nonce: signed.message.nonce };

      // The same signed grant again: the stored one, nothing written.
      const writes = ledger.writeCount;
      const again = await send(insurer, 'POST', '/v1/consents', { json: signed });
      expect(again.status).to.equal(200);
      expect(again.body.created).to.equal(false);
      expect(ledger.writeCount).to.equal(writes);
    });

    it("the insurer's claims officer is PERMITted, gets the provenance, and the access is logged", async () => {
      const writes = ledger.writeCount;
      const res = await send(insurer, 'POST', '/v1/access', { role: 'claims-officer', json: { issuer: HOSPITAL, recordId: 'adm-1', purpose: 'claims' } });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body).to.include({ decision: 'PERMIT', grantId: claimsGrant.grantId });
      expect(res.body.provenance).to.have.length(1);
      expect(res.body.provenance[0]).to.include({ recordId: 'adm-1', docHash: sha('doc adm-1'), issuer: HOSPITAL, version: 1 });
      expect(res.body.accessLog).to.include({ accessor: INSURER, decision: 'PERMIT', recordId: 'adm-1', patientRef, purpose: 'claims' });
      expect(res.body.blockNumber).to.match(/^\d+$/);
      // The access-log entry and the consented access (what its consent-bound receipt binds).
      expect(ledger.writeCount).to.equal(writes + 2);

      // Any member's staff can ask, and asking logs nothing.
      const check = await send(sponsor, 'GET', checkQuery({ grantee: INSURER, purpose: 'claims', category: DISCHARGE }), { role: 'dpo' });
      expect(check.status).to.equal(200);
      expect(check.body).to.include({ decision: 'PERMIT', grantId: claimsGrant.grantId });
      expect(ledger.writeCount).to.equal(writes + 2);
    });

    it("the patient revokes through the sponsor's gateway; the insurer's next access is DENY (REVOKED): 200, logged, no provenance", async () => {
      const revoke = await send(sponsor, 'POST', '/v1/consents/revocations', {
        json: await signRevoke(patient, { hospital: HOSPITAL, patientRef, grantId: claimsGrant.grantId, nonce: freshNonce() }),
      });
      expect(revoke.status, JSON.stringify(revoke.body)).to.equal(201);
      expect(revoke.body.grant).to.include({ grantId: claimsGrant.grantId, status: 'revoked' });
      expect(revoke.body.grant.revocation).to.include({ submittedBy: SPONSOR });

      const writes = ledger.writeCount;
      const res = await send(insurer, 'POST', '/v1/access', { role: 'claims-officer', json: { issuer: HOSPITAL, recordId: 'adm-1', purpose: 'claims' } });
      expect(res.status).to.equal(200);
      expect(res.body).to.include({ decision: 'DENY', reason: 'REVOKED', grantId: claimsGrant.grantId });
      expect(res.body).to.not.have.property('provenance');
      expect(res.body.accessLog).to.include({ decision: 'DENY', reason: 'REVOKED' });
      expect(ledger.writeCount).to.equal(writes + 1);
    });

    it('the patient, answering a challenge, lists both access-log entries and the revoked grant', async () => {
      const binding = { hospital: HOSPITAL, patientRef };
      const log = await send(insurer, 'GET', '/v1/patients/me/access-log', { headers: (await answerChallenge(insurer, patient, binding)).header });
      expect(log.status, JSON.stringify(log.body)).to.equal(200);
      expect(log.body).to.include({ hospital: HOSPITAL, patientRef, patient: patient.address });
      expect(log.body.entries.map((e: { accessor: string; decision: string; reason?: string }) => [e.accessor, e.decision, e.reason ?? null])).to.deep.equal([
        [INSURER, 'PERMIT', null],
        [INSURER, 'DENY', 'REVOKED'],
      ]);

      // ?format=fhir: the same entries as a FHIR R4 Bundle of AuditEvent (validated by test/unit/fhir/hl7-validation.test.ts).
      const fhir = await send(insurer, 'GET', '/v1/patients/me/access-log?format=fhir', { headers: (await answerChallenge(insurer, patient, binding)).header });
      expect(fhir.status, JSON.stringify(fhir.body)).to.equal(200);
      expect(fhir.headers.get('content-type')).to.match(/^application\/fhir\+json/);
      expect(fhir.body).to.include({ resourceType: 'Bundle', type: 'collection' });
      expect(fhir.body.entry).to.deep.equal(accessLogToAuditEventBundle(log.body.entries, 0).entry);
      expect(fhir.body.entry.map((e: { resource: { resourceType: string; outcome: string; outcomeDesc: string } }) => [e.resource.resourceType, e.resource.outcome, e.resource.outcomeDesc])).to.deep.equal([
        ['AuditEvent', '0', 'PERMIT'],
        ['AuditEvent', '4', 'DENY: REVOKED'],
      ]);
      const badFormat = await send(insurer, 'GET', '/v1/patients/me/access-log?format=xml', { headers: (await answerChallenge(insurer, patient, binding)).header });
      expect(badFormat.status).to.equal(400);
      expect(badFormat.body.error.code).to.equal('INVALID_FORMAT');

      const grants = await send(hospital, 'GET', '/v1/patients/me/grants', { headers: (await answerChallenge(hospital, patient, binding)).header });
      expect(grants.status).to.equal(200);
      expect(grants.body.grants).to.have.length(1);
      expect(grants.body.grants[0]).to.include({ grantId: claimsGrant.grantId, status: 'revoked', effectiveStatus: 'revoked' });
    });

    it('a grant to the sponsor for research on lab results: DENY reasons for another grantee or purpose or category (checks log nothing; accesses are logged)', async () => {
      const res = await send(sponsor, 'POST', '/v1/consents', { json: await signGrant(patient, grantMessage({ grantee: SPONSOR, purpose: 'research:T-1', categories: [LAB] })) });
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      const grantId = res.body.grant.grantId;

      const writes = ledger.writeCount;
      const decide = async (grantee: string, purpose: string, category: string) =>
        (await send(sponsor, 'GET', checkQuery({ grantee, purpose, category }), { role: 'research-officer' })).body;
      expect(await decide(SPONSOR, 'research:T-1', LAB)).to.include({ decision: 'PERMIT', grantId });
      expect(await decide(HOSPITAL2, 'research:T-1', LAB)).to.include({ decision: 'DENY', reason: 'WRONG_GRANTEE' }).and.not.have.property('grantId');
      expect(await decide(SPONSOR, 'research:T-2', LAB)).to.include({ decision: 'DENY', reason: 'WRONG_PURPOSE' }).and.not.have.property('grantId');
      expect(await decide(SPONSOR, 'research:T-1', DISCHARGE)).to.include({ decision: 'DENY', reason: 'OUT_OF_SCOPE', grantId });
      // grantee defaults to the asking gateway's org.
      expect((await send(sponsor, 'GET', checkQuery({ purpose: 'research:T-1', recordId: 'lab-1', category: LAB }), { role: 'research-officer' })).body).to.include({ decision: 'PERMIT' });
      expect((await send(sponsor, 'GET', `/v1/consents/check?${new URLSearchParams({ hospital: HOSPITAL, patientRef: otherRef, purpose: 'claims', category: LAB })}`, { role: 'dpo' })).body).to.include({
        decision: 'NO_CONSENT',
      });
      expect(ledger.writeCount).to.equal(writes);

      const permitted = await send(sponsor, 'POST', '/v1/access', { role: 'research-officer', json: { issuer: HOSPITAL, recordId: 'lab-1', purpose: 'research:T-1' } });
      expect(permitted.body).to.include({ decision: 'PERMIT', grantId });
      const wrongPurpose = await send(sponsor, 'POST', '/v1/access', { role: 'research-officer', json: { issuer: HOSPITAL, recordId: 'lab-1', purpose: 'research:T-2' } });
      expect(wrongPurpose.status).to.equal(200);
      expect(wrongPurpose.body).to.include({ decision: 'DENY', reason: 'WRONG_PURPOSE' });
      const otherGrantee = await send(insurer, 'POST', '/v1/access', { role: 'claims-officer', json: { issuer: HOSPITAL, recordId: 'lab-1', purpose: 'claims' } });
      expect(otherGrantee.body).to.include({ decision: 'DENY', reason: 'OUT_OF_SCOPE' });
      // Three access-log entries, and the consented access of the one permitted.
      expect(ledger.writeCount).to.equal(writes + 4);
    });

    it('a grant that runs out: PERMIT until validUntil, then DENY (EXPIRED) once the clock has passed it', async () => {
      const res = await send(insurer, 'POST', '/v1/consents', { json: await signGrant(patient, grantMessage({ recordIds: ['adm-1'], categories: [], validUntil: ledger.now + 600 })) });
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      const query = checkQuery({ purpose: 'claims', recordId: 'adm-1' });
      expect((await send(insurer, 'GET', query, { role: 'claims-officer' })).body).to.include({ decision: 'PERMIT', grantId: res.body.grant.grantId });
      ledger.advance(601);
      expect((await send(insurer, 'GET', query, { role: 'claims-officer' })).body).to.include({ decision: 'DENY', reason: 'EXPIRED', grantId: res.body.grant.grantId });
    });
  });

  describe('refusals: a code, and nothing written', () => {
    it("a forged grant (a stranger's key, or the patient's key at another hospital) → 403 SIGNER_NOT_PATIENT; nothing submitted", async () => {
      await refused(async () => send(insurer, 'POST', '/v1/consents', { json: await signGrant(stranger, grantMessage()) }), 403, 'SIGNER_NOT_PATIENT', 'evaluate');
      await refused(async () => send(insurer, 'POST', '/v1/consents', { json: await signGrant(keyFor(SEED, HOSPITAL2), grantMessage()) }), 403, 'SIGNER_NOT_PATIENT', 'evaluate');
      await refused(async () => send(insurer, 'POST', '/v1/consents', { json: await signGrant(patient, grantMessage({ patientRef: sha('nobody') })) }), 404, 'PATIENT_NOT_REGISTERED', 'evaluate');
    });

    it('a grant or revocation changed after signing → 403 SIGNER_NOT_PATIENT; nothing submitted', async () => {
      const changes: Partial<ConsentGrantMessage>[] = [
        { grantee: SPONSOR },
        { purpose: 'research:T-1' },
        { categories: [DISCHARGE, LAB] },
        { recordIds: ['lab-1'] },
        { validUntil: ledger.now + 365 * DAY },
        { nonce: freshNonce() },
      ];
      for (const change of changes) {
        const signed = await signGrant(patient, grantMessage());
        await refused(() => send(hospital, 'POST', '/v1/consents', { json: { ...signed, message: { ...signed.message, ...change } } }), 403, 'SIGNER_NOT_PATIENT', 'evaluate');
      }
      const revocation = await signRevoke(patient, { hospital: HOSPITAL, patientRef, grantId: claimsGrant.grantId, nonce: freshNonce() });
      const otherGrant = `0x${'ab'.repeat(32)}`;
      await refused(() => send(sponsor, 'POST', '/v1/consents/revocations', { json: { ...revocation, message: { ...revocation.message, grantId: otherGrant } } }), 403, 'SIGNER_NOT_PATIENT', 'evaluate');
    });

    it('a signature that does not parse, or a high-s (malleated) one → 400 SIGNATURE_INVALID without any ledger call', async () => {
      const signed = await signGrant(patient, grantMessage());
      const sig = Signature.from(signed.signature);
      const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
      const highS = sig.r + (N - BigInt(sig.s)).toString(16).padStart(64, '0') + (sig.v === 27 ? '1c' : '1b');
      for (const signature of [signed.signature.slice(0, -2) + '05', '0x' + '00'.repeat(64) + '1b', highS]) {
        await refused(() => send(hospital, 'POST', '/v1/consents', { json: { ...signed, signature } }), 400, 'SIGNATURE_INVALID', 'none');
      }
    });

    it('a replayed nonce in a new grant → 409 NONCE_REUSED from the chaincode; a repeated revocation answers 200 and writes nothing', async () => {
      const replay = await signGrant(patient, grantMessage({ nonce: claimsGrant.nonce, grantee: SPONSOR, purpose: 'research:T-9' }));
      await refused(() => send(insurer, 'POST', '/v1/consents', { json: replay }), 409, 'NONCE_REUSED', 'submit');
      const writes = ledger.writeCount;
      const again = await send(hospital, 'POST', '/v1/consents/revocations', {
        json: await signRevoke(patient, { hospital: HOSPITAL, patientRef, grantId: claimsGrant.grantId, nonce: freshNonce() }),
      });
      expect(again.status).to.equal(200);
      expect(again.body).to.include({ created: false });
      expect(ledger.writeCount).to.equal(writes);
    });

    it('a grant whose validUntil has passed by the time it is sent (clock advanced) → 400 GRANT_EXPIRED; nothing submitted', async () => {
      const signed = await signGrant(patient, grantMessage({ validUntil: ledger.now + 3600 }));
      ledger.advance(3601);
      await refused(() => send(hospital, 'POST', '/v1/consents', { json: signed }), 400, 'GRANT_EXPIRED', 'none');
    });

    it('strict bodies: unknown fields (also inside the signed message), missing fields, an uppercase nonce, an empty scope → 400 without any ledger call', async () => {
      const signed = await signGrant(patient, grantMessage());
      const cases: [unknown, string][] = [
        [{ ...signed, patient: patient.address }, 'UNKNOWN_FIELD'],
        [{ ...signed, message: { ...signed.message, note: 'please' } }, 'UNKNOWN_FIELD'],
        [{ message: signed.message }, 'INVALID_REQUEST'],
        [{ ...signed, message: { ...signed.message, nonce: signed.message.nonce.toUpperCase().replace('0X', '0x') } }, 'INVALID_REQUEST'],
        [{ ...signed, message: { ...signed.message, categories: [DISCHARGE, DISCHARGE] } }, 'INVALID_REQUEST'],
        [{ ...signed, message: { ...signed.message, purpose: 'marketing' } }, 'INVALID_REQUEST'],
        [{ ...signed, message: { ...signed.message, categories: [] } }, 'INVALID_REQUEST'],
        [{ ...signed, message: { ...signed.message, validUntil: signed.message.validFrom } }, 'INVALID_REQUEST'],
      ];
      for (const [json, code] of cases) await refused(() => send(hospital, 'POST', '/v1/consents', { json }), 400, code, 'none');
      await refused(() => send(hospital, 'POST', '/v1/patients/challenges', { json: { address: patient.address, hospital: HOSPITAL } }), 400, 'UNKNOWN_FIELD', 'none');
    });

    it('registration: only a records officer, only at a hospital, only answering its own request, only signed by the named key', async () => {
      const request = (await send(hospital, 'POST', '/v1/patients/registration-requests', { role: 'records-officer', json: { patientId: 'MRN-1002' } })).body;
      const sign = (wallet: Wallet, message = request.message) => wallet.signTypedData(request.domain, request.types, message);
      const body = async (message = request.message, wallet: Wallet = otherPatient) => ({ message, patient: otherPatient.address, signature: await sign(wallet, message) });

      await refused(async () => send(hospital, 'POST', '/v1/patients', { role: 'claims-officer', json: await body() }), 403, 'FORBIDDEN_ROLE', 'none');
      await refused(async () => send(insurer, 'POST', '/v1/patients', { role: 'records-officer', json: await body() }), 403, 'FORBIDDEN_ORG_TYPE', 'none');
      await refused(
        () => send(insurer, 'POST', '/v1/patients/registration-requests', { role: 'records-officer', json: { patientId: 'MRN-1002' } }),
        403,
        'FORBIDDEN_ORG_TYPE',
        'none',
      );
      await refused(async () => send(hospital, 'POST', '/v1/patients', { role: 'records-officer', json: await body({ ...request.message, hospital: HOSPITAL2 }) }), 403, 'FORBIDDEN_OTHER_ORG', 'none');
      await refused(async () => send(hospital, 'POST', '/v1/patients', { role: 'records-officer', json: await body({ ...request.message, nonce: freshNonce() }) }), 400, 'REGISTRATION_REQUEST_UNKNOWN', 'none');
      await refused(async () => send(hospital, 'POST', '/v1/patients', { role: 'records-officer', json: await body({ ...request.message, patientRef }) }), 400, 'REGISTRATION_REQUEST_MISMATCH', 'none');
      await refused(async () => send(hospital, 'POST', '/v1/patients', { role: 'records-officer', json: await body(request.message, stranger) }), 400, 'SIGNATURE_INVALID', 'none');
      // Another patient's key for a patientRef already bound: the chaincode refuses.
      const taken = (await send(hospital, 'POST', '/v1/patients/registration-requests', { role: 'records-officer', json: { patientId: 'MRN-1001' } })).body;
      const takenSig = await otherPatient.signTypedData(taken.domain, taken.types, taken.message);
      await refused(() => send(hospital, 'POST', '/v1/patients', { role: 'records-officer', json: { message: taken.message, patient: otherPatient.address, signature: takenSig } }), 409, 'PATIENT_ALREADY_REGISTERED', 'submit');

      ledger.advance(901);
      await refused(async () => send(hospital, 'POST', '/v1/patients', { role: 'records-officer', json: await body() }), 400, 'REGISTRATION_REQUEST_EXPIRED', 'none');
    });

    it('access: the purpose must fit the role, a records officer may not, an unknown record writes nothing', async () => {
      await refused(() => send(insurer, 'POST', '/v1/access', { role: 'claims-officer', json: { issuer: HOSPITAL, recordId: 'adm-1', purpose: 'research:T-1' } }), 403, 'FORBIDDEN_PURPOSE', 'none');
      await refused(() => send(sponsor, 'POST', '/v1/access', { role: 'research-officer', json: { issuer: HOSPITAL, recordId: 'adm-1', purpose: 'claims' } }), 403, 'FORBIDDEN_PURPOSE', 'none');
      await refused(() => send(insurer, 'POST', '/v1/access', { role: 'records-officer', json: { issuer: HOSPITAL, recordId: 'adm-1', purpose: 'claims' } }), 403, 'FORBIDDEN_ROLE', 'none');
      await refused(() => send(insurer, 'POST', '/v1/access', { json: { issuer: HOSPITAL, recordId: 'adm-1', purpose: 'claims' } }), 401, 'AUTH_REQUIRED', 'none');
      await refused(() => send(insurer, 'POST', '/v1/access', { role: 'claims-officer', json: { issuer: HOSPITAL, recordId: 'no-such-record', purpose: 'claims' } }), 404, 'RECORD_NOT_FOUND', 'submit');
      await refused(() => send(insurer, 'GET', checkQuery({ purpose: 'claims' }), { role: 'claims-officer' }), 400, 'INVALID_REQUEST', 'none');
      await refused(() => send(insurer, 'GET', checkQuery({ purpose: 'claims', category: DISCHARGE, extra: '1' }), { role: 'claims-officer' }), 400, 'UNKNOWN_FIELD', 'none');
    });
  });

  describe("the patient's listings: challenge-authenticated", () => {
    const binding = () => ({ hospital: HOSPITAL, patientRef });

    before(async () => {
      const res = await register(otherPatient, 'MRN-1002');
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
    });

    it('a challenge is single use: replayed → 401 CHALLENGE_USED', async () => {
      const answer = await answerChallenge(hospital, patient, binding());
      expect((await send(hospital, 'GET', '/v1/patients/me/grants', { headers: answer.header })).status).to.equal(200);
      await refused(() => send(hospital, 'GET', '/v1/patients/me/access-log', { headers: answer.header }), 401, 'CHALLENGE_USED', 'none');
    });

    it('an expired challenge (clock advanced past 2 minutes) → 401 CHALLENGE_EXPIRED; a challenge from another gateway → 401 CHALLENGE_UNKNOWN', async () => {
      const late = await answerChallenge(hospital, patient, binding());
      ledger.advance(121);
      await refused(() => send(hospital, 'GET', '/v1/patients/me/grants', { headers: late.header }), 401, 'CHALLENGE_EXPIRED', 'none');
      const elsewhere = await answerChallenge(insurer, patient, binding());
      await refused(() => send(hospital, 'GET', '/v1/patients/me/grants', { headers: elsewhere.header }), 401, 'CHALLENGE_UNKNOWN', 'none');
    });

    it("another patient's signature on my challenge → 401 PATIENT_SIGNATURE_INVALID, and the challenge is spent", async () => {
      const answer = await answerChallenge(hospital, otherPatient, binding(), patient.address);
      await refused(() => send(hospital, 'GET', '/v1/patients/me/access-log', { headers: answer.header }), 401, 'PATIENT_SIGNATURE_INVALID', 'none');
      // The right signature cannot be sent after a failed attempt: the nonce was used up.
      const message = answer.message;
      const signature = await patient.signTypedData(consentDomain(CHANNEL), PATIENT_CHALLENGE_TYPES, message);
      await refused(() => send(hospital, 'GET', '/v1/patients/me/access-log', { headers: patientHeader({ message, signature }) }), 401, 'CHALLENGE_USED', 'none');
    });

    it("another patient naming my binding in their own challenge → 403 PATIENT_BINDING_MISMATCH", async () => {
      const answer = await answerChallenge(hospital, otherPatient, binding());
      await refused(() => send(hospital, 'GET', '/v1/patients/me/access-log', { headers: answer.header }), 403, 'PATIENT_BINDING_MISMATCH', 'evaluate');
      // …while their own binding lists their own (empty) log.
      const own = await answerChallenge(hospital, otherPatient, { hospital: HOSPITAL, patientRef: otherRef });
      const res = await send(hospital, 'GET', '/v1/patients/me/access-log', { headers: own.header });
      expect(res.status).to.equal(200);
      expect(res.body).to.include({ patientRef: otherRef, patient: otherPatient.address });
      expect(res.body.entries).to.deep.equal([]);
    });

    it('a changed expiry, an unregistered key, a missing or malformed credential are refused with codes', async () => {
      const answer = await answerChallenge(hospital, patient, binding());
      const message = { ...answer.message, expiresAt: answer.message.expiresAt + 3600 };
      const signature = await patient.signTypedData(consentDomain(CHANNEL), PATIENT_CHALLENGE_TYPES, message);
      await refused(() => send(hospital, 'GET', '/v1/patients/me/grants', { headers: patientHeader({ message, signature }) }), 401, 'PATIENT_SIGNATURE_INVALID', 'none');

      const unregistered = await answerChallenge(hospital, stranger, binding());
      await refused(() => send(hospital, 'GET', '/v1/patients/me/grants', { headers: unregistered.header }), 404, 'PATIENT_NOT_REGISTERED', 'evaluate');

      await refused(() => send(hospital, 'GET', '/v1/patients/me/grants'), 401, 'PATIENT_AUTH_REQUIRED', 'none');
      await refused(() => send(hospital, 'GET', '/v1/patients/me/grants', { role: 'admin' }), 401, 'PATIENT_AUTH_REQUIRED', 'none');
      await refused(() => send(hospital, 'GET', '/v1/patients/me/grants', { headers: { authorization: 'Patient not-json-at-all-zzzz' } }), 401, 'PATIENT_AUTH_INVALID', 'none');
      await refused(() => send(hospital, 'GET', '/v1/patients/me/grants', { headers: patientHeader({ message: answer.message }) }), 401, 'PATIENT_AUTH_INVALID', 'none');
      await refused(() => send(hospital, 'POST', '/v1/patients/challenges', { json: { address: patient.address.toLowerCase().replace('0x', '0X') } }), 400, 'INVALID_REQUEST', 'none');
    });
  });

  describe('the API around it', () => {
    it('patients have their own per-IP rate limit: 429 with retry-after, while staff are served', async () => {
      const limited = await gateway(ledger, SPONSOR, 'sponsor', path.join(dir, 'limited'), { patientPerSecond: 1, patientBurst: 3 });
      try {
        const codes: number[] = [];
        for (let i = 0; i < 5; i++) codes.push((await send(limited, 'POST', '/v1/patients/challenges', { json: { address: patient.address } })).status);
        expect(codes).to.deep.equal([201, 201, 201, 429, 429]);
        const limitedRes = await send(limited, 'POST', '/v1/consents', { json: {} });
        expect(limitedRes.body.error.code).to.equal('RATE_LIMITED');
        expect(limitedRes.headers.get('retry-after')).to.match(/^\d+$/);
        expect((await send(limited, 'GET', '/v1/whoami', { role: 'research-officer' })).status).to.equal(200);
      } finally {
        await limited.stop();
      }
    });

    it('the OpenAPI document describes the consent routes; a gateway without a consent service offers none', async () => {
      const doc = await send(hospital, 'GET', '/v1/openapi.json');
      expect(Object.keys(doc.body.paths)).to.include.members([
        '/v1/patients/registration-requests',
        '/v1/patients',
        '/v1/consents',
        '/v1/consents/revocations',
        '/v1/consents/check',
        '/v1/access',
        '/v1/patients/challenges',
        '/v1/patients/me/grants',
        '/v1/patients/me/access-log',
      ]);
      expect(doc.body.paths['/v1/consents'].post.security).to.deep.equal([]);
      expect(doc.body.components.schemas.AccessResult.description).to.include('DENY');

      const keys = await PatientKeyStore.open({ stateDir: path.join(dir, 'bare'), masterKey: MasterKey.generate(), ifMissing: 'create' });
      const { app } = createGatewayApp({
        org: { mspId: INSURER, name: INSURER, type: 'insurer' },
        users: ROLE_USERS,
        records: new RecordsService(new ChaincodeLedger(ledger, INSURER), keys),
        logger: pino({ level: 'silent' }),
      });
      const server = http.createServer(app);
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        const bare: Gateway = { mspId: INSURER, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, stop: async () => undefined };
        expect(Object.keys((await send(bare, 'GET', '/v1/openapi.json')).body.paths)).to.not.include('/v1/consents');
        expect((await send(bare, 'POST', '/v1/consents', { json: {} })).body.error.code).to.equal('ROUTE_NOT_FOUND');
      } finally {
        await keys.close();
        await new Promise<void>((r) => {
          server.close(() => r());
          server.closeAllConnections();
        });
      }
    });
  });
});
