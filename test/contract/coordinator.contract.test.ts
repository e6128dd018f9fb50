// The coordinator contract: etcd v3 API behaviour through the etcd3 client (and raw gRPC where the
// client hides codes or stream responses), checked value by value against what etcd 3.4 returns.
// The same suite runs against real etcd and Shoal's coordinator (SHOAL_CONTRACT_SERVERS).
//
// Tests in this file run one after another on one server; each works under its own key prefix
// and states revisions relative to the first one it produced, so they do not depend on each other.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Etcd3, IKeyValue, IRangeRequest } from 'etcd3';
import { prefixEnd } from '../../src/recipes/index.js';
import { SERVERS, uniqueName, useServer, within } from './harness.js';
import { RawClient, type WatchStream } from './raw.js';

const b = (s: string): Buffer => Buffer.from(s);

interface Kv {
  key: string;
  value: string;
  create_revision: string;
  mod_revision: string;
  version: string;
  lease: string;
}

function kv(x: IKeyValue): Kv {
  return {
    key: x.key.toString(),
    value: x.value.toString(),
    create_revision: x.create_revision,
    mod_revision: x.mod_revision,
    version: x.version,
    lease: x.lease,
  };
}

function expected(key: string, value: string, create: bigint, mod: bigint, version: number, lease = '0'): Kv {
  return { key, value, create_revision: String(create), mod_revision: String(mod), version: String(version), lease };
}

describe.each(SERVERS)('coordinator contract on $name', (kind) => {
  const fx = useServer(kind);
  let c: Etcd3;
  let raw: RawClient;
  const streams: WatchStream[] = [];

  beforeAll(() => {
    c = fx.client();
    raw = new RawClient(fx.server.endpoints[0]!);
  });
  afterAll(() => {
    for (const s of streams) s.close();
    raw.close();
  });

  /** A fresh key prefix for one test. */
  const space = (name: string): ((key: string) => string) => {
    const base = `/contract/${uniqueName(name)}/`;
    return (key: string) => `${base}${key}`;
  };

  const put = async (key: string, value: string, extra: Record<string, unknown> = {}): Promise<bigint> =>
    BigInt((await c.kv.put({ key: b(key), value: b(value), ...extra })).header.revision);

  const range = (req: IRangeRequest) => c.kv.range(req);

  const prefixRange = (prefix: string, extra: Partial<IRangeRequest> = {}) =>
    c.kv.range({ key: b(prefix), range_end: prefixEnd(prefix), ...extra });

  const currentRevision = async (): Promise<bigint> => BigInt((await c.kv.range({ key: b('/contract/none') })).header.revision);

  const openWatch = (): WatchStream => {
    const s = raw.watchStream();
    streams.push(s);
    return s;
  };

  describe('revisions', () => {
    it('put, get and delete move the store revision by one and set create/mod revision and version', async () => {
      const k = space('rev')('a');
      const r = await put(k, 'v1');
      const get1 = await range({ key: b(k) });
      expect(get1.header.revision).toBe(String(r));
      expect(get1.count).toBe('1');
      expect(get1.more).toBe(false);
      expect(get1.kvs.map(kv)).toEqual([expected(k, 'v1', r, r, 1)]);

      expect(await put(k, 'v2')).toBe(r + 1n);
      expect((await range({ key: b(k) })).kvs.map(kv)).toEqual([expected(k, 'v2', r, r + 1n, 2)]);

      const del = await c.kv.deleteRange({ key: b(k) });
      expect(del.header.revision).toBe(String(r + 2n));
      expect(del.deleted).toBe('1');
      const gone = await range({ key: b(k) });
      expect(gone.kvs).toEqual([]);
      expect(gone.count).toBe('0');
      expect(gone.header.revision).toBe(String(r + 2n));

      // A key created again starts over: new create revision, version 1.
      expect(await put(k, 'v3')).toBe(r + 3n);
      expect((await range({ key: b(k) })).kvs.map(kv)).toEqual([expected(k, 'v3', r + 3n, r + 3n, 1)]);
    });

    it('reads the store as it was at a past revision', async () => {
      const k = space('past')('a');
      const r = await put(k, 'v1');
      await put(k, 'v2');
      await c.kv.deleteRange({ key: b(k) });
      await put(k, 'v4');
      const at = async (rev: bigint) => (await range({ key: b(k), revision: String(rev) })).kvs.map(kv);
      expect(await at(r)).toEqual([expected(k, 'v1', r, r, 1)]);
      expect(await at(r + 1n)).toEqual([expected(k, 'v2', r, r + 1n, 2)]);
      expect(await at(r + 2n)).toEqual([]);
      expect(await at(r + 3n)).toEqual([expected(k, 'v4', r + 3n, r + 3n, 1)]);
      // The header of a read at a past revision is the current revision.
      const past = await range({ key: b(k), revision: String(r) });
      expect(past.header.revision).toBe(String(r + 3n));
      expect(await raw.failure('KV', 'Range', { key: b(k), revision: String(r + 1000n) })).toEqual({
        code: 11, codeName: 'OUT_OF_RANGE', details: 'etcdserver: mvcc: required revision is a future revision',
      });
    });

    it('a read does not move the revision; a delete of nothing does not either', async () => {
      const k = space('noop')('a');
      const r = await put(k, 'v');
      await range({ key: b(k) });
      const del = await c.kv.deleteRange({ key: b(`${k}-missing`) });
      expect(del.deleted).toBe('0');
      expect(del.header.revision).toBe(String(r));
      expect(await currentRevision()).toBe(r);
    });
  });

  describe('put options', () => {
    it('prev_kv returns the previous pair, or nothing for a new key', async () => {
      const k = space('prevkv')('a');
      const first = await c.kv.put({ key: b(k), value: b('v1'), prev_kv: true });
      expect(first.prev_kv).toBeNull();
      const r = BigInt(first.header.revision);
      const second = await c.kv.put({ key: b(k), value: b('v2'), prev_kv: true });
      expect(kv(second.prev_kv)).toEqual(expected(k, 'v1', r, r, 1));
      const plain = await c.kv.put({ key: b(k), value: b('v3') });
      expect(plain.prev_kv).toBeNull(); // not asked for
    });

    it('ignore_value and ignore_lease keep the current value and lease', async () => {
      const k = space('ignore')('a');
      const lease = await c.leaseClient.leaseGrant({ TTL: 60 });
      try {
        const r = await put(k, 'kept', { lease: lease.ID });
        expect(await put(k, '', { ignore_value: true, lease: lease.ID })).toBe(r + 1n);
        expect((await range({ key: b(k) })).kvs.map(kv)).toEqual([expected(k, 'kept', r, r + 1n, 2, lease.ID)]);
        expect(await put(k, 'new', { ignore_lease: true })).toBe(r + 2n);
        expect((await range({ key: b(k) })).kvs.map(kv)).toEqual([expected(k, 'new', r, r + 2n, 3, lease.ID)]);
        // ignore_value alone does not keep the lease: the request's lease (none) replaces it.
        expect(await put(k, '', { ignore_value: true })).toBe(r + 3n);
        expect((await range({ key: b(k) })).kvs.map(kv)).toEqual([expected(k, 'new', r, r + 3n, 4)]);
        expect(await raw.failure('KV', 'Put', { key: b(`${k}-missing`), ignore_value: true })).toEqual({
          code: 3, codeName: 'INVALID_ARGUMENT', details: 'etcdserver: key not found',
        });
        expect(await raw.failure('KV', 'Put', { key: b(k), value: b('x'), ignore_value: true })).toEqual({
          code: 3, codeName: 'INVALID_ARGUMENT', details: 'etcdserver: value is provided',
        });
        expect(await raw.failure('KV', 'Put', { key: b(k), lease: lease.ID, ignore_lease: true })).toEqual({
          code: 3, codeName: 'INVALID_ARGUMENT', details: 'etcdserver: lease is provided',
        });
      } finally {
        await c.leaseClient.leaseRevoke({ ID: lease.ID });
      }
    });

    it('rejects an empty key on put and range', async () => {
      const failure = { code: 3, codeName: 'INVALID_ARGUMENT', details: 'etcdserver: key is not provided' };
      expect(await raw.failure('KV', 'Put', { key: b(''), value: b('x') })).toEqual(failure);
      expect(await raw.failure('KV', 'Range', { key: b('') })).toEqual(failure);
      expect(await raw.failure('KV', 'DeleteRange', { key: b('') })).toEqual(failure);
    });
  });

  describe('range', () => {
    // a: '3' v1, b: '1' v3, c: '2' v2; created a < b < c; last modified a < b < c.
    let p: string;
    let r0: bigint;
    beforeAll(async () => {
      const k = space('range');
      p = k('');
      r0 = await put(k('a'), '3');
      await put(k('b'), '1');
      await put(k('c'), '2');
      await put(k('b'), '1');
      await put(k('b'), '1');
      await put(k('c'), '2');
    });
    const keys = async (extra: Partial<IRangeRequest>): Promise<string[]> =>
      (await prefixRange(p, extra)).kvs.map((x) => x.key.toString().slice(p.length));

    it('returns a prefix in key order with count and more', async () => {
      const all = await prefixRange(p);
      expect(all.kvs.map(kv)).toEqual([
        expected(`${p}a`, '3', r0, r0, 1),
        expected(`${p}b`, '1', r0 + 1n, r0 + 4n, 3),
        expected(`${p}c`, '2', r0 + 2n, r0 + 5n, 2),
      ]);
      expect(all.count).toBe('3');
      expect(all.more).toBe(false);
      expect(all.header.revision).toBe(String(r0 + 5n));
    });

    it('limit cuts the result, keeps the full count and sets more', async () => {
      const res = await prefixRange(p, { limit: 2 });
      expect(res.kvs.map((x) => x.key.toString().slice(p.length))).toEqual(['a', 'b']);
      expect(res.count).toBe('3');
      expect(res.more).toBe(true);
      const exact = await prefixRange(p, { limit: 3 });
      expect(exact.more).toBe(false);
    });

    it('an explicit [key, range_end) excludes range_end', async () => {
      const res = await range({ key: b(`${p}a`), range_end: b(`${p}c`) });
      expect(res.kvs.map((x) => x.key.toString().slice(p.length))).toEqual(['a', 'b']);
    });

    it('sorts by every target in both orders', async () => {
      expect(await keys({ sort_target: 'Key', sort_order: 'Descend' })).toEqual(['c', 'b', 'a']);
      expect(await keys({ sort_target: 'Version', sort_order: 'Ascend' })).toEqual(['a', 'c', 'b']);
      expect(await keys({ sort_target: 'Version', sort_order: 'Descend' })).toEqual(['b', 'c', 'a']);
      expect(await keys({ sort_target: 'Create', sort_order: 'Descend' })).toEqual(['c', 'b', 'a']);
      expect(await keys({ sort_target: 'Mod', sort_order: 'Ascend' })).toEqual(['a', 'b', 'c']);
      expect(await keys({ sort_target: 'Mod', sort_order: 'Descend' })).toEqual(['c', 'b', 'a']);
      expect(await keys({ sort_target: 'Value', sort_order: 'Ascend' })).toEqual(['b', 'c', 'a']);
      expect(await keys({ sort_target: 'Value', sort_order: 'Descend' })).toEqual(['a', 'c', 'b']);
      // etcd sorts ascending when a target other than the key is given without an order.
      expect(await keys({ sort_target: 'Value', sort_order: 'None' })).toEqual(['b', 'c', 'a']);
      // Sorting happens before the limit.
      const top = await prefixRange(p, { sort_target: 'Version', sort_order: 'Descend', limit: 1 });
      expect(top.kvs.map((x) => x.key.toString().slice(p.length))).toEqual(['b']);
      expect(top.more).toBe(true);
      expect(top.count).toBe('3');
    });

    it('keys_only drops values; count_only drops pairs', async () => {
      const ko = await prefixRange(p, { keys_only: true });
      expect(ko.kvs.map(kv)).toEqual([
        expected(`${p}a`, '', r0, r0, 1),
        expected(`${p}b`, '', r0 + 1n, r0 + 4n, 3),
        expected(`${p}c`, '', r0 + 2n, r0 + 5n, 2),
      ]);
      const co = await prefixRange(p, { count_only: true });
      expect(co.kvs).toEqual([]);
      expect(co.count).toBe('3');
      expect(co.more).toBe(false);
    });

    it('filters by min/max mod and create revision', async () => {
      expect(await keys({ min_mod_revision: String(r0 + 4n) })).toEqual(['b', 'c']);
      expect(await keys({ max_mod_revision: String(r0 + 4n) })).toEqual(['a', 'b']);
      expect(await keys({ min_create_revision: String(r0 + 1n) })).toEqual(['b', 'c']);
      expect(await keys({ max_create_revision: String(r0 + 1n) })).toEqual(['a', 'b']);
      expect(await keys({ min_mod_revision: String(r0 + 1n), max_mod_revision: String(r0 + 4n) })).toEqual(['b']);
    });

    it('treats a negative limit as no limit', async () => {
      expect(await keys({ limit: -1 })).toEqual(['a', 'b', 'c']);
    });

    it('treats a revision <= 0 as the current one', async () => {
      const atZero = await prefixRange(p, { revision: 0 });
      const atNegative = await prefixRange(p, { revision: -5 });
      expect(atNegative.kvs.map(kv)).toEqual(atZero.kvs.map(kv));
      expect(atNegative.header.revision).toBe(atZero.header.revision);
    });

    it('reads a prefix at a past revision', async () => {
      const res = await prefixRange(p, { revision: String(r0 + 2n) });
      expect(res.kvs.map(kv)).toEqual([
        expected(`${p}a`, '3', r0, r0, 1),
        expected(`${p}b`, '1', r0 + 1n, r0 + 1n, 1),
        expected(`${p}c`, '2', r0 + 2n, r0 + 2n, 1),
      ]);
      expect(res.count).toBe('3');
    });
  });

  describe('delete range', () => {
    it('deletes a prefix in one revision and returns the previous pairs', async () => {
      const k = space('delprefix');
      const r = await put(k('a'), '1');
      await put(k('b'), '2');
      await put(k('c'), '3');
      await put(`${k('')}`.slice(0, -1) + '0', 'outside'); // a sibling key that shares all but the trailing "/"
      const del = await c.kv.deleteRange({ key: b(k('')), range_end: prefixEnd(k('')), prev_kv: true });
      expect(del.deleted).toBe('3');
      expect(del.header.revision).toBe(String(r + 4n));
      expect(del.prev_kvs.map(kv)).toEqual([
        expected(k('a'), '1', r, r, 1),
        expected(k('b'), '2', r + 1n, r + 1n, 1),
        expected(k('c'), '3', r + 2n, r + 2n, 1),
      ]);
      expect((await prefixRange(k(''))).kvs).toEqual([]);
      // Without prev_kv no pairs come back.
      await put(k('d'), '4');
      const plain = await c.kv.deleteRange({ key: b(k('d')) });
      expect(plain.prev_kvs).toEqual([]);
      expect(plain.deleted).toBe('1');
    });

    it('deletes [key, range_end)', async () => {
      const k = space('delrange');
      await put(k('a'), '1');
      await put(k('b'), '2');
      await put(k('c'), '3');
      const del = await c.kv.deleteRange({ key: b(k('a')), range_end: b(k('c')) });
      expect(del.deleted).toBe('2');
      expect((await prefixRange(k(''))).kvs.map((x) => x.key.toString())).toEqual([k('c')]);
    });
  });

  describe('txn', () => {
    let k: (key: string) => string;
    let r: bigint;
    let leaseId: string;
    beforeAll(async () => {
      k = space('txn');
      leaseId = (await c.leaseClient.leaseGrant({ TTL: 120 })).ID;
      r = await put(k('x'), 'v');
      await put(k('y'), 'leased', { lease: leaseId });
    });
    afterAll(async () => {
      await c.leaseClient.leaseRevoke({ ID: leaseId });
    });

    const holds = async (compare: object): Promise<boolean> =>
      (await c.kv.txn({ compare: [{ key: b(k('x')), ...compare }], success: [], failure: [] })).succeeded;

    it('compares value, version, create, mod and lease with every operator', async () => {
      expect(await holds({ target: 'Value', result: 'Equal', value: b('v') })).toBe(true);
      expect(await holds({ target: 'Value', result: 'Greater', value: b('u') })).toBe(true);
      expect(await holds({ target: 'Value', result: 'Less', value: b('w') })).toBe(true);
      expect(await holds({ target: 'Value', result: 'NotEqual', value: b('v') })).toBe(false);
      expect(await holds({ target: 'Value', result: 'Less', value: b('v') })).toBe(false);
      expect(await holds({ target: 'Version', result: 'Equal', version: 1 })).toBe(true);
      expect(await holds({ target: 'Version', result: 'Greater', version: 0 })).toBe(true);
      expect(await holds({ target: 'Version', result: 'Less', version: 1 })).toBe(false);
      expect(await holds({ target: 'Create', result: 'Equal', create_revision: String(r) })).toBe(true);
      expect(await holds({ target: 'Create', result: 'NotEqual', create_revision: String(r) })).toBe(false);
      expect(await holds({ target: 'Mod', result: 'Equal', mod_revision: String(r) })).toBe(true);
      expect(await holds({ target: 'Mod', result: 'Less', mod_revision: String(r + 1n) })).toBe(true);
      expect(await holds({ target: 'Mod', result: 'Greater', mod_revision: String(r) })).toBe(false);
      expect(await holds({ target: 'Lease', result: 'Equal', lease: 0 })).toBe(true);
      const onY = async (compare: object) =>
        (await c.kv.txn({ compare: [{ key: b(k('y')), ...compare }], success: [], failure: [] })).succeeded;
      expect(await onY({ target: 'Lease', result: 'Equal', lease: leaseId })).toBe(true);
      expect(await onY({ target: 'Lease', result: 'NotEqual', lease: 0 })).toBe(true);
    });

    it('a missing key compares as zero version, revisions and lease; a value compare on it fails', async () => {
      const missing = async (compare: object) =>
        (await c.kv.txn({ compare: [{ key: b(k('missing')), ...compare }], success: [], failure: [] })).succeeded;
      expect(await missing({ target: 'Version', result: 'Equal', version: 0 })).toBe(true);
      expect(await missing({ target: 'Create', result: 'Equal', create_revision: 0 })).toBe(true);
      expect(await missing({ target: 'Mod', result: 'Equal', mod_revision: 0 })).toBe(true);
      expect(await missing({ target: 'Lease', result: 'Equal', lease: 0 })).toBe(true);
      expect(await missing({ target: 'Value', result: 'Equal', value: b('') })).toBe(false);
      expect(await missing({ target: 'Value', result: 'NotEqual', value: b('x') })).toBe(false);
    });

    it('runs the success branch when every compare holds, else the failure branch, and answers each op', async () => {
      const before = await currentRevision();
      const ok = await c.kv.txn({
        compare: [
          { key: b(k('x')), target: 'Value', result: 'Equal', value: b('v') },
          { key: b(k('y')), target: 'Version', result: 'Equal', version: 1 },
        ],
        success: [{ request_range: { key: b(k('x')) } }],
        failure: [{ request_put: { key: b(k('x')), value: b('never') } }],
      });
      expect(ok.succeeded).toBe(true);
      expect(ok.responses).toHaveLength(1);
      expect(ok.responses[0]!.response_range!.kvs.map(kv)).toEqual([expected(k('x'), 'v', r, r, 1)]);
      expect(ok.header.revision).toBe(String(before)); // read-only: no new revision

      const fail = await c.kv.txn({
        compare: [
          { key: b(k('x')), target: 'Value', result: 'Equal', value: b('v') },
          { key: b(k('y')), target: 'Version', result: 'Equal', version: 5 },
        ],
        success: [{ request_put: { key: b(k('x')), value: b('never') } }],
        failure: [{ request_put: { key: b(k('z')), value: b('z1'), prev_kv: true } }, { request_range: { key: b(k('z')) } }],
      });
      expect(fail.succeeded).toBe(false);
      expect(fail.header.revision).toBe(String(before + 1n));
      expect(fail.responses).toHaveLength(2);
      expect(fail.responses[0]!.response_put!.prev_kv).toBeNull();
      // Ops of one txn see the writes before them.
      expect(fail.responses[1]!.response_range!.kvs.map(kv)).toEqual([expected(k('z'), 'z1', before + 1n, before + 1n, 1)]);
      expect((await range({ key: b(k('x')) })).kvs[0]!.value.toString()).toBe('v');
    });

    it('fills only the revision in the headers of the per-op responses (visible in etcdctl txn -w json)', async () => {
      const res = await c.kv.txn({
        success: [{ request_put: { key: b(k('h')), value: b('1') } }, { request_range: { key: b(k('h')) } }, { request_delete_range: { key: b(k('h-none')) } }],
      });
      const sub = { cluster_id: '0', member_id: '0', revision: res.header.revision, raft_term: '0' };
      expect(res.responses[0]!.response_put!.header).toEqual(sub);
      expect(res.responses[1]!.response_range!.header).toEqual(sub);
      expect(res.responses[2]!.response_delete_range!.header).toEqual(sub);
    });

    it('applies all writes of a txn at one revision', async () => {
      const before = await currentRevision();
      const res = await c.kv.txn({
        compare: [],
        success: [
          { request_put: { key: b(k('m1')), value: b('1') } },
          { request_put: { key: b(k('m2')), value: b('2') } },
          { request_delete_range: { key: b(k('z')), prev_kv: true } },
        ],
        failure: [],
      });
      expect(res.succeeded).toBe(true);
      expect(res.header.revision).toBe(String(before + 1n));
      expect(res.responses[2]!.response_delete_range!.deleted).toBe('1');
      expect(res.responses[2]!.response_delete_range!.prev_kvs.map((x) => x.value.toString())).toEqual(['z1']);
      const m = await prefixRange(k('m'));
      expect(m.kvs.map((x) => x.mod_revision)).toEqual([String(before + 1n), String(before + 1n)]);
    });

    it('compares over a key range', async () => {
      const all = async (compare: object) =>
        (await c.kv.txn({ compare: [{ key: b(k('m')), range_end: prefixEnd(k('m')), ...compare }], success: [], failure: [] })).succeeded;
      expect(await all({ target: 'Version', result: 'Equal', version: 1 })).toBe(true);
      expect(await all({ target: 'Value', result: 'Equal', value: b('1') })).toBe(false);
      expect(await all({ target: 'Value', result: 'Greater', value: b('0') })).toBe(true);
    });

    it('runs a nested txn', async () => {
      const res = await c.kv.txn({
        compare: [{ key: b(k('x')), target: 'Value', result: 'Equal', value: b('v') }],
        success: [{
          request_txn: {
            compare: [{ key: b(k('x')), target: 'Version', result: 'Greater', version: 5 }],
            success: [],
            failure: [{ request_range: { key: b(k('x')), keys_only: true } }],
          },
        }],
        failure: [],
      });
      expect(res.succeeded).toBe(true);
      const inner = res.responses[0]!.response_txn!;
      expect(inner.succeeded).toBe(false);
      expect(inner.responses[0]!.response_range!.kvs.map(kv)).toEqual([expected(k('x'), '', r, r, 1)]);
    });

    it('rejects a txn that writes one key twice, or has too many ops', async () => {
      expect(await raw.failure('KV', 'Txn', {
        success: [{ request_put: { key: b(k('d')), value: b('1') } }, { request_put: { key: b(k('d')), value: b('2') } }],
      })).toEqual({ code: 3, codeName: 'INVALID_ARGUMENT', details: 'etcdserver: duplicate key given in txn request' });
      const ops = Array.from({ length: 129 }, (_, i) => ({ request_range: { key: b(k(`many${i}`)) } }));
      expect(await raw.failure('KV', 'Txn', { success: ops })).toEqual({
        code: 3, codeName: 'INVALID_ARGUMENT', details: 'etcdserver: too many operations in txn request',
      });
    });
  });

  describe('leases', () => {
    it('grants with a TTL or a chosen id, lists, and refuses a duplicate id', async () => {
      const g = await c.leaseClient.leaseGrant({ TTL: 60 });
      expect(g.TTL).toBe('60');
      expect(g.error).toBe('');
      expect(BigInt(g.ID)).toBeGreaterThan(0n);
      const chosen = String(BigInt(`0x${uniqueName('x').slice(2, 10)}`) + 1000n);
      const g2 = await c.leaseClient.leaseGrant({ TTL: 30, ID: chosen });
      expect(g2.ID).toBe(chosen);
      expect(await raw.failure('Lease', 'LeaseGrant', { TTL: 30, ID: chosen })).toEqual({
        code: 9, codeName: 'FAILED_PRECONDITION', details: 'etcdserver: lease already exists',
      });
      const listed = (await c.leaseClient.leaseLeases()).leases.map((l) => l.ID);
      expect(listed).toEqual(expect.arrayContaining([g.ID, chosen]));
      expect(await raw.failure('Lease', 'LeaseGrant', { TTL: 9_000_000_001 })).toEqual({
        code: 11, codeName: 'OUT_OF_RANGE', details: 'etcdserver: too large lease TTL',
      });
      await c.leaseClient.leaseRevoke({ ID: g.ID });
      await c.leaseClient.leaseRevoke({ ID: chosen });
      const after = (await c.leaseClient.leaseLeases()).leases.map((l) => l.ID);
      expect(after).not.toContain(g.ID);
      expect(after).not.toContain(chosen);
    });

    it('raises a TTL below the minimum to the minimum (2 s with etcd default timing)', async () => {
      for (const ttl of [1, 0]) {
        const g = await c.leaseClient.leaseGrant({ TTL: ttl });
        expect({ ttl, granted: g.TTL }).toEqual({ ttl, granted: '2' });
        await c.leaseClient.leaseRevoke({ ID: g.ID });
      }
    });

    it('grants a negative TTL as the minimum TTL', async () => {
      for (const ttl of [-5]) {
        const g = await c.leaseClient.leaseGrant({ TTL: ttl });
        expect({ ttl, granted: g.TTL }).toEqual({ ttl, granted: '2' });
        await c.leaseClient.leaseRevoke({ ID: g.ID });
      }
    });

    it('reports time to live with attached keys, and -1 for an unknown lease', async () => {
      const k = space('ttl');
      const g = await c.leaseClient.leaseGrant({ TTL: 60 });
      await put(k('b'), '2', { lease: g.ID });
      await put(k('a'), '1', { lease: g.ID });
      const ttl = await c.leaseClient.leaseTimeToLive({ ID: g.ID, keys: true });
      expect(ttl.ID).toBe(g.ID);
      expect(ttl.grantedTTL).toBe('60');
      expect(Number(ttl.TTL)).toBeGreaterThanOrEqual(58);
      expect(Number(ttl.TTL)).toBeLessThanOrEqual(60);
      expect(ttl.keys.map((x) => x.toString()).sort()).toEqual([k('a'), k('b')]);
      const noKeys = await c.leaseClient.leaseTimeToLive({ ID: g.ID });
      expect(noKeys.keys).toEqual([]);
      await c.leaseClient.leaseRevoke({ ID: g.ID });
      const unknown = await c.leaseClient.leaseTimeToLive({ ID: g.ID, keys: true });
      expect({ ID: unknown.ID, TTL: unknown.TTL, grantedTTL: unknown.grantedTTL, keys: unknown.keys }).toEqual({ ID: g.ID, TTL: '-1', grantedTTL: '0', keys: [] });
    });

    it('keep-alive renews to the full TTL and answers TTL 0 for an unknown lease', async () => {
      const g = await c.leaseClient.leaseGrant({ TTL: 45 });
      const stream = raw.keepAliveStream();
      const replies: Array<{ ID: string; TTL: string }> = [];
      const got = new Promise<void>((resolve) => stream.on('data', (res: { ID: string; TTL: string }) => {
        replies.push({ ID: res.ID, TTL: res.TTL });
        if (replies.length === 2) resolve();
      }));
      stream.on('error', () => undefined);
      stream.write({ ID: g.ID });
      stream.write({ ID: '4242424242' });
      await within(got, 5000, 'two keep-alive replies');
      stream.cancel();
      expect(replies).toEqual([{ ID: g.ID, TTL: '45' }, { ID: '4242424242', TTL: '0' }]);
      await c.leaseClient.leaseRevoke({ ID: g.ID });
    });

    it('revoke deletes the attached keys in one revision; a second revoke and a put with it fail', async () => {
      const k = space('revoke');
      const g = await c.leaseClient.leaseGrant({ TTL: 60 });
      const r = await put(k('a'), '1', { lease: g.ID });
      await put(k('b'), '2', { lease: g.ID });
      await put(k('c'), 'unleased');
      const w = openWatch();
      const created = await w.create({ key: b(k('')), range_end: prefixEnd(k('')), start_revision: String(r + 3n) });
      const revoke = await c.leaseClient.leaseRevoke({ ID: g.ID });
      expect(revoke.header.revision).toBe(String(r + 3n));
      expect((await prefixRange(k(''))).kvs.map((x) => x.key.toString())).toEqual([k('c')]);
      const events = await w.waitEvents(created.watch_id, 2);
      expect(events.map((e) => [e.type, e.kv.key.toString(), e.kv.mod_revision])).toEqual([
        ['Delete', k('a'), String(r + 3n)],
        ['Delete', k('b'), String(r + 3n)],
      ]);
      const notFound = { code: 5, codeName: 'NOT_FOUND', details: 'etcdserver: requested lease not found' };
      expect(await raw.failure('Lease', 'LeaseRevoke', { ID: g.ID })).toEqual(notFound);
      expect(await raw.failure('KV', 'Put', { key: b(k('d')), value: b('x'), lease: g.ID })).toEqual(notFound);
      w.close();
    });

    it('an expired lease deletes its keys', async () => {
      const k = space('expire');
      const g = await c.leaseClient.leaseGrant({ TTL: 1 });
      const r = await put(k('a'), '1', { lease: g.ID });
      const w = openWatch();
      const created = await w.create({ key: b(k('a')), start_revision: String(r + 1n) });
      const [ev] = await w.waitEvents(created.watch_id, 1, 10_000);
      expect(ev!.type).toBe('Delete');
      expect((await range({ key: b(k('a')) })).kvs).toEqual([]);
      expect((await c.leaseClient.leaseTimeToLive({ ID: g.ID })).TTL).toBe('-1');
      w.close();
    });
  });

  describe('watch', () => {
    it('delivers prefix events in order with full key-values; a delete carries only key and revision', async () => {
      const k = space('watch');
      const w = openWatch();
      const start = (await currentRevision()) + 1n;
      const created = await w.create({ key: b(k('')), range_end: prefixEnd(k('')) });
      expect(created.created).toBe(true);
      expect(created.canceled).toBe(false);
      expect(BigInt(created.header.revision)).toBe(start - 1n);
      await put(k('a'), '1');
      await put(k('b'), '2');
      await put(k('a'), '3');
      await c.kv.deleteRange({ key: b(k('a')) });
      await put(`${k('')}`.slice(0, -1) + '0', 'outside');
      const events = await w.waitEvents(created.watch_id, 4);
      expect(events.map((e) => ({ type: e.type, kv: kv(e.kv), prev: e.prev_kv }))).toEqual([
        { type: 'Put', kv: expected(k('a'), '1', start, start, 1), prev: null },
        { type: 'Put', kv: expected(k('b'), '2', start + 1n, start + 1n, 1), prev: null },
        { type: 'Put', kv: expected(k('a'), '3', start, start + 2n, 2), prev: null },
        { type: 'Delete', kv: { key: k('a'), value: '', create_revision: '0', mod_revision: String(start + 3n), version: '0', lease: '0' }, prev: null },
      ]);
      // The write outside the prefix never shows up.
      await put(k('b'), 'last');
      expect((await w.waitEvents(created.watch_id, 5)).map((e) => e.kv.key.toString())).toEqual([k('a'), k('b'), k('a'), k('a'), k('b')]);
    });

    it('replays history from a past revision, with prev_kv', async () => {
      const k = space('history');
      const r = await put(k('a'), '1');
      await put(k('a'), '2');
      await c.kv.deleteRange({ key: b(k('a')) });
      const w = openWatch();
      const created = await w.create({ key: b(k('a')), start_revision: String(r), prev_kv: true });
      const events = await w.waitEvents(created.watch_id, 3);
      expect(events.map((e) => ({ type: e.type, kv: kv(e.kv), prev: e.prev_kv ? kv(e.prev_kv) : null }))).toEqual([
        { type: 'Put', kv: expected(k('a'), '1', r, r, 1), prev: null },
        { type: 'Put', kv: expected(k('a'), '2', r, r + 1n, 2), prev: expected(k('a'), '1', r, r, 1) },
        { type: 'Delete', kv: { key: k('a'), value: '', create_revision: '0', mod_revision: String(r + 2n), version: '0', lease: '0' }, prev: expected(k('a'), '2', r, r + 1n, 2) },
      ]);
    });

    it('groups the events of one txn in one response at one revision', async () => {
      const k = space('txnwatch');
      const w = openWatch();
      const created = await w.create({ key: b(k('')), range_end: prefixEnd(k('')) });
      const res = await c.kv.txn({ success: [{ request_put: { key: b(k('a')), value: b('1') } }, { request_put: { key: b(k('b')), value: b('2') } }] });
      await w.waitEvents(created.watch_id, 2);
      const withEvents = w.responses.all().filter((x) => x.watch_id === created.watch_id && x.events.length > 0);
      expect(withEvents).toHaveLength(1);
      expect(withEvents[0]!.header.revision).toBe(res.header.revision);
      expect(withEvents[0]!.events.map((e) => [e.kv.key.toString(), e.kv.mod_revision])).toEqual([
        [k('a'), res.header.revision], [k('b'), res.header.revision],
      ]);
    });

    it('filters out puts or deletes', async () => {
      const k = space('filters');
      const w = openWatch();
      const start = (await currentRevision()) + 1n;
      const noPut = await w.create({ key: b(k('a')), filters: [0] /* NOPUT */ });
      const noDelete = await w.create({ key: b(k('a')), filters: [1] /* NODELETE */ });
      await put(k('a'), '1');
      await c.kv.deleteRange({ key: b(k('a')) });
      await put(k('a'), '2');
      expect((await w.waitEvents(noDelete.watch_id, 2)).map((e) => [e.type, e.kv.mod_revision])).toEqual([
        ['Put', String(start)], ['Put', String(start + 2n)],
      ]);
      expect((await w.waitEvents(noPut.watch_id, 1)).map((e) => [e.type, e.kv.mod_revision])).toEqual([['Delete', String(start + 1n)]]);
      expect(w.events(noPut.watch_id)).toHaveLength(1);
    });

    it('waits for a future start revision', async () => {
      const k = space('future');
      const now = await currentRevision();
      const w = openWatch();
      const created = await w.create({ key: b(k('a')), start_revision: String(now + 2n) });
      await put(k('a'), 'skipped');
      await put(k('a'), 'seen');
      const events = await w.waitEvents(created.watch_id, 1);
      expect(events.map((e) => e.kv.value.toString())).toEqual(['seen']);
    });

    it('numbers watches per stream from 0 and confirms a cancel; a cancelled watch gets nothing more', async () => {
      const k = space('cancel');
      const w = openWatch();
      const first = await w.create({ key: b(k('a')) });
      const second = await w.create({ key: b(k('a')) });
      expect([first.watch_id, second.watch_id]).toEqual(['0', '1']);
      w.cancel(first.watch_id);
      const all = await w.responses.until((rs) => rs.some((x) => x.watch_id === first.watch_id && x.canceled), 5000, 'cancel confirmation');
      const confirmation = all.find((x) => x.watch_id === first.watch_id && x.canceled)!;
      expect(confirmation.events).toEqual([]);
      await put(k('a'), 'after-cancel');
      await w.waitEvents(second.watch_id, 1);
      expect(w.events(first.watch_id)).toEqual([]);
    });
  });

  describe('lock service (v3lockpb.Lock)', () => {
    interface LockResponse { header: { revision: string }; key: Buffer }
    const lock = (name: string, lease: string) => raw.call<LockResponse>('v3lockpb.Lock', 'Lock', { name: b(name), lease });
    const grant = async (): Promise<string> => (await c.leaseClient.leaseGrant({ TTL: 60 })).ID;

    it('locks under <name>/<lease hex> with the lease; the same lease locking again is a no-op; others wait for Unlock', async () => {
      const name = space('svc-lock')('m');
      const [l1, l2] = [await grant(), await grant()];
      const first = await lock(name, l1);
      expect(first.key.toString()).toBe(`${name}/${BigInt(l1).toString(16)}`);
      const held = (await range({ key: first.key })).kvs.map(kv);
      expect(held).toEqual([expected(first.key.toString(), '', BigInt(first.header.revision), BigInt(first.header.revision), 1, l1)]);
      const again = await lock(name, l1);
      expect(again.key.toString()).toBe(first.key.toString());
      expect(again.header.revision).toBe(first.header.revision);

      const w = openWatch();
      const created = await w.create({ key: b(`${name}/`), range_end: prefixEnd(`${name}/`), start_revision: String(BigInt(first.header.revision) + 1n) });
      let settled = false;
      const second = lock(name, l2).finally(() => { settled = true; });
      await w.waitEvents(created.watch_id, 1); // the second contender's key is queued
      await range({ key: first.key }); // one more round trip: a wrong server would have answered by now
      expect(settled).toBe(false);
      const unlocked = await raw.call<{ header: { revision: string } }>('v3lockpb.Lock', 'Unlock', { key: first.key });
      const got = await within(second, 5000, 'second Lock after Unlock');
      expect(got.key.toString()).toBe(`${name}/${BigInt(l2).toString(16)}`);
      expect(got.header.revision).toBe(unlocked.header.revision);
      expect((await range({ key: first.key })).kvs).toEqual([]);
      await raw.call('v3lockpb.Lock', 'Unlock', { key: got.key });
      await c.leaseClient.leaseRevoke({ ID: l1 });
      await c.leaseClient.leaseRevoke({ ID: l2 });
    });

    it('unlocks a key that does not exist without error', async () => {
      const before = await currentRevision();
      const res = await raw.call<{ header: { revision: string } }>('v3lockpb.Lock', 'Unlock', { key: b(space('svc-unlock')('nothing')) });
      expect(res.header.revision).toBe(String(before));
    });

    it('fails with an unknown lease as etcd does (code UNKNOWN)', async () => {
      expect(await raw.failure('v3lockpb.Lock', 'Lock', { name: b(space('svc-badlease')('m')), lease: '4242424242' })).toEqual({
        code: 2, codeName: 'UNKNOWN', details: 'etcdserver: requested lease not found',
      });
    });
  });

  describe('election service (v3electionpb.Election)', () => {
    interface LeaderKey { name: Buffer; key: Buffer; rev: string; lease: string }
    interface CampaignResponse { header: { revision: string }; leader: LeaderKey }
    interface LeaderResponse { header: { revision: string }; kv: IKeyValue }
    const E = 'v3electionpb.Election';
    const grant = async (): Promise<string> => (await c.leaseClient.leaseGrant({ TTL: 60 })).ID;

    it('campaigns, reports and proclaims the leader, streams proclamations, and fails over on resign', async () => {
      const name = space('svc-elect')('e');
      const [l1, l2] = [await grant(), await grant()];
      const won = await raw.call<CampaignResponse>(E, 'Campaign', { name: b(name), lease: l1, value: b('a') });
      const rev = BigInt(won.header.revision);
      expect({ name: won.leader.name.toString(), key: won.leader.key.toString(), rev: won.leader.rev, lease: won.leader.lease }).toEqual({
        name, key: `${name}/${BigInt(l1).toString(16)}`, rev: String(rev), lease: l1,
      });
      const leader = await raw.call<LeaderResponse>(E, 'Leader', { name: b(name) });
      expect(kv(leader.kv)).toEqual(expected(`${name}/${BigInt(l1).toString(16)}`, 'a', rev, rev, 1, l1));

      const proclaimed = await raw.call<{ header: { revision: string } }>(E, 'Proclaim', { leader: won.leader, value: b('b') });
      expect(proclaimed.header.revision).toBe(String(rev + 1n));
      const observe = raw.serverStream<LeaderResponse>(E, 'Observe', { name: b(name) });
      try {
        await observe.responses.count(1, 5000, 'current leader on Observe');
        const second = raw.call<CampaignResponse>(E, 'Campaign', { name: b(name), lease: l2, value: b('z') });
        await raw.call(E, 'Resign', { leader: won.leader });
        const next = await within(second, 5000, 'second campaign after resign');
        expect(next.leader.key.toString()).toBe(`${name}/${BigInt(l2).toString(16)}`);
        await observe.responses.count(2, 5000, 'new leader on Observe');
        expect(observe.responses.all().map((r) => [r.kv.key.toString(), r.kv.value.toString()])).toEqual([
          [`${name}/${BigInt(l1).toString(16)}`, 'b'],
          [`${name}/${BigInt(l2).toString(16)}`, 'z'],
        ]);
        expect((await raw.call<LeaderResponse>(E, 'Leader', { name: b(name) })).kv.value.toString()).toBe('z');
        // Resigning a leadership that is already gone is not an error.
        await raw.call(E, 'Resign', { leader: won.leader });
        await raw.call(E, 'Resign', { leader: next.leader });
      } finally {
        observe.cancel();
        await c.leaseClient.leaseRevoke({ ID: l1 });
        await c.leaseClient.leaseRevoke({ ID: l2 });
      }
    });

    it("answers a campaign with the header of its own key's creation, even when it had to wait", async () => {
      const name = space('svc-elect-rev')('e');
      const [l1, l2] = [await grant(), await grant()];
      const first = await raw.call<CampaignResponse>(E, 'Campaign', { name: b(name), lease: l1, value: b('a') });
      const w = openWatch();
      const created = await w.create({ key: b(`${name}/`), range_end: prefixEnd(`${name}/`), start_revision: String(BigInt(first.header.revision) + 1n) });
      const second = raw.call<CampaignResponse>(E, 'Campaign', { name: b(name), lease: l2, value: b('z') });
      const [queued] = await w.waitEvents(created.watch_id, 1);
      await raw.call(E, 'Resign', { leader: first.leader });
      const won = await within(second, 5000, 'second campaign');
      expect(won.leader.rev).toBe(queued!.kv.create_revision);
      expect(won.header.revision).toBe(queued!.kv.create_revision);
      await c.leaseClient.leaseRevoke({ ID: l1 });
      await c.leaseClient.leaseRevoke({ ID: l2 });
    });

    it('fails Leader with no leader and Proclaim by a non-leader as etcd does (code UNKNOWN)', async () => {
      const name = space('svc-elect-err')('e');
      expect(await raw.failure(E, 'Leader', { name: b(name) })).toEqual({ code: 2, codeName: 'UNKNOWN', details: 'election: no leader' });
      const l1 = await grant();
      const won = await raw.call<CampaignResponse>(E, 'Campaign', { name: b(name), lease: l1, value: b('a') });
      expect(await raw.failure(E, 'Proclaim', { leader: { ...won.leader, rev: '1' }, value: b('x') })).toEqual({
        code: 2, codeName: 'UNKNOWN', details: 'election: not leader',
      });
      await c.leaseClient.leaseRevoke({ ID: l1 });
    });
  });

  describe('cluster and maintenance', () => {
    it('lists the one member with its name and client URL', async () => {
      const res = await c.cluster.memberList({});
      expect(res.members).toHaveLength(1);
      const [m] = res.members;
      expect(m!.name).toBe('n1');
      expect(m!.clientURLs).toEqual(fx.server.endpoints);
      expect(m!.isLearner).toBe(false);
      expect(m!.peerURLs).toHaveLength(1);
      expect(m!.ID).toBe(res.header.member_id);
      expect(BigInt(res.header.cluster_id)).toBeGreaterThan(0n);
      // MemberList is answered from membership, not the key-value store: etcd leaves the revision at 0.
      expect(res.header.revision).toBe('0');
    });

    it('accepts a scheme in the :authority header, as etcdctl endpoint status sends it', async () => {
      const withScheme = new RawClient(fx.server.endpoints[0]!, fx.server.endpoints[0]!);
      try {
        const status = await withScheme.call<{ leader: string }>('Maintenance', 'Status', {});
        expect(BigInt(status.leader)).toBeGreaterThan(0n);
        const res = await withScheme.call<{ count: string }>('KV', 'Range', { key: b('/contract/none') });
        expect(res.count).toBe('0');
      } finally {
        withScheme.close();
      }
    });

    it('hashes the key-value history (HashKV, used by etcdctl endpoint hashkv)', async () => {
      const first = await raw.call<{ hash: string; compact_revision: string; header: { revision: string } }>('Maintenance', 'HashKV', { revision: 0 });
      const again = await raw.call<{ hash: string }>('Maintenance', 'HashKV', { revision: 0 });
      expect(again.hash).toBe(first.hash);
      await put(space('hash')('a'), 'changes the hash');
      const after = await raw.call<{ hash: string }>('Maintenance', 'HashKV', { revision: 0 });
      expect(after.hash).not.toBe(first.hash);
    });

    it('reports status: version, leader, raft indexes, db size', async () => {
      const s = await c.maintenance.status();
      expect(s.version).toMatch(/^3\.\d+\.\d+$/);
      expect(s.leader).toBe(s.header.member_id);
      expect(BigInt(s.header.member_id)).toBeGreaterThan(0n);
      expect(s.raftTerm).toBe(s.header.raft_term);
      expect(BigInt(s.raftTerm)).toBeGreaterThanOrEqual(1n);
      expect(BigInt(s.raftIndex)).toBeGreaterThan(0n);
      expect(BigInt(s.raftAppliedIndex ?? s.raftIndex)).toBeLessThanOrEqual(BigInt(s.raftIndex));
      expect(BigInt(s.dbSize)).toBeGreaterThan(0n);
      expect(BigInt(s.dbSizeInUse ?? s.dbSize)).toBeLessThanOrEqual(BigInt(s.dbSize));
      expect(s.errors).toEqual([]);
      expect(s.isLearner).toBe(false);
      const headerRev = BigInt(s.header.revision);
      expect(headerRev).toBe(await currentRevision());
    });
  });

  // Last: compaction removes history every earlier test could have read.
  describe('compaction', () => {
    it('accepts compaction at revision 0 and compacts nothing', async () => {
      const k = space('compact0');
      const r = await put(k('a'), 'v1');
      await put(k('a'), 'v2');
      await c.kv.compact({ revision: 0 });
      expect((await range({ key: b(k('a')), revision: String(r) })).kvs.map(kv)).toEqual([expected(k('a'), 'v1', r, r, 1)]);
    });

    it('makes older revisions unreadable and unwatchable, with etcd errors', async () => {
      const k = space('compact');
      const r = await put(k('a'), 'v1');
      await put(k('a'), 'v2');
      await put(k('a'), 'v3');
      const compacted = { code: 11, codeName: 'OUT_OF_RANGE', details: 'etcdserver: mvcc: required revision has been compacted' };
      expect(await raw.failure('KV', 'Compact', { revision: String(r + 1000n) })).toEqual({
        code: 11, codeName: 'OUT_OF_RANGE', details: 'etcdserver: mvcc: required revision is a future revision',
      });
      await c.kv.compact({ revision: String(r + 1n), physical: true });
      expect(await raw.failure('KV', 'Range', { key: b(k('a')), revision: String(r) })).toEqual(compacted);
      expect((await range({ key: b(k('a')), revision: String(r + 1n) })).kvs.map(kv)).toEqual([expected(k('a'), 'v2', r, r + 1n, 2)]);
      expect(await raw.failure('KV', 'Compact', { revision: String(r + 1n) })).toEqual(compacted);
      expect(await raw.failure('KV', 'Compact', { revision: String(r) })).toEqual(compacted);
      // Current reads are unaffected.
      expect((await range({ key: b(k('a')) })).kvs.map(kv)).toEqual([expected(k('a'), 'v3', r, r + 2n, 3)]);

      const w = openWatch();
      const created = await w.create({ key: b(k('a')), start_revision: String(r) });
      const all = await w.responses.until((rs) => rs.some((x) => x.watch_id === created.watch_id && x.canceled), 5000, 'compacted watch cancel');
      const cancel = all.find((x) => x.watch_id === created.watch_id && x.canceled)!;
      expect(cancel.compact_revision).toBe(String(r + 1n));
      expect(cancel.events).toEqual([]);
      // A watch from the compaction revision itself still works.
      const ok = await w.create({ key: b(k('a')), start_revision: String(r + 1n) });
      const events = await w.waitEvents(ok.watch_id, 2);
      expect(events.map((e) => e.kv.value.toString())).toEqual(['v2', 'v3']);
    });
  });
});
