// The shop's order routes (DESIGN 3.3) over the orders service. The caller is always the token's
// subject: a client never names the user an order is for or whose orders it reads.
//
// POST /orders answers 201 with the order once its transaction has ended — confirmed, or failed
// with the reason (OUT_OF_STOCK, INSUFFICIENT_FUNDS, …) in `failure`: a failed order is still an
// order that was placed and decided, and a repeat of the same Idempotency-Key must get the same
// answer, so both end in 201 and the client reads `status`. A repeat (same key, same body) is
// also 201 with the same order. If the order is still being decided when the gateway's time runs
// out, it is 201 with status 'pending' (GET it later). The key with another body is 409
// IDEMPOTENCY_CONFLICT; a missing Idempotency-Key is 400.
import { z } from 'zod';
import { isShoalError } from '../errors/index.js';
import { HttpError } from './errors.js';
import { defineRoute, type RouteSpec } from './route-table.js';

/** Codes the order routes answer with 409: the request conflicts with the shop's state. */
export const ORDER_CONFLICT_CODES: readonly string[] = ['OUT_OF_STOCK', 'INSUFFICIENT_FUNDS', 'IDEMPOTENCY_CONFLICT'];
/** Status per order error code, for createGateway's errorStatuses. */
export const ORDER_ERROR_STATUSES: Readonly<Record<string, number>> = Object.freeze(
  Object.fromEntries([...ORDER_CONFLICT_CODES.map((c) => [c, 409] as const), ['FAILED_PRECONDITION', 409] as const]),
);

const id = z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, 'an id of 1..64 letters, digits or ._:-');
// Printable ASCII: the key is echoed into logs and stores, so no control characters or spaces.
const idempotencyKey = z.string().regex(/^[\x21-\x7E]{1,128}$/, '1..128 printable ASCII characters');
const timestamp = z.union([z.string(), z.number()]);

export const OrderItemSchema = z.object({ goodsId: z.string(), qty: z.number().int(), price: z.number().int() });

export const OrderSchema = z.object({
  id: z.string(),
  userId: z.string(),
  status: z.enum(['pending', 'confirmed', 'failed']),
  /** Integer cents. */
  total: z.number().int(),
  mode: z.enum(['saga', '2pc']),
  items: z.array(OrderItemSchema),
  failure: z.object({ code: z.string(), message: z.string() }).optional(),
  createdAt: timestamp,
});

const OrderUserSchema = z.object({
  id: z.string(),
  name: z.string(),
  email: z.string(),
  address: z.string(),
  phone: z.string(),
  wallet: z.number().int(),
  role: z.string(),
  createdAt: timestamp,
});

export const PlaceOrderBody = z.object({
  items: z
    .array(z.object({ goodsId: id, qty: z.number().int().min(1).max(1_000) }))
    .min(1)
    .max(20)
    .refine((items) => new Set(items.map((i) => i.goodsId)).size === items.length, 'each goods may appear once (add up the qty)'),
  mode: z.enum(['saga', '2pc']).optional(),
});

const OrdersPage = z.object({ items: z.array(OrderSchema), nextCursor: z.string().nullable().default(null) });

/** A conflict from the orders service as a 409, whatever the gateway's own status table says. */
async function conflictsAs409<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (isShoalError(err) && ORDER_ERROR_STATUSES[err.code] !== undefined) {
      throw new HttpError(409, err.code, err.message, err.details !== undefined ? { details: err.details } : {});
    }
    throw err;
  }
}

export const orderRoutes: readonly RouteSpec[] = [
  defineRoute({
    method: 'POST',
    url: '/orders',
    auth: 'user',
    summary:
      'Place an order (Idempotency-Key required): 201 with the ended order — status confirmed, or failed with failure {code: OUT_OF_STOCK | INSUFFICIENT_FUNDS | …}; a repeat of the key returns the same order; the key with another body is 409 IDEMPOTENCY_CONFLICT',
    tags: ['orders'],
    body: PlaceOrderBody,
    headers: z.object({ 'idempotency-key': idempotencyKey }),
    status: 201,
    result: OrderSchema,
    handler: ({ body }, ctx) => {
      const key = ctx.headers['idempotency-key'];
      // The header schema checked it; a repeated header arrives as an array and is refused there.
      if (typeof key !== 'string') throw new HttpError(400, 'INVALID_ARGUMENT', 'Idempotency-Key header required');
      const params = { userId: ctx.auth!.sub, items: body.items, mode: body.mode ?? 'saga', idempotencyKey: key };
      return conflictsAs409(ctx.call('orders.place', params, { idempotent: true }));
    },
  }),
  defineRoute({
    method: 'GET',
    url: '/orders/:id',
    auth: 'user',
    summary: 'One order joined with its user; only its owner (or an admin) sees it, anyone else gets 404',
    tags: ['orders'],
    params: z.object({ id }),
    result: z.object({ order: OrderSchema, user: OrderUserSchema }),
    handler: ({ params }, ctx) => {
      const owner = ctx.auth!.role === 'admin' ? {} : { userId: ctx.auth!.sub };
      return ctx.call('orders.get', { id: params.id, ...owner }, { idempotent: true });
    },
  }),
  defineRoute({
    method: 'GET',
    url: '/orders',
    auth: 'user',
    summary: "The caller's orders, newest first, a page at a time (pass nextCursor back as cursor)",
    tags: ['orders'],
    query: z.object({ limit: z.coerce.number().int().min(1).max(100).optional(), cursor: z.string().min(1).max(256).optional() }),
    result: OrdersPage,
    handler: ({ query }, ctx) => ctx.call('orders.list', { userId: ctx.auth!.sub, ...query }, { idempotent: true }),
  }),
];
