/**
 * The one error type of the chaincode layer.
 *
 * Fabric hands a failed transaction's message to the client as a string, so the stable
 * machine code travels as its prefix: `CODE: sentence`. The gateway splits it back with
 * {@link parseChaincodeError} and maps the code to an HTTP status.
 */
export const CHAINCODE_ERROR_CODES = [
  'INVALID_ARGUMENT',
  'INVALID_JSON',
  'UNKNOWN_FIELD',
  'FORBIDDEN_ORG_TYPE',
  'FORBIDDEN_NOT_ISSUER',
  'FORBIDDEN_NOT_ADMIN',
  'CONSORTIUM_NOT_CONFIGURED',
  'CONSORTIUM_ALREADY_CONFIGURED',
  'ORG_NOT_IN_CONSORTIUM',
  'RECORD_NOT_FOUND',
  'RECORD_EXISTS',
  'RECORD_RETRACTED',
  'DOC_HASH_CLAIMED',
  'BATCH_INVALID',
  'FORBIDDEN_OTHER_ORG',
  'SIGNATURE_INVALID',
  'SIGNER_NOT_PATIENT',
  'PATIENT_NOT_REGISTERED',
  'PATIENT_ALREADY_REGISTERED',
  'PATIENT_KEY_IN_USE',
  'NONCE_REUSED',
  'GRANT_NOT_FOUND',
  'UNKNOWN_TRANSACTION',
  'TRANSACTION_TIME_SKEWED',
  'ARCHIVE_EXISTS',
  'FORBIDDEN_ROLE',
  'BREAK_GLASS_REASON_REQUIRED',
  'BREAK_GLASS_REASON_UNKNOWN',
  'BREAK_GLASS_RATE_EXCEEDED',
  'DELEGATION_NOT_FOUND',
  'DELEGATION_REVOKED',
  'DELEGATION_EXPIRED',
  'DELEGATION_NOT_YET_VALID',
  'DELEGATION_OUT_OF_SCOPE',
  'DELEGATION_NOT_REVOCABLE',
  'SIGNER_NOT_GUARDIAN',
  'GUARDIAN_KEY_IN_USE',
  // Research linkage (contracts/linkage.ts).
  'LINKAGE_NOT_FOUND',
  'LINKAGE_EXISTS',
  'LINKAGE_NOT_PARTY',
  'LINKAGE_ALREADY_CONTRIBUTED',
  'LINKAGE_INCOMPLETE',
  'LINKAGE_CLOSED',
] as const;
export type ChaincodeErrorCode = (typeof CHAINCODE_ERROR_CODES)[number];

export class ChaincodeError extends Error {
  readonly code: ChaincodeErrorCode;

  constructor(code: ChaincodeErrorCode, sentence: string) {
    super(`${code}: ${sentence}`);
    this.name = 'ChaincodeError';
    this.code = code;
  }
}

// Only our own codes: Fabric's wrappers carry upper-case words of their own (ABORTED: …).
const CODED_MESSAGE = new RegExp(`\\b(${CHAINCODE_ERROR_CODES.join('|')}): (.+)$`, 's');

/** Recovers `{ code, message }` from a chaincode error message, wherever Fabric wrapped it. */
export function parseChaincodeError(text: string): { code: string; message: string } | undefined {
  const match = CODED_MESSAGE.exec(text);
  return match ? { code: match[1], message: match[2] } : undefined;
}
