// The barrier table on a participant's own SQLite database (better-sqlite3). Everything runs
// synchronously inside the participant's open transaction, so the barrier rows commit or roll
// back with the business change: a business failure that rolls back also removes the action's
// row, and a later compensation then correctly finds a null compensation.
import type BetterSqlite3 from 'better-sqlite3';
import type { BarrierOp, BarrierOutcome, BranchParams } from '../types.js';
import { BARRIER_ORIGIN, BARRIER_REVERSE, decideBarrier } from './decide.js';
import { assertBranchParams } from './params.js';

const OPS: ReadonlySet<string> = new Set<BarrierOp>(['action', 'compensate', 'prepare', 'commit', 'abort']);

export function migrateBarrierSqlite(db: BetterSqlite3.Database): void {
  db.exec(`CREATE TABLE IF NOT EXISTS shoal_barrier (
    gid TEXT NOT NULL,
    branch TEXT NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('action', 'compensate', 'prepare', 'commit', 'abort')),
    created_at TEXT NOT NULL,
    PRIMARY KEY (gid, branch, op)
  ) STRICT, WITHOUT ROWID`);
}

interface Statements {
  insert: BetterSqlite3.Statement<[string, string, string, string]>;
  exists: BetterSqlite3.Statement<[string, string, string]>;
}

const statements = new WeakMap<BetterSqlite3.Database, Statements>();

function prepared(db: BetterSqlite3.Database): Statements {
  let s = statements.get(db);
  if (s === undefined) {
    s = {
      insert: db.prepare('INSERT OR IGNORE INTO shoal_barrier (gid, branch, op, created_at) VALUES (?, ?, ?, ?)'),
      exists: db.prepare('SELECT 1 FROM shoal_barrier WHERE gid = ? AND branch = ? AND op = ?'),
    };
    statements.set(db, s);
  }
  return s;
}

/**
 * Records (gid, branch, op) and says whether to do the business change. Call it first inside the
 * participant's own open transaction, on the same connection, and do the change only on `proceed`.
 */
export function barrierSqlite(db: BetterSqlite3.Database, p: BranchParams & { op: BarrierOp }): BarrierOutcome {
  assertBranchParams(p);
  if (!OPS.has(p.op)) throw new TypeError(`barrier: unknown op ${JSON.stringify(p.op)}`);
  // Outside a transaction the row would commit alone and the business change could be lost.
  if (!db.inTransaction) throw new Error('barrierSqlite must run inside the participant\'s open transaction');
  const s = prepared(db);
  const at = new Date().toISOString();
  const origin = BARRIER_ORIGIN[p.op];
  const originInserted = origin !== undefined && s.insert.run(p.gid, p.branch, origin, at).changes === 1;
  const ownInserted = s.insert.run(p.gid, p.branch, p.op, at).changes === 1;
  const reverse = BARRIER_REVERSE[p.op];
  const reverseExisted = reverse !== undefined && !ownInserted && s.exists.get(p.gid, p.branch, reverse) !== undefined;
  return decideBarrier({ op: p.op, originInserted, ownInserted, reverseExisted });
}
