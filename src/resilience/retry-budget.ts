import { SlidingWindow } from './sliding-window.js';

export interface RetryBudgetOptions {
  /** Retries allowed per original request over the window (0.1 = 10%). */
  ratio?: number;
  /** Retries always allowed per window, so a quiet client can still retry at all. */
  minRetries?: number;
  windowMs?: number;
}

/**
 * Caps retries at `ratio` of requests plus `minRetries` over a sliding window, like Finagle's
 * RetryBudget and Envoy's retry_budget. Per-call attempt limits do not stop a retry storm — when
 * a dependency fails, every call retries and load multiplies by the attempt count; a budget
 * bounds the extra load at ratio·100% whatever happens.
 */
export class RetryBudget {
  readonly ratio: number;
  readonly minRetries: number;
  /** a = original requests, b = retries. */
  private readonly window: SlidingWindow;

  constructor(options: RetryBudgetOptions = {}) {
    this.ratio = options.ratio ?? 0.1;
    this.minRetries = options.minRetries ?? 10;
    if (!(this.ratio >= 0) || !(this.minRetries >= 0)) throw new RangeError('retry budget: ratio and minRetries must be >= 0');
    this.window = new SlidingWindow(options.windowMs ?? 10_000);
  }

  /** Counts an original request (not a retry): each one earns `ratio` of a retry. */
  recordRequest(now: number): void {
    this.window.add(now, 1, 0);
  }

  /** Spends one retry if the budget allows it. */
  tryAcquireRetry(now: number): boolean {
    const { a: requests, b: retries } = this.window.totals(now);
    if (retries + 1 > this.ratio * requests + this.minRetries) return false;
    this.window.add(now, 0, 1);
    return true;
  }

  stats(now: number): { requests: number; retries: number } {
    const { a, b } = this.window.totals(now);
    return { requests: a, retries: b };
  }
}
