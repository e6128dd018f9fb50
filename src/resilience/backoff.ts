import type { Rng } from './types.js';

export interface BackoffOptions {
  /** Ceiling of the first retry's delay. */
  baseMs?: number;
  /** No delay exceeds this, however many attempts. */
  maxMs?: number;
}

export const DEFAULT_BACKOFF = { baseMs: 25, maxMs: 1_000 } as const;

/** The upper bound of the delay before retry number `retry` (1-based): base·2^(retry-1), capped. */
export function backoffCeiling(retry: number, options: BackoffOptions = {}): number {
  if (!Number.isInteger(retry) || retry < 1) throw new RangeError(`retry must be an integer >= 1, got ${retry}`);
  const base = options.baseMs ?? DEFAULT_BACKOFF.baseMs;
  const max = options.maxMs ?? DEFAULT_BACKOFF.maxMs;
  return Math.min(max, base * 2 ** Math.min(retry - 1, 52));
}

/**
 * "Full jitter" (AWS architecture blog, 2015): uniform in [0, ceiling). Spreading retries over the
 * whole interval de-synchronizes clients that failed together, which a fixed or half-jittered
 * delay does not.
 */
export function fullJitterBackoff(retry: number, rng: Rng, options: BackoffOptions = {}): number {
  return rng() * backoffCeiling(retry, options);
}
