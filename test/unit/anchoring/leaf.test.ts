import { expect } from 'chai';
import { createHash } from 'node:crypto';
import {
  canonicalLeafJson,
  encodeLeaf,
  LEAF_FIELDS,
  leafFromAnchor,
  leafHash,
  parseLeaf,
  validateLeaf,
  type AnchorLeaf,
} from '../../../gateway/src/anchoring';
import { bytesToHex } from '../../../gateway/src/merkle';
import { codeOf, makeAnchor } from './fixtures';

const leaf: AnchorLeaf = leafFromAnchor(makeAnchor(7), 42n);

describe('anchoring: leaf encoding', () => {
  it('keeps exactly the seven receipt fields, dropping patientRef, category and status', () => {
    expect(Object.keys(leaf).sort()).to.deep.equal([...LEAF_FIELDS]);
    const json = canonicalLeafJson(leaf);
    expect(json).not.to.match(/patientRef|category|status/);
    expect(leaf.blockNumber).to.equal(42);
  });

  it('encodes canonically: sorted keys, no whitespace, the same bytes however the object was built', () => {
    const json = canonicalLeafJson(leaf);
    expect(JSON.parse(json)).to.deep.equal({ ...leaf });
    expect(Object.keys(JSON.parse(json) as object)).to.deep.equal([...LEAF_FIELDS]);
    expect(json).not.to.match(/\s/);
    const reversed = Object.fromEntries(Object.entries(leaf).reverse()) as unknown as AnchorLeaf;
    expect(Buffer.from(encodeLeaf(reversed)).equals(Buffer.from(encodeLeaf(leaf)))).to.equal(true);
  });

  it('round-trips through parseLeaf, from bytes and from text', () => {
    expect(parseLeaf(encodeLeaf(leaf))).to.deep.equal(leaf);
    expect(parseLeaf(canonicalLeafJson(leaf))).to.deep.equal(leaf);
  });

  it('hashes as RFC 6962 leaf: SHA-256(0x00 ‖ canonical bytes)', () => {
    const expected = createHash('sha256').update(Buffer.from([0])).update(encodeLeaf(leaf)).digest('hex');
    expect(bytesToHex(leafHash(leaf))).to.equal(expected);
  });

  it('keeps non-ASCII record ids as UTF-8 (JSON.stringify form, as RFC 8785 would)', () => {
    const l = leafFromAnchor(makeAnchor(1, 'doc', { recordId: 'dossier-é-2025' }), 1n);
    expect(Buffer.from(encodeLeaf(l)).toString('utf8')).to.contain('"recordId":"dossier-é-2025"');
    expect(parseLeaf(encodeLeaf(l)).recordId).to.equal('dossier-é-2025');
  });

  it('refuses non-canonical text of valid data: other key order, whitespace, number spelling', async () => {
    const obj = JSON.parse(canonicalLeafJson(leaf)) as Record<string, unknown>;
    const reordered = JSON.stringify(Object.fromEntries(Object.entries(obj).reverse()));
    expect(await codeOf(() => parseLeaf(reordered))).to.equal('LEAF_INVALID');
    expect(await codeOf(() => parseLeaf(JSON.stringify(obj, null, 1)))).to.equal('LEAF_INVALID');
    expect(await codeOf(() => parseLeaf(canonicalLeafJson(leaf).replace('"version":1', '"version":1.0')))).to.equal('LEAF_INVALID');
    expect(await codeOf(() => parseLeaf(canonicalLeafJson(leaf) + ' '))).to.equal('LEAF_INVALID');
  });

  it('refuses bytes that are not UTF-8 or not JSON', async () => {
    expect(await codeOf(() => parseLeaf(Uint8Array.of(0xff, 0xfe, 0x7b)))).to.equal('LEAF_INVALID');
    expect(await codeOf(() => parseLeaf('{"docHash":'))).to.equal('LEAF_INVALID');
    expect(await codeOf(() => parseLeaf('[]'))).to.equal('LEAF_INVALID');
  });

  const bad: [string, unknown][] = [
    ['docHash', 'ABCDEF'.padEnd(64, '0')],
    ['docHash', 'a'.repeat(63)],
    ['issuer', ''],
    ['issuer', 'Hospital MSP'],
    ['recordId', 'has space'],
    ['recordId', 'x'.repeat(129)],
    ['version', 0],
    ['version', 1.5],
    ['version', '1'],
    ['anchoredAt', '2025-01-01T00:00:00Z'],
    ['anchoredAt', '2025-02-30T00:00:00.000Z'],
    ['txId', 'tx-1'],
    ['blockNumber', -1],
    ['blockNumber', 2 ** 53],
    ['blockNumber', '7'],
  ];
  for (const [field, value] of bad) {
    it(`refuses leaf.${field} = ${JSON.stringify(value).slice(0, 24)}, naming the field`, () => {
      try {
        validateLeaf({ ...leaf, [field]: value });
        expect.fail('accepted');
      } catch (err) {
        expect((err as { code: string }).code).to.equal('LEAF_INVALID');
        expect((err as { details: { field: string } }).details.field).to.equal(field);
      }
    });
  }

  it('refuses missing and unknown fields (patientRef must never slip into a receipt)', async () => {
    const { txId: _drop, ...missing } = leaf;
    expect(await codeOf(() => validateLeaf(missing))).to.equal('LEAF_INVALID');
    expect(await codeOf(() => validateLeaf({ ...leaf, patientRef: 'a'.repeat(64) }))).to.equal('LEAF_INVALID');
    expect(await codeOf(() => validateLeaf(null))).to.equal('LEAF_INVALID');
  });

  it('refuses block numbers a receipt cannot carry exactly', async () => {
    expect(await codeOf(() => leafFromAnchor(makeAnchor(1), 2n ** 53n))).to.equal('LEAF_INVALID');
    expect(await codeOf(() => leafFromAnchor(makeAnchor(1), -1n))).to.equal('LEAF_INVALID');
  });
});
