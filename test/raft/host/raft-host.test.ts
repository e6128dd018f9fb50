import { afterEach, describe, expect, it } from 'vitest';
import { TestCluster } from './cluster.js';

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

const cmd = (s: string) => Buffer.from(s);

describe('RaftHost on loopback', () => {
  it('elects one leader and replicates pipelined proposals to every node in order', async () => {
    cluster = new TestCluster([1, 2, 3]);
    await cluster.start();
    const leader = await cluster.leader();
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => leader.propose(cmd(`c${i}`))));
    const indexes = results.map((r) => r.index);
    expect(indexes).toEqual([...indexes].sort((a, b) => a - b));
    expect(new Set(indexes).size).toBe(200);
    expect(results.map((r) => r.result)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));

    const expected = Array.from({ length: 200 }, (_, i) => `c${i}`);
    for (const id of [1, 2, 3]) {
      await cluster.applied(id, 200);
      expect(cluster.machines.get(id)?.commands).toEqual(expected);
    }
    const stats = leader.stats();
    // Group commit: the leader's WAL shared each fsync among many entries (one record per Ready,
    // and each Ready carries every proposal that arrived since the last one).
    expect(stats.wal.fsyncs).toBeLessThan(indexes.length / 2);
    expect(leader.status()).toMatchObject({ role: 'leader', applied: indexes[199] });
  });

  it('forwards a follower proposal and answers reads on leader and follower', async () => {
    cluster = new TestCluster([1, 2, 3]);
    await cluster.start();
    const leader = await cluster.leader();
    const follower = [...cluster.hosts.values()].find((h) => h !== leader);
    if (follower === undefined) throw new Error('no follower');
    const { index } = await follower.propose(cmd('from-follower'));
    expect(cluster.machines.get(follower.status().id)?.commands).toEqual(['from-follower']);
    const [onLeader, onFollower] = await Promise.all([leader.readIndex(), follower.readIndex()]);
    expect(onLeader.index).toBeGreaterThanOrEqual(index);
    expect(onFollower.index).toBeGreaterThanOrEqual(index);
    expect(follower.status().applied).toBeGreaterThanOrEqual(onFollower.index);
  });

  it('a restarted follower recovers from its disk and catches up, by snapshot when it fell behind', async () => {
    cluster = new TestCluster([1, 2, 3], { snapshotEvery: 40, keepEntries: 10, segmentBytes: 16 * 1024 });
    await cluster.start();
    let leader = await cluster.leader();
    for (let i = 0; i < 60; i++) await leader.propose(cmd(`a${i}`));
    const followerId = [1, 2, 3].find((id) => id !== leader.status().id) as number;
    await cluster.applied(followerId, 60);
    await cluster.stopNode(followerId);

    // The remaining two commit on their own and compact past the stopped follower's log.
    await Promise.all(Array.from({ length: 99 }, (_, i) => leader.propose(cmd(`b${i}`))));
    // Applied in a later Ready than the rest, so after the compaction that Ready triggered.
    await leader.propose(cmd('b99'));
    expect(leader.stats().snapshots).toBeGreaterThan(0);
    const stoppedAt = 2 + 60; // bootstrap snapshot, the leader's no-op, 60 commands
    expect(leader.status().firstIndex).toBeGreaterThan(stoppedAt + 1);

    const restarted = await cluster.startNode(followerId);
    // Recovered from its own disk: its snapshot and log, before hearing from anyone.
    expect(restarted.status().applied).toBeGreaterThan(0);
    expect(restarted.status().commit).toBeGreaterThanOrEqual(60);
    const restoredAtStart = [...(cluster.machines.get(followerId)?.restoredAt ?? [])];
    await cluster.applied(followerId, 160);
    // The leader had compacted past the follower's log, so it sent a snapshot.
    const restoredLater = cluster.machines.get(followerId)?.restoredAt.slice(restoredAtStart.length) ?? [];
    expect(restoredLater.length).toBeGreaterThan(0);
    expect(Math.min(...restoredLater)).toBeGreaterThan(stoppedAt);
    const expected = [...Array.from({ length: 60 }, (_, i) => `a${i}`), ...Array.from({ length: 100 }, (_, i) => `b${i}`)];
    expect(cluster.machines.get(followerId)?.commands).toEqual(expected);

    leader = await cluster.leader();
    const { index } = await leader.propose(cmd('after'));
    await cluster.applied(followerId, 161);
    expect(restarted.status().applied).toBeGreaterThanOrEqual(index);
  });
});
