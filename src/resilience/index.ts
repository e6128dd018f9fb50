// Public surface of Shoal's fault tolerance: deadlines, retries with backoff and a budget,
// per-endpoint circuit breakers, bulkheads, fallbacks, failover and outlier ejection. No I/O;
// time (`Clock`, `now`) and randomness (`Rng`) are passed in so every piece runs on a fake clock.
//
// Why not cockatiel (3.2) throughout — we checked its source (dist/):
//  - It reads time itself: CircuitBreakerPolicy and SamplingBreaker call Date.now(), RetryPolicy
//    and TimeoutPolicy sleep with setTimeout, and the exponential backoff generators use
//    Math.random(). None of these can be injected, so breakers, retries and timeouts could only be
//    tested by faking global timers — not deterministic per instance, and not the house rule.
//  - Its model differs where it matters: no retry budget (a per-call attempt limit does not stop
//    a retry storm); no deadline that travels downstream as a budget; no failover pools or outlier
//    ejection. Its breaker only wraps an execution, while the pipeline must ask "would this
//    endpoint's breaker accept a call?" before balancing (CircuitBreaker.canAccept); and in
//    half-open it runs one test call and parks every other caller behind it, where we want N
//    probes and an immediate CIRCUIT_OPEN for the rest so they go to another endpoint.
//  - Fallback is ~20 lines here because ours matches on ShoalError codes and hands the error to
//    the fallback function; cockatiel's fallback factory does not receive the error.
// The Bulkhead (bulkhead.ts) used to wrap cockatiel's BulkheadPolicy; it is now a counter and a
// FIFO of our own, because it sits on every remote call and cockatiel's added a promise layer
// per call. cockatiel is no longer used here.
//
// ShoalError lives in src/errors/ (re-exported here) because transport/, a sibling, needs it too.
export { ShoalError, ErrorCode, isShoalError, toShoalError } from '../errors/index.js';
export type { Clock, Rng, EndpointRef } from './types.js';
export { Deadline, DEADLINE_HEADER, deadlineExceeded, withinDeadline } from './deadline.js';
export { backoffCeiling, fullJitterBackoff, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
export { RetryBudget, type RetryBudgetOptions } from './retry-budget.js';
export { Retry, isRetryAllowed, type RetryOptions, type RetryCall, type Attempt, type GiveUpReason } from './retry.js';
export {
  CircuitBreaker,
  CircuitBreakers,
  type BreakerState,
  type BreakerStateChange,
  type CircuitBreakerOptions,
  type Permit,
} from './circuit-breaker.js';
export { Bulkhead, type BulkheadOptions } from './bulkhead.js';
export { Fallback, type FallbackOptions } from './fallback.js';
export { selectPool, isBackup, type FailoverOptions, type PoolTier } from './failover.js';
export { OutlierDetector, type OutlierOptions } from './outlier.js';
export { SlidingWindow } from './sliding-window.js';
