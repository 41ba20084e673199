/**
 * The `Linkage` chaincode contract in the gateway's terms: a request, each hospital's
 * consent-checked contribution, the institution's record of what it linked. The ledger holds
 * counts and hashes only; no token and no patientRef is in a request's record.
 *
 * @module
 */
import type { Ledger } from '../fabric/client';
import type { LinkageRefusal, LinkageRequestInput, LinkageView } from '../../../chaincode/src/lib/linkage-model';
import { ApiError } from '../errors';
import { toApiError } from '../records/service';

export type { LinkageRequestInput, LinkageRefusal, LinkageView } from '../../../chaincode/src/lib/linkage-model';

/**
 * A request as the services use it: the ledger's request with its status, and per hospital
 * that contributed its counts (from {@link LinkageView}).
 */
export interface LinkageRequestState extends LinkageRequestInput {
  sponsor: string;
  purpose: string;
  status: LinkageView['status'];
  requestedAt: string;
  contributions: Record<string, { candidates: number; included: number }>;
  awaiting: string[];
  result?: LinkageView['result'];
}

/** What the institution records on the ledger once it has linked. */
export interface LinkageRecord {
  requestId: string;
  perHospital: Record<string, { count: number; tokenSetHash: string }>;
  linkedSubjects: number;
  releaseHash: string;
  status: 'released' | 'refused';
  refusal?: LinkageRefusal;
}

/** The chaincode's answer to a hospital's contribution (its own pseudonyms: for it alone). */
export interface ContributionOutcome {
  included: string[];
  excluded: { patientRef: string; reason: string }[];
}

/** The services' view of a ledger linkage. */
export function requestState(view: LinkageView): LinkageRequestState {
  const { txId: _txId, ...request } = view.request;
  return {
    ...request,
    status: view.status,
    contributions: Object.fromEntries(view.contributions.map((c) => [c.hospital, { candidates: c.candidates, included: c.included }])),
    awaiting: view.awaiting,
    ...(view.result ? { result: view.result } : {}),
  };
}

/** What the linkage services need of the ledger. */
export interface LinkageLedgerPort {
  requestLinkage(request: LinkageRequestInput): Promise<{ request: LinkageRequestState; transactionId: string }>;
  contribute(requestId: string, patientRefs: string[]): Promise<ContributionOutcome & { transactionId: string }>;
  recordLinkage(record: LinkageRecord): Promise<{ transactionId: string }>;
  readLinkage(requestId: string): Promise<LinkageRequestState | null>;
  listLinkages(projectId?: string): Promise<LinkageRequestState[]>;
}

/** {@link LinkageLedgerPort} on the org's Fabric identity; refusals keep the chaincode's code. */
export class LinkageLedger implements LinkageLedgerPort {
  constructor(private readonly ledger: Ledger) {}

  async requestLinkage(input: LinkageRequestInput): Promise<{ request: LinkageRequestState; transactionId: string }> {
    const committed = await this.call(() => this.ledger.submit('Linkage:requestLinkage', JSON.stringify(input)));
    const request = await this.readLinkage(input.requestId);
    if (!request) throw new ApiError(502, 'LINKAGE_NOT_FOUND', `The ledger committed linkage request ${input.requestId} but does not show it.`);
    return { request, transactionId: committed.transactionId };
  }

  async contribute(requestId: string, patientRefs: string[]): Promise<ContributionOutcome & { transactionId: string }> {
    const committed = await this.call(() => this.ledger.submit('Linkage:contribute', JSON.stringify({ requestId, patientRefs })));
    const { included, excluded } = parse<ContributionOutcome>(committed.result);
    return { included, excluded, transactionId: committed.transactionId };
  }

  async recordLinkage(record: LinkageRecord): Promise<{ transactionId: string }> {
    const committed = await this.call(() => this.ledger.submit('Linkage:recordLinkage', JSON.stringify(record)));
    return { transactionId: committed.transactionId };
  }

  async readLinkage(requestId: string): Promise<LinkageRequestState | null> {
    try {
      const out = parse<LinkageView | null>(await this.call(() => this.ledger.evaluate('Linkage:readLinkage', requestId)));
      return out ? requestState(out) : null;
    } catch (err) {
      if ((err as { code?: string }).code === 'LINKAGE_NOT_FOUND') return null;
      throw err;
    }
  }

  async listLinkages(projectId?: string): Promise<LinkageRequestState[]> {
    const out = parse<LinkageView[]>(await this.call(() => this.ledger.evaluate('Linkage:listLinkages', projectId ?? '')));
    return out.map(requestState);
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toApiError(err);
    }
  }
}

function parse<T>(bytes: Uint8Array): T {
  return JSON.parse(Buffer.from(bytes).toString('utf8')) as T;
}
