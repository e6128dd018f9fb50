// The runtime's broker as the gateway's Caller. The pipeline makes its own client span and
// overwrites meta.traceparent with it; to keep that span inside the request's trace, the
// request's traceparent is handed over as the call's parent instead of as meta.
import { Deadline } from '../resilience/index.js';
import type { Broker, Caller, CallOptions } from '../runtime/index.js';

export function brokerCaller(broker: Pick<Broker, 'call' | 'callWithin'>): Caller {
  return {
    call<T = unknown>(action: string, params?: unknown, options: CallOptions = {}): Promise<T> {
      const given = options.meta;
      const traceparent = given?.traceparent;
      if (typeof traceparent !== 'string') return broker.call<T>(action, params, options);
      // The rest of the meta, without traceparent (a loop, not a rest spread: this runs per request).
      let meta: Record<string, unknown> | undefined;
      for (const key in given) {
        if (key !== 'traceparent' && Object.prototype.hasOwnProperty.call(given, key)) (meta ??= {})[key] = given[key];
      }
      // The options without their meta, key by key (an object spread followed by more keys is a
      // slow path in V8).
      const rest: CallOptions = {};
      for (const key in options) {
        if (key !== 'meta' && Object.prototype.hasOwnProperty.call(options, key)) (rest as Record<string, unknown>)[key] = options[key as keyof CallOptions];
      }
      if (meta !== undefined) rest.meta = meta;
      // No upstream deadline: the gateway's own bound arrives as options.timeoutMs.
      return broker.callWithin<T>({ deadline: Deadline.NONE, traceparent }, action, params, rest);
    },
  };
}
