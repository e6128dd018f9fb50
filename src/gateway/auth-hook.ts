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

/** Verifies the request's bearer token; throws HttpError 401 (with WWW-Authenticate) on any fault. */
export async function identify(tokens: TokenService, authorization: string | undefined): Promise<Identity> {
  try {
    return await tokens.authenticate(bearerToken(authorization));
  } catch (err) {
    if (!isAuthError(err) || err.status !== 401) throw err;
    const challenge =
      err.code === 'TOKEN_MISSING'
        ? `Bearer realm="${REALM}"`
        : `Bearer realm="${REALM}", error="${err.oauthError ?? 'invalid_token'}", error_description="${err.message}"`;
    throw new HttpError(401, 'UNAUTHENTICATED', err.message, { details: { reason: err.code }, headers: { 'www-authenticate': challenge } });
  }
}

export function authHook(tokens: TokenService): (request: FastifyRequest) => Promise<void> {
  return async (request) => {
    const need = request.routeOptions.config?.auth ?? 'public';
    if (need === 'public') return;
    const identity = await identify(tokens, request.headers.authorization);
    request.identity = identity;
    if (need === 'admin' && identity.role !== 'admin') {
      throw new HttpError(403, 'PERMISSION_DENIED', 'this route needs the admin role', {
        headers: { 'www-authenticate': `Bearer realm="${REALM}", error="insufficient_scope", error_description="admin role required"` },
      });
    }
  };
}
