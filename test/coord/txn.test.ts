import { describe, expect, it } from 'vitest';
import { CoordStateMachine, MAX_TXN_OPS, type TxnResponse, type RequestOp } from '../../src/coord/index.js';
import { cmp, del, grant, keysOf, Log, opDel, opPut, opRange, opTxn, put, rangeReq, s, txn } from './helpers.js';

function fresh(): { sm: CoordStateMachine; log: Log } {
  const sm = new CoordStateMachine();
  return { sm, log: new Log(sm) };
}
const txnRes = (r: ReturnType<Log['apply']>): TxnResponse => {
  if (r.type !== 'txn') throw new Error(`expected txn, got ${r.type}`);
  return r.res;
};
const DUP = 'etcdserver: duplicate key given in txn request';

describe('txn compares', () => {
  it('compares value, version, create, mod and lease', () => {
    const { log } = fresh();
    log.apply(grant(9, 100));
    log.apply(put('k', 'm', { lease: 9 })); // 2
    log.apply(put('k', 'n', { lease: 9 })); // 3
    const check = (c: ReturnType<typeof cmp>): boolean => txnRes(log.apply(txn({ compare: [c] }))).succeeded;
    expect(check(cmp('k', 'VALUE', 'EQUAL', 'n'))).toBe(true);
    expect(check(cmp('k', 'VALUE', 'GREATER', 'm'))).toBe(true);
    expect(check(cmp('k', 'VALUE', 'LESS', 'n'))).toBe(false);
    expect(check(cmp('k', 'VALUE', 'NOT_EQUAL', 'n'))).toBe(false);
    expect(check(cmp('k', 'VERSION', 'EQUAL', 2))).toBe(true);
    expect(check(cmp('k', 'VERSION', 'GREATER', 2))).toBe(false);
    expect(check(cmp('k', 'CREATE', 'EQUAL', 2))).toBe(true);
    expect(check(cmp('k', 'MOD', 'EQUAL', 3))).toBe(true);
    expect(check(cmp('k', 'MOD', 'LESS', 4))).toBe(true);
    expect(check(cmp('k', 'LEASE', 'EQUAL', 9))).toBe(true);
    expect(check(cmp('k', 'LEASE', 'NOT_EQUAL', 9))).toBe(false);
  });

  it('treats a missing key as zero, except VALUE which always fails', () => {
    const { log } = fresh();
    const check = (c: ReturnType<typeof cmp>): boolean => txnRes(log.apply(txn({ compare: [c] }))).succeeded;
    expect(check(cmp('nope', 'VERSION', 'EQUAL', 0))).toBe(true);
    expect(check(cmp('nope', 'CREATE', 'EQUAL', 0))).toBe(true);
    expect(check(cmp('nope', 'MOD', 'LESS', 1))).toBe(true);
    expect(check(cmp('nope', 'LEASE', 'EQUAL', 0))).toBe(true);
    expect(check(cmp('nope', 'VALUE', 'EQUAL', ''))).toBe(false);
    expect(check(cmp('nope', 'VALUE', 'NOT_EQUAL', 'x'))).toBe(false);
  });

  it('requires every key in a compare range to pass', () => {
    const { log } = fresh();
    log.apply(put('a1', 'x'));
    log.apply(put('a2', 'x'));
    log.apply(put('b', 'y'));
    const check = (c: ReturnType<typeof cmp>): boolean => txnRes(log.apply(txn({ compare: [c] }))).succeeded;
    expect(check(cmp('a', 'VALUE', 'EQUAL', 'x', 'b'))).toBe(true);
    expect(check(cmp('a', 'VALUE', 'EQUAL', 'x', '\0'))).toBe(false); // b has y
    expect(check(cmp('a', 'VERSION', 'EQUAL', 1, '\0'))).toBe(true);
    expect(check(cmp('x', 'VERSION', 'EQUAL', 0, 'z'))).toBe(true); // empty range
    expect(check(cmp('x', 'VALUE', 'EQUAL', '', 'z'))).toBe(false);
  });

  it('reads an operand only from the oneof field that is set', () => {
    const { log } = fresh();
    log.apply(put('k', 'v'));
    const c = { ...cmp('k', 'VERSION', 'EQUAL', 1), targetUnion: 'modRevision' as const, modRevision: 1 };
    expect(txnRes(log.apply(txn({ compare: [c] }))).succeeded).toBe(false); // version 1 vs 0
  });

  it('requires every compare to pass; no compares means success', () => {
    const { log } = fresh();
    log.apply(put('k', 'v'));
    const r = txnRes(
      log.apply(txn({ compare: [cmp('k', 'VALUE', 'EQUAL', 'v'), cmp('k', 'VERSION', 'EQUAL', 5)], failure: [opRange('k')] })),
    );
    expect(r.succeeded).toBe(false);
    expect(r.responses[0]!.response).toBe('responseRange');
    expect(txnRes(log.apply(txn({}))).succeeded).toBe(true);
  });
});

describe('txn execution', () => {
  it('writes all ops in one revision and answers each op', () => {
    const { sm, log } = fresh();
    log.apply(put('old', 'o')); // 2
    const r = txnRes(
      log.apply(
        txn({
          compare: [cmp('old', 'VERSION', 'EQUAL', 1)],
          success: [opPut('x', '1'), opPut('old', 'p', { prevKv: true }), opDel('nothing'), opRange('\0', { end: '\0' })],
        }),
      ),
    );
    expect(r.succeeded).toBe(true);
    expect(r.revision).toBe(3);
    expect(sm.currentRevision).toBe(3);
    const [p1, p2, d, rg] = r.responses;
    expect(p1).toEqual({ response: 'responsePut', responsePut: { revision: 3, prevKv: null } });
    if (p2!.response !== 'responsePut' || d!.response !== 'responseDeleteRange' || rg!.response !== 'responseRange') {
      throw new Error('unexpected response kinds');
    }
    expect(s(p2.responsePut.prevKv!.value)).toBe('o');
    expect(d.responseDeleteRange.deleted).toBe(0);
    // Reads inside the txn see its earlier writes.
    expect(keysOf(rg.responseRange.kvs)).toEqual(['old', 'x']);
    expect(rg.responseRange.kvs.map((kv) => kv.modRevision)).toEqual([3, 3]);
    expect(rg.responseRange.revision).toBe(3);
    const x = sm.range(rangeReq('x')).kvs[0]!;
    expect([x.createRevision, x.modRevision, x.version]).toEqual([3, 3, 1]);
  });

  it("answers each op with its view's revision right after it ran, as etcd does", () => {
    const { log } = fresh();
    log.apply(put('a', '1')); // 2
    const r = txnRes(log.apply(txn({ success: [opRange('a'), opDel('none'), opPut('b', '2'), opDel('none2'), opRange('a', { revision: 1 })] })));
    expect(r.revision).toBe(3);
    const revisions = r.responses.map((op) => {
      if (op.response === 'responseRange') return op.responseRange.revision;
      if (op.response === 'responsePut') return op.responsePut.revision;
      if (op.response === 'responseDeleteRange') return op.responseDeleteRange.revision;
      return op.responseTxn.revision;
    });
    // Before the first write: the old revision; from the write on: the txn's.
    expect(revisions).toEqual([2, 2, 3, 3, 3]);
  });

  it('does not bump the revision for a read-only txn or a txn that changes nothing', () => {
    const { sm, log } = fresh();
    log.apply(put('a', '1'));
    expect(txnRes(log.apply(txn({ success: [opRange('a'), opRange('a', { revision: 1 })] }))).revision).toBe(2);
    expect(txnRes(log.apply(txn({ success: [opDel('zzz'), opTxn({ success: [opRange('a')] })] }))).revision).toBe(2);
    expect(sm.currentRevision).toBe(2);
  });

  it('runs nested txns, whose compares see the store before the outer txn', () => {
    const { sm, log } = fresh();
    log.apply(put('flag', 'off'));
    const r = txnRes(
      log.apply(
        txn({
          success: [
            opPut('flag', 'on'),
            opTxn({
              // Evaluated against the pre-txn store: flag is still "off".
              compare: [cmp('flag', 'VALUE', 'EQUAL', 'off')],
              success: [opPut('seen', 'off')],
              failure: [opPut('seen', 'on')],
            }),
            opTxn({ compare: [cmp('missing', 'VERSION', 'GREATER', 0)], failure: [opRange('flag')] }),
          ],
        }),
      ),
    );
    expect(s(sm.range(rangeReq('seen')).kvs[0]!.value)).toBe('off');
    const nested = r.responses[1]!;
    const nested2 = r.responses[2]!;
    if (nested.response !== 'responseTxn' || nested2.response !== 'responseTxn') throw new Error('expected nested txns');
    expect(nested.responseTxn.succeeded).toBe(true);
    // etcd fills only the outermost txn's revision; a nested txn's stays 0.
    expect(nested.responseTxn.revision).toBe(0);
    expect(r.revision).toBe(3);
    expect(nested2.responseTxn.succeeded).toBe(false);
    const inner = nested2.responseTxn.responses[0]!;
    if (inner.response !== 'responseRange') throw new Error('expected range');
    expect(s(inner.responseRange.kvs[0]!.value)).toBe('on'); // reads do see earlier writes
  });

  it('deletes with prevKv inside a txn and detaches leases', () => {
    const { sm, log } = fresh();
    log.apply(grant(3, 30));
    log.apply(put('a', '1', { lease: 3 }));
    log.apply(put('b', '2', { lease: 3 }));
    const r = txnRes(log.apply(txn({ success: [opDel('a', 'b', true)] })));
    const d = r.responses[0]!;
    if (d.response !== 'responseDeleteRange') throw new Error('expected delete');
    expect([d.responseDeleteRange.deleted, keysOf(d.responseDeleteRange.prevKvs)]).toEqual([1, ['a']]);
    expect(sm.leaseTimeToLive(3, true).keys.map(s)).toEqual(['b']);
  });
});

describe('txn validation', () => {
  it('limits operations to 128 per list, nested txns sharing the budget', () => {
    const { sm, log } = fresh();
    const puts = (n: number, prefix = 'k'): RequestOp[] => Array.from({ length: n }, (_, i) => opPut(`${prefix}${i}`, ''));
    const ok = txnRes(log.apply(txn({ success: puts(MAX_TXN_OPS) })));
    expect(ok.responses).toHaveLength(128);
    const e = log.fail(txn({ success: puts(129) }));
    expect([e.code, e.message]).toEqual(['INVALID_ARGUMENT', 'etcdserver: too many operations in txn request']);
    const e2 = log.fail(txn({ compare: Array.from({ length: 129 }, () => cmp('a', 'VERSION', 'EQUAL', 0)) }));
    expect(e2.message).toBe('etcdserver: too many operations in txn request');
    // 100 at the top leaves 28 for a nested txn.
    expect(log.fail(txn({ success: [...puts(99), opTxn({ success: puts(29, 'n') })] })).message).toBe(
      'etcdserver: too many operations in txn request',
    );
    log.apply(txn({ success: [...puts(99), opTxn({ success: puts(28, 'n') })] }));
    expect(sm.currentRevision).toBe(3);
  });

  it('rejects empty keys in compares and ops, and empty ops', () => {
    const { log } = fresh();
    expect(log.fail(txn({ compare: [cmp('', 'VERSION', 'EQUAL', 0)] })).message).toBe('etcdserver: key is not provided');
    expect(log.fail(txn({ failure: [opPut('', 'v')] })).message).toBe('etcdserver: key is not provided');
    expect(log.fail(txn({ success: [opDel('')] })).message).toBe('etcdserver: key is not provided');
    expect(log.fail(txn({ success: [opRange('')] })).message).toBe('etcdserver: key is not provided');
    expect(log.fail(txn({ success: [opTxn({ success: [opPut('', '')] })] })).message).toBe(
      'etcdserver: key is not provided',
    );
    const e = log.fail(txn({ success: [{} as RequestOp] }));
    expect([e.code, e.message]).toEqual(['INVALID_ARGUMENT', 'etcdserver: key not found']);
  });

  it('rejects duplicate keys like etcd', () => {
    const { sm, log } = fresh();
    expect(log.fail(txn({ success: [opPut('a', '1'), opPut('a', '2')] })).message).toBe(DUP);
    expect(log.fail(txn({ success: [opDel('a', 'c'), opPut('b', '1')] })).message).toBe(DUP);
    expect(log.fail(txn({ success: [opPut('a', '1'), opDel('a')] })).message).toBe(DUP);
    expect(log.fail(txn({ success: [opPut('a', '1'), opTxn({ success: [opPut('a', '2')] })] })).message).toBe(DUP);
    expect(log.fail(txn({ success: [opDel('a'), opTxn({ failure: [opPut('a', '2')] })] })).message).toBe(DUP);
    expect(log.fail(txn({ success: [opTxn({ success: [opDel('a')] }), opPut('a', '1')] })).message).toBe(DUP);
    expect(
      log.fail(txn({ success: [opTxn({ success: [opPut('a', '1')] }), opTxn({ failure: [opPut('a', '1')] })] })).message,
    ).toBe(DUP);
    expect(log.fail(txn({ failure: [opPut('a', '1'), opPut('a', '1')] })).message).toBe(DUP);
    expect(sm.currentRevision).toBe(1);

    // Allowed: the same key in both branches, in then/else of one nested txn, two overlapping deletes.
    log.apply(txn({ success: [opPut('a', '1')], failure: [opPut('a', '2')] }));
    log.apply(txn({ success: [opTxn({ success: [opPut('b', '1')], failure: [opPut('b', '2')] })] }));
    log.apply(txn({ success: [opDel('a', 'c'), opDel('b', 'd')] }));
    // etcd takes a delete's range_end literally: a "from key" delete does not conflict.
    log.apply(txn({ success: [opPut('q', '1'), opDel('p', '\0')] }));
    expect(sm.range(rangeReq('q')).count).toBe(0);
    // etcd does not check an earlier nested put against a later nested delete: both happen.
    log.apply(txn({ success: [opTxn({ success: [opPut('z', '1')] }), opTxn({ success: [opDel('z')] })] }));
    expect(sm.range(rangeReq('z')).count).toBe(0);
    expect(sm.range(rangeReq('z', { revision: sm.currentRevision - 1 })).count).toBe(0);
  });

  it('checks leases, ignore flags and read revisions on the chosen branch only, before writing', () => {
    const { sm, log } = fresh();
    log.apply(put('a', '1')); // 2
    const e = log.fail(txn({ success: [opPut('x', '1'), opPut('y', '1', { lease: 77 })] }));
    expect([e.code, e.message]).toEqual(['NOT_FOUND', 'etcdserver: requested lease not found']);
    expect(sm.range(rangeReq('x')).count).toBe(0);
    // The same op on the branch not taken is fine.
    log.apply(txn({ success: [opPut('x', '1')], failure: [opPut('y', '1', { lease: 77 })] }));
    expect(log.fail(txn({ success: [opPut('b', '', { ignoreValue: true })] })).message).toBe('etcdserver: key not found');
    const future = log.fail(txn({ success: [opPut('c', '1'), opRange('a', { revision: 4 })] }));
    expect([future.code, future.message]).toEqual(['OUT_OF_RANGE', 'etcdserver: mvcc: required revision is a future revision']);
    log.apply({ type: 'compact', req: { revision: 3, physical: true } });
    expect(log.fail(txn({ success: [opRange('a', { revision: 2 })] })).message).toBe(
      'etcdserver: mvcc: required revision has been compacted',
    );
    // Lease errors are reported before read-revision errors, as etcd checks puts first.
    expect(log.fail(txn({ success: [opRange('a', { revision: 2 }), opPut('y', '1', { lease: 77 })] })).message).toBe(
      'etcdserver: requested lease not found',
    );
    expect(sm.currentRevision).toBe(3);
    log.apply(del('a'));
    expect(sm.currentRevision).toBe(4);
  });
});

describe('validateCommand (before proposing)', () => {
  it('runs the stateless checks the state machine would run on apply', async () => {
    const { validateCommand } = await import('../../src/coord/index.js');
    const fail = (c: Parameters<typeof validateCommand>[0]): string => {
      try {
        validateCommand(c);
      } catch (e) {
        return (e as Error).message;
      }
      return 'ok';
    };
    expect(fail(put('', 'v'))).toBe('etcdserver: key is not provided');
    expect(fail(del(''))).toBe('etcdserver: key is not provided');
    expect(fail(txn({ success: [opPut('a', ''), opPut('a', '')] }))).toBe(DUP);
    expect(fail({ type: 'leaseGrant', req: { id: 0, ttl: 5 } })).toBe('etcdserver: requested lease not found');
    expect(fail({ type: 'leaseGrant', req: { id: 1, ttl: 9_000_000_001 } })).toBe('etcdserver: too large lease TTL');
    // Stateful conditions are the state machine's: these pass here.
    expect(fail(put('a', 'v', { lease: 99 }))).toBe('ok');
    expect(fail({ type: 'compact', req: { revision: 1e9, physical: false } })).toBe('ok');
    expect(fail({ type: 'leaseRevoke', req: { id: 5 } })).toBe('ok');
  });
});
