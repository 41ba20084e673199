/**
 * Guardians and delegates, and the patient's one view: the routes. The patient names and
 * revokes a guardian by signature; the hospital's records office records one on a legal basis;
 * the guardian grants and revokes with its own signature under the delegation; the patient and
 * the guardian list theirs by answering a challenge. Mounted by {@link createGatewayApp} with
 * its route wrappers; the logic is in gateway/src/consent/guardians.ts.
 *
 * @module
 */
import type { Express, Request, RequestHandler, Response } from 'express';
import type { GuardianService, GuardianSigned, LegalGuardianRequest, SignedAppointment, SignedGuardianRevoke } from '../consent/guardians';
import type { ConsentService, SignedChallenge, SignedGrant, SignedRevocation } from '../consent/service';
import type { User } from './auth';
import type { Operation, PatientOperation } from './roles';
import { validateBody } from './validation';

type Handler = (req: Request, res: Response, user: User) => Promise<void>;
type PatientHandler = (req: Request, res: Response) => Promise<void>;

export interface GuardianRouteKit {
  route: (operation: Operation, handler: Handler) => RequestHandler[];
  patientRoute: (operation: PatientOperation, handler: PatientHandler) => RequestHandler[];
  requireJson: (req: Request) => unknown;
  /** The `Authorization: Patient …` header as a signed challenge (401 when it is not one). */
  patientCredential: (authorization: string | undefined) => SignedChallenge;
}

export function mountGuardianRoutes(app: Express, guardians: GuardianService, consent: ConsentService, kit: GuardianRouteKit): void {
  const { route, patientRoute, requireJson, patientCredential } = kit;
  const created = (res: Response, out: { created: boolean }) => res.status(out.created ? 201 : 200).json(out);

  app.post('/v1/delegations', ...patientRoute('appointGuardian', async (req, res) => {
    created(res, await guardians.appointGuardian(validateBody<SignedAppointment>('GuardianAppointmentBody', requireJson(req))));
  }));

  app.post('/v1/delegations/revocations', ...patientRoute('revokeGuardian', async (req, res) => {
    created(res, await guardians.revokeGuardian(validateBody<SignedGuardianRevoke>('GuardianRevokeBody', requireJson(req))));
  }));

  app.post('/v1/delegations/legal-basis', ...route('recordGuardian', async (req, res) => {
    created(res, await guardians.recordGuardian(validateBody<LegalGuardianRequest>('LegalGuardianRequest', requireJson(req))));
  }));

  app.post('/v1/delegations/legal-basis/revocations', ...route('revokeRecordedGuardian', async (req, res) => {
    const { patientId, delegationId } = validateBody<{ patientId: string; delegationId: string }>('LegalGuardianRevokeRequest', requireJson(req));
    created(res, await guardians.revokeRecordedGuardian(patientId, delegationId));
  }));

  app.post('/v1/guardians/consents', ...patientRoute('grantConsentAsGuardian', async (req, res) => {
    created(res, await guardians.grantAsGuardian(validateBody<GuardianSigned<SignedGrant>>('GuardianGrantBody', requireJson(req))));
  }));

  app.post('/v1/guardians/consents/revocations', ...patientRoute('revokeConsentAsGuardian', async (req, res) => {
    created(res, await guardians.revokeAsGuardian(validateBody<GuardianSigned<SignedRevocation>>('GuardianConsentRevokeBody', requireJson(req))));
  }));

  app.get('/v1/guardians/me/delegations', ...patientRoute('listGuardianDelegations', async (req, res) => {
    const { address } = consent.authenticateKey(patientCredential(req.headers.authorization));
    res.json({ guardian: address, delegations: await guardians.listGuardianDelegations(address) });
  }));

  app.get('/v1/patients/me/delegations', ...patientRoute('listMyDelegations', async (req, res) => {
    const binding = await consent.authenticatePatient(patientCredential(req.headers.authorization));
    res.json({ hospital: binding.hospital, patientRef: binding.patientRef, delegations: await guardians.listDelegations(binding) });
  }));

  app.get('/v1/patients/me/registration', ...patientRoute('readMyRegistration', async (req, res) => {
    const { address } = consent.authenticateKey(patientCredential(req.headers.authorization));
    const binding = await guardians.registrationOf(address);
    res.json({ hospital: binding.hospital, patientRef: binding.patientRef, patient: binding.patient, registeredAt: binding.registeredAt });
  }));

  app.get('/v1/patients/me/records', ...patientRoute('listMyRecords', async (req, res) => {
    const binding = await consent.authenticatePatient(patientCredential(req.headers.authorization));
    res.json({ hospital: binding.hospital, patientRef: binding.patientRef, records: await guardians.listPatientRecords(binding) });
  }));
}
