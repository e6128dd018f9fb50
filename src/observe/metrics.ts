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

/**
 * One series of a counter or histogram, updated in place. prom-client's inc/observe validate the
 * labels and build the series key (a string from every label) on each call, twice per call and
 * twice per HTTP request; the label set of a cell is fixed, so after its first update (through
 * prom-client's API, which creates and validates the series) the cell adds to the series' values
 * directly: the same fields, the same arithmetic (prom-client 15's layout). Should the registry
 * have been reset or the series dropped since, the cell goes through the API again.
 */
class SeriesCell {
  private map: Record<string, unknown> | undefined;
  private key = '';
  private entry: { value?: number; sum?: number; count?: number; bucketValues?: Record<string, number> } | undefined;

  constructor(
    private readonly metric: Counter<string> | Histogram<string>,
    readonly labels: Record<string, string>,
  ) {}

  inc(): void {
    const entry = this.current();
    if (entry !== undefined && typeof entry.value === 'number') entry.value += 1;
    else this.adopt(() => (this.metric as Counter<string>).inc(this.labels));
  }

  observe(seconds: number): void {
    const entry = this.current();
    const bounds = (this.metric as unknown as { upperBounds?: readonly number[] }).upperBounds;
    if (entry !== undefined && typeof entry.sum === 'number' && typeof entry.count === 'number' && entry.bucketValues !== undefined && bounds !== undefined) {
      entry.sum += seconds;
      entry.count += 1;
      for (const bound of bounds) {
        if (seconds <= bound) {
          entry.bucketValues[bound] = (entry.bucketValues[bound] ?? 0) + 1;
          break;
        }
      }
    } else {
      this.adopt(() => (this.metric as Histogram<string>).observe(this.labels, seconds));
    }
  }

  /** The series' value object, if it is still the one this cell adopted. */
  private current(): SeriesCell['entry'] {
    const map = (this.metric as unknown as { hashMap?: Record<string, unknown> }).hashMap;
    return map !== undefined && map === this.map && map[this.key] === this.entry ? this.entry : undefined;
  }

  /** One update through prom-client's API, then find the series it updated (same label values). */
  private adopt(update: () => void): void {
    update();
    this.entry = undefined;
    this.map = (this.metric as unknown as { hashMap?: Record<string, unknown> }).hashMap;
    if (this.map === undefined) return;
    for (const key in this.map) {
      const candidate = this.map[key] as { labels?: Record<string, unknown> } | undefined;
      if (candidate?.labels !== undefined && sameLabels(candidate.labels, this.labels)) {
        this.key = key;
        this.entry = candidate as SeriesCell['entry'];
        return;
      }
    }
  }
}

function sameLabels(a: Record<string, unknown>, b: Record<string, string>): boolean {
  if (a === b) return true;
  let n = 0;
  for (const key in a) {
    if (a[key] !== b[key]) return false;
    n++;
  }
  return n === Object.keys(b).length;
}

/** Cached label sets of one (side, action, outcome). */
interface CallSeries {
  readonly total: SeriesCell;
  readonly duration: SeriesCell;
}
/** Bound on cached label sets per level (actions past the label guard's cap all share `__other__`). */
const SERIES_CACHE_MAX = 1000;

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
  private readonly clientSeries = new Map<string, Map<string, CallSeries>>();
  private readonly serverSeries = new Map<string, Map<string, CallSeries>>();
  private readonly httpSeries = new Map<string, { total: SeriesCell; duration: SeriesCell }>();
  /** Duration cells shared by every outcome of one (side, action), as prom-client shares the series. */
  private readonly durationCells = new Map<string, SeriesCell>();

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
    // Label objects per (side, action, outcome), admitted through the guards once: this runs on
    // both sides of every call.
    const bySide = record.side === 'client' ? this.clientSeries : this.serverSeries;
    let byOutcome = bySide.get(record.action);
    if (byOutcome === undefined) {
      if (bySide.size >= SERIES_CACHE_MAX) bySide.clear();
      bySide.set(record.action, (byOutcome = new Map()));
    }
    let series = byOutcome.get(record.outcome);
    if (series === undefined) {
      const action = this.actions.admit(record.action);
      const durationKey = `${record.side}\u0000${action}`;
      let duration = this.durationCells.get(durationKey);
      if (duration === undefined) {
        if (this.durationCells.size >= SERIES_CACHE_MAX) this.durationCells.clear();
        duration = new SeriesCell(this.callDuration, { side: record.side, action });
        this.durationCells.set(durationKey, duration);
      }
      series = { total: new SeriesCell(this.callsTotal, { side: record.side, action, outcome: this.outcomes.admit(record.outcome) }), duration };
      if (byOutcome.size >= SERIES_CACHE_MAX) byOutcome.clear();
      byOutcome.set(record.outcome, series);
    }
    series.total.inc();
    series.duration.observe(seconds(record.durationMs));
  }

  setBreakerState(endpoint: string, state: 'closed' | 'half-open' | 'open'): void {
    const value = BREAKER_STATE_VALUE[state];
    if (value === undefined) throw new RangeError(`unknown breaker state: ${String(state)}`);
    this.breakerState.set({ endpoint: this.endpoints.admit(endpoint) }, value);
  }

  recordHttp(route: string, method: string, status: number, durationMs: number): void {
    // Label objects per (route, method, status), admitted through the route guard once.
    const key = `${method}\u0000${status}\u0000${route}`;
    let series = this.httpSeries.get(key);
    if (series === undefined) {
      const upper = method.toUpperCase();
      const labels = { route: this.routes.admit(route), method: HTTP_METHODS.has(upper) ? upper : 'OTHER' };
      const code = Number.isInteger(status) && status >= 100 && status <= 599 ? String(status) : 'invalid';
      const durationKey = `http\u0000${labels.method}\u0000${labels.route}`;
      let duration = this.durationCells.get(durationKey);
      if (duration === undefined) {
        if (this.durationCells.size >= SERIES_CACHE_MAX) this.durationCells.clear();
        duration = new SeriesCell(this.httpDuration, labels);
        this.durationCells.set(durationKey, duration);
      }
      series = { total: new SeriesCell(this.httpTotal, { route: labels.route, method: labels.method, status: code }), duration };
      if (this.httpSeries.size >= SERIES_CACHE_MAX) this.httpSeries.clear();
      this.httpSeries.set(key, series);
    }
    series.total.inc();
    series.duration.observe(seconds(durationMs));
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}

/** A negative or non-finite duration (a clock step) is counted as 0 rather than corrupting the sum. */
function seconds(durationMs: number): number {
  return Number.isFinite(durationMs) && durationMs > 0 ? durationMs / 1000 : 0;
}
