// How the call pipeline judges an error: does it say something about the endpoint (breaker,
// outlier detection, balancing), and may the call be tried again (elsewhere)?
import { ErrorCode, type ShoalError } from '../errors/index.js';
import { TransportErrorCode } from '../transport/index.js';

/** Failures of the instance or the path to it, as opposed to answers (INVALID_ARGUMENT, OUT_OF_STOCK…). */
const ENDPOINT_FAILURES = new Set<string>([
  TransportErrorCode.CONNECTION_FAILED,
  TransportErrorCode.CONNECTION_LOST,
  TransportErrorCode.PROTOCOL_ERROR,
  ErrorCode.UNAVAILABLE,
  ErrorCode.DEADLINE_EXCEEDED,
  ErrorCode.INTERNAL,
  ErrorCode.BULKHEAD_REJECTED,
]);

/** Failures that say nothing about the endpoint's health: the breaker slot is only released. */
const NEUTRAL = new Set<string>([TransportErrorCode.CLIENT_CLOSED, TransportErrorCode.BACKPRESSURE, ErrorCode.CANCELLED, ErrorCode.CIRCUIT_OPEN]);

export type Verdict = 'ok' | 'failure' | 'neutral';

export function judge(error: ShoalError): Verdict {
  // A draining instance refusing a call is an orderly goodbye, not a fault to trip breakers on.
  if (error.details?.draining === true) return 'neutral';
  // Our own budget ran out before anything was sent: no verdict on the endpoint.
  if (error.code === ErrorCode.DEADLINE_EXCEEDED && error.details?.maybeExecuted === false) return 'neutral';
  if (NEUTRAL.has(error.code)) return 'neutral';
  return ENDPOINT_FAILURES.has(error.code) ? 'failure' : 'ok';
}

/** Errors after which an idempotent action may run again: it may or may not have run the first time. */
const AMBIGUOUS = new Set<string>([TransportErrorCode.CONNECTION_LOST, ErrorCode.UNAVAILABLE, ErrorCode.INTERNAL, TransportErrorCode.PROTOCOL_ERROR]);

/**
 * May this failed attempt be tried again? A retryable error promises the request did not run, so
 * any action may; an idempotent action may also repeat after an ambiguous failure (the
 * connection dropped after sending, the instance crashed mid-call). Answers of the service
 * (INVALID_ARGUMENT, business errors) and a spent deadline are final.
 */
export function mayRetry(error: ShoalError, idempotent: boolean): boolean {
  if (error.retryable) return true;
  if (!idempotent) return false;
  return AMBIGUOUS.has(error.code) || (error.details?.maybeExecuted === true && error.code !== ErrorCode.DEADLINE_EXCEEDED);
}
