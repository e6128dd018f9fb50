// Process entry: `runFromEnv([goods])` in a service's main file. Reads the environment, starts
// the host, prints `ready <instanceId> <url> <url>…` on stdout once registered and ready (the
// supervisor of `shoal up` waits for that line), and stops gracefully on SIGTERM / SIGINT.
import { createRegistry } from '../discovery/index.js';
import { createObservability } from '../observe/index.js';
import { startServices, type HostOptions, type ServiceHost } from './host.js';
import { newInstanceSuffix } from './names.js';
import type { ServiceDefinition } from './types.js';

/**
 * SHOAL_COORD → client URLs. `127.0.0.1:8090,127.0.0.1:8092` (Shoal's coordinator),
 * `etcd://h1:2379,h2:2379` (etcd; same wire API), or full `http(s)://` URLs.
 */
export function parseCoordEndpoints(value: string): string[] {
  let rest = value.trim();
  let scheme = 'http://';
  const m = /^(etcd|etcds|shoal):\/\//.exec(rest);
  if (m !== null) {
    if (m[1] === 'etcds') scheme = 'https://';
    rest = rest.slice(m[0].length);
  }
  const endpoints = rest
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => (/^https?:\/\//.test(s) ? s : scheme + s));
  if (endpoints.length === 0) throw new TypeError(`SHOAL_COORD: no endpoints in "${value}"`);
  for (const e of endpoints) {
    const url = new URL(e);
    if (url.hostname === '' || url.port === '') throw new TypeError(`SHOAL_COORD: "${e}" needs a host and a port`);
  }
  return endpoints;
}

export interface EnvConfig {
  coord: string[];
  host: string;
  port: number;
  dataDir: string | undefined;
  logLevel: string | undefined;
  /** SHOAL_TRACE_SAMPLE_RATIO: share of new traces recorded, 0..1 (default 1). */
  traceSampleRatio?: number | undefined;
}

/** SHOAL_TRACE_SAMPLE_RATIO, validated; undefined when unset. */
export function readTraceSampleRatio(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env.SHOAL_TRACE_SAMPLE_RATIO;
  if (raw === undefined || raw.trim() === '') return undefined;
  const ratio = Number(raw);
  if (!(ratio >= 0 && ratio <= 1)) throw new TypeError(`SHOAL_TRACE_SAMPLE_RATIO: expected a number in [0, 1], got "${raw}"`);
  return ratio;
}

export function readEnv(env: NodeJS.ProcessEnv = process.env): EnvConfig {
  const coord = env.SHOAL_COORD;
  if (coord === undefined || coord.trim() === '') throw new TypeError('SHOAL_COORD is not set (e.g. 127.0.0.1:8090,127.0.0.1:8092 or etcd://h1:2379)');
  const port = Number(env.SHOAL_PORT ?? '0');
  if (!Number.isInteger(port) || port < 0 || port > 65533) throw new TypeError(`SHOAL_PORT: expected a port (0 = any), got "${env.SHOAL_PORT}"`);
  return {
    coord: parseCoordEndpoints(coord),
    host: env.SHOAL_HOST ?? '127.0.0.1',
    port,
    dataDir: env.SHOAL_DATA_DIR === undefined || env.SHOAL_DATA_DIR === '' ? undefined : env.SHOAL_DATA_DIR,
    logLevel: env.SHOAL_LOG_LEVEL,
    traceSampleRatio: readTraceSampleRatio(env),
  };
}

/** The line printed on stdout once every service is registered and ready. */
export function readyLine(host: Pick<ServiceHost, 'instanceId' | 'urls'>): string {
  return `ready ${host.instanceId} ${host.urls.join(' ')}`;
}

export async function runFromEnv(definitions: readonly ServiceDefinition[], overrides: Partial<HostOptions> = {}): Promise<ServiceHost> {
  const config = readEnv();
  if (definitions.length === 0) throw new TypeError('runFromEnv: no services');
  // One observability for the process, made here so discovery logs through it too.
  const instanceSuffix = overrides.instanceSuffix ?? newInstanceSuffix();
  const observability = createObservability({
    service: definitions.map((d) => d.name).join('+'),
    instanceId: `${definitions[0]!.name}-${instanceSuffix}`,
    logLevel: config.logLevel,
    traceSampleRatio: config.traceSampleRatio,
  });
  const registry = createRegistry({ endpoints: config.coord, logger: observability.logger });
  let host: ServiceHost;
  try {
    const view = await registry.watchView();
    host = await startServices(definitions, {
      host: config.host,
      port: config.port,
      dataDir: config.dataDir,
      observability,
      instanceSuffix,
      ...overrides,
      view,
      registry,
    });
  } catch (err) {
    await registry.close().catch(() => undefined);
    await observability.shutdown();
    throw err;
  }
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    host.observability.logger.info({ signal }, 'stopping');
    void host
      .stop()
      .then(() => registry.close())
      .then(() => observability.shutdown())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          host.observability.logger.error({ err }, 'graceful stop failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.stdout.write(readyLine(host) + '\n');
  return host;
}
