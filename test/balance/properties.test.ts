import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createStrategy, seededRng, strategyNames, type Endpoint } from '../../src/balance/index.js';

const endpointArb = fc.record(
  {
    id: fc.string({ minLength: 1, maxLength: 6 }),
    weight: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 10 }), fc.double({ min: 0.01, max: 5, noNaN: true })),
  },
  { requiredKeys: ['id'] },
);
const listArb = fc.uniqueArray(endpointArb, { selector: (e) => e.id, maxLength: 8 });

// One step of a caller's life: a pick from some list (which changes over time), or finishing
// one of the calls it started.
const stepArb = fc.oneof(
  fc.record({ kind: fc.constant('pick' as const), list: listArb, key: fc.option(fc.string({ maxLength: 8 }), { nil: undefined }) }),
  fc.record({ kind: fc.constant('end' as const), which: fc.nat(), ok: fc.boolean(), latencyMs: fc.double({ min: 0, max: 1_000, noNaN: true }) }),
);

describe('every strategy', () => {
  for (const name of strategyNames) {
    it(`${name}: returns only endpoints from the list given, undefined for an empty one`, () => {
      fc.assert(
        fc.property(fc.array(stepArb, { maxLength: 60 }), fc.integer(), (steps, seed) => {
          let now = 0;
          // Few virtual nodes: membership is what is checked here, and rings are rebuilt on most steps.
          const strategy = createStrategy(name, { rng: seededRng(seed), clock: () => now, virtualNodes: 16 });
          const inFlight: Endpoint[] = [];
          for (const step of steps) {
            now += 7;
            if (step.kind === 'pick') {
              const chosen = strategy.pick(step.list, step.key === undefined ? {} : { key: step.key });
              if (step.list.length === 0) {
                expect(chosen).toBeUndefined();
              } else {
                expect(chosen).toBeDefined();
                expect(step.list.includes(chosen!)).toBe(true);
                strategy.onStart(chosen!);
                inFlight.push(chosen!);
              }
            } else if (inFlight.length > 0) {
              const [done] = inFlight.splice(step.which % inFlight.length, 1);
              strategy.onEnd(done!, { latencyMs: step.latencyMs, ok: step.ok });
            }
          }
        }),
        { numRuns: 150 },
      );
    });
  }
});
