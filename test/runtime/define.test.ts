import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineService } from '../../src/index.js';

const ok = { name: 'goods', version: '1.0.0', actions: { get: { handler: (): number => 1 } } };

describe('defineService', () => {
  it('returns the frozen schema with its name and version', () => {
    const def = defineService({ ...ok, metadata: { pool: 'backup' } });
    expect(def.name).toBe('goods');
    expect(def.version).toBe('1.0.0');
    expect(Object.isFrozen(def)).toBe(true);
    expect(Object.isFrozen(def.schema)).toBe(true);
    expect(Object.isFrozen(def.schema.actions)).toBe(true);
    expect(Object.isFrozen(def.schema.actions.get)).toBe(true);
    expect(Object.isFrozen(def.schema.metadata)).toBe(true);
  });

  it.each([
    ['an upper-case name', { ...ok, name: 'Goods' }, /name must match/],
    ['a name starting with a digit', { ...ok, name: '1goods' }, /name must match/],
    ['a dotted name', { ...ok, name: 'goods.v2' }, /name must match/],
    ['no version', { ...ok, version: '' }, /version/],
    ['a version with spaces', { ...ok, version: '1 0' }, /version/],
    ['no actions', { ...ok, actions: {} }, /actions must be a non-empty object/],
    ['an action without handler', { ...ok, actions: { get: {} } }, /needs a handler/],
    ['a bad action name', { ...ok, actions: { 'get.one': { handler: (): number => 1 } } }, /action name/],
    ['params that are not zod', { ...ok, actions: { get: { params: { id: 'string' }, handler: (): number => 1 } } }, /zod schema/],
    ['an event name without a dot', { ...ok, events: { placed: { handler: () => undefined } } }, /event name/],
    ['non-string metadata', { ...ok, metadata: { weight: 3 } }, /metadata.weight/],
  ])('rejects %s', (_what, schema, message) => {
    expect(() => defineService(schema as never)).toThrow(message);
  });

  it('types ctx.params from the params schema', async () => {
    const def = defineService({
      name: 'calc',
      version: '1.0.0',
      actions: {
        add: {
          params: z.object({ a: z.number(), b: z.number() }),
          // Compiles only if ctx.params is { a: number; b: number }.
          handler: (ctx) => ctx.params.a + ctx.params.b,
        },
      },
    });
    const handler = def.schema.actions.add!.handler as (ctx: { params: { a: number; b: number } }) => number;
    expect(handler({ params: { a: 2, b: 3 } })).toBe(5);
  });
});
