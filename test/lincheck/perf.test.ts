// Size checks, not timings: the step counts are deterministic, so a regression in pruning shows
// up as a failed bound rather than a flaky clock. Wall time is printed for the record.

import { describe, expect, it } from 'vitest';
import { check, kvModel } from '../../src/lincheck/index.js';
import { seededRng } from '../../src/balance/index.js';
import { kvHistory, type Step } from './generate.js';

// mulberry32, the same sequence the step-count bounds were set with.
const rng = seededRng;

function steps(n: number, keys: number, seed: number, overlap: number): Step[] {
  const r = rng(seed);
  const int = (k: number) => Math.floor(r() * k);
  return Array.from({ length: n }, () => ({
    kind: int(3),
    key: int(keys),
    value: int(5),
    expect: int(5),
    before: int(overlap),
    after: int(overlap),
    fate: int(40),
  }));
}

describe('performance', () => {
  it('checks 400 concurrent operations on one key quickly', () => {
    for (let seed = 1; seed <= 5; seed++) {
      // Intervals span up to ~4 neighbours on each side: 4-8 operations in flight at once.
      const h = kvHistory(steps(400, 1, seed, 40));
      const t0 = performance.now();
      const r = check(kvModel(), h);
      const ms = performance.now() - t0;
      expect(r.outcome).toBe('ok');
      expect(r.partitions[0]!.steps).toBeLessThan(50_000);
      console.log(`400 ops/1 key seed ${seed}: ${r.partitions[0]!.steps} steps, ${ms.toFixed(1)} ms`);
    }
  });

  it('checks 5000 operations over 20 keys', () => {
    const h = kvHistory(steps(5000, 20, 7, 200));
    const t0 = performance.now();
    const r = check(kvModel(), h);
    const ms = performance.now() - t0;
    expect(r.outcome).toBe('ok');
    expect(r.partitions).toHaveLength(20);
    console.log(`5000 ops/20 keys: ${r.partitions.reduce((s, p) => s + p.steps, 0)} steps, ${ms.toFixed(1)} ms`);
  });

  it('finds a violation in a 400-operation history and shrinks it', () => {
    const h = kvHistory(steps(400, 1, 3, 40));
    const reads = h.filter((o) => o.input.type === 'get' && o.return !== Infinity);
    reads[Math.floor(reads.length / 2)]!.output = 999;
    const t0 = performance.now();
    const r = check(kvModel(), h);
    const ms = performance.now() - t0;
    expect(r.outcome).toBe('illegal');
    expect(r.failure!.minimal.length).toBeLessThan(10);
    console.log(`400 ops violation: found and shrunk to ${r.failure!.minimal.length} in ${ms.toFixed(1)} ms\n${r.failure!.text}`);
  });
});
