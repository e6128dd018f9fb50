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
