// Acknowledged writes survive SIGKILL of every member at once: writers put unique keys (one
// attempt each) until all members are killed mid-load; after restarting all of them on their data
// dirs, every acknowledged put is there with its value, and nothing is there that nobody wrote.
import { describe, expect, it } from 'vitest';
import { Cluster, selectClusterKinds } from '../support/cluster.js';
import { classifyFailure, EtcdRpc, prefixEnd } from '../support/history.js';
import { seedFromEnv } from './runs.js';

describe.each(selectClusterKinds())('durability on $kind', (launcher) => {
  it('acknowledged puts survive SIGKILL of all members and restart', async () => {
    const seed = seedFromEnv();
    const prefix = `/jepsen/durable/${seed}/`;
    const cluster = await Cluster.start({ launcher, size: 3, proxies: false });
    try {
      const acked = new Map<string, string>();
      const attempted = new Map<string, string>();
      let unknown = 0;
      let stop = false;
      let ackedOnce!: () => void;
      const enoughAcked = new Promise<void>((resolve) => { ackedOnce = resolve; });
      const writers = cluster.endpoints.flatMap((endpoint, e) => [0, 1].map(async (k) => {
        const rpc = new EtcdRpc(endpoint);
        try {
          for (let i = 0; !stop; i++) {
            const key = `${prefix}m${e}-${k}-${i}`;
            const value = `v${seed}-${e}-${k}-${i}`;
            attempted.set(key, value);
            try {
              await rpc.put(key, value, 2000);
              acked.set(key, value);
              if (acked.size >= 300) ackedOnce();
            } catch (err) {
              if (classifyFailure(err) === 'unknown') unknown++;
              return; // the members are gone: this writer is done
            }
          }
        } finally {
          rpc.close();
        }
      }));
      // Kill while writes are in flight, once a few hundred are acknowledged (bounded).
      await Promise.race([enoughAcked, new Promise((_, reject) => setTimeout(() => reject(new Error('fewer than 300 puts acknowledged in 20 s')), 20_000))]);
      await cluster.killAll();
      stop = true;
      await Promise.all(writers);
      const ackedAtKill = acked.size;

      await Promise.all(cluster.members.map((m) => cluster.restart(m)));
      await cluster.waitReady(30_000);

      const reader = new EtcdRpc(cluster.endpoints[1]!);
      try {
        const res = await reader.range(prefix, 5000, { rangeEnd: prefixEnd(prefix) });
        const found = new Map(res.kvs.map((kv) => [kv.key.toString(), kv.value.toString()]));
        const lost = [...acked].filter(([k, v]) => found.get(k) !== v);
        const phantom = [...found].filter(([k, v]) => attempted.get(k) !== v);
        console.log(`durability on ${launcher.kind} (seed ${seed}): ${ackedAtKill} acknowledged, ${unknown} in flight at the kill, ` +
          `${found.size} present after restart, ${lost.length} lost, ${phantom.length} phantom`);
        expect(lost, `acknowledged puts missing after restart:\n${cluster.logs()}`).toEqual([]);
        expect(phantom).toEqual([]);
        expect(ackedAtKill).toBeGreaterThanOrEqual(300);
        // Unacknowledged puts may or may not be there; nothing else may.
        expect(found.size).toBeGreaterThanOrEqual(ackedAtKill);
        expect(found.size).toBeLessThanOrEqual(attempted.size);
      } finally {
        reader.close();
      }
    } finally {
      await cluster.stop();
    }
  }, 90_000);
});
