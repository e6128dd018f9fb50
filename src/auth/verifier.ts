// Verifying access tokens at a resource server. Everything an attacker controls is checked
// before it is trusted: the size and shape first, then the header's alg against a pinned list
// (so `none` and HS256-with-our-public-key never reach a verify call), then the kid against
// known keys, then the signature, then the claims.
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload, type JWTVerifyGetKey, type KeyObject } from 'jose';
import { isValidSubject, parseRoles, parseScope } from './claims.js';
import { systemClock, type Clock } from './clock.js';
import type { AccessTokenDenylist } from './denylist.js';
import { AuthError, AuthErrorCode, isAuthError } from './errors.js';
import { ACCESS_TOKEN_TYPE } from './issuer.js';
import type { JwkSet, KeyRing } from './key-ring.js';
import { isSigningAlgorithm, SIGNING_ALGORITHMS, type SigningAlgorithm } from './keys.js';

export const DEFAULT_MAX_TOKEN_LENGTH = 4096;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const MAX_CLOCK_TOLERANCE = 300;

export interface VerifierConfig {
  issuer: string;
  audience: string;
  /** Keys from our own ring (in-process authorization server)... */
  keyRing?: KeyRing;
  /** ...or a published JWK Set, or a resolver such as jose's createRemoteJWKSet(url). */
  jwks?: JwkSet | JWTVerifyGetKey;
  /** Accepted `alg` values, pinned. Default ['EdDSA']. Only asymmetric algorithms are allowed. */
  algorithms?: SigningAlgorithm[];
  /** Allowed clock skew for exp/nbf. Default 30, at most 300. */
  clockToleranceSeconds?: number;
  /** Tokens longer than this are refused unparsed. Default 4096. */
  maxTokenLength?: number;
  /** Reject tokens older than this (by iat) even if exp allows them. */
  maxTokenAgeSeconds?: number;
  denylist?: AccessTokenDenylist;
  now?: Clock;
}

export interface VerifiedAccessToken {
  sub: string;
  scope: string[];
  roles: string[];
  clientId: string | undefined;
  jti: string;
  iss: string;
  aud: string[];
  exp: number;
  iat: number;
  kid: string;
  alg: SigningAlgorithm;
  /** Every claim, for callers that need custom ones. */
  claims: JWTPayload;
}

export interface AccessTokenVerifier {
  verify(token: string): Promise<VerifiedAccessToken>;
}

export function createVerifier(config: VerifierConfig): AccessTokenVerifier {
  const algorithms = [...(config.algorithms ?? ['EdDSA'])];
  if (algorithms.length === 0 || !algorithms.every(isSigningAlgorithm)) {
    throw new TypeError(`algorithms must be a non-empty subset of ${SIGNING_ALGORITHMS.join(', ')}`);
  }
  const tolerance = config.clockToleranceSeconds ?? 30;
  if (!Number.isInteger(tolerance) || tolerance < 0 || tolerance > MAX_CLOCK_TOLERANCE) {
    throw new TypeError(`clockToleranceSeconds must be an integer in [0, ${MAX_CLOCK_TOLERANCE}]`);
  }
  const maxLength = config.maxTokenLength ?? DEFAULT_MAX_TOKEN_LENGTH;
  if (!Number.isInteger(maxLength) || maxLength < 64) throw new TypeError('maxTokenLength must be an integer >= 64');
  if (typeof config.issuer !== 'string' || config.issuer.length === 0) throw new TypeError('issuer must be a non-empty string');
  if (typeof config.audience !== 'string' || config.audience.length === 0) throw new TypeError('audience must be a non-empty string');
  if ((config.keyRing === undefined) === (config.jwks === undefined)) throw new TypeError('give exactly one of keyRing and jwks');
  const getKey = config.keyRing !== undefined ? ringResolver(config.keyRing) : jwksResolver(config.jwks!);
  const now = config.now ?? systemClock;

  return {
    async verify(token) {
      if (typeof token !== 'string' || token.length === 0) throw new AuthError(AuthErrorCode.TOKEN_MISSING, 'no access token');
      if (token.length > maxLength) throw new AuthError(AuthErrorCode.TOKEN_MALFORMED, 'access token too long');
      if (!COMPACT_JWS.test(token) || !token.split('.').every(isCanonicalBase64url)) {
        throw new AuthError(AuthErrorCode.TOKEN_MALFORMED, 'access token is not a compact JWS');
      }
      let header: ReturnType<typeof decodeProtectedHeader>;
      try {
        header = decodeProtectedHeader(token);
      } catch {
        throw new AuthError(AuthErrorCode.TOKEN_MALFORMED, 'access token header does not decode');
      }
      if (typeof header.alg !== 'string' || !(algorithms as string[]).includes(header.alg)) {
        throw new AuthError(AuthErrorCode.TOKEN_INVALID, 'access token algorithm not allowed');
      }
      if (typeof header.kid !== 'string' || header.kid.length === 0 || header.kid.length > 128) {
        throw new AuthError(AuthErrorCode.TOKEN_INVALID, 'access token has no usable key id');
      }

      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, getKey, {
          algorithms,
          issuer: config.issuer,
          audience: config.audience,
          typ: ACCESS_TOKEN_TYPE,
          clockTolerance: tolerance,
          currentDate: new Date(now()),
          requiredClaims: ['exp', 'iat', 'sub', 'jti'],
          ...(config.maxTokenAgeSeconds !== undefined ? { maxTokenAge: config.maxTokenAgeSeconds } : {}),
        }));
      } catch (err) {
        throw fromJose(err);
      }

      const verified = shape(payload, header.kid, header.alg as SigningAlgorithm);
      if (config.denylist !== undefined && (await config.denylist.has(verified.jti))) {
        throw new AuthError(AuthErrorCode.TOKEN_REVOKED, 'access token revoked');
      }
      return verified;
    },
  };
}

/** The token from an `Authorization: Bearer <token>` header value (RFC 6750 section 2.1). */
export function bearerToken(authorization: string | undefined): string {
  if (authorization === undefined || authorization.length === 0) throw new AuthError(AuthErrorCode.TOKEN_MISSING, 'no access token');
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authorization);
  if (match === null) throw new AuthError(AuthErrorCode.TOKEN_MALFORMED, 'authorization header is not a Bearer token');
  return match[1]!;
}

/**
 * Decoders ignore the unused low bits of a segment's last character, so without this check one
 * signed token has several spellings that all verify, and a denylist or cache keyed by the token
 * string could be sidestepped.
 */
function isCanonicalBase64url(segment: string): boolean {
  return segment.length % 4 !== 1 && Buffer.from(segment, 'base64url').toString('base64url') === segment;
}

function ringResolver(ring: KeyRing): JWTVerifyGetKey {
  return (header) => {
    const key = header.kid === undefined ? undefined : ring.get(header.kid);
    if (key === undefined) throw new AuthError(AuthErrorCode.TOKEN_INVALID, 'access token signed by an unknown key');
    // A kid names one key of one type; a header pairing it with another alg is forged.
    if (key.alg !== header.alg) throw new AuthError(AuthErrorCode.TOKEN_INVALID, 'access token algorithm does not match its key');
    return key.publicKey as KeyObject;
  };
}

function jwksResolver(jwks: JwkSet | JWTVerifyGetKey): JWTVerifyGetKey {
  if (typeof jwks === 'function') return jwks;
  if (typeof jwks !== 'object' || jwks === null || !Array.isArray(jwks.keys)) throw new TypeError('jwks must be a JWK Set');
  // Copy public members only: a JWK Set accidentally holding private parts must not keep them here.
  const keys = jwks.keys.map(({ kty, crv, x, y, kid, alg, use }) => ({ kty, crv, x, ...(y !== undefined ? { y } : {}), kid, alg, use }));
  return createLocalJWKSet({ keys }) as JWTVerifyGetKey;
}

function fromJose(err: unknown): unknown {
  if (isAuthError(err)) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const claim = (err as { claim?: unknown }).claim;
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return new AuthError(AuthErrorCode.TOKEN_EXPIRED, 'access token expired');
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (claim === 'nbf') return new AuthError(AuthErrorCode.TOKEN_NOT_YET_VALID, 'access token not yet valid');
      if (claim === 'iat') return new AuthError(AuthErrorCode.TOKEN_EXPIRED, 'access token too old');
      if (claim === 'typ') return new AuthError(AuthErrorCode.TOKEN_INVALID, 'token is not an access token');
      return new AuthError(AuthErrorCode.TOKEN_CLAIM_INVALID, `access token claim rejected: ${knownClaim(claim)}`);
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return new AuthError(AuthErrorCode.TOKEN_INVALID, 'access token signature invalid');
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return new AuthError(AuthErrorCode.TOKEN_INVALID, 'access token algorithm not allowed');
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return new AuthError(AuthErrorCode.TOKEN_INVALID, 'access token signed by an unknown key');
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return new AuthError(AuthErrorCode.TOKEN_MALFORMED, 'access token is malformed');
    default:
      // Not the token's fault (a JWKS fetch timeout, a bad configured key): the caller's 5xx.
      return err;
  }
}

function knownClaim(claim: unknown): string {
  return typeof claim === 'string' && ['iss', 'aud', 'sub', 'exp', 'iat', 'jti', 'nbf'].includes(claim) ? claim : 'unknown';
}

function shape(payload: JWTPayload, kid: string, alg: SigningAlgorithm): VerifiedAccessToken {
  const bad = (what: string): AuthError => new AuthError(AuthErrorCode.TOKEN_CLAIM_INVALID, `access token claim rejected: ${what}`);
  if (!isValidSubject(payload.sub)) throw bad('sub');
  if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > 128) throw bad('jti');
  if (typeof payload.exp !== 'number' || typeof payload.iat !== 'number') throw bad('exp');
  const scope = typeof payload.scope === 'string' || payload.scope === undefined ? parseScope(payload.scope) : undefined;
  if (scope === undefined) throw bad('scope');
  const roles = parseRoles(payload.roles);
  if (roles === undefined) throw bad('roles');
  const clientId = payload.client_id;
  if (clientId !== undefined && !isValidSubject(clientId)) throw bad('client_id');
  return {
    sub: payload.sub,
    scope,
    roles,
    clientId,
    jti: payload.jti,
    iss: payload.iss as string,
    aud: typeof payload.aud === 'string' ? [payload.aud] : (payload.aud as string[]),
    exp: payload.exp,
    iat: payload.iat,
    kid,
    alg,
    claims: payload,
  };
}
