// The public contract of Shoal's service runtime: how a user defines a service and what a handler
// sees. Fixed before the implementation so shop/ and gateway/ can be written beside it; change it
// only together with every user. Schemas are zod 4 (validate at the instance, documented by
// z.toJSONSchema for OpenAPI).
import type { z } from 'zod';
import type { Logger } from 'pino';
import type { Kysely, Transaction } from 'kysely';

/*
 * A service's database or open transaction, whatever its tables: the runtime only touches its
 * own (shoal_outbox, shoal_inbox, shoal_subscriptions). `any` is kysely's idiom for that —
 * Kysely<MyTables> is not assignable to Kysely<unknown> or Kysely<{}>.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyKysely = Kysely<any>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyTransaction = Transaction<any>;

/** Options a caller may give `ctx.call` / `broker.call`. */
export interface CallOptions {
  /** Bound on this call; the tighter of this and the caller's remaining budget is used and propagated. */
  timeoutMs?: number;
  /** Only instances of this version (exact match on InstanceRecord.version). */
  version?: string;
  /** Balancing strategy for this call (else the per-service setting, else 'p2c-ewma'). */
  strategy?: string;
  /** Affinity key for consistent hashing. */
  key?: string;
  /** Overrides the action's `idempotent` flag for retry decisions. */
  idempotent?: boolean;
  /** Extra meta fields carried to the callee (strings only on HTTP). */
  meta?: Record<string, unknown>;
}

export interface EmitOptions {
  /**
   * Transactional outbox: the caller's own open kysely transaction on the database it declared
   * with `host.useDatabase(db)`. The event is stored in it and is pushed only if it commits.
   * Without it the event goes to the service's outbox at once (its own small transaction).
   */
  trx?: AnyKysely;
  /** Extra meta delivered with the event (the emitting span's traceparent is added). */
  meta?: Record<string, unknown>;
}

/** What an action or event handler receives. */
export interface Context<P = unknown> {
  readonly params: P;
  /** Meta that came with the call (traceparent, callerId, auth claims forwarded by the gateway under `auth`). */
  readonly meta: Readonly<Record<string, unknown>>;
  /** Milliseconds left of the caller's budget (Infinity when unbounded). */
  remainingMs(): number;
  /** Aborted when the deadline passes or the instance stops hard. */
  readonly signal: AbortSignal;
  /** This instance's id. */
  readonly instanceId: string;
  /** pino child logger carrying traceId, spanId, action. */
  readonly logger: Logger;
  call<T = unknown>(action: string, params?: unknown, options?: CallOptions): Promise<T>;
  emit(event: string, payload: unknown, options?: EmitOptions): Promise<void>;
}

export interface ActionDefinition<S extends z.ZodType = z.ZodType, R = unknown> {
  /** Validates params at the instance; a failure answers INVALID_ARGUMENT with zod's issues in `details`. */
  params?: S;
  /** Documents the result (OpenAPI); not enforced. */
  result?: z.ZodType;
  /** Safe to run twice: callers may retry it on any retryable failure. Default false. */
  idempotent?: boolean;
  /** Default per-call timeout for callers that give none. */
  timeoutMs?: number;
  description?: string;
  handler(ctx: Context<z.infer<S>>): Promise<R> | R;
}

/** What an event handler receives: a Context plus the event's identity and the inbox transaction. */
export interface EventContext<P = unknown> extends Context<P> {
  /** Unique per emitted event (all deliveries of one event share it). */
  readonly eventId: string;
  readonly event: string;
  /**
   * The open transaction in which the event id is recorded in the inbox (`shoal_inbox`). Make
   * the handler's own changes through it: they commit together with the dedup record, so a
   * redelivered event is skipped exactly when its effects are already there. Do not use the
   * database handle itself inside the handler (SQLite has one connection: it would wait on this
   * transaction).
   */
  readonly trx: AnyTransaction;
}

export interface EventDefinition<S extends z.ZodType = z.ZodType> {
  payload?: S;
  /** Called at least once per event; the runtime drops duplicates it has already handled (by event id). */
  handler(ctx: EventContext<z.infer<S>>): Promise<void> | void;
}

export interface ServiceSchema {
  /** `[a-z][a-z0-9-]*`; actions are called as `<name>.<action>`. */
  name: string;
  /** e.g. '1.0.0'. */
  version: string;
  // Each action has its own params type; `any` lets one record hold them all (defineService infers each).
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  actions: Record<string, ActionDefinition<any, any>>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  events?: Record<string, EventDefinition<any>>;
  /** Registered with the instance record (e.g. role: 'backup' puts the instance in the failover pool). */
  metadata?: Record<string, string>;
  /** Balancing strategy callers use for this service unless a call says otherwise. */
  strategy?: string;
  /** Runs before the instance registers; throw to fail the start. */
  started?(host: ServiceHandle): Promise<void> | void;
  /** Runs after draining, before the process exits. */
  stopped?(host: ServiceHandle): Promise<void> | void;
}

/** What lifecycle hooks get: a way to call other services and the instance's logger. */
export interface ServiceHandle {
  readonly instanceId: string;
  readonly logger: Logger;
  /** SHOAL_DATA_DIR (or the host's `dataDir` option), where a service keeps its SQLite file. */
  readonly dataDir: string | undefined;
  /**
   * Declares the service's own database (call it in `started`): the runtime creates
   * `shoal_outbox` and `shoal_inbox` in it, so `emit(..., { trx })` commits with the business
   * change and event handlers dedupe in the same transaction as their effects. Without it the
   * runtime keeps events in `<dataDir>/<service>.events.db` (in memory when there is no dataDir).
   */
  useDatabase(db: AnyKysely): Promise<void>;
  call<T = unknown>(action: string, params?: unknown, options?: CallOptions): Promise<T>;
  emit(event: string, payload: unknown, options?: EmitOptions): Promise<void>;
}

/** A service definition as returned by defineService (the schema, checked and frozen). */
export interface ServiceDefinition<S extends ServiceSchema = ServiceSchema> {
  readonly schema: S;
  readonly name: string;
  readonly version: string;
}

/** The part of a broker the gateway (or any caller outside a service) needs. */
export interface Caller {
  call<T = unknown>(action: string, params?: unknown, options?: CallOptions & { meta?: Record<string, unknown> }): Promise<T>;
}
