import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RetryBudget } from '../../src/resilience/index.js';

describe('retry budget (property)', () => {
  it('never grants more retries than ratio × requests + minimum within a window', () => {
    const windowMs = 1_000;
    const op = fc.record({ dt: fc.integer({ min: 0, max: 400 }), retry: fc.boolean() });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.nat(5), (ops, ratio, min) => {
        const budget = new RetryBudget({ ratio, minRetries: min, windowMs });
        let now = 0;
        const requests: number[] = [];
        const granted: number[] = [];
        for (const { dt, retry } of ops) {
          now += dt;
          if (!retry) {
            budget.recordRequest(now);
            requests.push(now);
          } else if (budget.tryAcquireRetry(now)) {
            granted.push(now);
            // The budget counts in 10 time slices, so it always remembers at least the last
            // 0.9 window and at most the last full window: retries granted in the last 0.9
            // window are bounded by the requests of the last full window.
            const retriesInSpan = granted.filter((t) => t > now - 0.9 * windowMs).length;
            const requestsInWindow = requests.filter((t) => t > now - windowMs).length;
            expect(retriesInSpan).toBeLessThanOrEqual(ratio * requestsInWindow + min);
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});
