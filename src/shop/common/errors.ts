// The shop's own error codes (ShoalError allows any code). None is retryable: each is a definite
// answer about the request, and repeating it gives the same answer.
import { ErrorCode, ShoalError } from '../../index.js';

export const ShopErrorCode = {
  NOT_FOUND: 'NOT_FOUND',
  EMAIL_TAKEN: 'EMAIL_TAKEN',
  INVALID_CREDENTIALS: 'INVALID_CREDENTIALS',
  /** A deposit's requestId was used before with a different amount. */
  IDEMPOTENCY_CONFLICT: 'IDEMPOTENCY_CONFLICT',
  /** The deposit would take the wallet above MAX_WALLET_CENTS. */
  WALLET_LIMIT: 'WALLET_LIMIT',
} as const;

export function notFound(what: string, id: string): ShoalError {
  return new ShoalError({ code: ShopErrorCode.NOT_FOUND, message: `${what} ${id} not found`, retryable: false, details: { id } });
}

/** The store's own invariant checks on input; the runtime's zod validation normally catches these first. */
export function invalidArgument(message: string, details?: Record<string, unknown>): ShoalError {
  return new ShoalError({ code: ErrorCode.INVALID_ARGUMENT, message, retryable: false, details });
}

export function shopError(code: string, message: string, details?: Record<string, unknown>): ShoalError {
  return new ShoalError({ code, message, retryable: false, details });
}

/** An action called before the service's store is open (started() not run or stop in progress). */
export function storeClosed(service: string): ShoalError {
  return new ShoalError({ code: ErrorCode.UNAVAILABLE, message: `${service}: store is not open`, retryable: true });
}
