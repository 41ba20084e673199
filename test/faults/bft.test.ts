/**
 * SmartBFT ordering ("ordering": "bft" in the consortium file, 4 orderers, tolerates 1 faulty):
 * a network of its own (test/faults/support/consortium-bft.json) that
 *
 * - commits (a document anchored at the Hospital's gateway is verified at the Insurer's; a
 *   transaction through Fabric's own `peer` CLI commits on every peer);
 * - with 1 of 4 orderers SIGKILLed (the first leader, orderer0) still commits, after a view change;
 * - with 2 of 4 SIGKILLed commits nothing: a write through the `peer` CLI times out waiting for
 *   its commit and no peer's height moves; `npm run status` (network/src/cli.ts status) says why
 *   ("2 of 4 orderers down: BFT needs 3 to order") and exits 1; the gateway keeps the write it
 *   accepted (202) and commits it once a third orderer is back.
 *
 * No timing thresholds: only outcomes.
 *
 * @module
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { invokeChaincode } from '../../network/src/chaincode';
import { readConsortiumFile } from '../../network/src/consortium';
import { readApiKeys } from '../../network/src/gateways';
import { Network } from '../../network/src/network';
import { consoleProgress } from '../../network/src/progress';
import { down, installFabric, orderingStatus, portsTakenByOthers, ROOT, up, type UpOptions } from '../../network/src/system';
import { call, sleep, write, type GatewayAccess } from '../integration/network/support/gateway-http';
import { verifyUntil } from '../integration/network/flows';
import { freeBasePort } from '../integration/network/test-network';
import { kill, restart } from './support/faults';
import { peerHeights } from './support/gateway-env';
import { DISCHARGE } from './support/workload';

const exec = promisify(execFile);
/** Gateways on, the EVM chain off (anchoring says it is off; nothing here needs receipts). */
const BFT_UP: UpOptions = { evm: false, gateways: true };

/** `npm run status` for this network: its exit code and what it printed. */
async function statusCli(network: Network): Promise<{ code: number; stdout: string }> {
  const env = {
    ...process.env,
    MEDPROV_CONSORTIUM: path.join(ROOT, 'test', 'faults', 'support', 'consortium-bft.json'),
    MEDPROV_STATE_DIR: network.stateDir,
    MEDPROV_BASE_PORT: String(network.basePort),
    MEDPROV_FABRIC_HOME: network.fabricHome,
  };
  try {
    const { stdout } = await exec(process.execPath, ['--require', 'tsx/cjs', path.join(ROOT, 'network', 'src', 'cli.ts'), 'status'], { cwd: ROOT, env, timeout: 120_000 });
    return { code: 0, stdout };
  } catch (err) {
    const e = err as { code?: number; stdout?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '' };
  }
}

function anchorBody(tag: string): { recordId: string; docHash: string; patientId: string; category: string; commitment: string } {
  return { recordId: `bft-${tag}-${randomBytes(4).toString('hex')}`, docHash: randomBytes(32).toString('hex'), patientId: `MRN-BFT-${tag}`, category: DISCHARGE, commitment: 'plain' };
}

describe('BFT ordering (SmartBFT, 4 orderers): commits with 4 and with 3; with 2 it stops and status says why', function () {
  this.timeout(900_000);
  let network: Network;
  let stateDir: string;
  let officer: GatewayAccess;
  let claims: { url: string; key: string };

  before(async () => {
    stateDir = mkdtempSync(path.join(os.tmpdir(), 'medprov-bft-'));
    const fabricHome = installFabric(consoleProgress('bft', createWriteStream(path.join(stateDir, 'install.log'))));
    const definition = readConsortiumFile(path.join(ROOT, 'test', 'faults', 'support', 'consortium-bft.json'));
    expect(definition.ordering).to.equal('bft');
    const basePort = await freeBasePort(stateDir, fabricHome, BFT_UP);
    network = new Network(definition, { root: ROOT, stateDir, basePort, fabricHome });
    const taken = await portsTakenByOthers(network, BFT_UP);
    if (taken.length > 0) throw new Error(`the BFT network's ports ${taken.join(', ')} are taken (base port ${basePort})`);
    await up(network, consoleProgress('bft', createWriteStream(path.join(stateDir, 'up.log'))), BFT_UP);
    const keys = readApiKeys(network);
    if (!keys) throw new Error('up wrote no API keys');
    officer = { url: keys.orgs.Hospital.url, key: keys.orgs.Hospital.keys['records-officer'] };
    claims = { url: keys.orgs.Insurer.url, key: keys.orgs.Insurer.keys['claims-officer'] };
  });

  after(async () => {
    if (network) await down(network, consoleProgress('bft', createWriteStream(path.join(stateDir, 'down.log'))));
    if (stateDir && !process.env.MEDPROV_TEST_KEEP_STATE) rmSync(stateDir, { recursive: true, force: true });
  });

  it('the channel is ordered by BFT consenters: the genesis block names 4 of them', async () => {
    const row = await orderingStatus(network);
    expect(row.healthy).to.equal(true);
    expect(row.detail).to.equal('BFT: 4 of 4 orderers up, 3 needed to order (tolerates 1 down)');
  });

  it('commits: a document anchored at the Hospital is verified at the Insurer; a peer-CLI transaction commits on every peer', async () => {
    const body = anchorBody('all');
    const anchored = await write(officer, 'POST', '/v1/records', body);
    expect(anchored.status, anchored.text).to.equal(201);
    expect(Number(anchored.body.blockNumber)).to.be.greaterThan(0);
    await verifyUntil(claims, { docHash: body.docHash }, 'ORIGINAL');
    const before = await peerHeights(network);
    await invokeChaincode(network, 'Hospital', 'Identity:whoAmI', [], { orderer: network.orderers[1] });
    const after = await peerHeights(network);
    for (const peer of Object.keys(before)) expect(after[peer], peer).to.be.greaterThan(before[peer]);
  });

  it('1 of 4 orderers SIGKILLed (orderer0, the first leader): still commits, through the gateway and through the peer CLI', async () => {
    await kill(network, 'orderer0');
    const row = await orderingStatus(network);
    expect(row.healthy).to.equal(true);
    expect(row.detail).to.match(/^BFT: 3 of 4 orderers up, 3 needed to order/);
    const body = anchorBody('one-down');
    const anchored = await write(officer, 'POST', '/v1/records', body);
    expect(anchored.status, anchored.text).to.equal(201);
    await verifyUntil(claims, { docHash: body.docHash }, 'ORIGINAL');
    // Sent to a live orderer; the view change after the leader's death may take a few tries' worth of time.
    await invokeChaincode(network, 'Hospital', 'Identity:whoAmI', [], { orderer: network.orderers[2], waitForEventTimeout: '120s' });
  });

  it('2 of 4 SIGKILLed: nothing commits (the write times out, no height moves), status says why; a third orderer back, the held write commits', async () => {
    await kill(network, 'orderer1');
    const status = await statusCli(network);
    expect(status.code, status.stdout).to.equal(1);
    expect(status.stdout).to.match(/DOWN ordering .*2 of 4 orderers down: BFT needs 3 to order/);
    expect(status.stdout).to.match(/DOWN orderer0 .*not running/);
    expect(status.stdout).to.match(/ok {3}orderer2 .*healthy/);

    const before = await peerHeights(network);
    const refused = await invokeChaincode(network, 'Hospital', 'Identity:whoAmI', [], { orderer: network.orderers[2], waitForEventTimeout: '20s' }).then(
      () => undefined,
      (err: Error) => err.message,
    );
    expect(refused, 'a write with 2 of 4 BFT orderers down must not commit').to.be.a('string');
    // Either the orderer took it and nothing ordered it (the commit wait times out), or the orderer
    // refused it at once because it sees no quorum (SERVICE_UNAVAILABLE): both name what happened.
    expect(refused, refused).to.match(/timed out waiting for txid on all peers|SERVICE_UNAVAILABLE|insufficient number of orderers/);
    // The gateway accepts the write into its journal and says it has not committed yet.
    const body = anchorBody('two-down');
    const held = await call(officer, 'POST', '/v1/records', body, { prefer: 'wait=5' });
    expect(held.status, held.text).to.equal(202);
    expect(await peerHeights(network)).to.deep.equal(before);

    await restart(network, network.orderers[1]);
    expect((await orderingStatus(network)).healthy).to.equal(true);
    // The held write commits (its journal entry; generous: the submitter backs off while nothing orders), and the Insurer's index finds it.
    let state = '';
    for (let i = 0; i < 600 && state !== 'committed'; i++) {
      const polled = await call(officer, 'GET', new URL(held.location as string, officer.url).pathname);
      state = polled.body.state;
      expect(state, polled.text).to.not.equal('rejected');
      if (state !== 'committed') await sleep(1_000);
    }
    expect(state).to.equal('committed');
    await verifyUntil(claims, { docHash: body.docHash }, 'ORIGINAL');
  });
});
