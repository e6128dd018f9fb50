// Seeded fuzzing of the whole edge through fastify.inject: malformed and hostile requests of
// every kind must never crash the gateway, never produce a 5xx, and always answer an error in
// the documented shape (RFC 6749 bodies on the OAuth endpoints, ours everywhere else).
import { connect } from 'node:net';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { InjectOptions } from 'fastify';
import { forge } from '../auth/support.js';
import { AUDIENCE, bearer, harness, ISSUER, type Harness } from './support.js';

const SEED = Number(process.env.GATEWAY_FUZZ_SEED ?? 0x5ea1);
const REQUESTS = Number(process.env.GATEWAY_FUZZ_REQUESTS ?? 10_000);

/** mulberry32: small, fast, good enough to pick cases; the seed replays a run exactly. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const OAUTH_PATHS = new Set(['/oauth2/token', '/oauth2/introspect', '/oauth2/revoke', '/oauth2/authorize']);
const ROUTES: Array<[string, string]> = [
  ['POST', '/api/v1/users'],
  ['POST', '/api/v1/auth/login'],
  ['GET', '/api/v1/users/me'],
  ['POST', '/api/v1/users/me/deposit'],
  ['POST', '/api/v1/goods'],
  ['GET', '/api/v1/goods'],
  ['GET', '/api/v1/goods/ID'],
  ['PATCH', '/api/v1/goods/ID'],
  ['POST', '/oauth2/token'],
  ['POST', '/oauth2/introspect'],
  ['POST', '/oauth2/revoke'],
  ['GET', '/oauth2/authorize'],
  ['GET', '/.well-known/oauth-authorization-server'],
  ['GET', '/.well-known/jwks.json'],
  ['GET', '/docs/json'],
  ['GET', '/livez'],
  ['GET', '/readyz'],
];
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'] as const;
const ODD = ['\u0000', '\ud800', '\udfff', '\udbff\udfff', '\u202e', '\ufeff', '\u2028', '😀', 'e\u0301', 'İ', '\u200d', '\uffff', '\x7f', '\r\n', '"', '\\', '%', '%00', '%ZZ', '%ED%A0%80', '..', '/', '?', '#', '&', '='];
const INJECTIONS = ["' OR '1'='1' --", '"; DROP TABLE users; --', '<script>alert(1)</script>', '${jndi:ldap://127.0.0.1/a}', '../../../../etc/passwd', '{{7*7}}', '__proto__', 'constructor', '$where', '{"$gt":""}', 'admin\u0000', '\\u0000', 'null', 'NaN', '-0', '1e309'];
const CONTENT_TYPES = ['application/json', 'application/json; charset=utf-8', 'application/x-www-form-urlencoded', 'text/plain', 'application/xml', 'multipart/form-data; boundary=--x', '', 'application/json; charset=utf-16', 'APPLICATION/JSON', '*/*', 'application/jsonx', 'application/json;;;'];

let h: Harness;
let tokens: string[];
let port: number;

/**
 * Sends one request over a real socket, for request targets light-my-request cannot express
 * (`/\\...` parses as a protocol-relative URL there) — the server still has to answer them.
 */
function rawRequest(method: string, target: string, headers: Record<string, string>): Promise<{ statusCode: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      const lines = Object.entries(headers).filter(([k]) => k !== 'content-length').map(([k, v]) => `${k}: ${v}`);
      socket.write(Buffer.from(`${method} ${target} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n${lines.map((l) => l + '\r\n').join('')}content-length: 0\r\n\r\n`, 'utf8'));
    });
    const chunks: Buffer[] = [];
    socket.setTimeout(5000, () => socket.destroy(new Error('raw request timed out')));
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (status === null) return reject(new Error(`no HTTP answer: ${JSON.stringify(text.slice(0, 100))}`));
      resolve({ statusCode: Number(status[1]), body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
  });
}

beforeAll(async () => {
  h = await harness({ rateLimit: { max: 1_000_000, userMax: 1_000_000, credentialsMax: 1_000_000 } });
  const user = await h.signUp('fuzz@example.com', 'fuzz password 1');
  const pair = await h.login(user.email, user.password);
  const admin = await h.adminToken();
  await h.app.inject({ method: 'POST', url: '/api/v1/goods', headers: bearer(admin), payload: { name: 'Fuzz', price: 1, stock: 1 } });
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  port = (h.app.server.address() as { port: number }).port;
  const key = h.app.gateway.tokens.keyRing.active;
  const now = Math.floor(h.clock.ms / 1000);
  const claims = (extra: Record<string, unknown> = {}) => ({ iss: ISSUER, aud: AUDIENCE, sub: user.id, jti: 'fz', iat: now, nbf: now, exp: now + 300, scope: '', roles: ['admin'], ...extra });
  const head = (extra: Record<string, unknown> = {}) => ({ alg: 'EdDSA', kid: key.kid, typ: 'at+jwt', ...extra });
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  tokens = [
    pair.access_token,
    admin,
    pair.refresh_token,
    `${b64(head({ alg: 'none' }))}.${b64(claims())}.`,
    `${b64(head({ alg: 'none' }))}.${b64(claims())}.AAAA`,
    forge(head({ alg: 'HS256' }), claims(), { hmac: key.publicKey.export({ type: 'spki', format: 'pem' }) as string }),
    forge(head({ alg: 'ES256' }), claims(), { hmac: 'x' }),
    forge(head(), claims({ aud: 'other' }), { ed25519: key.privateKey }),
    forge(head(), claims({ iat: now - 7200, nbf: now - 7200, exp: now - 3600 }), { ed25519: key.privateKey }),
    forge(head(), claims({ sub: '' }), { ed25519: key.privateKey }),
    forge(head(), claims({ roles: 'admin' }), { ed25519: key.privateKey }),
    forge(head({ kid: '../../etc/passwd' }), claims(), { ed25519: key.privateKey }),
    forge(head(), claims({ pad: 'p'.repeat(6000) }), { ed25519: key.privateKey }),
    `${pair.access_token.split('.')[0]}.${b64(claims())}.${pair.access_token.split('.')[2]}`,
    pair.access_token + 'A',
    'a.b.c',
    '...',
    'x'.repeat(43),
  ];
});
afterAll(() => h.app.close());

test(`fuzz: ${REQUESTS} hostile requests, no crash, no 5xx, every error in shape`, { timeout: 120_000 }, async () => {
  const random = rng(SEED);
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(list: readonly T[]): T => list[int(list.length)]!;
  const chance = (p: number) => random() < p;

  const oddString = (): string => {
    let s = '';
    const parts = 1 + int(6);
    for (let i = 0; i < parts; i++) {
      const r = random();
      s += r < 0.3 ? pick(ODD) : r < 0.5 ? pick(INJECTIONS) : r < 0.9 ? 'abcxyz019'.slice(int(5), 5 + int(4)) : 'A'.repeat(int(300));
    }
    return s;
  };
  // Percent-encodes bytes (lone surrogates become U+FFFD, as on the wire; %ED%A0%80 in ODD is the raw form).
  const enc = (s: string): string => [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
  const oddValue = (depth = 0): unknown => {
    switch (int(depth > 2 ? 7 : 10)) {
      case 0: return oddString();
      case 1: return int(2) === 0 ? int(1e9) : -int(1e9);
      case 2: return pick([0, -1, 1.5, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 100_000_001, 2 ** 53]);
      case 3: return pick([true, false, null]);
      case 4: return '';
      case 5: return pick(INJECTIONS);
      case 6: return `${int(100)}`;
      case 7: return Array.from({ length: int(4) }, () => oddValue(depth + 1));
      default: {
        const o: Record<string, unknown> = {};
        for (let i = int(4); i > 0; i--) o[pick(['name', 'email', 'password', 'amount', 'price', 'stock', 'grant_type', 'token', 'refresh_token', 'username', '__proto__', 'constructor', oddString()])] = oddValue(depth + 1);
        return o;
      }
    }
  };
  const plausibleBody = (): Record<string, unknown> => {
    const body: Record<string, unknown> = pick([
      { name: 'N', email: 'n@example.com', password: 'password123', address: 'a', phone: '+1 555 0100' },
      { email: 'fuzz@example.com', password: 'fuzz password 1' },
      { amount: 100 },
      { name: 'G', price: 10, stock: 1 },
      { grant_type: 'password', username: 'fuzz@example.com', password: 'fuzz password 1' },
      { grant_type: 'refresh_token', refresh_token: pick(tokens.slice(3)) },
      { grant_type: pick(['client_credentials', 'authorization_code', '', 'PASSWORD']) },
      // Not the live tokens: revoking them early would leave the rest of the run unauthenticated.
      { token: pick(tokens.slice(3)) },
    ]);
    // Mutate some fields into wrong types or odd strings.
    for (const k of Object.keys(body)) if (chance(0.4)) body[k] = oddValue();
    if (chance(0.2)) body[oddString()] = oddValue();
    return body;
  };
  const path = (route: string): string => {
    const r = random();
    if (r < 0.75) {
      return route.replace('ID', pick(['g_x', [...h.shop.goods.keys()][0]!, [...h.shop.goods.keys()][0]!, enc(oddString()), 'a'.repeat(int(400)), '%00', '%ED%A0%80', '..%2F..%2Fetc']));
    }
    if (r < 0.85) return `/${Array.from({ length: 1 + int(5) }, () => pick(['api', 'v1', 'v2', 'oauth2', 'docs', 'users', 'goods', '.well-known', '%', '%2e%2e', enc(oddString()), ''])).join('/')}`;
    return '/' + oddString().replace(/[\r\n#?\s]/g, '');
  };
  const query = (): string => (chance(0.7) ? '' : `?${pick(['limit', 'cursor', 'x', '__proto__', 'limit[]'])}=${enc(oddString())}&${pick(['limit', 'cursor'])}=${pick(['1', '100', '0', '-1', '1e3', 'abc', ''])}`);

  const counts = { total: 0, byClass: {} as Record<string, number>, byStatus: {} as Record<number, number>, injectRejected: 0, overSocket: 0 };
  const failures: string[] = [];
  const started = performance.now();

  for (let i = 0; i < REQUESTS; i++) {
    const [knownMethod, route] = pick(ROUTES);
    const method = chance(0.85) ? knownMethod : pick(METHODS);
    const url = path(route) + query();
    const headers: Record<string, string> = {};
    let payload: string | Buffer | undefined;

    const r = random();
    if (method !== 'GET' && method !== 'HEAD') {
      if (r < 0.35) payload = JSON.stringify(plausibleBody());
      else if (r < 0.5) payload = JSON.stringify(oddValue());
      else if (r < 0.62) payload = pick(['{', '{"a":', '{"name": "x"', '[1,2', '"\\ud800"', '{"a":"\\u0000"}', '{"a":1}}', 'nul', '\u0000', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{}}}', '\ufeff{}', '{"a":"' + '\\'.repeat(3) + '"}']);
      else if (r < 0.72) payload = new URLSearchParams(Object.entries(plausibleBody()).map(([k, v]): [string, string] => [k, typeof v === 'string' ? v : JSON.stringify(v) ?? ''])).toString() + (chance(0.2) ? '&grant_type=password' : '');
      else if (r < 0.76) payload = JSON.stringify({ name: 'x'.repeat(64 * 1024 + int(10_000)) });
      else if (r < 0.8) payload = Buffer.from(Array.from({ length: int(2000) }, () => int(256)));
      else if (r < 0.9) payload = JSON.stringify(plausibleBody()).replace(/"/g, () => (chance(0.05) ? "'" : '"'));
      if (payload !== undefined) headers['content-type'] = chance(0.75) ? (payload.toString().startsWith('{') || payload.toString().startsWith('[') ? 'application/json' : 'application/x-www-form-urlencoded') : pick(CONTENT_TYPES);
    }
    if (chance(0.5)) headers.authorization = pick([`Bearer ${pick(tokens.slice(0, 2))}`, `Bearer ${pick(tokens.slice(0, 2))}`, `Bearer ${pick(tokens)}`, `Bearer ${pick(tokens)}`, `bearer ${pick(tokens)}`, 'Bearer', 'Bearer ', `Basic ${Buffer.from('a:b').toString('base64')}`, `Bearer ${oddString()}`, `Bearer ${'x'.repeat(10_000)}`, `Bearer ${pick(tokens)} extra`]);
    if (chance(0.1)) headers['idempotency-key'] = chance(0.5) ? oddString() : `k${int(50)}`;
    if (chance(0.1)) headers.traceparent = pick(['00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', '00-00000000000000000000000000000000-b7ad6b7169203331-01', 'ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', oddString()]);
    if (chance(0.05)) headers.origin = pick(['https://evil.example', 'null', oddString()]);
    if (chance(0.03)) headers['content-length'] = pick(['0', '-1', '99999999', 'abc', '1']);
    if (chance(0.03)) headers['x-forwarded-for'] = oddString();

    const options: InjectOptions = { method: method as InjectOptions['method'], url, headers, remoteAddress: `10.${int(4)}.0.${int(250)}` };
    if (payload !== undefined) options.payload = payload;
    counts.total++;
    let res: { statusCode: number; body: string; json(): unknown };
    try {
      res = await h.app.inject(options);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ERR_INVALID_CHAR' || code === 'ERR_HTTP_INVALID_HEADER_VALUE') {
        // light-my-request refuses to build it, as Node's own client would: not the server's doing.
        counts.injectRejected++;
        continue;
      }
      if (err instanceof TypeError && /Invalid URL/.test(err.message)) {
        const raw = await rawRequest(method, url, headers).catch((e: unknown) => ({ statusCode: 0, body: String(e) }));
        counts.overSocket++;
        res = { ...raw, json: () => JSON.parse(raw.body) };
      } else {
        failures.push(`#${i} ${method} ${JSON.stringify(url)}: inject threw ${String(err)}`);
        continue;
      }
    }
    const status = res.statusCode;
    counts.byStatus[status] = (counts.byStatus[status] ?? 0) + 1;
    const klass = `${Math.floor(status / 100)}xx`;
    counts.byClass[klass] = (counts.byClass[klass] ?? 0) + 1;
    const describe = () => `#${i} ${method} ${JSON.stringify(url).slice(0, 200)} → ${status} ${res.body.slice(0, 300)}`;
    if (status >= 500 || status === 0) {
      failures.push(describe());
      continue;
    }
    if (/\n\s+at /.test(res.body)) failures.push(`stack trace: ${describe()}`);
    if (status >= 400 && method !== 'HEAD') {
      let body: unknown;
      try {
        body = res.json();
      } catch {
        failures.push(`non-JSON error: ${describe()}`);
        continue;
      }
      const pathname = url.split('?')[0]!;
      const oauthShape = typeof (body as { error?: unknown }).error === 'string';
      const ok = oauthShape ? OAUTH_PATHS.has(pathname) && isOAuthError(body) : isHouseError(body);
      if (!ok) failures.push(`bad error shape: ${describe()}`);
    }
  }

  const seconds = (performance.now() - started) / 1000;
  console.log(
    `gateway fuzz seed=${SEED} requests=${counts.total} in ${seconds.toFixed(1)} s; by class ${JSON.stringify(counts.byClass)}; ` +
      `by status ${JSON.stringify(counts.byStatus)}; refused by inject (invalid header chars) ${counts.injectRejected}; sent over a socket ${counts.overSocket}; failures ${failures.length}`,
  );
  expect(failures.slice(0, 10)).toEqual([]);
  expect(counts.total).toBe(REQUESTS);
  // The run exercised both sides: successes and many kinds of refusals.
  expect(counts.byClass['2xx'] ?? 0).toBeGreaterThan(REQUESTS / 50);
  for (const s of [400, 401, 403, 404, 413, 415]) expect(counts.byStatus[s] ?? 0, `status ${s}`).toBeGreaterThan(0);
  // And the gateway still works afterwards.
  const fresh = await h.login('fuzz@example.com', 'fuzz password 1');
  expect((await h.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(fresh.access_token) })).statusCode).toBe(200);
});

function isHouseError(body: unknown): boolean {
  if (typeof body !== 'object' || body === null || Object.keys(body).join() !== 'error') return false;
  const e = (body as { error: unknown }).error as Record<string, unknown>;
  return (
    typeof e === 'object' && e !== null && typeof e.code === 'string' && /^[A-Z_]+$/.test(e.code) && typeof e.message === 'string' &&
    Object.keys(e).every((k) => k === 'code' || k === 'message' || k === 'details') && (e.details === undefined || (typeof e.details === 'object' && e.details !== null))
  );
}

function isOAuthError(body: unknown): boolean {
  const b = body as Record<string, unknown>;
  return /^[a-z_]+$/.test(String(b.error)) && Object.keys(b).every((k) => k === 'error' || k === 'error_description') && (b.error_description === undefined || typeof b.error_description === 'string');
}
