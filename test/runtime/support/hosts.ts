// Starting hosts and brokers for runtime tests: real transports on 127.0.0.1 (port 0), quiet
// real observability, the in-memory discovery, temp dirs; everything is stopped by `closeAll`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createObservability, type ShoalObservability } from '../../../src/observe/index.js';
import { connectBroker, startServices, type Broker, type HostOptions, type ServiceDefinition, type ServiceHost } from '../../../src/runtime/index.js';
import { MemoryDiscovery, type MemoryView } from './memory-discovery.js';

export function quietObservability(service: string): ShoalObservability {
  return createObservability({ service, instanceId: `${service}-test`, logLevel: 'silent', defaultMetrics: false });
}

export class TestCluster {
  readonly discovery = new MemoryDiscovery();
  readonly hosts: ServiceHost[] = [];
  readonly brokers: Broker[] = [];
  readonly views: MemoryView[] = [];
  readonly dataDir = mkdtempSync(path.join(tmpdir(), 'shoal-runtime-'));

  async host(defs: ServiceDefinition[], options: Partial<HostOptions> = {}): Promise<ServiceHost> {
    const view = this.discovery.view();
    this.views.push(view);
    const host = await startServices(defs, {
      view,
      registry: this.discovery,
      observability: quietObservability(defs.map((d) => d.name).join('+')),
      admin: false,
      dataDir: this.dataDir,
      drain: { graceMs: 20, timeoutMs: 5_000 },
      ...options,
      policy: { ...options.policy },
    });
    this.hosts.push(host);
    return host;
  }

  async broker(options: { lagMs?: number; policy?: HostOptions['policy'] } = {}): Promise<Broker & { view: MemoryView }> {
    const view = this.discovery.view({ lagMs: options.lagMs });
    this.views.push(view);
    const broker = await connectBroker({ view, observability: quietObservability('client'), policy: options.policy });
    this.brokers.push(broker);
    return broker as Broker & { view: MemoryView };
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.hosts.map((h) => h.stop()));
    await Promise.all(this.brokers.map((b) => b.close()));
    await Promise.all(this.views.map((v) => v.close()));
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** Resolves when `condition` holds, re-checked on every `notify()`; rejects after `boundMs`. */
export class Notifier {
  private waiters = new Set<() => void>();

  notify(): void {
    for (const w of [...this.waiters]) w();
  }

  until(condition: () => boolean, boundMs: number, what = 'condition'): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!condition()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`${what} not reached within ${boundMs} ms`));
      }, boundMs);
      this.waiters.add(check);
    });
  }
}

/** A promise resolved by hand (holds a handler in flight without sleeping). */
export function gate<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}
