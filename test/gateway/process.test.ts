// The gateway as a process (src/gateway/main.ts) on a real coordinator: it waits for the users
// service (with progress logs) to ensure the admin account, prints its listening line, serves,
// and drains on SIGTERM with exit code 0. Started before the users service on purpose.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { CoordServer } from '../support/etcd-server.js';
import { freePort } from '../support/ports.js';
import { shoalCoord } from '../support/shoal-coord.js';
import { killAll, start, type Proc } from './proc.js';

let coord: CoordServer;
const procs: Proc[] = [];
const dir = mkdtempSync(join(tmpdir(), 'shoal-gw-proc-'));

beforeAll(async () => {
  coord = await shoalCoord.start();
}, 60_000);

afterAll(async () => {
  await killAll(procs);
  await coord?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('main.ts: waits for users, ensures the admin, listens, serves, drains on SIGTERM', { timeout: 120_000 }, async () => {
  const coordEnv = coord.endpoints.map((e) => e.replace(/^http:\/\//, '')).join(',');
  const port = await freePort();
  const gateway = start('src/gateway/main.ts', {
    SHOAL_COORD: coordEnv,
    SHOAL_DATA_DIR: join(dir, 'gateway'),
    SHOAL_GATEWAY_PORT: String(port),
    SHOAL_HOST: '127.0.0.1',
    SHOAL_LOG_LEVEL: 'info',
    SHOAL_GATEWAY_ADMIN_WAIT_MS: '60000',
    SHOP_ADMIN_EMAIL: 'boss@shop.local',
    SHOP_ADMIN_PASSWORD: 'boss password 1',
  });
  procs.push(gateway);
  await gateway.waitFor(/waiting for the users service/, 60_000);
  expect(gateway.out).not.toMatch(/gateway listening/);

  const users = start('src/shop/users/main.ts', { SHOAL_COORD: coordEnv, SHOAL_DATA_DIR: join(dir, 'users'), SHOAL_PORT: '0', SHOAL_HOST: '127.0.0.1', SHOAL_LOG_LEVEL: 'warn' });
  procs.push(users);
  const [line] = await gateway.waitFor(/^gateway listening on http:\/\/127\.0\.0\.1:(\d+)$/m, 60_000);
  expect(line).toBe(`gateway listening on http://127.0.0.1:${port}`);
  expect(gateway.err).toMatch(/admin account ensured/);

  const base = `http://127.0.0.1:${port}`;
  const login = await fetch(`${base}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'boss@shop.local', password: 'boss password 1' }) });
  expect(login.status).toBe(200);
  const { access_token } = (await login.json()) as { access_token: string };
  const me = await fetch(`${base}/api/v1/users/me`, { headers: { authorization: `Bearer ${access_token}` } });
  expect(await me.json()).toMatchObject({ email: 'boss@shop.local', role: 'admin' });
  expect((await fetch(`${base}/readyz`)).status).toBe(200);
  const metrics = await (await fetch(`${base}/metrics`)).text();
  expect(metrics).toMatch(/shoal_http_requests_total\{[^}]*route="\/api\/v1\/users\/me"/);
  // No secrets in the request logs.
  expect(gateway.err).not.toContain('boss password 1');
  expect(gateway.err).not.toContain(access_token);

  gateway.child.kill('SIGTERM');
  expect(await gateway.exited).toBe(0);
  expect(gateway.err).toMatch(/gateway stopped/);
  users.child.kill('SIGTERM');
  await users.exited;
});
