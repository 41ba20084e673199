/**
 * Small, browser-safe byte helpers (no `Buffer`, no Node built-ins).
 *
 * @module
 */

const HEX_ALPHABET = '0123456789abcdef';

/** Lookup table: byte value → two lowercase hex characters. */
const BYTE_TO_HEX: readonly string[] = Array.from(
  { length: 256 },
  (_, b) => HEX_ALPHABET[b >> 4]! + HEX_ALPHABET[b & 15]!,
);

/** Decodes one ASCII hex digit (char code) to its value, or -1 when it is not a hex digit. */
function hexDigit(code: number): number {
  if (code >= 48 && code <= 57) return code - 48; // 0-9
  if (code >= 97 && code <= 102) return code - 87; // a-f
  if (code >= 65 && code <= 70) return code - 55; // A-F
  return -1;
}

/**
 * Encodes bytes as lowercase hexadecimal, without a `0x` prefix.
 *
 * @param bytes - the bytes to encode.
 * @returns a string of `2 * bytes.length` characters.
 */
export function bytesToHex(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += BYTE_TO_HEX[bytes[i]!]!;
  return out;
}

/**
 * Decodes hexadecimal (either case, optional `0x`/`0X` prefix) to bytes.
 *
 * @param hex - the string to decode; must have an even number of hex digits.
 * @returns a new `Uint8Array`.
 * @throws TypeError when the input is not a string, has odd length, or contains a non-hex character.
 */
export function hexToBytes(hex: string): Uint8Array {
  if (typeof hex !== 'string') throw new TypeError('hexToBytes: expected a string');
  const start = hex.length >= 2 && hex[0] === '0' && (hex[1] === 'x' || hex[1] === 'X') ? 2 : 0;
  const digits = hex.length - start;
  if (digits % 2 !== 0) throw new TypeError('hexToBytes: odd number of hex digits');
  const out = new Uint8Array(digits / 2);
  for (let i = 0, j = start; i < out.length; i++, j += 2) {
    const hi = hexDigit(hex.charCodeAt(j));
    const lo = hexDigit(hex.charCodeAt(j + 1));
    if (hi < 0 || lo < 0) throw new TypeError(`hexToBytes: invalid hex character near offset ${j}`);
    out[i] = (hi << 4) | lo;
  }
  return out;
}

/**
 * Byte-wise equality of two arrays. Not constant-time: Merkle hashes are public data.
 *
 * @returns `true` when both arrays have the same length and contents.
 */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Concatenates byte arrays into one new `Uint8Array`.
 *
 * @param parts - arrays to join, in order.
 */
export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * `true` when `value` is a `Uint8Array` (including Node `Buffer`s, which subclass it).
 * Uses a tag check rather than `instanceof` so arrays from another realm (iframe, vm) also pass.
 */
export function isBytes(value: unknown): value is Uint8Array {
  return (
    value instanceof Uint8Array ||
    (ArrayBuffer.isView(value) && Object.prototype.toString.call(value) === '[object Uint8Array]')
  );
}
