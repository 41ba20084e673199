import { ChaincodeError } from './errors';

/** Largest single argument the chaincode accepts, in UTF-16 code units. */
export const MAX_ARGUMENT_LENGTH = 1_048_576;

const SHA256_HEX = /^[0-9a-f]{64}$/;
// Opaque identifiers: letters and digits of any script plus a few separators. No spaces,
// no control characters, nothing that could end or forge a composite-key segment.
const OPAQUE_ID = /^[\p{L}\p{N}._:/#@+-]+$/u;
const CODE = /^[A-Za-z0-9._:-]+$/;
const MSP_ID = /^[A-Za-z0-9.-]{1,64}$/;

function fail(field: string, sentence: string): never {
  throw new ChaincodeError('INVALID_ARGUMENT', `${field} ${sentence}`);
}

/**
 * Composite-key attributes must not contain U+0000 (the segment separator) or U+10FFFF
 * (the range-end marker); either would let one key masquerade as a range of others.
 */
export function assertKeySafe(field: string, value: string): void {
  if (value.includes('\u0000') || value.includes('\u{10FFFF}')) {
    fail(field, 'must not contain U+0000 or U+10FFFF.');
  }
}

export function requireString(field: string, value: unknown, maxLength: number): string {
  if (typeof value !== 'string') fail(field, `must be a string, got ${describe(value)}.`);
  if (value.length === 0) fail(field, 'must not be empty.');
  if ([...value].length > maxLength) fail(field, `must be at most ${maxLength} characters long.`);
  assertKeySafe(field, value);
  if (/\p{Cc}/u.test(value)) fail(field, 'must not contain control characters.');
  return value;
}

/** A SHA-256 digest as 64 lowercase hex characters. */
export function requireSha256Hex(field: string, value: unknown): string {
  if (typeof value !== 'string' || !SHA256_HEX.test(value)) {
    fail(field, 'must be a SHA-256 digest: 64 lowercase hexadecimal characters.');
  }
  return value;
}

export function requireOpaqueId(field: string, value: unknown, maxLength = 128): string {
  const s = requireString(field, value, maxLength);
  if (!OPAQUE_ID.test(s)) {
    fail(field, 'may contain only letters, digits and . _ : / # @ + - (no spaces).');
  }
  return s;
}

export function requireCode(field: string, value: unknown, maxLength = 64): string {
  const s = requireString(field, value, maxLength);
  if (!CODE.test(s)) fail(field, 'must be a code of letters, digits and . _ : - only.');
  return s;
}

export function requireMspId(field: string, value: unknown): string {
  if (typeof value !== 'string' || !MSP_ID.test(value)) {
    fail(field, 'must be an MSP ID of 1 to 64 letters, digits, dots or hyphens.');
  }
  return value;
}

export function requirePositiveInt(field: string, value: unknown, max = 1_000_000_000): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    fail(field, `must be a whole number from 1 to ${max}.`);
  }
  return value;
}

export function requireOneOf<T extends string>(field: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    fail(field, `must be one of ${allowed.join(', ')}.`);
  }
  return value as T;
}

/** Parses a JSON argument, refusing oversized input and anything but the expected shape. */
export function parseJsonArgument(field: string, raw: string): unknown {
  if (typeof raw !== 'string' || raw.length === 0) fail(field, 'must be a non-empty JSON text.');
  if (raw.length > MAX_ARGUMENT_LENGTH) fail(field, `must be at most ${MAX_ARGUMENT_LENGTH} characters.`);
  try {
    return JSON.parse(raw);
  } catch {
    throw new ChaincodeError('INVALID_JSON', `${field} is not valid JSON.`);
  }
}

/** Returns the object if it has only the allowed keys; names the first unknown one otherwise. */
export function requireObject(field: string, value: unknown, allowedKeys: readonly string[]): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    fail(field, `must be a JSON object, got ${describe(value)}.`);
  }
  for (const key of Object.keys(value)) {
    if (!allowedKeys.includes(key)) {
      throw new ChaincodeError('UNKNOWN_FIELD', `${field} has an unknown field "${key.slice(0, 64)}"; allowed: ${allowedKeys.join(', ')}.`);
    }
  }
  return value as Record<string, unknown>;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

// ---- consent: EIP-712 values -------------------------------------------------------------

const BYTES32_HEX = /^0x[0-9a-f]{64}$/;
const SIGNATURE_HEX = /^0x[0-9a-fA-F]{130}$/;
const ADDRESS_HEX = /^0x[0-9a-fA-F]{40}$/;
const PURPOSE = /^(treatment|claims|research:[A-Za-z0-9._-]{1,64})$/;

/** Latest second an ISO-8601 date can show with a four-digit year (9999-12-31T23:59:59Z). */
export const MAX_UNIX_SECONDS = 253_402_300_799;

/**
 * A 32-byte value as 0x + 64 lowercase hex. Lowercase only: the signature covers the bytes,
 * so accepting both cases would give one nonce two ledger keys and let it be used twice.
 */
export function requireBytes32Hex(field: string, value: unknown): string {
  if (typeof value !== 'string' || !BYTES32_HEX.test(value)) {
    fail(field, 'must be 32 bytes as 0x followed by 64 lowercase hexadecimal characters.');
  }
  return value;
}

/** A 65-byte secp256k1 signature (r ‖ s ‖ v) as 0x + 130 hex characters. */
export function requireSignatureHex(field: string, value: unknown): string {
  if (typeof value !== 'string' || !SIGNATURE_HEX.test(value)) {
    fail(field, 'must be a 65-byte signature: 0x followed by 130 hexadecimal characters.');
  }
  return value.toLowerCase();
}

/**
 * The shape of an Ethereum address (0x + 40 hex). The checksum of a mixed-case address and
 * the normalised form are the caller's job (see normaliseAddress in consent.ts).
 */
export function requireAddressHex(field: string, value: unknown): string {
  if (typeof value !== 'string' || !ADDRESS_HEX.test(value)) {
    fail(field, 'must be an address: 0x followed by 40 hexadecimal characters.');
  }
  return value;
}

/** treatment, claims or research:<trialId>. */
export function requirePurpose(field: string, value: unknown): string {
  if (typeof value !== 'string' || !PURPOSE.test(value)) {
    fail(field, 'must be treatment, claims or research:<trialId> (trialId: 1 to 64 letters, digits, . _ -).');
  }
  return value;
}

/** Whole Unix seconds, from 0 to the end of year 9999, as a JSON number. */
export function requireUnixSeconds(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_UNIX_SECONDS) {
    fail(field, `must be whole Unix seconds from 0 to ${MAX_UNIX_SECONDS}.`);
  }
  return value;
}

/** A list of at most maxItems distinct strings, each checked by the item validator. */
export function requireDistinctList(
  field: string,
  value: unknown,
  maxItems: number,
  item: (field: string, value: unknown) => string,
): string[] {
  if (!Array.isArray(value)) fail(field, `must be a list, got ${describe(value)}.`);
  if (value.length > maxItems) fail(field, `must hold at most ${maxItems} entries.`);
  const seen = new Set<string>();
  return value.map((v: unknown, i: number) => {
    const s = item(`${field}[${i}]`, v);
    if (seen.has(s)) fail(`${field}[${i}]`, `repeats "${s}".`);
    seen.add(s);
    return s;
  });
}
