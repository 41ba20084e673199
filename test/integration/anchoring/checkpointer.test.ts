/**
 * Anchoring against a REAL EVM: a `hardhat node` child process, the AnchorRegistry compiled from
 * contracts/ and deployed with ethers. The ledger side is a fixture of the ledger's output (the
 * Fabric network cannot run here); everything from the anchor log to the chain is the product code.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { mkdirSync, promises as fs, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Interface, JsonRpcProvider, Network } from 'ethers';
import {
  ANCHOR_REGISTRY_VIEW_ABI,
  verifyArchiveReceipt,
  verifyReceipt,
  verifyReceiptOnChain,
  type AnchoringError,
  type Receipt,
  type SourcedAnchor,
} from '../../../gateway/src/anchoring';
import {
  AnchorLog,
  AnchorRegistryClient,
  ANCHOR_LOG_FILES,
  archiveFolder,
  attachLogReceipt,
  Checkpointer,
  deployAnchorRegistry,
  loadRegistryArtifact,
  readArchiveReceipt,
  ReceiptIssuer,
  verifyArchiveFolder,
  type ArchiveProgress,
  type WrittenCheckpointOutcome,
} from '../../../gateway/src/anchoring/node';
import { bytesToHex, MerkleTree } from '../../../gateway/src/merkle';
import { nodeHasher } from '../../../gateway/src/merkle/node-hasher';
import { ArraySource, codeOf, documentOf, makeAnchor, makeSourced, sha256Hex, tempDir } from '../../unit/anchoring/fixtures';
import { ARCHIVE_LEAF_PREFIX } from '../../../chaincode/src/lib/archive-model';
import { answers, compileContracts, DEV_ADDRESSES, DEV_KEYS, startEvmNode, type EvmNode } from './evm';

const CHANNEL = 'medprov';
// Roles: 0 owns the registry (and is deliberately not an anchorer), 1 is our anchorer, 2 another
// org's anchorer, 3 a key the registry never authorised.
const [OWNER_KEY, ANCHORER_KEY, OTHER_ANCHORER_KEY, STRANGER_KEY] = DEV_KEYS;

const fmt = (ms: number): string => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`);
const rate = (count: number, ms: number): string => `${Math.round((count / ms) * 1000).toLocaleString('en-US')}/s`;

describe('anchoring on a real EVM (hardhat node)', function () {
  this.timeout(600_000);
  let evm: EvmNode;
  let provider: JsonRpcProvider;
  const opened: { close(): unknown }[] = [];
  const cleanups: (() => void)[] = [];

  before(async () => {
    compileContracts();
    evm = await startEvmNode();
    provider = new JsonRpcProvider(evm.url, Network.from(31337n), { staticNetwork: true, pollingInterval: 100 });
  });

  after(async () => {
    for (const o of opened.reverse()) await Promise.resolve(o.close()).catch(() => undefined);
    provider?.destroy();
    await evm?.stop();
    for (const c of cleanups) c();
    if (evm) expect(await answers(evm.url), 'the hardhat node is still running').to.equal(false);
  });

  /** A fresh registry with accounts 1 and 2 as anchorers. */
  async function deploy(): Promise<string> {
    const { address } = await deployAnchorRegistry({
      rpcUrl: evm.url,
      ownerKey: OWNER_KEY,
      channel: CHANNEL,
      anchorers: [DEV_ADDRESSES[1], DEV_ADDRESSES[2]],
    });
    return address;
  }

  async function client(address: string, key: string = ANCHORER_KEY): Promise<AnchorRegistryClient> {
    const c = await AnchorRegistryClient.connect({ rpcUrl: evm.url, address, privateKey: key, pollingIntervalMs: 100 });
    opened.push(c);
    return c;
  }

  async function openLog(): Promise<{ log: AnchorLog; dir: string }> {
    const t = tempDir('medprov-evm-log-');
    cleanups.push(t.cleanup);
    const log = await AnchorLog.open(t.dir, { flushEvery: 500 });
    opened.push(log);
    return { log, dir: t.dir };
  }

  it('the registry view ABI kept in code is part of the compiled artifact', () => {
    const compiled = new Interface(loadRegistryArtifact().abi).format();
    for (const line of ANCHOR_REGISTRY_VIEW_ABI) expect(compiled, line).to.include(new Interface([line]).format()[0]);
  });

  it('connects: chain id from the node, contract checked, channel readable', async () => {
    const address = await deploy();
    const registry = await client(address);
    expect(registry.chainId).to.equal(31337n);
    expect(registry.account).to.equal(DEV_ADDRESSES[1]);
    expect(await registry.channel()).to.equal(CHANNEL);
    expect(await registry.latestCheckpoint()).to.equal(undefined);
    expect(await codeOf(() => AnchorRegistryClient.connect({ rpcUrl: evm.url, address: DEV_ADDRESSES[3] }))).to.equal('REGISTRY_NOT_FOUND');
    expect(await codeOf(() => AnchorRegistryClient.connect({ rpcUrl: 'http://127.0.0.1:1', address, connectTimeoutMs: 2000 }))).to.equal(
      'REGISTRY_UNAVAILABLE',
    );
    expect(await codeOf(() => AnchorRegistryClient.connect({ rpcUrl: evm.url, address, privateKey: '0x1234' }))).to.equal('REGISTRY_CONFIG_INVALID');
  });

  describe('checkpointing a log and issuing receipts', () => {
    let address: string;
    let registry: AnchorRegistryClient;
    let log: AnchorLog;
    let logDir: string;
    let source: ArraySource;
    let checkpointer: Checkpointer;
    const items = makeSourced(0, 1200, { perBlock: 4, perTx: 3 });
    const written: WrittenCheckpointOutcome[] = [];

    before(async () => {
      address = await deploy();
      registry = await client(address);
      ({ log, dir: logDir } = await openLog());
      source = new ArraySource();
      checkpointer = new Checkpointer({ log, source, registry });
      checkpointer.on('checkpoint-written', (o) => written.push(o));
    });

    it('writes checkpoints of increasing size as anchors arrive; nothing when nothing is new', async () => {
      expect(await checkpointer.runOnce()).to.deep.equal({ kind: 'empty' });
      for (const upTo of [100, 250, 1000]) {
        source.push(...items.slice(source.items.length, upTo));
        const outcome = await checkpointer.runOnce();
        expect(outcome.kind).to.equal('written');
        expect(outcome).to.deep.include({ treeSize: upTo });
      }
      expect(await checkpointer.runOnce()).to.deep.equal({ kind: 'up-to-date', treeSize: 1000 });
      expect(await registry.checkpointCount()).to.equal(3n);
      const onChain = await Promise.all([0n, 1n, 2n].map((i) => registry.checkpointAt(i)));
      expect(onChain.map((c) => c.treeSize)).to.deep.equal([100n, 250n, 1000n]);
      const tree = await log.tree();
      for (const c of onChain) expect(bytesToHex(c.root)).to.equal(bytesToHex(tree.rootAt(Number(c.treeSize))));
      // Height = block of the last anchor + 1, never decreasing.
      expect(onChain.map((c) => c.fabricBlockHeight)).to.deep.equal([100, 250, 1000].map((n) => items[n - 1]!.blockNumber + 1n));
      expect(written.map((w) => w.previousTreeSize)).to.deep.equal([0, 100, 250]);
      const status = checkpointer.status();
      expect(status).to.deep.include({ state: 'idle', logSize: 1000, committedSize: 1000, anchorsSinceCheckpoint: 0, lastOutcome: 'up-to-date' });
      expect(status.lastCheckpoint).to.deep.include({ treeSize: 1000, root: written[2]!.root });
      for (const w of written) console.log(`      checkpoint ${w.previousTreeSize} → ${w.treeSize} leaves: gas ${w.gasUsed.toLocaleString('en-US')}`);
    });

    it('issues receipts that verify offline and on chain, against the first covering checkpoint', async () => {
      const issuer = new ReceiptIssuer(log, registry);
      const expectations: [number, number][] = [
        [0, 100],
        [99, 100],
        [100, 250],
        [249, 250],
        [250, 1000],
        [777, 1000],
        [999, 1000],
      ];
      for (const [leafIndex, size] of expectations) {
        const receipt = await issuer.issue(leafIndex);
        expect(receipt.treeSize, `leaf ${leafIndex}`).to.equal(size);
        expect(receipt.checkpoint).to.deep.include({ chainId: 31337, contract: address.toLowerCase(), treeSize: size });
        expect(receipt.checkpoint.evmTxHash).to.match(/^0x[0-9a-f]{64}$/);
        expect(verifyReceipt(receipt, documentOf(leafIndex))).to.deep.equal({ valid: true, reasons: [] });
        const onChain = await verifyReceiptOnChain(JSON.stringify(receipt), provider);
        expect(onChain.reasons, `leaf ${leafIndex}`).to.deep.equal([]);
        expect(onChain.valid).to.equal(true);
      }
      const byHash = await issuer.issueForDocHash(items[500]!.anchor.docHash);
      expect(byHash.leafIndex).to.equal(500);
      expect(await codeOf(() => issuer.issueForDocHash('0'.repeat(64)))).to.equal('LEAF_NOT_FOUND');
    });

    it('refuses on chain what passes offline: both sizes changed, another chain, another contract, another tx', async () => {
      const issuer = new ReceiptIssuer(log, registry);
      const receipt = await issuer.issue(100); // proved in the tree of 250
      const other = await issuer.issue(5); // recorded by the checkpoint of 100
      const variants: [string, Receipt][] = [
        // Leaf 100 has the same proof shape in 250 and 256 leaves: offline cannot tell, the chain can.
        ['both sizes', { ...receipt, treeSize: 256, checkpoint: { ...receipt.checkpoint, treeSize: 256 } }],
        ['chain id', { ...receipt, checkpoint: { ...receipt.checkpoint, chainId: 1 } }],
        ['contract', { ...receipt, checkpoint: { ...receipt.checkpoint, contract: DEV_ADDRESSES[3].toLowerCase() } }],
        ['evm tx', { ...receipt, checkpoint: { ...receipt.checkpoint, evmTxHash: other.checkpoint.evmTxHash! } }],
        ['evm block', { ...receipt, checkpoint: { ...receipt.checkpoint, evmBlockNumber: receipt.checkpoint.evmBlockNumber! + 1 } }],
        ['block height', { ...receipt, checkpoint: { ...receipt.checkpoint, fabricBlockHeight: receipt.checkpoint.fabricBlockHeight + 1 } }],
      ];
      expect(verifyReceipt(variants[0]![1]).valid, 'resized receipt offline').to.equal(true);
      for (const [name, r] of variants) {
        const result = await verifyReceiptOnChain(r, provider);
        expect(result.valid, name).to.equal(false);
        expect(result.reasons, name).to.have.length.greaterThan(0);
      }
      // A receipt whose proof is wrong fails on chain too (the offline part is included).
      const badProof = { ...receipt, inclusionProof: [receipt.inclusionProof[1]!, receipt.inclusionProof[0]!, ...receipt.inclusionProof.slice(2)] };
      expect((await verifyReceiptOnChain(badProof, provider)).valid).to.equal(false);
    });

    it('answers pending for a leaf no checkpoint covers yet', async () => {
      source.push(...items.slice(1000, 1010));
      await checkpointer.sync();
      expect(log.size).to.equal(1010);
      const issuer = new ReceiptIssuer(log, registry);
      expect(await codeOf(() => issuer.issue(1005))).to.equal('RECEIPT_PENDING');
    });

    it('resumes after a restart from the committed position, without duplicates', async () => {
      await log.close();
      const reopened = await AnchorLog.open(logDir);
      opened.push(reopened);
      const restarted = new Checkpointer({ log: reopened, source, registry });
      // The source is read from where the log stopped, and a full replay is also harmless.
      expect(await restarted.sync()).to.equal(0);
      expect(source.calls.at(-1)).to.deep.equal(items[1009]!.position);
      for (const item of items.slice(0, 1010)) expect((await reopened.append(item)).appended).to.equal(false);
      source.push(...items.slice(1010, 1200));
      const outcome = await restarted.runOnce();
      expect(outcome).to.deep.include({ kind: 'written', treeSize: 1200, previousTreeSize: 1000 });
      expect(reopened.size).to.equal(1200);
      const receipt = await new ReceiptIssuer(reopened, registry).issue(1005);
      expect((await verifyReceiptOnChain(receipt, provider)).valid).to.equal(true);
      log = reopened;
    });

    it('a key the registry never authorised cannot write (AnchorRegistryUnauthorizedAnchorer)', async () => {
      const stranger = await client(address, STRANGER_KEY);
      const err = (await stranger.writeCheckpoint(5000n, new Uint8Array(32).fill(1), 5000n).catch((e: unknown) => e)) as AnchoringError;
      expect(err.code).to.equal('REGISTRY_UNAUTHORIZED');
      expect(err.details).to.deep.include({ revert: 'AnchorRegistryUnauthorizedAnchorer' });
      expect((err.details as { args: string[] }).args).to.deep.equal([DEV_ADDRESSES[3]]);
      // The same through a checkpointer running with that key: refused, nothing written.
      const { log: strangerLog } = await openLog();
      const refused = new Checkpointer({ log: strangerLog, source: new ArraySource(makeSourced(0, 1300, { perBlock: 4, perTx: 3 })), registry: stranger });
      expect(await codeOf(() => refused.runOnce())).to.equal('REGISTRY_UNAUTHORIZED');
      expect(refused.status().lastError?.code).to.equal('REGISTRY_UNAUTHORIZED');
      expect(await registry.checkpointCount()).to.equal(4n);
    });

    it('equal and shrinking tree sizes are refused (AnchorRegistryTreeSizeNotIncreasing)', async () => {
      const latest = (await registry.latestCheckpoint())!;
      for (const size of [latest.treeSize, latest.treeSize - 1n, 1n]) {
        const err = (await registry.writeCheckpoint(size, latest.root, latest.fabricBlockHeight).catch((e: unknown) => e)) as AnchoringError;
        expect(err.code, `size ${size}`).to.equal('REGISTRY_SIZE_NOT_INCREASING');
        expect(err.details).to.deep.include({ revert: 'AnchorRegistryTreeSizeNotIncreasing' });
      }
      expect(await registry.checkpointCount()).to.equal(4n);
    });
  });

  describe('forks', () => {
    it('(a) another anchorer checkpoints our next size with a different root: fork reported, nothing written', async () => {
      const address = await deploy();
      const registry = await client(address);
      const rival = await client(address, OTHER_ANCHORER_KEY);
      const { log } = await openLog();
      const items = makeSourced(0, 150);
      const source = new ArraySource(items.slice(0, 100));
      const checkpointer = new Checkpointer({ log, source, registry });
      const forks: AnchoringError[] = [];
      checkpointer.on('fork-detected', (e) => forks.push(e));
      expect((await checkpointer.runOnce()).kind).to.equal('written');

      // The rival's view of the ledger differs in one anchor (a different document at leaf 120).
      const rivalLeaves = items.map((s, i) =>
        nodeHasher.hashLeaf(Buffer.from(JSON.stringify({ i, forged: i === 120 ? 'yes' : s.anchor.docHash }))),
      );
      const rivalRoot = MerkleTree.fromLeafHashes(rivalLeaves, nodeHasher).root();
      await rival.writeCheckpoint(150n, rivalRoot, items[149]!.blockNumber + 1n);

      source.push(...items.slice(100));
      const err = (await checkpointer.runOnce().catch((e: unknown) => e)) as AnchoringError;
      expect(err.code).to.equal('CHECKPOINT_FORK');
      expect(err.details).to.deep.include({ treeSize: 150, onChainRoot: bytesToHex(rivalRoot), anchorer: DEV_ADDRESSES[2] });
      expect(forks).to.have.length(1);
      expect(await registry.checkpointCount()).to.equal(2n); // ours and the rival's, nothing more
      expect(checkpointer.status()).to.deep.include({ state: 'halted' });
      expect(checkpointer.status().halted?.code).to.equal('CHECKPOINT_FORK');
      // Halted for good: more anchors do not make it write again.
      source.push(...makeSourced(150, 160));
      expect(await codeOf(() => checkpointer.runOnce())).to.equal('CHECKPOINTER_HALTED');
      expect(await registry.checkpointCount()).to.equal(2n);
    });

    it('(b1) a leaf rewritten in the local log (already checkpointed): detected on restart, nothing written', async () => {
      const address = await deploy();
      const registry = await client(address);
      const t = tempDir('medprov-evm-tamper-');
      cleanups.push(t.cleanup);
      const items = makeSourced(0, 130);
      let log = await AnchorLog.open(t.dir);
      const source = new ArraySource(items.slice(0, 100));
      expect((await new Checkpointer({ log, source, registry }).runOnce()).kind).to.equal('written');
      await log.close();

      // Rewrite leaf 10 consistently in both files, as someone with disk access would.
      await rewriteLeaf(t.dir, 10);
      log = await AnchorLog.open(t.dir);
      opened.push(log);
      await log.verify(); // the files agree with each other: only the chain can tell
      source.push(...items.slice(100));
      const checkpointer = new Checkpointer({ log, source, registry });
      const err = (await checkpointer.runOnce().catch((e: unknown) => e)) as AnchoringError;
      expect(err.code).to.equal('CHECKPOINT_FORK');
      expect(err.details).to.deep.include({ treeSize: 100, anchorer: DEV_ADDRESSES[1] });
      expect(await registry.checkpointCount()).to.equal(1n);
    });

    it('(b2) a leaf rewritten under the running checkpointer (not yet checkpointed): detected before writing', async () => {
      const address = await deploy();
      const registry = await client(address);
      const { log, dir } = await openLog();
      const items = makeSourced(0, 160);
      const source = new ArraySource(items.slice(0, 100));
      const checkpointer = new Checkpointer({ log, source, registry });
      const tampered: AnchoringError[] = [];
      checkpointer.on('log-tampered', (e) => tampered.push(e));
      expect((await checkpointer.runOnce()).kind).to.equal('written');
      source.push(...items.slice(100));
      await checkpointer.sync();

      await rewriteLeaf(dir, 130);
      const err = (await checkpointer.checkpoint().catch((e: unknown) => e)) as AnchoringError;
      expect(err.code).to.equal('LOG_TAMPERED');
      expect(err.details).to.deep.include({ leafIndex: 130 });
      expect(tampered).to.have.length(1);
      expect(await registry.checkpointCount()).to.equal(1n);
      expect(checkpointer.status().state).to.equal('halted');
    });
  });

  it('start(): follows the source and checkpoints every N anchors and on the timer', async () => {
    const address = await deploy();
    const registry = await client(address);
    const { log } = await openLog();
    const items = makeSourced(0, 130);
    const source = new ArraySource();
    const checkpointer = new Checkpointer({ log, source, registry, everyAnchors: 50, everySeconds: 0.4, pollDelayMs: 50 });
    const sizes: number[] = [];
    checkpointer.on('checkpoint-written', (o) => sizes.push(o.treeSize));
    checkpointer.start();
    try {
      source.push(...items.slice(0, 120)); // more than everyAnchors at once
      await until(() => sizes.length >= 1 && log.size === 120);
      source.push(...items.slice(120, 130)); // fewer: the timer picks them up
      await until(() => sizes.at(-1) === 130);
      expect(checkpointer.status().state).to.equal('running');
    } finally {
      await checkpointer.stop();
    }
    expect(sizes[0]).to.be.at.least(50);
    expect(sizes.at(-1)).to.equal(130);
    expect([...sizes].sort((a, b) => a - b)).to.deep.equal(sizes);
    expect(checkpointer.status().state).to.equal('idle');
  });

  describe('archive mode: 100,000 files, file → archive root → log root → EVM', () => {
    const FILES = 100_000;
    const PER_FOLDER = 1000;
    let base: string;

    before(() => {
      const t = tempDir('medprov-archive-100k-');
      base = t.dir;
      cleanups.push(t.cleanup);
    });

    it('archives, anchors through the log and the chain, and verifies every receipt', async () => {
      const source = path.join(base, 'scans');
      const t0 = performance.now();
      const contents = randomBytes(64 * FILES);
      for (let d = 0; d < FILES / PER_FOLDER; d++) {
        const folder = path.join(source, `batch-${String(d).padStart(3, '0')}`);
        mkdirSync(folder, { recursive: true });
        for (let f = 0; f < PER_FOLDER; f++) {
          const i = d * PER_FOLDER + f;
          writeFileSync(path.join(folder, `scan-${String(f).padStart(4, '0')}.bin`), contents.subarray(i * 64, i * 64 + 64));
        }
        // Let the event loop see idle keep-alive sockets the EVM node closes meanwhile.
        await new Promise((r) => setImmediate(r));
      }
      const generateMs = performance.now() - t0;

      // The ledger: some anchors already there, then the archive root anchored as one record.
      const address = await deploy();
      const registry = await client(address);
      const { log } = await openLog();
      const ledger = new ArraySource(makeSourced(0, 40));
      const checkpointer = new Checkpointer({ log, source: ledger, registry });
      await checkpointer.runOnce();
      const progress: ArchiveProgress[] = [];
      const anchorCalls: string[] = [];
      const out = path.join(base, 'receipts');
      const summary = await archiveFolder(source, {
        out,
        onProgress: (p) => progress.push(p),
        anchorRoot: async (rootHex, meta) => {
          anchorCalls.push(rootHex);
          expect(meta.fileCount).to.equal(FILES);
          // The root in the anchor log as the ledger source yields an Archives:anchorArchive
          // transaction: docHash the root, recordId `archive:<archiveId>`, version 1 (no Fabric here).
          const blockNumber = 500n;
          const archiveId = `archive-${meta.name}`;
          const anchor = makeAnchor(40, 'archive', { docHash: rootHex, recordId: `${ARCHIVE_LEAF_PREFIX}${archiveId}` });
          const item: SourcedAnchor = { position: { blockNumber, txIndex: 0, anchorIndex: 0 }, anchor, blockNumber };
          ledger.push(item);
          return { issuer: anchor.issuer, archiveId, txId: anchor.txId, blockNumber: String(blockNumber), anchoredAt: anchor.anchoredAt };
        },
      });
      expect(summary.fileCount).to.equal(FILES);
      expect(summary.totalBytes).to.equal(64 * FILES);
      expect(anchorCalls).to.deep.equal([summary.root]);
      expect(progress.at(-1)?.phase).to.equal('done');

      const checkpoint = await checkpointer.runOnce();
      expect(checkpoint).to.deep.include({ kind: 'written', treeSize: 41 });
      const logReceipt = await new ReceiptIssuer(log, registry).issueForDocHash(summary.root);
      expect((await verifyReceiptOnChain(logReceipt, provider)).valid).to.equal(true);
      await attachLogReceipt(out, logReceipt);

      // Every receipt, each verified on its own with the browser verifier's code. SHA-256 is
      // noble loaded natively (tsx would transpile the static import ~10x slower; same code).
      const nativeNoble = (await import('@noble/hashes/sha2.js')) as typeof import('@noble/hashes/sha2.js');
      const sha256 = (m: Uint8Array): Uint8Array => nativeNoble.sha256(m);
      const v0 = performance.now();
      const check = await verifyArchiveFolder(source, out, { sha256 });
      const verifyMs = performance.now() - v0;
      expect(check).to.deep.equal({ verified: FILES, failed: 0, failures: [], anchored: FILES });

      // The same verifier through the static (tsx-transpiled) noble import, on a sample.
      const sample = await readArchiveReceipt(out, { path: 'batch-042/scan-0420.bin' });
      const sampleBytes = await fs.readFile(path.join(source, 'batch-042', 'scan-0420.bin'));
      const s0 = performance.now();
      for (let i = 0; i < 200; i++) expect(verifyArchiveReceipt(sample, sampleBytes).valid).to.equal(true);
      const transpiledPerReceipt = (performance.now() - s0) / 200;

      // A one-byte change of one file: its receipt fails, the others still verify.
      sampleBytes[10]! ^= 0x01;
      await fs.writeFile(path.join(source, 'batch-042', 'scan-0420.bin'), sampleBytes);
      expect(verifyArchiveReceipt(sample, sampleBytes, { sha256 }).valid).to.equal(false);
      const neighbour = await readArchiveReceipt(out, { path: 'batch-042/scan-0421.bin' });
      expect(verifyArchiveReceipt(neighbour, await fs.readFile(path.join(source, 'batch-042', 'scan-0421.bin')), { sha256 })).to.deep.equal({
        valid: true,
        reasons: [],
        anchored: true,
      });

      const tm = summary.timings;
      const lines = [
        `archive of ${FILES.toLocaleString('en-US')} files × 64 bytes (2 cores):`,
        `  generate test files      ${fmt(generateMs)}`,
        `  scan (count)             ${fmt(tm.scanMs)}`,
        `  hash files               ${fmt(tm.hashMs)}  (${rate(FILES, tm.hashMs)})`,
        `  tree                     ${fmt(tm.treeMs)}`,
        `  write receipts           ${fmt(tm.receiptsMs)}  (${(summary.receiptBytes / 2 ** 20).toFixed(0)} MiB: tree levels, digests, paths)`,
        `  anchorRoot callback      ${fmt(tm.anchorMs)}`,
        `  archive total            ${fmt(tm.totalMs)}`,
        `  verify every receipt     ${fmt(verifyMs)}  (${rate(FILES, verifyMs)}, file read + archive proof + log receipt)`,
        `  one receipt, tsx noble   ${transpiledPerReceipt.toFixed(2)} ms (transpiled static import, for comparison)`,
      ];
      console.log(lines.map((l) => `      ${l}`).join('\n'));
    });
  });
});

/**
 * Replaces leaf `index` of a log in both files, keeping them consistent with each other (as someone
 * with disk access would): the leaf now anchors another document.
 */
async function rewriteLeaf(dir: string, index: number): Promise<void> {
  const dataFile = path.join(dir, ANCHOR_LOG_FILES.data);
  const lines = (await fs.readFile(dataFile, 'utf8')).split('\n');
  const original = JSON.parse(lines[index]!) as { docHash: string };
  // A docHash for a docHash: the line keeps its length, so every offset stays put.
  const forged = lines[index]!.replace(original.docHash, sha256Hex(documentOf(index, 'forged')));
  expect(forged).not.to.equal(lines[index]);
  lines[index] = forged;
  await fs.writeFile(dataFile, lines.join('\n'));
  const handle = await fs.open(path.join(dir, ANCHOR_LOG_FILES.leaves), 'r+');
  try {
    await handle.write(nodeHasher.hashLeaf(Buffer.from(forged, 'utf8')), 0, 32, index * 32);
  } finally {
    await handle.close();
  }
}

async function until(condition: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}
