import { describe, expect, it } from 'vitest';
import {
  acquireLock,
  firstEvent,
  AcquireTimeoutError,
  lockPrefix,
  NotHolderError,
  prefixEnd,
  Session,
  withLock,
} from '../../src/recipes/index.js';
import { aborted, SERVERS, uniqueName, useServer, within } from '../contract/harness.js';

/**
 * A resource protected by fencing tokens, as a storage service would be: it refuses a token lower
 * than the highest it has accepted, and records any overlap of two writers.
 */
class FencedResource {
  highest = 0n;
  inside = 0;
  overlaps = 0;
  accepted: bigint[] = [];

  enter(token: bigint): void {
    if (token < this.highest) throw new Error(`stale token ${token} < ${this.highest}`);
    if (this.inside > 0) this.overlaps++;
    this.inside++;
    this.highest = token;
    this.accepted.push(token);
  }

  leave(): void {
    this.inside--;
  }
}

describe.each(SERVERS)('lock recipe on $name', (kind) => {
  const fx = useServer(kind);

  it('gives mutual exclusion with strictly increasing fencing tokens to concurrent contenders', async () => {
    const name = uniqueName('mutex');
    const clients = [fx.client(), fx.client(), fx.client()];
    const resource = new FencedResource();
    const contenders = 6;
    const rounds = 3;
    const work = async (i: number): Promise<void> => {
      const client = clients[i % clients.length]!;
      for (let r = 0; r < rounds; r++) {
        await withLock(client, name, async (lock) => {
          resource.enter(lock.fencingToken);
          // Real work against the store while holding: other contenders run meanwhile.
          await client.put(`/shoal/test/${name}/${i}`).value(String(r));
          expect(lock.isHeld()).toBe(true);
          resource.leave();
        }, { ttlSeconds: 5, timeoutMs: 30_000 });
      }
    };
    await within(Promise.all(Array.from({ length: contenders }, (_, i) => work(i))), 60_000, 'all contenders');
    expect(resource.overlaps).toBe(0);
    expect(resource.accepted).toHaveLength(contenders * rounds);
    for (let i = 1; i < resource.accepted.length; i++) {
      expect(resource.accepted[i]!).toBeGreaterThan(resource.accepted[i - 1]!);
    }
    // Every holder released: nothing is left under the lock's prefix.
    const left = await clients[0]!.kv.range({ key: Buffer.from(lockPrefix(name)), range_end: prefixEnd(lockPrefix(name)), count_only: true });
    expect(left.count).toBe('0');
  });

  it('frees the lock when the holder lease is revoked, and the old holder notices and is fenced off', async () => {
    const name = uniqueName('revoked');
    const [a, b, admin] = [fx.client(), fx.client(), fx.client()];
    const resource = new FencedResource();
    const first = await acquireLock(a, name, { ttlSeconds: 30 });
    resource.enter(first.fencingToken);
    resource.leave();
    expect(first.key).toBe(`${lockPrefix(name)}${BigInt(first.session.leaseId).toString(16)}`);
    const second = acquireLock(b, name, { ttlSeconds: 30, timeoutMs: 15_000 });

    await admin.leaseClient.leaseRevoke({ ID: first.session.leaseId });

    const next = await within(second, 15_000, 'the waiting contender to get the lock');
    await aborted(first.lost, 5000, 'loss notice');
    expect(first.isHeld()).toBe(false);
    expect(() => first.assertHeld()).toThrow(NotHolderError);
    expect(next.fencingToken).toBeGreaterThan(first.fencingToken);
    resource.enter(next.fencingToken);
    resource.leave();
    // The paused old holder wakes up and tries to write with its token: refused.
    expect(() => resource.enter(first.fencingToken)).toThrow(/stale token/);
    await next.release();
    await first.release(); // releasing a lost lock is harmless
  });

  it("frees a crashed holder's lock after its lease TTL", async () => {
    const name = uniqueName('ttl');
    const [a, b] = [fx.client(), fx.client()];
    const crashed = await acquireLock(a, name, { ttlSeconds: 1 });
    crashed.session.abandon(); // stops keep-alives without revoking: what a dead process leaves behind
    expect(crashed.isHeld()).toBe(false);
    const started = Date.now();
    const next = await within(acquireLock(b, name, { ttlSeconds: 5, timeoutMs: 15_000 }), 15_000, 'lock after TTL');
    // etcd rounds TTLs up to its minimum (1.5 s with default timing): the lock cannot free much sooner.
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    expect(next.fencingToken).toBeGreaterThan(crashed.fencingToken);
    await next.release();
  });

  it('gives up after the timeout and leaves the queue clean', async () => {
    const name = uniqueName('timeout');
    const [a, b] = [fx.client(), fx.client()];
    const holder = await acquireLock(a, name);
    const started = Date.now();
    await expect(acquireLock(b, name, { timeoutMs: 300 })).rejects.toBeInstanceOf(AcquireTimeoutError);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    const res = await a.kv.range({ key: Buffer.from(lockPrefix(name)), range_end: prefixEnd(lockPrefix(name)) });
    expect(res.kvs.map((kv) => kv.key.toString())).toEqual([holder.key]);
    expect(holder.isHeld()).toBe(true);
    await holder.release();
  });

  it('aborting a waiting acquire removes its key', async () => {
    const name = uniqueName('abort');
    const [a, b] = [fx.client(), fx.client()];
    const holder = await acquireLock(a, name);
    const session = await Session.create(b, { ttlSeconds: 30 });
    const before = BigInt((await a.kv.range({ key: Buffer.from(lockPrefix(name)) })).header.revision);
    const controller = new AbortController();
    const waiting = acquireLock(b, name, { session, signal: controller.signal });
    const own = `${lockPrefix(name)}${session.leaseIdHex}`;
    // The contender is queued once its key exists (watched from before the acquire started).
    await firstEvent(a, { key: own, startRevision: before + 1n, only: 'put' }, AbortSignal.timeout(5000));
    controller.abort(new Error('caller gave up'));
    await expect(waiting).rejects.toThrow('caller gave up');
    const after = await a.kv.range({ key: Buffer.from(own) });
    expect(after.kvs).toHaveLength(0);
    expect(session.isAlive()).toBe(true); // a shared session stays open
    expect(holder.isHeld()).toBe(true);
    await holder.release();
    await session.close();
    expect(session.isAlive()).toBe(false);
  });
});
