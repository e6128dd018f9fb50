// Bearer authentication at the edge (RFC 6750): routes say `config.auth` = public | user | admin.
// The token is checked before the body is read, so an unauthenticated client cannot make the
// gateway parse its payload. Every failure is a 401 with WWW-Authenticate; a valid token without
// the admin role on an admin route is a 403.
import type { FastifyRequest } from 'fastify';
import { bearerToken, isAuthError } from '../auth/index.js';
import { HttpError } from './errors.js';
import type { AuthRequirement, Identity } from './route-table.js';
import type { TokenService } from './tokens.js';

export const REALM = 'shoal';

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: AuthRequirement;
    /** Errors on this route use the RFC 6749 body. */
    oauth?: boolean;
    /** This route checks passwords: it gets the tighter per-IP login limit. */
    credentials?: boolean;
  }
  interface FastifyRequest {
    identity: Identity | null;
  }
}

export interface VerifiedTokenCacheOptions {
  /** Tokens kept; the least recently used goes first. Default 10,000. */
  max?: number;
  /** Longest a verification is reused, in ms, even if the token lives longer. Default 60,000. */
  maxAgeMs?: number;
  /** ms clock, the one token expiry is judged by. */
  now: () => number;
}

/**
 * Identities of access tokens that passed full verification (signature, issuer, audience,
 * expiry, type, denylist), keyed by the exact token string — canonical encoding is enforced by
 * the verifier, so one token has one spelling. An entry is used until the token's `exp` (or
 * maxAgeMs, which bounds how long a key retired from the ring keeps working); a token never seen
 * is always verified in full. `revoked` drops a token and voids verifications in flight, so a
 * revocation is never undone by a verification that read the denylist just before it.
 */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, { identity: Identity; until: number }>();
  private readonly max: number;
  private readonly maxAgeMs: number;
  /** Bumped on every revocation; a verification caches its result only if none happened meanwhile. */
  private revocations = 0;

  constructor(private readonly options: VerifiedTokenCacheOptions) {
    this.max = options.max ?? 10_000;
    this.maxAgeMs = options.maxAgeMs ?? 60_000;
    if (!Number.isInteger(this.max) || this.max < 1) throw new RangeError('VerifiedTokenCache: max must be an integer >= 1');
    if (!(this.maxAgeMs >= 0)) throw new RangeError('VerifiedTokenCache: maxAgeMs must be >= 0');
  }

  get size(): number {
    return this.entries.size;
  }

  async authenticate(tokens: Pick<TokenService, 'authenticate'>, token: string): Promise<Identity> {
    const hit = this.entries.get(token);
    if (hit !== undefined) {
      if (this.options.now() < hit.until) {
        // Most recently used goes to the back of the map's order.
        this.entries.delete(token);
        this.entries.set(token, hit);
        return hit.identity;
      }
      this.entries.delete(token);
    }
    const before = this.revocations;
    const identity = await tokens.authenticate(token);
    if (this.revocations === before) {
      const until = Math.min(identity.exp * 1000, this.options.now() + this.maxAgeMs);
      if (until > this.options.now()) {
        if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value!);
        Object.freeze(identity.roles);
        this.entries.set(token, { identity: Object.freeze(identity), until });
      }
    }
    return identity;
  }

  /** The token was revoked (its jti is on the denylist now): forget it and void verifications in flight. */
  revoked(token: string): void {
    this.revocations++;
    this.entries.delete(token);
  }

  clear(): void {
    this.revocations++;
    this.entries.clear();
  }
}

/** Verifies the request's bearer token; throws HttpError 401 (with WWW-Authenticate) on any fault. */
export async function identify(tokens: TokenService, authorization: string | undefined, cache?: VerifiedTokenCache): Promise<Identity> {
  try {
    const token = bearerToken(authorization);
    return await (cache !== undefined ? cache.authenticate(tokens, token) : tokens.authenticate(token));
  } catch (err) {
    if (!isAuthError(err) || err.status !== 401) throw err;
    const challenge =
      err.code === 'TOKEN_MISSING'
        ? `Bearer realm="${REALM}"`
        : `Bearer realm="${REALM}", error="${err.oauthError ?? 'invalid_token'}", error_description="${err.message}"`;
    throw new HttpError(401, 'UNAUTHENTICATED', err.message, { details: { reason: err.code }, headers: { 'www-authenticate': challenge } });
  }
}

export function authHook(tokens: TokenService, cache?: VerifiedTokenCache): (request: FastifyRequest) => Promise<void> {
  return async (request) => {
    const need = request.routeOptions.config?.auth ?? 'public';
    if (need === 'public') return;
    const identity = await identify(tokens, request.headers.authorization, cache);
    request.identity = identity;
    if (need === 'admin' && identity.role !== 'admin') {
      throw new HttpError(403, 'PERMISSION_DENIED', 'this route needs the admin role', {
        headers: { 'www-authenticate': `Bearer realm="${REALM}", error="insufficient_scope", error_description="admin role required"` },
      });
    }
  };
}
