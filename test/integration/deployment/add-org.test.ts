/**
 * A fourth organisation (a second hospital, "Clinic" at 127.0.5.1) joins a RUNNING consortium
 * (its own network from test/integration/deployment/consortium-hosts.json, each org at its own
 * address) through `cli.ts add-org test/integration/deployment/new-hospital.json`: its own crypto,
 * a channel configuration update signed by a majority of the current members' admins (each its
 * own), its peer joining from block 0, its chaincode approved at the sequence in force, the
 * consortium definition on the ledger changed under the same majority and with its own consent,
 * its gateway started. Then the new hospital anchors a document and the Insurer verifies it.
 *
 * Also: one member's admin alone cannot change the consortium (the change stays open, the
 * definition in force is unchanged).
 *
 * @module
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { withOrganisation } from '../../../network/src/add-org';
import { invokeChaincode, queryChaincode } from '../../../network/src/chaincode';
import { channelHeight } from '../../../network/src/channel';
import { readConsortiumFile } from '../../../network/src/consortium';
import { gatewayName, readApiKeys } from '../../../network/src/gateways';
import { Network } from '../../../network/src/network';
import { runningPid } from '../../../network/src/processes';
import { consoleProgress, type Progress } from '../../../network/src/progress';
import { down, installFabric, portsTakenByOthers, ROOT, up, type UpOptions } from '../../../network/src/system';
import { verifyUntil } from '../network/flows';
import { write } from '../network/support/gateway-http';

const exec = promisify(execFile);
const UP: UpOptions = { evm: false, gateways: true };

describe('adding a member: a second hospital joins the running consortium', function () {
  this.timeout(900_000);
  let network: Network;
  let grown: Network | undefined;
  let stateDir: string;
  let consortiumFile: string;
  let progress: Progress;
  const fabricHome = installFabric(consoleProgress('add-org', createWriteStream('/dev/null')));

  before(async () => {
    stateDir = mkdtempSync(path.join(os.tmpdir(), 'medprov-add-org-'));
    consortiumFile = path.join(stateDir, 'consortium.json');
    copyFileSync(path.join(ROOT, 'test', 'integration', 'deployment', 'consortium-hosts.json'), consortiumFile);
    const definition = readConsortiumFile(consortiumFile);
    // The four-org layout's ports must be free too (the Clinic takes base + 400 and gateway base + 1003).
    const four = { ...definition, organisations: [...definition.organisations, JSON.parse(readFileSync(path.join(ROOT, 'test', 'integration', 'deployment', 'new-hospital.json'), 'utf8'))] };
    for (let i = 0; i < 22 && !network; i++) {
      const base = 20_000 + ((process.pid + 3 + i) % 11) * 1_100;
      const candidate = new Network(four, { root: ROOT, stateDir: path.join(stateDir, 'state'), basePort: base, fabricHome });
      if ((await portsTakenByOthers(candidate, UP)).length === 0) network = new Network(definition, { root: ROOT, stateDir: path.join(stateDir, 'state'), basePort: base, fabricHome });
    }
    if (!network) throw new Error('no free port range');
    progress = consoleProgress('add-org', createWriteStream(path.join(stateDir, 'up.log')));
    await up(network, progress, UP);
  });

  after(async () => {
    // The grown network's down stops the Clinic's processes too, also when add-org failed half-way.
    if (network) await down(grown ?? withOrganisation(network, JSON.parse(readFileSync(path.join(ROOT, 'test', 'integration', 'deployment', 'new-hospital.json'), 'utf8'))), progress);
    if (stateDir && !process.env.MEDPROV_TEST_KEEP_STATE) rmSync(stateDir, { recursive: true, force: true });
  });

  it('one member’s admin alone cannot change the consortium: the change stays open, the definition in force is unchanged', async () => {
    const current = JSON.parse(await queryChaincode(network, 'Sponsor', 'Identity:readConsortium')) as { organisations: { mspId: string; type: string }[]; revision: number };
    const next = { organisations: [...current.organisations, { mspId: 'RogueMSP', type: 'hospital' }] };
    await invokeChaincode(network, 'Sponsor', 'Identity:approveConsortiumChange', [JSON.stringify(next)]);
    const change = JSON.parse(await queryChaincode(network, 'Sponsor', 'Identity:readConsortiumChange', [JSON.stringify(next)])) as { change: { status: string; approvals: { mspId: string }[] }; stillNeeded: { members: number; joining: string[] } };
    expect(change.change.status).to.equal('open');
    expect(change.change.approvals.map((a) => a.mspId)).to.deep.equal(['SponsorMSP']);
    expect(change.stillNeeded).to.deep.equal({ members: 1, joining: ['RogueMSP'] });
    const after = JSON.parse(await queryChaincode(network, 'Sponsor', 'Identity:readConsortium')) as { organisations: { mspId: string }[]; revision: number };
    expect(after.revision).to.equal(current.revision);
    expect(after.organisations.map((o) => o.mspId)).to.not.include('RogueMSP');
  });

  it('add-org: channel update signed by a majority of the members’ admins, the Clinic’s peer joins and catches up, the consortium definition changes under the same majority, its gateway starts', async () => {
    const env = { ...process.env, MEDPROV_CONSORTIUM: consortiumFile, MEDPROV_STATE_DIR: network.stateDir, MEDPROV_BASE_PORT: String(network.basePort), MEDPROV_FABRIC_HOME: fabricHome };
    const { stdout } = await exec(process.execPath, ['--require', 'tsx/cjs', path.join(ROOT, 'network', 'src', 'cli.ts'), 'add-org', path.join(ROOT, 'test', 'integration', 'deployment', 'new-hospital.json')], {
      cwd: ROOT,
      env,
      timeout: 600_000,
      maxBuffer: 16 * 2 ** 20,
    });
    expect(stdout).to.match(/Clinic joined: channel update signed by HospitalMSP, InsurerMSP; consortium change approved by HospitalMSP, InsurerMSP, ClinicMSP/);
    // The consortium file lists the new member; the grown network is read from it.
    grown = new Network(readConsortiumFile(consortiumFile), { root: ROOT, stateDir: network.stateDir, basePort: network.basePort, fabricHome });
    const clinic = grown.organisation('Clinic');
    expect(clinic.host).to.equal('127.0.5.1');
    for (const name of ['peer0-clinic', 'chaincode-clinic', gatewayName(clinic)]) expect(runningPid(grown.pidFile(name)), name).to.be.a('number');

    const onLedger = JSON.parse(await queryChaincode(grown, 'Insurer', 'Identity:readConsortium')) as { organisations: { mspId: string; type: string }[]; revision: number; approvedBy: string[] };
    expect(onLedger.organisations).to.deep.include({ mspId: 'ClinicMSP', type: 'hospital' });
    expect(onLedger.approvedBy).to.include.members(['HospitalMSP', 'InsurerMSP', 'ClinicMSP']);
    expect(onLedger.approvedBy).to.not.include('SponsorMSP');

    // The Clinic's peer has the whole chain: the same height as the Insurer's once quiet.
    const insurerPeer = grown.peersOf(grown.organisation('Insurer'))[0];
    const clinicPeer = grown.peersOf(clinic)[0];
    let same = false;
    for (let i = 0; i < 120 && !same; i++) {
      same = (await channelHeight(grown, clinicPeer)) === (await channelHeight(grown, insurerPeer));
      if (!same) await new Promise((r) => setTimeout(r, 1_000));
    }
    expect(same, 'the Clinic’s peer caught up').to.equal(true);
  });

  it('the new hospital anchors a document through its own gateway (127.0.5.1) and the Insurer verifies it as the Clinic’s', async () => {
    if (!grown) throw new Error('add-org did not run');
    const keys = readApiKeys(grown);
    if (!keys?.orgs.Clinic) throw new Error('no API keys for the Clinic');
    expect(new URL(keys.orgs.Clinic.url).hostname).to.equal('127.0.5.1');
    const body = { recordId: `clinic-${randomBytes(4).toString('hex')}`, docHash: randomBytes(32).toString('hex'), patientId: 'MRN-CLINIC-1', category: 'loinc:18842-5', commitment: 'plain' };
    const anchored = await write({ url: keys.orgs.Clinic.url, key: keys.orgs.Clinic.keys['records-officer'] }, 'POST', '/v1/records', body);
    expect(anchored.status, anchored.text).to.equal(201);
    const verdict = await verifyUntil({ url: keys.orgs.Insurer.url, key: keys.orgs.Insurer.keys['claims-officer'] }, { docHash: body.docHash }, 'ORIGINAL');
    expect(JSON.stringify(verdict)).to.include('ClinicMSP');
  });
});
