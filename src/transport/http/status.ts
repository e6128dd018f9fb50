// ShoalError codes ↔ HTTP statuses, shared by the HTTP server (to answer) and client (to read
// answers from servers that are not Shoal and send no error body).
import { ErrorCode } from '../../errors/index.js';
import { TransportErrorCode } from '../errors.js';

const STATUS_BY_CODE: Record<string, number> = {
  [ErrorCode.INVALID_ARGUMENT]: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  ACTION_NOT_FOUND: 404,
  CONFLICT: 409,
  [TransportErrorCode.MESSAGE_TOO_LARGE]: 413,
  RATE_LIMITED: 429,
  [ErrorCode.INTERNAL]: 500,
  [ErrorCode.UNAVAILABLE]: 503,
  [ErrorCode.CIRCUIT_OPEN]: 503,
  [ErrorCode.BULKHEAD_REJECTED]: 503,
  [ErrorCode.NO_ENDPOINT]: 503,
  [TransportErrorCode.BACKPRESSURE]: 503,
  [ErrorCode.DEADLINE_EXCEEDED]: 504,
};

export function statusForCode(code: string, retryable: boolean): number {
  return STATUS_BY_CODE[code] ?? (retryable ? 503 : 500);
}

/** For an answer without a Shoal error body. */
export function codeForStatus(status: number): string {
  if (status === 400 || status === 422) return ErrorCode.INVALID_ARGUMENT;
  if (status === 401) return 'UNAUTHENTICATED';
  if (status === 403) return 'PERMISSION_DENIED';
  if (status === 404) return 'NOT_FOUND';
  if (status === 409) return 'CONFLICT';
  if (status === 413) return TransportErrorCode.MESSAGE_TOO_LARGE;
  if (status === 429) return 'RATE_LIMITED';
  if (status === 503) return ErrorCode.UNAVAILABLE;
  if (status === 504) return ErrorCode.DEADLINE_EXCEEDED;
  return ErrorCode.INTERNAL;
}
