/**
 * Break-glass at a hospital's gateway: a clinician opens a record without consent in an
 * emergency (POST /v1/break-glass), and the DPO or admin reads the organisation's audit report
 * (GET /v1/audit/break-glass). Mounted by {@link createGatewayApp} with its `route` wrapper
 * (authentication, the role table, the org-type check, the JSON body). The ledger side is
 * `records/break-glass.ts`, the OpenAPI part `break-glass-openapi.ts`.
 *
 * @module
 */
import type { Express, Request, RequestHandler, Response } from 'express';
import type { AuditSide } from '../../../chaincode/src/lib/break-glass';
import type { BreakGlassAccess, BreakGlassRequest } from '../records/break-glass';
import type { User } from './auth';
import type { Operation } from './roles';
import { validateBody } from './validation';

type Handler = (req: Request, res: Response, user: User) => Promise<void>;

/** What the routes need of the app: its route wrapper and the JSON check. */
export interface BreakGlassRouteKit {
  route: (operation: Operation, handler: Handler) => RequestHandler[];
  requireJson: (req: Request) => unknown;
}

/** POST /v1/break-glass (clinician), GET /v1/audit/break-glass (DPO, admin); hospitals only. */
export function mountBreakGlassRoutes(app: Express, breakGlass: BreakGlassAccess, kit: BreakGlassRouteKit): void {
  const { route, requireJson } = kit;

  app.post('/v1/break-glass', ...route('breakGlassAccess', async (req, res) => {
    const opened = await breakGlass.open(validateBody<BreakGlassRequest>('BreakGlassRequest', requireJson(req)));
    // The provenance of a record opened without consent: never kept by a cache on the way.
    res.setHeader('cache-control', 'no-store');
    res.status(201).json(opened);
  }));

  app.get('/v1/audit/break-glass', ...route('auditBreakGlass', async (req, res) => {
    // A plain copy: the query parser's object has no prototype.
    const query = validateBody<{ side?: AuditSide; from?: string; to?: string }>('BreakGlassAuditQuery', { ...(req.query as Record<string, unknown>) });
    res.setHeader('cache-control', 'no-store');
    res.json(await breakGlass.audit(query));
  }));
}
