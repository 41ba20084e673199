/**
 * The org's master key held by several officers: split with {@link splitSecret} into `n` shares
 * written as short text lines, any `k` of which give the key back.
 *
 * A share reads `medprov-mk1-<fingerprint>-<k>of<n>-<x>-<64 hex>-<check>`:
 * - `fingerprint`: 8 hex digits of SHA-256 over a fixed label and the key. Every share of one split
 *   carries it, so shares of different keys are never mixed, and the combined key is checked
 *   against it (k − 1 shares, or a wrong one, give a different key, refused). 32 bits of a hash of
 *   a 256-bit random key tell nothing usable about it.
 * - `check`: 8 hex digits of SHA-256 over the rest of the line: a typing or copying mistake in a
 *   share is found on that share, before anything is combined.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { MASTER_KEY_BYTES, MasterKey, masterKeyBytes } from '../privacy/master-key';
import { RecoveryError } from './errors';
import { combineShares, splitSecret, type Share } from './shamir';

const PREFIX = 'medprov-mk1';
const SHARE = /^medprov-mk1-([0-9a-f]{8})-(\d{1,3})of(\d{1,3})-(\d{1,3})-([0-9a-f]{64})-([0-9a-f]{8})$/;

/** One officer's share as parsed from its line. */
export interface MasterKeyShare {
  /** The key's fingerprint (8 hex digits), the same on every share of the split. */
  readonly fingerprint: string;
  readonly threshold: number;
  readonly shares: number;
  readonly share: Share;
  /** The line itself. */
  readonly text: string;
}

/** 8 hex digits naming a master key without revealing it. */
export function masterKeyFingerprint(key: MasterKey): string {
  return createHash('sha256').update('medprov master key fingerprint\0').update(masterKeyBytes(key)).digest('hex').slice(0, 8);
}

function checkOf(body: string): string {
  return createHash('sha256').update(body).digest('hex').slice(0, 8);
}

/**
 * The key as `shares` text lines, any `threshold` of which restore it.
 *
 * @throws RecoveryError SHARES_INVALID unless 2 ≤ threshold ≤ shares ≤ 255
 */
export function splitMasterKey(key: MasterKey, shares: number, threshold: number, randomBytes?: (size: number) => Uint8Array): string[] {
  if (!Number.isInteger(shares) || !Number.isInteger(threshold) || threshold < 2 || threshold > shares || shares > 255) {
    throw new RecoveryError('SHARES_INVALID', `A split needs 2 ≤ threshold ≤ shares ≤ 255 (for example 2 of 3); got ${threshold} of ${shares}.`);
  }
  const fingerprint = masterKeyFingerprint(key);
  return splitSecret(masterKeyBytes(key), shares, threshold, randomBytes).map((s) => {
    const body = `${PREFIX}-${fingerprint}-${threshold}of${shares}-${s.x}-${Buffer.from(s.y).toString('hex')}`;
    s.y.fill(0);
    return `${body}-${checkOf(body)}`;
  });
}

/**
 * Parses one share line (surrounding whitespace ignored).
 *
 * @param source - where it came from (a file name), for error sentences
 * @throws RecoveryError SHARE_MALFORMED (not a share, or its check digits do not match)
 */
export function parseMasterKeyShare(text: string, source = 'the share'): MasterKeyShare {
  const line = text.trim();
  const m = SHARE.exec(line);
  if (!m) throw new RecoveryError('SHARE_MALFORMED', `${source} is not a master key share (expected one line medprov-mk1-…).`);
  const [, fingerprint, k, n, x, y, check] = m as unknown as [string, string, string, string, string, string, string];
  if (checkOf(line.slice(0, line.length - 9)) !== check) {
    throw new RecoveryError('SHARE_MALFORMED', `${source} is damaged: its check digits do not match (a typing or copying mistake?).`);
  }
  const threshold = Number(k);
  const shares = Number(n);
  const index = Number(x);
  if (threshold < 2 || threshold > shares || shares > 255 || index < 1 || index > shares) {
    throw new RecoveryError('SHARE_MALFORMED', `${source} names an impossible split (${threshold} of ${shares}, share ${index}).`);
  }
  return { fingerprint, threshold, shares, share: { x: index, y: Uint8Array.from(Buffer.from(y, 'hex')) }, text: line };
}

/**
 * The master key from at least `threshold` shares of one split, checked against the split's
 * fingerprint.
 *
 * @throws RecoveryError SHARES_MIXED (shares of different keys or splits), SHARES_TOO_FEW,
 *   SHARES_DUPLICATE, SHARES_INCONSISTENT (the result is not the key the shares name)
 */
export function combineMasterKey(parsed: readonly MasterKeyShare[]): MasterKey {
  if (parsed.length === 0) throw new RecoveryError('SHARES_TOO_FEW', 'No shares were given.');
  const first = parsed[0]!;
  for (const p of parsed) {
    if (p.fingerprint !== first.fingerprint || p.threshold !== first.threshold || p.shares !== first.shares) {
      throw new RecoveryError('SHARES_MIXED', `The shares come from different splits (key ${first.fingerprint} ${first.threshold} of ${first.shares}, and key ${p.fingerprint} ${p.threshold} of ${p.shares}); give shares of one split only.`);
    }
  }
  const numbers = new Set(parsed.map((p) => p.share.x));
  if (numbers.size !== parsed.length) throw new RecoveryError('SHARES_DUPLICATE', 'The same share was given twice; each officer’s share counts once.');
  if (parsed.length < first.threshold) {
    throw new RecoveryError('SHARES_TOO_FEW', `This key was split so that ${first.threshold} of ${first.shares} shares are needed; ${parsed.length} given.`);
  }
  const bytes = combineShares(parsed.map((p) => p.share));
  let key: MasterKey;
  try {
    if (bytes.length !== MASTER_KEY_BYTES) throw new Error('wrong length');
    key = MasterKey.fromBytes(bytes);
  } catch {
    throw new RecoveryError('SHARES_INCONSISTENT', `The shares do not combine to the key ${first.fingerprint}: one of them is not what was handed out.`);
  } finally {
    bytes.fill(0);
  }
  if (masterKeyFingerprint(key) !== first.fingerprint) {
    key.destroy();
    throw new RecoveryError('SHARES_INCONSISTENT', `The shares do not combine to the key ${first.fingerprint}: one of them is not what was handed out.`);
  }
  return key;
}

/** The key as 64 hex digits, for the gateway's key file (only the combining officer's command writes it). */
export function masterKeyHex(key: MasterKey): string {
  return masterKeyBytes(key).toString('hex');
}
