// How the orchestrator judges a failed branch call and how long it waits before the next try.
// Pure: randomness is passed in.
import { ErrorCode, isShoalError } from '../../errors/index.js';

/**
 * Failures that say nothing about the business answer: the request did not run, or may have run
 * with its answer lost. Retrying the same branch is safe because participants use the barrier.
 */
const TRANSIENT = new Set<string>([
  ErrorCode.DEADLINE_EXCEEDED,
  ErrorCode.UNAVAILABLE,
  ErrorCode.NO_ENDPOINT,
  ErrorCode.CIRCUIT_OPEN,
  ErrorCode.BULKHEAD_REJECTED,
  ErrorCode.CANCELLED,
  ErrorCode.INTERNAL,
  'CONNECTION_LOST',
  'CONNECTION_FAILED',
  'BACKPRESSURE',
  'PROTOCOL_ERROR',
  'CLIENT_CLOSED',
]);

export type FailureKind = 'transient' | 'business';

/** Anything but a definite, non-retryable answer of the participant is transient. */
export function classifyFailure(err: unknown): FailureKind {
  if (!isShoalError(err)) return 'transient'; // no answer we understand: the outcome is unknown
  if (err.retryable || TRANSIENT.has(err.code) || err.details?.maybeExecuted === true) return 'transient';
  return 'business';
}

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

/** Capped exponential backoff with equal jitter: half the step fixed, half random. */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number): number {
  if (!(attempt >= 1)) throw new RangeError(`backoff attempt must be >= 1, got ${attempt}`);
  const step = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(step / 2 + (random() * step) / 2);
}

/** Key-order independent JSON, to tell whether a repeated gid carries the same saga. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
