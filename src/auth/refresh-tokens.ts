// Refresh tokens: opaque random strings, stored only as their SHA-256, rotated on every use.
// Tokens descending from one login form a family; presenting a token that was already rotated
// means two parties hold it (one of them a thief), so the whole family is revoked (reuse
// detection, OAuth 2.0 Security BCP section 4.14). The logic below is a function of the store;
// the store only has to make rotate() atomic.
import { createHash, randomBytes } from 'node:crypto';
import { isValidSubject, parseScope } from './claims.js';
import type { Clock } from './clock.js';
import { AuthError, AuthErrorCode } from './errors.js';

export type RefreshTokenStatus = 'active' | 'rotated' | 'revoked';

export interface RefreshTokenRecord {
  /** base64url SHA-256 of the token: the token itself is never stored. */
  tokenHash: string;
  familyId: string;
  sub: string;
  scope: string[];
  clientId: string | undefined;
  /** ms since epoch */
  issuedAt: number;
  expiresAt: number;
  /** No token of the family outlives this, however often it is rotated. */
  familyExpiresAt: number;
  status: RefreshTokenStatus;
}

export interface RefreshTokenStore {
  get(tokenHash: string): Promise<RefreshTokenRecord | undefined>;
  insert(record: RefreshTokenRecord): Promise<void>;
  /**
   * Atomically: if `tokenHash` is 'active', mark it 'rotated' and insert `next`, returning true;
   * otherwise change nothing and return false. Two concurrent uses of one token: one wins.
   */
  rotate(tokenHash: string, next: RefreshTokenRecord): Promise<boolean>;
  /** Marks every token of the family 'revoked'; returns how many were active. */
  revokeFamily(familyId: string): Promise<number>;
  /** Deletes records whose family has expired (at or before `now`, ms). */
  deleteExpired(now: number): Promise<number>;
}

export interface RefreshPolicy {
  now: Clock;
  /** Lifetime of each token (sliding). Default 14 days. */
  ttlSeconds?: number;
  /** Lifetime of the family from first issue (absolute). Default 90 days. */
  familyTtlSeconds?: number;
}

export interface IssuedRefreshToken {
  /** The secret to hand to the client, once. */
  token: string;
  record: RefreshTokenRecord;
}

const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;
const DAY = 86_400;

export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('base64url');
}

/** Starts a new family (a login). */
export async function issueRefreshToken(
  store: RefreshTokenStore,
  grant: { sub: string; scope?: string[] | string; clientId?: string },
  policy: RefreshPolicy,
): Promise<IssuedRefreshToken> {
  if (!isValidSubject(grant.sub)) throw new TypeError('sub must be 1..255 characters without control characters');
  const scope = parseScope(grant.scope);
  if (scope === undefined) throw new TypeError('scope must be RFC 6749 scope tokens');
  const { ttl, familyTtl } = lifetimes(policy);
  const now = policy.now();
  const familyExpiresAt = now + familyTtl * 1000;
  const token = newToken();
  const record: RefreshTokenRecord = {
    tokenHash: hashRefreshToken(token),
    familyId: randomBytes(16).toString('base64url'),
    sub: grant.sub,
    scope,
    clientId: grant.clientId,
    issuedAt: now,
    expiresAt: Math.min(now + ttl * 1000, familyExpiresAt),
    familyExpiresAt,
    status: 'active',
  };
  await store.insert(record);
  return { token, record };
}

/**
 * Exchanges a refresh token for its successor. Throws REFRESH_TOKEN_* (all invalid_grant); on
 * reuse of a rotated token it first revokes the family, so the thief's copy dies too.
 */
export async function rotateRefreshToken(
  store: RefreshTokenStore,
  presented: string,
  policy: RefreshPolicy,
): Promise<IssuedRefreshToken> {
  const current = await lookup(store, presented);
  const now = policy.now();
  if (current.status === 'revoked') throw new AuthError(AuthErrorCode.REFRESH_TOKEN_REVOKED, 'refresh token revoked');
  if (current.status === 'rotated') throw await reused(store, current.familyId);
  if (now >= current.expiresAt) throw new AuthError(AuthErrorCode.REFRESH_TOKEN_EXPIRED, 'refresh token expired');

  const { ttl } = lifetimes(policy);
  const token = newToken();
  const next: RefreshTokenRecord = {
    ...current,
    tokenHash: hashRefreshToken(token),
    issuedAt: now,
    expiresAt: Math.min(now + ttl * 1000, current.familyExpiresAt),
    status: 'active',
  };
  // Lost the race to a concurrent use of the same token: that is reuse too.
  if (!(await store.rotate(current.tokenHash, next))) throw await reused(store, current.familyId);
  return { token, record: next };
}

/** The live record behind a token, or undefined (unknown, malformed, rotated, revoked, expired). */
export async function findActiveRefreshToken(
  store: RefreshTokenStore,
  presented: string,
  now: number,
): Promise<RefreshTokenRecord | undefined> {
  if (typeof presented !== 'string' || !TOKEN_SHAPE.test(presented)) return undefined;
  const record = await store.get(hashRefreshToken(presented));
  return record !== undefined && record.status === 'active' && now < record.expiresAt ? record : undefined;
}

/**
 * RFC 7009 revocation by value: revokes the token's whole family (the grant it belongs to).
 * Returns false for unknown tokens; the endpoint answers 200 either way.
 */
export async function revokeRefreshToken(store: RefreshTokenStore, presented: string): Promise<boolean> {
  if (typeof presented !== 'string' || !TOKEN_SHAPE.test(presented)) return false;
  const record = await store.get(hashRefreshToken(presented));
  if (record === undefined) return false;
  await store.revokeFamily(record.familyId);
  return true;
}

async function lookup(store: RefreshTokenStore, presented: string): Promise<RefreshTokenRecord> {
  if (typeof presented !== 'string' || !TOKEN_SHAPE.test(presented)) {
    throw new AuthError(AuthErrorCode.REFRESH_TOKEN_INVALID, 'refresh token malformed');
  }
  const record = await store.get(hashRefreshToken(presented));
  if (record === undefined) throw new AuthError(AuthErrorCode.REFRESH_TOKEN_INVALID, 'refresh token unknown');
  return record;
}

async function reused(store: RefreshTokenStore, familyId: string): Promise<AuthError> {
  await store.revokeFamily(familyId);
  return new AuthError(AuthErrorCode.REFRESH_TOKEN_REUSED, 'refresh token reused; its session has been revoked');
}

function newToken(): string {
  return randomBytes(32).toString('base64url');
}

function lifetimes(policy: RefreshPolicy): { ttl: number; familyTtl: number } {
  const ttl = policy.ttlSeconds ?? 14 * DAY;
  const familyTtl = policy.familyTtlSeconds ?? 90 * DAY;
  if (!Number.isInteger(ttl) || ttl < 1) throw new TypeError('ttlSeconds must be a positive integer');
  if (!Number.isInteger(familyTtl) || familyTtl < ttl) throw new TypeError('familyTtlSeconds must be an integer >= ttlSeconds');
  return { ttl, familyTtl };
}
