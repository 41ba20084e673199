/**
 * The ceiling every real-network figure stands beside: the trivial one-key transactions
 * (`Probe:put`, `Probe:get`) sent straight through @hyperledger/fabric-gateway to the SAME peer the
 * organisation's gateway uses, as the SAME Fabric identity (network.gatewaySettings(org).fabric,
 * the same connection options as gateway/src/fabric/client.ts), from this process, no HTTP.
 */
import * as grpc from '@grpc/grpc-js';
import { connect, type Contract } from '@hyperledger/fabric-gateway';
import { fabricSigning } from '../../../gateway/src/fabric/signer';
import { createPrivateKey, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import type { BenchNetwork } from './real-network';
import { type RunOutcome, progressLine, runConcurrent } from './report';

export const CEILING_DESCRIPTION =
  'ceiling: Probe:put (one key written) / Probe:get through @hyperledger/fabric-gateway from the bench process, to the same peer and as the same Fabric identity as the org’s gateway; each put waits for its commit status';

/** The private key file, or the one key in an MSP keystore folder. */
function keyPem(keyPath: string): Buffer {
  if (!statSync(keyPath).isDirectory()) return readFileSync(keyPath);
  const files = readdirSync(keyPath).filter((f) => !f.startsWith('.'));
  if (files.length !== 1) throw new Error(`expected exactly one private key in ${keyPath}, found ${files.length}`);
  return readFileSync(path.join(keyPath, files[0]));
}

/** A contract of the org's peer as the org's gateway identity; `close` ends the connection. */
export function ceilingContract(net: BenchNetwork, org: string): { contract: Contract; close(): void } {
  const f = net.network.gatewaySettings(org).fabric;
  const client = new grpc.Client(f.peerEndpoint, grpc.credentials.createSsl(readFileSync(f.tlsRootCertPath)), { 'grpc.ssl_target_name_override': f.peerHostAlias });
  const gateway = connect({
    client,
    identity: { mspId: f.mspId, credentials: readFileSync(f.certPath) },
    // The gateway's own signing (node:crypto ECDSA, hash.none), so that the ceiling signs as cheaply as the gateway does.
    ...fabricSigning(createPrivateKey(keyPem(f.keyPath))),
    evaluateOptions: () => ({ deadline: Date.now() + 5_000 }),
    endorseOptions: () => ({ deadline: Date.now() + 15_000 }),
    submitOptions: () => ({ deadline: Date.now() + 5_000 }),
    commitStatusOptions: () => ({ deadline: Date.now() + 60_000 }),
  });
  return {
    contract: gateway.getNetwork(f.channel).getContract(f.chaincode),
    close: () => {
      gateway.close();
      client.close();
    },
  };
}

/** Endorse, order, wait for the commit status: undefined if it committed valid, else the failure's kind. */
async function put(contract: Contract, key: string): Promise<string | undefined> {
  const submitted = await contract.submitAsync('Probe:put', { arguments: [key, 'v'] });
  const status = await submitted.getStatus();
  return status.successful ? undefined : `committed invalid (code ${status.code})`;
}

const errorKind = (err: unknown): string => {
  const e = err as { name?: string; code?: number; details?: string };
  return `${e.name ?? 'Error'}${e.code !== undefined ? ` ${grpc.status[e.code] ?? e.code}` : ''}`;
};

/** runConcurrent with failures named by their gRPC status and a sample message. */
async function measure<T>(label: string, items: T[], concurrency: number, op: (item: T) => Promise<string | undefined>): Promise<RunOutcome> {
  const progress = progressLine(label, items.length);
  let sample: string | undefined;
  const outcome = await runConcurrent(
    items,
    concurrency,
    async (item) => {
      try {
        return await op(item);
      } catch (err) {
        sample ??= (err as Error).message;
        return errorKind(err);
      }
    },
    progress.update,
  );
  progress.end();
  return sample !== undefined && outcome.sampleFailure === undefined ? { ...outcome, sampleFailure: sample } : outcome;
}

/** Not measured: as many operations as clients, at least 50, to open streams and warm every process. */
const warmUpCount = (o: { concurrency: number; count: number }) => Math.min(o.count, Math.max(o.concurrency, 50));

/** `Probe:put` of unique keys, `concurrency` in flight, each waiting for its commit status; after a warm-up. */
export async function ceilingPut(net: BenchNetwork, org: string, o: { concurrency: number; count: number }): Promise<RunOutcome> {
  const { contract, close } = ceilingContract(net, org);
  const run = randomBytes(4).toString('hex');
  try {
    const keys = (tag: string, n: number) => Array.from({ length: n }, (_, i) => `bench.${run}.${tag}.${i}`);
    await measure('ceiling put warm-up', keys('w', warmUpCount(o)), o.concurrency, (k) => put(contract, k));
    return await measure(`ceiling Probe:put, ${o.concurrency} clients`, keys('m', o.count), o.concurrency, (k) => put(contract, k));
  } finally {
    close();
  }
}

/** `Probe:get` of one existing key, `concurrency` in flight; after a warm-up. */
export async function ceilingEvaluate(net: BenchNetwork, org: string, o: { concurrency: number; count: number }): Promise<RunOutcome> {
  const { contract, close } = ceilingContract(net, org);
  const key = `bench.${randomBytes(4).toString('hex')}.get`;
  try {
    await put(contract, key);
    const get = async () => {
      await contract.evaluateTransaction('Probe:get', key);
      return undefined;
    };
    await measure('ceiling get warm-up', Array.from({ length: warmUpCount(o) }), o.concurrency, get);
    return await measure(`ceiling Probe:get, ${o.concurrency} clients`, Array.from({ length: o.count }), o.concurrency, get);
  } finally {
    close();
  }
}
