import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { adminRequestHandler, createObservability, serveAdmin, type AdminServer } from '../../src/observe/index.js';
import { CapturedLog } from './capture.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

async function start(options: Parameters<typeof serveAdmin>[1] = {}) {
  const obs = createObservability({ service: 'goods', instanceId: 'goods-1', logDestination: new CapturedLog() });
  const admin: AdminServer = await serveAdmin(obs, options);
  cleanups.push(() => admin.close(), () => obs.shutdown());
  return { obs, admin };
}

describe('admin endpoints over HTTP', () => {
  it('binds 127.0.0.1 on a free port', async () => {
    const { admin } = await start();
    expect(admin.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(admin.url.endsWith(':0')).toBe(false);
  });

  it('GET /livez answers 200 {"status":"ok"}', async () => {
    const { admin } = await start();
    const res = await fetch(`${admin.url}/livez`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({ status: 'ok' });
    const head = await fetch(`${admin.url}/livez`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it('GET /readyz is 200 when ready, 503 while draining or when a check fails', async () => {
    const { obs, admin } = await start();
    let registered = true;
    obs.health.addReadinessCheck('registered', () => registered);
    let res = await fetch(`${admin.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', checks: { notDraining: true, registered: true } });

    obs.health.setDraining(true);
    res = await fetch(`${admin.url}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: 'unavailable', checks: { notDraining: false, registered: true } });

    obs.health.setDraining(false);
    registered = false;
    res = await fetch(`${admin.url}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: 'unavailable', checks: { notDraining: true, registered: false } });
  });

  it('GET /metrics serves the Prometheus text of this instance', async () => {
    const { obs, admin } = await start();
    obs.metrics.recordCall({ side: 'server', action: 'goods.get', outcome: 'ok', durationMs: 2 });
    const res = await fetch(`${admin.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(obs.metrics.contentType);
    const text = await res.text();
    expect(text).toContain('shoal_calls_total{side="server",action="goods.get",outcome="ok"} 1');
    expect(text).toContain('# TYPE shoal_call_duration_seconds histogram');
    expect(text).toContain('process_resident_memory_bytes');
  });

  it('GET /spans returns recent spans, bounded by limit and filtered by traceId', async () => {
    const { obs, admin } = await start();
    const first = obs.tracer.startSpan('a', { kind: 'server' });
    obs.tracer.startSpan('b', { parent: first.traceparent() }).end();
    first.end();
    obs.tracer.startSpan('c').end();

    let res = await fetch(`${admin.url}/spans`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { spans: { name: string }[] }).spans.map((s) => s.name)).toEqual(['b', 'a', 'c']);

    res = await fetch(`${admin.url}/spans?limit=2`);
    const limited = (await res.json()) as { spans: { name: string; traceId: string; parentSpanId?: string }[] };
    expect(limited.spans.map((s) => s.name)).toEqual(['a', 'c']);

    res = await fetch(`${admin.url}/spans?traceId=${first.traceId}`);
    const ofTrace = (await res.json()) as { spans: { name: string; parentSpanId?: string }[] };
    expect(ofTrace.spans.map((s) => s.name)).toEqual(['b', 'a']);
    expect(ofTrace.spans[0]!.parentSpanId).toBe(first.spanId);

    for (const bad of ['limit=0', 'limit=abc', 'limit=1.5', 'limit=-1', 'limit=999999', 'traceId=xyz']) {
      res = await fetch(`${admin.url}/spans?${bad}`);
      expect(res.status, bad).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('INVALID_ARGUMENT');
    }
  });

  it('anything else is a 404 with the error shape; an extra handler is tried first', async () => {
    const { admin } = await start({
      extra: (req, res) => {
        if (req.url !== '/dashboard') return false;
        res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>shoal</h1>');
        return true;
      },
    });
    for (const [method, path] of [['GET', '/nope'], ['POST', '/metrics'], ['GET', '/livez/extra']] as const) {
      const res = await fetch(`${admin.url}${path}`, { method });
      expect(res.status, `${method} ${path}`).toBe(404);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('NOT_FOUND');
      expect(typeof body.error.message).toBe('string');
    }
    const page = await fetch(`${admin.url}/dashboard`);
    expect(await page.text()).toBe('<h1>shoal</h1>');
  });

  it('adminRequestHandler mounts on an existing server and leaves other requests to it', async () => {
    const obs = createObservability({ service: 'goods', instanceId: 'goods-2', logDestination: new CapturedLog(), defaultMetrics: false });
    const admin = adminRequestHandler(obs);
    const server: Server = createServer((req, res) => {
      if (admin(req, res)) return;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ handledBy: 'transport', url: req.url, method: req.method }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve, reject) => {
          server.close((err) => (err ? reject(err) : resolve()));
          server.closeAllConnections();
        }),
      () => obs.shutdown(),
    );
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    expect(await (await fetch(`${base}/livez`)).json()).toEqual({ status: 'ok' });
    // An action named like an admin path still reaches the transport: only GET/HEAD are taken.
    expect(await (await fetch(`${base}/metrics`, { method: 'POST', body: '{}' })).json()).toEqual({ handledBy: 'transport', url: '/metrics', method: 'POST' });
    expect(await (await fetch(`${base}/goods.get`, { method: 'POST', body: '{}' })).json()).toMatchObject({ handledBy: 'transport' });
  });

  it('close() stops the server even with a keep-alive connection open', async () => {
    const obs = createObservability({ service: 'goods', instanceId: 'goods-3', logDestination: new CapturedLog(), defaultMetrics: false });
    const admin = await serveAdmin(obs);
    await (await fetch(`${admin.url}/livez`)).text();
    await admin.close();
    await expect(fetch(`${admin.url}/livez`)).rejects.toThrow();
    await obs.shutdown();
  });
});
