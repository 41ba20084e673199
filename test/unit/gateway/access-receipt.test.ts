import { expect } from 'chai';
import { parseAccessReceipt, verifyAccessReceipt, type AccessReceipt } from '../../../gateway/src/anchoring/access-receipt';
import { consentedAccessReceipt, expectEveryChangedFieldToFail } from '../support/access-receipts';

/**
 * The consent-bound receipt's offline verifier on a receipt made of what the real chaincode stored:
 * it verifies; every field changed — of the access, the grant, the log receipt — fails with a
 * reason naming what failed (or is refused as malformed, naming the field); the document is
 * matched; a grant that does not cover the access fails even when the patient signed it.
 */
describe('gateway: consent-bound access receipts, verified offline', () => {
  const document = Buffer.from('discharge summary, claim 4711');
  let receipt: AccessReceipt;

  before(async () => {
    receipt = await consentedAccessReceipt(document);
  });

  it('verifies, with and without the document; another document fails', () => {
    expect(verifyAccessReceipt(receipt)).to.deep.equal({ valid: true, reasons: [] });
    expect(verifyAccessReceipt(JSON.stringify(receipt), document)).to.deep.equal({ valid: true, reasons: [] });
    expect(verifyAccessReceipt(receipt, Buffer.from('another')).reasons).to.deep.equal(['The document does not match the receipt: its SHA-256 differs from access.docHash.']);
  });

  it('fails for every changed field, naming what failed', () => {
    expect(expectEveryChangedFieldToFail(receipt, document)).to.equal(13 + 9 + 7 + 5);
  });
  it('names the grant check that fails when a signed grant does not cover the access', () => {
    // The patient's signature holds, but the access claims another purpose than the grant's.
    const r = verifyAccessReceipt({ ...receipt, access: { ...receipt.access, purpose: 'research:T-1' } });
    expect(r.valid).to.equal(false);
    expect(r.reasons).to.include('The grant is for another purpose (grant.purpose is not access.purpose).');
    expect(r.reasons).to.include('The access does not hash to the logged leaf (logReceipt.leaf.docHash): a field of access was changed since the ledger recorded it.');
    // Another key's signature over the same grant.
    const forged = verifyAccessReceipt({ ...receipt, access: { ...receipt.access, signature: `0x${'1'.repeat(128)}1b` } });
    expect(forged.reasons).to.include("access.signature is not the patient's signature over this grant (it does not recover access.patient).");
  });

  it('refuses what is not a version 1 access receipt', () => {
    expect(() => parseAccessReceipt({ ...receipt, version: 2 })).to.throw(/RECEIPT_UNSUPPORTED_VERSION|version 1/);
    expect(() => parseAccessReceipt({ ...receipt, extra: 1 })).to.throw(/accessReceipt.extra/);
    expect(() => parseAccessReceipt({ ...receipt, kind: 'archive-file' })).to.throw(/kind/);
    expect(() => parseAccessReceipt('{')).to.throw(/not valid JSON/);
  });
});
