/**
 * The routes the pages need beyond the consent API: the consortium's organisations with their
 * display names (public), and registration by one-time link (the records office makes the link;
 * the Patient page opens and completes it with the link's token). Mounted by
 * {@link createGatewayApp} with its route wrappers; the links themselves are in
 * gateway/src/consent/registration-links.ts.
 *
 * @module
 */
import type { Express, Request, RequestHandler, Response } from 'express';
import type { OrganisationEntry } from '../../../network/src/network';
import { qrCodeSvg } from '../consent/qr-code';
import type { RegistrationLinks } from '../consent/registration-links';
import type { SignedRegistration } from '../consent/service';
import type { User } from './auth';
import type { Operation, PatientOperation } from './roles';
import { validateBody } from './validation';

type Handler = (req: Request, res: Response, user: User) => Promise<void>;
type PatientHandler = (req: Request, res: Response) => Promise<void>;

/** What the routes need of the app: its route wrappers and the JSON check. */
export interface PageRouteKit {
  route: (operation: Operation, handler: Handler) => RequestHandler[];
  patientRoute: (operation: PatientOperation, handler: PatientHandler) => RequestHandler[];
  requireJson: (req: Request) => unknown;
}

/** GET /v1/organisations: who is in the consortium, by the names people know them by. */
export function mountOrganisationRoute(app: Express, organisations: readonly OrganisationEntry[]): void {
  const body = { organisations: organisations.map((o) => ({ mspId: o.mspId, name: o.name, type: o.type, displayName: { ko: o.displayName.ko, en: o.displayName.en } })) };
  app.get('/v1/organisations', (_req, res) => {
    res.locals.operation = 'organisations';
    res.setHeader('cache-control', 'public, max-age=300');
    res.json(body);
  });
}

/** POST /v1/patients/registration-links (records officer), …/open and …/complete (the patient's page). */
export function mountRegistrationLinkRoutes(app: Express, links: RegistrationLinks, kit: PageRouteKit): void {
  const { route, patientRoute, requireJson } = kit;

  app.post('/v1/patients/registration-links', ...route('createRegistrationLink', async (req, res) => {
    const { patientId } = validateBody<{ patientId: string }>('RegistrationRequestBody', requireJson(req));
    const { link, request } = await links.create(patientId);
    // The origin the staff reached this gateway at: the patient's phone opens the same one.
    const url = `${req.protocol}://${req.get('host') ?? 'localhost'}${link.path}`;
    res.setHeader('cache-control', 'no-store');
    res.status(201).json({ link: { ...link, url, qrSvg: qrCodeSvg(url, 'Registration link for the Patient page / 환자 페이지 등록 링크') }, request });
  }));

  app.post('/v1/patients/registration-links/open', ...patientRoute('openRegistrationLink', async (req, res) => {
    const { token } = validateBody<{ token: string }>('RegistrationLinkToken', requireJson(req));
    res.setHeader('cache-control', 'no-store');
    res.json(links.open(token));
  }));

  app.post('/v1/patients/registration-links/complete', ...patientRoute('completeRegistrationLink', async (req, res) => {
    const { token, registration } = validateBody<{ token: string; registration: SignedRegistration }>('RegistrationLinkCompletion', requireJson(req));
    const out = await links.complete(token, registration);
    res.status(out.created ? 201 : 200).json(out);
  }));
}
