// The shop's REST routes (DESIGN 3.3) as a table over the users, goods and orders actions (the
// order routes live in order-routes.ts).
import { z } from 'zod';
import { orderRoutes } from './order-routes.js';
import { defineRoute, type RouteSpec } from './route-table.js';

/** Money is integer cents; bound on prices and stock levels the edge accepts. */
export const MAX_CENTS = 1_000_000_000;
/** Bound on one deposit (the users service's own limit: one million in currency units). */
export const MAX_DEPOSIT_CENTS = 100_000_000;

const id = z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, 'an id of 1..64 letters, digits or ._:-');
const timestamp = z.union([z.string(), z.number()]);
const cents = z.number().int().min(0).max(MAX_CENTS);
const quantity = z.number().int().min(0).max(MAX_CENTS);
// Printable ASCII: the key is echoed into logs and stores, so no control characters or spaces.
const idempotencyKey = z.string().regex(/^[\x21-\x7E]{1,128}$/, '1..128 printable ASCII characters');

export const UserSchema = z.object({
  id: z.string(),
  name: z.string(),
  email: z.string(),
  address: z.string(),
  phone: z.string(),
  wallet: z.number().int(),
  role: z.string(),
  createdAt: timestamp,
});

export const GoodsSchema = z.object({
  id: z.string(),
  name: z.string(),
  price: z.number().int(),
  stock: z.number().int(),
  createdAt: timestamp,
  updatedAt: timestamp,
});

export const CreateUserBody = z.object({
  name: z.string().min(1).max(100),
  email: z.email().max(254),
  password: z.string().min(8).max(256),
  address: z.string().max(300),
  phone: z.string().max(32).regex(/^\+?[0-9(][0-9 ().-]*[0-9]$/, 'a phone number: digits, optional leading +, spaces, dots, dashes, parentheses'),
});

const IdParams = z.object({ id });

const GoodsPage = z.object({ items: z.array(GoodsSchema), nextCursor: z.string().nullable().default(null) });

export const shopRoutes: readonly RouteSpec[] = [
  defineRoute({
    method: 'POST',
    url: '/users',
    auth: 'public',
    summary: 'Register a user',
    tags: ['users'],
    body: CreateUserBody,
    status: 201,
    result: UserSchema,
    // Unknown fields (a `role`, a `wallet`) were stripped by the schema: a client cannot set them.
    handler: ({ body }, ctx) => ctx.call('users.create', body),
  }),
  defineRoute({
    method: 'GET',
    url: '/users/me',
    auth: 'user',
    summary: 'The signed-in user',
    tags: ['users'],
    result: UserSchema,
    handler: (_input, ctx) => ctx.call('users.get', { id: ctx.auth!.sub }, { idempotent: true }),
  }),
  defineRoute({
    method: 'POST',
    url: '/users/me/deposit',
    auth: 'user',
    summary: 'Add money (cents) to the wallet; an Idempotency-Key makes a retry safe',
    tags: ['users'],
    body: z.object({ amount: z.number().int().min(1).max(MAX_DEPOSIT_CENTS) }),
    headers: z.object({ 'idempotency-key': idempotencyKey.optional() }),
    result: UserSchema,
    handler: ({ body }, ctx) => {
      const requestId = ctx.headers['idempotency-key'] as string | undefined;
      const params = { id: ctx.auth!.sub, amount: body.amount, ...(requestId !== undefined ? { requestId } : {}) };
      return ctx.call('users.deposit', params, { idempotent: requestId !== undefined });
    },
  }),
  defineRoute({
    method: 'POST',
    url: '/goods',
    auth: 'admin',
    summary: 'Create goods (admin)',
    tags: ['goods'],
    body: z.object({ name: z.string().min(1).max(200), price: cents, stock: quantity }),
    status: 201,
    result: GoodsSchema,
    handler: ({ body }, ctx) => ctx.call('goods.create', body),
  }),
  defineRoute({
    method: 'GET',
    url: '/goods/:id',
    auth: 'public',
    summary: 'One goods item',
    tags: ['goods'],
    params: IdParams,
    result: GoodsSchema,
    handler: ({ params }, ctx) => ctx.call('goods.get', { id: params.id }, { idempotent: true }),
  }),
  defineRoute({
    method: 'GET',
    url: '/goods',
    auth: 'public',
    summary: 'Goods, a page at a time (pass nextCursor back as cursor)',
    tags: ['goods'],
    query: z.object({ limit: z.coerce.number().int().min(1).max(100).optional(), cursor: z.string().min(1).max(256).optional() }),
    result: GoodsPage,
    handler: ({ query }, ctx) => ctx.call('goods.list', query, { idempotent: true }),
  }),
  defineRoute({
    method: 'PATCH',
    url: '/goods/:id',
    auth: 'admin',
    summary: 'Change goods (admin)',
    tags: ['goods'],
    params: IdParams,
    body: z
      .object({ name: z.string().min(1).max(200).optional(), price: cents.optional(), stock: quantity.optional() })
      .refine((patch) => Object.values(patch).some((v) => v !== undefined), 'give at least one of name, price, stock'),
    result: GoodsSchema,
    handler: ({ params, body }, ctx) => ctx.call('goods.update', { id: params.id, ...body }),
  }),
  ...orderRoutes,
];
