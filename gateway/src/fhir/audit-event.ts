import type { AccessLogEntry } from '../../../chaincode/src/lib/consent-model';
import { BREAK_THE_GLASS, MEDPROV_SYSTEMS, collectionBundle, instantOfSeconds, organisationReference, patientReference, purposeOfUse, recordSystem } from './common';
import type { AuditEvent, Bundle, CodeableConcept, Coding, Extension } from './types';

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const PARTICIPATION_TYPE = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
const ENTITY_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
const OBJECT_ROLE = 'http://terminology.hl7.org/CodeSystem/object-role';
const SOURCE_TYPE = 'http://terminology.hl7.org/CodeSystem/security-source-type';
/** A research linkage request by its id (chaincode/src/lib/linkage-model.ts): what a linkage entry is about. */
const LINKAGE_REQUEST_SYSTEM = 'urn:medprov:linkage-request';

/** DICOM audit event IDs (R4 audit-event-type, extensible): reading a patient's record, and an export (a disclosure). */
const PATIENT_RECORD: Coding = { system: DCM, code: '110110', display: 'Patient Record' };
const EXPORT: Coding = { system: DCM, code: '110106', display: 'Export' };

function participation(code: 'IRCP' | 'AUT', display: string): CodeableConcept {
  return { coding: [{ system: PARTICIPATION_TYPE, code, display }] };
}

function ledgerTransaction(txId: string): Extension[] {
  return [{ url: MEDPROV_SYSTEMS.ledgerTransactionExtension, valueIdentifier: { system: MEDPROV_SYSTEMS.ledgerTransaction, value: txId } }];
}

/**
 * One access-log entry (a consent-checked access or disclosure, permitted or not) as an R4
 * `AuditEvent`, for a hospital's audit system:
 * - `type` ← DICOM 110110 "Patient Record" for an access, 110106 "Export" for a disclosure;
 *   `action` ← `R` (the record was read or handed out, not changed);
 * - `recorded` ← the entry's ledger time; `outcome` ← `0` (success) for PERMIT, `4` (minor
 *   failure: refused) otherwise, `outcomeDesc` ← the decision (PERMIT / DENY / NO_CONSENT) and its reason;
 * - `purposeOfEvent` and each agent's `purposeOfUse` ← v3-ActReason TREAT / HPAYMT / HRESCH;
 * - `agent` ← who the record went to (v3-ParticipationType IRCP, the requestor of an access,
 *   its role attribute as `role` text), and for a disclosure the hospital that disclosed
 *   (AUT, the requestor); organisations by MSP ID as in every export;
 * - `source` ← the consortium ledger (security-source-type 4, application server), `site` ←
 *   the record's issuer;
 * - `entity` ← the record (a DocumentReference by `urn:medprov:record:<issuer>`, its version in
 *   `detail`) — for a research linkage entry (kind `linkage`, an export by the hospital to the
 *   sponsor) the linkage request instead (`urn:medprov:linkage-request`, object-role 24 Query) —, the patient (by the pseudonymous patientRef only, object-role 1) and, when one
 *   decided, the consent grant (a Consent by `urn:medprov:consent-grant`);
 * - the ledger transaction id in the same extension Provenance uses.
 * No PHI: MSP IDs, codes, pseudonyms. Pure and browser-safe.
 */
export function accessLogEntryToAuditEvent(entry: AccessLogEntry): AuditEvent {
  // A linkage entry is a disclosure of the patient's taking part (no record): the hospital offered the patient to the sponsor's linkage.
  const linkage = entry.kind === 'linkage' && entry.requestId !== undefined;
  const disclosure = (entry.kind === 'disclosure' || linkage) && entry.disclosedBy !== undefined;
  const purpose = purposeOfUse(entry.purpose);
  const purposes: CodeableConcept[] | undefined = purpose ? [{ coding: [purpose.coding], ...(purpose.trialId !== undefined ? { text: `research for trial ${purpose.trialId}` } : {}) }] : undefined;
  // A break-glass access: emergency treatment (ETREAT) by breaking the glass (BTG).
  if (purposes && entry.kind === 'break-glass') purposes.push({ coding: [BREAK_THE_GLASS] });
  const recipient: AuditEvent['agent'][number] = {
    type: participation('IRCP', 'information recipient'),
    ...(entry.role !== undefined && !disclosure ? { role: [{ text: entry.role }] } : {}),
    who: organisationReference(entry.accessor),
    requestor: !disclosure,
    ...(purposes ? { purposeOfUse: purposes } : {}),
  };
  const agents: AuditEvent['agent'] = disclosure
    ? [
        {
          type: participation('AUT', 'author (originator)'),
          ...(entry.role !== undefined ? { role: [{ text: entry.role }] } : {}),
          who: organisationReference(entry.disclosedBy!),
          requestor: true,
          ...(purposes ? { purposeOfUse: purposes } : {}),
        },
        recipient,
      ]
    : [recipient];
  // A break-glass access read the record without consent: a success, said so in outcomeDesc.
  const permitted = entry.decision === 'PERMIT' || entry.decision === 'BREAK_GLASS';
  // What was read or handed out: the record, or for a linkage the sponsor's request (a query over the patients of the project).
  const subject: NonNullable<AuditEvent['entity']>[number] = linkage
    ? {
        what: { identifier: { system: LINKAGE_REQUEST_SYSTEM, value: entry.requestId! }, display: `research linkage request ${entry.requestId} (${entry.purpose}), offered by ${entry.issuer}` },
        type: { system: ENTITY_TYPE, code: '2', display: 'System Object' },
        role: { system: OBJECT_ROLE, code: '24', display: 'Query' },
        detail: [{ type: 'requestId', valueString: entry.requestId! }],
      }
    : {
        what: { type: 'DocumentReference', identifier: { system: recordSystem(entry.issuer), value: entry.recordId }, display: `record ${entry.recordId} of ${entry.issuer}, version ${entry.version}` },
        type: { system: ENTITY_TYPE, code: '2', display: 'System Object' },
        role: { system: OBJECT_ROLE, code: '4', display: 'Domain Resource' },
        detail: [
          { type: 'version', valueString: String(entry.version) },
          ...(entry.disclosureId !== undefined ? [{ type: 'disclosureId', valueString: entry.disclosureId }] : []),
        ],
      };
  const entity: NonNullable<AuditEvent['entity']> = [
    subject,
    {
      what: patientReference(entry.issuer, entry.patientRef),
      type: { system: ENTITY_TYPE, code: '1', display: 'Person' },
      role: { system: OBJECT_ROLE, code: '1', display: 'Patient' },
    },
    ...(entry.grantId !== undefined
      ? [
          {
            what: { type: 'Consent', identifier: { system: MEDPROV_SYSTEMS.consentGrant, value: entry.grantId } },
            type: { system: ENTITY_TYPE, code: '2', display: 'System Object' },
            description: permitted ? 'the consent grant that permitted this' : 'the consent grant this was checked against',
          },
        ]
      : []),
  ];
  return {
    resourceType: 'AuditEvent',
    extension: ledgerTransaction(entry.txId),
    type: disclosure ? EXPORT : PATIENT_RECORD,
    action: 'R',
    recorded: normaliseInstant(entry.at),
    outcome: permitted ? '0' : '4',
    outcomeDesc: entry.reason !== undefined ? `${entry.decision}: ${entry.reason}` : entry.breakGlassReason !== undefined ? `${entry.decision} (without consent, emergency): ${entry.breakGlassReason}` : entry.decision,
    ...(purposes ? { purposeOfEvent: purposes } : {}),
    agent: agents,
    source: {
      site: entry.issuer,
      observer: { type: 'Device', display: 'medprov consortium ledger (Access chaincode)' },
      type: [{ system: SOURCE_TYPE, code: '4', display: 'Application Server' }],
    },
    entity,
  };
}

/** The ledger's times are ISO instants (milliseconds included); an R4 instant takes them as they are, when they carry a zone. */
function normaliseInstant(at: string): string {
  const ms = Date.parse(at);
  if (Number.isNaN(ms)) return at;
  return /(?:Z|[+-]\d\d:\d\d)$/.test(at) ? at : new Date(ms).toISOString();
}

/** A patient's (or a hospital's) access log as R4 AuditEvents in one Bundle (type collection), oldest first. */
export function accessLogToAuditEventBundle(entries: readonly AccessLogEntry[], asOf: number): Bundle<AuditEvent> {
  return collectionBundle(entries.map(accessLogEntryToAuditEvent), instantOfSeconds(asOf));
}
