/**
 * The gateway backup file: the state a gateway cannot get back from the ledger (its patient key
 * store, acceptance journal and API users), encrypted to an operator's key and bound to the
 * organisation, channel and consortium it was taken from.
 *
 * ## Layout
 *
 * ```
 * MEDPROV-GATEWAY-BACKUP 1\n
 * <header JSON>\n
 * <AES-256-GCM ciphertext of gzip(payload)><16-byte tag>
 * ```
 *
 * The payload is one JSON line listing the files (path, size, SHA-256), then their bytes one
 * after the other. It is compressed in libuv's thread pool and encrypted in slices, so a gateway
 * taking a backup of 10^5 patients keeps answering meanwhile.
 *
 * The header says, in clear, whose backup it is (`mspId`, `channel`, `consortium`), when it was
 * taken, which files it holds and their sizes, the recipient's public key, the ephemeral public
 * key and the IV. Everything before the ciphertext is the GCM associated data, so a change to the
 * header or the ciphertext fails authentication (BACKUP_TAMPERED) — nothing is restored from a
 * file that is not exactly as written. Each file also carries its SHA-256 inside the payload.
 *
 * ## Encryption: to an operator's X25519 key
 *
 * The gateway never holds a secret of the operator's: it encrypts to the operator's public key
 * (ephemeral X25519, HKDF-SHA256 over the shared secret with both public keys as salt, AES-256-GCM),
 * so a backup can be taken by a scheduled job with the admin's API key alone, and only the holder
 * of the private key (sealed under a passphrase with scrypt, {@link ./operator-key}) can open it.
 *
 * ## Binding
 *
 * `consortium` is the SHA-256 of the TLS root certificate the gateway trusts for its peer (its
 * org's TLS CA): a backup from another deployment of the same names (a test network, another
 * consortium) differs there. A restore compares all three with the gateway it restores to.
 *
 * @module
 */
import { createCipheriv, createDecipheriv, createHash, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzipSync, gzip } from 'node:zlib';
import { RecoveryError } from './errors';

export const BACKUP_MAGIC = 'MEDPROV-GATEWAY-BACKUP 1\n';
export const BACKUP_FORMAT = 'medprov.gateway-backup';
export const BACKUP_VERSION = 1;
const CIPHER = 'X25519-HKDF-SHA256-AES-256-GCM';
const HKDF_INFO = 'medprov gateway backup v1';
const TAG_BYTES = 16;
/** Headers are small; a longer first line means the file is not a backup. */
const MAX_HEADER = 64 * 1024;
const gzipAsync = promisify(gzip);
/** Encrypted per turn of the event loop. */
const SLICE = 1 << 20;

/** Whose state a backup is: refused elsewhere. */
export interface BackupBinding {
  /** The organisation's MSP ID. */
  readonly mspId: string;
  readonly channel: string;
  /** SHA-256 (hex) of the gateway's TLS root certificate for its peer. */
  readonly consortium: string;
}

/** One file of the gateway's folder, by its path relative to that folder. */
export interface BackupFile {
  readonly path: string;
  readonly data: Buffer;
}

/** The clear header of a backup (authenticated, not secret). */
export interface BackupHeader extends BackupBinding {
  readonly format: string;
  readonly version: number;
  readonly createdAt: string;
  /** Path and size of each file inside. */
  readonly files: readonly { path: string; bytes: number }[];
  /** Counts worth showing before a restore (patients, journal requests, users). */
  readonly summary: Readonly<Record<string, number>>;
  readonly cipher: string;
  /** The operator's X25519 public key, base64url (raw 32 bytes). */
  readonly recipient: string;
  readonly ephemeralKey: string;
  readonly iv: string;
}

/** What a backup holds once opened. */
export interface BackupContents {
  readonly header: BackupHeader;
  readonly files: readonly BackupFile[];
}

/** The raw 32 bytes of an X25519 public key, base64url. */
export function rawPublicKey(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' }) as { x?: string; crv?: string };
  if (jwk.crv !== 'X25519' || !jwk.x) throw new RecoveryError('BACKUP_KEY_INVALID', 'The operator key is not an X25519 key.');
  return jwk.x;
}

/**
 * An X25519 public key from its base64url form.
 *
 * @throws RecoveryError BACKUP_KEY_INVALID
 */
export function publicKeyFromRaw(raw: string): KeyObject {
  if (!/^[A-Za-z0-9_-]{43}$/.test(raw)) throw new RecoveryError('BACKUP_KEY_INVALID', 'An operator public key is 43 base64url characters (32 bytes).');
  try {
    return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: raw }, format: 'jwk' });
  } catch (err) {
    throw new RecoveryError('BACKUP_KEY_INVALID', 'The operator public key is not a valid X25519 key.', { cause: err });
  }
}

function aeadKey(shared: Buffer, ephemeral: string, recipient: string): Buffer {
  const salt = Buffer.concat([Buffer.from(ephemeral, 'base64url'), Buffer.from(recipient, 'base64url')]);
  return Buffer.from(hkdfSync('sha256', shared, salt, HKDF_INFO, 32));
}

/**
 * Encrypts `files` to `recipient` as one backup file. Compression runs in the thread pool and
 * encryption in 1 MiB slices between turns of the event loop: a serving gateway stays responsive.
 *
 * @param recipient - the operator's X25519 public key
 */
export async function sealBackup(binding: BackupBinding, files: readonly BackupFile[], recipient: KeyObject, options: { summary?: Record<string, number>; now?: Date } = {}): Promise<Buffer> {
  const recipientRaw = rawPublicKey(recipient);
  const ephemeral = generateKeyPairSync('x25519');
  const ephemeralRaw = rawPublicKey(ephemeral.publicKey);
  const key = aeadKey(diffieHellman({ privateKey: ephemeral.privateKey, publicKey: recipient }), ephemeralRaw, recipientRaw);
  const iv = randomBytes(12);
  const header: BackupHeader = {
    format: BACKUP_FORMAT,
    version: BACKUP_VERSION,
    mspId: binding.mspId,
    channel: binding.channel,
    consortium: binding.consortium,
    createdAt: (options.now ?? new Date()).toISOString(),
    files: files.map((f) => ({ path: f.path, bytes: f.data.length })),
    summary: options.summary ?? {},
    cipher: CIPHER,
    recipient: recipientRaw,
    ephemeralKey: ephemeralRaw,
    iv: iv.toString('base64url'),
  };
  const prefix = Buffer.from(`${BACKUP_MAGIC}${JSON.stringify(header)}\n`);
  const manifest = files.map((f) => ({ path: f.path, bytes: f.data.length, sha256: createHash('sha256').update(f.data).digest('hex') }));
  const payload = await gzipAsync(Buffer.concat([Buffer.from(`${JSON.stringify({ files: manifest })}\n`), ...files.map((f) => f.data)]));
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(prefix);
  const parts: Buffer[] = [prefix];
  for (let at = 0; at < payload.length; at += SLICE) {
    parts.push(cipher.update(payload.subarray(at, at + SLICE)));
    await new Promise((r) => setImmediate(r));
  }
  parts.push(cipher.final(), cipher.getAuthTag());
  key.fill(0);
  return Buffer.concat(parts);
}

/**
 * The clear header, without decrypting: for a look at a backup before restoring it. Not yet
 * authenticated: {@link openBackup} is what vouches for it.
 *
 * @throws RecoveryError BACKUP_UNREADABLE
 */
export function readBackupHeader(bytes: Buffer): { header: BackupHeader; prefixLength: number } {
  const magic = Buffer.from(BACKUP_MAGIC);
  if (bytes.length < magic.length || !bytes.subarray(0, magic.length).equals(magic)) {
    throw new RecoveryError('BACKUP_UNREADABLE', 'This file is not a medprov gateway backup (its first line is not "MEDPROV-GATEWAY-BACKUP 1").');
  }
  const end = bytes.indexOf(0x0a, magic.length);
  if (end < 0 || end - magic.length > MAX_HEADER) throw new RecoveryError('BACKUP_UNREADABLE', 'The backup header is missing or cut short.');
  let header: BackupHeader;
  try {
    header = JSON.parse(bytes.subarray(magic.length, end).toString('utf8')) as BackupHeader;
  } catch (err) {
    throw new RecoveryError('BACKUP_TAMPERED', 'The backup header is not valid JSON: the file was altered or damaged.', { cause: err });
  }
  if (header.format !== BACKUP_FORMAT || header.version !== BACKUP_VERSION || header.cipher !== CIPHER) {
    throw new RecoveryError('BACKUP_UNREADABLE', `This backup's format (${String(header.format)} ${String(header.version)}, ${String(header.cipher)}) is not one this version reads.`);
  }
  for (const field of ['mspId', 'channel', 'consortium', 'createdAt', 'recipient', 'ephemeralKey', 'iv'] as const) {
    if (typeof header[field] !== 'string') throw new RecoveryError('BACKUP_TAMPERED', `The backup header lacks ${field}: the file was altered or damaged.`);
  }
  return { header, prefixLength: end + 1 };
}

/**
 * Decrypts and checks a backup: the operator's key, the authentication of header and content,
 * each file's digest, and (with `expected`) that it is this organisation's, channel's and
 * consortium's.
 *
 * @param privateKey - the operator's X25519 private key
 * @throws RecoveryError BACKUP_UNREADABLE, BACKUP_WRONG_KEY, BACKUP_TAMPERED, BACKUP_FOREIGN
 */
export function openBackup(bytes: Buffer, privateKey: KeyObject, expected?: BackupBinding): BackupContents {
  const { header, prefixLength } = readBackupHeader(bytes);
  const ours = rawPublicKey(createPublicKey(privateKey));
  if (header.recipient !== ours) {
    throw new RecoveryError('BACKUP_WRONG_KEY', `This backup was encrypted to another operator key (${header.recipient.slice(0, 8)}…), not to this one (${ours.slice(0, 8)}…).`);
  }
  const body = bytes.subarray(prefixLength);
  if (body.length < TAG_BYTES) throw new RecoveryError('BACKUP_TAMPERED', 'The backup is cut short: its content is missing.');
  let payload: Buffer;
  try {
    const key = aeadKey(diffieHellman({ privateKey, publicKey: publicKeyFromRaw(header.ephemeralKey) }), header.ephemeralKey, header.recipient);
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(header.iv, 'base64url'));
    decipher.setAAD(bytes.subarray(0, prefixLength));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    payload = Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]);
    key.fill(0);
  } catch (err) {
    throw new RecoveryError('BACKUP_TAMPERED', 'The backup failed its integrity check: it was altered or damaged after it was written. Nothing was restored; use another copy.', { cause: err });
  }
  if (expected) checkBinding(header, expected);
  let plain: Buffer;
  let manifest: { files: { path: string; bytes: number; sha256: string }[] };
  let at: number;
  try {
    plain = gunzipSync(payload);
    at = plain.indexOf(0x0a);
    manifest = JSON.parse(plain.subarray(0, at).toString('utf8')) as typeof manifest;
    at += 1;
  } catch (err) {
    throw new RecoveryError('BACKUP_UNREADABLE', 'The backup decrypted but its content is not readable.', { cause: err });
  }
  const files = manifest.files.map((f) => {
    const data = plain.subarray(at, at + f.bytes);
    at += f.bytes;
    if (data.length !== f.bytes || createHash('sha256').update(data).digest('hex') !== f.sha256 || !isSafeRelativePath(f.path)) {
      throw new RecoveryError('BACKUP_TAMPERED', `The backup's file ${f.path} does not match its digest.`);
    }
    return { path: f.path, data: Buffer.from(data) };
  });
  return { header, files };
}

/**
 * Refuses a backup of another organisation, channel or consortium.
 *
 * @throws RecoveryError BACKUP_FOREIGN
 */
export function checkBinding(header: BackupBinding, expected: BackupBinding): void {
  const differences: string[] = [];
  if (header.mspId !== expected.mspId) differences.push(`it is ${header.mspId}'s, this gateway is ${expected.mspId}'s`);
  if (header.channel !== expected.channel) differences.push(`it is of channel ${header.channel}, this gateway uses ${expected.channel}`);
  if (header.consortium !== expected.consortium) {
    differences.push(`it comes from another consortium (TLS root ${header.consortium.slice(0, 12)}…, here ${expected.consortium.slice(0, 12)}…)`);
  }
  if (differences.length > 0) {
    throw new RecoveryError('BACKUP_FOREIGN', `This backup is not of this gateway: ${differences.join('; ')}. Nothing was restored.`, {
      details: { backup: { mspId: header.mspId, channel: header.channel, consortium: header.consortium }, gateway: expected },
    });
  }
}

/** A path inside the gateway's folder: relative, no `..`, no empty or dot segments. */
export function isSafeRelativePath(p: string): boolean {
  return typeof p === 'string' && p.length > 0 && !p.startsWith('/') && p.split('/').every((s) => s !== '' && s !== '.' && s !== '..' && !s.includes('\\') && !s.includes('\0'));
}
