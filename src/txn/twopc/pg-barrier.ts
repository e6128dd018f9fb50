// The barrier on a PostgreSQL participant: the same table shape and the same decision
// (barrier/decide.ts) as the SQLite barrier, so a service behaves alike on either engine.
import type pg from 'pg';
import { assertBranchParams, BARRIER_ORIGIN, BARRIER_REVERSE, decideBarrier } from '../barrier/index.js';
import type { BarrierOp, BarrierOutcome, BranchParams } from '../types.js';

const OPS: ReadonlySet<string> = new Set<BarrierOp>(['action', 'compensate', 'prepare', 'commit', 'abort']);

/** Anything that runs a query on one connection (pg.Client, pg.PoolClient). */
export type PgQueryable = Pick<pg.ClientBase, 'query'>;

export async function migrateBarrierPg(db: PgQueryable): Promise<void> {
  await db.query(`CREATE TABLE IF NOT EXISTS shoal_barrier (
    gid text NOT NULL,
    branch text NOT NULL,
    op text NOT NULL CHECK (op IN ('action', 'compensate', 'prepare', 'commit', 'abort')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (gid, branch, op)
  )`);
}

async function insertRow(client: PgQueryable, p: BranchParams, op: BarrierOp): Promise<boolean> {
  const res = await client.query('INSERT INTO shoal_barrier (gid, branch, op) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [p.gid, p.branch, op]);
  return res.rowCount === 1;
}

/**
 * Records (gid, branch, op) and says whether to do the business change. Call it first inside the
 * participant's open transaction (BEGIN ... COMMIT on this client) and do the change only on
 * `proceed`. A concurrent duplicate waits on the first one's row lock, then sees its outcome.
 */
export async function barrierPg(client: PgQueryable, p: BranchParams & { op: BarrierOp }): Promise<BarrierOutcome> {
  assertBranchParams(p);
  if (!OPS.has(p.op)) throw new TypeError(`barrier: unknown op ${JSON.stringify(p.op)}`);
  const origin = BARRIER_ORIGIN[p.op];
  const originInserted = origin !== undefined && (await insertRow(client, p, origin));
  const ownInserted = await insertRow(client, p, p.op);
  const reverse = BARRIER_REVERSE[p.op];
  let reverseExisted = false;
  if (reverse !== undefined && !ownInserted) {
    const res = await client.query('SELECT 1 FROM shoal_barrier WHERE gid = $1 AND branch = $2 AND op = $3', [p.gid, p.branch, reverse]);
    reverseExisted = (res.rowCount ?? 0) > 0;
  }
  return decideBarrier({ op: p.op, originInserted, ownInserted, reverseExisted });
}
