import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { check, counterModel, kvModel, searchPartition } from '../../src/lincheck/index.js';
import { counterHistory, kvHistory, type Step } from './generate.js';

const step = (keys: number): fc.Arbitrary<Step> =>
  fc.record({
    kind: fc.integer({ min: 0, max: 2 }),
    key: fc.integer({ min: 0, max: keys - 1 }),
    value: fc.integer({ min: 0, max: 4 }),
    expect: fc.integer({ min: 0, max: 4 }),
    before: fc.integer({ min: 0, max: 40 }),
    after: fc.integer({ min: 0, max: 40 }),
    fate: fc.integer({ min: 0, max: 15 }),
  });

const NEVER_WRITTEN = 999;

describe('property: histories of real sequential executions', () => {
  it('kv histories with overlapping intervals and unknown outcomes are accepted', () => {
    fc.assert(
      fc.property(fc.array(step(3), { minLength: 1, maxLength: 120 }), (steps) => {
        const r = check(kvModel(), kvHistory(steps));
        expect(r.failure?.text ?? '').toBe('');
        expect(r.outcome).toBe('ok');
      }),
      { numRuns: 300 },
    );
  });

  it('changing one read to a never-written value is rejected', () => {
    fc.assert(
      fc.property(fc.array(step(3), { minLength: 1, maxLength: 120 }), fc.nat(), (steps, pick) => {
        const h = kvHistory(steps);
        const reads = h.filter((o) => o.input.type === 'get' && o.return !== Infinity);
        fc.pre(reads.length > 0);
        const victim = reads[pick % reads.length]!;
        victim.output = NEVER_WRITTEN;
        const r = check(kvModel(), h);
        expect(r.outcome).toBe('illegal');
        expect(r.failure!.key).toBe(victim.input.key);
        expect(r.failure!.minimal).toContain(victim);
        // The search alone (without the reachability shortcut) reaches the same verdict.
        const part = kvModel().partition!(h).find((p) => p.key === victim.input.key)!;
        expect(searchPartition(kvModel(), part.ops).outcome).toBe('illegal');
      }),
      { numRuns: 300 },
    );
  });

  it('counter histories are accepted, and a read of an unreachable value is rejected', () => {
    fc.assert(
      fc.property(fc.array(step(1), { minLength: 1, maxLength: 80 }), fc.nat(), (steps, pick) => {
        const h = counterHistory(steps);
        expect(check(counterModel(), h).outcome).toBe('ok');
        const reads = h.filter((o) => o.input.type === 'read' && o.return !== Infinity);
        fc.pre(reads.length > 0);
        reads[pick % reads.length]!.output = -1; // deltas are positive: never reachable
        expect(check(counterModel(), h).outcome).toBe('illegal');
      }),
      { numRuns: 200 },
    );
  });
});
