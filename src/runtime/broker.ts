// A client-only broker: the call pipeline for a process that calls services but serves none
// (the gateway, scripts, tests).
import { createRegistry, type Registry } from '../discovery/index.js';
import type { ServiceView } from '../discovery/types.js';
import { createObservability } from '../observe/index.js';
import type { Observability } from '../observe/types.js';
import { createTransportClient, type TransportClient } from '../transport/index.js';
import { parseCoordEndpoints } from './env.js';
import { newInstanceSuffix } from './names.js';
import { CallPipeline, type CallParent, type PipelinePolicy } from './pipeline.js';
import type { CallOptions, Caller } from './types.js';

export interface BrokerOptions {
  /** A watched view to route by; or `coord` to have the broker open its own. */
  view?: ServiceView;
  /** Coordinator endpoints (SHOAL_COORD syntax: `127.0.0.1:8090,127.0.0.1:8092` or `etcd://h1:2379,h2:2379`). */
  coord?: string | readonly string[];
  observability?: Observability;
  /** Names this caller in ids, logs and spans. Default 'client'. */
  name?: string;
  logLevel?: string;
  policy?: PipelinePolicy;
  transportClient?: TransportClient;
}

export interface Broker extends Caller {
  readonly instanceId: string;
  readonly view: ServiceView;
  readonly observability: Observability;
  readonly pipeline: CallPipeline;
  /** A call that continues an incoming request (the gateway: its deadline and traceparent). */
  callWithin<T = unknown>(parent: CallParent, action: string, params?: unknown, options?: CallOptions): Promise<T>;
  close(): Promise<void>;
}

export async function connectBroker(options: BrokerOptions): Promise<Broker> {
  if ((options.view === undefined) === (options.coord === undefined)) throw new TypeError('connectBroker: give exactly one of `view` or `coord`');
  const name = options.name ?? 'client';
  const instanceId = `${name}-${newInstanceSuffix()}`;
  const ownsObs = options.observability === undefined;
  const observability = options.observability ?? createObservability({ service: name, instanceId, logLevel: options.logLevel });
  let registry: Registry | undefined;
  let view = options.view;
  if (view === undefined) {
    registry = createRegistry({ endpoints: parseCoordEndpoints(typeof options.coord === 'string' ? options.coord : options.coord!.join(',')), logger: observability.logger });
    view = await registry.watchView();
  }
  const transport = options.transportClient ?? createTransportClient();
  const pipeline = new CallPipeline({ view, transport, observability, callerId: instanceId, policy: options.policy });
  let closing: Promise<void> | undefined;
  return {
    instanceId,
    view,
    observability,
    pipeline,
    call: <T = unknown>(action: string, params?: unknown, callOptions?: CallOptions) => pipeline.call<T>(action, params, callOptions),
    callWithin: <T = unknown>(parent: CallParent, action: string, params?: unknown, callOptions?: CallOptions) => pipeline.call<T>(action, params, callOptions, parent),
    close: () =>
      (closing ??= (async () => {
        pipeline.close();
        if (options.transportClient === undefined) await transport.close();
        if (registry !== undefined) await registry.close();
        if (ownsObs) await (observability as { shutdown?: () => Promise<void> }).shutdown?.();
      })()),
  };
}
