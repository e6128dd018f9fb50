import { describe, expect, it } from 'vitest';
import {
  AuthErrorCode,
  createIntrospector,
  issueRefreshToken,
  MemoryDenylist,
  MemoryRefreshTokenStore,
  rotateRefreshToken,
} from '../../src/auth/index.js';
import { AUDIENCE, FakeClock, ISSUER, rejectionOf, setup } from './support.js';

function fixture() {
  const clock = new FakeClock();
  const denylist = new MemoryDenylist({ now: clock.now });
  const store = new MemoryRefreshTokenStore();
  const { issuer, verifier, ring } = setup({ denylist, now: clock.now });
  const introspector = createIntrospector({ verifier, refreshStore: store, denylist, now: clock.now });
  const policy = { now: clock.now, ttlSeconds: 3600 };
  return { clock, denylist, store, issuer, verifier, ring, introspector, policy };
}

describe('introspection (RFC 7662) and revocation (RFC 7009)', () => {
  it('describes a live access token', async () => {
    const { issuer, introspector, clock } = fixture();
    const issued = await issuer.issueAccessToken({ sub: 'user-1', roles: ['admin'], scope: 'a b', clientId: 'web' }, { ttlSeconds: 600 });
    const now = Math.floor(clock.ms / 1000);
    expect(await introspector.introspect(issued.token)).toEqual({
      active: true,
      token_type: 'Bearer',
      scope: 'a b',
      client_id: 'web',
      sub: 'user-1',
      exp: now + 600,
      iat: now,
      nbf: now,
      aud: AUDIENCE,
      iss: ISSUER,
      jti: issued.jti,
      roles: ['admin'],
    });
  });

  it('answers { active: false } and nothing more for bad, expired and forged tokens', async () => {
    const { issuer, introspector, clock } = fixture();
    const { token } = await issuer.issueAccessToken({ sub: 'u' }, { ttlSeconds: 60 });
    const tampered = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    for (const t of ['', 'garbage', 'a.b.c', tampered, 'x'.repeat(100_000), undefined as unknown as string]) {
      expect(await introspector.introspect(t)).toEqual({ active: false });
    }
    clock.advanceSeconds(60 + 30);
    expect(await introspector.introspect(token)).toEqual({ active: false });
  });

  it('revokes an access token by value: it introspects inactive and fails verification', async () => {
    const { issuer, introspector, verifier, denylist } = fixture();
    const a = await issuer.issueAccessToken({ sub: 'u' });
    const b = await issuer.issueAccessToken({ sub: 'u' });
    expect(await introspector.revoke(a.token)).toBe(true);
    expect(await introspector.introspect(a.token)).toEqual({ active: false });
    expect((await rejectionOf(verifier.verify(a.token))).code).toBe(AuthErrorCode.TOKEN_REVOKED);
    expect((await introspector.introspect(b.token)).active).toBe(true);
    // Junk is not written to the denylist.
    expect(await introspector.revoke('a.b.c')).toBe(false);
    expect(denylist.size).toBe(1);
  });

  it('denylist entries lapse once the token has expired anyway', async () => {
    const { issuer, introspector, denylist, clock } = fixture();
    const a = await issuer.issueAccessToken({ sub: 'u' }, { ttlSeconds: 60 });
    await introspector.revoke(a.token);
    expect(denylist.has(a.jti)).toBe(true);
    clock.advanceSeconds(61);
    denylist.prune();
    expect(denylist.size).toBe(0);
    denylist.add('old', Math.floor(clock.ms / 1000) - 1);
    expect(denylist.size).toBe(0);
  });

  it('describes and revokes refresh tokens', async () => {
    const { introspector, store, policy, clock } = fixture();
    const first = await issueRefreshToken(store, { sub: 'u', scope: 'offline', clientId: 'web' }, policy);
    expect(await introspector.introspect(first.token)).toEqual({
      active: true,
      scope: 'offline',
      client_id: 'web',
      sub: 'u',
      exp: Math.floor(first.record.expiresAt / 1000),
      iat: Math.floor(clock.ms / 1000),
    });
    const second = await rotateRefreshToken(store, first.token, policy);
    expect(await introspector.introspect(first.token)).toEqual({ active: false });
    expect((await introspector.introspect(second.token)).active).toBe(true);
    expect(await introspector.revoke(second.token)).toBe(true);
    expect(await introspector.introspect(second.token)).toEqual({ active: false });
    expect(await introspector.revoke(Buffer.alloc(32).toString('base64url'))).toBe(false);
  });
});
