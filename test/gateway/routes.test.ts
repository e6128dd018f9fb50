// Every shop route's happy path and main errors through fastify.inject over the in-memory shop,
// and the mapping of service and pipeline errors to statuses.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ShoalError } from '../../src/errors/index.js';
import { bearer, expectErrorShape, harness, type Harness } from './support.js';

let h: Harness;
let admin: string;
let user: string;
beforeAll(async () => {
  h = await harness();
  admin = await h.adminToken();
  user = await h.userToken();
});
afterAll(() => h.app.close());

describe('users', () => {
  test('POST /users: 201 with the user, never the password or its hash; role and wallet cannot be set', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      payload: { name: 'Bo', email: 'bo@example.com', password: 'long enough pw', address: '2 Side St', phone: '+44 20 7946 0000', role: 'admin', wallet: 10 ** 9 },
    });
    expect(res.statusCode, res.body).toBe(201);
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual(['address', 'createdAt', 'email', 'id', 'name', 'phone', 'role', 'wallet']);
    expect(body).toMatchObject({ name: 'Bo', email: 'bo@example.com', role: 'user', wallet: 0 });
    expect(res.body).not.toContain('scrypt');
    expect(res.body).not.toContain('long enough pw');
    expect(h.shop.lastCall('users.create')!.params).not.toHaveProperty('role');
  });

  test('POST /users: duplicate email 409 EMAIL_TAKEN; bad fields 400 with issues', async () => {
    const payload = { name: 'Cy', email: 'cy@example.com', password: 'long enough pw', address: '', phone: '555 0100' };
    expect((await h.app.inject({ method: 'POST', url: '/api/v1/users', payload })).statusCode).toBe(201);
    const again = await h.app.inject({ method: 'POST', url: '/api/v1/users', payload });
    expect(expectErrorShape(again, 409).code).toBe('EMAIL_TAKEN');
    const bad = await h.app.inject({ method: 'POST', url: '/api/v1/users', payload: { ...payload, email: 'not-an-email', password: 'short' } });
    const error = expectErrorShape(bad, 400);
    expect(error.code).toBe('INVALID_ARGUMENT');
    const paths = (error.details as { issues: Array<{ path: string }> }).issues.map((i) => i.path).sort();
    expect(paths).toEqual(['email', 'password']);
    expect(bad.body).not.toContain('short"'); // issues never echo the input
  });

  test('GET /users/me forwards identity and the caller trace', async () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const res = await h.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { ...bearer(user), traceparent } });
    expect(res.statusCode).toBe(200);
    const call = h.shop.lastCall('users.get')!;
    expect(call.params).toEqual({ id: res.json().id });
    expect(call.options).toMatchObject({ timeoutMs: 5000, idempotent: true, meta: { traceparent, auth: { sub: res.json().id, role: 'user' } } });
    // An invalid traceparent is not forwarded.
    await h.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { ...bearer(user), traceparent: '00-zz-bad' } });
    expect(h.shop.lastCall('users.get')!.options.meta).not.toHaveProperty('traceparent');
  });

  test('GET /users/me for a user the service no longer has: 404', async () => {
    const token = await h.userToken();
    const me = (await h.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(token) })).json();
    h.shop.users.delete(me.id);
    expect(expectErrorShape(await h.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(token) }), 404).code).toBe('NOT_FOUND');
  });

  test('POST /users/me/deposit: adds to the wallet; Idempotency-Key makes a retry harmless', async () => {
    const token = await h.userToken();
    const deposit = (amount: unknown, key?: string) =>
      h.app.inject({ method: 'POST', url: '/api/v1/users/me/deposit', headers: { ...bearer(token), ...(key !== undefined ? { 'idempotency-key': key } : {}) }, payload: { amount } });
    expect((await deposit(500)).json().wallet).toBe(500);
    expect((await deposit(250, 'key-1')).json().wallet).toBe(750);
    expect((await deposit(250, 'key-1')).json().wallet).toBe(750);
    expect(h.shop.lastCall('users.deposit')!.params).toMatchObject({ amount: 250, requestId: 'key-1' });
    expect((await deposit(1)).json().wallet).toBe(751);
    for (const bad of [0, -5, 1.5, '100', null, 100_000_001]) expect(expectErrorShape(await deposit(bad), 400).code).toBe('INVALID_ARGUMENT');
    expect(expectErrorShape(await deposit(5, 'has space'), 400).details).toMatchObject({ in: 'headers' });
    expect(expectErrorShape(await deposit(5, 'k'.repeat(129)), 400).code).toBe('INVALID_ARGUMENT');
    expect((await h.app.inject({ method: 'POST', url: '/api/v1/users/me/deposit', payload: { amount: 5 } })).statusCode).toBe(401);
  });
});

describe('goods', () => {
  test('POST /goods (admin) 201; GET /goods/:id; PATCH /goods/:id (admin)', async () => {
    const created = await h.app.inject({ method: 'POST', url: '/api/v1/goods', headers: bearer(admin), payload: { name: 'Teapot', price: 1999, stock: 5 } });
    expect(created.statusCode, created.body).toBe(201);
    const goods = created.json();
    expect(goods).toMatchObject({ name: 'Teapot', price: 1999, stock: 5 });
    const got = await h.app.inject({ method: 'GET', url: `/api/v1/goods/${goods.id}` });
    expect(got.json()).toEqual(goods);
    const patched = await h.app.inject({ method: 'PATCH', url: `/api/v1/goods/${goods.id}`, headers: bearer(admin), payload: { price: 1499 } });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ id: goods.id, price: 1499, stock: 5, name: 'Teapot' });
    expect(h.shop.lastCall('goods.update')!.params).toEqual({ id: goods.id, price: 1499 });
  });

  test('goods errors: 404 unknown id, 400 bad id / empty patch / negative price, 401 without a token', async () => {
    expect(expectErrorShape(await h.app.inject({ method: 'GET', url: '/api/v1/goods/g_missing' }), 404).code).toBe('NOT_FOUND');
    expect(expectErrorShape(await h.app.inject({ method: 'GET', url: '/api/v1/goods/bad%20id' }), 400).details).toMatchObject({ in: 'params' });
    expectErrorShape(await h.app.inject({ method: 'PATCH', url: '/api/v1/goods/g1', headers: bearer(admin), payload: {} }), 400);
    expectErrorShape(await h.app.inject({ method: 'POST', url: '/api/v1/goods', headers: bearer(admin), payload: { name: 'x', price: -1, stock: 1 } }), 400);
    expectErrorShape(await h.app.inject({ method: 'PATCH', url: '/api/v1/goods/g_missing', headers: bearer(admin), payload: { stock: 1 } }), 404);
    expectErrorShape(await h.app.inject({ method: 'POST', url: '/api/v1/goods', payload: { name: 'x', price: 1, stock: 1 } }), 401);
  });

  test('GET /goods pages through everything with limit and cursor', async () => {
    for (let i = 0; i < 7; i++) {
      await h.app.inject({ method: 'POST', url: '/api/v1/goods', headers: bearer(admin), payload: { name: `item ${i}`, price: 100 + i, stock: i } });
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await h.app.inject({ method: 'GET', url: `/api/v1/goods?limit=3${cursor !== null ? `&cursor=${encodeURIComponent(cursor)}` : ''}` });
      expect(res.statusCode, res.body).toBe(200);
      const page = res.json() as { items: Array<{ id: string }>; nextCursor: string | null };
      expect(page.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.items.map((g) => g.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== null && pages < 20);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.length).toBe(h.shop.goods.size);
    expect(h.shop.lastCall('goods.list')!.params).toMatchObject({ limit: 3 });
    for (const q of ['limit=0', 'limit=101', 'limit=x', 'cursor=']) expectErrorShape(await h.app.inject({ method: 'GET', url: `/api/v1/goods?${q}` }), 400);
  });
});

describe('service and pipeline errors', () => {
  const cases: Array<[string, number, boolean]> = [
    ['DEADLINE_EXCEEDED', 504, false],
    ['UNAVAILABLE', 503, true],
    ['NO_ENDPOINT', 503, true],
    ['CIRCUIT_OPEN', 503, true],
    ['BULKHEAD_REJECTED', 503, true],
    ['INTERNAL', 500, false],
    ['SOMETHING_NEW', 500, false],
  ];
  test.each(cases)('%s → %i with a generic message', async (code, status, retryAfter) => {
    h.shop.failNext('goods.get', new ShoalError({ code, message: `secret detail: instance goods-7 at 10.1.2.3 (${code})`, retryable: false }));
    const res = await h.app.inject({ method: 'GET', url: '/api/v1/goods/g_1' });
    const error = expectErrorShape(res, status);
    expect(error.code).toBe(status === 500 ? 'INTERNAL' : code);
    expect(res.body).not.toContain('10.1.2.3');
    expect(res.headers['retry-after']).toBe(retryAfter ? '1' : undefined);
  });

  test('INVALID_ARGUMENT from a service passes its details through as a 400', async () => {
    h.shop.failNext('goods.get', new ShoalError({ code: 'INVALID_ARGUMENT', message: 'invalid params', retryable: false, details: { issues: [{ path: ['id'] }] } }));
    const error = expectErrorShape(await h.app.inject({ method: 'GET', url: '/api/v1/goods/g_1' }), 400);
    expect(error.details).toEqual({ issues: [{ path: ['id'] }] });
  });

  test('a service result that breaks the route schema is a 500, not a leak', async () => {
    const original = h.shop.call.bind(h.shop);
    h.shop.call = (async (action: string, params: unknown, options: object) =>
      action === 'goods.get' ? { id: 'g', name: 1 } : original(action, params, options)) as typeof h.shop.call;
    try {
      expectErrorShape(await h.app.inject({ method: 'GET', url: '/api/v1/goods/g_1' }), 500);
    } finally {
      h.shop.call = original;
    }
  });

  test('a caller that throws a plain Error is a generic 500', async () => {
    const original = h.shop.call.bind(h.shop);
    h.shop.call = (async () => {
      throw new Error('ECONNREFUSED 10.9.9.9:7000');
    }) as typeof h.shop.call;
    try {
      const res = await h.app.inject({ method: 'GET', url: '/api/v1/goods/g_1' });
      expect(expectErrorShape(res, 500).message).toBe('internal error');
      expect(res.body).not.toContain('10.9.9.9');
    } finally {
      h.shop.call = original;
    }
  });
});
