// The goods service's business logic over its own database. Stock and price changes are single
// UPDATE statements; the next issue's reserve/release become `stock = stock - n WHERE stock >= n`
// next to a barrier row inside ServiceDb.transaction.
import { IdGenerator, ServiceDb, notFound, parseInput, type ServiceDbOptions } from '../common/index.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { goodsMigrations, type GoodsDatabase, type GoodsTable } from './migrations.js';
import {
  CreateGoodsParams,
  GetGoodsParams,
  ListGoodsParams,
  UpdateGoodsParams,
  type Goods,
  type GoodsPage,
} from './schemas.js';

export interface GoodsStoreOptions extends ServiceDbOptions {
  /** Unix milliseconds; for timestamps and ids. */
  now?: () => number;
}

export class GoodsStore {
  readonly db: ServiceDb<GoodsDatabase>;
  readonly #now: () => number;
  readonly #ids: IdGenerator;

  private constructor(db: ServiceDb<GoodsDatabase>, options: GoodsStoreOptions) {
    this.db = db;
    this.#now = options.now ?? Date.now;
    this.#ids = new IdGenerator('g_', { now: this.#now });
  }

  static open(file: string, options: GoodsStoreOptions = {}): GoodsStore {
    return new GoodsStore(ServiceDb.open<GoodsDatabase>(file, goodsMigrations, options), options);
  }

  async create(input: CreateGoodsParams): Promise<Goods> {
    const p = parseInput(CreateGoodsParams, input);
    const now = this.#now();
    const row = await this.db.kysely
      .insertInto('goods')
      .values({ id: this.#ids.next(), name: p.name, price: p.price, stock: p.stock, created_at: now, updated_at: now })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toGoods(row);
  }

  async get(input: GetGoodsParams): Promise<Goods> {
    const { id } = parseInput(GetGoodsParams, input);
    const row = await this.db.kysely.selectFrom('goods').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound('goods', id);
    return toGoods(row);
  }

  /** Keyset paging by id: each page starts after the previous page's last id. */
  async list(input: ListGoodsParams = {}): Promise<GoodsPage> {
    const { limit, cursor } = parseInput(ListGoodsParams, input);
    let query = this.db.kysely.selectFrom('goods').selectAll().orderBy('id').limit(limit + 1);
    if (cursor !== undefined) query = query.where('id', '>', decodeCursor(cursor));
    const rows = await query.execute();
    const items = rows.slice(0, limit).map(toGoods);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > limit && last ? encodeCursor(last.id) : null };
  }

  async update(input: UpdateGoodsParams): Promise<Goods> {
    const { id, name, price, stock } = parseInput(UpdateGoodsParams, input);
    const k = this.db.kysely;
    const now = this.#now();
    const changes: Partial<GoodsTable> = {};
    if (name !== undefined) changes.name = name;
    if (price !== undefined) changes.price = price;
    if (stock !== undefined) changes.stock = stock;
    // max(): updated_at never goes back, even if this instance's clock is behind the creator's.
    const row = await k
      .updateTable('goods')
      .set((eb) => ({ ...changes, updated_at: eb.fn('max', ['updated_at', eb.val(now)]) }))
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    if (!row) throw notFound('goods', id);
    return toGoods(row);
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

function toGoods(row: GoodsTable): Goods {
  if (!Number.isSafeInteger(row.stock) || row.stock < 0) throw new Error(`invariant: stock of ${row.id} is ${row.stock}`);
  if (!Number.isSafeInteger(row.price) || row.price < 0) throw new Error(`invariant: price of ${row.id} is ${row.price}`);
  return {
    id: row.id,
    name: row.name,
    price: row.price,
    stock: row.stock,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}
