// The SQLite participant helpers on their own: barrier-backed prepare / commit / abort, their
// repeats, an abort before the prepare, and the guards against misuse.
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { abortSqlite, commitSqlite, inDoubtSqlite, migrateTwoPcSqlite, prepareSqlite, preparedRow } from '../../src/txn/twopc/index.js';

function fresh(): Database.Database {
  const db = new Database(':memory:');
  migrateTwoPcSqlite(db);
  migrateTwoPcSqlite(db); // idempotent
  return db;
}

const p = { gid: 'g-1', branch: 'stock' };

describe('SQLite 2PC participant helpers', () => {
  it('prepare → commit returns the resources once; repeats are duplicates', () => {
    const db = fresh();
    expect(db.transaction(() => prepareSqlite(db, p, { sku: 'a', qty: 2 }, 1000))()).toBe('proceed');
    expect(db.transaction(() => prepareSqlite(db, p, { sku: 'a', qty: 2 }, 2000))()).toBe('duplicate');
    expect(preparedRow(db, p)).toEqual({ ...p, resources: { sku: 'a', qty: 2 }, state: 'prepared', preparedAt: 1000 });
    expect(inDoubtSqlite(db, 999)).toEqual([]);
    expect(inDoubtSqlite(db, 1000).map((r) => r.branch)).toEqual(['stock']);
    expect(db.transaction(() => commitSqlite(db, p))()).toEqual({ sku: 'a', qty: 2 });
    expect(db.transaction(() => commitSqlite(db, p))()).toBeNull();
    expect(db.transaction(() => prepareSqlite(db, p, { sku: 'a', qty: 2 }))()).toBe('duplicate');
    expect(() => db.transaction(() => abortSqlite(db, p))()).toThrow(/committed/);
    expect(inDoubtSqlite(db, Date.now())).toEqual([]);
  });

  it('prepare → abort returns the resources once; a later prepare is refused', () => {
    const db = fresh();
    db.transaction(() => prepareSqlite(db, p, [1, 2]))();
    expect(db.transaction(() => abortSqlite(db, p))()).toEqual([1, 2]);
    expect(db.transaction(() => abortSqlite(db, p))()).toBeNull();
    expect(db.transaction(() => prepareSqlite(db, p, [1, 2]))()).toBe('aborted-before');
    expect(() => db.transaction(() => commitSqlite(db, p))()).toThrow(/aborted|not prepared/);
    expect(preparedRow(db, p)?.state).toBe('aborted');
  });

  it('abort before prepare is a null compensation that bars the late prepare', () => {
    const db = fresh();
    expect(db.transaction(() => abortSqlite(db, p))()).toBeNull();
    expect(db.transaction(() => prepareSqlite(db, p, { x: 1 }))()).toBe('aborted-before');
    expect(preparedRow(db, p)).toBeUndefined();
  });

  it('a refused prepare (the business change throws) leaves no trace, so its abort is a null compensation', () => {
    const db = fresh();
    expect(() => db.transaction(() => {
      prepareSqlite(db, p, { x: 1 });
      throw new Error('out of stock');
    })()).toThrow(/out of stock/);
    expect(preparedRow(db, p)).toBeUndefined();
    expect(db.transaction(() => abortSqlite(db, p))()).toBeNull();
  });

  it('guards: outside a transaction, commit before prepare, null resources, bad ids', () => {
    const db = fresh();
    expect(() => prepareSqlite(db, p, { x: 1 })).toThrow(/inside/);
    expect(() => db.transaction(() => commitSqlite(db, p))()).toThrow(/before it was prepared/);
    expect(() => db.transaction(() => prepareSqlite(db, p, null))()).toThrow(/must not be null/);
    expect(() => db.transaction(() => prepareSqlite(db, { gid: 'bad gid', branch: 'x' }, { x: 1 }))()).toThrow(/gid/);
    // The failed commit rolled back its barrier row: a real prepare and commit still work.
    db.transaction(() => prepareSqlite(db, p, { x: 1 }))();
    expect(db.transaction(() => commitSqlite(db, p))()).toEqual({ x: 1 });
  });
});
