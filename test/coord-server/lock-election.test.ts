// The server-side v3lockpb.Lock and v3electionpb.Election services over raw gRPC clients
// generated from our proto files (etcdctl and the etcd3 package use client-side recipes).
import type * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, client, startCoord, stopAll, type CoordProcess } from './harness.js';

let coord: CoordProcess;
type Client = grpc.Client & Record<string, unknown>;
let lock: Client;
let election: Client;
let lease: Client;
let kv: Client;

beforeAll(async () => {
  coord = await startCoord();
  lock = client('v3lockpb.Lock', coord.endpoint);
  election = client('v3electionpb.Election', coord.endpoint);
  lease = client('etcdserverpb.Lease', coord.endpoint);
  kv = client('etcdserverpb.KV', coord.endpoint);
});

afterAll(async () => {
  for (const c of [lock, election, lease, kv]) c?.close();
  await stopAll();
});

async function grant(ttl = 30): Promise<string> {
  const res = await call<{ ID: string }>(lease, 'LeaseGrant', { TTL: ttl });
  return res.ID;
}

describe('Lock service', () => {
  it('grants the lock in order: the second locker waits until the first unlocks', async () => {
    const [l1, l2] = [await grant(), await grant()];
    const first = await call<{ key: Buffer; header: { revision: string } }>(lock, 'Lock', { name: Buffer.from('svc-lock'), lease: l1 });
    expect(first.key.toString()).toBe(`svc-lock/${BigInt(l1).toString(16)}`);

    let secondDone = false;
    const second = call<{ key: Buffer }>(lock, 'Lock', { name: Buffer.from('svc-lock'), lease: l2 }).then((r) => {
      secondDone = true;
      return r;
    });
    // The second locker is queued behind the first: its key exists, it does not hold the lock.
    const keys = await waitForKeys('svc-lock/', 2);
    expect(keys).toHaveLength(2);
    expect(secondDone).toBe(false);

    await call(lock, 'Unlock', { key: first.key });
    const got = await second;
    expect(got.key.toString()).toBe(`svc-lock/${BigInt(l2).toString(16)}`);
    await call(lock, 'Unlock', { key: got.key });
    expect(await waitForKeys('svc-lock/', 0)).toHaveLength(0);
  });

  it('releases the lock when the holder lease is revoked', async () => {
    const [l1, l2] = [await grant(), await grant()];
    await call(lock, 'Lock', { name: Buffer.from('lease-lock'), lease: l1 });
    const waiting = call<{ key: Buffer }>(lock, 'Lock', { name: Buffer.from('lease-lock'), lease: l2 });
    await waitForKeys('lease-lock/', 2);
    await call(lease, 'LeaseRevoke', { ID: l1 });
    expect((await waiting).key.toString()).toContain(BigInt(l2).toString(16));
  });

  it('refuses an unknown lease with etcd\'s error', async () => {
    // etcd's lock service runs a client inside the server: its errors arrive as UNKNOWN.
    await expect(call(lock, 'Lock', { name: Buffer.from('x'), lease: '777' })).rejects.toMatchObject({
      code: 2,
      details: 'etcdserver: requested lease not found',
    });
  });
});

describe('Election service', () => {
  it('campaign, leader, proclaim, observe, resign hands leadership over', async () => {
    const [l1, l2] = [await grant(), await grant()];
    const name = Buffer.from('svc-election');
    const c1 = await call<{ leader: { key: Buffer; rev: string; lease: string; name: Buffer } }>(election, 'Campaign', {
      name,
      lease: l1,
      value: Buffer.from('one'),
    });
    expect(c1.leader.name.toString()).toBe('svc-election');

    const leader = await call<{ kv: { value: Buffer } }>(election, 'Leader', { name });
    expect(leader.kv.value.toString()).toBe('one');

    const observed: string[] = [];
    const stream = (election.Observe as (req: object) => grpc.ClientReadableStream<{ kv: { value: Buffer } }>).call(election, { name });
    const seen = (n: number) =>
      new Promise<void>((resolve) => {
        const check = () => observed.length >= n && resolve();
        stream.on('data', (r) => {
          observed.push(r.kv.value.toString());
          check();
        });
        check();
      });
    const firstSeen = seen(1);
    await firstSeen;

    await call(election, 'Proclaim', { leader: c1.leader, value: Buffer.from('one-b') });
    let c2Done = false;
    const c2 = call<{ leader: { key: Buffer } }>(election, 'Campaign', { name, lease: l2, value: Buffer.from('two') }).then((r) => {
      c2Done = true;
      return r;
    });
    await waitForKeys('svc-election/', 2);
    expect(c2Done).toBe(false);

    await call(election, 'Resign', { leader: c1.leader });
    const won = await c2;
    expect(won.leader.key.toString()).toContain(BigInt(l2).toString(16));
    await seen(3);
    stream.on('error', () => {}); // our own cancel ends it with CANCELLED
    stream.cancel();
    expect(observed.slice(0, 3)).toEqual(['one', 'one-b', 'two']);

    // The old leader key no longer proves leadership.
    await expect(call(election, 'Proclaim', { leader: c1.leader, value: Buffer.from('stale') })).rejects.toMatchObject({
      details: 'election: not leader',
    });
  });

  it('answers Leader with no campaigner as "election: no leader"', async () => {
    await expect(call(election, 'Leader', { name: Buffer.from('nobody') })).rejects.toMatchObject({ details: 'election: no leader' });
  });
});

/** Polls the key count under a prefix until it matches (bounded). */
async function waitForKeys(prefix: string, n: number): Promise<Buffer[]> {
  const end = Buffer.from(prefix);
  end[end.length - 1]++;
  for (let i = 0; i < 100; i++) {
    const res = await call<{ kvs: { key: Buffer }[] }>(kv, 'Range', { key: Buffer.from(prefix), rangeEnd: end });
    if (res.kvs.length === n) return res.kvs.map((k) => k.key);
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`never saw ${n} keys under ${prefix}`);
}
