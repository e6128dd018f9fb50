import { describe, expect, it } from 'vitest';
import { LeastConnections, P2CEwma, RoundRobin, seededRng } from '../../src/balance/index.js';
import { percentile, simulatePool, type PoolConfig } from './pool-sim.js';

// Five instances with 8 workers each; one is 10× slower (100 ms vs 10 ms mean). 300 requests/s:
// round-robin sends the slow one 60/s against a capacity of 80/s — loaded (75%) but stable, so
// the comparison is about the tail, not a meltdown.
const pool = (seed: number): PoolConfig => ({
  instances: [
    { id: 'i0', meanServiceMs: 10, workers: 8 },
    { id: 'i1', meanServiceMs: 10, workers: 8 },
    { id: 'slow', meanServiceMs: 100, workers: 8 },
    { id: 'i3', meanServiceMs: 10, workers: 8 },
    { id: 'i4', meanServiceMs: 10, workers: 8 },
  ],
  arrivalIntervalMs: 1000 / 300,
  requests: 20_000,
  seed,
});

describe('simulated pool with one slow instance', () => {
  it('least-connections and P2C-EWMA have a lower p99 than round-robin', () => {
    for (const seed of [1, 2, 3]) {
      const rr = simulatePool(pool(seed), () => new RoundRobin());
      const lc = simulatePool(pool(seed), () => new LeastConnections(seededRng(seed + 100)));
      const p2c = simulatePool(pool(seed), (clock) => new P2CEwma({ rng: seededRng(seed + 200), clock }));
      const p99 = { rr: percentile(rr.latencies, 99), lc: percentile(lc.latencies, 99), p2c: percentile(p2c.latencies, 99) };
      const slowShare = (r: typeof rr) => (((r.perInstance.get('slow') ?? 0) / 20_000) * 100).toFixed(1);
      console.log(
        `pool sim seed ${seed}: p99 round-robin=${p99.rr.toFixed(1)} ms, least-connections=${p99.lc.toFixed(1)} ms, ` +
          `p2c-ewma=${p99.p2c.toFixed(1)} ms; share sent to the slow instance ${slowShare(rr)}% / ${slowShare(lc)}% / ${slowShare(p2c)}%`,
      );
      expect(rr.perInstance.get('slow')).toBe(4_000);
      expect(p99.lc).toBeLessThan(p99.rr);
      expect(p99.p2c).toBeLessThan(p99.rr);
    }
  });
});
