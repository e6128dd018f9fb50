// The gateway's hot-path pieces: the verified-token cache (never trusts a token it has not
// verified, forgets it at expiry and on revocation, even one revoked while it was being
// verified), the synchronous fixed-window limiter, and the environment knobs for both.
import { describe, expect, test } from 'vitest';
import { FixedWindowLimiter, readGatewayEnv, VerifiedTokenCache, type Identity } from '../../src/gateway/index.js';

function identity(exp: number): Identity {
  return { sub: 'u1', role: 'user', roles: ['user'], jti: 'j1', exp };
}

describe('VerifiedTokenCache', () => {
  test('verifies a token once, then answers from the cache until it expires', async () => {
    let ms = 1_000_000;
    let verified = 0;
    const tokens = { authenticate: async () => (verified++, identity(Math.floor(ms / 1000) + 30)) };
    const cache = new VerifiedTokenCache({ now: () => ms, maxAgeMs: 60_000 });
    await cache.authenticate(tokens, 'a.b.c');
    await cache.authenticate(tokens, 'a.b.c');
    expect(verified).toBe(1);
    ms += 31_000; // past exp (30 s): verified again
    await cache.authenticate(tokens, 'a.b.c');
    expect(verified).toBe(2);
    await cache.authenticate(tokens, 'x.y.z'); // another token is never answered from the cache
    expect(verified).toBe(3);
  });

  test('a failed verification is not cached', async () => {
    let calls = 0;
    const tokens = { authenticate: async (): Promise<Identity> => { calls++; throw new Error('bad signature'); } };
    const cache = new VerifiedTokenCache({ now: () => 0 });
    await expect(cache.authenticate(tokens, 't')).rejects.toThrow('bad signature');
    await expect(cache.authenticate(tokens, 't')).rejects.toThrow('bad signature');
    expect(calls).toBe(2);
    expect(cache.size).toBe(0);
  });

  test('revocation drops the token, and voids a verification that was in flight', async () => {
    const ms = 5_000_000;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let calls = 0;
    const tokens = {
      authenticate: async () => {
        calls++;
        if (calls === 2) await gate;
        return identity(ms / 1000 + 600);
      },
    };
    const cache = new VerifiedTokenCache({ now: () => ms });
    await cache.authenticate(tokens, 't');
    cache.revoked('t');
    expect(cache.size).toBe(0);
    // Verification started before a revocation finishes after it: its answer is not kept.
    const inFlight = cache.authenticate(tokens, 't');
    cache.revoked('t');
    release();
    await inFlight;
    expect(cache.size).toBe(0);
  });

  test('bounded: the least recently used token goes first', async () => {
    const tokens = { authenticate: async () => identity(10_000) };
    const cache = new VerifiedTokenCache({ now: () => 0, max: 2 });
    await cache.authenticate(tokens, 'a');
    await cache.authenticate(tokens, 'b');
    await cache.authenticate(tokens, 'a'); // a is now the most recent
    await cache.authenticate(tokens, 'c'); // evicts b
    expect(cache.size).toBe(2);
    let verified = 0;
    const counting = { authenticate: async () => (verified++, identity(10_000)) };
    await cache.authenticate(counting, 'a');
    expect(verified).toBe(0);
    await cache.authenticate(counting, 'b');
    expect(verified).toBe(1);
  });
});

describe('FixedWindowLimiter', () => {
  test('counts per key per window; a new window starts after windowMs', () => {
    let ms = 0;
    const limiter = new FixedWindowLimiter(2, 1_000, 100, () => ms);
    expect(limiter.hit('a').count).toBe(1);
    expect(limiter.hit('a').count).toBe(2);
    expect(limiter.hit('a')).toEqual({ count: 3, ttlMs: 1_000 });
    expect(limiter.hit('b').count).toBe(1);
    ms = 999;
    expect(limiter.hit('a')).toEqual({ count: 4, ttlMs: 1 });
    ms = 1_000;
    expect(limiter.hit('a').count).toBe(1);
  });

  test('remembers at most maxKeys keys', () => {
    const limiter = new FixedWindowLimiter(5, 60_000, 2, () => 0);
    limiter.hit('a');
    limiter.hit('b');
    limiter.hit('c'); // forgets a (the oldest)
    expect(limiter.hit('a').count).toBe(1);
  });
});

describe('readGatewayEnv performance knobs', () => {
  const base = { SHOAL_COORD: '127.0.0.1:8090' };
  test('rate limits per minute, request log mode, slow threshold, trace sampling', () => {
    expect(readGatewayEnv(base)).toMatchObject({ rateLimit: {}, requestLog: 'slow', slowRequestMs: 1_000, traceSampleRatio: undefined });
    expect(
      readGatewayEnv({ ...base, SHOAL_GATEWAY_RATE_MAX: '1200', SHOAL_GATEWAY_USER_RATE_MAX: '50', SHOAL_GATEWAY_REQUEST_LOG: 'all', SHOAL_GATEWAY_SLOW_REQUEST_MS: '250', SHOAL_TRACE_SAMPLE_RATIO: '0.1' }),
    ).toMatchObject({ rateLimit: { max: 1200, userMax: 50 }, requestLog: 'all', slowRequestMs: 250, traceSampleRatio: 0.1 });
  });

  test('refuses nonsense', () => {
    expect(() => readGatewayEnv({ ...base, SHOAL_GATEWAY_RATE_MAX: '0' })).toThrow(/SHOAL_GATEWAY_RATE_MAX/);
    expect(() => readGatewayEnv({ ...base, SHOAL_GATEWAY_USER_RATE_MAX: 'lots' })).toThrow(/SHOAL_GATEWAY_USER_RATE_MAX/);
    expect(() => readGatewayEnv({ ...base, SHOAL_GATEWAY_REQUEST_LOG: 'verbose' })).toThrow(/SHOAL_GATEWAY_REQUEST_LOG/);
    expect(() => readGatewayEnv({ ...base, SHOAL_TRACE_SAMPLE_RATIO: '2' })).toThrow(/SHOAL_TRACE_SAMPLE_RATIO/);
  });
});
