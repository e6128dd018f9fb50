// users.debit / users.refund on the store: conditional debit, once per requestId, refunds that
// give back exactly the debit once, and refunds that overtake their debit (tombstones).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isShoalError } from '../../src/index.js';
import { ServiceDb } from '../../src/shop/common/index.js';
import { MAX_DEBIT_CENTS, MAX_WALLET_CENTS, User, UsersStore, usersMigrations, type UsersDatabase } from '../../src/shop/users/index.js';
import { CHEAP_HASH, tempDir, type TempDir } from './helpers.js';

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

let n = 0;
async function userWith(store: UsersStore, wallet: number): Promise<User> {
  const u = await store.create({ name: 'Payer', email: `payer${n++}@example.com`, password: 'payer password', address: '', phone: '12345' });
  return wallet > 0 ? store.deposit({ id: u.id, amount: wallet }) : u;
}

describe('UsersStore debit and refund', () => {
  let dir: TempDir;
  let store: UsersStore;
  beforeEach(() => {
    dir = tempDir();
    store = UsersStore.open(dir.file('users.db'), { hash: CHEAP_HASH });
  });
  afterEach(async () => {
    await store.close();
    dir.remove();
  });

  it('debits while the wallet holds enough, else INSUFFICIENT_FUNDS with wallet and amount, nothing taken', async () => {
    const u = await userWith(store, 100);
    const after = await store.debit({ id: u.id, amount: 60, requestId: 'd1' });
    expect(User.parse(after)).toEqual(after);
    expect(after.wallet).toBe(40);
    const err = await failure(store.debit({ id: u.id, amount: 41, requestId: 'd2' }));
    expect(err).toMatchObject({ code: 'INSUFFICIENT_FUNDS', retryable: false, details: { wallet: 40, amount: 41 } });
    expect((await store.get({ id: u.id })).wallet).toBe(40);
    // A refused debit leaves no record: once the money is there, the same requestId works.
    await store.deposit({ id: u.id, amount: 1 });
    expect((await store.debit({ id: u.id, amount: 41, requestId: 'd2' })).wallet).toBe(0);
  });

  it('validates input; NOT_FOUND for an unknown user on debit and refund', async () => {
    const u = await userWith(store, 10);
    for (const bad of [
      { id: u.id, amount: 0, requestId: 'r' },
      { id: u.id, amount: 1.5, requestId: 'r' },
      { id: u.id, amount: MAX_DEBIT_CENTS + 1, requestId: 'r' },
      { id: u.id, amount: 1 },
      { id: u.id, amount: 1, requestId: '' },
      { id: u.id, amount: 1, requestId: 'x'.repeat(129) },
    ]) {
      expect((await failure(store.debit(bad as never))).code).toBe('INVALID_ARGUMENT');
    }
    expect((await failure(store.refund({ id: u.id } as never))).code).toBe('INVALID_ARGUMENT');
    expect((await failure(store.debit({ id: 'u_missing', amount: 1, requestId: 'r' }))).code).toBe('NOT_FOUND');
    expect((await failure(store.refund({ id: 'u_missing', requestId: 'r' }))).code).toBe('NOT_FOUND');
    expect((await store.get({ id: u.id })).wallet).toBe(10);
    expect(await store.db.kysely.selectFrom('debit_requests').selectAll().execute()).toEqual([]);
  });

  it('a repeated requestId is applied once; another amount is IDEMPOTENCY_CONFLICT', async () => {
    const u = await userWith(store, 100);
    expect((await store.debit({ id: u.id, amount: 30, requestId: 'order-1' })).wallet).toBe(70);
    expect((await store.debit({ id: u.id, amount: 30, requestId: 'order-1' })).wallet).toBe(70);
    const repeats = await Promise.all(Array.from({ length: 6 }, () => store.debit({ id: u.id, amount: 30, requestId: 'order-1' })));
    for (const r of repeats) expect(r.wallet).toBe(70);
    const conflict = await failure(store.debit({ id: u.id, amount: 31, requestId: 'order-1' }));
    expect(conflict).toMatchObject({ code: 'IDEMPOTENCY_CONFLICT', retryable: false });
    expect((await store.get({ id: u.id })).wallet).toBe(70);
    // Scoped per user: another user's debit with the same requestId is its own.
    const v = await userWith(store, 50);
    expect((await store.debit({ id: v.id, amount: 31, requestId: 'order-1' })).wallet).toBe(19);
    expect((await store.get({ id: u.id })).wallet).toBe(70);
  });

  it('20 concurrent debits of 10 on a wallet of 100, over two connections: exactly 10 succeed', async () => {
    const other = UsersStore.open(dir.file('users.db'), { hash: CHEAP_HASH });
    try {
      const u = await userWith(store, 100);
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? store : other).debit({ id: u.id, amount: 10, requestId: `c${i}` })),
      );
      const ok = results.filter((r) => r.status === 'fulfilled');
      expect(ok).toHaveLength(10);
      for (const r of ok) expect(r.value.wallet).toBeGreaterThanOrEqual(0);
      // Each success saw a different balance: the debits were serialised, not lost.
      expect(new Set(ok.map((r) => r.value.wallet))).toEqual(new Set([90, 80, 70, 60, 50, 40, 30, 20, 10, 0]));
      for (const r of results) if (r.status === 'rejected') expect((r.reason as Failure).code).toBe('INSUFFICIENT_FUNDS');
      expect((await other.get({ id: u.id })).wallet).toBe(0);
      const rows = await store.db.kysely.selectFrom('debit_requests').select('amount').where('user_id', '=', u.id).execute();
      expect(rows).toHaveLength(10);
    } finally {
      await other.close();
    }
  });

  it('refund gives back exactly the debited amount, once, even when repeated concurrently', async () => {
    const u = await userWith(store, 100);
    await store.debit({ id: u.id, amount: 25, requestId: 'd' });
    await store.debit({ id: u.id, amount: 5, requestId: 'e' });
    const refunds = await Promise.all(Array.from({ length: 5 }, () => store.refund({ id: u.id, requestId: 'd' })));
    for (const r of refunds) expect(r.wallet).toBe(95);
    expect((await store.refund({ id: u.id, requestId: 'd' })).wallet).toBe(95);
    expect((await store.get({ id: u.id })).wallet).toBe(95);
    // The refunded debit is no longer in effect: repeating it is refused, not reported as done.
    expect((await failure(store.debit({ id: u.id, amount: 25, requestId: 'd' }))).code).toBe('ALREADY_REFUNDED');
    expect((await store.get({ id: u.id })).wallet).toBe(95);
  });

  it('a refund before its debit leaves a tombstone: the late debit is ALREADY_REFUNDED and takes nothing', async () => {
    const u = await userWith(store, 100);
    const early = await store.refund({ id: u.id, requestId: 'late' });
    expect(early.wallet).toBe(100);
    expect((await store.refund({ id: u.id, requestId: 'late' })).wallet).toBe(100);
    const err = await failure(store.debit({ id: u.id, amount: 10, requestId: 'late' }));
    expect(err).toMatchObject({ code: 'ALREADY_REFUNDED', retryable: false, details: { requestId: 'late' } });
    expect((await store.get({ id: u.id })).wallet).toBe(100);
    const row = await store.db.kysely.selectFrom('debit_requests').selectAll().where('request_id', '=', 'late').executeTakeFirstOrThrow();
    expect(row).toMatchObject({ state: 'voided', amount: null });
  });

  it('the schema refuses illegal changes of a debit record whatever the code path', async () => {
    const u = await userWith(store, 100);
    await store.debit({ id: u.id, amount: 10, requestId: 'a' });
    await store.refund({ id: u.id, requestId: 'b' });
    const k = store.db.kysely;
    const where = (r: string) => k.updateTable('debit_requests').where('user_id', '=', u.id).where('request_id', '=', r);
    await expect(where('a').set({ amount: 20 }).execute()).rejects.toThrow(/only debited -> refunded/);
    await expect(where('b').set({ state: 'debited', amount: 10 }).execute()).rejects.toThrow(/only debited -> refunded/);
    await expect(
      k.insertInto('debit_requests').values({ user_id: u.id, request_id: 'c', state: 'voided', amount: 5, created_at: 1, updated_at: 1 }).execute(),
    ).rejects.toThrow(/CHECK constraint/);
    await expect(
      k.insertInto('debit_requests').values({ user_id: u.id, request_id: 'c', state: 'debited', amount: null, created_at: 1, updated_at: 1 }).execute(),
    ).rejects.toThrow(/CHECK constraint/);
    await expect(k.updateTable('users').set((eb) => ({ wallet: eb('wallet', '-', 91) })).where('id', '=', u.id).execute()).rejects.toThrow(
      /CHECK constraint/,
    );
  });

  it('deposits keep room under the ceiling for every outstanding debit, so a refund always fits', async () => {
    const u = await userWith(store, 100);
    await store.debit({ id: u.id, amount: 40, requestId: 'd' });
    await store.db.kysely.updateTable('users').set({ wallet: MAX_WALLET_CENTS - 50 }).where('id', '=', u.id).execute();
    expect((await failure(store.deposit({ id: u.id, amount: 11 }))).code).toBe('WALLET_LIMIT');
    expect((await store.deposit({ id: u.id, amount: 10 })).wallet).toBe(MAX_WALLET_CENTS - 40);
    expect((await store.refund({ id: u.id, requestId: 'd' })).wallet).toBe(MAX_WALLET_CENTS);
  });

  it('migrates a version-1 file: users and deposits kept, debits available', async () => {
    const file = dir.file('old.db');
    const v1 = ServiceDb.open<UsersDatabase>(file, usersMigrations.slice(0, 1));
    expect(v1.schemaVersion()).toBe(1);
    await v1.close();
    const old = UsersStore.open(file, { hash: CHEAP_HASH });
    try {
      expect(old.db.schemaVersion()).toBe(usersMigrations.length);
      const u = await userWith(old, 20);
      expect((await old.debit({ id: u.id, amount: 20, requestId: 'x' })).wallet).toBe(0);
    } finally {
      await old.close();
    }
  });
});

type WalletOp = { t: 'deposit'; amount: number } | { t: 'debit'; req: number; amount: number } | { t: 'refund'; req: number };

const walletOp: fc.Arbitrary<WalletOp> = fc.oneof(
  fc.record({ t: fc.constant('deposit' as const), amount: fc.integer({ min: 1, max: 60 }) }),
  fc.record({ t: fc.constant('debit' as const), req: fc.integer({ min: 0, max: 3 }), amount: fc.integer({ min: 1, max: 60 }) }),
  fc.record({ t: fc.constant('refund' as const), req: fc.integer({ min: 0, max: 3 }) }),
);

describe('wallet conservation (property)', () => {
  async function withStores(count: number, body: (stores: UsersStore[], user: User) => Promise<void>): Promise<void> {
    const d = tempDir();
    // NORMAL: many short runs; durability is not under test.
    const stores = Array.from({ length: count }, () => UsersStore.open(d.file('users.db'), { hash: CHEAP_HASH, synchronous: 'NORMAL' }));
    try {
      const user = await userWith(stores[0]!, 0);
      await body(stores, user);
    } finally {
      for (const s of stores) await s.close();
      d.remove();
    }
  }

  it('in sequence every op gives exactly the model’s answer, and wallet = deposits − debits + refunds ≥ 0', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(walletOp, { maxLength: 40 }), async (ops) => {
        await withStores(1, async ([store], user) => {
          let wallet = 0;
          let deposits = 0;
          let debits = 0;
          let refunds = 0;
          const seen = new Map<string, { state: 'debited' | 'refunded' | 'voided'; amount: number }>();
          for (const op of ops) {
            const id = user.id;
            if (op.t === 'deposit') {
              wallet += op.amount;
              deposits += op.amount;
              expect((await store!.deposit({ id, amount: op.amount })).wallet).toBe(wallet);
            } else if (op.t === 'debit') {
              const requestId = `r${op.req}`;
              const prior = seen.get(requestId);
              const call = store!.debit({ id, amount: op.amount, requestId });
              if (prior?.state === 'voided') expect((await failure(call)).code).toBe('ALREADY_REFUNDED');
              else if (prior && prior.amount !== op.amount) expect((await failure(call)).code).toBe('IDEMPOTENCY_CONFLICT');
              else if (prior?.state === 'refunded') expect((await failure(call)).code).toBe('ALREADY_REFUNDED');
              else if (prior) expect((await call).wallet).toBe(wallet);
              else if (wallet < op.amount) expect((await failure(call)).details).toEqual({ wallet, amount: op.amount });
              else {
                wallet -= op.amount;
                debits += op.amount;
                seen.set(requestId, { state: 'debited', amount: op.amount });
                expect((await call).wallet).toBe(wallet);
              }
            } else {
              const requestId = `r${op.req}`;
              const prior = seen.get(requestId);
              if (!prior) seen.set(requestId, { state: 'voided', amount: 0 });
              else if (prior.state === 'debited') {
                wallet += prior.amount;
                refunds += prior.amount;
                seen.set(requestId, { state: 'refunded', amount: prior.amount });
              }
              expect((await store!.refund({ id, requestId })).wallet).toBe(wallet);
            }
            expect(wallet).toBe(deposits - debits + refunds);
            expect(wallet).toBeGreaterThanOrEqual(0);
          }
          expect((await store!.get({ id: user.id })).wallet).toBe(deposits - debits + refunds);
        });
      }),
      { numRuns: 40 },
    );
  });

  it('interleaved over two connections, the wallet equals deposits − debits still in effect, and never goes negative', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(walletOp, { maxLength: 40 }), async (ops) => {
        await withStores(2, async (stores, user) => {
          const id = user.id;
          const outcomes = await Promise.allSettled(
            ops.map((op, i) => {
              const s = stores[i % 2]!;
              if (op.t === 'deposit') return s.deposit({ id, amount: op.amount });
              if (op.t === 'debit') return s.debit({ id, amount: op.amount, requestId: `r${op.req}` });
              return s.refund({ id, requestId: `r${op.req}` });
            }),
          );
          for (const o of outcomes) {
            if (o.status === 'fulfilled') expect(o.value.wallet).toBeGreaterThanOrEqual(0);
            else expect(['INSUFFICIENT_FUNDS', 'IDEMPOTENCY_CONFLICT', 'ALREADY_REFUNDED']).toContain((o.reason as Failure).code);
          }
          const deposits = ops.reduce((sum, op) => sum + (op.t === 'deposit' ? op.amount : 0), 0);
          const rows = await stores[0]!.db.kysely.selectFrom('debit_requests').selectAll().where('user_id', '=', id).execute();
          const inEffect = rows.reduce((sum, r) => sum + (r.state === 'debited' ? r.amount! : 0), 0);
          const wallet = (await stores[1]!.get({ id })).wallet;
          expect(wallet).toBe(deposits - inEffect);
          expect(wallet).toBeGreaterThanOrEqual(0);
          // Every record matches what callers were told.
          for (const r of rows) {
            const debitsOk = ops.flatMap((op, i) =>
              op.t === 'debit' && `r${op.req}` === r.request_id && outcomes[i]!.status === 'fulfilled' ? [op.amount] : [],
            );
            if (r.state === 'voided') expect(debitsOk).toEqual([]);
            else expect(debitsOk.length === 0 || debitsOk.every((a) => a === r.amount)).toBe(true);
            if (r.state !== 'debited') expect(ops.some((op) => op.t === 'refund' && `r${op.req}` === r.request_id)).toBe(true);
          }
        });
      }),
      { numRuns: 25 },
    );
  });
});
