/**
 * The privacy layer of an org's gateway: per-patient keys and patientRef derivation,
 * erasure by crypto-shredding, master key rotation, and the research release check.
 * No Express, no Fabric SDK: routes and the CLI call these functions.
 *
 * Internal modules (sealing, store-format) are deliberately not re-exported.
 */
export { PRIVACY_ERROR_CODES, PrivacyError, isPrivacyError, type PrivacyErrorCode } from './errors';
export {
  MASTER_KEY_BYTES,
  MASTER_KEY_ENV,
  MasterKey,
  PREVIOUS_MASTER_KEY_ENV,
  masterKeysFromEnv,
  type ConfiguredMasterKeys,
} from './master-key';
export {
  MAX_IDENTIFIER_LENGTH,
  PATIENT_KEY_BYTES,
  assertNoDirectIdentifier,
  canonicalPatientId,
  derivePatientRef,
  describeDirectIdentifierKind,
  findDirectIdentifiers,
  looksLikeDirectIdentifier,
  type DirectIdentifierKind,
} from './pseudonym';
export {
  DEFAULT_ROTATION_BATCH,
  DEFAULT_STORE_FILE,
  PatientKeyStore,
  type ErasureRecord,
  type KeyStoreStatus,
  type PatientKeyStoreOptions,
  type PatientStatus,
  type Registration,
  type RegistrationOptions,
  type RotationReport,
} from './patient-keys';
export {
  MasterKeyRotation,
  NEXT_MASTER_KEY_FILE_ENV,
  ROTATION_REFUSALS,
  nextMasterKeyFromFile,
  type NextMasterKeySource,
  type RotationProgress,
} from './rotation';
export {
  ageBand,
  ageBandFromBirthDate,
  assertReleasable,
  birthYear,
  checkKAnonymity,
  equivalenceClasses,
  generalise,
  suppressBelowK,
  truncateCode,
  type EquivalenceClass,
  type GeneralisationRules,
  type KAnonymityOptions,
  type KAnonymityReport,
  type QuasiValue,
  type ReleaseRow,
} from './k-anonymity';
