/**
 * The research office's release routes at a hospital's gateway: a release for a sponsor, and
 * its preview. Mounted by {@link createGatewayApp} with its `route` wrapper (authentication,
 * the role table, the org-type check, the JSON body). The checks themselves are in
 * gateway/src/research/release.ts; a release records its disclosure on the ledger (record ids
 * only, through the acceptance journal when the gateway has one). Nothing here writes or logs
 * attribute values.
 *
 * @module
 */
import type { Express, Request, RequestHandler, Response } from 'express';
import type { ReleaseRequest, ResearchReleases } from '../research/release';
import type { User } from './auth';
import type { Operation } from './roles';
import { validateBody } from './validation';

type Handler = (req: Request, res: Response, user: User) => Promise<void>;

/** What the routes need of the app: its route wrapper and the JSON check. */
export interface ResearchRouteKit {
  route: (operation: Operation, handler: Handler) => RequestHandler[];
  requireJson: (req: Request) => unknown;
}

/** POST /v1/research/releases (research officer) and /v1/research/releases/preview (research officer, DPO). */
export function mountResearchRoutes(app: Express, releases: ResearchReleases, kit: ResearchRouteKit): void {
  const { route, requireJson } = kit;

  app.post('/v1/research/releases/preview', ...route('previewResearchRelease', async (req, res) => {
    res.json(await releases.preview(validateBody<ReleaseRequest>('ReleaseRequest', requireJson(req))));
  }));

  app.post('/v1/research/releases', ...route('prepareResearchRelease', async (req, res, user) => {
    // 200, not 201: the gateway keeps nothing but the ledger's disclosure record; the body is the payload for the sponsor.
    res.setHeader('cache-control', 'no-store');
    res.json(await releases.release(validateBody<ReleaseRequest>('ReleaseRequest', requireJson(req)), { user: user.id }));
  }));
}
