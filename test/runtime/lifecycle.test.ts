// Lifecycle: readiness gating, hooks, and a graceful stop under load with zero failed calls.
import { afterEach, describe, expect, it } from 'vitest';
import { defineService, type ServiceHost } from '../../src/index.js';
import type { ShoalObservability } from '../../src/observe/index.js';
import { TestCluster, gate } from './support/hosts.js';

let cluster: TestCluster;
afterEach(async () => {
  await cluster.closeAll();
});

const work = defineService({
  name: 'work',
  version: '1.0.0',
  actions: {
    // Simulated work of a few milliseconds, so calls overlap the stop.
    run: { handler: async (ctx) => (await new Promise((r) => setTimeout(r, 5)), ctx.instanceId) },
  },
});

describe('host lifecycle', () => {
  it('registers not-ready first, runs started before and stopped after serving', async () => {
    cluster = new TestCluster();
    const log: string[] = [];
    const view = cluster.discovery.view();
    cluster.views.push(view);
    view.onChange((c) => log.push(`${c.type}:${c.type === 'down' ? c.reason : c.instance.ready}`));
    const host = await cluster.host([
      defineService({
        name: 'hooks',
        version: '2.1.0',
        metadata: { zone: 'a' },
        started: (h) => void log.push(`started:${h.instanceId}`),
        stopped: () => void log.push('stopped'),
        actions: { get: { idempotent: true, handler: () => 1 }, put: { handler: () => 2 } },
      }),
    ]);
    const record = view.get(host.instanceId)!;
    expect(record.service).toBe('hooks');
    expect(record.version).toBe('2.1.0');
    expect(record.actions).toEqual(['hooks.get', 'hooks.put']);
    expect(record.metadata).toEqual({ zone: 'a', 'shoal.idempotent': 'get' });
    expect(record.urls[0]).toMatch(/^shoal\+tcp:\/\/127\.0\.0\.1:\d+$/);
    expect(record.urls[1]).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await host.observability.health.ready()).ok).toBe(true);
    await host.stop();
    expect(log).toEqual([`started:${host.instanceId}`, 'up:false', 'updated:true', 'down:deregistered', 'stopped']);
  });

  it('a failing started hook fails the start and registers nothing', async () => {
    cluster = new TestCluster();
    const view = cluster.discovery.view();
    cluster.views.push(view);
    await expect(
      cluster.host([defineService({ name: 'broken', version: '1.0.0', started: () => { throw new Error('no database'); }, actions: { x: { handler: () => 1 } } })]),
    ).rejects.toThrow('no database');
    expect(view.all()).toEqual([]);
  });

  it('graceful stop under load: in-flight calls finish, late ones go elsewhere, 0 failures', async () => {
    cluster = new TestCluster();
    const leaving = await cluster.host([work], { drain: { graceMs: 30, timeoutMs: 5_000 } });
    const staying = await cluster.host([work]);
    // Callers whose view learns of the deregistration 150 ms late keep routing to the leaving
    // instance after it began draining: those calls must be refused retryably and retried.
    const brokers = await Promise.all([cluster.broker({ lagMs: 150 }), cluster.broker({ lagMs: 150 })]);
    const answeredBy = new Map<string, number>();
    const failures: unknown[] = [];
    let running = true;
    const stopped = gate();
    const loops = Array.from({ length: 8 }, async (_, i) => {
      const broker = brokers[i % 2]!;
      while (running) {
        try {
          const who = await broker.call<string>('work.run', undefined, { strategy: 'round-robin' });
          answeredBy.set(who, (answeredBy.get(who) ?? 0) + 1);
        } catch (err) {
          failures.push(err);
        }
      }
    });
    // Stop once the leaving instance has answered a good number of calls.
    const atStart = await untilAnswered(answeredBy, leaving, 40);
    const report = leaving.stop().then((r) => (stopped.open(), r));
    await stopped.promise;
    // Keep the load on a while after the stop, all of it on the staying instance.
    const afterStop = answeredBy.get(staying.instanceId) ?? 0;
    await untilAnswered(answeredBy, staying, afterStop + 50);
    running = false;
    await Promise.all(loops);
    const drain = await report;
    expect(failures).toEqual([]);
    expect(atStart).toBeGreaterThanOrEqual(40);
    expect(drain.abandoned).toBe(0);
    const retries = brokers.flatMap((b) => (b.observability as ShoalObservability).tracer.recentSpans(10_000)).filter((s) => (s.attributes['shoal.retries'] ?? 0) !== 0);
    // The late callers did hit the draining instance and were retried on the other one.
    expect(retries.length + drain.refused).toBeGreaterThan(0);
  });
});

/** Resolves once `host` answered at least `n` calls (the load loops run meanwhile). */
async function untilAnswered(answeredBy: Map<string, number>, host: ServiceHost, n: number): Promise<number> {
  const until = Date.now() + 10_000;
  while ((answeredBy.get(host.instanceId) ?? 0) < n) {
    if (Date.now() > until) throw new Error(`${host.instanceId} answered only ${answeredBy.get(host.instanceId) ?? 0} of ${n} calls in 10 s`);
    await new Promise((r) => setImmediate(r));
  }
  return answeredBy.get(host.instanceId)!;
}
