// The authority shim (src/coord/server/authority-shim.ts): etcd 3.4's Go client sends
// `:authority: http://host:port`, which Node's HTTP/2 rejects. Checked three ways: the byte-level
// rewriter on crafted frames, the accept path in front of a plain Node HTTP/2 server (both the
// direct hand-over and the rewriting one), and a real etcdctl against `shoal coord`.
import * as http2 from 'node:http2';
import * as net from 'node:net';
import hpack, { type HeaderField } from 'hpack.js';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptWithAuthorityShim, stripAuthorityScheme, strippedAuthority, type ShimStats } from '../../src/coord/server/authority-shim.js';
import { FrameSplitter, HeaderRewriter, PREFACE, type Frame } from '../../src/coord/server/h2-frames.js';
import { etcdctl, startCoord, stopAll, type CoordProcess } from './harness.js';
import { frame } from '../support/h2-frame.js';

const HEADERS = 1;
const DATA = 0;
const SETTINGS = 4;
const PING = 6;
const CONTINUATION = 9;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;


/** A client-side HPACK encoder that indexes everything, as real clients do. */
function clientEncoder(): (headers: [string, string][]) => Buffer {
  const enc = hpack.compressor.create({ table: { maxSize: 4096 } });
  return (headers) => {
    enc.write(headers.map(([name, value]) => ({ name, value })));
    return enc.read()!;
  };
}

function request(path: string, authority: string, extra: [string, string][] = []): [string, string][] {
  return [[':method', 'POST'], [':scheme', 'http'], [':path', path], [':authority', authority], ['content-type', 'application/grpc'], ['te', 'trailers'], ...extra];
}

/** The server's view of the rewritten bytes: its HPACK table is size 0, so any dynamic reference would fail. */
function serverView(bytes: Buffer): { frames: Frame[]; blocks: { stream: number; flags: number; priority: Buffer | null; headers: [string, string][] }[] } {
  const items = new FrameSplitter().push(bytes);
  expect(items[0]).toBe('preface');
  const frames = items.slice(1) as Frame[];
  const dec = hpack.decompressor.create({ table: { maxSize: 0 } });
  const blocks: { stream: number; flags: number; priority: Buffer | null; headers: [string, string][] }[] = [];
  let open: { stream: number; flags: number; priority: Buffer | null; parts: Buffer[] } | null = null;
  for (const f of frames) {
    if (f.type === HEADERS) {
      expect(f.flags & PADDED).toBe(0);
      const priority = f.flags & PRIORITY ? f.payload.subarray(0, 5) : null;
      open = { stream: f.stream, flags: f.flags, priority, parts: [priority ? f.payload.subarray(5) : f.payload] };
    } else if (f.type === CONTINUATION) {
      open!.parts.push(f.payload);
    } else {
      continue;
    }
    if (f.flags & END_HEADERS) {
      dec.write(Buffer.concat(open!.parts));
      dec.execute();
      const headers: [string, string][] = [];
      for (let h = dec.read(); h !== null; h = dec.read()) headers.push([h.name, h.value]);
      blocks.push({ stream: open!.stream, flags: open!.flags, priority: open!.priority, headers });
      open = null;
    }
  }
  return { frames, blocks };
}

describe('HeaderRewriter on crafted frames', () => {
  const encode = clientEncoder();
  const first = request('/etcdserverpb.Maintenance/Status', 'http://127.0.0.1:2379', [['x-tag', 'a']]);
  const block1 = encode(first);
  const second = request('/etcdserverpb.KV/Range', 'http://127.0.0.1:2379', [['x-tag', 'a']]);
  const block2 = encode(second); // mostly references to the client's dynamic table
  const priority = Buffer.from([0, 0, 0, 0, 15]);
  const data = frame(DATA, END_STREAM, 1, Buffer.from('payload'));
  const ping = frame(PING, 0, 0, Buffer.alloc(8, 7));
  const ack = frame(SETTINGS, 0x1, 0, Buffer.alloc(0));
  const input = Buffer.concat([
    PREFACE,
    frame(SETTINGS, 0, 0, Buffer.alloc(0)),
    // HEADERS with padding and priority, END_HEADERS.
    frame(HEADERS, END_HEADERS | PADDED | PRIORITY, 1, Buffer.concat([Buffer.from([3]), priority, block1, Buffer.alloc(3)])),
    ack, // acknowledges the shim's SETTINGS: removed
    data,
    // HEADERS split over a CONTINUATION.
    frame(HEADERS, END_STREAM, 3, block2.subarray(0, 4)),
    frame(CONTINUATION, END_HEADERS, 3, block2.subarray(4)),
    ack, // acknowledges the server's SETTINGS: kept
    ping,
  ]);
  const stripped = (hs: [string, string][]) => hs.map(([n, v]): [string, string] => [n, n === ':authority' ? '127.0.0.1:2379' : v]);

  it('strips the scheme from every header block and leaves every other frame as it was', () => {
    const out = new HeaderRewriter(stripAuthorityScheme, true).push(input);
    const { frames, blocks } = serverView(out);
    expect(blocks.map((b) => b.headers)).toEqual([stripped(first), stripped(second)]);
    expect(blocks.map((b) => [b.stream, b.flags & END_STREAM, b.priority])).toEqual([
      [1, 0, priority],
      [3, END_STREAM, null],
    ]);
    expect(frames.filter((f) => f.type === SETTINGS).map((f) => f.flags)).toEqual([0, 0x1]);
    expect(frames.filter((f) => f.type === DATA || f.type === PING).map((f) => f.raw)).toEqual([data, ping]);
  });

  it('gives the same bytes however the input is chunked', () => {
    const whole = new HeaderRewriter(stripAuthorityScheme, true).push(input);
    const byByte = new HeaderRewriter(stripAuthorityScheme, true);
    const parts: Buffer[] = [];
    for (let i = 0; i < input.length; i++) parts.push(byByte.push(input.subarray(i, i + 1)));
    expect(Buffer.concat(parts)).toEqual(whole);
  });

  it('splits a re-encoded block larger than a frame into HEADERS and CONTINUATION', () => {
    const big = request('/p', 'http://h:1', [['x-big', 'v'.repeat(40_000)]]);
    const enc = clientEncoder();
    const bytes = Buffer.concat([PREFACE, frame(HEADERS, END_HEADERS, 5, enc(big))]);
    const rewritten = new HeaderRewriter(stripAuthorityScheme, false).push(bytes);
    const view = serverView(rewritten);
    expect(view.frames.map((f) => [f.type, f.payload.length <= 16384])).toEqual([
      [HEADERS, true],
      [CONTINUATION, true],
      [CONTINUATION, true],
    ]);
    expect(view.blocks[0]!.headers).toEqual(stripped(big).map(([n, v]): [string, string] => [n, n === ':authority' ? 'h:1' : v]));
  });

  it('passes an undecodable block, and all that follows, through unchanged', () => {
    const bad = Buffer.concat([PREFACE, frame(HEADERS, END_HEADERS, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff])), ping]);
    let reported = 0;
    const out = new HeaderRewriter(stripAuthorityScheme, true, () => reported++).push(bad);
    expect(out).toEqual(bad);
    expect(reported).toBe(1);
  });

  it('strips only a scheme (and any path) from an authority', () => {
    expect(strippedAuthority('http://127.0.0.1:2379')).toBe('127.0.0.1:2379');
    expect(strippedAuthority('https://h:1/some/path')).toBe('h:1');
    expect(strippedAuthority('127.0.0.1:2379')).toBeNull();
    const hs: HeaderField[] = [{ name: ':authority', value: 'http://a:1' }, { name: 'x', value: 'http://b' }];
    stripAuthorityScheme(hs);
    expect(hs.map((h) => h.value)).toEqual(['a:1', 'http://b']);
  });
});

describe('acceptWithAuthorityShim in front of a Node HTTP/2 server', () => {
  let tcp: net.Server;
  let port: number;
  const stats: ShimStats = { direct: 0, rewritten: 0 };
  const h2 = http2.createServer();
  h2.on('stream', (stream, headers) => {
    stream.respond({ ':status': 200 });
    stream.end(String(headers[':authority']));
  });

  beforeAll(async () => {
    tcp = net.createServer((socket) => acceptWithAuthorityShim(socket, (c) => h2.emit('connection', c), pino({ level: 'silent' }), stats));
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    port = (tcp.address() as net.AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => tcp.close(() => resolve())));

  async function authoritiesSeen(authority: string, requests: number): Promise<string[]> {
    const client = http2.connect(`http://127.0.0.1:${port}`);
    try {
      const seen: string[] = [];
      for (let i = 0; i < requests; i++) {
        const req = client.request({ ':path': `/r${i}`, ':authority': authority, 'x-n': String(i) });
        req.setEncoding('utf8');
        let body = '';
        req.on('data', (chunk: string) => (body += chunk));
        await new Promise<void>((resolve, reject) => {
          req.on('end', resolve);
          req.on('error', reject);
        });
        seen.push(body);
      }
      return seen;
    } finally {
      client.close();
    }
  }

  it('hands a connection without a scheme over as the socket itself, bytes read so far included', async () => {
    const before = { ...stats };
    expect(await authoritiesSeen(`127.0.0.1:${port}`, 3)).toEqual(Array(3).fill(`127.0.0.1:${port}`));
    expect(stats).toEqual({ direct: before.direct + 1, rewritten: before.rewritten });
  });

  it('rewrites every request of a connection whose authority has a scheme', async () => {
    const before = { ...stats };
    expect(await authoritiesSeen(`http://127.0.0.1:${port}`, 3)).toEqual(Array(3).fill(`127.0.0.1:${port}`));
    expect(stats).toEqual({ direct: before.direct, rewritten: before.rewritten + 1 });
  });
});

describe('etcdctl with http:// endpoints against shoal coord', () => {
  let coord: CoordProcess;
  beforeAll(async () => {
    coord = await startCoord({ args: ['--name', 'shim'] });
  });
  afterAll(stopAll);

  it('answers endpoint status and endpoint hashkv (per-endpoint calls with a scheme in :authority)', async () => {
    const url = `http://${coord.endpoint}`;
    const status = await etcdctl(url, ['endpoint', 'status', '-w', 'json']);
    expect(status.code, status.stderr).toBe(0);
    const [s] = JSON.parse(status.stdout) as { Endpoint: string; Status: { version: string; leader: number; header: { member_id: number } } }[];
    expect(s!.Endpoint).toBe(url);
    expect(s!.Status.version).toBe('3.4.23');
    expect(s!.Status.leader).toBe(s!.Status.header.member_id);

    expect((await etcdctl(url, ['put', 'shim/a', '1'])).stdout.trim()).toBe('OK');
    const hashes = await Promise.all([0, 1].map(() => etcdctl(url, ['endpoint', 'hashkv', '-w', 'json'])));
    const parsed = hashes.map((h) => JSON.parse(h.stdout) as { HashKV: { hash: number; compact_revision: number; header: { revision: number } } }[]);
    expect(parsed[0]![0]!.HashKV.hash).toBe(parsed[1]![0]!.HashKV.hash);
    expect(parsed[0]![0]!.HashKV.compact_revision).toBe(-1);
    expect(parsed[0]![0]!.HashKV.header.revision).toBe(2);
  });
});
