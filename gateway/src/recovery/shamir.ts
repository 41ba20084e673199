/**
 * Shamir's secret sharing over GF(2^8): a secret of any length is split into `n` shares so that
 * any `k` of them give it back and `k - 1` tell nothing about it (every byte of the secret is the
 * constant term of its own random polynomial of degree `k - 1`; share `x` holds each polynomial's
 * value at `x`). The field is GF(2^8) with the AES polynomial x^8 + x^4 + x^3 + x + 1 (0x11b).
 *
 * Used for the master key ({@link ./master-key-shares}): any 2 of 3 officers can restore it, so no
 * single person's absence or departure locks the hospital out of its own patients' keys.
 *
 * Table lookups depend on secret bytes: this runs in an officer's CLI on their own machine, never
 * in a server that answers timing-sensitive requests.
 *
 * @module
 */
import { randomBytes as systemRandomBytes } from 'node:crypto';

/** Shares are numbered 1 to 255 (x = 0 would be the secret itself). */
export const MAX_SHARES = 255;

const EXP = new Uint8Array(510);
const LOG = new Uint8Array(256);
{
  // 3 generates GF(2^8)'s multiplicative group: its powers run through all 255 non-zero elements.
  let v = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = v;
    LOG[v] = i;
    v ^= (v << 1) ^ (v & 0x80 ? 0x11b : 0); // v * 3 = v * 2 + v, reduced
    v &= 0xff;
  }
  for (let i = 255; i < 510; i++) EXP[i] = EXP[i - 255]!;
}

function mul(a: number, b: number): number {
  return a === 0 || b === 0 ? 0 : EXP[LOG[a]! + LOG[b]!]!;
}

function div(a: number, b: number): number {
  if (b === 0) throw new RangeError('division by zero in GF(256)');
  return a === 0 ? 0 : EXP[LOG[a]! + 255 - LOG[b]!]!;
}

/** One share: its x (1 to 255) and one y byte per secret byte. */
export interface Share {
  readonly x: number;
  readonly y: Uint8Array;
}

/**
 * Splits `secret` into `shares` shares, any `threshold` of which recover it.
 *
 * @param randomBytes - randomness for the polynomials' coefficients (default the system CSPRNG; tests inject)
 * @throws RangeError when 2 ≤ threshold ≤ shares ≤ 255 does not hold or the secret is empty
 */
export function splitSecret(
  secret: Uint8Array,
  shares: number,
  threshold: number,
  randomBytes: (size: number) => Uint8Array = systemRandomBytes,
): Share[] {
  if (!Number.isInteger(shares) || !Number.isInteger(threshold) || threshold < 2 || threshold > shares || shares > MAX_SHARES) {
    throw new RangeError(`need 2 ≤ threshold ≤ shares ≤ ${MAX_SHARES}; got threshold ${threshold}, shares ${shares}`);
  }
  if (secret.length === 0) throw new RangeError('the secret is empty');
  const out = Array.from({ length: shares }, (_, i) => ({ x: i + 1, y: new Uint8Array(secret.length) }));
  const coefficients = new Uint8Array(threshold);
  for (let b = 0; b < secret.length; b++) {
    coefficients[0] = secret[b]!;
    const random = randomBytes(threshold - 1);
    if (random.length !== threshold - 1) throw new RangeError('the random source returned the wrong number of bytes');
    coefficients.set(random, 1);
    for (const share of out) {
      // Horner: ((a_{k-1} x + a_{k-2}) x + …) x + a_0
      let y = 0;
      for (let c = threshold - 1; c >= 0; c--) y = mul(y, share.x) ^ coefficients[c]!;
      share.y[b] = y;
    }
    random.fill(0);
  }
  coefficients.fill(0);
  return out;
}

/**
 * The secret from `threshold` or more shares of one split (Lagrange interpolation at 0). Fewer
 * shares than the threshold give a wrong value, not an error: the caller checks the result
 * (the master key's shares carry a fingerprint of the key for that).
 *
 * @throws RangeError for no shares, shares of different lengths, an x outside 1–255 or an x twice
 */
export function combineShares(shares: readonly Share[]): Uint8Array {
  if (shares.length === 0) throw new RangeError('no shares');
  const length = shares[0]!.y.length;
  const xs = new Set<number>();
  for (const s of shares) {
    if (!Number.isInteger(s.x) || s.x < 1 || s.x > MAX_SHARES) throw new RangeError(`share number ${s.x} is outside 1–${MAX_SHARES}`);
    if (xs.has(s.x)) throw new RangeError(`share number ${s.x} is given twice`);
    if (s.y.length !== length) throw new RangeError('the shares have different lengths: they come from different splits');
    xs.add(s.x);
  }
  // Lagrange basis at 0: l_i(0) = Π_{j≠i} x_j / (x_j - x_i), and subtraction is XOR here.
  const weights = shares.map((si, i) => {
    let w = 1;
    shares.forEach((sj, j) => {
      if (j !== i) w = mul(w, div(sj.x, sj.x ^ si.x));
    });
    return w;
  });
  const secret = new Uint8Array(length);
  for (let b = 0; b < length; b++) {
    let v = 0;
    shares.forEach((s, i) => {
      v ^= mul(s.y[b]!, weights[i]!);
    });
    secret[b] = v;
  }
  return secret;
}
