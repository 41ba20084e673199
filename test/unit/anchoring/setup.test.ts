import { expect } from 'chai';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { chooseChain, LOCAL_CHAIN_FILE, startAnchoring, type LocalChain } from '../../../gateway/src/anchoring/setup';
import { recordingLogger, tempDir } from './fixtures';

/** Which EVM chain a gateway anchors on: the environment first, then `npm run evm -- up`'s chain, else off. */
const KEY = `0x${'11'.repeat(32)}`;
const ADDRESS = '0x5FbDB2315678afecb367f032d93F642f64180aa3';

function localChain(stateDir: string): LocalChain {
  const chain: LocalChain = {
    rpcUrl: 'http://127.0.0.1:7545',
    chainId: 31337,
    registry: { address: ADDRESS, fromBlock: 1, channel: 'medprov' },
    checkpointWriter: 'HospitalMSP',
    anchorers: { HospitalMSP: { address: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8', privateKey: KEY }, InsurerMSP: { address: ADDRESS, privateKey: KEY } },
  };
  mkdirSync(path.join(stateDir, 'evm'), { recursive: true });
  writeFileSync(path.join(stateDir, LOCAL_CHAIN_FILE), JSON.stringify(chain));
  return chain;
}

describe('anchoring: choosing the EVM chain', () => {
  it('off, saying how to turn it on, when nothing is configured', () => {
    const { dir, cleanup } = tempDir();
    try {
      const choice = chooseChain({}, dir, 'HospitalMSP');
      expect(choice.kind).to.equal('off');
      if (choice.kind === 'off') expect(choice.reason).to.contain('npm run evm -- up').and.contain('MEDPROV_EVM_RPC_URL');
    } finally {
      cleanup();
    }
  });

  it('the local chain: only the named checkpoint writer gets a key and writes', () => {
    const { dir, cleanup } = tempDir();
    try {
      localChain(dir);
      const hospital = chooseChain({}, dir, 'HospitalMSP');
      expect(hospital).to.deep.include({ kind: 'chain', source: 'local-chain', writes: true });
      if (hospital.kind === 'chain') expect(hospital.config).to.deep.equal({ rpcUrl: 'http://127.0.0.1:7545', address: ADDRESS, fromBlock: 1, privateKey: KEY });
      const insurer = chooseChain({}, dir, 'InsurerMSP');
      expect(insurer).to.deep.include({ kind: 'chain', writes: false });
      if (insurer.kind === 'chain') expect(insurer.config.privateKey).to.equal(undefined);
    } finally {
      cleanup();
    }
  });

  it('the environment wins over the local chain; it writes only with an anchorer key', () => {
    const { dir, cleanup } = tempDir();
    try {
      localChain(dir);
      const env = { MEDPROV_EVM_RPC_URL: 'https://evm.example.org', MEDPROV_ANCHOR_REGISTRY_ADDRESS: ADDRESS };
      expect(chooseChain(env, dir, 'HospitalMSP')).to.deep.include({ kind: 'chain', source: 'environment', writes: false });
      expect(chooseChain({ ...env, MEDPROV_EVM_ANCHORER_KEY: KEY }, dir, 'HospitalMSP')).to.deep.include({ writes: true });
    } finally {
      cleanup();
    }
  });

  it('a configured chain that cannot be reached leaves anchoring off with the reason logged, and does not throw', async () => {
    const { dir, cleanup } = tempDir();
    const logger = recordingLogger();
    try {
      const env = { MEDPROV_EVM_RPC_URL: 'http://127.0.0.1:1', MEDPROV_ANCHOR_REGISTRY_ADDRESS: ADDRESS };
      const unused = { events: () => (async function* () {})(), evaluate: async () => new Uint8Array() };
      const started = await startAnchoring({ env, stateDir: dir, logDir: path.join(dir, 'log'), mspId: 'HospitalMSP', ledger: unused, logger });
      expect(started.service).to.equal(undefined);
      expect(started.off).to.be.a('string').and.not.equal('');
      expect(logger.lines.some((l) => l.level === 'error' && l.message.includes('anchoring is off'))).to.equal(true);
    } finally {
      cleanup();
    }
  });
});
