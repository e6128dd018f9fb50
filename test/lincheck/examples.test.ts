import { describe, expect, it } from 'vitest';
import { check, counterModel, kvModel, lockModel, registerModel, type KvInput, type KvOutput, type Operation, type RegisterInput } from '../../src/lincheck/index.js';
import { cas, get, op, put } from './helpers.js';

const reg = registerModel();

describe('register: accepted histories', () => {
  it('accepts an empty history and a sequential one', () => {
    expect(check(reg, []).outcome).toBe('ok');
    const h = [op(1, put(1), null, 0, 1), op(1, get, 1, 2, 3), op(2, cas(1, 2), true, 4, 5), op(2, get, 2, 6, 7)];
    expect(check(reg, h).outcome).toBe('ok');
  });

  it('accepts reads concurrent with a write that see either value', () => {
    const h = [op(1, put(1), null, 0, 10), op(2, get, null, 1, 2), op(3, get, 1, 3, 4), op(2, get, 1, 11, 12)];
    expect(check(reg, h).outcome).toBe('ok');
  });

  it('treats operations touching at the same instant as concurrent', () => {
    const h = [op(1, put(1), null, 0, 5), op(2, get, null, 5, 6)];
    expect(check(reg, h).outcome).toBe('ok');
  });

  it('assumes an unknown-outcome write applied when a later read needs it', () => {
    const h = [op(1, put(1), null, 0), op(2, get, 1, 10, 12)];
    expect(check(reg, h).outcome).toBe('ok');
  });

  it('assumes an unknown-outcome write not applied when reads never see it', () => {
    const h = [op(1, put(1), null, 0), op(2, get, null, 10, 12), op(2, get, null, 20, 22)];
    expect(check(reg, h).outcome).toBe('ok');
  });

  it('lets an unknown-outcome write take effect late, but only once', () => {
    const late = [op(1, put(1), null, 0), op(2, get, null, 10, 12), op(2, get, 1, 13, 14)];
    expect(check(reg, late).outcome).toBe('ok');
    const undone = [op(1, put(1), null, 0), op(2, get, 1, 10, 12), op(2, get, null, 13, 14)];
    expect(check(reg, undone).outcome).toBe('illegal');
  });

  it('an unknown-outcome write cannot take effect before its call', () => {
    const h = [op(2, get, 1, 0, 2), op(1, put(1), null, 3)];
    expect(check(reg, h).outcome).toBe('illegal');
  });

  it('accepts two successful cas on the same value when a write restored it in between', () => {
    const h = [op(1, cas(0, 1), true, 0, 5), op(3, put(0), null, 1, 2), op(2, cas(0, 2), true, 3, 6)];
    expect(check(registerModel(0), h).outcome).toBe('ok');
  });
});

describe('register: rejected histories', () => {
  it('rejects a stale read after a newer write completed, and explains it', () => {
    const h = [op(1, put(1), null, 0, 1), op(2, put(2), null, 2, 3), op(3, get, 1, 4, 5)];
    const r = check(reg, h);
    expect(r.outcome).toBe('illegal');
    // The witness keeps the write that explains the stale value, not just the read.
    expect(r.failure!.minimal).toHaveLength(3);
    expect(r.failure!.text).toContain('get() -> 1');
    expect(r.failure!.text).toContain('client 3');
    expect(r.failure!.text).toContain('[4, 5]');
  });

  it('rejects a lost acknowledged write', () => {
    const h = [op(1, put(1), null, 0, 1), op(2, get, null, 2, 3)];
    const r = check(reg, h);
    expect(r.outcome).toBe('illegal');
    expect(r.failure!.minimal).toHaveLength(2);
  });

  it('rejects a cas that succeeded twice from the same value', () => {
    const h = [op(1, put(0), null, 0, 1), op(2, cas(0, 1), true, 2, 5), op(3, cas(0, 2), true, 3, 6)];
    const r = check(reg, h);
    expect(r.outcome).toBe('illegal');
    expect(r.failure!.minimal).toHaveLength(3);
  });

  it('rejects a cas that failed although the value matched', () => {
    const h = [op(1, put(0), null, 0, 1), op(2, cas(0, 1), false, 2, 3)];
    expect(check(reg, h).outcome).toBe('illegal');
  });

  it('shrinks a violation buried in a long valid history', () => {
    const h: Operation<ReturnType<typeof put> | typeof get, number | null>[] = [];
    let t = 0;
    for (let i = 0; i < 100; i++) {
      h.push(op(i % 4, put(i), null, t, t + 3));
      h.push(op((i + 1) % 4, get, i, t + 4, t + 6));
      t += 10;
    }
    h.push(op(7, get, 42, t, t + 1)); // stale: 99 was written and read long ago
    const r = check(reg, h);
    expect(r.outcome).toBe('illegal');
    expect(r.failure!.minimal.length).toBeLessThanOrEqual(4);
    expect(r.failure!.minimal.some((o) => o.clientId === 7)).toBe(true);
    expect(r.failure!.minimal.some((o) => o.input.type === 'put' && o.input.value === 42)).toBe(true);
  });
});

describe('counter', () => {
  const counter = counterModel();
  it('accepts concurrent adds and reads', () => {
    const h = [
      op(1, { type: 'add', delta: 1 }, null, 0, 10),
      op(2, { type: 'add', delta: 2 }, 3, 1, 5),
      op(3, { type: 'read' }, 1, 2, 4),
      op(3, { type: 'read' }, 3, 11, 12),
    ] as const;
    expect(check(counter, [...h]).outcome).toBe('ok');
  });

  it('rejects a counter going backwards', () => {
    const h = [op(1, { type: 'add', delta: 1 }, null, 0, 1), op(2, { type: 'read' }, 1, 2, 3), op(3, { type: 'read' }, 0, 4, 5)];
    const r = check(counter, h as Operation<{ type: 'add'; delta: number } | { type: 'read' }, number | null>[]);
    expect(r.outcome).toBe('illegal');
    expect(r.failure!.text).toContain('read() -> 0');
  });
});

describe('lock', () => {
  const lock = lockModel();
  const acq = (owner: string) => ({ type: 'acquire', owner }) as const;
  const rel = (owner: string) => ({ type: 'release', owner }) as const;

  it('accepts alternating holders with increasing fencing tokens', () => {
    const h = [
      op(1, acq('a'), { ok: true, token: 5 }, 0, 2),
      op(2, acq('b'), { ok: false }, 3, 4),
      op(1, rel('a'), { ok: true }, 5, 6),
      op(2, acq('b'), { ok: true, token: 9 }, 7, 8),
    ];
    expect(check(lock, h).outcome).toBe('ok');
  });

  it('rejects two holders at once and a fencing token going backwards', () => {
    const both = [op(1, acq('a'), { ok: true }, 0, 2), op(2, acq('b'), { ok: true }, 3, 4)];
    expect(check(lock, both).outcome).toBe('illegal');
    const backwards = [
      op(1, acq('a'), { ok: true, token: 9 }, 0, 1),
      op(1, rel('a'), { ok: true }, 2, 3),
      op(2, acq('b'), { ok: true, token: 4 }, 4, 5),
    ];
    expect(check(lock, backwards).outcome).toBe('illegal');
  });

  it('an acquire of unknown outcome may hold the lock', () => {
    const h = [op(1, acq('a'), { ok: true }, 0), op(2, acq('b'), { ok: false }, 5, 6)];
    expect(check(lock, h).outcome).toBe('ok');
  });
});

describe('kv: partitioned by key', () => {
  const kv = kvModel();
  const k = (key: string, input: RegisterInput): KvInput => ({ key, ...input });

  it('checks keys independently and names the failing key', () => {
    const h: Operation<KvInput, KvOutput>[] = [
      op(1, k('x', put(1)), null, 0, 1),
      op(2, k('y', put(1)), null, 0, 1),
      op(1, k('x', get), 1, 2, 3),
      op(2, k('y', get), null, 2, 3),
    ];
    const r = check(kv, h);
    expect(r.outcome).toBe('illegal');
    expect(r.partitions.map((p) => [p.key, p.outcome])).toEqual([
      ['x', 'ok'],
      ['y', 'illegal'],
    ]);
    expect(r.failure!.key).toBe('y');
    expect(r.failure!.text).toContain('kv key "y"');
  });
});

describe('search bound', () => {
  it('returns unknown instead of searching forever', () => {
    // Many fully concurrent writes, then reads that flip back after every write completed: the
    // search must visit every subset of writes before it can say "illegal".
    const h = [];
    for (let i = 0; i < 24; i++) h.push(op(i, put(i), null, 0, 100));
    h.push(op(99, get, 0, 101, 102), op(99, get, 1, 103, 104), op(99, get, 0, 105, 106));
    expect(check(reg, h, { maxSteps: 1000, minimize: false }).outcome).toBe('unknown');
    let now = 0;
    const deadline = { now: () => (now += 1), at: 5 };
    expect(check(reg, h, { deadline, minimize: false }).outcome).toBe('unknown');
  });

  it('rejects malformed operations', () => {
    expect(() => check(reg, [op(1, get, null, 5, 4)])).toThrow(/before its call/);
  });
});
