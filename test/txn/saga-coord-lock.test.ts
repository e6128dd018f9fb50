// The recovery lock on a real coordinator (`shoal coord` from source): the default lock key is
// /shoal/locks/saga-recovery/<name>/<lease>, held while the loop runs and gone once it stops.
import path from 'node:path';
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCoordClient } from '../../src/recipes/index.js';
import type { SagaResult } from '../../src/txn/types.js';
import { freePort, LOOPBACK } from '../support/ports.js';
import { spawnCoord, type CoordChild } from '../support/shoal-coord.js';
import { orderSaga, signal, tempDir } from './saga-fixtures.js';
import { SagaWorld } from './saga-harness.js';

let coord: CoordChild;
let tmp: ReturnType<typeof tempDir>;
let client: Etcd3;

beforeAll(async () => {
  tmp = tempDir('saga-coord');
  const port = await freePort();
  const url = `http://${LOOPBACK}:${port}`;
  coord = spawnCoord(['--name', 'n1', '--data-dir', path.join(tmp.dir, 'coord'), '--listen-client-urls', url, '--advertise-client-urls', url], [], 'coord', 30_000);
  await coord.ready;
  client = createCoordClient([url], { callTimeoutMs: 5_000 });
});

afterAll(async () => {
  client?.close();
  if (coord !== undefined && coord.child.exitCode === null) {
    coord.child.kill('SIGTERM');
    await coord.exited;
  }
  tmp?.cleanup();
});

describe('saga recovery under the coordinator lock', () => {
  it('the lock holder finishes a crashed saga; the lock key exists while held and is gone after stop', async () => {
    const world = new SagaWorld(10, 1_000);
    try {
      const hung = world.caller((_r, i) => (i === 1 ? 'hang' : 'none'), true);
      const crashed = world.orchestrator(hung, { id: 'crashed' });
      void crashed.orch.run(orderSaga('k1', 2, 100)).catch(() => undefined);
      await hung.nextHang();
      crashed.db.close();
      world.clock.advance(60_001);

      const done = signal<SagaResult>();
      const { orch } = world.orchestrator(world.caller(), {
        id: 'survivor',
        onFinished: (result, payload) => {
          world.finished.push({ result, payload, by: 'survivor' });
          done.resolve(result);
        },
      });
      const stop = orch.startRecovery({ etcd: client, name: 'orders-test', scanIntervalMs: 5, lockTtlSeconds: 5 });
      let keys: string[];
      try {
        expect(await done.promise).toEqual({ gid: 'k1', status: 'committed' });
        keys = await client.getAll().prefix('/shoal/locks/saga-recovery/orders-test/').keys();
      } finally {
        await stop();
      }
      expect(keys).toHaveLength(1);
      expect(await client.getAll().prefix('/shoal/locks/saga-recovery/orders-test/').keys()).toEqual([]);
      expect(world.finished).toHaveLength(1);
      expect(world.stock.stock()).toBe(8);
      expect(world.wallet.cents()).toBe(900);
    } finally {
      world.close();
    }
  });
});
