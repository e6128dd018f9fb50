// Three `shoal coord` processes replicating over Raft, talked to with the etcd3 client on every
// member: replication, follower writes, linearizable reads across members, watches on a
// follower, leases decided by the leader only (SIGSTOP, leader change), failover after SIGKILL,
// partitions through the per-pair peer proxies, and durability of acknowledged writes after
// SIGKILL of every member.
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, client, etcdctl } from '../coord-server/harness.js';
import { CoordCluster, type Member } from './harness.js';

// A faster election than etcd's default 1 s keeps the file short on two cores.
const HEARTBEAT_MS = 50;
const ELECTION_MS = 500;

let cluster: CoordCluster;
const clients = new Map<Member, Etcd3>();

function etcd(m: Member): Etcd3 {
  let c = clients.get(m);
  if (c === undefined) {
    c = new Etcd3({ hosts: m.clientUrl, dialTimeout: 2000 });
    clients.set(m, c);
  }
  return c;
}

function forget(m: Member): void {
  clients.get(m)?.close();
  clients.delete(m);
  m.closeRpc();
}

/** Retries `fn` until it succeeds (a member may still be electing); bounded. */
async function eventually<T>(fn: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() >= deadline) throw err;
    }
    // The operation failed because no leader was known yet: there is no event to await.
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  cluster = await CoordCluster.start({
    size: 3,
    args: ['--heartbeat-interval', String(HEARTBEAT_MS), '--election-timeout', String(ELECTION_MS), '--log-level', 'info'],
  });
}, 60_000);

afterAll(async () => {
  for (const c of clients.values()) c.close();
  await cluster?.stop();
});

describe('a three-member coordinator on Raft', () => {
  it('elects one leader that every member names, and replicates writes to every member', async () => {
    const leader = await cluster.leader();
    const statuses = await Promise.all(cluster.members.map((m) => m.status()));
    expect(new Set(statuses.map((s) => s.leader))).toEqual(new Set([statuses.find((s) => s.memberId === statuses[0]!.leader)!.memberId]));
    expect(statuses.filter((s) => s.memberId === s.leader)).toHaveLength(1);
    const put = await etcd(leader).put('rep/a').value('1').exec();
    const rev = Number(put.header.revision);
    for (const m of cluster.members) {
      // A linearizable read on any member sees the write.
      expect(await etcd(m).get('rep/a').string()).toBe('1');
      const r = await etcd(m).get('rep/a').exec();
      expect(Number(r.kvs[0]!.mod_revision)).toBe(rev);
    }
    const health = await etcdctl(cluster.members.map((m) => m.endpoint).join(','), ['endpoint', 'health']);
    expect(health.code, health.stderr).toBe(0);
    expect(health.stderr.match(/is healthy/g) ?? health.stdout.match(/is healthy/g)).toHaveLength(3);
    const members = await etcd(leader).cluster.memberList({});
    expect(members.members.map((x) => x.name).sort()).toEqual(['n1', 'n2', 'n3']);
    expect(members.members.every((x) => x.clientURLs.length === 1)).toBe(true);
  });

  it('takes a write through a follower, and a read after it through another member sees it', async () => {
    const leader = await cluster.leader();
    const [f1, f2] = cluster.followers(leader);
    for (let i = 0; i < 20; i++) {
      await etcd(f1!).put('rw/k').value(String(i));
      // Linearizable: the other follower answers only after applying everything committed.
      expect(await etcd(f2!).get('rw/k').string()).toBe(String(i));
    }
    // A read-only transaction is served by ReadIndex too, on a follower.
    const txn = await etcd(f2!).if('rw/k', 'Value', '==', '19').then(etcd(f2!).get('rw/k')).commit();
    expect(txn.succeeded).toBe(true);
    expect(txn.responses[0]!.response_range!.kvs[0]!.value.toString()).toBe('19');
    // A transaction that writes goes through the log from a follower as well.
    const w = await etcd(f1!).if('rw/k', 'Value', '==', '19').then(etcd(f1!).put('rw/k').value('done')).commit();
    expect(w.succeeded).toBe(true);
    expect(await etcd(leader).get('rw/k').string()).toBe('done');
  });

  it('serves a watch on a follower with every revision, in order, whichever member took the writes', async () => {
    const leader = await cluster.leader();
    const [f1, f2] = cluster.followers(leader);
    const start = Number((await etcd(f1!).put('w/start').value('0').exec()).header.revision) + 1;
    const watcher = await etcd(f1!).watch().prefix('w/').startRevision(String(start)).create();
    const seen: number[] = [];
    const writers = [leader, f1!, f2!];
    const total = 60;
    const done = new Promise<void>((resolve) =>
      watcher.on('put', (kv) => {
        seen.push(Number(kv.mod_revision));
        if (seen.length === total) resolve();
      }),
    );
    await Promise.all(writers.map(async (m, w) => {
      for (let i = 0; i < total / writers.length; i++) await etcd(m).put(`w/${w}/${i}`).value(String(i));
    }));
    await done;
    await watcher.cancel();
    // Each put is one revision: the watch saw all of them, contiguous and ascending.
    expect(seen).toEqual(Array.from({ length: total }, (_, i) => start + i));
  });

  it('forwards keep-alives and TimeToLive from a follower to the leader', async () => {
    const leader = await cluster.leader();
    const [f1] = cluster.followers(leader);
    const lease = etcd(f1!).lease(2, { autoKeepAlive: false });
    const id = await lease.grant();
    await lease.put('lease/kept').value('x');
    // Keep it alive through the follower for three TTLs.
    const until = Date.now() + 6000;
    while (Date.now() < until) {
      await lease.keepaliveOnce();
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(await etcd(leader).get('lease/kept').string()).toBe('x');
    const ttl = await etcd(f1!).leaseClient.leaseTimeToLive({ ID: id });
    // The remaining TTL is the leader's (a follower holds no deadlines): just renewed, 2 s.
    expect(Number(ttl.TTL)).toBeGreaterThanOrEqual(1);
    expect(Number(ttl.TTL)).toBeLessThanOrEqual(2);
    await lease.revoke();
    expect(await etcd(leader).get('lease/kept').string()).toBeNull();
  });

  it('expires leases on the leader only: a paused follower expires nothing', async () => {
    const leader = await cluster.leader();
    const [f1] = cluster.followers(leader);
    const lease = etcd(leader).lease(3, { autoKeepAlive: false });
    const id = await lease.grant();
    await lease.put('pause/k').value('v');
    f1!.pause();
    try {
      // Kept alive on the leader for longer than the TTL while the follower is stopped.
      const until = Date.now() + 5000;
      while (Date.now() < until) {
        await lease.keepaliveOnce();
        await new Promise((r) => setTimeout(r, 500));
      }
    } finally {
      f1!.resume();
    }
    await lease.keepaliveOnce();
    // The follower's clock jumped 5 s past a 3 s TTL: it must not have revoked anything.
    expect(await eventually(() => etcd(f1!).get('pause/k').string())).toBe('v');
    const ttl = await etcd(f1!).leaseClient.leaseTimeToLive({ ID: id });
    expect(Number(ttl.TTL)).toBeGreaterThan(0);
    // Not kept alive any more: the leader expires it and every member sees the key go.
    const deadline = Date.now() + 8000;
    while ((await etcd(f1!).get('pause/k').string()) !== null) {
      if (Date.now() > deadline) throw new Error('the lease did not expire');
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  it('fails over after SIGKILL of the leader: writes resume, lease TTLs restart on the new leader', async () => {
    const old = await cluster.leader();
    const lease = etcd(old).lease(6, { autoKeepAlive: false });
    const id = await lease.grant();
    await lease.put('fo/leased').value('v');
    // Let the lease run down a few seconds without keep-alives.
    const spent = Date.now() + 3500;
    while (Date.now() < spent) await new Promise((r) => setTimeout(r, 250));
    const before = Number((await etcd(old).leaseClient.leaseTimeToLive({ ID: id })).TTL);
    expect(before).toBeLessThanOrEqual(3);

    const survivors = cluster.followers(old);
    const killedAt = Date.now();
    await old.stop('SIGKILL');
    forget(old);
    // Writes through either survivor resume once a new leader is elected.
    await eventually(() => etcd(survivors[0]!).put('fo/after').value('1').exec(), 15_000);
    const failoverMs = Date.now() - killedAt;
    console.log(`[coord-cluster] failover after SIGKILL of the leader: ${failoverMs} ms (election timeout ${ELECTION_MS} ms, heartbeat ${HEARTBEAT_MS} ms)`);
    expect(failoverMs).toBeLessThan(10_000);
    const leader = await cluster.leader(survivors);
    expect(leader).not.toBe(old);

    // Promotion restarted every deadline at its TTL (+ an election timeout): not the ~2 s left.
    const after = Number((await etcd(leader).leaseClient.leaseTimeToLive({ ID: id })).TTL);
    expect(after).toBeGreaterThanOrEqual(5);
    expect(await etcd(leader).get('fo/leased').string()).toBe('v');

    // The killed member restarts on its data and catches up.
    await old.start();
    expect(await eventually(() => etcd(old).get('fo/after').string())).toBe('1');
    await lease.revoke().catch(() => {});
  });

  it('isolated leader: the majority elects another and goes on; the old one catches up when healed', async () => {
    const old = await cluster.leader();
    const rest = cluster.followers(old);
    cluster.isolate(old);
    try {
      const leader = await cluster.leader(rest);
      expect(leader).not.toBe(old);
      await etcd(rest[0]!).put('part/k').value('majority');
      // The cut-off member cannot serve a linearizable read (it would be stale): no answer in 2 s.
      const kv = client('etcdserverpb.KV', old.endpoint);
      try {
        await expect(call(kv, 'Range', { key: Buffer.from('part/k') }, 2000)).rejects.toThrow(/DEADLINE_EXCEEDED|UNAVAILABLE|Deadline|no leader/i);
        // A serializable read is served locally, and is stale.
        const stale = await call<{ kvs: unknown[] }>(kv, 'Range', { key: Buffer.from('part/k'), serializable: true }, 2000);
        expect(stale.kvs).toEqual([]);
      } finally {
        kv.close();
      }
    } finally {
      cluster.isolate(old, false);
    }
    expect(await eventually(() => etcd(old).get('part/k').string(), 15_000)).toBe('majority');
  });

  it('asymmetric partition: a leader that can hear but not speak is replaced; it rejoins when healed', async () => {
    const old = await cluster.leader();
    const rest = cluster.followers(old);
    // Only the old leader's outbound links are cut: its heartbeats stop, the others' votes still reach it.
    for (const m of rest) cluster.cutLink(old, m);
    try {
      const leader = await cluster.leader(rest);
      expect(leader).not.toBe(old);
      await etcd(leader).put('asym/k').value('v');
      expect(await etcd(rest.find((m) => m !== leader)!).get('asym/k').string()).toBe('v');
    } finally {
      for (const m of rest) cluster.cutLink(old, m, false);
    }
    expect(await eventually(() => etcd(old).get('asym/k').string(), 15_000)).toBe('v');
  });

  it('keeps every acknowledged write when every member is SIGKILLed at once', async () => {
    const acked = new Map<string, string>();
    let stop = false;
    const writers = cluster.members.map(async (m, w) => {
      for (let i = 0; !stop; i++) {
        const key = `dur/${w}/${i}`;
        try {
          await etcd(m).put(key).value(`v${i}`);
          acked.set(key, `v${i}`);
        } catch {
          // Unacknowledged: may or may not be there.
        }
      }
    });
    while (acked.size < 150) await new Promise((r) => setTimeout(r, 20));
    await Promise.all(cluster.members.map((m) => m.stop('SIGKILL')));
    stop = true;
    await Promise.all(writers);
    for (const m of cluster.members) forget(m);

    await Promise.all(cluster.members.map((m) => m.start()));
    const leader = await cluster.leader();
    const stored = await eventually(() => etcd(leader).getAll().prefix('dur/').strings());
    const missing = [...acked].filter(([k, v]) => stored[k] !== v);
    expect(missing).toEqual([]);
    for (const m of cluster.members) {
      expect(await eventually(() => etcd(m).getAll().prefix('dur/').count())).toBe(Object.keys(stored).length);
    }
  });
});
