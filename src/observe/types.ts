// The contract of Shoal's observability, fixed before the implementation so runtime/, gateway/ and
// shop/ can be written beside it. Implementations: pino (logs), prom-client (metrics),
// OpenTelemetry sdk-trace-base (spans, W3C trace context). Change only together with every user.
import type { Logger } from 'pino';

/** One finished call, client or server side, as the metrics and the dashboard count it. */
export interface CallRecord {
  readonly side: 'client' | 'server';
  /** Fully qualified action, e.g. `goods.get`. */
  readonly action: string;
  /** `ok`, or the error code (ShoalError.code) that ended it. */
  readonly outcome: string;
  readonly durationMs: number;
}

/** Metrics of one process. Names are prefixed `shoal_`; label sets stay small (no ids in labels). */
export interface Metrics {
  /** shoal_calls_total{side,action,outcome} and shoal_call_duration_seconds{side,action} (histogram). */
  recordCall(record: CallRecord): void;
  /** shoal_breaker_state{endpoint} 0 closed, 1 half-open, 2 open (endpoint = instance id). */
  setBreakerState(endpoint: string, state: 'closed' | 'half-open' | 'open'): void;
  /** shoal_http_requests_total{route,method,status} and a duration histogram, for the gateway. */
  recordHttp(route: string, method: string, status: number, durationMs: number): void;
  /** Prometheus text exposition of everything in this process's registry. */
  render(): Promise<string>;
  readonly contentType: string;
}

export interface SpanHandle {
  /** W3C `traceparent` of this span, to send downstream. */
  traceparent(): string;
  readonly traceId: string;
  readonly spanId: string;
  setAttribute(key: string, value: string | number | boolean): void;
  /** Marks the span failed with the error's code/message (never its params or secrets). */
  fail(error: unknown): void;
  end(): void;
}

export interface Tracer {
  /**
   * Starts a span. `parent` is an incoming `traceparent` (a server span continues the caller's
   * trace); without one a new trace starts. kind: server for handled calls and gateway requests,
   * client for outgoing calls, internal otherwise.
   */
  startSpan(name: string, options?: { kind?: 'server' | 'client' | 'internal' | 'producer' | 'consumer'; parent?: string; attributes?: Record<string, string | number | boolean> }): SpanHandle;
  /** Finished spans kept in memory (bounded ring) for tests and the dashboard. */
  recentSpans(limit?: number): readonly FinishedSpan[];
  shutdown(): Promise<void>;
}

export interface FinishedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly name: string;
  readonly kind: string;
  readonly startMs: number;
  readonly durationMs: number;
  readonly ok: boolean;
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly service: string;
}

/** Health of one process: liveness is "the event loop runs", readiness is the named checks. */
export interface Health {
  /** Adds a readiness check; `/readyz` is 200 only when every check returns true. */
  addReadinessCheck(name: string, check: () => boolean | Promise<boolean>): void;
  /** Forces not-ready (e.g. while draining) regardless of checks. */
  setDraining(draining: boolean): void;
  live(): { ok: true };
  ready(): Promise<{ ok: boolean; checks: Record<string, boolean> }>;
}

/** Everything a process needs, made once at startup. */
export interface Observability {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly tracer: Tracer;
  readonly health: Health;
}
