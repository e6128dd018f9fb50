import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashPassword, isShoalError } from '../../src/index.js';
import { MAX_DEPOSIT_CENTS, MAX_WALLET_CENTS, User, UsersStore } from '../../src/shop/users/index.js';
import { CHEAP_HASH, tempDir, type TempDir } from './helpers.js';

const PASSWORD = 'correct horse battery';

async function failure(p: Promise<unknown>): Promise<{ code: string; retryable: boolean; message: string }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isShoalError(err), `expected a ShoalError, got ${String(err)}`).toBe(true);
  return err as { code: string; retryable: boolean; message: string };
}

/** Every string anywhere inside a value (results and errors must never carry a password or hash). */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (value instanceof Error) return [value.message, ...strings({ ...value })];
  if (typeof value === 'object' && value !== null) return Object.values(value).flatMap(strings);
  return [];
}

describe('UsersStore', () => {
  let dir: TempDir;
  let store: UsersStore;
  beforeEach(() => {
    dir = tempDir();
    store = UsersStore.open(dir.file('users.db'), { hash: CHEAP_HASH, now: () => Date.UTC(2026, 0, 2) });
  });
  afterEach(async () => {
    await store.close();
    dir.remove();
  });

  const alice = { name: 'Alice', email: 'Alice@Example.COM', password: PASSWORD, address: '1 Main St', phone: '+1 (555) 123-4567' };

  it('creates a user: lowercase email, empty wallet, role user, no password in the result', async () => {
    const u = await store.create(alice);
    expect(u).toEqual({
      id: expect.stringMatching(/^u_[0-9a-z]{26}$/),
      name: 'Alice',
      email: 'alice@example.com',
      address: '1 Main St',
      phone: '+1 (555) 123-4567',
      wallet: 0,
      role: 'user',
      createdAt: '2026-01-02T00:00:00.000Z',
    });
    expect(User.parse(u)).toEqual(u);
    expect(await store.get({ id: u.id })).toEqual(u);
    const row = await store.db.kysely.selectFrom('users').select('password_hash').where('id', '=', u.id).executeTakeFirstOrThrow();
    expect(row.password_hash).toMatch(/^scrypt\$1024\$8\$1\$/);
    expect(row.password_hash).not.toContain(PASSWORD);
  });

  it('a duplicate email (any case) is EMAIL_TAKEN, not retryable', async () => {
    await store.create(alice);
    const err = await failure(store.create({ ...alice, name: 'Other', email: 'alice@EXAMPLE.com' }));
    expect(err.code).toBe('EMAIL_TAKEN');
    expect(err.retryable).toBe(false);
    // Concurrent duplicates: exactly one wins (the UNIQUE constraint settles the race).
    const results = await Promise.allSettled([1, 2, 3].map((i) => store.create({ ...alice, email: 'bob@example.com', name: `B${i}` })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect((r.reason as { code: string }).code).toBe('EMAIL_TAKEN');
  });

  it('validates input itself (INVALID_ARGUMENT)', async () => {
    for (const bad of [
      { ...alice, name: '' },
      { ...alice, name: 'x'.repeat(101) },
      { ...alice, email: 'not-an-email' },
      { ...alice, email: `${'a'.repeat(250)}@x.io` },
      { ...alice, password: 'short' },
      { ...alice, password: 'p'.repeat(257) },
      { ...alice, address: 'a'.repeat(301) },
      { ...alice, phone: 'call me' },
      { ...alice, phone: '+1 555 123 4567 8901 2345' },
    ]) {
      expect((await failure(store.create(bad))).code).toBe('INVALID_ARGUMENT');
    }
    const count = await store.db.kysely.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(count.n).toBe(0);
  });

  it('authenticates the right password; wrong password and unknown email give the same error', async () => {
    const u = await store.create(alice);
    expect(await store.authenticate({ email: 'ALICE@example.com', password: PASSWORD })).toEqual({
      id: u.id,
      email: 'alice@example.com',
      role: 'user',
    });
    const wrong = await failure(store.authenticate({ email: 'alice@example.com', password: 'wrong password' }));
    const unknown = await failure(store.authenticate({ email: 'nobody@example.com', password: PASSWORD }));
    const empty = await failure(store.authenticate({ email: 'alice@example.com', password: '' }));
    for (const e of [wrong, unknown, empty]) {
      expect(e.code).toBe('INVALID_CREDENTIALS');
      expect(e.retryable).toBe(false);
      expect(e.message).toBe(wrong.message);
    }
  });

  it('an unknown email still costs a full scrypt verification (no fast path reveals accounts)', async () => {
    // The dummy hash uses the production cost (N=2^15); a cheap-cost account costs ~1 ms. Compared
    // in CPU time, not wall time: scrypt's work is the same however loaded the machine is, while
    // wall time on a shared 2-core machine is not.
    await store.create(alice);
    await store.authenticate({ email: 'warm@example.com', password: PASSWORD }).catch(() => undefined);
    const cpuMs = async (work: () => Promise<unknown>): Promise<number> => {
      const before = process.cpuUsage();
      await work();
      const used = process.cpuUsage(before);
      return (used.user + used.system) / 1000;
    };
    const fullCost = await cpuMs(() => hashPassword('calibrate me', {}));
    const unknownCost = await cpuMs(() => store.authenticate({ email: 'nobody@example.com', password: PASSWORD }).catch(() => undefined));
    const knownCheap = await cpuMs(() => store.authenticate({ email: alice.email, password: 'wrong password' }).catch(() => undefined));
    expect(unknownCost).toBeGreaterThan(fullCost * 0.5);
    expect(knownCheap).toBeLessThan(fullCost * 0.5); // the store's accounts use a cheap cost in tests: the check can fail
  });

  it('re-hashes a weaker hash on successful login', async () => {
    const weak = { params: { N: 2 ** 10, r: 8, p: 1 } };
    const strong = { params: { N: 2 ** 11, r: 8, p: 1 } };
    const u = await store.create(alice);
    await store.close();
    store = UsersStore.open(dir.file('users.db'), { hash: strong });
    const before = await store.db.kysely.selectFrom('users').select('password_hash').where('id', '=', u.id).executeTakeFirstOrThrow();
    expect(before.password_hash.startsWith(`scrypt$${weak.params.N}$`)).toBe(true);
    await store.authenticate({ email: alice.email, password: PASSWORD });
    const after = await store.db.kysely.selectFrom('users').select('password_hash').where('id', '=', u.id).executeTakeFirstOrThrow();
    expect(after.password_hash.startsWith(`scrypt$${strong.params.N}$`)).toBe(true);
    expect(await store.authenticate({ email: alice.email, password: PASSWORD })).toMatchObject({ id: u.id });
  });

  it('no returned object or error ever contains the password or its hash', async () => {
    const u = await store.create(alice);
    const { password_hash: hash } = await store.db.kysely
      .selectFrom('users')
      .select('password_hash')
      .where('id', '=', u.id)
      .executeTakeFirstOrThrow();
    const outputs: unknown[] = [
      u,
      await store.get({ id: u.id }),
      await store.authenticate({ email: alice.email, password: PASSWORD }),
      await store.deposit({ id: u.id, amount: 5 }),
      await store.ensureAdmin({ email: alice.email, password: PASSWORD, name: 'Admin' }),
      await store.ensureAdmin({ email: 'root@example.com', password: PASSWORD, name: 'Root' }),
      await failure(store.create(alice)),
      await failure(store.create({ ...alice, email: 'x@example.com', phone: 'nope' })),
      await failure(store.create({ ...alice, email: 'y@example.com', password: 'short' })),
      await failure(store.authenticate({ email: alice.email, password: 'not the password' })),
    ];
    for (const out of outputs) {
      for (const s of strings(out)) {
        expect(s).not.toContain(PASSWORD);
        expect(s).not.toContain('short');
        expect(s).not.toContain(hash);
        expect(s).not.toContain('scrypt$');
      }
      if (typeof out === 'object' && out !== null && !(out instanceof Error)) {
        expect(Object.keys(out)).not.toContain('password');
        expect(Object.keys(out)).not.toContain('password_hash');
      }
    }
  });

  it('NOT_FOUND for an unknown id on get and deposit', async () => {
    expect((await failure(store.get({ id: 'u_missing' }))).code).toBe('NOT_FOUND');
    expect((await failure(store.deposit({ id: 'u_missing', amount: 1 }))).code).toBe('NOT_FOUND');
    expect((await failure(store.deposit({ id: 'u_missing', amount: 1, requestId: 'r' }))).code).toBe('NOT_FOUND');
    const rows = await store.db.kysely.selectFrom('deposit_requests').selectAll().execute();
    expect(rows).toEqual([]);
  });

  it('deposit bounds: 1 … 100_000_000 integer cents', async () => {
    const u = await store.create(alice);
    for (const amount of [0, -1, 1.5, MAX_DEPOSIT_CENTS + 1, Number.NaN]) {
      expect((await failure(store.deposit({ id: u.id, amount }))).code).toBe('INVALID_ARGUMENT');
    }
    expect((await store.deposit({ id: u.id, amount: 1 })).wallet).toBe(1);
    expect((await store.deposit({ id: u.id, amount: MAX_DEPOSIT_CENTS })).wallet).toBe(MAX_DEPOSIT_CENTS + 1);
    expect((await store.get({ id: u.id })).wallet).toBe(MAX_DEPOSIT_CENTS + 1);
  });

  it('the wallet ceiling refuses a deposit instead of overflowing', async () => {
    const u = await store.create(alice);
    await store.db.kysely.updateTable('users').set({ wallet: MAX_WALLET_CENTS - 10 }).where('id', '=', u.id).execute();
    const err = await failure(store.deposit({ id: u.id, amount: 11 }));
    expect(err.code).toBe('WALLET_LIMIT');
    expect((await store.deposit({ id: u.id, amount: 10 })).wallet).toBe(MAX_WALLET_CENTS);
  });

  it('a requestId applies a deposit at most once, even when the repeats are concurrent', async () => {
    const u = await store.create(alice);
    const first = await store.deposit({ id: u.id, amount: 500, requestId: 'req-1' });
    expect(first.wallet).toBe(500);
    const again = await store.deposit({ id: u.id, amount: 500, requestId: 'req-1' });
    expect(again.wallet).toBe(500);
    const concurrent = await Promise.all(Array.from({ length: 8 }, () => store.deposit({ id: u.id, amount: 70, requestId: 'req-2' })));
    for (const r of concurrent) expect(r.wallet).toBe(570);
    // Without a requestId each call is a new deposit.
    await Promise.all([store.deposit({ id: u.id, amount: 1 }), store.deposit({ id: u.id, amount: 1 })]);
    expect((await store.get({ id: u.id })).wallet).toBe(572);
    // The same requestId with another amount is a client bug: refused, nothing applied.
    const conflict = await failure(store.deposit({ id: u.id, amount: 71, requestId: 'req-2' }));
    expect(conflict.code).toBe('IDEMPOTENCY_CONFLICT');
    expect((await store.get({ id: u.id })).wallet).toBe(572);
  });

  it('requestIds are scoped per user', async () => {
    const a = await store.create(alice);
    const b = await store.create({ ...alice, email: 'b@example.com' });
    await store.deposit({ id: a.id, amount: 10, requestId: 'same' });
    expect((await store.deposit({ id: b.id, amount: 20, requestId: 'same' })).wallet).toBe(20);
    expect((await store.get({ id: a.id })).wallet).toBe(10);
  });

  it('a failed deposit leaves no dedup record behind (the transaction rolls back as a whole)', async () => {
    const u = await store.create(alice);
    await store.db.kysely.updateTable('users').set({ wallet: MAX_WALLET_CENTS }).where('id', '=', u.id).execute();
    expect((await failure(store.deposit({ id: u.id, amount: 5, requestId: 'r' }))).code).toBe('WALLET_LIMIT');
    await store.db.kysely.updateTable('users').set({ wallet: 0 }).where('id', '=', u.id).execute();
    expect((await store.deposit({ id: u.id, amount: 5, requestId: 'r' })).wallet).toBe(5);
  });

  it('the CHECK constraints refuse a negative or fractional wallet whatever the code path', async () => {
    const u = await store.create(alice);
    const k = store.db.kysely;
    await expect(k.updateTable('users').set({ wallet: -1 }).where('id', '=', u.id).execute()).rejects.toThrow(/CHECK constraint/);
    await expect(k.updateTable('users').set((eb) => ({ wallet: eb('wallet', '-', 1) })).where('id', '=', u.id).execute()).rejects.toThrow(
      /CHECK constraint/,
    );
    await expect(k.updateTable('users').set({ wallet: 0.5 }).where('id', '=', u.id).execute()).rejects.toThrow(/cannot store REAL/);
    await expect(k.updateTable('users').set({ email: 'UPPER@example.com' }).where('id', '=', u.id).execute()).rejects.toThrow(
      /CHECK constraint/,
    );
    expect((await store.get({ id: u.id })).wallet).toBe(0);
  });

  it('ensureAdmin creates the admin once and then leaves the account alone', async () => {
    const creds = { email: 'Admin@Shop.test', password: PASSWORD, name: 'Admin' };
    const [a, b] = await Promise.all([store.ensureAdmin(creds), store.ensureAdmin(creds)]);
    expect(a).toEqual(b);
    expect(a).toMatchObject({ email: 'admin@shop.test', role: 'admin', wallet: 0, address: '', phone: '' });
    const again = await store.ensureAdmin({ ...creds, password: 'a different password', name: 'Renamed' });
    expect(again).toEqual(a);
    expect(await store.authenticate({ email: creds.email, password: PASSWORD })).toEqual({ id: a.id, email: a.email, role: 'admin' });
    // An ordinary user already holding the email is not promoted.
    const u = await store.create({ ...alice, email: 'owner@example.com' });
    expect(await store.ensureAdmin({ email: 'owner@example.com', password: PASSWORD, name: 'Admin' })).toEqual(u);
  });
});
