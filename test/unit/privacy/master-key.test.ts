import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { MASTER_KEY_ENV, MasterKey, PREVIOUS_MASTER_KEY_ENV, masterKeysFromEnv } from '../../../gateway/src/privacy';
import { expectCode } from './helpers';

describe('privacy: master key', () => {
  const raw = randomBytes(32);

  it('accepts 32 bytes as hex, base64 and base64url (with surrounding whitespace) as the same key', () => {
    const hex = MasterKey.parse(raw.toString('hex'));
    expect(hex.equals(MasterKey.parse(`  ${raw.toString('hex').toUpperCase()}\n`))).to.equal(true);
    expect(hex.equals(MasterKey.parse(raw.toString('base64')))).to.equal(true);
    expect(hex.equals(MasterKey.parse(raw.toString('base64url')))).to.equal(true);
    expect(hex.equals(MasterKey.generate())).to.equal(false);
  });

  it('refuses a missing key, naming the variable to set', async () => {
    await expectCode(() => MasterKey.parse(undefined), 'MASTER_KEY_MISSING', MASTER_KEY_ENV);
    await expectCode(() => MasterKey.parse('   '), 'MASTER_KEY_MISSING', 'openssl rand -hex 32');
  });

  it('refuses values that are not exactly 32 bytes, without echoing them', async () => {
    const short = raw.subarray(0, 31).toString('hex');
    const err = await expectCode(() => MasterKey.parse(short), 'MASTER_KEY_MALFORMED', '62 characters');
    expect(err.message).not.to.include(short);
    await expectCode(() => MasterKey.parse(`${raw.toString('hex')}00`), 'MASTER_KEY_MALFORMED');
    await expectCode(() => MasterKey.parse('correct horse battery staple'), 'MASTER_KEY_MALFORMED');
    await expectCode(() => MasterKey.fromBytes(new Uint8Array(16)), 'MASTER_KEY_MALFORMED', 'got 16');
  });

  it('refuses a base64 spelling whose last character carries stray bits', async () => {
    const b64 = raw.toString('base64url'); // 43 characters: the last one holds 2 spare bits
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(b64[42]);
    const sloppy = b64.slice(0, 42) + alphabet[last ^ 1];
    await expectCode(() => MasterKey.parse(sloppy), 'MASTER_KEY_MALFORMED');
  });

  it('refuses keys that are evidently not random', async () => {
    await expectCode(() => MasterKey.parse('00'.repeat(32)), 'MASTER_KEY_WEAK', 'all 32 bytes are the same');
    const counting = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 3) & 0xff));
    await expectCode(() => MasterKey.fromBytes(counting), 'MASTER_KEY_WEAK', 'counting sequence');
    await expectCode(() => MasterKey.parse('deadbeef'.repeat(8)), 'MASTER_KEY_WEAK', 'distinct byte values');
    const passphrase = Buffer.from('my hospital master password 2024').toString('hex');
    await expectCode(() => MasterKey.parse(passphrase), 'MASTER_KEY_WEAK', 'passphrase');
  });

  it('never refuses real random keys', () => {
    for (let i = 0; i < 2000; i++) MasterKey.fromBytes(randomBytes(32));
  });

  it('never shows the key when printed, logged or serialised', () => {
    const key = MasterKey.fromBytes(raw);
    const shown = [String(key), `${key}`, JSON.stringify({ key }), inspect(key), inspect({ key }, { depth: 5 })].join(' ');
    for (const form of [raw.toString('hex'), raw.toString('base64'), raw.toString('base64url')]) expect(shown).not.to.include(form);
    expect(Object.keys(key)).to.deep.equal([]);
  });

  it('cannot be used after destroy()', async () => {
    const key = MasterKey.generate();
    key.destroy();
    await expectCode(() => key.equals(MasterKey.generate()), 'MASTER_KEY_MISSING', 'destroyed');
  });

  it('reads the current and previous keys from the environment', () => {
    const a = randomBytes(32).toString('hex');
    const b = randomBytes(32).toString('base64');
    const keys = masterKeysFromEnv({ [MASTER_KEY_ENV]: a, [PREVIOUS_MASTER_KEY_ENV]: ` ${b} ,` });
    expect(keys.masterKey.equals(MasterKey.parse(a))).to.equal(true);
    expect(keys.previousMasterKeys).to.have.length(1);
    expect(keys.previousMasterKeys[0].equals(MasterKey.parse(b))).to.equal(true);
    expect(masterKeysFromEnv({ [MASTER_KEY_ENV]: a }).previousMasterKeys).to.deep.equal([]);
  });

  it('names the offending variable when a previous key is malformed', async () => {
    await expectCode(
      () => masterKeysFromEnv({ [MASTER_KEY_ENV]: raw.toString('hex'), [PREVIOUS_MASTER_KEY_ENV]: 'nope' }),
      'MASTER_KEY_MALFORMED',
      PREVIOUS_MASTER_KEY_ENV,
    );
  });
});
