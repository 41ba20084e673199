/**
 * Which EVM chain a gateway anchors on, decided once at start. Node only.
 *
 * 1. The environment ({@link REGISTRY_ENV}): any EVM chain. The gateway writes checkpoints when
 *    MEDPROV_EVM_ANCHORER_KEY is set, otherwise it only reads them.
 * 2. Else the local chain `npm run evm -- up` started (`<state>/evm/chain.json`, see
 *    {@link LOCAL_CHAIN_FILE}): the organisation named there as `checkpointWriter` writes, with its
 *    development anchorer key; the others read.
 * 3. Else anchoring is off: the gateway runs, and its receipts route says why there are none.
 *
 * A chain that is configured but cannot be reached does not stop the gateway either: records,
 * consent and verification do not depend on the public chain. The failure is logged and reported
 * by the receipts route.
 *
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Ledger, LedgerEvents } from '../fabric/client';
import { isAnchoringError } from './errors';
import type { AnchoringLogger } from './logger';
import { AnchorRegistryClient, REGISTRY_ENV, registryConfigFromEnv, type RegistryConfig } from './registry';
import { AnchoringService } from './service';

/** Where `npm run evm -- up` describes the local chain, relative to the state folder. */
export const LOCAL_CHAIN_FILE = path.join('evm', 'chain.json');

/** The local chain's description (written by scripts/evm/local-chain.ts). */
export interface LocalChain {
  rpcUrl: string;
  chainId: number;
  registry: { address: string; fromBlock: number; channel: string };
  /** MSP ID of the organisation whose gateway writes checkpoints; the others read them. */
  checkpointWriter: string;
  /** Each organisation's anchorer account on the local chain (Hardhat development keys). */
  anchorers: Record<string, { address: string; privateKey: string }>;
}

/** Reads `<stateDir>/evm/chain.json`, when there is one. */
export function readLocalChain(stateDir: string): LocalChain | undefined {
  const file = path.join(stateDir, LOCAL_CHAIN_FILE);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as LocalChain) : undefined;
}

/** The chain this gateway uses, or why it uses none. */
export type AnchoringChoice =
  | { readonly kind: 'chain'; readonly source: 'environment' | 'local-chain'; readonly config: RegistryConfig; readonly writes: boolean }
  | { readonly kind: 'off'; readonly reason: string };

/** Decides the chain from the environment and the state folder (see the module comment). */
export function chooseChain(env: NodeJS.ProcessEnv, stateDir: string, mspId: string): AnchoringChoice {
  if (env[REGISTRY_ENV.rpcUrl]) {
    const config = registryConfigFromEnv(env);
    return { kind: 'chain', source: 'environment', config, writes: config.privateKey !== undefined };
  }
  const local = readLocalChain(stateDir);
  if (!local) {
    return {
      kind: 'off',
      reason: `No EVM chain is configured: start the local one with \`npm run evm -- up\`, or set ${REGISTRY_ENV.rpcUrl} and ${REGISTRY_ENV.address}.`,
    };
  }
  const writes = local.checkpointWriter === mspId && local.anchorers[mspId] !== undefined;
  return {
    kind: 'chain',
    source: 'local-chain',
    config: {
      rpcUrl: local.rpcUrl,
      address: local.registry.address,
      fromBlock: local.registry.fromBlock,
      ...(writes ? { privateKey: local.anchorers[mspId]!.privateKey } : {}),
    },
    writes,
  };
}

/** Options of {@link startAnchoring}. */
export interface StartAnchoringOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly stateDir: string;
  /** Folder of this gateway's anchor log. */
  readonly logDir: string;
  readonly mspId: string;
  readonly ledger: LedgerEvents & Pick<Ledger, 'evaluate'>;
  readonly logger: AnchoringLogger;
  /** Checkpointer cadence (defaults: every 1000 anchors and every 60 s). */
  readonly everyAnchors?: number;
  readonly everySeconds?: number;
}

/** The running service, or why there is none (logged already). */
export type StartedAnchoring = { readonly service: AnchoringService; readonly off?: undefined } | { readonly service?: undefined; readonly off: string };

/** Connects to the chosen chain and starts following the ledger; never throws for an unreachable chain. */
export async function startAnchoring(options: StartAnchoringOptions): Promise<StartedAnchoring> {
  const { logger } = options;
  let choice: AnchoringChoice;
  try {
    choice = chooseChain(options.env, options.stateDir, options.mspId);
  } catch (err) {
    choice = { kind: 'off', reason: (err as Error).message };
  }
  if (choice.kind === 'off') {
    logger.warn('anchoring is off', { reason: choice.reason });
    return { off: choice.reason };
  }
  try {
    const registry = await AnchorRegistryClient.connect(choice.config);
    const service = await AnchoringService.start({
      dir: options.logDir,
      ledger: options.ledger,
      registry,
      writes: choice.writes,
      ...(options.everyAnchors !== undefined ? { everyAnchors: options.everyAnchors } : {}),
      ...(options.everySeconds !== undefined ? { everySeconds: options.everySeconds } : {}),
      logger,
      onStop: () => registry.close(),
    });
    logger.info('anchoring on', { chain: choice.source, rpcUrl: choice.config.rpcUrl, registry: choice.config.address, writesCheckpoints: choice.writes });
    return { service };
  } catch (err) {
    const reason = isAnchoringError(err) ? err.message : `anchoring could not start: ${(err as Error).message}`;
    logger.error('anchoring is off: the EVM chain could not be used', { reason });
    return { off: reason };
  }
}
