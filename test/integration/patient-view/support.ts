/**
 * The patient-view suite's own network: two hospitals (Hospital, Clinic), an insurer and a
 * sponsor, from ./consortium.json, started once for the suite in a temp state folder on a free
 * base port and stopped by pid in its after hook. People with one recovery phrase each, who
 * derive one key per hospital (hospitalKeyPath), as the Patient page and the CLI do.
 *
 * @module
 */
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HDNodeWallet, Mnemonic, randomBytes } from 'ethers';
import { readConsortiumFile } from '../../../network/src/consortium';
import { readApiKeys } from '../../../network/src/gateways';
import { Network } from '../../../network/src/network';
import { consoleProgress } from '../../../network/src/progress';
import { down, installFabric, portsTakenByOthers, ROOT, up } from '../../../network/src/system';
import { hospitalKeyPath } from '../../../gateway/src/consent/patient-client';
import { freeBasePort, TEST_UP_OPTIONS } from '../network/test-network';
import type { GatewayAccess } from '../network/support/gateway-http';

export interface ViewNetwork {
  network: Network;
  stateDir: string;
  /** An org's gateway URL with the API key of one role. */
  gateway(org: string, role?: string): GatewayAccess;
  stop(): Promise<void>;
}

/** Brings up the two-hospital consortium (no EVM chain: nothing here anchors publicly). */
export async function startViewNetwork(): Promise<ViewNetwork> {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'medprov-patient-view-'));
  const log = (name: string) => consoleProgress('patient-view', createWriteStream(path.join(stateDir, name)));
  const options = { ...TEST_UP_OPTIONS, evm: false };
  const fabricHome = installFabric(log('install.log'));
  const definition = readConsortiumFile(path.join(ROOT, 'test', 'integration', 'patient-view', 'consortium.json'));
  const basePort = await freeBasePort(stateDir, fabricHome, options);
  const network = new Network(definition, { root: ROOT, stateDir, basePort, fabricHome });
  const taken = await portsTakenByOthers(network, options);
  if (taken.length > 0) throw new Error(`the patient-view network's ports ${taken.join(', ')} are taken (base port ${basePort})`);
  try {
    await up(network, log('up.log'), options);
  } catch (err) {
    await down(network, log('down.log')).catch(() => undefined);
    throw err;
  }
  const keys = readApiKeys(network);
  if (!keys) throw new Error('up wrote no API keys');
  return {
    network,
    stateDir,
    gateway: (org, role) => ({ url: keys.orgs[org]!.url, ...(role ? { key: keys.orgs[org]!.keys[role] } : {}) }),
    stop: async () => {
      await down(network, log('down.log'));
      if (!process.env.MEDPROV_TEST_KEEP_STATE) rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** A person with one recovery phrase and one derived key per hospital. */
export class Person {
  readonly mnemonic = Mnemonic.fromEntropy(randomBytes(16));
  keyAt(hospital: string): HDNodeWallet {
    return HDNodeWallet.fromMnemonic(this.mnemonic, hospitalKeyPath(hospital));
  }
}
