// The users service as a participant in distributed transactions. Each branch call records its
// (gid, branch, op) in the barrier table (src/txn) in the same local transaction as the wallet
// change, and reuses debit/refund with requestId `${gid}/${branch}`: a repeat does nothing, a
// refund that overtakes its debit does nothing and blocks that debit (BRANCH_COMPENSATED), and a
// business refusal (INSUFFICIENT_FUNDS) rolls the barrier row back with everything else.
import type BetterSqlite3 from 'better-sqlite3';
import type { Kysely } from 'kysely';
import { parseInput, type SyncQueries } from '../common/index.js';
import { z } from 'zod';
import { abortSqlite, barrierSqlite, branchCompensatedError, commitSqlite, prepareSqlite, type BranchParams } from '../common/txn.js';
import { debitCheckedIn, refundIn } from './debits.js';
import type { UsersDatabase } from './migrations.js';
import { FinishDebitParams, MAX_DEBIT_CENTS, PrepareDebitParams, SagaDebitParams, SagaRefundParams, UserId, type DebitBranchResult, type SagaDebitParsed } from './schemas.js';

type Db = Kysely<UsersDatabase>;

/** The debit requestId a branch uses: one per (gid, branch), stable across retries. */
export function branchRequestId(p: BranchParams): string {
  return `${p.gid}/${p.branch}`;
}

/** Saga action: debit `amount` once per branch. */
export function sagaDebitIn(sqlite: BetterSqlite3.Database, q: SyncQueries, k: Db, input: SagaDebitParams, now: number): DebitBranchResult {
  return sagaDebitParsedIn(sqlite, q, k, parseInput(SagaDebitParams, input), now);
}

/** sagaDebitIn for params already parsed with SagaDebitParams (the action's: the runtime parsed them). */
export function sagaDebitParsedIn(sqlite: BetterSqlite3.Database, q: SyncQueries, k: Db, p: SagaDebitParsed, now: number): DebitBranchResult {
  const requestId = branchRequestId(p);
  const outcome = barrierSqlite(sqlite, { gid: p.gid, branch: p.branch, op: 'action' });
  switch (outcome) {
    case 'proceed': {
      const user = debitCheckedIn(q, k, { id: p.id, amount: p.amount, requestId }, now);
      return { userId: p.id, amount: p.amount, applied: true, wallet: user.wallet };
    }
    case 'duplicate': {
      // The debit committed before (a refused one rolled its barrier row back); debitIn answers
      // the repeat (or refuses a changed amount) from its debit_requests row.
      const user = debitCheckedIn(q, k, { id: p.id, amount: p.amount, requestId }, now);
      return { userId: p.id, amount: 0, applied: false, wallet: user.wallet };
    }
    case 'hanging':
      throw branchCompensatedError(p);
    case 'null-compensation':
      throw new Error('invariant: the barrier answered null-compensation to an action');
  }
}

/** Saga compensation: give back what the branch's debit took, once; nothing if it never ran. */
export function sagaRefundIn(sqlite: BetterSqlite3.Database, q: SyncQueries, k: Db, input: SagaRefundParams, now: number): DebitBranchResult {
  const p = parseInput(SagaRefundParams, input);
  const outcome = barrierSqlite(sqlite, { gid: p.gid, branch: p.branch, op: 'compensate' });
  switch (outcome) {
    case 'proceed':
      return giveBack(q, k, p, now);
    case 'duplicate':
    case 'null-compensation':
      // Refunded before, or the debit never ran: nothing to do. (The barrier row already blocks
      // a late debit of this branch.)
      return { userId: p.id, amount: 0, applied: false, wallet: walletOf(q, k, p.id) };
    case 'hanging':
      throw new Error('invariant: the barrier answered hanging to a compensation');
  }
}

/** Refunds the branch's debit (which must be in effect). */
export function giveBack(q: SyncQueries, k: Db, p: BranchParams & { id: string }, now: number): DebitBranchResult {
  const requestId = branchRequestId(p);
  const prior = q.first(k.selectFrom('debit_requests').select(['state', 'amount']).where('user_id', '=', p.id).where('request_id', '=', requestId));
  if (prior?.state !== 'debited' || prior.amount === null) throw new Error(`invariant: branch ${requestId} has no debit in effect for ${p.id}`);
  const user = refundIn(q, k, { id: p.id, requestId }, now);
  return { userId: p.id, amount: prior.amount, applied: true, wallet: user.wallet };
}

/** The wallet now; 0 for an unknown user (a compensation of a debit that failed NOT_FOUND must still succeed). */
export function walletOf(q: SyncQueries, k: Db, id: string): number {
  return q.first(k.selectFrom('users').select('wallet').where('id', '=', id))?.wallet ?? 0;
}

/** What a prepared debit holds (shoal_prepared.resources). */
const HeldDebit = z.object({ id: UserId, amount: z.int().min(1).max(MAX_DEBIT_CENTS) });

function held(resources: unknown): z.infer<typeof HeldDebit> {
  const parsed = HeldDebit.safeParse(resources);
  if (!parsed.success) throw new Error(`invariant: a prepared debit holds ${JSON.stringify(resources)}`);
  return parsed.data;
}

/** 2PC phase one: take amount into a debit held under (gid, branch), with the prepared row. */
export function prepareDebitIn(sqlite: BetterSqlite3.Database, q: SyncQueries, k: Db, input: PrepareDebitParams, now: number): DebitBranchResult {
  const p = parseInput(PrepareDebitParams, input);
  const outcome = prepareSqlite(sqlite, { gid: p.gid, branch: p.branch }, { id: p.id, amount: p.amount }, now);
  switch (outcome) {
    case 'proceed': {
      // INSUFFICIENT_FUNDS throws here and rolls the prepared row and the barrier back: a refusal.
      const user = debitCheckedIn(q, k, { id: p.id, amount: p.amount, requestId: branchRequestId(p) }, now);
      return { userId: p.id, amount: p.amount, applied: true, wallet: user.wallet };
    }
    case 'duplicate':
      return { userId: p.id, amount: 0, applied: false, wallet: walletOf(q, k, p.id) };
    case 'aborted-before':
      throw branchCompensatedError(p);
  }
}

/** 2PC commit: the held debit becomes final (the money stays taken). */
export function commitDebitIn(sqlite: BetterSqlite3.Database, q: SyncQueries, k: Db, input: FinishDebitParams): DebitBranchResult {
  const p = parseInput(FinishDebitParams, input);
  const resources = commitSqlite(sqlite, { gid: p.gid, branch: p.branch });
  if (resources === null) return { userId: p.id, amount: 0, applied: false, wallet: walletOf(q, k, p.id) };
  const h = held(resources);
  return { userId: h.id, amount: h.amount, applied: true, wallet: walletOf(q, k, h.id) };
}

/** 2PC abort: give the held money back; a no-op if never prepared (and then it never will be). */
export function abortDebitIn(sqlite: BetterSqlite3.Database, q: SyncQueries, k: Db, input: FinishDebitParams, now: number): DebitBranchResult {
  const p = parseInput(FinishDebitParams, input);
  const resources = abortSqlite(sqlite, { gid: p.gid, branch: p.branch });
  if (resources === null) return { userId: p.id, amount: 0, applied: false, wallet: walletOf(q, k, p.id) };
  return refundHeld(q, k, p.gid, p.branch, resources, now);
}

/** Gives back a prepared debit (abortDebit, or the in-doubt resolver's abort). */
export function refundHeld(q: SyncQueries, k: Db, gid: string, branch: string, resources: unknown, now: number): DebitBranchResult {
  const h = held(resources);
  return giveBack(q, k, { gid, branch, id: h.id }, now);
}
