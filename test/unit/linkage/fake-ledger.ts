/**
 * An in-memory stand-in for the `Linkage` contract, seen as one organisation: what the linkage
 * services need of the ledger (requests, consent-checked contributions, the institution's
 * record), with the consent decision given by the test.
 */
import { ApiError } from '../../../gateway/src/errors';
import type { LinkageLedgerPort, LinkageRecord, LinkageRequestInput, LinkageRequestState } from '../../../gateway/src/linkage/ledger';

export class FakeLinkageLedger {
  readonly requests = new Map<string, LinkageRequestState>();
  readonly records: LinkageRecord[] = [];
  /** Every candidate the contributions named, as the access log would list them. */
  readonly accessLog: { hospital: string; patientRef: string; requestId: string; decision: 'PERMIT' | 'DENY' }[] = [];
  private tx = 0;

  /** `consents(hospital, patientRef, projectId)`: is the research consent in force? */
  constructor(private readonly consents: (hospital: string, patientRef: string, projectId: string) => boolean) {}

  as(mspId: string): LinkageLedgerPort {
    const txId = () => `tx${++this.tx}`;
    return {
      requestLinkage: async (input: LinkageRequestInput) => {
        if (this.requests.has(input.requestId)) throw new ApiError(409, 'LINKAGE_EXISTS', 'exists');
        const request: LinkageRequestState = { ...input, sponsor: mspId, purpose: `research:${input.projectId}`, status: 'open', requestedAt: new Date().toISOString(), contributions: {}, awaiting: [...input.hospitals] };
        this.requests.set(input.requestId, request);
        return { request: structuredClone(request), transactionId: txId() };
      },
      contribute: async (requestId: string, patientRefs: string[]) => {
        const r = this.requests.get(requestId);
        if (!r) throw new ApiError(404, 'LINKAGE_NOT_FOUND', 'none');
        if (!r.hospitals.includes(mspId)) throw new ApiError(403, 'LINKAGE_NOT_PARTY', 'not a party');
        if (r.contributions[mspId]) throw new ApiError(409, 'LINKAGE_ALREADY_CONTRIBUTED', 'again');
        const included = patientRefs.filter((p) => this.consents(mspId, p, r.projectId));
        const excluded = patientRefs.filter((p) => !included.includes(p)).map((patientRef) => ({ patientRef, reason: 'NO_CONSENT' }));
        for (const p of patientRefs) this.accessLog.push({ hospital: mspId, patientRef: p, requestId, decision: included.includes(p) ? 'PERMIT' : 'DENY' });
        r.contributions[mspId] = { candidates: patientRefs.length, included: included.length };
        r.awaiting = r.awaiting.filter((h) => h !== mspId);
        return { included, excluded, transactionId: txId() };
      },
      recordLinkage: async (record: LinkageRecord) => {
        const r = this.requests.get(record.requestId);
        if (!r) throw new ApiError(404, 'LINKAGE_NOT_FOUND', 'none');
        if (r.institution !== mspId) throw new ApiError(403, 'LINKAGE_NOT_PARTY', 'not the institution');
        if (r.awaiting.length > 0) throw new ApiError(409, 'LINKAGE_INCOMPLETE', 'incomplete');
        if (r.status !== 'open') throw new ApiError(409, 'LINKAGE_CLOSED', 'closed');
        r.status = record.status;
        r.result = { ...record, institution: mspId, recordedAt: new Date().toISOString(), txId: txId() };
        this.records.push(record);
        return { transactionId: r.result.txId };
      },
      readLinkage: async (requestId: string) => {
        const r = this.requests.get(requestId);
        return r ? structuredClone(r) : null;
      },
      listLinkages: async (projectId?: string) => [...this.requests.values()].filter((r) => !projectId || r.projectId === projectId).map((r) => structuredClone(r)),
    };
  }
}
