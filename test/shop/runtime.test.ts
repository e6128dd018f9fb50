// Both shop services hosted by Shoal's runtime in this process, called through a broker over the
// real transport (loopback, free ports), as the gateway will call them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBroker, isShoalError, startServices, type Broker, type ServiceHost } from '../../src/index.js';
import { shopServices } from '../../src/shop/index.js';
import { Release, Reservation, type Goods, type GoodsPage } from '../../src/shop/goods/index.js';
import { User, type UsersStoreOptions } from '../../src/shop/users/index.js';
import { CHEAP_HASH, tempDir, type TempDir } from './helpers.js';
import { MemoryRegistry } from './memory-registry.js';

describe('shop services on the runtime', () => {
  let dir: TempDir;
  let host: ServiceHost;
  let broker: Broker;
  const store: UsersStoreOptions = { hash: CHEAP_HASH };

  beforeAll(async () => {
    dir = tempDir();
    const registry = new MemoryRegistry();
    const env = { SHOAL_DATA_DIR: dir.path, SHOP_ADMIN_EMAIL: 'Admin@Shop.test', SHOP_ADMIN_PASSWORD: 'admin password' };
    host = await startServices(shopServices({ users: { env, store }, goods: { env } }), {
      view: registry.view,
      registry,
      dataDir: dir.path,
      admin: false,
      logLevel: 'silent',
      drain: { graceMs: 0, timeoutMs: 2_000 },
    });
    broker = await connectBroker({ view: registry.view, name: 'test', logLevel: 'silent' });
  });

  afterAll(async () => {
    await broker?.close();
    await host?.stop();
    dir?.remove();
  });

  it('users.create returns the user without the password; users.get finds it', async () => {
    const created = await broker.call<User>('users.create', {
      name: 'Carol',
      email: 'Carol@Example.com',
      password: 'carol password',
      address: '2 High St',
      phone: '+49 30 1234567',
    });
    expect(User.parse(created)).toEqual(created);
    expect(created).toMatchObject({ email: 'carol@example.com', role: 'user', wallet: 0 });
    expect(JSON.stringify(created)).not.toContain('carol password');
    expect(await broker.call<User>('users.get', { id: created.id })).toEqual(created);
    const auth = await broker.call('users.authenticate', { email: 'carol@example.com', password: 'carol password' });
    expect(auth).toEqual({ id: created.id, email: 'carol@example.com', role: 'user' });
    const deposited = await broker.call<User>('users.deposit', { id: created.id, amount: 1_000, requestId: 'd1' }, { idempotent: true });
    expect(deposited.wallet).toBe(1_000);
    expect((await broker.call<User>('users.deposit', { id: created.id, amount: 1_000, requestId: 'd1' })).wallet).toBe(1_000);
  });

  it('errors keep their codes across the wire', async () => {
    const codeOf = (p: Promise<unknown>): Promise<string> =>
      p.then(
        () => 'ok',
        (e: unknown) => (isShoalError(e) ? e.code : `not a ShoalError: ${String(e)}`),
      );
    expect(await codeOf(broker.call('users.get', { id: 'u_nobody' }))).toBe('NOT_FOUND');
    expect(await codeOf(broker.call('users.authenticate', { email: 'x@y.z', password: 'whatever1' }))).toBe('INVALID_CREDENTIALS');
    expect(await codeOf(broker.call('users.create', { name: 'n', email: 'bad', password: 'p', address: '', phone: '1' }))).toBe(
      'INVALID_ARGUMENT',
    );
    expect(await codeOf(broker.call('goods.list', { limit: 1000 }))).toBe('INVALID_ARGUMENT');
  });

  it('the admin from SHOP_ADMIN_EMAIL exists after start', async () => {
    const auth = await broker.call('users.authenticate', { email: 'admin@shop.test', password: 'admin password' });
    expect(auth).toMatchObject({ email: 'admin@shop.test', role: 'admin' });
  });

  it('goods.create / update / list through the broker', async () => {
    const a = await broker.call<Goods>('goods.create', { name: 'Apple', price: 120, stock: 10 });
    const b = await broker.call<Goods>('goods.create', { name: 'Bread', price: 350, stock: 4 });
    const updated = await broker.call<Goods>('goods.update', { id: b.id, stock: 3 });
    expect(updated.stock).toBe(3);
    const first = await broker.call<GoodsPage>('goods.list', { limit: 1 });
    expect(first.items).toEqual([a]);
    expect(first.nextCursor).not.toBeNull();
    const second = await broker.call<GoodsPage>('goods.list', { limit: 1, cursor: first.nextCursor });
    expect(second).toEqual({ items: [updated], nextCursor: null });
    expect((await broker.call<GoodsPage>('goods.list', {})).items.map((g) => g.id)).toEqual([a.id, b.id]);
  });

  it('users.debit / users.refund and goods.reserve / goods.release through the broker', async () => {
    const u = await broker.call<User>('users.create', { name: 'Dan', email: 'dan@example.com', password: 'dan password', address: '', phone: '5550100' });
    await broker.call<User>('users.deposit', { id: u.id, amount: 500, requestId: 'top-up' }, { idempotent: true });
    const debited = await broker.call<User>('users.debit', { id: u.id, amount: 300, requestId: 'order-1' });
    expect(User.parse(debited).wallet).toBe(200);
    const refunded = await broker.call<User>('users.refund', { id: u.id, requestId: 'order-1' });
    expect(refunded.wallet).toBe(500);

    const g = await broker.call<Goods>('goods.create', { name: 'Cheese', price: 800, stock: 5 });
    const reserved = await broker.call<Reservation>('goods.reserve', { id: g.id, qty: 2, requestId: 'order-1' });
    expect(Reservation.parse(reserved)).toEqual({ goodsId: g.id, qty: 2, stock: 3 });
    const released = await broker.call<Release>('goods.release', { id: g.id, requestId: 'order-1' });
    expect(Release.parse(released)).toEqual({ goodsId: g.id, released: 2, stock: 5 });

    const codeOf = (p: Promise<unknown>): Promise<string> =>
      p.then(
        () => 'ok',
        (e: unknown) => (isShoalError(e) ? e.code : `not a ShoalError: ${String(e)}`),
      );
    expect(await codeOf(broker.call('users.debit', { id: u.id, amount: 501, requestId: 'order-2' }))).toBe('INSUFFICIENT_FUNDS');
    expect(await codeOf(broker.call('goods.reserve', { id: g.id, qty: 6, requestId: 'order-2' }))).toBe('OUT_OF_STOCK');
    expect(await codeOf(broker.call('users.debit', { id: u.id, amount: 300, requestId: 'order-1' }))).toBe('ALREADY_REFUNDED');
  });
});

describe('users service start', () => {
  it('fails to start on an invalid SHOP_ADMIN_EMAIL, naming the problem', async () => {
    const dir = tempDir();
    const registry = new MemoryRegistry();
    const env = { SHOAL_DATA_DIR: dir.path, SHOP_ADMIN_EMAIL: 'not an email', SHOP_ADMIN_PASSWORD: 'admin password' };
    try {
      const start = startServices(shopServices({ users: { env, store: { hash: CHEAP_HASH } }, goods: { env } }), {
        view: registry.view,
        registry,
        dataDir: dir.path,
        admin: false,
        logLevel: 'silent',
      });
      await expect(start).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('email') });
      expect(registry.view.all()).toEqual([]);
    } finally {
      dir.remove();
    }
  });
});
