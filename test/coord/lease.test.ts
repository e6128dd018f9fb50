import { describe, expect, it } from 'vitest';
import {
  CoordStateMachine,
  DEFAULT_MIN_LEASE_TTL,
  Lessor,
  MAX_LEASE_TTL,
  newLeaseId,
  type WatchEvent,
} from '../../src/coord/index.js';
import { expectCoordError, grant, keysOf, Log, put, rangeReq, revoke, s } from './helpers.js';

function fresh(): { sm: CoordStateMachine; log: Log } {
  const sm = new CoordStateMachine();
  return { sm, log: new Log(sm) };
}

describe('lease table (replicated)', () => {
  it('grants with the TTL raised to the minimum and without bumping the revision', () => {
    const { sm, log } = fresh();
    expect(log.apply(grant(1, 60))).toEqual({ type: 'leaseGrant', res: { revision: 1, id: 1, ttl: 60 } });
    expect(log.apply(grant(2, 1))).toEqual({ type: 'leaseGrant', res: { revision: 1, id: 2, ttl: DEFAULT_MIN_LEASE_TTL } });
    expect(log.apply(grant(3, 0))).toMatchObject({ res: { ttl: 2 } });
    expect(log.apply(grant(4, MAX_LEASE_TTL))).toMatchObject({ res: { ttl: MAX_LEASE_TTL } });
    expect(sm.currentRevision).toBe(1);
    expect(sm.leases()).toEqual([
      { id: 1, ttl: 60 },
      { id: 2, ttl: 2 },
      { id: 3, ttl: 2 },
      { id: 4, ttl: MAX_LEASE_TTL },
    ]);
    const custom = new CoordStateMachine({ minLeaseTtl: 5 });
    expect(custom.apply(grant(1, 3), 1)).toMatchObject({ res: { ttl: 5 } });
  });

  it('rejects id 0, a TTL that is too large and an id in use', () => {
    const { sm, log } = fresh();
    const zero = log.fail(grant(0, 10));
    expect([zero.code, zero.message]).toEqual(['NOT_FOUND', 'etcdserver: requested lease not found']);
    const big = log.fail(grant(1, MAX_LEASE_TTL + 1));
    expect([big.code, big.message]).toEqual(['OUT_OF_RANGE', 'etcdserver: too large lease TTL']);
    log.apply(grant(1, 10));
    const dup = log.fail(grant(1, 20));
    expect([dup.code, dup.message]).toEqual(['FAILED_PRECONDITION', 'etcdserver: lease already exists']);
    expect(sm.leases()).toEqual([{ id: 1, ttl: 10 }]);
  });

  it('revokes a lease by deleting its keys in one revision, in key order', () => {
    const { sm, log } = fresh();
    const events: WatchEvent[][] = [];
    sm.onRevision((r) => events.push([...r.events]));
    log.apply(grant(5, 10));
    log.apply(put('c', '1', { lease: 5 })); // 2
    log.apply(put('a', '1', { lease: 5 })); // 3
    log.apply(put('b', '1')); // 4: no lease
    log.apply(put('d', '1', { lease: 5 })); // 5
    log.apply(put('d', '2')); // 6: moved off the lease
    expect(sm.leaseTimeToLive(5, true).keys.map(s)).toEqual(['a', 'c']);
    expect(log.apply(revoke(5))).toEqual({ type: 'leaseRevoke', res: { revision: 7 } });
    expect(keysOf(sm.range(rangeReq('\0', { end: '\0' })).kvs)).toEqual(['b', 'd']);
    expect(events.at(-1)!.map((e) => [e.type, s(e.kv.key), e.kv.modRevision])).toEqual([
      ['DELETE', 'a', 7],
      ['DELETE', 'c', 7],
    ]);
    expect(sm.leases()).toEqual([]);
    expect(sm.leaseTimeToLive(5, true)).toEqual({ revision: 7, id: 5, ttl: -1, grantedTtl: 0, keys: [] });
  });

  it('revokes a lease without keys without bumping the revision; unknown lease fails', () => {
    const { sm, log } = fresh();
    log.apply(grant(5, 10));
    expect(log.apply(revoke(5))).toEqual({ type: 'leaseRevoke', res: { revision: 1 } });
    const e = log.fail(revoke(5));
    expect([e.code, e.message]).toEqual(['NOT_FOUND', 'etcdserver: requested lease not found']);
    expect(sm.currentRevision).toBe(1);
  });

  it('detaches keys that are deleted or re-put with another lease', () => {
    const { sm, log } = fresh();
    log.apply(grant(1, 10));
    log.apply(grant(2, 10));
    log.apply(put('a', '1', { lease: 1 }));
    log.apply(put('b', '1', { lease: 1 }));
    log.apply(put('a', '2', { lease: 2 }));
    log.apply({ type: 'deleteRange', req: { key: Buffer.from('b'), rangeEnd: Buffer.alloc(0), prevKv: false } });
    expect(sm.leaseTimeToLive(1, true).keys).toEqual([]);
    expect(sm.leaseTimeToLive(2, true).keys.map(s)).toEqual(['a']);
    log.apply(revoke(1));
    expect(sm.range(rangeReq('a')).count).toBe(1);
  });

  it('answers time-to-live from the granted TTL, or the lessor when given', () => {
    const { sm, log } = fresh();
    log.apply(grant(8, 30));
    log.apply(put('k', 'v', { lease: 8 }));
    expect(sm.leaseTimeToLive(8, false)).toEqual({ revision: 2, id: 8, ttl: 30, grantedTtl: 30, keys: [] });
    const lessor = new Lessor();
    lessor.promote(0);
    lessor.grant(8, 30, 1000);
    const res = sm.leaseTimeToLive(8, true, (id) => lessor.remainingTtl(id, 11_500));
    expect([res.ttl, res.grantedTtl, res.keys.map(s)]).toEqual([19, 30, ['k']]);
  });
});

describe('Lessor', () => {
  it('expires leases at their deadline, only while primary', () => {
    const l = new Lessor();
    l.grant(1, 10, 0);
    expect(l.expired(1e9)).toEqual([]); // not primary: no deadlines
    expect(l.remainingTtl(1, 0)).toBe(10);
    l.promote(1000);
    l.grant(2, 5, 1000);
    expect(l.remainingTtl(1, 1000)).toBe(10);
    expect(l.remainingTtl(2, 3500)).toBe(2); // 2.5 s left, truncated as etcd
    expect(l.remainingTtl(3, 0)).toBe(-1);
    expect(l.expired(5999)).toEqual([]);
    expect(l.expired(6000)).toEqual([2]);
    expect(l.expired(8999)).toEqual([]); // reported less than 3 s ago
    expect(l.expired(9000)).toEqual([2]); // retry interval passed, still not revoked
    expect(l.expired(11_000)).toEqual([1]);
    l.revoke(2);
    expect(l.expired(13_999)).toEqual([]);
    expect(l.expired(14_000)).toEqual([1]);
    expect(l.remainingTtl(1, 20_000)).toBe(0);
  });

  it('renews on keep-alive and refuses expired, unknown or non-primary renewals', () => {
    const l = new Lessor();
    l.grant(1, 10, 0);
    expectCoordError(() => l.renew(1, 0), 'UNAVAILABLE', 'etcdserver: not leader');
    l.promote(0);
    expect(l.renew(1, 9000)).toBe(10);
    expect(l.expired(18_999)).toEqual([]);
    expect(l.remainingTtl(1, 10_000)).toBe(9);
    expect(l.expired(19_000)).toEqual([1]);
    expectCoordError(() => l.renew(1, 19_000), 'NOT_FOUND', 'etcdserver: requested lease not found');
    expectCoordError(() => l.renew(99, 0), 'NOT_FOUND', 'etcdserver: requested lease not found');
  });

  it('refreshes every deadline on promote, so a pause does not expire live leases', () => {
    const l = new Lessor();
    l.promote(0);
    l.grant(1, 10, 0);
    l.grant(2, 20, 0);
    l.demote();
    expect(l.expired(100_000)).toEqual([]);
    expect(l.remainingTtl(1, 100_000)).toBe(10);
    l.promote(100_000, 1000);
    expect(l.expired(110_999)).toEqual([]);
    expect(l.expired(111_000)).toEqual([1]);
    expect(l.remainingTtl(2, 111_000)).toBe(10);
  });

  it('limits how many expired leases one call reports, oldest first', () => {
    const l = new Lessor();
    l.promote(0);
    for (let id = 10; id >= 1; id--) l.grant(id, id, 0);
    expect(l.expired(100_000, 3)).toEqual([1, 2, 3]);
    expect(l.expired(100_000, 3)).toEqual([4, 5, 6]);
  });

  it('survives many renewals (stale heap entries) and syncs with the lease table', () => {
    const l = new Lessor();
    l.promote(0);
    l.grant(1, 5, 0);
    l.grant(2, 5, 0);
    for (let t = 1; t <= 10_000; t++) l.renew(1, t);
    expect(l.expired(10_004)).toEqual([2]);
    expect(l.expired(15_000)).toEqual([2, 1]); // 2 again: its retry interval passed
    l.sync(
      [
        { id: 1, ttl: 5 },
        { id: 3, ttl: 7 },
      ],
      20_000,
    );
    expect([l.has(1), l.has(2), l.has(3), l.size]).toEqual([true, false, true, 2]);
    expect(l.remainingTtl(3, 20_000)).toBe(7);
  });
});

describe('newLeaseId', () => {
  it('draws positive safe ids from the injected source, avoiding 0 and taken ids', () => {
    const draws = [0, 0, 0.5, 0.5, 0.25, 0.75];
    let i = 0;
    const random = (): number => draws[i++]!;
    const first = newLeaseId(random, (id) => id === 2 ** 20 * 2 ** 32 + 2 ** 31);
    expect(first).toBe(2 ** 19 * 2 ** 32 + 3 * 2 ** 30);
    expect(i).toBe(6);
    const max = newLeaseId(() => 0.9999999999999999);
    expect(Number.isSafeInteger(max) && max > 0).toBe(true);
    expect(() => newLeaseId(() => 0)).toThrow(/no free lease id/);
  });
});
