// createGateway: the generic edge (errors, body parsing, CORS, rate limits, auth, telemetry,
// OpenAPI) around a route table, over a Caller. Returns a fastify instance that is not listening:
// tests drive it with inject(), main.ts listens.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import cors from '@fastify/cors';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Logger } from 'pino';
import {
  KeyRing,
  loadOrCreateKeyRing,
  MemoryRefreshTokenStore,
  systemClock,
  type Clock,
  type RefreshTokenStore,
  type SigningAlgorithm,
} from '../auth/index.js';
import type { Caller, CallOptions } from '../runtime/index.js';
import { ADMIN_PATHS, adminRequestHandler, type Observability } from '../observe/index.js';
import { authHook, VerifiedTokenCache } from './auth-hook.js';
import { DEFAULT_ERROR_STATUSES, HttpError, mapError, toOAuthError, type MappedError } from './errors.js';
import { registerOAuthRoutes } from './oauth-routes.js';
import { createRateLimiters, type RateLimitOptions } from './rate-limit.js';
import { lazyChildLoggerFactory } from './request-logger.js';
import { registerRoutes, type RouteContext, type RouteHost, type RouteSpec } from './route-table.js';
import { shopRoutes } from './shop-routes.js';
import { SqliteRefreshTokenStore } from './sqlite-refresh-store.js';
import { installTelemetry } from './telemetry.js';
import { createTokenService, type TokenService } from './tokens.js';
import { jsonSerializerCompiler, openApiTransform, zodValidatorCompiler } from './validation.js';

export const API_PREFIX = '/api/v1';
export const DEFAULT_BODY_LIMIT = 64 * 1024;
export const KEY_FILE = 'gateway-keys.json';
export const REFRESH_DB_FILE = 'gateway-refresh-tokens.db';

export interface GatewayOptions {
  /** How requests reach the services (the runtime's broker, or a test double). */
  caller: Caller;
  /** Holds the signing keys (gateway-keys.json, 0600) and refresh tokens (SQLite); without it both live in memory. */
  dataDir?: string;
  /** Overrides the key ring from dataDir. */
  keyRing?: KeyRing;
  /** Overrides the refresh-token store from dataDir. */
  refreshStore?: RefreshTokenStore;
  /** `iss` of our tokens and base of the metadata URLs. Default http://127.0.0.1. */
  issuer?: string;
  /** `aud` of our tokens. Default 'shoal-shop-api'. */
  audience?: string;
  /** Algorithm of a newly generated key ring. Default EdDSA. */
  algorithm?: SigningAlgorithm;
  accessTokenTtlSeconds?: number;
  refreshTokenTtlSeconds?: number;
  now?: Clock;
  /** Bytes. Default 64 KiB. */
  bodyLimit?: number;
  /** Bound on each call to a service. Default 5,000 ms. */
  callTimeoutMs?: number;
  rateLimit?: RateLimitOptions;
  /** Origins allowed to call from a browser (exact match). Default none: cross-origin reads are refused. */
  corsOrigins?: string[];
  /** Passed to fastify: whom to trust for X-Forwarded-For. Default false (the socket's address is the client). */
  trustProxy?: boolean | string | string[];
  /** A pino logger for request logs; default the observability logger, else none. */
  logger?: Logger | false;
  /**
   * Request logs: `slow` (default) logs one line for a 5xx answer or a request slower than
   * slowRequestMs (server faults are also logged with their error); `all` is fastify's request
   * logging (two lines per request at info); `off` only the fault lines.
   */
  requestLog?: RequestLogMode;
  /** Default 1,000 ms. */
  slowRequestMs?: number;
  /** Verified access tokens remembered until they expire (see VerifiedTokenCache); 0 turns it off. Default 10,000. */
  tokenCacheSize?: number;
  observability?: Observability;
  /** Serve /docs (swagger-ui) and /docs/json. Default true. */
  docs?: boolean;
  /** The route table under /api/v1. Default shopRoutes. */
  routes?: readonly RouteSpec[];
  /** Extra error code → status mappings (e.g. a later table's OUT_OF_STOCK: 409). */
  errorStatuses?: Record<string, number>;
  /** Set when this gateway is one of several cluster workers sharing a port (cluster-worker.ts). */
  worker?: GatewayWorkerHooks;
}

/** What a cluster worker's gateway needs from its siblings, through the primary. */
export interface GatewayWorkerHooks {
  /** This process's pid, shown in /livez so probes and tests can tell workers apart. */
  readonly pid: number;
  /** An access token was revoked here: the other workers must deny it too (their denylists are in memory). */
  publishRevocation(token: string): void;
  /** Prometheus text aggregated over every worker, for GET /metrics. */
  clusterMetrics(): Promise<{ contentType: string; text: string }>;
}

export type RequestLogMode = 'slow' | 'all' | 'off';

export interface GatewayHandle {
  readonly tokens: TokenService;
  /** Draining: /readyz answers 503 so load balancers stop sending new requests. */
  setDraining(draining: boolean): void;
  /** A sibling worker revoked this token: deny it here too, without telling anyone. */
  applyRevocation(token: string): Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    gateway: GatewayHandle;
  }
  interface FastifyContextConfig {
    /** Exempt from rate limits (health and metrics probes). */
    unlimited?: boolean;
  }
}

export async function createGateway(options: GatewayOptions): Promise<FastifyInstance> {
  if (options.caller === undefined || typeof options.caller.call !== 'function') throw new TypeError('createGateway needs a caller');
  const now = options.now ?? systemClock;
  const statuses = { ...DEFAULT_ERROR_STATUSES, ...options.errorStatuses };
  const callTimeoutMs = options.callTimeoutMs ?? 5_000;
  if (!(callTimeoutMs > 0)) throw new TypeError('callTimeoutMs must be positive');
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;

  if (options.dataDir !== undefined) await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const keyRing =
    options.keyRing ??
    (options.dataDir !== undefined
      ? await loadOrCreateKeyRing(join(options.dataDir, KEY_FILE), { alg: options.algorithm ?? 'EdDSA' })
      : KeyRing.generate({ alg: options.algorithm ?? 'EdDSA', now }));
  let ownedStore: SqliteRefreshTokenStore | undefined;
  const refreshStore =
    options.refreshStore ??
    (options.dataDir !== undefined ? (ownedStore = new SqliteRefreshTokenStore(join(options.dataDir, REFRESH_DB_FILE))) : new MemoryRefreshTokenStore());
  const verifiedTokens = new VerifiedTokenCache({ now, ...(options.tokenCacheSize !== undefined && options.tokenCacheSize > 0 ? { max: options.tokenCacheSize } : {}) });
  const issued = createTokenService({
    issuer: options.issuer ?? 'http://127.0.0.1',
    audience: options.audience ?? 'shoal-shop-api',
    keyRing,
    refreshStore,
    now,
    ...(options.accessTokenTtlSeconds !== undefined ? { accessTokenTtlSeconds: options.accessTokenTtlSeconds } : {}),
    ...(options.refreshTokenTtlSeconds !== undefined ? { refreshTokenTtlSeconds: options.refreshTokenTtlSeconds } : {}),
  });
  /** Revokes in this process only: the token store, and the verified-token cache whatever happens. */
  const revokeHere = async (token: string): Promise<boolean> => {
    try {
      return await issued.introspector.revoke(token);
    } finally {
      verifiedTokens.revoked(token);
    }
  };
  // Every revocation goes through this introspector (the revoke route, app.gateway.tokens), so
  // the verified-token cache hears of each one.
  const tokens: TokenService = {
    ...issued,
    introspector: {
      ...issued.introspector,
      revoke: async (token: string) => {
        const revoked = await revokeHere(token);
        // Refresh tokens live in the shared SQLite file; only an access token's jti is per process.
        if (revoked && token.includes('.')) options.worker?.publishRevocation(token);
        return revoked;
      },
    },
  };

  const logger = options.logger === false ? undefined : (options.logger ?? options.observability?.logger);
  const sendMapped = (request: FastifyRequest, reply: FastifyReply, mapped: MappedError, err: unknown): void => {
    if (mapped.serverFault) request.log.error({ err }, 'request failed');
    reply.code(mapped.status).headers(mapped.headers);
    if (request.routeOptions?.config?.oauth === true) {
      reply.header('cache-control', 'no-store');
      void reply.send(toOAuthError(mapped));
    } else {
      void reply.send(mapped.body);
    }
  };

  const requestLog = options.requestLog ?? 'slow';
  const slowRequestMs = options.slowRequestMs ?? 1_000;
  if (!(slowRequestMs >= 0)) throw new TypeError('slowRequestMs must be >= 0');
  const app = Fastify({
    ...(logger !== undefined ? { loggerInstance: logger as FastifyBaseLogger } : { logger: false }),
    // Two synchronous log lines per request cost more than the rest of a cached GET.
    logController: new LogController({ disableRequestLogging: requestLog !== 'all' }),
    // A request's child logger is made when it first writes a line (most never do).
    ...(logger !== undefined ? { childLoggerFactory: lazyChildLoggerFactory } : {}),
    bodyLimit,
    trustProxy: options.trustProxy ?? false,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    requestIdHeader: false,
    routerOptions: { maxParamLength: 256 },
    frameworkErrors: (err, request, reply) => sendMapped(request, reply, mapError(err, statuses), err),
    clientErrorHandler: (_err, socket: Socket) => {
      // Unparseable HTTP: answer once in our shape, then close (no request object exists).
      if (socket.writable) {
        const body = JSON.stringify({ error: { code: 'INVALID_ARGUMENT', message: 'malformed HTTP request' } });
        socket.end(`HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      } else {
        socket.destroy();
      }
    },
  });

  app.setValidatorCompiler(zodValidatorCompiler);
  app.setSerializerCompiler(jsonSerializerCompiler);
  app.decorateRequest('identity', null);

  let draining = false;
  app.decorate('gateway', {
    tokens,
    setDraining(value: boolean) {
      draining = value;
      options.observability?.health.setDraining(value);
    },
    async applyRevocation(token: string) {
      await revokeHere(token);
    },
  } satisfies GatewayHandle);

  installBodyParsers(app);
  app.setErrorHandler((err, request, reply) => sendMapped(request, reply, mapError(err, statuses), err));
  app.setNotFoundHandler((request, reply) => sendMapped(request, reply, mapError(new HttpError(404, 'NOT_FOUND', 'no such route')), undefined));

  installTelemetry(app, options.observability, requestLog === 'slow' && logger !== undefined ? { slowRequestMs } : undefined);
  await app.register(cors, {
    // A function, not a list, so a refused origin gets no CORS headers at all (and no 5xx).
    origin: (origin, cb) => cb(null, origin !== undefined && (options.corsOrigins ?? []).includes(origin)),
    methods: ['GET', 'HEAD', 'POST', 'PATCH', 'DELETE', 'OPTIONS'],
    allowedHeaders: ['authorization', 'content-type', 'idempotency-key', 'traceparent'],
    exposedHeaders: ['retry-after', 'www-authenticate', 'x-ratelimit-limit', 'x-ratelimit-remaining'],
    credentials: false,
    maxAge: 600,
  });
  const limits = createRateLimiters(options.rateLimit ?? {});
  const authenticate = authHook(tokens, options.tokenCacheSize === 0 ? undefined : verifiedTokens);
  // Not async: the limits are synchronous, and a public route needs no token, so most requests
  // pass this hook without a promise.
  app.addHook('onRequest', (request, reply, done) => {
    if (request.routeOptions.config?.unlimited === true) {
      done();
      return;
    }
    try {
      limits.byIp(request, reply);
    } catch (err) {
      done(err as Error);
      return;
    }
    if ((request.routeOptions.config?.auth ?? 'public') === 'public') {
      done();
      return;
    }
    authenticate(request).then(
      () => {
        try {
          limits.byUser(request, reply);
        } catch (err) {
          done(err as Error);
          return;
        }
        done();
      },
      (err: unknown) => done(err as Error),
    );
  });

  if (options.docs !== false) {
    await app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: { title: 'Shoal shop API', version: '1.0.0', description: 'The shop through the Shoal gateway. Money is in integer cents.' },
        components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      },
      transform: ({ schema, url }) => openApiTransform({ schema: schema as Record<string, unknown> | undefined, url }),
    });
    await app.register(swaggerUi, { routePrefix: '/docs' });
  }

  const host: RouteHost = { context: (request) => routeContext(request, options.caller, callTimeoutMs) };
  registerOAuthRoutes(app, API_PREFIX, tokens, host);
  registerRoutes(app, API_PREFIX, options.routes ?? shopRoutes, host);
  registerProbes(app, options.observability, () => draining, options.worker);

  const prune = setInterval(() => {
    refreshStore.deleteExpired(now()).catch((err: unknown) => app.log.warn({ err }, 'pruning expired refresh tokens failed'));
  }, 3_600_000);
  prune.unref();
  app.addHook('onClose', async () => {
    clearInterval(prune);
    ownedStore?.close();
  });
  return app;
}

function routeContext(request: FastifyRequest, caller: Caller, callTimeoutMs: number): RouteContext {
  const auth = request.identity;
  return {
    auth,
    headers: request.headers,
    call<T>(action: string, params: unknown, callOptions: CallOptions = {}): Promise<T> {
      const meta: Record<string, unknown> = {};
      if (auth !== null) meta.auth = { sub: auth.sub, role: auth.role };
      if (request.traceparent !== undefined) meta.traceparent = request.traceparent;
      if (callOptions.meta !== undefined) Object.assign(meta, callOptions.meta);
      // Copied key by key: an object spread followed by more keys is a slow path in V8 (µs per call).
      const options: CallOptions = {};
      for (const key in callOptions) if (Object.prototype.hasOwnProperty.call(callOptions, key)) (options as Record<string, unknown>)[key] = callOptions[key as keyof CallOptions];
      options.timeoutMs = Math.min(callOptions.timeoutMs ?? callTimeoutMs, callTimeoutMs);
      options.meta = meta;
      return caller.call<T>(action, params, options);
    },
  };
}

function installBodyParsers(app: FastifyInstance): void {
  // Only JSON and (for OAuth clients) forms: anything else is a 415, not a string for the handler.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    const out: Record<string, string> = Object.create(null) as Record<string, string>;
    for (const [key, value] of new URLSearchParams(body as string)) {
      // RFC 6749 section 3.2: request parameters must not be repeated.
      if (key in out) return done(new HttpError(400, 'INVALID_ARGUMENT', 'a form parameter is repeated'), undefined);
      out[key] = value;
    }
    done(null, out);
  });
}

function registerProbes(app: FastifyInstance, obs: Observability | undefined, draining: () => boolean, worker: GatewayWorkerHooks | undefined): void {
  const config = { auth: 'public' as const, unlimited: true };
  const schema = { hide: true };
  if (worker !== undefined) {
    // A cluster worker: /livez names the process (nothing else does), /metrics covers all workers.
    app.get('/livez', { config, schema }, async () => ({ status: 'ok', pid: worker.pid }));
    app.get('/metrics', { config, schema }, async (_request, reply) => {
      const { contentType, text } = await worker.clusterMetrics();
      return reply.type(contentType).send(text);
    });
  }
  if (obs !== undefined) {
    // The same admin endpoints every instance serves, answered on the raw response.
    const admin = adminRequestHandler(obs);
    for (const path of ADMIN_PATHS) {
      if (worker !== undefined && (path === '/livez' || path === '/metrics')) continue;
      app.get(path, { config, schema }, async (request, reply) => {
        reply.hijack();
        if (!admin(request.raw, reply.raw)) throw new Error(`assertion: the admin handler serves ${path}`);
      });
    }
    return;
  }
  if (worker === undefined) app.get('/livez', { config, schema }, async () => ({ status: 'ok' }));
  app.get('/readyz', { config, schema }, async (_request, reply) => {
    reply.code(draining() ? 503 : 200);
    return { status: draining() ? 'unavailable' : 'ok', checks: {} };
  });
}
