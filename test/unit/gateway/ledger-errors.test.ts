import { expect } from 'chai';
import { LedgerError, refusedOnlyByLaggingPeers, toLedgerError } from '../../../gateway/src/fabric/errors';

describe('gateway: Fabric errors', () => {
  it("keeps the chaincode's own code when a peer's details carry it", () => {
    const err = toLedgerError({
      message: '10 ABORTED: failed to endorse transaction, see attached details for more info',
      code: 10,
      details: [{ message: 'chaincode response 500, FORBIDDEN_ORG_TYPE: InsurerMSP is a insurer; Records:anchorRecord is open to hospital organisations only.' }],
      transactionId: 'abc',
    });
    expect(err).to.be.instanceOf(LedgerError);
    expect(err.code).to.equal('FORBIDDEN_ORG_TYPE');
    expect(err.message).to.match(/^InsurerMSP is a insurer/);
    expect(err.transactionId).to.equal('abc');
    expect(err.transient).to.equal(false);
  });

  it('marks an unreachable network and read conflicts as transient', () => {
    expect(toLedgerError({ message: '14 UNAVAILABLE: No connection established', code: 14 })).to.include({ code: 'LEDGER_UNAVAILABLE', transient: true });
    expect(toLedgerError({ message: 'transaction tx1 committed invalid: MVCC_READ_CONFLICT' })).to.include({ code: 'MVCC_CONFLICT', transient: true });
    expect(toLedgerError({ message: '4 DEADLINE_EXCEEDED', code: 4 })).to.include({ code: 'LEDGER_TIMEOUT', transient: true });
  });

  it('never says "not recorded" of an ordered transaction whose commit was not confirmed: the outcome is unknown (LEDGER_TIMEOUT, transient)', () => {
    const lost = toLedgerError(Object.assign(new Error('14 UNAVAILABLE: Connection dropped'), { name: 'CommitStatusError', code: 14, transactionId: 'tx9' }));
    expect(lost).to.include({ code: 'LEDGER_TIMEOUT', transient: true, transactionId: 'tx9' });
    expect(lost.message).to.include('not known yet').and.not.include('not recorded');
  });

  it('marks a call cut under the client (gRPC CANCELLED: its peer died) as transient; "not known yet" once the orderer had it', () => {
    const endorsing = toLedgerError(Object.assign(new Error('1 CANCELLED: Call cancelled'), { name: 'EndorseError', code: 1, transactionId: 'tx1' }));
    expect(endorsing).to.include({ code: 'LEDGER_UNAVAILABLE', transient: true, transactionId: 'tx1' });
    const ordering = toLedgerError(Object.assign(new Error('1 CANCELLED: Call cancelled'), { name: 'SubmitError', code: 1, transactionId: 'tx2' }));
    expect(ordering).to.include({ code: 'LEDGER_TIMEOUT', transient: true });
    expect(ordering.message).to.include('not known yet').and.not.include('not recorded');
  });

  it('marks a peer that does not see enough peers to meet the endorsement policy yet (just restarted) as transient, not recorded', () => {
    const err = toLedgerError({ message: '9 FAILED_PRECONDITION: no combination of peers can be derived which satisfy the endorsement policy: no peer combination can satisfy the endorsement policy', code: 9 });
    expect(err).to.include({ code: 'LEDGER_UNAVAILABLE', transient: true });
    expect(err.message).to.include('not recorded');
  });

  it("tells a refusal of other orgs' peers a block behind (a missing record or patient, only from them) from a refusal to believe", () => {
    const endorse = (details: { mspId: string; message: string }[]) =>
      Object.assign(new Error('10 ABORTED: failed to endorse transaction, see attached details for more info'), { name: 'EndorseError', code: 10, details: details.map((d) => ({ address: 'peer:7051', ...d })) });
    const missing = 'chaincode response 500, RECORD_NOT_FOUND: record r-1 of HospitalMSP is not anchored.';
    expect(refusedOnlyByLaggingPeers(endorse([{ mspId: 'InsurerMSP', message: missing }]), 'HospitalMSP')).to.equal(true);
    expect(refusedOnlyByLaggingPeers(endorse([{ mspId: 'InsurerMSP', message: missing }, { mspId: 'SponsorMSP', message: missing.replace('RECORD', 'PATIENT').replace('NOT_FOUND', 'NOT_REGISTERED') }]), 'HospitalMSP')).to.equal(true);
    // The own peer refused too: believed.
    expect(refusedOnlyByLaggingPeers(endorse([{ mspId: 'HospitalMSP', message: missing }]), 'HospitalMSP')).to.equal(false);
    expect(refusedOnlyByLaggingPeers(endorse([{ mspId: 'InsurerMSP', message: missing }, { mspId: 'HospitalMSP', message: missing }]), 'HospitalMSP')).to.equal(false);
    // A refusal no later block changes: believed.
    expect(refusedOnlyByLaggingPeers(endorse([{ mspId: 'InsurerMSP', message: 'chaincode response 500, FORBIDDEN_NOT_ISSUER: not yours.' }]), 'HospitalMSP')).to.equal(false);
    expect(refusedOnlyByLaggingPeers(new Error('RECORD_NOT_FOUND: no such record'), 'HospitalMSP')).to.equal(false);
  });

  it("marks a chaincode the peer cannot reach, or gave up on, as transient (a batch is retried whole, not record by record)", () => {
    const down = toLedgerError({
      message: '10 ABORTED: failed to endorse transaction, see attached details for more info',
      code: 10,
      details: [{ message: 'error in simulation: failed to execute transaction 1f2e: could not launch chaincode medprov_1:abc: connection to 127.0.0.1:7900 refused' }],
    });
    expect(down).to.include({ code: 'LEDGER_UNAVAILABLE', transient: true });
    expect(down.message).to.include('could not launch chaincode');
    const slow = toLedgerError({ message: '10 ABORTED: failed to endorse transaction', code: 10, details: [{ message: 'error in simulation: failed to execute transaction 9a: error sending: timeout expired while executing transaction' }] });
    expect(slow).to.include({ code: 'LEDGER_TIMEOUT', transient: true });
  });

  it('names an endorsement policy failure, which a retry cannot fix', () => {
    expect(toLedgerError(new Error('transaction x committed invalid: ENDORSEMENT_POLICY_FAILURE'))).to.include({
      code: 'ENDORSEMENT_POLICY_FAILURE',
      transient: false,
    });
  });
});
