/**
 * The consented access a provenance receipt binds: what `Access:accessRecord` stores and announces
 * when consent permitted the access, so that every org's gateway puts the same leaf in its anchor
 * log. Plain types and constants only: the gateway, the CLI and the Verify page import this
 * without loading the contract runtime.
 *
 * Only an access that a patient's grant permitted gets one. A denied access has no grant in force;
 * a break-glass access has no grant at all; a disclosure (`Access:discloseRecords`) is the
 * hospital's statement, not the recipient's access: none of them is stored or announced here.
 */

/** The log's recordId of a consented access is this prefix and the access's transaction id. */
export const ACCESS_LEAF_PREFIX = 'access:';

/**
 * One consented access, as the ledger stores it under {@link CONSENTED_ACCESS_KEY_TYPE} and the
 * access event carries it. No PHI: hashes, MSP IDs, codes, the patient's per-org address and
 * their signature. The patient's pseudonym (patientRef) is left out, although the grant a
 * receipt carries names it (its signature covers it).
 */
export interface ConsentedAccess {
  /** The Fabric channel: the EIP-712 domain of the grant's signature is bound to it. */
  channel: string;
  /** SHA-256 of the record version accessed (its latest at the access), as its anchor holds it. */
  docHash: string;
  /** MSP ID of the hospital that issued the record. */
  issuer: string;
  recordId: string;
  version: number;
  /** The record's category code (the grant's scope may name it). */
  category: string;
  /** The grant in force: its EIP-712 digest (0x + 64 hex). */
  grantId: string;
  /** The address that signed the grant (EIP-55): the patient's, or the guardian's (`signedBy`). */
  patient: string;
  /** The EIP-712 signature over the grant (0x + 130 hex). */
  signature: string;
  /** Present when a guardian signed the grant for the patient, under the delegation `delegationId`. */
  signedBy?: 'guardian';
  delegationId?: string;
  purpose: string;
  /** MSP ID of the organisation that accessed the record under the grant. */
  recipient: string;
  /** The access transaction's id and timestamp (ISO-8601 UTC, milliseconds). */
  txId: string;
  at: string;
}

/** World-state key type of a consented access, keyed by its transaction id. */
export const CONSENTED_ACCESS_KEY_TYPE = 'medprov.consentedAccess';
