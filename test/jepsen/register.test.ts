// Linearizability of get / put / compare-and-set under process and network faults: concurrent
// one-attempt clients against a real cluster while the seeded nemesis kills, pauses and cuts
// members; the history is checked with the kv model. On a violation the failure message carries
// the seed, the nemesis log and the minimal failing history.
import { describe, expect, it } from 'vitest';
import { selectClusterKinds } from '../support/cluster.js';
import { runRegister, seedFromEnv } from './runs.js';
import { budget, durationMs, FULL } from './settings.js';

describe.each(selectClusterKinds())('register linearizability on $kind', (launcher) => {
  const ms = durationMs();

  it('3 members, 6 clients, kill / pause / partition: no violation', async () => {
    const report = await runRegister({ launcher, nodes: 3, seed: seedFromEnv(), durationMs: ms, clients: 6 });
    console.log(report.report);
    expect(report.violations, report.report).toBe(0);
    expect(report.extra['outcome'], report.report).toBe('ok');
    // The run must have exercised something: faults happened and operations completed.
    expect(report.faults).toBeGreaterThan(0);
    expect(report.ops).toBeGreaterThan(500);
  }, budget(ms, 3));

  it.runIf(FULL)('5 members, 8 clients, up to two members faulty at once: no violation', async () => {
    const report = await runRegister({ launcher, nodes: 5, seed: seedFromEnv(), durationMs: ms, clients: 8 });
    console.log(report.report);
    expect(report.violations, report.report).toBe(0);
    expect(report.extra['outcome'], report.report).toBe('ok');
    expect(report.faults).toBeGreaterThan(0);
  }, budget(ms, 5));
});
