// An in-memory registry and view for running services in one test process without a
// coordinator: register() puts the record in the view that callers route by.
import type { HostOptions, InstanceRecord } from '../../src/index.js';

type ServiceView = HostOptions['view'];
type RegistryLike = NonNullable<HostOptions['registry']>;
type ViewChange = Parameters<Parameters<ServiceView['onChange']>[0]>[0];
type Registration = Awaited<ReturnType<RegistryLike['register']>>;

export class MemoryRegistry implements RegistryLike {
  readonly #records = new Map<string, InstanceRecord>();
  readonly #listeners = new Set<(change: ViewChange) => void>();

  readonly view: ServiceView = {
    instances: (service, version) =>
      [...this.#records.values()].filter((r) => r.ready && r.service === service && (version === undefined || r.version === version)),
    subscribers: (event) => [...this.#records.values()].filter((r) => r.ready && r.events.includes(event)),
    all: () => [...this.#records.values()],
    get: (id) => this.#records.get(id),
    eject: () => undefined,
    onChange: (listener) => {
      this.#listeners.add(listener);
      return () => this.#listeners.delete(listener);
    },
    close: async () => undefined,
  };

  async register(record: InstanceRecord): Promise<Registration> {
    this.#put({ type: 'up', instance: record });
    let current = record;
    return {
      get record() {
        return current;
      },
      update: async (patch) => {
        current = { ...current, ...patch };
        this.#put({ type: 'updated', instance: current });
      },
      deregister: async () => {
        if (this.#records.delete(current.id)) this.#emit({ type: 'down', instance: current, reason: 'deregistered' });
      },
      onLost: () => () => undefined,
    };
  }

  #put(change: ViewChange): void {
    this.#records.set(change.instance.id, change.instance);
    this.#emit(change);
  }

  #emit(change: ViewChange): void {
    for (const listener of this.#listeners) listener(change);
  }
}
