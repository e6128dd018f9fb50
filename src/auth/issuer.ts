// Issuing access tokens: RFC 9068-shaped JWTs signed by the key ring's active key.
import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { claimsRejected, isValidSubject, parseRoles, parseScope } from './claims.js';
import { epochSeconds, systemClock, type Clock } from './clock.js';
import type { KeyRing } from './key-ring.js';

/** The JWT `typ` header of our access tokens (RFC 9068), so no other JWT passes as one. */
export const ACCESS_TOKEN_TYPE = 'at+jwt';

export interface IssuerConfig {
  /** The `iss` claim: this authorization server's identifier (its base URL). */
  issuer: string;
  /** The `aud` claim: the resource server(s) the tokens are for. */
  audience: string | string[];
  keyRing: KeyRing;
  now?: Clock;
  /** Default 900 (15 minutes). */
  defaultTtlSeconds?: number;
  /** Upper bound on any requested ttl. Default 86,400 (one day). */
  maxTtlSeconds?: number;
}

export interface AccessTokenRequest {
  sub: string;
  /** E.g. ['admin']. */
  roles?: string[];
  /** A list or the space-delimited OAuth form. */
  scope?: string[] | string;
  clientId?: string;
}

export interface IssuedAccessToken {
  token: string;
  tokenType: 'Bearer';
  jti: string;
  kid: string;
  /** NumericDate (seconds) of `exp`. */
  expiresAt: number;
  /** Seconds from now: the OAuth `expires_in`. */
  expiresIn: number;
}

export interface TokenIssuer {
  readonly issuer: string;
  issueAccessToken(request: AccessTokenRequest, options?: { ttlSeconds?: number }): Promise<IssuedAccessToken>;
}

export function createIssuer(config: IssuerConfig): TokenIssuer {
  const now = config.now ?? systemClock;
  const defaultTtl = config.defaultTtlSeconds ?? 900;
  const maxTtl = config.maxTtlSeconds ?? 86_400;
  if (typeof config.issuer !== 'string' || config.issuer.length === 0) throw new TypeError('issuer must be a non-empty string');
  const audience = typeof config.audience === 'string' ? [config.audience] : [...config.audience];
  if (audience.length === 0 || !audience.every((a) => typeof a === 'string' && a.length > 0)) {
    throw new TypeError('audience must be one or more non-empty strings');
  }
  if (!isTtl(maxTtl, Infinity)) throw new TypeError('maxTtlSeconds must be a positive integer');
  if (!isTtl(defaultTtl, maxTtl)) throw new TypeError('defaultTtlSeconds must be a positive integer <= maxTtlSeconds');

  return {
    issuer: config.issuer,
    async issueAccessToken(request, options = {}) {
      if (!isValidSubject(request.sub)) throw claimsRejected('sub must be 1..255 characters without control characters');
      const scope = parseScope(request.scope);
      if (scope === undefined) throw claimsRejected('scope must be RFC 6749 scope tokens (at most 64)');
      const roles = parseRoles(request.roles);
      if (roles === undefined) throw claimsRejected('roles must be short identifiers (at most 32)');
      if (request.clientId !== undefined && !isValidSubject(request.clientId)) throw claimsRejected('client id is invalid');
      const ttl = options.ttlSeconds ?? defaultTtl;
      if (!isTtl(ttl, maxTtl)) throw claimsRejected(`ttlSeconds must be an integer in [1, ${maxTtl}]`);

      const key = config.keyRing.active;
      const iat = epochSeconds(now());
      const exp = iat + ttl;
      const jti = randomBytes(16).toString('base64url');
      const payload: Record<string, unknown> = { scope: scope.join(' '), roles };
      if (request.clientId !== undefined) payload.client_id = request.clientId;
      const token = await new SignJWT(payload)
        .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: ACCESS_TOKEN_TYPE })
        .setIssuer(config.issuer)
        .setAudience(audience.length === 1 ? audience[0]! : audience)
        .setSubject(request.sub)
        .setJti(jti)
        .setIssuedAt(iat)
        .setNotBefore(iat)
        .setExpirationTime(exp)
        .sign(key.privateKey);
      return { token, tokenType: 'Bearer', jti, kid: key.kid, expiresAt: exp, expiresIn: ttl };
    },
  };
}

function isTtl(ttl: number, max: number): boolean {
  return Number.isInteger(ttl) && ttl >= 1 && ttl <= max;
}
