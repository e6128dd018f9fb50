// The transactional outbox and the inbox (at-least-once push + dedup = effectively once).
//
// Producer: `enqueue(trx, …)` writes the event into `shoal_outbox` inside the service's own
// transaction, so the business change and the event commit together or not at all. A dispatcher
// loop pushes each pending event to ONE instance of EACH subscribing service and marks it
// delivered once every one of them acknowledged; a failed push is retried with backoff, forever
// (an event is never dropped because a consumer is down).
// Consumer: the event id goes into `shoal_inbox` in the same transaction as the handler's effects;
// a redelivery finds it there and is acknowledged without running the handler again.
//
// Which services must acknowledge: those subscribing when the event is first dispatched —
// the view's subscribers plus every service remembered (in `shoal_subscriptions`) to have
// subscribed within `subscriptionTtlMs`, so a consumer that is down (deregistered, its lease
// gone) still gets the event when it comes back.
import { randomUUID } from 'node:crypto';
import { EVENT_NAME } from './names.js';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { ServiceView } from '../discovery/types.js';
import { fullJitterBackoff } from '../resilience/index.js';
import type { AnyKysely } from './types.js';

export interface OutboxTable {
  id: string;
  event: string;
  /** JSON. */
  payload: string;
  /** JSON meta delivered with the event (the emitting span's traceparent…); null when none. */
  meta: string | null;
  created_at: number;
  attempts: number;
  next_attempt_at: number;
  delivered_at: number | null;
  /** JSON array of the services that must acknowledge; fixed at the first dispatch. */
  targets: string | null;
  /** JSON array of the services that did. */
  acked: string;
}

export interface InboxTable {
  event_id: string;
  handled_at: number;
}

export interface SubscriptionTable {
  event: string;
  service: string;
  last_seen: number;
}

/** The tables the runtime keeps in a service's database. */
export interface ShoalEventTables {
  shoal_outbox: OutboxTable;
  shoal_inbox: InboxTable;
  shoal_subscriptions: SubscriptionTable;
}

/** What travels to a subscriber (through its `<service>.$event` action). */
export interface EventEnvelope {
  id: string;
  event: string;
  payload: unknown;
}

type Db = Kysely<ShoalEventTables>;
const asDb = (db: AnyKysely): Db => db as unknown as Db;

/** Creates the outbox, inbox and subscription tables if missing (SQLite and PostgreSQL). */
export async function migrateEventTables(db: AnyKysely): Promise<void> {
  const d = asDb(db);
  await d.schema
    .createTable('shoal_outbox')
    .ifNotExists()
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('event', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('meta', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
    .addColumn('delivered_at', 'bigint')
    .addColumn('targets', 'text')
    .addColumn('acked', 'text', (c) => c.notNull().defaultTo('[]'))
    .execute();
  await d.schema.createIndex('shoal_outbox_pending').ifNotExists().on('shoal_outbox').columns(['delivered_at', 'next_attempt_at']).execute();
  await d.schema
    .createTable('shoal_inbox')
    .ifNotExists()
    .addColumn('event_id', 'text', (c) => c.primaryKey())
    .addColumn('handled_at', 'bigint', (c) => c.notNull())
    .execute();
  await d.schema
    .createTable('shoal_subscriptions')
    .ifNotExists()
    .addColumn('event', 'text', (c) => c.notNull())
    .addColumn('service', 'text', (c) => c.notNull())
    .addColumn('last_seen', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('shoal_subscriptions_pk', ['event', 'service'])
    .execute();
}

/**
 * The `shoal_outbox` row for a new event. Shared by enqueueEvent and by applications that insert
 * it themselves inside a synchronous SQLite transaction (which cannot await enqueueEvent).
 */
export function outboxRow(event: string, payload: unknown, meta?: Record<string, unknown>, now: number = Date.now()) {
  if (!EVENT_NAME.test(event)) throw new TypeError(`"${event}" is not an event name (<service>.<name>)`);
  return {
    id: randomUUID(),
    event,
    payload: JSON.stringify(payload === undefined ? null : payload),
    meta: meta === undefined || Object.keys(meta).length === 0 ? null : JSON.stringify(meta),
    created_at: now,
    attempts: 0,
    next_attempt_at: now,
    delivered_at: null,
    targets: null,
    acked: '[]',
  };
}

/** Stores an event in the given transaction (or database: then it is its own transaction). Returns its id. */
export async function enqueueEvent(trx: AnyKysely, event: string, payload: unknown, meta?: Record<string, unknown>, now: number = Date.now()): Promise<string> {
  const row = outboxRow(event, payload, meta, now);
  await asDb(trx).insertInto('shoal_outbox').values(row).execute();
  return row.id;
}

/** Records an event as handled, in the handler's transaction: false when it already was (a duplicate). */
export async function recordInInbox(trx: AnyKysely, eventId: string, now: number = Date.now()): Promise<boolean> {
  const result = await asDb(trx)
    .insertInto('shoal_inbox')
    .values({ event_id: eventId, handled_at: now })
    .onConflict((oc) => oc.column('event_id').doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0n) === 1;
}

export interface DispatcherOptions {
  db: AnyKysely;
  view: ServiceView;
  /** Pushes one event to one instance of `service`; resolves once that instance handled (or deduped) it. */
  push(service: string, envelope: EventEnvelope, meta: Record<string, unknown>): Promise<void>;
  logger: Logger;
  /** Idle poll interval; an emit wakes the loop at once. Default 250 ms. */
  pollMs?: number;
  batchSize?: number;
  /** A claimed event is left to its dispatcher this long before another may take it. Default 30 s. */
  claimMs?: number;
  /** Backoff between pushes of one event. Default 100 ms doubling to 10 s, full jitter. */
  backoff?: { baseMs?: number; maxMs?: number };
  /** A service not seen subscribing for this long no longer holds events back. Default 24 h. */
  subscriptionTtlMs?: number;
  /** Delivered events are deleted after this long. Default 1 h. */
  retentionMs?: number;
  now?: () => number;
  rng?: () => number;
}

interface Row {
  id: string;
  event: string;
  payload: string;
  meta: string | null;
  attempts: number | string;
  next_attempt_at: number | string;
  targets: string | null;
  acked: string;
}

export class OutboxDispatcher {
  private stopped = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private nudged = false;
  private readonly remembered = new Map<string, number>();
  private lastCleanup = 0;
  private readonly db: Db;
  private readonly now: () => number;
  private readonly rng: () => number;
  private readonly pollMs: number;
  private readonly batchSize: number;
  private readonly claimMs: number;
  private readonly ttlMs: number;
  private readonly retentionMs: number;

  constructor(private readonly options: DispatcherOptions) {
    this.db = asDb(options.db);
    this.now = options.now ?? Date.now;
    this.rng = options.rng ?? Math.random;
    this.pollMs = options.pollMs ?? 250;
    this.batchSize = options.batchSize ?? 32;
    this.claimMs = options.claimMs ?? 30_000;
    this.ttlMs = options.subscriptionTtlMs ?? 24 * 3600_000;
    this.retentionMs = options.retentionMs ?? 3600_000;
  }

  start(): void {
    if (this.loop !== undefined) throw new Error('outbox dispatcher already started');
    this.loop = this.run();
  }

  /** Something was enqueued: look now rather than at the next poll. */
  nudge(): void {
    this.nudged = true;
    this.wake?.();
  }

  /** Stops after the round in progress (its pushes finish or fail; unfinished events stay pending). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }

  /** One pass over due events; returns how many were taken. Exposed for tests. */
  async round(): Promise<number> {
    const now = this.now();
    await this.rememberSubscribers(now);
    const rows = (await this.db
      .selectFrom('shoal_outbox')
      .select(['id', 'event', 'payload', 'meta', 'attempts', 'next_attempt_at', 'targets', 'acked'])
      .where('delivered_at', 'is', null)
      .where('next_attempt_at', '<=', now)
      .orderBy('created_at')
      .limit(this.batchSize)
      .execute()) as Row[];
    await Promise.all(rows.map((row) => this.dispatch(row)));
    if (now - this.lastCleanup > 60_000) {
      this.lastCleanup = now;
      await this.db.deleteFrom('shoal_outbox').where('delivered_at', '<', now - this.retentionMs).execute();
    }
    return rows.length;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      this.nudged = false;
      let taken = 0;
      try {
        taken = await this.round();
      } catch (err) {
        this.options.logger.error({ err }, 'outbox dispatch round failed');
      }
      if (this.stopped) break;
      if (taken < this.batchSize && !this.nudged) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.pollMs);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
      }
    }
  }

  private async dispatch(row: Row): Promise<void> {
    const now = this.now();
    // The subscribers are fixed at the first attempt (a read), and stored with the claim.
    const fresh = row.targets === null;
    const targets = fresh ? await this.targetsFor(row.event, now) : (JSON.parse(row.targets!) as string[]);
    const acked = new Set(JSON.parse(row.acked) as string[]);
    const due = targets.filter((service) => !acked.has(service));
    // Claim: only the dispatcher whose update matched pushes it (several instances may share a
    // file). Nobody to push to: the claim is the delivery (one write instead of two).
    const claim = await this.db
      .updateTable('shoal_outbox')
      .set({
        next_attempt_at: now + this.claimMs,
        attempts: Number(row.attempts) + 1,
        ...(fresh ? { targets: JSON.stringify(targets) } : {}),
        ...(due.length === 0 ? { delivered_at: now } : {}),
      })
      .where('id', '=', row.id)
      .where('next_attempt_at', '=', Number(row.next_attempt_at))
      .where('delivered_at', 'is', null)
      .executeTakeFirst();
    if (Number(claim.numUpdatedRows) !== 1 || due.length === 0) return;
    const attempts = Number(row.attempts) + 1;
    const envelope: EventEnvelope = { id: row.id, event: row.event, payload: JSON.parse(row.payload) as unknown };
    const meta = row.meta === null ? {} : (JSON.parse(row.meta) as Record<string, unknown>);
    const failures: string[] = [];
    await Promise.all(
      due.map(async (service) => {
          try {
            await this.options.push(service, envelope, meta);
            acked.add(service);
          } catch (err) {
            failures.push(service);
            const log = attempts % 10 === 1 ? 'warn' : 'debug';
            this.options.logger[log]({ err, event: row.event, eventId: row.id, service, attempts }, 'event push failed; will retry');
          }
        }),
    );
    const done = this.now();
    if (failures.length === 0) {
      await this.db.updateTable('shoal_outbox').set({ delivered_at: done, acked: JSON.stringify([...acked]) }).where('id', '=', row.id).execute();
    } else {
      const delay = Math.max(this.options.backoff?.baseMs ?? 100, fullJitterBackoff(Math.min(attempts, 30), this.rng, { baseMs: 100, maxMs: 10_000, ...this.options.backoff }));
      await this.db
        .updateTable('shoal_outbox')
        .set({ next_attempt_at: done + delay, acked: JSON.stringify([...acked]) })
        .where('id', '=', row.id)
        .execute();
    }
  }

  private async targetsFor(event: string, now: number): Promise<string[]> {
    const rows = await this.db.selectFrom('shoal_subscriptions').select('service').where('event', '=', event).where('last_seen', '>=', now - this.ttlMs).execute();
    const services = new Set(rows.map((r) => r.service));
    for (const r of this.options.view.all()) if (r.events.includes(event)) services.add(r.service);
    return [...services].sort();
  }

  /** Writes (event, service) pairs seen in the view, each at most once per 10 minutes. */
  private async rememberSubscribers(now: number): Promise<void> {
    const due: { event: string; service: string }[] = [];
    for (const r of this.options.view.all()) {
      for (const event of r.events) {
        const key = `${event}\u0000${r.service}`;
        const last = this.remembered.get(key);
        if (last !== undefined && now - last < 600_000) continue;
        this.remembered.set(key, now);
        due.push({ event, service: r.service });
      }
    }
    for (const { event, service } of due) {
      await this.db
        .insertInto('shoal_subscriptions')
        .values({ event, service, last_seen: now })
        .onConflict((oc) => oc.columns(['event', 'service']).doUpdateSet({ last_seen: now }))
        .execute();
    }
  }
}
