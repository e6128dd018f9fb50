// The order routes in front of the real users, goods and orders services (runtime hosts on
// 127.0.0.1, in-memory discovery, the broker as the Caller): POST /api/v1/orders with an
// Idempotency-Key, GET /api/v1/orders/:id (owner or admin only), GET /api/v1/orders (paged), the
// 409s, and the OpenAPI document.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerCaller, createGateway, ensureAdmin } from '../../src/gateway/index.js';
import { createGoodsService, createOrdersService, createUsersService } from '../../src/shop/index.js';
import { quietObservability, TestCluster } from '../runtime/support/hosts.js';
import { bearer, expectErrorShape } from './support.js';

const CHEAP = { params: { N: 2 ** 10, r: 8, p: 1 } };
const ADMIN = { email: 'admin@shop.local', password: 'shoal-admin-local', name: 'Shop admin' };

describe('order routes through the real services', () => {
  let cluster: TestCluster;
  let app: FastifyInstance;
  let dir: string;
  let admin: string;
  const gatewayObs = quietObservability('gateway');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'shoal-gw-orders-'));
    cluster = new TestCluster();
    await cluster.host([
      createUsersService({ env: {}, file: join(dir, 'users.db'), store: { hash: CHEAP } }),
      createGoodsService({ env: {}, file: join(dir, 'goods.db') }),
      createOrdersService({ env: {}, file: join(dir, 'orders.db') }),
    ]);
    const caller = brokerCaller(await cluster.broker());
    app = await createGateway({ caller, dataDir: join(dir, 'gateway'), logger: false, observability: gatewayObs });
    await ensureAdmin(caller, ADMIN, { waitMs: 10_000, logger: { info: () => undefined, warn: () => undefined } });
    admin = await token(ADMIN.email, ADMIN.password);
  });

  afterAll(async () => {
    await app?.close();
    await cluster?.closeAll();
    await gatewayObs.shutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  let n = 0;
  async function token(email: string, password: string): Promise<string> {
    const res = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password } });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().access_token as string;
  }
  async function buyer(wallet: number): Promise<{ id: string; token: string }> {
    const email = `orders-buyer${++n}@example.com`;
    const res = await app.inject({ method: 'POST', url: '/api/v1/users', payload: { name: 'Buyer', email, password: 'buyer password', address: '1 Rd', phone: '+1 555 0101' } });
    expect(res.statusCode, res.body).toBe(201);
    const t = await token(email, 'buyer password');
    if (wallet > 0) {
      const dep = await app.inject({ method: 'POST', url: '/api/v1/users/me/deposit', headers: { ...bearer(t), 'idempotency-key': `dep-${n}` }, payload: { amount: wallet } });
      expect(dep.statusCode, dep.body).toBe(200);
    }
    return { id: res.json().id as string, token: t };
  }
  async function goods(price: number, stock: number): Promise<string> {
    const res = await app.inject({ method: 'POST', url: '/api/v1/goods', headers: bearer(admin), payload: { name: `Thing ${++n}`, price, stock } });
    expect(res.statusCode, res.body).toBe(201);
    return res.json().id as string;
  }
  const post = (t: string, key: string | undefined, payload: unknown) =>
    app.inject({ method: 'POST', url: '/api/v1/orders', headers: { ...bearer(t), ...(key !== undefined ? { 'idempotency-key': key } : {}) }, payload: payload as Record<string, unknown> });
  const stockOf = async (id: string) => (await app.inject({ method: 'GET', url: `/api/v1/goods/${id}` })).json().stock as number;
  const walletOf = async (t: string) => (await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(t) })).json().wallet as number;

  it('POST /orders: 201 confirmed for the token\'s user (never the body\'s), the same order for a repeated key', async () => {
    const me = await buyer(5_000);
    const victim = await buyer(5_000);
    const g = await goods(400, 10);
    // A userId in the body is not part of the schema: stripped, the order is the caller's.
    const res = await post(me.token, 'order-1', { items: [{ goodsId: g, qty: 3 }], userId: victim.id });
    expect(res.statusCode, res.body).toBe(201);
    const order = res.json();
    expect(order).toMatchObject({ userId: me.id, status: 'confirmed', mode: 'saga', total: 1_200, items: [{ goodsId: g, qty: 3, price: 400 }] });
    expect(await walletOf(me.token)).toBe(3_800);
    expect(await walletOf(victim.token)).toBe(5_000);
    const again = await post(me.token, 'order-1', { items: [{ goodsId: g, qty: 3 }] });
    expect(again.statusCode).toBe(201);
    expect(again.json()).toEqual(order);
    expect(await stockOf(g)).toBe(7);
    expect(await walletOf(me.token)).toBe(3_800);
  });

  it('failed orders are 201 with status failed and the reason; a reused key with another body is 409', async () => {
    const me = await buyer(100);
    const g = await goods(300, 1);
    const poor = await post(me.token, 'poor', { items: [{ goodsId: g, qty: 1 }] });
    expect(poor.statusCode, poor.body).toBe(201);
    expect(poor.json()).toMatchObject({ status: 'failed', failure: { code: 'INSUFFICIENT_FUNDS' } });
    const oos = await post(me.token, 'oos', { items: [{ goodsId: g, qty: 2 }] });
    expect(oos.json()).toMatchObject({ status: 'failed', failure: { code: 'OUT_OF_STOCK' } });
    expect(await stockOf(g)).toBe(1);
    expect(await walletOf(me.token)).toBe(100);
    expect(expectErrorShape(await post(me.token, 'poor', { items: [{ goodsId: g, qty: 2 }] }), 409).code).toBe('IDEMPOTENCY_CONFLICT');
    // 2PC without a coordinator in this cluster: refused as a conflict with the deployment.
    expect(expectErrorShape(await post(me.token, 'twopc', { items: [{ goodsId: g, qty: 1 }], mode: '2pc' }), 409).code).toBe('FAILED_PRECONDITION');
  });

  it('refuses a missing Idempotency-Key, bad items and anonymous callers', async () => {
    const me = await buyer(0);
    const g = await goods(1, 1);
    expect(expectErrorShape(await post(me.token, undefined, { items: [{ goodsId: g, qty: 1 }] }), 400).code).toBe('INVALID_ARGUMENT');
    expectErrorShape(await post(me.token, 'bad-1', { items: [] }), 400);
    expectErrorShape(await post(me.token, 'bad-2', { items: [{ goodsId: g, qty: 0 }] }), 400);
    expectErrorShape(await post(me.token, 'bad-3', { items: [{ goodsId: g, qty: 1 }, { goodsId: g, qty: 1 }] }), 400);
    expectErrorShape(await post(me.token, 'bad-4', { items: [{ goodsId: g, qty: 1 }], mode: 'xa' }), 400);
    expectErrorShape(await post(me.token, 'has space', { items: [{ goodsId: g, qty: 1 }] }), 400);
    expectErrorShape(await app.inject({ method: 'POST', url: '/api/v1/orders', headers: { 'idempotency-key': 'anon' }, payload: { items: [{ goodsId: g, qty: 1 }] } }), 401);
    expect(expectErrorShape(await post(me.token, 'missing-goods', { items: [{ goodsId: 'g_nothing', qty: 1 }] }), 404).code).toBe('NOT_FOUND');
  });

  it('GET /orders/:id: the order with its user for the owner and an admin; 404 for anyone else', async () => {
    const me = await buyer(1_000);
    const other = await buyer(0);
    const g = await goods(250, 5);
    const order = (await post(me.token, 'get-1', { items: [{ goodsId: g, qty: 2 }] })).json();
    const mine = await app.inject({ method: 'GET', url: `/api/v1/orders/${order.id}`, headers: bearer(me.token) });
    expect(mine.statusCode, mine.body).toBe(200);
    expect(mine.json().order).toEqual(order);
    expect(mine.json().user).toMatchObject({ id: me.id, wallet: 500 });
    expect(mine.body).not.toContain('scrypt');
    expect((await app.inject({ method: 'GET', url: `/api/v1/orders/${order.id}`, headers: bearer(admin) })).json().order.id).toBe(order.id);
    expect(expectErrorShape(await app.inject({ method: 'GET', url: `/api/v1/orders/${order.id}`, headers: bearer(other.token) }), 404).code).toBe('NOT_FOUND');
    expectErrorShape(await app.inject({ method: 'GET', url: '/api/v1/orders/o_missing', headers: bearer(me.token) }), 404);
    expectErrorShape(await app.inject({ method: 'GET', url: `/api/v1/orders/${order.id}` }), 401);
  });

  it("GET /orders: the caller's orders only, newest first, paged", async () => {
    const me = await buyer(10_000);
    const other = await buyer(10_000);
    const g = await goods(10, 100);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await post(me.token, `list-${i}`, { items: [{ goodsId: g, qty: 1 }] })).json().id);
    await post(other.token, 'list-0', { items: [{ goodsId: g, qty: 1 }] });
    const first = await app.inject({ method: 'GET', url: '/api/v1/orders?limit=2', headers: bearer(me.token) });
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json().items.map((o: { id: string }) => o.id)).toEqual([ids[2], ids[1]]);
    const next = await app.inject({ method: 'GET', url: `/api/v1/orders?limit=2&cursor=${encodeURIComponent(first.json().nextCursor)}`, headers: bearer(me.token) });
    expect(next.json()).toEqual({ items: [expect.objectContaining({ id: ids[0] })], nextCursor: null });
    expectErrorShape(await app.inject({ method: 'GET', url: '/api/v1/orders?limit=0', headers: bearer(me.token) }), 400);
  });

  it('OpenAPI documents the order routes, the Idempotency-Key header and the error answers', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
    const post = doc.paths['/api/v1/orders'].post;
    expect(post.responses).toHaveProperty('201');
    expect(post.responses).toHaveProperty('4XX');
    expect(post.summary).toMatch(/409 IDEMPOTENCY_CONFLICT/);
    expect(JSON.stringify(post.parameters)).toContain('idempotency-key');
    expect(doc.paths['/api/v1/orders'].get).toBeDefined();
    expect(doc.paths['/api/v1/orders/{id}'].get).toBeDefined();
  });
});
