// The gateway in front of the real users and goods services: runtime hosts on 127.0.0.1 with
// real transports and the in-memory discovery (test/runtime/support), the broker as the Caller.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { brokerCaller, createGateway, ensureAdmin } from '../../src/gateway/index.js';
import { createGoodsService, createUsersService } from '../../src/shop/index.js';
import type { ServiceHost } from '../../src/runtime/index.js';
import { quietObservability, TestCluster } from '../runtime/support/hosts.js';
import { bearer, expectErrorShape } from './support.js';

const CHEAP = { params: { N: 2 ** 10, r: 8, p: 1 } };
const ADMIN = { email: 'admin@shop.local', password: 'shoal-admin-local', name: 'Shop admin' };

let cluster: TestCluster;
let host: ServiceHost;
let app: FastifyInstance;
let dir: string;
const gatewayObs = quietObservability('gateway');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shoal-gw-real-'));
  cluster = new TestCluster();
  host = await cluster.host([
    createUsersService({ env: {}, file: join(dir, 'users.db'), store: { hash: CHEAP } }),
    createGoodsService({ env: {}, file: join(dir, 'goods.db') }),
  ]);
  const broker = await cluster.broker();
  const caller = brokerCaller(broker);
  app = await createGateway({ caller, dataDir: join(dir, 'gateway'), logger: false, observability: gatewayObs });
  await ensureAdmin(caller, ADMIN, { waitMs: 10_000, logger: { info: () => undefined, warn: () => undefined } });
});

afterAll(async () => {
  await app?.close();
  await cluster?.closeAll();
  await gatewayObs.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

test('sign up, log in, wallet, goods admin, paging, errors — through the real services', async () => {
  const signup = await app.inject({ method: 'POST', url: '/api/v1/users', payload: { name: 'Real', email: 'Real@Example.com', password: 'real password 1', address: '3 Rd', phone: '+1 555 0199' } });
  expect(signup.statusCode, signup.body).toBe(201);
  expect(signup.json()).toMatchObject({ email: 'real@example.com', role: 'user', wallet: 0 });
  expect(signup.body).not.toContain('scrypt');
  const dup = await app.inject({ method: 'POST', url: '/api/v1/users', payload: { name: 'Real', email: 'real@example.com', password: 'real password 1', address: '', phone: '555 0199' } });
  expect(expectErrorShape(dup, 409).code).toBe('EMAIL_TAKEN');

  const login = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'real@example.com', password: 'real password 1' } });
  expect(login.statusCode, login.body).toBe(200);
  const { access_token, refresh_token } = login.json();
  expect(expectErrorShape(await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'real@example.com', password: 'nope' } }), 401).code).toBe('INVALID_CREDENTIALS');

  const traceId = '5bf92f3577b34da6a3ce929d0e0e4736';
  const me = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { ...bearer(access_token), traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
  expect(me.statusCode, me.body).toBe(200);
  // The service's span belongs to the browser's trace: gateway server span → broker client span → users server span.
  const serviceSpan = host.observability.tracer.recentSpans().find((s) => s.traceId === traceId && s.kind === 'server');
  expect(serviceSpan, 'users span in the caller trace').toBeDefined();

  const deposit = (key: string) => app.inject({ method: 'POST', url: '/api/v1/users/me/deposit', headers: { ...bearer(access_token), 'idempotency-key': key }, payload: { amount: 1250 } });
  expect((await deposit('dep-1')).json().wallet).toBe(1250);
  expect((await deposit('dep-1')).json().wallet).toBe(1250);
  expect((await deposit('dep-2')).json().wallet).toBe(2500);

  const admin = (await app.inject({ method: 'POST', url: '/oauth2/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ grant_type: 'password', username: ADMIN.email, password: ADMIN.password }).toString() })).json().access_token as string;
  expectErrorShape(await app.inject({ method: 'POST', url: '/api/v1/goods', headers: bearer(access_token), payload: { name: 'x', price: 1, stock: 1 } }), 403);
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    const res = await app.inject({ method: 'POST', url: '/api/v1/goods', headers: bearer(admin), payload: { name: `Real ${i}`, price: 100 * (i + 1), stock: 10 } });
    expect(res.statusCode, res.body).toBe(201);
    ids.push(res.json().id);
  }
  const patched = await app.inject({ method: 'PATCH', url: `/api/v1/goods/${ids[0]}`, headers: bearer(admin), payload: { stock: 7 } });
  expect(patched.json()).toMatchObject({ id: ids[0], stock: 7, price: 100 });
  expect((await app.inject({ method: 'GET', url: `/api/v1/goods/${ids[1]}` })).json().name).toBe('Real 1');
  expect(expectErrorShape(await app.inject({ method: 'GET', url: '/api/v1/goods/g_nothing' }), 404).code).toBe('NOT_FOUND');

  const seen: string[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 10; page++) {
    const res = await app.inject({ method: 'GET', url: `/api/v1/goods?limit=2${cursor !== null ? `&cursor=${encodeURIComponent(cursor)}` : ''}` });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json() as { items: Array<{ id: string }>; nextCursor: string | null };
    seen.push(...body.items.map((g) => g.id));
    cursor = body.nextCursor;
    if (cursor === null) break;
  }
  expect(seen).toEqual(ids);

  const refreshed = await app.inject({ method: 'POST', url: '/oauth2/token', payload: { grant_type: 'refresh_token', refresh_token } });
  expect(refreshed.statusCode, refreshed.body).toBe(200);
  expect((await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(refreshed.json().access_token) })).json().wallet).toBe(2500);
});
