/**
 * HL7 FHIR R4 exports of what the ledger holds: consent grants as `Consent`, record anchors as
 * `Provenance`. Pure functions over the chaincode's data model, with no Node-only imports, so
 * the gateway, the CLI and the browser pages can all use them.
 */
export { FHIR_JSON, MEDPROV_SYSTEMS, patientRefSystem, recordSystem, trialSystem } from './common';
export { grantToConsent, grantsToConsentBundle } from './consent';
export { anchorToProvenance, anchorToProvenanceBundle, retractionToProvenance } from './provenance';
export type * from './types';
export { accessLogEntryToAuditEvent, accessLogToAuditEventBundle } from './audit-event';
