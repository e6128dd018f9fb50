// `shoal up` and `shoal status --json` end to end: the supervised shop cluster (3 coordinators,
// 2 each of users, goods and orders, the gateway) in a temp data dir, its status, scale and kill through the
// control socket, a clean stop on SIGINT (exit 0, every child gone), and a restart of the same
// data dir that finds the data again.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, describe, expect, it } from 'vitest';
import { alive, shoal, shoalStatus, shoalUpPort, startShoalUp, type ShoalUp } from '../support/shoal-up.js';

const dataDir = join(mkdtempSync(join(tmpdir(), 'shoal-up-')), 'data');
const started: ShoalUp[] = [];

afterAll(async () => {
  for (const u of started) {
    await u.stop('SIGTERM');
    for (const pid of u.childPids()) if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
  rmSync(join(dataDir, '..'), { recursive: true, force: true });
});

/** Polls `shoal status` until `accept` holds, bounded. */
async function statusUntil(accept: (s: Awaited<ReturnType<typeof shoalStatus>>) => boolean, boundMs = 30_000) {
  const deadline = Date.now() + boundMs;
  for (;;) {
    const s = await shoalStatus(dataDir);
    if (accept(s)) return s;
    if (Date.now() > deadline) throw new Error(`status never matched: ${JSON.stringify(s.json)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('shoal up / status / scale / kill', () => {
  it('runs the shop cluster, reports it healthy, scales and kills through the control socket, stops all on SIGINT, restarts from the data dir', async () => {
    const port = await shoalUpPort();
    const t0 = Date.now();
    const stage = (what: string): void => console.log(`up.test: ${what} at ${Date.now() - t0} ms`);
    const first = await startShoalUp({ dataDir, port });
    stage('cluster ready');
    started.push(first);
    const s = await statusUntil((x) => x.json.instances.filter((i) => i.healthy).length === 6);
    expect(s.code).toBe(0);
    expect(s.json.coordinators.map((c) => c.name)).toEqual(['coord1', 'coord2', 'coord3']);
    expect(s.json.coordinators.every((c) => c.healthy && c.raftTerm > 0 && c.raftIndex > 0 && /^[0-9a-f]+$/.test(c.id))).toBe(true);
    expect(s.json.coordinators.filter((c) => c.leader)).toHaveLength(1);
    expect(s.json.instances.map((i) => i.service).sort()).toEqual(['goods', 'goods', 'orders', 'orders', 'users', 'users']);

    const etcd = new Etcd3({ hosts: s.json.coordinators.map((c) => c.url) });
    try {
      await etcd.put('up/key').value('kept');
    } finally {
      etcd.close();
    }

    stage('status healthy');
    // Scale goods to 3 and back to 2 (the extra one drains on SIGTERM and deregisters).
    const scaled = await shoal(['scale', 'goods=3'], dataDir, 90_000);
    expect(scaled.stdout).toContain('goods: 2 → 3 instances');
    await statusUntil((x) => x.json.instances.filter((i) => i.service === 'goods' && i.healthy).length === 3);
    expect((await shoal(['scale', 'goods=2'], dataDir, 90_000)).code).toBe(0);
    await statusUntil((x) => x.json.instances.filter((i) => i.service === 'goods').length === 2);
    expect((await shoal(['scale', 'nosuch=2'], dataDir)).stderr).toContain('unknown service nosuch');

    stage('scaled up and down');
    // Kill one users instance by its registry id: it goes, and the supervisor brings a new one.
    const victim = s.json.instances.find((i) => i.service === 'users')!;
    const killed = await shoal(['kill', victim.id], dataDir);
    expect(killed.stdout).toContain(`(pid ${victim.pid})`);
    const after = await statusUntil((x) => !x.json.instances.some((i) => i.id === victim.id) && x.json.instances.filter((i) => i.service === 'users' && i.healthy).length === 2);
    expect(after.json.instances.some((i) => i.pid === victim.pid)).toBe(false);

    stage('killed and replaced');
    const pids = first.childPids();
    expect(pids.length).toBeGreaterThanOrEqual(10); // 3 coordinators, 6 instances, the gateway (and restarts)
    expect(await first.stop('SIGINT')).toBe(0);
    expect(pids.filter(alive)).toEqual([]);

    // The same data dir: the same cluster, with its data.
    const second = await startShoalUp({ dataDir, port });
    started.push(second);
    expect(second.output()).toContain('restarting the cluster');
    const again = new Etcd3({ hosts: s.json.coordinators.map((c) => c.url) });
    try {
      expect(await again.get('up/key').string()).toBe('kept');
    } finally {
      again.close();
    }
    expect(await second.stop('SIGTERM')).toBe(0);
    expect(second.childPids().filter(alive)).toEqual([]);
  }, 360_000);
});
