// A service's own SQLite database: one file per service under $SHOAL_DATA_DIR, shared by every
// instance of that service on the machine (several processes; WAL lets readers and one writer
// proceed together, busy_timeout queues writers).
//
// Durability: synchronous=FULL. In WAL mode NORMAL survives a process crash but may lose the last
// commits on power loss or an OS crash. An acknowledged deposit must not vanish, and the saga/2PC
// participants answer "done" to a coordinator on the strength of a local commit (barrier row +
// debit): forgetting it after the answer breaks money and stock conservation across services.
// FULL costs one fsync of the WAL per commit — so writes are group-committed (sqlite-driver.ts):
// every write of one event-loop turn shares one transaction and one fsync, each in a savepoint of
// its own, each answered after the COMMIT.
//
// Queries are built with kysely over the same better-sqlite3 handle (groupCommitDialect). Plain
// reads run at once; single-statement writes join the next group commit. Multi-statement writes
// go through `transaction(fn)`: fn runs synchronously inside the group transaction, in its own
// savepoint, so it is atomic and no other write interleaves with it. Why not kysely's
// db.transaction() for these: it awaits between statements and holds the handle exclusively
// meanwhile (no batching), and a deferred reader that later writes can fail with
// SQLITE_BUSY_SNAPSHOT against another process.
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, type Compilable } from 'kysely';
import { GroupCommitter, StatementCache, groupCommitDialect } from './sqlite-driver.js';

export interface Migration {
  /** 1, 2, 3, … in order; stored in PRAGMA user_version once applied. */
  readonly version: number;
  readonly name: string;
  /** One SQL statement per entry, run in order inside the migration's transaction. */
  readonly statements: readonly string[];
}

export interface ServiceDbOptions {
  /** See the file comment; NORMAL only for throw-away data (benchmarks). */
  synchronous?: 'FULL' | 'NORMAL';
  /** How long a writer waits for another process's write lock before SQLITE_BUSY. */
  busyTimeoutMs?: number;
}

/** Synchronous execution of kysely-built queries, for use inside `ServiceDb.transaction`. */
export interface SyncQueries {
  all<R>(query: Compilable<R>): R[];
  first<R>(query: Compilable<R>): R | undefined;
  run(query: Compilable<unknown>): { changes: number };
}

export const DEFAULT_BUSY_TIMEOUT_MS = 5_000;

/** `<dataDir>/<service>.db`; dataDir is the host's (SHOAL_DATA_DIR), else ./.shoal as `shoal up` uses. */
export function serviceDbPath(service: string, dataDir: string | undefined): string {
  if (!/^[a-z][a-z0-9-]*$/.test(service)) throw new TypeError(`invalid service name ${JSON.stringify(service)}`);
  return join(dataDir !== undefined && dataDir !== '' ? dataDir : '.shoal', `${service}.db`);
}

export class ServiceDb<DB> {
  readonly kysely: Kysely<DB>;
  readonly file: string;
  readonly #raw: Database.Database;
  readonly #sync: SyncQueries;
  readonly #writer: GroupCommitter;

  private constructor(file: string, raw: Database.Database, busyTimeoutMs: number) {
    this.file = file;
    this.#raw = raw;
    this.#writer = new GroupCommitter(raw, busyTimeoutMs);
    this.kysely = new Kysely<DB>({ dialect: groupCommitDialect(raw, this.#writer, StatementCache.of(raw)) });
    this.#sync = syncQueries(raw);
  }

  /** Opens (creating if needed) the file, sets the pragmas and applies pending migrations. */
  static open<DB>(file: string, migrations: readonly Migration[], options: ServiceDbOptions = {}): ServiceDb<DB> {
    assertMigrations(migrations);
    mkdirSync(dirname(file), { recursive: true });
    const raw = new Database(file);
    const busyTimeoutMs = Math.trunc(options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS);
    try {
      // busy_timeout first: the journal_mode switch below may meet another opener's lock.
      raw.pragma(`busy_timeout = ${busyTimeoutMs}`);
      const mode = raw.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') throw new Error(`${file}: could not switch to WAL (journal_mode is ${String(mode)})`);
      raw.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
      raw.pragma('foreign_keys = ON');
      migrate(raw, migrations);
    } catch (err) {
      raw.close();
      throw err;
    }
    return new ServiceDb<DB>(file, raw, busyTimeoutMs);
  }

  /**
   * Runs `fn` atomically in the next group commit (its own savepoint inside one BEGIN IMMEDIATE
   * transaction shared with the other writes of this turn); resolves after the COMMIT. A throw
   * undoes fn's writes only. `fn` must be synchronous and use only the queries it is given (or
   * this handle).
   */
  async transaction<T>(fn: (q: SyncQueries) => T): Promise<T> {
    return this.#writer.write(() => fn(this.#sync));
  }

  /** Group commits made and the writes they carried (for tests and metrics). */
  get commitStats(): { commits: number; writes: number; busyRetries: number } {
    return { commits: this.#writer.commits, writes: this.#writer.writes, busyRetries: this.#writer.busyRetries };
  }

  /**
   * The better-sqlite3 handle, for code that must run synchronously inside `transaction(fn)` next
   * to the business change (the txn barrier, 2PC participant and saga log work on it), read, or
   * migrate its own tables at open. Writes outside `transaction(fn)` would each cost a commit.
   */
  get sqlite(): Database.Database {
    return this.#raw;
  }

  /** The schema version this file is at. */
  schemaVersion(): number {
    return this.#raw.pragma('user_version', { simple: true }) as number;
  }

  async close(): Promise<void> {
    // Kysely's destroy closes the better-sqlite3 handle (the driver owns it once given).
    await this.kysely.destroy();
  }
}

/**
 * Synchronous kysely-built queries on a better-sqlite3 handle: what `ServiceDb.transaction` hands
 * its fn, and what code called back inside someone else's transaction on the same handle (a saga's
 * onFinished) uses.
 */
export function syncQueries(raw: Database.Database): SyncQueries {
  const statements = StatementCache.of(raw);
  return {
    all: <R>(query: Compilable<R>): R[] => {
      const { sql, parameters } = query.compile();
      return statements.get(sql).all(...parameters) as R[];
    },
    first: <R>(query: Compilable<R>): R | undefined => {
      const { sql, parameters } = query.compile();
      // all(), not get(): a statement is stepped to its end, whatever it returns.
      return statements.get(sql).all(...parameters)[0] as R | undefined;
    },
    run: (query: Compilable<unknown>): { changes: number } => {
      const { sql, parameters } = query.compile();
      return { changes: statements.get(sql).run(...parameters).changes };
    },
  };
}

function assertMigrations(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${m.name}: version ${m.version}, expected ${i + 1}`);
    if (m.statements.length === 0) throw new Error(`migration ${m.name} has no statements`);
  });
}

/**
 * Applies every migration above the file's user_version, each with its version bump in one
 * immediate transaction, so concurrent starters on a fresh file apply each exactly once.
 */
function migrate(raw: Database.Database, migrations: readonly Migration[]): void {
  raw
    .transaction(() => {
      const current = raw.pragma('user_version', { simple: true }) as number;
      if (current > migrations.length) {
        // A newer build migrated this file; this build does not know that schema.
        throw new Error(`database schema version ${current} is newer than this build's ${migrations.length}`);
      }
      for (const m of migrations.slice(current)) {
        for (const statement of m.statements) raw.exec(statement);
        raw.pragma(`user_version = ${m.version}`);
      }
    })
    .immediate();
}

/** True for better-sqlite3's error on a UNIQUE / PRIMARY KEY violation of `table.column`. */
export function isUniqueViolation(err: unknown, tableColumn: string): boolean {
  return (
    err instanceof Database.SqliteError &&
    (err.code === 'SQLITE_CONSTRAINT_UNIQUE' || err.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') &&
    err.message.includes(tableColumn)
  );
}
