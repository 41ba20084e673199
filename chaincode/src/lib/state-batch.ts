/**
 * Many keys read or written in one message to the peer instead of one message each.
 *
 * Fabric 3.x peers take `GET_STATE_MULTIPLE` (many keys read at once) and `WRITE_BATCH_STATE`
 * (many puts and key-level endorsement policies at once; core.yaml `chaincode.runtimeParams`,
 * on by default). The Go shim uses them; the Node shim (fabric-shim 2.5.8, the newest) does
 * not, and sends every `getState`, `putState` and `setStateValidationParameter` as its own
 * request, one after the other: for a batch of 1,000 records that was ~8,000 round trips and
 * most of the chaincode's CPU. This module speaks those two messages through the shim's own
 * message queue (the request/response protocol of the shim, with the peer's own message
 * types), so the read and write sets are exactly those the single calls would produce.
 *
 * Anything that is not a Fabric shim stub (the unit tests' in-memory stub) gets the single
 * calls, with the same results.
 *
 * @module
 */
import * as path from 'node:path';
import { peer as peerProtos } from '@hyperledger/fabric-protos';
import type { Context } from 'fabric-contract-api';

/** Keys per message; the peer advertises 1,000 (`maxSizeWriteBatch`, `maxSizeGetMultipleKeys`). */
const MAX_PER_MESSAGE = 1000;
/** The metadata key of a key-level endorsement policy (the shim's `VALIDATION_PARAMETER`). */
const VALIDATION_PARAMETER = 'VALIDATION_PARAMETER';
/** ChaincodeMessage types of Fabric 3.x (fabric-protos `ChaincodeMessage.Type`). */
const WRITE_BATCH_STATE = 24;
const GET_STATE_MULTIPLE = 25;

interface ShimMessage {
  setType(type: number): void;
  setPayload(payload: Uint8Array): void;
  setTxid(txid: string): void;
  setChannelId(channelId: string): void;
}

/** What this module needs of the shim's stub and handler (fabric-shim/lib/stub.js, handler.js). */
interface ShimStub {
  handler: { _askPeerAndListen(msg: ShimMessage, method: string): Promise<Uint8Array> };
  channel_id: string;
  txId: string;
}

/**
 * The shim's own ChaincodeMessage class: its gRPC stream accepts no other (it checks
 * `instanceof`), and the shim depends on an older fabric-protos than the rest of the project.
 */
let shimMessageClass: (new () => ShimMessage) | undefined;
function newShimMessage(): ShimMessage {
  if (!shimMessageClass) {
    const shimDir = path.dirname(require.resolve('fabric-shim'));
    const protos = require(require.resolve('@hyperledger/fabric-protos', { paths: [shimDir] })) as { peer: { ChaincodeMessage: new () => ShimMessage } };
    shimMessageClass = protos.peer.ChaincodeMessage;
  }
  return new shimMessageClass();
}

function shimStubOf(ctx: Context): ShimStub | undefined {
  const stub = ctx.stub as unknown as Partial<ShimStub>;
  return stub.handler && typeof stub.handler._askPeerAndListen === 'function' && typeof stub.channel_id === 'string' && typeof stub.txId === 'string'
    ? (stub as ShimStub)
    : undefined;
}

function ask(stub: ShimStub, type: number, payload: Uint8Array, method: string): Promise<Uint8Array> {
  const msg = newShimMessage();
  msg.setType(type);
  msg.setPayload(payload);
  msg.setTxid(stub.txId);
  msg.setChannelId(stub.channel_id);
  return stub.handler._askPeerAndListen(msg, method);
}

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += MAX_PER_MESSAGE) out.push(items.slice(i, i + MAX_PER_MESSAGE));
  return out;
}

/** The values of `keys` in the world state, in order; an absent key gives an empty array. */
export async function getStates(ctx: Context, keys: readonly string[]): Promise<Uint8Array[]> {
  if (keys.length === 0) return [];
  const stub = shimStubOf(ctx);
  if (!stub) {
    const values: Uint8Array[] = [];
    for (const key of keys) values.push(await ctx.stub.getState(key));
    return values;
  }
  const values: Uint8Array[] = [];
  for (const part of chunks(keys)) {
    const request = new peerProtos.GetStateMultiple();
    request.setKeysList(part);
    const answer = peerProtos.GetStateMultipleResult.deserializeBinary(await ask(stub, GET_STATE_MULTIPLE, request.serializeBinary(), 'GetStateMultiple'));
    const got = answer.getValuesList_asU8();
    if (got.length !== part.length) throw new Error(`the peer answered ${got.length} values for ${part.length} keys`);
    values.push(...got);
  }
  return values;
}

type Write = { key: string; value: Uint8Array; policy?: Uint8Array };

/**
 * Writes collected during a transaction and sent to the peer together by {@link flush}. In
 * order: each put, then its key's endorsement policy when one is given. A transaction never
 * reads its own writes in Fabric, so holding them back until the end changes nothing it sees.
 */
export class StateWrites {
  private readonly writes: Write[] = [];

  /** Puts `value` under `key`; with `policy`, also sets the key's endorsement policy. */
  put(key: string, value: Uint8Array, policy?: Uint8Array): void {
    this.writes.push(policy ? { key, value, policy } : { key, value });
  }

  /** Sends every write to the peer; the list is empty afterwards. */
  async flush(ctx: Context): Promise<void> {
    const writes = this.writes.splice(0);
    const stub = shimStubOf(ctx);
    if (!stub) {
      for (const w of writes) {
        await ctx.stub.putState(w.key, w.value);
        if (w.policy) await ctx.stub.setStateValidationParameter(w.key, w.policy);
      }
      return;
    }
    const records: InstanceType<typeof peerProtos.WriteRecord>[] = [];
    for (const w of writes) {
      const put = new peerProtos.WriteRecord();
      put.setKey(w.key);
      put.setValue(w.value);
      put.setType(peerProtos.WriteRecord.Type.PUT_STATE);
      records.push(put);
      if (w.policy) {
        const metadata = new peerProtos.StateMetadata();
        metadata.setMetakey(VALIDATION_PARAMETER);
        metadata.setValue(w.policy);
        const meta = new peerProtos.WriteRecord();
        meta.setKey(w.key);
        meta.setMetadata(metadata);
        meta.setType(peerProtos.WriteRecord.Type.PUT_STATE_METADATA);
        records.push(meta);
      }
    }
    for (const part of chunks(records)) {
      const batch = new peerProtos.WriteBatchState();
      batch.setRecList(part);
      await ask(stub, WRITE_BATCH_STATE, batch.serializeBinary(), 'WriteBatchState');
    }
  }
}
