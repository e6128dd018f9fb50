import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  ACCESS_TOKEN_TYPE,
  AuthErrorCode,
  bearerToken,
  createIssuer,
  createVerifier,
  KeyRing,
  MemoryDenylist,
} from '../../src/auth/index.js';
import { AUDIENCE, b64, decodeSegment, FakeClock, forge, goodClaims, ISSUER, rejectionOf, setup } from './support.js';

describe('access tokens: issue and verify', () => {
  it('round-trips sub, roles, scope and the standard claims; the header carries kid and typ', async () => {
    const { issuer, verifier, ring, clock } = setup();
    const issued = await issuer.issueAccessToken({ sub: 'user-42', roles: ['admin'], scope: 'orders:write goods:read' }, { ttlSeconds: 600 });
    expect(issued.tokenType).toBe('Bearer');
    expect(issued.expiresIn).toBe(600);
    expect(issued.kid).toBe(ring.active.kid);

    const header = decodeSegment(issued.token, 0);
    expect(header).toEqual({ alg: 'EdDSA', kid: ring.active.kid, typ: ACCESS_TOKEN_TYPE });
    const claims = decodeSegment(issued.token, 1);
    const now = Math.floor(clock.ms / 1000);
    expect(claims).toMatchObject({ iss: ISSUER, aud: AUDIENCE, sub: 'user-42', iat: now, nbf: now, exp: now + 600, jti: issued.jti });
    expect(claims.scope).toBe('orders:write goods:read');
    expect(claims.roles).toEqual(['admin']);

    const verified = await verifier.verify(issued.token);
    expect(verified).toMatchObject({
      sub: 'user-42',
      roles: ['admin'],
      scope: ['orders:write', 'goods:read'],
      jti: issued.jti,
      kid: ring.active.kid,
      alg: 'EdDSA',
      iss: ISSUER,
      aud: [AUDIENCE],
      exp: now + 600,
    });
  });

  it('gives every token a fresh jti', async () => {
    const { issuer } = setup();
    const a = await issuer.issueAccessToken({ sub: 'u' });
    const b = await issuer.issueAccessToken({ sub: 'u' });
    expect(a.jti).not.toBe(b.jti);
    expect(a.jti).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('supports ES256 keys when pinned to ES256, and an EdDSA-pinned verifier refuses them', async () => {
    const { issuer, verifier, ring, clock } = setup({}, 'ES256');
    const { token } = await issuer.issueAccessToken({ sub: 'u', scope: ['a'] });
    expect(decodeSegment(token, 0).alg).toBe('ES256');
    expect((await verifier.verify(token)).sub).toBe('u');
    const edOnly = createVerifier({ issuer: ISSUER, audience: AUDIENCE, keyRing: ring, algorithms: ['EdDSA'], now: clock.now });
    expect((await rejectionOf(edOnly.verify(token))).code).toBe(AuthErrorCode.TOKEN_INVALID);
  });

  it('verifies against the published JWK Set as a remote resource server would', async () => {
    const { issuer, ring, clock } = setup();
    const verifier = createVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks: ring.jwks(), now: clock.now });
    const { token } = await issuer.issueAccessToken({ sub: 'u', roles: ['admin'] });
    expect((await verifier.verify(token)).roles).toEqual(['admin']);

    const stranger = KeyRing.generate({ now: clock.now });
    const foreign = await createIssuer({ issuer: ISSUER, audience: AUDIENCE, keyRing: stranger, now: clock.now }).issueAccessToken({ sub: 'u' });
    expect((await rejectionOf(verifier.verify(foreign.token))).code).toBe(AuthErrorCode.TOKEN_INVALID);
  });

  it('validates what it is asked to issue', async () => {
    const { issuer } = setup();
    const bad = [
      issuer.issueAccessToken({ sub: '' }),
      issuer.issueAccessToken({ sub: 'a\nb' }),
      issuer.issueAccessToken({ sub: 'x'.repeat(256) }),
      issuer.issueAccessToken({ sub: 'u', scope: 'has"quote' }),
      issuer.issueAccessToken({ sub: 'u', scope: ['two words'] }),
      issuer.issueAccessToken({ sub: 'u', roles: ['not a role'] }),
      issuer.issueAccessToken({ sub: 'u', roles: 'admin' as unknown as string[] }),
      issuer.issueAccessToken({ sub: 'u' }, { ttlSeconds: 0 }),
      issuer.issueAccessToken({ sub: 'u' }, { ttlSeconds: 1.5 }),
      issuer.issueAccessToken({ sub: 'u' }, { ttlSeconds: 86_401 }),
    ];
    for (const p of bad) expect((await rejectionOf(p)).code).toBe(AuthErrorCode.CLAIMS_REJECTED);
  });

  it('refuses verifier configurations that would weaken it', () => {
    const ring = KeyRing.generate();
    const base = { issuer: ISSUER, audience: AUDIENCE, keyRing: ring };
    for (const algorithms of [[], ['HS256'], ['none'], ['EdDSA', 'RS256']]) {
      expect(() => createVerifier({ ...base, algorithms: algorithms as never })).toThrow(TypeError);
    }
    expect(() => createVerifier({ ...base, jwks: ring.jwks() })).toThrow(TypeError);
    expect(() => createVerifier({ issuer: ISSUER, audience: AUDIENCE })).toThrow(TypeError);
    expect(() => createVerifier({ ...base, clockToleranceSeconds: 3600 })).toThrow(TypeError);
    expect(() => createVerifier({ ...base, audience: '' })).toThrow(TypeError);
  });

  it('reads a Bearer token from an Authorization header', () => {
    expect(bearerToken('Bearer abc.def.ghi')).toBe('abc.def.ghi');
    expect(bearerToken('bearer  abc.def.ghi')).toBe('abc.def.ghi');
    expect(() => bearerToken(undefined)).toThrow(expect.objectContaining({ code: AuthErrorCode.TOKEN_MISSING }));
    expect(() => bearerToken('Basic dXNlcjpwYXNz')).toThrow(expect.objectContaining({ code: AuthErrorCode.TOKEN_MALFORMED }));
    expect(() => bearerToken('Bearer a b')).toThrow(expect.objectContaining({ code: AuthErrorCode.TOKEN_MALFORMED }));
  });
});

describe('access tokens: every rejection', () => {
  it('rejects alg "none", however it is spelled or signed', async () => {
    const { verifier, ring, clock } = setup();
    const claims = goodClaims(clock);
    for (const alg of ['none', 'None', 'NONE']) {
      const header = b64({ alg, kid: ring.active.kid, typ: 'at+jwt' });
      const unsigned = `${header}.${b64(claims)}.`;
      expect((await rejectionOf(verifier.verify(unsigned))).code).toBe(AuthErrorCode.TOKEN_MALFORMED);
      const withJunkSignature = `${header}.${b64(claims)}.${b64('sig')}`;
      const err = await rejectionOf(verifier.verify(withJunkSignature));
      expect(err.code).toBe(AuthErrorCode.TOKEN_INVALID);
      expect(err.status).toBe(401);
      expect(err.oauthError).toBe('invalid_token');
    }
  });

  it('rejects HS256 tokens whose HMAC secret is our public key (algorithm confusion)', async () => {
    const { verifier, ring, clock } = setup();
    const jwksVerifier = createVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks: ring.jwks(), now: clock.now });
    const pub = ring.active.publicKey;
    const secrets = [
      Buffer.from(ring.active.publicJwk.x, 'base64url'), // raw Ed25519 public key bytes
      JSON.stringify(ring.jwks().keys[0]), // the published JWK
      pub.export({ format: 'pem', type: 'spki' }) as string, // the PEM a naive verifier would load
      pub.export({ format: 'der', type: 'spki' }),
    ];
    for (const hmac of secrets) {
      const token = forge({ alg: 'HS256', kid: ring.active.kid, typ: 'at+jwt' }, goodClaims(clock), { hmac });
      for (const v of [verifier, jwksVerifier]) {
        const err = await rejectionOf(v.verify(token));
        expect(err.code).toBe(AuthErrorCode.TOKEN_INVALID);
        expect(err.message).toBe('access token algorithm not allowed');
      }
    }
  });

  it('rejects a token signed by a different key that claims our kid', async () => {
    const { verifier, ring, clock } = setup();
    const { privateKey } = generateKeyPairSync('ed25519');
    const token = forge({ alg: 'EdDSA', kid: ring.active.kid, typ: 'at+jwt' }, goodClaims(clock), { ed25519: privateKey });
    const err = await rejectionOf(verifier.verify(token));
    expect(err.code).toBe(AuthErrorCode.TOKEN_INVALID);
    expect(err.message).toBe('access token signature invalid');
  });

  it('accepts a correctly hand-signed token (so the forgeries above fail for their flaw alone)', async () => {
    const { verifier, ring, clock } = setup();
    const token = forge({ alg: 'EdDSA', kid: ring.active.kid, typ: 'at+jwt' }, goodClaims(clock), { ed25519: ring.active.privateKey });
    expect((await verifier.verify(token)).sub).toBe('user-1');
  });

  it('rejects a token whose kid is paired with another algorithm', async () => {
    const { ring, clock } = setup();
    const both = createVerifier({ issuer: ISSUER, audience: AUDIENCE, keyRing: ring, algorithms: ['EdDSA', 'ES256'], now: clock.now });
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const token = forge({ alg: 'ES256', kid: ring.active.kid, typ: 'at+jwt' }, goodClaims(clock), { es256: privateKey });
    const err = await rejectionOf(both.verify(token));
    expect(err.code).toBe(AuthErrorCode.TOKEN_INVALID);
    expect(err.message).toBe('access token algorithm does not match its key');
  });

  it('rejects a tampered payload (privilege escalation attempt)', async () => {
    const { issuer, verifier } = setup();
    const { token } = await issuer.issueAccessToken({ sub: 'user-1', roles: [] });
    const [h, p, s] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    for (const change of [{ roles: ['admin'] }, { sub: 'user-2' }, { exp: (claims.exp as number) + 3600 }]) {
      const tampered = `${h}.${b64({ ...claims, ...change })}.${s}`;
      expect((await rejectionOf(verifier.verify(tampered))).code).toBe(AuthErrorCode.TOKEN_INVALID);
    }
    const swappedHeader = `${b64({ ...decodeSegment(token, 0), kid: 'other' })}.${p}.${s}`;
    expect((await rejectionOf(verifier.verify(swappedHeader))).code).toBe(AuthErrorCode.TOKEN_INVALID);
  });

  it('rejects expired tokens, honouring the clock tolerance', async () => {
    const { issuer, verifier, clock } = setup({ clockToleranceSeconds: 30 });
    const { token } = await issuer.issueAccessToken({ sub: 'u' }, { ttlSeconds: 60 });
    // Valid while now < exp + tolerance.
    clock.advanceSeconds(60 + 29);
    expect((await verifier.verify(token)).sub).toBe('u');
    clock.advanceSeconds(1);
    const err = await rejectionOf(verifier.verify(token));
    expect(err.code).toBe(AuthErrorCode.TOKEN_EXPIRED);
    expect(err.status).toBe(401);
  });

  it('rejects tokens that are not yet valid (nbf in the future)', async () => {
    const { ring, verifier, clock } = setup({ clockToleranceSeconds: 30 });
    const ahead = new FakeClock(clock.ms + 31_000);
    const early = createIssuer({ issuer: ISSUER, audience: AUDIENCE, keyRing: ring, now: ahead.now });
    const { token } = await early.issueAccessToken({ sub: 'u' });
    expect((await rejectionOf(verifier.verify(token))).code).toBe(AuthErrorCode.TOKEN_NOT_YET_VALID);
    clock.advanceSeconds(1);
    expect((await verifier.verify(token)).sub).toBe('u');
  });

  it('rejects tokens older than maxTokenAgeSeconds when configured', async () => {
    const { issuer, ring, clock } = setup();
    const strict = createVerifier({ issuer: ISSUER, audience: AUDIENCE, keyRing: ring, maxTokenAgeSeconds: 60, clockToleranceSeconds: 0, now: clock.now });
    const { token } = await issuer.issueAccessToken({ sub: 'u' }, { ttlSeconds: 3600 });
    expect((await strict.verify(token)).sub).toBe('u');
    clock.advanceSeconds(61);
    expect((await rejectionOf(strict.verify(token))).code).toBe(AuthErrorCode.TOKEN_EXPIRED);
  });

  it('rejects the wrong issuer and the wrong audience', async () => {
    const { issuer, ring, clock } = setup();
    const { token } = await issuer.issueAccessToken({ sub: 'u' });
    const otherAud = createVerifier({ issuer: ISSUER, audience: 'billing-api', keyRing: ring, now: clock.now });
    const otherIss = createVerifier({ issuer: 'https://evil.test', audience: AUDIENCE, keyRing: ring, now: clock.now });
    const audErr = await rejectionOf(otherAud.verify(token));
    expect(audErr.code).toBe(AuthErrorCode.TOKEN_CLAIM_INVALID);
    expect(audErr.message).toContain('aud');
    const issErr = await rejectionOf(otherIss.verify(token));
    expect(issErr.code).toBe(AuthErrorCode.TOKEN_CLAIM_INVALID);
    expect(issErr.message).toContain('iss');
  });

  it('accepts a token issued for several audiences at any one of them', async () => {
    const { ring, clock } = setup();
    const multi = createIssuer({ issuer: ISSUER, audience: ['billing-api', AUDIENCE], keyRing: ring, now: clock.now });
    const { token } = await multi.issueAccessToken({ sub: 'u' });
    const v = createVerifier({ issuer: ISSUER, audience: AUDIENCE, keyRing: ring, now: clock.now });
    expect((await v.verify(token)).aud).toEqual(['billing-api', AUDIENCE]);
  });

  it('rejects unknown and missing kids', async () => {
    const { verifier, clock } = setup();
    const { privateKey } = generateKeyPairSync('ed25519');
    const unknown = forge({ alg: 'EdDSA', kid: 'no-such-key', typ: 'at+jwt' }, goodClaims(clock), { ed25519: privateKey });
    const err = await rejectionOf(verifier.verify(unknown));
    expect(err.code).toBe(AuthErrorCode.TOKEN_INVALID);
    expect(err.message).toBe('access token signed by an unknown key');
    const noKid = forge({ alg: 'EdDSA', typ: 'at+jwt' }, goodClaims(clock), { ed25519: privateKey });
    expect((await rejectionOf(verifier.verify(noKid))).code).toBe(AuthErrorCode.TOKEN_INVALID);
  });

  it('ignores keys embedded in the header (jwk) and trusts only its own', async () => {
    const { verifier, clock } = setup();
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const jwk = publicKey.export({ format: 'jwk' });
    const token = forge({ alg: 'EdDSA', kid: 'attacker', jwk, typ: 'at+jwt' }, goodClaims(clock), { ed25519: privateKey });
    expect((await rejectionOf(verifier.verify(token))).code).toBe(AuthErrorCode.TOKEN_INVALID);
  });

  it('rejects validly signed JWTs of the wrong type or shape', async () => {
    const { verifier, ring, clock } = setup();
    const key = { ed25519: ring.active.privateKey };
    const h = { alg: 'EdDSA', kid: ring.active.kid, typ: 'at+jwt' };
    const cases: Array<[Record<string, unknown>, Record<string, unknown>, string]> = [
      [{ ...h, typ: 'JWT' }, goodClaims(clock), AuthErrorCode.TOKEN_INVALID], // e.g. an ID token
      [{ alg: 'EdDSA', kid: ring.active.kid }, goodClaims(clock), AuthErrorCode.TOKEN_INVALID],
      [h, goodClaims(clock, { sub: undefined }), AuthErrorCode.TOKEN_CLAIM_INVALID],
      [h, goodClaims(clock, { jti: undefined }), AuthErrorCode.TOKEN_CLAIM_INVALID],
      [h, goodClaims(clock, { exp: undefined }), AuthErrorCode.TOKEN_CLAIM_INVALID],
      [h, goodClaims(clock, { exp: 'tomorrow' }), AuthErrorCode.TOKEN_CLAIM_INVALID],
      [h, goodClaims(clock, { roles: 'admin' }), AuthErrorCode.TOKEN_CLAIM_INVALID],
      [h, goodClaims(clock, { roles: [{ admin: true }] }), AuthErrorCode.TOKEN_CLAIM_INVALID],
      [h, goodClaims(clock, { scope: ['a', 'b'] }), AuthErrorCode.TOKEN_CLAIM_INVALID],
      [h, goodClaims(clock, { sub: 'a\u0000b' }), AuthErrorCode.TOKEN_CLAIM_INVALID],
      [h, goodClaims(clock, { aud: undefined }), AuthErrorCode.TOKEN_CLAIM_INVALID],
      [{ ...h, crit: ['b64'], b64: false }, goodClaims(clock), AuthErrorCode.TOKEN_MALFORMED],
    ];
    for (const [header, claims, code] of cases) {
      const token = forge(header, claims, key);
      expect((await rejectionOf(verifier.verify(token))).code, JSON.stringify([header, claims])).toBe(code);
    }
  });

  it('rejects garbage, truncated and oversized input without echoing it', async () => {
    const { issuer, verifier } = setup();
    const { token } = await issuer.issueAccessToken({ sub: 'u' });
    const [h, p, s] = token.split('.') as [string, string, string];
    const garbage: unknown[] = [
      'x',
      'a.b',
      'a.b.c',
      '..',
      'a..c',
      ' ',
      `${token} `,
      `${h}.${p}`,
      `${h}.${p}.${s}.${s}`,
      `${h}.${p}.${s}=`,
      `${b64('not json')}.${p}.${s}`,
      `${b64('[1,2]')}.${p}.${s}`,
      `${h}.${b64('not json')}.${s}`,
      `${h}.${b64('"a string"')}.${s}`,
      `${h}.${p}.${s.slice(0, -2)}`,
      `${h}.${p}.${s}AA`,
      '\u0000\u0001',
      'ü.ö.ä',
    ];
    for (const g of garbage) {
      const err = await rejectionOf(verifier.verify(g as string));
      expect([AuthErrorCode.TOKEN_MALFORMED, AuthErrorCode.TOKEN_INVALID], String(g)).toContain(err.code);
      if (typeof g === 'string' && g.length > 3) expect(err.message).not.toContain(g);
    }
    for (const missing of ['', undefined, null, 42]) {
      expect((await rejectionOf(verifier.verify(missing as unknown as string))).code).toBe(AuthErrorCode.TOKEN_MISSING);
    }
  });

  it('refuses 100 KB inputs before parsing them', async () => {
    const { issuer, verifier } = setup();
    const { token } = await issuer.issueAccessToken({ sub: 'u' });
    const [h, , s] = token.split('.') as [string, string, string];
    const hugePayload = `${h}.${b64({ sub: 'u', pad: 'x'.repeat(100_000) })}.${s}`;
    const inputs = ['A'.repeat(100_000), 'a.'.repeat(50_000), hugePayload, '\u00ff'.repeat(100_000)];
    for (const input of inputs) {
      const err = await rejectionOf(verifier.verify(input));
      expect(err.code).toBe(AuthErrorCode.TOKEN_MALFORMED);
      // The length check's own message: nothing was decoded.
      expect(err.message).toBe('access token too long');
    }
  });

  it('rejects denylisted (revoked) tokens by jti', async () => {
    const clock = new FakeClock();
    const denylist = new MemoryDenylist({ now: clock.now });
    const { issuer, verifier } = setup({ denylist, now: clock.now });
    const a = await issuer.issueAccessToken({ sub: 'u' });
    const b = await issuer.issueAccessToken({ sub: 'u' });
    denylist.add(a.jti, a.expiresAt);
    expect((await rejectionOf(verifier.verify(a.token))).code).toBe(AuthErrorCode.TOKEN_REVOKED);
    expect((await verifier.verify(b.token)).jti).toBe(b.jti);
  });
});
