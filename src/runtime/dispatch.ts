// The instance side of a call: find the action, validate params with its zod schema, run the
// handler inside a server span that continues the caller's trace, and answer with a typed error.
// Also the receiving end of the outbox push (`<service>.$event`): inbox dedup, then the handler.
import type { z } from 'zod';
import { ErrorCode, ShoalError, isShoalError } from '../errors/index.js';
import type { Observability, SpanHandle } from '../observe/types.js';
import { Deadline } from '../resilience/index.js';
import type { CallMeta } from '../transport/index.js';
import { HandlerContext, HandlerEventContext, type ContextScope } from './context.js';
import type { ServiceEvents } from './events.js';
import { fastParse } from './fast-parse.js';
import { EVENT_ACTION } from './names.js';
import { recordInInbox, type EventEnvelope } from './outbox.js';
import type { ActionDefinition, EventDefinition, ServiceDefinition } from './types.js';

/** One service hosted by this process, as the dispatcher needs it. */
export interface HostedService {
  readonly definition: ServiceDefinition;
  readonly scope: ContextScope;
  readonly events: ServiceEvents;
}

interface Route {
  readonly service: HostedService;
  readonly action: ActionDefinition<z.ZodType, unknown> | undefined;
}

export class Dispatcher {
  private readonly routes = new Map<string, Route>();

  constructor(
    services: readonly HostedService[],
    private readonly observability: Observability,
    private readonly now: () => number,
  ) {
    for (const service of services) {
      const name = service.definition.name;
      if (this.routes.has(`${name}.${EVENT_ACTION}`)) throw new Error(`service ${name} is hosted twice in one process`);
      for (const [action, def] of Object.entries(service.definition.schema.actions)) this.routes.set(`${name}.${action}`, { service, action: def });
      this.routes.set(`${name}.${EVENT_ACTION}`, { service, action: undefined });
    }
  }

  /** The transport's ActionHandler. */
  readonly handle = async (action: string, params: unknown, meta: CallMeta): Promise<unknown> => {
    const route = this.routes.get(action);
    if (route === undefined) {
      // Never ran, so safe to retry: a stale view may have sent it to an older version.
      throw new ShoalError({ code: 'ACTION_NOT_FOUND', message: `no action ${action} here`, retryable: true, details: { maybeExecuted: false } });
    }
    const started = this.now();
    const deadline = typeof meta.deadlineMs === 'number' ? Deadline.after(started, meta.deadlineMs) : Deadline.NONE;
    const { tracer, metrics } = this.observability;
    const span = tracer.startSpan(action, { kind: route.action === undefined ? 'consumer' : 'server', parent: typeof meta.traceparent === 'string' ? meta.traceparent : undefined });
    if (typeof meta.callerId === 'string') span.setAttribute('shoal.caller', meta.callerId);
    let outcome = 'ok';
    try {
      const scope = route.service.scope;
      if (route.action === undefined) return await this.deliver(route.service, params, meta, deadline, span);
      const parsed = parse(route.action.params, params, action, 'params');
      const ctx = new HandlerContext(parsed, meta, deadline, span, scope, action);
      try {
        return await route.action.handler(ctx);
      } catch (err) {
        throw this.answer(err, ctx.logger, action);
      } finally {
        ctx.finish();
      }
    } catch (err) {
      const error = err instanceof ShoalError ? err : this.answer(err, route.service.scope.logger, action);
      outcome = error.code;
      span.fail(error);
      throw error;
    } finally {
      span.end();
      metrics.recordCall({ side: 'server', action, outcome, durationMs: this.now() - started });
    }
  };

  /**
   * An event pushed by some outbox: record its id in the inbox and run the handler in one
   * transaction; a duplicate commits nothing and is acknowledged. A payload that fails its
   * schema can never succeed: it is logged and acknowledged rather than redelivered forever.
   */
  private async deliver(service: HostedService, raw: unknown, meta: CallMeta, deadline: Deadline, span: SpanHandle): Promise<{ handled: boolean }> {
    const envelope = raw as Partial<EventEnvelope> | null;
    if (typeof envelope !== 'object' || envelope === null || typeof envelope.id !== 'string' || typeof envelope.event !== 'string') {
      throw new ShoalError({ code: ErrorCode.INVALID_ARGUMENT, message: 'event push: expected { id, event, payload }', retryable: false });
    }
    const { id, event } = envelope;
    span.setAttribute('shoal.event', event);
    span.setAttribute('shoal.event_id', id);
    const definition: EventDefinition | undefined = service.definition.schema.events?.[event];
    const logger = service.scope.logger;
    if (definition === undefined) {
      logger.warn({ event, eventId: id }, 'event pushed to a service that does not subscribe to it; acknowledged');
      return { handled: false };
    }
    let payload: unknown;
    try {
      payload = parse(definition.payload, envelope.payload, event, 'payload');
    } catch (err) {
      logger.error({ event, eventId: id, issues: (err as ShoalError).details?.issues }, 'event payload fails its schema; dropped (acknowledged)');
      return { handled: false };
    }
    const db = await service.events.database();
    let handled = false;
    await db.transaction().execute(async (trx) => {
      if (!(await recordInInbox(trx, id))) return;
      handled = true;
      const ctx = new HandlerEventContext(payload, meta, deadline, span, service.scope, event, id, trx);
      try {
        await definition.handler(ctx);
      } finally {
        ctx.finish();
      }
    });
    span.setAttribute('shoal.duplicate', !handled);
    return { handled };
  }

  /** A handler's error as the caller sees it: ShoalErrors pass; anything else is a generic INTERNAL. */
  private answer(err: unknown, logger: { error(obj: object, msg: string): void }, action: string): ShoalError {
    if (isShoalError(err)) return err;
    // The message of a foreign error may hold internals (SQL, paths); it stays in the log.
    logger.error({ err, action }, 'handler failed');
    return new ShoalError({ code: ErrorCode.INTERNAL, message: `internal error in ${action}`, retryable: false });
  }
}

function parse(schema: z.ZodType | undefined, value: unknown, name: string, what: string): unknown {
  if (schema === undefined) return value;
  const fast = fastParse(schema, value);
  if (fast !== undefined) return fast.data;
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new ShoalError({
    code: ErrorCode.INVALID_ARGUMENT,
    message: `invalid ${what} for ${name}: ${result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
    retryable: false,
    details: { issues: result.error.issues.map((i) => ({ code: i.code, path: i.path.map((p) => (typeof p === 'symbol' ? String(p) : p)), message: i.message })) },
  });
}
