// One gateway process among SHOAL_GATEWAY_WORKERS (a node:cluster worker; see cluster-primary.ts).
// It is a whole gateway — its own broker, discovery watch and caches — and shares with its
// siblings only what must agree:
// - signing keys and refresh tokens: the data dir (gateway-keys.json is created with an atomic
//   link and loaded by all; the refresh-token SQLite file is in WAL mode with a busy timeout and
//   each store method is one transaction, so rotations from two processes serialize);
// - revoked access tokens: the denylist is in memory, so a revocation is sent to the others
//   through the primary (which replays its log to a worker forked later);
// - rate limits: counted in memory per worker, so each enforces 1/N of every budget;
// - /metrics: aggregated over all workers by the primary (prom-client's AggregatorRegistry);
//   /spans and /readyz answer for the worker that got the request.
// The listening line is printed by the primary once every worker listens, never here.
import { Registry } from 'prom-client';
import type { Observability } from '../observe/index.js';
import { isGatewayMessage, type Body, type MetricsJson, type PrimaryToWorker, type WorkerToPrimary } from './cluster-messages.js';
import type { GatewayWorkerHooks } from './gateway.js';
import { readGatewayEnv, startGatewayFromEnv, stopOnSignals } from './run.js';
import { readWorkerCount } from './workers.js';

/** Bound on waiting for the primary's aggregated metrics. */
const METRICS_TIMEOUT_MS = 5_000;

function send(message: Body<WorkerToPrimary>): void {
  // A send that fails (the primary is going away) is dropped: node:cluster ends this process then.
  if (process.connected) process.send!({ shoal: 'gateway', ...message }, undefined, undefined, () => undefined);
}

/** The prom-client registry behind an Observability's metrics, if that is what it uses. */
function registryOf(obs: Observability): Registry | undefined {
  const registry = (obs.metrics as { registry?: unknown }).registry;
  return registry instanceof Registry ? registry : undefined;
}

/**
 * Counters and histograms add up across workers (prom-client's default `sum`), as do Node's own
 * metrics, which carry their own aggregators. A breaker state (0 closed, 1 half-open, 2 open) does
 * not: two half-open breakers are not an open one, so the worst state of any worker is shown.
 */
export function forAggregation(metrics: MetricsJson): MetricsJson {
  for (const metric of metrics) if (metric.name === 'shoal_breaker_state') metric.aggregator = 'max';
  return metrics;
}

export async function runGatewayWorker(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = readGatewayEnv(env);
  const processes = readWorkerCount(env);
  // Revocations that arrive before the gateway exists are applied once it does.
  let apply: ((token: string) => Promise<void>) | undefined = undefined;
  const early: string[] = [];
  let localMetrics: () => Promise<MetricsJson> = async () => [];
  let nextRequest = 0;
  const pending = new Map<number, { resolve: (r: { contentType: string; text: string }) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();

  process.on('message', (message: unknown) => {
    if (!isGatewayMessage<PrimaryToWorker>(message)) return;
    switch (message.kind) {
      case 'revoked':
        if (apply === undefined) early.push(message.token);
        else void apply(message.token).catch(() => undefined); // an expired or foreign token: nothing to deny
        break;
      case 'metrics-collect':
        localMetrics().then(
          (metrics) => send({ kind: 'metrics-part', collectId: message.collectId, metrics }),
          () => send({ kind: 'metrics-part', collectId: message.collectId, metrics: [] }),
        );
        break;
      case 'metrics-result': {
        const waiting = pending.get(message.id);
        if (waiting === undefined) break;
        pending.delete(message.id);
        clearTimeout(waiting.timer);
        if ('error' in message) waiting.reject(new Error(`cluster metrics: ${message.error}`));
        else waiting.resolve({ contentType: message.contentType, text: message.text });
        break;
      }
    }
  });

  send({ kind: 'hello' });

  const hooks: GatewayWorkerHooks = {
    pid: process.pid,
    publishRevocation: (token) => send({ kind: 'revoked', token }),
    clusterMetrics: () =>
      new Promise((resolve, reject) => {
        const id = nextRequest++;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`cluster metrics: no answer from the primary in ${METRICS_TIMEOUT_MS} ms`));
        }, METRICS_TIMEOUT_MS);
        pending.set(id, { resolve, reject, timer });
        send({ kind: 'metrics-request', id });
      }),
  };

  const gateway = await startGatewayFromEnv(config, { worker: hooks, rateLimit: { ...config.rateLimit, processes } });
  const registry = registryOf(gateway.observability);
  if (registry !== undefined) localMetrics = async () => forAggregation(await registry.getMetricsAsJSON());
  const applyHere = (token: string): Promise<void> => gateway.app.gateway.applyRevocation(token);
  apply = applyHere;
  for (const token of early.splice(0)) void applyHere(token).catch(() => undefined);
  stopOnSignals(gateway);
  send({ kind: 'listening', url: gateway.url });
}
