import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { AnchorLog, ANCHOR_LOG_FILES } from '../../../gateway/src/anchoring/node';
import { bytesToHex, MerkleTree, nobleHasher } from '../../../gateway/src/merkle';
import { encodeLeaf, leafFromAnchor } from '../../../gateway/src/anchoring';
import { codeOf, makeSourced, recordingLogger, tempDir } from './fixtures';

/** The root an independent build over the same anchors gives (noble hasher, from leaf data). */
function expectedRoot(items: ReturnType<typeof makeSourced>, size = items.length): string {
  const leaves = items.slice(0, size).map((s) => nobleHasher.hashLeaf(encodeLeaf(leafFromAnchor(s.anchor, s.blockNumber))));
  return bytesToHex(MerkleTree.fromLeafHashes(leaves).root());
}

describe('anchoring: AnchorLog', function () {
  this.timeout(20_000);
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tempDir()));
  afterEach(() => cleanup());

  const anchors = makeSourced(0, 250);

  async function filled(count: number, flushEvery = 64): Promise<AnchorLog> {
    const log = await AnchorLog.open(dir, { flushEvery });
    for (const item of anchors.slice(0, count)) await log.append(item);
    return log;
  }

  it('appends in order, numbers leaves, and builds the RFC 6962 tree over the leaf data', async () => {
    const log = await AnchorLog.open(dir);
    const first = await log.append(anchors[0]!);
    const second = await log.append(anchors[1]!);
    expect(first).to.deep.include({ appended: true, leafIndex: 0 });
    expect(second).to.deep.include({ appended: true, leafIndex: 1 });
    expect(log.size).to.equal(2);
    expect(log.committedSize).to.equal(0);
    expect(bytesToHex((await log.tree()).root())).to.equal(expectedRoot(anchors, 2));
    for (const item of anchors.slice(2, 100)) await log.append(item);
    // The live tree follows appends after it was built.
    expect(bytesToHex((await log.tree()).root())).to.equal(expectedRoot(anchors, 100));
    await log.close();
  });

  it('writes in batches: committed size advances at flushEvery and on flush', async () => {
    const log = await AnchorLog.open(dir, { flushEvery: 10 });
    for (const item of anchors.slice(0, 25)) await log.append(item);
    expect(log.committedSize).to.equal(20);
    expect(log.committedPosition).to.deep.equal(anchors[19]!.position);
    await log.flush();
    expect(log.committedSize).to.equal(25);
    expect((await fs.stat(path.join(dir, ANCHOR_LOG_FILES.leaves))).size).to.equal(25 * 32);
    const lines = (await fs.readFile(path.join(dir, ANCHOR_LOG_FILES.data), 'utf8')).trimEnd().split('\n');
    expect(lines).to.have.length(25);
    expect(Buffer.from(await log.leafBytes(3)).toString('utf8')).to.equal(lines[3]);
    await log.close();
  });

  it('reopens with the same size, root, leaves and resume position', async () => {
    const log = await filled(130);
    const root = bytesToHex((await log.tree()).root());
    await log.close();
    const again = await AnchorLog.open(dir);
    expect(again.size).to.equal(130);
    expect(again.committedSize).to.equal(130);
    expect(again.position).to.deep.equal(anchors[129]!.position);
    expect(bytesToHex((await again.tree()).root())).to.equal(root);
    expect(root).to.equal(expectedRoot(anchors, 130));
    expect(await again.leaf(77)).to.deep.equal(leafFromAnchor(anchors[77]!.anchor, anchors[77]!.blockNumber));
    expect(again.recovery).to.equal(undefined);
    await again.close();
  });

  it('skips replayed anchors: the same anchors fed again after a restart create no duplicates', async () => {
    const log = await filled(100);
    await log.close();
    const again = await AnchorLog.open(dir);
    let skipped = 0;
    for (const item of anchors.slice(0, 150)) if (!(await again.append(item)).appended) skipped++;
    expect(skipped).to.equal(100);
    expect(again.size).to.equal(150);
    expect(bytesToHex((await again.tree()).root())).to.equal(expectedRoot(anchors, 150));
    // Replays inside one session too.
    expect((await again.append(anchors[149]!)).appended).to.equal(false);
    await again.close();
  });

  it('discards an uncommitted tail after a crash mid-batch and resumes from the committed position', async () => {
    const logger = recordingLogger();
    const log = await filled(64, 64);
    await log.close();
    // A crash after writing part of the next batch: a whole leaf, then a torn one.
    await fs.appendFile(path.join(dir, ANCHOR_LOG_FILES.data), '{"anchoredAt":"2025-01-01T00:00:00.000Z"}\n{"torn');
    await fs.appendFile(path.join(dir, ANCHOR_LOG_FILES.leaves), Buffer.alloc(32 + 7, 1));
    const again = await AnchorLog.open(dir, { logger });
    expect(again.recovery).to.deep.equal({ discardedHashBytes: 39, discardedDataBytes: 48 });
    expect(logger.lines.map((l) => l.level)).to.deep.equal(['warn']);
    expect(again.size).to.equal(64);
    expect(again.position).to.deep.equal(anchors[63]!.position);
    for (const item of anchors.slice(0, 80)) await again.append(item);
    await again.flush();
    await again.verify();
    expect(bytesToHex((await again.tree()).root())).to.equal(expectedRoot(anchors, 80));
    await again.close();
  });

  it('detects a truncated committed tail with LOG_TRUNCATED', async () => {
    const log = await filled(100);
    await log.close();
    const bin = path.join(dir, ANCHOR_LOG_FILES.leaves);
    await fs.truncate(bin, 99 * 32 + 5);
    expect(await codeOf(() => AnchorLog.open(dir))).to.equal('LOG_TRUNCATED');
  });

  it('detects truncated leaf data with LOG_TRUNCATED', async () => {
    const log = await filled(100);
    await log.close();
    const data = path.join(dir, ANCHOR_LOG_FILES.data);
    await fs.truncate(data, (await fs.stat(data)).size - 10);
    expect(await codeOf(() => AnchorLog.open(dir))).to.equal('LOG_TRUNCATED');
  });

  it('detects a corrupt committed tail (hash or data) with LOG_CORRUPT', async () => {
    const log = await filled(100);
    await log.close();
    const bin = path.join(dir, ANCHOR_LOG_FILES.leaves);
    const bytes = await fs.readFile(bin);
    bytes[99 * 32 + 3]! ^= 1;
    await fs.writeFile(bin, bytes);
    expect(await codeOf(() => AnchorLog.open(dir))).to.equal('LOG_CORRUPT');
    bytes[99 * 32 + 3]! ^= 1;
    await fs.writeFile(bin, bytes);
    const data = path.join(dir, ANCHOR_LOG_FILES.data);
    const text = await fs.readFile(data, 'utf8');
    await fs.writeFile(data, text.slice(0, -20) + text.slice(-20).replace(/[0-9]/, (d) => String((Number(d) + 1) % 10)));
    expect(await codeOf(() => AnchorLog.open(dir))).to.equal('LOG_CORRUPT');
  });

  it('refuses leaf files without a commit record, and a commit record of another format version', async () => {
    const log = await filled(10, 5);
    await log.close();
    const commit = path.join(dir, ANCHOR_LOG_FILES.commit);
    const record = JSON.parse(await fs.readFile(commit, 'utf8')) as Record<string, unknown>;
    await fs.writeFile(commit, JSON.stringify({ ...record, version: 2 }));
    expect(await codeOf(() => AnchorLog.open(dir))).to.equal('LOG_UNSUPPORTED');
    await fs.rm(commit);
    expect(await codeOf(() => AnchorLog.open(dir))).to.equal('LOG_CORRUPT');
  });

  it('verify() finds a leaf replaced in the middle of the files (data vs hashes)', async () => {
    const log = await filled(100);
    await log.close();
    const data = path.join(dir, ANCHOR_LOG_FILES.data);
    const lines = (await fs.readFile(data, 'utf8')).split('\n');
    lines[40] = lines[40]!.replace(/"version":1/, '"version":2');
    await fs.writeFile(data, lines.join('\n'));
    const again = await AnchorLog.open(dir); // the tail is intact, so open succeeds
    try {
      await again.verify();
      expect.fail('verify accepted a rewritten leaf');
    } catch (err) {
      expect((err as { code: string }).code).to.equal('LOG_CORRUPT');
      expect((err as { details: { leafIndex: number } }).details.leafIndex).to.equal(40);
    }
    await again.close();
  });

  it('verify() reports LOG_TAMPERED when files change under the running process', async () => {
    const log = await filled(100);
    await log.flush();
    await log.tree();
    await log.verify();
    const bin = path.join(dir, ANCHOR_LOG_FILES.leaves);
    const handle = await fs.open(bin, 'r+');
    await handle.write(Buffer.alloc(32, 7), 0, 32, 50 * 32);
    await handle.close();
    expect(await codeOf(() => log.verify(0, 100))).to.equal('LOG_TAMPERED');
    await log.verify(60, 100); // the untouched range still checks out
    await log.close();
  });

  it('takes a single-writer lock', async () => {
    const log = await AnchorLog.open(dir);
    expect(await codeOf(() => AnchorLog.open(dir))).to.equal('LOG_LOCKED');
    await log.close();
    const again = await AnchorLog.open(dir);
    await again.close();
  });

  it('refuses use after close, bad positions and out-of-range reads', async () => {
    const log = await filled(5, 5);
    expect(await codeOf(() => log.leafBytes(5))).to.equal('INVALID_ARGUMENT');
    expect(await codeOf(() => log.append({ ...anchors[6]!, blockNumber: anchors[6]!.blockNumber + 1n }))).to.equal('INVALID_ARGUMENT');
    expect(await codeOf(() => log.append({ ...anchors[6]!, position: { ...anchors[6]!.position, txIndex: -1 } }))).to.equal('INVALID_ARGUMENT');
    await log.close();
    expect(await codeOf(() => log.append(anchors[7]!))).to.equal('LOG_CLOSED');
  });

  it('finds a leaf by document hash, on disk and still in memory', async () => {
    const log = await filled(70, 64);
    expect(await log.findByDocHash(anchors[10]!.anchor.docHash)).to.equal(10);
    expect(await log.findByDocHash(anchors[68]!.anchor.docHash)).to.equal(68);
    expect(await log.findByDocHash('0'.repeat(64))).to.equal(undefined);
    await log.close();
  });
});
