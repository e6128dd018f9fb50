// The orders database. STRICT tables; the CHECKs and the trigger restate the store's invariants:
// an order's status only moves pending → confirmed | failed, a failed order names its reason,
// money is integer cents. The saga log (src/txn) and the runtime's outbox live in the same file,
// so an order's end, its saga's end and its event commit together.
import type { ShoalEventTables } from '../../index.js';
import type { Migration } from '../common/index.js';
import { MAX_ITEM_QTY, MAX_ORDER_TOTAL_CENTS, type OrderMode, type OrderStatus } from './schemas.js';

export interface OrdersTable {
  id: string;
  user_id: string;
  status: OrderStatus;
  /** Integer cents. */
  total: number;
  mode: OrderMode;
  /** Set exactly when failed. */
  failure_code: string | null;
  failure_message: string | null;
  /** Unix milliseconds. */
  created_at: number;
  updated_at: number;
}

export interface OrderItemsTable {
  order_id: string;
  goods_id: string;
  qty: number;
  /** Integer cents at order time. */
  price: number;
}

/** One row per (user, Idempotency-Key): the order that key placed and a hash of its request. */
export interface IdempotencyTable {
  user_id: string;
  key: string;
  order_id: string;
  /** sha256 of the canonical request (items sorted by goods, mode). */
  request_hash: string;
  created_at: number;
}

export interface OrdersDatabase extends ShoalEventTables {
  orders: OrdersTable;
  order_items: OrderItemsTable;
  idempotency: IdempotencyTable;
}

export const ordersMigrations: readonly Migration[] = [
  {
    version: 1,
    name: 'orders, items, idempotency keys',
    statements: [
      `CREATE TABLE orders (
        id              TEXT    NOT NULL PRIMARY KEY,
        user_id         TEXT    NOT NULL CHECK (length(user_id) BETWEEN 1 AND 64),
        status          TEXT    NOT NULL CHECK (status IN ('pending', 'confirmed', 'failed')),
        total           INTEGER NOT NULL CHECK (total BETWEEN 0 AND ${MAX_ORDER_TOTAL_CENTS}),
        mode            TEXT    NOT NULL CHECK (mode IN ('saga', '2pc')),
        failure_code    TEXT,
        failure_message TEXT,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL CHECK (updated_at >= created_at),
        CHECK ((status = 'failed') = (failure_code IS NOT NULL)),
        CHECK ((failure_code IS NULL) = (failure_message IS NULL))
      ) STRICT`,
      // A user's orders, newest first, by keyset on id (ids sort by creation time).
      `CREATE INDEX orders_by_user ON orders (user_id, id)`,
      // What the 2PC recovery scans: the few orders not finished yet.
      `CREATE INDEX orders_pending ON orders (mode, created_at) WHERE status = 'pending'`,
      // An order ends once: confirmed and failed are final, and nothing else about it changes.
      `CREATE TRIGGER orders_transition BEFORE UPDATE ON orders
      WHEN NOT (OLD.status = 'pending' AND NEW.status IN ('confirmed', 'failed')
                AND NEW.id = OLD.id AND NEW.user_id = OLD.user_id AND NEW.total = OLD.total
                AND NEW.mode = OLD.mode AND NEW.created_at = OLD.created_at)
      BEGIN SELECT RAISE(ABORT, 'orders: only pending -> confirmed | failed is allowed'); END`,
      `CREATE TABLE order_items (
        order_id TEXT    NOT NULL REFERENCES orders (id),
        goods_id TEXT    NOT NULL CHECK (length(goods_id) BETWEEN 1 AND 64),
        qty      INTEGER NOT NULL CHECK (qty BETWEEN 1 AND ${MAX_ITEM_QTY}),
        price    INTEGER NOT NULL CHECK (price >= 0),
        PRIMARY KEY (order_id, goods_id)
      ) STRICT, WITHOUT ROWID`,
      `CREATE TABLE idempotency (
        user_id      TEXT    NOT NULL,
        key          TEXT    NOT NULL CHECK (length(key) BETWEEN 1 AND 128),
        order_id     TEXT    NOT NULL UNIQUE REFERENCES orders (id),
        request_hash TEXT    NOT NULL,
        created_at   INTEGER NOT NULL,
        PRIMARY KEY (user_id, key)
      ) STRICT, WITHOUT ROWID`,
    ],
  },
];
