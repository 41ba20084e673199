import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseConsortium } from '../../../chaincode/src/lib/consortium';

const definition = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../../network/consortium.json'), 'utf8'));

describe('network: consortium definition', () => {
  it('is what the chaincode accepts as its consortium (one hospital, one insurer, one sponsor at least)', () => {
    const projected = { organisations: definition.organisations.map((o: { mspId: string; type: string }) => ({ mspId: o.mspId, type: o.type })) };
    const parsed = parseConsortium(JSON.stringify(projected));
    expect(new Set(parsed.organisations.map((o) => o.type))).to.deep.equal(new Set(['hospital', 'insurer', 'sponsor']));
  });

  it('has three Raft orderers and distinct domains', () => {
    expect(definition.ordererOrganisation.orderers).to.equal(3);
    const domains = [definition.ordererOrganisation.domain, ...definition.organisations.map((o: { domain: string }) => o.domain)];
    expect(new Set(domains).size).to.equal(domains.length);
  });
});

describe("network: the product's consortium and the tests' quick one", () => {
  const quick = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../integration/network/consortium-quick.json'), 'utf8'));

  it('the product: every organisation enrols from its own Fabric CA and runs at its own address, Raft ordering', () => {
    expect(definition.identities).to.equal('fabric-ca');
    expect(definition.ordering).to.equal('raft');
    const hosts = [definition.ordererOrganisation.host, ...definition.organisations.map((o: { host: string }) => o.host)];
    expect(hosts.every((h) => typeof h === 'string' && /^127\./.test(h) && h !== '127.0.0.1')).to.equal(true);
    expect(new Set(hosts).size).to.equal(hosts.length);
  });

  it('the quick option for tests: the same organisations, cryptogen identities, one address', () => {
    const strip = (d: { organisations: Record<string, unknown>[]; ordererOrganisation: Record<string, unknown> }) => ({
      organisations: d.organisations.map(({ host: _host, ...o }) => o),
      ordererOrganisation: (({ host: _host, ...o }) => o)(d.ordererOrganisation),
    });
    expect(strip(quick)).to.deep.equal(strip(definition));
    expect(quick.identities ?? 'cryptogen').to.equal('cryptogen');
    expect(JSON.stringify(quick)).not.to.include('"host"');
  });
});
