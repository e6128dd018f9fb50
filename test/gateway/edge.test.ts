// The generic edge: fastify's own failures in our error shape, body and content-type limits,
// rate limits, CORS, OpenAPI, probes and telemetry.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createObservability } from '../../src/observe/index.js';
import { bearer, expectErrorShape, harness, type Harness } from './support.js';

describe('errors from the framework itself', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness();
  });
  afterAll(() => h.app.close());

  test('404 for unknown routes and methods', async () => {
    expect(expectErrorShape(await h.app.inject({ method: 'GET', url: '/api/v2/goods' }), 404).code).toBe('NOT_FOUND');
    expectErrorShape(await h.app.inject({ method: 'DELETE', url: '/api/v1/goods/g1' }), 404);
    expectErrorShape(await h.app.inject({ method: 'GET', url: '/%E0%A4%A' }), 400);
  });

  test('400 for malformed JSON, empty JSON and prototype poisoning', async () => {
    const post = (payload: string) => h.app.inject({ method: 'POST', url: '/api/v1/users', headers: { 'content-type': 'application/json' }, payload });
    expect(expectErrorShape(await post('{"name": "x",'), 400).code).toBe('INVALID_ARGUMENT');
    expectErrorShape(await post(''), 400);
    expectErrorShape(await post('{"__proto__": {"admin": true}}'), 400);
    expectErrorShape(await post('{"constructor": {"prototype": {"admin": true}}}'), 400);
    expectErrorShape(await post('null'), 400);
    expectErrorShape(await post('[1,2]'), 400);
  });

  test('413 above the 64 KiB body limit, 415 for other content types', async () => {
    const big = JSON.stringify({ name: 'x'.repeat(70 * 1024) });
    const res = await h.app.inject({ method: 'POST', url: '/api/v1/users', headers: { 'content-type': 'application/json' }, payload: big });
    expect(expectErrorShape(res, 413).code).toBe('PAYLOAD_TOO_LARGE');
    for (const type of ['text/plain', 'application/xml', 'multipart/form-data; boundary=x']) {
      const r = await h.app.inject({ method: 'POST', url: '/api/v1/users', headers: { 'content-type': type }, payload: 'a=1' });
      expect(expectErrorShape(r, 415).code).toBe('UNSUPPORTED_MEDIA_TYPE');
    }
  });

  test('a request that is not HTTP gets one 400 in our shape on a real socket', async () => {
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = h.app.server.address() as { port: number };
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write('HELLO\0 WORLD\r\n\r\n'));
      let data = '';
      socket.on('data', (chunk) => (data += chunk.toString()));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toEqual({ error: { code: 'INVALID_ARGUMENT', message: 'malformed HTTP request' } });
  });
});

describe('rate limits', () => {
  test('per client IP: 429 with Retry-After once the window is used up; other IPs unaffected', async () => {
    const h = await harness({ rateLimit: { max: 5, timeWindowMs: 60_000 } });
    try {
      const from = (ip: string) => h.app.inject({ method: 'GET', url: '/api/v1/goods', remoteAddress: ip });
      for (let i = 0; i < 5; i++) expect((await from('10.0.0.1')).statusCode).toBe(200);
      const limited = await from('10.0.0.1');
      expect(expectErrorShape(limited, 429).code).toBe('RATE_LIMITED');
      expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
      expect((await from('10.0.0.2')).statusCode).toBe(200);
      // Probes are never limited.
      expect((await h.app.inject({ method: 'GET', url: '/livez', remoteAddress: '10.0.0.1' })).statusCode).toBe(200);
    } finally {
      await h.app.close();
    }
  });

  test('per user: one user cannot exhaust the limit from many addresses', async () => {
    const h = await harness({ rateLimit: { max: 1000, userMax: 3 } });
    try {
      const token = await h.userToken();
      const other = await h.userToken();
      const me = (t: string, i: number) => h.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(t), remoteAddress: `10.0.1.${i}` });
      for (let i = 0; i < 3; i++) expect((await me(token, i)).statusCode).toBe(200);
      expectErrorShape(await me(token, 99), 429);
      expect((await me(other, 100)).statusCode).toBe(200);
    } finally {
      await h.app.close();
    }
  });

  test('password checks get a tighter per-IP limit (RFC 6749 body on /oauth2/token)', async () => {
    const h = await harness({ rateLimit: { credentialsMax: 2 } });
    try {
      const login = () => h.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'a@b.c', password: 'x' }, remoteAddress: '10.0.2.1' });
      expect((await login()).statusCode).toBe(401);
      expect((await login()).statusCode).toBe(401);
      expectErrorShape(await login(), 429);
      const token = await h.app.inject({ method: 'POST', url: '/oauth2/token', payload: { grant_type: 'password', username: 'a@b.c', password: 'x' }, remoteAddress: '10.0.2.1' });
      expect(token.statusCode).toBe(429);
      expect(token.json()).toEqual({ error: 'invalid_request', error_description: expect.stringContaining('too many requests') });
      expect(token.headers['retry-after']).toBeDefined();
    } finally {
      await h.app.close();
    }
  });
});

describe('CORS', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness({ corsOrigins: ['https://shop.example'] });
  });
  afterAll(() => h.app.close());

  const preflight = (origin: string) =>
    h.app.inject({
      method: 'OPTIONS',
      url: '/api/v1/users/me/deposit',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, idempotency-key' },
    });

  test('a preflight from an allowed origin is answered with the allowed methods and headers', async () => {
    const res = await preflight('https://shop.example');
    expect(res.statusCode).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('https://shop.example');
    expect(String(res.headers['access-control-allow-methods'])).toContain('POST');
    expect(String(res.headers['access-control-allow-headers'])).toContain('idempotency-key');
    expect(res.headers['access-control-allow-credentials']).toBeUndefined();
  });

  test('another origin gets no CORS headers (the browser refuses), and simple requests carry them only for the allowed one', async () => {
    const res = await preflight('https://evil.example');
    expect(res.statusCode).toBeLessThan(500);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    const ok = await h.app.inject({ method: 'GET', url: '/api/v1/goods', headers: { origin: 'https://shop.example' } });
    expect(ok.headers['access-control-allow-origin']).toBe('https://shop.example');
    const evil = await h.app.inject({ method: 'GET', url: '/api/v1/goods', headers: { origin: 'https://evil.example' } });
    expect(evil.headers['access-control-allow-origin']).toBeUndefined();
    // Errors carry CORS headers too, so a browser app can read them.
    const err = await h.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { origin: 'https://shop.example' } });
    expect(err.statusCode).toBe(401);
    expect(err.headers['access-control-allow-origin']).toBe('https://shop.example');
  });

  test('the default allows no cross-origin reads', async () => {
    const d = await harness();
    try {
      const res = await d.app.inject({ method: 'GET', url: '/api/v1/goods', headers: { origin: 'https://shop.example' } });
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await d.app.close();
    }
  });
});

describe('OpenAPI', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness();
  });
  afterAll(() => h.app.close());

  interface Operation {
    responses?: Record<string, { description?: unknown; content?: Record<string, { schema: unknown }> }>;
    parameters?: Array<{ in: string; name: unknown; required?: boolean; schema: unknown }>;
    requestBody?: { content?: Record<string, { schema: unknown }> };
  }

  // The Schema Object vocabulary of OpenAPI 3.0.3 (section 4.7.24).
  const SCHEMA_KEYS = new Set([
    'title', 'multipleOf', 'maximum', 'exclusiveMaximum', 'minimum', 'exclusiveMinimum', 'maxLength', 'minLength', 'pattern',
    'maxItems', 'minItems', 'uniqueItems', 'maxProperties', 'minProperties', 'required', 'enum', 'type', 'allOf', 'oneOf',
    'anyOf', 'not', 'items', 'properties', 'additionalProperties', 'description', 'format', 'default', 'nullable',
    'discriminator', 'readOnly', 'writeOnly', 'xml', 'externalDocs', 'example', 'deprecated', '$ref',
  ]);
  function checkSchema(schema: unknown, where: string): void {
    expect(typeof schema, where).toBe('object');
    for (const [key, value] of Object.entries(schema as Record<string, unknown>)) {
      expect(SCHEMA_KEYS.has(key) || key.startsWith('x-'), `${where}: ${key} is not an OpenAPI 3.0 schema keyword`).toBe(true);
      if (key === 'properties') for (const [name, sub] of Object.entries(value as object)) checkSchema(sub, `${where}.${name}`);
      if (key === 'items' || key === 'not' || (key === 'additionalProperties' && typeof value === 'object')) checkSchema(value, `${where}.${key}`);
      if (key === 'allOf' || key === 'oneOf' || key === 'anyOf') (value as unknown[]).forEach((s, i) => checkSchema(s, `${where}.${key}[${i}]`));
      if (key === 'type') expect(['string', 'number', 'integer', 'boolean', 'array', 'object']).toContain(value);
    }
  }

  test('/docs/json is an OpenAPI 3.0 document with every route, valid schemas and bearer security', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\.0\.\d$/);
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    expect(doc.components.securitySchemes.bearerAuth).toEqual({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
    const expected: Array<[string, string]> = [
      ['/api/v1/users', 'post'], ['/api/v1/auth/login', 'post'], ['/api/v1/users/me', 'get'], ['/api/v1/users/me/deposit', 'post'],
      ['/api/v1/goods', 'post'], ['/api/v1/goods', 'get'], ['/api/v1/goods/{id}', 'get'], ['/api/v1/goods/{id}', 'patch'],
      ['/oauth2/token', 'post'], ['/oauth2/introspect', 'post'], ['/oauth2/revoke', 'post'], ['/oauth2/authorize', 'get'],
      ['/.well-known/oauth-authorization-server', 'get'], ['/.well-known/jwks.json', 'get'],
    ];
    for (const [path, method] of expected) expect(doc.paths[path]?.[method], `${method} ${path}`).toBeDefined();
    for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, Operation>>)) {
      for (const [method, op] of Object.entries(item)) {
        const where = `${method} ${path}`;
        expect(Object.keys(op.responses ?? {}).length, where).toBeGreaterThan(0);
        for (const p of op.parameters ?? []) {
          expect(['path', 'query', 'header', 'cookie'], where).toContain(p.in);
          expect(typeof p.name).toBe('string');
          if (p.in === 'path') expect(p.required).toBe(true);
          checkSchema(p.schema, `${where} param ${p.name}`);
        }
        for (const media of Object.values(op.requestBody?.content ?? {})) checkSchema(media.schema, `${where} body`);
        for (const [status, r] of Object.entries(op.responses ?? {})) {
          expect(typeof r.description, `${where} ${status}`).toBe('string');
          for (const media of Object.values(r.content ?? {})) checkSchema(media.schema, `${where} ${status}`);
        }
      }
    }
    const me = doc.paths['/api/v1/users/me'].get;
    expect(me.security).toEqual([{ bearerAuth: [] }]);
    const create = doc.paths['/api/v1/users'].post;
    expect(create.requestBody.content['application/json'].schema.required).toEqual(['name', 'email', 'password', 'address', 'phone']);
    expect(create.responses['201'].content['application/json'].schema.properties).toHaveProperty('wallet');
    expect(Object.keys(doc.paths['/oauth2/token'].post.requestBody.content).sort()).toEqual(['application/json', 'application/x-www-form-urlencoded']);
    expect(doc.paths['/api/v1/users/me/deposit'].post.parameters.map((p: { name: string }) => p.name)).toContain('idempotency-key');
    expect(doc.paths['/livez']).toBeUndefined();
  });

  test('/docs serves swagger-ui', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/docs/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/html/);
  });
});

describe('probes and telemetry', () => {
  test('with observability: /livez, /readyz (503 while draining), /metrics by route template, spans continue the caller trace', async () => {
    const obs = createObservability({ service: 'gateway', instanceId: 'gw-test', logDestination: { write: () => undefined }, defaultMetrics: false });
    const h = await harness({ observability: obs, logger: false });
    try {
      expect((await h.app.inject({ method: 'GET', url: '/livez' })).statusCode).toBe(200);
      expect((await h.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
      const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
      await h.app.inject({ method: 'GET', url: '/api/v1/goods/g_abc', headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
      await h.app.inject({ method: 'GET', url: '/api/v1/goods/g_def' });
      await h.app.inject({ method: 'GET', url: '/random/path/123' });
      const forwarded = h.shop.lastCall('goods.get')!.options.meta!.traceparent as string;
      expect(forwarded).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
      const first = h.shop.calls.filter((c) => c.action === 'goods.get')[0]!.options.meta!.traceparent as string;
      expect(first.split('-')[1]).toBe(traceId);
      expect(first.split('-')[2]).not.toBe('00f067aa0ba902b7');

      const metrics = await h.app.inject({ method: 'GET', url: '/metrics' });
      expect(metrics.statusCode).toBe(200);
      expect(metrics.body).toMatch(/shoal_http_requests_total\{[^}]*route="\/api\/v1\/goods\/:id"[^}]*status="404"[^}]*\} 2/);
      expect(metrics.body).toMatch(/route="unmatched"/);
      expect(metrics.body).not.toContain('g_abc');
      const span = obs.tracer.recentSpans().find((s) => s.traceId === traceId);
      expect(span).toMatchObject({ kind: 'server', parentSpanId: '00f067aa0ba902b7' });

      h.app.gateway.setDraining(true);
      expect((await h.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    } finally {
      await h.app.close();
      await obs.shutdown();
    }
  });

  test('without observability: /livez and /readyz still answer', async () => {
    const h = await harness();
    try {
      expect((await h.app.inject({ method: 'GET', url: '/livez' })).json()).toEqual({ status: 'ok' });
      h.app.gateway.setDraining(true);
      expect((await h.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    } finally {
      await h.app.close();
    }
  });
});
