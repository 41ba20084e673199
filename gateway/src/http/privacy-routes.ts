/**
 * The routes of the people who run the org's privacy duties: the data-protection officer's
 * erasures and the admin's master key rotation. Mounted by {@link createGatewayApp} with its
 * `route` wrapper (authentication, the role table, the org-type check, the JSON body).
 *
 * The request log never sees a patientId: it logs the operation, status and user only, and
 * these handlers log the random erasure id at most.
 *
 * @module
 */
import type { Express, Request, RequestHandler, Response } from 'express';
import type { ErasureService } from '../erasure/service';
import { ApiError } from '../errors';
import { isPrivacyError, ROTATION_REFUSALS, type MasterKeyRotation } from '../privacy';
import type { User } from './auth';
import type { Operation } from './roles';
import { validateBody } from './validation';

type Handler = (req: Request, res: Response, user: User) => Promise<void>;

/** What the routes need of the app: its route wrapper, the JSON check, and `Prefer: wait`. */
export interface PrivacyRouteKit {
  route: (operation: Operation, handler: Handler) => RequestHandler[];
  requireJson: (req: Request) => unknown;
  preferredWaitSeconds: (prefer: string | undefined) => number;
}

/** Erasure (DPO, hospitals) and the ledger's erasure records. */
export function mountErasureRoutes(app: Express, erasures: ErasureService, kit: PrivacyRouteKit): void {
  const { route, requireJson } = kit;
  const erasurePath = (req: Request) => validateBody<{ erasureId: string }>('ErasurePath', { erasureId: req.params.erasureId }).erasureId;

  app.post('/v1/erasures', ...route('erasePatient', async (req, res, user) => {
    const { patientId } = validateBody<{ patientId: string }>('ErasureRequestBody', requireJson(req));
    const waitMs = kit.preferredWaitSeconds(req.get('prefer')) * 1000;
    const outcome = await erasures.erase(patientId, { user: user.id }, waitMs);
    // The erasure is done whatever the ledger did: 201, and the ledger's state in the body.
    if (outcome.ledger.state === 'not-recorded') res.locals.errorCode = outcome.ledger.code;
    res.status(201).location(`/v1/erasures/${outcome.erasure.erasureId}`).json(outcome);
  }));

  app.get('/v1/erasures/:erasureId', ...route('readErasure', async (req, res) => {
    res.json(await erasures.read(erasurePath(req)));
  }));

  app.post('/v1/erasures/:erasureId/ledger-record', ...route('recordErasure', async (req, res) => {
    const recorded = await erasures.record(erasurePath(req));
    res.status(recorded.created ? 201 : 200).json(recorded);
  }));
}

/** Master key rotation (admin, any org: every gateway holds a key store). */
export function mountRotationRoutes(app: Express, rotation: MasterKeyRotation, kit: PrivacyRouteKit): void {
  const { route } = kit;
  app.post('/v1/admin/master-key/rotation', ...route('rotateMasterKey', async (_req, res) => {
    try {
      res.status(202).location('/v1/admin/master-key/rotation').json(await rotation.start());
    } catch (err) {
      if (isPrivacyError(err) && ROTATION_REFUSALS.has(err.code)) throw new ApiError(409, err.code, err.message.replace(/^[A-Z_]+: /, ''));
      throw err;
    }
  }));

  app.get('/v1/admin/master-key/rotation', ...route('rotationStatus', async (_req, res) => {
    res.json(rotation.progress());
  }));
}
