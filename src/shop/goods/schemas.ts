// The goods service's action params and results as zod schemas (runtime validation, store
// input checks, OpenAPI documentation).
import { z } from 'zod';
import { BranchParamsSchema } from '../common/txn.js';

/** Upper bound of a price (integer cents) and of a stock level set through the API. */
export const MAX_PRICE_CENTS = 1_000_000_000;
export const MAX_STOCK = 1_000_000_000;
/** Largest single reservation. */
export const MAX_RESERVE_QTY = 1_000_000;
export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

export const GoodsId = z.string().min(1).max(64);
const GoodsName = z.string().trim().min(1).max(200);
const Price = z.int().min(0).max(MAX_PRICE_CENTS);
const Stock = z.int().min(0).max(MAX_STOCK);

export const Goods = z.object({
  id: z.string(),
  name: z.string(),
  /** Integer cents. */
  price: z.int().min(0),
  stock: z.int().min(0),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});
export type Goods = z.infer<typeof Goods>;

export const GoodsPage = z.object({
  items: z.array(Goods),
  /** Pass back as `cursor` for the next page; null on the last page. */
  nextCursor: z.string().nullable(),
});
export type GoodsPage = z.infer<typeof GoodsPage>;

export const CreateGoodsParams = z.object({ name: GoodsName, price: Price, stock: Stock });
export type CreateGoodsParams = z.input<typeof CreateGoodsParams>;

export const GetGoodsParams = z.object({ id: GoodsId });
export type GetGoodsParams = z.input<typeof GetGoodsParams>;

export const ListGoodsParams = z.object({
  limit: z.int().min(1).max(MAX_PAGE_SIZE).default(DEFAULT_PAGE_SIZE),
  /** Opaque: a previous page's nextCursor. */
  cursor: z.string().min(1).max(256).optional(),
});
export type ListGoodsParams = z.input<typeof ListGoodsParams>;

export const UpdateGoodsParams = z
  .object({ id: GoodsId, name: GoodsName.optional(), price: Price.optional(), stock: Stock.optional() })
  .refine((p) => p.name !== undefined || p.price !== undefined || p.stock !== undefined, {
    message: 'give at least one of name, price, stock',
  });
export type UpdateGoodsParams = z.input<typeof UpdateGoodsParams>;

/** The caller's key for one stock change; a saga uses its branch id. */
export const RequestId = z.string().min(1).max(128);

export const ReserveParams = z.object({
  id: GoodsId,
  qty: z.int().min(1).max(MAX_RESERVE_QTY),
  /** Required: the reservation is applied at most once per (goods, requestId), and release names it. */
  requestId: RequestId,
});
export type ReserveParams = z.input<typeof ReserveParams>;

export const Reservation = z.object({
  goodsId: z.string(),
  qty: z.int().min(1),
  /** Stock remaining now (a repeat reports the current level). */
  stock: z.int().min(0),
});
export type Reservation = z.infer<typeof Reservation>;

export const ReleaseParams = z.object({
  id: GoodsId,
  /** The requestId of the reservation to undo. */
  requestId: RequestId,
});
export type ReleaseParams = z.input<typeof ReleaseParams>;

export const Release = z.object({
  goodsId: z.string(),
  /** What this requestId's release put back: the reserved qty, or 0 if it came before any reservation. Repeats report the same. */
  released: z.int().min(0),
  stock: z.int().min(0),
});
export type Release = z.infer<typeof Release>;

/** A saga step's branch (gid, branch) plus what to reserve: the reservation's requestId is `${gid}/${branch}`. */
export const SagaReserveParams = z.object({ id: GoodsId, qty: z.int().min(1).max(MAX_RESERVE_QTY) }).extend(BranchParamsSchema.shape);
export type SagaReserveParams = z.input<typeof SagaReserveParams>;

/** The compensation of a SagaReserve branch (a qty, if sent, is ignored: what the branch took is put back). */
export const SagaReleaseParams = z.object({ id: GoodsId }).extend(BranchParamsSchema.shape);
export type SagaReleaseParams = z.input<typeof SagaReleaseParams>;

/** 2PC phase one: take qty from the stock into a reservation held until commit or abort. */
export const PrepareReserveParams = SagaReserveParams;
export type PrepareReserveParams = z.input<typeof PrepareReserveParams>;

/** 2PC phase two (commit or abort) of a prepared reservation. */
export const FinishReserveParams = z.object({ id: GoodsId }).extend(BranchParamsSchema.shape);
export type FinishReserveParams = z.input<typeof FinishReserveParams>;

/** What a prepare, commit or abort did: `applied` false for a repeat or a no-op. */
export const ReserveBranchResult = z.object({
  goodsId: z.string(),
  /** Units this call moved (taken by prepare, put back by abort); 0 when it did nothing. */
  qty: z.int().min(0),
  applied: z.boolean(),
  stock: z.int().min(0),
});
export type ReserveBranchResult = z.infer<typeof ReserveBranchResult>;
