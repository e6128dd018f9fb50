// One service's events: where its outbox and inbox live, emitting, and the dispatcher that pushes
// its outbox. The database is the service's own (declared with `host.useDatabase(db)`), or a
// runtime-owned SQLite file `<dataDir>/<service>.events.db` (in memory without a dataDir) —
// per service, not per instance, so a restarted instance (new id) finds and pushes what its
// predecessor left pending; instances sharing the file claim rows before pushing them.
import path from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import type { Logger } from 'pino';
import type { ServiceView } from '../discovery/types.js';
import { ErrorCode, ShoalError } from '../errors/index.js';
import { Deadline } from '../resilience/index.js';
import type { Emitter } from './context.js';
import { EVENT_ACTION, EVENT_NAME } from './names.js';
import { OutboxDispatcher, enqueueEvent, migrateEventTables, type DispatcherOptions } from './outbox.js';
import type { CallPipeline } from './pipeline.js';
import type { EmitOptions } from './types.js';
import type { AnyKysely } from './types.js';

export type EventsPolicy = Pick<DispatcherOptions, 'pollMs' | 'batchSize' | 'claimMs' | 'backoff' | 'subscriptionTtlMs' | 'retentionMs'> & {
  /** Bound on one push (the subscriber's handler included). Default 10 s. */
  pushTimeoutMs?: number;
};

export interface ServiceEventsOptions {
  service: string;
  dataDir: string | undefined;
  view: ServiceView;
  pipeline: CallPipeline;
  logger: Logger;
  policy?: EventsPolicy;
}

export class ServiceEvents implements Emitter {
  private db: AnyKysely | undefined;
  private opening: Promise<AnyKysely> | undefined;
  private ownsDb = false;
  private dispatcher: OutboxDispatcher | undefined;

  constructor(private readonly options: ServiceEventsOptions) {}

  /** The service's own database; must come before the first emit. */
  async useDatabase(db: AnyKysely): Promise<void> {
    if (this.opening !== undefined) {
      throw new Error(`${this.options.service}: useDatabase must be called before the first emit and only once (in the started hook)`);
    }
    this.opening = migrateEventTables(db).then(() => db);
    this.db = await this.opening;
  }

  /** The database holding the outbox and inbox (opened on first use). */
  database(): Promise<AnyKysely> {
    this.opening ??= this.openOwn();
    return this.opening;
  }

  async emit(event: string, payload: unknown, options: EmitOptions | undefined, traceparent: string | undefined): Promise<void> {
    if (typeof event !== 'string' || !EVENT_NAME.test(event)) {
      throw new ShoalError({ code: ErrorCode.INVALID_ARGUMENT, message: `"${String(event)}" is not an event name (${EVENT_NAME})`, retryable: false });
    }
    const meta = { ...options?.meta, ...(traceparent === undefined ? {} : { traceparent }) };
    if (options?.trx !== undefined) {
      if (this.db === undefined || this.ownsDb) {
        throw new ShoalError({
          code: 'FAILED_PRECONDITION',
          message: `${this.options.service}: emit with { trx } needs the service's database declared with host.useDatabase(db)`,
          retryable: false,
        });
      }
      await enqueueEvent(options.trx, event, payload, meta);
      // The row is visible once the caller commits; until then a nudged round simply misses it
      // and the next poll picks it up.
      setImmediate(() => this.dispatcher?.nudge());
      return;
    }
    await enqueueEvent(await this.database(), event, payload, meta);
    this.dispatcher?.nudge();
  }

  /** Starts pushing the outbox (the host does this once the instance is registered). */
  async start(): Promise<void> {
    const db = await this.database();
    const { pipeline, policy } = this.options;
    this.dispatcher = new OutboxDispatcher({
      ...policy,
      db,
      view: this.options.view,
      logger: this.options.logger,
      push: async (service, envelope, meta) => {
        // The push continues the emitting span's trace (its traceparent was stored with the event).
        const traceparent = typeof meta.traceparent === 'string' ? meta.traceparent : undefined;
        await pipeline.invoke(service, `${service}.${EVENT_ACTION}`, envelope, { idempotent: true, timeoutMs: policy?.pushTimeoutMs ?? 10_000 }, { deadline: Deadline.NONE, traceparent, meta });
      },
    });
    this.dispatcher.start();
  }

  async stop(): Promise<void> {
    await this.dispatcher?.stop();
  }

  /** Closes the runtime-owned database (never the service's own). */
  async close(): Promise<void> {
    if (this.ownsDb && this.db !== undefined) await this.db.destroy();
  }

  private async openOwn(): Promise<AnyKysely> {
    const file = this.options.dataDir === undefined ? ':memory:' : path.join(this.options.dataDir, `${this.options.service}.events.db`);
    if (file === ':memory:') this.options.logger.warn({ service: this.options.service }, 'no data dir and no service database: pending events are kept in memory only');
    const sqlite = new Database(file);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('busy_timeout = 5000');
    const db: AnyKysely = new Kysely<Record<string, never>>({ dialect: new SqliteDialect({ database: sqlite }) });
    await migrateEventTables(db);
    this.db = db;
    this.ownsDb = true;
    return db;
  }
}
