/**
 * Consent-bound access receipts for tests: one made of what the real chaincode stores (on the
 * in-memory ledger), and the check that every changed field of a receipt fails.
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { Wallet, id } from 'ethers';
import { AccessContract, ConsentContract, IdentityContract, RecordsContract } from '../../../chaincode/src';
import { CONSENT_GRANT_TYPES, REGISTER_PATIENT_TYPES, consentDomain, type ConsentGrantMessage } from '../../../chaincode/src/lib/eip712';
import { encodeLeaf, isAnchoringError, validateLeaf } from '../../../gateway/src/anchoring';
import { consentedAccessLeafFields, verifyAccessReceipt, type AccessReceipt, type ConsentedAccess } from '../../../gateway/src/anchoring/access-receipt';
import { buildReceipt } from '../../../gateway/src/anchoring/node';
import { bytesToHex, MerkleTree, nobleHasher } from '../../../gateway/src/merkle';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, DISCHARGE, HOSPITAL, INSURER, claimsGrantMessage } from '../chaincode/fixtures';

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/**
 * On `ledger` (a fresh one unless given): the Hospital anchors `document` as `recordId`, the
 * patient registers and grants the Insurer claims access, the Insurer accesses it; the receipt is
 * what `Access:readConsentedAccess` answers, its leaf placed among random others in a small log
 * and proved against that log's checkpoint, as the anchor log does.
 */
export async function consentedAccessReceipt(document: Buffer, options: { ledger?: FakeLedger; recordId?: string } = {}): Promise<AccessReceipt> {
  const ledger = options.ledger ?? new FakeLedger();
  const recordId = options.recordId ?? 'r-1';
  await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
  const patientRef = sha(`patient of ${recordId}`);
  await ledger.invoke(HOSPITAL, new RecordsContract(), 'anchorRecord', JSON.stringify({ recordId, docHash: sha(document), patientRef, category: DISCHARGE }));
  const patient = new Wallet(id(`patient key of ${recordId}`));
  const domain = consentDomain(ledger.channel);
  const registration = { hospital: HOSPITAL, patientRef, nonce: id(`registration of ${recordId}`) };
  await ledger.invoke(HOSPITAL, new ConsentContract(), 'registerPatient', JSON.stringify({ message: registration, patient: patient.address, signature: await patient.signTypedData(domain, REGISTER_PATIENT_TYPES, registration) }));
  const grant = claimsGrantMessage({ patientRef, now: ledger.now, nonce: id(`grant of ${recordId}`) });
  await ledger.invoke(INSURER, new ConsentContract(), 'grantConsent', JSON.stringify({ message: grant, signature: await patient.signTypedData(domain, CONSENT_GRANT_TYPES, grant) }));
  const accessed = JSON.parse(await ledger.invoke(INSURER, new AccessContract(), 'accessRecord', HOSPITAL, recordId, 'claims'));
  expect(accessed.decision).to.equal('PERMIT');
  const stored = JSON.parse(await ledger.query(INSURER, new AccessContract(), 'readConsentedAccess', accessed.accessLog.txId)) as { access: ConsentedAccess; grant: typeof grant };
  expect(stored.grant).to.deep.equal(grant);
  return receiptOfStored(stored);
}

/** The receipt of a consented access as `Access:readConsentedAccess` answered it: its leaf among random others in a small log, proved against that log's checkpoint. */
export function receiptOfStored(stored: { access: ConsentedAccess; grant: ConsentGrantMessage }): AccessReceipt {
  const leaf = validateLeaf({ ...consentedAccessLeafFields(stored.access), blockNumber: 9 });
  const others = Array.from({ length: 6 }, () => new Uint8Array(randomBytes(32)));
  const tree = MerkleTree.fromLeafHashes([...others.slice(0, 3), nobleHasher.hashLeaf(encodeLeaf(leaf)), ...others.slice(3)]);
  const logReceipt = buildReceipt({
    leafBytes: encodeLeaf(leaf),
    leafIndex: 3,
    tree,
    checkpoint: { treeSize: 7, root: bytesToHex(tree.rootAt(7)), fabricBlockHeight: 10, chainId: 31337, contract: '0x5fbdb2315678afecb367f032d93f642f64180aa3', evmBlockNumber: 5 },
  });
  return { version: 1, kind: 'consented-access', access: stored.access, grant: stored.grant, logReceipt };
}

/** Same form, another value: a number + 1, a list one longer, a hex digit flipped, else a letter appended. */
function changed(value: unknown): unknown {
  if (typeof value === 'number') return value + 1;
  if (Array.isArray(value)) return [...value, 'other'];
  const s = String(value);
  const last = s.slice(-1);
  if (/[0-9a-f]/.test(last)) return s.slice(0, -1) + (last === '0' ? '1' : '0');
  if (/[0-9A-F]/.test(last)) return s.slice(0, -1) + (last === 'A' ? 'B' : 'A');
  return `${s}x`;
}

/**
 * Changes each field of the receipt in turn — every field of the access, the grant and the log's
 * leaf, the leaf index, tree size, first proof hash, checkpoint root and size — and expects each
 * copy to fail: `valid: false` with a reason that names the part changed, or refused as
 * RECEIPT_MALFORMED naming the field. Returns how many fields were changed.
 */
export function expectEveryChangedFieldToFail(receipt: AccessReceipt, document: Buffer): number {
  const paths: string[][] = [
    ...Object.keys(receipt.access).map((k) => ['access', k]),
    ...Object.keys(receipt.grant).map((k) => ['grant', k]),
    ...Object.keys(receipt.logReceipt.leaf).map((k) => ['logReceipt', 'leaf', k]),
    ['logReceipt', 'leafIndex'],
    ['logReceipt', 'treeSize'],
    ...(receipt.logReceipt.inclusionProof.length > 0 ? [['logReceipt', 'inclusionProof', '0']] : []),
    ['logReceipt', 'checkpoint', 'root'],
    ['logReceipt', 'checkpoint', 'treeSize'],
  ];
  for (const p of paths) {
    const copy = JSON.parse(JSON.stringify(receipt));
    let holder = copy;
    for (const key of p.slice(0, -1)) holder = holder[key];
    const key = p[p.length - 1]!;
    holder[key] = changed(holder[key]);
    const where = p.join('.');
    try {
      const result = verifyAccessReceipt(copy, document);
      expect(result.valid, `${where} changed`).to.equal(false);
      const named = p[0] === 'logReceipt' ? /log receipt|logReceipt|leaf/i : p[0] === 'grant' ? /grant/ : /access|signature|leaf/;
      expect(result.reasons.join(' '), where).to.match(named);
    } catch (err) {
      if (!isAnchoringError(err)) throw err;
      expect(err.code, where).to.equal('RECEIPT_MALFORMED');
      expect(err.message, where).to.contain(key);
    }
  }
  return paths.length;
}
