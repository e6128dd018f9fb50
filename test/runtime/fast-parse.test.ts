// The zod fast path must be invisible: for every input it either gives exactly zod's output or
// steps aside (and zod parses). Checked against zod itself on generated inputs, including the
// schemas the gateway and the goods service validate on every request.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { fastParse, parseWithFastPath } from '../../src/runtime/index.js';
import { GoodsSchema, UserSchema } from '../../src/gateway/shop-routes.js';
import { GetGoodsParams, Goods, ListGoodsParams } from '../../src/shop/goods/schemas.js';

const id = z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, 'an id');
const schemas: Record<string, z.ZodType> = {
  IdParams: z.object({ id }),
  GoodsSchema,
  UserSchema,
  GetGoodsParams,
  ranges: z.object({ a: z.int().min(0).max(10), b: z.number().gt(-1).lt(1), c: z.number().int().min(5), d: z.string().nullable(), e: z.boolean() }),
  union: z.union([z.object({ kind: z.string().min(2) }), z.int(), z.string().max(3)]),
  globalRegex: z.string().regex(/^a+$/g),
};

const text = fc.oneof(fc.string({ maxLength: 70 }), fc.constantFrom('', 'g_01', 'a', 'aaa', 'é', '../x', 'a b', '2026-11-22T17:35:00.000Z'));
const num = fc.oneof(fc.integer({ min: -20, max: 20 }), fc.double(), fc.constantFrom(Number.MAX_SAFE_INTEGER + 2, Infinity, -Infinity, NaN, -0, 0.5, 1e21));
const leaf = fc.oneof(text, num, fc.boolean(), fc.constant(null), fc.constant(undefined), fc.constant([]));
const keys = fc.constantFrom('id', 'name', 'price', 'stock', 'createdAt', 'updatedAt', 'email', 'address', 'phone', 'wallet', 'role', 'a', 'b', 'c', 'd', 'e', 'kind', 'extra');
const value = fc.oneof(leaf, fc.dictionary(keys, leaf, { maxKeys: 12 }));

/** Objects shaped like valid values with one field perturbed, so the fast path's accept side is exercised too. */
function near(base: Record<string, unknown>): fc.Arbitrary<unknown> {
  return fc.record({ key: fc.constantFrom(...Object.keys(base), 'extra'), v: leaf, drop: fc.boolean() }).map(({ key, v, drop }) => {
    const out: Record<string, unknown> = { ...base };
    if (drop) delete out[key];
    else out[key] = v;
    return out;
  });
}

const goods = { id: 'g_1', name: 'widget', price: 1999, stock: 3, createdAt: '2026-11-22T17:35:00.000Z', updatedAt: 1_795_000_000_000 };
const user = { id: 'u_1', name: 'A', email: 'a@b.c', address: 'x', phone: '1', wallet: 0, role: 'user', createdAt: 1, secret: 'hash' };

describe('fastParse', () => {
  for (const [name, schema] of Object.entries(schemas)) {
    it(`agrees with zod on ${name}`, () => {
      const inputs = fc.oneof(value, near(goods), near(user), near({ id: 'x' }), near({ a: 3, b: 0, c: 7, d: null, e: true }));
      fc.assert(
        fc.property(inputs, (input) => {
          const expected = schema.safeParse(input);
          const fast = fastParse(schema, input);
          if (fast !== undefined) {
            expect(expected.success).toBe(true);
            expect(fast.data).toStrictEqual(expected.data);
            // Same key order as zod's output (it is what JSON.stringify writes).
            if (typeof expected.data === 'object' && expected.data !== null) expect(Object.keys(fast.data as object)).toEqual(Object.keys(expected.data as object));
          }
          const both = parseWithFastPath(schema, input);
          expect(both.success).toBe(expected.success);
          if (both.success) expect(both.data).toStrictEqual(expected.data);
          else expect(both.error!.issues).toEqual(expected.error!.issues);
        }),
        { numRuns: 1500 },
      );
    });
  }

  it('takes the fast path for valid plain values (strips unknown keys)', () => {
    expect(fastParse(GoodsSchema, { ...goods, secret: 'x' })).toEqual({ data: goods });
    expect(fastParse(schemas.IdParams!, { id: 'g_01m8' })).toEqual({ data: { id: 'g_01m8' } });
    expect(fastParse(GetGoodsParams, { id: 'g_01m8', extra: 1 })).toEqual({ data: { id: 'g_01m8' } });
  });

  it('never accepts what it does not model: formats, optional keys, defaults, transforms, refinements', () => {
    const unsupported: z.ZodType[] = [
      Goods, // z.iso.datetime()
      ListGoodsParams, // defaults and optional keys
      z.string().trim(),
      z.email(),
      z.object({ a: z.string() }).refine(() => false),
      z.object({ a: z.string() }).strict(),
      z.object({ a: z.string() }).passthrough(),
      z.coerce.number(),
      z.string().transform((s) => s.length),
      z.array(z.string()),
    ];
    for (const schema of unsupported) {
      for (const input of ['x', 1, { a: 'x' }, { id: 'g', name: 'n', price: 1, stock: 1, createdAt: 'x', updatedAt: 'y' }, { limit: 5 }]) {
        expect(fastParse(schema, input)).toBeUndefined();
      }
    }
  });
});
