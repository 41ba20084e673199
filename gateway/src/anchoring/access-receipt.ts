/**
 * Consent-bound provenance receipts, version 1, and their offline verifier. Browser-safe: the
 * Verify page bundles it (with ethers' EIP-712 hashing and signature recovery, which the page's
 * other verifier leaves out).
 *
 * When an insurer or sponsor accesses a record and a patient's grant permits it,
 * `Access:accessRecord` stores and announces a {@link ConsentedAccess}: the document's hash, its
 * issuer, record and version, the grant in force (its id and the patient's EIP-712 signature),
 * the purpose, the recipient, the transaction id and time. Every org's anchor log turns that into
 * one leaf, the way archives ride in it (ledger-source.ts):
 *
 * - `leaf.docHash` = SHA-256 of the consented access's canonical JSON (sorted keys, no whitespace,
 *   UTF-8: {@link consentedAccessHash});
 * - `leaf.issuer` = the recipient, `leaf.recordId` = `access:<txId>`, `leaf.version` = 1,
 *   `leaf.anchoredAt` = the access's time, `leaf.txId` = its transaction, `leaf.blockNumber` = its block.
 *
 * So a receipt binds, in one object that an auditor checks offline, "this recipient read this
 * exact document, under this consent, at this time":
 *
 * ```json
 * { "version": 1, "kind": "consented-access",
 *   "access": { "channel", "docHash", "issuer", "recordId", "version", "category", "grantId",
 *               "patient", "signature", "purpose", "recipient", "txId", "at" },
 *   "grant": { the EIP-712 ConsentGrant message the patient signed },
 *   "logReceipt": { a receipt of the anchor log whose leaf is the access's leaf } }
 * ```
 *
 * Checks ({@link verifyAccessReceipt}): the access's fields hash to the log leaf's docHash and the
 * leaf names the access's recipient, transaction and time; the log receipt's proof leads to its
 * checkpoint root (that the root is on the EVM chain is `verifyReceiptOnChain(receipt.logReceipt)`);
 * the grant message hashes (EIP-712, domain bound to `access.channel`) to `access.grantId`; the
 * signature over it recovers `access.patient`; the grant names the issuer, the recipient as
 * grantee, the purpose, a scope holding the record (by id or category), and a validity window
 * holding the access's time; and, when given, the document hashes to `access.docHash`. Any field
 * changed fails at least one of them, and each failure is a sentence naming what failed.
 *
 * A grant a guardian signed for the patient says so (`access.signedBy: "guardian"`, `delegationId`):
 * `access.patient` is then the guardian's address. That the delegation was in force is what the
 * chaincode checked when the grant was made; the receipt names it (`Guardians` on the ledger has
 * it) but does not prove it offline.
 *
 * What it does not say: that the grant was not revoked later (revocation is forward-only; the
 * chaincode checked it at the time), nor anything about accesses that consent did not permit
 * (denied ones are in the patient's access log; a break-glass access has no grant and no receipt).
 *
 * @module
 */
import { getAddress, recoverAddress, TypedDataEncoder } from 'ethers';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { ACCESS_LEAF_PREFIX, type ConsentedAccess } from '../../../chaincode/src/lib/access-receipt-model';
import { canonicalJson } from '../../../chaincode/src/lib/canonical-json';
import { CONSENT_GRANT_TYPES, consentDomain, type ConsentGrantMessage } from '../../../chaincode/src/lib/eip712';
import { AnchoringError } from './errors';
import type { AnchoredFields } from './source';
import {
  documentHashHex,
  malformed,
  parseReceipt,
  receiptValue,
  requireCount,
  requireHashHex,
  requireShape,
  verifyReceipt,
  type Receipt,
  type VerificationResult,
  type VerifyOptions,
} from './receipt';

export { ACCESS_LEAF_PREFIX, type ConsentedAccess } from '../../../chaincode/src/lib/access-receipt-model';

/** The access receipt format version. */
export const ACCESS_RECEIPT_VERSION = 1;

/** The `kind` that tells a consent-bound access receipt from the other receipts. */
export const ACCESS_RECEIPT_KIND = 'consented-access';

/** A consent-bound provenance receipt (see the module comment). */
export interface AccessReceipt {
  readonly version: 1;
  readonly kind: typeof ACCESS_RECEIPT_KIND;
  readonly access: ConsentedAccess;
  readonly grant: ConsentGrantMessage;
  readonly logReceipt: Receipt;
}

const encoder = new TextEncoder();
const RECEIPT_KEYS = ['version', 'kind', 'access', 'grant', 'logReceipt'] as const;
const ACCESS_KEYS = ['channel', 'docHash', 'issuer', 'recordId', 'version', 'category', 'grantId', 'patient', 'signature', 'signedBy', 'delegationId', 'purpose', 'recipient', 'txId', 'at'] as const;
const ACCESS_REQUIRED = ACCESS_KEYS.filter((k) => k !== 'signedBy' && k !== 'delegationId');
const GRANT_KEYS = ['hospital', 'patientRef', 'grantee', 'purpose', 'categories', 'recordIds', 'validFrom', 'validUntil', 'nonce'] as const;
// The chaincode's forms (chaincode/src/lib/validate.ts), repeated where the leaf module does not have them.
const MSP_ID = /^[A-Za-z0-9.-]{1,64}$/;
const TEXT = /^[^\u0000]{1,256}$/u;
const BYTES32 = /^0x[0-9a-f]{64}$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const SIGNATURE = /^0x[0-9a-fA-F]{130}$/;
const ISO_MILLIS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** SHA-256 (hex) of a consented access's canonical JSON: the log leaf's docHash. */
export function consentedAccessHash(access: ConsentedAccess): string {
  return bytesToHex(sha256(encoder.encode(canonicalJson(access))));
}

/** What the anchor log holds of a consented access (the leaf without its block number). */
export function consentedAccessLeafFields(access: ConsentedAccess): AnchoredFields {
  return {
    docHash: consentedAccessHash(access),
    issuer: access.recipient,
    recordId: `${ACCESS_LEAF_PREFIX}${access.txId}`,
    version: 1,
    anchoredAt: access.at,
    txId: access.txId,
  };
}

/**
 * Checks a consented access's shape (from a receipt, or an access event).
 *
 * @throws AnchoringError RECEIPT_MALFORMED naming the field
 */
export function parseConsentedAccess(field: string, value: unknown): ConsentedAccess {
  const a = requireShape(field, value, ACCESS_KEYS, ACCESS_REQUIRED);
  const text = (key: (typeof ACCESS_KEYS)[number], form: RegExp, sentence: string): string => {
    const v = a[key];
    if (typeof v !== 'string' || !form.test(v)) throw malformed(`${field}.${key}`, sentence);
    return v;
  };
  const version = requireCount(`${field}.version`, a.version);
  if (version < 1) throw malformed(`${field}.version`, 'must be 1 or more.');
  if ((a.signedBy === undefined) !== (a.delegationId === undefined)) throw malformed(`${field}.signedBy`, 'and delegationId come together (a grant a guardian signed) or not at all.');
  if (a.signedBy !== undefined && a.signedBy !== 'guardian') throw malformed(`${field}.signedBy`, 'must be "guardian".');
  return {
    channel: text('channel', TEXT, 'must be the name of a Fabric channel.'),
    docHash: requireHashHex(`${field}.docHash`, a.docHash),
    issuer: text('issuer', MSP_ID, 'must be an MSP ID of 1 to 64 letters, digits, dots or hyphens.'),
    recordId: text('recordId', TEXT, 'must be a record id.'),
    version,
    category: text('category', TEXT, 'must be a category code.'),
    grantId: text('grantId', BYTES32, 'must be 0x followed by 64 lowercase hexadecimal characters.'),
    patient: text('patient', ADDRESS, 'must be an address: 0x followed by 40 hexadecimal characters.'),
    signature: text('signature', SIGNATURE, 'must be a signature: 0x followed by 130 hexadecimal characters.'),
    ...(a.signedBy !== undefined ? { signedBy: 'guardian' as const, delegationId: text('delegationId', BYTES32, 'must be 0x followed by 64 lowercase hexadecimal characters.') } : {}),
    purpose: text('purpose', TEXT, 'must be a purpose code.'),
    recipient: text('recipient', MSP_ID, 'must be an MSP ID of 1 to 64 letters, digits, dots or hyphens.'),
    txId: requireHashHex(`${field}.txId`, a.txId),
    at: text('at', ISO_MILLIS, 'must be an ISO-8601 UTC timestamp with milliseconds.'),
  };
}

function parseGrantMessage(field: string, value: unknown): ConsentGrantMessage {
  const g = requireShape(field, value, GRANT_KEYS);
  const text = (key: 'hospital' | 'patientRef' | 'grantee' | 'purpose'): string => {
    const v = g[key];
    if (typeof v !== 'string' || !TEXT.test(v)) throw malformed(`${field}.${key}`, 'must be a non-empty string.');
    return v;
  };
  const list = (key: 'categories' | 'recordIds'): string[] => {
    const v = g[key];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw malformed(`${field}.${key}`, 'must be a list of strings.');
    return [...(v as string[])];
  };
  const nonce = g.nonce;
  if (typeof nonce !== 'string' || !BYTES32.test(nonce)) throw malformed(`${field}.nonce`, 'must be 0x followed by 64 lowercase hexadecimal characters.');
  return {
    hospital: text('hospital'),
    patientRef: text('patientRef'),
    grantee: text('grantee'),
    purpose: text('purpose'),
    categories: list('categories'),
    recordIds: list('recordIds'),
    validFrom: requireCount(`${field}.validFrom`, g.validFrom),
    validUntil: requireCount(`${field}.validUntil`, g.validUntil),
    nonce,
  };
}

/**
 * Checks an access receipt's structure and returns it typed (JSON text or a parsed object).
 *
 * @throws AnchoringError RECEIPT_MALFORMED, RECEIPT_UNSUPPORTED_VERSION
 */
export function parseAccessReceipt(input: unknown): AccessReceipt {
  const obj = requireShape('accessReceipt', receiptValue(input, 'accessReceipt'), RECEIPT_KEYS);
  if (obj.version !== ACCESS_RECEIPT_VERSION) {
    throw new AnchoringError('RECEIPT_UNSUPPORTED_VERSION', `This verifier reads access receipt version ${ACCESS_RECEIPT_VERSION}, not ${JSON.stringify(obj.version)}.`, {
      details: { version: obj.version },
    });
  }
  if (obj.kind !== ACCESS_RECEIPT_KIND) throw malformed('accessReceipt.kind', `must be "${ACCESS_RECEIPT_KIND}".`);
  let logReceipt: Receipt;
  try {
    logReceipt = parseReceipt(obj.logReceipt);
  } catch (err) {
    if (err instanceof AnchoringError && err.code === 'RECEIPT_MALFORMED') {
      throw malformed(`accessReceipt.logReceipt (${String(err.details?.field)})`, err.message, err);
    }
    throw err;
  }
  return {
    version: ACCESS_RECEIPT_VERSION,
    kind: ACCESS_RECEIPT_KIND,
    access: parseConsentedAccess('accessReceipt.access', obj.access),
    grant: parseGrantMessage('accessReceipt.grant', obj.grant),
    logReceipt,
  };
}

/** True when `value` (parsed JSON) says it is an access receipt, whether or not it is well-formed. */
export function isAccessReceiptShaped(value: unknown): boolean {
  return value !== null && typeof value === 'object' && (value as { kind?: unknown }).kind === ACCESS_RECEIPT_KIND;
}

/**
 * Verifies a consent-bound receipt offline (see the module comment for every check). It does
 * not contact the EVM chain: check `verifyReceiptOnChain(receipt.logReceipt, provider)` too.
 *
 * @param receipt - the receipt object or its JSON text
 * @param document - the document's bytes; omit to check the receipt alone
 * @throws AnchoringError RECEIPT_MALFORMED / RECEIPT_UNSUPPORTED_VERSION for receipts that are not
 *   well-formed (a well-formed receipt that does not verify gives `valid: false` instead)
 */
export function verifyAccessReceipt(receipt: unknown, document?: Uint8Array, options?: VerifyOptions): VerificationResult {
  const r = parseAccessReceipt(receipt);
  const { access, grant, logReceipt } = r;
  const reasons: string[] = [];
  if (document !== undefined && documentHashHex(document, options) !== access.docHash) {
    reasons.push('The document does not match the receipt: its SHA-256 differs from access.docHash.');
  }

  // The access as the ledger announced it is the log's leaf.
  const expected = consentedAccessLeafFields(access);
  const leaf = logReceipt.leaf;
  if (leaf.docHash !== expected.docHash) {
    reasons.push("The access does not hash to the logged leaf (logReceipt.leaf.docHash): a field of access was changed since the ledger recorded it.");
  }
  if (leaf.issuer !== expected.issuer) reasons.push('The logged leaf names another recipient (logReceipt.leaf.issuer is not access.recipient).');
  if (leaf.recordId !== expected.recordId || leaf.txId !== expected.txId) reasons.push('The logged leaf is of another transaction (logReceipt.leaf.txId or recordId is not access.txId).');
  if (leaf.anchoredAt !== expected.anchoredAt) reasons.push('The logged leaf gives another time (logReceipt.leaf.anchoredAt is not access.at).');
  if (leaf.version !== 1) reasons.push('The logged leaf is not an access (logReceipt.leaf.version is not 1).');
  reasons.push(...verifyReceipt(logReceipt, undefined, options).reasons.map((reason) => `Log receipt: ${reason}`));

  // The grant: the patient signed exactly this message, and it covers this access.
  let digest: string | undefined;
  try {
    digest = TypedDataEncoder.hash(consentDomain(access.channel), CONSENT_GRANT_TYPES, grant);
  } catch {
    reasons.push('The grant cannot be hashed as an EIP-712 ConsentGrant (a value out of range?).');
  }
  if (digest !== undefined) {
    if (digest !== access.grantId) reasons.push('The grant does not hash to access.grantId: a field of grant was changed, or it is another grant.');
    let signer: string | undefined;
    try {
      signer = recoverAddress(digest, access.signature);
    } catch {
      signer = undefined;
    }
    if (signer === undefined || getAddress(signer) !== safeAddress(access.patient)) {
      reasons.push(`access.signature is not the ${access.signedBy === 'guardian' ? "guardian's" : "patient's"} signature over this grant (it does not recover access.patient).`);
    }
  }
  if (grant.hospital !== access.issuer) reasons.push("The grant is for another hospital's records (grant.hospital is not access.issuer).");
  if (grant.grantee !== access.recipient) reasons.push('The grant was given to another organisation (grant.grantee is not access.recipient).');
  if (grant.purpose !== access.purpose) reasons.push('The grant is for another purpose (grant.purpose is not access.purpose).');
  if (!grant.recordIds.includes(access.recordId) && !grant.categories.includes(access.category)) {
    reasons.push("The record is outside the grant's scope (neither access.recordId nor access.category is in it).");
  }
  const at = Math.floor(Date.parse(access.at) / 1000);
  if (!Number.isFinite(at) || at < grant.validFrom || at >= grant.validUntil) {
    reasons.push("The access's time (access.at) is outside the grant's validity (validFrom to validUntil).");
  }
  return { valid: reasons.length === 0, reasons };
}

function safeAddress(address: string): string | undefined {
  try {
    return getAddress(address.toLowerCase());
  } catch {
    return undefined;
  }
}
