/**
 * The research linkage network (issue 19): two hospitals that hold records of the same patients, a
 * third hospital that no request asks (to show the refusal of a non-party), a trial sponsor and a
 * linkage institution (test/integration/linkage/consortium.json), on real Fabric 3.1.5 with one gateway
 * per organisation, started by the project's own network layer in a temporary state folder on a
 * free base port. Started once per mocha run by the first suite that asks for it; stopped by pid
 * with `stopLinkageNetwork()` in a root-level `after` hook of every spec file that uses it (the
 * first such hook, after all suites, stops it; the others find nothing to stop):
 *
 * ```ts
 * after(async () => { await stopLinkageNetwork(); });
 * describe('…', function () { before(async () => { net = await linkageNetwork(); }); … });
 * ```
 *
 * Each gateway's linkage settings (`linkage.json` in its folder, generated at `up`; see
 * gateway/src/config.ts `LinkageSettings`) are read back here: the key the institution issued to
 * each hospital and the sponsor (`partnerKey`), for tests that call the institution as a partner.
 *
 * No local EVM chain: public anchoring is off on these gateways (they say so at /healthz).
 *
 * @module
 */
import * as path from 'node:path';
import { readLinkageSettings, type ApiKeys } from '../../../network/src/gateways';
import { type Network } from '../../../network/src/network';
import { type Progress } from '../../../network/src/progress';
import { ROOT, type UpOptions } from '../../../network/src/system';
import { sharedNetwork } from '../network/test-network';
import type { LinkageSettings } from '../../../gateway/src/config';

/** The linkage suite's consortium definition. */
export const LINKAGE_CONSORTIUM = path.join(ROOT, 'test', 'integration', 'linkage', 'consortium.json');

/** How the linkage network is brought up: gateways, no EVM chain. */
export const LINKAGE_UP_OPTIONS: UpOptions = { evm: false };

/** The organisations of the linkage consortium, by name (as in api-keys.json and `MEDPROV_ORG`). */
export const LINKAGE_ORGS = { hospitals: ['Hospital', 'Hospital2'], otherHospital: 'Hospital3', sponsor: 'Sponsor', institution: 'Linkage' } as const;

export interface LinkageNetwork {
  readonly network: Network;
  readonly keys: ApiKeys;
  /** A gateway's base URL and its API key for a role (`gateway('Linkage', 'linkage-officer')`). */
  gateway(org: string, role: string): { url: string; key: string };
  /** The institution's gateway URL and the API key it issued to a hospital or the sponsor (role `linkage-partner` there). */
  partnerKey(org: string): { url: string; key: string };
  /** A gateway's linkage settings as `up` generated them (tests check who holds what). */
  linkageSettings(org: string): LinkageSettings | undefined;
  /** MSP ID of an organisation by name. */
  mspId(org: string): string;
  readonly progress: Progress;
}

const shared = sharedNetwork('linkage-network', LINKAGE_CONSORTIUM, LINKAGE_UP_OPTIONS);
let linkage: Promise<LinkageNetwork> | undefined;

/** The run's linkage network, brought up on first use (30-90 s on 2 shared cores with Fabric cached). */
export function linkageNetwork(): Promise<LinkageNetwork> {
  linkage ??= shared.get().then(({ network, keys, progress }) => {
    const settings = (org: string) => readLinkageSettings(network, network.organisation(org));
    return {
      network,
      keys,
      progress,
      gateway(org: string, role: string) {
        const entry = keys.orgs[org];
        if (!entry?.keys[role]) throw new Error(`no ${role} key for ${org} in ${network.apiKeysFile}`);
        return { url: entry.url, key: entry.keys[role] };
      },
      partnerKey(org: string) {
        const institution = settings(org)?.institution;
        if (!institution) throw new Error(`${org} has no linkage institution in its linkage settings`);
        return { url: institution.url, key: institution.apiKey };
      },
      linkageSettings: settings,
      mspId: (org: string) => network.organisation(org).mspId,
    };
  });
  return linkage;
}

/** Stops the network by pid (if it was started) and removes its state folder (MEDPROV_TEST_KEEP_STATE=1 keeps it). */
export async function stopLinkageNetwork(): Promise<void> {
  linkage = undefined;
  await shared.stop();
}
