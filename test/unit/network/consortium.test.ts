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
