import { expect } from 'chai';
import { parseReceipt, verifyReceipt, type Receipt } from '../../../gateway/src/anchoring';
import { AnchorLog, buildReceipt } from '../../../gateway/src/anchoring/node';
import { documentCommitment, documentSalt } from '../../../gateway/src/documents/commitment';
import { bytesToHex } from '../../../gateway/src/merkle';
import { makeAnchor, makeSourced, sha256Hex, tempDir } from './fixtures';

/** A receipt of a salted record: its leaf holds the commitment, the receipt carries the salt. */
describe('anchoring: receipts of salted records', function () {
  this.timeout(20_000);
  const K_ORG = new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff);
  const labResult = Buffer.from('{"patientRef":"…","test":"HbA1c","unit":"%","value":"5.4"}');
  const docHash = sha256Hex(labResult);
  const salt = documentSalt(K_ORG, docHash);
  let receipt: Receipt;
  let cleanup: () => void;

  before(async () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const log = await AnchorLog.open(t.dir);
    const items = makeSourced(0, 12);
    items[7] = { ...items[7]!, anchor: makeAnchor(7, 'doc', { docHash: documentCommitment(salt, docHash) }) };
    for (const item of items) await log.append(item);
    await log.flush();
    const tree = await log.tree();
    const unsalted = await buildReceipt({
      leafBytes: await log.leafBytes(7),
      leafIndex: 7,
      tree,
      checkpoint: { treeSize: 12, root: bytesToHex(tree.rootAt(12)), fabricBlockHeight: 3, chainId: 31337, contract: `0x${'5f'.repeat(20)}` },
    });
    receipt = { ...unsalted, salt };
    await log.close();
  });
  after(() => cleanup());

  it('verifies against the document: the commitment of its SHA-256 under the salt is the leaf', () => {
    expect(receipt.leaf.docHash).to.not.equal(docHash);
    expect(verifyReceipt(receipt, labResult)).to.deep.equal({ valid: true, reasons: [] });
    expect(verifyReceipt(JSON.stringify(receipt), labResult).valid).to.equal(true);
    expect(parseReceipt(JSON.parse(JSON.stringify(receipt))).salt).to.equal(salt);
  });

  it('fails for a changed byte of the document', () => {
    for (const at of [0, 17, labResult.length - 1]) {
      const changed = Buffer.from(labResult);
      changed[at]! ^= 0x01;
      const result = verifyReceipt(receipt, changed);
      expect(result.valid).to.equal(false);
      expect(result.reasons[0]).to.match(/salted commitment/);
    }
  });

  it('fails with a wrong salt, and without the salt', () => {
    const wrong = { ...receipt, salt: documentSalt(new Uint8Array(32).fill(9), docHash) };
    expect(verifyReceipt(wrong, labResult).valid).to.equal(false);
    const { salt: _dropped, ...bare } = receipt;
    const without = verifyReceipt(bare, labResult);
    expect(without.valid).to.equal(false);
    expect(without.reasons[0]).to.match(/SHA-256 differs/);
    // The proof itself is still intact: only the document check fails.
    expect(verifyReceipt(bare).valid).to.equal(true);
  });

  it('refuses a malformed salt as a malformed receipt', () => {
    for (const bad of ['', salt.toUpperCase(), `${salt}00`, 42]) {
      expect(() => parseReceipt({ ...receipt, salt: bad }), String(bad)).to.throw(/receipt\.salt/);
    }
  });
});
