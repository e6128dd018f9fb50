import { describe, expect, it } from 'vitest';
import type { IEvent } from 'etcd3';
import {
  configPrefix,
  loadConfig,
  watchConfig,
  watchFrom,
  writeConfig,
  type ConfigChange,
  type ConfigSnapshot,
} from '../../src/recipes/index.js';
import { Inbox, SERVERS, uniqueName, useServer, within } from '../contract/harness.js';

interface HttpConfig {
  timeoutMs: number;
  retries: number;
  features: string[];
}

/** A typed view of the raw entries; throws on invalid input so a bad write never goes live. */
function parseHttp(entries: ReadonlyMap<string, string>): HttpConfig {
  const int = (path: string, fallback: number): number => {
    const raw = entries.get(path);
    if (raw === undefined) return fallback;
    if (!/^\d+$/.test(raw)) throw new Error(`${path} must be a non-negative integer, got ${JSON.stringify(raw)}`);
    return Number(raw);
  };
  const features = [...entries.keys()].filter((p) => p.startsWith('features/') && entries.get(p) === 'on').map((p) => p.slice(9)).sort();
  return { timeoutMs: int('http/timeoutMs', 1000), retries: int('http/retries', 0), features };
}

describe.each(SERVERS)('config recipe on $name', (kind) => {
  const fx = useServer(kind);

  it('loads a typed snapshot and hot-reloads every update, in order, from the snapshot revision', async () => {
    const service = uniqueName('orders');
    const [writer, reader] = [fx.client(), fx.client()];
    const r0 = await writeConfig(writer, service, { 'http/timeoutMs': '250', 'features/fast-checkout': 'on' });
    // A key of another service with a common name prefix must not leak in.
    await writeConfig(writer, `${service}x`, { 'http/timeoutMs': '1' });

    const snapshots = new Inbox<{ snapshot: ConfigSnapshot<HttpConfig>; change: ConfigChange }>();
    const watcher = await watchConfig(reader, service, parseHttp, { onChange: (snapshot, change) => snapshots.push({ snapshot, change }) });
    expect(watcher.current().value).toEqual({ timeoutMs: 250, retries: 0, features: ['fast-checkout'] });
    expect(watcher.current().revision).toBeGreaterThanOrEqual(r0);

    const revisions: bigint[] = [];
    for (let i = 1; i <= 15; i++) revisions.push(await writeConfig(writer, service, { 'http/retries': String(i) }));
    revisions.push(await writeConfig(writer, service, { 'features/fast-checkout': null, 'features/gift-wrap': 'on', 'http/timeoutMs': '500' }));

    const got = await snapshots.count(16, 10_000, 'sixteen config changes');
    expect(got.map((g) => g.change.revision)).toEqual(revisions);
    expect(got.slice(0, 15).map((g) => g.snapshot.value.retries)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    const last = got[15]!;
    expect(last.change.changes).toEqual([
      { type: 'delete', path: 'features/fast-checkout', prevValue: 'on' },
      { type: 'put', path: 'features/gift-wrap', value: 'on' },
      { type: 'put', path: 'http/timeoutMs', value: '500', prevValue: '250' },
    ].sort((a, b) => a.path.localeCompare(b.path)));
    expect(watcher.current().value).toEqual({ timeoutMs: 500, retries: 15, features: ['gift-wrap'] });
    expect(watcher.current()).toEqual(last.snapshot);
    await watcher.close();
  });

  it('misses nothing written while the watcher starts', async () => {
    const service = uniqueName('race');
    const [writer, reader, auditor] = [fx.client(), fx.client(), fx.client()];
    const start = await writeConfig(writer, service, { 'http/retries': '0' });
    // Record the store's own history of the prefix, independently of the recipe.
    const history = new Inbox<IEvent>();
    const audit = await watchFrom(auditor, { key: configPrefix(service), prefix: true, startRevision: start + 1n }, {
      onEvents: (events) => events.forEach((ev) => history.push(ev)),
      onCancelled: () => undefined,
    });
    const total = 40;
    const writes = (async () => {
      for (let i = 1; i <= total; i++) await writeConfig(writer, service, { 'http/retries': String(i) });
    })();
    const seen = new Inbox<ConfigChange>();
    const watcher = await watchConfig(reader, service, parseHttp, { onChange: (_s, change) => seen.push(change) });
    const snapshotRevision = watcher.current().revision;
    await within(writes, 20_000, 'writes');
    await history.count(total, 10_000, 'audit history');
    const expected = history.all().filter((ev) => BigInt(ev.kv.mod_revision) > snapshotRevision).map((ev) => BigInt(ev.kv.mod_revision));
    await seen.count(expected.length, 10_000, 'every write after the snapshot');
    expect(seen.all().map((c) => c.revision)).toEqual(expected);
    expect(watcher.current().value.retries).toBe(total);
    await audit.cancel();
    await watcher.close();
  });

  it('keeps the last good config when an update does not parse, and reloads when it is fixed', async () => {
    const service = uniqueName('strict');
    const client = fx.client();
    await writeConfig(client, service, { 'http/timeoutMs': '300' });
    const errors = new Inbox<unknown>();
    const good = new Inbox<HttpConfig>();
    const watcher = await watchConfig(client, service, parseHttp, {
      onChange: (s) => good.push(s.value),
      onError: (err) => errors.push(err),
    });
    const bad = await writeConfig(client, service, { 'http/timeoutMs': 'soon' });
    await errors.count(1, 5000, 'parse error');
    expect(String(errors.all()[0])).toMatch(/http\/timeoutMs must be a non-negative integer/);
    expect(watcher.current().value.timeoutMs).toBe(300);
    expect(watcher.current().revision).toBeLessThan(bad);
    const fixed = await writeConfig(client, service, { 'http/timeoutMs': '900' });
    await good.count(1, 5000, 'reload after fix');
    expect(good.all()).toEqual([{ timeoutMs: 900, retries: 0, features: [] }]);
    expect(watcher.current().revision).toBe(fixed);
    await watcher.close();
    // A one-shot load gives the same typed value.
    expect((await loadConfig(client, service, parseHttp)).value).toEqual({ timeoutMs: 900, retries: 0, features: [] });
  });
});
