/**
 * Key derivation and authenticated encryption for the patient key store. Internal to the
 * privacy package: the index re-exports none of it.
 *
 * Key hierarchy (per store, per master key generation g):
 *
 *   master_g ──HKDF(salt = storeId, info = …/dek)──────► DEK_g     AES-256-GCM of patient keys
 *            ──HKDF(salt = storeId, info = …/file-mac)─► MAC_g     HMAC of the whole file
 *            ──HKDF(no salt,        info = …/key-check)► check_g   recognises the right key
 *   indexSeed (random, wrapped under every live DEK_g)
 *            ──HKDF(salt = storeId, info = …/index)────► orgIndexKey  HMAC(orgIndexKey, id) indexes entries
 *            ──HKDF(salt = storeId, info = …/record-commitment)► K_org  salts of record commitments
 *
 * The storeId salt makes every store's keys distinct even if two orgs were (wrongly) given
 * the same master key. The key check alone is unsalted, so that a damaged storeId shows up
 * as tampering (the key is recognised, the MAC fails) rather than as a wrong key.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync } from 'node:crypto';
import { PrivacyError } from './errors';

/** Version tag of the store format; part of every AAD and HKDF label. */
export const STORE_FORMAT = 'medprov.patient-keys/v1';

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** The working keys derived from one master key generation. */
export interface Keyring {
  readonly generation: number;
  /** Encrypts patient keys and the wrapped index seed. */
  readonly dek: Buffer;
  /** Authenticates the whole store file. */
  readonly macKey: Buffer;
  /** Stored in the file so the right key is recognised without trial decryption. */
  readonly keyCheck: Buffer;
}

function hkdf(ikm: Uint8Array, salt: Uint8Array, label: string, length = 32): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, `${STORE_FORMAT}/${label}`, length));
}

/** Derives generation `generation`'s working keys from a master key for one store. */
export function deriveKeyring(master: Uint8Array, storeId: Uint8Array, generation: number): Keyring {
  return {
    generation,
    dek: hkdf(master, storeId, 'dek'),
    macKey: hkdf(master, storeId, 'file-mac'),
    keyCheck: keyCheckOf(master),
  };
}

/**
 * A 16-byte check value of a master key. One-way (HKDF of a 256-bit key), so storing it
 * reveals nothing usable; it lets the store say "wrong key" instead of failing later with
 * an authentication error that could also mean tampering.
 */
export function keyCheckOf(master: Uint8Array): Buffer {
  return hkdf(master, new Uint8Array(0), 'key-check', 16);
}

/** The org index key: HMAC key for the entry index, derived from the store's index seed. */
export function deriveIndexKey(indexSeed: Uint8Array, storeId: Uint8Array): Buffer {
  return hkdf(indexSeed, storeId, 'index');
}

/**
 * The org's record-commitment key `K_org` (documents/commitment.ts), from the same sealed seed
 * as the index key but under its own label: it lives and rotates with the store without a
 * format change, and no patient's erasure touches it.
 */
export function deriveCommitmentKey(indexSeed: Uint8Array, storeId: Uint8Array): Buffer {
  return hkdf(indexSeed, storeId, 'record-commitment');
}

/** Overwrites a keyring's keys (best effort: Node may hold copies inside OpenSSL). */
export function destroyKeyring(keyring: Keyring): void {
  keyring.dek.fill(0);
  keyring.macKey.fill(0);
}

/** HMAC-SHA256. */
export function hmacSha256(key: Uint8Array, data: string | Uint8Array): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

/**
 * AES-256-GCM with a fresh random 96-bit IV. Returns `iv ‖ ciphertext ‖ tag`.
 *
 * @param aad - binds the ciphertext to where it is stored, so it cannot be moved elsewhere
 */
export function seal(key: Uint8Array, plaintext: Uint8Array, aad: string, random: (size: number) => Buffer): Buffer {
  const iv = random(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]);
}

/**
 * Opens {@link seal}'s output.
 *
 * @param what - what is being opened, for the error sentence
 * @throws PrivacyError STORE_TAMPERED when the tag does not verify (wrong key, changed
 *   bytes, or a ciphertext moved to another entry)
 */
export function unseal(key: Uint8Array, blob: Uint8Array, aad: string, what: string): Buffer {
  if (blob.length < IV_BYTES + TAG_BYTES) {
    throw new PrivacyError('STORE_TAMPERED', `The patient key store failed its integrity check: ${what} is truncated.`);
  }
  const iv = blob.subarray(0, IV_BYTES);
  const tag = blob.subarray(blob.length - TAG_BYTES);
  const body = blob.subarray(IV_BYTES, blob.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch (cause) {
    throw new PrivacyError(
      'STORE_TAMPERED',
      `The patient key store failed its integrity check: ${what} does not authenticate (AES-GCM). The file was modified outside medprov; restore it from a backup.`,
      { cause },
    );
  }
}

/** Base64url without padding. */
export function toB64u(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

const B64U = /^[A-Za-z0-9_-]*$/;

/**
 * Strict base64url decoding: Node's decoder skips unknown characters and ignores stray
 * bits in the last character, so a changed character could decode to the same bytes.
 *
 * @throws PrivacyError STORE_CORRUPT
 */
export function fromB64uStrict(text: unknown, what: string, length?: number): Buffer {
  if (typeof text === 'string' && B64U.test(text)) {
    const bytes = Buffer.from(text, 'base64url');
    if (bytes.toString('base64url') === text && (length === undefined || bytes.length === length)) return bytes;
  }
  throw new PrivacyError('STORE_CORRUPT', `The patient key store file is damaged: ${what} is not valid base64url${length ? ` of ${length} bytes` : ''}.`);
}
