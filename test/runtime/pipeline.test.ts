// The call pipeline end to end: real transports on 127.0.0.1, the in-memory discovery.
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ShoalError, defineService, type ServiceDefinition } from '../../src/index.js';
import type { ShoalObservability } from '../../src/observe/index.js';
import { Notifier, TestCluster, gate } from './support/hosts.js';

let cluster: TestCluster;
afterEach(async () => {
  await cluster.closeAll();
});

async function rejection(p: Promise<unknown>): Promise<ShoalError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ShoalError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

/** A service whose every action answers with the serving instance's id, counting calls. */
function whoami(name: string, counts: Map<string, number>, extra: Partial<ServiceDefinition['schema']> = {}): ServiceDefinition {
  return defineService({
    name,
    version: '1.0.0',
    ...extra,
    actions: {
      who: {
        handler: (ctx) => {
          counts.set(ctx.instanceId, (counts.get(ctx.instanceId) ?? 0) + 1);
          return ctx.instanceId;
        },
      },
    },
  });
}

describe('call pipeline', () => {
  it('round-robin spreads calls evenly across two instances', async () => {
    cluster = new TestCluster();
    const counts = new Map<string, number>();
    const a = await cluster.host([whoami('echo', counts)]);
    const b = await cluster.host([whoami('echo', counts)]);
    const broker = await cluster.broker();
    const answers: string[] = [];
    for (let i = 0; i < 6; i++) answers.push(await broker.call<string>('echo.who', undefined, { strategy: 'round-robin' }));
    expect(new Set(answers)).toEqual(new Set([a.instanceId, b.instanceId]));
    // Strict alternation: no two consecutive calls on the same instance.
    for (let i = 1; i < answers.length; i++) expect(answers[i]).not.toBe(answers[i - 1]);
    expect(counts.get(a.instanceId)).toBe(3);
    expect(counts.get(b.instanceId)).toBe(3);
  });

  it('a service strategy registered in metadata is used by callers', async () => {
    cluster = new TestCluster();
    const counts = new Map<string, number>();
    await cluster.host([whoami('echo', counts, { strategy: 'round-robin' })]);
    await cluster.host([whoami('echo', counts, { strategy: 'round-robin' })]);
    const broker = await cluster.broker();
    const answers: string[] = [];
    for (let i = 0; i < 4; i++) answers.push(await broker.call<string>('echo.who'));
    for (let i = 1; i < answers.length; i++) expect(answers[i]).not.toBe(answers[i - 1]);
  });

  it('propagates the remaining budget: the callee sees less than the caller had', async () => {
    cluster = new TestCluster();
    const seen: Record<string, number> = {};
    await cluster.host([
      defineService({
        name: 'front',
        version: '1.0.0',
        actions: {
          chain: {
            handler: async (ctx) => {
              seen.front = ctx.remainingMs();
              await new Promise((r) => setTimeout(r, 30)); // work that uses up budget
              return ctx.call('back.budget');
            },
          },
        },
      }),
    ]);
    await cluster.host([defineService({ name: 'back', version: '1.0.0', actions: { budget: { handler: (ctx) => ctx.remainingMs() } } })]);
    const broker = await cluster.broker();
    const backBudget = await broker.call<number>('front.chain', undefined, { timeoutMs: 2_000 });
    expect(seen.front).toBeLessThanOrEqual(2_000);
    expect(seen.front).toBeGreaterThan(1_000);
    expect(backBudget).toBeLessThanOrEqual(seen.front! - 30);
    expect(backBudget).toBeGreaterThan(0);
  });

  it('a spent deadline fails fast with DEADLINE_EXCEEDED and sends nothing', async () => {
    cluster = new TestCluster();
    let backCalls = 0;
    let frontSaw: string | undefined;
    const frontDone = new Notifier();
    await cluster.host([
      defineService({
        name: 'front',
        version: '1.0.0',
        actions: {
          late: {
            handler: async (ctx) => {
              await new Promise((r) => setTimeout(r, ctx.remainingMs() + 20)); // overrun the budget
              try {
                return await ctx.call('back.count');
              } catch (err) {
                frontSaw = (err as ShoalError).code;
                frontDone.notify();
                throw err;
              }
            },
          },
        },
      }),
    ]);
    const back = await cluster.host([defineService({ name: 'back', version: '1.0.0', actions: { count: { handler: () => ++backCalls } } })]);
    const broker = await cluster.broker();
    const spentAtOnce = await rejection(broker.call('back.count', undefined, { timeoutMs: 0 }));
    expect(spentAtOnce.code).toBe('DEADLINE_EXCEEDED');

    const backObs = back.observability as ShoalObservability;
    const err = await rejection(broker.call('front.late', undefined, { timeoutMs: 100 }));
    expect(err.code).toBe('DEADLINE_EXCEEDED');
    // Front's handler outlives the caller's wait; its own ctx.call fails locally.
    await frontDone.until(() => frontSaw !== undefined, 5_000, "front's downstream call");
    expect(frontSaw).toBe('DEADLINE_EXCEEDED');
    expect(backCalls).toBe(0);
    expect(backObs.tracer.recentSpans().filter((s) => s.kind === 'server')).toHaveLength(0);
    const frontClientSpans = (cluster.hosts[0]!.observability as ShoalObservability).tracer.recentSpans().filter((s) => s.name === 'back.count');
    expect(frontClientSpans).toHaveLength(1);
    expect(frontClientSpans[0]!.ok).toBe(false);
  });

  it('answers INVALID_ARGUMENT with zod issues for bad params, without running the handler', async () => {
    cluster = new TestCluster();
    let runs = 0;
    await cluster.host([
      defineService({
        name: 'goods',
        version: '1.0.0',
        actions: { get: { params: z.object({ id: z.number().int() }), idempotent: true, handler: (ctx) => (runs++, { id: ctx.params.id }) } },
      }),
    ]);
    const broker = await cluster.broker();
    const err = await rejection(broker.call('goods.get', { id: 'seven' }));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.retryable).toBe(false);
    const issues = err.details?.issues as { path: unknown[]; message: string }[];
    expect(issues[0]!.path).toEqual(['id']);
    expect(runs).toBe(0);
    expect(await broker.call('goods.get', { id: 7 })).toEqual({ id: 7 });
    expect(runs).toBe(1);
  });

  it('a handler crash is INTERNAL with a generic message (no internals leak)', async () => {
    cluster = new TestCluster();
    await cluster.host([defineService({ name: 'bad', version: '1.0.0', actions: { run: { handler: () => { throw new Error('SELECT * FROM secrets failed'); } } } })]);
    const broker = await cluster.broker();
    const err = await rejection(broker.call('bad.run'));
    expect(err.code).toBe('INTERNAL');
    expect(err.message).not.toContain('secrets');
  });

  it('retries a retryable error on the other instance', async () => {
    cluster = new TestCluster();
    const counts = new Map<string, number>();
    const busy = defineService({
      name: 'pay',
      version: '1.0.0',
      actions: {
        charge: {
          handler: (ctx) => {
            counts.set(ctx.instanceId, (counts.get(ctx.instanceId) ?? 0) + 1);
            throw new ShoalError({ code: 'BUSY', message: 'try elsewhere', retryable: true });
          },
        },
      },
    });
    const a = await cluster.host([busy]);
    const b = await cluster.host([whoami('pay', counts)].map((d) => defineService({ ...d.schema, actions: { charge: d.schema.actions.who! } })));
    const broker = await cluster.broker({ policy: { outlier: false } });
    for (let i = 0; i < 4; i++) expect(await broker.call('pay.charge', undefined, { strategy: 'round-robin' })).toBe(b.instanceId);
    // Every attempt on a was followed by one on b (never a twice: the retry avoids the endpoint that failed).
    expect(counts.get(a.instanceId)).toBeGreaterThanOrEqual(1);
    expect(counts.get(a.instanceId)).toBeLessThanOrEqual(4);
    expect(counts.get(b.instanceId)).toBe(4);
    const spans = (broker.observability as ShoalObservability).tracer.recentSpans().filter((s) => s.name === 'pay.charge');
    expect(spans.filter((s) => s.attributes['shoal.retries'] === 1)).toHaveLength(counts.get(a.instanceId)!);
  });

  it('does not retry a non-idempotent action after an ambiguous failure; retries an idempotent one', async () => {
    cluster = new TestCluster();
    const runs: string[] = [];
    const crashOn = new Set<string>();
    let held = gate();
    const run = async (instanceId: string): Promise<string> => {
      runs.push(instanceId);
      if (crashOn.delete(instanceId)) {
        held.open();
        await new Promise(() => undefined); // never answers: the instance dies mid-call
      }
      return instanceId;
    };
    const def = defineService({
      name: 'pay',
      version: '1.0.0',
      actions: {
        where: { idempotent: true, handler: (ctx) => ctx.instanceId },
        charge: { handler: (ctx) => run(ctx.instanceId) },
        refresh: { idempotent: true, handler: (ctx) => run(ctx.instanceId) },
      },
    });
    const x = await cluster.host([def]);
    const y = await cluster.host([def]);
    const broker = await cluster.broker({ policy: { outlier: false } });

    // Pin the first attempt on x: a consistent-hash key that maps there.
    crashOn.add(x.instanceId);
    const call = broker.call('pay.charge', undefined, { strategy: 'consistent-hash', key: await keyFor(broker, x.instanceId) });
    await held.promise;
    await x.abort();
    const err = await rejection(call);
    expect(err.code).toBe('CONNECTION_LOST');
    expect(err.details?.maybeExecuted).toBe(true);
    expect(runs).toEqual([x.instanceId]); // not repeated on y

    // The same failure of an action its schema marks idempotent is retried, on the other instance.
    cluster.discovery.expire(x.instanceId);
    const z = await cluster.host([def]);
    held = gate();
    crashOn.add(z.instanceId);
    runs.length = 0;
    const again = broker.call('pay.refresh', undefined, { strategy: 'consistent-hash', key: await keyFor(broker, z.instanceId) });
    await held.promise;
    await z.abort();
    expect(await again).toBe(y.instanceId);
    expect(runs).toEqual([z.instanceId, y.instanceId]);
  });

  it('opens the breaker of a failing instance and routes around it', async () => {
    cluster = new TestCluster();
    const counts = new Map<string, number>();
    const def = defineService({
      name: 'flaky',
      version: '1.0.0',
      actions: {
        run: {
          handler: (ctx) => {
            counts.set(ctx.instanceId, (counts.get(ctx.instanceId) ?? 0) + 1);
            if (ctx.instanceId === bad.instanceId) throw new Error('disk on fire');
            return ctx.instanceId;
          },
        },
      },
    });
    const bad = await cluster.host([def]);
    const good = await cluster.host([def]);
    const broker = await cluster.broker({ policy: { outlier: false, breaker: { minimumRequests: 4, failureRateThreshold: 0.5, cooldownMs: 60_000 } } });
    let failures = 0;
    for (let i = 0; i < 8; i++) {
      try {
        await broker.call('flaky.run', undefined, { strategy: 'round-robin' });
      } catch (err) {
        expect((err as ShoalError).code).toBe('INTERNAL');
        failures++;
      }
    }
    expect(failures).toBe(4); // every call round-robin sent to bad until its window held 4 failures
    expect(broker.pipeline.breakerState(bad.instanceId)).toBe('open');
    const badCalls = counts.get(bad.instanceId);
    for (let i = 0; i < 10; i++) expect(await broker.call('flaky.run', undefined, { strategy: 'round-robin' })).toBe(good.instanceId);
    expect(counts.get(bad.instanceId)).toBe(badCalls);
    const metrics = await broker.observability.metrics.render();
    expect(metrics).toMatch(new RegExp(`shoal_breaker_state\\{[^}]*${bad.instanceId}[^}]*\\} 2`));
  });

  it('ejects an outlier from the view after consecutive failures', async () => {
    cluster = new TestCluster();
    const def = defineService({
      name: 'flaky',
      version: '1.0.0',
      actions: { run: { handler: (ctx) => { if (ctx.instanceId === bad.instanceId) throw new Error('x'); return ctx.instanceId; } } },
    });
    const bad = await cluster.host([def]);
    await cluster.host([def]);
    const broker = await cluster.broker({ policy: { outlier: { consecutiveFailures: 2, baseEjectionMs: 60_000 }, breaker: { minimumRequests: 1000 } } });
    for (let i = 0; i < 4; i++) await broker.call('flaky.run', undefined, { strategy: 'round-robin' }).catch(() => undefined);
    expect(broker.view.ejections.map((e) => e.id)).toEqual([bad.instanceId]);
    expect(broker.view.instances('flaky').map((r) => r.id)).not.toContain(bad.instanceId);
  });

  it('fails over to the backup pool only when no primary accepts', async () => {
    cluster = new TestCluster();
    const counts = new Map<string, number>();
    let primariesFail = false;
    const def = (pool?: string): ServiceDefinition =>
      defineService({
        name: 'stock',
        version: '1.0.0',
        ...(pool === undefined ? {} : { metadata: { role: pool } }),
        actions: {
          get: {
            handler: (ctx) => {
              counts.set(ctx.instanceId, (counts.get(ctx.instanceId) ?? 0) + 1);
              if (primariesFail && pool === undefined) throw new ShoalError({ code: 'UNAVAILABLE', message: 'db down', retryable: false });
              return pool ?? 'primary';
            },
          },
        },
      });
    const p1 = await cluster.host([def()]);
    const p2 = await cluster.host([def()]);
    const backup = await cluster.host([def('backup')]);
    const broker = await cluster.broker({ policy: { outlier: false, breaker: { minimumRequests: 2, failureRateThreshold: 0.5, cooldownMs: 60_000 } } });
    for (let i = 0; i < 4; i++) expect(await broker.call('stock.get')).toBe('primary');
    expect(counts.get(backup.instanceId)).toBeUndefined();

    primariesFail = true;
    const answers: string[] = [];
    for (let i = 0; i < 20; i++) answers.push(await broker.call<string>('stock.get').catch((e: ShoalError) => e.code));
    expect(broker.pipeline.breakerState(p1.instanceId)).toBe('open');
    expect(broker.pipeline.breakerState(p2.instanceId)).toBe('open');
    // Once both primaries' breakers opened, every call went to the backup.
    expect(answers.slice(-5)).toEqual(['backup', 'backup', 'backup', 'backup', 'backup']);
  });

  it('keeps one trace across caller → A → B, each span the child of the one before', async () => {
    cluster = new TestCluster();
    const a = await cluster.host([defineService({ name: 'a', version: '1.0.0', actions: { chain: { handler: (ctx) => ctx.call('b.leaf') } } })]);
    const b = await cluster.host([defineService({ name: 'b', version: '1.0.0', actions: { leaf: { handler: (ctx) => ctx.meta.traceparent } } })]);
    const broker = await cluster.broker();
    const traceparentAtB = await broker.call<string>('a.chain');
    const spans = (obs: unknown) => (obs as ShoalObservability).tracer.recentSpans();
    const callerSpan = spans(broker.observability).find((s) => s.name === 'a.chain')!;
    const aServer = spans(a.observability).find((s) => s.name === 'a.chain' && s.kind === 'server')!;
    const aClient = spans(a.observability).find((s) => s.name === 'b.leaf' && s.kind === 'client')!;
    const bServer = spans(b.observability).find((s) => s.name === 'b.leaf' && s.kind === 'server')!;
    for (const s of [aServer, aClient, bServer]) expect(s.traceId).toBe(callerSpan.traceId);
    expect(aServer.parentSpanId).toBe(callerSpan.spanId);
    expect(aClient.parentSpanId).toBe(aServer.spanId);
    expect(bServer.parentSpanId).toBe(aClient.spanId);
    expect(traceparentAtB).toContain(callerSpan.traceId);
  });

  it('answers NO_ENDPOINT when no instance is ready', async () => {
    cluster = new TestCluster();
    const broker = await cluster.broker({ policy: { maxAttempts: 1 } });
    const err = await rejection(broker.call('nobody.home'));
    expect(err.code).toBe('NO_ENDPOINT');
  });
});

/** A consistent-hash key whose first pick is `target` (keys are tried until one maps there). */
async function keyFor(broker: { call: (a: string, p?: unknown, o?: object) => Promise<unknown> }, target: string): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const key = `k${i}`;
    if ((await broker.call('pay.where', undefined, { strategy: 'consistent-hash', key })) === target) return key;
  }
  throw new Error('no key maps to the target');
}
