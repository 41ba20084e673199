import { expect } from 'chai';
import * as path from 'node:path';
import { withOrganisation } from '../../../network/src/add-org';
import { isPrivateKeyFile } from '../../../network/src/bundle';
import { orderingQuorum, parseConsortiumDefinition, readConsortiumFile } from '../../../network/src/consortium';
import { configtx, cryptoConfig } from '../../../network/src/generate';
import { Network } from '../../../network/src/network';

const ROOT = path.resolve(__dirname, '../../..');
const base = readConsortiumFile(path.join(ROOT, 'test', 'integration', 'network', 'consortium-quick.json'));
const net = (def: unknown) => new Network(parseConsortiumDefinition(def), { root: ROOT, stateDir: '/tmp/medprov-unit-deployment', basePort: 20000 });

describe('network: ordering and per-organisation addresses in the consortium file', () => {
  it('ordering defaults to raft; bft needs at least 4 orderers; anything else is refused naming the field', () => {
    expect(base.ordering).to.equal('raft');
    expect(() => parseConsortiumDefinition({ ...base, ordering: 'bft' })).to.throw(/BFT ordering needs at least 4 orderers/);
    expect(() => parseConsortiumDefinition({ ...base, ordering: 'kafka' })).to.throw(/ordering must be "raft" or "bft"/);
    const bft = parseConsortiumDefinition({ ...base, ordering: 'bft', ordererOrganisation: { ...base.ordererOrganisation, orderers: 4 } });
    expect(bft.ordering).to.equal('bft');
  });

  it('the quorum: a Raft majority; BFT ⌈(n+f+1)/2⌉ with f = ⌊(n−1)/3⌋', () => {
    expect([1, 3, 5].map((n) => orderingQuorum('raft', n))).to.deep.equal([1, 2, 3]);
    expect([4, 5, 7, 10].map((n) => orderingQuorum('bft', n))).to.deep.equal([3, 4, 5, 7]);
  });

  it('a host must be an IPv4 address or a host name', () => {
    for (const host of ['127.0.1.1', 'hospital.example.org']) expect(parseConsortiumDefinition({ ...base, ordererOrganisation: { ...base.ordererOrganisation, host } }).ordererOrganisation.host).to.equal(host);
    for (const host of ['300.1.1.1', 'a b', '', 7]) expect(() => parseConsortiumDefinition({ ...base, ordererOrganisation: { ...base.ordererOrganisation, host } })).to.throw(/host must be an IPv4 address or a host name/);
  });

  it('without hosts everything is on the one host with the old SANs and one chaincode server', () => {
    const n = net(base);
    expect(n.perOrgHosts).to.equal(false);
    expect(n.peers.every((p) => p.address.startsWith('127.0.0.1:'))).to.equal(true);
    expect(n.chaincodeServerAddressOf(n.definition.organisations[1])).to.equal(n.chaincodeServerAddress);
    const crypto = cryptoConfig(n) as { PeerOrgs: { Template: { SANS: string[] } }[] };
    expect(crypto.PeerOrgs[0].Template.SANS).to.deep.equal(['localhost', '127.0.0.1']);
  });

  it('with per-org hosts every address, anchor peer, consenter, SAN and chaincode server is the org’s own', () => {
    const hosts = readConsortiumFile(path.join(ROOT, 'test', 'integration', 'deployment', 'consortium-hosts.json'));
    const n = new Network(hosts, { root: ROOT, stateDir: '/tmp/medprov-unit-deployment', basePort: 20000 });
    expect(n.perOrgHosts).to.equal(true);
    const hospital = n.organisation('Hospital');
    expect(n.peersOf(hospital)[0].address).to.equal('127.0.1.1:20100');
    expect(n.orderers[0].address).to.equal('127.0.4.1:20000');
    expect(n.chaincodeServerAddressOf(hospital)).to.equal('127.0.1.1:20900');
    expect(n.gatewaySettings('Insurer').host).to.equal('127.0.2.1');
    const crypto = cryptoConfig(n) as { OrdererOrgs: { Specs: { SANS: string[] }[] }[]; PeerOrgs: { Template: { SANS: string[] } }[] };
    expect(crypto.PeerOrgs.map((o) => o.Template.SANS)).to.deep.equal([['127.0.1.1'], ['127.0.2.1'], ['127.0.3.1']]);
    expect(crypto.OrdererOrgs[0].Specs[0].SANS).to.deep.equal(['127.0.4.1']);
    const tx = configtx(n) as { Organizations: { AnchorPeers?: { Host: string }[]; OrdererEndpoints?: string[] }[]; Profiles: { MedprovChannel: { Orderer: { EtcdRaft: { Consenters: { Host: string }[] } } } } };
    expect(tx.Organizations[0].OrdererEndpoints?.every((e) => e.startsWith('127.0.4.1:'))).to.equal(true);
    expect(tx.Organizations.slice(1).map((o) => o.AnchorPeers?.[0].Host)).to.deep.equal(['127.0.1.1', '127.0.2.1', '127.0.3.1']);
    expect(tx.Profiles.MedprovChannel.Orderer.EtcdRaft.Consenters.every((c) => c.Host === '127.0.4.1')).to.equal(true);
  });

  it('BFT: the channel profile has a ConsenterMapping of every orderer (id, address, MSP, identity and TLS certificates) and no Raft section', () => {
    const bft = readConsortiumFile(path.join(ROOT, 'test', 'faults', 'support', 'consortium-bft.json'));
    const n = new Network(bft, { root: ROOT, stateDir: '/tmp/medprov-unit-deployment', basePort: 20000 });
    const orderer = (configtx(n) as { Profiles: { MedprovChannel: { Orderer: Record<string, unknown> } } }).Profiles.MedprovChannel.Orderer;
    expect(orderer.OrdererType).to.equal('BFT');
    expect(orderer.EtcdRaft).to.equal(undefined);
    const mapping = orderer.ConsenterMapping as { ID: number; Host: string; Port: number; MSPID: string; Identity: string; ClientTLSCert: string; ServerTLSCert: string }[];
    expect(mapping.map((m) => m.ID)).to.deep.equal([1, 2, 3, 4]);
    expect(mapping.map((m) => m.Port)).to.deep.equal(n.orderers.map((o) => o.port));
    expect(mapping.every((m) => m.MSPID === 'OrdererMSP' && m.Identity.endsWith('-cert.pem') && m.ServerTLSCert.endsWith('server.crt'))).to.equal(true);
  });

  it('a new member: the grown network places it after the others (its own ports), a duplicate is refused', () => {
    const n = net(base);
    const grown = withOrganisation(n, { name: 'Clinic', mspId: 'ClinicMSP', type: 'hospital', domain: 'clinic.medprov.local', peers: 1 });
    expect(grown.peersOf(grown.organisation('Clinic'))[0].port).to.equal(20400);
    expect(grown.gatewayPort(grown.organisation('Clinic'))).to.equal(21003);
    expect(() => withOrganisation(n, { name: 'Hospital2', mspId: 'HospitalMSP', type: 'hospital', domain: 'h2.medprov.local', peers: 1 })).to.throw(/share the mspId/);
  });

  it('what counts as a private key file in a bundle', () => {
    for (const f of ['users/Admin@x/msp/keystore/priv_sk', 'ca/priv_sk', 'peers/p/tls/server.key', 'users/u/tls/client.key']) expect(isPrivateKeyFile(f), f).to.equal(true);
    for (const f of ['msp/cacerts/ca.x-cert.pem', 'peers/p/tls/server.crt', 'msp/config.yaml']) expect(isPrivateKeyFile(f), f).to.equal(false);
  });
});
