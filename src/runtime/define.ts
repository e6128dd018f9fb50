// defineService: checks a service schema once, at definition time, and freezes it, so a typo in a
// name fails at import rather than when the first call arrives. Generic over the params schemas
// so `ctx.params` is typed from each action's zod schema.
import type { z } from 'zod';
import { ACTION_NAME, EVENT_NAME, SERVICE_NAME, VERSION } from './names.js';
import type { ActionDefinition, Context, EventContext, EventDefinition, ServiceDefinition, ServiceSchema } from './types.js';

/** The parsed type of a params schema; `unknown` when an action declares none. */
type Parsed<S> = S extends z.ZodType ? z.infer<S> : unknown;

/**
 * The schema as a user writes it. Each action is inferred on its own (P maps action name to its
 * params schema), so `ctx.params` is typed from `params`; an action without `params` sees unknown.
 * (A constraint of Record<string, ZodType> would make one params-less action drop the inference
 * of all the others.)
 */
export type ServiceSchemaInput<P extends Record<string, unknown>, E extends Record<string, unknown>> = Omit<ServiceSchema, 'actions' | 'events'> & {
  actions: {
    [K in keyof P]: Omit<ActionDefinition, 'params' | 'handler'> & { params?: P[K] & z.ZodType; handler(ctx: Context<Parsed<P[K]>>): unknown };
  };
  events?: {
    [K in keyof E]: Omit<EventDefinition, 'payload' | 'handler'> & { payload?: E[K] & z.ZodType; handler(ctx: EventContext<Parsed<E[K]>>): Promise<void> | void };
  };
};

export function defineService<P extends Record<string, unknown>, E extends Record<string, unknown> = Record<never, unknown>>(
  schema: ServiceSchemaInput<P, E>,
): ServiceDefinition {
  const s = schema as unknown as ServiceSchema;
  const fail = (why: string): never => {
    throw new TypeError(`defineService(${typeof s?.name === 'string' ? s.name : '?'}): ${why}`);
  };
  if (typeof s !== 'object' || s === null) fail('schema must be an object');
  if (typeof s.name !== 'string' || !SERVICE_NAME.test(s.name)) fail(`name must match ${SERVICE_NAME} (got ${JSON.stringify(s.name)})`);
  if (typeof s.version !== 'string' || !VERSION.test(s.version)) fail(`version must match ${VERSION} (got ${JSON.stringify(s.version)})`);
  if (typeof s.actions !== 'object' || s.actions === null || Object.keys(s.actions).length === 0) fail('actions must be a non-empty object');
  for (const [name, action] of Object.entries(s.actions)) {
    if (!ACTION_NAME.test(name)) fail(`action name "${name}" must match ${ACTION_NAME}`);
    if (typeof action !== 'object' || action === null || typeof action.handler !== 'function') fail(`action ${name} needs a handler function`);
    if (action.params !== undefined && typeof (action.params as { safeParse?: unknown }).safeParse !== 'function') fail(`action ${name}: params must be a zod schema`);
    if (action.timeoutMs !== undefined && !(action.timeoutMs > 0)) fail(`action ${name}: timeoutMs must be > 0`);
  }
  for (const [name, event] of Object.entries(s.events ?? {})) {
    if (!EVENT_NAME.test(name)) fail(`event name "${name}" must match ${EVENT_NAME}`);
    if (typeof event !== 'object' || event === null || typeof event.handler !== 'function') fail(`event ${name} needs a handler function`);
    if (event.payload !== undefined && typeof (event.payload as { safeParse?: unknown }).safeParse !== 'function') fail(`event ${name}: payload must be a zod schema`);
  }
  for (const [k, v] of Object.entries(s.metadata ?? {})) if (typeof v !== 'string') fail(`metadata.${k} must be a string`);
  if (s.strategy !== undefined && typeof s.strategy !== 'string') fail('strategy must be a strategy name');
  for (const hook of ['started', 'stopped'] as const) if (s[hook] !== undefined && typeof s[hook] !== 'function') fail(`${hook} must be a function`);

  const frozen: ServiceSchema = Object.freeze({
    ...s,
    actions: Object.freeze(Object.fromEntries(Object.entries(s.actions).map(([k, a]) => [k, Object.freeze({ ...a })]))),
    events: s.events === undefined ? undefined : Object.freeze(Object.fromEntries(Object.entries(s.events).map(([k, e]) => [k, Object.freeze({ ...e })]))),
    metadata: s.metadata === undefined ? undefined : Object.freeze({ ...s.metadata }),
  });
  return Object.freeze({ schema: frozen, name: frozen.name, version: frozen.version });
}
