// Group commit for a service's SQLite handle, and the kysely dialect that routes its writes there.
//
// Why: with synchronous=FULL every COMMIT is an fsync of the WAL, and better-sqlite3 runs it on
// the event loop. One commit per write bounds a service by fsyncs/s — the orders service spent
// ~70% of its time in COMMITs (BENCHMARKS.md, Orders). Here every write submitted in one turn of
// the event loop is run in one BEGIN IMMEDIATE … COMMIT, each write inside its own SAVEPOINT (a
// single statement needs none: SQLite undoes a failing statement alone) so a failing one rolls
// back alone, and each caller is answered only after that COMMIT: the same
// durability and atomicity per write as before, one fsync per batch instead of per write.
//
// Reads run at once (WAL readers never wait for the writer). Kysely's own transactions
// (BEGIN … awaits … COMMIT, as the runtime's inbox uses) take the handle exclusively: batches and
// other kysely queries wait until they end, so nothing lands inside someone else's transaction.
import type Database from 'better-sqlite3';
import {
  SelectQueryNode,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
} from 'kysely';

/** Most writes one transaction takes; the rest go to the next batch. */
const MAX_BATCH = 512;
/** Prepared statements kept per handle (kysely compiles the same few SQL strings over and over). */
const STATEMENT_CACHE_SIZE = 256;

interface Pending {
  run: () => unknown;
  /** One statement is atomic by itself (SQLite undoes a failing statement alone); several need a savepoint. */
  savepoint: boolean;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * The one writer of a better-sqlite3 handle: batches synchronous write functions into group
 * commits, and keeps kysely transactions apart from them.
 */
export class GroupCommitter {
  readonly #raw: Database.Database;
  #queue: Pending[] = [];
  #scheduled = false;
  /** The kysely connection whose transaction is open on the handle, if any. */
  #holder: object | undefined;
  #holderWaiters: (() => void)[] = [];
  #closed = false;
  readonly #busyTimeoutMs: number;
  /** A retry of BEGIN after SQLITE_BUSY is scheduled: flushing waits for it. */
  #retryScheduled = false;
  /** When the current run of busy retries began. */
  #busyStarted: number | undefined;
  /** Statistics for tests and metrics: commits made, writes they carried, BEGINs found busy. */
  commits = 0;
  writes = 0;
  busyRetries = 0;

  /** Transaction control, prepared once (exec would compile the SQL on every batch). */
  readonly #sql: Record<'begin' | 'commit' | 'rollback' | 'savepoint' | 'release' | 'rollbackTo' | 'noWait' | 'wait', Database.Statement>;

  constructor(raw: Database.Database, busyTimeoutMs: number) {
    this.#raw = raw;
    this.#busyTimeoutMs = busyTimeoutMs;
    const prepare = (sql: string): Database.Statement => raw.prepare(sql);
    this.#sql = {
      begin: prepare('BEGIN IMMEDIATE'),
      commit: prepare('COMMIT'),
      rollback: prepare('ROLLBACK'),
      savepoint: prepare('SAVEPOINT shoal_write'),
      release: prepare('RELEASE shoal_write'),
      rollbackTo: prepare('ROLLBACK TO shoal_write'),
      noWait: prepare('PRAGMA busy_timeout = 0'),
      wait: prepare(`PRAGMA busy_timeout = ${Math.trunc(busyTimeoutMs)}`),
    };
  }

  /**
   * Runs `fn` (synchronous) inside the next group transaction, in a savepoint of its own: a throw
   * undoes its writes only. Resolves with its result once the transaction has committed.
   */
  write<T>(fn: () => T, shape: 'statements' | 'one-statement' = 'statements'): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('database is closed'));
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ run: fn, savepoint: shape === 'statements', resolve: resolve as (v: unknown) => void, reject });
      this.#schedule();
    });
  }

  /** Waits until no kysely transaction other than `conn`'s holds the handle. */
  async untilFree(conn: object): Promise<void> {
    while (this.#holder !== undefined && this.#holder !== conn) {
      await new Promise<void>((resolve) => this.#holderWaiters.push(resolve));
    }
  }

  holds(conn: object): boolean {
    return this.#holder === conn;
  }

  /** Takes the handle for a kysely transaction: waits for any other one, then BEGIN IMMEDIATE. */
  async begin(conn: object): Promise<void> {
    await this.untilFree(conn);
    if (this.#holder === conn) throw new Error('a transaction is already open on this connection');
    this.#holder = conn;
    try {
      this.#raw.exec('BEGIN IMMEDIATE');
    } catch (err) {
      this.#release();
      throw err;
    }
  }

  /** Ends the kysely transaction of `conn` (COMMIT, or ROLLBACK if that fails) and frees the handle. */
  end(conn: object, how: 'COMMIT' | 'ROLLBACK'): void {
    if (this.#holder !== conn) throw new Error(`${how} without an open transaction on this connection`);
    try {
      this.#raw.exec(how);
    } catch (err) {
      if (this.#raw.inTransaction) this.#raw.exec('ROLLBACK');
      throw err;
    } finally {
      this.#release();
    }
  }

  /** No new writes; the ones queued still run unless a kysely transaction is left open or the file stays locked. */
  close(): void {
    this.#closed = true;
    this.#retryScheduled = false;
    this.#flushAll();
    for (const p of this.#queue.splice(0)) p.reject(new Error('database closed with a kysely transaction open'));
  }

  #release(): void {
    this.#holder = undefined;
    const waiters = this.#holderWaiters;
    this.#holderWaiters = [];
    for (const wake of waiters) wake();
    if (this.#queue.length > 0) this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    // setImmediate, not a microtask: every write submitted by the callbacks of this I/O phase joins.
    setImmediate(() => {
      this.#scheduled = false;
      this.#flushAll();
    });
  }

  #flushAll(): void {
    while (this.#queue.length > 0 && this.#holder === undefined && !this.#retryScheduled) {
      const batch = this.#queue.slice(0, MAX_BATCH);
      const begun = this.#begin();
      if (begun === 'busy') return;
      this.#queue.splice(0, batch.length);
      if (begun !== 'ok') {
        for (const p of batch) p.reject(begun.err);
        continue;
      }
      this.#flush(batch);
    }
  }

  /**
   * BEGIN IMMEDIATE without waiting in SQLite's busy handler: another process holding the write
   * lock (instances of one service share the file) would otherwise block this event loop in
   * sleeps of 1, 2, 5… ms. Busy → try again from the event loop, so this process keeps serving
   * and the writes arriving meanwhile join the batch; after busyTimeoutMs the writes fail.
   */
  #begin(): 'ok' | 'busy' | { err: unknown } {
    const raw = this.#raw;
    if (raw.inTransaction) return { err: new Error('invariant: a transaction was left open on the service database handle') };
    this.#sql.noWait.run();
    try {
      this.#sql.begin.run();
      this.#busyStarted = undefined;
      return 'ok';
    } catch (err) {
      if ((err as { code?: string }).code !== 'SQLITE_BUSY') return { err };
      const now = Date.now();
      const since = this.#busyStarted ?? now;
      if (now - since >= this.#busyTimeoutMs) {
        this.#busyStarted = undefined;
        return { err };
      }
      this.#busyStarted = since;
      this.#retryScheduled = true;
      this.busyRetries++;
      // The first retry as soon as the loop is free, later ones a timer tick apart (no spinning).
      const retry = (): void => {
        this.#retryScheduled = false;
        this.#flushAll();
      };
      if (now === since) setImmediate(retry);
      else setTimeout(retry, 1);
      return 'busy';
    } finally {
      this.#sql.wait.run();
    }
  }

  #flush(batch: Pending[]): void {
    const raw = this.#raw;
    const outcomes: ({ ok: true; value: unknown } | { ok: false; err: unknown })[] = [];
    try {
      const sql = this.#sql;
      for (const p of batch) {
        if (p.savepoint) sql.savepoint.run();
        try {
          const value = p.run();
          if (value instanceof Promise) throw new TypeError('a group-committed write must be synchronous');
          if (p.savepoint) sql.release.run();
          outcomes.push({ ok: true, value });
        } catch (err) {
          // Some errors (SQLITE_FULL, SQLITE_IOERR…) roll the whole transaction back by themselves.
          if (!raw.inTransaction) throw err;
          if (p.savepoint) {
            sql.rollbackTo.run();
            sql.release.run();
          }
          outcomes.push({ ok: false, err });
        }
      }
      sql.commit.run();
    } catch (err) {
      // The transaction did not commit: nothing in it happened, so every write of it failed.
      if (raw.inTransaction) this.#sql.rollback.run();
      for (const p of batch) p.reject(err);
      return;
    }
    this.commits++;
    this.writes += batch.length;
    batch.forEach((p, i) => {
      const o = outcomes[i]!;
      if (o.ok) p.resolve(o.value);
      else p.reject(o.err);
    });
  }
}

const caches = new WeakMap<Database.Database, StatementCache>();

/** Per-handle cache of prepared statements, least recently used dropped first. */
export class StatementCache {
  readonly #raw: Database.Database;
  readonly #statements = new Map<string, Database.Statement>();

  private constructor(raw: Database.Database) {
    this.#raw = raw;
  }

  /** The one cache of this handle. */
  static of(raw: Database.Database): StatementCache {
    let cache = caches.get(raw);
    if (cache === undefined) {
      cache = new StatementCache(raw);
      caches.set(raw, cache);
    }
    return cache;
  }

  get(sql: string): Database.Statement {
    let stmt = this.#statements.get(sql);
    if (stmt !== undefined) {
      this.#statements.delete(sql);
    } else {
      stmt = this.#raw.prepare(sql);
      if (this.#statements.size >= STATEMENT_CACHE_SIZE) this.#statements.delete(this.#statements.keys().next().value!);
    }
    this.#statements.set(sql, stmt);
    return stmt;
  }
}

/** A kysely dialect over one better-sqlite3 handle whose writes go through `writer`. */
export function groupCommitDialect(raw: Database.Database, writer: GroupCommitter, statements: StatementCache): Dialect {
  return {
    createAdapter: () => new SqliteAdapter(),
    createDriver: () => new GroupCommitDriver(raw, writer, statements),
    createIntrospector: (db: Kysely<unknown>) => new SqliteIntrospector(db),
    createQueryCompiler: (): QueryCompiler => new SqliteQueryCompiler(),
  };
}

class GroupCommitDriver implements Driver {
  constructor(
    private readonly raw: Database.Database,
    private readonly writer: GroupCommitter,
    private readonly statements: StatementCache,
  ) {}

  async init(): Promise<void> {}

  // No mutex: reads and batched writes from many async flows may be in flight together; only a
  // kysely transaction takes the handle exclusively (beginTransaction).
  async acquireConnection(): Promise<DatabaseConnection> {
    return new GroupCommitConnection(this.raw, this.writer, this.statements);
  }

  async beginTransaction(conn: DatabaseConnection): Promise<void> {
    await this.writer.begin(conn);
  }

  async commitTransaction(conn: DatabaseConnection): Promise<void> {
    this.writer.end(conn, 'COMMIT');
  }

  async rollbackTransaction(conn: DatabaseConnection): Promise<void> {
    this.writer.end(conn, 'ROLLBACK');
  }

  async savepoint(conn: DatabaseConnection, name: string): Promise<void> {
    this.#savepointCommand(conn, `SAVEPOINT ${quoteName(name)}`);
  }

  async rollbackToSavepoint(conn: DatabaseConnection, name: string): Promise<void> {
    this.#savepointCommand(conn, `ROLLBACK TO ${quoteName(name)}`);
  }

  async releaseSavepoint(conn: DatabaseConnection, name: string): Promise<void> {
    this.#savepointCommand(conn, `RELEASE ${quoteName(name)}`);
  }

  async releaseConnection(): Promise<void> {}

  async destroy(): Promise<void> {
    this.writer.close();
    this.raw.close();
  }

  #savepointCommand(conn: DatabaseConnection, sql: string): void {
    if (!this.writer.holds(conn)) throw new Error('savepoints need an open kysely transaction');
    this.raw.exec(sql);
  }
}

class GroupCommitConnection implements DatabaseConnection {
  constructor(
    private readonly raw: Database.Database,
    private readonly writer: GroupCommitter,
    private readonly statements: StatementCache,
  ) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    await this.writer.untilFree(this);
    const stmt = this.statements.get(query.sql);
    const params = query.parameters as unknown[];
    // Inside this connection's own kysely transaction, and for reads: at once. Otherwise a write
    // is an autocommit statement: it joins the next group commit.
    if (stmt.readonly || this.writer.holds(this)) return execute<R>(stmt, params);
    return this.writer.write(() => execute<R>(stmt, params), 'one-statement');
  }

  async *streamQuery<R>(query: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    if (!SelectQueryNode.is(query.query)) throw new Error('SQLite streams only select queries');
    await this.writer.untilFree(this);
    // A fresh statement: a cached one could be needed by another query while this one iterates.
    for (const row of this.raw.prepare(query.sql).iterate(...(query.parameters as unknown[]))) yield { rows: [row as R] };
  }
}

function execute<R>(stmt: Database.Statement, params: unknown[]): QueryResult<R> {
  if (stmt.reader) return { rows: stmt.all(...params) as R[] };
  const { changes, lastInsertRowid } = stmt.run(...params);
  return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
}

function quoteName(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
