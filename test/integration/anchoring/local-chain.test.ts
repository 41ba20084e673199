/**
 * `npm run evm -- up|status|down`: the local EVM chain `npm start` runs for anchoring, started as a
 * real background process and checked through the gateway's own registry client.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { AnchorRegistryClient } from '../../../gateway/src/anchoring/node';
import { answers, freePort, ROOT } from './evm';

const run = promisify(execFile);

describe('the local EVM chain (npm run evm)', function () {
  this.timeout(180_000);
  let stateDir: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    stateDir = mkdtempSync(path.join(tmpdir(), 'medprov-evm-state-'));
    env = { ...process.env, MEDPROV_STATE_DIR: stateDir, MEDPROV_EVM_PORT: String(await freePort()) };
  });

  after(async () => {
    await evm('down').catch(() => undefined);
    rmSync(stateDir, { recursive: true, force: true });
  });

  async function evm(command: string): Promise<{ code: number; out: string }> {
    try {
      const { stdout } = await run(process.execPath, [path.join(ROOT, 'node_modules/tsx/dist/cli.mjs'), 'scripts/evm/local-chain.ts', command], { cwd: ROOT, env });
      return { code: 0, out: stdout };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, out: e.stdout + e.stderr };
    }
  }

  it('up: starts a node in the background, deploys the registry, and says where', async () => {
    const { code, out } = await evm('up');
    expect(code, out).to.equal(0);
    expect(out).to.match(/AnchorRegistry deployed at 0x[0-9a-fA-F]{40}/);
    const chain = JSON.parse(readFileSync(path.join(stateDir, 'evm', 'chain.json'), 'utf8'));
    expect(chain.rpcUrl).to.equal(`http://127.0.0.1:${env.MEDPROV_EVM_PORT}`);
    expect(chain.checkpointWriter).to.equal('HospitalMSP');
    expect(Object.keys(chain.anchorers)).to.deep.equal(['HospitalMSP', 'InsurerMSP', 'SponsorMSP']);

    // The gateway's own client connects as the hospital's anchorer and finds the channel.
    const registry = await AnchorRegistryClient.connect({
      rpcUrl: chain.rpcUrl,
      address: chain.registry.address,
      privateKey: chain.anchorers.HospitalMSP.privateKey,
    });
    try {
      expect(await registry.channel()).to.equal('medprov');
      expect(registry.account).to.equal(chain.anchorers.HospitalMSP.address);
    } finally {
      registry.close();
    }
  });

  it('up again finds the running node and keeps its registry; status says it runs', async () => {
    const before = readFileSync(path.join(stateDir, 'evm', 'chain.json'), 'utf8');
    const again = await evm('up');
    expect(again.code, again.out).to.equal(0);
    expect(again.out).to.contain('already running');
    expect(readFileSync(path.join(stateDir, 'evm', 'chain.json'), 'utf8')).to.equal(before);
    const status = await evm('status');
    expect(status.code).to.equal(0);
    expect(status.out).to.match(/running \(pid \d+\)/);
  });

  it('up with our node running but chain.json gone (a deployment that failed part-way) deploys a fresh registry on that node', async () => {
    const file = path.join(stateDir, 'evm', 'chain.json');
    const before = JSON.parse(readFileSync(file, 'utf8'));
    const pid = readFileSync(path.join(stateDir, 'evm', 'node.pid'), 'utf8');
    rmSync(file);
    const again = await evm('up');
    expect(again.code, again.out).to.equal(0);
    expect(again.out).to.not.contain('something else');
    expect(again.out).to.match(/AnchorRegistry deployed at 0x[0-9a-fA-F]{40}/);
    const chain = JSON.parse(readFileSync(file, 'utf8'));
    expect(chain.rpcUrl).to.equal(before.rpcUrl);
    expect(chain.registry.address).to.not.equal(before.registry.address);
    // The same node: no second one was started.
    expect(readFileSync(path.join(stateDir, 'evm', 'node.pid'), 'utf8')).to.equal(pid);
    const registry = await AnchorRegistryClient.connect({ rpcUrl: chain.rpcUrl, address: chain.registry.address, privateKey: chain.anchorers.HospitalMSP.privateKey });
    try {
      expect(await registry.channel()).to.equal('medprov');
    } finally {
      registry.close();
    }
    expect((await evm('status')).code).to.equal(0);
  });

  it('down stops the node and forgets the chain; status then exits 1', async () => {
    const url = `http://127.0.0.1:${env.MEDPROV_EVM_PORT}`;
    expect((await evm('down')).code).to.equal(0);
    expect(await answers(url)).to.equal(false);
    expect(existsSync(path.join(stateDir, 'evm', 'chain.json'))).to.equal(false);
    const status = await evm('status');
    expect(status.code).to.equal(1);
    expect(status.out).to.contain('not running');
  });

  it('a bad command is a usage error (exit 2)', async () => {
    const { code, out } = await evm('sideways');
    expect(code).to.equal(2);
    expect(out).to.contain('usage: npm run evm -- up|status|down');
  });
});
