// The prepared-query helper of the shop's stores: a query compiled once and bound to
// new values must be the query kysely would compile for those values, byte for byte.
import { describe, expect, it } from 'vitest';
import { DummyDriver, Kysely, SqliteAdapter, SqliteIntrospector, SqliteQueryCompiler, type Compilable } from 'kysely';
import { prepare } from '../../src/shop/common/prepared.js';

interface Db {
  users: { id: string; wallet: number; name: string };
  requests: { user_id: string; request_id: string; state: string; amount: number | null; created_at: number; updated_at: number };
}

const k = new Kysely<Db>({
  dialect: {
    createAdapter: () => new SqliteAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new SqliteIntrospector(db),
    createQueryCompiler: () => new SqliteQueryCompiler(),
  },
});

function same(bound: Compilable<unknown>, fresh: Compilable<unknown>): void {
  const a = bound.compile();
  const b = fresh.compile();
  expect(a.sql).toBe(b.sql);
  expect(a.parameters).toEqual(b.parameters);
}

const debit = (id: string, amount: number) =>
  k
    .updateTable('users')
    .set((eb) => ({ wallet: eb('wallet', '-', amount) }))
    .where('id', '=', id)
    .where('wallet', '>=', amount)
    .returning(['id', 'wallet']);
const insert = (id: string, requestId: string, amount: number | null, now: number) =>
  k.insertInto('requests').values({ user_id: id, request_id: requestId, state: 'debited', amount, created_at: now, updated_at: now });
const finish = (id: string, state: string, now: number) =>
  k
    .updateTable('requests')
    .set((eb) => ({ state, updated_at: eb.fn('max', ['created_at', eb.val(now)]) }))
    .where('user_id', '=', id)
    .where('state', '=', 'debited');

describe('prepare', () => {
  it('binds arguments used twice, constants and function arguments exactly as a fresh compile does', () => {
    const pDebit = prepare(2, debit);
    const pInsert = prepare(4, insert);
    const pFinish = prepare(3, finish);
    for (const [id, amount, now] of [
      ['u_1', 1, 0],
      ['u_x', 999_999, 1_700_000_000_000],
    ] as const) {
      same(pDebit(id, amount), debit(id, amount));
      same(pInsert(id, `${id}/r`, amount, now), insert(id, `${id}/r`, amount, now));
      same(pInsert(id, 'r', null, now), insert(id, 'r', null, now));
      same(pFinish(id, 'refunded', now), finish(id, 'refunded', now));
    }
    // Each bound query is its own: binding again leaves an earlier one unchanged.
    const first = pDebit('a', 5);
    pDebit('b', 7);
    same(first, debit('a', 5));
  });

  it('refuses a query that does not take every argument as a parameter', () => {
    expect(() => prepare(2, (id: string, _unused: number) => k.selectFrom('users').select('wallet').where('id', '=', id))).toThrow(/argument 1 is not a parameter/);
  });
});
