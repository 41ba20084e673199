/**
 * Issues consent-bound provenance receipts (Node: asks the ledger and the anchor log). The format
 * and its offline verifier are in the browser-safe `access-receipt.ts`.
 *
 * The consented access and the signed grant come from the ledger (`Access:readConsentedAccess`,
 * which answers the recipient and the record's issuer only); the log receipt is the anchor log's
 * receipt of the access's leaf, whose docHash is the access's hash. Until a checkpoint covers the
 * leaf the anchor log refuses with RECEIPT_PENDING (or LEAF_NOT_FOUND while it catches up), and so
 * does this.
 *
 * @module
 */
import type { ConsentGrantMessage } from '../../../chaincode/src/lib/eip712';
import { ApiError } from '../errors';
import type { Ledger } from '../fabric/client';
import { toApiError } from '../records/service';
import { ACCESS_RECEIPT_KIND, ACCESS_RECEIPT_VERSION, consentedAccessHash, type AccessReceipt, type ConsentedAccess } from './access-receipt';
import type { Receipt } from './receipt';

/** What the ledger holds for a consented access: the access and the grant message the patient signed. */
export interface ConsentedAccessOnLedger {
  readonly access: ConsentedAccess;
  readonly grant: ConsentGrantMessage;
}

const decoder = new TextDecoder();

/** Receipts of consented accesses for one organisation's gateway. */
export class AccessReceiptIssuer {
  constructor(
    private readonly ledger: Pick<Ledger, 'evaluate'>,
    private readonly anchorLog: { receipt(docHash: string): Promise<Receipt> },
  ) {}

  /**
   * The consented access of transaction `txId` as the ledger holds it.
   *
   * @throws ApiError 404 ACCESS_RECEIPT_NOT_FOUND (no access permitted by consent in that
   *   transaction), 403 FORBIDDEN_OTHER_ORG (this org is neither its recipient nor the record's issuer)
   */
  async consentedAccess(txId: string): Promise<ConsentedAccessOnLedger> {
    let found: ConsentedAccessOnLedger | null;
    try {
      found = JSON.parse(decoder.decode(await this.ledger.evaluate('Access:readConsentedAccess', txId))) as ConsentedAccessOnLedger | null;
    } catch (err) {
      throw toApiError(err);
    }
    if (!found) {
      throw new ApiError(404, 'ACCESS_RECEIPT_NOT_FOUND', `Transaction ${txId} is no access that a patient's consent permitted, so there is no consent receipt for it (a denied or break-glass access gets none).`);
    }
    return found;
  }

  /**
   * The receipt of the consented access of transaction `txId`.
   *
   * @throws ApiError as {@link consentedAccess}; AnchoringError LEAF_NOT_FOUND, RECEIPT_PENDING,
   *   REGISTRY_UNAVAILABLE, CHECKPOINT_FORK from the anchor log
   */
  async issue(txId: string): Promise<AccessReceipt> {
    const { access, grant } = await this.consentedAccess(txId);
    const logReceipt = await this.anchorLog.receipt(consentedAccessHash(access));
    return { version: ACCESS_RECEIPT_VERSION, kind: ACCESS_RECEIPT_KIND, access, grant, logReceipt };
  }
}
