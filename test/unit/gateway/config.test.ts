import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadGatewayConfig } from '../../../gateway/src/config';
import { PORTS } from '../../../network/src/network';

const ROOT = path.resolve(__dirname, '../../..');

describe('gateway: configuration', () => {
  it('finds an organisation by name or MSP ID and derives its ports and crypto paths', () => {
    const byName = loadGatewayConfig({ MEDPROV_ORG: 'Insurer' }, ROOT);
    const byMsp = loadGatewayConfig({ MEDPROV_ORG: 'InsurerMSP' }, ROOT);
    expect(byName).to.deep.equal(byMsp);
    expect(byName.org).to.deep.equal({ name: 'Insurer', mspId: 'InsurerMSP', type: 'insurer' });
    expect(byName.port).to.equal(7000 + PORTS.gateway + 1);
    // network/consortium.json puts every organisation at its own address: the Insurer's is 127.0.2.1.
    expect(byName.fabric.peerEndpoint).to.equal(`127.0.2.1:${7000 + PORTS.orgStride * 2}`);
    expect(byName.fabric.certPath).to.include(path.join('peerOrganizations', 'insurer.medprov.local', 'users', 'User1@insurer.medprov.local'));
  });

  it('moves every port with the base port, so a test network can run beside another', () => {
    const a = loadGatewayConfig({ MEDPROV_ORG: 'Hospital' }, ROOT);
    const b = loadGatewayConfig({ MEDPROV_ORG: 'Hospital', MEDPROV_BASE_PORT: '27000' }, ROOT);
    expect(b.port - a.port).to.equal(20000);
    expect(Number(b.fabric.peerEndpoint.split(':')[1]) - Number(a.fabric.peerEndpoint.split(':')[1])).to.equal(20000);
  });

  it('explains a missing or unknown organisation and a bad base port', () => {
    expect(() => loadGatewayConfig({}, ROOT)).to.throw(/MEDPROV_ORG is not set/);
    expect(() => loadGatewayConfig({ MEDPROV_ORG: 'Bank' }, ROOT)).to.throw(/known: Hospital, Insurer, Sponsor/);
    expect(() => loadGatewayConfig({ MEDPROV_ORG: 'Hospital', MEDPROV_BASE_PORT: '80' }, ROOT)).to.throw(/MEDPROV_BASE_PORT/);
  });

  it('takes a real deployment from MEDPROV_GATEWAY_CONFIG (any paths and peer), and names what such a file lacks', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'medprov-gwconfig-'));
    try {
      const fabric = { mspId: 'HospitalMSP', peerEndpoint: 'peer1.hospital.example:443', peerHostAlias: 'peer1.hospital.example', tlsRootCertPath: '/etc/medprov/tls-ca.pem', certPath: '/etc/medprov/gw.pem', keyPath: '/etc/medprov/gw.key', channel: 'medprov', chaincode: 'medprov' };
      const file = path.join(dir, 'gateway.json');
      writeFileSync(file, JSON.stringify({ org: { name: 'Hospital', mspId: 'HospitalMSP', type: 'hospital' }, host: '0.0.0.0', port: 9443, dir: 'data', fabric }));
      const config = loadGatewayConfig({ MEDPROV_GATEWAY_CONFIG: file }, ROOT);
      expect(config.fabric).to.deep.equal(fabric);
      expect(config.port).to.equal(9443);
      expect(config.dir).to.equal(path.join(dir, 'data'));
      expect(config.usersFile).to.equal(path.join(dir, 'data', 'users.json'));
      writeFileSync(file, JSON.stringify({ org: { name: 'Hospital', mspId: 'HospitalMSP', type: 'hospital' }, host: '0.0.0.0', port: 9443, dir: 'data', fabric: { ...fabric, certPath: undefined } }));
      expect(() => loadGatewayConfig({ MEDPROV_GATEWAY_CONFIG: file }, ROOT)).to.throw(/lacks fabric\.certPath/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
