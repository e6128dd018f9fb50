// The saga log: one row per saga in the orchestrating service's own SQLite database. The row is
// both the progress record (status, next_step) and the claim (owner, lease_until): every write
// by a driver is conditional on `owner`, so a driver that lost its claim finds out at its next
// write and stops.
import type BetterSqlite3 from 'better-sqlite3';
import type { SagaResult, SagaSpec, SagaStep } from '../types.js';

export type SagaStatus = 'running' | 'compensating' | 'committed' | 'aborted';

export function migrateSagaSqlite(db: BetterSqlite3.Database): void {
  db.exec(`CREATE TABLE IF NOT EXISTS shoal_saga (
    gid TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    spec TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'compensating', 'committed', 'aborted')),
    next_step INTEGER NOT NULL,
    failed_step TEXT,
    error TEXT,
    owner TEXT,
    lease_until INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  ) STRICT`);
  db.exec(`CREATE INDEX IF NOT EXISTS shoal_saga_open ON shoal_saga (lease_until)
    WHERE status IN ('running', 'compensating')`);
}

export interface SagaRow {
  gid: string;
  kind: string;
  spec: string;
  payload: string;
  status: SagaStatus;
  next_step: number;
  failed_step: string | null;
  error: string | null;
  owner: string | null;
  lease_until: number;
  created_at: string;
  updated_at: string;
}

/** What `spec` holds: the saga without its payload. */
export interface StoredSpec {
  gid: string;
  kind: string;
  steps: SagaStep[];
}

export function isTerminal(status: SagaStatus): boolean {
  return status === 'committed' || status === 'aborted';
}

export function resultOf(row: SagaRow): SagaResult {
  if (row.status === 'committed') return { gid: row.gid, status: 'committed' };
  if (row.status !== 'aborted') throw new Error(`saga ${row.gid} is ${row.status}, not finished`);
  if (row.failed_step === null || row.error === null) throw new Error(`saga ${row.gid} aborted without failed_step/error`);
  return { gid: row.gid, status: 'aborted', failedStep: row.failed_step, error: JSON.parse(row.error) as { code: string; message: string } };
}

export class SagaLog {
  readonly #get: BetterSqlite3.Statement<[string], SagaRow>;
  readonly #insert: BetterSqlite3.Statement<[string, string, string, string, string, number, string, string]>;
  readonly #claim: BetterSqlite3.Statement<[string, number, string, string, number]>;
  readonly #renew: BetterSqlite3.Statement<[number, string, string]>;
  readonly #advance: BetterSqlite3.Statement<[number, number, string, string, string, SagaStatus]>;
  readonly #compensate: BetterSqlite3.Statement<[string, string, number, number, string, string, string]>;
  readonly #finish: BetterSqlite3.Statement<[SagaStatus, number, number, string, string, string, SagaStatus]>;
  readonly #release: BetterSqlite3.Statement<[string, string, string]>;
  readonly #expired: BetterSqlite3.Statement<[number, number], { gid: string }>;

  constructor(readonly db: BetterSqlite3.Database) {
    this.#get = db.prepare('SELECT * FROM shoal_saga WHERE gid = ?');
    this.#insert = db.prepare(`INSERT OR IGNORE INTO shoal_saga
      (gid, kind, spec, payload, status, next_step, owner, lease_until, created_at, updated_at)
      VALUES (?, ?, ?, ?, 'running', 0, ?, ?, ?, ?)`);
    // Only an expired lease can be taken over; a live owner keeps its saga.
    this.#claim = db.prepare(`UPDATE shoal_saga SET owner = ?, lease_until = ?, updated_at = ?
      WHERE gid = ? AND status IN ('running', 'compensating') AND lease_until <= ?`);
    this.#renew = db.prepare(`UPDATE shoal_saga SET lease_until = ?
      WHERE gid = ? AND owner = ? AND status IN ('running', 'compensating')`);
    this.#advance = db.prepare(`UPDATE shoal_saga SET next_step = ?, lease_until = ?, updated_at = ?
      WHERE gid = ? AND owner = ? AND status = ?`);
    this.#compensate = db.prepare(`UPDATE shoal_saga SET status = 'compensating', failed_step = ?, error = ?,
      next_step = ?, lease_until = ?, updated_at = ? WHERE gid = ? AND owner = ? AND status = 'running'`);
    this.#finish = db.prepare(`UPDATE shoal_saga SET status = ?, next_step = ?, owner = NULL, lease_until = ?, updated_at = ?
      WHERE gid = ? AND owner = ? AND status = ?`);
    this.#release = db.prepare(`UPDATE shoal_saga SET lease_until = 0, updated_at = ?
      WHERE gid = ? AND owner = ? AND status IN ('running', 'compensating')`);
    this.#expired = db.prepare(`SELECT gid FROM shoal_saga
      WHERE status IN ('running', 'compensating') AND lease_until <= ? ORDER BY lease_until, gid LIMIT ?`);
  }

  get(gid: string): SagaRow | undefined {
    return this.#get.get(gid);
  }

  /** Writes the saga's first row, claimed by `owner`; false if the gid exists. */
  insert(spec: SagaSpec, owner: string, leaseUntil: number, at: string): boolean {
    const stored: StoredSpec = { gid: spec.gid, kind: spec.kind, steps: spec.steps };
    return this.#insert.run(spec.gid, spec.kind, JSON.stringify(stored), JSON.stringify(spec.payload ?? {}), owner, leaseUntil, at, at).changes === 1;
  }

  claim(gid: string, owner: string, now: number, leaseUntil: number, at: string): boolean {
    return this.#claim.run(owner, leaseUntil, at, gid, now).changes === 1;
  }

  renew(gid: string, owner: string, leaseUntil: number): boolean {
    return this.#renew.run(leaseUntil, gid, owner).changes === 1;
  }

  advance(gid: string, owner: string, status: SagaStatus, nextStep: number, leaseUntil: number, at: string): boolean {
    return this.#advance.run(nextStep, leaseUntil, at, gid, owner, status).changes === 1;
  }

  startCompensating(gid: string, owner: string, failedStep: string, error: { code: string; message: string }, fromStep: number, leaseUntil: number, at: string): boolean {
    return this.#compensate.run(failedStep, JSON.stringify(error), fromStep, leaseUntil, at, gid, owner).changes === 1;
  }

  /**
   * The terminal write; the caller wraps it and onFinished in one transaction. `nextStep` is the
   * position it ends at (the step count once committed: the last step's advance is this write).
   */
  finish(gid: string, owner: string, from: SagaStatus, to: SagaStatus, nextStep: number, at: string): boolean {
    return this.#finish.run(to, nextStep, 0, at, gid, owner, from).changes === 1;
  }

  /** Gives the claim up at once (orderly stop), so another instance can resume without waiting. */
  release(gid: string, owner: string, at: string): boolean {
    return this.#release.run(at, gid, owner).changes === 1;
  }

  expired(now: number, limit: number): string[] {
    return this.#expired.all(now, limit).map((r) => r.gid);
  }
}
