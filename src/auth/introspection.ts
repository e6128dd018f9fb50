// RFC 7662 introspection and RFC 7009 revocation over both token kinds. Both answer for any
// input without throwing on bad tokens: an invalid token is simply `{ active: false }` /
// nothing revoked, as those RFCs require. Which kind a token is follows from its shape (a JWS
// has dots, a refresh token is 43 base64url characters), so token_type_hint is not needed.
import { epochSeconds, systemClock, type Clock } from './clock.js';
import type { AccessTokenDenylist } from './denylist.js';
import { isAuthError } from './errors.js';
import { findActiveRefreshToken, revokeRefreshToken, type RefreshTokenStore } from './refresh-tokens.js';
import type { AccessTokenVerifier } from './verifier.js';

/** RFC 7662 section 2.2. Inactive tokens reveal nothing beyond `active: false`. */
export type IntrospectionResponse =
  | { active: false }
  | {
      active: true;
      token_type?: 'Bearer';
      scope: string;
      client_id?: string;
      sub: string;
      exp: number;
      iat: number;
      nbf?: number;
      aud?: string | string[];
      iss?: string;
      jti?: string;
      /** Extension: the access token's roles. */
      roles?: string[];
    };

export interface TokenIntrospectorConfig {
  /** Should carry the same denylist as `denylist` below, so revoked tokens introspect inactive. */
  verifier: AccessTokenVerifier;
  refreshStore?: RefreshTokenStore;
  denylist?: AccessTokenDenylist;
  now?: Clock;
}

export interface TokenIntrospector {
  introspect(token: string): Promise<IntrospectionResponse>;
  /** True when something was revoked now. */
  revoke(token: string): Promise<boolean>;
}

const INACTIVE: IntrospectionResponse = Object.freeze({ active: false as const });

export function createIntrospector(config: TokenIntrospectorConfig): TokenIntrospector {
  const now = config.now ?? systemClock;
  const looksLikeJws = (token: string): boolean => token.includes('.');

  return {
    async introspect(token) {
      if (typeof token !== 'string' || token.length === 0) return INACTIVE;
      if (looksLikeJws(token)) {
        const verified = await verifyOrNull(config.verifier, token);
        if (verified === null) return INACTIVE;
        const { claims } = verified;
        return {
          active: true,
          token_type: 'Bearer',
          scope: verified.scope.join(' '),
          ...(verified.clientId !== undefined ? { client_id: verified.clientId } : {}),
          sub: verified.sub,
          exp: verified.exp,
          iat: verified.iat,
          ...(typeof claims.nbf === 'number' ? { nbf: claims.nbf } : {}),
          aud: verified.aud.length === 1 ? verified.aud[0] : verified.aud,
          iss: verified.iss,
          jti: verified.jti,
          roles: verified.roles,
        };
      }
      if (config.refreshStore === undefined) return INACTIVE;
      const record = await findActiveRefreshToken(config.refreshStore, token, now());
      if (record === undefined) return INACTIVE;
      return {
        active: true,
        scope: record.scope.join(' '),
        ...(record.clientId !== undefined ? { client_id: record.clientId } : {}),
        sub: record.sub,
        exp: epochSeconds(record.expiresAt),
        iat: epochSeconds(record.issuedAt),
      };
    },

    async revoke(token) {
      if (typeof token !== 'string' || token.length === 0) return false;
      if (looksLikeJws(token)) {
        if (config.denylist === undefined) return false;
        // Only genuine, live tokens are listed: the denylist cannot be filled with junk.
        const verified = await verifyOrNull(config.verifier, token);
        if (verified === null) return false;
        await config.denylist.add(verified.jti, verified.exp);
        return true;
      }
      if (config.refreshStore === undefined) return false;
      return revokeRefreshToken(config.refreshStore, token);
    },
  };
}

async function verifyOrNull(verifier: AccessTokenVerifier, token: string) {
  try {
    return await verifier.verify(token);
  } catch (err) {
    // Token faults mean "inactive"; anything else (store or key fetch failure) is the server's.
    if (isAuthError(err)) return null;
    throw err;
  }
}
