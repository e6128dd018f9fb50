// Typed failures of the auth core. Messages are fixed strings chosen here: they never quote the
// token, password, hash or key that failed, so an error can be logged or returned as-is.
import { ShoalError } from '../errors/index.js';

export const AuthErrorCode = {
  /** No credential where one was required. */
  TOKEN_MISSING: 'TOKEN_MISSING',
  /** Not a compact JWS of acceptable size and shape. */
  TOKEN_MALFORMED: 'TOKEN_MALFORMED',
  /** Signature, algorithm, key id or type header not acceptable. */
  TOKEN_INVALID: 'TOKEN_INVALID',
  TOKEN_EXPIRED: 'TOKEN_EXPIRED',
  TOKEN_NOT_YET_VALID: 'TOKEN_NOT_YET_VALID',
  /** Signed by us, but for another issuer/audience or with claims of the wrong shape. */
  TOKEN_CLAIM_INVALID: 'TOKEN_CLAIM_INVALID',
  TOKEN_REVOKED: 'TOKEN_REVOKED',
  REFRESH_TOKEN_INVALID: 'REFRESH_TOKEN_INVALID',
  REFRESH_TOKEN_EXPIRED: 'REFRESH_TOKEN_EXPIRED',
  REFRESH_TOKEN_REVOKED: 'REFRESH_TOKEN_REVOKED',
  /** An already-rotated refresh token came back: its whole family is now revoked. */
  REFRESH_TOKEN_REUSED: 'REFRESH_TOKEN_REUSED',
  /** A password the hasher refuses (empty, too long, not a string). A client error. */
  PASSWORD_REJECTED: 'PASSWORD_REJECTED',
  /** A stored password hash that does not parse. A server-side data problem. */
  PASSWORD_HASH_MALFORMED: 'PASSWORD_HASH_MALFORMED',
  /** Issuing input (subject, scope, roles, ttl) that would make a bad token. */
  CLAIMS_REJECTED: 'CLAIMS_REJECTED',
  /** A key file or key set that does not load. */
  KEY_INVALID: 'KEY_INVALID',
} as const;
export type AuthErrorCode = (typeof AuthErrorCode)[keyof typeof AuthErrorCode];

const STATUS: Record<AuthErrorCode, number> = {
  TOKEN_MISSING: 401,
  TOKEN_MALFORMED: 401,
  TOKEN_INVALID: 401,
  TOKEN_EXPIRED: 401,
  TOKEN_NOT_YET_VALID: 401,
  TOKEN_CLAIM_INVALID: 401,
  TOKEN_REVOKED: 401,
  // RFC 6749 section 5.2: a bad refresh token at the token endpoint is invalid_grant, a 400.
  REFRESH_TOKEN_INVALID: 400,
  REFRESH_TOKEN_EXPIRED: 400,
  REFRESH_TOKEN_REVOKED: 400,
  REFRESH_TOKEN_REUSED: 400,
  PASSWORD_REJECTED: 400,
  PASSWORD_HASH_MALFORMED: 500,
  CLAIMS_REJECTED: 500,
  KEY_INVALID: 500,
};

const OAUTH_ERROR: Partial<Record<AuthErrorCode, string>> = {
  TOKEN_MISSING: 'invalid_request',
  TOKEN_MALFORMED: 'invalid_token',
  TOKEN_INVALID: 'invalid_token',
  TOKEN_EXPIRED: 'invalid_token',
  TOKEN_NOT_YET_VALID: 'invalid_token',
  TOKEN_CLAIM_INVALID: 'invalid_token',
  TOKEN_REVOKED: 'invalid_token',
  REFRESH_TOKEN_INVALID: 'invalid_grant',
  REFRESH_TOKEN_EXPIRED: 'invalid_grant',
  REFRESH_TOKEN_REVOKED: 'invalid_grant',
  REFRESH_TOKEN_REUSED: 'invalid_grant',
};

export class AuthError extends ShoalError {
  override readonly code: AuthErrorCode;
  /** The HTTP status an edge should answer with. */
  readonly status: number;
  /** The RFC 6749 / RFC 6750 `error` value, for the OAuth endpoints and WWW-Authenticate. */
  readonly oauthError: string | undefined;

  constructor(code: AuthErrorCode, message: string, cause?: unknown) {
    // Not retryable: presenting the same credential again gives the same answer.
    super({ code, message, retryable: false, cause });
    this.name = 'AuthError';
    this.code = code;
    this.status = STATUS[code];
    this.oauthError = OAUTH_ERROR[code];
  }
}

export function isAuthError(err: unknown): err is AuthError {
  return err instanceof AuthError;
}
