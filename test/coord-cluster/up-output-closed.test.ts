// `shoal up` whose reader goes away (the terminal closed, the test runner that started it died):
// its next write fails with EPIPE, and instead of dying there and orphaning every child it stops
// them all, as on Ctrl-C.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { alive, shoal, shoalStatus, shoalUpPort, startShoalUp, type ShoalUp } from '../support/shoal-up.js';

const dataDir = join(mkdtempSync(join(tmpdir(), 'shoal-up-epipe-')), 'data');
let up: ShoalUp | undefined;

afterAll(async () => {
  if (up !== undefined) {
    await up.stop('SIGTERM');
    for (const pid of up.childPids()) if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
  rmSync(join(dataDir, '..'), { recursive: true, force: true });
});

describe('shoal up with its output closed', () => {
  it('stops every child and exits when a write to its closed stdout fails', async () => {
    up = await startShoalUp({ dataDir, port: await shoalUpPort() });
    const status = await shoalStatus(dataDir);
    const victim = status.json.instances.find((i) => i.service === 'users');
    expect(victim, JSON.stringify(status.json)).toBeDefined();
    const pids = up.childPids();
    expect(pids.length).toBeGreaterThanOrEqual(10);
    // Our read ends go away; shoal up notices at its next write: the line about the killed child.
    up.child.stdout!.destroy();
    up.child.stderr!.destroy();
    expect((await shoal(['kill', victim!.id], dataDir)).code).toBe(0);
    expect(await up.exited).toBe(0);
    expect(pids.filter(alive)).toEqual([]);
  }, 180_000);
});
