// The orders service's action params and results as zod schemas: the runtime validates params
// with them, the store parses its input with them, the gateway documents them (OpenAPI).
import { z } from 'zod';

export const MAX_ORDER_ITEMS = 20;
export const MAX_ITEM_QTY = 1_000;
/** An order's total must fit one wallet debit (users' MAX_DEBIT_CENTS). */
export const MAX_ORDER_TOTAL_CENTS = 100_000_000;
export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

export const OrderId = z.string().min(1).max(64);
export const UserId = z.string().min(1).max(64);
export const GoodsId = z.string().min(1).max(64);
export const OrderMode = z.enum(['saga', '2pc']);
export type OrderMode = z.infer<typeof OrderMode>;
export const OrderStatus = z.enum(['pending', 'confirmed', 'failed']);
export type OrderStatus = z.infer<typeof OrderStatus>;
/** What a client sends as Idempotency-Key: one order per (user, key). */
export const IdempotencyKey = z.string().min(1).max(128);

export const OrderItemInput = z.object({ goodsId: GoodsId, qty: z.int().min(1).max(MAX_ITEM_QTY) });
export type OrderItemInput = z.infer<typeof OrderItemInput>;

export const PlaceOrderParams = z.object({
  userId: UserId,
  items: z
    .array(OrderItemInput)
    .min(1)
    .max(MAX_ORDER_ITEMS)
    .refine((items) => new Set(items.map((i) => i.goodsId)).size === items.length, 'each goods may appear once (add up the qty)'),
  mode: OrderMode.default('saga'),
  idempotencyKey: IdempotencyKey,
});
export type PlaceOrderParams = z.input<typeof PlaceOrderParams>;
/** PlaceOrderParams as parsed (what the place action's ctx.params holds). */
export type PlaceOrderParsed = z.output<typeof PlaceOrderParams>;

export const OrderItem = z.object({
  goodsId: z.string(),
  qty: z.int().min(1),
  /** Integer cents: the goods' price when the order was placed. */
  price: z.int().min(0),
});
export type OrderItem = z.infer<typeof OrderItem>;

export const OrderFailure = z.object({ code: z.string(), message: z.string() });
export type OrderFailure = z.infer<typeof OrderFailure>;

export const Order = z.object({
  id: z.string(),
  userId: z.string(),
  status: OrderStatus,
  /** Integer cents: Σ price × qty. */
  total: z.int().min(0),
  mode: OrderMode,
  /** In goods id order (the order the saga reserves them in). */
  items: z.array(OrderItem),
  /** Why a failed order failed (OUT_OF_STOCK, INSUFFICIENT_FUNDS, …); absent otherwise. */
  failure: OrderFailure.optional(),
  createdAt: z.iso.datetime(),
});
export type Order = z.infer<typeof Order>;

export const GetOrderParams = z.object({
  id: OrderId,
  /** When given, an order of another user is NOT_FOUND (the gateway passes the caller's id). */
  userId: UserId.optional(),
});
export type GetOrderParams = z.input<typeof GetOrderParams>;

/** Only the public fields of the user (the users service's User). */
export const OrderUser = z.object({
  id: z.string(),
  name: z.string(),
  email: z.string(),
  address: z.string(),
  phone: z.string(),
  wallet: z.int(),
  role: z.string(),
  createdAt: z.string(),
});
export type OrderUser = z.infer<typeof OrderUser>;

export const OrderWithUser = z.object({ order: Order, user: OrderUser });
export type OrderWithUser = z.infer<typeof OrderWithUser>;

export const ListOrdersParams = z.object({
  userId: UserId,
  limit: z.int().min(1).max(MAX_PAGE_SIZE).default(DEFAULT_PAGE_SIZE),
  /** Opaque: a previous page's nextCursor. */
  cursor: z.string().min(1).max(256).optional(),
});
export type ListOrdersParams = z.input<typeof ListOrdersParams>;

export const OrdersPage = z.object({
  /** Newest first. */
  items: z.array(Order),
  /** Pass back as `cursor` for the next page; null on the last page. */
  nextCursor: z.string().nullable(),
});
export type OrdersPage = z.infer<typeof OrdersPage>;
