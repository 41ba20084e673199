/**
 * Which transactions also need the caller's certified role: the X.509 attribute `medprov.role`
 * that an organisation's Fabric CA puts in its gateway users' certificates (issue 17). Plain data
 * with no Fabric import, so the gateway reads the same table to choose the enrolled identity it
 * submits a transaction as (gateway/src/fabric/identities.ts).
 *
 * A transaction not listed is decided by organisation type alone (lib/policy.ts TRANSACTION_RULES).
 *
 * @module
 */

/** The X.509 attribute naming a gateway user's role (`records-officer`, `clinician`, …). */
export const ROLE_ATTRIBUTE = 'medprov.role';

/** Fabric CA adds this attribute to every certificate it enrols: its presence says the identity came from a CA. */
export const CA_ENROLLMENT_ATTRIBUTE = 'hf.EnrollmentID';

export const CERTIFIED_ROLES: Readonly<Record<string, readonly string[]>> = {
  // A hospital's records office anchors, amends and retracts its records, registers patients, anchors archives,
  // and records guardians on a legal basis.
  'Records:anchorRecord': ['records-officer'],
  'Records:anchorRecords': ['records-officer'],
  'Records:anchorEach': ['records-officer'],
  'Records:amendRecord': ['records-officer'],
  'Records:retractRecord': ['records-officer'],
  'Consent:registerPatient': ['records-officer'],
  'Archives:anchorArchive': ['records-officer'],
  'Guardians:recordGuardian': ['records-officer'],
  'Guardians:revokeRecordedGuardian': ['records-officer'],
  // Only a clinician breaks the glass; only the data-protection officer records an erasure.
  'Access:breakGlassAccess': ['clinician'],
  'Privacy:recordErasure': ['dpo'],
};
