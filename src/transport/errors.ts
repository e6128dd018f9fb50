// Errors the transport itself raises. The line that matters is `retryable`: ShoalError promises
// that a retryable error means the request never ran (retry policies trust it even for
// non-idempotent actions). A request that reached the wire may have run, so it is reported with
// `details.maybeExecuted: true` and `retryable: false`; an idempotent caller may still retry it.
import { ErrorCode, ShoalError } from '../errors/index.js';

export const TransportErrorCode = {
  /** The connection dropped with the request pending. */
  CONNECTION_LOST: 'CONNECTION_LOST',
  /** No connection could be made; nothing was sent. */
  CONNECTION_FAILED: 'CONNECTION_FAILED',
  /** Too many requests pending on every connection to the endpoint; nothing was sent. */
  BACKPRESSURE: 'BACKPRESSURE',
  /** A request or response exceeds the frame (TCP) or body (HTTP) limit. */
  MESSAGE_TOO_LARGE: 'MESSAGE_TOO_LARGE',
  /** The peer sent bytes that are not this protocol. */
  PROTOCOL_ERROR: 'PROTOCOL_ERROR',
  /** The client was closed with the request pending. */
  CLIENT_CLOSED: 'CLIENT_CLOSED',
} as const;

interface Where {
  endpoint: string;
  instance?: string | undefined;
}

/** The connection went away. Whether it is safe to retry depends on whether the bytes left. */
export function connectionLost(where: Where, written: boolean, reason: string): ShoalError {
  return new ShoalError({
    code: TransportErrorCode.CONNECTION_LOST,
    message: `connection to ${where.endpoint} lost${written ? ' after the request was sent' : ' before the request was sent'}: ${reason}`,
    retryable: !written,
    instance: where.instance,
    details: { endpoint: where.endpoint, maybeExecuted: written },
  });
}

export function connectionFailed(endpoint: string, reason: string, retryInMs?: number): ShoalError {
  const details: Record<string, unknown> = { endpoint, maybeExecuted: false };
  if (retryInMs !== undefined) details.retryInMs = retryInMs;
  return new ShoalError({
    code: TransportErrorCode.CONNECTION_FAILED,
    message: `cannot connect to ${endpoint}: ${reason}`,
    retryable: true,
    details,
  });
}

export function backpressure(where: Where, limit: string): ShoalError {
  return new ShoalError({
    code: TransportErrorCode.BACKPRESSURE,
    message: `too many pending requests to ${where.endpoint} (${limit}); not sent`,
    retryable: true,
    instance: where.instance,
    details: { endpoint: where.endpoint, maybeExecuted: false },
  });
}

export function messageTooLarge(what: string, bytes: number, limit: number, maybeExecuted: boolean, instance?: string): ShoalError {
  return new ShoalError({
    code: TransportErrorCode.MESSAGE_TOO_LARGE,
    message: `${what} of ${bytes} bytes exceeds the limit of ${limit} bytes`,
    retryable: false,
    instance,
    details: { bytes, limit, maybeExecuted },
  });
}

export function callTimedOut(where: Where, timeoutMs: number, written: boolean): ShoalError {
  return new ShoalError({
    code: ErrorCode.DEADLINE_EXCEEDED,
    message: `call to ${where.endpoint} timed out after ${timeoutMs} ms`,
    retryable: false,
    instance: where.instance,
    details: { endpoint: where.endpoint, timeoutMs, maybeExecuted: written },
  });
}

export function deadlineSpent(endpoint: string): ShoalError {
  return new ShoalError({
    code: ErrorCode.DEADLINE_EXCEEDED,
    message: `deadline exceeded before calling ${endpoint}`,
    retryable: false,
    details: { endpoint, maybeExecuted: false },
  });
}

export function clientClosed(endpoint: string, written: boolean): ShoalError {
  return new ShoalError({
    code: TransportErrorCode.CLIENT_CLOSED,
    message: `transport client closed with a call to ${endpoint} pending`,
    retryable: false,
    details: { endpoint, maybeExecuted: written },
  });
}

/** The serving instance is draining: the request was refused before it ran. */
export function draining(instance: string): ShoalError {
  return new ShoalError({
    code: ErrorCode.UNAVAILABLE,
    message: `instance ${instance} is draining`,
    retryable: true,
    instance,
    details: { draining: true, maybeExecuted: false },
  });
}

export function protocolError(where: Where, reason: string, maybeExecuted: boolean): ShoalError {
  return new ShoalError({
    code: TransportErrorCode.PROTOCOL_ERROR,
    message: `protocol error on ${where.endpoint}: ${reason}`,
    retryable: false,
    instance: where.instance,
    details: { endpoint: where.endpoint, maybeExecuted },
  });
}
