import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseConsortiumDefinition, readConsortiumFile } from '../../../network/src/consortium';
import { configtx, cryptoConfig } from '../../../network/src/generate';
import { Network, networkFromEnv, PORTS } from '../../../network/src/network';

const ROOT = path.resolve(__dirname, '../../..');
const DEFINITION = readConsortiumFile(path.join(ROOT, 'test', 'integration', 'network', 'consortium-quick.json'));
const raw = () => JSON.parse(fs.readFileSync(path.join(ROOT, 'test', 'integration', 'network', 'consortium-quick.json'), 'utf8'));

function network(definition = DEFINITION, basePort?: number): Network {
  return new Network(definition, { root: ROOT, stateDir: '/tmp/medprov-unit-state', basePort, fabricHome: '/opt/fabric' });
}

describe('network: derived from consortium.json', () => {
  it('gives every process a distinct port, and the base port moves them all', () => {
    const a = network();
    const ports = (n: Network) => [
      ...n.orderers.flatMap((o) => [o.port, o.adminPort, o.operationsPort]),
      ...n.peers.flatMap((p) => [p.port, p.chaincodePort, p.operationsPort]),
      Number(n.chaincodeServerAddress.split(':')[1]),
      n.evmPort,
      ...n.definition.organisations.map((o) => n.gatewayPort(o)),
    ];
    expect(new Set(ports(a)).size).to.equal(ports(a).length);
    const b = network(DEFINITION, 27_000);
    expect(ports(b).map((p, i) => p - ports(a)[i])).to.satisfy((d: number[]) => d.every((x) => x === 20_000));
    expect(a.gatewayPort(a.organisation('Hospital'))).to.equal(7000 + PORTS.gateway);
  });

  it('names each node and finds its crypto material in the cryptogen layout', () => {
    const n = network();
    expect(n.orderers.map((o) => o.fqdn)).to.deep.equal(['orderer0.orderer.medprov.local', 'orderer1.orderer.medprov.local', 'orderer2.orderer.medprov.local']);
    const hospital = n.peersOf(n.organisation('HospitalMSP'))[0];
    expect(hospital.tlsDir).to.equal('/tmp/medprov-unit-state/network/crypto/peerOrganizations/hospital.medprov.local/peers/peer0.hospital.medprov.local/tls');
    const settings = n.gatewaySettings('Insurer');
    expect(settings.fabric).to.include({ mspId: 'InsurerMSP', peerEndpoint: '127.0.0.1:7200', peerHostAlias: 'peer0.insurer.medprov.local', channel: 'medprov', chaincode: 'medprov' });
    expect(settings.fabric.certPath).to.match(/users\/User1@insurer\.medprov\.local\/msp\/signcerts\/User1@insurer\.medprov\.local-cert\.pem$/);
    expect(() => n.organisation('Bank')).to.throw(/known: Hospital, Insurer, Sponsor/);
  });

  it('takes a fourth organisation and a second peer from the file alone', () => {
    const def = raw();
    def.organisations[0].peers = 2;
    def.organisations.push({ name: 'Clinic', mspId: 'ClinicMSP', type: 'hospital', domain: 'clinic.medprov.local', peers: 1 });
    const n = network(parseConsortiumDefinition(def));
    expect(n.peers.map((p) => p.name)).to.deep.equal(['peer0-hospital', 'peer1-hospital', 'peer0-insurer', 'peer0-sponsor', 'peer0-clinic']);
    expect(n.peers.map((p) => p.port)).to.deep.equal([7100, 7110, 7200, 7300, 7400]);
    const tx = configtx(n) as { Profiles: { MedprovChannel: { Application: { Organizations: { ID: string }[] } } } };
    expect(tx.Profiles.MedprovChannel.Application.Organizations.map((o) => o.ID)).to.include('ClinicMSP');
    const crypto = cryptoConfig(n) as { PeerOrgs: { Name: string; Template: { Count: number } }[] };
    expect(crypto.PeerOrgs.map((o) => [o.Name, o.Template.Count])).to.deep.equal([['Hospital', 2], ['Insurer', 1], ['Sponsor', 1], ['Clinic', 1]]);
  });

  it('writes a channel profile Fabric 3 accepts: V3_0, per-org orderer endpoints (no global addresses), anchor peers, MAJORITY endorsement, NodeOUs', () => {
    const n = network();
    const tx = configtx(n) as any;
    const profile = tx.Profiles.MedprovChannel;
    expect(profile.Capabilities).to.deep.equal({ V3_0: true });
    expect(profile.Orderer).to.not.have.property('Addresses');
    expect(profile.Orderer.Organizations[0].OrdererEndpoints).to.deep.equal(['127.0.0.1:7000', '127.0.0.1:7010', '127.0.0.1:7020']);
    expect(profile.Orderer.EtcdRaft.Consenters).to.have.length(3);
    expect(profile.Application.Policies.Endorsement.Rule).to.equal('MAJORITY Endorsement');
    expect(profile.Application.Organizations.map((o: any) => o.AnchorPeers[0].Port)).to.deep.equal([7100, 7200, 7300]);
    expect(profile.Application.Organizations[0].Policies.Endorsement.Rule).to.equal("OR('HospitalMSP.peer')");
    expect((cryptoConfig(n) as any).PeerOrgs.every((o: any) => o.EnableNodeOUs === true && o.Template.SANS.includes('127.0.0.1'))).to.equal(true);
  });

  it('refuses a definition it cannot run, naming the field', () => {
    const bad = (change: (d: any) => void) => {
      const d = raw();
      change(d);
      return () => parseConsortiumDefinition(d);
    };
    expect(bad((d) => (d.organisations[1].type = 'bank'))).to.throw(/organisations\[1\]\.type must be one of hospital, insurer, sponsor/);
    expect(bad((d) => (d.organisations[2].mspId = 'HospitalMSP'))).to.throw(/two organisations share the mspId/);
    expect(bad((d) => (d.ordererOrganisation.orderers = 0))).to.throw(/ordererOrganisation\.orderers/);
    expect(bad((d) => (d.basePort = 80))).to.throw(/basePort/);
    expect(bad((d) => (d.channel = 'Med Prov'))).to.throw(/channel/);
    expect(bad((d) => (d.organisations = []))).to.throw(/non-empty list/);
  });

  it('reads the state folder and base port from the environment', () => {
    const n = networkFromEnv({ MEDPROV_STATE_DIR: '/tmp/x', MEDPROV_BASE_PORT: '12000' }, ROOT);
    expect(n.stateDir).to.equal('/tmp/x');
    expect(n.basePort).to.equal(12000);
    expect(() => n.fabricHome).to.throw(/no Fabric install/);
    expect(() => networkFromEnv({ MEDPROV_BASE_PORT: '99999' }, ROOT)).to.throw(/base port/);
  });
});
