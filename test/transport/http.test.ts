import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ShoalError } from '../../src/errors/index.js';
import { createTransportClient, createTransportServer, type CallMeta } from '../../src/transport/index.js';
import { gate, rejectionOf, testHandler } from './helpers.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanup.length > 0) await cleanup.pop()!();
});

async function serveBoth(options: { slow?: Promise<unknown>; started?: () => void; maxBytes?: number; onEvent?: (e: string, p: unknown, m: CallMeta) => void } = {}) {
  const server = await createTransportServer({
    instanceId: 'users-3',
    handler: testHandler(options.slow, options.started),
    onEvent: options.onEvent,
    tcp: { maxFrameBytes: options.maxBytes },
    http: { maxBodyBytes: options.maxBytes },
  });
  cleanup.push(() => server.close());
  return server;
}

function client(connections?: number) {
  const c = createTransportClient({ http: { connections } });
  cleanup.push(() => c.close());
  return c;
}

describe('http transport, and parity with tcp', { timeout: 15_000 }, () => {
  it('serves the same handler on both URLs with the same results, meta and errors', async () => {
    const server = await serveBoth();
    const c = client();
    expect(server.urls).toEqual([server.tcpUrl, server.httpUrl]);
    expect(server.httpUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const seen: Record<string, unknown[]> = {};
    for (const url of server.urls) {
      const results: unknown[] = [];
      results.push(await c.call(url, 'echo', { a: 1, b: 'hello', list: [1, 2, { c: null }] }));
      results.push(await c.call(url, 'add', { a: 2, b: 3 }));
      results.push(await c.call(url, 'meta', {}, { traceparent: '00-t-s-01', tracestate: 'k=v', callerId: 'orders-2', tenant: 't1' }, { timeoutMs: 4000 }));
      for (const action of ['reserve', 'crash', 'nope']) results.push((await rejectionOf(c.call(url, action, {}))).toJSON());
      seen[url.split(':')[0]!] = results;
    }
    expect(seen['http']).toEqual(seen['shoal+tcp']);
    expect(seen['http']).toEqual([
      { a: 1, b: 'hello', list: [1, 2, { c: null }] },
      5,
      { traceparent: '00-t-s-01', tracestate: 'k=v', callerId: 'orders-2', tenant: 't1', deadlineMs: 4000 },
      { code: 'OUT_OF_STOCK', message: 'only 2 left', retryable: false, instance: 'users-3', details: { left: 2 } },
      { code: 'INTERNAL', message: 'null pointer', retryable: false, instance: 'users-3' },
      { code: 'ACTION_NOT_FOUND', message: 'no action nope', retryable: false, instance: 'users-3' },
    ]);
  });

  it('maps errors to statuses with the { error: { code, message, details } } body any HTTP client can read', async () => {
    const server = await serveBoth();
    const post = (path: string, body: string, headers: Record<string, string> = {}) =>
      fetch(server.httpUrl + path, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
    const ok = await post('/echo', '{"x":1}');
    expect(ok.status).toBe(200);
    expect(ok.headers.get('shoal-instance')).toBe('users-3');
    expect(await ok.json()).toEqual({ x: 1 });
    const typed = await post('/reserve', '{}');
    expect(typed.status).toBe(500); // a service's own code with no known status, not retryable
    expect(await typed.json()).toEqual({ error: { code: 'OUT_OF_STOCK', message: 'only 2 left', retryable: false, instance: 'users-3', details: { left: 2 } } });
    expect((await post('/nope', '{}')).status).toBe(404);
    const bad = await post('/echo', '{not json');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('INVALID_ARGUMENT');
    expect((await post('/echo', '{}', { 'shoal-deadline-ms': 'soon' })).status).toBe(400);
    expect((await post('/echo', '{}', { 'shoal-deadline-ms': '0' })).status).toBe(504);
    expect((await fetch(server.httpUrl + '/echo')).status).toBe(405);
  });

  it('times out, refuses spent deadlines and oversized bodies the same way on both paths', async () => {
    const slow = gate<string>();
    const server = await serveBoth({ slow: slow.promise, maxBytes: 1000 });
    const c = client();
    for (const url of server.urls) {
      const timedOut = await rejectionOf(c.call(url, 'slow', {}, undefined, { timeoutMs: 50 }));
      expect(timedOut).toMatchObject({ code: 'DEADLINE_EXCEEDED', retryable: false, details: { maybeExecuted: true } });
      const spent = await rejectionOf(c.call(url, 'echo', {}, { deadlineMs: 0 }));
      expect(spent).toMatchObject({ code: 'DEADLINE_EXCEEDED', details: { maybeExecuted: false } });
      const tooLarge = await rejectionOf(c.call(url, 'echo', 'x'.repeat(5000)));
      expect(tooLarge).toMatchObject({ code: 'MESSAGE_TOO_LARGE', retryable: false, instance: 'users-3', details: { maybeExecuted: false } });
      expect(await c.call(url, 'echo', 'after')).toBe('after');
    }
    slow.open('late');
  });

  it('drains HTTP: in-flight calls answered, later ones refused as retryable, then closed', async () => {
    const slow = gate<string>();
    const n = 20;
    let startedCount = 0;
    const allStarted = gate();
    const server = await serveBoth({
      slow: slow.promise,
      started: () => {
        if (++startedCount === n) allStarted.open();
      },
    });
    // A socket per call (and one spare for the late call), so none waits in the client's queue.
    const c = client(n + 1);
    const inFlight = Array.from({ length: n }, () => c.call(server.httpUrl!, 'slow', {}));
    await allStarted.promise;
    const drained = server.drain({ timeoutMs: 10_000 });
    const late = await rejectionOf(c.call(server.httpUrl!, 'echo', 1));
    expect(late.retryable).toBe(true);
    slow.open('answered');
    expect(await Promise.all(inFlight)).toEqual(Array(n).fill('answered'));
    expect(await drained).toMatchObject({ answered: n, abandoned: 0 });
  });

  it('reports a refused connection as retryable and a foreign server error as not', async () => {
    const c = client();
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const refused = await rejectionOf(c.call(`http://127.0.0.1:${port}`, 'echo', 1));
    expect(refused).toMatchObject({ code: 'CONNECTION_FAILED', retryable: true, details: { maybeExecuted: false } });

    const foreign = http.createServer((_req, res) => {
      res.statusCode = 502;
      res.end('bad gateway');
    });
    await new Promise<void>((r) => foreign.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise((r) => foreign.close(r)));
    const err = await rejectionOf(c.call(`http://127.0.0.1:${(foreign.address() as net.AddressInfo).port}`, 'echo', 1));
    expect(err).toBeInstanceOf(ShoalError);
    expect(err).toMatchObject({ code: 'INTERNAL', retryable: false, details: { status: 502, maybeExecuted: true } });
  });

  it('pushes events over HTTP too', async () => {
    const got = gate<[string, unknown, CallMeta]>();
    const server = await serveBoth({ onEvent: (e, p, m) => got.open([e, p, m]) });
    await client().emit(server.httpUrl!, 'user.created', { id: 3 }, { callerId: 'users-1' });
    expect(await got.promise).toEqual(['user.created', { id: 3 }, { callerId: 'users-1' }]);
  });

  it('routes by scheme and refuses unknown ones', async () => {
    const c = client();
    expect(() => c.call('grpc://127.0.0.1:1', 'x', {})).toThrow(/no transport/);
  });
});
