// The fault proxy on its own, with loopback echo servers as members: per-pair links (what the
// Shoal launcher uses, including one-way cuts) and per-destination links with the source read
// from an etcd-style `X-Server-From` header.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { etcdSourceSniffer, PeerNetwork } from '../support/fault-proxy.js';
import { LOOPBACK } from '../support/ports.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()!();
});

async function echoServer(): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); s.on('error', () => undefined); s.pipe(s); });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  closers.push(() => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }));
  return (server.address() as net.AddressInfo).port;
}

async function network(routing: 'per-pair' | 'per-destination', names: string[], sniff?: ReturnType<typeof etcdSourceSniffer>): Promise<PeerNetwork> {
  const ports = new Map<string, number>();
  for (const n of names) ports.set(n, await echoServer());
  const net_ = new PeerNetwork(routing, names, sniff);
  await net_.start(ports);
  closers.push(() => net_.stop());
  return net_;
}

/** Connects to a proxy URL; resolves with the socket once connected. */
function dial(url: string): Promise<net.Socket> {
  const port = Number(new URL(url).port);
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: LOOPBACK, port }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Sends `text` and resolves with what comes back: the echo, or 'closed' if the proxy cut us (bounded). */
function roundTrip(socket: net.Socket, text: string, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    const done = (v: string): void => { clearTimeout(timer); socket.removeAllListeners('data'); resolve(v); };
    socket.on('data', (d: Buffer) => { got += d.toString(); if (got.length >= text.length) done(got); });
    socket.once('close', () => done('closed'));
    socket.on('error', () => undefined);
    socket.write(text);
  });
}

function closed(socket: net.Socket, timeoutMs = 3000): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('connection was not cut')), timeoutMs);
    socket.once('close', () => { clearTimeout(timer); resolve(); });
  });
}

describe('PeerNetwork, per-pair routing', () => {
  it('passes, cuts one direction only, delays, and heals', async () => {
    const pn = await network('per-pair', ['a', 'b', 'c']);
    expect(pn.supportsAsymmetric).toBe(true);
    const ab = await dial(pn.urlFor('a', 'b'));
    expect(await roundTrip(ab, 'hello')).toBe('hello');

    pn.setLink('a', 'b', { kind: 'drop' });
    await closed(ab);
    // New connections on the cut link are closed at once; the reverse and other links still work.
    expect(await roundTrip(await dial(pn.urlFor('a', 'b')), 'x')).toBe('closed');
    expect(await roundTrip(await dial(pn.urlFor('b', 'a')), 'back')).toBe('back');
    expect(await roundTrip(await dial(pn.urlFor('a', 'c')), 'side')).toBe('side');
    expect(pn.describe()).toBe('a>b drop');

    pn.heal();
    expect(await roundTrip(await dial(pn.urlFor('a', 'b')), 'again')).toBe('again');

    pn.setLink('c', 'a', { kind: 'delay', ms: 150 });
    const ca = await dial(pn.urlFor('c', 'a'));
    const t0 = performance.now();
    expect(await roundTrip(ca, 'slow')).toBe('slow');
    // Held back once each way.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
  });

  it('partitions into groups, both directions', async () => {
    const pn = await network('per-pair', ['a', 'b', 'c']);
    pn.partition([['a'], ['b', 'c']]);
    expect(await roundTrip(await dial(pn.urlFor('a', 'b')), 'x')).toBe('closed');
    expect(await roundTrip(await dial(pn.urlFor('c', 'a')), 'x')).toBe('closed');
    expect(await roundTrip(await dial(pn.urlFor('b', 'c')), 'ok')).toBe('ok');
  });
});

describe('PeerNetwork, per-destination routing with etcd header sniffing', () => {
  const ids = new Map([['aa01', 'a'], ['bb02', 'b'], ['cc03', 'c']]);
  const request = (fromId: string): string => `GET /raft/stream/message/x HTTP/1.1\r\nHost: h\r\nX-Server-From: ${fromId}\r\nX-Raft-To: y\r\n\r\n`;

  it('cuts by the dialer named in X-Server-From', async () => {
    const pn = await network('per-destination', ['a', 'b', 'c'], etcdSourceSniffer(() => ids));
    expect(pn.supportsAsymmetric).toBe(false);
    const fromB = await dial(pn.urlFor(undefined, 'a'));
    expect(await roundTrip(fromB, request('bb02'))).toBe(request('bb02'));

    pn.isolate('c');
    // b→a is within one side: untouched. c→a crosses: refused. a→c: refused.
    expect(await roundTrip(fromB, 'more')).toBe('more');
    expect(await roundTrip(await dial(pn.urlFor(undefined, 'a')), request('cc03'))).toBe('closed');
    expect(await roundTrip(await dial(pn.urlFor(undefined, 'c')), request('aa01'))).toBe('closed');
    // No header: judged by the worst link into its destination.
    expect(await roundTrip(await dial(pn.urlFor(undefined, 'a')), 'GET /version HTTP/1.1\r\n\r\n')).toBe('closed');
    pn.heal();
    expect(await roundTrip(await dial(pn.urlFor(undefined, 'a')), request('cc03'))).toBe(request('cc03'));
  });
});
