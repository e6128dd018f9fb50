import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { GoodsStore, MAX_PRICE_CENTS } from '../../src/shop/goods/index.js';
import { isShoalError } from '../../src/index.js';
import { tempDir, type TempDir } from './helpers.js';

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isShoalError(err), `expected ShoalError ${code}, got ${String(err)}`).toBe(true);
  expect((err as { code: string }).code).toBe(code);
  expect((err as { retryable: boolean }).retryable).toBe(false);
}

describe('GoodsStore', () => {
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

  it('creates and gets goods; money in integer cents', async () => {
    const g = await store.create({ name: 'Tea', price: 1250, stock: 7 });
    expect(g).toEqual({
      id: expect.stringMatching(/^g_/),
      name: 'Tea',
      price: 1250,
      stock: 7,
      createdAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:00.000Z',
    });
    expect(await store.get({ id: g.id })).toEqual(g);
  });

  it('NOT_FOUND for unknown ids on get and update', async () => {
    await expectCode(store.get({ id: 'g_nope' }), 'NOT_FOUND');
    await expectCode(store.update({ id: 'g_nope', stock: 1 }), 'NOT_FOUND');
  });

  it('refuses invalid input itself (INVALID_ARGUMENT), not only through the runtime', async () => {
    await expectCode(store.create({ name: '', price: 1, stock: 1 }), 'INVALID_ARGUMENT');
    await expectCode(store.create({ name: 'x', price: -1, stock: 1 }), 'INVALID_ARGUMENT');
    await expectCode(store.create({ name: 'x', price: 1.5, stock: 1 }), 'INVALID_ARGUMENT');
    await expectCode(store.create({ name: 'x', price: MAX_PRICE_CENTS + 1, stock: 1 }), 'INVALID_ARGUMENT');
    await expectCode(store.create({ name: 'x', price: 1, stock: -1 }), 'INVALID_ARGUMENT');
    const g = await store.create({ name: 'x', price: 1, stock: 1 });
    await expectCode(store.update({ id: g.id }), 'INVALID_ARGUMENT');
    await expectCode(store.update({ id: g.id, stock: -5 }), 'INVALID_ARGUMENT');
    await expectCode(store.list({ limit: 0 }), 'INVALID_ARGUMENT');
    await expectCode(store.list({ limit: 101 }), 'INVALID_ARGUMENT');
    await expectCode(store.list({ cursor: 'not-a-cursor' }), 'INVALID_ARGUMENT');
    expect((await store.get({ id: g.id })).stock).toBe(1);
  });

  it('updates only the given fields and moves updatedAt forward', async () => {
    const g = await store.create({ name: 'Mug', price: 900, stock: 3 });
    clock += 60_000;
    const u = await store.update({ id: g.id, price: 950 });
    expect(u).toEqual({ ...g, price: 950, updatedAt: '2026-01-01T00:01:00.000Z' });
    const v = await store.update({ id: g.id, name: 'Big mug', stock: 0 });
    expect(v).toMatchObject({ name: 'Big mug', price: 950, stock: 0 });
    // A clock behind the last write does not move updatedAt back.
    clock -= 3_600_000;
    const w = await store.update({ id: g.id, stock: 2 });
    expect(w.updatedAt).toBe('2026-01-01T00:01:00.000Z');
    expect(await store.get({ id: g.id })).toEqual(w);
  });

  it('the CHECK constraints refuse negative stock and price whatever the code path', async () => {
    const g = await store.create({ name: 'Pen', price: 100, stock: 2 });
    const k = store.db.kysely;
    await expect(k.updateTable('goods').set({ stock: -1 }).where('id', '=', g.id).execute()).rejects.toThrow(/CHECK constraint/);
    await expect(k.updateTable('goods').set((eb) => ({ stock: eb('stock', '-', 3) })).where('id', '=', g.id).execute()).rejects.toThrow(
      /CHECK constraint/,
    );
    await expect(k.updateTable('goods').set({ price: -1 }).where('id', '=', g.id).execute()).rejects.toThrow(/CHECK constraint/);
    // STRICT: a fractional stock is refused as a type error, not stored.
    await expect(k.updateTable('goods').set({ stock: 1.5 }).where('id', '=', g.id).execute()).rejects.toThrow(/cannot store REAL/);
    expect((await store.get({ id: g.id })).stock).toBe(2);
  });

  it('an empty store lists nothing', async () => {
    expect(await store.list()).toEqual({ items: [], nextCursor: null });
  });

  it('listing every page returns every goods exactly once, in id order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 45 }), fc.integer({ min: 1, max: 12 }), async (count, limit) => {
        const d = tempDir();
        // NORMAL: 25 runs of up to 45 inserts; one fsync each would dominate and durability is not under test.
        const s = GoodsStore.open(d.file('goods.db'), { synchronous: 'NORMAL' });
        try {
          const created = [];
          for (let i = 0; i < count; i++) created.push(await s.create({ name: `item ${i}`, price: i * 10, stock: i }));
          const seen = [];
          let cursor: string | undefined;
          let pages = 0;
          do {
            const page = await s.list(cursor === undefined ? { limit } : { limit, cursor });
            expect(page.items.length).toBeLessThanOrEqual(limit);
            if (page.nextCursor !== null) expect(page.items.length).toBe(limit);
            seen.push(...page.items);
            cursor = page.nextCursor ?? undefined;
            pages++;
            expect(pages).toBeLessThanOrEqual(count + 1);
          } while (cursor !== undefined);
          const ids = seen.map((g) => g.id);
          expect(ids).toEqual([...ids].sort());
          expect(new Set(ids).size).toBe(ids.length);
          // Ids are generated in increasing order, so id order is creation order here.
          expect(seen).toEqual(created);
          expect(pages).toBe(Math.max(1, Math.ceil(count / limit)));
        } finally {
          await s.close();
          d.remove();
        }
      }),
      { numRuns: 25 },
    );
  });

  it('default page size is 20', async () => {
    for (let i = 0; i < 25; i++) await store.create({ name: `g${i}`, price: 1, stock: 1 });
    const first = await store.list();
    expect(first.items).toHaveLength(20);
    const second = await store.list({ cursor: first.nextCursor! });
    expect(second.items).toHaveLength(5);
    expect(second.nextCursor).toBeNull();
  });
});
