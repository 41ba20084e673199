/**
 * The research linkage routes of one party's gateway: a hospital contributes its cohort, the
 * linkage institution evaluates, collects and releases, the sponsor requests and fetches its
 * release; every party reads requests from the ledger. Mounted by {@link createGatewayApp} with
 * its `route` wrapper (authentication, the role table, the JSON body); the work is in
 * gateway/src/linkage. Nothing here logs a cohort, an identifier or a token.
 *
 * @module
 */
import type { Express, Request, RequestHandler, Response } from 'express';
import { ApiError } from '../errors';
import type { HospitalLinkageService, CohortEntry } from '../linkage/hospital';
import type { ContributionEntry, LinkageInstitutionService, Partner } from '../linkage/institution';
import type { LinkageLedgerPort, LinkageRequestInput } from '../linkage/ledger';
import type { SponsorLinkageService } from '../linkage/sponsor';
import type { User } from './auth';
import type { Operation } from './roles';
import { validateBody } from './validation';

type Handler = (req: Request, res: Response, user: User) => Promise<void>;

/** What the routes need of the app: its route wrapper and the JSON check. */
export interface LinkageRouteKit {
  route: (operation: Operation, handler: Handler) => RequestHandler[];
  requireJson: (req: Request) => unknown;
}

/** This gateway's part in research linkage. */
export type LinkageParty =
  | { type: 'hospital'; ledger: LinkageLedgerPort; service: HospitalLinkageService }
  | { type: 'sponsor'; ledger: LinkageLedgerPort; service: SponsorLinkageService }
  | {
      type: 'linkage';
      ledger: LinkageLedgerPort;
      service: LinkageInstitutionService;
      /** The institution's partner users (role linkage-partner): which organisation each is. */
      partners: readonly { userId: string; mspId: string; type: 'hospital' | 'sponsor' }[];
    };

export function mountLinkageRoutes(app: Express, party: LinkageParty, kit: LinkageRouteKit): void {
  const { route, requireJson } = kit;
  const requestIdOf = (req: Request) => validateBody<{ requestId: string }>('LinkageRequestPath', { requestId: req.params.requestId }).requestId;

  app.get('/v1/linkage/requests', ...route('readLinkage', async (req, res) => {
    const { projectId } = validateBody<{ projectId?: string }>('LinkageListQuery', { ...(req.query as Record<string, unknown>) });
    res.json({ linkages: await party.ledger.listLinkages(projectId) });
  }));

  app.get('/v1/linkage/requests/:requestId', ...route('readLinkage', async (req, res) => {
    const requestId = requestIdOf(req);
    const request = await party.ledger.readLinkage(requestId);
    if (!request) throw new ApiError(404, 'LINKAGE_NOT_FOUND', `No linkage request ${requestId} is on the ledger.`);
    res.json(party.type === 'linkage' ? { ...request, institution: request.institution, atInstitution: await party.service.status(requestId) } : request);
  }));

  if (party.type === 'sponsor') {
    const sponsor = party.service;
    app.post('/v1/linkage/requests', ...route('requestLinkage', async (req, res, user) => {
      onlyRole(user, 'research-officer');
      const body = validateBody<Omit<LinkageRequestInput, 'requestId' | 'institution'> & { requestId?: string; institution?: string }>('LinkageRequestBody', requireJson(req));
      const out = await sponsor.request(body);
      res.status(201).location(`/v1/linkage/requests/${encodeURIComponent(out.request.requestId)}`).json(out);
    }));
    app.get('/v1/linkage/requests/:requestId/release', ...route('fetchLinkageRelease', async (req, res, user) => {
      onlyRole(user, 'research-officer');
      const release = await sponsor.release(requestIdOf(req));
      res.setHeader('cache-control', 'no-store');
      if (release.status === 'refused') {
        throw new ApiError(409, 'LINKAGE_RELEASE_REFUSED', `The linkage institution refused the release of ${release.requestId}: ${release.refusal?.message ?? 'below k'}`, { refusal: release.refusal, releaseHash: release.releaseHash });
      }
      res.json(release);
    }));
    return;
  }

  if (party.type === 'hospital') {
    const hospital = party.service;
    app.post('/v1/linkage/requests/:requestId/contributions', ...route('contributeLinkage', async (req, res, user) => {
      onlyRole(user, 'research-officer');
      const requestId = requestIdOf(req);
      const { cohort } = validateBody<{ cohort: CohortEntry[] }>('LinkageCohortBody', requireJson(req));
      res.setHeader('cache-control', 'no-store');
      res.json(await hospital.contribute(requestId, cohort));
    }));
    return;
  }

  const institution = party.service;
  const partnerOf = (user: User): Partner => {
    const partner = user.role === 'linkage-partner' ? party.partners.find((p) => p.userId === user.id) : undefined;
    if (!partner) throw new ApiError(403, 'LINKAGE_NOT_PARTY', `Only the hospitals and sponsors this institution issued a key to call this; ${user.id} is not one.`);
    return { mspId: partner.mspId, type: partner.type };
  };
  app.post('/v1/linkage/evaluate', ...route('evaluateLinkage', async (req, res, user) => {
    const caller = partnerOf(user);
    const { requestId, blinded } = validateBody<{ requestId: string; blinded: string[] }>('LinkageEvaluateBody', requireJson(req));
    const evaluated = await institution.evaluate(caller, requestId, blinded.map((b) => new Uint8Array(Buffer.from(b, 'base64url'))));
    res.json({ evaluated: evaluated.map((e) => Buffer.from(e).toString('base64url')) });
  }));
  app.post('/v1/linkage/requests/:requestId/contributions', ...route('contributeLinkage', async (req, res, user) => {
    const caller = partnerOf(user);
    const requestId = requestIdOf(req);
    const { entries } = validateBody<{ entries: ContributionEntry[] }>('LinkageEntriesBody', requireJson(req));
    res.json(await institution.contribute(caller, requestId, entries.map((e) => ({ ...e, data: e.data ?? null }))));
  }));
  app.get('/v1/linkage/requests/:requestId/release', ...route('fetchLinkageRelease', async (req, res, user) => {
    const caller = partnerOf(user);
    res.setHeader('cache-control', 'no-store');
    res.json(await institution.release(caller, requestIdOf(req)));
  }));
}

function onlyRole(user: User, role: User['role']): void {
  if (user.role !== role) throw new ApiError(403, 'FORBIDDEN_ROLE', `Your role (${user.role}) may not do this here; it is the ${role}'s.`);
}
