import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { parseReceipt, verifyReceipt, type Receipt } from '../../../gateway/src/anchoring';
import { AnchorLog, buildReceipt } from '../../../gateway/src/anchoring/node';
import { bytesToHex, type MerkleTree } from '../../../gateway/src/merkle';
import { codeOf, documentOf, makeSourced, tempDir } from './fixtures';

const CONTRACT = '0x5fbdb2315678afecb367f032d93f642f64180aa3';
const sha256 = (m: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(m).digest());

/** Flips one hex digit (one nibble of one byte) at `at`. */
function flipHex(hex: string, at = 0): string {
  const d = parseInt(hex[at]!, 16);
  return hex.slice(0, at) + ((d ^ 1) & 15).toString(16) + hex.slice(at + 1);
}

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

describe('anchoring: receipts (offline verification)', function () {
  this.timeout(20_000);
  let cleanup: () => void;
  let log: AnchorLog;
  let tree: MerkleTree;
  const items = makeSourced(0, 300);
  const checkpointSize = 237; // receipts prove against a checkpoint smaller than the log

  before(async () => {
    const t = tempDir();
    cleanup = t.cleanup;
    log = await AnchorLog.open(t.dir);
    for (const item of items) await log.append(item);
    await log.flush();
    tree = await log.tree();
  });
  after(async () => {
    await log.close();
    cleanup();
  });

  async function receiptFor(leafIndex: number, size = checkpointSize): Promise<Receipt> {
    return buildReceipt({
      leafBytes: await log.leafBytes(leafIndex),
      leafIndex,
      tree,
      checkpoint: {
        treeSize: size,
        root: bytesToHex(tree.rootAt(size)),
        fabricBlockHeight: 30,
        chainId: 31337,
        contract: CONTRACT,
        evmTxHash: `0x${'ab'.repeat(32)}`,
        evmBlockNumber: 5,
      },
    });
  }

  it('verifies a receipt for every leaf of the checkpoint, with and without the document', async () => {
    for (let i = 0; i < checkpointSize; i++) {
      const receipt = await receiptFor(i);
      const withDoc = verifyReceipt(receipt, documentOf(i));
      expect(withDoc, `leaf ${i}`).to.deep.equal({ valid: true, reasons: [] });
      // It travels as JSON text and verifies from it too.
      expect(verifyReceipt(JSON.stringify(receipt)).valid).to.equal(true);
    }
  });

  it('verifies with an injected native SHA-256 exactly as with noble', async () => {
    const receipt = await receiptFor(100);
    expect(verifyReceipt(receipt, documentOf(100), { sha256 })).to.deep.equal({ valid: true, reasons: [] });
    expect(verifyReceipt(receipt, documentOf(101), { sha256 }).valid).to.equal(false);
  });

  it('fails for a one-byte change of the document', async () => {
    const receipt = await receiptFor(42);
    const doc = Buffer.from(documentOf(42));
    for (const at of [0, doc.length >> 1, doc.length - 1]) {
      const changed = Buffer.from(doc);
      changed[at]! ^= 0x01;
      const result = verifyReceipt(receipt, changed);
      expect(result.valid).to.equal(false);
      expect(result.reasons.join(' ')).to.match(/docHash/);
    }
    expect(verifyReceipt(receipt, doc.subarray(0, doc.length - 1)).valid).to.equal(false);
  });

  it('fails for a one-byte change of any proof element', async () => {
    for (const leafIndex of [0, 1, 128, 235, 236]) {
      const receipt = await receiptFor(leafIndex);
      expect(receipt.inclusionProof.length).to.be.greaterThan(0);
      receipt.inclusionProof.forEach((_, k) => {
        for (const at of [0, 31, 63]) {
          const r = clone(receipt) as unknown as { inclusionProof: string[] };
          r.inclusionProof[k] = flipHex(r.inclusionProof[k]!, at);
          expect(verifyReceipt(r).valid, `leaf ${leafIndex} proof[${k}] hex ${at}`).to.equal(false);
        }
      });
    }
  });

  it('fails for a changed, reordered, truncated or extended proof', async () => {
    const receipt = await receiptFor(77);
    const proof = receipt.inclusionProof;
    const variants = [[...proof].reverse(), proof.slice(1), [...proof, proof[0]!], []];
    for (const p of variants) expect(verifyReceipt({ ...receipt, inclusionProof: p }).valid).to.equal(false);
  });

  it('fails for a one-byte change of the root', async () => {
    const receipt = await receiptFor(9);
    for (const at of [0, 10, 63]) {
      const result = verifyReceipt({ ...receipt, checkpoint: { ...receipt.checkpoint, root: flipHex(receipt.checkpoint.root, at) } });
      expect(result.valid).to.equal(false);
    }
  });

  it('fails for a changed leafIndex or treeSize (including the checkpoint\'s size)', async () => {
    const receipt = await receiptFor(100);
    for (const leafIndex of [99, 101, 100 ^ 64, checkpointSize, 1e9]) {
      expect(verifyReceipt({ ...receipt, leafIndex }).valid, `leafIndex ${leafIndex}`).to.equal(false);
    }
    for (const treeSize of [checkpointSize - 1, checkpointSize + 1, 256, 0]) {
      expect(verifyReceipt({ ...receipt, treeSize }).valid, `treeSize ${treeSize}`).to.equal(false);
      expect(verifyReceipt({ ...receipt, checkpoint: { ...receipt.checkpoint, treeSize } }).valid, `checkpoint.treeSize ${treeSize}`).to.equal(false);
    }
  });

  it('binds the root to its size only on chain: both sizes changed together can pass offline', async () => {
    // RFC 9162 property: leaf 100's path in 237 leaves is also a well-formed path in 256 leaves
    // (same shape: seven siblings below 128, then "the right part"), so an offline verifier that
    // trusts the receipt's (treeSize, root) pair cannot tell. verifyReceiptOnChain can: the
    // registry has no checkpoint of 256 leaves with this root (integration test).
    const receipt = await receiptFor(100);
    const resized = { ...receipt, treeSize: 256, checkpoint: { ...receipt.checkpoint, treeSize: 256 } };
    expect(verifyReceipt(resized).valid).to.equal(true);
  });

  it('fails for any one-character change of the leaf JSON that keeps it well-formed', async () => {
    const receipt = await receiptFor(5);
    const leaf = receipt.leaf;
    const changes: Partial<Record<keyof typeof leaf, unknown>>[] = [
      { docHash: flipHex(leaf.docHash, 0) },
      { docHash: flipHex(leaf.docHash, 63) },
      { txId: flipHex(leaf.txId, 17) },
      { recordId: leaf.recordId.replace(/5$/, '6') },
      { issuer: leaf.issuer === 'HospitalMSP' ? 'HospitalMSQ' : 'InsurerMSQ' },
      { version: leaf.version + 1 },
      { blockNumber: leaf.blockNumber + 1 },
      { anchoredAt: leaf.anchoredAt.replace(/\.000Z$/, '.001Z') },
    ];
    for (const change of changes) {
      const result = verifyReceipt({ ...receipt, leaf: { ...leaf, ...change } });
      expect(result.valid, JSON.stringify(change)).to.equal(false);
    }
  });

  it('a document anchored elsewhere does not verify with this receipt', async () => {
    const receipt = await receiptFor(5);
    expect(verifyReceipt(receipt, documentOf(6)).valid).to.equal(false);
  });

  describe('malformed receipts are refused with codes', () => {
    let good: Receipt;
    before(async () => {
      good = await receiptFor(3);
    });

    const cases: [string, (r: Record<string, unknown>) => unknown, string][] = [
      ['not JSON', () => '{"version":1,', 'RECEIPT_MALFORMED'],
      ['not an object', () => [1, 2], 'RECEIPT_MALFORMED'],
      ['null', () => null, 'RECEIPT_MALFORMED'],
      ['unknown version', (r) => ({ ...r, version: 2 }), 'RECEIPT_UNSUPPORTED_VERSION'],
      ['version as string', (r) => ({ ...r, version: '1' }), 'RECEIPT_UNSUPPORTED_VERSION'],
      ['missing leaf', (r) => ({ ...r, leaf: undefined }), 'RECEIPT_MALFORMED'],
      ['unknown top-level field', (r) => ({ ...r, note: 'trust me' }), 'RECEIPT_MALFORMED'],
      ['leaf with patientRef', (r) => ({ ...r, leaf: { ...(r.leaf as object), patientRef: 'a'.repeat(64) } }), 'RECEIPT_MALFORMED'],
      ['leaf docHash uppercase', (r) => ({ ...r, leaf: { ...(r.leaf as object), docHash: 'A'.repeat(64) } }), 'RECEIPT_MALFORMED'],
      ['negative leafIndex', (r) => ({ ...r, leafIndex: -1 }), 'RECEIPT_MALFORMED'],
      ['fractional treeSize', (r) => ({ ...r, treeSize: 2.5 }), 'RECEIPT_MALFORMED'],
      ['proof not a list', (r) => ({ ...r, inclusionProof: 'abc' }), 'RECEIPT_MALFORMED'],
      ['proof element not hex', (r) => ({ ...r, inclusionProof: ['zz'.repeat(32)] }), 'RECEIPT_MALFORMED'],
      ['proof element 31 bytes', (r) => ({ ...r, inclusionProof: ['ab'.repeat(31)] }), 'RECEIPT_MALFORMED'],
      ['proof element with 0x', (r) => ({ ...r, inclusionProof: [`0x${'ab'.repeat(31)}`] }), 'RECEIPT_MALFORMED'],
      ['too long proof', (r) => ({ ...r, inclusionProof: Array(65).fill('ab'.repeat(32)) }), 'RECEIPT_MALFORMED'],
      ['missing checkpoint', (r) => ({ ...r, checkpoint: undefined }), 'RECEIPT_MALFORMED'],
      ['checkpoint root missing', (r) => ({ ...r, checkpoint: { ...(r.checkpoint as object), root: undefined } }), 'RECEIPT_MALFORMED'],
      ['checkpoint root short', (r) => ({ ...r, checkpoint: { ...(r.checkpoint as object), root: 'ab' } }), 'RECEIPT_MALFORMED'],
      ['checkpoint contract malformed', (r) => ({ ...r, checkpoint: { ...(r.checkpoint as object), contract: '0x1234' } }), 'RECEIPT_MALFORMED'],
      ['checkpoint chainId string', (r) => ({ ...r, checkpoint: { ...(r.checkpoint as object), chainId: '31337' } }), 'RECEIPT_MALFORMED'],
      ['checkpoint evmTxHash malformed', (r) => ({ ...r, checkpoint: { ...(r.checkpoint as object), evmTxHash: 'abc' } }), 'RECEIPT_MALFORMED'],
      ['checkpoint unknown field', (r) => ({ ...r, checkpoint: { ...(r.checkpoint as object), signature: '0x' } }), 'RECEIPT_MALFORMED'],
    ];
    for (const [name, mutate, code] of cases) {
      it(`${name} → ${code}`, async () => {
        const input = mutate(clone(good) as unknown as Record<string, unknown>);
        expect(await codeOf(() => verifyReceipt(input))).to.equal(code);
        expect(await codeOf(() => parseReceipt(input))).to.equal(code);
      });
    }

    it('names the offending field', () => {
      try {
        parseReceipt({ ...clone(good), inclusionProof: ['ab'.repeat(32), 'xyz'] });
        expect.fail('accepted');
      } catch (err) {
        expect((err as { details: { field: string } }).details.field).to.equal('receipt.inclusionProof[1]');
        expect((err as Error).message).to.match(/^RECEIPT_MALFORMED: /);
      }
    });
  });

  it('refuses to build a receipt against a root the log does not have (a fork)', async () => {
    const leafBytes = await log.leafBytes(1);
    const checkpoint = { treeSize: 10, root: 'ab'.repeat(32), fabricBlockHeight: 3, chainId: 31337, contract: CONTRACT };
    expect(await codeOf(() => buildReceipt({ leafBytes, leafIndex: 1, tree, checkpoint }))).to.equal('CHECKPOINT_FORK');
    expect(await codeOf(() => buildReceipt({ leafBytes, leafIndex: 12, tree, checkpoint: { ...checkpoint, root: bytesToHex(tree.rootAt(10)) } }))).to.equal(
      'INVALID_ARGUMENT',
    );
    expect(await codeOf(() => buildReceipt({ leafBytes, leafIndex: 2, tree, checkpoint: { ...checkpoint, root: bytesToHex(tree.rootAt(10)) } }))).to.equal(
      'LOG_CORRUPT',
    );
  });
});
