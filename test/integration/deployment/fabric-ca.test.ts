/**
 * Each organisation owns its identities (issue 17): a network of its own from
 * test/integration/deployment/consortium-fabric-ca.json (`"identities": "fabric-ca"`: one
 * fabric-ca-server per organisation, the orderer organisation's included), on real Fabric 3.1.5.
 *
 * - Every certificate of an organisation was signed by its own CA and by no other's; its gateway
 *   users carry the X.509 attribute `medprov.role` of their role.
 * - Only public material is exchanged: the channel configuration reads each organisation's public
 *   MSP folder (certificates only), and one organisation's bring-up runs with nothing of the others
 *   on disk.
 * - The chaincode itself refuses a user of the right MSP with the wrong role attribute, and an
 *   identity of the org's CA without one (submitted directly with Fabric's `peer` CLI); the
 *   gateway submits as the enrolled user matching the API key's role (the creator of its
 *   transactions on the ledger).
 *
 * @module
 */
import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import { createWriteStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import YAML from 'yaml';
import { addOrganisation } from '../../../network/src/add-org';
import { allCaOrgs, caServer, orgDir, stopCa, type CaOrg } from '../../../network/src/ca';
import { readConsortiumFile } from '../../../network/src/consortium';
import { adminEnv, endorserFlags, ordererFlags, runTool } from '../../../network/src/fabric-cli';
import { GATEWAY_ROLES, readApiKeys, type ApiKeys } from '../../../network/src/gateways';
import { channelMspDir, connectionAs, enrolOrganisation, orgWorkspace, publicRoot, roleUserName } from '../../../network/src/identities';
import { Network } from '../../../network/src/network';
import { consoleProgress, silentProgress } from '../../../network/src/progress';
import { down, installFabric, ROOT, status, up } from '../../../network/src/system';
import { LedgerClient } from '../../../gateway/src/fabric/client';
import { LedgerError } from '../../../gateway/src/fabric/errors';
import { certificateAttributes } from '../../../gateway/src/fabric/identities';
import { runCli } from '../../unit/support/cli-process';
import { call, uploadForm, verifyUntil } from '../network/flows';
import { refusalOf, transactionCreator } from '../network/support/peer-cli';
import { freeNetwork } from '../network/test-network';

const CONSORTIUM = path.join(ROOT, 'test', 'integration', 'deployment', 'consortium-fabric-ca.json');

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? filesUnder(full) : [full];
  });
}

const attributesOf = (pem: string): Record<string, string> => certificateAttributes(pem);

const cn = (pem: string): string | undefined => /CN=([^\n,]+)/.exec(new X509Certificate(pem).subject)?.[1];


describe('Fabric CA per organisation: own identities, role attributes checked by the chaincode (real network)', function () {
  let network: Network;
  let keys: ApiKeys;
  let stateDir: string;
  let upSeconds = 0;
  const hospital = () => network.organisation('Hospital');

  before(async function () {
    this.timeout(600_000);
    stateDir = mkdtempSync(path.join(os.tmpdir(), 'medprov-fabric-ca-'));
    const fabricHome = installFabric(silentProgress);
    const definition = readConsortiumFile(CONSORTIUM);
    const make = (basePort: number) => new Network(definition, { root: ROOT, stateDir, basePort, fabricHome });
    // The CAs' ports are among those checked (identities "fabric-ca"); offset from the other fixtures' candidates.
    network = await freeNetwork(make, { evm: false }, 275);
    const log = createWriteStream(path.join(stateDir, 'up.log'));
    const t0 = Date.now();
    try {
      await up(network, consoleProgress('fabric-ca-network', log), { evm: false });
    } catch (err) {
      throw new Error(`the Fabric CA network did not come up: ${(err as Error).message} (progress: ${path.join(stateDir, 'up.log')})`);
    }
    upSeconds = (Date.now() - t0) / 1000;
    console.log(`      Fabric CA network up in ${upSeconds.toFixed(1)} s (3 CAs, 1 orderer, 2 peers, 2 gateways; base port ${network.basePort})`);
    keys = readApiKeys(network) as ApiKeys;
  });

  after(async function () {
    this.timeout(120_000);
    if (network) await down(network, silentProgress);
    if (stateDir && !process.env.MEDPROV_TEST_KEEP_STATE) rmSync(stateDir, { recursive: true, force: true });
  });

  it('runs one CA per organisation (the orderer organisation too), with TLS, shown by status', async () => {
    const rows = await status(network);
    for (const org of allCaOrgs(network)) {
      const ca = caServer(network, org);
      const row = rows.find((r) => r.name === ca.name);
      expect(row, ca.name).to.include({ healthy: true, port: ca.port });
      // Its listening certificate chains to its own root.
      expect(new X509Certificate(readFileSync(path.join(ca.home, 'tls-cert.pem'))).verify(new X509Certificate(readFileSync(ca.caCert)).publicKey)).to.equal(true);
    }
  });

  it("signs every certificate of an organisation with that organisation's own CA, and none with another's", () => {
    const roots = new Map<CaOrg, X509Certificate>(allCaOrgs(network).map((o) => [o, new X509Certificate(readFileSync(caServer(network, o).caCert))]));
    expect(new Set([...roots.values()].map((c) => c.fingerprint256)).size).to.equal(roots.size);
    for (const org of allCaOrgs(network)) {
      const own = roots.get(org) as X509Certificate;
      const issued = filesUnder(orgDir(network, org)).filter((f) => /\/(peers|orderers|users)\//.test(f) && (/\/signcerts\/[^/]+\.pem$/.test(f) || /\/tls\/(server|client)\.crt$/.test(f)));
      expect(issued.length, `certificates of ${caServer(network, org).name}`).to.be.greaterThan(2);
      for (const file of issued) {
        const cert = new X509Certificate(readFileSync(file));
        expect(cert.verify(own.publicKey), file).to.equal(true);
        for (const [other, root] of roots) if (other !== org) expect(cert.verify(root.publicKey), `${file} against ${caServer(network, other).name}`).to.equal(false);
      }
    }
  });

  it('enrols one gateway user per role with the ecert attribute medprov.role; the admin and the default user carry none', () => {
    for (const org of network.definition.organisations) {
      for (const role of GATEWAY_ROLES[org.type]) {
        const pem = readFileSync(network.identity(org, roleUserName(role)).certPath, 'utf8');
        expect(attributesOf(pem), `${org.name} ${role}`).to.include({ 'medprov.role': role, 'hf.Type': 'client' });
      }
      const admin = readFileSync(network.identity(org, 'Admin').certPath, 'utf8');
      expect(attributesOf(admin)).to.not.have.property('medprov.role');
      expect(new X509Certificate(admin).subject).to.match(/OU=admin/);
      expect(attributesOf(readFileSync(network.identity(org, 'User1').certPath, 'utf8'))).to.not.have.property('medprov.role');
    }
  });

  it("builds the channel from public MSP folders only: certificates and NodeOUs, no key; every key stays in its organisation's folder", () => {
    const configtx = YAML.parse(readFileSync(path.join(network.configtxDir, 'configtx.yaml'), 'utf8')) as { Organizations: { ID: string; MSPDir: string }[] };
    expect(configtx.Organizations).to.have.length(allCaOrgs(network).length);
    for (const o of configtx.Organizations) expect(o.MSPDir.startsWith(publicRoot(network) + path.sep), `${o.ID} MSPDir ${o.MSPDir}`).to.equal(true);
    const exported = filesUnder(publicRoot(network));
    expect(exported.filter((f) => f.endsWith('config.yaml'))).to.have.length(allCaOrgs(network).length);
    for (const file of exported) {
      expect(readFileSync(file, 'utf8'), file).to.not.match(/PRIVATE KEY/);
      expect(file).to.not.match(/keystore|_sk$|\.key$/);
    }
    const keyFiles = filesUnder(network.networkDir).filter((f) => /PRIVATE KEY/.test(readFileSync(f, 'latin1')));
    expect(keyFiles.length).to.be.greaterThan(10);
    for (const file of keyFiles) {
      const owners = allCaOrgs(network).filter((o) => file.startsWith(orgDir(network, o) + path.sep));
      expect(owners, file).to.have.length(1);
    }
  });

  it("brings one organisation up with nothing of the others on disk: its own folder in, its public MSP out", async function () {
    this.timeout(180_000);
    const alone = mkdtempSync(path.join(os.tmpdir(), 'medprov-fabric-ca-alone-'));
    // Another base port: the CA of this lone Hospital must not meet the running network's.
    const lone = new Network(network.definition, { root: ROOT, stateDir: alone, basePort: network.basePort + 3, fabricHome: network.fabricHome });
    const org = lone.organisation('Hospital');
    try {
      await enrolOrganisation(lone, orgWorkspace(lone, org), silentProgress);
      const ws = orgWorkspace(lone, org);
      const touched = filesUnder(lone.networkDir).filter((f) => !f.startsWith(lone.logsDir) && !f.startsWith(lone.pidsDir));
      for (const f of touched) expect(f.startsWith(ws.ownDir + path.sep) || f.startsWith(ws.publicDir + path.sep), f).to.equal(true);
      expect(existsSync(path.join(ws.publicDir, 'msp', 'cacerts', `ca.${org.domain}-cert.pem`))).to.equal(true);
      expect(existsSync(orgDir(lone, lone.organisation('Insurer')))).to.equal(false);
      expect(existsSync(orgDir(lone, 'orderer'))).to.equal(false);
    } finally {
      await stopCa(lone, org);
      rmSync(alone, { recursive: true, force: true });
    }
  });

  describe('attribute checks in the chaincode, submitted directly with the peer CLI', () => {
    /** `peer chaincode invoke` of `fn` as a user of the Hospital (its own MSP folder), endorsed by every org. */
    const invokeAs = (user: string, fn: string, ...args: string[]) =>
      runTool(network, 'peer', ['chaincode', 'invoke', '-C', network.channel, '-n', network.chaincodeName, '-c', JSON.stringify({ function: fn, Args: args }), ...ordererFlags(network), ...endorserFlags(network), '--waitForEvent'], {
        ...adminEnv(network, hospital()),
        CORE_PEER_MSPCONFIGPATH: network.identity(hospital(), user).mspDir,
      });

    it('refuses a clinician of HospitalMSP anchoring a record (FORBIDDEN_ROLE)', async function () {
      this.timeout(120_000);
      const refusal = await refusalOf(invokeAs(roleUserName('clinician'), 'Records:anchorRecord', '{}'));
      expect(refusal).to.include({ code: 'FORBIDDEN_ROLE', stage: 'endorsement' });
      expect(refusal.sentence).to.match(/clinician.*records-officer/);
    });

    it('refuses a records officer of HospitalMSP breaking the glass (FORBIDDEN_ROLE)', async function () {
      this.timeout(120_000);
      const refusal = await refusalOf(invokeAs(roleUserName('records-officer'), 'Access:breakGlassAccess', '{}'));
      expect(refusal).to.include({ code: 'FORBIDDEN_ROLE', stage: 'endorsement' });
      expect(refusal.sentence).to.match(/records-officer.*clinician/);
    });

    it("refuses an identity of the Hospital's CA without a role attribute (its admin) where a role matters", async function () {
      this.timeout(120_000);
      const refusal = await refusalOf(invokeAs('Admin', 'Privacy:recordErasure', '{}'));
      expect(refusal).to.include({ code: 'FORBIDDEN_ROLE', stage: 'endorsement' });
      expect(refusal.sentence).to.match(/no medprov\.role attribute.*dpo/);
    });

    it('refuses the same through the fabric-gateway client: a clinician anchoring, a records officer breaking the glass', async function () {
      this.timeout(120_000);
      for (const [role, transaction, needed] of [['clinician', 'Records:anchorRecord', 'records-officer'], ['records-officer', 'Access:breakGlassAccess', 'clinician']] as const) {
        const client = await LedgerClient.connect(connectionAs(network, hospital(), role));
        try {
          const err = await client.submit(transaction, '{}').then(
            () => undefined,
            (e: unknown) => e as LedgerError,
          );
          expect(err, `${role} ${transaction}`).to.be.instanceOf(LedgerError);
          expect((err as LedgerError).code).to.equal('FORBIDDEN_ROLE');
          expect((err as LedgerError).message).to.include(needed);
        } finally {
          client.close();
        }
      }
    });

    it('lets the right role past the role check (refused only for its empty arguments)', async function () {
      this.timeout(120_000);
      const anchor = await refusalOf(invokeAs(roleUserName('records-officer'), 'Records:anchorRecord', '{}'));
      expect(anchor.code).to.not.equal('FORBIDDEN_ROLE');
      const erasure = await refusalOf(invokeAs(roleUserName('dpo'), 'Privacy:recordErasure', '{}'));
      expect(erasure.code).to.not.equal('FORBIDDEN_ROLE');
    });
  });

  it("submits through the gateway as the enrolled user of the API key's role (the creator on the ledger)", async function () {
    this.timeout(180_000);
    const gw = (role: string) => ({ url: keys.orgs.Hospital.url, key: keys.orgs.Hospital.keys[role] });
    const doc = Buffer.from(`fabric-ca ${Date.now()} ${Math.random()}`);
    const anchored = await call(gw('records-officer'), 'POST', '/v1/records', uploadForm(doc, { recordId: `ca-${Date.now()}`, patientId: 'MRN-2001', category: 'loinc:18842-5', commitment: 'plain' }), { Prefer: 'wait=60' });
    expect(anchored.status, JSON.stringify(anchored.body)).to.equal(201);
    const anchorTx = anchored.body.anchor.txId as string;
    const glass = await call(gw('clinician'), 'POST', '/v1/break-glass', { issuer: hospital().mspId, recordId: anchored.body.anchor.recordId, reason: 'unconscious-patient' });
    expect(glass.status, JSON.stringify(glass.body)).to.equal(201);
    for (const [txId, role] of [[anchorTx, 'records-officer'], [glass.body.transactionId as string, 'clinician']] as const) {
      const creator = await transactionCreator(network, 'Hospital', txId);
      expect(creator.mspId).to.equal(hospital().mspId);
      expect(cn(creator.certificate)).to.equal(roleUserName(role));
      expect(attributesOf(creator.certificate)['medprov.role']).to.equal(role);
    }
  });

  it('says which identity an API key submits as: GET /v1/whoami and `medprov status`', async function () {
    this.timeout(120_000);
    const gw = { url: keys.orgs.Hospital.url, key: keys.orgs.Hospital.keys.clinician };
    const whoami = await call(gw, 'GET', '/v1/whoami');
    expect(whoami.status).to.equal(200);
    expect(whoami.body.ledgerIdentity).to.deep.equal({ mspId: hospital().mspId, name: roleUserName('clinician'), certifiedRole: 'clinician', source: 'fabric-ca' });
    const home = mkdtempSync(path.join(os.tmpdir(), 'medprov-fabric-ca-cli-'));
    try {
      const run = await runCli(['status'], { home, env: { MEDPROV_GATEWAY_URL: gw.url, MEDPROV_API_KEY: gw.key } });
      expect(run.code, run.stderr).to.equal(0);
      expect(run.stdout).to.match(/ledger identity\s+gw-clinician \(fabric-ca, certified role clinician\)/);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
  it('lets a new member join with identities from its own CA: its certificates signed by it alone, its anchor verified at the Insurer', async function () {
    this.timeout(300_000);
    const report = await addOrganisation(network, { name: 'Clinic', mspId: 'ClinicMSP', type: 'hospital', domain: 'clinic.medprov.local', peers: 1 }, silentProgress);
    network = report.network;
    const clinic = network.organisation('Clinic');
    const own = new X509Certificate(readFileSync(caServer(network, clinic).caCert));
    for (const other of allCaOrgs(network).filter((o) => o !== clinic)) expect(new X509Certificate(readFileSync(caServer(network, other).caCert)).fingerprint256).to.not.equal(own.fingerprint256);
    for (const id of ['Admin', roleUserName('records-officer')]) expect(new X509Certificate(readFileSync(network.identity(clinic, id).certPath)).verify(own.publicKey), id).to.equal(true);
    expect(existsSync(path.join(channelMspDir(network, clinic), 'cacerts', `ca.${clinic.domain}-cert.pem`))).to.equal(true);
    const all = readApiKeys(network) as ApiKeys;
    const gw = { url: all.orgs.Clinic.url, key: all.orgs.Clinic.keys['records-officer'] };
    const doc = Buffer.from(`clinic ${Date.now()} ${Math.random()}`);
    const anchored = await call(gw, 'POST', '/v1/records', uploadForm(doc, { recordId: `clinic-${Date.now()}`, patientId: 'MRN-3001', category: 'loinc:18842-5', commitment: 'plain' }), { Prefer: 'wait=60' });
    expect(anchored.status, JSON.stringify(anchored.body)).to.equal(201);
    expect(cn((await transactionCreator(network, 'Clinic', anchored.body.anchor.txId)).certificate)).to.equal(roleUserName('records-officer'));
    const verdict = await verifyUntil({ url: all.orgs.Insurer.url, key: all.orgs.Insurer.keys['claims-officer'] }, { docHash: anchored.body.anchor.docHash }, 'ORIGINAL');
    expect(verdict).to.include({ issuer: clinic.mspId, recordId: anchored.body.anchor.recordId });
  });
});
