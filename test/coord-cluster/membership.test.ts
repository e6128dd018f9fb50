// Membership through Raft conf changes, driven by etcdctl as an operator would: a fourth member
// is added and catches up from a snapshot (the leader has compacted its log), a removed member
// stops serving, a learner is added and promoted.
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { etcdctl } from '../coord-server/harness.js';
import { CoordCluster, type Member } from './harness.js';

let cluster: CoordCluster;
const clients: Etcd3[] = [];

function etcd(m: Member): Etcd3 {
  const c = new Etcd3({ hosts: m.clientUrl, dialTimeout: 2000 });
  clients.push(c);
  return c;
}

async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (ok(v)) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) throw new Error(`condition not reached in ${timeoutMs} ms; last: ${String(last)}`);
    // Catching up has no event visible from outside the member: poll, bounded.
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  cluster = await CoordCluster.start({
    size: 3,
    // Snapshot often and keep few entries behind it, so a new member must start from a snapshot.
    args: ['--snapshot-count', '50', '--experimental-snapshot-catchup-entries', '10', '--heartbeat-interval', '50', '--election-timeout', '500'],
  });
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await cluster?.stop();
});

function addedId(stdout: string): string {
  const m = /Member\s+([0-9a-f]+) added to cluster/.exec(stdout);
  if (m === null) throw new Error(`no member id in: ${stdout}`);
  return m[1]!;
}

describe('membership changes with etcdctl', () => {
  it('adds a fourth member that catches up by snapshot, then removes it and it stops serving', async () => {
    const n1 = cluster.member('n1');
    const kv = etcd(n1);
    for (let i = 0; i < 200; i += 20) {
      await Promise.all(Array.from({ length: 20 }, (_, j) => kv.put(`m/${String(i + j).padStart(3, '0')}`).value(String(i + j))));
    }

    const n4 = await cluster.define('n4');
    const add = await etcdctl(n1.endpoint, ['member', 'add', 'n4', `--peer-urls=${n4.peerUrl}`]);
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toContain('ETCD_INITIAL_CLUSTER_STATE="existing"');
    const id = addedId(add.stdout);
    // Added but not started: listed without a name (etcdctl shows "unstarted").
    expect((await etcdctl(n1.endpoint, ['member', 'list'])).stdout).toMatch(new RegExp(`${id}, unstarted`));

    await n4.start(['--initial-cluster-state', 'existing']);
    const n4kv = etcd(n4);
    await eventually(() => n4kv.getAll().prefix('m/').count(), (n) => n === 200);
    expect(await n4kv.get('m/199').string()).toBe('199');
    // The leader had compacted its log: the new member started from the leader's snapshot.
    const restored = n4.log('coord: restored a snapshot').map((l) => JSON.parse(l) as { index: number; from: string });
    expect(restored.some((r) => r.from === 'leader' && r.index > 50)).toBe(true);

    const list = await eventually(() => etcdctl(n4.endpoint, ['member', 'list']), (r) => r.stdout.includes(`${id}, started, n4`));
    expect(list.stdout.trim().split('\n')).toHaveLength(4);
    const status = await etcdctl(cluster.members.map((m) => m.endpoint).join(','), ['endpoint', 'status', '-w', 'json']);
    const views = JSON.parse(status.stdout) as { Status: { leader: number; raft_term: number } }[];
    expect(views).toHaveLength(4);
    expect(new Set(views.map((v) => v.Status.leader)).size).toBe(1);
    // Writes now need three of four members and reach the new one too.
    await kv.put('m/after-add').value('x');
    expect(await n4kv.get('m/after-add').string()).toBe('x');

    const remove = await etcdctl(n1.endpoint, ['member', 'remove', id]);
    expect(remove.code, remove.stderr).toBe(0);
    expect(remove.stdout).toMatch(new RegExp(`Member\\s+${id} removed from cluster`));
    const refused = await eventually(
      () => etcdctl(n4.endpoint, ['get', 'm/000']),
      (r) => r.stderr.includes('the member has been permanently removed from the cluster'),
    );
    expect(refused.code).not.toBe(0);
    const after = await etcdctl(n1.endpoint, ['member', 'list']);
    expect(after.stdout).not.toContain(id);
    expect(after.stdout.trim().split('\n')).toHaveLength(3);
    await kv.put('m/after-remove').value('y');
    await n4.stop('SIGKILL');
    // A removed id is never reused (etcd refuses it too).
    const again = await etcdctl(n1.endpoint, ['member', 'add', 'n4', `--peer-urls=${n4.peerUrl}`]);
    expect(again.stderr).toContain('etcdserver: ID removed');
  });

  it('adds a learner, which replicates without voting, and promotes it', async () => {
    const n1 = cluster.member('n1');
    const n5 = await cluster.define('n5');
    const add = await etcdctl(n1.endpoint, ['member', 'add', 'n5', `--peer-urls=${n5.peerUrl}`, '--learner']);
    expect(add.code, add.stderr).toBe(0);
    const id = addedId(add.stdout);
    await n5.start(['--initial-cluster-state', 'existing']);
    // Once it applied its own addition (after the leader's snapshot, which may predate it).
    const s = await eventually(() => n5.status(), (v) => v.isLearner && v.leader !== '0');
    expect(s.raftAppliedIndex).toBeGreaterThan(0);
    expect((await etcdctl(n1.endpoint, ['member', 'list'])).stdout).toMatch(new RegExp(`${id}, started, n5, .*, true`));
    // A learner serves serializable reads (and Status); etcd 3.4 refuses it every other call.
    await etcd(n1).put('m/learner').value('l');
    expect(await eventually(() => etcd(n5).get('m/learner').serializable(true).string(), (v) => v === 'l')).toBe('l');
    const refused = 'etcdserver: rpc not supported for learner';
    const put = await etcdctl(n5.endpoint, ['put', 'm/learner', 'x']);
    expect([put.code, put.stderr]).toEqual([1, expect.stringContaining(refused)]);
    // etcdctl retries a refused read until its command timeout; the refusal shows in its log.
    const get = await etcdctl(n5.endpoint, ['get', 'm/learner', '--command-timeout=1s']);
    expect([get.code, get.stderr]).toEqual([1, expect.stringContaining(refused)]);

    const promote = await eventually(() => etcdctl(n1.endpoint, ['member', 'promote', id]), (r) => r.code === 0);
    expect(promote.stdout).toContain('promoted');
    expect((await eventually(() => n5.status(), (v) => !v.isLearner)).isLearner).toBe(false);
    expect((await etcdctl(n1.endpoint, ['member', 'list'])).stdout).toMatch(new RegExp(`${id}, started, n5, .*, false`));
  });
});
