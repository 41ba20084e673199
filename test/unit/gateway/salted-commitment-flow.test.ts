import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { IdentityContract } from '../../../chaincode/src';
import { documentCommitment, documentSalt } from '../../../gateway/src/documents/commitment';
import { SALT_NOTE } from '../../../gateway/src/records/service';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL, HOSPITAL2, INSURER } from '../chaincode/fixtures';
import { sendTo, uploadForm } from '../support/http';
import { ROLE_KEYS, startOrgGateway, type OrgGateway } from '../support/org-gateways';

/**
 * Issue 8, salted record commitments, through real gateways and the real chaincode on the
 * in-memory stub: a short structured document is anchored as a commitment that only its salt
 * (or the issuing hospital's key) opens, so the ledger alone confirms no guess.
 */
const OFFICER = ROLE_KEYS['records-officer'];
const CLAIMS = ROLE_KEYS['claims-officer'];
const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** A lab result as a hospital system might export it: a few thousand plausible variants at most. */
const labResult = (test: string, value: string): Buffer => Buffer.from(JSON.stringify({ resourceType: 'Observation', code: test, unit: '%', value }));
const TESTS = ['HbA1c', 'Hct', 'NEUT', 'LYMPH', 'MONO', 'EOS', 'BASO', 'RDW', 'MCHC', 'SAT'];
/** 10 tests × 1,000 values (0.0 … 99.9): the dictionary an attacker would try. */
const CANDIDATES = TESTS.flatMap((t) => Array.from({ length: 1000 }, (_, i) => labResult(t, (i / 10).toFixed(1))));

const send = sendTo;

const upload = uploadForm;

describe('salted record commitments: anchor, verify, amend, retract, retries (unit level, real chaincode)', function () {
  this.timeout(30_000);
  const ledger = new FakeLedger();
  let dir: string;
  let hospital: OrgGateway;
  let hospital2: OrgGateway;
  let insurer: OrgGateway;

  const v1 = labResult('HbA1c', '5.4');
  const v2 = labResult('HbA1c', '5.5');
  const byHash = labResult('Hct', '41.0');
  const large = Buffer.alloc(2048, 'x');
  let salt1: string;
  let salt2: string;

  /** Everything the ledger holds or has announced: state keys and values, event payloads, transaction arguments. */
  const ledgerText = (): string =>
    [
      ...[...ledger.state.entries()].map(([k, v]) => `${k}\n${Buffer.from(v).toString('utf8')}`),
      ...ledger.committed.map((tx) => (tx.event ? Buffer.from(tx.event.payload).toString('utf8') : '')),
    ].join('\n');

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'medprov-salted-'));
    await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
    hospital = await startOrgGateway({ ledger, mspId: HOSPITAL, type: 'hospital', dir, limits: { saltedUploadMaxBytes: 1024 } });
    hospital2 = await startOrgGateway({ ledger, mspId: HOSPITAL2, type: 'hospital', dir, acceptance: true });
    insurer = await startOrgGateway({ ledger, mspId: INSURER, type: 'insurer', dir });
  });
  after(async () => {
    await Promise.all([hospital.stop(), hospital2.stop(), insurer.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a small upload is salted by default: the ledger holds the commitment, never the document hash', async () => {
    const res = await send(hospital, 'POST', '/v1/records', OFFICER, upload(v1, { recordId: 'lab-1', patientId: 'MRN-1', category: 'loinc:4548-4' }));
    expect(res.status).to.equal(201);
    expect(res.body.commitment).to.equal('salted');
    salt1 = res.body.salt;
    expect(salt1).to.match(/^[0-9a-f]{64}$/);
    expect(res.body.anchor.docHash).to.equal(documentCommitment(salt1, sha(v1)));
    expect(ledgerText()).to.not.include(sha(v1));
  });

  it('a hash is plain unless the request asks; asked, it is salted; a large upload is plain by default', async () => {
    const plain = await send(hospital, 'POST', '/v1/records', OFFICER, { recordId: 'lab-plain', docHash: sha('plain doc'), patientId: 'MRN-1', category: 'loinc:4548-4' });
    expect(plain.body).to.include({ commitment: 'plain' });
    expect(plain.body).to.not.have.property('salt');
    expect(plain.body.anchor.docHash).to.equal(sha('plain doc'));

    const salted = await send(hospital, 'POST', '/v1/records', OFFICER, { recordId: 'lab-hash', docHash: sha(byHash), patientId: 'MRN-2', category: 'loinc:4544-3', commitment: 'salted' });
    expect(salted.status).to.equal(201);
    expect(salted.body.commitment).to.equal('salted');
    expect(salted.body.anchor.docHash).to.equal(documentCommitment(salted.body.salt, sha(byHash)));

    const big = await send(hospital, 'POST', '/v1/records', OFFICER, upload(large, { recordId: 'scan-1', patientId: 'MRN-2', category: 'loinc:18748-4' }));
    expect(big.body).to.include({ commitment: 'plain' });
    expect(big.body.anchor.docHash).to.equal(sha(large));
    const forced = await send(hospital, 'POST', '/v1/records', OFFICER, upload(labResult('Hct', '40.0'), { recordId: 'lab-forced-plain', patientId: 'MRN-2', category: 'loinc:4544-3', commitment: 'plain' }));
    expect(forced.body.anchor.docHash).to.equal(sha(labResult('Hct', '40.0')));
    expect(ledgerText()).to.not.include(sha(byHash));
  });

  it('verification: the hospital finds its own salted record without the salt; the insurer needs it', async () => {
    const atHospital = await send(hospital, 'POST', '/v1/verifications', OFFICER, { docHash: sha(v1) });
    expect(atHospital.body).to.include({ verdict: 'ORIGINAL', docHash: sha(v1), commitment: 'salted', anchoredHash: documentCommitment(salt1, sha(v1)), issuer: HOSPITAL, version: 1 });

    const noSalt = await send(insurer, 'POST', '/v1/verifications', CLAIMS, { docHash: sha(v1) });
    expect(noSalt.body).to.deep.equal({ verdict: 'UNKNOWN', docHash: sha(v1), note: SALT_NOTE });

    const withSalt = await send(insurer, 'POST', '/v1/verifications', CLAIMS, { docHash: sha(v1), salt: salt1 });
    expect(withSalt.body).to.include({ verdict: 'ORIGINAL', commitment: 'salted', issuer: HOSPITAL, recordId: 'lab-1' });
    const uploaded = await send(insurer, 'POST', '/v1/verifications', CLAIMS, upload(v1, { salt: salt1 }));
    expect(uploaded.body).to.include({ verdict: 'ORIGINAL', docHash: sha(v1), commitment: 'salted' });

    const wrongSalt = documentSalt(new Uint8Array(32).fill(7), sha(v1));
    expect((await send(insurer, 'POST', '/v1/verifications', CLAIMS, { docHash: sha(v1), salt: wrongSalt })).body).to.deep.equal({ verdict: 'UNKNOWN', docHash: sha(v1) });
    // Another hospital's own salt is not this record's: it cannot find it either.
    expect((await send(hospital2, 'POST', '/v1/verifications', OFFICER, { docHash: sha(v1) })).body.verdict).to.equal('UNKNOWN');
    // Plain records verify as before, and say so.
    expect((await send(insurer, 'POST', '/v1/verifications', CLAIMS, { docHash: sha(large) })).body).to.include({ verdict: 'ORIGINAL', commitment: 'plain' });
  });

  it('refuses unknown or malformed fields in both request forms', async () => {
    const unknown = await send(insurer, 'POST', '/v1/verifications', CLAIMS, { docHash: sha(v1), salted: true });
    expect(unknown.status).to.equal(400);
    expect(unknown.body.error.code).to.equal('UNKNOWN_FIELD');
    const badSalt = await send(insurer, 'POST', '/v1/verifications', CLAIMS, upload(v1, { salt: 'abc' }));
    expect(badSalt.status).to.equal(400);
    const extraField = await send(insurer, 'POST', '/v1/verifications', CLAIMS, upload(v1, { note: 'x' }));
    expect(extraField.body.error.code).to.equal('UNKNOWN_FIELD');
    const badKind = await send(hospital, 'POST', '/v1/records', OFFICER, { recordId: 'x-1', docHash: sha('x'), patientId: 'MRN-1', category: 'loinc:1-1', commitment: 'peppered' });
    expect(badKind.status).to.equal(400);
  });

  it('amend and retract a salted record: SUPERSEDED, ORIGINAL and RETRACTED with the salts; no plain hash on the ledger', async () => {
    const amended = await send(hospital, 'POST', `/v1/records/${HOSPITAL}/lab-1/versions`, OFFICER, { docHash: sha(v2), commitment: 'salted' });
    expect(amended.status).to.equal(201);
    expect(amended.body.commitment).to.equal('salted');
    salt2 = amended.body.salt;
    expect(amended.body.anchor).to.include({ version: 2, docHash: documentCommitment(salt2, sha(v2)) });
    expect((await send(insurer, 'POST', '/v1/verifications', CLAIMS, { docHash: sha(v1), salt: salt1 })).body).to.include({ verdict: 'SUPERSEDED', commitment: 'salted' });
    expect((await send(insurer, 'POST', '/v1/verifications', CLAIMS, { docHash: sha(v2), salt: salt2 })).body).to.include({ verdict: 'ORIGINAL', version: 2 });
    expect((await send(hospital, 'POST', '/v1/verifications', OFFICER, { docHash: sha(v1) })).body).to.include({ verdict: 'SUPERSEDED', commitment: 'salted' });

    const retracted = await send(hospital, 'PUT', `/v1/records/${HOSPITAL}/lab-1/retraction`, OFFICER, { reason: 'entered-in-error' });
    expect(retracted.status).to.equal(200);
    expect((await send(insurer, 'POST', '/v1/verifications', CLAIMS, { docHash: sha(v2), salt: salt2 })).body).to.include({ verdict: 'RETRACTED' });
    expect((await send(hospital, 'POST', '/v1/verifications', OFFICER, { docHash: sha(v2) })).body).to.include({ verdict: 'RETRACTED', commitment: 'salted' });
    const text = ledgerText();
    expect(text).to.not.include(sha(v1));
    expect(text).to.not.include(sha(v2));
  });

  it('a batch salts the records that ask, and answers their salts by record id', async () => {
    const a = labResult('MONO', '7.1');
    const b = labResult('EOS', '2.2');
    const res = await send(hospital, 'POST', '/v1/records/batch', OFFICER, {
      records: [
        { recordId: 'batch-a', docHash: sha(a), patientId: 'MRN-3', category: 'loinc:5905-5', commitment: 'salted' },
        { recordId: 'batch-b', docHash: sha(b), patientId: 'MRN-3', category: 'loinc:713-8' },
      ],
    });
    expect(res.status).to.equal(201);
    expect(Object.keys(res.body.salts)).to.deep.equal(['batch-a']);
    expect(res.body.anchors.map((x: { docHash: string }) => x.docHash)).to.deep.equal([documentCommitment(res.body.salts['batch-a'], sha(a)), sha(b)]);
    expect(ledgerText()).to.not.include(sha(a));
  });

  it('retries through the acceptance journal give one anchor, the same salt, and a journal without the document hash', async () => {
    const doc = labResult('NEUT', '61.3');
    const form = () => upload(doc, { recordId: 'lab-j', patientId: 'MRN-9', category: 'loinc:770-8' });
    const headers = { 'idempotency-key': 'retry-lab-j-0001', prefer: 'wait=10' };
    const first = await send(hospital2, 'POST', '/v1/records', OFFICER, form(), headers);
    const again = await send(hospital2, 'POST', '/v1/records', OFFICER, form(), headers);
    // A client that lost the answer and retries without the key: the chaincode's idempotency, on the same commitment.
    const unkeyed = await send(hospital2, 'POST', '/v1/records', OFFICER, form(), { prefer: 'wait=10' });
    expect(first.status).to.equal(201);
    expect(first.body.commitment).to.equal('salted');
    expect(again.body.salt).to.equal(first.body.salt);
    expect(unkeyed.status).to.equal(200);
    expect(unkeyed.body.salt).to.equal(first.body.salt);
    expect(unkeyed.body.anchor.docHash).to.equal(first.body.anchor.docHash);
    expect((await send(hospital2, 'GET', `/v1/records/${HOSPITAL2}/lab-j/history`, OFFICER)).body.versions).to.have.length(1);
    expect((await send(insurer, 'POST', '/v1/verifications', CLAIMS, { docHash: sha(doc), salt: first.body.salt })).body).to.include({ verdict: 'ORIGINAL', version: 1 });
    const journalDir = path.join(dir, HOSPITAL2, 'acceptance');
    const journal = readdirSync(journalDir).map((f) => readFileSync(path.join(journalDir, f), 'utf8')).join('\n');
    expect(journal).to.include(first.body.anchor.docHash);
    expect(journal).to.not.include(sha(doc));
    expect(journal).to.not.include(first.body.salt);
  });

  it('a dictionary of 10,000 candidate lab results confirms no salted record without K_org (only the ones anchored plain)', () => {
    const onLedger = new Set(ledgerText().match(/[0-9a-f]{64}/g) ?? []);
    expect(CANDIDATES.some((c) => c.equals(v1))).to.equal(true); // the anchored result is among the guesses
    const attackerKeys = [new Uint8Array(32), new Uint8Array(32).fill(0xff)];
    const confirmed: string[] = [];
    for (const candidate of CANDIDATES) {
      const h = sha(candidate);
      // The bare hash, a hash of the hash, the commitment with the hash as its own salt, or under keys an attacker might try.
      const derived = [h, sha(Buffer.from(h, 'hex')), documentCommitment(h, h), ...attackerKeys.map((k) => documentCommitment(documentSalt(k, h), h))];
      if (derived.some((d) => onLedger.has(d))) confirmed.push(candidate.toString('utf8'));
    }
    // Exactly the two results this test anchored plain on purpose: the attack works, and salting stops it.
    expect(confirmed).to.deep.equal([labResult('Hct', '40.0').toString('utf8'), labResult('EOS', '2.2').toString('utf8')]);
    // With the salt (what the receipt holder has), exactly that one record is confirmed.
    expect(CANDIDATES.filter((c) => onLedger.has(documentCommitment(salt1, sha(c))))).to.have.length(1);
  });
});
