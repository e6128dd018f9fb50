import { describe, expect, it } from 'vitest';
import {
  AuthErrorCode,
  findActiveRefreshToken,
  hashRefreshToken,
  issueRefreshToken,
  MemoryRefreshTokenStore,
  revokeRefreshToken,
  rotateRefreshToken,
  type RefreshPolicy,
} from '../../src/auth/index.js';
import { FakeClock, rejectionOf } from './support.js';

function setup(overrides: Partial<RefreshPolicy> = {}) {
  const clock = new FakeClock();
  const store = new MemoryRefreshTokenStore();
  const policy: RefreshPolicy = { now: clock.now, ttlSeconds: 3600, familyTtlSeconds: 10 * 3600, ...overrides };
  return { clock, store, policy };
}

describe('refresh tokens', () => {
  it('are 32 random bytes, stored only as their SHA-256', async () => {
    const { store, policy } = setup();
    const { token, record } = await issueRefreshToken(store, { sub: 'user-1', scope: 'orders:write', clientId: 'web' }, policy);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    expect(record.tokenHash).toBe(hashRefreshToken(token));
    expect(record.tokenHash).not.toBe(token);
    const stored = await store.get(record.tokenHash);
    expect(stored).toMatchObject({ sub: 'user-1', scope: ['orders:write'], clientId: 'web', status: 'active' });
    expect(JSON.stringify(stored)).not.toContain(token);
  });

  it('rotate: the used token is replaced and stops working; the new one carries the grant', async () => {
    const { store, policy, clock } = setup();
    const first = await issueRefreshToken(store, { sub: 'user-1', scope: ['a', 'b'] }, policy);
    clock.advanceSeconds(60);
    const second = await rotateRefreshToken(store, first.token, policy);
    expect(second.token).not.toBe(first.token);
    expect(second.record).toMatchObject({ sub: 'user-1', scope: ['a', 'b'], familyId: first.record.familyId, status: 'active' });
    expect(second.record.expiresAt).toBe(clock.ms + 3600_000);
    expect((await store.get(first.record.tokenHash))!.status).toBe('rotated');
    const third = await rotateRefreshToken(store, second.token, policy);
    expect(await findActiveRefreshToken(store, third.token, clock.ms)).toBeDefined();
  });

  it('reuse of a rotated token revokes the whole family, including the thief-or-victim successor', async () => {
    const { store, policy } = setup();
    const stolen = await issueRefreshToken(store, { sub: 'user-1' }, policy);
    const legit = await rotateRefreshToken(store, stolen.token, policy);
    const other = await issueRefreshToken(store, { sub: 'user-1' }, policy); // another session

    const err = await rejectionOf(rotateRefreshToken(store, stolen.token, policy));
    expect(err.code).toBe(AuthErrorCode.REFRESH_TOKEN_REUSED);
    expect(err.oauthError).toBe('invalid_grant');
    expect(err.message).not.toContain(stolen.token);

    expect((await rejectionOf(rotateRefreshToken(store, legit.token, policy))).code).toBe(AuthErrorCode.REFRESH_TOKEN_REVOKED);
    expect((await store.get(legit.record.tokenHash))!.status).toBe('revoked');
    // Other families are untouched.
    expect((await rotateRefreshToken(store, other.token, policy)).record.sub).toBe('user-1');
  });

  it('two concurrent uses of one token: exactly one wins, and the family is then revoked', async () => {
    const { store, policy } = setup();
    const { token } = await issueRefreshToken(store, { sub: 'user-1' }, policy);
    const results = await Promise.allSettled([rotateRefreshToken(store, token, policy), rotateRefreshToken(store, token, policy)]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.reason).toMatchObject({ code: AuthErrorCode.REFRESH_TOKEN_REUSED });
    const winner = (won[0] as PromiseFulfilledResult<{ token: string }>).value.token;
    expect((await rejectionOf(rotateRefreshToken(store, winner, policy))).code).toBe(AuthErrorCode.REFRESH_TOKEN_REVOKED);
  });

  it('expire after their ttl, and rotation never extends past the family lifetime', async () => {
    const { store, policy, clock } = setup({ ttlSeconds: 3600, familyTtlSeconds: 3 * 3600 });
    const first = await issueRefreshToken(store, { sub: 'u' }, policy);
    const familyEnd = first.record.familyExpiresAt;
    expect(familyEnd).toBe(clock.ms + 3 * 3600_000);

    clock.advanceSeconds(3600);
    expect((await rejectionOf(rotateRefreshToken(store, first.token, policy))).code).toBe(AuthErrorCode.REFRESH_TOKEN_EXPIRED);

    const second = await issueRefreshToken(store, { sub: 'u' }, policy);
    let current = second;
    for (let i = 0; i < 5; i++) {
      clock.advanceSeconds(3000);
      if (clock.ms >= current.record.familyExpiresAt) break;
      current = await rotateRefreshToken(store, current.token, policy);
      expect(current.record.expiresAt).toBeLessThanOrEqual(second.record.familyExpiresAt);
    }
    clock.ms = second.record.familyExpiresAt;
    expect((await rejectionOf(rotateRefreshToken(store, current.token, policy))).code).toBe(AuthErrorCode.REFRESH_TOKEN_EXPIRED);
  });

  it('reject malformed and unknown tokens', async () => {
    const { store, policy } = setup();
    for (const bad of ['', 'short', 'A'.repeat(44), '!'.repeat(43), 'A'.repeat(100_000), undefined as unknown as string]) {
      expect((await rejectionOf(rotateRefreshToken(store, bad, policy))).code).toBe(AuthErrorCode.REFRESH_TOKEN_INVALID);
    }
    const unknown = Buffer.alloc(32, 7).toString('base64url');
    expect((await rejectionOf(rotateRefreshToken(store, unknown, policy))).code).toBe(AuthErrorCode.REFRESH_TOKEN_INVALID);
  });

  it('revocation by value revokes the family; unknown tokens revoke nothing', async () => {
    const { store, policy, clock } = setup();
    const first = await issueRefreshToken(store, { sub: 'u' }, policy);
    const second = await rotateRefreshToken(store, first.token, policy);
    expect(await revokeRefreshToken(store, 'garbage')).toBe(false);
    expect(await revokeRefreshToken(store, Buffer.alloc(32).toString('base64url'))).toBe(false);
    expect(await revokeRefreshToken(store, second.token)).toBe(true);
    expect(await findActiveRefreshToken(store, second.token, clock.ms)).toBeUndefined();
    expect((await rejectionOf(rotateRefreshToken(store, second.token, policy))).code).toBe(AuthErrorCode.REFRESH_TOKEN_REVOKED);
  });

  it('the store forgets families once they have expired, keeping rotated ones until then for reuse detection', async () => {
    const { store, policy, clock } = setup({ ttlSeconds: 3600, familyTtlSeconds: 7200 });
    const a = await issueRefreshToken(store, { sub: 'u' }, policy);
    await rotateRefreshToken(store, a.token, policy);
    clock.advanceSeconds(3600);
    await issueRefreshToken(store, { sub: 'v' }, policy);
    expect(await store.deleteExpired(clock.ms)).toBe(0);
    expect(store.size).toBe(3);
    clock.advanceSeconds(3600);
    expect(await store.deleteExpired(clock.ms)).toBe(2);
    expect(store.size).toBe(1);
  });

  it('validates the grant and the policy', async () => {
    const { store, policy } = setup();
    await expect(issueRefreshToken(store, { sub: '' }, policy)).rejects.toThrow(TypeError);
    await expect(issueRefreshToken(store, { sub: 'u', scope: 'a"b' }, policy)).rejects.toThrow(TypeError);
    await expect(issueRefreshToken(store, { sub: 'u' }, { ...policy, ttlSeconds: 0 })).rejects.toThrow(TypeError);
    await expect(issueRefreshToken(store, { sub: 'u' }, { ...policy, familyTtlSeconds: 1 })).rejects.toThrow(TypeError);
  });
});
