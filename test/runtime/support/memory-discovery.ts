// An in-memory discovery for runtime tests: a registry (register → Registration) and views of
// it implementing the ServiceView contract. A view can lag behind the registry by a fixed delay,
// to model callers whose watch has not yet seen a deregistration.
import type { InstanceRecord, Registration, ServiceView, ViewChange } from '../../../src/discovery/types.js';

export class MemoryDiscovery {
  private readonly records = new Map<string, InstanceRecord>();
  private readonly views = new Set<MemoryView>();

  register(record: InstanceRecord): Promise<Registration> {
    if (this.records.has(record.id)) throw new Error(`instance ${record.id} registered twice`);
    this.put(record, 'up');
    let current = record;
    let gone = false;
    const registration: Registration & { abandon(): void } = {
      get record() {
        return current;
      },
      update: async (patch) => {
        if (gone) throw new Error(`${record.id}: update after deregister`);
        current = { ...current, ...patch };
        this.put(current, 'updated');
      },
      deregister: async () => {
        if (gone) return;
        gone = true;
        this.remove(record.id, 'deregistered');
      },
      onLost: () => () => undefined,
      // A crashed process: its record stays until the "lease" expires (expire() in tests).
      abandon: () => {
        gone = true;
      },
    };
    return Promise.resolve(registration);
  }

  /** The lease of a crashed instance ran out. */
  expire(id: string): void {
    this.remove(id, 'lease-expired');
  }

  view(options: { lagMs?: number } = {}): MemoryView {
    const view = new MemoryView(options.lagMs ?? 0, () => this.views.delete(view));
    for (const r of this.records.values()) view.apply({ type: 'up', instance: r });
    this.views.add(view);
    return view;
  }

  private put(record: InstanceRecord, type: 'up' | 'updated'): void {
    this.records.set(record.id, record);
    for (const v of this.views) v.deliver({ type, instance: record });
  }

  private remove(id: string, reason: 'deregistered' | 'lease-expired'): void {
    const record = this.records.get(id);
    if (record === undefined) return;
    this.records.delete(id);
    for (const v of this.views) v.deliver({ type: 'down', instance: record, reason });
  }
}

export class MemoryView implements ServiceView {
  private readonly records = new Map<string, InstanceRecord>();
  private readonly ejected = new Map<string, number>();
  private readonly listeners = new Set<(change: ViewChange) => void>();
  private readonly timers = new Set<NodeJS.Timeout>();
  readonly ejections: { id: string; untilMs: number }[] = [];

  constructor(
    private readonly lagMs: number,
    private readonly onClose: () => void,
  ) {}

  deliver(change: ViewChange): void {
    if (this.lagMs === 0) {
      this.apply(change);
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.apply(change);
    }, this.lagMs);
    this.timers.add(timer);
  }

  apply(change: ViewChange): void {
    if (change.type === 'down') this.records.delete(change.instance.id);
    else this.records.set(change.instance.id, change.instance);
    for (const l of this.listeners) l(change);
  }

  instances(service: string, version?: string): readonly InstanceRecord[] {
    const now = Date.now();
    return [...this.records.values()].filter(
      (r) => r.service === service && r.ready && (version === undefined || r.version === version) && !((this.ejected.get(r.id) ?? 0) > now),
    );
  }

  subscribers(event: string): readonly InstanceRecord[] {
    const now = Date.now();
    return [...this.records.values()].filter((r) => r.ready && r.events.includes(event) && !((this.ejected.get(r.id) ?? 0) > now));
  }

  all(): readonly InstanceRecord[] {
    return [...this.records.values()];
  }

  get(instanceId: string): InstanceRecord | undefined {
    return this.records.get(instanceId);
  }

  eject(instanceId: string, untilMs: number): void {
    this.ejected.set(instanceId, untilMs);
    this.ejections.push({ id: instanceId, untilMs });
  }

  onChange(listener: (change: ViewChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.listeners.clear();
    this.onClose();
  }
}
