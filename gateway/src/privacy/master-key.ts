import { randomBytes, timingSafeEqual } from 'node:crypto';
import { inspect } from 'node:util';
import { PrivacyError } from './errors';

/** Environment variable holding the org's current master key. */
export const MASTER_KEY_ENV = 'MEDPROV_MASTER_KEY';
/**
 * Environment variable holding the previous master key(s), comma-separated. Only needed
 * while a rotation is unfinished (for example after a restart in the middle of one).
 */
export const PREVIOUS_MASTER_KEY_ENV = 'MEDPROV_MASTER_KEY_PREVIOUS';
/** A master key is exactly this many bytes (AES-256 / HMAC-SHA256 strength). */
export const MASTER_KEY_BYTES = 32;

const HEX_KEY = /^[0-9a-fA-F]{64}$/;
const BASE64_KEY = /^[A-Za-z0-9+/]{43}=?$/;
const BASE64URL_KEY = /^[A-Za-z0-9_-]{43}=?$/;

// The bytes live outside the object so that no property, spread, JSON.stringify or
// structured clone of a MasterKey can reveal them; only this package reads them.
const secretBytes = new WeakMap<MasterKey, Buffer>();

/**
 * The org's master key: 32 random bytes from configuration. It never encrypts data itself;
 * the key store derives its working keys from it with HKDF. Printing, logging or
 * serialising a MasterKey shows `[MasterKey redacted]`.
 */
export class MasterKey {
  private constructor(bytes: Buffer) {
    secretBytes.set(this, bytes);
  }

  /**
   * Parses a key written as 64 hex digits or as base64 / base64url (43 characters, optional
   * `=`). Surrounding whitespace (a trailing newline from a secrets file) is ignored.
   *
   * @param text - the configured value
   * @param source - where it came from, named in error sentences (never the value itself)
   * @throws PrivacyError MASTER_KEY_MISSING, MASTER_KEY_MALFORMED or MASTER_KEY_WEAK
   */
  static parse(text: string | undefined, source: string = MASTER_KEY_ENV): MasterKey {
    if (text === undefined || text.trim() === '') {
      throw new PrivacyError(
        'MASTER_KEY_MISSING',
        `${cap(source)} is not set. Set it to 32 random bytes as 64 hex digits (for example the output of \`openssl rand -hex 32\`), kept in the org's secret store.`,
      );
    }
    const value = text.trim();
    let bytes: Buffer | undefined;
    if (HEX_KEY.test(value)) {
      bytes = Buffer.from(value, 'hex');
    } else if (BASE64_KEY.test(value) || BASE64URL_KEY.test(value)) {
      const url = BASE64URL_KEY.test(value);
      const decoded = Buffer.from(value, url ? 'base64url' : 'base64');
      // Round-trip check: Node's decoder ignores stray bits in the last character, so two
      // different strings could otherwise name the same key (or a typo pass unnoticed).
      const reencoded = decoded.toString(url ? 'base64url' : 'base64').replace(/=+$/, '');
      if (decoded.length === MASTER_KEY_BYTES && reencoded === value.replace(/=+$/, '')) bytes = decoded;
    }
    if (!bytes) {
      throw new PrivacyError(
        'MASTER_KEY_MALFORMED',
        `${cap(source)} must be exactly 32 bytes written as 64 hex digits or 44 base64 characters; the configured value (${value.length} characters) is neither. Generate one with \`openssl rand -hex 32\`.`,
      );
    }
    return MasterKey.fromBytes(bytes, source);
  }

  /**
   * Wraps 32 raw bytes (copied). Refuses keys that are evidently not random.
   *
   * @throws PrivacyError MASTER_KEY_MALFORMED (wrong length) or MASTER_KEY_WEAK
   */
  static fromBytes(bytes: Uint8Array, source = 'the master key'): MasterKey {
    if (bytes.length !== MASTER_KEY_BYTES) {
      throw new PrivacyError('MASTER_KEY_MALFORMED', `${cap(source)} must be exactly 32 bytes; got ${bytes.length}.`);
    }
    const copy = Buffer.from(bytes);
    const weakness = weaknessOf(copy);
    if (weakness) {
      copy.fill(0);
      throw new PrivacyError(
        'MASTER_KEY_WEAK',
        `${cap(source)} is not a random key: ${weakness}. Generate one with \`openssl rand -hex 32\` and keep it in the org's secret store.`,
      );
    }
    return new MasterKey(copy);
  }

  /** A fresh key from the system CSPRNG (for set-up tooling and tests). */
  static generate(): MasterKey {
    return new MasterKey(randomBytes(MASTER_KEY_BYTES));
  }

  /** Constant-time comparison with another key. */
  equals(other: MasterKey): boolean {
    return timingSafeEqual(masterKeyBytes(this), masterKeyBytes(other));
  }

  /** Overwrites the key bytes; the object is unusable afterwards. */
  destroy(): void {
    secretBytes.get(this)?.fill(0);
    secretBytes.delete(this);
  }

  /** Never the key. */
  toString(): string {
    return '[MasterKey redacted]';
  }

  /** Never the key. */
  toJSON(): string {
    return '[MasterKey redacted]';
  }

  /** Never the key. */
  [inspect.custom](): string {
    return '[MasterKey redacted]';
  }
}

/**
 * The raw bytes of a master key. Internal to the privacy package (not exported from its
 * index): only key derivation may see them.
 *
 * @throws PrivacyError MASTER_KEY_MISSING if the key was destroyed
 */
export function masterKeyBytes(key: MasterKey): Buffer {
  const bytes = secretBytes.get(key);
  if (!bytes) throw new PrivacyError('MASTER_KEY_MISSING', 'This master key object has been destroyed and can no longer be used.');
  return bytes;
}

/** The keys a gateway process needs to open its patient key store. */
export interface ConfiguredMasterKeys {
  /** The current key ({@link MASTER_KEY_ENV}). */
  masterKey: MasterKey;
  /** Previous keys ({@link PREVIOUS_MASTER_KEY_ENV}), empty unless a rotation is unfinished. */
  previousMasterKeys: MasterKey[];
}

/**
 * Reads {@link MASTER_KEY_ENV} and the optional {@link PREVIOUS_MASTER_KEY_ENV}.
 *
 * @param env - the environment to read (defaults to `process.env`)
 * @throws PrivacyError MASTER_KEY_MISSING, MASTER_KEY_MALFORMED or MASTER_KEY_WEAK
 */
export function masterKeysFromEnv(env: NodeJS.ProcessEnv = process.env): ConfiguredMasterKeys {
  const masterKey = MasterKey.parse(env[MASTER_KEY_ENV], MASTER_KEY_ENV);
  const previous = (env[PREVIOUS_MASTER_KEY_ENV] ?? '')
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  return {
    masterKey,
    previousMasterKeys: previous.map((part, i) => MasterKey.parse(part, `${PREVIOUS_MASTER_KEY_ENV} (entry ${i + 1})`)),
  };
}

/** Source names start sentences. */
function cap(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * Why 32 bytes are evidently not random, or undefined. Each test below fails for a
 * CSPRNG output with probability under 1e-13, so a real key is never refused, while the
 * usual mistakes (a hex-encoded passphrase, a repeated or counting pattern) are caught.
 */
function weaknessOf(bytes: Buffer): string | undefined {
  const distinct = new Set(bytes).size;
  if (distinct === 1) return 'all 32 bytes are the same';
  const step = (bytes[1] - bytes[0] + 256) % 256;
  let counting = true;
  for (let i = 2; i < bytes.length && counting; i++) counting = (bytes[i] - bytes[i - 1] + 256) % 256 === step;
  if (counting) return 'its bytes form a simple counting sequence';
  // 32 uniform draws from 256 values give about 30 distinct bytes; 16 or fewer essentially never.
  if (distinct <= 16) return `it has only ${distinct} distinct byte values, as a repeated pattern does`;
  // (95/256)^32 ≈ 1.7e-14: a random key is never all printable ASCII, a hex-encoded password is.
  if (bytes.every((b) => b >= 0x20 && b <= 0x7e)) return 'every byte is printable text, as in a hex-encoded passphrase';
  return undefined;
}
