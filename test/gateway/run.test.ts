// The process configuration and the admin bootstrap's bounded wait, without a process.
import { describe, expect, test } from 'vitest';
import { ShoalError } from '../../src/errors/index.js';
import { DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD, ensureAdmin, readGatewayEnv } from '../../src/gateway/index.js';
import type { Caller } from '../../src/runtime/index.js';

describe('readGatewayEnv', () => {
  test('defaults and precedence', () => {
    const env = readGatewayEnv({ SHOAL_COORD: '127.0.0.1:8090', PORT: '3000' });
    expect(env).toMatchObject({ coord: '127.0.0.1:8090', host: '127.0.0.1', port: 3000, issuer: 'http://127.0.0.1:3000', dataDir: undefined, corsOrigins: [], trustProxy: false });
    expect(env.admin).toEqual({ email: DEFAULT_ADMIN_EMAIL, password: DEFAULT_ADMIN_PASSWORD, name: 'Shop admin' });
    const full = readGatewayEnv({
      SHOAL_COORD: 'etcd://h:2379',
      PORT: '3000',
      SHOAL_GATEWAY_PORT: '8081',
      SHOAL_HOST: '::1',
      SHOAL_DATA_DIR: '/tmp/x',
      SHOP_ADMIN_EMAIL: 'a@b.c',
      SHOP_ADMIN_PASSWORD: 'pw-pw-pw-pw',
      SHOAL_CORS_ORIGINS: 'https://a.example, https://b.example',
      SHOAL_TRUST_PROXY: 'true',
    });
    expect(full).toMatchObject({ port: 8081, host: '::1', issuer: 'http://[::1]:8081', dataDir: '/tmp/x', corsOrigins: ['https://a.example', 'https://b.example'], trustProxy: true });
    expect(full.admin).toMatchObject({ email: 'a@b.c', password: 'pw-pw-pw-pw' });
  });

  test('refuses a missing coordinator and a bad port', () => {
    expect(() => readGatewayEnv({})).toThrow(/SHOAL_COORD/);
    expect(() => readGatewayEnv({ SHOAL_COORD: 'x:1', SHOAL_GATEWAY_PORT: 'http' })).toThrow(/port/);
    expect(() => readGatewayEnv({ SHOAL_COORD: 'x:1', SHOAL_GATEWAY_PORT: '70000' })).toThrow(/port/);
  });
});

describe('ensureAdmin', () => {
  const silent = { info: () => undefined, warn: () => undefined };
  const unavailable = () => new ShoalError({ code: 'NO_ENDPOINT', message: 'no users instance', retryable: true });

  test('retries while users is unreachable, with growing waits, then succeeds', async () => {
    let calls = 0;
    const caller: Caller = { call: async <T>() => (++calls < 4 ? Promise.reject(unavailable()) : ({ id: 'u_admin' } as T)) };
    const waits: number[] = [];
    const warnings: unknown[] = [];
    await ensureAdmin(caller, { email: 'a@b.c', password: 'pw-pw-pw-pw', name: 'A' }, {
      waitMs: 60_000,
      logger: { info: () => undefined, warn: (o: unknown) => void warnings.push(o) } as never,
      sleep: async (ms) => void waits.push(ms),
    });
    expect(calls).toBe(4);
    expect(waits).toEqual([250, 500, 1000]);
    expect(warnings).toHaveLength(3);
  });

  test('gives up after its bound, and at once on an error that waiting cannot fix', async () => {
    let t = 0;
    const down: Caller = { call: () => Promise.reject(unavailable()) };
    await expect(ensureAdmin(down, { email: 'a@b.c', password: 'x', name: 'A' }, { waitMs: 5_000, logger: silent as never, now: () => t, sleep: async (ms) => void (t += ms) })).rejects.toThrow(
      /not reachable after 5000 ms/,
    );
    expect(t).toBe(5_000);
    let calls = 0;
    const refuses: Caller = { call: () => (calls++, Promise.reject(new ShoalError({ code: 'INVALID_ARGUMENT', message: 'password too short', retryable: false }))) };
    await expect(ensureAdmin(refuses, { email: 'a@b.c', password: 'x', name: 'A' }, { waitMs: 5_000, logger: silent as never })).rejects.toThrow(/INVALID_ARGUMENT/);
    expect(calls).toBe(1);
  });
});
