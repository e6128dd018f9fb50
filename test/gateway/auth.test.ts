// Authentication at the edge: login, bearer verification (every forgery refused with 401 and a
// WWW-Authenticate challenge), admin-only routes, refresh rotation with reuse detection, and the
// OAuth 2 endpoints.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { forge } from '../auth/support.js';
import { KEY_FILE, REFRESH_DB_FILE } from '../../src/gateway/index.js';
import { ADMIN, AUDIENCE, bearer, expectErrorShape, harness, ISSUER, type Harness } from './support.js';

const form = (fields: Record<string, string>) => ({
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  payload: new URLSearchParams(fields).toString(),
});

describe('bearer tokens', () => {
  let h: Harness;
  let user: { id: string; email: string; password: string };
  beforeAll(async () => {
    h = await harness();
    user = await h.signUp();
  });
  afterAll(() => h.app.close());

  const claims = (extra: Record<string, unknown> = {}) => {
    const now = Math.floor(h.clock.ms / 1000);
    return { iss: ISSUER, aud: AUDIENCE, sub: user.id, jti: 'j1', iat: now, nbf: now, exp: now + 300, scope: '', roles: ['admin'], ...extra };
  };
  const header = (extra: Record<string, unknown> = {}) => ({ alg: 'EdDSA', kid: h.app.gateway.tokens.keyRing.active.kid, typ: 'at+jwt', ...extra });
  const me = (token: string) => h.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(token) });

  function expect401(res: Awaited<ReturnType<typeof me>>, reason?: string): void {
    const error = expectErrorShape(res, 401);
    expect(error.code).toBe('UNAUTHENTICATED');
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="shoal"/);
    if (reason !== undefined) expect(error.details).toEqual({ reason });
  }

  test('login → access token → /users/me; the token carries sub and role', async () => {
    const tokens = await h.login(user.email, user.password);
    expect(tokens.expires_in).toBe(900);
    const res = await me(tokens.access_token);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id: user.id, email: user.email, role: 'user' });
    const payload = JSON.parse(Buffer.from(tokens.access_token.split('.')[1]!, 'base64url').toString());
    expect(payload).toMatchObject({ sub: user.id, roles: ['user'], iss: ISSUER, aud: AUDIENCE });
    // The identity reaches the service in call meta.
    expect(h.shop.lastCall('users.get')!.options.meta).toMatchObject({ auth: { sub: user.id, role: 'user' } });
  });

  test('a genuine token forged only by us passes (the forgery helper is sound)', async () => {
    const token = forge(header(), claims({ roles: ['user'] }), { ed25519: h.app.gateway.tokens.keyRing.active.privateKey });
    expect((await me(token)).statusCode).toBe(200);
  });

  test('missing, malformed and non-Bearer credentials are 401', async () => {
    expect401(await h.app.inject({ method: 'GET', url: '/api/v1/users/me' }), 'TOKEN_MISSING');
    expect((await h.app.inject({ method: 'GET', url: '/api/v1/users/me' })).headers['www-authenticate']).toBe('Bearer realm="shoal"');
    expect401(await h.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: 'Basic dXNlcjpwdw==' } }), 'TOKEN_MALFORMED');
    expect401(await me('not.a.token!'), 'TOKEN_MALFORMED');
  });

  test('alg none is refused', async () => {
    const none = `${Buffer.from(JSON.stringify(header({ alg: 'none' }))).toString('base64url')}.${Buffer.from(JSON.stringify(claims())).toString('base64url')}.`;
    expect401(await me(none));
    const noneWithSig = `${none}AAAA`;
    expect401(await me(noneWithSig), 'TOKEN_INVALID');
  });

  test('HS256 signed with our public key is refused', async () => {
    const publicPem = h.app.gateway.tokens.keyRing.active.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const jwkX = h.app.gateway.tokens.keyRing.active.publicJwk.x;
    for (const secret of [publicPem, jwkX]) {
      expect401(await me(forge(header({ alg: 'HS256' }), claims(), { hmac: secret })), 'TOKEN_INVALID');
    }
  });

  test('a token signed by another key (forged) or with a tampered payload is refused', async () => {
    const other = generateKeyPairSync('ed25519').privateKey;
    expect401(await me(forge(header(), claims(), { ed25519: other })), 'TOKEN_INVALID');
    const genuine = (await h.login(user.email, user.password)).access_token;
    const [head, , sig] = genuine.split('.');
    const promoted = Buffer.from(JSON.stringify(claims({ roles: ['admin'] }))).toString('base64url');
    expect401(await me(`${head}.${promoted}.${sig}`), 'TOKEN_INVALID');
    // One flipped signature character.
    const flipped = genuine.slice(0, -2) + (genuine.at(-2) === 'A' ? 'B' : 'A') + genuine.at(-1);
    expect401(await me(flipped));
  });

  test('wrong audience, wrong issuer, wrong typ and unknown kid are refused', async () => {
    const key = { ed25519: h.app.gateway.tokens.keyRing.active.privateKey };
    expect401(await me(forge(header(), claims({ aud: 'another-api' }), key)), 'TOKEN_CLAIM_INVALID');
    expect401(await me(forge(header(), claims({ iss: 'https://evil.test' }), key)), 'TOKEN_CLAIM_INVALID');
    expect401(await me(forge(header({ typ: 'JWT' }), claims(), key)), 'TOKEN_INVALID');
    expect401(await me(forge(header({ kid: 'no-such-kid' }), claims(), key)), 'TOKEN_INVALID');
  });

  test('an expired token is refused (fake clock past exp + tolerance)', async () => {
    const { access_token } = await h.login(user.email, user.password);
    expect((await me(access_token)).statusCode).toBe(200);
    h.clock.advanceSeconds(900 + 31);
    try {
      const res = await me(access_token);
      expect401(res, 'TOKEN_EXPIRED');
      expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
    } finally {
      h.clock.advanceSeconds(-(900 + 31));
    }
  });

  test('an oversized token is refused before parsing', async () => {
    const key = { ed25519: h.app.gateway.tokens.keyRing.active.privateKey };
    const huge = forge(header(), claims({ pad: 'x'.repeat(5000) }), key);
    expect401(await me(huge), 'TOKEN_MALFORMED');
  });

  test('admin routes: 403 for a user, 201 for the admin', async () => {
    const userToken = (await h.login(user.email, user.password)).access_token;
    const body = { name: 'Kettle', price: 2599, stock: 3 };
    const denied = await h.app.inject({ method: 'POST', url: '/api/v1/goods', headers: bearer(userToken), payload: body });
    expect(expectErrorShape(denied, 403).code).toBe('PERMISSION_DENIED');
    expect(denied.headers['www-authenticate']).toContain('insufficient_scope');
    const patch = await h.app.inject({ method: 'PATCH', url: '/api/v1/goods/g1', headers: bearer(userToken), payload: { price: 1 } });
    expectErrorShape(patch, 403);
    expect(h.shop.calls.filter((c) => c.action.startsWith('goods.')).length).toBe(0);
    const admin = await h.app.inject({ method: 'POST', url: '/api/v1/goods', headers: bearer(await h.adminToken()), payload: body });
    expect(admin.statusCode).toBe(201);
    expect(h.shop.lastCall('goods.create')!.options.meta).toMatchObject({ auth: { role: 'admin' } });
  });

  test('a revoked access token is refused', async () => {
    const { access_token } = await h.login(user.email, user.password);
    const revoke = await h.app.inject({ method: 'POST', url: '/oauth2/revoke', ...form({ token: access_token }) });
    expect(revoke.statusCode).toBe(200);
    expect401(await me(access_token), 'TOKEN_REVOKED');
  });

  test('wrong credentials: 401 INVALID_CREDENTIALS at /auth/login', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: user.email, password: 'wrong password' } });
    expect(expectErrorShape(res, 401).code).toBe('INVALID_CREDENTIALS');
    expect(res.body).not.toContain('wrong password');
  });
});

describe('OAuth 2 endpoints', () => {
  let h: Harness;
  let user: { id: string; email: string; password: string };
  beforeAll(async () => {
    h = await harness();
    user = await h.signUp();
  });
  afterAll(() => h.app.close());

  const token = (fields: Record<string, string>) => h.app.inject({ method: 'POST', url: '/oauth2/token', ...form(fields) });

  test('password grant, form-encoded and JSON; no-store', async () => {
    const res = await token({ grant_type: 'password', username: user.email, password: user.password });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.json()).toMatchObject({ token_type: 'Bearer', expires_in: 900 });
    const json = await h.app.inject({ method: 'POST', url: '/oauth2/token', payload: { grant_type: 'password', username: user.email, password: user.password } });
    expect(json.statusCode).toBe(200);
    expect((await h.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(json.json().access_token) })).statusCode).toBe(200);
  });

  test('RFC 6749 error bodies: invalid_grant, unsupported_grant_type, invalid_request', async () => {
    const bad = await token({ grant_type: 'password', username: user.email, password: 'nope-nope' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toEqual({ error: 'invalid_grant', error_description: expect.any(String) });
    expect((await token({ grant_type: 'client_credentials' })).json().error).toBe('unsupported_grant_type');
    expect((await token({ grant_type: 'password', username: user.email })).json().error).toBe('invalid_request');
    const missing = await token({});
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error).toBe('invalid_request');
    const repeated = await h.app.inject({ method: 'POST', url: '/oauth2/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'grant_type=password&grant_type=refresh_token' });
    expect(repeated.json().error).toBe('invalid_request');
    const malformed = await h.app.inject({ method: 'POST', url: '/oauth2/token', headers: { 'content-type': 'application/json' }, payload: '{"grant_type":' });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().error).toBe('invalid_request');
  });

  test('refresh rotation: each refresh token works once; reuse revokes the whole family', async () => {
    const first = (await token({ grant_type: 'password', username: user.email, password: user.password })).json();
    const second = await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token });
    expect(second.statusCode, second.body).toBe(200);
    const pair2 = second.json();
    expect(pair2.refresh_token).not.toBe(first.refresh_token);
    expect((await h.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(pair2.access_token) })).json().id).toBe(user.id);
    const third = await token({ grant_type: 'refresh_token', refresh_token: pair2.refresh_token });
    expect(third.statusCode).toBe(200);
    const pair3 = third.json();

    // The thief replays the first (already rotated) token: refused, and the live one dies too.
    const replay = await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token });
    expect(replay.statusCode).toBe(400);
    expect(replay.json().error).toBe('invalid_grant');
    const afterReuse = await token({ grant_type: 'refresh_token', refresh_token: pair3.refresh_token });
    expect(afterReuse.json().error).toBe('invalid_grant');
    // Another session of the same user is untouched.
    const other = (await token({ grant_type: 'password', username: user.email, password: user.password })).json();
    expect((await token({ grant_type: 'refresh_token', refresh_token: other.refresh_token })).statusCode).toBe(200);
  });

  test('refresh picks up the current role; a failed role lookup does not burn the token', async () => {
    const first = (await token({ grant_type: 'password', username: user.email, password: user.password })).json();
    const { ShoalError } = await import('../../src/errors/index.js');
    h.shop.failNext('users.get', new ShoalError({ code: 'UNAVAILABLE', message: 'no users instance at 10.0.0.7', retryable: true }));
    const failed = await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token });
    expect(failed.statusCode).toBe(503);
    expect(failed.json().error).toBe('temporarily_unavailable');
    expect(failed.body).not.toContain('10.0.0.7');
    h.shop.users.get(user.id)!.role = 'admin';
    try {
      const retried = await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token });
      expect(retried.statusCode, retried.body).toBe(200);
      const payload = JSON.parse(Buffer.from(retried.json().access_token.split('.')[1], 'base64url').toString());
      expect(payload.roles).toEqual(['admin']);
    } finally {
      h.shop.users.get(user.id)!.role = 'user';
    }
  });

  test('revoking a refresh token ends its session; unknown tokens still get 200', async () => {
    const pair = (await token({ grant_type: 'password', username: user.email, password: user.password })).json();
    expect((await h.app.inject({ method: 'POST', url: '/oauth2/revoke', payload: { token: pair.refresh_token } })).statusCode).toBe(200);
    expect((await token({ grant_type: 'refresh_token', refresh_token: pair.refresh_token })).json().error).toBe('invalid_grant');
    const unknown = await h.app.inject({ method: 'POST', url: '/oauth2/revoke', ...form({ token: 'x'.repeat(43) }) });
    expect(unknown.statusCode).toBe(200);
    const none = await h.app.inject({ method: 'POST', url: '/oauth2/revoke', ...form({}) });
    expect(none.statusCode).toBe(400);
    expect(none.json().error).toBe('invalid_request');
  });

  test('introspection needs a bearer token; non-admins see only their own tokens', async () => {
    const mine = (await token({ grant_type: 'password', username: user.email, password: user.password })).json();
    const unauth = await h.app.inject({ method: 'POST', url: '/oauth2/introspect', ...form({ token: mine.access_token }) });
    expect(unauth.statusCode).toBe(401);
    expect(unauth.json().error).toBe('invalid_token');
    expect(unauth.headers['www-authenticate']).toMatch(/^Bearer/);

    const introspect = (tok: string, as: string) => h.app.inject({ method: 'POST', url: '/oauth2/introspect', headers: { ...form({}).headers, ...bearer(as) }, payload: new URLSearchParams({ token: tok }).toString() });
    const self = (await introspect(mine.access_token, mine.access_token)).json();
    expect(self).toMatchObject({ active: true, sub: user.id, token_type: 'Bearer', roles: ['user'] });
    expect((await introspect(mine.refresh_token, mine.access_token)).json()).toMatchObject({ active: true, sub: user.id });
    expect((await introspect('garbage', mine.access_token)).json()).toEqual({ active: false });

    const admin = await h.adminToken();
    expect((await introspect(admin, mine.access_token)).json()).toEqual({ active: false });
    expect((await introspect(mine.access_token, admin)).json()).toMatchObject({ active: true, sub: user.id });
  });

  test('metadata, JWKS and the (not yet supported) authorization endpoint', async () => {
    const meta = (await h.app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server' })).json();
    expect(meta).toMatchObject({
      issuer: ISSUER,
      token_endpoint: `${ISSUER}/oauth2/token`,
      jwks_uri: `${ISSUER}/.well-known/jwks.json`,
      grant_types_supported: ['password', 'refresh_token'],
    });
    const jwks = (await h.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json();
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', kid: h.app.gateway.tokens.keyRing.active.kid });
    expect(jwks.keys[0].d).toBeUndefined();
    const authorize = await h.app.inject({ method: 'GET', url: '/oauth2/authorize?response_type=code&client_id=x' });
    expect(authorize.statusCode).toBe(400);
    expect(authorize.json()).toEqual({ error: 'unsupported_response_type', error_description: expect.stringContaining('not supported yet') });
  });
});

describe('persistence in the data dir', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-gateway-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test('a restarted gateway accepts the tokens of the previous one, and rotation state survives', async () => {
    const a = await harness({ dataDir: dir });
    const user = await a.signUp();
    const pair = await a.login(user.email, user.password);
    const rotated = (await a.app.inject({ method: 'POST', url: '/oauth2/token', payload: { grant_type: 'refresh_token', refresh_token: pair.refresh_token } })).json();
    await a.app.close();
    expect((await stat(join(dir, KEY_FILE))).mode & 0o777).toBe(0o600);
    await stat(join(dir, REFRESH_DB_FILE));

    const b = await harness({ dataDir: dir });
    // Same users, as a restarted gateway in front of the same services would see them.
    for (const [id, u] of a.shop.users) b.shop.users.set(id, u);
    try {
      expect((await b.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(pair.access_token) })).statusCode).toBe(200);
      const next = await b.app.inject({ method: 'POST', url: '/oauth2/token', payload: { grant_type: 'refresh_token', refresh_token: rotated.refresh_token } });
      expect(next.statusCode, next.body).toBe(200);
      // The first token was rotated before the restart: presenting it now is reuse.
      const reuse = await b.app.inject({ method: 'POST', url: '/oauth2/token', payload: { grant_type: 'refresh_token', refresh_token: pair.refresh_token } });
      expect(reuse.json().error).toBe('invalid_grant');
      const killed = await b.app.inject({ method: 'POST', url: '/oauth2/token', payload: { grant_type: 'refresh_token', refresh_token: next.json().refresh_token } });
      expect(killed.json().error).toBe('invalid_grant');
    } finally {
      await b.app.close();
    }
  });
});

test('the admin logs in with the ensured account', async () => {
  const h = await harness();
  try {
    const me = await h.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(await h.adminToken()) });
    expect(me.json()).toMatchObject({ email: ADMIN.email, role: 'admin' });
  } finally {
    await h.app.close();
  }
});
