// The goods database. STRICT tables; the CHECKs restate the store's invariants so that no path —
// including reserve/release, which change stock by one conditional UPDATE —
// can leave negative stock. Stock's upper bound is 2^53-1 rather than MAX_STOCK: a release
// after an admin set stock to the maximum must still succeed (compensations retry until done).
import type { Migration } from '../common/index.js';
import { MAX_PRICE_CENTS, MAX_RESERVE_QTY } from './schemas.js';

export interface GoodsTable {
  id: string;
  name: string;
  /** Integer cents. */
  price: number;
  stock: number;
  /** Unix milliseconds. */
  created_at: number;
  updated_at: number;
}

/**
 * One row per reservation requestId ever seen for goods, kept for good: 'reserved' (stock taken),
 * 'released' (taken, then put back), 'voided' (the release came first: a tombstone, no qty, that
 * makes a late reservation with this requestId a no-op refusal).
 */
export interface ReservationsTable {
  goods_id: string;
  request_id: string;
  state: ReservationState;
  /** Null only when voided. */
  qty: number | null;
  created_at: number;
  updated_at: number;
}

export type ReservationState = 'reserved' | 'released' | 'voided';

export interface GoodsDatabase {
  goods: GoodsTable;
  reservations: ReservationsTable;
}

export const goodsMigrations: readonly Migration[] = [
  {
    version: 1,
    name: 'goods',
    statements: [
      `CREATE TABLE goods (
        id         TEXT    NOT NULL PRIMARY KEY,
        name       TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        price      INTEGER NOT NULL CHECK (price BETWEEN 0 AND ${MAX_PRICE_CENTS}),
        stock      INTEGER NOT NULL CHECK (stock BETWEEN 0 AND ${Number.MAX_SAFE_INTEGER}),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL CHECK (updated_at >= created_at)
      ) STRICT`,
    ],
  },
  {
    version: 2,
    name: 'reservations',
    statements: [
      `CREATE TABLE reservations (
        goods_id   TEXT    NOT NULL REFERENCES goods (id),
        request_id TEXT    NOT NULL CHECK (length(request_id) BETWEEN 1 AND 128),
        state      TEXT    NOT NULL CHECK (state IN ('reserved', 'released', 'voided')),
        qty        INTEGER CHECK (qty BETWEEN 1 AND ${MAX_RESERVE_QTY}),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL CHECK (updated_at >= created_at),
        CHECK ((state = 'voided') = (qty IS NULL)),
        PRIMARY KEY (goods_id, request_id)
      ) STRICT, WITHOUT ROWID`,
      // The only legal change of a row: reserved -> released, same qty. Anything else would let a
      // reservation apply twice or a release create stock that was never taken.
      `CREATE TRIGGER reservations_transition BEFORE UPDATE ON reservations
      WHEN NOT (OLD.state = 'reserved' AND NEW.state = 'released' AND NEW.qty IS OLD.qty
                AND NEW.goods_id = OLD.goods_id AND NEW.request_id = OLD.request_id)
      BEGIN SELECT RAISE(ABORT, 'reservations: only reserved -> released is allowed'); END`,
    ],
  },
];
