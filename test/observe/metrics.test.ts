import { describe, expect, it } from 'vitest';
import { OVERFLOW_LABEL, PromMetrics, createObservability } from '../../src/observe/index.js';
import { CapturedLog } from './capture.js';

const obsFor = (service: string) =>
  createObservability({ service, instanceId: `${service}-1`, logDestination: new CapturedLog() });

/** The value of one series line in Prometheus text, e.g. `shoal_calls_total{...} 2`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('metrics', () => {
  it('counts calls by side, action and outcome with a seconds histogram', async () => {
    const { metrics } = obsFor('goods');
    metrics.recordCall({ side: 'server', action: 'goods.get', outcome: 'ok', durationMs: 3 });
    metrics.recordCall({ side: 'server', action: 'goods.get', outcome: 'ok', durationMs: 40 });
    metrics.recordCall({ side: 'client', action: 'users.get', outcome: 'DEADLINE_EXCEEDED', durationMs: 1500 });
    const text = await metrics.render();
    expect(text).toContain('# TYPE shoal_calls_total counter');
    expect(text).toContain('# TYPE shoal_call_duration_seconds histogram');
    expect(sample(text, 'shoal_calls_total{side="server",action="goods.get",outcome="ok"}')).toBe(2);
    expect(sample(text, 'shoal_calls_total{side="client",action="users.get",outcome="DEADLINE_EXCEEDED"}')).toBe(1);
    expect(sample(text, 'shoal_call_duration_seconds_count{side="server",action="goods.get"}')).toBe(2);
    expect(sample(text, 'shoal_call_duration_seconds_sum{side="server",action="goods.get"}')).toBeCloseTo(0.043, 6);
    // 3 ms falls in the 5 ms bucket, 40 ms does not; both are under 50 ms.
    expect(sample(text, 'shoal_call_duration_seconds_bucket{le="0.005",side="server",action="goods.get"}')).toBe(1);
    expect(sample(text, 'shoal_call_duration_seconds_bucket{le="0.05",side="server",action="goods.get"}')).toBe(2);
    expect(sample(text, 'shoal_call_duration_seconds_bucket{le="1",side="client",action="users.get"}')).toBe(0);
    expect(sample(text, 'shoal_call_duration_seconds_bucket{le="2.5",side="client",action="users.get"}')).toBe(1);
  });

  it('counts HTTP requests by route template, method and status', async () => {
    const { metrics } = obsFor('gateway');
    metrics.recordHttp('/api/v1/goods/:id', 'get', 200, 12);
    metrics.recordHttp('/api/v1/goods/:id', 'GET', 404, 2);
    metrics.recordHttp('/api/v1/orders', 'POST', 201, 80);
    metrics.recordHttp('/api/v1/orders', 'BREW', 400, 1);
    const text = await metrics.render();
    expect(sample(text, 'shoal_http_requests_total{route="/api/v1/goods/:id",method="GET",status="200"}')).toBe(1);
    expect(sample(text, 'shoal_http_requests_total{route="/api/v1/goods/:id",method="GET",status="404"}')).toBe(1);
    expect(sample(text, 'shoal_http_requests_total{route="/api/v1/orders",method="OTHER",status="400"}')).toBe(1);
    expect(sample(text, 'shoal_http_request_duration_seconds_count{route="/api/v1/goods/:id",method="GET"}')).toBe(2);
    expect(sample(text, 'shoal_http_request_duration_seconds_bucket{le="0.1",route="/api/v1/orders",method="POST"}')).toBe(1);
  });

  it('exposes breaker states as 0/1/2 per endpoint', async () => {
    const { metrics } = obsFor('orders');
    metrics.setBreakerState('goods-1', 'open');
    metrics.setBreakerState('goods-2', 'half-open');
    metrics.setBreakerState('goods-3', 'open');
    metrics.setBreakerState('goods-3', 'closed');
    const text = await metrics.render();
    expect(sample(text, 'shoal_breaker_state{endpoint="goods-1"}')).toBe(2);
    expect(sample(text, 'shoal_breaker_state{endpoint="goods-2"}')).toBe(1);
    expect(sample(text, 'shoal_breaker_state{endpoint="goods-3"}')).toBe(0);
  });

  it('two Observability objects in one process keep separate registries', async () => {
    const a = obsFor('a');
    const b = obsFor('b');
    a.metrics.recordCall({ side: 'server', action: 'a.ping', outcome: 'ok', durationMs: 1 });
    const [textA, textB] = await Promise.all([a.metrics.render(), b.metrics.render()]);
    expect(sample(textA, 'shoal_calls_total{side="server",action="a.ping",outcome="ok"}')).toBe(1);
    expect(textB).not.toContain('a.ping');
    // Both carry the process metrics without clashing over their names.
    expect(textA).toContain('process_cpu_user_seconds_total');
    expect(textB).toContain('process_cpu_user_seconds_total');
    expect(a.metrics.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it('bounds label values: past the limit, new values share one series', async () => {
    const metrics = new PromMetrics({ defaultMetrics: false, maxLabelValues: 3 });
    for (let i = 0; i < 10; i++) metrics.recordHttp(`/raw/path/${i}`, 'GET', 200, 1);
    metrics.recordHttp('/raw/path/1', 'GET', 200, 1);
    const text = await metrics.render();
    const series = text.split('\n').filter((l) => l.startsWith('shoal_http_requests_total{'));
    expect(series).toHaveLength(4);
    expect(sample(text, `shoal_http_requests_total{route="${OVERFLOW_LABEL}",method="GET",status="200"}`)).toBe(7);
    expect(sample(text, 'shoal_http_requests_total{route="/raw/path/1",method="GET",status="200"}')).toBe(2);
    expect(text).not.toContain('process_cpu');
  });

  it('counts a negative or non-finite duration as zero', async () => {
    const metrics = new PromMetrics({ defaultMetrics: false });
    metrics.recordCall({ side: 'server', action: 'x.y', outcome: 'ok', durationMs: -5 });
    metrics.recordCall({ side: 'server', action: 'x.y', outcome: 'ok', durationMs: Number.NaN });
    const text = await metrics.render();
    expect(sample(text, 'shoal_call_duration_seconds_sum{side="server",action="x.y"}')).toBe(0);
    expect(sample(text, 'shoal_call_duration_seconds_count{side="server",action="x.y"}')).toBe(2);
  });
});

describe('metrics: series updated in place', () => {
  it('render exactly what prom-client renders for the same calls, across a registry reset', async () => {
    const { Counter, Gauge, Histogram, Registry } = await import('prom-client');
    const { CALL_BUCKETS_SECONDS, HTTP_BUCKETS_SECONDS } = await import('../../src/observe/metrics.js');
    const ours = new PromMetrics({ defaultMetrics: false });
    const registry = new Registry();
    const registers = [registry];
    const calls = new Counter({ name: 'shoal_calls_total', help: 'Finished calls by side (client or server), action and outcome (ok or error code).', labelNames: ['side', 'action', 'outcome'], registers });
    const callSeconds = new Histogram({ name: 'shoal_call_duration_seconds', help: 'Duration of finished calls in seconds, by side and action.', labelNames: ['side', 'action'], buckets: [...CALL_BUCKETS_SECONDS], registers });
    new Gauge({ name: 'shoal_breaker_state', help: 'Circuit breaker state per endpoint (instance id): 0 closed, 1 half-open, 2 open.', labelNames: ['endpoint'], registers });
    const http = new Counter({ name: 'shoal_http_requests_total', help: 'HTTP requests answered, by route template, method and status code.', labelNames: ['route', 'method', 'status'], registers });
    const httpSeconds = new Histogram({ name: 'shoal_http_request_duration_seconds', help: 'Duration of HTTP requests in seconds, by route template and method.', labelNames: ['route', 'method'], buckets: [...HTTP_BUCKETS_SECONDS], registers });
    // Deterministic pseudo-random durations over every bucket, and above the last one.
    let seed = 7;
    const next = (): number => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    const actions = ['goods.get', 'users.get', 'orders.place'];
    const outcomes = ['ok', 'NOT_FOUND', 'UNAVAILABLE'];
    const run = (n: number): void => {
      for (let i = 0; i < n; i++) {
        const side = next() < 0.5 ? 'client' : 'server';
        const action = actions[Math.floor(next() * actions.length)]!;
        const outcome = outcomes[Math.floor(next() * outcomes.length)]!;
        const ms = next() < 0.05 ? 20_000 + next() * 10_000 : next() ** 3 * 3_000;
        ours.recordCall({ side, action, outcome, durationMs: ms });
        calls.inc({ side, action, outcome });
        callSeconds.observe({ side, action }, ms / 1000);
        const route = next() < 0.5 ? '/api/v1/goods/:id' : '/api/v1/orders';
        const status = next() < 0.8 ? 200 : 404;
        ours.recordHttp(route, 'GET', status, ms);
        http.inc({ route, method: 'GET', status: String(status) });
        httpSeconds.observe({ route, method: 'GET' }, ms / 1000);
      }
    };
    run(500);
    expect(await ours.render()).toBe(await registry.metrics());
    ours.registry.resetMetrics();
    registry.resetMetrics();
    run(300);
    expect(await ours.render()).toBe(await registry.metrics());
  });
});
