// The goods database. STRICT table; the CHECKs restate the store's invariants so that no path —
// including the next issue's reserve/release, which change stock by one conditional UPDATE —
// can leave negative stock. Stock's upper bound is 2^53-1 rather than MAX_STOCK: a release
// after an admin set stock to the maximum must still succeed (compensations retry until done).
import type { Migration } from '../common/index.js';
import { MAX_PRICE_CENTS } from './schemas.js';

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

export interface GoodsDatabase {
  goods: GoodsTable;
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
];
