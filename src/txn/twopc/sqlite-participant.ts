// A 2PC participant on its own SQLite database. SQLite has no PREPARE TRANSACTION, so a prepare
// is made durable the way Seata's TCC/AT modes do it: the local transaction that reserves the
// resources (e.g. moves stock into a held state) also records a `prepared` row with what it
// reserved, and commits. Commit later finalizes those resources, abort releases them; both are
// decided by the barrier (shoal_barrier), in the same local transaction as their effect, so
// duplicate deliveries do nothing, an abort before the prepare is a null compensation, and a
// prepare arriving after its abort is refused ('aborted-before') instead of hanging.
//
// All functions are synchronous and must run inside the participant's open transaction
// (db.transaction(...)), on the same connection as the business change.
import type BetterSqlite3 from 'better-sqlite3';
import { barrierSqlite, migrateBarrierSqlite } from '../barrier/index.js';
import type { BranchParams } from '../types.js';

export type PrepareOutcome = 'proceed' | 'duplicate' | 'aborted-before';

export type PreparedState = 'prepared' | 'committed' | 'aborted';

export interface PreparedRow {
  gid: string;
  branch: string;
  resources: unknown;
  state: PreparedState;
  /** Epoch ms. */
  preparedAt: number;
}

/** Creates shoal_prepared (and the barrier table). Idempotent. */
export function migrateTwoPcSqlite(db: BetterSqlite3.Database): void {
  migrateBarrierSqlite(db);
  db.exec(`CREATE TABLE IF NOT EXISTS shoal_prepared (
    gid TEXT NOT NULL,
    branch TEXT NOT NULL,
    resources TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('prepared', 'committed', 'aborted')),
    prepared_at INTEGER NOT NULL,
    PRIMARY KEY (gid, branch)
  ) STRICT;
  CREATE INDEX IF NOT EXISTS shoal_prepared_in_doubt ON shoal_prepared (state, prepared_at)`);
}

function assertInTransaction(db: BetterSqlite3.Database, what: string): void {
  if (!db.inTransaction) throw new Error(`${what} must run inside the participant's open transaction`);
}

interface RawRow {
  gid: string;
  branch: string;
  resources: string;
  state: PreparedState;
  prepared_at: number;
}

function toRow(raw: RawRow): PreparedRow {
  return { gid: raw.gid, branch: raw.branch, resources: JSON.parse(raw.resources) as unknown, state: raw.state, preparedAt: raw.prepared_at };
}

export function preparedRow(db: BetterSqlite3.Database, p: BranchParams): PreparedRow | undefined {
  const raw = db.prepare('SELECT gid, branch, resources, state, prepared_at FROM shoal_prepared WHERE gid = ? AND branch = ?').get(p.gid, p.branch) as RawRow | undefined;
  return raw === undefined ? undefined : toRow(raw);
}

/**
 * Records the prepare. On 'proceed' the caller reserves `resources` in this same transaction (or
 * throws to refuse, which rolls the barrier row back too); on 'duplicate' it answers success
 * without doing anything; on 'aborted-before' it answers a refusal (the branch was aborted).
 */
export function prepareSqlite(db: BetterSqlite3.Database, p: BranchParams, resources: unknown, now: number = Date.now()): PrepareOutcome {
  assertInTransaction(db, 'prepareSqlite');
  // commit/abort answer null for "nothing to do", so the resources themselves may not be null.
  if (resources === null || resources === undefined) throw new TypeError('prepareSqlite: resources must not be null');
  const outcome = barrierSqlite(db, { gid: p.gid, branch: p.branch, op: 'prepare' });
  switch (outcome) {
    case 'proceed': {
      const json = JSON.stringify(resources);
      db.prepare("INSERT INTO shoal_prepared (gid, branch, resources, state, prepared_at) VALUES (?, ?, ?, 'prepared', ?)").run(p.gid, p.branch, json, now);
      return 'proceed';
    }
    case 'duplicate':
      return 'duplicate';
    case 'hanging':
      return 'aborted-before';
    case 'null-compensation':
      throw new Error(`barrier answered null-compensation to a prepare (${p.gid}/${p.branch})`);
  }
}

/** The prepared resources to finalize now, or null when this branch was already committed. */
export function commitSqlite(db: BetterSqlite3.Database, p: BranchParams): unknown {
  assertInTransaction(db, 'commitSqlite');
  const outcome = barrierSqlite(db, { gid: p.gid, branch: p.branch, op: 'commit' });
  const row = preparedRow(db, p);
  if (outcome === 'duplicate') {
    if (row?.state !== 'committed') throw new Error(`commit of ${p.gid}/${p.branch} recorded, but the branch is ${row?.state ?? 'not prepared'}`);
    return null;
  }
  // The coordinator commits only after every branch prepared; anything else is a protocol breach.
  if (row === undefined) throw new Error(`commit of ${p.gid}/${p.branch} before it was prepared`);
  if (row.state !== 'prepared') throw new Error(`commit of ${p.gid}/${p.branch}, which is ${row.state}`);
  setState(db, p, 'committed');
  return row.resources;
}

/**
 * The prepared resources to release now, or null when there is nothing to release (already
 * aborted, or never prepared — then the barrier now refuses any late prepare).
 */
export function abortSqlite(db: BetterSqlite3.Database, p: BranchParams): unknown {
  assertInTransaction(db, 'abortSqlite');
  const outcome = barrierSqlite(db, { gid: p.gid, branch: p.branch, op: 'abort' });
  const row = preparedRow(db, p);
  if (row?.state === 'committed') throw new Error(`abort of ${p.gid}/${p.branch}, which is committed`);
  if (outcome !== 'proceed') return null;
  if (row === undefined) throw new Error(`abort of ${p.gid}/${p.branch}: barrier found a prepare but no prepared row`);
  setState(db, p, 'aborted');
  return row.resources;
}

function setState(db: BetterSqlite3.Database, p: BranchParams, state: PreparedState): void {
  const res = db.prepare("UPDATE shoal_prepared SET state = ? WHERE gid = ? AND branch = ? AND state = 'prepared'").run(state, p.gid, p.branch);
  if (res.changes !== 1) throw new Error(`${p.gid}/${p.branch}: expected one prepared row to move to ${state}`);
}

/** Prepared rows older than `olderThan` (epoch ms): the in-doubt branches. */
export function inDoubtSqlite(db: BetterSqlite3.Database, olderThan: number, limit = 100): PreparedRow[] {
  const rows = db.prepare("SELECT gid, branch, resources, state, prepared_at FROM shoal_prepared WHERE state = 'prepared' AND prepared_at <= ? ORDER BY prepared_at LIMIT ?").all(olderThan, limit) as RawRow[];
  return rows.map(toRow);
}
