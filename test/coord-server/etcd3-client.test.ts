// KV, Lease and Watch end to end through the npm `etcd3` client against a real `shoal coord`.
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCoord, stopAll, type CoordProcess } from './harness.js';

let coord: CoordProcess;
let etcd: Etcd3;

beforeAll(async () => {
  coord = await startCoord();
  etcd = new Etcd3({ hosts: `http://${coord.endpoint}` });
});

afterAll(async () => {
  etcd?.close();
  await stopAll();
});

describe('KV', () => {
  it('puts, gets, ranges by prefix and deletes with revisions like etcd', async () => {
    const put1 = await etcd.put('kv/a').value('1').exec();
    const rev1 = Number(put1.header.revision);
    expect(rev1).toBeGreaterThan(1);
    await etcd.put('kv/b').value('2');
    await etcd.put('kv/a').value('3');
    expect(await etcd.get('kv/a').string()).toBe('3');
    expect(await etcd.getAll().prefix('kv/').strings()).toEqual({ 'kv/a': '3', 'kv/b': '2' });

    const res = await etcd.get('kv/a').exec();
    const kv = res.kvs[0];
    expect(Number(kv.create_revision)).toBe(rev1);
    expect(Number(kv.mod_revision)).toBe(rev1 + 2);
    expect(Number(kv.version)).toBe(2);

    // Reading in the past sees the old value.
    const old = await etcd.get('kv/a').revision(rev1).string();
    expect(old).toBe('1');

    expect(await etcd.getAll().prefix('kv/').count()).toBe(2);
    const del = await etcd.delete().key('kv/a').getPrevious();
    expect(del.map((k) => k.value.toString())).toEqual(['3']);
    expect(await etcd.get('kv/a').string()).toBeNull();
  });

  it('runs transactions on compares', async () => {
    await etcd.put('txn/x').value('1');
    const ok = await etcd.if('txn/x', 'Value', '==', '1').then(etcd.put('txn/x').value('2')).else(etcd.put('txn/y').value('no')).commit();
    expect(ok.succeeded).toBe(true);
    const no = await etcd.if('txn/x', 'Value', '==', '1').then(etcd.put('txn/x').value('3')).else(etcd.get('txn/x')).commit();
    expect(no.succeeded).toBe(false);
    expect(no.responses[0].response_range?.kvs[0].value.toString()).toBe('2');
    expect(await etcd.get('txn/y').string()).toBeNull();
  });

  it('compacts history and then refuses reads below it', async () => {
    await etcd.put('cmp/k').value('v1');
    const r = await etcd.put('cmp/k').value('v2').exec();
    const rev = Number(r.header.revision);
    await etcd.kv.compact({ revision: rev });
    await expect(etcd.get('cmp/k').revision(rev - 1).string()).rejects.toThrow(/required revision has been compacted/);
    expect(await etcd.get('cmp/k').revision(rev).string()).toBe('v2');
  });
});

describe('Lease', () => {
  it('grants, keeps alive, reports TTL and keys, revokes (deleting its keys)', async () => {
    const lease = etcd.lease(30);
    const id = await lease.grant();
    await lease.put('lease/k').value('v');
    const ttl = await etcd.leaseClient.leaseTimeToLive({ ID: id, keys: true });
    expect(Number(ttl.grantedTTL)).toBe(30);
    expect(Number(ttl.TTL)).toBeGreaterThan(25);
    expect(ttl.keys.map((k) => k.toString())).toEqual(['lease/k']);
    const ka = await lease.keepaliveOnce();
    expect(Number(ka.TTL)).toBe(30);
    const listed = await etcd.leaseClient.leaseLeases();
    expect(listed.leases.map((l) => l.ID)).toContain(id);
    await lease.revoke();
    expect(await etcd.get('lease/k').string()).toBeNull();
    const gone = await etcd.leaseClient.leaseTimeToLive({ ID: id });
    expect(Number(gone.TTL)).toBe(-1);
  });

  it('expires a lease that is not kept alive, deleting its keys', async () => {
    const lease = etcd.lease(1, { autoKeepAlive: false });
    await lease.put('lease/expiring').value('v');
    const watcher = await etcd.watch().key('lease/expiring').create();
    const deleted = new Promise<void>((resolve) => watcher.on('delete', () => resolve()));
    // Granted TTLs are raised to 2 s like etcd's; expiry is checked every 500 ms.
    await deleted;
    await watcher.cancel();
    expect(await etcd.get('lease/expiring').string()).toBeNull();
  });

  it('answers keep-alive of an unknown lease with TTL 0', async () => {
    const res = await new Promise<{ TTL: string }>((resolve, reject) => {
      const stream = etcd.leaseClient.leaseKeepAlive();
      void stream.then((s) => {
        s.on('data', (d: { TTL: string }) => {
          resolve(d);
          s.end();
        });
        s.on('error', reject);
        s.write({ ID: '12345' });
      });
    });
    expect(Number(res.TTL)).toBe(0);
  });
});

describe('Watch', () => {
  it('streams puts and deletes on a prefix with previous values', async () => {
    const watcher = await etcd.watch().prefix('w/').withPreviousKV().create();
    const seen: string[] = [];
    const done = new Promise<void>((resolve) => {
      watcher.on('put', (kv, prev) => {
        seen.push(`put ${kv.key.toString()}=${kv.value.toString()} prev=${prev?.value.toString() ?? '-'}`);
      });
      watcher.on('delete', (kv) => {
        seen.push(`del ${kv.key.toString()}`);
        resolve();
      });
    });
    await etcd.put('w/1').value('a');
    await etcd.put('w/1').value('b');
    await etcd.put('other').value('x');
    await etcd.delete().key('w/1');
    await done;
    await watcher.cancel();
    expect(seen).toEqual(['put w/1=a prev=-', 'put w/1=b prev=a', 'del w/1']);
  });

  it('replays history from a past revision', async () => {
    const first = await etcd.put('hist/k').value('1').exec();
    await etcd.put('hist/k').value('2');
    const watcher = await etcd.watch().key('hist/k').startRevision(String(first.header.revision)).create();
    const values: string[] = [];
    await new Promise<void>((resolve) =>
      watcher.on('put', (kv) => {
        values.push(kv.value.toString());
        if (values.length === 2) resolve();
      }),
    );
    await watcher.cancel();
    expect(values).toEqual(['1', '2']);
  });

  it('cancels a watch on a compacted revision with the compaction error', async () => {
    await etcd.put('wc/k').value('1');
    const r = await etcd.put('wc/k').value('2').exec();
    await etcd.kv.compact({ revision: Number(r.header.revision) });
    const watcher = etcd.watch().key('wc/k').startRevision('2').create();
    const err = await new Promise<Error>((resolve) => {
      void watcher.then((w) => w.on('error', resolve));
    });
    expect(err.message).toMatch(/required revision has been compacted/);
  });
});
