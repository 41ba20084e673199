import { expect } from 'chai';
import { promises as fs, rmSync } from 'node:fs';
import * as path from 'node:path';
import {
  AcceptanceError,
  AcceptanceJournal,
  AcceptanceService,
  JOURNAL_FILE,
  Submitter,
} from '../../../gateway/src/acceptance';
import { ApiError } from '../../../gateway/src/errors';
import type { Committed, Ledger } from '../../../gateway/src/fabric/client';
import { DelegatingLedger } from '../../../gateway/src/fabric/delegating-ledger';
import { MasterKey, PatientKeyStore } from '../../../gateway/src/privacy';
import { RecordsService } from '../../../gateway/src/records/service';
import { HOSPITAL } from '../chaincode/fixtures';
import { ChaincodeLedger } from '../support/chaincode-ledger';
import { consortium, docHash, indexWrites, recordingSleep, tempDir } from './support';

const CATEGORY = 'loinc:18842-5';

/** Passes calls through and remembers what was submitted. */
class RecordingLedger extends DelegatingLedger {
  readonly submitted: { name: string; args: string[] }[] = [];
  constructor(override readonly inner: Ledger) {
    super(inner);
  }
  override submit(name: string, ...args: string[]): Promise<Committed> {
    this.submitted.push({ name, args });
    return this.inner.submit(name, ...args);
  }
}

async function expectCode(promise: Promise<unknown> | (() => unknown), code: string): Promise<ApiError> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (err) {
    expect(err).to.be.instanceOf(ApiError);
    expect((err as ApiError).code).to.equal(code);
    return err as ApiError;
  }
  throw new Error(`expected ${code}`);
}

describe('acceptance service: what the routes call (real chaincode, real patient key store)', function () {
  this.timeout(30_000);
  let dir: string;
  let keys: PatientKeyStore;
  let journal: AcceptanceJournal;
  let submitter: Submitter;
  let service: AcceptanceService;
  let accepted: RecordingLedger;

  beforeEach(async () => {
    dir = tempDir();
    keys = await PatientKeyStore.open({ stateDir: path.join(dir, 'keys'), masterKey: MasterKey.generate(), ifMissing: 'create' });
    journal = await AcceptanceJournal.open({ dir: path.join(dir, 'acceptance') });
    accepted = new RecordingLedger(new ChaincodeLedger(await consortium(), HOSPITAL));
    submitter = new Submitter({ journal, ledger: accepted, sleep: recordingSleep().sleep });
    submitter.start();
    service = new AcceptanceService(journal, submitter, keys);
  });
  afterEach(async () => {
    await submitter.stop();
    await journal.close();
    await keys.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('submits exactly the transactions RecordsService submits for the same requests', async () => {
    const direct = new RecordingLedger(new ChaincodeLedger(await consortium(), HOSPITAL));
    const records = new RecordsService(direct, keys);
    const one = { recordId: 'adm-1', docHash: docHash(1), patientId: 'MRN-0001', category: CATEGORY };
    const batch = [2, 3].map((i) => ({ recordId: `adm-${i}`, docHash: docHash(i), patientId: `MRN-000${i}`, category: CATEGORY }));
    const amendment = { docHash: docHash('1-v2'), category: 'loinc:11506-3' };

    await records.anchorRecord(one);
    await records.anchorBatch(batch);
    await records.amendRecord(HOSPITAL, 'adm-1', amendment);
    await records.retractRecord(HOSPITAL, 'adm-1', 'wrong-patient');

    for (const ack of [
      await service.anchorRecord(one),
      await service.anchorBatch(batch),
      await service.amendRecord(HOSPITAL, 'adm-1', amendment),
      await service.retractRecord(HOSPITAL, 'adm-1', 'wrong-patient'),
    ]) {
      expect(ack.replayed).to.equal(false);
      expect(ack.location).to.equal(`/v1/requests/${ack.id}`);
    }
    await submitter.idle();
    expect(accepted.submitted).to.deep.equal(direct.submitted);
  });

  it('the journal holds the commitment, never the patientId', async () => {
    await service.anchorRecord({ recordId: 'adm-9', docHash: docHash(9), patientId: '900101-1234567', category: CATEGORY });
    await submitter.idle();
    const text = await fs.readFile(path.join(dir, 'acceptance', JOURNAL_FILE), 'utf8');
    expect(text).to.include(docHash(9));
    expect(text).to.not.include('900101');
  });

  it('refuses a record id that looks like a personal identifier before anything is written', async () => {
    const records = journal.stats().records;
    await expectCode(service.anchorRecord({ recordId: 'kim@example.com', docHash: docHash(1), patientId: 'p', category: CATEGORY }), 'DIRECT_IDENTIFIER');
    expect(journal.stats().records).to.equal(records);
  });

  it('Idempotency-Key: same user, key and body → same request, applied once; another body → 409; another user → its own request', async () => {
    const body = { recordId: 'adm-1', docHash: docHash(1), patientId: 'MRN-0001', category: CATEGORY };
    const first = await service.anchorRecord(body, { user: 'officer', idempotencyKey: 'f3a1c2d4-0000-4000-8000-000000000001' });
    await submitter.idle();
    const again = await service.anchorRecord({ ...body }, { user: 'officer', idempotencyKey: 'f3a1c2d4-0000-4000-8000-000000000001' });
    expect(again).to.include({ id: first.id, replayed: true });
    expect(again.status.state).to.equal('committed');

    const err = await expectCode(service.anchorRecord({ ...body, patientId: 'MRN-0002' }, { user: 'officer', idempotencyKey: 'f3a1c2d4-0000-4000-8000-000000000001' }), 'IDEMPOTENCY_KEY_REUSED');
    expect(err).to.be.instanceOf(AcceptanceError);
    expect(err.status).to.equal(409);
    const amendErr = await expectCode(service.amendRecord(HOSPITAL, 'adm-1', { docHash: docHash(2) }, { user: 'officer', idempotencyKey: 'f3a1c2d4-0000-4000-8000-000000000001' }), 'IDEMPOTENCY_KEY_REUSED');
    expect(amendErr.status).to.equal(409);

    const other = await service.anchorRecord(body, { user: 'other-officer', idempotencyKey: 'f3a1c2d4-0000-4000-8000-000000000001' });
    expect(other.id).to.not.equal(first.id);
    await submitter.idle();
    expect(service.status(other.id, 'other-officer').state).to.equal('committed');
    expect(journal.stats().entries).to.equal(2);
    expect(accepted.submitted.filter((s) => s.name === 'Records:anchorRecord')).to.have.length(2); // the second answered created: false
    expect(indexWrites((accepted.inner as ChaincodeLedger).state, docHash(1))).to.equal(1);
  });

  it('Prefer: wait — waitFor returns the final status when the ledger is quick, the pending one when it is not, and a rejection maps to the synchronous HTTP error', async () => {
    const quick = await service.anchorRecord({ recordId: 'adm-7', docHash: docHash(7), patientId: 'MRN-7', category: CATEGORY }, { user: 'officer' });
    const done = await service.waitFor(quick.id, 5_000);
    expect(done?.state).to.equal('committed');

    // Another hospital's document: the chaincode refuses, and the route answers as RecordsService would (409).
    const ledger = (accepted.inner as ChaincodeLedger).state;
    await new ChaincodeLedger(ledger, 'Hospital2MSP').submit('Records:anchorRecord', JSON.stringify({ recordId: 'x-1', docHash: docHash(8), patientRef: docHash('p'), category: CATEGORY }));
    const refused = await service.anchorRecord({ recordId: 'adm-8', docHash: docHash(8), patientId: 'MRN-8', category: CATEGORY });
    const final = await service.waitFor(refused.id, 5_000);
    if (final?.state !== 'rejected') throw new Error(`expected rejected, got ${final?.state}`);
    const err = AcceptanceService.rejectionError(final);
    expect(err).to.include({ status: 409, code: 'DOC_HASH_CLAIMED' });
    expect(err.details).to.deep.equal({ acceptedRequestId: refused.id });

    // A ledger that does not answer: waitFor gives up after its timeout with the pending status.
    await submitter.stop();
    const slowJournal = await AcceptanceJournal.open({ dir: path.join(dir, 'slow') });
    const hanging: Ledger = { evaluate: () => new Promise(() => undefined), submit: () => new Promise(() => undefined) };
    const slow = new Submitter({ journal: slowJournal, ledger: hanging });
    slow.start();
    const slowService = new AcceptanceService(slowJournal, slow, keys);
    const pending = await slowService.anchorRecord({ recordId: 'adm-9', docHash: docHash(9), patientId: 'MRN-9', category: CATEGORY });
    const started = Date.now();
    expect((await slowService.waitFor(pending.id, 50))?.state).to.equal('submitting');
    expect(Date.now() - started).to.be.at.least(45);
    expect(await slowService.waitFor('unknown', 50)).to.equal(undefined);
    // stop() releases anyone still waiting (the gateway is shutting down); the in-flight call never returns here.
    const waiting = slowService.waitFor(pending.id, 60_000);
    void slow.stop();
    expect((await waiting)?.state).to.equal('submitting');
    await slowJournal.close();
  });

  it("a user sees the status of their own requests only (another's is not found); an admin may see all", async () => {
    const ack = await service.anchorRecord({ recordId: 'adm-5', docHash: docHash(5), patientId: 'MRN-5', category: CATEGORY }, { user: 'officer' });
    await submitter.idle();
    expect(service.status(ack.id, 'officer')).to.include({ id: ack.id, state: 'committed', kind: 'anchorRecord' });
    expect(service.status(ack.id, 'someone-else', true).state).to.equal('committed');
    const err = await expectCode(() => service.status(ack.id, 'someone-else'), 'REQUEST_NOT_FOUND');
    expect(err.status).to.equal(404);
    await expectCode(() => service.status('no-such-id', 'officer'), 'REQUEST_NOT_FOUND');
    expect(service.counts()).to.deep.include({ committed: 1 });
    expect(service.counts().journal).to.include({ entries: 1, committed: 1 });
  });
});
