import { expect } from 'chai';
import { createHash, generateKeyPairSync, randomBytes, verify, type KeyObject } from 'node:crypto';
import { hash, signers } from '@hyperledger/fabric-gateway';
import { p256, p384 } from '@noble/curves/nist.js';
import { fabricSigning, lowSDer } from '../../../gateway/src/fabric/signer';

/**
 * The gateway's Fabric signer (node:crypto ECDSA with `hash.none`) must give what Fabric checks:
 * an ECDSA signature over SHA-256 (P-256) of the message, DER-encoded, with a low S — here
 * checked by @noble/curves with `lowS: true`, as fabric-gateway's own signer is.
 */
describe('gateway: the Fabric signer', function () {
  this.timeout(30_000);
  const keys = (curve: string) => generateKeyPairSync('ec', { namedCurve: curve });
  const raw = (publicKey: KeyObject) => publicKey.export({ format: 'der', type: 'spki' }).subarray(-(publicKey.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 97 : 65));

  // SHA-256 for both curves: Fabric's MSPs hash with their signature hash family (SHA2), not by curve.
  for (const [name, curve, noble, count] of [
    ['P-256', 'prime256v1', p256, 400],
    ['P-384', 'secp384r1', p384, 100],
  ] as const) {
    it(`${name}: every signature is over the message's SHA-256, DER, low S (${count} messages)`, async () => {
      const { privateKey, publicKey } = keys(curve);
      const signing = fabricSigning(privateKey);
      expect(signing.hash).to.equal(hash.none);
      for (let i = 0; i < count; i++) {
        const message = randomBytes(1 + (i % 300));
        const signature = await signing.signer(signing.hash(message));
        const prehashed = createHash('sha256').update(message).digest();
        expect(noble.verify(signature, prehashed, raw(publicKey), { prehash: false, lowS: true, format: 'der' }), `message ${i}`).to.equal(true);
        expect(verify('sha256', message, publicKey, signature)).to.equal(true);
      }
    });
  }

  it('signs what fabric-gateway’s own signer signs: the same message verifies under the same check, on both curves', async () => {
    for (const [curve, noble] of [['prime256v1', p256], ['secp384r1', p384]] as const) {
      const { privateKey, publicKey } = keys(curve);
      const message = randomBytes(500);
      const theirs = await signers.newPrivateKeySigner(privateKey)(hash.sha256(message));
      const ours = fabricSigning(privateKey);
      const mine = await ours.signer(ours.hash(message));
      const prehashed = createHash('sha256').update(message).digest();
      for (const signature of [theirs, mine]) expect(noble.verify(signature, prehashed, raw(publicKey), { prehash: false, lowS: true, format: 'der' }), curve).to.equal(true);
    }
  });

  it('mirrors a high S into the lower half, and encodes short and top-bit integers as DER does', () => {
    const n = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
    const hex = (x: bigint) => x.toString(16).padStart(64, '0');
    // r with leading zero bytes and s = n − 1 (high): s becomes 1.
    const p1363 = Buffer.from(`${'00'.repeat(3)}${'ab'.repeat(29)}${hex(n - 1n)}`, 'hex');
    const der = Buffer.from(lowSDer(p1363, n, 32));
    // SEQUENCE (35 bytes) { INTEGER (30 bytes: 0x00, then r's 29 bytes, top bit set), INTEGER 1 }
    expect(der.toString('hex')).to.equal(`3023021e00${'ab'.repeat(29)}020101`);
    const sig = p256.Signature.fromBytes(der, 'der');
    expect(sig.s).to.equal(1n);
    expect(sig.r).to.equal(BigInt(`0x${'ab'.repeat(29)}`));
  });

  it('leaves any other key to fabric-gateway’s signer and SHA-256', () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    expect(fabricSigning(privateKey).hash).to.equal(hash.sha256);
  });
});
