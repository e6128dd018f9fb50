import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { recordKey, type InstanceRecord, type ViewChange } from '../../src/discovery/index.js';
import { encodeRecord } from '../../src/discovery/record.js';
import { ViewState, type StoreEntry, type StoreEvent } from '../../src/discovery/view-state.js';
import { del, nextRevision, put, putRecord, record, witnessPath } from './helpers.js';

function newState(): { state: ViewState; warnings: Array<{ message: string; fields: Record<string, unknown> }> } {
  const warnings: Array<{ message: string; fields: Record<string, unknown> }> = [];
  return { state: new ViewState((message, fields) => warnings.push({ message, fields })), warnings };
}

const summary = (changes: ViewChange[]): string[] =>
  changes.map((c) => `${c.type}:${c.instance.id}${c.type === 'down' ? `:${c.reason}` : ''}`);

describe('ViewState', () => {
  it('tells deregistered, lease-expired and deleted apart by the lease witness, whatever the key order in a revision', () => {
    const { state } = newState();
    const [a, b, c] = [record({ id: 'a' }), record({ id: 'b' }), record({ id: 'c' })];
    const up = state.applyEvents([a, b, c].flatMap((r) => [putRecord(r), put(witnessPath(r), 'live')]));
    expect(summary(up)).toEqual(['up:a', 'up:b', 'up:c']);

    // Owner's deregistration: one txn marks the witness and deletes the record (record key first here).
    const r1 = nextRevision();
    expect(summary(state.applyEvents([del(recordKey(a), r1), put(witnessPath(a), 'deregistered', '7', r1)]))).toEqual(['down:a:deregistered']);
    // Lease expiry: record and witness go in one revision (witness first here).
    const r2 = nextRevision();
    expect(summary(state.applyEvents([del(witnessPath(b), r2), del(recordKey(b), r2)]))).toEqual(['down:b:lease-expired']);
    // Someone else's DeleteRange of the record alone.
    expect(summary(state.applyEvents([del(recordKey(c))]))).toEqual(['down:c:deleted']);
    // The revoke after a deregistration deletes the witness; nothing is left to report.
    expect(state.applyEvents([del(witnessPath(a))])).toEqual([]);
    expect(state.all()).toEqual([]);
  });

  it('offers only ready, not-ejected instances, sorted by id, as arrays that stay the same until a change', () => {
    const { state } = newState();
    const z = record({ id: 'z', events: ['order.confirmed'] });
    const y = record({ id: 'y', version: '2.0.0', events: ['order.confirmed', 'order.confirmed'] });
    const x = record({ id: 'x', ready: false, events: ['order.confirmed'] });
    const u = record({ id: 'u', service: 'users' });
    state.applyEvents([putRecord(z), putRecord(y), putRecord(x), putRecord(u)]);
    const goods = state.instances('goods');
    expect(goods.map((r) => r.id)).toEqual(['y', 'z']);
    expect(state.instances('goods', '2.0.0').map((r) => r.id)).toEqual(['y']);
    expect(state.instances('goods', '9.9.9')).toEqual([]);
    expect(state.instances('nope')).toEqual([]);
    expect(state.subscribers('order.confirmed').map((r) => r.id)).toEqual(['y', 'z']);
    expect(state.all().map((r) => r.id)).toEqual(['u', 'x', 'y', 'z']);
    expect(state.get('x')?.ready).toBe(false);
    // Reads allocate nothing: the very same frozen array each time.
    expect(state.instances('goods')).toBe(goods);
    expect(Object.isFrozen(goods)).toBe(true);
    expect(Object.isFrozen(goods[0])).toBe(true);
    // An identical rewrite (a lease moved, a repeated write) is no change.
    expect(state.applyEvents([putRecord(z)])).toEqual([]);
    expect(state.instances('goods')).toBe(goods);
    // Readiness flips are 'updated' and gate instances().
    expect(summary(state.applyEvents([putRecord({ ...x, ready: true })]))).toEqual(['updated:x']);
    expect(state.instances('goods').map((r) => r.id)).toEqual(['x', 'y', 'z']);
    expect(state.instances('goods')).not.toBe(goods);
    expect(goods.map((r) => r.id)).toEqual(['y', 'z']); // what a reader already holds does not change under it
    expect(summary(state.applyEvents([putRecord({ ...z, ready: false })]))).toEqual(['updated:z']);
    expect(state.instances('goods').map((r) => r.id)).toEqual(['x', 'y']);
    expect(state.subscribers('order.confirmed').map((r) => r.id)).toEqual(['x', 'y']);
  });

  it('skips and reports malformed values and records under a foreign key; a record turned malformed goes down', () => {
    const { state, warnings } = newState();
    const good = record({ id: 'good' });
    const changes = state.applyEvents([
      put('/shoal/services/goods/1.0.0/bad', '{not json'),
      put('/shoal/services/goods/1.0.0/wrong', encodeRecord(record({ id: 'other' }))),
      put('/shoal/services/goods/1.0.0/typed', JSON.stringify({ ...record({ id: 'typed' }), pid: 'many' })),
      put('/shoal/services/goods/extra/segments/here', encodeRecord(good)),
      put('/shoal/servicesX', 'ignored'),
      putRecord(good),
    ]);
    expect(summary(changes)).toEqual(['up:good']);
    expect(warnings.map((w) => w.fields['key'])).toEqual([
      '/shoal/services/goods/1.0.0/bad', '/shoal/services/goods/1.0.0/wrong', '/shoal/services/goods/1.0.0/typed',
    ]);
    expect(String(warnings[2]!.fields['error'])).toMatch(/pid/);
    expect(summary(state.applyEvents([put(recordKey(good), '[]')]))).toEqual(['down:good:deleted']);
    expect(state.all()).toEqual([]);
  });

  it('re-lists as a diff, and ignores watch events the listing already holds', () => {
    const { state } = newState();
    const [a, b, c] = [record({ id: 'a' }), record({ id: 'b' }), record({ id: 'c' })];
    state.applyEvents([a, b, c].flatMap((r) => [putRecord(r), put(witnessPath(r), 'live')]));
    const at = nextRevision();
    const entry = (key: string, value: string): StoreEntry => ({ key, value, lease: '9', modRevision: at });
    const d = record({ id: 'd' });
    const changes = state.reload([
      entry(recordKey(b), encodeRecord({ ...b, ready: false })),
      entry(recordKey(d), encodeRecord(d)),
      entry(witnessPath(a), 'deregistered'),
    ], at);
    expect(summary(changes).sort()).toEqual(['down:a:deregistered', 'down:c:deleted', 'up:d', 'updated:b'].sort());
    expect(state.revision).toBe(at);
    // A watch from the listing's revision + 1 may repeat nothing; older events are dropped.
    expect(state.applyEvents([del(recordKey(d), at)])).toEqual([]);
    expect(state.get('d')).toBeDefined();
  });

  it('ejects until a time and restores when that time has come', () => {
    const { state } = newState();
    state.applyEvents([putRecord(record({ id: 'a' })), putRecord(record({ id: 'b' }))]);
    expect(state.eject('a', 2_000, 1_000)).toBe(true);
    expect(state.instances('goods').map((r) => r.id)).toEqual(['b']);
    expect(state.all().map((r) => r.id)).toEqual(['a', 'b']);
    expect(state.eject('a', 1_500, 1_000)).toBe(false); // still out, now until 1 500
    expect(state.nextEjectionEnd()).toBe(1_500);
    expect(state.expireEjections(1_499)).toEqual([]);
    expect(state.expireEjections(1_500)).toEqual(['a']);
    expect(state.instances('goods').map((r) => r.id)).toEqual(['a', 'b']);
    expect(state.eject('b', 5_000, 1_000)).toBe(true);
    expect(state.eject('b', 0, 1_000)).toBe(true); // a time in the past lifts it
    expect(state.instances('goods').map((r) => r.id)).toEqual(['a', 'b']);
    expect(() => state.eject('a', Number.NaN, 0)).toThrow(TypeError);
  });

  it('a view fed by watch events equals a fresh listing of the same store (property)', () => {
    const ids = ['a', 'b', 'c', 'd'];
    const op = fc.oneof(
      fc.record({ kind: fc.constant('put' as const), id: fc.constantFrom(...ids), ready: fc.boolean(), weight: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ kind: fc.constant('garbage' as const), id: fc.constantFrom(...ids) }),
      fc.record({ kind: fc.constant('delete' as const), id: fc.constantFrom(...ids) }),
    );
    fc.assert(fc.property(fc.array(fc.array(op, { minLength: 1, maxLength: 3 }), { maxLength: 25 }), (txns) => {
      const { state: watched } = newState();
      const store = new Map<string, string>();
      let revision = 0n;
      for (const txn of txns) {
        revision++;
        const events: StoreEvent[] = [];
        for (const o of txn) {
          const key = recordKey(record({ id: o.id }));
          if (o.kind === 'delete') {
            if (!store.delete(key)) continue;
            events.push({ type: 'delete', key, value: '', lease: '0', modRevision: revision });
          } else {
            const value = o.kind === 'garbage' ? 'garbage' : encodeRecord(record({ id: o.id, ready: o.ready, weight: o.weight }));
            store.set(key, value);
            events.push({ type: 'put', key, value, lease: '1', modRevision: revision });
          }
        }
        watched.applyEvents(events);
      }
      const { state: listed } = newState();
      listed.reload([...store].map(([key, value]) => ({ key, value, lease: '1', modRevision: revision })), revision);
      expect(watched.all()).toEqual(listed.all());
      expect(watched.instances('goods')).toEqual(listed.instances('goods'));
      const ready = (r: InstanceRecord): boolean => r.ready;
      expect(watched.instances('goods')).toEqual(listed.all().filter(ready));
    }), { numRuns: 300 });
  });
});
