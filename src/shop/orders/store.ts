// The orders service's own database: orders, their items, idempotency keys, and (in the same
// file) the saga log and the runtime's outbox. An order is created 'pending' together with its
// idempotency row in one local transaction, and finished (confirmed | failed) exactly once,
// together with its event in the outbox.
import { createHash } from 'node:crypto';
import type BetterSqlite3 from 'better-sqlite3';
import type { Kysely } from 'kysely';
import type { ShoalEventTables } from '../../index.js';
import { IdGenerator, ServiceDb, parseInput, syncQueries, type ServiceDbOptions, type SyncQueries } from '../common/index.js';
import { enqueueEventIn } from '../common/outbox.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { ordersMigrations, type OrderItemsTable, type OrdersDatabase, type OrdersTable } from './migrations.js';
import { prepare } from '../common/prepared.js';
import { ListOrdersParams, MAX_ORDER_TOTAL_CENTS, type Order, type OrderFailure, type OrderMode, type OrdersPage } from './schemas.js';

export interface OrdersStoreOptions extends ServiceDbOptions {
  /** Unix milliseconds; for timestamps and ids. */
  now?: () => number;
}

/** A priced line of a new order. */
export interface PricedItem {
  goodsId: string;
  qty: number;
  /** Integer cents. */
  price: number;
}

export interface NewOrder {
  userId: string;
  idempotencyKey: string;
  requestHash: string;
  mode: OrderMode;
  items: readonly PricedItem[];
}

export type CreateResult =
  | { created: true; order: Order }
  /** The key was taken (maybe by a concurrent request): that order, and the hash of its request. */
  | { created: false; orderId: string; requestHash: string };

export type Outcome = { status: 'confirmed' } | { status: 'failed'; failure: OrderFailure };

/** The events an order's end puts in the outbox. */
export const ORDER_CONFIRMED = 'order.confirmed';
export const ORDER_FAILED = 'order.failed';

/** sha256 of the canonical request: what makes "the same request" under one Idempotency-Key. */
export function requestHash(mode: OrderMode, items: readonly { goodsId: string; qty: number }[]): string {
  const canonical = [...items].sort((a, b) => (a.goodsId < b.goodsId ? -1 : a.goodsId > b.goodsId ? 1 : 0)).map((i) => [i.goodsId, i.qty]);
  return createHash('sha256').update(JSON.stringify({ mode, items: canonical })).digest('hex');
}

/** Σ price × qty in integer cents, checked to stay exact. */
export function orderTotal(items: readonly PricedItem[]): number {
  let total = 0;
  for (const i of items) {
    total += i.price * i.qty;
    if (!Number.isSafeInteger(total)) throw new Error('invariant: order total is not a safe integer');
  }
  return total;
}

/** What every order placed runs, compiled once per store: only the values are bound per call. */
function hotQueries(k: Kysely<OrdersDatabase>) {
  return {
    byKey: prepare(2, (userId: string, key: string) => k.selectFrom('idempotency').select(['order_id', 'request_hash']).where('user_id', '=', userId).where('key', '=', key)),
    order: prepare(1, (id: string) => k.selectFrom('orders').selectAll().where('id', '=', id)),
    items: prepare(1, (id: string) => k.selectFrom('order_items').selectAll().where('order_id', '=', id).orderBy('goods_id')),
    insertOrder: prepare(6, (id: string, userId: string, total: number, mode: OrderMode, createdAt: number, updatedAt: number) =>
      k.insertInto('orders').values({
        id,
        user_id: userId,
        status: 'pending',
        total,
        mode,
        failure_code: null,
        failure_message: null,
        created_at: createdAt,
        updated_at: updatedAt,
      }),
    ),
    // One row per statement (an order's items, in one transaction): a multi-row insert would be
    // another statement per item count.
    insertItem: prepare(4, (orderId: string, goodsId: string, qty: number, price: number) =>
      k.insertInto('order_items').values({ order_id: orderId, goods_id: goodsId, qty, price }),
    ),
    insertKey: prepare(5, (userId: string, key: string, orderId: string, requestHash: string, createdAt: number) =>
      k.insertInto('idempotency').values({ user_id: userId, key, order_id: orderId, request_hash: requestHash, created_at: createdAt }),
    ),
    end: prepare(5, (id: string, status: 'confirmed' | 'failed', failureCode: string | null, failureMessage: string | null, now: number) =>
      k
        .updateTable('orders')
        .set((eb) => ({
          status,
          failure_code: failureCode,
          failure_message: failureMessage,
          updated_at: eb.fn('max', ['created_at', eb.val(now)]),
        }))
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .returning(['user_id', 'total']),
    ),
    statusOf: prepare(1, (id: string) => k.selectFrom('orders').select('status').where('id', '=', id)),
  };
}

export class OrdersStore {
  readonly db: ServiceDb<OrdersDatabase>;
  readonly #now: () => number;
  readonly #ids: IdGenerator;
  readonly #sql: ReturnType<typeof hotQueries>;
  #onHandle: SyncQueries | undefined;

  private constructor(db: ServiceDb<OrdersDatabase>, options: OrdersStoreOptions) {
    this.db = db;
    this.#now = options.now ?? Date.now;
    this.#ids = new IdGenerator('o_', { now: this.#now });
    this.#sql = hotQueries(db.kysely);
  }

  static open(file: string, options: OrdersStoreOptions = {}, migrateMore?: (sqlite: BetterSqlite3.Database) => void): OrdersStore {
    const db = ServiceDb.open<OrdersDatabase>(file, ordersMigrations, options);
    try {
      migrateMore?.(db.sqlite);
    } catch (err) {
      void db.close();
      throw err;
    }
    return new OrdersStore(db, options);
  }

  now(): number {
    return this.#now();
  }

  async findByKey(userId: string, key: string): Promise<{ orderId: string; requestHash: string } | undefined> {
    const row = (await this.db.kysely.executeQuery(this.#sql.byKey(userId, key))).rows[0];
    return row === undefined ? undefined : { orderId: row.order_id, requestHash: row.request_hash };
  }

  /**
   * The pending order and its idempotency row in one transaction; or the order the key already
   * names. `alongside` runs in that same transaction once the order is written (the saga log's
   * record of its transaction); a throw there undoes the order too.
   */
  async createPending(input: NewOrder, alongside?: (order: Order) => void): Promise<CreateResult> {
    if (input.items.length === 0) throw new Error('invariant: an order needs items');
    const total = orderTotal(input.items);
    if (total > MAX_ORDER_TOTAL_CENTS) throw new Error(`invariant: total ${total} above the limit was not refused earlier`);
    const now = this.#now();
    const id = this.#ids.next();
    const sql = this.#sql;
    return this.db.transaction((q): CreateResult => {
      // BEGIN IMMEDIATE: no other writer between this read and the inserts.
      const taken = q.first(sql.byKey(input.userId, input.idempotencyKey));
      if (taken) return { created: false, orderId: taken.order_id, requestHash: taken.request_hash };
      const row: OrdersTable = {
        id,
        user_id: input.userId,
        status: 'pending',
        total,
        mode: input.mode,
        failure_code: null,
        failure_message: null,
        created_at: now,
        updated_at: now,
      };
      q.run(sql.insertOrder(row.id, row.user_id, row.total, row.mode, row.created_at, row.updated_at));
      const items: OrderItemsTable[] = input.items.map((i) => ({ order_id: id, goods_id: i.goodsId, qty: i.qty, price: i.price }));
      for (const item of items) q.run(sql.insertItem(item.order_id, item.goods_id, item.qty, item.price));
      q.run(sql.insertKey(input.userId, input.idempotencyKey, id, input.requestHash, now));
      const order = toOrder(row, items);
      alongside?.(order);
      return { created: true, order };
    });
  }

  async get(id: string): Promise<Order | undefined> {
    const k = this.db.kysely;
    const row = (await k.executeQuery(this.#sql.order(id))).rows[0];
    if (!row) return undefined;
    const { rows: items } = await k.executeQuery(this.#sql.items(id));
    return toOrder(row, items);
  }

  /** The user's orders, newest first, by keyset on id. */
  async list(input: ListOrdersParams): Promise<OrdersPage> {
    const { userId, limit, cursor } = parseInput(ListOrdersParams, input);
    const k = this.db.kysely;
    let query = k.selectFrom('orders').selectAll().where('user_id', '=', userId).orderBy('id', 'desc').limit(limit + 1);
    if (cursor !== undefined) query = query.where('id', '<', decodeCursor(cursor));
    const rows = await query.execute();
    const page = rows.slice(0, limit);
    const items = page.length === 0 ? [] : await k.selectFrom('order_items').selectAll().where('order_id', 'in', page.map((r) => r.id)).orderBy('goods_id').execute();
    const byOrder = new Map<string, OrderItemsTable[]>();
    for (const item of items) byOrder.set(item.order_id, [...(byOrder.get(item.order_id) ?? []), item]);
    const orders = page.map((r) => toOrder(r, byOrder.get(r.id) ?? []));
    const last = orders.at(-1);
    return { items: orders, nextCursor: rows.length > limit && last ? encodeCursor(last.id) : null };
  }

  /** Pending orders of a mode created at or before `createdBefore` (what recovery looks at). */
  async pending(mode: OrderMode, createdBefore: number, limit = 100): Promise<Order[]> {
    const rows = await this.db.kysely
      .selectFrom('orders')
      .select('id')
      .where('status', '=', 'pending')
      .where('mode', '=', mode)
      .where('created_at', '<=', createdBefore)
      .orderBy('created_at')
      .limit(limit)
      .execute();
    const orders = await Promise.all(rows.map((r) => this.get(r.id)));
    return orders.filter((o): o is Order => o !== undefined && o.status === 'pending');
  }

  /**
   * Ends a pending order and stores its event, inside a transaction open on this database's
   * handle (a saga's onFinished gets that handle). False if it had ended already (a repeat).
   */
  finishIn(q: SyncQueries, orderId: string, outcome: Outcome, now: number = this.#now()): boolean {
    const k = this.db.kysely;
    const failure = outcome.status === 'failed' ? outcome.failure : undefined;
    const updated = q.first(
      this.#sql.end(orderId, outcome.status, failure?.code ?? null, failure === undefined ? null : failure.message.slice(0, 500), now),
    );
    if (!updated) {
      const exists = q.first(this.#sql.statusOf(orderId));
      if (!exists) throw new Error(`invariant: finishing order ${orderId}, which does not exist`);
      return false;
    }
    const event = outcome.status === 'confirmed' ? ORDER_CONFIRMED : ORDER_FAILED;
    enqueueEventIn(q, k as unknown as Kysely<ShoalEventTables>, event, { orderId, userId: updated.user_id, total: updated.total }, now);
    return true;
  }

  /** finishIn on the raw handle of a transaction someone else opened (the saga log's). */
  finishOn(sqlite: BetterSqlite3.Database, orderId: string, outcome: Outcome): boolean {
    if (sqlite !== this.db.sqlite) throw new Error('invariant: finishOn needs this store\'s own handle');
    if (!sqlite.inTransaction) throw new Error('invariant: finishOn must run inside an open transaction');
    // One SyncQueries for the handle (it only wraps the handle's statement cache).
    this.#onHandle ??= syncQueries(sqlite);
    return this.finishIn(this.#onHandle, orderId, outcome);
  }

  /** finishIn in a transaction of its own. */
  async finish(orderId: string, outcome: Outcome): Promise<boolean> {
    const now = this.#now();
    return this.db.transaction((q) => this.finishIn(q, orderId, outcome, now));
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

function toOrder(row: OrdersTable, items: readonly OrderItemsTable[]): Order {
  if (!Number.isSafeInteger(row.total) || row.total < 0) throw new Error(`invariant: total of ${row.id} is ${row.total}`);
  if (items.length === 0) throw new Error(`invariant: order ${row.id} has no items`);
  const order: Order = {
    id: row.id,
    userId: row.user_id,
    status: row.status,
    total: row.total,
    mode: row.mode,
    // Goods order, however the request listed them: the transaction built from an order must be
    // the same on every path (live, repeat, recovery).
    items: [...items].sort((a, b) => (a.goods_id < b.goods_id ? -1 : a.goods_id > b.goods_id ? 1 : 0)).map((i) => ({ goodsId: i.goods_id, qty: i.qty, price: i.price })),
    createdAt: new Date(row.created_at).toISOString(),
  };
  if (row.failure_code !== null) order.failure = { code: row.failure_code, message: row.failure_message ?? '' };
  return order;
}
