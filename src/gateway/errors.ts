// The edge's one error shape, `{ "error": { code, message, details? } }`, and the mapping from
// whatever failed (a service's ShoalError, an AuthError, fastify's own 4xx) to an HTTP status.
// 5xx answers never carry the producer's message: it may name instances, hosts or internals.
import { isShoalError } from '../errors/index.js';
import { isAuthError } from '../auth/index.js';

export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

/** Status per error code. Later route tables add their own codes through GatewayOptions.errorStatuses. */
export const DEFAULT_ERROR_STATUSES: Readonly<Record<string, number>> = Object.freeze({
  INVALID_ARGUMENT: 400,
  INVALID_CREDENTIALS: 401,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  EMAIL_TAKEN: 409,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  DEADLINE_EXCEEDED: 504,
  UNAVAILABLE: 503,
  NO_ENDPOINT: 503,
  CIRCUIT_OPEN: 503,
  BULKHEAD_REJECTED: 503,
  CANCELLED: 503,
  // A service instance went away mid-call (e.g. killed): the request may or may not have run, so
  // the client should retry with the same Idempotency-Key — a 502, not a 500 "bug".
  CONNECTION_LOST: 502,
  CONNECTION_FAILED: 503,
  BACKPRESSURE: 503,
});

const GENERIC_5XX: Record<number, string> = {
  500: 'internal error',
  502: 'a service instance went away while answering; retry with the same Idempotency-Key',
  503: 'service temporarily unavailable',
  504: 'the service did not answer in time',
};

/** An error the edge raises itself with a chosen status (auth, rate limit, OAuth, framework faults). */
export class HttpError extends Error {
  readonly details: Record<string, unknown> | undefined;
  readonly headers: Record<string, string>;
  /** The RFC 6749 / 6750 `error` value when this is answered on an OAuth endpoint. */
  readonly oauthError: string | undefined;

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    extra: { details?: Record<string, unknown>; headers?: Record<string, string>; oauthError?: string } = {},
  ) {
    super(message);
    if (!Number.isInteger(status) || status < 400 || status > 599) throw new Error(`assertion: HttpError status ${status} is not an error status`);
    this.name = 'HttpError';
    this.details = extra.details;
    this.headers = extra.headers ?? {};
    this.oauthError = extra.oauthError;
  }
}

/** An OAuth endpoint's own refusal (RFC 6749 section 5.2), e.g. invalid_grant. */
export function oauthError(status: number, error: string, description: string): HttpError {
  return new HttpError(status, status === 401 ? 'UNAUTHENTICATED' : 'INVALID_ARGUMENT', description, { oauthError: error });
}

export interface MappedError {
  status: number;
  body: ErrorBody;
  headers: Record<string, string>;
  /** True when the fault is ours (5xx): log it with its stack, answer generically. */
  serverFault: boolean;
  oauthError: string | undefined;
}

// Fastify's client-side faults by code: fixed messages, since some of fastify's quote the input.
const FASTIFY_CLIENT_ERRORS: Record<string, [number, string, string]> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'UNSUPPORTED_MEDIA_TYPE', 'unsupported content type; send application/json'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'INVALID_ARGUMENT', 'content-length does not match the body'],
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'PAYLOAD_TOO_LARGE', 'request body too large'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'INVALID_ARGUMENT', 'empty body with content-type application/json'],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'INVALID_ARGUMENT', 'body is not valid JSON'],
  FST_ERR_CTP_EMPTY_TYPE: [415, 'UNSUPPORTED_MEDIA_TYPE', 'empty content type'],
  FST_ERR_CTP_INVALID_TYPE: [415, 'UNSUPPORTED_MEDIA_TYPE', 'invalid content type'],
  FST_ERR_BAD_URL: [400, 'INVALID_ARGUMENT', 'malformed URL'],
  FST_ERR_MAX_PARAM_LENGTH: [414, 'INVALID_ARGUMENT', 'URL parameter too long'],
  FST_ERR_ASYNC_CONSTRAINT: [400, 'INVALID_ARGUMENT', 'request does not match a route constraint'],
};

const CLIENT_MESSAGE_BY_STATUS: Record<number, [string, string]> = {
  400: ['INVALID_ARGUMENT', 'malformed request'],
  404: ['NOT_FOUND', 'not found'],
  405: ['METHOD_NOT_ALLOWED', 'method not allowed'],
  406: ['INVALID_ARGUMENT', 'not acceptable'],
  411: ['INVALID_ARGUMENT', 'length required'],
  413: ['PAYLOAD_TOO_LARGE', 'request body too large'],
  414: ['INVALID_ARGUMENT', 'URL too long'],
  415: ['UNSUPPORTED_MEDIA_TYPE', 'unsupported content type'],
  431: ['INVALID_ARGUMENT', 'request headers too large'],
};

export function mapError(err: unknown, statuses: Readonly<Record<string, number>> = DEFAULT_ERROR_STATUSES): MappedError {
  if (err instanceof HttpError) return build(err.status, err.code, err.message, err.details, err.headers, err.oauthError);
  if (isAuthError(err)) {
    // A token or refresh-token fault is the client's; key or hash faults are ours.
    if (err.status >= 500) return build(500, 'INTERNAL', '', undefined);
    const code = err.status === 401 ? 'UNAUTHENTICATED' : 'INVALID_ARGUMENT';
    return build(err.status, code, err.message, { reason: err.code }, {}, err.oauthError);
  }
  if (isShoalError(err)) {
    const status = statuses[err.code] ?? 500;
    if (status >= 500) {
      const headers: Record<string, string> = status === 503 ? { 'retry-after': '1' } : {};
      return build(status, status === 500 ? 'INTERNAL' : err.code, '', undefined, headers);
    }
    return build(status, err.code, err.message, err.details);
  }
  const fastifyCode = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : undefined;
  const statusCode = (err as { statusCode?: unknown })?.statusCode;
  if (fastifyCode !== undefined && FASTIFY_CLIENT_ERRORS[fastifyCode] !== undefined) {
    const [status, code, message] = FASTIFY_CLIENT_ERRORS[fastifyCode]!;
    return build(status, code, message, undefined);
  }
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    // Any other fastify client fault (proto poisoning, bad headers, ...): a 4xx with a fixed message.
    const [code, message] = CLIENT_MESSAGE_BY_STATUS[statusCode] ?? ['INVALID_ARGUMENT', 'bad request'];
    return build(CLIENT_MESSAGE_BY_STATUS[statusCode] === undefined ? 400 : statusCode, code, message, undefined);
  }
  return build(500, 'INTERNAL', '', undefined);
}

function build(
  status: number,
  code: string,
  message: string,
  details: Record<string, unknown> | undefined,
  headers: Record<string, string> = {},
  oauthError?: string,
): MappedError {
  const serverFault = status >= 500;
  const text = serverFault ? (GENERIC_5XX[status] ?? GENERIC_5XX[500]!) : message;
  const body: ErrorBody = { error: { code, message: text } };
  if (!serverFault && details !== undefined) body.error.details = details;
  return { status, body, headers, serverFault, oauthError };
}

/** RFC 6749 section 5.2 body for the OAuth endpoints, derived from the same mapping. */
export interface OAuthErrorBody {
  error: string;
  error_description?: string;
}

export function toOAuthError(mapped: MappedError): OAuthErrorBody {
  const error =
    mapped.oauthError ??
    (mapped.status === 401
      ? 'invalid_token'
      : mapped.status === 403
        ? 'insufficient_scope'
        : mapped.status === 500
          ? 'server_error'
          : mapped.status > 500
            ? 'temporarily_unavailable'
            : 'invalid_request');
  return { error, error_description: mapped.body.error.message };
}
