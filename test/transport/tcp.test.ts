import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DEADLINE_HEADER as RESILIENCE_DEADLINE_HEADER } from '../../src/resilience/index.js';
import { DEADLINE_HEADER, TcpClient, createTransportServer, type CallMeta } from '../../src/transport/index.js';
import { gate, rejectionOf, testHandler } from './helpers.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanup.length > 0) await cleanup.pop()!();
});

async function serve(options: { instanceId?: string; port?: number; maxFrameBytes?: number; slow?: Promise<unknown>; started?: () => void; onEvent?: (e: string, p: unknown, m: CallMeta) => void } = {}) {
  const server = await createTransportServer({
    instanceId: options.instanceId ?? 'goods-1',
    handler: testHandler(options.slow, options.started),
    onEvent: options.onEvent,
    tcp: { port: options.port ?? 0, maxFrameBytes: options.maxFrameBytes },
    http: false,
  });
  cleanup.push(() => server.close());
  return { server, url: server.tcpUrl! };
}

function client(options: ConstructorParameters<typeof TcpClient>[0] = {}): TcpClient {
  const c = new TcpClient(options);
  cleanup.push(() => c.close());
  return c;
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

describe('tcp transport', { timeout: 15_000 }, () => {
  it('uses the deadline header name resilience propagates', () => {
    expect(DEADLINE_HEADER).toBe(RESILIENCE_DEADLINE_HEADER);
  });

  it('round-trips params, results and meta (with the deadline as the remaining budget)', async () => {
    const { url } = await serve();
    const c = client();
    const params = { a: 1, b: 'hello', nested: [1, { x: null }], bin: Buffer.from([1, 2, 3]) };
    expect(await c.call(url, 'echo', params)).toEqual(params);
    expect(await c.call(url, 'add', { a: 2, b: 3 })).toBe(5);
    expect(await c.call(url, 'sync', null)).toBe('sync');
    const meta = await c.call<CallMeta>(url, 'meta', {}, { traceparent: '00-abc-def-01', callerId: 'orders-1', tenant: 't1' }, { timeoutMs: 2500 });
    expect(meta).toEqual({ traceparent: '00-abc-def-01', callerId: 'orders-1', tenant: 't1', deadlineMs: 2500 });
    // The tighter of the caller's deadline and its own timeout is what the callee is given.
    expect((await c.call<CallMeta>(url, 'meta', {}, { deadlineMs: 300 }, { timeoutMs: 2500 })).deadlineMs).toBe(300);
  });

  it('multiplexes many concurrent calls on one connection, matching out-of-order answers by id', async () => {
    const { url } = await serve();
    const c = client();
    const n = 1000;
    const results = await Promise.all(Array.from({ length: n }, (_, i) => c.call<number>(url, 'delayed', { i, of: n })));
    expect(results).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(c.connections(url)).toHaveLength(1);
  });

  it('opens at most poolSize connections and spreads calls over them', async () => {
    const { url } = await serve();
    const c = client({ poolSize: 2 });
    await Promise.all(Array.from({ length: 100 }, (_, i) => c.call(url, 'echo', i)));
    const conns = c.connections(url);
    expect(conns).toHaveLength(2);
  });

  it('brings errors back as ShoalError with code, details and the instance that produced them', async () => {
    const { url } = await serve({ instanceId: 'goods-7' });
    const c = client();
    const typed = await rejectionOf(c.call(url, 'reserve', { sku: 'a' }));
    expect(typed.toJSON()).toEqual({ code: 'OUT_OF_STOCK', message: 'only 2 left', retryable: false, instance: 'goods-7', details: { left: 2 } });
    const foreign = await rejectionOf(c.call(url, 'crash', {}));
    expect(foreign).toMatchObject({ code: 'INTERNAL', message: 'null pointer', retryable: false, instance: 'goods-7' });
    expect((await rejectionOf(c.call(url, 'nope', {}))).code).toBe('ACTION_NOT_FOUND');
  });

  it('times out a call at its budget; the late answer is dropped and the connection stays usable', async () => {
    const slow = gate<string>();
    const { url } = await serve({ slow: slow.promise });
    const c = client();
    const started = performance.now();
    const err = await rejectionOf(c.call(url, 'slow', {}, undefined, { timeoutMs: 60 }));
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
    expect(err).toMatchObject({ code: 'DEADLINE_EXCEEDED', retryable: false, instance: 'goods-1' });
    expect(err.details).toMatchObject({ maybeExecuted: true, timeoutMs: 60 });
    slow.open('late');
    expect(await c.call(url, 'echo', 'after')).toBe('after');
  });

  it('treats a budget beyond what a timer can hold as no timeout, not as 1 ms', async () => {
    const slow = gate<string>();
    const started = gate();
    const { url } = await serve({ slow: slow.promise, started: () => started.open() });
    const c = client({ defaultTimeoutMs: Infinity });
    const p = c.call(url, 'slow', {}, undefined, { timeoutMs: 2 ** 40 });
    await started.promise;
    await new Promise((r) => setTimeout(r, 20)); // long enough for a 1 ms timer to have fired
    slow.open('waited');
    expect(await p).toBe('waited');
  });

  it('does not send a call whose deadline is already spent', async () => {
    let ran = 0;
    const server = await createTransportServer({ instanceId: 'x', handler: () => ++ran, http: false });
    cleanup.push(() => server.close());
    const c = client();
    const err = await rejectionOf(c.call(server.tcpUrl!, 'any', {}, { deadlineMs: 0 }));
    expect(err).toMatchObject({ code: 'DEADLINE_EXCEEDED', retryable: false, details: { maybeExecuted: false } });
    expect(await c.call(server.tcpUrl!, 'any', {})).toBe(1);
    expect(ran).toBe(1);
  });

  it('refuses oversized frames with MESSAGE_TOO_LARGE on either side and keeps the connection', async () => {
    const { url } = await serve({ maxFrameBytes: 1000 });
    const c = client();
    // First call on a fresh connection goes out before the server's HELLO (with its limit)
    // arrives, so the server itself refuses it while skipping the body.
    const serverSide = await rejectionOf(c.call(url, 'echo', 'x'.repeat(5000)));
    expect(serverSide).toMatchObject({ code: 'MESSAGE_TOO_LARGE', retryable: false, instance: 'goods-1', details: { maybeExecuted: false, limit: 1000 } });
    // Now the client knows the limit and refuses before sending.
    const clientSide = await rejectionOf(c.call(url, 'echo', 'x'.repeat(5000)));
    expect(clientSide).toMatchObject({ code: 'MESSAGE_TOO_LARGE', details: { maybeExecuted: false, limit: 1000 } });
    // A response over the server's limit: the action ran, its answer cannot be sent.
    const response = await rejectionOf(c.call(url, 'big', { bytes: 5000 }));
    expect(response).toMatchObject({ code: 'MESSAGE_TOO_LARGE', details: { maybeExecuted: true } });
    expect(await c.call(url, 'echo', 'still here')).toBe('still here');
    expect(c.connections(url)).toHaveLength(1);

    // A response over the client's own limit is skipped unread.
    const { url: url2 } = await serve();
    const small = client({ maxFrameBytes: 1000 });
    const tooBig = await rejectionOf(small.call(url2, 'big', { bytes: 5000 }));
    expect(tooBig).toMatchObject({ code: 'MESSAGE_TOO_LARGE', details: { maybeExecuted: true } });
    expect(await small.call(url2, 'echo', 'ok')).toBe('ok');
  });

  it('refuses calls beyond maxPending as retryable BACKPRESSURE, without sending them', async () => {
    const slow = gate<string>();
    const { url } = await serve({ slow: slow.promise });
    const c = client({ maxPending: 10 });
    const held = Array.from({ length: 10 }, () => c.call(url, 'slow', {}));
    const err = await rejectionOf(c.call(url, 'echo', 1));
    expect(err).toMatchObject({ code: 'BACKPRESSURE', retryable: true, details: { maybeExecuted: false } });
    slow.open('done');
    expect(await Promise.all(held)).toEqual(Array(10).fill('done'));
    expect(await c.call(url, 'echo', 2)).toBe(2);
  });

  it('fails calls on a dropped connection: sent ones maybeExecuted (not retryable), unsent ones retryable', async () => {
    const slow = gate<string>();
    let startedCount = 0;
    const allStarted = gate();
    const { server, url } = await serve({
      slow: slow.promise,
      started: () => {
        if (++startedCount === 3) allStarted.open();
      },
    });
    const c = client();
    const sent = [c.call(url, 'slow', {}), c.call(url, 'slow', {}), c.call(url, 'slow', {})];
    await allStarted.promise;
    await server.close(); // the peer goes away with three actions running
    for (const p of sent) {
      const err = await rejectionOf(p);
      expect(err).toMatchObject({ code: 'CONNECTION_LOST', retryable: false, instance: 'goods-1', details: { maybeExecuted: true } });
    }

    // A call still queued in this event-loop turn when the connection breaks never left.
    const { url: url2 } = await serve();
    const c2 = client();
    await c2.call(url2, 'echo', 'open');
    const queued = c2.call(url2, 'echo', 'never sent');
    c2.connections(url2)[0]!.destroy(undefined, 'test drop');
    expect(await rejectionOf(queued)).toMatchObject({ code: 'CONNECTION_LOST', retryable: true, details: { maybeExecuted: false } });
    expect(await c2.call(url2, 'echo', 'reconnected')).toBe('reconnected');
  });

  it('reconnects to a restarted peer, failing fast (retryable) while it is down', async () => {
    const slow = gate<string>();
    const started = gate();
    const first = await serve({ instanceId: 'goods-1', slow: slow.promise, started: () => started.open() });
    const port = portOf(first.url);
    const c = client({ reconnect: { initialMs: 20, maxMs: 100 } });
    expect(await c.call(first.url, 'echo', 1)).toBe(1);
    const inFlight = c.call(first.url, 'slow', {});
    await started.promise;
    await first.server.close();
    expect((await rejectionOf(inFlight)).code).toBe('CONNECTION_LOST');

    // Down: the connect is refused; nothing was sent, so the error is retryable.
    const down = await rejectionOf(c.call(first.url, 'echo', 2));
    expect(down).toMatchObject({ code: 'CONNECTION_FAILED', retryable: true, details: { maybeExecuted: false } });

    const second = await serve({ instanceId: 'goods-2', port });
    expect(second.url).toBe(first.url);
    // Backoff after the refused connect lasts at most 100 ms here; calls fail fast until then.
    const bound = performance.now() + 5_000;
    let err: Awaited<ReturnType<typeof rejectionOf>> | undefined;
    for (;;) {
      err = await rejectionOf(c.call(first.url, 'reserve', {}));
      if (err.code !== 'CONNECTION_FAILED') break;
      expect(err.retryable).toBe(true);
      expect(performance.now()).toBeLessThan(bound);
      await new Promise((r) => setTimeout(r, 10));
    }
    // The error comes from the new process: the client learned the instance from its HELLO.
    expect(err).toMatchObject({ code: 'OUT_OF_STOCK', instance: 'goods-2' });
    expect(await c.call(first.url, 'echo', 3)).toBe(3);
  });

  it('drain answers every in-flight call, refuses new ones as retryable, then closes', async () => {
    const slow = gate<string>();
    const n = 50;
    let startedCount = 0;
    const allStarted = gate();
    const { server, url } = await serve({
      slow: slow.promise,
      started: () => {
        if (++startedCount === n) allStarted.open();
      },
    });
    const c = client();
    const inFlight = Array.from({ length: n }, () => c.call(url, 'slow', {}));
    await allStarted.promise;
    const drained = server.drain({ timeoutMs: 10_000 });
    const late = await rejectionOf(c.call(url, 'echo', 'late'));
    expect(late.retryable).toBe(true);
    expect(late.details).toMatchObject({ maybeExecuted: false });
    slow.open('answered');
    const settled = await Promise.allSettled(inFlight);
    expect(settled.filter((s) => s.status === 'rejected')).toEqual([]);
    expect(settled.map((s) => (s as PromiseFulfilledResult<string>).value)).toEqual(Array(n).fill('answered'));
    const report = await drained;
    expect(report).toMatchObject({ answered: n, abandoned: 0 });
    // Closed for good: a new connection is refused.
    expect((await rejectionOf(client().call(url, 'echo', 1))).code).toBe('CONNECTION_FAILED');
  });

  it('drain gives up at its timeout and reports what it abandoned', async () => {
    const never = new Promise<never>(() => {});
    const started = gate();
    const { server, url } = await serve({ slow: never, started: () => started.open() });
    const c = client();
    const stuck = c.call(url, 'slow', {});
    await started.promise;
    const report = await server.drain({ timeoutMs: 100 });
    expect(report).toMatchObject({ answered: 0, abandoned: 1 });
    expect(await rejectionOf(stuck)).toMatchObject({ code: 'CONNECTION_LOST', details: { maybeExecuted: true } });
  });

  it('closes a silent peer after missed pings and fails its calls', async () => {
    const sockets = new Set<net.Socket>();
    const mute = net.createServer((s) => {
      sockets.add(s);
      s.resume(); // reads everything, answers nothing
    });
    await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r));
    cleanup.push(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => mute.close(r));
    });
    const port = (mute.address() as net.AddressInfo).port;
    const c = client({ pingIntervalMs: 40 });
    const started = performance.now();
    const err = await rejectionOf(c.call(`shoal+tcp://127.0.0.1:${port}`, 'echo', 1, undefined, { timeoutMs: 10_000 }));
    expect(err).toMatchObject({ code: 'CONNECTION_LOST', retryable: false, details: { maybeExecuted: true } });
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('closes connections that do not start with the preface, and keeps serving', async () => {
    const { url } = await serve();
    const raw = net.connect(portOf(url), '127.0.0.1');
    const closed = new Promise<void>((r) => raw.on('close', () => r()));
    raw.on('error', () => {});
    raw.resume();
    raw.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    await closed;
    expect(await client().call(url, 'echo', 'fine')).toBe('fine');
  });

  it('pushes events to the server', async () => {
    const got = gate<[string, unknown, CallMeta]>();
    const { url } = await serve({ onEvent: (e, p, m) => got.open([e, p, m]) });
    const c = client();
    await c.emit(url, 'order.created', { id: 7 }, { traceparent: 't' });
    expect(await got.promise).toEqual(['order.created', { id: 7 }, { traceparent: 't' }]);
  });
});

