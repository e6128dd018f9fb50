// The goods service as a participant in distributed transactions. Each branch call records its
// (gid, branch, op) in the barrier table (src/txn) in the same local transaction as the stock
// change, and reuses reserve/release with requestId `${gid}/${branch}`, so the reservations row
// and the barrier agree: a repeat does nothing, a compensation that overtakes its action does
// nothing and blocks that action (BRANCH_COMPENSATED), and a business refusal (OUT_OF_STOCK)
// rolls the barrier row back with everything else.
import type BetterSqlite3 from 'better-sqlite3';
import type { Kysely } from 'kysely';
import { parseInput, type SyncQueries } from '../common/index.js';
import { z } from 'zod';
import { abortSqlite, barrierSqlite, branchCompensatedError, commitSqlite, prepareSqlite, type BranchParams } from '../common/txn.js';
import type { GoodsDatabase } from './migrations.js';
import { FinishReserveParams, GoodsId, MAX_RESERVE_QTY, PrepareReserveParams, SagaReleaseParams, SagaReserveParams, type ReserveBranchResult } from './schemas.js';
import { releaseIn, reserveIn } from './stock.js';

type Db = Kysely<GoodsDatabase>;

/** The reservations requestId a branch uses: one per (gid, branch), stable across retries. */
export function branchRequestId(p: BranchParams): string {
  return `${p.gid}/${p.branch}`;
}

/** Saga action: reserve `qty` once per branch. */
export function sagaReserveIn(sqlite: BetterSqlite3.Database, q: SyncQueries, k: Db, input: SagaReserveParams, now: number): ReserveBranchResult {
  const p = parseInput(SagaReserveParams, input);
  const requestId = branchRequestId(p);
  const outcome = barrierSqlite(sqlite, { gid: p.gid, branch: p.branch, op: 'action' });
  switch (outcome) {
    case 'proceed': {
      const r = reserveIn(q, k, { id: p.id, qty: p.qty, requestId }, now);
      return { goodsId: p.id, qty: p.qty, applied: true, stock: r.stock };
    }
    case 'duplicate': {
      // The reservation committed before (a refused one rolled its barrier row back); reserveIn
      // answers the repeat (or refuses a changed qty) from its reservations row.
      const r = reserveIn(q, k, { id: p.id, qty: p.qty, requestId }, now);
      return { goodsId: p.id, qty: 0, applied: false, stock: r.stock };
    }
    case 'hanging':
      throw branchCompensatedError(p);
    case 'null-compensation':
      throw new Error('invariant: the barrier answered null-compensation to an action');
  }
}

/** Saga compensation: put back what the branch's reservation took, once; nothing if it never ran. */
export function sagaReleaseIn(sqlite: BetterSqlite3.Database, q: SyncQueries, k: Db, input: SagaReleaseParams, now: number): ReserveBranchResult {
  const p = parseInput(SagaReleaseParams, input);
  const outcome = barrierSqlite(sqlite, { gid: p.gid, branch: p.branch, op: 'compensate' });
  switch (outcome) {
    case 'proceed':
      return putBack(q, k, p, now);
    case 'duplicate':
    case 'null-compensation':
      // Released before, or the reservation never ran: nothing to do. (The barrier row already
      // blocks a late reservation of this branch.)
      return { goodsId: p.id, qty: 0, applied: false, stock: stockOf(q, k, p.id) };
    case 'hanging':
      throw new Error('invariant: the barrier answered hanging to a compensation');
  }
}

/** Releases the branch's reservation (which must be in effect). */
export function putBack(q: SyncQueries, k: Db, p: BranchParams & { id: string }, now: number): ReserveBranchResult {
  const requestId = branchRequestId(p);
  const r = releaseIn(q, k, { id: p.id, requestId }, now);
  if (r.released === 0) throw new Error(`invariant: branch ${requestId} had no reservation in effect for ${p.id}`);
  return { goodsId: p.id, qty: r.released, applied: true, stock: r.stock };
}

/** The stock now; 0 for unknown goods (a compensation of a reservation that failed NOT_FOUND must still succeed). */
export function stockOf(q: SyncQueries, k: Db, id: string): number {
  return q.first(k.selectFrom('goods').select('stock').where('id', '=', id))?.stock ?? 0;
}

/** What a prepared reservation holds (shoal_prepared.resources). */
const HeldReservation = z.object({ id: GoodsId, qty: z.int().min(1).max(MAX_RESERVE_QTY) });

function held(resources: unknown): z.infer<typeof HeldReservation> {
  const parsed = HeldReservation.safeParse(resources);
  if (!parsed.success) throw new Error(`invariant: a prepared reservation holds ${JSON.stringify(resources)}`);
  return parsed.data;
}

/** 2PC phase one: take qty into a reservation held under (gid, branch), with the prepared row. */
export function prepareReserveIn(sqlite: BetterSqlite3.Database, q: SyncQueries, k: Db, input: PrepareReserveParams, now: number): ReserveBranchResult {
  const p = parseInput(PrepareReserveParams, input);
  const outcome = prepareSqlite(sqlite, { gid: p.gid, branch: p.branch }, { id: p.id, qty: p.qty }, now);
  switch (outcome) {
    case 'proceed': {
      // OUT_OF_STOCK throws here and rolls the prepared row and the barrier back: a refusal.
      const r = reserveIn(q, k, { id: p.id, qty: p.qty, requestId: branchRequestId(p) }, now);
      return { goodsId: p.id, qty: p.qty, applied: true, stock: r.stock };
    }
    case 'duplicate':
      return { goodsId: p.id, qty: 0, applied: false, stock: stockOf(q, k, p.id) };
    case 'aborted-before':
      throw branchCompensatedError(p);
  }
}

/** 2PC commit: the held reservation becomes final (its stock stays taken). */
export function commitReserveIn(sqlite: BetterSqlite3.Database, q: SyncQueries, k: Db, input: FinishReserveParams): ReserveBranchResult {
  const p = parseInput(FinishReserveParams, input);
  const resources = commitSqlite(sqlite, { gid: p.gid, branch: p.branch });
  if (resources === null) return { goodsId: p.id, qty: 0, applied: false, stock: stockOf(q, k, p.id) };
  const h = held(resources);
  return { goodsId: h.id, qty: h.qty, applied: true, stock: stockOf(q, k, h.id) };
}

/** 2PC abort: put the held stock back; a no-op if never prepared (and then it never will be). */
export function abortReserveIn(sqlite: BetterSqlite3.Database, q: SyncQueries, k: Db, input: FinishReserveParams, now: number): ReserveBranchResult {
  const p = parseInput(FinishReserveParams, input);
  const resources = abortSqlite(sqlite, { gid: p.gid, branch: p.branch });
  if (resources === null) return { goodsId: p.id, qty: 0, applied: false, stock: stockOf(q, k, p.id) };
  return releaseHeld(q, k, p.gid, p.branch, resources, now);
}

/** Puts back a prepared reservation's stock (abortReserve, or the in-doubt resolver's abort). */
export function releaseHeld(q: SyncQueries, k: Db, gid: string, branch: string, resources: unknown, now: number): ReserveBranchResult {
  const h = held(resources);
  return putBack(q, k, { gid, branch, id: h.id }, now);
}
