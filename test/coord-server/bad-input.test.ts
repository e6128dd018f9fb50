// Bad input at the edge: each case answers a clear gRPC error with etcd's code and message, and
// the server keeps serving.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messageType } from '../../src/coord/node/index.js';
import { call, client, rawCall, startCoord, stopAll, type CoordProcess } from './harness.js';

let coord: CoordProcess;
let kv: grpc.Client & Record<string, unknown>;
let lease: grpc.Client & Record<string, unknown>;

beforeAll(async () => {
  coord = await startCoord();
  kv = client('etcdserverpb.KV', coord.endpoint);
  lease = client('etcdserverpb.Lease', coord.endpoint);
});

afterAll(async () => {
  kv?.close();
  lease?.close();
  await stopAll();
});

const encode = (type: string, msg: object) => messageType(type).encode(msg).finish() as Buffer;
const raw = (path: string, bytes: Buffer) => rawCall(coord.endpoint, path, bytes);
const status = (code: keyof typeof grpc.status, details: string | RegExp) => ({
  code: grpc.status[code],
  details: typeof details === 'string' ? details : expect.stringMatching(details),
});

describe('malformed messages', () => {
  it('answers bytes that are not a protobuf message with INVALID_ARGUMENT', async () => {
    const garbage = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]);
    await expect(raw('/etcdserverpb.KV/Range', garbage)).rejects.toMatchObject(status('INVALID_ARGUMENT', /malformed RangeRequest/));
    await expect(raw('/etcdserverpb.KV/Put', Buffer.from([0xff, 0xff, 0xff]))).rejects.toMatchObject(
      status('INVALID_ARGUMENT', /malformed PutRequest/),
    );
    await expect(raw('/etcdserverpb.KV/Txn', Buffer.from([0x12, 0x05, 0x12, 0x10]))).rejects.toMatchObject(
      status('INVALID_ARGUMENT', /malformed TxnRequest/),
    );
  });

  it('rejects int64 values beyond 2^53 and unknown enum values; takes negative values as etcd does', async () => {
    const huge = encode('etcdserverpb.RangeRequest', { key: Buffer.from('k'), revision: '9007199254740993' });
    await expect(raw('/etcdserverpb.KV/Range', huge)).rejects.toMatchObject(status('INVALID_ARGUMENT', /revision: beyond 2\^53/));
    // etcd: a negative limit is no limit, a negative revision the current one.
    const negative = encode('etcdserverpb.RangeRequest', { key: Buffer.from('k'), limit: -1, revision: -3 });
    await expect(raw('/etcdserverpb.KV/Range', negative)).resolves.toBeInstanceOf(Buffer);
    const sort = encode('etcdserverpb.RangeRequest', { key: Buffer.from('k'), sortOrder: 7 });
    await expect(raw('/etcdserverpb.KV/Range', sort)).rejects.toMatchObject(status('INVALID_ARGUMENT', 'etcdserver: invalid sort option'));
    // Lease ids are int64 in etcd: a negative one is merely unknown here.
    const leaseId = encode('etcdserverpb.LeaseRevokeRequest', { ID: '-5' });
    await expect(raw('/etcdserverpb.Lease/LeaseRevoke', leaseId)).rejects.toMatchObject(status('NOT_FOUND', 'etcdserver: requested lease not found'));
    const compare = encode('etcdserverpb.TxnRequest', { compare: [{ key: Buffer.from('k'), result: 9 }] });
    await expect(raw('/etcdserverpb.KV/Txn', compare)).rejects.toMatchObject(status('INVALID_ARGUMENT', /invalid compare result 9/));
  });
});

describe("etcd's request checks", () => {
  it('empty key, value with ignore_value, future revision', async () => {
    await expect(call(kv, 'Put', { key: Buffer.alloc(0), value: Buffer.from('v') })).rejects.toMatchObject(
      status('INVALID_ARGUMENT', 'etcdserver: key is not provided'),
    );
    await expect(call(kv, 'Put', { key: Buffer.from('k'), value: Buffer.from('v'), ignoreValue: true })).rejects.toMatchObject(
      status('INVALID_ARGUMENT', 'etcdserver: value is provided'),
    );
    await expect(call(kv, 'Range', { key: Buffer.from('k'), revision: 1_000_000 })).rejects.toMatchObject(
      status('OUT_OF_RANGE', 'etcdserver: mvcc: required revision is a future revision'),
    );
  });

  it('oversized requests: over 1.5 MiB is "request is too large", over the gRPC limit RESOURCE_EXHAUSTED', async () => {
    const big = Buffer.alloc(1.6 * 1024 * 1024, 1);
    await expect(call(kv, 'Put', { key: Buffer.from('big'), value: big })).rejects.toMatchObject(
      status('INVALID_ARGUMENT', 'etcdserver: request is too large'),
    );
    const huge = Buffer.alloc(3 * 1024 * 1024, 1);
    await expect(call(kv, 'Put', { key: Buffer.from('big'), value: huge })).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
    const bigKey = Buffer.alloc(1.6 * 1024 * 1024, 0x61);
    await expect(call(kv, 'Range', { key: bigKey })).rejects.toMatchObject(status('INVALID_ARGUMENT', 'etcdserver: request is too large'));
  });

  it('leases as etcd grants them: a negative TTL raised to the minimum, a negative id kept', async () => {
    const g = await call<{ ID: string; TTL: string }>(lease, 'LeaseGrant', { ID: '-7', TTL: '-5' });
    expect([g.ID, g.TTL]).toEqual(['-7', '2']);
    await call(kv, 'Put', { key: Buffer.from('neg-lease'), value: Buffer.from('v'), lease: '-7' });
    const ttl = await call<{ ID: string; keys: Buffer[] }>(lease, 'LeaseTimeToLive', { ID: '-7', keys: true });
    expect([ttl.ID, ttl.keys.map(String)]).toEqual(['-7', ['neg-lease']]);
    await call(lease, 'LeaseRevoke', { ID: '-7' });
    expect((await call<{ count: string }>(kv, 'Range', { key: Buffer.from('neg-lease') })).count).toBe('0');
  });

  it('transactions: too many operations, duplicate keys', async () => {
    const put = (k: string) => ({ requestPut: { key: Buffer.from(k), value: Buffer.from('v') } });
    const many = Array.from({ length: 129 }, (_, i) => put(`t${i}`));
    await expect(call(kv, 'Txn', { success: many })).rejects.toMatchObject(
      status('INVALID_ARGUMENT', 'etcdserver: too many operations in txn request'),
    );
    await expect(call(kv, 'Txn', { success: [put('dup'), put('dup')] })).rejects.toMatchObject(
      status('INVALID_ARGUMENT', 'etcdserver: duplicate key given in txn request'),
    );
    // 128 is allowed.
    const ok = await call<{ succeeded: boolean }>(kv, 'Txn', { success: many.slice(0, 128) });
    expect(ok.succeeded).toBe(true);
  });

  it('unknown lease ids', async () => {
    await expect(call(kv, 'Put', { key: Buffer.from('k'), value: Buffer.from('v'), lease: '424242' })).rejects.toMatchObject(
      status('NOT_FOUND', 'etcdserver: requested lease not found'),
    );
    await expect(call(lease, 'LeaseRevoke', { ID: '424242' })).rejects.toMatchObject(status('NOT_FOUND', 'etcdserver: requested lease not found'));
    const ttl = await call<{ TTL: string }>(lease, 'LeaseTimeToLive', { ID: '424242' });
    expect(ttl.TTL).toBe('-1');
    await expect(call(lease, 'LeaseGrant', { TTL: '9000000001' })).rejects.toMatchObject(status('OUT_OF_RANGE', 'etcdserver: too large lease TTL'));
  });
});

describe('watch streams', () => {
  const openWatch = () => {
    const w = client('etcdserverpb.Watch', coord.endpoint);
    const stream = (w.Watch as () => grpc.ClientDuplexStream<object, Record<string, unknown>>).call(w);
    const responses: Record<string, unknown>[] = [];
    const waiters: (() => void)[] = [];
    stream.on('data', (r) => {
      responses.push(r);
      for (const f of waiters.splice(0)) f();
    });
    const next = async (n: number) => {
      while (responses.length < n) await new Promise<void>((r) => waiters.push(r));
      return responses;
    };
    return { w, stream, next };
  };

  it('a watch on a compacted revision is created, then canceled with compact_revision', async () => {
    await call(kv, 'Put', { key: Buffer.from('wc'), value: Buffer.from('1') });
    const r = await call<{ header: { revision: string } }>(kv, 'Put', { key: Buffer.from('wc'), value: Buffer.from('2') });
    const rev = Number(r.header.revision);
    await call(kv, 'Compact', { revision: rev });
    const { w, stream, next } = openWatch();
    stream.write({ createRequest: { key: Buffer.from('wc'), startRevision: 2 } });
    const [created, canceled] = await next(2);
    expect(created).toMatchObject({ created: true, watchId: '0' });
    expect(canceled).toMatchObject({ canceled: true, watchId: '0', compactRevision: String(rev) });
    expect(canceled.cancelReason).toBe('etcdserver: mvcc: required revision has been compacted');
    stream.end();
    w.close();
  });

  it('a malformed watch request ends that stream with INVALID_ARGUMENT; others are unaffected', async () => {
    const { w, stream } = openWatch();
    const ended = new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
    // A create request with a negative start revision.
    stream.write({ createRequest: { key: Buffer.from('k'), startRevision: '-3' } });
    expect(await ended).toMatchObject(status('INVALID_ARGUMENT', /start_revision -3/));
    w.close();

    const good = openWatch();
    good.stream.write({ createRequest: { key: Buffer.from('alive') } });
    await good.next(1);
    await call(kv, 'Put', { key: Buffer.from('alive'), value: Buffer.from('yes') });
    const got = await good.next(2);
    expect((got[1].events as { kv: { value: Buffer } }[])[0].kv.value.toString()).toBe('yes');
    good.stream.end();
    good.w.close();
  });
});

describe('after all of the above', () => {
  it('the server is still up and serving', async () => {
    await call(kv, 'Put', { key: Buffer.from('still'), value: Buffer.from('here') });
    const res = await call<{ kvs: { value: Buffer }[] }>(kv, 'Range', { key: Buffer.from('still') });
    expect(res.kvs[0].value.toString()).toBe('here');
    expect(coord.child.exitCode).toBeNull();
    expect(coord.logs.some((l) => l.includes('"level":50') || l.includes('"level":60'))).toBe(false);
  });
});
