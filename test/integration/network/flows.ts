/**
 * Helpers of the real-network flow tests (anchoring-flows, cli, pages): HTTP with API keys and
 * journalled writes, bounded polls for eventual results (a verdict at another org, a receipt once
 * a checkpoint covers it), the ledger's blocks read through the peer's qscc, and a gateway's
 * anchor log read from its files. No timing is asserted anywhere: every wait is a bounded poll.
 *
 * @module
 */
import * as grpc from '@grpc/grpc-js';
import { connect, hash, signers, type Gateway } from '@hyperledger/fabric-gateway';
import { common, peer } from '@hyperledger/fabric-protos';
import { createHash, createPrivateKey } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { RECORDS_EVENT } from '../../../chaincode/src/lib/record-model';
import { ACCESS_EVENT } from '../../../chaincode/src/lib/consent-model';
import { consentedAccessLeafFields, type ConsentedAccess } from '../../../gateway/src/anchoring/access-receipt';
import { parseLeaf, type AnchorLeaf, type Receipt } from '../../../gateway/src/anchoring';
import { ANCHOR_LOG_FILES } from '../../../gateway/src/anchoring/node';
import type { OrgConnection } from '../../../gateway/src/fabric/client';
import type { Network } from '../../../network/src/network';
import { call, sleep, type Answer } from './support/gateway-http';

/** A staff member's access to a gateway: its URL and an API key. */
export type Gw = { url: string; key: string };
export type { Answer } from './support/gateway-http';
export { call, sleep, write } from './support/gateway-http';

export const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

export function uploadForm(doc: Buffer, fields: Record<string, string> = {}, name = 'document.bin'): FormData {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append('document', new Blob([doc]), name);
  return form;
}

/** POST /v1/verifications until the verdict is `expected` (another org's index follows the ledger's events). */
export async function verifyUntil(gw: Gw, body: { docHash: string; salt?: string }, expected: string, what = body.docHash): Promise<any> {
  let last: Answer | undefined;
  for (let i = 0; i < 480; i++) {
    last = await call(gw, 'POST', '/v1/verifications', body);
    if (last.status === 200 && last.body.verdict === expected) return last.body;
    await sleep(250);
  }
  throw new Error(`the verification of ${what} never became ${expected}: ${JSON.stringify(last?.body)}`);
}

/**
 * GET /v1/receipts/{docHash} until a checkpoint covers the anchor: 404 NOT_IN_ANCHOR_LOG while the
 * log has not caught up, 409 RECEIPT_PENDING until the next checkpoint (every 1,000 anchors or 60 s).
 */
export async function receiptOf(gw: Gw, docHash: string, withinMs = 240_000): Promise<Receipt & { salt?: string }> {
  const deadline = Date.now() + withinMs;
  let last: Answer | undefined;
  while (Date.now() < deadline) {
    last = await call(gw, 'GET', `/v1/receipts/${docHash}`);
    if (last.status === 200) return last.body;
    if (!['NOT_IN_ANCHOR_LOG', 'RECEIPT_PENDING'].includes(last.body?.error?.code)) throw new Error(`receipt of ${docHash}: ${last.status} ${JSON.stringify(last.body)}`);
    await sleep(1_000);
  }
  throw new Error(`no receipt of ${docHash} within ${withinMs / 1000} s: ${JSON.stringify(last?.body)}`);
}

/** The gateway's /healthz. */
export async function health(gw: Gw): Promise<any> {
  return (await call(gw, 'GET', '/healthz')).body;
}

/** The local EVM chain the test network started (`<state>/evm/chain.json`). */
export function localChain(network: Network): { rpcUrl: string; chainId: number; registry: { address: string } } {
  return JSON.parse(readFileSync(path.join(network.stateDir, 'evm', 'chain.json'), 'utf8'));
}

// ---- the ledger's blocks -----------------------------------------------------------------------

/** A valid transaction of a block as the peer stores it. */
export interface BlockTx {
  readonly txId: string;
  /** Index of the transaction in its block (the envelope's position). */
  readonly txIndex: number;
  /** The chaincode event it emitted (at most one per transaction), when it was the medprov chaincode's. */
  readonly event?: { name: string; payload: Uint8Array };
}

export interface LedgerBlock {
  readonly number: bigint;
  /** Valid transactions only, in block order. */
  readonly txs: BlockTx[];
}

const TRANSACTIONS_FILTER = 2; // common.BlockMetadataIndex.TRANSACTIONS_FILTER
const VALID = 0; // peer.TxValidationCode.VALID

/** Reads the channel's blocks through the peer's qscc (GetChainInfo, GetBlockByNumber) as one org's identity. */
export class BlockReader {
  private constructor(
    private readonly client: grpc.Client,
    private readonly gateway: Gateway,
    private readonly connection: OrgConnection,
  ) {}

  static async connect(connection: OrgConnection): Promise<BlockReader> {
    const keyFiles = statSync(connection.keyPath).isDirectory() ? readdirSync(connection.keyPath).map((f) => path.join(connection.keyPath, f)) : [connection.keyPath];
    const client = new grpc.Client(connection.peerEndpoint, grpc.credentials.createSsl(readFileSync(connection.tlsRootCertPath)), {
      'grpc.ssl_target_name_override': connection.peerHostAlias,
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
    });
    const gateway = connect({
      client,
      identity: { mspId: connection.mspId, credentials: readFileSync(connection.certPath) },
      signer: signers.newPrivateKeySigner(createPrivateKey(readFileSync(keyFiles[0]!))),
      hash: hash.sha256,
      evaluateOptions: () => ({ deadline: Date.now() + 30_000 }),
    });
    return new BlockReader(client, gateway, connection);
  }

  /**
   * A qscc query; a block or transaction this peer has not committed yet (the writer's peer
   * answered the commit, this one may be a block behind) is asked for again, for a while.
   */
  private async qscc(fn: string, ...args: string[]): Promise<Uint8Array> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.gateway.getNetwork(this.connection.channel).getContract('qscc').evaluateTransaction(fn, this.connection.channel, ...args);
      } catch (err) {
        const notYet = /no such block number|no such transaction ID/i.test(`${(err as Error).message} ${String((err as { details?: unknown }).details ?? '')}`);
        if (!notYet || attempt >= 240) throw err;
        await sleep(250);
      }
    }
  }

  async height(): Promise<bigint> {
    return BigInt(common.BlockchainInfo.deserializeBinary(await this.qscc('GetChainInfo')).getHeight());
  }

  /** The number of the block holding a transaction (qscc GetBlockByTxID). */
  async blockOfTx(txId: string): Promise<bigint> {
    return BigInt(common.Block.deserializeBinary(await this.qscc('GetBlockByTxID', txId)).getHeader()!.getNumber());
  }

  /** One block: its valid transactions with their ids, positions and the medprov chaincode's event. */
  async block(n: bigint): Promise<LedgerBlock> {
    const block = common.Block.deserializeBinary(await this.qscc('GetBlockByNumber', n.toString()));
    const flags = block.getMetadata()!.getMetadataList_asU8()[TRANSACTIONS_FILTER]!;
    const txs: BlockTx[] = [];
    block
      .getData()!
      .getDataList_asU8()
      .forEach((envelopeBytes, txIndex) => {
        if (flags[txIndex] !== VALID) return;
        const payload = common.Payload.deserializeBinary(common.Envelope.deserializeBinary(envelopeBytes).getPayload_asU8());
        const channelHeader = common.ChannelHeader.deserializeBinary(payload.getHeader()!.getChannelHeader_asU8());
        if (channelHeader.getType() !== common.HeaderType.ENDORSER_TRANSACTION) return;
        let event: BlockTx['event'];
        for (const action of peer.Transaction.deserializeBinary(payload.getData_asU8()).getActionsList()) {
          const ccPayload = peer.ChaincodeActionPayload.deserializeBinary(action.getPayload_asU8());
          const prp = peer.ProposalResponsePayload.deserializeBinary(ccPayload.getAction()!.getProposalResponsePayload_asU8());
          const ccAction = peer.ChaincodeAction.deserializeBinary(prp.getExtension_asU8());
          const eventBytes = ccAction.getEvents_asU8();
          if (eventBytes.length === 0) continue;
          const ev = peer.ChaincodeEvent.deserializeBinary(eventBytes);
          if (ev.getChaincodeId() === this.connection.chaincode && ev.getEventName() !== '') event = { name: ev.getEventName(), payload: ev.getPayload_asU8() };
        }
        txs.push({ txId: channelHeader.getTxId(), txIndex, ...(event ? { event } : {}) });
      });
    return { number: BigInt(block.getHeader()!.getNumber()), txs };
  }

  close(): void {
    this.gateway.close();
    this.client.close();
  }
}

/** A record anchor (or amendment) as the chain's blocks place it: the anchor log's expected order. */
export interface PlacedAnchor {
  readonly docHash: string;
  readonly issuer: string;
  readonly recordId: string;
  readonly version: number;
  readonly txId: string;
  readonly blockNumber: bigint;
  /** Index of the transaction in its block. */
  readonly txIndex: number;
  /** Ordinal of the transaction among the block's medprov chaincode events (what the anchor source calls txIndex). */
  readonly eventOrdinal: number;
  /** Index of the anchor among its transaction's anchored/amended changes. */
  readonly anchorIndex: number;
}

/** Every anchored or amended record, and every consented access, of blocks [from, to), in commit order, from the blocks themselves. */
export async function anchorsInBlocks(reader: BlockReader, from: bigint, to: bigint): Promise<{ anchors: PlacedAnchor[]; blocks: Map<bigint, LedgerBlock> }> {
  const anchors: PlacedAnchor[] = [];
  const blocks = new Map<bigint, LedgerBlock>();
  for (let n = from; n < to; n++) {
    const block = await reader.block(n);
    blocks.set(n, block);
    let ordinal = 0;
    for (const tx of block.txs) {
      if (!tx.event) continue;
      const eventOrdinal = ordinal++;
      if (tx.event.name === ACCESS_EVENT) {
        // A consented access is a leaf of the log too (access-receipt.ts).
        const { consentedAccess } = JSON.parse(Buffer.from(tx.event.payload).toString('utf8')) as { consentedAccess?: ConsentedAccess };
        if (!consentedAccess) continue;
        const leaf = consentedAccessLeafFields(consentedAccess);
        anchors.push({ docHash: leaf.docHash, issuer: leaf.issuer, recordId: leaf.recordId, version: leaf.version, txId: tx.txId, blockNumber: n, txIndex: tx.txIndex, eventOrdinal, anchorIndex: 0 });
        continue;
      }
      if (tx.event.name !== RECORDS_EVENT) continue;
      const { changes } = JSON.parse(Buffer.from(tx.event.payload).toString('utf8')) as { changes: { kind: string; docHash: string; issuer: string; recordId: string; version: number }[] };
      let anchorIndex = 0;
      for (const c of changes) {
        if (c.kind === 'retracted') continue;
        anchors.push({ docHash: c.docHash, issuer: c.issuer, recordId: c.recordId, version: c.version, txId: tx.txId, blockNumber: n, txIndex: tx.txIndex, eventOrdinal, anchorIndex: anchorIndex++ });
      }
    }
  }
  return { anchors, blocks };
}

// ---- a gateway's anchor log, from its files ----------------------------------------------------

/** The committed leaves of a gateway's anchor log (`<gateway dir>/anchor-log`), read without taking its lock. */
export function committedLeaves(gatewayDir: string): { leaves: AnchorLeaf[]; position: { blockNumber: string; txIndex: number; anchorIndex: number } | null } {
  const dir = path.join(gatewayDir, 'anchor-log');
  // A log that never flushed has no commit record yet.
  if (!existsSync(path.join(dir, ANCHOR_LOG_FILES.commit))) return { leaves: [], position: null };
  const commit = JSON.parse(readFileSync(path.join(dir, ANCHOR_LOG_FILES.commit), 'utf8')) as { size: number; dataBytes: number; position: { blockNumber: string; txIndex: number; anchorIndex: number } | null };
  const data = readFileSync(path.join(dir, ANCHOR_LOG_FILES.data)).subarray(0, commit.dataBytes).toString('utf8');
  const lines = data.split('\n').filter((l) => l !== '');
  if (lines.length !== commit.size) throw new Error(`${dir}: ${lines.length} committed lines, commit record says ${commit.size}`);
  return { leaves: lines.map((l) => parseLeaf(l)), position: commit.position };
}
