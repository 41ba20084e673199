import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LINKAGE_SETTINGS_FILE, loadGatewayConfig, loadUsers, parseLinkageSettings } from '../../../gateway/src/config';
import { ApiKeyAuthenticator } from '../../../gateway/src/http/auth';
import { GATEWAY_ROLES, prepareGateway, readApiKeys, readLinkageSettings } from '../../../network/src/gateways';
import { networkFromEnv, type Network } from '../../../network/src/network';
import { ROOT } from '../../../network/src/system';

const LINKAGE_CONSORTIUM = path.join('test', 'integration', 'linkage', 'consortium.json');

/** Issue 19: the linkage institution as an organisation type, and who gets which linkage secret at `up`. */
describe('network: a linkage institution and the linkage settings up generates', () => {
  let stateDir: string;
  let network: Network;
  const env = () => ({ MEDPROV_STATE_DIR: stateDir, MEDPROV_BASE_PORT: '27000', MEDPROV_CONSORTIUM: LINKAGE_CONSORTIUM });

  beforeEach(() => {
    stateDir = mkdtempSync(path.join(os.tmpdir(), 'medprov-linkage-settings-'));
    network = networkFromEnv(env(), ROOT);
  });
  afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

  const prepareAll = () => {
    for (const org of network.definition.organisations) prepareGateway(network, org);
  };
  const settings = (name: string) => readLinkageSettings(network, network.organisation(name));

  it('reads the linkage consortium: three hospitals, a sponsor and an institution of type linkage, with its own gateway roles', () => {
    expect(network.definition.organisations.map((o) => [o.name, o.type])).to.deep.equal([
      ['Hospital', 'hospital'],
      ['Hospital2', 'hospital'],
      ['Hospital3', 'hospital'],
      ['Sponsor', 'sponsor'],
      ['Linkage', 'linkage'],
    ]);
    expect(GATEWAY_ROLES.linkage).to.deep.equal(['linkage-officer', 'admin']);
    expect(network.gatewaySettings('Linkage').org).to.deep.equal({ name: 'Linkage', mspId: 'LinkageMSP', type: 'linkage' });
  });

  it('gives each party only its part: hospitals the shared secret and their key at the institution, the sponsor its key, the institution the OPRF seed and its partners', () => {
    prepareAll();
    const [h1, h2, sponsor, institution] = ['Hospital', 'Hospital2', 'Sponsor', 'Linkage'].map(settings);
    const liUrl = `http://127.0.0.1:${network.gatewayPort(network.organisation('Linkage'))}`;
    expect(h1?.hospitalSecret).to.match(/^[0-9a-f]{64}$/);
    expect(h2?.hospitalSecret, 'one secret shared by the hospitals').to.equal(h1?.hospitalSecret);
    for (const s of [h1, h2, sponsor]) {
      expect(s?.institution).to.include({ mspId: 'LinkageMSP', url: liUrl });
      expect(s?.oprfSeed, 'no one but the institution holds the OPRF seed').to.equal(undefined);
    }
    expect(new Set([h1, h2, sponsor].map((s) => s?.institution?.apiKey)).size, 'a key per partner').to.equal(3);
    expect(sponsor?.hospitalSecret, 'the sponsor never holds the hospitals’ secret').to.equal(undefined);
    expect(institution?.hospitalSecret, 'the institution never holds the hospitals’ secret').to.equal(undefined);
    expect(institution?.oprfSeed).to.match(/^[0-9a-f]{64}$/);
    expect(institution?.partners).to.deep.equal([
      { userId: 'partner-hospital', mspId: 'HospitalMSP', type: 'hospital' },
      { userId: 'partner-hospital2', mspId: 'Hospital2MSP', type: 'hospital' },
      { userId: 'partner-hospital3', mspId: 'Hospital3MSP', type: 'hospital' },
      { userId: 'partner-sponsor', mspId: 'SponsorMSP', type: 'sponsor' },
    ]);
    // Owner-only files; the partners' keys are not in api-keys.json, and the institution's file holds no key, only its SHA-256.
    for (const org of network.definition.organisations) {
      expect(statSync(path.join(network.gatewayDir(org), LINKAGE_SETTINGS_FILE)).mode & 0o777, org.name).to.equal(0o600);
    }
    const apiKeys = JSON.stringify(readApiKeys(network));
    const liFile = readFileSync(path.join(network.gatewayDir(network.organisation('Linkage')), LINKAGE_SETTINGS_FILE), 'utf8');
    for (const s of [h1, h2, sponsor]) {
      expect(apiKeys).not.to.include(s!.institution!.apiKey);
      expect(liFile).not.to.include(s!.institution!.apiKey);
    }
  });

  it("the institution's gateway knows each partner by the key it issued (role linkage-partner)", () => {
    prepareAll();
    const li = network.organisation('Linkage');
    const users = loadUsers(path.join(network.gatewayDir(li), 'users.json'));
    const auth = new ApiKeyAuthenticator(users);
    for (const [org, userId] of [
      ['Hospital', 'partner-hospital'],
      ['Hospital2', 'partner-hospital2'],
      ['Sponsor', 'partner-sponsor'],
    ] as const) {
      const key = settings(org)!.institution!.apiKey;
      expect(auth.authenticate(`Bearer ${key}`)).to.deep.equal({ id: userId, role: 'linkage-partner' });
      expect(users.find((u) => u.id === userId)?.apiKeySha256).to.equal(createHash('sha256').update(key).digest('hex'));
    }
    const keys = readApiKeys(network)!.orgs.Linkage.keys;
    expect(auth.authenticate(`Bearer ${keys['linkage-officer']}`)).to.deep.equal({ id: 'linkage-linkage-officer', role: 'linkage-officer' });
  });

  it('each gateway reads its part from its own folder (or MEDPROV_LINKAGE_CONFIG); settings are generated once', () => {
    prepareAll();
    const before = settings('Hospital');
    prepareAll();
    expect(settings('Hospital')).to.deep.equal(before);
    const load = (org: string, extra: Record<string, string> = {}) => loadGatewayConfig({ ...env(), MEDPROV_ORG: org, ...extra }, ROOT);
    expect(load('Hospital').linkage).to.deep.equal(before);
    expect(load('Linkage').linkage?.oprfSeed).to.equal(settings('Linkage')?.oprfSeed);
    expect(load('Linkage').org.type).to.equal('linkage');
    const other = path.join(network.gatewayDir(network.organisation('Sponsor')), LINKAGE_SETTINGS_FILE);
    expect(load('Hospital', { MEDPROV_LINKAGE_CONFIG: other }).linkage?.hospitalSecret).to.equal(undefined);
    expect(() => load('Hospital', { MEDPROV_LINKAGE_CONFIG: path.join(stateDir, 'missing.json') })).to.throw(/cannot read the linkage settings/);
  });

  it('settings removed from a prepared network are generated afresh, and the institution knows the new partner keys only', () => {
    prepareAll();
    const li = network.organisation('Linkage');
    const old = settings('Hospital')!.institution!.apiKey;
    rmSync(path.join(network.gatewayDir(li), LINKAGE_SETTINGS_FILE));
    prepareAll();
    const auth = new ApiKeyAuthenticator(loadUsers(path.join(network.gatewayDir(li), 'users.json')));
    expect(() => auth.authenticate(`Bearer ${old}`)).to.throw(/not known/);
    expect(auth.authenticate(`Bearer ${settings('Hospital')!.institution!.apiKey}`)).to.deep.equal({ id: 'partner-hospital', role: 'linkage-partner' });
    expect(auth.authenticate(`Bearer ${readApiKeys(network)!.orgs.Linkage.keys.admin}`).role).to.equal('admin');
  });

  it('a consortium without a linkage institution gets no linkage settings', () => {
    const plain = networkFromEnv({ MEDPROV_STATE_DIR: stateDir, MEDPROV_BASE_PORT: '27000' }, ROOT);
    for (const org of plain.definition.organisations) prepareGateway(plain, org);
    for (const org of plain.definition.organisations) expect(existsSync(path.join(plain.gatewayDir(org), LINKAGE_SETTINGS_FILE)), org.name).to.equal(false);
    expect(loadGatewayConfig({ MEDPROV_STATE_DIR: stateDir, MEDPROV_BASE_PORT: '27000', MEDPROV_ORG: 'Hospital' }, ROOT).linkage).to.equal(undefined);
  });

  it('refuses malformed linkage settings, naming the field, and a party holding both the secret and the seed', () => {
    const hex = 'ab'.repeat(32);
    expect(() => parseLinkageSettings([], 'x.json')).to.throw(/x\.json: the linkage settings must be a JSON object/);
    expect(() => parseLinkageSettings({ hospitalSecret: 'short' })).to.throw(/hospitalSecret must be 64 lowercase hex/);
    expect(() => parseLinkageSettings({ institution: { mspId: 'L', url: 'ftp://x', apiKey: 'k' } })).to.throw(/institution\.url/);
    expect(() => parseLinkageSettings({ partners: [{ userId: 'u', mspId: 'M', type: 'insurer' }] })).to.throw(/partners\[0\]\.type/);
    expect(() => parseLinkageSettings({ hospitalSecret: hex, oprfSeed: hex })).to.throw(/must not hold both/);
    expect(parseLinkageSettings({ institution: { mspId: 'L', url: 'http://127.0.0.1:8003/', apiKey: 'k' } }).institution?.url).to.equal('http://127.0.0.1:8003');
  });
});
