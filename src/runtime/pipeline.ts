// The call pipeline (DESIGN section 4): deadline → discovery → balancing → resilience (breaker per
// endpoint, bulkhead per service, retries with backoff and budget, failover to the backup pool,
// outlier ejection) → transport, with a client span and call metrics around all of it.
import type { Strategy } from '../balance/index.js';
import { createStrategy } from '../balance/index.js';
import type { InstanceRecord, ServiceView } from '../discovery/types.js';
import { ErrorCode, ShoalError, toShoalError } from '../errors/index.js';
import type { Observability, SpanHandle } from '../observe/types.js';
import {
  Bulkhead,
  CircuitBreakers,
  Deadline,
  isBackup,
  type CircuitBreaker,
  type Permit,
  OutlierDetector,
  RetryBudget,
  fullJitterBackoff,
  selectPool,
  type BackoffOptions,
  type CircuitBreakerOptions,
  type FailoverOptions,
  type OutlierOptions,
  type RetryBudgetOptions,
} from '../resilience/index.js';
import type { CallMeta, TransportClient } from '../transport/index.js';
import { parseAction } from './names.js';
import { judge, mayRetry } from './policy.js';
import type { CallOptions } from './types.js';

/** Metadata keys a host registers so callers learn per-service settings from discovery. */
export const META_STRATEGY = 'shoal.strategy';
export const META_IDEMPOTENT = 'shoal.idempotent';

export interface PipelinePolicy {
  /** Used when neither the call, its caller's budget nor anything else bounds it. Default 10 s. */
  defaultTimeoutMs?: number;
  /** Default balancing strategy. Default 'p2c-ewma'. */
  strategy?: string;
  /** Attempts per call, the first included. Default 3. */
  maxAttempts?: number;
  backoff?: BackoffOptions;
  retryBudget?: RetryBudgetOptions;
  breaker?: Omit<CircuitBreakerOptions, 'now' | 'onStateChange'>;
  bulkhead?: { maxConcurrent: number; maxQueued?: number };
  outlier?: Omit<OutlierOptions, 'now' | 'onEject' | 'onReturn'> | false;
  /** The tag marking the backup pool. Default role=backup (as resilience and the DNS interface). */
  backupTag?: { key: string; value: string };
}

export interface PipelineOptions {
  view: ServiceView;
  transport: TransportClient;
  observability: Observability;
  /** Sent as meta.callerId. */
  callerId: string;
  policy?: PipelinePolicy;
  /** Monotonic ms (deadlines, latency). Default performance.now. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  rng?: () => number;
}

/** What a call made from inside a handler inherits from the call being handled. */
export interface CallParent {
  readonly deadline: Deadline;
  /** Traceparent of the span the new client span is a child of. */
  readonly traceparent?: string | undefined;
  /** Incoming meta carried on downstream (auth claims…), minus the per-hop fields. */
  readonly meta?: Readonly<Record<string, unknown>> | undefined;
}

interface ServiceState {
  readonly bulkhead: Bulkhead;
  readonly budget: RetryBudget;
  readonly outliers: OutlierDetector | undefined;
  readonly strategies: Map<string, Strategy>;
  poolKnown: boolean;
}

const PER_HOP_META = new Set(['deadlineMs', 'traceparent', 'tracestate', 'callerId']);
const SCHEMES = ['shoal+tcp://', 'http://', 'https://'];

export class CallPipeline {
  private readonly services = new Map<string, ServiceState>();
  private readonly breakers: CircuitBreakers;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly rng: () => number;
  private readonly policy: PipelinePolicy;
  private readonly maxAttempts: number;
  private readonly defaultTimeoutMs: number;
  private readonly failover: FailoverOptions;
  private readonly unsubscribe: () => void;
  /** Per instance, how to abandon each call waiting on it (see failInFlight). */
  private readonly inFlight = new Map<string, Set<(error: ShoalError) => void>>();

  constructor(private readonly options: PipelineOptions) {
    this.policy = options.policy ?? {};
    this.now = options.now ?? (() => performance.now());
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.rng = options.rng ?? Math.random;
    this.maxAttempts = this.policy.maxAttempts ?? 3;
    this.defaultTimeoutMs = this.policy.defaultTimeoutMs ?? 10_000;
    this.failover = { backupTag: this.policy.backupTag ?? { key: 'role', value: 'backup' } };
    if (!(Number.isInteger(this.maxAttempts) && this.maxAttempts >= 1)) throw new RangeError('pipeline: maxAttempts must be an integer >= 1');
    const metrics = options.observability.metrics;
    this.breakers = new CircuitBreakers({
      ...this.policy.breaker,
      now: this.now,
      onStateChange: (change) => {
        metrics.setBreakerState(change.endpoint, change.to);
        options.observability.logger.info({ endpoint: change.endpoint, from: change.from, to: change.to, failureRate: change.failureRate }, 'circuit breaker state change');
      },
    });
    // Outlier pools follow the view; breakers of instances that left are dropped.
    this.unsubscribe = options.view.onChange((change) => {
      const id = change.instance.id;
      const state = this.services.get(change.instance.service);
      if (state !== undefined) state.poolKnown = false;
      if (change.type === 'down') {
        this.breakers.retain(options.view.all().map((r) => r.id));
        // A lease that expired means the instance stopped answering (killed, paused, cut off):
        // calls still waiting on it would only wait out their deadline. Fail them now as
        // "may have run", so idempotent ones are retried elsewhere while budget remains. A
        // deregistered instance is draining and still answers what it received.
        if (change.reason !== 'deregistered') this.failInFlight(id, change.reason);
      } else if (change.type === 'up') {
        // Back under a new lease (e.g. resumed after SIGSTOP): what it showed while gone —
        // timeouts, an ejection, a huge latency estimate — says nothing about it now.
        options.view.eject(id, 0);
        state?.outliers?.forget(id);
        for (const strategy of state?.strategies.values() ?? []) strategy.forget?.(id);
      }
    });
  }

  /** `ctx.call` / `broker.call`: `<service>.<action>` through the whole pipeline. */
  call<T = unknown>(action: string, params?: unknown, options: CallOptions = {}, parent?: CallParent): Promise<T> {
    let service: string;
    try {
      service = parseAction(action).service;
    } catch (err) {
      return Promise.reject(err);
    }
    return this.invoke<T>(service, action, params, options, parent);
  }

  /** Calls `wireAction` on an instance of `service` (the event push uses it with `<service>.$event`). */
  async invoke<T>(service: string, wireAction: string, params: unknown, options: CallOptions, parent?: CallParent): Promise<T> {
    const { tracer, metrics } = this.options.observability;
    const started = this.now();
    let deadline = parent?.deadline ?? Deadline.NONE;
    const timeoutMs = options.timeoutMs ?? (deadline.isNone ? this.defaultTimeoutMs : undefined);
    if (timeoutMs !== undefined) deadline = deadline.min(Deadline.after(started, timeoutMs));
    const span = tracer.startSpan(wireAction, { kind: 'client', parent: parent?.traceparent, attributes: { 'rpc.service': service } });
    let entered: Bulkhead | undefined;
    try {
      // A spent budget does no more work: no discovery, no connection, no bytes sent.
      if (deadline.isExpired(started)) deadline.check(started, `calling ${wireAction}`);
      const state = this.stateOf(service);
      // The whole call is this one async frame: the bulkhead is a counter (it only waits when
      // full and queueing is configured), and attempts run inline below.
      if (!state.bulkhead.tryEnter()) await state.bulkhead.acquire();
      entered = state.bulkhead;
      const result = await this.attempts<T>(state, service, wireAction, params, options, parent, deadline, span);
      metrics.recordCall({ side: 'client', action: wireAction, outcome: 'ok', durationMs: this.now() - started });
      return result;
    } catch (err) {
      const error = toShoalError(err);
      span.fail(error);
      metrics.recordCall({ side: 'client', action: wireAction, outcome: error.code, durationMs: this.now() - started });
      throw error;
    } finally {
      entered?.leave();
      span.end();
    }
  }

  /** Circuit breaker state of an instance (for tests and the dashboard). */
  breakerState(instanceId: string): 'closed' | 'open' | 'half-open' {
    return this.breakers.for(instanceId).state;
  }

  close(): void {
    this.unsubscribe();
  }

  /**
   * Up to maxAttempts attempts, each: choose an endpoint, take its breaker permit, send, and feed
   * the outcome to the breaker, the strategy and outlier detection. One await per attempt on the
   * success path (the transport's answer, raced with the instance's lease by watchInFlight).
   */
  private async attempts<T>(
    state: ServiceState,
    service: string,
    wireAction: string,
    params: unknown,
    options: CallOptions,
    parent: CallParent | undefined,
    deadline: Deadline,
    span: SpanHandle,
  ): Promise<T> {
    /** Instances tried by earlier attempts of this call (made on the first failure). */
    let tried: Set<string> | undefined;
    for (let attempt = 1; ; attempt++) {
      const now = this.now();
      if (attempt === 1) state.budget.recordRequest(now);
      if (deadline.isExpired(now)) deadline.check(now, attempt === 1 ? `calling ${wireAction}` : `retry ${attempt - 1} of ${wireAction}`);
      let endpoint: InstanceRecord | undefined;
      let strategy: Strategy | undefined;
      let permit: Permit | undefined;
      let breaker: CircuitBreaker | undefined;
      let t0 = 0;
      let onStarted = false;
      try {
        const chosen = this.choose(state, service, options, tried);
        endpoint = chosen.endpoint;
        strategy = chosen.strategy;
        const url = endpointUrl(endpoint);
        breaker = this.breakers.for(endpoint.id);
        permit = breaker.tryAcquire();
        if (permit === undefined) {
          // Half-open with its probe slots taken since choose() looked: nothing sent, try another.
          throw new ShoalError({ code: ErrorCode.CIRCUIT_OPEN, message: `circuit breaker for ${endpoint.id} is not accepting`, retryable: true, instance: endpoint.id, details: { maybeExecuted: false } });
        }
        const remaining = deadline.remaining(now);
        // The floored budget travels in meta (the transport sends it as is: no second copy).
        const meta = callMeta(parent?.meta, options.meta, span.traceparent(), this.options.callerId, remaining);
        strategy.onStart(endpoint);
        onStarted = true;
        t0 = now;
        const sent = this.options.transport.call<T>(url, wireAction, params, meta, { timeoutMs: remaining });
        const result = await this.watchInFlight(endpoint.id, sent);
        const latencyMs = this.now() - t0;
        breaker.success(permit);
        this.recordOutlier(state, endpoint, true);
        strategy.onEnd(endpoint, { ok: true, latencyMs });
        return result;
      } catch (err) {
        let error = toShoalError(err, endpoint?.id);
        if (permit !== undefined) {
          // It was sent (or the transport refused it): a verdict on the endpoint.
          if (error.instance === undefined) error = error.withInstance(endpoint!.id);
          const verdict = judge(error);
          if (verdict === 'failure') breaker!.failure(permit);
          else if (verdict === 'neutral') breaker!.release(permit);
          else breaker!.success(permit);
          if (verdict !== 'neutral') this.recordOutlier(state, endpoint!, verdict === 'ok');
          if (onStarted) strategy!.onEnd(endpoint!, { ok: verdict !== 'failure', latencyMs: this.now() - t0 });
        } else if (endpoint !== undefined && error.instance === undefined) {
          error = error.withInstance(endpoint.id);
        }
        const idempotent = options.idempotent ?? (endpoint !== undefined && isIdempotent(endpoint, wireAction));
        if (!mayRetry(error, idempotent) || attempt >= this.maxAttempts) throw error;
        const delayMs = fullJitterBackoff(attempt, this.rng, this.policy.backoff);
        // Waiting past the deadline only to fail with DEADLINE_EXCEEDED would hide the real cause.
        if (deadline.remaining(this.now()) <= delayMs) throw error;
        if (!state.budget.tryAcquireRetry(this.now())) throw error;
        if (endpoint !== undefined) (tried ??= new Set()).add(endpoint.id);
        span.setAttribute('shoal.retries', attempt);
        await this.sleep(delayMs);
      }
    }
  }

  /**
   * Picks the endpoint for one attempt: instances from the view (ready, not ejected), those whose
   * breaker accepts, the primary pool unless none accepts (then the backup pool), and within it
   * one not tried yet by this call when there is one, balanced by the service's strategy.
   */
  private choose(state: ServiceState, service: string, options: CallOptions, tried: ReadonlySet<string> | undefined): { endpoint: InstanceRecord; strategy: Strategy } {
    let instances = this.options.view.instances(service, options.version);
    // Panic routing: when ejection has hidden every ready instance, offer them all rather than
    // fail — outlier detection must never turn a degraded service into an outage.
    if (instances.length === 0) instances = this.options.view.all().filter((r) => r.service === service && r.ready && (options.version === undefined || r.version === options.version));
    if (instances.length === 0) {
      throw new ShoalError({
        code: ErrorCode.NO_ENDPOINT,
        message: `no ready instance of ${service}${options.version === undefined ? '' : `@${options.version}`}`,
        retryable: true,
        details: { service, version: options.version, maybeExecuted: false },
      });
    }
    // The common case: every instance a healthy primary and nothing tried yet. The view's frozen
    // array is then the candidate list as it is (selectPool would copy it unchanged).
    let candidates: readonly InstanceRecord[] | undefined = tried === undefined && this.allHealthyPrimaries(instances) ? instances : undefined;
    if (candidates === undefined) candidates = this.candidates(instances, service, tried);
    const name = options.strategy ?? instances[0]!.metadata[META_STRATEGY] ?? this.policy.strategy ?? 'p2c-ewma';
    const strategy = this.strategyOf(state, name);
    const endpoint = strategy.pick(candidates, { key: options.key });
    if (endpoint === undefined) throw new Error(`strategy ${name} picked nothing from ${candidates.length} endpoints`);
    return { endpoint, strategy };
  }

  private allHealthyPrimaries(instances: readonly InstanceRecord[]): boolean {
    for (const e of instances) if (!this.breakers.canAccept(e.id) || isBackup(e, this.failover)) return false;
    return true;
  }

  private candidates(instances: readonly InstanceRecord[], service: string, tried: ReadonlySet<string> | undefined): readonly InstanceRecord[] {
    const pool = selectPool(instances, (e) => this.breakers.canAccept(e.id), this.failover);
    if (pool.tier === 'none') {
      throw new ShoalError({
        code: ErrorCode.CIRCUIT_OPEN,
        message: `every instance of ${service} has an open circuit breaker`,
        retryable: true,
        details: { service, instances: instances.length, maybeExecuted: false },
      });
    }
    if (tried === undefined) return pool.endpoints;
    const fresh = pool.endpoints.filter((e) => !tried.has(e.id));
    return fresh.length > 0 ? fresh : pool.endpoints;
  }

  /** Resolves as the call does, or rejects early if the instance's lease expires meanwhile. */
  private watchInFlight<T>(instanceId: string, sent: Promise<T>): Promise<T> {
    let calls = this.inFlight.get(instanceId);
    if (calls === undefined) this.inFlight.set(instanceId, (calls = new Set()));
    const watched = calls;
    // One promise settled by whichever comes first: the answer, or failInFlight calling `abandon`
    // (the call's own late outcome is then ignored — a settled promise stays settled).
    // No named closures here: run under tsx (esbuild keepNames), each one made per call costs a
    // defineProperty of its name.
    return new Promise<T>((resolve, abandon) => {
      watched.add(abandon);
      sent.then(
        (value) => {
          this.unwatch(instanceId, watched, abandon);
          resolve(value);
        },
        (error: unknown) => {
          this.unwatch(instanceId, watched, abandon);
          abandon(error);
        },
      );
    });
  }

  private unwatch(instanceId: string, watched: Set<(error: ShoalError) => void>, abandon: (error: ShoalError) => void): void {
    watched.delete(abandon);
    if (watched.size === 0 && this.inFlight.get(instanceId) === watched) this.inFlight.delete(instanceId);
  }

  private failInFlight(instanceId: string, reason: string): void {
    const calls = this.inFlight.get(instanceId);
    if (calls === undefined) return;
    this.inFlight.delete(instanceId);
    const error = new ShoalError({
      code: ErrorCode.UNAVAILABLE,
      message: `instance ${instanceId} left the registry (${reason}) while the call was in flight`,
      retryable: false,
      instance: instanceId,
      details: { maybeExecuted: true },
    });
    for (const abandon of calls) abandon(error);
  }

  private recordOutlier(state: ServiceState, endpoint: InstanceRecord, ok: boolean): void {
    if (state.outliers === undefined) return;
    if (!state.poolKnown) {
      // The cap on ejections is a fraction of every registered instance, ejected ones included.
      state.outliers.setEndpoints(
        this.options.view
          .all()
          .filter((r) => r.service === endpoint.service)
          .map((r) => r.id),
      );
      state.poolKnown = true;
    }
    state.outliers.record(endpoint.id, ok);
  }

  private stateOf(service: string): ServiceState {
    let state = this.services.get(service);
    if (state === undefined) {
      const outlier = this.policy.outlier;
      state = {
        bulkhead: new Bulkhead({ maxConcurrent: 1024, ...this.policy.bulkhead, name: `calls to ${service}` }),
        budget: new RetryBudget(this.policy.retryBudget),
        outliers:
          outlier === false
            ? undefined
            : new OutlierDetector({
                ...outlier,
                // The view's ejection deadline is on Date.now()'s clock (it crosses into discovery).
                now: () => Date.now(),
                onEject: ({ endpoint, untilMs, ejections }) => {
                  this.options.view.eject(endpoint, untilMs);
                  this.options.observability.logger.warn({ endpoint, untilMs, ejections }, 'outlier ejected');
                },
              }),
        strategies: new Map(),
        poolKnown: false,
      };
      this.services.set(service, state);
    }
    return state;
  }

  private strategyOf(state: ServiceState, name: string): Strategy {
    let strategy = state.strategies.get(name);
    if (strategy === undefined) {
      strategy = createStrategy(name, { rng: this.rng, clock: this.now });
      state.strategies.set(name, strategy);
    }
    return strategy;
  }
}

/** The meta sent with one attempt: carried parent meta, the caller's own, then the per-hop fields. */
function callMeta(
  parentMeta: Readonly<Record<string, unknown>> | undefined,
  own: Readonly<Record<string, unknown>> | undefined,
  traceparent: string,
  callerId: string,
  remainingMs: number,
): CallMeta {
  let meta: CallMeta;
  if (parentMeta === undefined && own === undefined) {
    meta = { traceparent, callerId };
  } else {
    // Key by key, not spreads (an object spread followed by more keys is a slow path in V8).
    const out: Record<string, unknown> = carried(parentMeta);
    if (own !== undefined) for (const key in own) if (Object.prototype.hasOwnProperty.call(own, key)) out[key] = own[key];
    out.traceparent = traceparent;
    out.callerId = callerId;
    meta = out as CallMeta;
  }
  // As the transport would send it (the tighter of a caller's own deadlineMs and our budget,
  // floored), so it sends this object without copying it again.
  const budget = Math.floor(Math.min(remainingMs, typeof meta.deadlineMs === 'number' ? meta.deadlineMs : Infinity));
  if (budget !== Infinity) meta.deadlineMs = budget;
  return meta;
}

function carried(meta: Readonly<Record<string, unknown>> | undefined): Record<string, unknown> {
  if (meta === undefined) return {};
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(meta)) if (!PER_HOP_META.has(key)) out[key] = meta[key];
  return out;
}

/** endpointUrl per record: records are immutable (a change in discovery is a new record). */
const urlOf = new WeakMap<InstanceRecord, string>();

/** The fastest URL this client can speak (records list them fastest first). */
function endpointUrl(endpoint: InstanceRecord): string {
  const known = urlOf.get(endpoint);
  if (known !== undefined) return known;
  const url = endpoint.urls.find((u) => SCHEMES.some((s) => u.startsWith(s)));
  if (url === undefined) {
    throw new ShoalError({ code: ErrorCode.NO_ENDPOINT, message: `instance ${endpoint.id} has no usable URL (${endpoint.urls.join(', ')})`, retryable: true, instance: endpoint.id });
  }
  urlOf.set(endpoint, url);
  return url;
}

/** The callee's schema, as its host registered it: `shoal.idempotent` lists its idempotent actions. */
function isIdempotent(endpoint: InstanceRecord, wireAction: string): boolean {
  const list = endpoint.metadata[META_IDEMPOTENT];
  if (list === undefined || list.length === 0) return false;
  const action = wireAction.slice(endpoint.service.length + 1);
  return list.split(',').includes(action);
}
