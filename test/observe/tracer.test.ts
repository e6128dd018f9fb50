import { afterEach, describe, expect, it } from 'vitest';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { ShoalError } from '../../src/errors/index.js';
import {
  INVALID_PARENT_ATTRIBUTE,
  createObservability,
  formatTraceparent,
  parseTraceparent,
  type ShoalObservability,
} from '../../src/observe/index.js';
import { CapturedLog } from './capture.js';

const made: ShoalObservability[] = [];
function obsFor(service: string, extra: { spanBuffer?: number; exporter?: InMemorySpanExporter } = {}) {
  const obs = createObservability({ service, instanceId: `${service}-1`, logDestination: new CapturedLog(), defaultMetrics: false, ...extra });
  made.push(obs);
  return obs;
}
afterEach(async () => {
  await Promise.all(made.splice(0).map((o) => o.shutdown()));
});

describe('tracer', () => {
  it('a new span starts a trace, and its traceparent carries its ids', () => {
    const { tracer } = obsFor('goods');
    const span = tracer.startSpan('goods.get', { kind: 'server', attributes: { 'shoal.action': 'goods.get' } });
    expect(span.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(span.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(parseTraceparent(span.traceparent())).toEqual({ version: '00', traceId: span.traceId, parentId: span.spanId, flags: 1 });
    span.end();
    span.end(); // idempotent
    const [finished] = tracer.recentSpans();
    expect(tracer.recentSpans()).toHaveLength(1);
    expect(finished).toMatchObject({
      traceId: span.traceId,
      spanId: span.spanId,
      parentSpanId: undefined,
      name: 'goods.get',
      kind: 'server',
      ok: true,
      service: 'goods',
      attributes: { 'shoal.action': 'goods.get' },
    });
    expect(finished!.durationMs).toBeGreaterThanOrEqual(0);
    expect(Math.abs(finished!.startMs - Date.now())).toBeLessThan(60_000);
  });

  it('continues an incoming traceparent: same trace, the caller’s span as parent', () => {
    const { tracer } = obsFor('goods');
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const callerSpan = '00f067aa0ba902b7';
    const span = tracer.startSpan('goods.get', { kind: 'server', parent: formatTraceparent({ traceId, parentId: callerSpan }) });
    expect(span.traceId).toBe(traceId);
    expect(span.spanId).not.toBe(callerSpan);
    span.end();
    expect(tracer.recentSpans()[0]).toMatchObject({ traceId, parentSpanId: callerSpan, spanId: span.spanId });
  });

  it('gateway → service A → service B by traceparent strings is one trace with correct links', () => {
    const gateway = obsFor('gateway');
    const orders = obsFor('orders');
    const goods = obsFor('goods');

    const edge = gateway.tracer.startSpan('POST /api/v1/orders', { kind: 'server' });
    const outToOrders = gateway.tracer.startSpan('orders.create', { kind: 'client', parent: edge.traceparent() });
    const inOrders = orders.tracer.startSpan('orders.create', { kind: 'server', parent: outToOrders.traceparent() });
    const outToGoods = orders.tracer.startSpan('goods.reserve', { kind: 'client', parent: inOrders.traceparent() });
    const inGoods = goods.tracer.startSpan('goods.reserve', { kind: 'server', parent: outToGoods.traceparent() });
    for (const s of [inGoods, outToGoods, inOrders, outToOrders, edge]) s.end();

    const all = [gateway, orders, goods].flatMap((o) => o.tracer.recentSpans());
    expect(all).toHaveLength(5);
    expect(new Set(all.map((s) => s.traceId))).toEqual(new Set([edge.traceId]));
    const byId = new Map(all.map((s) => [s.spanId, s]));
    const chain: string[] = [];
    for (let s = byId.get(inGoods.spanId); s !== undefined; s = s.parentSpanId === undefined ? undefined : byId.get(s.parentSpanId)) {
      chain.push(`${s.service}:${s.kind}:${s.name}`);
    }
    expect(chain).toEqual([
      'goods:server:goods.reserve',
      'orders:client:goods.reserve',
      'orders:server:orders.create',
      'gateway:client:orders.create',
      'gateway:server:POST /api/v1/orders',
    ]);
    expect(byId.get(edge.spanId)!.parentSpanId).toBeUndefined();
  });

  it('a malformed traceparent starts a new trace and never throws', () => {
    const { tracer } = obsFor('goods');
    const bad = [
      '',
      'garbage',
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x',
      '\u0000'.repeat(55),
    ];
    const ids = new Set<string>();
    for (const parent of bad) {
      const span = tracer.startSpan('x', { kind: 'server', parent });
      expect(span.traceId).not.toBe('4bf92f3577b34da6a3ce929d0e0e4736');
      ids.add(span.traceId);
      span.end();
    }
    expect(ids.size).toBe(bad.length);
    for (const s of tracer.recentSpans()) {
      expect(s.parentSpanId).toBeUndefined();
      expect(s.attributes[INVALID_PARENT_ATTRIBUTE]).toBe(true);
    }
  });

  it('honours sampled=0 from the caller: propagates it, keeps and exports nothing', async () => {
    const exporter = new InMemorySpanExporter();
    const { tracer } = obsFor('goods', { exporter });
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const span = tracer.startSpan('goods.get', { kind: 'server', parent: formatTraceparent({ traceId, parentId: '00f067aa0ba902b7', flags: 0 }) });
    const down = parseTraceparent(span.traceparent())!;
    expect(down).toMatchObject({ traceId, flags: 0 });
    expect(down.parentId).not.toBe('00f067aa0ba902b7');
    span.end();
    tracer.startSpan('sampled').end();
    await tracer.forceFlush();
    expect(tracer.recentSpans().map((s) => s.name)).toEqual(['sampled']);
    expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual(['sampled']);
  });

  it('fail records the code and message only', () => {
    const { tracer } = obsFor('users');
    const span = tracer.startSpan('users.login', { kind: 'server' });
    const error = new ShoalError({
      code: 'INVALID_ARGUMENT',
      message: 'bad email',
      retryable: false,
      details: { password: 'S-in-details' },
      cause: new Error('S-in-cause'),
    });
    span.fail(error);
    span.end();
    const [finished] = tracer.recentSpans();
    expect(finished!.ok).toBe(false);
    expect(finished!.attributes['error.type']).toBe('INVALID_ARGUMENT');
    expect(finished!.attributes['otel.status_description']).toBe('INVALID_ARGUMENT: bad email');
    expect(JSON.stringify(finished)).not.toMatch(/S-in-|stack/);

    const other = tracer.startSpan('x');
    other.fail(new TypeError('boom'));
    other.end();
    const third = tracer.startSpan('y');
    third.fail({ weird: true });
    third.end();
    const [, second, last] = tracer.recentSpans();
    expect(second!.attributes['error.type']).toBe('INTERNAL');
    expect(last!.attributes['error.type']).toBe('UNKNOWN');
  });

  it('keeps a bounded ring of the most recent spans, oldest first', () => {
    const { tracer } = obsFor('goods', { spanBuffer: 3 });
    for (let i = 0; i < 5; i++) tracer.startSpan(`s${i}`).end();
    expect(tracer.recentSpans().map((s) => s.name)).toEqual(['s2', 's3', 's4']);
    expect(tracer.recentSpans(2).map((s) => s.name)).toEqual(['s3', 's4']);
    expect(tracer.recentSpans(0)).toEqual([]);
  });

  it('sends finished spans to an exporter with the service resource', async () => {
    const exporter = new InMemorySpanExporter();
    const obs = obsFor('orders', { exporter });
    obs.tracer.startSpan('orders.create', { kind: 'server' }).end();
    await obs.tracer.forceFlush();
    expect(exporter.getFinishedSpans()).toHaveLength(1);
    const [exported] = exporter.getFinishedSpans();
    expect(exported?.name).toBe('orders.create');
    expect(exported?.resource.attributes['service.name']).toBe('orders');
    expect(exported?.resource.attributes['service.instance.id']).toBe('orders-1');
  });
});

describe('spans without an exporter (recorded without the SDK)', () => {
  /** The same sequence of span operations on a tracer; ids and timings are masked. */
  function scenario(tracer: ShoalObservability['tracer']): unknown[] {
    const edge = tracer.startSpan('GET /api/v1/goods/:id', { kind: 'server', attributes: { 'http.route': '/goods/:id', 'http.request.method': 'GET' } });
    const client = tracer.startSpan('goods.get', { kind: 'client', parent: edge.traceparent(), attributes: { 'rpc.service': 'goods' } });
    client.setAttribute('shoal.retries', 1);
    client.setAttribute('', 'dropped');
    client.setAttribute('bad', undefined as unknown as string);
    client.fail(new ShoalError({ code: 'NOT_FOUND', message: 'no goods g_1', retryable: false }));
    client.end();
    client.setAttribute('after', 'end');
    client.fail(new Error('after end'));
    edge.setAttribute('http.response.status_code', 404);
    edge.end();
    const unsampled = tracer.startSpan('goods.get', { kind: 'server', parent: formatTraceparent({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', parentId: '00f067aa0ba902b7', flags: 0 }) });
    unsampled.setAttribute('x', 1);
    const downstream = parseTraceparent(unsampled.traceparent())!;
    unsampled.end();
    const invalid = tracer.startSpan('x', { parent: 'garbage' });
    invalid.fail('plain string');
    invalid.end();
    const ids = new Map<string, string>();
    const mask = (id: string | undefined): string | undefined => (id === undefined ? undefined : (ids.get(id) ?? (ids.set(id, `id${ids.size}`), `id${ids.size - 1}`)));
    const spans = tracer.recentSpans().map((s) => {
      expect(s.durationMs).toBeGreaterThanOrEqual(0);
      expect(Math.abs(s.startMs - Date.now())).toBeLessThan(60_000);
      return { ...s, traceId: mask(s.traceId), spanId: mask(s.spanId), parentSpanId: mask(s.parentSpanId), startMs: 0, durationMs: 0 };
    });
    return [spans, { traceId: downstream.traceId, flags: downstream.flags }, edge.traceId === client.traceId];
  }

  it('records exactly what the SDK records', () => {
    const lite = obsFor('goods');
    const sdk = obsFor('goods', { exporter: new InMemorySpanExporter() });
    const got = scenario(lite.tracer);
    expect(got).toEqual(scenario(sdk.tracer));
    expect((got[0] as unknown[]).length).toBe(3);
    expect(got[1]).toEqual({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', flags: 0 });
    expect(got[2]).toBe(true);
  });
});
