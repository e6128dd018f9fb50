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
    expect(report.extra['acquisitions']).toBeGreaterThan(10);
    expect(report.faults).toBeGreaterThan(0);
  }, budget(ms, 3));

  it.runIf(FULL)('5 members, 6 contenders: exclusion and fencing hold', async () => {
    const report = await runLock({ launcher, nodes: 5, seed: seedFromEnv(), durationMs: ms, clients: 6 });
    console.log(report.report);
    expect(report.violations, report.report).toBe(0);
  }, budget(ms, 5));
});
