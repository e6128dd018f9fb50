// What `shoal up` runs besides the coordinators: the shop's services (two instances each by
// default) and the gateway, as supervisor children. Entry files are found next to this file, so the
// same code works from dist/ (node) and from src/ (tsx, in tests).
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildSpec } from './supervisor.js';

export interface ServiceSpec {
  service: string;
  /** Entry file relative to src/ (or dist/), without extension. */
  entry: string;
  instances: number;
}

export const SHOP_SERVICES: readonly ServiceSpec[] = [
  { service: 'users', entry: 'shop/users/main', instances: 2 },
  { service: 'goods', entry: 'shop/goods/main', instances: 2 },
  { service: 'orders', entry: 'shop/orders/main', instances: 2 },
];

/** Local defaults for the first admin account; override with SHOP_ADMIN_EMAIL / SHOP_ADMIN_PASSWORD. */
export const DEFAULT_ADMIN_EMAIL = 'admin@shop.local';
export const DEFAULT_ADMIN_PASSWORD = 'shoal-admin-local';

/** The line a service instance prints once it is registered and ready (src/runtime's runFromEnv): `ready <instanceId> <urls>`. */
export const INSTANCE_READY_LINE = /^ready \S+ /m;
/** The line the gateway prints once it listens. */
export const GATEWAY_READY_LINE = /^gateway listening on /m;

const here = fileURLToPath(import.meta.url);
const ext = extname(here); // '.ts' under tsx, '.js' when built

export function entryFile(entry: string): string {
  return join(here, '..', '..', `${entry}${ext}`);
}

export interface TopologyContext {
  dataDir: string;
  logDir: string;
  coordEndpoints: string;
  gatewayPort: number;
}

export function instanceName(service: string, n: number): string {
  return `${service}-${n}`;
}

export function serviceChild(spec: ServiceSpec, n: number, ctx: TopologyContext): ChildSpec {
  const name = instanceName(spec.service, n);
  return {
    name,
    command: process.execPath,
    args: [...process.execArgv, entryFile(spec.entry)],
    env: {
      ...process.env,
      SHOAL_COORD: ctx.coordEndpoints,
      SHOAL_DATA_DIR: join(ctx.dataDir, 'services', spec.service),
      SHOAL_HOST: '127.0.0.1',
      SHOAL_PORT: '0',
      SHOAL_INSTANCE_NAME: name,
    },
    logFile: join(ctx.logDir, `${name}.log`),
    readyLine: INSTANCE_READY_LINE,
  };
}

export function gatewayChild(ctx: TopologyContext): ChildSpec {
  return {
    name: 'gateway',
    command: process.execPath,
    args: [...process.execArgv, entryFile('gateway/main')],
    env: {
      ...process.env,
      SHOAL_COORD: ctx.coordEndpoints,
      SHOAL_DATA_DIR: join(ctx.dataDir, 'gateway'),
      SHOAL_HOST: '127.0.0.1',
      SHOAL_GATEWAY_PORT: String(ctx.gatewayPort),
      SHOP_ADMIN_EMAIL: process.env.SHOP_ADMIN_EMAIL ?? DEFAULT_ADMIN_EMAIL,
      SHOP_ADMIN_PASSWORD: process.env.SHOP_ADMIN_PASSWORD ?? DEFAULT_ADMIN_PASSWORD,
    },
    logFile: join(ctx.logDir, 'gateway.log'),
    readyLine: GATEWAY_READY_LINE,
  };
}
