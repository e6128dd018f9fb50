// The shop's own error codes (ShoalError allows any code). None is retryable: each is a definite
// answer about the request, and repeating it gives the same answer.
import { ErrorCode, ShoalError } from '../../index.js';

export const ShopErrorCode = {
  NOT_FOUND: 'NOT_FOUND',
  EMAIL_TAKEN: 'EMAIL_TAKEN',
  INVALID_CREDENTIALS: 'INVALID_CREDENTIALS',
  /** A requestId (deposit, debit, reserve) was used before with a different amount or qty. */
  IDEMPOTENCY_CONFLICT: 'IDEMPOTENCY_CONFLICT',
  /** The deposit would take the wallet above MAX_WALLET_CENTS (counting debits a refund may return). */
  WALLET_LIMIT: 'WALLET_LIMIT',
  /** A debit larger than the wallet. */
  INSUFFICIENT_FUNDS: 'INSUFFICIENT_FUNDS',
  /** A reservation larger than the stock. */
  OUT_OF_STOCK: 'OUT_OF_STOCK',
  /** A debit whose requestId was refunded already (possibly before the debit arrived): never applied. */
  ALREADY_REFUNDED: 'ALREADY_REFUNDED',
  /** A reservation whose requestId was released already (possibly before it arrived): never applied. */
  ALREADY_RELEASED: 'ALREADY_RELEASED',
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
