// Reserve and release as synchronous steps over one open ServiceDb transaction, so the store runs
// each in its own transaction and the next issue's saga/2PC participant can run one next to its
// barrier row in the same transaction. The reservations row is the per-(goods, requestId) memory
// that makes both idempotent and makes a release that overtakes its reservation stick (null
// compensation: nothing to put back; no hanging: the late reservation is refused).
import type { Kysely } from 'kysely';
import { ShopErrorCode, notFound, parseInput, perKysely, prepare, shopError, type SyncQueries } from '../common/index.js';
import type { GoodsDatabase, ReservationsTable } from './migrations.js';
import { ReleaseParams, ReserveParams, type Release, type Reservation } from './schemas.js';

type Db = Kysely<GoodsDatabase>;

/** The reserve path's queries, compiled once per handle (a saga order runs each once). */
const queries = perKysely((k: Db) => ({
  findReservation: prepare(2, (id: string, requestId: string) =>
    k.selectFrom('reservations').select(['state', 'qty']).where('goods_id', '=', id).where('request_id', '=', requestId),
  ),
  takeStock: prepare(3, (id: string, qty: number, now: number) =>
    k
      .updateTable('goods')
      .set((eb) => ({ stock: eb('stock', '-', qty), updated_at: eb.fn('max', ['updated_at', eb.val(now)]) }))
      .where('id', '=', id)
      .where('stock', '>=', qty)
      .returning('stock'),
  ),
  insertReserved: prepare(4, (id: string, requestId: string, qty: number, now: number) =>
    k.insertInto('reservations').values({ goods_id: id, request_id: requestId, state: 'reserved', qty, created_at: now, updated_at: now }),
  ),
  stock: prepare(1, (id: string) => k.selectFrom('goods').select('stock').where('id', '=', id)),
}));

/** Parses its input itself: a caller composing it into its own transaction keeps the invariants. */
export function reserveIn(q: SyncQueries, k: Db, input: ReserveParams, now: number): Reservation {
  const { id, qty, requestId } = parseInput(ReserveParams, input);
  const prior = findReservation(q, k, id, requestId);
  if (prior) {
    if (prior.state === 'voided') throw alreadyReleased(requestId);
    if (prior.qty !== qty) {
      throw shopError(ShopErrorCode.IDEMPOTENCY_CONFLICT, 'requestId already used for a reservation of another qty', { requestId });
    }
    // Released after it was applied: no longer in effect, so a repeat must not read as success.
    if (prior.state === 'released') throw alreadyReleased(requestId);
    return { goodsId: id, qty, stock: currentStock(q, k, id) };
  }
  const prepared = queries(k);
  const updated = q.first(prepared.takeStock(id, qty, now));
  if (!updated) {
    const row = q.first(prepared.stock(id));
    if (!row) throw notFound('goods', id);
    throw shopError(ShopErrorCode.OUT_OF_STOCK, `${row.stock} in stock, reservation is ${qty}`, { stock: row.stock, qty });
  }
  q.run(prepared.insertReserved(id, requestId, qty, now));
  return { goodsId: id, qty, stock: checkedStock(id, updated.stock) };
}

export function releaseIn(q: SyncQueries, k: Db, input: ReleaseParams, now: number): Release {
  const { id, requestId } = parseInput(ReleaseParams, input);
  const prior = findReservation(q, k, id, requestId);
  if (!prior) {
    // Release before (or instead of) its reservation: leave a tombstone. The insert's foreign key
    // would refuse unknown goods too, but NOT_FOUND is the answer callers can act on.
    const row = q.first(k.selectFrom('goods').select('stock').where('id', '=', id));
    if (!row) throw notFound('goods', id);
    q.run(
      k.insertInto('reservations').values({ goods_id: id, request_id: requestId, state: 'voided', qty: null, created_at: now, updated_at: now }),
    );
    return { goodsId: id, released: 0, stock: checkedStock(id, row.stock) };
  }
  if (prior.state === 'voided') return { goodsId: id, released: 0, stock: currentStock(q, k, id) };
  const qty = prior.qty;
  if (qty === null) throw new Error(`invariant: reservation ${requestId} of ${id} has no qty`);
  if (prior.state === 'released') return { goodsId: id, released: qty, stock: currentStock(q, k, id) };
  const updated = q.first(
    k
      .updateTable('goods')
      .set((eb) => ({ stock: eb('stock', '+', qty), updated_at: eb.fn('max', ['updated_at', eb.val(now)]) }))
      .where('id', '=', id)
      .returning('stock'),
  );
  if (!updated) throw new Error(`invariant: reservation ${requestId} for missing goods ${id}`);
  const marked = q.run(
    k
      .updateTable('reservations')
      .set((eb) => ({ state: 'released', updated_at: eb.fn('max', ['created_at', eb.val(now)]) }))
      .where('goods_id', '=', id)
      .where('request_id', '=', requestId)
      .where('state', '=', 'reserved'),
  );
  if (marked.changes !== 1) throw new Error(`invariant: reservation ${requestId} of ${id} changed under the transaction`);
  return { goodsId: id, released: qty, stock: checkedStock(id, updated.stock) };
}

function findReservation(q: SyncQueries, k: Db, id: string, requestId: string): Pick<ReservationsTable, 'state' | 'qty'> | undefined {
  return q.first(queries(k).findReservation(id, requestId));
}

function currentStock(q: SyncQueries, k: Db, id: string): number {
  const row = q.first(queries(k).stock(id));
  if (!row) throw new Error(`invariant: reservation for missing goods ${id}`);
  return checkedStock(id, row.stock);
}

function checkedStock(id: string, stock: number): number {
  if (!Number.isSafeInteger(stock) || stock < 0) throw new Error(`invariant: stock of ${id} is ${stock}`);
  return stock;
}

function alreadyReleased(requestId: string): Error {
  return shopError(ShopErrorCode.ALREADY_RELEASED, 'this reservation was released already; it is not applied', { requestId });
}
