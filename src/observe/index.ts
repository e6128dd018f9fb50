// Public surface of Shoal's observability: pino logs with secrets redacted, Prometheus metrics on
// a per-instance registry, OpenTelemetry spans with W3C trace context, health and readiness, and
// the admin endpoints (/livez, /readyz, /metrics, /spans). The contract is types.ts.
export type { CallRecord, FinishedSpan, Health, Metrics, Observability, SpanHandle, Tracer } from './types.js';
export { createObservability, type ObservabilityOptions, type ShoalObservability } from './observability.js';
export { createLogger, withTrace, type LoggerOptions, type TraceIds } from './logger.js';
export { REDACTED, SECRET_KEYS, isSecretKey, redactSecrets } from './redact.js';
export { PromMetrics, CALL_BUCKETS_SECONDS, HTTP_BUCKETS_SECONDS, type MetricsOptions } from './metrics.js';
export { OVERFLOW_LABEL } from './label-guard.js';
export { ShoalTracer, INVALID_PARENT_ATTRIBUTE, type SpanKindName, type TracerOptions } from './tracer.js';
export { HealthState, NOT_DRAINING_CHECK, type HealthOptions } from './health.js';
export {
  ADMIN_PATHS,
  adminRequestHandler,
  serveAdmin,
  type AdminHandler,
  type AdminServer,
  type AdminServerOptions,
} from './admin.js';
export {
  SAMPLED_FLAG,
  formatTraceparent,
  isSampled,
  isValidSpanId,
  isValidTraceId,
  isValidTraceparent,
  parseTraceparent,
  type Traceparent,
} from './traceparent.js';
export type { SpanExporter } from '@opentelemetry/sdk-trace-base';
