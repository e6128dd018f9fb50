// The cluster's pure parts: the worker count from the environment, rate-limit budgets split over
// workers, /metrics aggregation over workers, and the primary's log of revoked tokens (kept until they expire, bounded).
import os from 'node:os';
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import { describe, expect, test } from 'vitest';
import { forAggregation } from '../../src/gateway/cluster-worker.js';
import { createRateLimiters } from '../../src/gateway/rate-limit.js';
import { RevocationLog } from '../../src/gateway/revocation-log.js';
import { readWorkerCount } from '../../src/gateway/workers.js';

describe('readWorkerCount', () => {
  test('unset or empty is one process; integers 1..64; auto is the available parallelism', () => {
    expect(readWorkerCount({})).toBe(1);
    expect(readWorkerCount({ SHOAL_GATEWAY_WORKERS: '' })).toBe(1);
    expect(readWorkerCount({ SHOAL_GATEWAY_WORKERS: '1' })).toBe(1);
    expect(readWorkerCount({ SHOAL_GATEWAY_WORKERS: ' 4 ' })).toBe(4);
    expect(readWorkerCount({ SHOAL_GATEWAY_WORKERS: '64' })).toBe(64);
    expect(readWorkerCount({ SHOAL_GATEWAY_WORKERS: 'auto' })).toBe(Math.min(64, os.availableParallelism()));
  });

  test.each(['0', '65', '-2', '2.0', '1e1', 'many', '0x2'])('refuses "%s"', (value) => {
    expect(() => readWorkerCount({ SHOAL_GATEWAY_WORKERS: value })).toThrow(/^SHOAL_GATEWAY_WORKERS: expected an integer from 1 to 64 or "auto"/);
  });
});

describe('rate limits split over processes', () => {
  const reply = () => {
    const headers: Record<string, unknown> = {};
    return { headers, header: (k: string, v: unknown) => (headers[k] = v) };
  };
  const request = { ip: '10.0.0.1', routeOptions: { config: {} }, identity: null } as never;

  test('each process enforces max / processes, at least 1', () => {
    const limits = createRateLimiters({ max: 10, processes: 3, now: () => 0 });
    const r = reply();
    for (let i = 0; i < 3; i++) limits.byIp(request, r as never);
    expect(r.headers['x-ratelimit-limit']).toBe(3);
    expect(() => limits.byIp(request, reply() as never)).toThrow(/too many requests/);
    const tiny = createRateLimiters({ max: 1, processes: 4, now: () => 0 });
    tiny.byIp(request, reply() as never);
    expect(() => tiny.byIp(request, reply() as never)).toThrow(/too many requests/);
    expect(() => createRateLimiters({ processes: 0 })).toThrow(/processes/);
  });
});

describe('RevocationLog', () => {
  const jwt = (exp: number): string => `h.${Buffer.from(JSON.stringify({ exp })).toString('base64url')}.s`;

  test('keeps a token until its exp, an unreadable one an hour, and at most max entries', () => {
    let now = 1_000_000;
    const log = new RevocationLog(2, () => now);
    log.add(jwt(now / 1000 + 60));
    log.add('not-a-jwt');
    expect(log.live()).toEqual([jwt(now / 1000 + 60), 'not-a-jwt']);
    now += 61_000;
    expect(log.live()).toEqual(['not-a-jwt']);
    log.add(jwt(now / 1000 + 60));
    log.add(jwt(now / 1000 + 120));
    expect(log.live()).toEqual([jwt(now / 1000 + 60), jwt(now / 1000 + 120)]);
    now += 3_600_000;
    expect(log.live()).toEqual([]);
  });
});

describe('metrics aggregated over workers', () => {
  test('counters add up; a breaker state is the worst of any worker, not a sum', async () => {
    const worker = async (breaker: number, requests: number) => {
      const registry = new Registry();
      new Gauge({ name: 'shoal_breaker_state', help: 'h', labelNames: ['endpoint'], registers: [registry] }).set({ endpoint: 'goods-1' }, breaker);
      new Counter({ name: 'shoal_http_requests_total', help: 'h', registers: [registry] }).inc(requests);
      return forAggregation(await registry.getMetricsAsJSON());
    };
    const text = await AggregatorRegistry.aggregate([await worker(1, 3), await worker(1, 4)]).metrics();
    expect(text).toContain('shoal_breaker_state{endpoint="goods-1"} 1\n');
    expect(text).toContain('shoal_http_requests_total 7\n');
  });
});
