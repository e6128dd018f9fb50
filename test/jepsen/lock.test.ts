// The recipes' lock under faults: fencing tokens strictly increase, no two holders' uses of the
// guarded resources interleave, and the fenced key never accepts a lower token after a higher one.
import { describe, expect, it } from 'vitest';
import { selectClusterKinds } from '../support/cluster.js';
import { runLock, seedFromEnv } from './runs.js';
import { budget, durationMs, FULL } from './settings.js';

describe.each(selectClusterKinds())('lock with fencing under faults on $kind', (launcher) => {
  const ms = durationMs(12_000);

  it('3 members, 4 contenders: exclusion and fencing hold', async () => {
    const report = await runLock({ launcher, nodes: 3, seed: seedFromEnv(), durationMs: ms, clients: 4 });
    console.log(report.report);
    expect(report.violations, report.report).toBe(0);
    // The checks mean something only if the lock changed hands under faults. How often it can is
    // up to the seed: a schedule that keeps isolating members lets a real etcd grant it only a
    // few times in 12 s (CI saw 4 on etcd, seed 1278165462), so ask for handovers, not a count.
    expect(report.extra['acquisitions']).toBeGreaterThanOrEqual(2);
    expect(report.extra['fencedWrites']).toBeGreaterThanOrEqual(2);
    expect(report.faults).toBeGreaterThan(0);
  }, budget(ms, 3));

  it.runIf(FULL)('5 members, 6 contenders: exclusion and fencing hold', async () => {
    const report = await runLock({ launcher, nodes: 5, seed: seedFromEnv(), durationMs: ms, clients: 6 });
    console.log(report.report);
    expect(report.violations, report.report).toBe(0);
  }, budget(ms, 5));
});
