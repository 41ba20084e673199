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
  /** A guardian's delegation by its id (the EIP-712 digest of the GuardianAppointment): names the guardian without their key. */
  delegation: 'urn:medprov:delegation',
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
const ACT_REASON = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';

/** v3-ActReason BTG: how a break-glass access overrode consent (IHE PCF's break-glass consents name this purpose). */
export const BREAK_THE_GLASS: Coding = { system: ACT_REASON, code: 'BTG', display: 'break the glass' };

/**
 * A medprov purpose (`treatment`, `claims`, `research:<trialId>`) as its v3-ActReason
 * PurposeOfUse code, and the trial of a research purpose. Undefined for a purpose the
 * chaincode does not admit.
 */
export function purposeOfUse(purpose: string): { coding: Coding; trialId?: string } | undefined {
  if (purpose === 'treatment') return { coding: { system: ACT_REASON, code: 'TREAT', display: 'treatment' } };
  if (purpose === 'claims') return { coding: { system: ACT_REASON, code: 'HPAYMT', display: 'healthcare payment' } };
  // A break-glass access (chaincode/src/lib/break-glass.ts) is recorded with this purpose.
  if (purpose === 'ETREAT') return { coding: { system: ACT_REASON, code: 'ETREAT', display: 'Emergency Treatment' } };
  const research = /^research:(.+)$/.exec(purpose);
  if (research) return { coding: { system: ACT_REASON, code: 'HRESCH', display: 'healthcare research' }, trialId: research[1]! };
  return undefined;
}

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

/**
 * A resource's `fullUrl` in a Bundle (R4: outside transactions every entry must have one): a
 * `urn:uuid` (RFC 9562 version 8, custom) from a 128-bit hash of the resource's JSON, so the
 * same export gives the same Bundle and no server address is implied. The hash is four
 * differently seeded 32-bit multiply-xor lanes, enough to tell a Bundle's entries apart; it is
 * not a cryptographic commitment, and nothing in the module needs a package (browser-safe).
 */
export function contentUuid(resource: object): string {
  const text = JSON.stringify(resource);
  const lanes = [0x811c9dc5, 0x9e3779b9, 0x85ebca6b, 0xc2b2ae35];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    for (let k = 0; k < 4; k++) lanes[k] = Math.imul(lanes[k]! ^ c, [0x01000193, 0x2c1b3c6d, 0x297a2d39, 0x6b8b4567][k]!);
  }
  // Final mixing, so that every input bit reaches every output bit.
  for (let round = 0; round < 2; round++) {
    for (let k = 0; k < 4; k++) {
      let h = lanes[k]! ^ lanes[(k + 1) % 4]! ^ (lanes[(k + 3) % 4]! >>> 15);
      h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
      h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
      lanes[k] = (h ^ (h >>> 16)) >>> 0;
    }
  }
  const h = lanes.map((x) => (x >>> 0).toString(16).padStart(8, '0')).join('');
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `urn:uuid:${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** A Bundle of type collection: resources that belong together, no search or transaction semantics. */
export function collectionBundle<R extends Resource>(resources: readonly R[], timestamp?: string): Bundle<R> {
  return {
    resourceType: 'Bundle',
    type: 'collection',
    ...(timestamp !== undefined ? { timestamp } : {}),
    ...(resources.length > 0 ? { entry: resources.map((resource) => ({ fullUrl: contentUuid(resource), resource })) } : {}),
  };
}
