// The state machine's read-only side: readTxn (a txn without a log entry), HashKV/Hash, and
// etcd's compaction mark (compacting at 0 is accepted once).
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CoordStateMachine, type TxnRequest } from '../../src/coord/index.js';
import { cmp, compact, del, expectCoordError, grant, Log, opDel, opPut, opRange, opTxn, put, rangeReq, txn } from './helpers.js';

function fresh(): { sm: CoordStateMachine; log: Log } {
  const sm = new CoordStateMachine();
  return { sm, log: new Log(sm) };
}

function filled(): { sm: CoordStateMachine; log: Log } {
  const f = fresh();
  f.log.apply(put('a', '1')); // 2
  f.log.apply(put('b', '2')); // 3
  f.log.apply(put('a', '3')); // 4
  f.log.apply(del('b')); // 5
  return f;
}

/** A version-2 snapshot rewritten as version 1 wrote it: no compaction mark after the compact revision. */
function asVersion1(snap: Buffer): Buffer {
  let pos = 8;
  const varint = () => {
    while (snap[pos++]! & 0x80);
  };
  for (let i = 0; i < 4; i++) varint(); // applied index, min TTL, revision, compact revision
  const markStart = pos;
  pos++; // sign byte
  varint();
  const body = Buffer.concat([Buffer.from('SHOALSM1', 'latin1'), snap.subarray(8, markStart), snap.subarray(pos, snap.length - 4)]);
  const trailer = Buffer.alloc(4);
  trailer.writeUInt32LE(crc32(body) >>> 0);
  return Buffer.concat([body, trailer]);
}

const readOnly = (req: Partial<TxnRequest>): TxnRequest => ({ compare: [], success: [], failure: [], ...req });

describe('readTxn', () => {
  it('answers exactly as applying the txn would, without taking a log index or a revision', () => {
    const cases: TxnRequest[] = [
      readOnly({ compare: [cmp('a', 'VALUE', 'EQUAL', '3')], success: [opRange('a'), opRange('\0', { end: '\0', revision: 3 })] }),
      readOnly({ compare: [cmp('b', 'VERSION', 'GREATER', 0)], success: [opRange('a')], failure: [opRange('b', { revision: 4 })] }),
      readOnly({ success: [opTxn({ compare: [cmp('a', 'MOD', 'LESS', 3)], failure: [opRange('a', { keysOnly: true })] })] }),
    ];
    for (const req of cases) {
      const viaLog = filled();
      const viaRead = filled();
      const applied = viaLog.log.apply({ type: 'txn', req });
      expect(viaRead.sm.readTxn(req)).toEqual(applied.res);
      expect([viaRead.sm.currentRevision, viaRead.sm.appliedIndex]).toEqual([5, 4]);
    }
  });

  it("raises the same errors as a logged txn (etcd's checks, read revisions)", () => {
    const { sm, log } = filled();
    expectCoordError(() => sm.readTxn(readOnly({ success: [opRange('a', { revision: 9 })] })), 'OUT_OF_RANGE', 'etcdserver: mvcc: required revision is a future revision');
    expectCoordError(() => sm.readTxn(readOnly({ success: [opRange('')] })), 'INVALID_ARGUMENT', 'etcdserver: key is not provided');
    log.apply(compact(4));
    expectCoordError(() => sm.readTxn(readOnly({ success: [opRange('a', { revision: 3 })] })), 'OUT_OF_RANGE', 'etcdserver: mvcc: required revision has been compacted');
  });

  it('refuses a txn that writes on either branch, nested ones included', () => {
    const { sm } = filled();
    expect(() => sm.readTxn(readOnly({ failure: [opPut('x', '1')] }))).toThrow(/writes/);
    expect(() => sm.readTxn(readOnly({ success: [opTxn({ failure: [opDel('a')] })] }))).toThrow(/writes/);
    expect(sm.range(rangeReq('a')).kvs).toHaveLength(1);
  });
});

describe('compaction mark', () => {
  it('accepts compacting at revision 0 once, like etcd (compactMainRev starts at -1)', () => {
    const { sm, log } = filled();
    expect(log.apply(compact(0))).toEqual({ type: 'compact', res: { revision: 5 } });
    expect(sm.range(rangeReq('a', { revision: 2 })).kvs).toHaveLength(1); // nothing compacted
    expect(log.fail(compact(0)).message).toBe('etcdserver: mvcc: required revision has been compacted');
    expect(log.fail(compact(-3)).message).toBe('etcdserver: mvcc: required revision has been compacted');
    log.apply(compact(3));
    expect(sm.compactRevision).toBe(3);
  });

  it('survives a snapshot, and an old (version 1) snapshot reads as never compacted', () => {
    const { sm, log } = filled();
    log.apply(compact(0));
    const restored = CoordStateMachine.restore(sm.snapshot());
    const restoredLog = new Log(restored);
    restoredLog.index = restored.appliedIndex;
    expect(restoredLog.fail(compact(0)).message).toBe('etcdserver: mvcc: required revision has been compacted');
    expect(restored.hashKv(0).compactRevision).toBe(0);
    expect(CoordStateMachine.restore(sm.snapshot()).snapshot()).toEqual(sm.snapshot());

    const never = filled().sm;
    expect(CoordStateMachine.restore(never.snapshot()).hashKv(0).compactRevision).toBe(-1);
    const v1 = CoordStateMachine.restore(asVersion1(never.snapshot()));
    expect(v1.hashKv(0)).toEqual(never.hashKv(0));
    expect(v1.snapshot()).toEqual(never.snapshot());
  });
});

describe('hashKv', () => {
  it('is stable across reads and later writes, and changes with the history it covers', () => {
    const { sm, log } = filled();
    const at5 = sm.hashKv(0);
    expect(at5).toMatchObject({ revision: 5, compactRevision: -1 });
    expect(sm.hashKv(5).hash).toBe(at5.hash);
    log.apply(put('c', '4')); // 6
    expect(sm.hashKv(5).hash).toBe(at5.hash);
    expect(sm.hashKv(0).hash).not.toBe(at5.hash);
    expect(sm.hashKv(0)).toMatchObject({ revision: 6 });
    expect(new Set([2, 3, 4, 5, 6].map((r) => sm.hashKv(r).hash)).size).toBe(5);
  });

  it('agrees between members that compacted at different revisions, from the later compaction on', () => {
    const early = filled();
    const late = filled();
    for (const f of [early, late]) {
      f.log.apply(put('c', '5')); // 6
      f.log.apply(put('a', '6')); // 7
    }
    early.log.apply(compact(3));
    early.log.apply(compact(6));
    late.log.apply(compact(6));
    // etcd's keep rule: history before the compaction counts only where a compaction at the
    // hashed revision would keep it, so what was dropped earlier does not matter.
    expect(early.sm.hashKv(7).hash).toBe(late.sm.hashKv(7).hash);
    expect(early.sm.hashKv(0).hash).toBe(late.sm.hashKv(0).hash);
    expect(early.sm.hash()).toBe(late.sm.hash());
  });

  it("answers etcd's errors for revisions at or below the compaction and in the future", () => {
    const { sm, log } = filled();
    expectCoordError(() => sm.hashKv(6), 'OUT_OF_RANGE', 'etcdserver: mvcc: required revision is a future revision');
    log.apply(compact(3));
    expectCoordError(() => sm.hashKv(3), 'OUT_OF_RANGE', 'etcdserver: mvcc: required revision has been compacted');
    expect(sm.hashKv(4)).toMatchObject({ compactRevision: 3, revision: 5 });
  });

  it('Hash covers every version held and the leases, and changes with any of them', () => {
    const { sm, log } = filled();
    const hashes = [sm.hash()];
    log.apply(grant(7, 10));
    hashes.push(sm.hash());
    log.apply(txn({ success: [opPut('z', '')] }));
    hashes.push(sm.hash());
    log.apply(compact(4));
    hashes.push(sm.hash());
    expect(new Set(hashes).size).toBe(4);
    expect(CoordStateMachine.restore(sm.snapshot()).hash()).toBe(sm.hash());
  });
});
