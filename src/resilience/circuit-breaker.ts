import { ErrorCode, ShoalError } from '../errors/index.js';
import { SlidingWindow } from './sliding-window.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerStateChange {
  endpoint: string;
  from: BreakerState;
  to: BreakerState;
  at: number;
  /** Failure rate of the window that opened it (closed → open only). */
  failureRate?: number;
}

export interface CircuitBreakerOptions {
  /** Milliseconds, injected. */
  now: () => number;
  /** Open when failures / requests over the window reaches this… */
  failureRateThreshold?: number;
  /** …and the window holds at least this many requests. */
  minimumRequests?: number;
  windowMs?: number;
  /** How long it stays open before letting probes through. */
  cooldownMs?: number;
  /** Calls let through at once while half-open. */
  halfOpenProbes?: number;
  onStateChange?: (change: BreakerStateChange) => void;
}

/** Proof that a call was let through, handed back with its result. */
export interface Permit {
  readonly generation: number;
  readonly probe: boolean;
}

/**
 * A circuit breaker for one endpoint. Closed: calls pass and outcomes go into a sliding window;
 * it opens when the window's failure rate reaches the threshold over at least `minimumRequests`.
 * Open: calls are refused (CIRCUIT_OPEN, retryable — they never reached the endpoint) until the
 * cooldown passes. Half-open: up to `halfOpenProbes` calls at once go through; the first success
 * closes it with a fresh window, the first failure reopens it for another cooldown.
 *
 * No timers: open → half-open happens when the breaker is next consulted after the cooldown.
 * Every state has a generation; an outcome is counted only in the generation it started in, so a
 * slow call from before the breaker opened cannot close a half-open breaker or trip a new window.
 */
export class CircuitBreaker {
  private current: BreakerState = 'closed';
  private generation = 0;
  private openedAt = 0;
  private probesInFlight = 0;
  private readonly window: SlidingWindow;
  private readonly threshold: number;
  private readonly minimumRequests: number;
  private readonly cooldownMs: number;
  private readonly halfOpenProbes: number;

  constructor(
    readonly endpoint: string,
    private readonly options: CircuitBreakerOptions,
  ) {
    this.threshold = options.failureRateThreshold ?? 0.5;
    this.minimumRequests = options.minimumRequests ?? 20;
    this.cooldownMs = options.cooldownMs ?? 5_000;
    this.halfOpenProbes = options.halfOpenProbes ?? 1;
    if (!(this.threshold > 0 && this.threshold <= 1)) throw new RangeError('breaker: failureRateThreshold in (0, 1]');
    if (!(this.minimumRequests >= 1) || !(this.halfOpenProbes >= 1) || !(this.cooldownMs >= 0)) {
      throw new RangeError('breaker: minimumRequests >= 1, halfOpenProbes >= 1, cooldownMs >= 0');
    }
    this.window = new SlidingWindow(options.windowMs ?? 10_000); // a = successes, b = failures
  }

  get state(): BreakerState {
    this.maybeHalfOpen();
    return this.current;
  }

  /** Whether a call would be let through now (without taking a probe slot). */
  canAccept(): boolean {
    const state = this.state;
    return state === 'closed' || (state === 'half-open' && this.probesInFlight < this.halfOpenProbes);
  }

  /** A permit for one call, or undefined when the breaker refuses it. */
  tryAcquire(): Permit | undefined {
    const state = this.state;
    if (state === 'closed') return { generation: this.generation, probe: false };
    if (state === 'half-open' && this.probesInFlight < this.halfOpenProbes) {
      this.probesInFlight++;
      return { generation: this.generation, probe: true };
    }
    return undefined;
  }

  /** A permit, or CIRCUIT_OPEN. */
  acquire(): Permit {
    const permit = this.tryAcquire();
    if (permit === undefined) {
      throw new ShoalError({
        code: ErrorCode.CIRCUIT_OPEN,
        message: `circuit breaker for ${this.endpoint} is ${this.current}`,
        retryable: true,
        instance: this.endpoint,
        details: { state: this.current },
      });
    }
    return permit;
  }

  success(permit: Permit): void {
    if (!this.settle(permit)) return;
    if (this.current === 'half-open') this.transition('closed');
    else this.window.add(this.options.now(), 1, 0);
  }

  failure(permit: Permit): void {
    if (!this.settle(permit)) return;
    if (this.current === 'half-open') {
      this.transition('open');
      return;
    }
    const now = this.options.now();
    this.window.add(now, 0, 1);
    const { a: ok, b: failed } = this.window.totals(now);
    const total = ok + failed;
    if (total >= this.minimumRequests && failed / total >= this.threshold) this.transition('open', failed / total);
  }

  /** The call ended with no verdict on the endpoint (cancelled by the caller): frees its probe slot. */
  release(permit: Permit): void {
    this.settle(permit);
  }

  /** Runs `fn` under a permit; `isFailure` decides which errors count against the endpoint. */
  async execute<T>(fn: () => Promise<T>, isFailure: (error: unknown) => boolean = () => true): Promise<T> {
    const permit = this.acquire();
    let result: T;
    try {
      result = await fn();
    } catch (error) {
      if (isFailure(error)) this.failure(permit);
      else this.success(permit);
      throw error;
    }
    this.success(permit);
    return result;
  }

  /** True when the permit belongs to the current generation (its outcome counts). */
  private settle(permit: Permit): boolean {
    if (permit.generation !== this.generation) return false;
    if (permit.probe) {
      if (this.probesInFlight <= 0) throw new Error(`breaker ${this.endpoint}: probe settled twice`);
      this.probesInFlight--;
    }
    return true;
  }

  private maybeHalfOpen(): void {
    if (this.current === 'open' && this.options.now() - this.openedAt >= this.cooldownMs) {
      this.transition('half-open');
    }
  }

  private transition(to: BreakerState, failureRate?: number): void {
    const from = this.current;
    const at = this.options.now();
    this.current = to;
    this.generation++;
    this.probesInFlight = 0;
    if (to === 'open') this.openedAt = at;
    if (to === 'closed') this.window.reset();
    const change: BreakerStateChange = { endpoint: this.endpoint, from, to, at };
    if (failureRate !== undefined) change.failureRate = failureRate;
    this.options.onStateChange?.(change);
  }
}

/** One breaker per endpoint id, created on first use with shared options. */
export class CircuitBreakers {
  private readonly breakers = new Map<string, CircuitBreaker>();

  constructor(private readonly options: CircuitBreakerOptions) {}

  for(endpoint: string): CircuitBreaker {
    let b = this.breakers.get(endpoint);
    if (b === undefined) {
      b = new CircuitBreaker(endpoint, this.options);
      this.breakers.set(endpoint, b);
    }
    return b;
  }

  /** Health as failover sees it: the endpoint's breaker would let a call through. */
  canAccept(endpoint: string): boolean {
    return this.breakers.get(endpoint)?.canAccept() ?? true;
  }

  /** Drops breakers of endpoints that left, so the map does not grow forever. */
  retain(endpoints: Iterable<string>): void {
    const keep = new Set(endpoints);
    for (const id of this.breakers.keys()) if (!keep.has(id)) this.breakers.delete(id);
  }
}
