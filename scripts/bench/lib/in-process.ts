/**
 * Where the gateway benchmarks send their load: a real gateway (MEDPROV_BENCH_GATEWAY and
 * MEDPROV_BENCH_API_KEY), or gateways started in this process over HTTP on 127.0.0.1, running the
 * real chaincode on the in-memory stub of the unit tests (no Fabric: see README, Status). Also the
 * baselines' ledger: the same chaincode on the same stub, called as a plain object.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { IdentityContract } from '../../../chaincode/src';
import { FakeLedger } from '../../../test/unit/chaincode/fake-ledger';
import { CONSORTIUM } from '../../../test/unit/chaincode/fixtures';
import { ChaincodeLedger } from '../../../test/unit/support/chaincode-ledger';
import { ROLE_KEYS, startOrgGateway, type OrgType } from '../../../test/unit/support/org-gateways';
import type { Deferred } from './report';

export const IN_PROCESS_LABEL =
  'gateway without Fabric (in-memory ledger): an upper bound; the real network adds endorsement, ordering and commit';

export type Target = { kind: 'real'; url: string; apiKey: string } | { kind: 'in-process' };

/** The real gateway when both variables are set; in-process gateways otherwise. */
export function targetFromEnv(): Target {
  const url = process.env.MEDPROV_BENCH_GATEWAY;
  const apiKey = process.env.MEDPROV_BENCH_API_KEY;
  if (url && apiKey) return { kind: 'real', url: url.replace(/\/+$/, ''), apiKey };
  if (url || apiKey) throw new Error('Set both MEDPROV_BENCH_GATEWAY and MEDPROV_BENCH_API_KEY for a real gateway, or neither for in-process gateways.');
  return { kind: 'in-process' };
}

export function describeTarget(target: Target): string {
  return target.kind === 'real'
    ? `target: the gateway at ${target.url} (as it is configured: journal, anchor index and rate limit are its own)`
    : `target: ${IN_PROCESS_LABEL}`;
}

/** A fresh in-memory ledger with the consortium initialised, as one organisation sees it. */
export async function freshLedger(mspId: string): Promise<ChaincodeLedger> {
  const state = new FakeLedger();
  await state.invoke(mspId, new IdentityContract(), 'initConsortium', CONSORTIUM);
  return new ChaincodeLedger(state, mspId);
}

/** A temp folder removed at the end of the run. */
export function tempDir(resources: Deferred, name: string): string {
  const dir = mkdtempSync(path.join(process.env.MEDPROV_BENCH_DIR ?? tmpdir(), `medprov-bench-${name}-`));
  resources.defer(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface LocalGateway {
  url: string;
  apiKey: string;
  stop(): Promise<void>;
}

/**
 * One organisation's real gateway on `ledger` (records, optionally the acceptance journal and the
 * anchor index), on an ephemeral 127.0.0.1 port, with its per-key rate limit lifted so that the
 * limiter does not cap the figures. `stop` is also deferred to the end of the run.
 */
export async function startLocalGateway(
  resources: Deferred,
  ledger: ChaincodeLedger,
  options: { type: OrgType; role: keyof typeof ROLE_KEYS; acceptance?: boolean; anchorIndex?: boolean },
): Promise<LocalGateway> {
  const dir = tempDir(resources, 'gateway');
  const gateway = await startOrgGateway({
    ledger: ledger.state,
    mspId: ledger.mspId,
    type: options.type,
    dir,
    acceptance: options.acceptance ?? false,
    limits: { perSecond: 1e9, burst: 1e9 },
    ...(options.anchorIndex ? { anchorIndex: { dir: path.join(dir, 'anchor-index') } } : {}),
  });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await gateway.stop();
  };
  resources.defer(stop);
  if (gateway.anchorIndex) await gateway.anchorIndex.whenIndexed();
  return { url: gateway.url, apiKey: ROLE_KEYS[options.role], stop };
}
