import { expect } from 'chai';
import * as path from 'node:path';
import { loadGatewayConfig } from '../../../gateway/src/config';
import { ApiError } from '../../../gateway/src/errors';
import { ApiKeyAuthenticator, hashApiKey } from '../../../gateway/src/http/auth';
import { DEFAULT_PATIENT_RATE_LIMIT, DEFAULT_RATE_LIMIT, patientRateLimitFromEnv, RateLimiter, rateLimitFromEnv } from '../../../gateway/src/http/rate-limit';

const ROOT = path.resolve(__dirname, '../../..');
const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof ApiError ? err.code : `not an ApiError: ${(err as Error).message}`;
  }
};

describe('gateway: API keys', () => {
  const key = (i: number) => `key-${String(i).padStart(4, '0')}-0123456789abcdef`;
  const users = Array.from({ length: 500 }, (_, i) => ({ id: `claims-${i}`, role: 'claims-officer' as const, apiKeySha256: hashApiKey(key(i)) }));
  const auth = new ApiKeyAuthenticator(users);

  it('finds each of many users by their key', () => {
    for (const i of [0, 1, 250, 499]) expect(auth.authenticate(`Bearer ${key(i)}`)).to.deep.equal({ id: `claims-${i}`, role: 'claims-officer' });
  });

  it('refuses a missing, malformed or unknown key with AUTH_REQUIRED / AUTH_INVALID', () => {
    expect(codeOf(() => auth.authenticate(undefined))).to.equal('AUTH_REQUIRED');
    expect(codeOf(() => auth.authenticate(''))).to.equal('AUTH_REQUIRED');
    expect(codeOf(() => auth.authenticate(`Basic ${key(1)}`))).to.equal('AUTH_REQUIRED');
    expect(codeOf(() => auth.authenticate('Bearer short'))).to.equal('AUTH_REQUIRED');
    expect(codeOf(() => auth.authenticate(`Bearer ${key(1)} `))).to.equal('AUTH_REQUIRED');
    expect(codeOf(() => auth.authenticate(`Bearer ${key(500)}`))).to.equal('AUTH_INVALID');
    // The stored digest is not a key.
    expect(codeOf(() => auth.authenticate(`Bearer ${users[0].apiKeySha256}`))).to.equal('AUTH_INVALID');
  });

  it('gives a key held by two users to the later one, and refuses a bad configuration at start', () => {
    const twice = new ApiKeyAuthenticator([
      { id: 'a', role: 'admin', apiKeySha256: hashApiKey(key(1)) },
      { id: 'b', role: 'dpo', apiKeySha256: hashApiKey(key(1)) },
    ]);
    expect(twice.authenticate(`Bearer ${key(1)}`)).to.deep.equal({ id: 'b', role: 'dpo' });
    expect(() => new ApiKeyAuthenticator([{ id: 'x', role: 'janitor' as never, apiKeySha256: hashApiKey(key(1)) }])).to.throw(/unknown role/);
    expect(() => new ApiKeyAuthenticator([{ id: 'x', role: 'admin', apiKeySha256: hashApiKey(key(1)).toUpperCase() }])).to.throw(/64 lowercase hex/);
  });
});

describe('gateway: the per-key rate limit', () => {
  it('is 200/s with a burst of 400 unless configured', () => {
    expect(DEFAULT_RATE_LIMIT).to.deep.equal({ perSecond: 200, burst: 400 });
    expect(rateLimitFromEnv({})).to.deep.equal({ perSecond: 200, burst: 400 });
    expect(rateLimitFromEnv({ MEDPROV_RATE_LIMIT_PER_SECOND: '', MEDPROV_RATE_LIMIT_BURST: ' ' })).to.deep.equal({ perSecond: 200, burst: 400 });
  });

  it('takes MEDPROV_RATE_LIMIT_PER_SECOND (the burst twice that unless MEDPROV_RATE_LIMIT_BURST says)', () => {
    expect(rateLimitFromEnv({ MEDPROV_RATE_LIMIT_PER_SECOND: '5000' })).to.deep.equal({ perSecond: 5000, burst: 10000 });
    expect(rateLimitFromEnv({ MEDPROV_RATE_LIMIT_PER_SECOND: '0.5', MEDPROV_RATE_LIMIT_BURST: '3' })).to.deep.equal({ perSecond: 0.5, burst: 3 });
    expect(rateLimitFromEnv({ MEDPROV_RATE_LIMIT_BURST: '1000' })).to.deep.equal({ perSecond: 200, burst: 1000 });
    expect(loadGatewayConfig({ MEDPROV_ORG: 'Insurer', MEDPROV_RATE_LIMIT_PER_SECOND: '7000' }, ROOT).rateLimit).to.deep.equal({ perSecond: 7000, burst: 14000 });
    expect(loadGatewayConfig({ MEDPROV_ORG: 'Insurer' }, ROOT).rateLimit).to.deep.equal(DEFAULT_RATE_LIMIT);
  });

  it('refuses a value that is not a positive number, naming the variable (never silently off)', () => {
    for (const bad of ['0', '-1', 'off', 'none', 'Infinity', '1e400', 'NaN', '200/s']) {
      expect(() => rateLimitFromEnv({ MEDPROV_RATE_LIMIT_PER_SECOND: bad }), bad).to.throw(/MEDPROV_RATE_LIMIT_PER_SECOND must be a positive number/);
    }
    expect(() => rateLimitFromEnv({ MEDPROV_RATE_LIMIT_BURST: '0.5' })).to.throw(/MEDPROV_RATE_LIMIT_BURST must be at least 1/);
    expect(() => loadGatewayConfig({ MEDPROV_ORG: 'Insurer', MEDPROV_RATE_LIMIT_BURST: 'lots' }, ROOT)).to.throw(/MEDPROV_RATE_LIMIT_BURST/);
  });

  it("the patients' per-IP limit: 5/s with a burst of 30 unless MEDPROV_PATIENT_RATE_LIMIT_PER_SECOND / _BURST say", () => {
    expect(patientRateLimitFromEnv({})).to.deep.equal({ perSecond: 5, burst: 30 });
    expect(patientRateLimitFromEnv({ MEDPROV_RATE_LIMIT_PER_SECOND: '9000' }), 'the staff limit is another one').to.deep.equal(DEFAULT_PATIENT_RATE_LIMIT);
    expect(patientRateLimitFromEnv({ MEDPROV_PATIENT_RATE_LIMIT_PER_SECOND: '50' })).to.deep.equal({ perSecond: 50, burst: 100 });
    expect(patientRateLimitFromEnv({ MEDPROV_PATIENT_RATE_LIMIT_PER_SECOND: '1', MEDPROV_PATIENT_RATE_LIMIT_BURST: '4' })).to.deep.equal({ perSecond: 1, burst: 4 });
    expect(loadGatewayConfig({ MEDPROV_ORG: 'Insurer', MEDPROV_PATIENT_RATE_LIMIT_PER_SECOND: '1000' }, ROOT).patientRateLimit).to.deep.equal({ perSecond: 1000, burst: 2000 });
    expect(() => patientRateLimitFromEnv({ MEDPROV_PATIENT_RATE_LIMIT_PER_SECOND: 'off' })).to.throw(/MEDPROV_PATIENT_RATE_LIMIT_PER_SECOND must be a positive number of requests per client IP/);
    expect(() => patientRateLimitFromEnv({ MEDPROV_PATIENT_RATE_LIMIT_BURST: '0.5' })).to.throw(/MEDPROV_PATIENT_RATE_LIMIT_BURST must be at least 1/);
  });

  it('lets a burst through, then the sustained rate, per user', () => {
    let now = 0;
    const limiter = new RateLimiter(10, 3, () => now);
    const take = (user: string) => codeOf(() => limiter.take(user));
    expect([take('a'), take('a'), take('a'), take('a')]).to.deep.equal([undefined, undefined, undefined, 'RATE_LIMITED']);
    expect(take('b')).to.equal(undefined);
    now += 100; // 0.1 s at 10/s: one more
    expect([take('a'), take('a')]).to.deep.equal([undefined, 'RATE_LIMITED']);
  });
});
