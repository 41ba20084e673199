/**
 * The few HL7 FHIR R4 (4.0.1) data types and resources medprov exports, as plain JSON shapes.
 * Only the elements medprov fills are declared; every name and cardinality is R4's own, so
 * the objects built with them serialise to R4 JSON as they are (see test/unit/fhir, which
 * validates them against the official R4 JSON schema).
 */

export interface Coding {
  system: string;
  code: string;
  display?: string;
}

export interface CodeableConcept {
  coding?: Coding[];
  text?: string;
}

export interface Identifier {
  use?: 'usual' | 'official' | 'temp' | 'secondary' | 'old';
  system: string;
  value: string;
}

/** A logical reference: by identifier, because no FHIR server holds the target. */
export interface Reference {
  type?: string;
  identifier?: Identifier;
  display?: string;
}

/** R4 Period: `end` includes every instant that matches it at its precision. */
export interface Period {
  start?: string;
  end?: string;
}

export interface Extension {
  url: string;
  valueReference?: Reference;
  valueIdentifier?: Identifier;
}

export interface Meta {
  lastUpdated?: string;
}

export interface ConsentProvision {
  type?: 'deny' | 'permit';
  period?: Period;
  actor?: { role: CodeableConcept; reference: Reference }[];
  action?: CodeableConcept[];
  purpose?: Coding[];
  class?: Coding[];
  code?: CodeableConcept[];
  data?: { meaning: 'instance' | 'related' | 'dependents' | 'authoredby'; reference: Reference }[];
  extension?: Extension[];
}

export type ConsentStatus = 'draft' | 'proposed' | 'active' | 'rejected' | 'inactive' | 'entered-in-error';

export interface Consent {
  resourceType: 'Consent';
  id?: string;
  meta?: Meta;
  identifier?: Identifier[];
  status: ConsentStatus;
  scope: CodeableConcept;
  category: CodeableConcept[];
  patient?: Reference;
  dateTime?: string;
  performer?: Reference[];
  organization?: Reference[];
  policy?: { authority?: string; uri?: string }[];
  policyRule?: CodeableConcept;
  /** Who the consent was verified with: for a grant made by a guardian, the guardian (RelatedPerson). */
  verification?: { verified: boolean; verifiedWith?: Reference; verificationDate?: string }[];
  provision?: ConsentProvision;
}

export interface Provenance {
  resourceType: 'Provenance';
  id?: string;
  extension?: Extension[];
  target: Reference[];
  recorded: string;
  reason?: CodeableConcept[];
  activity?: CodeableConcept;
  agent: { type?: CodeableConcept; who: Reference }[];
  entity?: { role: 'derivation' | 'revision' | 'quotation' | 'source' | 'removal'; what: Reference }[];
}

/** R4 AuditEvent: one consent-checked access or disclosure of the ledger's access log. */
export interface AuditEvent {
  resourceType: 'AuditEvent';
  id?: string;
  extension?: Extension[];
  type: Coding;
  subtype?: Coding[];
  action?: 'C' | 'R' | 'U' | 'D' | 'E';
  recorded: string;
  outcome?: '0' | '4' | '8' | '12';
  outcomeDesc?: string;
  purposeOfEvent?: CodeableConcept[];
  agent: { type?: CodeableConcept; role?: CodeableConcept[]; who?: Reference; requestor: boolean; purposeOfUse?: CodeableConcept[] }[];
  source: { site?: string; observer: Reference; type?: Coding[] };
  entity?: { what?: Reference; type?: Coding; role?: Coding; description?: string; detail?: { type: string; valueString: string }[] }[];
}

export type Resource = Consent | Provenance | AuditEvent;

export interface Bundle<R extends Resource = Resource> {
  resourceType: 'Bundle';
  type: 'collection';
  timestamp?: string;
  entry?: { fullUrl: string; resource: R }[];
}
