import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { Wallet, id } from 'ethers';
import { AccessContract, ConsentContract, IdentityContract, RecordsContract } from '../../../chaincode/src';
import { CONSENT_GRANT_TYPES, REGISTER_PATIENT_TYPES, consentDomain } from '../../../chaincode/src/lib/eip712';
import { encodeLeaf, isAnchoringError, validateLeaf } from '../../../gateway/src/anchoring';
import { consentedAccessLeafFields, parseAccessReceipt, verifyAccessReceipt, type AccessReceipt, type ConsentedAccess } from '../../../gateway/src/anchoring/access-receipt';
import { buildReceipt } from '../../../gateway/src/anchoring/node';
import { bytesToHex, MerkleTree, nobleHasher } from '../../../gateway/src/merkle';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, DISCHARGE, HOSPITAL, INSURER, claimsGrantMessage } from '../chaincode/fixtures';

/**
 * The consent-bound receipt's offline verifier on a receipt made of what the real chaincode stored:
 * it verifies; every field changed — of the access, the grant, the log receipt — fails with a
 * reason naming what failed (or is refused as malformed, naming the field); the document is
 * matched; a grant that does not cover the access fails even when the patient signed it.
 */
const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

async function consentedAccessReceipt(document: Buffer): Promise<AccessReceipt> {
  const ledger = new FakeLedger();
  await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
  const patientRef = sha('patient AR');
  await ledger.invoke(HOSPITAL, new RecordsContract(), 'anchorRecord', JSON.stringify({ recordId: 'r-1', docHash: sha(document), patientRef, category: DISCHARGE }));
  const patient = new Wallet(id('patient AR key'));
  const domain = consentDomain(ledger.channel);
  const registration = { hospital: HOSPITAL, patientRef, nonce: id('r') };
  await ledger.invoke(HOSPITAL, new ConsentContract(), 'registerPatient', JSON.stringify({ message: registration, patient: patient.address, signature: await patient.signTypedData(domain, REGISTER_PATIENT_TYPES, registration) }));
  const grant = claimsGrantMessage({ patientRef, now: ledger.now, nonce: id('g') });
  await ledger.invoke(INSURER, new ConsentContract(), 'grantConsent', JSON.stringify({ message: grant, signature: await patient.signTypedData(domain, CONSENT_GRANT_TYPES, grant) }));
  const accessed = JSON.parse(await ledger.invoke(INSURER, new AccessContract(), 'accessRecord', HOSPITAL, 'r-1', 'claims'));
  const stored = JSON.parse(await ledger.query(INSURER, new AccessContract(), 'readConsentedAccess', accessed.accessLog.txId)) as { access: ConsentedAccess; grant: typeof grant };
  const leaf = validateLeaf({ ...consentedAccessLeafFields(stored.access), blockNumber: 4 });
  const others = Array.from({ length: 4 }, () => new Uint8Array(randomBytes(32)));
  const tree = MerkleTree.fromLeafHashes([...others.slice(0, 2), nobleHasher.hashLeaf(encodeLeaf(leaf)), ...others.slice(2)]);
  const logReceipt = buildReceipt({
    leafBytes: encodeLeaf(leaf),
    leafIndex: 2,
    tree,
    checkpoint: { treeSize: 5, root: bytesToHex(tree.rootAt(5)), fabricBlockHeight: 5, chainId: 31337, contract: '0x5fbdb2315678afecb367f032d93f642f64180aa3' },
  });
  return { version: 1, kind: 'consented-access', access: stored.access, grant: stored.grant, logReceipt };
}

/** Same form, another value. */
function changed(value: unknown): unknown {
  if (typeof value === 'number') return value + 1;
  if (Array.isArray(value)) return [...value, 'other'];
  const s = String(value);
  const last = s.slice(-1);
  if (/[0-9a-f]/.test(last)) return s.slice(0, -1) + (last === '0' ? '1' : '0');
  if (/[0-9A-F]/.test(last)) return s.slice(0, -1) + (last === 'A' ? 'B' : 'A');
  return `${s}x`;
}

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
    const paths: string[][] = [
      ...Object.keys(receipt.access).map((k) => ['access', k]),
      ...Object.keys(receipt.grant).map((k) => ['grant', k]),
      ...Object.keys(receipt.logReceipt.leaf).map((k) => ['logReceipt', 'leaf', k]),
      ['logReceipt', 'leafIndex'],
      ['logReceipt', 'treeSize'],
      ['logReceipt', 'inclusionProof', '0'],
      ['logReceipt', 'checkpoint', 'root'],
      ['logReceipt', 'checkpoint', 'treeSize'],
    ];
    expect(paths).to.have.length(13 + 9 + 7 + 5);
    for (const p of paths) {
      const copy = JSON.parse(JSON.stringify(receipt));
      let holder = copy;
      for (const key of p.slice(0, -1)) holder = holder[key];
      const key = p[p.length - 1]!;
      holder[key] = changed(holder[key]);
      const where = p.join('.');
      try {
        const result = verifyAccessReceipt(copy, document);
        expect(result.valid, where).to.equal(false);
        const named = p[0] === 'logReceipt' ? /log receipt|logReceipt|leaf/i : p[0] === 'grant' ? /grant/ : /access|signature|leaf/;
        expect(result.reasons.join(' '), where).to.match(named);
      } catch (err) {
        if (!isAnchoringError(err)) throw err;
        expect(err.code, where).to.equal('RECEIPT_MALFORMED');
        expect(err.message, where).to.contain(key);
      }
    }
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
