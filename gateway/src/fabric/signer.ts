/**
 * The gateway's Fabric signer: ECDSA by node:crypto (OpenSSL) instead of
 * `@hyperledger/fabric-gateway`'s `signers.newPrivateKeySigner`, which signs in JavaScript
 * (`@noble/curves`): about 1.5 ms of CPU per signature on this project's 2-core machine against
 * 40 µs, and every evaluate signs once, every submit three times (proposal, transaction, commit
 * status request).
 *
 * Node signs a message, not a digest (it hashes with the algorithm it is given), so this signer
 * goes with `hash: hash.none` in `connect()`: fabric-gateway then hands it the message itself, and
 * the signature is over SHA-256 of the message, as Fabric verifies it (for P-256 and P-384 keys). Fabric accepts only
 * low-S signatures (`s ≤ n/2`); OpenSSL does not normalise, so a high `s` is replaced by `n − s`
 * (the same signature, mirrored) before the DER encoding.
 *
 * Use {@link fabricSigning} for both settings together.
 *
 * @module
 */
import { sign, type KeyObject } from 'node:crypto';
import { hash, signers, type Hash, type Signer } from '@hyperledger/fabric-gateway';

/**
 * Orders of the curves Fabric's MSPs use, and their byte lengths. The digest is SHA-256 for both:
 * Fabric hashes by the MSP's signature hash family (SHA2: SHA-256), whatever the curve, as
 * fabric-gateway's default `hash.sha256` does.
 */
const CURVES: Record<string, { order: bigint; bytes: number }> = {
  prime256v1: { order: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n, bytes: 32 },
  secp384r1: { order: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n, bytes: 48 },
};

/**
 * `connect()`'s `hash` and `signer` for an identity's private key: node:crypto ECDSA with
 * `hash.none` for a P-256 or P-384 key; fabric-gateway's own signer and SHA-256 for any other key.
 */
export function fabricSigning(key: KeyObject): { hash: Hash; signer: Signer } {
  const curve = key.asymmetricKeyType === 'ec' ? CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''] : undefined;
  if (!curve) return { hash: hash.sha256, signer: signers.newPrivateKeySigner(key) };
  return {
    hash: hash.none,
    signer: async (message) => lowSDer(sign('sha256', message, { key, dsaEncoding: 'ieee-p1363' }), curve.order, curve.bytes),
  };
}

/** `r || s` (IEEE P1363) → DER `SEQUENCE { INTEGER r, INTEGER s }` with `s` in the lower half. */
export function lowSDer(p1363: Uint8Array, order: bigint, bytes: number): Uint8Array {
  const r = p1363.subarray(0, bytes);
  let s = BigInt(`0x${Buffer.from(p1363.subarray(bytes, 2 * bytes)).toString('hex')}`);
  if (s > order >> 1n) s = order - s;
  const rInt = derInteger(r);
  const sInt = derInteger(Buffer.from(s.toString(16).padStart(2 * bytes, '0'), 'hex'));
  const body = Buffer.concat([rInt, sInt]);
  // At most 2 × (2 + 49) bytes for P-384: the length always fits in one byte below 128 or in 0x81 nn.
  const length = body.length < 128 ? Buffer.from([body.length]) : Buffer.from([0x81, body.length]);
  return Buffer.concat([Buffer.from([0x30]), length, body]);
}

/** A DER INTEGER of an unsigned big-endian value: leading zeros dropped, one 0x00 if the top bit is set. */
function derInteger(value: Uint8Array): Buffer {
  let start = 0;
  while (start < value.length - 1 && value[start] === 0) start += 1;
  const digits = value.subarray(start);
  const padded = digits[0] & 0x80 ? Buffer.concat([Buffer.from([0]), digits]) : Buffer.from(digits);
  return Buffer.concat([Buffer.from([0x02, padded.length]), padded]);
}
