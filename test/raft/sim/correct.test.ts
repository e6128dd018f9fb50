// The real core under the simulator: no safety or linearizability violation, and the cluster
// recovers within the liveness bound once faults stop.

import { describe, expect, it } from 'vitest';
import { defaultConfig, formatFailure, formatSummary, runSimulation, summarize } from '../../../src/raft/sim/index.js';

function runSeeds(from: number, count: number, nodes: number) {
  const results = [];
  const t0 = performance.now();
  for (let seed = from; seed < from + count; seed++) results.push(runSimulation(defaultConfig(seed, nodes)));
  const summary = summarize(results);
  console.log(`${nodes} nodes:\n${formatSummary(summary, performance.now() - t0)}`);
  for (const r of summary.failedSeeds) console.log(formatFailure(r));
  return { results, summary };
}

describe('correct core', () => {
  it('120 seeds on 3 nodes: no violations, live after the heal', () => {
    const { results, summary } = runSeeds(1, 120, 3);
    expect(summary.failedSeeds.map((r) => r.seed)).toEqual([]);
    expect(summary.liveMet).toBeGreaterThanOrEqual(results.length - 1);
    // The runs did real work: operations completed, leaders changed, nodes crashed.
    expect(summary.ops / results.length).toBeGreaterThan(100);
    expect(results.every((r) => r.linearizability === 'ok')).toBe(true);
    expect(summary.crashes).toBeGreaterThan(results.length);
    expect(summary.tornWrites).toBeGreaterThan(0);
    expect(summary.snapshotsInstalled).toBeGreaterThan(0);
    expect(summary.unknownOps).toBeGreaterThan(0);
  });

  it('40 seeds on 5 nodes: no violations, live after the heal', () => {
    const { results, summary } = runSeeds(1001, 40, 5);
    expect(summary.failedSeeds.map((r) => r.seed)).toEqual([]);
    expect(summary.liveMet).toBeGreaterThanOrEqual(results.length - 1);
  });

  it('a seed replays identically', () => {
    const a = runSimulation(defaultConfig(7, 3));
    const b = runSimulation(defaultConfig(7, 3));
    expect(b).toEqual(a);
    expect(runSimulation(defaultConfig(8, 3))).not.toEqual(a);
  });
});
