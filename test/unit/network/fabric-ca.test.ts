import { expect } from 'chai';
import * as path from 'node:path';
import { allCaOrgs, caPorts, caServer, orgDir, usesFabricCa } from '../../../network/src/ca';
import { parseConsortiumDefinition, readConsortiumFile } from '../../../network/src/consortium';
import { configtx } from '../../../network/src/generate';
import { channelMspDir, connectionAs, gatewayRoleIdentities, orgWorkspace, publicRoot, roleUserName } from '../../../network/src/identities';
import { Network, PORTS } from '../../../network/src/network';

const ROOT = path.resolve(__dirname, '../../..');
const base = readConsortiumFile(path.join(ROOT, 'test', 'integration', 'network', 'consortium-quick.json'));
const net = (def: unknown, basePort = 20000) => new Network(parseConsortiumDefinition(def), { root: ROOT, stateDir: '/tmp/medprov-unit-fabric-ca', basePort });

describe('network: identities from each organisation’s own Fabric CA (consortium option)', () => {
  it('"identities" is fabric-ca or cryptogen (absent: cryptogen); anything else is refused naming the field', () => {
    expect(usesFabricCa(net(base))).to.equal(false);
    expect(usesFabricCa(net({ ...base, identities: 'cryptogen' }))).to.equal(false);
    expect(usesFabricCa(net({ ...base, identities: 'fabric-ca' }))).to.equal(true);
    expect(() => parseConsortiumDefinition({ ...base, identities: 'ldap' })).to.throw(/identities must be "fabric-ca" or "cryptogen"/);
  });

  it("gives every organisation's CA its own ports, taken by no other process of the network (8 organisations, 9 peers each)", () => {
    const orgs = Array.from({ length: 8 }, (_, i) => ({ name: `Org${i}`, mspId: `Org${i}MSP`, type: 'hospital', domain: `org${i}.medprov.local`, peers: 9 }));
    const network = net({ ...base, identities: 'fabric-ca', ordererOrganisation: { ...base.ordererOrganisation, orderers: 9 }, organisations: orgs });
    const others = [
      ...network.orderers.flatMap((o) => [o.port, o.adminPort, o.operationsPort]),
      ...network.peers.flatMap((p) => [p.port, p.chaincodePort, p.operationsPort]),
      network.basePort + PORTS.chaincodeServer,
      network.evmPort,
      ...network.definition.organisations.map((o) => network.gatewayPort(o)),
    ];
    const cas = allCaOrgs(network).flatMap((o) => [caServer(network, o).port, caServer(network, o).operationsPort]);
    expect(new Set(cas).size).to.equal(cas.length);
    for (const port of cas) expect(others, String(port)).to.not.include(port);
    expect(caServer(network, 'orderer')).to.include({ name: 'ca-orderer', port: 20095, url: 'https://127.0.0.1:20095' });
    expect(caServer(network, network.organisation('Org0'))).to.include({ name: 'ca-org0', port: 20195 });
    // up checks them before anything starts (system.ts portsTakenByOthers).
    expect(caPorts(network).map((p) => p.port)).to.deep.equal(cas);
    expect(caPorts(net(base))).to.deep.equal([]);
  });

  it("binds a CA to its organisation's own address, and keeps its home in that organisation's folder", () => {
    const network = net({ ...base, identities: 'fabric-ca', organisations: base.organisations.map((o, i) => ({ ...o, host: `127.0.${i + 1}.1` })) });
    const hospital = network.organisation('Hospital');
    expect(caServer(network, hospital).url).to.equal(`https://127.0.1.1:${network.basePort + 195}`);
    expect(caServer(network, hospital).home.startsWith(orgDir(network, hospital) + path.sep)).to.equal(true);
  });

  it("reads every organisation's MSP for the channel from its public folder (Fabric CA), from cryptogen's otherwise", () => {
    const ca = net({ ...base, identities: 'fabric-ca' });
    const orgs = (configtx(ca) as { Organizations: { ID: string; MSPDir: string }[] }).Organizations;
    expect(orgs.map((o) => o.MSPDir)).to.deep.equal(allCaOrgs(ca).map((o) => channelMspDir(ca, o)));
    for (const o of orgs) expect(o.MSPDir.startsWith(publicRoot(ca) + path.sep)).to.equal(true);
    for (const org of allCaOrgs(ca)) {
      const ws = orgWorkspace(ca, org);
      expect(ws.publicDir.startsWith(ws.ownDir)).to.equal(false);
      for (const other of allCaOrgs(ca)) if (other !== org) expect(ws.ownDir.startsWith(orgDir(ca, other))).to.equal(false);
    }
    const plain = net(base);
    for (const o of (configtx(plain) as { Organizations: { MSPDir: string }[] }).Organizations) expect(o.MSPDir.startsWith(plain.cryptoDir)).to.equal(true);
  });

  it("maps a gateway's roles to its enrolled users (Fabric CA); none with cryptogen, where a direct client stays User1", () => {
    const ca = net({ ...base, identities: 'fabric-ca' });
    const hospital = ca.organisation('Hospital');
    const roles = gatewayRoleIdentities(ca, hospital) as Record<string, { certPath: string; keyPath: string }>;
    expect(Object.keys(roles)).to.have.members(['records-officer', 'research-officer', 'dpo', 'admin', 'clinician']);
    expect(roles.clinician.certPath).to.equal(ca.identity(hospital, roleUserName('clinician')).certPath);
    expect(connectionAs(ca, hospital, 'clinician').certPath).to.equal(roles.clinician.certPath);
    const plain = net(base);
    expect(gatewayRoleIdentities(plain, plain.organisation('Hospital'))).to.equal(undefined);
    expect(connectionAs(plain, plain.organisation('Hospital'), 'clinician').certPath).to.equal(plain.identity(plain.organisation('Hospital'), 'User1').certPath);
  });
});
