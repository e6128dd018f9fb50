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

  it('--seeds N --seed S runs seeds S..S+N-1', () => {
    const r = run(['--seeds', '4', '--seed', '123', '--workers', '1']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('running 4 seeds (123..126) on 3 nodes with 1 worker thread(s)');
    expect(r.stdout).toContain('seeds: 4   violations: 0 seed(s)');
  });

  it('a failing seed prints its seed and the command that replays it, and the replay fails the same way', () => {
    const core = 'test/raft/sim/broken-variants.ts#commitOldTermEntry';
    const many = run(['--seeds', '3', '--seed', '41', '--core', core]);
    expect(many.status).toBe(1);
    const replay = `npm run sim -- --seed 42 --nodes 3 --core ${core}`;
    expect(many.stdout).toContain(`FAIL seed 42: stateMachineSafety`);
    expect(many.stdout).toContain(`replay: ${replay}`);
    const one = run(['--seed', '42', '--core', core]);
    expect(one.status).toBe(1);
    expect(one.stdout).toContain(`seed 42 (3 nodes): 3 violation(s) — replay: ${replay}`);
    expect(one.stdout).toContain('[stateMachineSafety] node 3 applied entry (term 11) at index 10, another node applied (term 7)');
  });

  it('replays one seed', () => {
    const r = run(['--seed', '100', '--nodes', '5']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('seed 100, 5 nodes');
    expect(r.stdout).toContain('no violations');
  });
});
