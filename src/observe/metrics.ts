// Prometheus metrics of one Observability, on its own prom-client Registry (never the global
// one), so several services in one process — as in tests and `shoal up` — keep separate counts.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CallRecord, Metrics } from './types.js';
import { LabelGuard } from './label-guard.js';

/** Call latencies in seconds: in-process and loopback calls are sub-millisecond, a slow one is seconds. */
export const CALL_BUCKETS_SECONDS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
/** HTTP requests at the edge include a whole call tree, so the scale starts a little higher. */
export const HTTP_BUCKETS_SECONDS: readonly number[] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const BREAKER_STATE_VALUE = { closed: 0, 'half-open': 1, open: 2 } as const;
const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export interface MetricsOptions {
  /** Node process metrics (CPU, memory, event loop lag, GC) in the same registry; default on, no prefix. */
  defaultMetrics?: false | { prefix?: string };
  /** Distinct values admitted per label (action, route, outcome, endpoint) before `__other__`; default 500. */
  maxLabelValues?: number;
  /** Labels added to every series of this registry (e.g. { service }); keep them constant. */
  defaultLabels?: Record<string, string>;
}

export class PromMetrics implements Metrics {
  readonly registry = new Registry();
  private readonly callsTotal: Counter<'side' | 'action' | 'outcome'>;
  private readonly callDuration: Histogram<'side' | 'action'>;
  private readonly breakerState: Gauge<'endpoint'>;
  private readonly httpTotal: Counter<'route' | 'method' | 'status'>;
  private readonly httpDuration: Histogram<'route' | 'method'>;
  private readonly actions: LabelGuard;
  private readonly outcomes: LabelGuard;
  private readonly routes: LabelGuard;
  private readonly endpoints: LabelGuard;

  constructor(options: MetricsOptions = {}) {
    const max = options.maxLabelValues ?? 500;
    this.actions = new LabelGuard(max);
    this.outcomes = new LabelGuard(max);
    this.routes = new LabelGuard(max);
    this.endpoints = new LabelGuard(max);
    if (options.defaultLabels) this.registry.setDefaultLabels(options.defaultLabels);
    const registers = [this.registry];
    this.callsTotal = new Counter({
      name: 'shoal_calls_total',
      help: 'Finished calls by side (client or server), action and outcome (ok or error code).',
      labelNames: ['side', 'action', 'outcome'],
      registers,
    });
    this.callDuration = new Histogram({
      name: 'shoal_call_duration_seconds',
      help: 'Duration of finished calls in seconds, by side and action.',
      labelNames: ['side', 'action'],
      buckets: [...CALL_BUCKETS_SECONDS],
      registers,
    });
    this.breakerState = new Gauge({
      name: 'shoal_breaker_state',
      help: 'Circuit breaker state per endpoint (instance id): 0 closed, 1 half-open, 2 open.',
      labelNames: ['endpoint'],
      registers,
    });
    this.httpTotal = new Counter({
      name: 'shoal_http_requests_total',
      help: 'HTTP requests answered, by route template, method and status code.',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'shoal_http_request_duration_seconds',
      help: 'Duration of HTTP requests in seconds, by route template and method.',
      labelNames: ['route', 'method'],
      buckets: [...HTTP_BUCKETS_SECONDS],
      registers,
    });
    if (options.defaultMetrics !== false) {
      collectDefaultMetrics({ register: this.registry, prefix: options.defaultMetrics?.prefix ?? '' });
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  recordCall(record: CallRecord): void {
    const action = this.actions.admit(record.action);
    this.callsTotal.inc({ side: record.side, action, outcome: this.outcomes.admit(record.outcome) });
    this.callDuration.observe({ side: record.side, action }, seconds(record.durationMs));
  }

  setBreakerState(endpoint: string, state: 'closed' | 'half-open' | 'open'): void {
    const value = BREAKER_STATE_VALUE[state];
    if (value === undefined) throw new RangeError(`unknown breaker state: ${String(state)}`);
    this.breakerState.set({ endpoint: this.endpoints.admit(endpoint) }, value);
  }

  recordHttp(route: string, method: string, status: number, durationMs: number): void {
    const upper = method.toUpperCase();
    const labels = { route: this.routes.admit(route), method: HTTP_METHODS.has(upper) ? upper : 'OTHER' };
    const code = Number.isInteger(status) && status >= 100 && status <= 599 ? String(status) : 'invalid';
    this.httpTotal.inc({ ...labels, status: code });
    this.httpDuration.observe(labels, seconds(durationMs));
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}

/** A negative or non-finite duration (a clock step) is counted as 0 rather than corrupting the sum. */
function seconds(durationMs: number): number {
  return Number.isFinite(durationMs) && durationMs > 0 ? durationMs / 1000 : 0;
}
