import { expect } from 'chai';
import { ConsentService } from '../../../gateway/src/consent/service';
import type { Committed, Ledger } from '../../../gateway/src/fabric/client';
import { LedgerError, toLedgerError } from '../../../gateway/src/fabric/errors';

/**
 * What the real network showed (test/integration/network/consent-flows.test.ts): accesses racing
 * grants of the same patient are turned down by the peers — committed invalid (MVCC / phantom
 * read), or endorsements that differ because one peer is a block behind. The consent service
 * sends such a transaction again; a failure whose outcome is unknown it never sends twice.
 */
const ACCESS = JSON.stringify({ decision: 'PERMIT', grantId: '0x01', accessLog: { txId: 'tx' } });

/** A ledger whose submits fail with `failures` (in order), then commit. */
function ledgerFailing(failures: LedgerError[]): Ledger & { submits: number } {
  return {
    submits: 0,
    async evaluate() {
      return new Uint8Array();
    },
    async submit(): Promise<Committed> {
      this.submits += 1;
      const failure = failures.shift();
      if (failure) throw failure;
      return { result: new TextEncoder().encode(ACCESS), transactionId: 'tx', blockNumber: 7n };
    },
  };
}

const service = (ledger: Ledger, attempts = 8) =>
  new ConsentService(ledger, { org: { mspId: 'InsurerMSP', type: 'insurer' }, channel: 'medprov', conflictRetry: { attempts, sleep: async () => undefined } });

describe('gateway: consent writes and ledger conflicts', () => {
  it('names endorsements that differ between peers ENDORSEMENT_MISMATCH, transient', () => {
    const err = toLedgerError({
      message: '10 ABORTED: failed to collect enough transaction endorsements, see attached details for more info',
      code: 10,
      details: [{ message: 'ProposalResponsePayloads do not match' }],
    });
    expect(err).to.include({ code: 'ENDORSEMENT_MISMATCH', transient: true });
  });

  it('sends an access again after MVCC_CONFLICT and ENDORSEMENT_MISMATCH, answers the commit, and counts the retries', async () => {
    const ledger = ledgerFailing([new LedgerError('MVCC_CONFLICT', 'x'), new LedgerError('ENDORSEMENT_MISMATCH', 'y'), new LedgerError('MVCC_CONFLICT', 'z')]);
    const consent = service(ledger);
    const result = await consent.accessRecord('HospitalMSP', 'adm-1', 'claims');
    expect(result).to.include({ decision: 'PERMIT', blockNumber: '7' });
    expect(ledger.submits).to.equal(4);
    expect(consent.ledgerConflicts()).to.have.deep.members([
      { transaction: 'Access:accessRecord', code: 'MVCC_CONFLICT', outcome: 'retried', count: 2 },
      { transaction: 'Access:accessRecord', code: 'ENDORSEMENT_MISMATCH', outcome: 'retried', count: 1 },
    ]);
  });

  it('gives up after the last attempt with 503 and the code', async () => {
    const ledger = ledgerFailing([1, 2, 3].map(() => new LedgerError('MVCC_CONFLICT', 'Another transaction changed the same data at the same time; retry.')));
    const consent = service(ledger, 3);
    const err = await consent.accessRecord('HospitalMSP', 'adm-1', 'claims').then(
      () => undefined,
      (e: unknown) => e as { status: number; code: string },
    );
    expect(err).to.include({ status: 503, code: 'MVCC_CONFLICT' });
    expect(ledger.submits).to.equal(3);
    expect(consent.ledgerConflicts()).to.have.deep.members([
      { transaction: 'Access:accessRecord', code: 'MVCC_CONFLICT', outcome: 'retried', count: 2 },
      { transaction: 'Access:accessRecord', code: 'MVCC_CONFLICT', outcome: 'gave_up', count: 1 },
    ]);
  });

  it('never sends again when the outcome is unknown (a timeout could have committed: the access would be logged twice)', async () => {
    for (const code of ['LEDGER_TIMEOUT', 'LEDGER_UNAVAILABLE', 'LEDGER_ERROR']) {
      const ledger = ledgerFailing([new LedgerError(code, 'not known')]);
      const err = await service(ledger).accessRecord('HospitalMSP', 'adm-1', 'claims').then(
        () => undefined,
        (e: unknown) => e as { code: string },
      );
      expect(err?.code).to.equal(code);
      expect(ledger.submits, code).to.equal(1);
    }
  });
});
