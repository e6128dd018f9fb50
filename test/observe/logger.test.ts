import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { REDACTED, SECRET_KEYS, createObservability, redactSecrets, withTrace } from '../../src/observe/index.js';
import { CapturedLog } from './capture.js';

function setup(logLevel?: string) {
  const log = new CapturedLog();
  const obs = createObservability({ service: 'users', instanceId: 'users-1', logDestination: log, logLevel, defaultMetrics: false });
  return { log, obs };
}

describe('logger', () => {
  it('carries service and instanceId on every line', () => {
    const { log, obs } = setup();
    obs.logger.info({ action: 'users.get' }, 'handled');
    const [line] = log.records();
    expect(line).toMatchObject({ service: 'users', instanceId: 'users-1', action: 'users.get', msg: 'handled', level: 30 });
  });

  it('never writes a secret, at the top level or nested in params, body, headers or meta', () => {
    const { log, obs } = setup();
    obs.logger.info(
      {
        password: 'S-top-password',
        token: 'S-top-token',
        params: { email: 'a@b.c', password: 'S-params-password', passwordHash: 'S-hash', card: { secret: 'S-deep-secret' } },
        body: { grant_type: 'refresh_token', refresh_token: 'S-refresh', access_token: 'S-access', client_secret: 'S-client' },
        headers: { authorization: 'Bearer S-auth', Authorization: 'Bearer S-Auth', cookie: 'sid=S-cookie', 'set-cookie': ['sid=S-set'], 'x-api-key': 'S-key' },
        meta: { auth: { token: 'S-meta-token' }, traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
        req: { body: { items: [{ goodsId: 'g1' }, { nested: [{ PASSWORD: 'S-in-array' }] }] } },
      },
      'login',
    );
    const text = log.text;
    expect(text).not.toMatch(/S-/);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- walking a parsed JSON line
    const [line] = log.records() as any[];
    expect(line.password).toBe(REDACTED);
    expect(line.params.password).toBe(REDACTED);
    expect(line.params.card.secret).toBe(REDACTED);
    expect(line.headers.authorization).toBe(REDACTED);
    expect(line.headers['set-cookie']).toBe(REDACTED);
    expect(line.req.body.items[1].nested[0].PASSWORD).toBe(REDACTED);
    // Everything that is not a secret is kept as it was.
    expect(line.params.email).toBe('a@b.c');
    expect(line.body.grant_type).toBe('refresh_token');
    expect(line.meta.traceparent).toBe('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
    expect(line.req.body.items[0].goodsId).toBe('g1');
  });

  it('redacts child-logger bindings and leaves the logged object untouched', () => {
    const { log, obs } = setup();
    const params = { name: 'n', password: 'S-child' };
    const child = obs.logger.child({ params });
    child.info('x');
    child.child({ token: 'S-grandchild', headers: { cookie: 'S-cookie' } }).info('y');
    child.setBindings({ secret: 'S-set' });
    child.info('z');
    expect(log.lines).toHaveLength(3);
    expect(log.text).not.toMatch(/S-/);
    expect(log.records()[1]).toMatchObject({ params: { name: 'n', password: REDACTED }, token: REDACTED, msg: 'y' });
    expect(params.password).toBe('S-child');
  });

  it('withTrace puts traceId and spanId on each line', () => {
    const { log, obs } = setup();
    const span = obs.tracer.startSpan('goods.get', { kind: 'server' });
    withTrace(obs.logger, span, { action: 'goods.get' }).warn('slow');
    span.end();
    expect(log.records()[0]).toMatchObject({ traceId: span.traceId, spanId: span.spanId, action: 'goods.get', level: 40 });
  });

  it('respects the level', () => {
    const { log, obs } = setup('warn');
    obs.logger.info('hidden');
    obs.logger.error('shown');
    expect(log.records().map((r) => r.msg)).toEqual(['shown']);
  });

  it('property: no secret value survives, wherever its key sits in a JSON-like object', () => {
    const secretKey = fc.constantFrom(...SECRET_KEYS, 'PASSWORD', 'Authorization', 'Set-Cookie');
    const plainKey = fc.constantFrom('name', 'email', 'items', 'params', 'body', 'headers', 'meta', 'qty');
    const leaf = fc.oneof(fc.integer(), fc.constantFrom('x', 'y', true, null));
    const { tree } = fc.letrec((tie) => ({
      tree: fc.oneof(
        { depthSize: 'small' },
        leaf,
        fc.array(tie('tree'), { maxLength: 3 }),
        fc.dictionary(fc.oneof(plainKey, secretKey), tie('tree'), { maxKeys: 4 }),
      ),
    }));
    // Plant a uniquely marked secret under a secret key somewhere in the tree.
    const planted = fc.tuple(tree, fc.array(fc.oneof(plainKey, fc.nat(2)), { maxLength: 6 }), secretKey).map(([t, path, key]) => {
      const root: Record<string, unknown> = { data: t };
      let node: Record<string, unknown> = root;
      for (const step of path) {
        const next: Record<string, unknown> = {};
        node[String(step)] = next;
        node = next;
      }
      node[key] = 'MARK-secret-value';
      return root;
    });
    fc.assert(
      fc.property(planted, (object) => {
        const { log, obs } = setup();
        obs.logger.info(object, 'm');
        expect(log.text).not.toContain('MARK-secret-value');
        expect(JSON.stringify(redactSecrets(object))).not.toContain('MARK-secret-value');
      }),
      { numRuns: 300 },
    );
  });
});
