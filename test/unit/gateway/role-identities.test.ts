import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadGatewayConfig } from '../../../gateway/src/config';
import type { Committed, OrgConnection } from '../../../gateway/src/fabric/client';
import { RoleRoutedPeer, runAsRole, setCallerRole, submitRole, withCallerContext } from '../../../gateway/src/fabric/identities';

/** A fake peer client that records which identity (certificate path) submitted what. */
function fakeClient(certPath: string, log: string[]) {
  return {
    evaluate: async () => new Uint8Array(),
    submit: async (name: string): Promise<Committed> => {
      log.push(`${certPath} ${name}`);
      return { result: new Uint8Array(), transactionId: 'tx', blockNumber: 1n };
    },
    blockOfTransaction: async () => undefined,
    height: async () => 1n,
    events: () => (async function* () {})(),
    close: () => log.push(`close ${certPath}`),
  };
}

const connection = { mspId: 'HospitalMSP', certPath: 'default.pem', keyPath: 'default-keys' } as OrgConnection;
const identities = { 'records-officer': { certPath: 'ro.pem', keyPath: 'ro' }, clinician: { certPath: 'cl.pem', keyPath: 'cl' }, dpo: { certPath: 'dpo.pem', keyPath: 'dpo' } };

describe('Gateway: submits as the enrolled identity of the API key’s role (Fabric CA identities)', () => {
  it('chooses the request’s role when the transaction admits it, else the role the transaction needs', () => {
    expect(submitRole('Records:anchorEach', 'records-officer')).to.equal('records-officer');
    // The acceptance journal's submitter has no request behind it; a registration link has no API key.
    expect(submitRole('Records:anchorEach', undefined)).to.equal('records-officer');
    expect(submitRole('Consent:registerPatient', undefined)).to.equal('records-officer');
    // A timer set during another user's request must not make an erasure go as that user.
    expect(submitRole('Privacy:recordErasure', 'records-officer')).to.equal('dpo');
    // A transaction without a certified role goes as the request's role, or the default identity.
    expect(submitRole('Consent:grantConsent', 'claims-officer')).to.equal('claims-officer');
    expect(submitRole('Probe:put', undefined)).to.equal(undefined);
  });

  it('connects one client per role on first use, keeps it, and closes them all', async () => {
    const log: string[] = [];
    let connects = 0;
    const peer = new RoleRoutedPeer(fakeClient('default.pem', log), connection, identities, {}, async (c) => {
      connects++;
      return fakeClient(c.certPath, log);
    });
    expect(peer.connectedRoles).to.deep.equal([]);
    await withCallerContext(async () => {
      setCallerRole('clinician');
      await peer.submit('Access:breakGlassAccess', '{}');
      await peer.submit('Access:breakGlassAccess', '{}');
    });
    await runAsRole('records-officer', () => peer.submit('Records:anchorRecord', '{}'));
    await peer.submit('Probe:put', 'k', 'v');
    await peer.evaluate('Records:readRecord');
    expect(connects).to.equal(2);
    expect(peer.connectedRoles).to.have.members(['clinician', 'records-officer']);
    peer.close();
    expect(log).to.deep.equal(['cl.pem Access:breakGlassAccess', 'cl.pem Access:breakGlassAccess', 'ro.pem Records:anchorRecord', 'default.pem Probe:put', 'close default.pem', 'close cl.pem', 'close ro.pem']);
  });

  it('uses the default identity for a role it has no enrolled user for', async () => {
    const log: string[] = [];
    const peer = new RoleRoutedPeer(fakeClient('default.pem', log), connection, identities, {}, async (c) => fakeClient(c.certPath, log));
    await runAsRole('claims-officer', () => peer.submit('Consent:grantConsent', '{}'));
    expect(log).to.deep.equal(['default.pem Consent:grantConsent']);
  });
});

describe('Gateway configuration: the enrolled user of each role', () => {
  const ROOT = path.resolve(__dirname, '../../..');
  const fabric = { mspId: 'HospitalMSP', peerEndpoint: 'peer0.hospital.example:443', peerHostAlias: 'peer0.hospital.example', tlsRootCertPath: '/etc/medprov/tls-ca.pem', certPath: '/etc/medprov/gw.pem', keyPath: '/etc/medprov/gw.key', channel: 'medprov', chaincode: 'medprov' };
  const write = (dir: string, extra: object): string => {
    const file = path.join(dir, 'gateway.json');
    writeFileSync(file, JSON.stringify({ org: { name: 'Hospital', mspId: 'HospitalMSP', type: 'hospital' }, host: '0.0.0.0', port: 9443, dir: 'data', fabric: { ...fabric, ...extra } }));
    return file;
  };

  it('takes fabric.roleIdentities from a settings file, and refuses a malformed one naming the field', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'medprov-roles-'));
    try {
      const roleIdentities = { clinician: { certPath: '/etc/medprov/clinician.pem', keyPath: '/etc/medprov/clinician-keys' } };
      expect(loadGatewayConfig({ MEDPROV_GATEWAY_CONFIG: write(dir, { roleIdentities }) }, ROOT).fabric.roleIdentities).to.deep.equal(roleIdentities);
      expect(() => loadGatewayConfig({ MEDPROV_GATEWAY_CONFIG: write(dir, { roleIdentities: { clinician: { certPath: '/x.pem' } } }) }, ROOT)).to.throw(/fabric\.roleIdentities/);
      expect(() => loadGatewayConfig({ MEDPROV_GATEWAY_CONFIG: write(dir, { roleIdentities: ['clinician'] }) }, ROOT)).to.throw(/fabric\.roleIdentities/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('derives none for a cryptogen network (the tests’ quick consortium): one identity, as before', () => {
    const quick = path.join(ROOT, 'test', 'integration', 'network', 'consortium-quick.json');
    expect(loadGatewayConfig({ MEDPROV_ORG: 'Hospital', MEDPROV_CONSORTIUM: quick }, ROOT).fabric.roleIdentities).to.equal(undefined);
  });

  it('derives one per role for the repository’s consortium (each organisation’s own Fabric CA)', () => {
    expect(Object.keys(loadGatewayConfig({ MEDPROV_ORG: 'Hospital' }, ROOT).fabric.roleIdentities ?? {})).to.include.members(['records-officer', 'clinician']);
  });
});
