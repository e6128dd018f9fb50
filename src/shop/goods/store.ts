// The goods service's business logic over its own database. Stock and price changes are single
// UPDATE statements; reserve/release are `stock = stock - n WHERE stock >= n` (and its inverse)
// next to their reservations row inside ServiceDb.transaction (stock.ts).
import { IdGenerator, ServiceDb, notFound, parseInput, syncQueries, type ServiceDbOptions } from '../common/index.js';
import type { CompiledQuery } from 'kysely';
import { decodeCursor, encodeCursor } from './cursor.js';
import { goodsMigrations, type GoodsDatabase, type GoodsTable } from './migrations.js';
import {
  CreateGoodsParams,
  GetGoodsParams,
  ListGoodsParams,
  UpdateGoodsParams,
  type Goods,
  type FinishReserveParams,
  type GoodsPage,
  type PrepareReserveParams,
  type Release,
  type ReleaseParams,
  type ReserveParams,
  type Reservation,
  type ReserveBranchResult,
  type SagaReleaseParams,
  type SagaReserveParams,
} from './schemas.js';
import { releaseIn, reserveIn } from './stock.js';
import { abortReserveIn, commitReserveIn, prepareReserveIn, releaseHeld, sagaReleaseIn, sagaReserveIn } from './branches.js';
import { InDoubtResolver, migrateParticipantTables, type InDoubtResolverOptions } from '../common/txn.js';

export interface GoodsStoreOptions extends ServiceDbOptions {
  /** Unix milliseconds; for timestamps and ids. */
  now?: () => number;
}

export class GoodsStore {
  readonly db: ServiceDb<GoodsDatabase>;
  readonly #now: () => number;
  readonly #ids: IdGenerator;
  #getQuery: CompiledQuery<GoodsTable> | undefined;

  private constructor(db: ServiceDb<GoodsDatabase>, options: GoodsStoreOptions) {
    this.db = db;
    this.#now = options.now ?? Date.now;
    this.#ids = new IdGenerator('g_', { now: this.#now });
  }

  static open(file: string, options: GoodsStoreOptions = {}): GoodsStore {
    const db = ServiceDb.open<GoodsDatabase>(file, goodsMigrations, options);
    try {
      // src/txn's own tables (CREATE IF NOT EXISTS): the barrier and the 2PC participant log.
      migrateParticipantTables(db.sqlite);
    } catch (err) {
      void db.close();
      throw err;
    }
    return new GoodsStore(db, options);
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
    return this.getById(id);
  }

  /**
   * `get` for an id already validated against GetGoodsParams (the service's action: the runtime
   * parsed its params with that schema). The query is built and compiled once; each call only
   * binds the id.
   */
  async getById(id: string): Promise<Goods> {
    this.#getQuery ??= this.db.kysely.selectFrom('goods').selectAll().where('id', '=', '').compile();
    const q = this.#getQuery;
    // Built field by field (an object spread followed by more keys is a slow path in V8).
    const { rows } = await this.db.kysely.executeQuery<GoodsTable>({ query: q.query, queryId: q.queryId, sql: q.sql, parameters: [id] });
    const row = rows[0];
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

  /**
   * Takes `qty` from the stock if there is that much (OUT_OF_STOCK otherwise), at most once per
   * (goods, requestId): a repeat reports the current stock; a repeat with another qty is
   * IDEMPOTENCY_CONFLICT; a reservation whose requestId was released already, even before it
   * arrived, is ALREADY_RELEASED and takes nothing.
   */
  async reserve(input: ReserveParams): Promise<Reservation> {
    // Parsed inside the step; the clock is read before the write lock is taken.
    const now = this.#now();
    return this.db.transaction((q) => reserveIn(q, this.db.kysely, input, now));
  }

  /**
   * Puts back exactly what the reservation with this requestId took, once. With no such
   * reservation it records that the release came first (released: 0), so that reservation, if it
   * ever arrives, is refused. Repeats report the same `released` and the current stock.
   */
  async release(input: ReleaseParams): Promise<Release> {
    // Parsed inside the step; the clock is read before the write lock is taken.
    const now = this.#now();
    return this.db.transaction((q) => releaseIn(q, this.db.kysely, input, now));
  }

  /** Saga action of an order: reserve once per (gid, branch), barrier in the same transaction. */
  async sagaReserve(input: SagaReserveParams): Promise<ReserveBranchResult> {
    const now = this.#now();
    return this.db.transaction((q) => sagaReserveIn(this.db.sqlite, q, this.db.kysely, input, now));
  }

  /** Saga compensation: release what sagaReserve of this branch took, if it ran. */
  async sagaRelease(input: SagaReleaseParams): Promise<ReserveBranchResult> {
    const now = this.#now();
    return this.db.transaction((q) => sagaReleaseIn(this.db.sqlite, q, this.db.kysely, input, now));
  }

  /** 2PC phase one: reserve into a held reservation (OUT_OF_STOCK refuses). */
  async prepareReserve(input: PrepareReserveParams): Promise<ReserveBranchResult> {
    const now = this.#now();
    return this.db.transaction((q) => prepareReserveIn(this.db.sqlite, q, this.db.kysely, input, now));
  }

  /** 2PC commit of a prepared reservation. */
  async commitReserve(input: FinishReserveParams): Promise<ReserveBranchResult> {
    return this.db.transaction((q) => commitReserveIn(this.db.sqlite, q, this.db.kysely, input));
  }

  /** 2PC abort: puts the held stock back (a no-op if never prepared). */
  async abortReserve(input: FinishReserveParams): Promise<ReserveBranchResult> {
    const now = this.#now();
    return this.db.transaction((q) => abortReserveIn(this.db.sqlite, q, this.db.kysely, input, now));
  }

  /**
   * Finishes prepared reservations whose coordinator went away, by the decision stored in the
   * coordinator (or a presumed abort). Commit has nothing to do beyond the prepared row.
   */
  inDoubtResolver(options: Omit<InDoubtResolverOptions, 'db' | 'onCommit' | 'onAbort'>): InDoubtResolver {
    return new InDoubtResolver({
      ...options,
      db: this.db.sqlite,
      onCommit: () => undefined,
      onAbort: (gid, branch, resources, db) => {
        releaseHeld(syncQueries(db), this.db.kysely, gid, branch, resources, this.#now());
      },
    });
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

/** Recently formatted timestamps (ms → ISO 8601): a row read again formats the same two. */
const isoCache = new Map<number, string>();
const ISO_CACHE_MAX = 4096;

function iso(ms: number): string {
  let text = isoCache.get(ms);
  if (text === undefined) {
    text = new Date(ms).toISOString();
    if (isoCache.size >= ISO_CACHE_MAX) isoCache.clear();
    isoCache.set(ms, text);
  }
  return text;
}

function toGoods(row: GoodsTable): Goods {
  if (!Number.isSafeInteger(row.stock) || row.stock < 0) throw new Error(`invariant: stock of ${row.id} is ${row.stock}`);
  if (!Number.isSafeInteger(row.price) || row.price < 0) throw new Error(`invariant: price of ${row.id} is ${row.price}`);
  return {
    id: row.id,
    name: row.name,
    price: row.price,
    stock: row.stock,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}
