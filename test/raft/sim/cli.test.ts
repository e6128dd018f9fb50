// The `npm run sim` command end to end: worker threads, progress, summary, replay.

import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const run = (args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'src/raft/sim/cli.ts', ...args], { encoding: 'utf8', timeout: 60_000 });

describe('sim CLI', () => {
  it('runs seeds on two worker threads and prints a summary', () => {
    const r = run(['--seeds', '6', '--nodes', '3', '--start', '100']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('running 6 seeds (100..105) on 3 nodes with 2 worker thread(s)');
    expect(r.stdout).toContain('seeds: 6   violations: 0 seed(s)');
    expect(r.stdout).toMatch(/liveness: \d+\.\d\d% of seeds recovered within \d+ ticks/);
  });

  it('replays one seed', () => {
    const r = run(['--seed', '100', '--nodes', '5']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('seed 100, 5 nodes');
    expect(r.stdout).toContain('no violations');
  });
});
