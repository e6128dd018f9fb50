// goods.reserve / goods.release on the store: conditional reservation, once per requestId,
// releases that put back exactly the reservation once, and releases that overtake it (tombstones).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isShoalError } from '../../src/index.js';
import { GoodsStore, MAX_RESERVE_QTY, Release, Reservation, type Goods } from '../../src/shop/goods/index.js';
import { tempDir, type TempDir } from './helpers.js';

interface Failure {
  code: string;
  retryable: boolean;
  details?: Record<string, unknown>;
}

async function failure(p: Promise<unknown>): Promise<Failure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isShoalError(err), `expected a ShoalError, got ${String(err)}`).toBe(true);
  return err as Failure;
}

describe('GoodsStore reserve and release', () => {
  let dir: TempDir;
  let store: GoodsStore;
  let clock: number;
  beforeEach(() => {
    dir = tempDir();
    clock = Date.UTC(2026, 0, 1);
    store = GoodsStore.open(dir.file('goods.db'), { now: () => clock });
  });
  afterEach(async () => {
    await store.close();
    dir.remove();
  });

  const goods = (stock: number): Promise<Goods> => store.create({ name: 'Tea', price: 100, stock });

  it('reserves while there is stock, else OUT_OF_STOCK with stock and qty, nothing taken', async () => {
    const g = await goods(10);
    clock += 1_000;
    const r = await store.reserve({ id: g.id, qty: 7, requestId: 'r1' });
    expect(Reservation.parse(r)).toEqual(r);
    expect(r).toEqual({ goodsId: g.id, qty: 7, stock: 3 });
    expect((await store.get({ id: g.id })).updatedAt).toBe('2026-01-01T00:00:01.000Z');
    const err = await failure(store.reserve({ id: g.id, qty: 4, requestId: 'r2' }));
    expect(err).toMatchObject({ code: 'OUT_OF_STOCK', retryable: false, details: { stock: 3, qty: 4 } });
    expect((await store.get({ id: g.id })).stock).toBe(3);
    await store.update({ id: g.id, stock: 4 });
    expect(await store.reserve({ id: g.id, qty: 4, requestId: 'r2' })).toEqual({ goodsId: g.id, qty: 4, stock: 0 });
  });

  it('validates input; NOT_FOUND for unknown goods on reserve and release', async () => {
    const g = await goods(5);
    for (const bad of [
      { id: g.id, qty: 0, requestId: 'r' },
      { id: g.id, qty: 2.5, requestId: 'r' },
      { id: g.id, qty: MAX_RESERVE_QTY + 1, requestId: 'r' },
      { id: g.id, qty: 1 },
      { id: g.id, qty: 1, requestId: 'x'.repeat(129) },
    ]) {
      expect((await failure(store.reserve(bad as never))).code).toBe('INVALID_ARGUMENT');
    }
    expect((await failure(store.reserve({ id: 'g_nope', qty: 1, requestId: 'r' }))).code).toBe('NOT_FOUND');
    expect((await failure(store.release({ id: 'g_nope', requestId: 'r' }))).code).toBe('NOT_FOUND');
    expect(await store.db.kysely.selectFrom('reservations').selectAll().execute()).toEqual([]);
    expect((await store.get({ id: g.id })).stock).toBe(5);
  });

  it('a repeated requestId is applied once; another qty is IDEMPOTENCY_CONFLICT', async () => {
    const g = await goods(10);
    expect((await store.reserve({ id: g.id, qty: 3, requestId: 'o1' })).stock).toBe(7);
    const repeats = await Promise.all(Array.from({ length: 5 }, () => store.reserve({ id: g.id, qty: 3, requestId: 'o1' })));
    for (const r of repeats) expect(r).toEqual({ goodsId: g.id, qty: 3, stock: 7 });
    expect(await failure(store.reserve({ id: g.id, qty: 2, requestId: 'o1' }))).toMatchObject({ code: 'IDEMPOTENCY_CONFLICT', retryable: false });
    expect((await store.get({ id: g.id })).stock).toBe(7);
  });

  it('20 concurrent reservations of 10 on a stock of 100, over two connections: exactly 10 succeed', async () => {
    const other = GoodsStore.open(dir.file('goods.db'));
    try {
      const g = await goods(100);
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? store : other).reserve({ id: g.id, qty: 10, requestId: `c${i}` })),
      );
      const ok = results.filter((r) => r.status === 'fulfilled');
      expect(ok).toHaveLength(10);
      expect(new Set(ok.map((r) => r.value.stock))).toEqual(new Set([90, 80, 70, 60, 50, 40, 30, 20, 10, 0]));
      for (const r of results) if (r.status === 'rejected') expect((r.reason as Failure).code).toBe('OUT_OF_STOCK');
      expect((await other.get({ id: g.id })).stock).toBe(0);
    } finally {
      await other.close();
    }
  });

  it('release puts back exactly the reserved qty, once; repeats report the same', async () => {
    const g = await goods(10);
    await store.reserve({ id: g.id, qty: 4, requestId: 'a' });
    await store.reserve({ id: g.id, qty: 1, requestId: 'b' });
    const releases = await Promise.all(Array.from({ length: 4 }, () => store.release({ id: g.id, requestId: 'a' })));
    for (const r of releases) {
      expect(Release.parse(r)).toEqual(r);
      expect(r).toEqual({ goodsId: g.id, released: 4, stock: 9 });
    }
    expect((await store.get({ id: g.id })).stock).toBe(9);
    expect((await failure(store.reserve({ id: g.id, qty: 4, requestId: 'a' }))).code).toBe('ALREADY_RELEASED');
    expect((await store.get({ id: g.id })).stock).toBe(9);
  });

  it('a release before its reservation leaves a tombstone: the late reservation is ALREADY_RELEASED', async () => {
    const g = await goods(10);
    expect(await store.release({ id: g.id, requestId: 'late' })).toEqual({ goodsId: g.id, released: 0, stock: 10 });
    expect(await store.release({ id: g.id, requestId: 'late' })).toEqual({ goodsId: g.id, released: 0, stock: 10 });
    const err = await failure(store.reserve({ id: g.id, qty: 2, requestId: 'late' }));
    expect(err).toMatchObject({ code: 'ALREADY_RELEASED', retryable: false, details: { requestId: 'late' } });
    expect((await store.get({ id: g.id })).stock).toBe(10);
  });

  it('the schema refuses illegal changes of a reservation record', async () => {
    const g = await goods(10);
    await store.reserve({ id: g.id, qty: 2, requestId: 'a' });
    await store.release({ id: g.id, requestId: 'a' });
    const k = store.db.kysely;
    await expect(
      k.updateTable('reservations').set({ state: 'reserved' }).where('request_id', '=', 'a').execute(),
    ).rejects.toThrow(/only reserved -> released/);
    await expect(
      k.insertInto('reservations').values({ goods_id: g.id, request_id: 'z', state: 'reserved', qty: null, created_at: 1, updated_at: 1 }).execute(),
    ).rejects.toThrow(/CHECK constraint/);
  });
});

type StockOp = { t: 'reserve'; req: number; qty: number } | { t: 'release'; req: number };

const stockOp: fc.Arbitrary<StockOp> = fc.oneof(
  fc.record({ t: fc.constant('reserve' as const), req: fc.integer({ min: 0, max: 6 }), qty: fc.integer({ min: 1, max: 30 }) }),
  fc.record({ t: fc.constant('release' as const), req: fc.integer({ min: 0, max: 6 }) }),
);

describe('stock conservation (property)', () => {
  it('any interleaving over two connections: stock = initial − reserved + released ≥ 0, matching what callers were told', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 100 }), fc.array(stockOp, { maxLength: 40 }), async (initial, ops) => {
        const d = tempDir();
        const a = GoodsStore.open(d.file('goods.db'), { synchronous: 'NORMAL' });
        const b = GoodsStore.open(d.file('goods.db'), { synchronous: 'NORMAL' });
        try {
          const { id } = await a.create({ name: 'x', price: 1, stock: initial });
          const outcomes = await Promise.allSettled(
            ops.map((op, i) => {
              const s = i % 2 === 0 ? a : b;
              return op.t === 'reserve' ? s.reserve({ id, qty: op.qty, requestId: `r${op.req}` }) : s.release({ id, requestId: `r${op.req}` });
            }),
          );
          let reserved = 0;
          let released = 0;
          const rows = await a.db.kysely.selectFrom('reservations').selectAll().execute();
          for (const r of rows) {
            if (r.state !== 'voided') reserved += r.qty!;
            if (r.state === 'released') released += r.qty!;
          }
          const stock = (await b.get({ id })).stock;
          expect(stock).toBe(initial - reserved + released);
          expect(stock).toBeGreaterThanOrEqual(0);
          ops.forEach((op, i) => {
            const o = outcomes[i]!;
            const row = rows.find((r) => r.request_id === `r${op.req}`);
            if (o.status === 'rejected') {
              expect(['OUT_OF_STOCK', 'IDEMPOTENCY_CONFLICT', 'ALREADY_RELEASED']).toContain((o.reason as Failure).code);
              return;
            }
            expect(o.value.stock).toBeGreaterThanOrEqual(0);
            // A successful reservation or release names a record that holds exactly its qty.
            expect(row).toBeDefined();
            if (op.t === 'reserve') expect(row).toMatchObject({ qty: op.qty });
            else expect((o.value as Release).released).toBe(row!.state === 'voided' ? 0 : row!.qty);
          });
        } finally {
          await a.close();
          await b.close();
          d.remove();
        }
      }),
      { numRuns: 30 },
    );
  });
});
