// One Observability per process (or per service instance in tests): logger, metrics, tracer and
// health built from the same identity, none of them registered globally.
import type { DestinationStream } from 'pino';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Observability } from './types.js';
import { createLogger } from './logger.js';
import { PromMetrics, type MetricsOptions } from './metrics.js';
import { ShoalTracer } from './tracer.js';
import { HealthState } from './health.js';

export interface ObservabilityOptions {
  /** Service name: `service` on log lines, `service.name` on spans. */
  service: string;
  /** This instance's id: `instanceId` on log lines, `service.instance.id` on spans. */
  instanceId: string;
  /** pino level; default `info`. */
  logLevel?: string;
  /** Where log lines go; default stderr. */
  logDestination?: DestinationStream;
  /** Finished spans kept in memory for recentSpans and /spans; default 1,000. */
  spanBuffer?: number;
  /** Where finished spans are also sent (batched), e.g. an OTLP exporter. */
  exporter?: SpanExporter;
  /** Share of new traces recorded, 0..1 (default 1); callers' sampled flags are followed. */
  traceSampleRatio?: number;
  /** Node process metrics in the registry: default on without a prefix; false to leave them out. */
  defaultMetrics?: MetricsOptions['defaultMetrics'];
  /** Bound on each readiness check; default 2,000 ms. */
  readinessTimeoutMs?: number;
}

/** Observability with the concrete parts, for callers that need more than the contract (tests, admin). */
export interface ShoalObservability extends Observability {
  readonly metrics: PromMetrics;
  readonly tracer: ShoalTracer;
  readonly health: HealthState;
  /** Ends the tracer (flushing the exporter) and flushes the log destination. */
  shutdown(): Promise<void>;
}

export function createObservability(options: ObservabilityOptions): ShoalObservability {
  if (typeof options.service !== 'string' || options.service === '') throw new TypeError('createObservability: service is required');
  if (typeof options.instanceId !== 'string' || options.instanceId === '') throw new TypeError('createObservability: instanceId is required');
  const logger = createLogger({
    service: options.service,
    instanceId: options.instanceId,
    level: options.logLevel,
    destination: options.logDestination,
  });
  const metrics = new PromMetrics({ defaultMetrics: options.defaultMetrics });
  const tracer = new ShoalTracer({
    service: options.service,
    instanceId: options.instanceId,
    spanBuffer: options.spanBuffer,
    exporter: options.exporter,
    sampleRatio: options.traceSampleRatio,
  });
  const health = new HealthState({ checkTimeoutMs: options.readinessTimeoutMs });
  return {
    logger,
    metrics,
    tracer,
    health,
    async shutdown() {
      await tracer.shutdown();
      logger.flush();
    },
  };
}
