// Watch details beyond the etcd3 client's use: progress notifications (periodic and on
// request), per-stream watch ids from 0, client-chosen ids, cancel, filters.
import type * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, client, startCoord, stopAll, type CoordProcess } from './harness.js';

let coord: CoordProcess;
let kv: grpc.Client & Record<string, unknown>;

beforeAll(async () => {
  coord = await startCoord({ args: ['--experimental-watch-progress-notify-interval', '200ms'] });
  kv = client('etcdserverpb.KV', coord.endpoint);
});

afterAll(async () => {
  kv?.close();
  await stopAll();
});

type Res = { watchId: string; created: boolean; canceled: boolean; header: { revision: string }; events: { type: string; kv: { key: Buffer } }[] };

function openWatch() {
  const w = client('etcdserverpb.Watch', coord.endpoint);
  const stream = (w.Watch as () => grpc.ClientDuplexStream<object, Res>).call(w);
  const responses: Res[] = [];
  const waiters: (() => void)[] = [];
  stream.on('data', (r) => {
    responses.push(r);
    for (const f of waiters.splice(0)) f();
  });
  const until = async (pred: (rs: Res[]) => boolean) => {
    while (!pred(responses)) await new Promise<void>((r) => waiters.push(r));
    return responses;
  };
  const errors: Error[] = [];
  stream.on('error', (e) => errors.push(e));
  const status = new Promise<void>((resolve) => stream.on('status', () => resolve()));
  // Half-close, wait for the server to end the stream with OK, then drop the channel.
  const close = async () => {
    stream.end();
    await status;
    w.close();
    expect(errors).toEqual([]);
  };
  return { stream, responses, until, close };
}

describe('watch streams', () => {
  it('numbers watches from 0 per stream, honours client ids, filters and cancels', async () => {
    const s = openWatch();
    s.stream.write({ createRequest: { key: Buffer.from('f/'), rangeEnd: Buffer.from('f0'), filters: ['NODELETE'] } });
    s.stream.write({ createRequest: { key: Buffer.from('f/a'), watchId: 7 } });
    s.stream.write({ createRequest: { key: Buffer.from('f/b') } });
    await s.until((rs) => rs.filter((r) => r.created).length === 3);
    expect(s.responses.filter((r) => r.created).map((r) => r.watchId)).toEqual(['0', '7', '1']);

    await call(kv, 'Put', { key: Buffer.from('f/a'), value: Buffer.from('1') });
    await call(kv, 'DeleteRange', { key: Buffer.from('f/a') });
    await s.until((rs) => rs.filter((r) => r.watchId === '7' && r.events.length > 0).length === 2);
    // Watch 0 filters deletes out: it saw the put only.
    const w0 = s.responses.filter((r) => r.watchId === '0' && r.events.length > 0);
    expect(w0.flatMap((r) => r.events.map((e) => e.type))).toEqual(['PUT']);

    s.stream.write({ cancelRequest: { watchId: 7 } });
    await s.until((rs) => rs.some((r) => r.canceled && r.watchId === '7'));
    await call(kv, 'Put', { key: Buffer.from('f/a'), value: Buffer.from('2') });
    await s.until((rs) => rs.filter((r) => r.watchId === '0' && r.events.length > 0).length === 2);
    expect(s.responses.filter((r) => r.watchId === '7' && r.events.length > 0)).toHaveLength(2);
    await s.close();
  });

  it('sends periodic progress notifications to watches that ask, and answers progress requests', async () => {
    const s = openWatch();
    s.stream.write({ createRequest: { key: Buffer.from('p/k'), progressNotify: true } });
    const put = await call<{ header: { revision: string } }>(kv, 'Put', { key: Buffer.from('other'), value: Buffer.from('x') });
    // Periodic notes carry the current revision: one comes that covers the put (bounded by the
    // test timeout; the interval is 200 ms). The put touches no watched key, so no events.
    const isNote = (r: Res) => !r.created && !r.canceled && r.events.length === 0 && r.watchId === '0';
    await s.until((rs) => rs.some((r) => isNote(r) && Number(r.header.revision) >= Number(put.header.revision)));
    expect(s.responses.every((r) => r.events.length === 0)).toBe(true);

    s.stream.write({ progressRequest: {} });
    const answered = await s.until((rs) => rs.some((r) => r.watchId === '-1'));
    expect(Number(answered.find((r) => r.watchId === '-1')!.header.revision)).toBeGreaterThanOrEqual(Number(put.header.revision));
    await s.close();
  });
});
