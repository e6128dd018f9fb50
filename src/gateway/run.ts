// Running the gateway as a process: configuration from the environment, the first admin account
// (users.ensureAdmin, retried while the users service is still starting), listen, drain.
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { isShoalError } from '../errors/index.js';
import { createObservability, type Observability } from '../observe/index.js';
import { connectBroker, readTraceSampleRatio, type Caller } from '../runtime/index.js';
import { brokerCaller } from './broker-caller.js';
import { createGateway, type GatewayOptions, type RequestLogMode } from './gateway.js';

/** Local-only default admin account (the same as `shoal up`'s); set SHOP_ADMIN_* for anything shared. */
export const DEFAULT_ADMIN_EMAIL = 'admin@shop.local';
export const DEFAULT_ADMIN_PASSWORD = 'shoal-admin-local';
export const DEFAULT_GATEWAY_PORT = 8080;

export interface GatewayEnv {
  coord: string;
  dataDir: string | undefined;
  host: string;
  port: number;
  issuer: string;
  admin: { email: string; password: string; name: string };
  corsOrigins: string[];
  trustProxy: boolean;
  logLevel: string | undefined;
  /** Bound on waiting for the users service at start. */
  adminWaitMs: number;
  /** Bound on draining at SIGTERM. */
  drainMs: number;
  /** SHOAL_GATEWAY_RATE_MAX / SHOAL_GATEWAY_USER_RATE_MAX: requests per minute per client IP / per user. */
  rateLimit: { max?: number; userMax?: number };
  /** SHOAL_GATEWAY_REQUEST_LOG: `slow` (default: 5xx and slow requests), `all` (fastify's two lines per request) or `off`. */
  requestLog: RequestLogMode;
  /** SHOAL_GATEWAY_SLOW_REQUEST_MS: a request at least this slow is logged in `slow` mode. Default 1,000. */
  slowRequestMs: number;
  /** SHOAL_TRACE_SAMPLE_RATIO: share of new traces recorded, 0..1 (default 1). */
  traceSampleRatio: number | undefined;
}

const REQUEST_LOG_MODES: readonly RequestLogMode[] = ['slow', 'all', 'off'];

export function readGatewayEnv(env: NodeJS.ProcessEnv = process.env): GatewayEnv {
  const coord = env.SHOAL_COORD?.trim();
  if (coord === undefined || coord === '') throw new TypeError('SHOAL_COORD is not set (e.g. 127.0.0.1:8090,127.0.0.1:8092 or etcd://h1:2379)');
  const portText = env.SHOAL_GATEWAY_PORT ?? env.PORT ?? String(DEFAULT_GATEWAY_PORT);
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port > 65535) throw new TypeError(`SHOAL_GATEWAY_PORT / PORT: expected a port (0 = any), got "${portText}"`);
  const host = env.SHOAL_HOST ?? '127.0.0.1';
  const ms = (name: string, fallback: number): number => {
    const text = env[name];
    if (text === undefined || text === '') return fallback;
    if (!/^\d{1,9}$/.test(text)) throw new TypeError(`${name}: expected milliseconds, got "${text}"`);
    return Number(text);
  };
  const perMinute = (name: string): number | undefined => {
    const text = env[name];
    if (text === undefined || text === '') return undefined;
    if (!/^\d{1,12}$/.test(text) || Number(text) < 1) throw new TypeError(`${name}: expected requests per minute (a positive integer), got "${text}"`);
    return Number(text);
  };
  const rateMax = perMinute('SHOAL_GATEWAY_RATE_MAX');
  const userRateMax = perMinute('SHOAL_GATEWAY_USER_RATE_MAX');
  const requestLog = (env.SHOAL_GATEWAY_REQUEST_LOG || 'slow') as RequestLogMode;
  if (!REQUEST_LOG_MODES.includes(requestLog)) throw new TypeError(`SHOAL_GATEWAY_REQUEST_LOG: expected ${REQUEST_LOG_MODES.join(', ')}, got "${requestLog}"`);
  return {
    coord,
    dataDir: env.SHOAL_DATA_DIR === undefined || env.SHOAL_DATA_DIR === '' ? undefined : env.SHOAL_DATA_DIR,
    host,
    port,
    // Tokens name their issuer; a stable one keeps them valid across restarts on the same address.
    issuer: env.SHOAL_GATEWAY_ISSUER ?? `http://${host.includes(':') ? `[${host}]` : host}${port === 0 ? '' : `:${port}`}`,
    admin: {
      email: env.SHOP_ADMIN_EMAIL || DEFAULT_ADMIN_EMAIL,
      password: env.SHOP_ADMIN_PASSWORD || DEFAULT_ADMIN_PASSWORD,
      name: env.SHOP_ADMIN_NAME || 'Shop admin',
    },
    corsOrigins: (env.SHOAL_CORS_ORIGINS ?? '').split(',').map((s) => s.trim()).filter((s) => s !== ''),
    trustProxy: env.SHOAL_TRUST_PROXY === '1' || env.SHOAL_TRUST_PROXY === 'true',
    logLevel: env.SHOAL_LOG_LEVEL,
    adminWaitMs: ms('SHOAL_GATEWAY_ADMIN_WAIT_MS', 60_000),
    drainMs: ms('SHOAL_GATEWAY_DRAIN_MS', 10_000),
    rateLimit: { ...(rateMax !== undefined ? { max: rateMax } : {}), ...(userRateMax !== undefined ? { userMax: userRateMax } : {}) },
    requestLog,
    slowRequestMs: ms('SHOAL_GATEWAY_SLOW_REQUEST_MS', 1_000),
    traceSampleRatio: readTraceSampleRatio(env),
  };
}

/** Codes that mean "the users service is not there (yet)": worth waiting for. */
const NOT_YET = new Set(['UNAVAILABLE', 'NO_ENDPOINT', 'DEADLINE_EXCEEDED', 'CIRCUIT_OPEN', 'BULKHEAD_REJECTED']);

/**
 * users.ensureAdmin, retried with backoff while the users service is unreachable, at most
 * `waitMs`. Any other failure (a refused password, say) ends the wait at once.
 */
export async function ensureAdmin(
  caller: Caller,
  admin: GatewayEnv['admin'],
  options: { waitMs: number; logger: Pick<Logger, 'info' | 'warn'>; sleep?: (ms: number) => Promise<void>; now?: () => number },
): Promise<void> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = options.now ?? Date.now;
  const until = now() + options.waitMs;
  let delay = 250;
  for (let attempt = 1; ; attempt++) {
    try {
      const user = await caller.call<{ id: string }>('users.ensureAdmin', admin, { timeoutMs: 5_000 });
      options.logger.info({ attempt, userId: user.id, email: admin.email }, 'admin account ensured');
      return;
    } catch (err) {
      const code = isShoalError(err) ? err.code : 'INTERNAL';
      if (!NOT_YET.has(code)) throw new Error(`users.ensureAdmin failed: ${code}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      const left = until - now();
      if (left <= 0) throw new Error(`users service not reachable after ${options.waitMs} ms (${attempt} attempts, last: ${code})`, { cause: err });
      options.logger.warn({ attempt, code, retryInMs: Math.min(delay, left) }, 'waiting for the users service to ensure the admin account');
      await sleep(Math.min(delay, left));
      delay = Math.min(delay * 2, 2_000);
    }
  }
}

export interface RunningGateway {
  app: FastifyInstance;
  url: string;
  observability: Observability;
  /** Drains (readiness off, in-flight requests finish) and stops; bounded by drainMs. */
  stop(): Promise<void>;
}

/** Starts a gateway from the environment's configuration. `overrides` are for tests. */
export async function startGatewayFromEnv(config: GatewayEnv, overrides: Partial<GatewayOptions> = {}): Promise<RunningGateway> {
  const instanceId = `gateway-${process.pid}`;
  const observability = createObservability({
    service: 'gateway',
    instanceId,
    ...(config.logLevel !== undefined ? { logLevel: config.logLevel } : {}),
    ...(config.traceSampleRatio !== undefined ? { traceSampleRatio: config.traceSampleRatio } : {}),
  });
  const logger = observability.logger;
  logger.info({ coord: config.coord, dataDir: config.dataDir }, 'gateway starting');
  const broker = await connectBroker({ coord: config.coord, observability, name: 'gateway' });
  const caller = brokerCaller(broker);
  let app: FastifyInstance | undefined;
  try {
    app = await createGateway({
      caller,
      ...(config.dataDir !== undefined ? { dataDir: config.dataDir } : {}),
      issuer: config.issuer,
      corsOrigins: config.corsOrigins,
      trustProxy: config.trustProxy,
      observability,
      logger,
      ...(config.rateLimit.max !== undefined || config.rateLimit.userMax !== undefined ? { rateLimit: config.rateLimit } : {}),
      requestLog: config.requestLog,
      slowRequestMs: config.slowRequestMs,
      ...overrides,
    });
    await ensureAdmin(caller, config.admin, { waitMs: config.adminWaitMs, logger });
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    await app?.close();
    await broker.close();
    await observability.shutdown();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  const shown = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${shown}:${port}`;
  const running = app;
  let stopping: Promise<void> | undefined;
  return {
    app: running,
    url,
    observability,
    stop: () =>
      (stopping ??= (async () => {
        running.gateway.setDraining(true);
        logger.info('gateway draining');
        const timer = setTimeout(() => {
          logger.error({ drainMs: config.drainMs }, 'drain took too long; exiting');
          process.exit(1);
        }, config.drainMs);
        timer.unref();
        try {
          await running.close();
          await broker.close();
        } finally {
          clearTimeout(timer);
          logger.info('gateway stopped');
          await observability.shutdown();
        }
      })()),
  };
}

/** The process: start, print the listening line, stop on SIGTERM / SIGINT. */
export async function runGatewayFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<RunningGateway> {
  const gateway = await startGatewayFromEnv(readGatewayEnv(env));
  process.stdout.write(`gateway listening on ${gateway.url}\n`);
  stopOnSignals(gateway);
  return gateway;
}

/** SIGTERM / SIGINT: drain, then exit 0 (1 if stopping failed). */
export function stopOnSignals(gateway: Pick<RunningGateway, 'stop'>): void {
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`gateway: ${signal}, draining\n`);
    gateway.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`gateway: stop failed: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}
