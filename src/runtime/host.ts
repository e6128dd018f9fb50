// The service host: one process serving one or more services. Start: observability → listen →
// `started` hooks → register (ready: false) → ready: true → push outboxes. Stop: not ready and
// deregistered → a grace period for every view to drop us → outbox dispatchers stop → transport
// drain (in-flight calls finish, late arrivals get a retryable UNAVAILABLE and go elsewhere) →
// `stopped` hooks → close.
import type { InstanceRecord, Registration, ServiceView } from '../discovery/types.js';
import { createObservability, serveAdmin, type AdminServer } from '../observe/index.js';
import type { Observability } from '../observe/types.js';
import { createTransportClient, createTransportServer, type DrainReport, type TransportClient, type TransportServer } from '../transport/index.js';
import type { ContextScope } from './context.js';
import { Dispatcher, type HostedService } from './dispatch.js';
import { ServiceEvents, type EventsPolicy } from './events.js';
import { newInstanceSuffix } from './names.js';
import { CallPipeline, META_IDEMPOTENT, META_STRATEGY, type PipelinePolicy } from './pipeline.js';
import type { CallOptions, Caller, EmitOptions, ServiceDefinition, ServiceHandle } from './types.js';
import type { AnyKysely } from './types.js';

/** What the host needs of discovery's registry (createRegistry's Registry fits). */
export interface RegistryLike {
  register(record: InstanceRecord, options?: { ttlSeconds?: number }): Promise<Registration>;
}

export interface HostOptions {
  /** The watched view calls are routed by (discovery's `registry.watchView()`). */
  view: ServiceView;
  /** Where instances are registered; without one nothing is registered (callers must find us otherwise). */
  registry?: RegistryLike;
  /** Default: createObservability for this process (closed by stop). */
  observability?: Observability;
  logLevel?: string;
  /** Listen address, also written into the records. Default 127.0.0.1. */
  host?: string;
  /** TCP transport port; HTTP listens on port+1 and admin on port+2. 0 (default): any free ports. */
  port?: number;
  /** Serve /livez, /readyz, /metrics on their own port (the HTTP transport answers POST only). Default on. */
  admin?: boolean;
  /** SHOAL_DATA_DIR: services keep their SQLite files here; runtime-owned outboxes too. */
  dataDir?: string;
  /** Instance id suffix (`<service>-<suffix>`); random by default. */
  instanceSuffix?: string;
  leaseTtlSeconds?: number;
  weight?: number;
  policy?: PipelinePolicy;
  events?: EventsPolicy;
  drain?: {
    /** After deregistering, how long other views get to drop us before draining. Default 1000 ms. */
    graceMs?: number;
    /** Bound on answering what is in flight. Default 10 s. */
    timeoutMs?: number;
  };
  /** Default: a fresh TCP + HTTP client (closed by stop). */
  transportClient?: TransportClient;
}

export interface ServiceHost extends Caller {
  /** The first service's instance id (the process's identity in logs and spans). */
  readonly instanceId: string;
  /** One registered record per service, in the order given. */
  readonly records: readonly InstanceRecord[];
  readonly urls: readonly string[];
  readonly adminUrl: string | undefined;
  readonly observability: Observability;
  readonly pipeline: CallPipeline;
  /** Emits as `service` would (default: the first hosted service). */
  emit(event: string, payload: unknown, options?: EmitOptions & { service?: string }): Promise<void>;
  /** Graceful stop (idempotent): the drain report of the transport. */
  stop(): Promise<DrainReport>;
  /**
   * Stops at once, as a crash would: listeners closed with calls in flight unanswered, no
   * deregistration (the lease runs out; `abandon()` is used when the registration has one), no
   * hooks. For tests and fatal errors.
   */
  abort(): Promise<void>;
}

export async function startServices(definitions: readonly ServiceDefinition[], options: HostOptions): Promise<ServiceHost> {
  if (definitions.length === 0) throw new TypeError('startServices: no services');
  const names = definitions.map((d) => d.name);
  if (new Set(names).size !== names.length) throw new TypeError(`startServices: a service is listed twice (${names.join(', ')})`);
  const suffix = options.instanceSuffix ?? newInstanceSuffix();
  const ids = names.map((n) => `${n}-${suffix}`);
  const instanceId = ids[0]!;
  const listenHost = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;
  const ownsObs = options.observability === undefined;
  const obs = options.observability ?? createObservability({ service: names.join('+'), instanceId, logLevel: options.logLevel });
  const logger = obs.logger;
  const now = (): number => performance.now();
  const transport = options.transportClient ?? createTransportClient();
  const pipeline = new CallPipeline({ view: options.view, transport, observability: obs, callerId: instanceId, policy: options.policy });
  const hardStop = new AbortController();

  const hosted: HostedService[] = definitions.map((definition, i) => {
    const serviceLogger = logger.child({ service: definition.name });
    const events = new ServiceEvents({ service: definition.name, dataDir: options.dataDir, view: options.view, pipeline, logger: serviceLogger, policy: options.events });
    const scope: ContextScope = { instanceId: ids[i]!, logger: serviceLogger, pipeline, emitter: events, now, hostSignal: hardStop.signal };
    return { definition, scope, events };
  });
  const dispatcher = new Dispatcher(hosted, obs, now);

  let server: TransportServer | undefined;
  let admin: AdminServer | undefined;
  const registrations: Registration[] = [];
  const cleanup = async (): Promise<void> => {
    hardStop.abort();
    pipeline.close();
    await Promise.allSettled([server?.close(), admin?.close(), ...hosted.map((h) => h.events.stop().then(() => h.events.close())), ...registrations.map((r) => r.deregister())]);
    if (options.transportClient === undefined) await transport.close();
    if (ownsObs) await (obs as { shutdown?: () => Promise<void> }).shutdown?.();
  };

  const records: InstanceRecord[] = [];
  try {
    server = await createTransportServer({
      instanceId,
      host: listenHost,
      handler: dispatcher.handle,
      onError: (err) => logger.warn({ err }, 'transport error'),
      tcp: { port },
      http: { port: port === 0 ? 0 : port + 1 },
    });
    if (options.admin !== false) admin = await serveAdmin(obs, { host: listenHost, port: port === 0 ? 0 : port + 2 });

    for (const h of hosted) {
      const hook = h.definition.schema.started;
      if (hook !== undefined) await hook(serviceHandle(h, options.dataDir));
      // Opens the runtime-owned event store now if the hook declared no database.
      await h.events.database();
    }

    const startedAt = new Date().toISOString();
    for (const [i, h] of hosted.entries()) {
      const schema = h.definition.schema;
      const metadata: Record<string, string> = { ...schema.metadata };
      if (schema.strategy !== undefined) metadata[META_STRATEGY] = schema.strategy;
      const idempotent = Object.entries(schema.actions)
        .filter(([, a]) => a.idempotent === true)
        .map(([name]) => name);
      if (idempotent.length > 0) metadata[META_IDEMPOTENT] = idempotent.join(',');
      const record: InstanceRecord = {
        id: ids[i]!,
        service: schema.name,
        version: schema.version,
        urls: server.urls,
        ...(admin === undefined ? {} : { adminUrl: admin.url }),
        host: listenHost,
        pid: process.pid,
        actions: Object.keys(schema.actions).map((a) => `${schema.name}.${a}`),
        events: Object.keys(schema.events ?? {}),
        ...(options.weight === undefined ? {} : { weight: options.weight }),
        metadata,
        ready: false,
        startedAt,
      };
      records.push(record);
      if (options.registry !== undefined) registrations.push(await options.registry.register(record, { ttlSeconds: options.leaseTtlSeconds }));
    }
    // Readiness gate: registered as not ready first, so nothing routes here before the flip.
    let ready = false;
    obs.health.addReadinessCheck('registered', () => ready);
    await Promise.all(registrations.map((r) => r.update({ ready: true })));
    ready = true;
    for (const h of hosted) await h.events.start();
  } catch (err) {
    logger.error({ err }, 'start failed');
    await cleanup();
    throw err;
  }

  const srv = server;
  const readyRecords = records.map((r) => ({ ...r, ready: true }));
  let stopping: Promise<DrainReport> | undefined;

  const stop = async (): Promise<DrainReport> => {
    obs.health.setDraining(true);
    const graceMs = options.drain?.graceMs ?? 1000;
    // 1. Out of every view: deregister (the record and its lease go; watchers see 'down').
    await Promise.all(
      registrations.map((r) =>
        r.deregister().catch((err: unknown) => {
          logger.warn({ err }, 'deregistration failed; the lease will expire');
        }),
      ),
    );
    // 2. Our own view dropping us shows the deletion is out; others see it about as fast. The
    //    grace then covers callers that picked us just before their view changed.
    await untilView(options.view, () => ids.every((id) => options.view.get(id)?.ready !== true), Math.max(graceMs, 5_000));
    await sleep(graceMs);
    // 3. No more pushes from here: pending events stay in the outbox for the next instance.
    await Promise.all(hosted.map((h) => h.events.stop()));
    // 4. Finish in-flight calls; late arrivals get a retryable UNAVAILABLE.
    const report = await srv.drain({ timeoutMs: options.drain?.timeoutMs ?? 10_000 });
    if (report.abandoned > 0) logger.warn({ ...report }, 'drain timed out with calls in flight');
    else logger.info({ ...report }, 'drained');
    for (const h of hosted) {
      try {
        await h.definition.schema.stopped?.(serviceHandle(h, options.dataDir));
      } catch (err) {
        logger.error({ err, service: h.definition.name }, 'stopped hook failed');
      }
    }
    await cleanup();
    return report;
  };

  function emitAs(event: string, payload: unknown, emitOptions?: EmitOptions & { service?: string }): Promise<void> {
    const h = emitOptions?.service === undefined ? hosted[0]! : hosted.find((x) => x.definition.name === emitOptions.service);
    if (h === undefined) return Promise.reject(new TypeError(`emit: service ${emitOptions?.service} is not hosted here`));
    return h.events.emit(event, payload, emitOptions, undefined);
  }

  return {
    instanceId,
    records: readyRecords,
    urls: srv.urls,
    adminUrl: admin?.url,
    observability: obs,
    pipeline,
    call: <T = unknown>(action: string, params?: unknown, callOptions?: CallOptions): Promise<T> => pipeline.call<T>(action, params, callOptions),
    emit: emitAs,
    stop: () => (stopping ??= stop()),
    abort: async () => {
      if (stopping !== undefined) return;
      stopping = Promise.resolve({ answered: 0, refused: 0, abandoned: 0 });
      for (const r of registrations) (r as { abandon?: () => void }).abandon?.();
      registrations.length = 0;
      await cleanup();
    },
  };

  function serviceHandle(h: HostedService, dataDir: string | undefined): ServiceHandle {
    return {
      instanceId: h.scope.instanceId,
      logger: h.scope.logger,
      dataDir,
      useDatabase: (db: AnyKysely) => h.events.useDatabase(db),
      call: <T = unknown>(action: string, params?: unknown, callOptions?: CallOptions): Promise<T> => pipeline.call<T>(action, params, callOptions),
      emit: (event: string, payload: unknown, emitOptions?: EmitOptions) => h.events.emit(event, payload, emitOptions, undefined),
    };
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves when `condition` holds after some change of the view, or after `boundMs`. */
function untilView(view: ServiceView, condition: () => boolean, boundMs: number): Promise<boolean> {
  if (condition()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      unsubscribe();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), boundMs);
    const unsubscribe = view.onChange(() => {
      if (condition()) done(true);
    });
  });
}
