import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  CoordStateMachine,
  type WatchEvent,
  WatchHub,
  type WatchMessage,
  type WatchRequest,
} from '../../src/coord/index.js';
import { b, compact, del, Log, opDel, opPut, put, s, txn } from './helpers.js';

function setup(options?: ConstructorParameters<typeof WatchHub>[1]): { sm: CoordStateMachine; log: Log; hub: WatchHub } {
  const sm = new CoordStateMachine();
  const hub = new WatchHub(sm, options);
  sm.onRevision((r) => hub.notify(r));
  return { sm, log: new Log(sm), hub };
}

/** A sink that records messages and can be told to refuse event batches. */
class Recorder {
  messages: WatchMessage[] = [];
  refuse = false;
  sink = (m: WatchMessage): boolean => {
    if (m.kind === 'events' && this.refuse) return false;
    this.messages.push(m);
    return true;
  };
  kinds(): string[] {
    return this.messages.map((m) => m.kind);
  }
  events(): WatchEvent[] {
    return this.messages.flatMap((m) => (m.kind === 'events' ? m.events : []));
  }
  /** [type, key, modRevision] of every delivered event. */
  trace(): [string, string, number][] {
    return this.events().map((e) => [e.type, s(e.kv.key), e.kv.modRevision]);
  }
}

const watchReq = (key: string, more: Partial<WatchRequest> & { end?: string } = {}): WatchRequest => {
  const { end, ...rest } = more;
  return { key: b(key), rangeEnd: b(end ?? ''), ...rest };
};

describe('watch hub: live events', () => {
  it('sends created, then each revision of matching events in one message', () => {
    const { log, hub } = setup();
    log.apply(put('x', '0')); // 2
    const r = new Recorder();
    const id = hub.watch(watchReq('a', { end: 'c' }), r.sink);
    expect(r.messages[0]).toEqual({ kind: 'created', watchId: id, revision: 2 });
    log.apply(put('a', '1')); // 3
    log.apply(put('z', '1')); // 4: out of range
    log.apply(txn({ success: [opPut('b', '1'), opPut('c', '1'), opDel('a')] })); // 5
    expect(r.kinds()).toEqual(['created', 'events', 'events']);
    const last = r.messages[2]!;
    if (last.kind !== 'events') throw new Error('expected events');
    expect(last.revision).toBe(5);
    expect(r.trace()).toEqual([
      ['PUT', 'a', 3],
      ['PUT', 'b', 5],
      ['DELETE', 'a', 5],
    ]);
    const delKv = r.events()[2]!.kv;
    expect([delKv.createRevision, delKv.version, delKv.value.length]).toEqual([0, 0, 0]);
  });

  it('watches a single key, from-key ranges and every key', () => {
    const { log, hub } = setup();
    const one = new Recorder();
    const from = new Recorder();
    const all = new Recorder();
    hub.watch(watchReq('k'), one.sink);
    hub.watch(watchReq('k', { end: '\0' }), from.sink);
    hub.watch(watchReq('\0', { end: '\0' }), all.sink);
    for (const k of ['a', 'k', 'ka', 'z']) log.apply(put(k, '1'));
    expect(one.trace().map((t) => t[1])).toEqual(['k']);
    expect(from.trace().map((t) => t[1])).toEqual(['k', 'ka', 'z']);
    expect(all.trace().map((t) => t[1])).toEqual(['a', 'k', 'ka', 'z']);
  });

  it('includes prevKv only when asked', () => {
    const { log, hub } = setup();
    const withPrev = new Recorder();
    const without = new Recorder();
    hub.watch(watchReq('k', { prevKv: true }), withPrev.sink);
    hub.watch(watchReq('k'), without.sink);
    log.apply(put('k', 'v1'));
    log.apply(put('k', 'v2'));
    log.apply(del('k'));
    expect(withPrev.events().map((e) => (e.prevKv ? s(e.prevKv.value) : null))).toEqual([null, 'v1', 'v2']);
    expect(without.events().map((e) => e.prevKv)).toEqual([null, null, null]);
  });

  it('applies NOPUT and NODELETE filters', () => {
    const { log, hub } = setup();
    const noPut = new Recorder();
    const noDel = new Recorder();
    hub.watch(watchReq('k', { filters: ['NOPUT'] }), noPut.sink);
    hub.watch(watchReq('k', { filters: ['NODELETE'] }), noDel.sink);
    log.apply(put('k', '1'));
    log.apply(del('k'));
    expect(noPut.trace()).toEqual([['DELETE', 'k', 3]]);
    expect(noDel.trace()).toEqual([['PUT', 'k', 2]]);
    expect(noPut.kinds()).toEqual(['created', 'events']); // filtered revisions send nothing
  });

  it('waits for a future start revision', () => {
    const { log, hub } = setup();
    const r = new Recorder();
    hub.watch(watchReq('k', { startRevision: 4 }), r.sink);
    for (let i = 0; i < 4; i++) log.apply(put('k', String(i))); // 2..5
    expect(r.trace().map((t) => t[2])).toEqual([4, 5]);
  });

  it('stops after cancel, with a canceled message', () => {
    const { log, hub } = setup();
    const r = new Recorder();
    const id = hub.watch(watchReq('k'), r.sink);
    log.apply(put('k', '1'));
    expect(hub.cancel(id)).toBe(true);
    expect(hub.cancel(id)).toBe(false);
    log.apply(put('k', '2'));
    expect(r.kinds()).toEqual(['created', 'events', 'canceled']);
    expect(r.messages[2]).toEqual({ kind: 'canceled', watchId: id, revision: 2, compactRevision: 0, reason: '' });
    expect(hub.size).toBe(0);
  });

  it('drops a watch whose sink throws and reports it', () => {
    const errors: number[] = [];
    const { log, hub } = setup({ onSinkError: (id) => errors.push(id) });
    const good = new Recorder();
    const bad = hub.watch(watchReq('k'), (m) => {
      if (m.kind === 'events') throw new Error('stream gone');
      return true;
    });
    hub.watch(watchReq('k'), good.sink);
    log.apply(put('k', '1'));
    log.apply(put('k', '2'));
    expect(errors).toEqual([bad]);
    expect(good.trace().length).toBe(2);
    expect(hub.size).toBe(1);
  });
});

describe('watch hub: history', () => {
  it('replays from a past revision, then continues live without gaps', () => {
    const { log, hub } = setup();
    log.apply(put('k', '1')); // 2
    log.apply(put('other', '1')); // 3
    log.apply(put('k', '2')); // 4
    log.apply(del('k')); // 5
    const r = new Recorder();
    hub.watch(watchReq('k', { startRevision: 3, prevKv: true }), r.sink);
    expect(hub.isSynced(1)).toBe(true);
    log.apply(put('k', '3')); // 6
    expect(r.trace()).toEqual([
      ['PUT', 'k', 4],
      ['DELETE', 'k', 5],
      ['PUT', 'k', 6],
    ]);
    expect(r.events()[1]!.prevKv!.modRevision).toBe(4);
  });

  it('creates then cancels a watch whose start revision is compacted', () => {
    const { log, hub } = setup();
    for (let i = 0; i < 5; i++) log.apply(put('k', String(i))); // 2..6
    log.apply(compact(4));
    const r = new Recorder();
    const id = hub.watch(watchReq('k', { startRevision: 3 }), r.sink);
    expect(r.messages).toEqual([
      { kind: 'created', watchId: id, revision: 6 },
      { kind: 'canceled', watchId: id, revision: 6, compactRevision: 4, reason: '' },
    ]);
    expect(hub.size).toBe(0);
  });

  it('replays from the compact revision itself, including a delete there', () => {
    const { log, hub } = setup();
    log.apply(put('k', '1')); // 2
    log.apply(put('j', '1')); // 3
    log.apply(del('k')); // 4
    log.apply(compact(4));
    const r = new Recorder();
    hub.watch(watchReq('\0', { end: '\0', startRevision: 4, prevKv: true }), r.sink);
    expect(r.trace()).toEqual([['DELETE', 'k', 4]]);
    expect(s(r.events()[0]!.prevKv!.value)).toBe('1');
  });

  it('replays in bounded passes, batching revisions without splitting one', () => {
    const { log, hub } = setup({ catchUpRevisions: 5, batchRevisions: 2 });
    for (let i = 0; i < 12; i++) log.apply(txn({ success: [opPut(`a${i}`, ''), opPut(`b${i}`, '')] })); // 2..13
    const r = new Recorder();
    hub.watch(watchReq('\0', { end: '\0', startRevision: 2 }), r.sink);
    expect(hub.unsyncedCount).toBe(1);
    expect(r.trace().map((t) => t[2])).toEqual([2, 2, 3, 3, 4, 4, 5, 5, 6, 6]);
    expect(r.messages.filter((m) => m.kind === 'events').map((m) => m.revision)).toEqual([3, 5, 6]);
    expect(hub.catchUp()).toBe(1);
    expect(hub.catchUp()).toBe(0);
    log.apply(put('c', '')); // 14: live
    expect(r.trace().map((t) => t[2])).toEqual([2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14]);
  });
});

describe('watch hub: backpressure', () => {
  it('falls behind when the sink refuses and catches up from history', () => {
    const { log, hub } = setup();
    const r = new Recorder();
    const id = hub.watch(watchReq('k', { end: '\0' }), r.sink);
    log.apply(put('k1', 'a')); // 2
    r.refuse = true;
    log.apply(put('k2', 'b')); // 3 refused
    expect(hub.isSynced(id)).toBe(false);
    log.apply(put('k3', 'c')); // 4 not offered
    expect(hub.catchUp()).toBe(1); // still refusing
    r.refuse = false;
    expect(hub.catchUp()).toBe(0);
    log.apply(put('k4', 'd')); // 5
    expect(r.trace().map((t) => t[2])).toEqual([2, 3, 4, 5]);
  });

  it('cancels a lagging watch when compaction passes it', () => {
    const { log, hub } = setup();
    const r = new Recorder();
    const id = hub.watch(watchReq('k'), r.sink);
    r.refuse = true;
    log.apply(put('k', '1')); // 2 refused
    log.apply(put('k', '2')); // 3
    log.apply(compact(3));
    r.refuse = false;
    hub.catchUp();
    expect(r.messages.at(-1)).toEqual({ kind: 'canceled', watchId: id, revision: 3, compactRevision: 3, reason: '' });
    expect(hub.size).toBe(0);
  });

  it('never loses or repeats events under random refusals, catch-ups and compactions', () => {
    const op = fc.oneof(
      fc.record({ t: fc.constant('put' as const), k: fc.constantFrom('a', 'b', 'c', 'd'), v: fc.string({ maxLength: 2 }) }),
      fc.record({ t: fc.constant('del' as const), k: fc.constantFrom('a', 'b', 'c'), end: fc.constantFrom('', 'c', '\0') }),
      fc.record({ t: fc.constant('txn' as const), k: fc.constantFrom('a', 'b') }),
      { arbitrary: fc.record({ t: fc.constant('refuse' as const), on: fc.boolean() }), weight: 2 },
      fc.record({ t: fc.constant('catchUp' as const) }),
      { arbitrary: fc.record({ t: fc.constant('compact' as const), back: fc.nat(4) }), weight: 2 },
      fc.record({ t: fc.constant('progress' as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 10, maxLength: 80 }), fc.nat(3), fc.boolean(), (ops, startBack, prevKv) => {
        const { sm, log, hub } = setup({ catchUpRevisions: 3, batchRevisions: 2 });
        const all: WatchEvent[] = [];
        sm.onRevision((rec) => all.push(...rec.events));
        log.apply(put('a', 'seed'));
        log.apply(put('b', 'seed'));
        const r = new Recorder();
        const startRevision = Math.max(0, sm.currentRevision - startBack);
        const from = startRevision === 0 ? sm.currentRevision + 1 : startRevision;
        const id = hub.watch(watchReq('a', { end: 'c', startRevision, prevKv }), r.sink);
        const progressAt: [number, number][] = []; // [progress revision, events delivered by then]
        for (const o of ops) {
          switch (o.t) {
            case 'put':
              log.apply(put(o.k, o.v));
              break;
            case 'del':
              log.apply(del(o.k, o.end));
              break;
            case 'txn':
              log.apply(txn({ success: [opPut(o.k, 'x'), opPut('d', 'y')] }));
              break;
            case 'refuse':
              r.refuse = o.on;
              break;
            case 'catchUp':
              hub.catchUp();
              break;
            case 'compact': {
              const rev = sm.currentRevision - o.back;
              if (rev > sm.compactRevision) log.apply(compact(rev));
              break;
            }
            case 'progress':
              if (hub.progress([id]) === 1) {
                const m = r.messages.at(-1)!;
                progressAt.push([m.revision, r.events().length]);
              }
              break;
          }
        }
        r.refuse = false;
        for (let i = 0; i < 100 && hub.catchUp() > 0; i++);
        // Expected: every event in [a, c) from the start revision on (all revisions are in `all`).
        const expected = all
          .filter((e) => e.kv.modRevision >= from && s(e.kv.key) >= 'a' && s(e.kv.key) < 'c')
          .map((e): [string, string, number] => [e.type, s(e.kv.key), e.kv.modRevision]);
        const got = r.trace();
        const canceled = r.messages.find((m) => m.kind === 'canceled');
        if (canceled === undefined) {
          expect(got).toEqual(expected);
          expect(hub.isSynced(id)).toBe(true);
        } else {
          // Cancelled for compaction: what arrived is an exact prefix, ending before the compact revision.
          expect(canceled.kind === 'canceled' && canceled.compactRevision).toBeGreaterThan(0);
          expect(got).toEqual(expected.slice(0, got.length));
          expect(r.messages.at(-1)).toBe(canceled);
        }
        // Each message holds whole revisions, after those of the previous message.
        let lastRev = 0;
        for (const m of r.messages) {
          if (m.kind !== 'events') continue;
          expect(m.events[0]!.kv.modRevision).toBeGreaterThan(lastRev);
          lastRev = m.events.at(-1)!.kv.modRevision;
          expect(m.revision).toBeGreaterThanOrEqual(lastRev);
        }
        // A progress notification at P means exactly the events up to P had been delivered.
        for (const [rev, delivered] of progressAt) {
          expect(expected.filter((e) => e[2] <= rev).length).toBe(delivered);
        }
        if (!prevKv) expect(r.events().every((e) => e.prevKv === null)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

describe('watch hub: progress and restore', () => {
  it('notifies synced watches only, skipping ones that just got events', () => {
    const { log, hub } = setup();
    const quiet = new Recorder();
    const busy = new Recorder();
    const lagging = new Recorder();
    const plain = new Recorder();
    hub.watch(watchReq('q', { progressNotify: true }), quiet.sink);
    hub.watch(watchReq('b', { progressNotify: true }), busy.sink);
    const lagId = hub.watch(watchReq('b', { progressNotify: true }), lagging.sink);
    const plainId = hub.watch(watchReq('p'), plain.sink);
    lagging.refuse = true;
    log.apply(put('b', '1')); // 2
    expect(hub.progress()).toBe(1); // quiet only: busy had events, lagging is unsynced
    expect(quiet.messages.at(-1)).toEqual({ kind: 'progress', watchId: 1, revision: 2 });
    expect(hub.progress()).toBe(2); // now busy too
    expect(lagging.kinds()).toEqual(['created']);
    expect(plain.kinds()).toEqual(['created']);
    expect(hub.progress([plainId, lagId, 999])).toBe(1); // explicit request: synced ones only
    expect(plain.messages.at(-1)).toEqual({ kind: 'progress', watchId: plainId, revision: 2 });
  });

  it('rebinds to a restored state machine and resumes each watch where it was', () => {
    const { sm, log, hub } = setup();
    const r = new Recorder();
    hub.watch(watchReq('k', { end: '\0' }), r.sink);
    log.apply(put('k1', '1')); // 2
    // A follower's state machine that is ahead (as if a snapshot arrived from the leader).
    const ahead = CoordStateMachine.restore(sm.snapshot());
    const aheadLog = new Log(ahead);
    aheadLog.index = log.index;
    aheadLog.apply(put('k2', '2')); // 3
    aheadLog.apply(put('k3', '3')); // 4
    hub.rebind(CoordStateMachine.restore(ahead.snapshot()));
    expect(r.trace().map((t) => t[2])).toEqual([2, 3, 4]);
    const gone = CoordStateMachine.restore(ahead.snapshot());
    gone.apply(put('k4', '4'), 100); // 5
    gone.apply(compact(5), 101);
    const r2 = new Recorder();
    hub.watch(watchReq('zz'), r2.sink);
    hub.rebind(gone);
    expect(r.messages.at(-1)).toMatchObject({ kind: 'events', revision: 5 }); // resumed at 5 == compactRev
    expect(r2.kinds()).toEqual(['created']);
  });
});
