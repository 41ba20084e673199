import type { Bundle, Coding, Reference, Resource } from './types';

/** The media type of every FHIR export (R4 JSON). */
export const FHIR_JSON = 'application/fhir+json';

/**
 * Identifier systems and code systems of medprov's own values. They are URNs, not URLs:
 * medprov publishes no FHIR server or terminology, so nothing should try to resolve them.
 */
export const MEDPROV_SYSTEMS = {
  /** A consortium member by its Fabric MSP ID. */
  mspId: 'urn:medprov:msp',
  /** A signed consent grant by its id (the EIP-712 digest, 0x + 64 hex). */
  consentGrant: 'urn:medprov:consent-grant',
  /** One version of a record: the SHA-256 of the document (64 hex), its version-specific identifier. */
  documentSha256: 'urn:medprov:document-sha256',
  /** A Fabric transaction by its id. */
  ledgerTransaction: 'urn:medprov:fabric-tx',
  /** A record category that is not a LOINC document type, as the chaincode holds it. */
  category: 'urn:medprov:category',
  /** Why an issuer retracted a record (chaincode/src/lib/record-model.ts RETRACTION_REASONS). */
  retractionReason: 'urn:medprov:retraction-reason',
  /** Extension: the ledger transaction that recorded what a resource describes. */
  ledgerTransactionExtension: 'urn:medprov:fhir:StructureDefinition:ledger-transaction',
} as const;

/** The patient of one hospital, pseudonymous: the hospital's patientRef (an HMAC), never a name or number. */
export const patientRefSystem = (hospital: string): string => `urn:medprov:patient-ref:${hospital}`;
/** A hospital's record, all versions: the opaque record id it chose. */
export const recordSystem = (issuer: string): string => `urn:medprov:record:${issuer}`;
/** A trial of a sponsor, by the trial id in the grant's purpose `research:<trialId>`. */
export const trialSystem = (sponsor: string): string => `urn:medprov:trial:${sponsor}`;

export const LOINC = 'http://loinc.org';

/** A consortium member as an R4 Organization reference. */
export function organisationReference(mspId: string): Reference {
  return { type: 'Organization', identifier: { system: MEDPROV_SYSTEMS.mspId, value: mspId } };
}

/** The patient as an R4 Patient reference: the pseudonym only. */
export function patientReference(hospital: string, patientRef: string): Reference {
  return { type: 'Patient', identifier: { system: patientRefSystem(hospital), value: patientRef } };
}

/** A record category as a Coding: `loinc:<code>` becomes LOINC, anything else stays in medprov's system. */
export function categoryCoding(category: string): Coding {
  const loinc = /^loinc:(\d{1,7}-\d)$/i.exec(category);
  return loinc ? { system: LOINC, code: loinc[1]! } : { system: MEDPROV_SYSTEMS.category, code: category };
}

/** Unix seconds as an R4 instant / dateTime, to the second, in UTC. */
export function instantOfSeconds(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}

/** A Bundle of type collection: resources that belong together, no search or transaction semantics. */
export function collectionBundle<R extends Resource>(resources: readonly R[], timestamp?: string): Bundle<R> {
  return {
    resourceType: 'Bundle',
    type: 'collection',
    ...(timestamp !== undefined ? { timestamp } : {}),
    ...(resources.length > 0 ? { entry: resources.map((resource) => ({ resource })) } : {}),
  };
}
