/**
 * Archives at a gateway: a hospital's records officer anchors a folder's Merkle root (built and
 * kept by `medprov archive create`, which calls this), anyone with a key reads what the ledger
 * holds for an archive (to check a receipt against it). Mounted by {@link createGatewayApp} with
 * its `route` wrapper (authentication, the role table, the org-type check, the JSON body). The
 * OpenAPI part is in `archive-openapi.ts`.
 *
 * @module
 */
import type { Express, Request, RequestHandler, Response } from 'express';
import type { ArchiveLedger, ArchiveRequest } from '../anchoring/archive-ledger';
import type { User } from './auth';
import type { Operation } from './roles';
import { validateBody } from './validation';

type Handler = (req: Request, res: Response, user: User) => Promise<void>;

/** What the routes need of the app: its route wrapper and the JSON check. */
export interface ArchiveRouteKit {
  route: (operation: Operation, handler: Handler) => RequestHandler[];
  requireJson: (req: Request) => unknown;
}

/** POST /v1/archives (records officer, hospitals), GET /v1/archives/{issuer}/{archiveId} (any role). */
export function mountArchiveRoutes(app: Express, archives: ArchiveLedger, kit: ArchiveRouteKit): void {
  const { route, requireJson } = kit;

  app.post('/v1/archives', ...route('anchorArchive', async (req, res) => {
    const anchored = await archives.anchor(validateBody<ArchiveRequest>('ArchiveRequest', requireJson(req)));
    res.status(anchored.created ? 201 : 200).location(`/v1/archives/${anchored.archive.issuer}/${encodeURIComponent(anchored.archive.archiveId)}`).json(anchored);
  }));

  app.get('/v1/archives/:issuer/:archiveId', ...route('readArchive', async (req, res) => {
    const { issuer, archiveId } = validateBody<{ issuer: string; archiveId: string }>('ArchivePath', { issuer: req.params.issuer, archiveId: req.params.archiveId });
    res.json(await archives.read(issuer, archiveId));
  }));
}
