// Watches under faults: watchers on a prefix resume from their last revision + 1 after every
// error; afterwards each has seen exactly the prefix's history (same revisions, in order, no gap
// or duplicate), which contains every acknowledged put and nothing nobody wrote.
import { describe, expect, it } from 'vitest';
import { selectClusterKinds } from '../support/cluster.js';
import { runWatch, seedFromEnv } from './runs.js';
import { budget, durationMs, FULL } from './settings.js';

describe.each(selectClusterKinds())('watch under faults on $kind', (launcher) => {
  const ms = durationMs(12_000);

  it('3 members: every watcher sees the same gap-free history', async () => {
    const report = await runWatch({ launcher, nodes: 3, seed: seedFromEnv(), durationMs: ms });
    console.log(report.report);
    expect(report.violations, report.report).toBe(0);
    expect(report.extra['events']).toBeGreaterThan(100);
    expect(report.faults).toBeGreaterThan(0);
  }, budget(ms, 3));

  it.runIf(FULL)('5 members: every watcher sees the same gap-free history', async () => {
    const report = await runWatch({ launcher, nodes: 5, seed: seedFromEnv(), durationMs: ms });
    console.log(report.report);
    expect(report.violations, report.report).toBe(0);
  }, budget(ms, 5));
});
