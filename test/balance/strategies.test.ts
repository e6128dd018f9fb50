import { describe, expect, it } from 'vitest';
import {
  createStrategy,
  LeastConnections,
  P2CEwma,
  RoundRobin,
  seededRng,
  SmoothWeightedRoundRobin,
  strategyNames,
  WeightedRandom,
  type Endpoint,
} from '../../src/balance/index.js';

const ep = (id: string, weight?: number): Endpoint => (weight === undefined ? { id } : { id, weight });
const ids = (xs: (Endpoint | undefined)[]): string => xs.map((e) => e?.id ?? '-').join(' ');

describe('round-robin', () => {
  it('rotates exactly over several cycles', () => {
    const rr = new RoundRobin();
    const list = [ep('a'), ep('b'), ep('c')];
    const picks = Array.from({ length: 12 }, () => rr.pick(list));
    expect(ids(picks)).toBe('a b c a b c a b c a b c');
  });

  it('continues after the last pick when endpoints leave or join', () => {
    const rr = new RoundRobin();
    const abcd = [ep('a'), ep('b'), ep('c'), ep('d')];
    expect(ids([rr.pick(abcd), rr.pick(abcd)])).toBe('a b');
    // b (the last pick) leaves: its successor c is next, no restart at a, nothing skipped.
    const acd = [abcd[0]!, abcd[2]!, abcd[3]!];
    expect(ids([rr.pick(acd), rr.pick(acd), rr.pick(acd)])).toBe('c d a');
    // e joins after d: it gets its turn when the rotation reaches it.
    const acde = [...acd, ep('e')];
    expect(ids([rr.pick(acde), rr.pick(acde), rr.pick(acde), rr.pick(acde)])).toBe('c d e a');
  });
});

describe('weighted random', () => {
  it('matches the weights within 1% over 100k picks (seeded)', () => {
    const weights = { a: 5, b: 3, c: 1.5, d: 0.5 };
    const list = Object.entries(weights).map(([id, w]) => ep(id, w));
    const total = Object.values(weights).reduce((x, y) => x + y, 0);
    const wr = new WeightedRandom(seededRng(42));
    const N = 100_000;
    const counts = new Map<string, number>();
    for (let i = 0; i < N; i++) {
      const e = wr.pick(list)!;
      counts.set(e.id, (counts.get(e.id) ?? 0) + 1);
    }
    let worst = 0;
    const row: string[] = [];
    for (const [id, w] of Object.entries(weights)) {
      const expected = w / total;
      const got = (counts.get(id) ?? 0) / N;
      // Absolute error in share of traffic. (A relative 1% would be statistics, not correctness:
      // for a 5% share, 100k picks have a relative standard deviation of 1.4%.)
      worst = Math.max(worst, Math.abs(got - expected));
      row.push(`${id}: want ${(expected * 100).toFixed(2)}% got ${(got * 100).toFixed(2)}% (rel ${((Math.abs(got - expected) / expected) * 100).toFixed(2)}%)`);
    }
    console.log(`weighted random, 100k picks: ${row.join(', ')}; worst error ${(worst * 100).toFixed(3)} pp`);
    expect(worst).toBeLessThan(0.01);
  });

  it('never picks a drained endpoint unless all are drained', () => {
    const wr = new WeightedRandom(seededRng(1));
    const list = [ep('a', 0), ep('b', 1)];
    for (let i = 0; i < 1000; i++) expect(wr.pick(list)!.id).toBe('b');
    const drained = [ep('a', 0), ep('b', 0)];
    const seen = new Set(Array.from({ length: 100 }, () => wr.pick(drained)!.id));
    expect(seen).toEqual(new Set(['a', 'b']));
  });

  it('rejects negative or non-finite weights', () => {
    const wr = new WeightedRandom(seededRng(1));
    expect(() => wr.pick([ep('a', -1)])).toThrow(RangeError);
    expect(() => wr.pick([ep('a', Number.NaN)])).toThrow(RangeError);
  });
});

describe('smooth weighted round-robin', () => {
  it('interleaves like nginx: weights 5,1,1 → a a b a c a a', () => {
    const swrr = new SmoothWeightedRoundRobin();
    const list = [ep('a', 5), ep('b', 1), ep('c', 1)];
    const cycles = Array.from({ length: 3 }, () => ids(Array.from({ length: 7 }, () => swrr.pick(list))));
    console.log(`smooth WRR 5,1,1: ${cycles.join(' | ')}`);
    expect(cycles).toEqual(['a a b a c a a', 'a a b a c a a', 'a a b a c a a']);
  });

  it('gives exact proportions in every cycle', () => {
    const swrr = new SmoothWeightedRoundRobin();
    const weights = [4, 3, 2, 1, 7];
    const list = weights.map((w, i) => ep(`e${i}`, w));
    const cycle = weights.reduce((a, b) => a + b, 0);
    for (let c = 0; c < 5; c++) {
      const counts = new Map<string, number>();
      for (let i = 0; i < cycle; i++) {
        const e = swrr.pick(list)!;
        counts.set(e.id, (counts.get(e.id) ?? 0) + 1);
      }
      expect(list.map((e) => counts.get(e.id) ?? 0)).toEqual(weights);
    }
  });

  it('never sends two in a row to a weight-1 endpoint among heavier ones', () => {
    const swrr = new SmoothWeightedRoundRobin();
    const list = [ep('a', 3), ep('b', 3), ep('c', 1)];
    const seq = Array.from({ length: 70 }, () => swrr.pick(list)!.id);
    for (let i = 1; i < seq.length; i++) expect(seq[i] === 'c' && seq[i - 1] === 'c').toBe(false);
  });
});

describe('least-connections', () => {
  it('picks the endpoint with fewest calls in flight and breaks ties randomly', () => {
    const lc = new LeastConnections(seededRng(3));
    const list = [ep('a'), ep('b'), ep('c')];
    lc.onStart(list[0]!);
    lc.onStart(list[0]!);
    lc.onStart(list[1]!);
    for (let i = 0; i < 20; i++) expect(lc.pick(list)!.id).toBe('c');
    lc.onStart(list[2]!);
    // b and c tie at 1: both must come up.
    const seen = new Set(Array.from({ length: 50 }, () => lc.pick(list)!.id));
    expect(seen).toEqual(new Set(['b', 'c']));
    lc.onEnd(list[0]!, { latencyMs: 1, ok: true });
    lc.onEnd(list[0]!, { latencyMs: 1, ok: true });
    expect(lc.pick(list)!.id).toBe('a');
    expect(lc.load('a')).toBe(0);
    expect(() => lc.onEnd(list[0]!, { latencyMs: 1, ok: true })).toThrow(/without onStart/);
  });
});

describe('p2c-ewma', () => {
  it('prefers the faster endpoint and lets an avoided one decay back into use', () => {
    let now = 0;
    const p2c = new P2CEwma({ rng: seededRng(9), clock: () => now, decayMs: 1_000 });
    const fast = ep('fast');
    const slow = ep('slow');
    p2c.onStart(fast);
    p2c.onStart(slow);
    now = 10;
    p2c.onEnd(fast, { latencyMs: 10, ok: true });
    p2c.onEnd(slow, { latencyMs: 100, ok: true });
    for (let i = 0; i < 20; i++) expect(p2c.pick([fast, slow])!.id).toBe('fast');
    // Only the fast endpoint keeps answering (10 ms); the avoided slow one's estimate decays
    // towards zero: four decay constants later it is 100·e^-4 ≈ 1.8 ms and gets probed again.
    now = 4_010;
    p2c.onStart(fast);
    p2c.onEnd(fast, { latencyMs: 10, ok: true });
    expect(p2c.cost('slow')).toBeLessThan(p2c.cost('fast'));
    expect(p2c.pick([fast, slow])!.id).toBe('slow');
  });

  it('gives an unknown endpoint one probe, then penalizes it until it answers', () => {
    let now = 0;
    const p2c = new P2CEwma({ rng: seededRng(9), clock: () => now });
    const known = ep('known');
    const fresh = ep('fresh');
    p2c.onStart(known);
    now = 5;
    p2c.onEnd(known, { latencyMs: 5, ok: true });
    expect(p2c.pick([known, fresh])!.id).toBe('fresh');
    p2c.onStart(fresh);
    expect(p2c.pick([known, fresh])!.id).toBe('known');
  });

  it('counts a fast failure as slow', () => {
    const now = 0;
    const p2c = new P2CEwma({ rng: seededRng(9), clock: () => now });
    const failing = ep('failing');
    const healthy = ep('healthy');
    p2c.onStart(failing);
    p2c.onEnd(failing, { latencyMs: 1, ok: false });
    p2c.onStart(healthy);
    p2c.onEnd(healthy, { latencyMs: 20, ok: true });
    expect(p2c.pick([failing, healthy])!.id).toBe('healthy');
  });
});

describe('createStrategy', () => {
  it('builds every strategy by name and refuses unknown names or missing injections', () => {
    for (const name of strategyNames) {
      const s = createStrategy(name, { rng: seededRng(1), clock: () => 0 });
      expect(s.name).toBe(name);
    }
    expect(() => createStrategy('fastest')).toThrow(/unknown balancing strategy/);
    expect(() => createStrategy('random')).toThrow(/needs an injected rng/);
    expect(() => createStrategy('p2c-ewma', { rng: seededRng(1) })).toThrow(/needs an injected clock/);
  });
});
