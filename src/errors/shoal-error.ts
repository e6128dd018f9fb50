// The one error type every layer of a call shares (transport, resilience, runtime, gateway, txn).
// It lives in its own bottom folder rather than inside resilience/ because transport/ — a sibling
// of resilience/ — must build these from wire responses, and dependencies may only point down.

/** Codes Shoal itself raises. Services may use their own codes too (any string). */
export const ErrorCode = {
  DEADLINE_EXCEEDED: 'DEADLINE_EXCEEDED',
  CIRCUIT_OPEN: 'CIRCUIT_OPEN',
  BULKHEAD_REJECTED: 'BULKHEAD_REJECTED',
  NO_ENDPOINT: 'NO_ENDPOINT',
  CANCELLED: 'CANCELLED',
  UNAVAILABLE: 'UNAVAILABLE',
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  INTERNAL: 'INTERNAL',
} as const;
export type KnownErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface ShoalErrorInit {
  code: string;
  message: string;
  /**
   * The producer's statement that trying again may succeed AND is safe: the request was not
   * processed, or repeating it has no extra effect. Retry policies trust this flag even for
   * non-idempotent actions, so transports must only set it when the request never ran.
   */
  retryable: boolean;
  /** Id of the instance that produced the error, when one did. */
  instance?: string;
  details?: Record<string, unknown>;
  cause?: unknown;
}

/** The JSON shape of a ShoalError on the wire. */
export interface ShoalErrorJson {
  code: string;
  message: string;
  retryable: boolean;
  instance?: string;
  details?: Record<string, unknown>;
}

export class ShoalError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly instance: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(init: ShoalErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    if (typeof init.code !== 'string' || init.code.length === 0) {
      throw new TypeError('ShoalError needs a non-empty code');
    }
    this.name = 'ShoalError';
    this.code = init.code;
    this.retryable = init.retryable;
    this.instance = init.instance;
    this.details = init.details;
  }

  /** A copy attributed to the instance that produced it (transport knows it, the thrower may not). */
  withInstance(instance: string): ShoalError {
    return new ShoalError({ ...this.toJSON(), instance, cause: this.cause });
  }

  toJSON(): ShoalErrorJson {
    const json: ShoalErrorJson = { code: this.code, message: this.message, retryable: this.retryable };
    if (this.instance !== undefined) json.instance = this.instance;
    if (this.details !== undefined) json.details = this.details;
    return json;
  }

  static fromJSON(value: unknown): ShoalError {
    if (typeof value !== 'object' || value === null) {
      throw new TypeError('ShoalError.fromJSON: not an object');
    }
    const v = value as Record<string, unknown>;
    if (typeof v.code !== 'string' || typeof v.message !== 'string' || typeof v.retryable !== 'boolean') {
      throw new TypeError('ShoalError.fromJSON: code, message and retryable are required');
    }
    return new ShoalError({
      code: v.code,
      message: v.message,
      retryable: v.retryable,
      instance: typeof v.instance === 'string' ? v.instance : undefined,
      details: typeof v.details === 'object' && v.details !== null ? (v.details as Record<string, unknown>) : undefined,
    });
  }
}

export function isShoalError(err: unknown): err is ShoalError {
  return err instanceof ShoalError;
}

/** Anything thrown, as a ShoalError; foreign errors become INTERNAL and not retryable. */
export function toShoalError(err: unknown, instance?: string): ShoalError {
  if (err instanceof ShoalError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ShoalError({ code: ErrorCode.INTERNAL, message, retryable: false, instance, cause: err });
}
