// The registry: writes this process's instances (registration.ts) and hands out watched views
// (view.ts), over one etcd3 client configured by recipes' createCoordClient, so it runs on
// Shoal's coordinator and on real etcd alike.
import type { Etcd3 } from 'etcd3';
import pino, { type Logger } from 'pino';
import { createCoordClient } from '../recipes/index.js';
import { completeRecord, type RegisterInput } from './record.js';
import { InstanceRegistration, type ActiveRegistration } from './registration.js';
import { startView, type WatchedServiceView, type WatchViewOptions } from './view.js';

export interface RegistryOptions {
  /** An etcd3 client (the registry does not close it). Give this or `endpoints`. */
  client?: Etcd3;
  /** Client URLs of the coordinator or etcd; the registry makes its own client and closes it. */
  endpoints?: string | string[];
  /** Default lease TTL of registrations, in whole seconds (>= 1). Default 3. */
  ttlSeconds?: number;
  logger?: Logger;
}

export interface RegisterOptions {
  /** Lease TTL in whole seconds: a killed instance leaves every view within about this long. */
  ttlSeconds?: number;
}

export interface Registry {
  /** Validates (TypeError on bad input), fills defaults, writes the record under a new lease. */
  register(input: RegisterInput, opts?: RegisterOptions): Promise<ActiveRegistration>;
  /** A view of every registered instance; resolves once the initial listing is loaded. */
  watchView(opts?: WatchViewOptions): Promise<WatchedServiceView>;
  /** Deregisters this registry's live registrations, closes its views (and its own client). */
  close(): Promise<void>;
}

export const DEFAULT_TTL_SECONDS = 3;

export function createRegistry(options: RegistryOptions): Registry {
  if ((options.client === undefined) === (options.endpoints === undefined)) {
    throw new TypeError('createRegistry: give exactly one of `client` or `endpoints`');
  }
  const ttl = options.ttlSeconds ?? DEFAULT_TTL_SECONDS;
  checkTtl(ttl);
  const owned = options.client === undefined;
  const client = options.client ?? createCoordClient(options.endpoints!);
  const logger = options.logger ?? pino({ name: 'shoal-discovery' }, pino.destination({ fd: 2, sync: true }));
  const registrations = new Set<InstanceRegistration>();
  const views = new Set<WatchedServiceView>();
  let closed = false;

  const assertOpen = (): void => {
    if (closed) throw new Error('registry is closed');
  };

  return {
    async register(input, opts = {}) {
      assertOpen();
      const ttlSeconds = opts.ttlSeconds ?? ttl;
      checkTtl(ttlSeconds);
      const record = completeRecord(input);
      const registration = await InstanceRegistration.create(client, logger, record, ttlSeconds, (r) => registrations.delete(r));
      registrations.add(registration);
      return registration;
    },
    async watchView(opts) {
      assertOpen();
      const view = await startView(client, logger, opts);
      const close = view.close.bind(view);
      views.add(view);
      view.close = async () => {
        views.delete(view);
        await close();
      };
      return view;
    },
    async close() {
      if (closed) return;
      closed = true;
      const results = await Promise.allSettled([
        ...[...registrations].map((r) => r.deregister()),
        ...[...views].map((v) => v.close()),
      ]);
      if (owned) client.close();
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed.length > 0) throw new AggregateError(failed.map((f) => f.reason as unknown), 'registry close: some deregistrations failed');
    },
  };
}

function checkTtl(ttl: number): void {
  if (!Number.isInteger(ttl) || ttl < 1) throw new TypeError(`ttlSeconds must be an integer >= 1, got ${ttl}`);
}
