// orders.place with mode '2pc' through the runtime in one process, against a real coordinator
// (`shoal coord` started by the test on loopback): the decision is written to /shoal/txn/<gid>
// before phase two, participants prepare into held reservations/debits, and the order ends with
// its event. The pending-order recovery ends an order from a stored decision, or presumes abort.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Etcd3 } from 'etcd3';
import { createCoordClient } from '../../src/recipes/index.js';
import { SagaOrchestrator, migrateSagaSqlite } from '../../src/txn/saga/index.js';
import { readDecision, writeDecision } from '../../src/txn/twopc/index.js';
import { OrderRecovery, OrdersStore, type Order } from '../../src/shop/orders/index.js';
import { GoodsStore } from '../../src/shop/goods/index.js';
import { shoalCoord } from '../support/shoal-coord.js';
import type { CoordServer } from '../support/etcd-server.js';
import { codeOf, startShop, type ShopFixture } from './orders-fixture.js';
import { tempDir } from './helpers.js';
import { pino } from 'pino';

describe('orders.place (2PC) against a coordinator', () => {
  let server: CoordServer;
  let coord: Etcd3;
  let shop: ShopFixture;
  beforeAll(async () => {
    server = await shoalCoord.start();
    coord = createCoordClient(server.endpoints);
    shop = await startShop({ users: { coord }, goods: { coord }, orders: { coord } });
  }, 60_000);
  afterAll(async () => {
    await shop?.close();
    coord?.close();
    await server?.stop();
  });

  const place2pc = (params: Record<string, unknown>): Promise<Order> => shop.place({ ...params, mode: '2pc' });

  it('confirms: stock and wallet change once, commit decision stored, order.confirmed in the outbox', async () => {
    const u = await shop.user(10_000);
    const a = await shop.goods(120, 10);
    const b = await shop.goods(2_500, 2);
    const order = await place2pc({ userId: u.id, items: [{ goodsId: a.id, qty: 3 }, { goodsId: b.id, qty: 2 }], idempotencyKey: 'p-1' });
    expect(order).toMatchObject({ status: 'confirmed', mode: '2pc', total: 3 * 120 + 2 * 2_500 });
    expect(await shop.stock(a.id)).toBe(7);
    expect(await shop.stock(b.id)).toBe(0);
    expect(await shop.wallet(u.id)).toBe(10_000 - order.total);
    expect((await readDecision(coord, order.id))?.decision).toBe('commit');
    expect(shop.outbox().filter((e) => (e.payload as { orderId: string }).orderId === order.id)).toEqual([
      { event: 'order.confirmed', payload: { orderId: order.id, userId: u.id, total: order.total } },
    ]);
  });

  it('out of stock: failed with OUT_OF_STOCK, every prepared branch aborted, no net change', async () => {
    const u = await shop.user(10_000);
    const plenty = await shop.goods(100, 50);
    const scarce = await shop.goods(100, 1);
    const order = await place2pc({ userId: u.id, items: [{ goodsId: plenty.id, qty: 5 }, { goodsId: scarce.id, qty: 2 }], idempotencyKey: 'p-oos' });
    expect(order).toMatchObject({ status: 'failed', failure: { code: 'OUT_OF_STOCK' } });
    expect((await readDecision(coord, order.id))?.decision).toBe('abort');
    // Phase two (abort) is over when run() returns: the held stock and money are back.
    expect(await shop.stock(plenty.id)).toBe(50);
    expect(await shop.stock(scarce.id)).toBe(1);
    expect(await shop.wallet(u.id)).toBe(10_000);
    expect(shop.outbox().filter((e) => (e.payload as { orderId: string }).orderId === order.id).map((e) => e.event)).toEqual(['order.failed']);
  });

  it('insufficient funds: failed with INSUFFICIENT_FUNDS, stock released', async () => {
    const u = await shop.user(100);
    const g = await shop.goods(300, 4);
    const order = await place2pc({ userId: u.id, items: [{ goodsId: g.id, qty: 1 }], idempotencyKey: 'p-poor' });
    expect(order).toMatchObject({ status: 'failed', failure: { code: 'INSUFFICIENT_FUNDS' } });
    expect(await shop.stock(g.id)).toBe(4);
    expect(await shop.wallet(u.id)).toBe(100);
  });

  it('replays and 5 concurrent requests with one key: one order, one charge; another body is a conflict', async () => {
    const u = await shop.user(5_000);
    const g = await shop.goods(100, 100);
    const params = { userId: u.id, items: [{ goodsId: g.id, qty: 4 }], idempotencyKey: 'p-burst' };
    const orders = await Promise.all(Array.from({ length: 5 }, () => place2pc(params)));
    expect(new Set(orders.map((o) => o.id)).size).toBe(1);
    expect(orders.every((o) => o.status === 'confirmed')).toBe(true);
    expect(await place2pc(params)).toEqual(orders[0]);
    expect(await shop.wallet(u.id)).toBe(4_600);
    expect(await shop.stock(g.id)).toBe(96);
    expect(await codeOf(place2pc({ ...params, items: [{ goodsId: g.id, qty: 5 }] }))).toBe('IDEMPOTENCY_CONFLICT');
    expect(await codeOf(shop.place(params))).toBe('IDEMPOTENCY_CONFLICT'); // saga is another request
  });

  it('recovery ends a pending 2PC order from the stored decision, or presumes abort when nobody decides', async () => {
    const dir = tempDir('shoal-orders-recovery-');
    const store = OrdersStore.open(dir.file('orders.db'), {}, migrateSagaSqlite);
    // The outbox table the runtime would create (host.useDatabase).
    store.db.sqlite.exec(`CREATE TABLE shoal_outbox (id TEXT PRIMARY KEY, event TEXT NOT NULL, payload TEXT NOT NULL, meta TEXT, created_at INTEGER NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL, delivered_at INTEGER, targets TEXT, acked TEXT NOT NULL DEFAULT '[]')`);
    const logger = pino({ level: 'silent' });
    const saga = new SagaOrchestrator({ db: store.db.sqlite, caller: { call: () => Promise.reject(new Error('no calls in this test')) }, instanceId: 'orders-test', logger });
    try {
      const make = async (key: string) => {
        const created = await store.createPending({ userId: 'u_r', idempotencyKey: key, requestHash: key, mode: '2pc', items: [{ goodsId: 'g_r', qty: 1, price: 10 }] });
        if (!created.created) throw new Error('expected a new order');
        return created.order;
      };
      const committed = await make('r-1');
      const undecided = await make('r-2');
      // The coordinator decided commit and died before ending the order.
      await writeDecision(coord, committed.id, 'commit', 'orders-dead');
      const recovery = new OrderRecovery({ store, saga, coord, instanceId: 'orders-test', logger, staleAfterMs: 0 });
      const pass = await recovery.recoverOnce();
      expect(pass).toMatchObject({ ended: 2, failed: 0 });
      expect(await store.get(committed.id)).toMatchObject({ status: 'confirmed' });
      // No decision and no owner key: abort is presumed, in the coordinator too (participants obey it).
      expect(await store.get(undecided.id)).toMatchObject({ status: 'failed', failure: { code: 'TXN_ABORTED' } });
      expect((await readDecision(coord, undecided.id))?.decision).toBe('abort');
      expect((await recovery.recoverOnce()).ended).toBe(0);
      const events = store.db.sqlite.prepare('SELECT event FROM shoal_outbox ORDER BY created_at, rowid').all() as { event: string }[];
      expect(events.map((e) => e.event).sort()).toEqual(['order.confirmed', 'order.failed']);
    } finally {
      saga.close();
      await store.close();
      dir.remove();
    }
  });

  it("a participant's in-doubt resolver finishes prepared branches by the stored decision, or presumed abort", async () => {
    const dir = tempDir('shoal-goods-indoubt-');
    const goods = GoodsStore.open(dir.file('goods.db'));
    try {
      const g = await goods.create({ name: 'Kettle', price: 4_000, stock: 10 });
      await goods.prepareReserve({ gid: 'o_indoubt_commit', branch: '01-reserve', id: g.id, qty: 2 });
      await goods.prepareReserve({ gid: 'o_indoubt_orphan', branch: '01-reserve', id: g.id, qty: 3 });
      expect((await goods.get({ id: g.id })).stock).toBe(5);
      await writeDecision(coord, 'o_indoubt_commit', 'commit', 'orders-dead');
      const resolver = goods.inDoubtResolver({ coord, instanceId: 'goods-test', logger: pino({ level: 'silent' }), olderThanMs: 0 });
      expect(await resolver.resolveOnce()).toEqual({ committed: 1, aborted: 1, waiting: 0, failed: 0 });
      // The committed reservation stays taken; the orphan (no decision, no owner) is put back.
      expect((await goods.get({ id: g.id })).stock).toBe(8);
      expect((await readDecision(coord, 'o_indoubt_orphan'))?.decision).toBe('abort');
      // A late phase-two call from the coordinator is a no-op.
      expect(await goods.abortReserve({ gid: 'o_indoubt_orphan', branch: '01-reserve', id: g.id })).toMatchObject({ applied: false, stock: 8 });
      expect(await resolver.resolveOnce()).toEqual({ committed: 0, aborted: 0, waiting: 0, failed: 0 });
    } finally {
      await goods.close();
      dir.remove();
    }
  });
});
