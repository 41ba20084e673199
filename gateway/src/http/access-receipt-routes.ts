/**
 * Consent-bound provenance receipts at a gateway: GET /v1/access-receipts/{txId} gives the receipt
 * of an access that a patient's consent permitted (anchoring/access-receipt.ts), to the recipient's
 * and the record issuer's users. Mounted by {@link createGatewayApp} with its `route` wrapper; the
 * OpenAPI part is in `access-receipt-openapi.ts`.
 *
 * @module
 */
import type { Express, Request, RequestHandler, Response } from 'express';
import type { AccessReceiptIssuer } from '../anchoring/access-receipt-issuer';
import { ApiError } from '../errors';
import type { User } from './auth';
import { ACCESS_PURPOSES, type Operation } from './roles';
import { validateBody } from './validation';

type Handler = (req: Request, res: Response, user: User) => Promise<void>;

/** What the route needs of the app: its route wrapper and its translation of the anchor log's refusals. */
export interface AccessReceiptRouteKit {
  route: (operation: Operation, handler: Handler) => RequestHandler[];
  receiptError: (err: unknown) => unknown;
}

/** The path of the receipt of the access of transaction `txId` (linked from POST /v1/access). */
export function accessReceiptPath(txId: string): string {
  return `/v1/access-receipts/${txId}`;
}

/** GET /v1/access-receipts/{txId}; `issuer` undefined says why this gateway has none (anchoring off). */
export function mountAccessReceiptRoutes(app: Express, issuer: AccessReceiptIssuer | { off: string }, kit: AccessReceiptRouteKit): void {
  const { route, receiptError } = kit;
  app.get('/v1/access-receipts/:txId', ...route('getAccessReceipt', async (req, res, user) => {
    const { txId } = validateBody<{ txId: string }>('TxIdPath', { txId: req.params.txId });
    if ('off' in issuer) throw new ApiError(503, 'ANCHORING_OFF', `This gateway issues no receipts: ${issuer.off}`);
    const { access } = await issuer.consentedAccess(txId);
    // Claims and research officers: receipts of their own purpose only, as for the access itself.
    const purposes = ACCESS_PURPOSES[user.role];
    if (purposes && !purposes.test(access.purpose)) {
      throw new ApiError(403, 'FORBIDDEN_PURPOSE', `Your role (${user.role}) may not read receipts of accesses for the purpose ${access.purpose}.`);
    }
    try {
      res.json(await issuer.issue(txId));
    } catch (err) {
      throw receiptError(err);
    }
  }));
}
