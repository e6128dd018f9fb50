// The contract between discovery and everyone who reads it (runtime's call pipeline, the gateway,
// `shoal status`, the DNS interface). Fixed here before the implementation so those folders can be
// built side by side; change it only together with every user.

/** One running instance, as stored (JSON) at `/shoal/services/<service>/<version>/<id>` under its lease. */
export interface InstanceRecord {
  /** Unique per process start, e.g. `goods-7f3a9c`; also the last key segment. */
  readonly id: string;
  /** Service name: lowercase letters, digits, `-`; the first segment of its action names. */
  readonly service: string;
  /** Service version, e.g. `1.2.0` (semver-like; `[0-9A-Za-z.+-]+`). */
  readonly version: string;
  /** Where it listens, fastest first: `shoal+tcp://127.0.0.1:4711`, then `http://127.0.0.1:4712`. */
  readonly urls: readonly string[];
  /** Base URL of its `/livez`, `/readyz`, `/metrics` (often the same port as the HTTP transport). */
  readonly adminUrl?: string;
  readonly host: string;
  readonly pid: number;
  /** Fully qualified actions it serves (`goods.get`) and events it subscribes to (`order.confirmed`). */
  readonly actions: readonly string[];
  readonly events: readonly string[];
  /** Relative capacity for weighted strategies; 1 when absent. */
  readonly weight?: number;
  /** Free-form tags, e.g. `{ role: 'backup', zone: 'a', canary: 'true' }` (`role=backup` marks the failover pool). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Readiness gate: only ready instances are offered to callers. */
  readonly ready: boolean;
  /** ISO time the instance started (informational). */
  readonly startedAt: string;
}

export type ViewChange =
  | { readonly type: 'up'; readonly instance: InstanceRecord }
  | { readonly type: 'updated'; readonly instance: InstanceRecord }
  | { readonly type: 'down'; readonly instance: InstanceRecord; readonly reason: 'deregistered' | 'lease-expired' | 'deleted' };

/** A local, watched copy of every registered instance. Reads are synchronous and allocation-free. */
export interface ServiceView {
  /** Ready, not-ejected instances of a service (optionally one version); a stable array until the next change. */
  instances(service: string, version?: string): readonly InstanceRecord[];
  /** Ready instances that subscribe to an event. */
  subscribers(event: string): readonly InstanceRecord[];
  /** Every instance known, ready or not. */
  all(): readonly InstanceRecord[];
  get(instanceId: string): InstanceRecord | undefined;
  /** Passive health: keep an instance out of `instances()`/`subscribers()` until `untilMs` (Date.now() clock). */
  eject(instanceId: string, untilMs: number): void;
  onChange(listener: (change: ViewChange) => void): () => void;
  close(): Promise<void>;
}

/** A registered instance: its record lives as long as its lease is kept alive. */
export interface Registration {
  readonly record: InstanceRecord;
  /** Rewrites the record (e.g. `{ ready: true }`) under the same lease. */
  update(patch: Partial<Pick<InstanceRecord, 'ready' | 'weight' | 'metadata'>>): Promise<void>;
  /** Deletes the record and revokes the lease. Idempotent. */
  deregister(): Promise<void>;
  /** Called if the lease is lost (expired while partitioned); the registry re-registers by itself. */
  onLost(listener: () => void): () => void;
}
