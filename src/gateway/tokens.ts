// The gateway's authorization-server state: the key ring, the access-token issuer and verifier,
// refresh tokens (rotation, reuse detection), revocation and introspection. Assembled once per
// gateway; everything that decides expiry reads the one injected clock.
import {
  createIntrospector,
  createIssuer,
  createVerifier,
  findActiveRefreshToken,
  issueRefreshToken,
  MemoryDenylist,
  rotateRefreshToken,
  type AccessTokenVerifier,
  type Clock,
  type KeyRing,
  type RefreshPolicy,
  type RefreshTokenStore,
  type SigningAlgorithm,
  type TokenIntrospector,
  type TokenIssuer,
} from '../auth/index.js';
import type { Identity } from './route-table.js';

export interface TokenServiceConfig {
  issuer: string;
  audience: string;
  keyRing: KeyRing;
  refreshStore: RefreshTokenStore;
  now: Clock;
  /** Pinned verification algorithms; default: the active key's. */
  algorithms?: SigningAlgorithm[];
  accessTokenTtlSeconds?: number;
  refreshTokenTtlSeconds?: number;
  refreshFamilyTtlSeconds?: number;
}

export interface TokenPair {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
}

export interface TokenService {
  readonly issuer: string;
  readonly audience: string;
  readonly keyRing: KeyRing;
  readonly verifier: AccessTokenVerifier;
  readonly introspector: TokenIntrospector;
  /** A new session (login): access token plus the first refresh token of a new family. */
  issuePair(user: { id: string; role: string }): Promise<TokenPair>;
  /**
   * Rotates a refresh token (throws REFRESH_TOKEN_* AuthErrors, revoking the family on reuse)
   * and issues an access token carrying the user's current role, which `currentRole` looks up
   * first: if that lookup fails (users unreachable) the token is not rotated, so a retry works.
   */
  refresh(presented: string, currentRole: (sub: string) => Promise<string>): Promise<TokenPair>;
  /** Identity of a bearer token (throws AuthError for any token fault). */
  authenticate(token: string): Promise<Identity>;
}

export function createTokenService(config: TokenServiceConfig): TokenService {
  const denylist = new MemoryDenylist({ now: config.now });
  const issuer: TokenIssuer = createIssuer({
    issuer: config.issuer,
    audience: config.audience,
    keyRing: config.keyRing,
    now: config.now,
    defaultTtlSeconds: config.accessTokenTtlSeconds ?? 900,
  });
  const verifier = createVerifier({
    issuer: config.issuer,
    audience: config.audience,
    keyRing: config.keyRing,
    algorithms: config.algorithms ?? [config.keyRing.active.alg],
    denylist,
    now: config.now,
  });
  const policy: RefreshPolicy = {
    now: config.now,
    ...(config.refreshTokenTtlSeconds !== undefined ? { ttlSeconds: config.refreshTokenTtlSeconds } : {}),
    ...(config.refreshFamilyTtlSeconds !== undefined ? { familyTtlSeconds: config.refreshFamilyTtlSeconds } : {}),
  };
  const introspector = createIntrospector({ verifier, refreshStore: config.refreshStore, denylist, now: config.now });

  async function accessToken(sub: string, role: string): Promise<{ token: string; expiresIn: number }> {
    const issued = await issuer.issueAccessToken({ sub, roles: [role] });
    return { token: issued.token, expiresIn: issued.expiresIn };
  }

  return {
    issuer: config.issuer,
    audience: config.audience,
    keyRing: config.keyRing,
    verifier,
    introspector,
    async issuePair(user) {
      const access = await accessToken(user.id, user.role);
      const refresh = await issueRefreshToken(config.refreshStore, { sub: user.id }, policy);
      return { access_token: access.token, token_type: 'Bearer', expires_in: access.expiresIn, refresh_token: refresh.token };
    },
    async refresh(presented, currentRole) {
      const live = await findActiveRefreshToken(config.refreshStore, presented, config.now());
      // Not live: rotateRefreshToken below says why (unknown, expired, revoked, or reused — which revokes).
      const role = live === undefined ? undefined : await currentRole(live.sub);
      const next = await rotateRefreshToken(config.refreshStore, presented, policy);
      if (role === undefined || next.record.sub !== live!.sub) throw new Error('assertion: a rotated refresh token was live a moment ago');
      const access = await accessToken(next.record.sub, role);
      return { access_token: access.token, token_type: 'Bearer', expires_in: access.expiresIn, refresh_token: next.token };
    },
    async authenticate(token) {
      const verified = await verifier.verify(token);
      const role = verified.roles.includes('admin') ? 'admin' : (verified.roles[0] ?? 'user');
      return { sub: verified.sub, role, roles: verified.roles, jti: verified.jti, exp: verified.exp };
    },
  };
}
