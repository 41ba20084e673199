/**
 * Issue 8, erasure, through the gateways over HTTP (unit level: real gateways and chaincode on
 * the in-memory stub). A hospital anchors a patient's records and has receipts for them; its
 * data-protection officer erases the patient. Afterwards the gateway cannot derive the patient's
 * ref any more, nothing on the ledger, in its events, in the receipts, in the journal or in the
 * request log matches anything derived from the original identifier, every receipt still
 * verifies, and the ledger holds a record of the erasure that names no patient.
 */
import { expect } from 'chai';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { IdentityContract } from '../../../chaincode/src';
import type { RecordAnchor } from '../../../chaincode/src/contracts/records';
import { encodeLeaf, leafFromAnchor, leafHash, verifyReceipt, type Receipt } from '../../../gateway/src/anchoring';
import { buildReceipt } from '../../../gateway/src/anchoring/node';
import type { Ledger } from '../../../gateway/src/fabric/client';
import { delegatingLedger } from '../../../gateway/src/fabric/delegating-ledger';
import { ApiError } from '../../../gateway/src/errors';
import { LedgerError } from '../../../gateway/src/fabric/errors';
import { bytesToHex, MerkleTree } from '../../../gateway/src/merkle';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL, HOSPITAL2, INSURER } from '../chaincode/fixtures';
import { sendTo } from '../support/http';
import { ROLE_KEYS, startOrgGateway, type OrgGateway } from '../support/org-gateways';

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const OFFICER = ROLE_KEYS['records-officer'];
const DPO = ROLE_KEYS.dpo;
const ADMIN = ROLE_KEYS.admin;
const CLAIMS = ROLE_KEYS['claims-officer'];

const send = sendTo;

/**
 * Everything someone holding the original identifier could search for: the identifier as it is,
 * in other cases and without separators, its hex, base64 and base64url encodings, and the common
 * digests of each of those (hex and base64).
 */
function derivationsOf(patientId: string): string[] {
  const forms = new Set([patientId, patientId.toLowerCase(), patientId.toUpperCase(), patientId.replace(/[-\s]/g, '')]);
  const out = new Set<string>();
  for (const form of forms) {
    const bytes = Buffer.from(form, 'utf8');
    for (const text of [form, bytes.toString('hex'), bytes.toString('base64'), bytes.toString('base64url')]) out.add(text);
    for (const algorithm of ['sha256', 'sha1', 'md5', 'sha512']) {
      const digest = createHash(algorithm).update(bytes).digest();
      out.add(digest.toString('hex'));
      out.add(digest.toString('base64'));
    }
  }
  return [...out].filter((s) => s.length >= 6);
}

/** Every file under `dir`, as latin1 text (so that any byte sequence can be searched). */
function filesUnder(dir: string): { file: string; text: string }[] {
  const out: { file: string; text: string }[] = [];
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    if (statSync(file).isDirectory()) out.push(...filesUnder(file));
    else out.push({ file, text: readFileSync(file).toString('latin1') });
  }
  return out;
}

/** The texts someone could search: every ledger value and key, every event, every committed write. */
function ledgerTexts(ledger: FakeLedger): { where: string; text: string }[] {
  const out: { where: string; text: string }[] = [];
  for (const [key, value] of ledger.state) out.push({ where: `state ${JSON.stringify(key)}`, text: `${key}\n${Buffer.from(value).toString('utf8')}` });
  for (const tx of ledger.committed) {
    if (tx.event) out.push({ where: `event of ${tx.fcn}`, text: Buffer.from(tx.event.payload).toString('utf8') });
    for (const [key, value] of tx.writes) out.push({ where: `write of ${tx.fcn}`, text: `${key}\n${value ? Buffer.from(value).toString('utf8') : ''}` });
  }
  return out;
}

describe('erasure through the gateway (issue 8): the DPO destroys a patient\'s key; nothing links to them, every receipt still verifies', function () {
  this.timeout(30_000);
  const ledger = new FakeLedger();
  let dir: string;
  let hospital: OrgGateway;
  let hospital2: OrgGateway;
  let insurer: OrgGateway;
  const logLines: string[] = [];
  /** hospital2's ledger refuses to record erasures while this is set (to test the recording failing). */
  let failRecording = false;
  /** hospital's erasures "crash" right after the key store write while this is set; their ids land in `lostIds`. */
  let crashAfterStoreWrite = false;
  const lostIds: string[] = [];

  const PATIENT = '900101-1234567';
  const OTHER = 'MRN-2026-0002';
  const docs = [0, 1, 2].map((i) => Buffer.from(`%PDF-1.7 discharge summary ${i} of the patient — ${'x'.repeat(50 * i)}`));
  const anchors: { anchor: RecordAnchor; blockNumber: string; salt?: string }[] = [];
  const receipts: Receipt[] = [];
  let refBefore: string;
  let otherRefBefore: string;
  let erasureId: string;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-erasure-'));
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    const sink = new Writable({
      write(chunk, _enc, done) {
        logLines.push(String(chunk));
        done();
      },
    });
    const logger = pino({ level: 'info' }, sink);
    hospital = await startOrgGateway({
      ledger,
      mspId: HOSPITAL,
      type: 'hospital',
      dir,
      acceptance: true,
      logger,
      wrapErasureKeys: (keys) => ({
        registerPatient: (patientId, options) => keys.registerPatient(patientId, options),
        erasePatient: async (patientId) => {
          const erasure = await keys.erasePatient(patientId);
          if (!crashAfterStoreWrite) return erasure;
          // The process dies here: the tombstone is on disk, the id is in no journal and no answer.
          lostIds.push(erasure.erasureId);
          throw new Error('simulated crash between the key store write and the journal append');
        },
      }),
    });
    hospital2 = await startOrgGateway({
      ledger,
      mspId: HOSPITAL2,
      type: 'hospital',
      dir,
      logger,
      wrapLedger: (inner: Ledger): Ledger =>
        delegatingLedger(inner, {
          submit: async (name, ...args) => {
            if (failRecording && name === 'Privacy:recordErasure') throw new LedgerError('LEDGER_UNAVAILABLE', 'No peer answered.');
            return inner.submit(name, ...args);
          },
        }),
    });
    insurer = await startOrgGateway({ ledger, mspId: INSURER, type: 'insurer', dir });
  });
  after(async () => {
    await Promise.all([hospital.stop(), hospital2.stop(), insurer.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('the hospital anchors the patient\'s records (one salted) and another patient\'s; receipts are built from the anchored leaves', async () => {
    for (const [i, doc] of docs.entries()) {
      const res = await send(
        hospital,
        'POST',
        '/v1/records',
        OFFICER,
        { recordId: `adm-2026-00${i}`, docHash: sha(doc), patientId: PATIENT, category: 'loinc:18842-5', ...(i === 2 ? { commitment: 'salted' } : {}) },
        { prefer: 'wait=10' },
      );
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      anchors.push(res.body);
    }
    expect(anchors[2].salt).to.match(/^[0-9a-f]{64}$/);
    const other = await send(hospital, 'POST', '/v1/records', OFFICER, { recordId: 'adm-2026-099', docHash: sha('other'), patientId: OTHER, category: 'loinc:18842-5' }, { prefer: 'wait=10' });
    expect(other.status).to.equal(201);
    refBefore = hospital.keys.patientRef(PATIENT);
    otherRefBefore = hospital.keys.patientRef(OTHER);
    expect(anchors.every((a) => a.anchor.patientRef === refBefore)).to.equal(true);

    // The anchor log: the patient's leaves among others, one checkpoint over all of them.
    const leaves = anchors.map((a) => leafFromAnchor(a.anchor, BigInt(a.blockNumber)));
    const noise = Array.from({ length: 5 }, () => new Uint8Array(randomBytes(32)));
    const hashes = [noise[0], leafHash(leaves[0]), noise[1], noise[2], leafHash(leaves[1]), noise[3], leafHash(leaves[2]), noise[4]];
    const tree = MerkleTree.fromLeafHashes(hashes);
    const checkpoint = { treeSize: hashes.length, root: bytesToHex(tree.rootAt(hashes.length)), fabricBlockHeight: ledger.committed.length, chainId: 31337, contract: `0x${'5f'.repeat(20)}` };
    for (const [i, leafIndex] of [1, 4, 6].entries()) {
      const receipt = buildReceipt({ leafBytes: encodeLeaf(leaves[i]), leafIndex, tree, checkpoint });
      receipts.push(anchors[i].salt ? { ...receipt, salt: anchors[i].salt } : receipt);
    }
    receipts.forEach((r, i) => expect(verifyReceipt(r, docs[i]).valid, `receipt ${i} before erasure`).to.equal(true));
  });

  it('only the DPO of a hospital may erase: other roles and other org types are refused, and nothing is destroyed', async () => {
    for (const key of [OFFICER, ADMIN, CLAIMS]) {
      const res = await send(hospital, 'POST', '/v1/erasures', key, { patientId: PATIENT });
      expect(res.status).to.equal(403);
      expect(res.body.error.code).to.equal('FORBIDDEN_ROLE');
    }
    const atInsurer = await send(insurer, 'POST', '/v1/erasures', DPO, { patientId: PATIENT });
    expect(atInsurer.status).to.equal(403);
    expect(atInsurer.body.error.code).to.equal('FORBIDDEN_ORG_TYPE');
    expect(hospital.keys.patientStatus(PATIENT)).to.equal('active');
  });

  it('refuses an unknown patient (404), a malformed identifier (400) and an unknown field, writing nothing', async () => {
    const writes = ledger.writeCount;
    const journal = hospital.journal!.list().length;
    const cases: [unknown, number, string][] = [
      [{ patientId: 'MRN-never-seen' }, 404, 'PATIENT_NOT_REGISTERED'],
      [{ patientId: 'a\u0000b' }, 400, 'INVALID_IDENTIFIER'],
      [{ patientId: '' }, 400, 'VALIDATION_FAILED'],
      [{ patientId: PATIENT, patientRef: refBefore }, 400, 'VALIDATION_FAILED'],
      [{}, 400, 'VALIDATION_FAILED'],
    ];
    for (const [body, status, code] of cases) {
      const res = await send(hospital, 'POST', '/v1/erasures', DPO, body);
      expect(res.status, JSON.stringify(res.body)).to.equal(status);
      if (code !== 'VALIDATION_FAILED') expect(res.body.error.code).to.equal(code);
      expect(res.body.error.requestId).to.be.a('string');
    }
    expect(ledger.writeCount).to.equal(writes);
    expect(hospital.journal!.list().length).to.equal(journal);
    expect(hospital.keys.status().erasedPatients).to.equal(0);
  });

  it('the DPO erases the patient: 201 with the key store\'s erasure record and the committed ledger record, neither naming the patient', async () => {
    const res = await send(hospital, 'POST', '/v1/erasures', DPO, { patientId: PATIENT }, { prefer: 'wait=10' });
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    const { erasure, ledger: recorded } = res.body;
    erasureId = erasure.erasureId;
    expect(erasure).to.have.all.keys('erasureId', 'erasedAt', 'keysDestroyed');
    expect(erasure.keysDestroyed).to.equal(1);
    expect(res.location).to.equal(`/v1/erasures/${erasureId}`);
    expect(recorded).to.include({ state: 'committed', created: true });
    expect(recorded.erasure).to.deep.equal({ erasureId, hospital: HOSPITAL, recordedAt: recorded.erasure.recordedAt, txId: recorded.transactionId });
    // the one write of the erasure transaction: under the erasure id, four fields, nothing of the patient
    const tx = ledger.committed.find((t) => t.txId === recorded.transactionId)!;
    expect(tx.fcn).to.equal('Privacy:recordErasure');
    expect([...tx.writes.keys()]).to.deep.equal([`\u0000medprov.erasure\u0000${erasureId}\u0000`]);
    const value = Buffer.from([...tx.writes.values()][0]!).toString('utf8');
    expect(Object.keys(JSON.parse(value)).sort()).to.deep.equal(['erasureId', 'hospital', 'recordedAt', 'txId']);
    expect(value).to.not.include(refBefore);
  });

  it('afterwards the gateway cannot derive the ref: anchoring and registration for that patientId are refused PATIENT_KEY_ERASED; a second erasure is 409', async () => {
    expect(() => hospital.keys.patientRef(PATIENT)).to.throw(/^PATIENT_KEY_ERASED: /);
    const writes = ledger.writeCount;
    const anchor = await send(hospital, 'POST', '/v1/records', OFFICER, { recordId: 'adm-2026-100', docHash: sha('after'), patientId: PATIENT, category: 'loinc:18842-5' });
    expect(anchor.status).to.be.within(400, 499);
    expect(anchor.body.error.code).to.equal('PATIENT_KEY_ERASED');
    const registration = await send(hospital, 'POST', '/v1/patients/registration-requests', OFFICER, { patientId: PATIENT });
    expect(registration.body.error.code).to.equal('PATIENT_KEY_ERASED');
    const again = await send(hospital, 'POST', '/v1/erasures', DPO, { patientId: PATIENT });
    expect(again.status).to.equal(409);
    expect(again.body.error.code).to.equal('PATIENT_KEY_ERASED');
    expect(ledger.writeCount).to.equal(writes);
    // the other patient is untouched
    expect(hospital.keys.patientRef(OTHER)).to.equal(otherRefBefore);
  });

  it('a search with the original identifier finds nothing: ledger state, events, receipts, journal, key store and request log', async () => {
    const needles = derivationsOf(PATIENT);
    expect(needles.length).to.be.at.least(24);
    const haystacks = [
      ...ledgerTexts(ledger),
      ...receipts.map((r, i) => ({ where: `receipt ${i}`, text: JSON.stringify(r) })),
      ...filesUnder(dir).map(({ file, text }) => ({ where: path.relative(dir, file), text })),
      { where: 'request log', text: logLines.join('') },
    ];
    const found: string[] = [];
    for (const { where, text } of haystacks) for (const needle of needles) if (text.includes(needle)) found.push(`${needle} in ${where}`);
    expect(found).to.deep.equal([]);
    // The receipts carry no patientRef at all; the ledger's old one can no longer be recomputed by anyone.
    for (const r of receipts) expect(JSON.stringify(r)).to.not.include(refBefore);
    expect(logLines.length).to.be.greaterThan(5);
    expect(logLines.join('')).to.include(erasureId);
  });

  it('every receipt of the patient\'s documents still verifies, and the documents still verify as ORIGINAL', async () => {
    receipts.forEach((r, i) => expect(verifyReceipt(r, docs[i]), `receipt ${i}`).to.deep.include({ valid: true }));
    for (const doc of docs.slice(0, 2)) {
      const res = await send(insurer, 'POST', '/v1/verifications', CLAIMS, { docHash: sha(doc) });
      expect(res.body).to.include({ verdict: 'ORIGINAL', issuer: HOSPITAL });
    }
    const salted = await send(insurer, 'POST', '/v1/verifications', CLAIMS, { docHash: sha(docs[2]), salt: anchors[2].salt });
    expect(salted.body).to.include({ verdict: 'ORIGINAL', issuer: HOSPITAL });
  });

  it('the erasure record is on the ledger: any org\'s DPO or admin reads it; it is recorded once', async () => {
    for (const [gw, key] of [[hospital, DPO], [insurer, ADMIN], [hospital2, DPO]] as const) {
      const res = await send(gw, 'GET', `/v1/erasures/${erasureId}`, key);
      expect(res.status).to.equal(200);
      expect(res.body).to.have.all.keys('erasureId', 'hospital', 'recordedAt', 'txId');
      expect(res.body).to.include({ erasureId, hospital: HOSPITAL });
    }
    expect((await send(hospital, 'GET', `/v1/erasures/${erasureId}`, OFFICER)).body.error.code).to.equal('FORBIDDEN_ROLE');
    const unknown = await send(hospital, 'GET', `/v1/erasures/${randomUUID()}`, DPO);
    expect(unknown.status).to.equal(404);
    expect(unknown.body.error.code).to.equal('ERASURE_NOT_FOUND');
    expect((await send(hospital, 'GET', '/v1/erasures/not-a-uuid', DPO)).status).to.equal(400);
    const retry = await send(hospital, 'POST', `/v1/erasures/${erasureId}/ledger-record`, DPO);
    expect(retry.status).to.equal(200);
    expect(retry.body).to.include({ state: 'committed', created: false });
    // another hospital cannot claim this erasure id
    const claimed = await send(hospital2, 'POST', `/v1/erasures/${erasureId}/ledger-record`, DPO);
    expect(claimed.status).to.equal(403);
    expect(claimed.body.error.code).to.equal('FORBIDDEN_OTHER_ORG');
  });

  it('when the ledger cannot record the erasure, the key stays destroyed, the answer says ERASURE_NOT_RECORDED, and the DPO records it later', async () => {
    const res0 = await send(hospital2, 'POST', '/v1/records', OFFICER, { recordId: 'h2-adm-1', docHash: sha('h2 doc'), patientId: 'H2-MRN-7', category: 'loinc:18842-5' });
    expect(res0.status).to.equal(201);
    failRecording = true;
    const res = await send(hospital2, 'POST', '/v1/erasures', DPO, { patientId: 'H2-MRN-7' });
    failRecording = false;
    expect(res.status).to.equal(201);
    expect(res.body.ledger).to.include({ state: 'not-recorded', code: 'ERASURE_NOT_RECORDED', cause: 'LEDGER_UNAVAILABLE' });
    const id = res.body.erasure.erasureId;
    expect(res.body.ledger.retry).to.equal(`/v1/erasures/${id}/ledger-record`);
    expect(hospital2.keys.patientStatus('H2-MRN-7')).to.equal('erased');
    expect((await send(hospital2, 'GET', `/v1/erasures/${id}`, DPO)).status).to.equal(404);
    expect(logLines.some((l) => l.includes('ERASURE_NOT_RECORDED') && l.includes(id))).to.equal(true);
    const recorded = await send(hospital2, 'POST', res.body.ledger.retry, DPO);
    expect(recorded.status).to.equal(201);
    expect(recorded.body.erasure).to.include({ erasureId: id, hospital: HOSPITAL2 });
    expect((await send(hospital2, 'GET', `/v1/erasures/${id}`, ADMIN)).body).to.deep.equal(recorded.body.erasure);
  });

  /** Anchors a record of `patient` at the hospital, then erases them with a crash right after the key store write (500). */
  async function anchorThenCrashErasure(patient: string, recordId: string): Promise<{ ref: string; crashed: { status: number; body: unknown } }> {
    const anchored = await send(hospital, 'POST', '/v1/records', OFFICER, { recordId, docHash: sha(`crash doc ${recordId}`), patientId: patient, category: 'loinc:18842-5' }, { prefer: 'wait=10' });
    expect(anchored.status, JSON.stringify(anchored.body)).to.equal(201);
    const ref = hospital.keys.patientRef(patient);
    crashAfterStoreWrite = true;
    const crashed = await send(hospital, 'POST', '/v1/erasures', DPO, { patientId: patient }).finally(() => (crashAfterStoreWrite = false));
    expect(crashed.status).to.equal(500);
    return { ref, crashed };
  }

  it('a crash between the key store write and the journal append loses no erasure: a repeated erasure answers 409 with its id and records it, once', async () => {
    const patient = 'MRN-2026-0077';
    const { ref, crashed } = await anchorThenCrashErasure(patient, 'adm-2026-077');
    expect(lostIds).to.have.length(1);
    const [lostId] = lostIds;
    expect(JSON.stringify(crashed.body)).to.not.include(lostId);
    expect(hospital.keys.patientStatus(patient)).to.equal('erased');
    expect(JSON.stringify(hospital.journal!.list())).to.not.include(lostId);
    expect((await send(hospital, 'GET', `/v1/erasures/${lostId}`, DPO)).status).to.equal(404);

    // The DPO retries: 409, naming the lost erasure; its missing ledger record is queued again.
    const retry = await send(hospital, 'POST', '/v1/erasures', DPO, { patientId: patient }, { prefer: 'wait=10' });
    expect(retry.status).to.equal(409);
    expect(retry.body.error.code).to.equal('PATIENT_KEY_ERASED');
    const { details } = retry.body.error;
    expect(details).to.have.all.keys('erasureId', 'ledgerRecorded', 'ledger');
    expect(details).to.include({ erasureId: lostId, ledgerRecorded: false });
    expect(details.ledger).to.include({ state: 'committed', created: true });
    expect(details.ledger.erasure).to.include({ erasureId: lostId, hospital: HOSPITAL });
    // Once more: the record exists now, so nothing is queued.
    const again = await send(hospital, 'POST', '/v1/erasures', DPO, { patientId: patient });
    expect(again.status).to.equal(409);
    expect(again.body.error.details).to.deep.equal({ erasureId: lostId, ledgerRecorded: true });
    expect((await send(hospital, 'GET', `/v1/erasures/${lostId}`, DPO)).body).to.include({ erasureId: lostId, hospital: HOSPITAL });

    const key = `\u0000medprov.erasure\u0000${lostId}\u0000`;
    expect(ledger.committed.filter((tx) => tx.writes.has(key))).to.have.length(1);
    // The 409 answers carry the random id, a flag and the ledger record: nothing of the patient.
    const needles = [...derivationsOf(patient), ref];
    for (const answer of [retry.body, again.body]) {
      const text = JSON.stringify(answer);
      expect(needles.filter((n) => text.includes(n))).to.deep.equal([]);
    }
  });

  it('re-registering after an unrecorded erasure first records it on the ledger (once, with its original id), then gives a fresh ref', async () => {
    const patient = 'MRN-2026-0088';
    const { ref } = await anchorThenCrashErasure(patient, 'adm-2026-088');
    const lostId = lostIds[lostIds.length - 1];
    const key = `\u0000medprov.erasure\u0000${lostId}\u0000`;
    expect(ledger.committed.filter((tx) => tx.writes.has(key))).to.have.length(0);

    // No one retries the erasure; the person returns as a new patient.
    const registration = await hospital.erasures.reRegister(patient, { user: 'records-officer-1' });
    expect(ledger.committed.filter((tx) => tx.writes.has(key))).to.have.length(1);
    expect((await send(hospital, 'GET', `/v1/erasures/${lostId}`, DPO)).body).to.include({ erasureId: lostId, hospital: HOSPITAL });
    expect(registration.created).to.equal(true);
    expect(registration.patientRef).to.match(/^[0-9a-f]{64}$/).and.not.equal(ref);
    expect(hospital.keys.patientRef(patient)).to.equal(registration.patientRef);
    // Registered already: nothing to confirm, nothing written.
    const writes = ledger.writeCount;
    expect(await hospital.erasures.reRegister(patient)).to.deep.equal({ patientRef: registration.patientRef, created: false });
    expect(ledger.writeCount).to.equal(writes);
  });

  it('when the ledger refuses to record that erasure, re-registration is refused 503 ERASURE_NOT_CONFIRMED and the tombstone stays', async () => {
    const patient = 'H2-MRN-8';
    expect((await send(hospital2, 'POST', '/v1/records', OFFICER, { recordId: 'h2-adm-8', docHash: sha('h2 doc 8'), patientId: patient, category: 'loinc:18842-5' })).status).to.equal(201);
    failRecording = true;
    try {
      const erased = await send(hospital2, 'POST', '/v1/erasures', DPO, { patientId: patient });
      expect(erased.body.ledger).to.include({ state: 'not-recorded' });
      const { erasureId: id } = erased.body.erasure;
      const writes = ledger.writeCount;
      const status = hospital2.keys.status();
      const refused = (await hospital2.erasures.reRegister(patient).catch((err: unknown) => err)) as ApiError;
      expect(refused).to.be.instanceOf(ApiError).and.include({ status: 503, code: 'ERASURE_NOT_CONFIRMED' });
      expect(refused.details).to.deep.include({ erasureId: id });
      expect(ledger.writeCount).to.equal(writes);
      expect(hospital2.keys.patientStatus(patient)).to.equal('erased');
      expect(hospital2.keys.status()).to.deep.equal(status);
      // The tombstone still names the erasure: a repeated erasure finds it.
      failRecording = false;
      const again = await send(hospital2, 'POST', '/v1/erasures', DPO, { patientId: patient });
      expect(again.status).to.equal(409);
      expect(again.body.error.details).to.include({ erasureId: id, ledgerRecorded: false });
    } finally {
      failRecording = false;
    }
  });
});
