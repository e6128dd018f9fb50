import { describe, expect, it } from 'vitest';
import { CoordStateMachine, type PutResponse, type DeleteRangeResponse } from '../../src/coord/index.js';
import { b, compact, del, expectCoordError, grant, keysOf, Log, put, rangeReq, s } from './helpers.js';

const COMPACTED = 'etcdserver: mvcc: required revision has been compacted';
const FUTURE = 'etcdserver: mvcc: required revision is a future revision';

function fresh(): { sm: CoordStateMachine; log: Log } {
  const sm = new CoordStateMachine();
  return { sm, log: new Log(sm) };
}

const putRes = (r: ReturnType<Log['apply']>): PutResponse => {
  if (r.type !== 'put') throw new Error(`expected put, got ${r.type}`);
  return r.res;
};
const delRes = (r: ReturnType<Log['apply']>): DeleteRangeResponse => {
  if (r.type !== 'deleteRange') throw new Error(`expected deleteRange, got ${r.type}`);
  return r.res;
};

describe('revisions and versions', () => {
  it('starts at revision 1 and bumps once per put', () => {
    const { sm, log } = fresh();
    expect(sm.currentRevision).toBe(1);
    expect(sm.compactRevision).toBe(0);
    expect(putRes(log.apply(put('a', '1'))).revision).toBe(2);
    expect(putRes(log.apply(put('a', '1'))).revision).toBe(3); // same value still writes
    expect(sm.currentRevision).toBe(3);
    expect(sm.appliedIndex).toBe(2);
  });

  it('tracks create/mod revision and version, resetting after delete', () => {
    const { sm, log } = fresh();
    log.apply(put('k', 'v1')); // 2
    log.apply(put('k', 'v2')); // 3
    let kv = sm.range(rangeReq('k')).kvs[0]!;
    expect([kv.createRevision, kv.modRevision, kv.version, s(kv.value)]).toEqual([2, 3, 2, 'v2']);
    log.apply(del('k')); // 4
    expect(sm.range(rangeReq('k')).count).toBe(0);
    log.apply(put('k', 'v3')); // 5
    kv = sm.range(rangeReq('k')).kvs[0]!;
    expect([kv.createRevision, kv.modRevision, kv.version]).toEqual([5, 5, 1]);
  });

  it('returns prevKv on put only when asked', () => {
    const { log } = fresh();
    expect(putRes(log.apply(put('a', '1', { prevKv: true }))).prevKv).toBeNull();
    const r = putRes(log.apply(put('a', '2', { prevKv: true })));
    expect(s(r.prevKv!.value)).toBe('1');
    expect(r.prevKv!.modRevision).toBe(2);
    expect(putRes(log.apply(put('a', '3'))).prevKv).toBeNull();
  });

  it('does not let request buffers alias stored values', () => {
    const { sm, log } = fresh();
    const value = b('abc');
    log.apply({ type: 'put', req: { key: b('k'), value, lease: 0, prevKv: false, ignoreValue: false, ignoreLease: false } });
    value.write('zzz');
    expect(s(sm.range(rangeReq('k')).kvs[0]!.value)).toBe('abc');
  });
});

describe('put validation', () => {
  it('rejects an empty key', () => {
    const { sm, log } = fresh();
    const e = log.fail(put('', 'v'));
    expect([e.code, e.message]).toEqual(['INVALID_ARGUMENT', 'etcdserver: key is not provided']);
    expect(sm.currentRevision).toBe(1);
    expect(sm.appliedIndex).toBe(1); // the entry is consumed even though it failed
  });

  it('rejects ignore_value with a value and ignore_lease with a lease', () => {
    const { log } = fresh();
    const e1 = log.fail(put('a', 'v', { ignoreValue: true }));
    expect([e1.code, e1.message]).toEqual(['INVALID_ARGUMENT', 'etcdserver: value is provided']);
    const e2 = log.fail(put('a', '', { ignoreLease: true, lease: 5 }));
    expect([e2.code, e2.message]).toEqual(['INVALID_ARGUMENT', 'etcdserver: lease is provided']);
  });

  it('rejects ignore_value / ignore_lease on a missing key', () => {
    const { sm, log } = fresh();
    const e = log.fail(put('a', '', { ignoreValue: true }));
    expect([e.code, e.message]).toEqual(['INVALID_ARGUMENT', 'etcdserver: key not found']);
    log.apply(put('a', 'x'));
    log.apply(del('a'));
    expect(log.fail(put('a', '', { ignoreLease: true })).message).toBe('etcdserver: key not found');
    expect(sm.currentRevision).toBe(3);
  });

  it('keeps the value with ignore_value and the lease with ignore_lease', () => {
    const { sm, log } = fresh();
    log.apply(grant(7, 60));
    log.apply(put('a', 'keep', { lease: 7 }));
    log.apply(put('a', '', { ignoreValue: true })); // lease becomes 0: not ignored
    let kv = sm.range(rangeReq('a')).kvs[0]!;
    expect([s(kv.value), kv.lease, kv.version]).toEqual(['keep', 0, 2]);
    log.apply(put('a', 'new', { lease: 7 }));
    log.apply(put('a', 'newer', { ignoreLease: true }));
    kv = sm.range(rangeReq('a')).kvs[0]!;
    expect([s(kv.value), kv.lease]).toEqual(['newer', 7]);
    expect(keysOf(sm.leaseTimeToLive(7, true).keys.map((key) => ({ key })))).toEqual(['a']);
  });

  it('rejects a put with an unknown lease', () => {
    const { sm, log } = fresh();
    const e = log.fail(put('a', 'v', { lease: 42 }));
    expect([e.code, e.message]).toEqual(['NOT_FOUND', 'etcdserver: requested lease not found']);
    expect(sm.range(rangeReq('a')).count).toBe(0);
  });
});

describe('range', () => {
  function seeded(): { sm: CoordStateMachine; log: Log } {
    const f = fresh();
    for (const [k, v] of [['b', '3'], ['a', '2'], ['d', '1'], ['c', '2'], ['e', '9']] as const) f.log.apply(put(k, v));
    f.log.apply(put('c', '5')); // c: version 2, mod 7
    return f;
  }

  it('reads a single key, a half-open range, from-key and all keys', () => {
    const { sm } = seeded();
    expect(keysOf(sm.range(rangeReq('c')).kvs)).toEqual(['c']);
    expect(sm.range(rangeReq('zz')).kvs).toEqual([]);
    expect(keysOf(sm.range(rangeReq('b', { end: 'd' })).kvs)).toEqual(['b', 'c']);
    expect(keysOf(sm.range(rangeReq('c', { end: '\0' })).kvs)).toEqual(['c', 'd', 'e']);
    expect(keysOf(sm.range(rangeReq('\0', { end: '\0' })).kvs)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(sm.range(rangeReq('d', { end: 'b' })).count).toBe(0); // end before start: nothing
    expect(sm.range(rangeReq('a')).revision).toBe(7);
  });

  it('orders keys bytewise, including bytes >= 0x80', () => {
    const { sm, log } = fresh();
    for (const k of ['\xff', 'a', '\x80', 'A', '\x01']) log.apply(put(k, ''));
    expect(keysOf(sm.range(rangeReq('\0', { end: '\0' })).kvs)).toEqual(['\x01', 'A', 'a', '\x80', '\xff']);
  });

  it('applies limit with more and the full count', () => {
    const { sm } = seeded();
    const r = sm.range(rangeReq('a', { end: '\0', limit: 2 }));
    expect(keysOf(r.kvs)).toEqual(['a', 'b']);
    expect([r.more, r.count]).toEqual([true, 5]);
    const all = sm.range(rangeReq('a', { end: '\0', limit: 5 }));
    expect([all.kvs.length, all.more, all.count]).toEqual([5, false, 5]);
  });

  it('sorts like etcd, including NONE with a non-KEY target meaning ascending', () => {
    const { sm } = seeded();
    const by = (sortOrder: 'NONE' | 'ASCEND' | 'DESCEND', sortTarget: 'KEY' | 'VERSION' | 'CREATE' | 'MOD' | 'VALUE') =>
      keysOf(sm.range(rangeReq('a', { end: '\0', sortOrder, sortTarget })).kvs);
    expect(by('DESCEND', 'KEY')).toEqual(['e', 'd', 'c', 'b', 'a']);
    expect(by('ASCEND', 'KEY')).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(by('NONE', 'VALUE')).toEqual(['d', 'a', 'b', 'c', 'e']); // values 1,2,3,5,9
    expect(by('ASCEND', 'VALUE')).toEqual(['d', 'a', 'b', 'c', 'e']);
    expect(by('DESCEND', 'VALUE')).toEqual(['e', 'c', 'b', 'a', 'd']);
    expect(by('ASCEND', 'CREATE')).toEqual(['b', 'a', 'd', 'c', 'e']);
    expect(by('DESCEND', 'MOD')).toEqual(['c', 'e', 'd', 'a', 'b']);
    expect(by('DESCEND', 'VERSION')[0]).toBe('c');
    // Ties keep key order.
    expect(by('ASCEND', 'VERSION')).toEqual(['a', 'b', 'd', 'e', 'c']);
  });

  it('sorts before applying the limit', () => {
    const { sm } = seeded();
    const r = sm.range(rangeReq('a', { end: '\0', sortOrder: 'DESCEND', sortTarget: 'VALUE', limit: 2 }));
    expect(keysOf(r.kvs)).toEqual(['e', 'c']);
    expect([r.more, r.count]).toEqual([true, 5]);
  });

  it('filters by mod and create revision; count ignores the filters, as etcd', () => {
    const { sm } = seeded();
    // revisions: b=2 a=3 d=4 c=5(created),7(mod) e=6
    expect(keysOf(sm.range(rangeReq('a', { end: '\0', minModRevision: 5 })).kvs)).toEqual(['c', 'e']);
    expect(keysOf(sm.range(rangeReq('a', { end: '\0', maxModRevision: 4 })).kvs)).toEqual(['a', 'b', 'd']);
    expect(keysOf(sm.range(rangeReq('a', { end: '\0', minCreateRevision: 4, maxCreateRevision: 5 })).kvs)).toEqual([
      'c',
      'd',
    ]);
    const r = sm.range(rangeReq('a', { end: '\0', minModRevision: 5, limit: 1 }));
    expect(keysOf(r.kvs)).toEqual(['c']);
    expect([r.more, r.count]).toEqual([true, 5]);
  });

  it('supports keys-only and count-only', () => {
    const { sm } = seeded();
    const k = sm.range(rangeReq('a', { end: 'c', keysOnly: true }));
    expect(k.kvs.map((kv) => kv.value.length)).toEqual([0, 0]);
    expect(k.kvs[0]!.version).toBe(1);
    const c = sm.range(rangeReq('a', { end: '\0', countOnly: true, limit: 1 }));
    expect([c.kvs.length, c.count, c.more]).toEqual([0, 5, false]);
  });

  it('reads at a past revision and rejects future or compacted ones', () => {
    const { sm, log } = seeded();
    log.apply(del('a')); // rev 8
    expect(keysOf(sm.range(rangeReq('a', { end: '\0', revision: 3 })).kvs)).toEqual(['a', 'b']);
    const old = sm.range(rangeReq('c', { revision: 6 }));
    expect([s(old.kvs[0]!.value), old.revision]).toEqual(['2', 8]); // header is the current revision
    expect(sm.range(rangeReq('a', { revision: 7 })).count).toBe(1);
    expect(sm.range(rangeReq('a', { revision: 8 })).count).toBe(0);
    expect(sm.range(rangeReq('a', { revision: 1 })).count).toBe(0);
    expectCoordError(() => sm.range(rangeReq('a', { revision: 9 })), 'OUT_OF_RANGE', FUTURE);
    log.apply(compact(5));
    expectCoordError(() => sm.range(rangeReq('a', { revision: 4 })), 'OUT_OF_RANGE', COMPACTED);
    expect(keysOf(sm.range(rangeReq('a', { end: '\0', revision: 5 })).kvs)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('validates the request', () => {
    const { sm } = seeded();
    expectCoordError(() => sm.range(rangeReq('')), 'INVALID_ARGUMENT', 'etcdserver: key is not provided');
    expectCoordError(
      () => sm.range({ ...rangeReq('a'), sortOrder: 'SIDEWAYS' as never }),
      'INVALID_ARGUMENT',
      'etcdserver: invalid sort option',
    );
    expectCoordError(
      () => sm.range({ ...rangeReq('a'), sortTarget: 'SIZE' as never }),
      'INVALID_ARGUMENT',
      'etcdserver: invalid sort option',
    );
  });
});

describe('delete range', () => {
  it('deletes a key, a range and everything, in one revision each', () => {
    const { sm, log } = fresh();
    for (const k of ['a', 'b', 'c', 'd']) log.apply(put(k, k)); // 2..5
    expect(delRes(log.apply(del('zz')))).toEqual({ revision: 5, deleted: 0, prevKvs: [] }); // no bump
    const one = delRes(log.apply(del('a', '', true)));
    expect([one.revision, one.deleted, keysOf(one.prevKvs)]).toEqual([6, 1, ['a']]);
    const r = delRes(log.apply(del('b', 'd')));
    expect([r.revision, r.deleted, r.prevKvs]).toEqual([7, 2, []]);
    expect(keysOf(sm.range(rangeReq('\0', { end: '\0' })).kvs)).toEqual(['d']);
    const all = delRes(log.apply(del('\0', '\0', true)));
    expect([all.revision, all.deleted, s(all.prevKvs[0]!.value)]).toEqual([8, 1, 'd']);
  });

  it('rejects an empty key', () => {
    const { log } = fresh();
    const e = log.fail(del(''));
    expect([e.code, e.message]).toEqual(['INVALID_ARGUMENT', 'etcdserver: key is not provided']);
  });
});

describe('compaction', () => {
  it('rejects compacted and future revisions', () => {
    const { sm, log } = fresh();
    log.apply(put('a', '1')); // 2
    log.apply(put('a', '2')); // 3
    const future = log.fail(compact(4));
    expect([future.code, future.message]).toEqual(['OUT_OF_RANGE', FUTURE]);
    expect(log.apply(compact(3))).toEqual({ type: 'compact', res: { revision: 3 } });
    expect(sm.compactRevision).toBe(3);
    const again = log.fail(compact(3));
    expect([again.code, again.message]).toEqual(['OUT_OF_RANGE', COMPACTED]);
    expect(log.fail(compact(2)).message).toBe(COMPACTED);
  });

  it('keeps the latest version of each live key and drops deleted keys', () => {
    const { sm, log } = fresh();
    log.apply(put('a', '1')); // 2
    log.apply(put('b', '1')); // 3
    log.apply(put('a', '2')); // 4
    log.apply(del('b')); // 5
    log.apply(put('c', '1')); // 6
    log.apply(put('a', '3')); // 7
    log.apply(compact(6));
    const at6 = sm.range(rangeReq('\0', { end: '\0', revision: 6 }));
    expect(keysOf(at6.kvs)).toEqual(['a', 'c']);
    expect(s(at6.kvs[0]!.value)).toBe('2');
    expect(s(sm.range(rangeReq('a')).kvs[0]!.value)).toBe('3');
    expect(sm.range(rangeReq('a')).kvs[0]!.version).toBe(3); // versions survive compaction
    log.apply(put('b', 'again')); // 8: a new generation
    expect(sm.range(rangeReq('b')).kvs[0]!.createRevision).toBe(8);
    log.apply(compact(8));
    expect(keysOf(sm.range(rangeReq('\0', { end: '\0', revision: 8 })).kvs)).toEqual(['a', 'b', 'c']);
  });

  it('allows compacting the empty store at revision 1', () => {
    const { sm, log } = fresh();
    log.apply(compact(1));
    expect(sm.compactRevision).toBe(1);
    log.apply(put('a', '1'));
    expect(sm.range(rangeReq('a', { revision: 1 })).count).toBe(0);
  });
});

describe('apply bookkeeping', () => {
  it('requires increasing log indexes and records skipped entries', () => {
    const sm = new CoordStateMachine();
    sm.apply(put('a', '1'), 3);
    expect(() => sm.apply(put('a', '2'), 3)).toThrow(/log index/);
    sm.skip(5);
    expect(sm.appliedIndex).toBe(5);
    expect(() => sm.skip(4)).toThrow(/log index/);
  });
});
