import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { ristretto255_oprf } from '@noble/curves/ed25519.js';
import { blindInput, deriveProjectKey, evaluateBlinded, finalizeOutput } from '../../../gateway/src/linkage/oprf';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bytes = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));

// RFC 9497 Appendix A.1.1: OPRF(ristretto255, SHA-512), mode 0x00.
const SEED = bytes('a3'.repeat(32));
const KEY_INFO = bytes('74657374206b6579'); // "test key"
const SK_SM = '5ebcea5ee37023ccb9fc2d2019f9d7737be85591ae8652ffa9ef0f4d37063b0e';
const BLIND = '64d37aed22a27f5191de1c1d69fadb899d8862b58eb4220029e036ec4c1f6706';
const VECTORS = [
  {
    input: '00',
    blindedElement: '609a0ae68c15a3cf6903766461307e5c8bb2f95e7e6550e1ffa2dc99e412803c',
    evaluationElement: '7ec6578ae5120958eb2db1745758ff379e77cb64fe77b0b2d8cc917ea0869c7e',
    output: '527759c3d9366f277d8c6020418d96bb393ba2afb20ff90df23fb7708264e2f3ab9135e3bd69955851de4b1f9fe8a0973396719b7912ba9ee8aa7d0b5e24bcf6',
  },
  {
    input: '5a'.repeat(17),
    blindedElement: 'da27ef466870f5f15296299850aa088629945a17d1f5b7f5ff043f76b3c06418',
    evaluationElement: 'b4cbf5a4f1eeda5a63ce7b77c7d23f461db3fcab0dd28e4e17cecb5c90d02c25',
    output: 'f4a74c9c592497375e796aa837e907b1a045d34306a749db9f34221f7e750cb4f2a6413a6bf6fa5e19ba6348eb673934a722a7ede2e7621306d18951e7cf2c73',
  },
];

/**
 * An rng that makes noble's RandomScalar return the RFC's blind: it maps n bytes (little-endian)
 * to (value mod (order − 1)) + 1, so it is given blind − 1.
 */
function fixedBlindRng(blindHexLe: string): (n?: number) => Uint8Array {
  const blind = BigInt('0x' + Buffer.from(blindHexLe, 'hex').reverse().toString('hex'));
  return (n = 48) => {
    const out = new Uint8Array(n);
    let v = blind - 1n;
    for (let i = 0; i < n; i++, v >>= 8n) out[i] = Number(v & 0xffn);
    return out;
  };
}

describe('linkage: RFC 9497 OPRF ristretto255-SHA512', function () {
  this.timeout(60_000);
  it('derives the test key of Appendix A.1.1', () => {
    expect(hex(ristretto255_oprf.oprf.deriveKeyPair(SEED, KEY_INFO).secretKey)).to.equal(SK_SM);
  });

  for (const [i, v] of VECTORS.entries()) {
    it(`reproduces test vector ${i + 1} (blind, evaluate, finalize)`, () => {
      const input = bytes(v.input);
      const { blind, blinded } = blindInput(input, fixedBlindRng(BLIND));
      expect(hex(blind)).to.equal(BLIND);
      expect(hex(blinded)).to.equal(v.blindedElement);
      const evaluated = evaluateBlinded(bytes(SK_SM), blinded);
      expect(hex(evaluated)).to.equal(v.evaluationElement);
      expect(hex(finalizeOutput(input, blind, evaluated))).to.equal(v.output);
    });
  }

  it('gives each project its own key, derived from the one seed', () => {
    const seed = randomBytes(32);
    const a = deriveProjectKey(seed, 'P-001');
    expect(hex(deriveProjectKey(seed, 'P-001'))).to.equal(hex(a));
    expect(hex(deriveProjectKey(seed, 'P-002'))).to.not.equal(hex(a));
  });

  it('gives the same output whatever the blind, and the blinded elements of one input are unlinkable', () => {
    const key = deriveProjectKey(randomBytes(32), 'P-001');
    const input = Buffer.from('9001011234567');
    const one = blindInput(input);
    const two = blindInput(input);
    expect(hex(one.blinded)).to.not.equal(hex(two.blinded));
    expect(hex(finalizeOutput(input, one.blind, evaluateBlinded(key, one.blinded)))).to.equal(hex(finalizeOutput(input, two.blind, evaluateBlinded(key, two.blinded))));
  });

  it('refuses blinded elements that are not ristretto255 elements, with a code', () => {
    const key = deriveProjectKey(randomBytes(32), 'P-001');
    for (const bad of [new Uint8Array(32), new Uint8Array(31), bytes('ff'.repeat(32))]) {
      expect(() => evaluateBlinded(key, bad)).to.throw().with.property('code', 'LINKAGE_INVALID_ELEMENT');
    }
    const input = Buffer.from('x');
    const { blind } = blindInput(input);
    expect(() => finalizeOutput(input, blind, bytes('ff'.repeat(32)))).to.throw().with.property('code', 'LINKAGE_INVALID_EVALUATION');
  });
});
