import { afterEach, describe, expect, it } from 'vitest';
import type { Etcd3 } from 'etcd3';
import * as dns from 'dns-packet';
import {
  createDnsServer,
  createRegistry,
  recordKey,
  type InstanceRecord,
  type Registry,
  type ViewChange,
  type WatchedServiceView,
} from '../../src/discovery/index.js';
import { encodeRecord, parseStoredRecord } from '../../src/discovery/record.js';
import { createCoordClient } from '../../src/recipes/index.js';
import { Inbox, SERVERS, uniqueName, useServer, within } from '../contract/harness.js';
import { LinkProxy, type LinkMode } from '../support/fault-proxy.js';
import { captureLogger, query } from './helpers.js';

const TTL = 3;

describe.each(SERVERS)('discovery on $name', (kind) => {
  const fx = useServer(kind);
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  function newRegistry(client: Etcd3 = fx.client()): { registry: Registry; lines: Array<Record<string, unknown>> } {
    const { logger, lines } = captureLogger();
    const registry = createRegistry({ client, logger });
    cleanups.push(() => registry.close());
    return { registry, lines };
  }

  /** Changes of one service seen by a view. */
  function changesOf(view: WatchedServiceView, service: string): Inbox<ViewChange> {
    const inbox = new Inbox<ViewChange>();
    view.onChange((c) => {
      if (c.instance.service === service) inbox.push(c);
    });
    return inbox;
  }

  /** The valid records of a service as the store holds them now. */
  async function storeRecords(client: Etcd3, service: string): Promise<InstanceRecord[]> {
    const prefix = `/shoal/services/${service}/`;
    const res = await client.kv.range({ key: Buffer.from(prefix), range_end: Buffer.from(`/shoal/services/${service}0`) });
    return res.kvs
      .map((kv) => parseStoredRecord(kv.value.toString()))
      .flatMap((p) => (p.ok ? [p.record] : []))
      .sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  const urls = (port: number): string[] => [`shoal+tcp://127.0.0.1:${port}`, `http://127.0.0.1:${port + 1}`];
  const kinds = (items: ViewChange[]): string[] => items.map((c) => `${c.type}:${c.instance.id}${c.type === 'down' ? `:${c.reason}` : ''}`);

  it('register → up in another process\'s view; ready gates instances(); deregister → down (deregistered)', async () => {
    const service = uniqueName('goods');
    const owner = newRegistry().registry;
    const { registry: watcher } = newRegistry();
    const view = await watcher.watchView();
    const changes = changesOf(view, service);

    const reg = await owner.register({
      id: `${service}-a`, service, version: '1.2.0', urls: urls(4711),
      actions: [`${service}.get`], events: ['order.confirmed'], ready: false, metadata: { zone: 'a' },
    });
    expect(reg.record).toMatchObject({ ready: false, pid: process.pid, metadata: { zone: 'a' } });
    expect(Date.parse(reg.record.startedAt)).not.toBeNaN();
    await changes.count(1, 5000, 'up');
    expect(changes.all()[0]).toEqual({ type: 'up', instance: reg.record });
    expect(view.get(reg.record.id)).toEqual(reg.record);
    expect(view.instances(service)).toEqual([]); // registered, not ready
    expect(view.all().filter((r) => r.service === service)).toHaveLength(1);

    // Stored as the contract says: JSON at the key, under a lease of the default TTL.
    const admin = fx.client();
    const stored = await admin.kv.range({ key: Buffer.from(recordKey(reg.record)) });
    expect(stored.kvs[0]!.value.toString()).toBe(encodeRecord(reg.record));
    expect(stored.kvs[0]!.lease).toBe(reg.leaseId);
    expect((await admin.leaseClient.leaseTimeToLive({ ID: reg.leaseId })).grantedTTL).toBe(String(TTL));

    await reg.update({ ready: true, weight: 2 });
    await changes.count(2, 5000, 'ready');
    expect(changes.all()[1]).toMatchObject({ type: 'updated', instance: { ready: true, weight: 2 } });
    const offered = view.instances(service);
    expect(offered.map((r) => r.id)).toEqual([reg.record.id]);
    expect(view.instances(service, '1.2.0')).toBe(view.instances(service, '1.2.0'));
    expect(view.instances(service)).toBe(offered); // the same array until the next change
    expect(view.instances(service, '9.9.9')).toEqual([]);
    expect(view.subscribers('order.confirmed').map((r) => r.id)).toContain(reg.record.id);

    // A view opened now has it from its initial load.
    const late = await watcher.watchView();
    expect(late.instances(service).map((r) => r.id)).toEqual([reg.record.id]);
    const lateChanges = changesOf(late, service);

    await reg.update({ ready: false });
    await changes.count(3, 5000, 'not ready');
    expect(view.instances(service)).toEqual([]);
    await lateChanges.count(1, 5000, 'not ready in the late view');
    expect(late.get(reg.record.id)?.ready).toBe(false);

    await reg.deregister();
    await reg.deregister(); // idempotent
    await changes.count(4, 5000, 'down');
    expect(kinds(changes.all())).toEqual([`up:${service}-a`, `updated:${service}-a`, `updated:${service}-a`, `down:${service}-a:deregistered`]);
    expect(view.get(reg.record.id)).toBeUndefined();
    expect(await storeRecords(admin, service)).toEqual([]);
    expect((await admin.leaseClient.leaseTimeToLive({ ID: reg.leaseId })).TTL).toBe('-1');
    await expect(reg.update({ ready: true })).rejects.toThrow(/deregistered/);
  });

  it('a registration whose keep-alives stop (a killed process) leaves every view within the lease TTL', async () => {
    const service = uniqueName('crash');
    const { registry } = newRegistry();
    const view = await newRegistry().registry.watchView();
    const changes = changesOf(view, service);
    const reg = await registry.register({ service, version: '1.0.0', urls: urls(5000) });
    await changes.count(1, 5000, 'up');
    expect(view.instances(service)).toHaveLength(1);
    const stoppedAt = Date.now();
    reg.abandon();
    // The last keep-alive was at most TTL/3 ago, so the lease has between 2/3 TTL and TTL left;
    // the bound adds the server's expiry check interval (500 ms in etcd) and scheduling slack.
    await changes.count(2, TTL * 1000 + 1500, 'the record to expire with its lease');
    const elapsed = Date.now() - stoppedAt;
    expect(changes.all()[1]).toMatchObject({ type: 'down', reason: 'lease-expired', instance: { id: reg.record.id } });
    expect(elapsed).toBeGreaterThanOrEqual(1000);
    expect(elapsed).toBeLessThanOrEqual(TTL * 1000 + 1500);
    expect(view.instances(service)).toEqual([]);
  });

  it('a lost lease calls onLost and re-registers under a new lease', async () => {
    const service = uniqueName('lost');
    const { registry, lines } = newRegistry();
    const view = await newRegistry().registry.watchView();
    const changes = changesOf(view, service);
    const reg = await registry.register({ service, version: '1.0.0', urls: urls(5100) });
    const lost = new Inbox<string>();
    reg.onLost(() => lost.push(reg.leaseId));
    await changes.count(1, 5000, 'up');
    const first = reg.leaseId;
    // What a partition longer than the TTL looks like from the instance: the lease is gone.
    await fx.client().leaseClient.leaseRevoke({ ID: first });
    await lost.count(1, 5000, 'onLost');
    expect(lost.all()).toEqual([first]);
    await changes.count(3, 5000, 'down, then up again');
    expect(kinds(changes.all()).slice(1)).toEqual([`down:${reg.record.id}:lease-expired`, `up:${reg.record.id}`]);
    // Writes are serialized behind the re-registration: once this update is done, so is it.
    await reg.update({ metadata: { after: 'loss' } });
    expect(reg.leaseId).not.toBe(first);
    expect(reg.reregistrations).toBe(1);
    const stored = await fx.client().kv.range({ key: Buffer.from(recordKey(reg.record)) });
    expect(stored.kvs[0]!.lease).toBe(reg.leaseId);
    expect(lines.some((l) => l['msg'] === 'discovery: re-registered')).toBe(true);
    await changes.count(4, 5000, 'update after re-registration');
    expect(view.get(reg.record.id)?.metadata).toEqual({ after: 'loss' });
    expect(lost.size).toBe(1);
  });

  it('after the watch breaks it re-lists (history compacted meanwhile) and the view equals the store again', async () => {
    const service = uniqueName('relist');
    const admin = fx.client();
    const { registry } = newRegistry(admin);
    const target = Number(new URL(fx.server.endpoints[0]!).port);
    let mode: LinkMode = { kind: 'pass' };
    const proxy = new LinkProxy('server', target, 'view', () => mode);
    await proxy.start();
    cleanups.push(() => proxy.stop());
    const viewClient = createCoordClient([proxy.url], {
      grpcOptions: { 'grpc.initial_reconnect_backoff_ms': 50, 'grpc.max_reconnect_backoff_ms': 250 },
    });
    cleanups.push(() => viewClient.close());
    const { logger } = captureLogger();
    const view = await createRegistry({ client: viewClient, logger }).watchView({ relistBackoffMs: 50, maxRelistBackoffMs: 250 });
    cleanups.push(() => view.close());
    const changes = changesOf(view, service);

    const a = await registry.register({ id: `${service}-a`, service, version: '1.0.0', urls: urls(5200) });
    const c = await registry.register({ id: `${service}-c`, service, version: '1.0.0', urls: urls(5300) });
    await changes.count(2, 5000, 'a and c up');
    expect(view.relists()).toBe(0);

    mode = { kind: 'drop' };
    proxy.enforce();
    await a.deregister();
    await c.update({ ready: false });
    const b = await registry.register({ id: `${service}-b`, service, version: '1.0.0', urls: urls(5400) });
    const head = BigInt((await admin.kv.range({ key: Buffer.from(recordKey(b.record)) })).header.revision);
    await admin.kv.compact({ revision: String(head), physical: true });
    expect(view.get(a.record.id)).toBeDefined(); // still the last known state while cut off

    mode = { kind: 'pass' };
    const seen = await changes.until((items) => items.length >= 5, 15_000, 'the re-list diff');
    expect(kinds(seen.slice(2)).sort()).toEqual([`down:${service}-a:deleted`, `up:${service}-b`, `updated:${service}-c`].sort());
    expect(view.relists()).toBeGreaterThanOrEqual(1);
    expect(view.revision()).toBeGreaterThanOrEqual(head);
    expect(view.all().filter((r) => r.service === service)).toEqual(await storeRecords(admin, service));
    expect(view.instances(service).map((r) => r.id)).toEqual([b.record.id]);

    // And it watches again from the listing on.
    await c.update({ ready: true });
    await changes.count(6, 5000, 'a change after the re-list');
    expect(view.instances(service).map((r) => r.id)).toEqual([b.record.id, c.record.id]);
    expect(changes.size).toBe(6);
  });

  it('eject hides an instance from instances() and subscribers() until the given time', async () => {
    const service = uniqueName('eject');
    const { registry } = newRegistry();
    const view = await newRegistry().registry.watchView();
    const changes = changesOf(view, service);
    const ev = `${service}.happened`;
    const [x, y] = await Promise.all(['x', 'y'].map((s) =>
      registry.register({ id: `${service}-${s}`, service, version: '1.0.0', urls: urls(5500), events: [ev] })));
    await changes.count(2, 5000, 'both up');
    const ejections = new Inbox<[string, boolean]>();
    view.onEjection((id, ejected) => ejections.push([id, ejected]));

    const ejectedAt = Date.now();
    view.eject(x!.record.id, ejectedAt + 300);
    expect(view.instances(service).map((r) => r.id)).toEqual([y!.record.id]);
    expect(view.subscribers(ev).map((r) => r.id)).toEqual([y!.record.id]);
    expect(view.all().filter((r) => r.service === service)).toHaveLength(2);
    expect(view.get(x!.record.id)).toBeDefined();
    await ejections.count(2, 3000, 'the ejection to end');
    expect(ejections.all()).toEqual([[x!.record.id, true], [x!.record.id, false]]);
    expect(Date.now() - ejectedAt).toBeGreaterThanOrEqual(300);
    expect(view.instances(service).map((r) => r.id)).toEqual([x!.record.id, y!.record.id]);
    expect(view.subscribers(ev)).toHaveLength(2);
  });

  it('rejects bad input with a TypeError and writes nothing; skips and logs a malformed stored record', async () => {
    const service = uniqueName('bad');
    const { registry } = newRegistry();
    const good = { service, version: '1.0.0', urls: urls(5600) };
    const bad: Array<[string, Record<string, unknown>]> = [
      ['service', { ...good, service: 'Bad_Name' }],
      ['service', { ...good, service: 'a/b' }],
      ['version', { ...good, version: '1.0/x' }],
      ['id', { ...good, id: 'has.dot' }],
      ['urls', { ...good, urls: ['not a url'] }],
      ['urls', { ...good, urls: ['shoal+tcp://127.0.0.1'] }], // no port
      ['urls', { ...good, urls: [] }],
      ['adminUrl', { ...good, adminUrl: 'ftp://x' }],
      ['weight', { ...good, weight: -1 }],
      ['actions', { ...good, actions: ['no-dot'] }],
      ['startedAt', { ...good, startedAt: 'yesterday' }],
      ['colour', { ...good, colour: 'blue' }],
    ];
    for (const [field, input] of bad) {
      await expect(registry.register(input as never), field).rejects.toThrow(TypeError);
      await expect(registry.register(input as never), field).rejects.toThrow(field === 'colour' ? /colour/ : new RegExp(field));
    }
    await expect(registry.register(good, { ttlSeconds: 0 })).rejects.toThrow(TypeError);
    const admin = fx.client();
    expect(await storeRecords(admin, service)).toEqual([]);
    const reg = await registry.register(good);
    await expect(reg.update({ ready: 'yes' } as never)).rejects.toThrow(TypeError);
    await expect(reg.update({ pid: 1 } as never)).rejects.toThrow(/pid/);

    const watcherLog = newRegistry();
    const view = await watcherLog.registry.watchView();
    const changes = changesOf(view, service);
    const junkKey = `/shoal/services/${service}/1.0.0/junk`;
    await admin.kv.put({ key: Buffer.from(junkKey), value: Buffer.from('{"id": "junk", "oops"') });
    const other = await registry.register({ ...good, id: `${service}-after` });
    await changes.count(1, 5000, 'the valid record after the junk');
    expect(changes.all()[0]).toMatchObject({ type: 'up', instance: { id: other.record.id } });
    expect(view.all().filter((r) => r.service === service).map((r) => r.id).sort()).toEqual([reg.record.id, other.record.id].sort());
    const warned = watcherLog.lines.filter((l) => l['key'] === junkKey);
    expect(warned).toHaveLength(1);
    expect(warned[0]!['msg']).toMatch(/malformed/);
    await admin.kv.deleteRange({ key: Buffer.from(junkKey) });
  });

  it('DNS answers match the view', async () => {
    const service = uniqueName('dns');
    const { registry } = newRegistry();
    const view = await newRegistry().registry.watchView();
    const changes = changesOf(view, service);
    const server = await createDnsServer(view);
    cleanups.push(() => server.close());
    await registry.register({ id: `${service}-1`, service, version: '1.0.0', urls: ['shoal+tcp://127.0.0.1:6001'] });
    await registry.register({ id: `${service}-2`, service, version: '1.0.0', urls: ['http://127.0.0.2:6002'] });
    const off = await registry.register({ id: `${service}-3`, service, version: '1.0.0', urls: ['http://127.0.0.3:6003'], ready: false });
    await changes.count(3, 5000, 'three up');

    const srvTargets = async (): Promise<Array<[string, number]>> => {
      const reply = await query(server.port, `_${service}._tcp.shoal.`, 'SRV');
      expect(reply.rcode).toBe('NOERROR');
      return (reply.answers ?? []).map((a) => [(a as dns.SrvAnswer).data.target, (a as dns.SrvAnswer).data.port]);
    };
    const fromView = (): Array<[string, number]> =>
      view.instances(service).map((r) => [`${r.id}.shoal`, Number(new URL(r.urls[0]!).port)]);
    expect(await srvTargets()).toEqual(fromView());
    expect(fromView()).toHaveLength(2);
    const a = await query(server.port, `${service}.shoal`, 'A');
    expect((a.answers ?? []).map((x) => (x as dns.StringAnswer).data)).toEqual(['127.0.0.1', '127.0.0.2']);
    const one = await query(server.port, `${off.record.id}.shoal`, 'A');
    expect((one.answers ?? []).map((x) => (x as dns.StringAnswer).data)).toEqual(['127.0.0.3']);

    await off.update({ ready: true });
    await changes.count(4, 5000, 'ready');
    expect(await srvTargets()).toEqual(fromView());
    expect(fromView()).toHaveLength(3);
    await off.deregister();
    await changes.count(5, 5000, 'down');
    expect(await srvTargets()).toEqual(fromView());
    expect((await query(server.port, `${off.record.id}.shoal`, 'A')).rcode).toBe('NXDOMAIN');
    await within(server.close(), 2000, 'dns close');
  });
});
