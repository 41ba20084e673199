/**
 * Issue 20: the master key held by several officers. Shamir's secret sharing over GF(256): any k
 * of n shares give the secret back, fewer give something else; the master key's share lines
 * refuse damaged, mixed, too few, duplicated and inconsistent shares with their codes.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { MasterKey } from '../../../gateway/src/privacy';
import { masterKeyBytes } from '../../../gateway/src/privacy/master-key';
import { isRecoveryError } from '../../../gateway/src/recovery/errors';
import { combineMasterKey, masterKeyFingerprint, parseMasterKeyShare, splitMasterKey } from '../../../gateway/src/recovery/master-key-shares';
import { combineShares, splitSecret, type Share } from '../../../gateway/src/recovery/shamir';

/** Every k-element subset of `items`. */
function subsets<T>(items: readonly T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (items.length < k) return [];
  const [first, ...rest] = items;
  return [...subsets(rest, k - 1).map((s) => [first!, ...s]), ...subsets(rest, k)];
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (err) {
    expect(isRecoveryError(err), String(err)).to.equal(true);
    expect((err as { code: string }).code).to.equal(code);
    return;
  }
  expect.fail(`expected ${code}`);
}

describe('Shamir secret sharing over GF(256) (issue 20)', () => {
  it('any k of n shares give the secret back, for every subset (2 of 3, 3 of 5)', () => {
    const secret = Uint8Array.from(Buffer.from('00ff7f80012345689abcdef0fedcba9876543210aa55cc33deadbeefcafebabe', 'hex'));
    for (const [n, k] of [[3, 2], [5, 3]] as const) {
      const shares = splitSecret(secret, n, k);
      expect(shares.map((s) => s.x)).to.deep.equal(Array.from({ length: n }, (_, i) => i + 1));
      for (let size = k; size <= n; size++) for (const subset of subsets(shares, size)) expect(hex(combineShares(subset))).to.equal(hex(secret));
    }
  });

  it('property: random secrets, n and k, and any k shares in any order recover it; k − 1 shares do not (with overwhelming probability)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 48 }),
        fc.integer({ min: 2, max: 12 }),
        fc.integer({ min: 0, max: 10 }),
        fc.integer(),
        (secret, n, kOffset, seed) => {
          const k = 2 + (kOffset % (n - 1));
          const shares = splitSecret(secret, n, k);
          // A deterministic shuffle from the seed.
          const order = shares.map((s, i) => ({ s, r: Math.imul(i + 1, seed | 1) >>> 0 })).sort((a, b) => a.r - b.r).map((x) => x.s);
          expect(hex(combineShares(order.slice(0, k)))).to.equal(hex(secret));
          if (secret.length >= 16) expect(hex(combineShares(order.slice(0, k - 1)))).to.not.equal(hex(secret));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('k − 1 shares say nothing: with the same coefficients but another secret, the k − 1 shares could be the same', () => {
    // For k = 2, a share y = s + a·x: for any other secret s' there is an a' with the same y. Checked
    // by brute force over one byte: every secret value is consistent with one given share.
    const share: Share = splitSecret(Uint8Array.of(42), 3, 2)[1]!;
    const consistent = new Set<number>();
    for (let s = 0; s < 256; s++) {
      for (let a = 0; a < 256; a++) {
        const shares = splitSecret(Uint8Array.of(s), 3, 2, () => Uint8Array.of(a));
        if (shares[1]!.y[0] === share.y[0]) consistent.add(s);
      }
    }
    expect(consistent.size).to.equal(256);
  });

  it('refuses impossible splits and malformed share sets', () => {
    const secret = Uint8Array.of(1, 2, 3);
    expect(() => splitSecret(secret, 3, 1)).to.throw(RangeError);
    expect(() => splitSecret(secret, 3, 4)).to.throw(RangeError);
    expect(() => splitSecret(secret, 256, 2)).to.throw(RangeError);
    expect(() => splitSecret(new Uint8Array(0), 3, 2)).to.throw(RangeError);
    const shares = splitSecret(secret, 3, 2);
    expect(() => combineShares([])).to.throw(RangeError);
    expect(() => combineShares([shares[0]!, shares[0]!])).to.throw(/twice/);
    expect(() => combineShares([shares[0]!, { x: 2, y: Uint8Array.of(1) }])).to.throw(/different lengths/);
    expect(() => combineShares([shares[0]!, { x: 0, y: shares[1]!.y }])).to.throw(/outside/);
  });
});

describe('the master key split among officers (issue 20)', () => {
  const key = MasterKey.generate();
  const lines = splitMasterKey(key, 3, 2);

  it('writes share lines that name the key, the split and carry check digits; any 2 of 3 restore the key', () => {
    const fp = masterKeyFingerprint(key);
    for (const [i, line] of lines.entries()) expect(line).to.match(new RegExp(`^medprov-mk1-${fp}-2of3-${i + 1}-[0-9a-f]{64}-[0-9a-f]{8}$`));
    for (const pair of subsets(lines, 2)) {
      const restored = combineMasterKey(pair.map((l) => parseMasterKeyShare(l)));
      expect(restored.equals(key)).to.equal(true);
      expect(hex(masterKeyBytes(restored))).to.equal(hex(masterKeyBytes(key)));
    }
    expect(combineMasterKey(lines.map((l) => parseMasterKeyShare(`  ${l}\n`))).equals(key)).to.equal(true);
  });

  it('refuses a mistyped share (SHARE_MALFORMED), one share (SHARES_TOO_FEW), a share twice, shares of two keys (SHARES_MIXED)', () => {
    const typo = lines[0]!.replace(/-(\d)of3-1-(.)/, (_m, k: string, c: string) => `-${k}of3-1-${c === 'a' ? 'b' : 'a'}`);
    expectCode(() => parseMasterKeyShare(typo, 'alice.txt'), 'SHARE_MALFORMED');
    expectCode(() => parseMasterKeyShare('not a share'), 'SHARE_MALFORMED');
    expectCode(() => combineMasterKey([parseMasterKeyShare(lines[0]!)]), 'SHARES_TOO_FEW');
    expectCode(() => combineMasterKey([parseMasterKeyShare(lines[0]!), parseMasterKeyShare(lines[0]!)]), 'SHARES_DUPLICATE');
    const other = splitMasterKey(MasterKey.generate(), 3, 2);
    expectCode(() => combineMasterKey([parseMasterKeyShare(lines[0]!), parseMasterKeyShare(other[1]!)]), 'SHARES_MIXED');
  });

  it('refuses a share that was altered consistently (check digits recomputed): SHARES_INCONSISTENT, never a wrong key', () => {
    const forged = lines[1]!.replace(/-([0-9a-f]{64})-[0-9a-f]{8}$/, (_m, y: string) => `-${(y[0] === '0' ? '1' : '0') + y.slice(1)}`);
    const rechecked = `${forged}-${createHash('sha256').update(forged).digest('hex').slice(0, 8)}`;
    expectCode(() => combineMasterKey([parseMasterKeyShare(lines[0]!), parseMasterKeyShare(rechecked)]), 'SHARES_INCONSISTENT');
  });

  it('refuses impossible splits with SHARES_INVALID', () => {
    expectCode(() => splitMasterKey(key, 3, 1), 'SHARES_INVALID');
    expectCode(() => splitMasterKey(key, 2, 3), 'SHARES_INVALID');
  });
});
