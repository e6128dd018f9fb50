// ServiceDb's group commit (src/shop/common/sqlite-driver.ts): many writes of one turn share one
// COMMIT, each stays atomic on its own, nothing is answered before it is durable, and kysely's
// own transactions keep the handle to themselves.
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ServiceDb, type Migration } from '../../src/shop/common/sqlite.js';
import { tempDir, type TempDir } from './helpers.js';

interface Tables {
  account: { id: string; balance: number };
  log: { seq: number; what: string };
}

const migrations: Migration[] = [
  {
    version: 1,
    name: 'accounts',
    statements: [
      'CREATE TABLE account (id TEXT PRIMARY KEY, balance INTEGER NOT NULL CHECK (balance >= 0)) STRICT',
      'CREATE TABLE log (seq INTEGER PRIMARY KEY, what TEXT NOT NULL) STRICT',
    ],
  },
];

describe('ServiceDb group commit', () => {
  let dir: TempDir;
  let db: ServiceDb<Tables>;
  beforeEach(() => {
    dir = tempDir();
    db = ServiceDb.open<Tables>(dir.file('svc.db'), migrations);
  });
  afterEach(async () => {
    await db.close();
    dir.remove();
  });

  it('writes submitted in one turn share one commit, and every one is answered after it', async () => {
    const before = db.commitStats;
    const k = db.kysely;
    const writes = Array.from({ length: 50 }, (_, i) =>
      i % 2 === 0
        ? db.transaction((q) => q.run(k.insertInto('account').values({ id: `a${i}`, balance: i })).changes)
        : k.insertInto('account').values({ id: `a${i}`, balance: i }).execute().then(() => 1),
    );
    expect(await Promise.all(writes)).toEqual(Array.from({ length: 50 }, () => 1));
    const after = db.commitStats;
    expect(after.writes - before.writes).toBe(50);
    expect(after.commits - before.commits).toBe(1);
    // Durable and visible to another connection (another process would open it the same way).
    const other = new Database(db.file, { readonly: true });
    try {
      expect((other.prepare('SELECT count(*) AS n FROM account').get() as { n: number }).n).toBe(50);
    } finally {
      other.close();
    }
  });

  it('a failing write rolls back alone; the others of its batch commit', async () => {
    const k = db.kysely;
    await k.insertInto('account').values({ id: 'x', balance: 10 }).execute();
    const results = await Promise.allSettled([
      db.transaction((q) => q.run(k.insertInto('log').values({ seq: 1, what: 'first' }))),
      db.transaction((q) => {
        // Two statements: the first applies, the second breaks the CHECK; both must be undone.
        q.run(k.insertInto('log').values({ seq: 2, what: 'half' }));
        q.run(k.updateTable('account').set({ balance: -1 }).where('id', '=', 'x'));
      }),
      k.insertInto('account').values({ id: 'x', balance: 1 }).execute(), // duplicate key
      db.transaction((q) => q.run(k.insertInto('log').values({ seq: 3, what: 'third' }))),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/CHECK constraint/);
    expect(String((results[2] as PromiseRejectedResult).reason)).toMatch(/UNIQUE constraint/);
    const log = await k.selectFrom('log').select(['seq', 'what']).orderBy('seq').execute();
    expect(log).toEqual([
      { seq: 1, what: 'first' },
      { seq: 3, what: 'third' },
    ]);
    expect(await k.selectFrom('account').select('balance').where('id', '=', 'x').executeTakeFirstOrThrow()).toEqual({ balance: 10 });
  });

  it('a write that returns rows (RETURNING) is group-committed and answers its rows', async () => {
    const k = db.kysely;
    await k.insertInto('account').values({ id: 'r', balance: 5 }).execute();
    const before = db.commitStats.commits;
    const [a, b] = await Promise.all([
      k.updateTable('account').set((eb) => ({ balance: eb('balance', '+', 1) })).where('id', '=', 'r').returning('balance').executeTakeFirstOrThrow(),
      k.updateTable('account').set((eb) => ({ balance: eb('balance', '+', 1) })).where('id', '=', 'r').returning('balance').executeTakeFirstOrThrow(),
    ]);
    expect([a.balance, b.balance]).toEqual([6, 7]);
    expect(db.commitStats.commits - before).toBe(1);
  });

  it('a kysely transaction keeps the handle: batched writes and reads wait for it, and its rollback undoes only its own writes', async () => {
    const k = db.kysely;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let inside!: () => void;
    const opened = new Promise<void>((resolve) => (inside = resolve));
    const trx = k.transaction().execute(async (t) => {
      await t.insertInto('log').values({ seq: 10, what: 'in trx' }).execute();
      inside();
      await gate;
      throw new Error('roll it back');
    });
    await opened;
    // Submitted while the transaction is open: must not land inside it (its rollback would undo them).
    const outside = db.transaction((q) => q.run(k.insertInto('log').values({ seq: 11, what: 'outside' })));
    const read = k.selectFrom('log').select('seq').execute();
    let settled = false;
    void Promise.all([outside, read]).then(() => (settled = true));
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    release();
    await expect(trx).rejects.toThrow('roll it back');
    await outside;
    // The read waited for the transaction's end, so it never saw its uncommitted row.
    expect((await read).map((r) => r.seq)).not.toContain(10);
    expect((await k.selectFrom('log').select('seq').orderBy('seq').execute()).map((r) => r.seq)).toEqual([11]);
  });

  it('a kysely transaction that commits keeps its writes; savepoints (nested transactions) work inside it', async () => {
    const k = db.kysely;
    const trx = await k.startTransaction().execute();
    await trx.insertInto('log').values({ seq: 20, what: 'outer' }).execute();
    const sp = await trx.savepoint('inner').execute();
    await sp.insertInto('log').values({ seq: 21, what: 'inner' }).execute();
    await sp.rollbackToSavepoint('inner').execute();
    await trx.commit().execute();
    expect((await k.selectFrom('log').select('seq').execute()).map((r) => r.seq)).toEqual([20]);
  });

  it('an async fn is refused and writes nothing', async () => {
    const k = db.kysely;
    await expect(
      db.transaction(((q: Parameters<Parameters<typeof db.transaction>[0]>[0]) => {
        q.run(k.insertInto('log').values({ seq: 30, what: 'async' }));
        return Promise.resolve();
      }) as never),
    ).rejects.toThrow(/synchronous/);
    expect(await k.selectFrom('log').select('seq').execute()).toEqual([]);
  });

  it('while another process holds the write lock, the event loop keeps running and the writes commit once it is free', async () => {
    const other = new Database(db.file);
    try {
      other.exec('BEGIN IMMEDIATE');
      const k = db.kysely;
      const write = db.transaction((q) => q.run(k.insertInto('log').values({ seq: 40, what: 'waited' })).changes);
      let done = false;
      void write.then(() => (done = true));
      // Timers fire meanwhile: SQLite's busy handler is not sleeping on this thread.
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 2));
      expect(done).toBe(false);
      expect(db.commitStats.busyRetries).toBeGreaterThan(0);
      other.exec('COMMIT');
      expect(await write).toBe(1);
      expect((await k.selectFrom('log').select('seq').execute()).map((r) => r.seq)).toEqual([40]);
    } finally {
      if (other.inTransaction) other.exec('ROLLBACK');
      other.close();
    }
  });
});

describe('ServiceDb group commit with a short busy timeout', () => {
  it('writes fail with SQLITE_BUSY once the lock stays taken past busyTimeoutMs, and the next ones succeed', async () => {
    const dir = tempDir();
    const db = ServiceDb.open<Tables>(dir.file('svc.db'), migrations, { busyTimeoutMs: 30 });
    const other = new Database(db.file);
    try {
      other.exec('BEGIN IMMEDIATE');
      const k = db.kysely;
      await expect(k.insertInto('log').values({ seq: 50, what: 'too late' }).execute()).rejects.toMatchObject({ code: 'SQLITE_BUSY' });
      other.exec('COMMIT');
      await k.insertInto('log').values({ seq: 51, what: 'fine' }).execute();
      expect((await k.selectFrom('log').select('seq').execute()).map((r) => r.seq)).toEqual([51]);
    } finally {
      if (other.inTransaction) other.exec('ROLLBACK');
      other.close();
      await db.close();
      dir.remove();
    }
  });
});
