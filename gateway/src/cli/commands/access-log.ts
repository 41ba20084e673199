import type { AccessLogEntry } from '../../../../chaincode/src/lib/consent-model';
import type { Command } from '../command';
import { describeAccessParty, describeAccessSubject } from '../../consent/patient-client';
import { PATIENT_OPTIONS, printListing } from '../patient';

/** `medprov access-log`: who asked for the patient's records, who disclosed them to whom, and what the ledger decided. */
export const accessLogCommand: Command = {
  name: 'access-log',
  summary: 'who accessed (or tried to access) your records, or had them disclosed to, and the decision (patients)',
  usage: 'access-log --key <file> [options]',
  description: `
Lists the access-log entries about you, oldest first: when, which organisation (and role),
which record (issuer, record id, version), for what purpose, and the decision: PERMIT, DENY
(with the reason: revoked, expired, out of scope, …) or NO_CONSENT. Every consent-checked
access is logged on the ledger whatever the decision, and so is every disclosure your hospital
records (a research release to a trial's sponsor), shown as "Disclosed by HospitalMSP to
SponsorMSP", and every time your hospital checked your research consent for a sponsor's
research linkage ("Offered by HospitalMSP for SponsorMSP's research linkage", the linkage
request instead of a record; PERMIT means you were included). Like 'consent list', the CLI signs a
single-use challenge with your key (GET /v1/patients/me/access-log).`,
  examples: ['medprov access-log --key ~/medprov/hospital.key.json', 'medprov access-log --json | jq \'.entries[] | select(.decision != "PERMIT")\''],
  options: { ...PATIENT_OPTIONS },
  usesGateway: 'as-patient',
  positionals: { min: 0, max: 0 },
  run: (ctx) =>
    printListing<AccessLogEntry>(
      ctx,
      '/v1/patients/me/access-log',
      'entries',
      (entries) => `${entries.length} access-log entr${entries.length === 1 ? 'y' : 'ies'}`,
      ['WHEN', 'WHO', 'RECORD', 'PURPOSE', 'DECISION'],
      (e) => [
        e.at.replace('T', ' ').replace(/(\.\d+)?Z$/, ' UTC'),
        describeAccessParty(e),
        describeAccessSubject(e),
        e.purpose,
        e.breakGlassReason ? `BREAK-GLASS (${e.breakGlassReason}, no consent)` : e.reason ? `${e.decision} (${e.reason.toLowerCase().replace(/_/g, ' ')})` : e.decision,
      ],
    ),
};
