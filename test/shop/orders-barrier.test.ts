// The participants' new branch actions on the stores (no runtime): every saga and 2PC branch is
// behind the barrier (src/txn) in the same local transaction as its stock or wallet change, so
// duplicates do nothing, a compensation (abort) that overtakes its action (prepare) does nothing
// and blocks it, and an action after its compensation is refused — the barrier anomalies.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isShoalError } from '../../src/index.js';
import { GoodsStore, type Goods } from '../../src/shop/goods/index.js';
import { UsersStore, type User } from '../../src/shop/users/index.js';
import { CHEAP_HASH, tempDir, type TempDir } from './helpers.js';

async function codeOf(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isShoalError(err), `expected a ShoalError, got ${String(err)}`).toBe(true);
  return (err as { code: string }).code;
}

const branch = (gid: string, name = '01-reserve') => ({ gid, branch: name });

describe('goods: saga branches behind the barrier', () => {
  let dir: TempDir;
  let store: GoodsStore;
  let g: Goods;
  beforeEach(async () => {
    dir = tempDir();
    store = GoodsStore.open(dir.file('goods.db'));
    g = await store.create({ name: 'Tea', price: 250, stock: 10 });
  });
  afterEach(async () => {
    await store.close();
    dir.remove();
  });
  const stock = async () => (await store.get({ id: g.id })).stock;

  it('a duplicate action takes stock once; a duplicate compensation puts it back once', async () => {
    expect(await store.sagaReserve({ ...branch('o_1'), id: g.id, qty: 3 })).toEqual({ goodsId: g.id, qty: 3, applied: true, stock: 7 });
    expect(await store.sagaReserve({ ...branch('o_1'), id: g.id, qty: 3 })).toEqual({ goodsId: g.id, qty: 0, applied: false, stock: 7 });
    expect(await stock()).toBe(7);
    expect(await store.sagaRelease({ ...branch('o_1'), id: g.id })).toEqual({ goodsId: g.id, qty: 3, applied: true, stock: 10 });
    expect(await store.sagaRelease({ ...branch('o_1'), id: g.id })).toEqual({ goodsId: g.id, qty: 0, applied: false, stock: 10 });
    expect(await stock()).toBe(10);
  });

  it('a compensation before its action is a null compensation, and the late action is refused (no hanging)', async () => {
    expect(await store.sagaRelease({ ...branch('o_2'), id: g.id })).toEqual({ goodsId: g.id, qty: 0, applied: false, stock: 10 });
    expect(await codeOf(store.sagaReserve({ ...branch('o_2'), id: g.id, qty: 4 }))).toBe('BRANCH_COMPENSATED');
    expect(await stock()).toBe(10);
    // Still refused on a retry, and another branch of the same gid is unaffected.
    expect(await codeOf(store.sagaReserve({ ...branch('o_2'), id: g.id, qty: 4 }))).toBe('BRANCH_COMPENSATED');
    expect((await store.sagaReserve({ ...branch('o_2', '02-reserve'), id: g.id, qty: 1 })).stock).toBe(9);
  });

  it('an action after its compensation is refused and takes nothing', async () => {
    await store.sagaReserve({ ...branch('o_3'), id: g.id, qty: 2 });
    await store.sagaRelease({ ...branch('o_3'), id: g.id });
    expect(await codeOf(store.sagaReserve({ ...branch('o_3'), id: g.id, qty: 2 }))).toBe('BRANCH_COMPENSATED');
    expect(await stock()).toBe(10);
  });

  it('a refused action (OUT_OF_STOCK) leaves no barrier row: its compensation is a null compensation', async () => {
    expect(await codeOf(store.sagaReserve({ ...branch('o_4'), id: g.id, qty: 11 }))).toBe('OUT_OF_STOCK');
    expect(await store.sagaRelease({ ...branch('o_4'), id: g.id })).toMatchObject({ qty: 0, applied: false, stock: 10 });
    expect(await stock()).toBe(10);
  });

  it('a compensation for unknown goods succeeds with nothing done (compensations must be able to end)', async () => {
    expect(await codeOf(store.sagaReserve({ ...branch('o_5'), id: 'g_missing', qty: 1 }))).toBe('NOT_FOUND');
    expect(await store.sagaRelease({ ...branch('o_5'), id: 'g_missing' })).toEqual({ goodsId: 'g_missing', qty: 0, applied: false, stock: 0 });
  });

  it('refuses a malformed gid or branch', async () => {
    expect(await codeOf(store.sagaReserve({ gid: 'has space', branch: 'b', id: g.id, qty: 1 }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(store.sagaRelease({ gid: 'o_6', branch: '', id: g.id }))).toBe('INVALID_ARGUMENT');
  });
});

describe('goods: 2PC branches', () => {
  let dir: TempDir;
  let store: GoodsStore;
  let g: Goods;
  beforeEach(async () => {
    dir = tempDir();
    store = GoodsStore.open(dir.file('goods.db'));
    g = await store.create({ name: 'Cup', price: 900, stock: 5 });
  });
  afterEach(async () => {
    await store.close();
    dir.remove();
  });
  const stock = async () => (await store.get({ id: g.id })).stock;
  const prepared = (gid: string) =>
    store.db.sqlite.prepare('SELECT state, resources FROM shoal_prepared WHERE gid = ?').all(gid) as { state: string; resources: string }[];

  it('prepare holds the stock once; commit makes it final once', async () => {
    expect(await store.prepareReserve({ ...branch('t_1'), id: g.id, qty: 2 })).toEqual({ goodsId: g.id, qty: 2, applied: true, stock: 3 });
    expect(await store.prepareReserve({ ...branch('t_1'), id: g.id, qty: 2 })).toMatchObject({ qty: 0, applied: false, stock: 3 });
    expect(prepared('t_1')).toEqual([{ state: 'prepared', resources: JSON.stringify({ id: g.id, qty: 2 }) }]);
    expect(await store.commitReserve({ ...branch('t_1'), id: g.id })).toEqual({ goodsId: g.id, qty: 2, applied: true, stock: 3 });
    expect(await store.commitReserve({ ...branch('t_1'), id: g.id })).toMatchObject({ qty: 0, applied: false });
    expect(prepared('t_1')[0]!.state).toBe('committed');
    expect(await stock()).toBe(3);
  });

  it('abort puts the held stock back once', async () => {
    await store.prepareReserve({ ...branch('t_2'), id: g.id, qty: 4 });
    expect(await stock()).toBe(1);
    expect(await store.abortReserve({ ...branch('t_2'), id: g.id })).toEqual({ goodsId: g.id, qty: 4, applied: true, stock: 5 });
    expect(await store.abortReserve({ ...branch('t_2'), id: g.id })).toMatchObject({ qty: 0, applied: false, stock: 5 });
    expect(prepared('t_2')[0]!.state).toBe('aborted');
  });

  it('an abort before the prepare is a no-op, and the late prepare is refused', async () => {
    expect(await store.abortReserve({ ...branch('t_3'), id: g.id })).toMatchObject({ qty: 0, applied: false, stock: 5 });
    expect(await codeOf(store.prepareReserve({ ...branch('t_3'), id: g.id, qty: 1 }))).toBe('BRANCH_COMPENSATED');
    expect(await stock()).toBe(5);
    expect(prepared('t_3')).toEqual([]);
  });

  it('OUT_OF_STOCK refuses the prepare and leaves nothing prepared', async () => {
    expect(await codeOf(store.prepareReserve({ ...branch('t_4'), id: g.id, qty: 6 }))).toBe('OUT_OF_STOCK');
    expect(prepared('t_4')).toEqual([]);
    expect(await store.abortReserve({ ...branch('t_4'), id: g.id })).toMatchObject({ applied: false, stock: 5 });
  });
});

describe('users: saga and 2PC branches behind the barrier', () => {
  let dir: TempDir;
  let store: UsersStore;
  let u: User;
  beforeEach(async () => {
    dir = tempDir();
    store = UsersStore.open(dir.file('users.db'), { hash: CHEAP_HASH });
    u = await store.create({ name: 'Ann', email: 'ann@example.com', password: 'ann password', address: '', phone: '5550100' });
    await store.deposit({ id: u.id, amount: 1_000 });
  });
  afterEach(async () => {
    await store.close();
    dir.remove();
  });
  const wallet = async () => (await store.get({ id: u.id })).wallet;
  const debit = (name = '02-debit') => branch('o_9', name);

  it('saga: duplicate debit once, duplicate refund once', async () => {
    expect(await store.sagaDebit({ ...debit(), id: u.id, amount: 300 })).toEqual({ userId: u.id, amount: 300, applied: true, wallet: 700 });
    expect(await store.sagaDebit({ ...debit(), id: u.id, amount: 300 })).toMatchObject({ amount: 0, applied: false, wallet: 700 });
    expect(await store.sagaRefund({ ...debit(), id: u.id })).toEqual({ userId: u.id, amount: 300, applied: true, wallet: 1_000 });
    expect(await store.sagaRefund({ ...debit(), id: u.id })).toMatchObject({ amount: 0, applied: false, wallet: 1_000 });
  });

  it('saga: refund before debit, then the debit is refused; debit after refund is refused', async () => {
    expect(await store.sagaRefund({ ...debit('a'), id: u.id })).toMatchObject({ applied: false, wallet: 1_000 });
    expect(await codeOf(store.sagaDebit({ ...debit('a'), id: u.id, amount: 100 }))).toBe('BRANCH_COMPENSATED');
    await store.sagaDebit({ ...debit('b'), id: u.id, amount: 100 });
    await store.sagaRefund({ ...debit('b'), id: u.id });
    expect(await codeOf(store.sagaDebit({ ...debit('b'), id: u.id, amount: 100 }))).toBe('BRANCH_COMPENSATED');
    expect(await wallet()).toBe(1_000);
  });

  it('saga: INSUFFICIENT_FUNDS rolls the barrier back; its refund is a null compensation', async () => {
    expect(await codeOf(store.sagaDebit({ ...debit('c'), id: u.id, amount: 1_001 }))).toBe('INSUFFICIENT_FUNDS');
    expect(await store.sagaRefund({ ...debit('c'), id: u.id })).toMatchObject({ applied: false, wallet: 1_000 });
  });

  it('2PC: prepare holds once, abort gives back once, abort-before-prepare blocks the prepare, commit is final', async () => {
    expect(await store.prepareDebit({ ...debit('p'), id: u.id, amount: 400 })).toEqual({ userId: u.id, amount: 400, applied: true, wallet: 600 });
    expect(await store.prepareDebit({ ...debit('p'), id: u.id, amount: 400 })).toMatchObject({ applied: false, wallet: 600 });
    expect(await store.abortDebit({ ...debit('p'), id: u.id })).toEqual({ userId: u.id, amount: 400, applied: true, wallet: 1_000 });
    expect(await store.abortDebit({ ...debit('p'), id: u.id })).toMatchObject({ applied: false, wallet: 1_000 });

    expect(await store.abortDebit({ ...debit('q'), id: u.id })).toMatchObject({ applied: false });
    expect(await codeOf(store.prepareDebit({ ...debit('q'), id: u.id, amount: 1 }))).toBe('BRANCH_COMPENSATED');

    expect(await codeOf(store.prepareDebit({ ...debit('r'), id: u.id, amount: 5_000 }))).toBe('INSUFFICIENT_FUNDS');
    await store.prepareDebit({ ...debit('s'), id: u.id, amount: 250 });
    expect(await store.commitDebit({ ...debit('s'), id: u.id })).toMatchObject({ amount: 250, applied: true, wallet: 750 });
    expect(await store.commitDebit({ ...debit('s'), id: u.id })).toMatchObject({ amount: 0, applied: false, wallet: 750 });
    expect(await wallet()).toBe(750);
  });
});
