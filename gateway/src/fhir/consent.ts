import { effectiveStatus, type ConsentGrant } from '../../../chaincode/src/lib/consent-model';
import {
  LOINC,
  MEDPROV_SYSTEMS,
  categoryCoding,
  collectionBundle,
  instantOfSeconds,
  organisationReference,
  patientReference,
  purposeOfUse,
  recordSystem,
  trialSystem,
} from './common';
import type { Bundle, Coding, Consent, ConsentProvision, Extension, Reference } from './types';

const CONSENT_SCOPE = 'http://terminology.hl7.org/CodeSystem/consentscope';
const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const PARTICIPATION_TYPE = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
const CONSENT_ACTION = 'http://terminology.hl7.org/CodeSystem/consentaction';
const RESOURCE_TYPES = 'http://hl7.org/fhir/resource-types';
/** FHIR extensions pack (R4 and later), context Consent.provision: the study a research consent is for. */
const RESEARCH_STUDY_CONTEXT = 'http://hl7.org/fhir/StructureDefinition/consent-ResearchStudyContext';

/** The grant's purpose in R4 terms: its PurposeOfUse code (v3-ActReason) and, for research, the trial. */
function purposeOf(grant: ConsentGrant): { purpose: Coding; scope: 'patient-privacy' | 'research'; trialId?: string } {
  const mapped = purposeOfUse(grant.purpose);
  if (mapped?.trialId !== undefined) return { purpose: mapped.coding, scope: 'research', trialId: mapped.trialId };
  if (mapped) return { purpose: mapped.coding, scope: 'patient-privacy' };
  // The chaincode admits no other purpose; a new one must get its code here rather than
  // leave the export without one (a provision without a purpose permits every purpose).
  throw new Error(`FHIR_UNMAPPED_PURPOSE: no R4 purpose of use for "${grant.purpose}".`);
}

/**
 * A consent grant as an R4 `Consent`, as it stands at `asOf` (Unix seconds): `active` while
 * the grant is neither revoked nor past its validity (also before it starts: it is agreed,
 * and `provision.period` says from when), `inactive` once revoked or expired. Pure and
 * deterministic: the same grant and time give the same JSON; it runs in the browser too.
 *
 * Mapping (R4 element ← grant):
 * - `id`, `identifier` ← grantId (the EIP-712 digest the patient signed); `dateTime` ← grantedAt
 *   (the ledger's time); `meta.lastUpdated` ← the revocation's time once revoked.
 * - `scope` ← consentscope `patient-privacy` (a permission to share records), `research` for
 *   `research:<trialId>` grants; `category` ← LOINC 59284-0 (patient consent).
 * - `patient`, `performer` ← the hospital's pseudonymous patientRef, by identifier
 *   (`urn:medprov:patient-ref:<hospital MSP>`); the patient's key address is not exported.
 * - `organization` ← the patient's hospital, which holds the records the grant opens.
 * - `policyRule` ← v3-ActCode OPTIN (ppc-1/ppc-2): access is denied unless a grant permits it.
 * - `provision` (type `permit`): `period` ← [validFrom, validUntil) — R4's `end` includes the
 *   instant it names, so it is validUntil − 1 s; `actor` ← the grantee organisation as
 *   v3-ParticipationType IRCP (information recipient); `action` ← consentaction `access`;
 *   `purpose` ← v3-ActReason TREAT / HPAYMT / HRESCH, the trial id kept in the
 *   consent-ResearchStudyContext extension as a ResearchStudy identifier
 *   (`urn:medprov:trial:<grantee MSP>`); `class` ← DocumentReference; `code` ← the categories
 *   (LOINC when `loinc:<code>`); `data` ← the record ids (meaning `instance`). As in the
 *   chaincode's decision, a record is covered when its category is among `code` or its id
 *   among `data`.
 *
 * - A grant a guardian signed (`signedBy: 'guardian'`): `performer` ← the guardian, a
 *   RelatedPerson named by the delegation's id (`urn:medprov:delegation`; no key address), and
 *   `verification` ← verified with that RelatedPerson at grantedAt. `patient` stays the patient.
 *
 * KR Core (HL7 Korea's R4 core profiles) is not claimed in `meta.profile`: nothing here has
 * been checked against those profiles. The resource is plain R4, validated against the R4
 * JSON schema and invariants in the tests.
 */
export function grantToConsent(grant: ConsentGrant, asOf: number): Consent {
  const { purpose, scope, trialId } = purposeOf(grant);
  const status = effectiveStatus(grant, asOf);
  const patient = patientReference(grant.hospital, grant.patientRef);
  const guardian: Reference | undefined =
    grant.signedBy === 'guardian' && grant.delegationId ? { type: 'RelatedPerson', identifier: { system: MEDPROV_SYSTEMS.delegation, value: grant.delegationId } } : undefined;
  const extension: Extension[] | undefined =
    trialId !== undefined
      ? [{ url: RESEARCH_STUDY_CONTEXT, valueReference: { type: 'ResearchStudy', identifier: { system: trialSystem(grant.grantee), value: trialId } } }]
      : undefined;
  const provision: ConsentProvision = {
    ...(extension ? { extension } : {}),
    type: 'permit',
    period: { start: instantOfSeconds(grant.validFrom), end: instantOfSeconds(grant.validUntil - 1) },
    actor: [
      {
        role: { coding: [{ system: PARTICIPATION_TYPE, code: 'IRCP', display: 'information recipient' }] },
        reference: organisationReference(grant.grantee),
      },
    ],
    action: [{ coding: [{ system: CONSENT_ACTION, code: 'access', display: 'Access' }] }],
    purpose: [purpose],
    class: [{ system: RESOURCE_TYPES, code: 'DocumentReference' }],
    ...(grant.categories.length > 0 ? { code: grant.categories.map((c) => ({ coding: [categoryCoding(c)] })) } : {}),
    ...(grant.recordIds.length > 0
      ? {
          data: grant.recordIds.map((recordId) => ({
            meaning: 'instance' as const,
            reference: { type: 'DocumentReference', identifier: { system: recordSystem(grant.hospital), value: recordId } },
          })),
        }
      : {}),
  };
  return {
    resourceType: 'Consent',
    id: grant.grantId.replace(/^0x/, ''),
    meta: { lastUpdated: grant.revocation?.at ?? grant.grantedAt },
    identifier: [{ use: 'official', system: MEDPROV_SYSTEMS.consentGrant, value: grant.grantId }],
    status: status === 'revoked' || status === 'expired' ? 'inactive' : 'active',
    scope: {
      coding: [
        scope === 'research'
          ? { system: CONSENT_SCOPE, code: 'research', display: 'Research' }
          : { system: CONSENT_SCOPE, code: 'patient-privacy', display: 'Privacy Consent' },
      ],
    },
    category: [{ coding: [{ system: LOINC, code: '59284-0', display: 'Patient Consent' }] }],
    patient,
    dateTime: grant.grantedAt,
    performer: [guardian ?? patient],
    organization: [organisationReference(grant.hospital)],
    policyRule: { coding: [{ system: ACT_CODE, code: 'OPTIN', display: 'opt-in' }] },
    ...(guardian ? { verification: [{ verified: true, verifiedWith: guardian, verificationDate: grant.grantedAt }] } : {}),
    provision,
  };
}

/** A patient's grants as R4 Consents in one Bundle (type collection), as they stand at `asOf`. */
export function grantsToConsentBundle(grants: readonly ConsentGrant[], asOf: number): Bundle<Consent> {
  return collectionBundle(
    grants.map((g) => grantToConsent(g, asOf)),
    instantOfSeconds(asOf),
  );
}
