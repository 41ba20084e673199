/**
 * This gateway's part in research linkage, from its configuration: a hospital (with the
 * institution's URL and key and the hospitals' shared secret), a sponsor (with the
 * institution's URL and key) or the linkage institution (with its OPRF seed and partners).
 * Without linkage settings, none.
 *
 * @module
 */
import * as path from 'node:path';
import type { LinkageSettings } from '../config';
import type { Ledger } from '../fabric/client';
import type { LinkageParty } from '../http/linkage-routes';
import { HospitalLinkageService } from './hospital';
import { LinkageInstitutionService } from './institution';
import { HttpInstitutionClient } from './institution-client';
import { LinkageLedger } from './ledger';
import { SponsorLinkageService } from './sponsor';

export function linkagePartyOf(options: {
  org: { mspId: string; type: 'hospital' | 'insurer' | 'sponsor' | 'linkage' };
  settings: LinkageSettings | undefined;
  ledger: Ledger;
  /** The gateway's own folder: the linkage files go in its `linkage` folder. */
  dir: string;
  /** Hospitals: the patientRef of a patient id. */
  patientRef?: (patientId: string) => string;
}): LinkageParty | undefined {
  const { org, settings } = options;
  if (!settings) return undefined;
  const ledger = new LinkageLedger(options.ledger);
  const dir = path.join(options.dir, 'linkage');
  const institution = settings.institution ? new HttpInstitutionClient(settings.institution) : undefined;
  switch (org.type) {
    case 'hospital': {
      if (!institution || !settings.hospitalSecret || !options.patientRef) return undefined;
      const service = new HospitalLinkageService({ mspId: org.mspId, hospitalSecret: Buffer.from(settings.hospitalSecret, 'hex'), ledger, institution, patientRef: options.patientRef });
      return { type: 'hospital', ledger, service };
    }
    case 'sponsor':
      return {
        type: 'sponsor',
        ledger,
        service: new SponsorLinkageService({ mspId: org.mspId, ledger, dir, ...(institution && settings.institution ? { institution: { mspId: settings.institution.mspId, port: institution } } : {}) }),
      };
    case 'linkage':
      if (!settings.oprfSeed) return undefined;
      return {
        type: 'linkage',
        ledger,
        service: new LinkageInstitutionService({ mspId: org.mspId, oprfSeed: Buffer.from(settings.oprfSeed, 'hex'), ledger, dir }),
        partners: settings.partners ?? [],
      };
    default:
      return undefined;
  }
}
