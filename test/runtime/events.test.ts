// Events: transactional outbox, push to one instance of each subscribing service, inbox dedup,
// redelivery after a consumer was down. Real SQLite files in a temp dir, real transports.
import path from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineService, type ServiceDefinition } from '../../src/index.js';
import type { ShoalEventTables } from '../../src/runtime/index.js';
import type { ShoalObservability } from '../../src/observe/index.js';
import { TestCluster } from './support/hosts.js';

interface AppTables extends ShoalEventTables {
  orders: { id: number; total: number };
  seen: { event_id: string; order_id: number; instance: string };
}
type Db = Kysely<AppTables>;

let cluster: TestCluster;
const dbs: Db[] = [];
afterEach(async () => {
  await cluster.closeAll();
  await Promise.all(dbs.splice(0).map((d) => d.destroy()));
});

function openDb(file: string): Db {
  const sqlite = new Database(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('busy_timeout = 5000');
  const db = new Kysely<AppTables>({ dialect: new SqliteDialect({ database: sqlite }) });
  dbs.push(db);
  return db;
}

function ordersService(dataDir: string, holder: { db?: Db }): ServiceDefinition {
  return defineService({
    name: 'orders',
    version: '1.0.0',
    async started(host) {
      const db = openDb(path.join(dataDir, 'orders.db'));
      await db.schema.createTable('orders').ifNotExists().addColumn('id', 'integer', (c) => c.primaryKey()).addColumn('total', 'integer').execute();
      await host.useDatabase(db);
      holder.db = db;
    },
    actions: {
      place: {
        params: z.object({ id: z.number().int(), total: z.number().int(), fail: z.boolean().optional() }),
        handler: async (ctx) => {
          await holder.db!.transaction().execute(async (trx) => {
            await trx.insertInto('orders').values({ id: ctx.params.id, total: ctx.params.total }).execute();
            await ctx.emit('order.placed', { orderId: ctx.params.id, total: ctx.params.total }, { trx });
            if (ctx.params.fail === true) throw new Error('payment provider said no');
          });
          return { id: ctx.params.id };
        },
      },
    },
  });
}

function consumer(name: string, dataDir: string): ServiceDefinition {
  return defineService({
    name,
    version: '1.0.0',
    async started(host) {
      const db = openDb(path.join(dataDir, `${name}.db`));
      await db.schema
        .createTable('seen')
        .ifNotExists()
        .addColumn('event_id', 'text')
        .addColumn('order_id', 'integer')
        .addColumn('instance', 'text')
        .execute();
      await host.useDatabase(db);
    },
    actions: { ping: { handler: () => 'pong' } },
    events: {
      'order.placed': {
        payload: z.object({ orderId: z.number(), total: z.number() }),
        handler: async (ctx) => {
          await (ctx.trx as unknown as Kysely<AppTables>).insertInto('seen').values({ event_id: ctx.eventId, order_id: ctx.params.orderId, instance: ctx.instanceId }).execute();
        },
      },
    },
  });
}

async function seen(dataDir: string, service: string): Promise<{ event_id: string; order_id: number; instance: string }[]> {
  const db = openDb(path.join(dataDir, `${service}.db`));
  try {
    return await db.selectFrom('seen').selectAll().orderBy('order_id').execute();
  } finally {
    dbs.splice(dbs.indexOf(db), 1);
    await db.destroy();
  }
}

/** Polls a database-backed condition (the dispatcher's bookkeeping has no event to await). */
async function eventually(check: () => Promise<boolean>, boundMs: number, what: string): Promise<void> {
  const until = Date.now() + boundMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`${what} not reached within ${boundMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const fastEvents = { pollMs: 50, backoff: { baseMs: 20, maxMs: 100 } };

describe('events', () => {
  it('commits the event with the business change, pushes it once to each subscribing service, dedupes redeliveries', async () => {
    cluster = new TestCluster();
    const dir = cluster.dataDir;
    const orders: { db?: Db } = {};
    const mail1 = await cluster.host([consumer('mail', dir)], { events: fastEvents });
    const mail2 = await cluster.host([consumer('mail', dir)], { events: fastEvents });
    await cluster.host([consumer('stats', dir)], { events: fastEvents });
    await cluster.host([ordersService(dir, orders)], { events: fastEvents });
    const broker = await cluster.broker();

    await broker.call('orders.place', { id: 1, total: 500 });
    const failed = await broker.call('orders.place', { id: 2, total: 700, fail: true }).catch((e: { code: string }) => e.code);
    expect(failed).toBe('INTERNAL');

    let mail: Awaited<ReturnType<typeof seen>> = [];
    let stats: Awaited<ReturnType<typeof seen>> = [];
    await eventually(async () => ((mail = await seen(dir, 'mail')), (stats = await seen(dir, 'stats')), mail.length >= 1 && stats.length >= 1), 10_000, 'delivery');
    // The rolled-back order left neither a row nor an event.
    expect(await orders.db!.selectFrom('orders').select('id').execute()).toEqual([{ id: 1 }]);
    const outbox = await orders.db!.selectFrom('shoal_outbox').selectAll().execute();
    expect(outbox).toHaveLength(1);
    expect(JSON.parse(outbox[0]!.payload)).toEqual({ orderId: 1, total: 500 });
    await eventually(async () => (await orders.db!.selectFrom('shoal_outbox').select('delivered_at').executeTakeFirstOrThrow()).delivered_at !== null, 5_000, 'delivered mark');
    const row = await orders.db!.selectFrom('shoal_outbox').selectAll().executeTakeFirstOrThrow();
    expect(JSON.parse(row.targets!)).toEqual(['mail', 'stats']);
    expect(JSON.parse(row.acked).sort()).toEqual(['mail', 'stats']);
    // One instance of each service handled it, once.
    expect(mail.map((m) => m.order_id)).toEqual([1]);
    expect(stats.map((m) => m.order_id)).toEqual([1]);
    expect(mail[0]!.event_id).toBe(row.id);
    // …pushed to one of the two mail instances only.
    const pushes = [mail1, mail2].flatMap((h) => (h.observability as ShoalObservability).tracer.recentSpans().filter((s) => s.name === 'mail.$event'));
    expect(pushes).toHaveLength(1);

    // A duplicate push of the same event (as after a lost ack) is acknowledged, not handled again.
    const envelope = { id: row.id, event: 'order.placed', payload: { orderId: 1, total: 500 } };
    const again = await Promise.all([0, 1, 2].map(() => broker.pipeline.invoke('mail', 'mail.$event', envelope, { idempotent: true })));
    expect(again).toEqual([{ handled: false }, { handled: false }, { handled: false }]);
    // A new event pushed three times at once, to both mail instances: handled exactly once.
    const fresh = { id: 'evt-fresh-1', event: 'order.placed', payload: { orderId: 9, total: 1 } };
    const results = await Promise.all([0, 1, 2, 3].map(() => broker.pipeline.invoke<{ handled: boolean }>('mail', 'mail.$event', fresh, { idempotent: true, strategy: 'round-robin' })));
    expect(results.filter((r) => r.handled)).toHaveLength(1);
    expect((await seen(dir, 'mail')).map((m) => m.order_id)).toEqual([1, 9]);
  });

  it('keeps an event pending while a subscribing service is down and delivers it when it is back', async () => {
    cluster = new TestCluster();
    const dir = cluster.dataDir;
    const orders: { db?: Db } = {};
    const stats = await cluster.host([consumer('stats', dir)], { events: fastEvents });
    await cluster.host([consumer('mail', dir)], { events: fastEvents });
    await cluster.host([ordersService(dir, orders)], { events: fastEvents });
    const broker = await cluster.broker();

    await stats.stop(); // deregistered: no stats instance in any view now
    await broker.call('orders.place', { id: 5, total: 100 });
    await eventually(async () => (await seen(dir, 'mail')).length === 1, 10_000, 'mail delivery');
    // stats was seen subscribing before, so the event waits for it (and keeps being retried).
    await eventually(
      async () => {
        const r = await orders.db!.selectFrom('shoal_outbox').selectAll().executeTakeFirstOrThrow();
        return r.attempts >= 3;
      },
      10_000,
      'retries while stats is down',
    );
    const pending = await orders.db!.selectFrom('shoal_outbox').selectAll().executeTakeFirstOrThrow();
    expect(pending.delivered_at).toBeNull();
    expect(JSON.parse(pending.acked)).toEqual(['mail']);
    expect(await seen(dir, 'stats')).toEqual([]);

    await cluster.host([consumer('stats', dir)], { events: fastEvents });
    await eventually(async () => (await seen(dir, 'stats')).length === 1, 10_000, 'stats redelivery');
    await eventually(async () => (await orders.db!.selectFrom('shoal_outbox').select('delivered_at').executeTakeFirstOrThrow()).delivered_at !== null, 5_000, 'delivered mark');
    expect((await seen(dir, 'stats')).map((s) => s.order_id)).toEqual([5]);
    expect((await seen(dir, 'mail')).map((s) => s.order_id)).toEqual([5]);
  });

  it('emit without a service database goes to the runtime-owned outbox and is delivered', async () => {
    cluster = new TestCluster();
    const dir = cluster.dataDir;
    await cluster.host([consumer('stats', dir)], { events: fastEvents });
    const plain = await cluster.host(
      [
        defineService({
          name: 'notifier',
          version: '1.0.0',
          actions: { fire: { handler: async (ctx) => ctx.emit('order.placed', { orderId: 42, total: 0 }) } },
        }),
      ],
      { events: fastEvents },
    );
    await plain.call('notifier.fire');
    await eventually(async () => (await seen(dir, 'stats')).length === 1, 10_000, 'delivery');
    expect((await seen(dir, 'stats'))[0]!.order_id).toBe(42);
    const withTrx = await plain.emit('order.placed', {}, { trx: {} as never }).catch((e: { code: string }) => e.code);
    expect(withTrx).toBe('FAILED_PRECONDITION');
  });
});
