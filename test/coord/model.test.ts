// The state machine against a reference model: a Map per revision (the full history, copied on
// every write) and a plain lease map. Random commands include txns, deletes, past-revision
// ranges, compaction and leases, valid and invalid.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  type Command,
  type CommandResult,
  CoordError,
  CoordStateMachine,
  type KeyValue,
  type RangeResponse,
  type RequestOp,
} from '../../src/coord/index.js';
import { cmp, compact, del, grant, opDel, opPut, opRange, put, rangeReq, revoke, s, txn } from './helpers.js';

interface MKv {
  value: string;
  createRevision: number;
  modRevision: number;
  version: number;
  lease: number;
}
type State = Map<string, MKv>;

const KEYS = ['a', 'b', 'c', 'd', '\xff'];
const DUP = 'etcdserver: duplicate key given in txn request';

class Model {
  rev = 1;
  compactRev = 0;
  /** etcd's compactMainRev: -1 until the first compaction, so compacting at 0 succeeds once. */
  compactMain = -1;
  states: State[] = [new Map(), new Map()]; // states[r] = key space after revision r
  leases = new Map<number, Set<string>>();

  get current(): State {
    return this.states[this.rev]!;
  }

  read(span: [string, string | undefined], rev: number): [string, MKv][] {
    const st = this.states[rev]!;
    return [...st.entries()].filter(([k]) => inSpan(span, k)).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  }

  checkRev(rev: number): string | undefined {
    if (rev > this.rev) return 'etcdserver: mvcc: required revision is a future revision';
    if (rev > 0 && rev < this.compactRev) return 'etcdserver: mvcc: required revision has been compacted';
    return undefined;
  }

  commit(next: State): void {
    this.rev++;
    this.states[this.rev] = next;
  }
}

type Span = [string, string | undefined]; // end undefined: single key; '' : from key
function inSpan([start, end]: Span, k: string): boolean {
  if (end === undefined) return k === start;
  return k >= start && (end === '' || k < end);
}
const toEnd = (end: string | undefined): string => (end === undefined ? '' : end === '' ? '\0' : end);

// ---- generators -----------------------------------------------------------------------------

const key = fc.constantFrom(...KEYS);
const span: fc.Arbitrary<Span> = fc.oneof(
  key.map((k): Span => [k, undefined]),
  fc.tuple(key, key).map(([x, y]): Span => [x, y]),
  key.map((k): Span => [k, '']),
);
const leaseId = fc.constantFrom(0, 0, 1, 2, 3);

type Op =
  | { t: 'put'; k: string; v: string; lease: number }
  | { t: 'del'; span: Span }
  | { t: 'range'; span: Span };
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ t: fc.constant('put' as const), k: key, v: fc.string({ maxLength: 3 }), lease: leaseId }),
  fc.record({ t: fc.constant('del' as const), span }),
  fc.record({ t: fc.constant('range' as const), span }),
);

type Cmd =
  | Op
  | { t: 'txn'; cmpKey: string; cmpVersion: number; success: Op[]; failure: Op[] }
  | { t: 'compact'; back: number }
  | { t: 'grant'; id: number; ttl: number }
  | { t: 'revoke'; id: number }
  | { t: 'read'; span: Span; back: number; limit: number };
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { arbitrary: op.filter((o) => o.t !== 'range'), weight: 4 },
  {
    arbitrary: fc.record({
      t: fc.constant('txn' as const),
      cmpKey: key,
      cmpVersion: fc.nat(3),
      success: fc.array(op, { maxLength: 4 }),
      failure: fc.array(op, { maxLength: 3 }),
    }),
    weight: 3,
  },
  fc.record({ t: fc.constant('compact' as const), back: fc.integer({ min: -1, max: 8 }) }),
  fc.record({ t: fc.constant('grant' as const), id: fc.constantFrom(1, 2, 3), ttl: fc.integer({ min: 0, max: 10 }) }),
  fc.record({ t: fc.constant('revoke' as const), id: fc.constantFrom(1, 2, 3) }),
  {
    arbitrary: fc.record({ t: fc.constant('read' as const), span, back: fc.integer({ min: -1, max: 12 }), limit: fc.nat(3) }),
    weight: 3,
  },
);

function toRequestOp(o: Op): RequestOp {
  switch (o.t) {
    case 'put':
      return opPut(o.k, o.v, { lease: o.lease });
    case 'del':
      return opDel(o.span[0], toEnd(o.span[1]));
    case 'range':
      return opRange(o.span[0], { end: toEnd(o.span[1]) });
  }
}

function toCommand(c: Cmd, model: Model): Command | undefined {
  switch (c.t) {
    case 'put':
      return put(c.k, c.v, { lease: c.lease });
    case 'del':
      return del(c.span[0], toEnd(c.span[1]));
    case 'txn':
      return txn({
        compare: [cmp(c.cmpKey, 'VERSION', 'EQUAL', c.cmpVersion)],
        success: c.success.map(toRequestOp),
        failure: c.failure.map(toRequestOp),
      });
    case 'compact':
      return compact(model.rev - c.back);
    case 'grant':
      return grant(c.id, c.ttl);
    case 'revoke':
      return revoke(c.id);
    default:
      return undefined;
  }
}

// ---- the model's semantics ------------------------------------------------------------------

type Outcome = { error: string } | { ok: unknown };

function modelKv(k: string, m: MKv): unknown {
  return { key: k, value: m.value, createRevision: m.createRevision, modRevision: m.modRevision, version: m.version, lease: m.lease };
}
function realKv(kv: KeyValue): unknown {
  return {
    key: s(kv.key),
    value: s(kv.value),
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
    lease: kv.lease,
  };
}

/** Applies one op to a working copy; returns a comparable response. */
function modelOp(model: Model, work: State, o: Op, rev: number): unknown {
  switch (o.t) {
    case 'put': {
      const prev = work.get(o.k);
      if (prev && prev.lease !== 0) model.leases.get(prev.lease)!.delete(o.k);
      if (o.lease !== 0) model.leases.get(o.lease)!.add(o.k);
      work.set(o.k, {
        value: o.v,
        createRevision: prev ? prev.createRevision : rev,
        modRevision: rev,
        version: prev ? prev.version + 1 : 1,
        lease: o.lease,
      });
      return 'put';
    }
    case 'del': {
      let n = 0;
      for (const k of [...work.keys()]) {
        if (!inSpan(o.span, k)) continue;
        const prev = work.get(k)!;
        if (prev.lease !== 0) model.leases.get(prev.lease)!.delete(k);
        work.delete(k);
        n++;
      }
      return n;
    }
    case 'range':
      return [...work.entries()]
        .filter(([k]) => inSpan(o.span, k))
        .sort(([x], [y]) => (x < y ? -1 : 1))
        .map(([k, m]) => modelKv(k, m));
  }
}

function literalDelContains([start, end]: Span, k: string): boolean {
  // etcd's duplicate check takes range_end literally: "\0" (from key) contains nothing.
  if (end === undefined) return k === start;
  if (end === '') return false;
  return k >= start && k < end;
}

function modelApply(model: Model, c: Cmd): Outcome {
  const leaseMissing = (o: Op): boolean => o.t === 'put' && o.lease !== 0 && !model.leases.has(o.lease);
  switch (c.t) {
    case 'put':
    case 'del': {
      if (leaseMissing(c)) return { error: 'etcdserver: requested lease not found' };
      const work = new Map(model.current);
      const before = work.size;
      const res = modelOp(model, work, c, model.rev + 1);
      const changed = c.t === 'put' || before !== work.size;
      if (changed) model.commit(work);
      return { ok: [model.rev, res] };
    }
    case 'txn': {
      for (const branch of [c.success, c.failure]) {
        const puts = new Set<string>();
        const dels = branch.filter((o) => o.t === 'del').map((o) => (o as { span: Span }).span);
        for (const o of branch) {
          if (o.t !== 'put') continue;
          if (puts.has(o.k) || dels.some((d) => literalDelContains(d, o.k))) return { error: DUP };
          puts.add(o.k);
        }
      }
      const ok = (model.current.get(c.cmpKey)?.version ?? 0) === c.cmpVersion;
      const ops = ok ? c.success : c.failure;
      if (ops.some(leaseMissing)) return { error: 'etcdserver: requested lease not found' };
      const work = new Map(model.current);
      let writes = false;
      const responses: unknown[] = [];
      for (const o of ops) {
        const r = modelOp(model, work, o, model.rev + 1);
        if (o.t === 'put' || (o.t === 'del' && (r as number) > 0)) writes = true;
        responses.push(r);
      }
      if (writes) model.commit(work);
      return { ok: [model.rev, ok, responses] };
    }
    case 'compact': {
      const r = model.rev - c.back;
      if (r <= model.compactMain) return { error: 'etcdserver: mvcc: required revision has been compacted' };
      if (r > model.rev) return { error: 'etcdserver: mvcc: required revision is a future revision' };
      model.compactRev = r;
      model.compactMain = r;
      return { ok: model.rev };
    }
    case 'grant': {
      if (model.leases.has(c.id)) return { error: 'etcdserver: lease already exists' };
      model.leases.set(c.id, new Set());
      return { ok: [c.id, Math.max(2, c.ttl)] };
    }
    case 'revoke': {
      const keys = model.leases.get(c.id);
      if (keys === undefined) return { error: 'etcdserver: requested lease not found' };
      const work = new Map(model.current);
      for (const k of keys) work.delete(k);
      if (keys.size > 0) model.commit(work);
      model.leases.delete(c.id);
      return { ok: model.rev };
    }
    default:
      throw new Error('reads are not commands');
  }
}

function realOutcome(sm: CoordStateMachine, command: Command, index: number): Outcome {
  let r: CommandResult;
  try {
    r = sm.apply(command, index);
  } catch (e) {
    if (!(e instanceof CoordError)) throw e;
    return { error: e.message };
  }
  switch (r.type) {
    case 'put':
      return { ok: [r.res.revision, 'put'] };
    case 'deleteRange':
      return { ok: [r.res.revision, r.res.deleted] };
    case 'txn':
      return {
        ok: [
          r.res.revision,
          r.res.succeeded,
          r.res.responses.map((x) => {
            if (x.response === 'responsePut') return 'put';
            if (x.response === 'responseDeleteRange') return x.responseDeleteRange.deleted;
            if (x.response === 'responseRange') return x.responseRange.kvs.map(realKv);
            throw new Error('no nested txns here');
          }),
        ],
      };
    case 'compact':
      return { ok: r.res.revision };
    case 'leaseGrant':
      return { ok: [r.res.id, r.res.ttl] };
    case 'leaseRevoke':
      return { ok: r.res.revision };
  }
}

function checkRead(sm: CoordStateMachine, model: Model, c: Extract<Cmd, { t: 'read' }>): void {
  const revision = c.back < 0 ? 0 : Math.max(1, model.rev - c.back + 1);
  let real: RangeResponse | string;
  try {
    real = sm.range(rangeReq(c.span[0], { end: toEnd(c.span[1]), revision, limit: c.limit }));
  } catch (e) {
    real = (e as CoordError).message;
  }
  const err = model.checkRev(revision);
  if (err !== undefined) return void expect(real).toBe(err);
  const all = model.read(c.span, revision === 0 ? model.rev : revision);
  const kept = c.limit > 0 ? all.slice(0, c.limit) : all;
  expect(real).toEqual({
    revision: model.rev,
    kvs: expect.anything(),
    more: c.limit > 0 && all.length > c.limit,
    count: all.length,
  });
  expect((real as RangeResponse).kvs.map(realKv)).toEqual(kept.map(([k, m]) => modelKv(k, m)));
}

/** Runs commands against both; returns the machine and the model. */
function run(cmds: Cmd[], sm = new CoordStateMachine(), model = new Model(), firstIndex = 1): { sm: CoordStateMachine; model: Model } {
  let index = firstIndex;
  for (const c of cmds) {
    if (c.t === 'read') {
      checkRead(sm, model, c);
      continue;
    }
    const command = toCommand(c, model)!;
    const expected = modelApply(model, c);
    expect(realOutcome(sm, command, index++)).toEqual(expected);
    expect(sm.currentRevision).toBe(model.rev);
    expect(sm.compactRevision).toBe(model.compactRev);
  }
  return { sm, model };
}

/** Every readable revision and the lease table agree with the model. */
function checkAll(sm: CoordStateMachine, model: Model): void {
  for (let r = Math.max(1, model.compactRev); r <= model.rev; r++) {
    checkRead(sm, model, { t: 'read', span: ['\0', ''], back: model.rev - r + 1, limit: 0 });
  }
  expect(sm.leases().map((l) => l.id)).toEqual([...model.leases.keys()].sort());
  for (const [id, keys] of model.leases) expect(sm.leaseTimeToLive(id, true).keys.map(s)).toEqual([...keys].sort());
}

function cloneModel(m: Model): Model {
  const c = new Model();
  c.rev = m.rev;
  c.compactRev = m.compactRev;
  c.compactMain = m.compactMain;
  c.states = m.states.map((st) => new Map([...st].map(([k, v]) => [k, { ...v }])));
  c.leases = new Map([...m.leases].map(([id, keys]) => [id, new Set(keys)]));
  return c;
}

describe('state machine vs model', () => {
  it('agrees on every response, error and read', () => {
    fc.assert(
      fc.property(fc.array(cmd, { minLength: 10, maxLength: 60 }), (cmds) => {
        const { sm, model } = run(cmds);
        checkAll(sm, model);
      }),
      { numRuns: 400 },
    );
  });

  it('round-trips snapshots and stays identical to the original afterwards', () => {
    fc.assert(
      fc.property(fc.array(cmd, { minLength: 5, maxLength: 40 }), fc.array(cmd, { maxLength: 25 }), (head, tail) => {
        const { sm, model } = run(head);
        const snap = sm.snapshot();
        const restored = CoordStateMachine.restore(snap);
        expect(restored.snapshot().equals(snap)).toBe(true);
        expect([restored.currentRevision, restored.compactRevision, restored.appliedIndex]).toEqual([
          sm.currentRevision,
          sm.compactRevision,
          sm.appliedIndex,
        ]);
        for (let r = Math.max(2, sm.compactRevision); r <= sm.currentRevision; r++) {
          expect(restored.eventsAt(r)).toEqual(sm.eventsAt(r));
        }
        checkAll(restored, model);
        // Both continue identically: same responses (checked against the model) and same bytes.
        const modelCopy = cloneModel(model);
        run(tail, sm, model, sm.appliedIndex + 1);
        run(tail, restored, modelCopy, restored.appliedIndex + 1);
        expect(restored.snapshot().equals(sm.snapshot())).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

describe('determinism', () => {
  it('gives byte-identical snapshots for the same commands', () => {
    fc.assert(
      fc.property(fc.array(cmd, { maxLength: 40 }), (cmds) => {
        const a = run(cmds).sm.snapshot();
        const b = run(cmds).sm.snapshot();
        expect(a.equals(b)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('rejects corrupt snapshots', () => {
    const sm = new CoordStateMachine();
    sm.apply(put('a', '1'), 1);
    const snap = sm.snapshot();
    const flipped = Buffer.from(snap);
    flipped[12] = flipped[12]! ^ 0xff;
    expect(() => CoordStateMachine.restore(flipped)).toThrow(/checksum/);
    expect(() => CoordStateMachine.restore(snap.subarray(0, 6))).toThrow(/not a Shoal/);
    expect(CoordStateMachine.restore(snap).range(rangeReq('a')).kvs[0]!.value.toString()).toBe('1');
  });

  it('restores leases with their keys and the minimum TTL', () => {
    const sm = new CoordStateMachine({ minLeaseTtl: 7 });
    sm.apply(grant(4, 1), 1);
    sm.apply(put('x', '1', { lease: 4 }), 2);
    const restored = CoordStateMachine.restore(sm.snapshot());
    expect(restored.minLeaseTtl).toBe(7);
    expect(restored.leaseTimeToLive(4, true)).toEqual({ revision: 2, id: 4, ttl: 7, grantedTtl: 7, keys: [Buffer.from('x')] });
    restored.apply(revoke(4), 3);
    expect(restored.range(rangeReq('x')).count).toBe(0);
  });
});
