// The view across a restart of Shoal's coordinator process (SIGKILL, then the same data dir and
// port): its watch stream drops, it re-lists once the coordinator serves again, and it ends up
// equal to the store, following later changes through the new watch.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createRegistry, type ViewChange } from '../../src/discovery/index.js';
import { parseStoredRecord } from '../../src/discovery/record.js';
import { createCoordClient } from '../../src/recipes/index.js';
import { Inbox, uniqueName } from '../contract/harness.js';
import { freePort, LOOPBACK } from '../support/ports.js';
import { spawnCoord, type CoordChild } from '../support/shoal-coord.js';
import { captureLogger } from './helpers.js';

const selected = (process.env['SHOAL_CONTRACT_SERVERS'] ?? 'shoal').includes('shoal');

describe.runIf(selected)('discovery view across a coordinator restart (shoal coord)', () => {
  const children: CoordChild[] = [];
  let dataDir: string | undefined;
  afterAll(async () => {
    for (const c of children) {
      if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
      await c.exited;
    }
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('re-lists after the coordinator comes back and stays equal to the store', async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'shoal-discovery-restart-'));
    const port = await freePort();
    const url = `http://${LOOPBACK}:${port}`;
    const args = ['--name', 'n1', '--data-dir', dataDir, '--listen-client-urls', url, '--advertise-client-urls', url];
    const logs: string[] = [];
    const start = async (label: string): Promise<CoordChild> => {
      const c = spawnCoord(args, logs, label, 30_000);
      children.push(c);
      await c.ready;
      return c;
    };
    const first = await start('coord (first run)');

    const grpcOptions = { 'grpc.initial_reconnect_backoff_ms': 50, 'grpc.max_reconnect_backoff_ms': 250 };
    const ownerClient = createCoordClient([url], { grpcOptions });
    const viewClient = createCoordClient([url], { grpcOptions });
    const owner = createRegistry({ client: ownerClient, logger: captureLogger().logger });
    const watcher = createRegistry({ client: viewClient, logger: captureLogger().logger });
    try {
      const service = uniqueName('restart');
      const view = await watcher.watchView({ relistBackoffMs: 50, maxRelistBackoffMs: 250 });
      const changes = new Inbox<ViewChange>();
      view.onChange((c) => { if (c.instance.service === service) changes.push(c); });
      const a = await owner.register({ id: `${service}-a`, service, version: '1.0.0', urls: ['http://127.0.0.1:7001'] });
      await changes.count(1, 5000, 'a up');

      first.child.kill('SIGKILL');
      await first.exited;
      await start('coord (restarted)');

      // After the restart: a new instance and a change to the old one, seen through the recovered view.
      const b = await owner.register({ id: `${service}-b`, service, version: '1.0.0', urls: ['http://127.0.0.1:7002'] });
      await a.update({ ready: false });
      await changes.until((items) => items.some((c) => c.type === 'up' && c.instance.id === b.record.id)
        && view.get(a.record.id)?.ready === false, 20_000, 'b up and a not ready');
      expect(view.relists()).toBeGreaterThanOrEqual(1);
      const res = await viewClient.kv.range({ key: Buffer.from(`/shoal/services/${service}/`), range_end: Buffer.from(`/shoal/services/${service}0`) });
      const stored = res.kvs.flatMap((kv) => { const p = parseStoredRecord(kv.value.toString()); return p.ok ? [p.record] : []; });
      expect(view.all().filter((r) => r.service === service)).toEqual(stored);
      expect(view.instances(service).map((r) => r.id)).toEqual([b.record.id]);
      // Through the new watch these come in revision order; through a re-list, in key order.
      expect(kinds(changes.all())[0]).toBe(`up:${a.record.id}`);
      expect(kinds(changes.all()).slice(1).sort()).toEqual([`up:${b.record.id}`, `updated:${a.record.id}`].sort());
    } finally {
      await owner.close().catch(() => undefined);
      await watcher.close();
      ownerClient.close();
      viewClient.close();
    }
  });
});

function kinds(items: ViewChange[]): string[] {
  return items.map((c) => `${c.type}:${c.instance.id}`);
}
