/**
 * The operator's backup key: an X25519 key pair. Backups are encrypted to its public key (which
 * the gateway may know); its private key, needed only to restore, lives in a key file sealed
 * under the operator's passphrase (scrypt N=2^15, r=8, p=1 → AES-256-GCM), like an Ethereum
 * keystore. Keep the key file and its passphrase apart from the backups (and off the gateway's host).
 *
 * Key file (JSON): `{ format, version, publicKey, kdf: { name, N, r, p, salt }, iv, sealed }`.
 * Public key file: one line `<publicKey>` (43 base64url characters).
 *
 * @module
 */
import { createCipheriv, createDecipheriv, createPrivateKey, generateKeyPairSync, randomBytes, scryptSync, type KeyObject } from 'node:crypto';
import { RecoveryError } from './errors';
import { rawPublicKey } from './backup-format';

const FORMAT = 'medprov.backup-key';
const VERSION = 1;
const KDF = { name: 'scrypt', N: 2 ** 15, r: 8, p: 1 } as const;
/** A passphrase shorter than this is refused when a key is created. */
export const MIN_PASSPHRASE = 12;

interface KeyFile {
  format: string;
  version: number;
  publicKey: string;
  kdf: { name: string; N: number; r: number; p: number; salt: string };
  iv: string;
  sealed: string;
}

function kek(passphrase: string, kdf: KeyFile['kdf']): Buffer {
  return scryptSync(passphrase.normalize('NFC'), Buffer.from(kdf.salt, 'base64url'), 32, { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: 256 * kdf.N * kdf.r });
}

/**
 * A new operator key: the key file's text (private key sealed under `passphrase`) and the public key.
 *
 * @throws RecoveryError BACKUP_KEY_INVALID for a passphrase shorter than {@link MIN_PASSPHRASE}
 */
export function createOperatorKey(passphrase: string): { keyFile: string; publicKey: string } {
  if (passphrase.length < MIN_PASSPHRASE) throw new RecoveryError('BACKUP_KEY_INVALID', `The passphrase must be at least ${MIN_PASSPHRASE} characters long.`);
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const d = Buffer.from((privateKey.export({ format: 'jwk' }) as { d: string }).d, 'base64url');
  const kdf = { ...KDF, salt: randomBytes(16).toString('base64url') };
  const key = kek(passphrase, kdf);
  const iv = randomBytes(12);
  const pub = rawPublicKey(publicKey);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(pub));
  const sealed = Buffer.concat([cipher.update(d), cipher.final(), cipher.getAuthTag()]);
  d.fill(0);
  key.fill(0);
  const file: KeyFile = { format: FORMAT, version: VERSION, publicKey: pub, kdf, iv: iv.toString('base64url'), sealed: sealed.toString('base64url') };
  return { keyFile: `${JSON.stringify(file, null, 2)}\n`, publicKey: pub };
}

/** The public key in a key file (no passphrase needed). */
export function operatorPublicKey(keyFileText: string): string {
  return parseKeyFile(keyFileText).publicKey;
}

/**
 * The operator's private key from its key file.
 *
 * @throws RecoveryError BACKUP_KEY_INVALID (not a key file, or the wrong passphrase)
 */
export function openOperatorKey(keyFileText: string, passphrase: string): KeyObject {
  const file = parseKeyFile(keyFileText);
  const key = kek(passphrase, file.kdf);
  try {
    const sealed = Buffer.from(file.sealed, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(file.iv, 'base64url'));
    decipher.setAAD(Buffer.from(file.publicKey));
    decipher.setAuthTag(sealed.subarray(sealed.length - 16));
    const d = Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]);
    const privateKey = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: d.toString('base64url'), x: file.publicKey }, format: 'jwk' });
    d.fill(0);
    return privateKey;
  } catch (err) {
    throw new RecoveryError('BACKUP_KEY_INVALID', 'The passphrase does not open this backup key file (or the file was altered).', { cause: err });
  } finally {
    key.fill(0);
  }
}

function parseKeyFile(text: string): KeyFile {
  let file: KeyFile;
  try {
    file = JSON.parse(text) as KeyFile;
  } catch (err) {
    throw new RecoveryError('BACKUP_KEY_INVALID', 'This is not a medprov backup key file (not JSON).', { cause: err });
  }
  if (file?.format !== FORMAT || file.version !== VERSION || file.kdf?.name !== 'scrypt' || typeof file.publicKey !== 'string' || typeof file.sealed !== 'string') {
    throw new RecoveryError('BACKUP_KEY_INVALID', 'This is not a medprov backup key file (or of a version this code does not read).');
  }
  if (!(file.kdf.N >= 2 ** 14 && file.kdf.N <= 2 ** 20 && file.kdf.r >= 1 && file.kdf.r <= 32 && file.kdf.p >= 1 && file.kdf.p <= 16)) {
    throw new RecoveryError('BACKUP_KEY_INVALID', 'The backup key file names scrypt parameters out of range.');
  }
  return file;
}
