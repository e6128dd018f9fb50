// Debit and refund as synchronous steps over one open ServiceDb transaction, so the store runs
// each in its own transaction and the next issue's saga/2PC participant can run one next to its
// barrier row in the same transaction. The debit_requests row is the per-(user, requestId)
// memory that makes both idempotent and makes a refund that overtakes its debit stick
// (null compensation: nothing to give back; no hanging: the late debit is refused).
import type { Kysely } from 'kysely';
import { ShopErrorCode, notFound, parseInput, shopError, type SyncQueries } from '../common/index.js';
import type { DebitRequestsTable, UsersDatabase, UsersTable } from './migrations.js';
import { prepare, perKysely } from '../common/prepared.js';
import { DebitParams, RefundParams } from './schemas.js';

export const PUBLIC_COLUMNS = ['id', 'name', 'email', 'address', 'phone', 'wallet', 'role', 'created_at'] as const;
export type PublicRow = Pick<UsersTable, (typeof PUBLIC_COLUMNS)[number]>;

type Db = Kysely<UsersDatabase>;

/** The debit path's queries, compiled once per handle (a saga order runs each once). */
const queries = perKysely((k: Db) => ({
  findRequest: prepare(2, (id: string, requestId: string) =>
    k.selectFrom('debit_requests').select(['state', 'amount']).where('user_id', '=', id).where('request_id', '=', requestId),
  ),
  takeFromWallet: prepare(2, (id: string, amount: number) =>
    k
      .updateTable('users')
      .set((eb) => ({ wallet: eb('wallet', '-', amount) }))
      .where('id', '=', id)
      .where('wallet', '>=', amount)
      .returning(PUBLIC_COLUMNS),
  ),
  insertDebited: prepare(4, (id: string, requestId: string, amount: number, now: number) =>
    k.insertInto('debit_requests').values({ user_id: id, request_id: requestId, state: 'debited', amount, created_at: now, updated_at: now }),
  ),
  currentUser: prepare(1, (id: string) => k.selectFrom('users').select(PUBLIC_COLUMNS).where('id', '=', id)),
}));

/** Parses its input itself: a caller composing it into its own transaction keeps the invariants. */
export function debitIn(q: SyncQueries, k: Db, input: DebitParams, now: number): PublicRow {
  return debitParsedIn(q, k, parseInput(DebitParams, input), now);
}

/** The longest requestId DebitParams accepts. */
const MAX_REQUEST_ID = 128;

/**
 * debitIn for a caller whose own schema already checked id and amount as DebitParams does (the
 * saga and 2PC branches: their params schemas use the same UserId and amount bounds). Only the
 * requestId they compose is checked here; one DebitParams refuses goes through debitIn, which
 * throws its own error.
 */
export function debitCheckedIn(q: SyncQueries, k: Db, input: { id: string; amount: number; requestId: string }, now: number): PublicRow {
  if (input.requestId.length === 0 || input.requestId.length > MAX_REQUEST_ID) return debitIn(q, k, input, now);
  return debitParsedIn(q, k, input, now);
}

function debitParsedIn(q: SyncQueries, k: Db, input: { id: string; amount: number; requestId: string }, now: number): PublicRow {
  const { id, amount, requestId } = input;
  const sql = queries(k);
  const prior = q.first(sql.findRequest(id, requestId));
  if (prior) {
    if (prior.state === 'voided') throw alreadyRefunded(requestId);
    if (prior.amount !== amount) {
      throw shopError(ShopErrorCode.IDEMPOTENCY_CONFLICT, 'requestId already used for a debit of another amount', { requestId });
    }
    // Refunded after it was applied: the debit is no longer in effect, so a repeat must not
    // read as success.
    if (prior.state === 'refunded') throw alreadyRefunded(requestId);
    return currentUser(q, k, id);
  }
  const updated = q.first(sql.takeFromWallet(id, amount));
  if (!updated) {
    const row = q.first(k.selectFrom('users').select('wallet').where('id', '=', id));
    if (!row) throw notFound('user', id);
    throw shopError(ShopErrorCode.INSUFFICIENT_FUNDS, `wallet holds ${row.wallet} cents, debit is ${amount}`, {
      wallet: row.wallet,
      amount,
    });
  }
  q.run(sql.insertDebited(id, requestId, amount, now));
  return updated;
}

export function refundIn(q: SyncQueries, k: Db, input: RefundParams, now: number): PublicRow {
  const { id, requestId } = parseInput(RefundParams, input);
  const prior = findRequest(q, k, id, requestId);
  if (!prior) {
    // Refund before (or instead of) its debit: leave a tombstone. The insert's foreign key
    // would refuse an unknown user too, but NOT_FOUND is the answer callers can act on.
    const user = currentUser(q, k, id, true);
    q.run(
      k.insertInto('debit_requests').values({ user_id: id, request_id: requestId, state: 'voided', amount: null, created_at: now, updated_at: now }),
    );
    return user;
  }
  if (prior.state !== 'debited') return currentUser(q, k, id);
  const amount = prior.amount;
  if (amount === null) throw new Error(`invariant: debited request ${requestId} of ${id} has no amount`);
  // Always fits under the wallet ceiling: deposits keep room for every outstanding debit.
  const updated = q.first(
    k
      .updateTable('users')
      .set((eb) => ({ wallet: eb('wallet', '+', amount) }))
      .where('id', '=', id)
      .returning(PUBLIC_COLUMNS),
  );
  if (!updated) throw new Error(`invariant: debit request ${requestId} for missing user ${id}`);
  const marked = q.run(
    k
      .updateTable('debit_requests')
      .set((eb) => ({ state: 'refunded', updated_at: eb.fn('max', ['created_at', eb.val(now)]) }))
      .where('user_id', '=', id)
      .where('request_id', '=', requestId)
      .where('state', '=', 'debited'),
  );
  if (marked.changes !== 1) throw new Error(`invariant: debit request ${requestId} of ${id} changed under the transaction`);
  return updated;
}

/** Cents that refunds may still return to the wallet: the room a deposit must leave. */
export function outstandingDebits(q: SyncQueries, k: Db, id: string): number {
  const row = q.first(
    k
      .selectFrom('debit_requests')
      .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('amount'), eb.val(0)).as('total'))
      .where('user_id', '=', id)
      .where('state', '=', 'debited'),
  );
  const total = Number(row?.total ?? 0);
  if (!Number.isSafeInteger(total) || total < 0) throw new Error(`invariant: outstanding debits of ${id} are ${total}`);
  return total;
}

function findRequest(q: SyncQueries, k: Db, id: string, requestId: string): Pick<DebitRequestsTable, 'state' | 'amount'> | undefined {
  return q.first(queries(k).findRequest(id, requestId));
}

function currentUser(q: SyncQueries, k: Db, id: string, mayBeMissing = false): PublicRow {
  const row = q.first(queries(k).currentUser(id));
  if (!row) {
    if (mayBeMissing) throw notFound('user', id);
    throw new Error(`invariant: debit request for missing user ${id}`);
  }
  return row;
}

function alreadyRefunded(requestId: string): Error {
  return shopError(ShopErrorCode.ALREADY_REFUNDED, 'this debit was refunded already; it is not applied', { requestId });
}
