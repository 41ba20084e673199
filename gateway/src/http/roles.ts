/** What a gateway user is, in the organisation's own words. */
/**
 * At a research linkage institution (org type `linkage`): `linkage-officer` runs its linkages;
 * `linkage-partner` is the user the institution issued to each hospital's and sponsor's gateway
 * (which org it is: the institution's linkage settings, `partners`).
 */
export const ROLES = ['records-officer', 'claims-officer', 'research-officer', 'dpo', 'admin', 'clinician', 'linkage-officer', 'linkage-partner'] as const;
export type Role = (typeof ROLES)[number];

/** Which roles may use which operation: the gateway's one authorisation table. */
export const OPERATION_ROLES = {
  whoami: ROLES,
  hashDocument: ROLES,
  anchorRecord: ['records-officer'],
  anchorBatch: ['records-officer'],
  amendRecord: ['records-officer'],
  retractRecord: ['records-officer'],
  // The DPO follows the ledger record of an erasure (a journalled write) too.
  requestStatus: ['records-officer', 'dpo', 'admin'],
  // Any record of this org; another org's only by claims and research officers, for their purpose,
  // through the consent-checked, logged access (gateway/src/records/reads.ts).
  readRecord: ['records-officer', 'claims-officer', 'research-officer', 'admin'],
  // The same anchors as readRecord, as FHIR R4 Provenance.
  exportProvenance: ['records-officer', 'claims-officer', 'research-officer', 'admin'],
  verifyDocument: ROLES,
  // The hospital's desk: it vouches that this patientRef is the person holding the key.
  requestRegistration: ['records-officer'],
  registerPatient: ['records-officer'],
  createRegistrationLink: ['records-officer'],
  // A query that logs nothing; the DPO answers patients' and regulators' consent questions.
  checkConsent: ['records-officer', 'claims-officer', 'research-officer', 'dpo', 'admin'],
  // A logged, consent-checked access; the purpose must fit the role (see ACCESS_PURPOSES).
  accessRecord: ['claims-officer', 'research-officer'],
  // One grant as FHIR R4 Consent, only at an org party to it (hospital or grantee); claims and
  // research officers only for their own purpose (ACCESS_PURPOSES).
  exportConsent: ['records-officer', 'claims-officer', 'research-officer', 'dpo', 'admin'],
  // The stream of grants and revocations that concern this org (a sponsor's research office, an insurer's claims desk);
  // claims and research officers get those of their own purpose only (ACCESS_PURPOSES).
  watchConsentEvents: ['research-officer', 'claims-officer', 'admin'],
  // A receipt holds hashes, the issuer's MSP, record id, version and times: nothing about the patient.
  issueReceipt: ROLES,
  // Guardians: the records office of the patient's hospital records (and ends) a guardian on a
  // legal basis; GuardianService refuses it at other orgs (FORBIDDEN_ORG_TYPE), as the chaincode does.
  recordGuardian: ['records-officer'],
  revokeRecordedGuardian: ['records-officer'],
  // A consent-bound receipt of an access (the grant in it names the patient's pseudonym): the recipient's
  // claims and research officers (their own purpose, ACCESS_PURPOSES), the issuing hospital's staff who answer for it.
  getAccessReceipt: ['records-officer', 'claims-officer', 'research-officer', 'dpo', 'admin'],
  // Erasure: the data-protection officer destroys a patient's key (and records that, without
  // naming the patient, on the ledger); the record is read by the DPO and the org's admin.
  erasePatient: ['dpo'],
  recordErasure: ['dpo'],
  readErasure: ['dpo', 'admin'],
  // Master key rotation: the new key is read from the gateway's configuration, never sent.
  rotateMasterKey: ['admin'],
  rotationStatus: ['admin'],
  // A backup of the gateway's own state (key store, journal, users), encrypted to the operator's public key.
  backupGateway: ['admin'],
  // Research releases at the patient's hospital: the research office prepares them (the payload
  // goes to the sponsor); the DPO may preview what a release would do, and hands nothing out.
  previewResearchRelease: ['research-officer', 'dpo'],
  prepareResearchRelease: ['research-officer'],
  // Archives: the records office anchors a folder of the hospital's documents as one root; anyone reads the ledger's record of one.
  anchorArchive: ['records-officer'],
  readArchive: ROLES,
  // Research linkage (gateway/src/http/linkage-routes.ts): the sponsor's research office requests and
  // fetches the release; a hospital's contributes its cohort; the institution's partners (hospitals'
  // and sponsors' gateways) call it to evaluate, contribute and fetch; its officer follows requests.
  requestLinkage: ['research-officer'],
  readLinkage: ['research-officer', 'linkage-officer', 'dpo', 'admin'],
  contributeLinkage: ['research-officer', 'linkage-partner'],
  evaluateLinkage: ['linkage-partner'],
  fetchLinkageRelease: ['research-officer', 'linkage-partner'],
  // Break-glass: a hospital's clinician opens a record without consent in an emergency (logged,
  // within the consortium's daily rate); the DPO and the admin read the organisation's audit report.
  breakGlassAccess: ['clinician'],
  auditBreakGlass: ['dpo', 'admin'],
} as const satisfies Record<string, readonly Role[]>;
export type Operation = keyof typeof OPERATION_ROLES;

/** Operations only a hospital's gateway offers: the ledger would refuse them from anyone else. */
export const HOSPITAL_ONLY: readonly Operation[] = ['anchorRecord', 'anchorBatch', 'amendRecord', 'retractRecord', 'requestRegistration', 'registerPatient', 'createRegistrationLink', 'erasePatient', 'recordErasure', 'previewResearchRelease', 'prepareResearchRelease', 'anchorArchive', 'breakGlassAccess', 'auditBreakGlass'];

/**
 * Operations a patient uses without an API key: the patient's EIP-712 signature (in the body,
 * or answering a challenge) is the authentication, and the chaincode checks it again. They
 * have their own per-IP rate limit.
 */
export const PATIENT_OPERATIONS = ['grantConsent', 'revokeConsent', 'requestChallenge', 'listMyGrants', 'listMyAccessLog', 'exportMyConsents', 'openRegistrationLink', 'completeRegistrationLink', 'appointGuardian', 'revokeGuardian', 'grantConsentAsGuardian', 'revokeConsentAsGuardian', 'listGuardianDelegations', 'listMyDelegations', 'readMyRegistration', 'listMyRecords'] as const;
export type PatientOperation = (typeof PATIENT_OPERATIONS)[number];

/**
 * The purposes each role may access records for. The gateway submits every access under the
 * org's one Fabric identity, so this is where a claims officer is kept from reading records
 * "for research" under a sponsor-style grant and the other way round.
 */
export const ACCESS_PURPOSES: Partial<Record<Role, RegExp>> = {
  'claims-officer': /^claims$/,
  'research-officer': /^research:/,
};
