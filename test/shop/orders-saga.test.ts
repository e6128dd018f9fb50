// orders.place with a saga (the default) through the runtime in one process: users, goods and
// orders services on loopback, called through a broker. Each order changes stock and wallet
// exactly once or not at all, ends confirmed or failed with its reason, and leaves its event in
// the orders outbox; Idempotency-Key repeats (also concurrent ones) return the same order.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Order, OrderWithUser, OrdersPage, OrdersStore, requestHash } from '../../src/shop/orders/index.js';
import { codeOf, startShop, type ShopFixture } from './orders-fixture.js';

describe('orders.place (saga)', () => {
  let shop: ShopFixture;
  beforeAll(async () => {
    // Recovery looks at pending orders 200 ms old, every 50 ms (defaults: 5 s, 1 s).
    shop = await startShop({ orders: { recovery: { staleAfterMs: 200, intervalMs: 50 } } });
  });
  afterAll(async () => {
    await shop?.close();
  });

  it('confirms an order: stock and wallet change once, order confirmed, order.confirmed in the outbox', async () => {
    const u = await shop.user(10_000);
    const tea = await shop.goods(250, 10);
    const cup = await shop.goods(1_199, 3);
    const order = await shop.place({ userId: u.id, items: [{ goodsId: cup.id, qty: 2 }, { goodsId: tea.id, qty: 4 }], idempotencyKey: 'k-1' });
    expect(Order.parse(order)).toEqual(order);
    expect(order).toMatchObject({ userId: u.id, status: 'confirmed', mode: 'saga', total: 2 * 1_199 + 4 * 250 });
    expect(order.failure).toBeUndefined();
    // In goods order (tea was created first), whatever order the request listed them in.
    expect(order.items).toEqual([
      { goodsId: tea.id, qty: 4, price: 250 },
      { goodsId: cup.id, qty: 2, price: 1_199 },
    ]);
    expect(await shop.stock(tea.id)).toBe(6);
    expect(await shop.stock(cup.id)).toBe(1);
    expect(await shop.wallet(u.id)).toBe(10_000 - order.total);
    expect(shop.outbox().filter((e) => (e.payload as { orderId: string }).orderId === order.id)).toEqual([
      { event: 'order.confirmed', payload: { orderId: order.id, userId: u.id, total: order.total } },
    ]);
  });

  it('out of stock: failed with OUT_OF_STOCK, earlier reservations released, wallet untouched', async () => {
    const u = await shop.user(10_000);
    const plenty = await shop.goods(100, 50);
    const scarce = await shop.goods(100, 1);
    // Reserve steps run in goods order; put the scarce one after the plentiful one whatever the ids.
    const items = [
      { goodsId: plenty.id, qty: 5 },
      { goodsId: scarce.id, qty: 2 },
    ];
    const order = await shop.place({ userId: u.id, items, idempotencyKey: 'k-oos' });
    expect(order.status).toBe('failed');
    expect(order.failure?.code).toBe('OUT_OF_STOCK');
    expect(await shop.stock(plenty.id)).toBe(50);
    expect(await shop.stock(scarce.id)).toBe(1);
    expect(await shop.wallet(u.id)).toBe(10_000);
    expect(shop.outbox().filter((e) => (e.payload as { orderId: string }).orderId === order.id).map((e) => e.event)).toEqual(['order.failed']);
  });

  it('insufficient funds: failed with INSUFFICIENT_FUNDS, stock released', async () => {
    const u = await shop.user(500);
    const g = await shop.goods(300, 10);
    const order = await shop.place({ userId: u.id, items: [{ goodsId: g.id, qty: 2 }], idempotencyKey: 'k-poor' });
    expect(order).toMatchObject({ status: 'failed', total: 600, failure: { code: 'INSUFFICIENT_FUNDS' } });
    expect(await shop.stock(g.id)).toBe(10);
    expect(await shop.wallet(u.id)).toBe(500);
  });

  it('unknown goods refuse the request before any order exists', async () => {
    const u = await shop.user(500);
    expect(await codeOf(shop.place({ userId: u.id, items: [{ goodsId: 'g_nothing', qty: 1 }], idempotencyKey: 'k-none' }))).toBe('NOT_FOUND');
    expect((await shop.broker.call<OrdersPage>('orders.list', { userId: u.id })).items).toEqual([]);
  });

  it('validates items: 1..20 distinct goods, qty 1..1000, a key', async () => {
    const u = await shop.user(0);
    const bad = [
      { userId: u.id, items: [], idempotencyKey: 'x' },
      { userId: u.id, items: [{ goodsId: 'g_a', qty: 0 }], idempotencyKey: 'x' },
      { userId: u.id, items: [{ goodsId: 'g_a', qty: 1001 }], idempotencyKey: 'x' },
      { userId: u.id, items: [{ goodsId: 'g_a', qty: 1 }, { goodsId: 'g_a', qty: 2 }], idempotencyKey: 'x' },
      { userId: u.id, items: Array.from({ length: 21 }, (_, i) => ({ goodsId: `g_${i}`, qty: 1 })), idempotencyKey: 'x' },
      { userId: u.id, items: [{ goodsId: 'g_a', qty: 1 }] },
      { userId: u.id, items: [{ goodsId: 'g_a', qty: 1 }], idempotencyKey: 'x', mode: 'xa' },
    ];
    for (const params of bad) expect(await codeOf(shop.place(params)), JSON.stringify(params)).toBe('INVALID_ARGUMENT');
  });

  it('a repeated key returns the same order and charges once; another body under the key is IDEMPOTENCY_CONFLICT', async () => {
    const u = await shop.user(5_000);
    const g = await shop.goods(700, 10);
    const params = { userId: u.id, items: [{ goodsId: g.id, qty: 2 }], idempotencyKey: 'k-replay' };
    const first = await shop.place(params);
    const again = await shop.place({ ...params, mode: 'saga' });
    expect(again).toEqual(first);
    expect(await shop.wallet(u.id)).toBe(5_000 - 1_400);
    expect(await shop.stock(g.id)).toBe(8);
    expect(await codeOf(shop.place({ ...params, items: [{ goodsId: g.id, qty: 3 }] }))).toBe('IDEMPOTENCY_CONFLICT');
    expect(await codeOf(shop.place({ ...params, mode: '2pc' }))).toBe('IDEMPOTENCY_CONFLICT');
    // The key is per user: another user's order under the same key is its own.
    const other = await shop.user(5_000);
    const theirs = await shop.place({ ...params, userId: other.id });
    expect(theirs.id).not.toBe(first.id);
    expect(await shop.stock(g.id)).toBe(6);
  });

  it('5 concurrent requests with one key: one order, one charge', async () => {
    const u = await shop.user(5_000);
    const g = await shop.goods(100, 100);
    const h = await shop.goods(50, 100);
    // Listed against goods order: every repeat must build the very same saga as the first run.
    const params = { userId: u.id, items: [{ goodsId: h.id, qty: 1 }, { goodsId: g.id, qty: 3 }], idempotencyKey: 'k-burst' };
    const orders = await Promise.all(Array.from({ length: 5 }, () => shop.place(params)));
    expect(new Set(orders.map((o) => o.id)).size).toBe(1);
    expect(orders.every((o) => o.status === 'confirmed')).toBe(true);
    expect(orders[0]!.items.map((i) => i.goodsId)).toEqual([g.id, h.id]);
    expect(await shop.wallet(u.id)).toBe(5_000 - 350);
    expect(await shop.stock(g.id)).toBe(97);
    expect(await shop.stock(h.id)).toBe(99);
    expect((await shop.broker.call<OrdersPage>('orders.list', { userId: u.id })).items.map((o) => o.id)).toEqual([orders[0]!.id]);
  });

  it('orders.get joins the user; with another userId it is NOT_FOUND', async () => {
    const u = await shop.user(2_000);
    const g = await shop.goods(150, 5);
    const order = await shop.place({ userId: u.id, items: [{ goodsId: g.id, qty: 1 }], idempotencyKey: 'k-get' });
    const got = await shop.broker.call<OrderWithUser>('orders.get', { id: order.id });
    expect(OrderWithUser.parse(got)).toEqual(got);
    expect(got.order).toEqual(order);
    expect(got.user).toMatchObject({ id: u.id, email: u.email, wallet: 1_850 });
    expect(JSON.stringify(got)).not.toContain('scrypt');
    expect((await shop.broker.call<OrderWithUser>('orders.get', { id: order.id, userId: u.id })).order.id).toBe(order.id);
    expect(await codeOf(shop.broker.call('orders.get', { id: order.id, userId: 'u_someone_else' }))).toBe('NOT_FOUND');
    expect(await codeOf(shop.broker.call('orders.get', { id: 'o_missing' }))).toBe('NOT_FOUND');
  });

  it("orders.list pages the user's orders newest first, and only theirs", async () => {
    const u = await shop.user(100_000);
    const g = await shop.goods(10, 1_000);
    const placed = [];
    for (let i = 0; i < 5; i++) placed.push(await shop.place({ userId: u.id, items: [{ goodsId: g.id, qty: i + 1 }], idempotencyKey: `k-list-${i}` }));
    const newestFirst = placed.map((o) => o.id).reverse();
    const seen: string[] = [];
    let cursor: string | null | undefined;
    let pages = 0;
    do {
      const page: OrdersPage = await shop.broker.call<OrdersPage>('orders.list', { userId: u.id, limit: 2, ...(cursor ? { cursor } : {}) });
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((o) => o.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== null && pages < 10);
    expect(seen).toEqual(newestFirst);
    expect(pages).toBe(3);
    expect(await codeOf(shop.broker.call('orders.list', { userId: u.id, cursor: 'garbage!' }))).toBe('INVALID_ARGUMENT');
  });

  it('refuses 2PC without a coordinator', async () => {
    const u = await shop.user(1_000);
    const g = await shop.goods(10, 10);
    expect(await codeOf(shop.place({ userId: u.id, items: [{ goodsId: g.id, qty: 1 }], mode: '2pc', idempotencyKey: 'k-2pc' }))).toBe('FAILED_PRECONDITION');
    expect(await shop.stock(g.id)).toBe(10);
  });

  it('recovery starts the saga of an order whose instance died before logging it', async () => {
    const u = await shop.user(1_000);
    const g = await shop.goods(200, 5);
    // What a crash right after the local insert leaves: a pending order, no saga. Another
    // process on the same file writes it, as a second instance would.
    const other = OrdersStore.open(shop.dir.file('orders.db'));
    let orderId: string;
    try {
      const items = [{ goodsId: g.id, qty: 2, price: 200 }];
      const created = await other.createPending({ userId: u.id, idempotencyKey: 'k-orphan', requestHash: requestHash('saga', items), mode: 'saga', items });
      if (!created.created) throw new Error('expected a new order');
      orderId = created.order.id;
    } finally {
      await other.close();
    }
    await vi.waitFor(
      async () => {
        const got = await shop.broker.call<OrderWithUser>('orders.get', { id: orderId });
        expect(got.order.status).toBe('confirmed');
      },
      { timeout: 10_000, interval: 50 },
    );
    expect(await shop.stock(g.id)).toBe(3);
    expect(await shop.wallet(u.id)).toBe(600);
    // The client's retry of that request returns the recovered order.
    const replay = await shop.place({ userId: u.id, items: [{ goodsId: g.id, qty: 2 }], idempotencyKey: 'k-orphan' });
    expect(replay).toMatchObject({ id: orderId, status: 'confirmed' });
  });
});
