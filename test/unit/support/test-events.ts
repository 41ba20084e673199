import { Context, Contract } from 'fabric-contract-api';
import { CONSENT_EVENT, type ConsentChange } from '../../../chaincode/src/lib/consent-model';
import type { FakeLedger } from '../chaincode/fake-ledger';
import { HOSPITAL, SPONSOR } from '../chaincode/fixtures';

/**
 * For unit tests only: a contract whose one transaction sets whatever chaincode event it is
 * given (or none), so that event readers can be tested on the in-memory ledger without signing
 * consents. Each call commits one transaction, i.e. one block of the ChaincodeLedger.
 */
class EventTestContract extends Contract {
  constructor() {
    super('EventTest');
  }

  async emit(ctx: Context, name: string, payload: string): Promise<string> {
    if (name !== '') ctx.stub.setEvent(name, Buffer.from(payload, 'utf8'));
    return ctx.stub.getTxID();
  }
}

const contract = new EventTestContract();

/** Commits a transaction with the event `name` (none when empty); resolves with its transaction id. */
export function commitEvent(ledger: FakeLedger, name: string, payload = '{}'): Promise<string> {
  return ledger.invoke('TestMSP', contract, 'emit', name, payload);
}

let grantCounter = 0;

/** A consent event as the consent contract announces it: by default a grant to the sponsor about a patient of the hospital. */
export function commitConsentChange(ledger: FakeLedger, change: Partial<ConsentChange> & Pick<ConsentChange, 'kind'>): Promise<string> {
  grantCounter += 1;
  const full: ConsentChange = {
    hospital: HOSPITAL,
    patientRef: 'a'.repeat(64),
    ...(change.kind === 'registered' ? {} : { grantId: `0x${grantCounter.toString(16).padStart(64, '0')}`, grantee: SPONSOR, purpose: 'research:trial-1', status: change.kind === 'revoked' ? 'revoked' : 'active' }),
    ...change,
  } as ConsentChange;
  return commitEvent(ledger, CONSENT_EVENT, JSON.stringify(full));
}
