import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdirSync, promises as fs, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { archiveAnchorReasons, encodeArchiveLeaf, parseArchiveReceipt, verifyArchiveReceipt, type ArchiveLedgerAnchor, type ArchiveReceipt } from '../../../gateway/src/anchoring';
import {
  anchorArchiveStore,
  AnchorLog,
  archiveFolder,
  attachLogReceipt,
  buildArchive,
  buildReceipt,
  encodePaths,
  receiptJsonFromBuild,
  writeArchiveStore,
  compareWalkOrder,
  readArchiveManifest,
  readArchiveReceipt,
  verifyArchiveFolder,
  type ArchiveProgress,
} from '../../../gateway/src/anchoring/node';
import { bytesToHex, MerkleTree } from '../../../gateway/src/merkle';
import { nativeSha256, nodeHasher } from '../../../gateway/src/merkle/node-hasher';
import { codeOf, makeAnchor, makeSourced, tempDir } from './fixtures';
import { ArchivesContract, IdentityContract, RecordsContract } from '../../../chaincode/src';
import { LedgerAnchorSource } from '../../../gateway/src/anchoring/node';
import type { SourcedAnchor } from '../../../gateway/src/anchoring/source';
import { FakeLedger } from '../chaincode/fake-ledger';
import { CONSORTIUM, HOSPITAL } from '../chaincode/fixtures';
import { ChaincodeLedger } from '../support/chaincode-ledger';

const sha256Hex = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

/** Where the fake ledger says the root went (what POST /v1/archives answers). */
const ANCHOR: ArchiveLedgerAnchor = {
  issuer: 'HospitalMSP',
  archiveId: 'scans-2019',
  txId: 'ab'.repeat(32),
  blockNumber: '12',
  anchoredAt: '2026-01-31T09:30:00.000Z',
};

/** The small folder: nested folders, an empty file, non-ASCII and odd names, a symlink. */
const FILES: Record<string, string> = {
  'README.txt': 'archive of 2019 scans',
  'a/1.pdf': '%PDF-1.4 one',
  'a/2.pdf': '%PDF-1.4 two',
  'a/b/deep.txt': 'deep',
  'a.b/dot-folder.txt': 'sorts after a/ by segment, before it by full string',
  'empty.bin': '',
  'z/ünïcødé name.txt': 'utf-8 names are fine',
  'z/line\nbreak.txt': 'a newline in a name is legal on Linux',
  'Z-upper.txt': 'upper case sorts first',
};

function makeFolder(root: string): void {
  for (const [rel, content] of Object.entries(FILES)) {
    const abs = path.join(root, ...rel.split('/'));
    mkdirSync(path.dirname(abs), { recursive: true });
    writeFileSync(abs, content);
  }
  symlinkSync(path.join(root, 'README.txt'), path.join(root, 'a', 'link-to-readme'));
}

/** Root computed independently: full-path segment order, leaf = canonical {docHash, path}. */
function independentRoot(): string {
  const paths = Object.keys(FILES).sort(compareWalkOrder);
  const leaves = paths.map((p) => {
    const leaf = Buffer.from(`{"docHash":"${sha256Hex(FILES[p]!)}","path":${JSON.stringify(p)}}`, 'utf8');
    return new Uint8Array(createHash('sha256').update(Buffer.from([0])).update(leaf).digest());
  });
  return bytesToHex(MerkleTree.fromLeafHashes(leaves).root());
}

describe('anchoring: archive mode', function () {
  this.timeout(30_000);
  let base: string;
  let cleanup: () => void;
  let source: string;
  beforeEach(() => {
    ({ dir: base, cleanup } = tempDir('medprov-archive-'));
    source = path.join(base, 'scans-2019');
    makeFolder(source);
  });
  afterEach(() => cleanup());

  it('archives a folder as one root; every receipt verifies against its file', async () => {
    const calls: { root: string; meta: unknown }[] = [];
    const progress: ArchiveProgress[] = [];
    const out = path.join(base, 'receipts');
    const summary = await archiveFolder(source, {
      out,
      threads: 2,
      progressIntervalMs: 0,
      onProgress: (p) => progress.push(p),
      anchorRoot: async (root, meta) => {
        calls.push({ root, meta });
        return ANCHOR;
      },
    });
    const count = Object.keys(FILES).length;
    expect(summary).to.deep.include({ fileCount: count, skipped: 1, out });
    expect(summary.totalBytes).to.equal(Object.values(FILES).reduce((n, c) => n + Buffer.byteLength(c), 0));
    expect(summary.root).to.equal(independentRoot());
    expect(calls).to.have.length(1);
    expect(calls[0]!.root).to.equal(summary.root);
    expect(calls[0]!.meta).to.deep.include({ fileCount: count, name: 'scans-2019' });
    expect(summary.anchor).to.deep.equal(ANCHOR);
    const manifest = await readArchiveManifest(out);
    expect(manifest.anchor).to.deep.equal(ANCHOR);
    expect(manifest.logReceipt).to.equal(null);
    expect(progress[0]!.phase).to.equal('scanning');
    expect(progress.at(-1)).to.deep.include({ phase: 'done', filesHashed: count, receiptsWritten: count, filesTotal: count });
    expect(progress.map((p) => p.phase).filter((p, i, a) => a[i - 1] !== p)).to.deep.equal(['scanning', 'hashing', 'tree', 'receipts', 'anchoring', 'done']);

    const check = await verifyArchiveFolder(source, out);
    expect(check).to.deep.equal({ verified: count, failed: 0, failures: [], anchored: 0 });
    for (const [rel, content] of Object.entries(FILES)) {
      const receipt = await readArchiveReceipt(out, { path: rel });
      expect(receipt.file.path).to.equal(rel);
      // Every receipt names the ledger transaction that anchored the root.
      expect(receipt.anchor).to.deep.equal(ANCHOR);
      expect(verifyArchiveReceipt(receipt, Buffer.from(content))).to.deep.equal({ valid: true, reasons: [], anchored: false });
      expect(await readArchiveReceipt(out, { index: receipt.leafIndex })).to.deep.equal(receipt);
    }
    expect(await codeOf(() => readArchiveReceipt(out, { path: 'a/missing.pdf' }))).to.equal('ARCHIVE_ENTRY_NOT_FOUND');
    expect(await codeOf(() => readArchiveReceipt(out, { index: count }))).to.equal('ARCHIVE_ENTRY_NOT_FOUND');
    await fs.access(path.join(out, '.paths.tmp')).then(
      () => expect.fail('temporary path list left behind'),
      () => undefined,
    );
  });

  it('gives the same root for the same content (reproducible), another for other content', async () => {
    const first = await archiveFolder(source, { out: path.join(base, 'r1') });
    const second = await archiveFolder(source, { out: path.join(base, 'r2'), threads: 1 });
    expect(second.root).to.equal(first.root);
    writeFileSync(path.join(source, 'a', '1.pdf'), '%PDF-1.4 onE');
    const third = await archiveFolder(source, { out: path.join(base, 'r3') });
    expect(third.root).not.to.equal(first.root);
  });

  it('fails verification after a one-byte change of a file', async () => {
    const out = path.join(base, 'receipts');
    await archiveFolder(source, { out });
    const target = path.join(source, 'a', 'b', 'deep.txt');
    const bytes = await fs.readFile(target);
    bytes[1]! ^= 0x20;
    await fs.writeFile(target, bytes);
    const check = await verifyArchiveFolder(source, out);
    expect(check.verified).to.equal(Object.keys(FILES).length - 1);
    expect(check.failed).to.equal(1);
    expect(check.failures[0]!.path).to.equal('a/b/deep.txt');
    const receipt = await readArchiveReceipt(out, { path: 'a/b/deep.txt' });
    expect(verifyArchiveReceipt(receipt, bytes).valid).to.equal(false);
  });

  it('fails verification when the receipt is altered: path, docHash, proof, root, index, size', async () => {
    const out = path.join(base, 'receipts');
    await archiveFolder(source, { out });
    const receipt = await readArchiveReceipt(out, { path: 'a/2.pdf' });
    const bytes = Buffer.from(FILES['a/2.pdf']!);
    const flip = (hex: string): string => (hex[0] === '0' ? '1' : '0') + hex.slice(1);
    const altered: ArchiveReceipt[] = [
      { ...receipt, file: { ...receipt.file, path: 'a/1.pdf' } },
      { ...receipt, file: { ...receipt.file, docHash: flip(receipt.file.docHash) } },
      { ...receipt, inclusionProof: [flip(receipt.inclusionProof[0]!), ...receipt.inclusionProof.slice(1)] },
      { ...receipt, archiveRoot: flip(receipt.archiveRoot) },
      { ...receipt, leafIndex: receipt.leafIndex + 1 },
      // A size that changes the proof's shape. (As RFC 9162 allows, some other sizes give the same
      // shape and still verify: the size is not what the root commits to, the leaves are.)
      { ...receipt, treeSize: receipt.treeSize - 2 },
    ];
    for (const r of altered) expect(verifyArchiveReceipt(r, bytes).valid, JSON.stringify(r).slice(0, 80)).to.equal(false);
  });

  it('chains file → archive root → log receipt once the root\'s anchor is checkpointed', async () => {
    const out = path.join(base, 'receipts');
    const summary = await archiveFolder(source, { out });
    // The archive root anchored as one record among others in the log; checkpoint taken offline here.
    const logDir = tempDir();
    const log = await AnchorLog.open(logDir.dir);
    try {
      for (const item of makeSourced(0, 20)) await log.append(item);
      const archiveAnchor = makeAnchor(20, 'doc', { docHash: summary.root, recordId: 'archive-scans-2019' });
      await log.append({ position: { blockNumber: 100n, txIndex: 0, anchorIndex: 0 }, anchor: archiveAnchor, blockNumber: 100n });
      await log.flush();
      const tree = await log.tree();
      const index = (await log.findByDocHash(summary.root))!;
      expect(index).to.equal(20);
      const logReceipt = buildReceipt({
        leafBytes: await log.leafBytes(index),
        leafIndex: index,
        tree,
        checkpoint: { treeSize: 21, root: bytesToHex(tree.root()), fabricBlockHeight: 101, chainId: 31337, contract: `0x${'12'.repeat(20)}` },
      });
      const otherReceipt = buildReceipt({
        leafBytes: await log.leafBytes(3),
        leafIndex: 3,
        tree,
        checkpoint: { treeSize: 21, root: bytesToHex(tree.root()), fabricBlockHeight: 101, chainId: 31337, contract: `0x${'12'.repeat(20)}` },
      });
      expect(await codeOf(() => attachLogReceipt(out, otherReceipt))).to.equal('INVALID_ARGUMENT');
      await attachLogReceipt(out, logReceipt);
      const receipt = await readArchiveReceipt(out, { path: 'README.txt' });
      expect(receipt.logReceipt).to.deep.equal(logReceipt);
      expect(verifyArchiveReceipt(receipt, Buffer.from(FILES['README.txt']!))).to.deep.equal({ valid: true, reasons: [], anchored: true });
      expect((await verifyArchiveFolder(source, out)).anchored).to.equal(Object.keys(FILES).length);
      // A log receipt for another document breaks the chain.
      const swapped = { ...receipt, logReceipt: otherReceipt };
      const result = verifyArchiveReceipt(swapped, Buffer.from(FILES['README.txt']!));
      expect(result.valid).to.equal(false);
      expect(result.anchored).to.equal(false);
    } finally {
      await log.close();
      logDir.cleanup();
    }
  });

  it('refuses malformed archive receipts with codes', async () => {
    const out = path.join(base, 'receipts');
    await archiveFolder(source, { out });
    const good = await readArchiveReceipt(out, { index: 0 });
    const cases: [unknown, string][] = [
      [{ ...good, version: 2 }, 'RECEIPT_UNSUPPORTED_VERSION'],
      [{ ...good, kind: 'anchor' }, 'RECEIPT_MALFORMED'],
      [{ ...good, file: { ...good.file, path: '../etc/passwd' } }, 'RECEIPT_MALFORMED'],
      [{ ...good, file: { ...good.file, path: '/abs' } }, 'RECEIPT_MALFORMED'],
      [{ ...good, file: { ...good.file, extra: 1 } }, 'RECEIPT_MALFORMED'],
      [{ ...good, archiveRoot: 'xyz' }, 'RECEIPT_MALFORMED'],
      [{ ...good, inclusionProof: [1] }, 'RECEIPT_MALFORMED'],
      [{ ...good, logReceipt: { version: 1 } }, 'RECEIPT_MALFORMED'],
      ['not json', 'RECEIPT_MALFORMED'],
    ];
    for (const [input, code] of cases) {
      expect(await codeOf(() => verifyArchiveReceipt(input, Buffer.alloc(0))), JSON.stringify(input).slice(0, 60)).to.equal(code);
      expect(await codeOf(() => parseArchiveReceipt(input))).to.equal(code);
    }
  });

  it('refuses an empty folder, an output inside the source, a non-empty output, a non-UTF-8 name', async () => {
    const empty = path.join(base, 'empty');
    mkdirSync(path.join(empty, 'only-folders'), { recursive: true });
    expect(await codeOf(() => archiveFolder(empty, { out: path.join(base, 'o1') }))).to.equal('ARCHIVE_EMPTY');
    expect(await codeOf(() => archiveFolder(source, { out: path.join(source, 'receipts') }))).to.equal('ARCHIVE_PATH_INVALID');
    expect(await codeOf(() => archiveFolder(source, { out: source }))).to.equal('ARCHIVE_PATH_INVALID');
    writeFileSync(path.join(base, 'o1', 'leftover'), 'x');
    expect(await codeOf(() => archiveFolder(source, { out: path.join(base, 'o1') }))).to.equal('ARCHIVE_WRITE_FAILED');
    writeFileSync(Buffer.concat([Buffer.from(path.join(source, 'a') + '/'), Buffer.from([0x66, 0xff, 0x2e, 0x74])]), 'latin-1 name');
    expect(await codeOf(() => archiveFolder(source, { out: path.join(base, 'o2') }))).to.equal('ARCHIVE_PATH_INVALID');
  });

  it('reports ARCHIVE_ANCHOR_FAILED when anchoring fails, with receipts already written', async () => {
    const out = path.join(base, 'receipts');
    const err = await archiveFolder(source, {
      out,
      anchorRoot: async () => {
        throw new Error('peer unavailable');
      },
    }).then(
      () => expect.fail('archiving succeeded although anchoring failed'),
      (e: unknown) => e as { code: string; details: { root: string } },
    );
    expect(err.code).to.equal('ARCHIVE_ANCHOR_FAILED');
    const manifest = await readArchiveManifest(out);
    expect(manifest.anchor).to.equal(null);
    expect(err.details.root).to.equal(manifest.root);
    expect((await verifyArchiveFolder(source, out)).verified).to.equal(Object.keys(FILES).length);
    expect((await readArchiveReceipt(out, { index: 0 })).anchor).to.equal(undefined);
    // Anchored later: the same root goes to the ledger, and the receipts name the transaction from then on.
    const roots: string[] = [];
    expect(await anchorArchiveStore(out, async (root) => (roots.push(root), ANCHOR))).to.deep.equal(ANCHOR);
    expect(roots).to.deep.equal([manifest.root]);
    expect((await readArchiveReceipt(out, { path: 'README.txt' })).anchor).to.deep.equal(ANCHOR);
    expect((await verifyArchiveFolder(source, out)).verified).to.equal(Object.keys(FILES).length);
    // A malformed anchor is refused before it is recorded.
    expect(await codeOf(() => anchorArchiveStore(out, async () => ({ ...ANCHOR, txId: 'nope' })))).to.equal('INVALID_ARGUMENT');
    expect((await readArchiveManifest(out)).anchor).to.deep.equal(ANCHOR);
  });

  it('compares a receipt with the ledger\'s record of its archive', async () => {
    const out = path.join(base, 'receipts');
    const summary = await archiveFolder(source, { out, anchorRoot: async () => ANCHOR });
    const receipt = await readArchiveReceipt(out, { index: 3 });
    const ledger = { archiveId: ANCHOR.archiveId, issuer: ANCHOR.issuer, root: summary.root, count: summary.fileCount, anchoredAt: ANCHOR.anchoredAt, txId: ANCHOR.txId };
    expect(archiveAnchorReasons(receipt, ledger)).to.deep.equal([]);
    expect(archiveAnchorReasons(receipt, null)).to.have.length(1);
    expect(archiveAnchorReasons(receipt, { ...ledger, root: 'cd'.repeat(32) })).to.deep.equal(['The ledger anchored another root under this archive id.']);
    expect(archiveAnchorReasons(receipt, { ...ledger, count: 1 })).to.have.length(1);
    expect(archiveAnchorReasons(receipt, { ...ledger, txId: 'cd'.repeat(32) })).to.have.length(1);
    const { anchor: _, ...unanchored } = receipt;
    expect(archiveAnchorReasons(unanchored, ledger)).to.have.length(1);
    // The anchor's form is checked by the parser.
    for (const bad of [{ ...ANCHOR, blockNumber: 12 }, { ...ANCHOR, issuer: 'no spaces allowed' }, { ...ANCHOR, extra: 1 }, { ...ANCHOR, anchoredAt: 'today' }]) {
      expect(await codeOf(() => parseArchiveReceipt({ ...receipt, anchor: bad }))).to.equal('RECEIPT_MALFORMED');
    }
  });

  it('never hands out a receipt from a damaged store', async () => {
    const out = path.join(base, 'receipts');
    await archiveFolder(source, { out });
    const tree = path.join(out, 'tree.bin');
    const bytes = await fs.readFile(tree);
    bytes[40]! ^= 1; // leaf 1's hash: the sibling in leaf 0's proof
    await fs.writeFile(tree, bytes);
    expect(await codeOf(() => readArchiveReceipt(out, { index: 0 }))).to.equal('ARCHIVE_READ_FAILED');
    await fs.truncate(tree, bytes.length - 32);
    expect(await codeOf(() => readArchiveReceipt(out, { index: 0 }))).to.equal('ARCHIVE_ENTRY_NOT_FOUND');
  });

  it('encodes the archive leaf canonically and validates paths', async () => {
    const leaf = encodeArchiveLeaf({ path: 'a/ü.txt', docHash: 'ab'.repeat(32) });
    expect(Buffer.from(leaf).toString('utf8')).to.equal(`{"docHash":"${'ab'.repeat(32)}","path":"a/ü.txt"}`);
    for (const bad of ['', 'a//b', './a', 'a/..', 'a/\u0000', 'a/\ud800', 'a/\ufffd']) {
      expect(await codeOf(() => encodeArchiveLeaf({ path: bad, docHash: 'ab'.repeat(32) })), JSON.stringify(bad)).to.equal('ARCHIVE_PATH_INVALID');
    }
    expect(await codeOf(() => encodeArchiveLeaf({ path: 'a', docHash: 'AB'.repeat(32) }))).to.equal('LEAF_INVALID');
  });
});

describe('anchoring: archive built in memory', function () {
  this.timeout(60_000);

  /** Contents of `n` files in one buffer; file i is i % 61 bytes. */
  function contentsOf(n: number): { data: Uint8Array; offsets: Float64Array } {
    const offsets = new Float64Array(n + 1);
    for (let i = 0; i < n; i++) offsets[i + 1] = offsets[i]! + (i % 61);
    const data = new Uint8Array(offsets[n]!);
    for (let i = 0; i < data.length; i++) data[i] = (i * 131) & 0xff;
    return { data, offsets };
  }

  it('gives the RFC 6962 root and proofs of MerkleTree for every size up to 70, and receipts that verify', async () => {
    for (let n = 1; n <= 70; n++) {
      const paths = Array.from({ length: n }, (_, i) => `d${i % 4}/f${i}.bin`);
      const contents = contentsOf(n);
      const built = await buildArchive(paths, contents);
      const leaves = paths.map((p, i) => {
        const doc = sha256Hex(contents.data.subarray(contents.offsets[i], contents.offsets[i + 1]));
        return new Uint8Array(createHash('sha256').update(Buffer.from([0])).update(`{"docHash":"${doc}","path":${JSON.stringify(p)}}`).digest());
      });
      const tree = MerkleTree.fromLeafHashes(leaves, nodeHasher);
      expect(built.rootHex, `n=${n}`).to.equal(bytesToHex(tree.root()));
      for (let i = 0; i < n; i++) {
        const receipt = JSON.parse(receiptJsonFromBuild(built, i)) as ArchiveReceipt;
        expect(receipt.inclusionProof, `n=${n} i=${i}`).to.deep.equal(tree.inclusionProof(i).map(bytesToHex));
        expect(verifyArchiveReceipt(receipt, contents.data.subarray(contents.offsets[i], contents.offsets[i + 1]), { sha256: nativeSha256 }).valid).to.equal(true);
      }
    }
  });

  it('hashes on threads over shared memory with the same result as the calling thread', async () => {
    const n = 20_000; // above one thread's piece, so the work is shared
    const paths = Array.from({ length: n }, (_, i) => (i === 7 ? 'odd/"quoted"\nname' : `batch-${Math.floor(i / 1000)}/scan-${i}.bin`));
    const contents = contentsOf(n);
    const inline = await buildArchive(paths, contents, { threads: 0 });
    const threaded = await buildArchive(paths, contents, { threads: 2 });
    expect(threaded.rootHex).to.equal(inline.rootHex);
    expect(Buffer.from(threaded.docHashes).equals(Buffer.from(inline.docHashes))).to.equal(true);
    expect(Buffer.from(threaded.levels.nodes).equals(Buffer.from(inline.levels.nodes))).to.equal(true);
    expect(threaded.totalBytes).to.equal(contents.offsets[n]);
    const receipt = JSON.parse(receiptJsonFromBuild(threaded, 7)) as ArchiveReceipt;
    expect(receipt.file.path).to.equal('odd/"quoted"\nname');
    expect(verifyArchiveReceipt(receipt, contents.data.subarray(contents.offsets[7], contents.offsets[8])).valid).to.equal(true);
  });

  it('encodes paths fast or one by one to the same bytes, and refuses bad ones', async () => {
    const plain = ['a', 'b/c.txt', 'ü/ñ', 'x'.repeat(4096)];
    const fast = encodePaths(plain);
    expect(Buffer.from(fast.blob).toString('utf8')).to.equal(plain.map((p) => `${JSON.stringify(p)}\n`).join(''));
    expect(Array.from(fast.offsets)).to.deep.equal([0, 4, 14, 22, 22 + 4099]);
    const odd = ['tab\there', 'quote"', 'back\\slash', 'new\nline', 'emoji 😀', 'del\u007f'];
    expect(Buffer.from(encodePaths(odd).blob).toString('utf8')).to.equal(odd.map((p) => `${JSON.stringify(p)}\n`).join(''));
    for (const bad of [[''], ['a//b'], ['./a'], ['a/..'], ['/abs'], ['a/'], ['\ud800'], ['x'.repeat(4097)], ['ok', 'a\u0000b']]) {
      expect(await codeOf(() => encodePaths(bad)), JSON.stringify(bad).slice(0, 40)).to.equal('ARCHIVE_PATH_INVALID');
    }
  });

  it('writes a store whose receipts read back by index and by path, in the caller\'s order', async () => {
    const { dir, cleanup } = tempDir('medprov-archive-mem-');
    try {
      const paths = ['z.txt', 'a.txt', 'm/n.txt'];
      const contents = contentsOf(3);
      const built = await buildArchive(paths, contents);
      await writeArchiveStore(dir, built, { name: 'in-memory', createdAt: new Date().toISOString(), totalBytes: built.totalBytes, skipped: 0, pathOrder: 'given' });
      const receipt = await readArchiveReceipt(dir, { path: 'a.txt' });
      expect(receipt.leafIndex).to.equal(1);
      expect(JSON.parse(receiptJsonFromBuild(built, 1))).to.deep.equal(receipt);
      expect((await readArchiveReceipt(dir, { path: 'm/n.txt' })).leafIndex).to.equal(2);
      expect(await codeOf(() => readArchiveReceipt(dir, { path: 'b.txt' }))).to.equal('ARCHIVE_ENTRY_NOT_FOUND');
      expect(await codeOf(() => buildArchive([], contentsOf(0)))).to.equal('ARCHIVE_EMPTY');
    } finally {
      cleanup();
    }
  });
});

describe('anchoring: an archive in the anchor log (file → archive root → Archives transaction → log → checkpoint)', function () {
  this.timeout(30_000);

  it('the ledger source yields the archive as an anchor (root, archive:<id>, version 1) in commit order, and its log receipt chains onto the archive\'s receipts', async () => {
    const { dir, cleanup } = tempDir('medprov-archive-log-');
    try {
      const source = path.join(dir, 'scans');
      makeFolder(source);
      const out = path.join(dir, 'receipts');
      const ledger = new FakeLedger();
      await ledger.invoke(HOSPITAL, new IdentityContract(), 'initConsortium', CONSORTIUM);
      const recordOf = (id: string) => JSON.stringify({ recordId: id, docHash: sha256Hex(id), patientRef: sha256Hex(`ref ${id}`), category: 'loinc:11506-3' });
      await ledger.invoke(HOSPITAL, new RecordsContract(), 'anchorRecord', recordOf('before'));
      // The archive anchored by its own transaction, as POST /v1/archives does.
      const summary = await archiveFolder(source, {
        out,
        anchorRoot: async (root, meta) => {
          const { archive } = JSON.parse(await ledger.invoke(HOSPITAL, new ArchivesContract(), 'anchorArchive', JSON.stringify({ archiveId: 'scans-2019', root, count: meta.fileCount })));
          return { issuer: archive.issuer, archiveId: archive.archiveId, txId: archive.txId, blockNumber: String(ledger.committed.length), anchoredAt: archive.anchoredAt };
        },
      });
      await ledger.invoke(HOSPITAL, new RecordsContract(), 'anchorRecord', recordOf('after'));

      // The log's source: three anchors, the archive in the middle, named archive:<id>.
      const view = new ChaincodeLedger(ledger, HOSPITAL);
      const items: SourcedAnchor[] = [];
      for await (const item of new LedgerAnchorSource(view, view, { untilHeight: true, quietMs: 200 }).anchorsAfter(undefined)) items.push(item);
      expect(items.map((i) => i.anchor.recordId)).to.deep.equal(['before', 'archive:scans-2019', 'after']);
      expect(items[1]!.anchor).to.deep.equal({ docHash: summary.root, issuer: HOSPITAL, recordId: 'archive:scans-2019', version: 1, anchoredAt: summary.anchor!.anchoredAt, txId: summary.anchor!.txId });
      expect(String(items[1]!.blockNumber)).to.equal(summary.anchor!.blockNumber);

      // The log and a checkpoint of it (offline here), its receipt of the root attached to the archive.
      const logDir = tempDir();
      const log = await AnchorLog.open(logDir.dir);
      try {
        for (const item of items) await log.append(item);
        await log.flush();
        const tree = await log.tree();
        const index = (await log.findByDocHash(summary.root))!;
        const logReceipt = buildReceipt({
          leafBytes: await log.leafBytes(index),
          leafIndex: index,
          tree,
          checkpoint: { treeSize: 3, root: bytesToHex(tree.root()), fabricBlockHeight: ledger.committed.length + 1, chainId: 31337, contract: `0x${'12'.repeat(20)}` },
        });
        await attachLogReceipt(out, logReceipt);
        const receipt = await readArchiveReceipt(out, { path: 'a/1.pdf' });
        expect(verifyArchiveReceipt(receipt, Buffer.from(FILES['a/1.pdf']!))).to.deep.equal({ valid: true, reasons: [], anchored: true });
        // A receipt whose anchor names another transaction than the log's leaf does not chain.
        const forged = { ...receipt, anchor: { ...receipt.anchor!, txId: 'cd'.repeat(32) } };
        const result = verifyArchiveReceipt(forged, Buffer.from(FILES['a/1.pdf']!));
        expect(result.anchored).to.equal(false);
        expect(result.reasons).to.deep.equal(["The log receipt's leaf names another transaction, issuer, archive, time or block than the receipt's anchor."]);
      } finally {
        await log.close();
        logDir.cleanup();
      }
    } finally {
      cleanup();
    }
  });
});
